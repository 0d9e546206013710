//! Accounts and API tokens: who may use the portal, kept in the global database.
//!
//! An API token is 32 random bytes shown once (`hc_` and 64 hex digits); only its
//! SHA-256 is stored, so a copy of the database gives no usable token. A token acts as
//! `token:{name}` in the audit trail. Local passwords are stored as Argon2id hashes
//! (PHC strings); a login session is 32 random bytes in a cookie, stored as its
//! SHA-256 with an expiry, and so is a device id: the mark of a browser that has
//! signed in to an account before (see `web/auth/throttle.rs`).

use crate::domain::Role;
use crate::domain::account::{AccountNameError, check_account_name, fold_name};
use crate::domain::text::{MAX_PASSWORD_CHARS, TooLong, check};
use crate::storage::sqlite::DbError;
use crate::storage::sqlite::account_repo::{self, AccountRow, TokenRow};
use crate::storage::{Storage, StoreError, hex_sha256};

/// Prefix of every API token.
pub const TOKEN_PREFIX: &str = "hc_";
/// Fewest characters of a local password.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why an account or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name cannot be an account's.
    #[error(transparent)]
    Name(#[from] AccountNameError),
    /// The name is taken.
    #[error("{what} {name} exists already")]
    Exists {
        /// Account or token.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// There is no such account or token.
    #[error("no {what} named {name}")]
    NoSuch {
        /// Account or token.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The name matches several accounts when ASCII case is ignored, none exactly
    /// (only in a database written before names were compared that way).
    #[error("{name} matches several accounts ({}): type one of them exactly", matches.join(", "))]
    Ambiguous {
        /// The name as given.
        name: String,
        /// The accounts it matches.
        matches: Vec<String>,
    },
    /// A password too short to set.
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// A new password is longer than [`MAX_PASSWORD_CHARS`].
    #[error(transparent)]
    LongPassword(#[from] TooLong),
    /// Hashing a password failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// A session length beyond what a timestamp holds.
    #[error("a session of {0:?} ends past any date")]
    SessionLength(std::time::Duration),
    /// The system's random source failed.
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    /// Opening the global database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A statement failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> AccountError {
        AccountError::Db(DbError::from(e))
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Adds an account with `role` and, for a local login, a password hash. Names are
/// compared with ASCII case folded ([`fold_name`]): an account whose name folds to the
/// same as an existing one is refused.
pub fn add_account(
    storage: &Storage,
    name: &str,
    role: Role,
    password_hash: Option<String>,
) -> Result<(), AccountError> {
    check_account_name(name)?;
    // An email is stored folded, the form Access identities are looked up in.
    let name = if name.contains('@') {
        fold_name(name)
    } else {
        name.to_string()
    };
    let row = AccountRow {
        name,
        role,
        password_hash,
        created_at: now(),
    };
    let taken = storage.study_db()?.write(move |c| {
        // Checked and inserted in one unit of work: two adds cannot both pass.
        if let Some(other) = account_repo::accounts_folded(c, &row.name)?
            .into_iter()
            .next()
        {
            return Ok::<_, DbError>(Some(other.name));
        }
        let added = account_repo::insert_account(c, &row)?;
        Ok((!added).then(|| row.name.clone()))
    })?;
    match taken {
        Some(name) => Err(AccountError::Exists {
            what: "account",
            name,
        }),
        None => Ok(()),
    }
}

fn found(done: bool, what: &'static str, name: &str) -> Result<(), AccountError> {
    if done {
        Ok(())
    } else {
        Err(AccountError::NoSuch {
            what,
            name: name.to_string(),
        })
    }
}

/// The account a name stands for, among those it matches with ASCII case folded.
enum Picked {
    One(AccountRow),
    Nothing,
    Several(Vec<String>),
}

/// The exact match if there is one, else the only folded match.
fn pick(found: Vec<AccountRow>, name: &str) -> Picked {
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(|a| a.name.clone()).collect();
        match found.into_iter().find(|a| a.name == name) {
            Some(exact) => Picked::One(exact),
            None => Picked::Several(names),
        }
    } else {
        found
            .into_iter()
            .next()
            .map_or(Picked::Nothing, Picked::One)
    }
}

/// Runs `change` on the account `name` stands for (any spelling that folds to its
/// name), found and changed in one unit of work; `change` says whether it changed.
fn change_account(
    storage: &Storage,
    name: &str,
    change: impl FnOnce(&rusqlite::Connection, &str) -> Result<bool, DbError> + Send + 'static,
) -> Result<(), AccountError> {
    let owned = name.to_string();
    let outcome = storage.study_db()?.write(move |c| {
        let picked = pick(account_repo::accounts_folded(c, &owned)?, &owned);
        if let Picked::One(row) = &picked
            && !change(c, &row.name)?
        {
            return Ok::<_, DbError>(Picked::Nothing);
        }
        Ok(picked)
    })?;
    match outcome {
        Picked::One(_) => Ok(()),
        Picked::Nothing => found(false, "account", name),
        Picked::Several(matches) => Err(AccountError::Ambiguous {
            name: name.to_string(),
            matches,
        }),
    }
}

/// Changes the role of the account `name` stands for.
pub fn set_role(storage: &Storage, name: &str, role: Role) -> Result<(), AccountError> {
    change_account(storage, name, move |c, stored| {
        account_repo::set_role(c, stored, role)
    })
}

/// Sets the password hash of the account `name` stands for; its sessions end.
pub fn set_password_hash(storage: &Storage, name: &str, hash: String) -> Result<(), AccountError> {
    change_account(storage, name, move |c, stored| {
        account_repo::set_password_hash(c, stored, &hash)
    })
}

/// Removes the account `name` stands for, and its sessions.
pub fn remove_account(storage: &Storage, name: &str) -> Result<(), AccountError> {
    change_account(storage, name, account_repo::remove_account)
}

/// Every account, by name.
pub fn accounts(storage: &Storage) -> Result<Vec<AccountRow>, AccountError> {
    Ok(storage.study_db()?.read(account_repo::accounts)?)
}

/// The account `name` stands for: its exact name, else the only account whose name
/// folds ([`fold_name`]) to the same; `None` when there is none, or several and none
/// exactly.
pub fn account(storage: &Storage, name: &str) -> Result<Option<AccountRow>, AccountError> {
    let found = storage
        .study_db()?
        .read(|c| account_repo::accounts_folded(c, name))?;
    Ok(match pick(found, name) {
        Picked::One(row) => Some(row),
        Picked::Nothing | Picked::Several(_) => None,
    })
}

/// `n` random bytes as lowercase hex.
fn random_hex(n: usize) -> Result<String, AccountError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| AccountError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The Argon2id hash (PHC string) of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    check("a password", password, MAX_PASSWORD_CHARS)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AccountError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A hash that matches no password, checked when the account does not exist or has
/// no password, so that a wrong name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a password of anyone's").unwrap_or_default())
}

/// Prepares what password checks need (the decoy hash), so the first check of an
/// unknown name takes no longer than any other.
pub fn prepare_password_checks() {
    decoy_hash();
}

fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The account `name` if `password` is its password; `None` otherwise (a wrong name
/// and a wrong password cost the same time).
pub fn check_password(
    storage: &Storage,
    name: &str,
    password: &str,
) -> Result<Option<AccountRow>, AccountError> {
    // No password this long can be set: wrong, without spending a hash on it.
    if check("a password", password, MAX_PASSWORD_CHARS).is_err() {
        return Ok(None);
    }
    let found = account(storage, name)?;
    let hash = found
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let ok = password_matches(password, &hash);
    Ok(found.filter(|a| ok && a.password_hash.is_some()))
}

/// How long a device cookie is honoured after the sign-in that issued it.
pub const DEVICE_TTL: std::time::Duration = std::time::Duration::from_secs(180 * 24 * 60 * 60);
/// Devices remembered per account; the oldest is forgotten first.
pub const DEVICES_PER_ACCOUNT: usize = 20;

/// A session just started, and the device id that goes with it.
pub struct Started {
    /// The session's id, for the session cookie.
    pub session: String,
    /// A new device id, for the device cookie: this browser has signed in to the
    /// account, so failures from elsewhere do not hold it back next time.
    pub device: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started { .. }")
    }
}

/// `now + ttl`, or why it is past any date.
fn after(now: jiff::Timestamp, ttl: std::time::Duration) -> Result<jiff::Timestamp, AccountError> {
    jiff::SignedDuration::try_from(ttl)
        .ok()
        .and_then(|span| now.checked_add(span).ok())
        .ok_or(AccountError::SessionLength(ttl))
}

/// Starts a session of `account` for `ttl`, if its password hash is still
/// `password_hash` (the one just checked: a password changed meanwhile wins), and
/// records the browser as one of the account's devices, replacing the device id it
/// came with (`from_device`), if any. The ids (for the cookies) are stored only as
/// their SHA-256. Expired sessions and devices are cleared on the way.
pub fn start_session(
    storage: &Storage,
    account: &str,
    password_hash: Option<&str>,
    ttl: std::time::Duration,
    from_device: Option<&str>,
) -> Result<Option<Started>, AccountError> {
    let id = random_hex(32)?;
    let device = random_hex(32)?;
    let now = jiff::Timestamp::now();
    let expires = after(now, ttl)?;
    let device_expires = after(now, DEVICE_TTL)?;
    let sha = hex_sha256(id.as_bytes());
    let device_sha = hex_sha256(device.as_bytes());
    let old_device = from_device.map(|d| hex_sha256(d.as_bytes()));
    let (account, password_hash) = (account.to_string(), password_hash.map(str::to_string));
    // One unit of work: the password checked and the session and device stored together.
    let started = storage.study_db()?.write(move |c| {
        let current = account_repo::account(c, &account)?;
        if current.map(|a| a.password_hash) != Some(password_hash) {
            return Ok::<_, DbError>(false);
        }
        let now = now.to_string();
        account_repo::remove_expired_sessions(c, &now)?;
        account_repo::insert_session(c, &sha, &account, &now, &expires.to_string())?;
        account_repo::insert_device(
            c,
            &device_sha,
            &account,
            old_device.as_deref(),
            &now,
            &device_expires.to_string(),
            DEVICES_PER_ACCOUNT,
        )?;
        Ok(true)
    })?;
    Ok(started.then_some(Started {
        session: id,
        device,
    }))
}

/// The account the device id `device` (from a device cookie) was issued to, if it
/// has not expired or been forgotten.
pub fn device_account(storage: &Storage, device: &str) -> Result<Option<String>, AccountError> {
    let sha = hex_sha256(device.as_bytes());
    let now = jiff::Timestamp::now().to_string();
    Ok(storage
        .study_db()?
        .read(|c| account_repo::device_account(c, &sha, &now))?)
}

/// The account of the session `id`, if it is live.
pub fn session(storage: &Storage, id: &str) -> Result<Option<AccountRow>, AccountError> {
    let sha = hex_sha256(id.as_bytes());
    let now = jiff::Timestamp::now().to_string();
    Ok(storage
        .study_db()?
        .read(|c| account_repo::session_account(c, &sha, &now))?)
}

/// Ends the session `id` (nothing if there is none).
pub fn end_session(storage: &Storage, id: &str) -> Result<(), AccountError> {
    let sha = hex_sha256(id.as_bytes());
    storage
        .study_db()?
        .write(move |c| account_repo::remove_session(c, &sha))?;
    Ok(())
}

/// Creates a token named `name` with `role`, refused every write whatever its role
/// when `read_only`; returns its secret, which is not stored and cannot be shown
/// again.
pub fn create_token(
    storage: &Storage,
    name: &str,
    role: Role,
    read_only: bool,
) -> Result<String, AccountError> {
    check_account_name(name)?;
    let secret = format!("{TOKEN_PREFIX}{}", random_hex(32)?);
    let row = TokenRow {
        name: name.to_string(),
        role,
        read_only,
        created_at: now(),
    };
    let sha = hex_sha256(secret.as_bytes());
    let added = storage
        .study_db()?
        .write(move |c| account_repo::insert_token(c, &row, &sha))?;
    if !added {
        return Err(AccountError::Exists {
            what: "token",
            name: name.to_string(),
        });
    }
    Ok(secret)
}

/// The token whose secret is `secret`, if any.
pub fn token(storage: &Storage, secret: &str) -> Result<Option<TokenRow>, AccountError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let sha = hex_sha256(secret.as_bytes());
    Ok(storage
        .study_db()?
        .read(|c| account_repo::token_by_sha256(c, &sha))?)
}

/// Every token, by name.
pub fn tokens(storage: &Storage) -> Result<Vec<TokenRow>, AccountError> {
    Ok(storage.study_db()?.read(account_repo::tokens)?)
}

/// Revokes a token.
pub fn revoke_token(storage: &Storage, name: &str) -> Result<(), AccountError> {
    let owned = name.to_string();
    let done = storage
        .study_db()?
        .write(move |c| account_repo::remove_token(c, &owned))?;
    found(done, "token", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataDir;

    fn storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(
            DataDir::new(dir.path()),
            statekit::sqlite::OpenOptions::default(),
        )
        .unwrap();
        (dir, storage)
    }

    #[test]
    fn accounts_are_added_once_changed_and_removed() {
        let (_dir, s) = storage();
        add_account(&s, "kim@example.org", Role::Editor, None).unwrap();
        assert!(matches!(
            add_account(&s, "kim@example.org", Role::Admin, None),
            Err(AccountError::Exists { .. })
        ));
        assert!(matches!(
            add_account(&s, "kim lee", Role::Admin, None),
            Err(AccountError::Name(_))
        ));
        set_role(&s, "kim@example.org", Role::Admin).unwrap();
        assert_eq!(
            account(&s, "kim@example.org").unwrap().unwrap().role,
            Role::Admin
        );
        assert_eq!(accounts(&s).unwrap().len(), 1);
        remove_account(&s, "kim@example.org").unwrap();
        assert!(matches!(
            remove_account(&s, "kim@example.org"),
            Err(AccountError::NoSuch { .. })
        ));
        assert!(matches!(
            set_role(&s, "nobody", Role::Viewer),
            Err(AccountError::NoSuch { .. })
        ));
    }

    #[test]
    fn an_account_is_found_by_any_spelling_that_folds_to_its_name() {
        let (_dir, s) = storage();
        add_account(&s, "Maria@Example.org", Role::Viewer, None).unwrap();
        assert_eq!(accounts(&s).unwrap()[0].name, "maria@example.org");
        add_account(&s, "Kim", Role::Viewer, None).unwrap();
        for taken in ["MARIA@example.org", "maria@example.org", "kim", "KIM"] {
            assert!(
                matches!(
                    add_account(&s, taken, Role::Admin, None),
                    Err(AccountError::Exists { .. })
                ),
                "{taken}"
            );
        }
        set_role(&s, "MARIA@EXAMPLE.ORG", Role::Admin).unwrap();
        assert_eq!(
            account(&s, "maria@example.org").unwrap().unwrap().role,
            Role::Admin
        );
        assert_eq!(account(&s, "kIM").unwrap().unwrap().name, "Kim");
        // Unicode case rules do not apply: the Kelvin sign is not a K.
        assert_eq!(account(&s, "\u{212A}im").unwrap(), None);
        assert!(matches!(
            set_role(&s, "\u{212A}IM", Role::Admin),
            Err(AccountError::NoSuch { .. })
        ));
        remove_account(&s, "Maria@Example.org").unwrap();
        assert!(account(&s, "maria@example.org").unwrap().is_none());
    }

    #[test]
    fn a_name_matching_several_old_accounts_must_be_typed_exactly() {
        let (_dir, s) = storage();
        // Two spellings stored before names were folded.
        for name in ["Lee", "lee"] {
            let row = AccountRow {
                name: name.into(),
                role: Role::Viewer,
                password_hash: None,
                created_at: now(),
            };
            s.study_db()
                .unwrap()
                .write(move |c| account_repo::insert_account(c, &row))
                .unwrap();
        }
        assert!(matches!(
            set_role(&s, "LEE", Role::Admin),
            Err(AccountError::Ambiguous { .. })
        ));
        assert_eq!(account(&s, "LEE").unwrap(), None);
        set_role(&s, "Lee", Role::Admin).unwrap();
        assert_eq!(account(&s, "Lee").unwrap().unwrap().role, Role::Admin);
        assert_eq!(account(&s, "lee").unwrap().unwrap().role, Role::Viewer);
    }

    #[test]
    fn a_password_is_checked_against_its_hash_and_a_session_lives_until_it_ends() {
        let (_dir, s) = storage();
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword)
        ));
        let long = "p".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(
            hash_password(&long).unwrap_err().to_string(),
            "a password can have at most 1024 characters, this one has 1025"
        );
        assert!(hash_password(&"p".repeat(MAX_PASSWORD_CHARS)).is_ok());
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
        add_account(&s, "kim", Role::Editor, Some(hash)).unwrap();
        add_account(&s, "kim@example.org", Role::Admin, None).unwrap();
        assert_eq!(
            check_password(&s, "kim", "correct horse battery")
                .unwrap()
                .map(|a| a.name),
            Some("kim".into())
        );
        for (name, password) in [
            ("kim", "wrong horse battery"),
            ("nobody", "correct horse battery"),
            ("kim@example.org", "not a password of anyone's"),
            ("kim", &long),
        ] {
            assert_eq!(check_password(&s, name, password).unwrap(), None, "{name}");
        }
        let kim = check_password(&s, "kim", "correct horse battery")
            .unwrap()
            .unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let start = |ttl| {
            start_session(&s, "kim", kim.password_hash.as_deref(), ttl, None)
                .unwrap()
                .unwrap()
                .session
        };
        let id = start(hour);
        assert_eq!(
            session(&s, &id).unwrap().map(|a| a.role),
            Some(Role::Editor)
        );
        assert_eq!(session(&s, "forged").unwrap(), None);
        end_session(&s, &id).unwrap();
        assert_eq!(session(&s, &id).unwrap(), None, "ended");
        let expired = start(std::time::Duration::ZERO);
        assert_eq!(session(&s, &expired).unwrap(), None, "expired");
        let id = start(hour);
        set_password_hash(&s, "kim", hash_password("another long one").unwrap()).unwrap();
        assert_eq!(
            session(&s, &id).unwrap(),
            None,
            "a new password ends sessions"
        );
        assert_eq!(
            start_session(&s, "kim", kim.password_hash.as_deref(), hour, None)
                .unwrap()
                .map(|started| started.session),
            None,
            "a password checked before it changed starts no session"
        );
        let debug = format!("{kim:?}");
        assert!(!debug.contains("argon2"), "{debug}");
    }

    #[test]
    fn a_device_belongs_to_the_account_it_signed_in_to_until_the_password_changes() {
        let (_dir, s) = storage();
        let hash = hash_password("correct horse battery").unwrap();
        add_account(&s, "kim", Role::Editor, Some(hash.clone())).unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let first = start_session(&s, "kim", Some(&hash), hour, None)
            .unwrap()
            .unwrap();
        assert_eq!(
            device_account(&s, &first.device).unwrap().as_deref(),
            Some("kim")
        );
        assert_eq!(device_account(&s, "forged").unwrap(), None);
        // Signing in again from that browser replaces its device id.
        let again = start_session(&s, "kim", Some(&hash), hour, Some(&first.device))
            .unwrap()
            .unwrap();
        assert_eq!(device_account(&s, &first.device).unwrap(), None, "replaced");
        assert_eq!(
            device_account(&s, &again.device).unwrap().as_deref(),
            Some("kim")
        );
        // Only the newest devices are remembered.
        let mut devices = vec![again.device];
        for _ in 0..DEVICES_PER_ACCOUNT {
            let started = start_session(&s, "kim", Some(&hash), hour, None)
                .unwrap()
                .unwrap();
            devices.push(started.device);
        }
        let remembered = devices
            .iter()
            .filter(|d| device_account(&s, d).unwrap().is_some())
            .count();
        assert_eq!(remembered, DEVICES_PER_ACCOUNT);
        assert!(
            device_account(&s, devices.last().unwrap())
                .unwrap()
                .is_some()
        );
        set_password_hash(&s, "kim", hash_password("another long one").unwrap()).unwrap();
        assert_eq!(
            device_account(&s, devices.last().unwrap()).unwrap(),
            None,
            "a new password forgets the account's devices"
        );
    }

    #[test]
    fn a_token_is_shown_once_and_stored_only_as_a_hash() {
        let (dir, s) = storage();
        let secret = create_token(&s, "indexer", Role::Viewer, false).unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() == 3 + 64);
        assert_eq!(token(&s, &secret).unwrap().unwrap().name, "indexer");
        assert_eq!(token(&s, "hc_wrong").unwrap(), None);
        assert_eq!(token(&s, "not-a-token").unwrap(), None);
        let other = create_token(&s, "other", Role::Editor, false).unwrap();
        assert_ne!(secret, other);
        assert!(
            create_token(&s, "indexer", Role::Viewer, false).is_err(),
            "name taken"
        );
        assert_eq!(tokens(&s).unwrap().len(), 2);
        revoke_token(&s, "other").unwrap();
        assert_eq!(token(&s, &other).unwrap(), None, "revoked");
        for file in ["honestcam-study.db", "honestcam-study.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&secret[3..]), "the secret is not in {file}");
        }
    }

    #[test]
    fn a_read_only_token_is_stored_as_one_and_others_keep_their_rights() {
        let (_dir, s) = storage();
        let reader = create_token(&s, "rag", Role::Admin, true).unwrap();
        let writer = create_token(&s, "script", Role::Editor, false).unwrap();
        let row = token(&s, &reader).unwrap().unwrap();
        assert!(row.read_only && row.role == Role::Admin);
        assert!(!token(&s, &writer).unwrap().unwrap().read_only);
        let listed: Vec<(String, bool)> = tokens(&s)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.read_only))
            .collect();
        assert_eq!(listed, [("rag".into(), true), ("script".into(), false)]);
    }
}
