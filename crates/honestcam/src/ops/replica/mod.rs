//! Continuous replication to S3-compatible storage, by Litestream.
//!
//! honestcam does not ship WAL frames itself: `litestream replicate` does, with the
//! configuration [`litestream_config`] prints. This module knows the layout of a
//! replica and how to read it back:
//!
//! ```text
//! s3://bucket/prefix/honestcam-study.db/...             the study database
//! s3://bucket/prefix/properties/{slug}/honestcam.db/... each property database
//! ```
//!
//! Property databases are replicated in Litestream's directory mode, so a property
//! created later is replicated with no change to the configuration. Which properties a
//! replica holds is read from the bucket ([`s3::list_properties`]); each database is
//! restored by `litestream restore` ([`litestream::Litestream`]).

pub mod litestream;
pub mod s3;

use std::fmt;
use std::path::Path;

use crate::config::STUDY_DB;
use crate::property::{PROPERTY_DB, Slug};

/// The folder of the replica that holds the property databases.
pub const PROPERTIES: &str = "properties";

/// Query parameters a replica URL may carry (as Litestream reads them).
const KNOWN_PARAMS: [&str; 3] = ["endpoint", "region", "forcePathStyle"];

/// Why a replica URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaUrlError {
    /// Not of the form `s3://bucket/prefix`.
    #[error(
        "invalid replica URL {url:?}: {reason} (expected s3://bucket/prefix[?endpoint=...&region=...&forcePathStyle=true])"
    )]
    Invalid {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the databases of a data dir are replicated: `s3://bucket/prefix`, with
/// `endpoint`, `region` and `forcePathStyle` for S3-compatible services. Credentials
/// never appear here: they come from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: Option<String>,
    force_path_style: bool,
}

impl Replica {
    /// Parses `s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true`.
    pub fn parse(text: &str) -> Result<Replica, ReplicaUrlError> {
        let bad = |reason: &str| ReplicaUrlError::Invalid {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "s3" {
            return Err(bad("the scheme must be s3"));
        }
        if url.fragment().is_some() {
            return Err(bad("a replica URL has no #fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL; set LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY",
            ));
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name needs 3 to 63 lowercase letters, digits, dots or hyphens",
            ));
        }
        // Kept to characters every tool spells the same way: Litestream expands `$` in
        // its configuration, and percent-encoding would make our keys differ from its.
        let prefix = url.path().trim_matches('/').to_string();
        let plain = prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !plain {
            return Err(bad(
                "the prefix may hold only letters, digits, '.', '_', '-' and '/'",
            ));
        }
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(bad("the prefix may not hold empty, . or .. segments"));
        }
        let mut replica = Replica {
            bucket,
            prefix,
            endpoint: None,
            region: None,
            force_path_style: false,
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "endpoint" => {
                    let endpoint = url::Url::parse(&value)
                        .map_err(|e| bad(&format!("endpoint {value:?}: {e}")))?;
                    let bare = matches!(endpoint.path(), "" | "/")
                        && endpoint.query().is_none()
                        && endpoint.fragment().is_none()
                        && endpoint.username().is_empty()
                        && endpoint.password().is_none()
                        && !value.contains('$');
                    if !matches!(endpoint.scheme(), "http" | "https") || !bare {
                        return Err(bad(
                            "the endpoint is an http or https URL of a host, e.g. https://ACCOUNT.r2.cloudflarestorage.com",
                        ));
                    }
                    replica.endpoint = Some(value.trim_end_matches('/').to_string());
                }
                "region" => {
                    let ok = !value.is_empty()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    if !ok {
                        return Err(bad("the region is letters, digits and hyphens"));
                    }
                    replica.region = Some(value.into_owned());
                }
                "forcePathStyle" => {
                    replica.force_path_style = match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("forcePathStyle is true or false")),
                    }
                }
                other => {
                    return Err(bad(&format!(
                        "unknown parameter {other:?} (known: {})",
                        KNOWN_PARAMS.join(", ")
                    )));
                }
            }
        }
        Ok(replica)
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The region, if given.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The endpoint, if given (else AWS S3).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Whether the bucket goes in the path rather than the host name.
    pub fn force_path_style(&self) -> bool {
        self.force_path_style
    }

    /// The object key of `path` under the prefix (the prefix itself for "").
    pub fn key(&self, path: &str) -> String {
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{path}", self.prefix),
        }
    }

    /// The Litestream URL of `path` under the prefix, with this replica's parameters.
    pub fn url(&self, path: &str) -> String {
        let key = self.key(path);
        let mut url = format!("s3://{}", self.bucket);
        if !key.is_empty() {
            url.push('/');
            url.push_str(&key);
        }
        // Written as given (validated on parsing): what the user and Litestream read.
        let mut params = Vec::new();
        if let Some(e) = &self.endpoint {
            params.push(format!("endpoint={e}"));
        }
        if let Some(r) = &self.region {
            params.push(format!("region={r}"));
        }
        if self.force_path_style {
            params.push("forcePathStyle=true".to_string());
        }
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        url
    }

    /// The study database's replica.
    pub fn study_url(&self) -> String {
        self.url(STUDY_DB)
    }

    /// The folder of the property databases' replicas (Litestream's directory mode
    /// adds `{slug}/honestcam.db`).
    pub fn properties_url(&self) -> String {
        self.url(PROPERTIES)
    }

    /// One property database's replica.
    pub fn property_url(&self, slug: &Slug) -> String {
        self.url(&format!("{PROPERTIES}/{slug}/{PROPERTY_DB}"))
    }
}

