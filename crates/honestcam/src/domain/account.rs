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
}

impl Identity {
    /// Whether they are an admin.
    pub fn is_admin(&self) -> bool {
        self.role.allows(Role::Admin)
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
}
