//! The database URL, whose password is never shown.

/// A database URL whose password is never shown: `Debug` and `Display` print it with
/// the password replaced.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a `postgres://` URL or a `key=value` connection string.
    pub fn new(url: String) -> DatabaseUrl {
        DatabaseUrl(url)
    }

    /// The URL as given, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What to show of the URL: rebuilt from what it says (user, hosts, ports,
    /// database), never echoed, so no spelling of a password can leak; `***` marks
    /// that it has one.
    pub fn redacted(&self) -> String {
        let Ok(config) = self.0.parse::<postgres::Config>() else {
            return "(a database URL that does not parse)".to_string();
        };
        let user = config.get_user().unwrap_or("");
        let password = if config.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        let at = if user.is_empty() && password.is_empty() {
            ""
        } else {
            "@"
        };
        let ports = config.get_ports();
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                };
                match ports.get(i).or(ports.first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        let db = config.get_dbname().unwrap_or("");
        format!("postgres://{user}{password}{at}{}/{db}", hosts.join(","))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_never_shows_its_password() {
        let shown = |u: &str| DatabaseUrl::new(u.to_string()).redacted();
        assert_eq!(
            shown("postgres://bot:s3cret@db.example:5432/bounties"),
            "postgres://bot:***@db.example:5432/bounties"
        );
        assert_eq!(
            shown("host=db user=bot password=s3cret dbname=b"),
            "postgres://bot:***@db/b"
        );
        assert_eq!(
            shown("postgres://bot@localhost/b"),
            "postgres://bot@localhost:5432/b"
        );
        for leaky in [
            "postgres://bot:pa/ss@h/db",
            "postgres://bot@h/db?password=s3cret",
            "host=h password='two words' dbname=d",
            "postgresql://bot:p@ss:w@rd@[::1/x",
            "s3cret garbage",
        ] {
            let url = DatabaseUrl::new(leaky.to_string());
            let out = format!("{} {url} {url:?}", url.redacted());
            for secret in ["s3cret", "pa/ss", "two words", "words", "w@rd", "ss:w"] {
                assert!(!out.contains(secret), "{leaky} shown as {out}");
            }
        }
    }
}