impl fmt::Display for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url(""))
    }
}

/// Whether Litestream replicates (or did replicate) the database at `db`: it keeps its
/// own state beside it, in `.{name}-litestream/`.
pub fn litestream_follows(db: &Path) -> bool {
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned());
    let state = name.map(|n| db.with_file_name(format!(".{n}-litestream")));
    state.is_some_and(|s| s.is_dir())
}

/// What a command that moved or replaced a replicated database tells the operator.
pub const RESTART_LITESTREAM: &str = "Litestream replicates this property: restart it now \
     (e.g. systemctl restart honestcam-litestream). Litestream 0.5.17 stops following a \
     database moved or replaced under it; until it restarts, nothing of this property \
     is replicated and backup-verify reports the lag";

/// Whether `text` names a replica rather than a local folder.
pub fn is_replica_url(text: &str) -> bool {
    text.starts_with("s3://")
}

/// A YAML double-quoted scalar: Litestream's configuration holds paths and URLs with
/// `:`, `?`, `&` and `#`, which a plain scalar may not.
fn quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why no configuration can be written for a data dir.
#[derive(Debug, thiserror::Error)]
#[error("the data dir {path:?} cannot go in a litestream.yml: {reason}")]
pub struct ConfigError {
    /// The data dir, as far as it is text.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A complete `litestream.yml` that replicates the data dir at `data` (an absolute
/// path) to `replica`: the study database, and every property database in directory
/// mode, so a property created later is replicated with no change here. Refuses a path
/// Litestream would read differently: not UTF-8, with a control character, or with a
/// `$` (Litestream expands environment variables in its configuration).
pub fn litestream_config(data: &Path, replica: &Replica) -> Result<String, ConfigError> {
    let bad = |reason| ConfigError {
        path: data.to_string_lossy().into_owned(),
        reason,
    };
    let data_text = data.to_str().ok_or_else(|| bad("it is not UTF-8"))?;
    if data_text.chars().any(char::is_control) {
        return Err(bad("it holds a control character"));
    }
    if data_text.contains('$') {
        return Err(bad(
            "it holds a '$', which Litestream would expand as an environment variable",
        ));
    }
    let study = format!("{}/{STUDY_DB}", data_text.trim_end_matches('/'));
    let r2 = replica
        .endpoint()
        .is_some_and(|e| e.contains("r2.cloudflarestorage.com"));
    let mut out = String::new();
    out.push_str(&format!(
        "# Litestream configuration for the honestcam data dir {data_text}\n\
         # (made by `honestcam litestream-config`; run it again after moving the data dir).\n\
         #\n\
         # Credentials come from the environment, never from this file:\n\
         #   LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY.\n\
         # Run with: litestream replicate -config <this file>\n\n"
    ));
    out.push_str(
        "# Litestream lists each replica now and then to drop level-0 files that a\n\
         # compaction has covered. With the default, every 15s, an idle database costs\n\
         # about 360,000 list requests a month; on Cloudflare R2 each is a billable\n\
         # class A operation (1 million a month are free). Every 5 minutes cuts that\n\
         # twentyfold: level-0 files are kept 5 minutes anyway, so this only delays\n\
         # their removal.\n\
         l0-retention-check-interval: 5m\n\n",
    );
    out.push_str("dbs:\n");
    out.push_str(
        "  # The study database: users and their progress. Changes reach the replica\n\
         \x20 # within a second (the sync interval): the most a lost machine can lose.\n",
    );
    out.push_str(&format!("  - path: {}\n", quoted(&study)));
    out.push_str("    replica:\n");
    out.push_str(&format!("      url: {}\n", quoted(&replica.study_url())));
    out.push_str("      sync-interval: 1s\n");
    out.push_str(
        "\n  # Every property database, {data}/{slug}/honestcam.db, including properties\n\
         \x20 # created after this file was written (watch: picked up within seconds).\n\
         \x20 # Each goes to properties/{slug}/honestcam.db under the prefix. Databases\n\
         \x20 # a rollback moved aside ({slug}/_rollback/...) are replicated too.\n",
    );
    out.push_str(&format!("  - dir: {}\n", quoted(data_text)));
    out.push_str(&format!("    pattern: {}\n", quoted(PROPERTY_DB)));
    out.push_str("    recursive: true\n    watch: true\n");
    out.push_str("    replica:\n");
    out.push_str(&format!(
        "      url: {}\n",
        quoted(&replica.properties_url())
    ));
    out.push_str("      sync-interval: 1s\n");
    if r2 && replica.region() != Some("auto") {
        out.push_str(
            "\n# Cloudflare R2 expects region=auto in the replica URL: add &region=auto.\n",
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_url_keeps_its_parameters_and_refuses_what_it_cannot_use() {
        let r = Replica::parse(
            "s3://drill-bucket/site/a?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true",
        )
        .unwrap();
        assert_eq!(r.bucket(), "drill-bucket");
        assert_eq!(r.key("x"), "site/a/x");
        assert_eq!(
            r.property_url(&Slug::parse("bamboo").unwrap()),
            "s3://drill-bucket/site/a/properties/bamboo/honestcam.db?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true"
        );
        assert_eq!(
            r.to_string(),
            "s3://drill-bucket/site/a?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true"
        );
        let plain = Replica::parse("s3://bucket").unwrap();
        assert_eq!(plain.study_url(), "s3://bucket/honestcam-study.db");
        assert_eq!(plain.to_string(), "s3://bucket");
        for bad in [
            "https://bucket/x",
            "s3://ab/x",
            "s3://Bucket/x",
            "s3://key:secret@bucket/x",
            "s3://bucket/x?endpoint=ftp://h",
            "s3://bucket/x?endpoint=http://h/path",
            "s3://bucket/x?region=us east",
            "s3://bucket/x?acl=public",
            "s3://bucket/x?forcePathStyle=yes",
            "s3://bucket/a//b",
            "s3://bucket/my prefix",
            "s3://bucket/$HOME",
            "s3://bucket/x#frag",
            "s3://bucket/x?endpoint=http://:pw@h",
            "not a url",
        ] {
            assert!(Replica::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_config_replicates_the_study_database_and_every_property_folder() {
        let r = Replica::parse(
            "s3://hc-backups/prod?endpoint=https://acct.r2.cloudflarestorage.com&region=auto",
        )
        .unwrap();
        let yml = litestream_config(Path::new("/srv/honest cam/data"), &r).unwrap();
        assert!(yml.contains("  - path: \"/srv/honest cam/data/honestcam-study.db\"\n"));
        assert!(yml.contains("  - dir: \"/srv/honest cam/data\"\n"));
        assert!(yml.contains("    pattern: \"honestcam.db\"\n"));
        assert!(yml.contains("    recursive: true\n    watch: true\n"));
        assert!(yml.contains("l0-retention-check-interval: 5m\n"));
        assert!(yml.contains(&quoted(&r.properties_url())));
        assert!(!yml.contains("SECRET_ACCESS_KEY:"), "no credentials");
        assert!(!yml.contains("add &region=auto"));
        let no_region =
            Replica::parse("s3://hc-backups/prod?endpoint=https://acct.r2.cloudflarestorage.com")
                .unwrap();
        assert!(
            litestream_config(Path::new("/d"), &no_region)
                .unwrap()
                .contains("add &region=auto")
        );
        for bad in ["/srv/$HOME/data", "/srv/a\nb"] {
            assert!(litestream_config(Path::new(bad), &r).is_err(), "{bad:?}");
        }
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn the_example_in_deploy_is_what_the_command_prints() {
        let r = Replica::parse(
            "s3://honestcam-backups/honestcam?endpoint=https://ACCOUNT.r2.cloudflarestorage.com&region=auto",
        )
        .unwrap();
        let example = include_str!("../../../../../deploy/litestream-r2.yml");
        assert_eq!(
            example,
            litestream_config(Path::new("/Users/honestcam/data"), &r).unwrap(),
            "regenerate deploy/litestream-r2.yml with honestcam litestream-config"
        );
    }
}
