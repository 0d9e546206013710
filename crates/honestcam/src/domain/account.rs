//! Who may use the portal: accounts, their roles, and what each role may do.
//!
//! An account is a local login, the email an identity provider (Cloudflare Access)
//! vouches for, or an API token's name. Roles are ordered: a viewer reads; an editor
//! also changes compliance actions and their own study progress; an admin also sees
//! every user's progress.

use std::fmt;
use std::str::FromStr;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads every page.
    Viewer,
    /// Also changes compliance actions and their own study progress.
    Editor,
    /// Also sees every user's study progress.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    /// The role's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: established by the web layer for every request (an Access email, a
/// local login, `token:{name}`, or `local`), and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name recorded as the actor of their changes and as the owner of their study
    /// user: an email, a login, `token:{name}` or `local`.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Whether they only read, whatever their role (a read-only API token): every
    /// write is refused.
    pub read_only: bool,
}

impl Identity {
    /// Someone with `role` who may write as the role allows.
    pub fn new(name: impl Into<String>, role: Role) -> Identity {
        Identity {
            name: name.into(),
            role,
            read_only: false,
        }
    }

    /// Whether they are an admin.
    pub fn is_admin(&self) -> bool {
        self.role.allows(Role::Admin)
    }

    /// Whether they may change things: an editor or admin, not read-only.
    pub fn may_write(&self) -> bool {
        !self.read_only && self.role.allows(Role::Editor)
    }
}

/// A role name that is none of `viewer`, `editor`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use viewer, editor or admin")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Role, RoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.to_string()))
    }
}

/// An account name that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid account name {0:?}: 1 to 254 characters, no spaces, control characters or ':', and not \"local\""
)]
pub struct AccountNameError(pub String);

/// Checks an account name: a login or an email, 1 to 254 characters, without
/// whitespace or control characters (it is shown on pages and recorded as the actor
/// of every change the account makes). `:` and the name `local` are kept for the
/// actors that are not accounts (`token:{name}`, and `local` without authentication),
/// so that no account can pass for one of them in the audit trail.
pub fn check_account_name(name: &str) -> Result<(), AccountNameError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 254
        && name != "local"
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':');
    if ok {
        Ok(())
    } else {
        Err(AccountNameError(name.to_string()))
    }
}

/// The form in which account names are compared: ASCII letters folded to lowercase,
/// every other character kept as it is. Never Unicode case rules: those map the Kelvin
/// sign (U+212A) to `k`, so `\u{212A}im@example.org` would become `kim@example.org`.
pub fn fold_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Whether two account names are the same account.
pub fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The most characters an identity name has (an email address's limit).
pub const MAX_IDENTITY_CHARS: usize = 254;

/// An identity vouched for by an identity provider that the portal refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused identity {name:?}: {reason}")]
pub struct IdentityNameError {
    /// The name as given (bounded by the token that carried it).
    pub name: String,
    /// Why it is refused.
    pub reason: &'static str,
}

/// Checks the name an identity provider (Cloudflare Access) vouches for and returns it
/// folded ([`fold_name`]): an `email` must be a plausible address (exactly one `@`, a
/// non-empty local part, a domain with a dot); any name must be 1 to 254 printable
/// ASCII characters (no whitespace or control characters), without `:`, and not a
/// name kept for actors that are not accounts (`local`, `token:{name}`).
pub fn identity_name(name: &str, email: bool) -> Result<String, IdentityNameError> {
    let refuse = |reason| {
        Err(IdentityNameError {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("empty");
    }
    if !name.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return refuse("not printable ASCII (or holds whitespace)");
    }
    if name.len() > MAX_IDENTITY_CHARS {
        return refuse("longer than 254 characters");
    }
    if name.contains(':') {
        return refuse("holds ':'");
    }
    let folded = fold_name(name);
    if folded == "local" || folded.starts_with("token:") {
        return refuse("a name kept for actors that are not accounts");
    }
    if email {
        let mut parts = name.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return refuse("not an email address: needs exactly one '@'");
        };
        if local.is_empty() {
            return refuse("not an email address: nothing before '@'");
        }
        let dotted = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !dotted {
            return refuse("not an email address: the domain has no dot");
        }
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_spelled_one_way() {
        assert!(Role::Admin.allows(Role::Editor) && Role::Editor.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Editor) && !Role::Editor.allows(Role::Admin));
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("Admin".parse::<Role>().is_err());
    }

    #[test]
    fn account_names_are_printable_and_bounded() {
        for ok in ["kim", "kim@example.org", "indexer", "localhost"] {
            assert!(check_account_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(255);
        for bad in [
            "",
            "kim lee",
            "kim\n",
            long.as_str(),
            "token:indexer",
            "local",
        ] {
            assert!(check_account_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_fold_ascii_letters_only() {
        assert_eq!(fold_name("Maria@Example.ORG"), "maria@example.org");
        assert_eq!(
            fold_name("\u{212A}im@example.org"),
            "\u{212A}im@example.org"
        );
        assert!(same_name("Maria@Example.org", "maria@example.org"));
        assert!(!same_name("\u{212A}im@example.org", "kim@example.org"));
        assert!(!same_name("stra\u{df}e", "STRASSE"));
    }

    #[test]
    fn identity_names_are_plausible_emails_and_not_reserved() {
        for (given, kept) in [
            ("kim@example.org", "kim@example.org"),
            ("Maria@Example.org", "maria@example.org"),
            ("a.b+c@mail.example.co.uk", "a.b+c@mail.example.co.uk"),
        ] {
            assert_eq!(identity_name(given, true).as_deref(), Ok(kept), "{given}");
        }
        let long = format!("{}@example.org", "a".repeat(243));
        assert_eq!(long.len(), 255);
        for bad in [
            "",
            "\u{212A}im@example.org",
            "kim@examp\u{142}e.org",
            "kim lee@example.org",
            "kim@example.org\n",
            "kim\t@example.org",
            "kim",
            "@example.org",
            "kim@example",
            "kim@.org",
            "kim@example.",
            "kim@a@example.org",
            "token:x",
            "token:x@example.org",
            "kim:x@example.org",
            "local",
            long.as_str(),
        ] {
            assert!(identity_name(bad, true).is_err(), "{bad:?}");
        }
        // A service token's client id is no email, but follows the other rules.
        assert!(identity_name("88bf3b6d86161464f6509f7219099e57.access", false).is_ok());
        for bad in ["local", "LOCAL", "token:x", "Token:x", "a b", "\u{212A}"] {
            assert!(identity_name(bad, false).is_err(), "{bad:?}");
        }
    }
}
