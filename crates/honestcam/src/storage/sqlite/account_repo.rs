//! Accounts, login sessions, API tokens and sign-in devices in the global database
//! (`migrations/study/0002_accounts.sql`, `0004_devices.sql`,
//! `0005_read_only_tokens.sql`).

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;
use crate::domain::Role;

/// An account as stored. Its `Debug` hides the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Its name: a login or an email.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its Argon2id password hash (PHC string); none for identities vouched for
    /// elsewhere.
    pub password_hash: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("name", &self.name)
            .field("role", &self.role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// An API token as stored (its secret is not: only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Whether it only reads, whatever its role: every write is refused.
    pub read_only: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

fn role(table: &'static str, text: String) -> Result<Role, DbError> {
    text.parse()
        .map_err(|source| DbError::BadRole { table, source })
}

/// Inserts an account; `Ok(false)` if one has that name (nothing changes).
pub fn insert_account(conn: &Connection, row: &AccountRow) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO accounts (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![
            row.name,
            row.role.as_str(),
            row.password_hash,
            row.created_at
        ])?;
    Ok(n > 0)
}

/// The account named `name`.
pub fn account(conn: &Connection, name: &str) -> Result<Option<AccountRow>, DbError> {
    let found = conn
        .prepare_cached(
            "SELECT name, role, password_hash, created_at FROM accounts WHERE name = ?1",
        )?
        .query_row([name], |r| {
            Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    found
        .map(|(name, r, password_hash, created_at)| {
            Ok(AccountRow {
                name,
                role: role("accounts", r)?,
                password_hash,
                created_at,
            })
        })
        .transpose()
}

/// Every account whose name is `name` with ASCII letters compared without regard to
/// case (SQLite's `NOCASE` folds ASCII only), by name. More than one only in a
/// database written before names were compared that way.
pub fn accounts_folded(conn: &Connection, name: &str) -> Result<Vec<AccountRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, role, password_hash, created_at FROM accounts
         WHERE name = ?1 COLLATE NOCASE ORDER BY name",
    )?;
    let rows = stmt.query_map([name], |r| {
        Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, r, password_hash, created_at) = row?;
        out.push(AccountRow {
            name,
            role: role("accounts", r)?,
            password_hash,
            created_at,
        });
    }
    Ok(out)
}

/// Every account, by name.
pub fn accounts(conn: &Connection) -> Result<Vec<AccountRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, role, password_hash, created_at FROM accounts ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, r, password_hash, created_at) = row?;
        out.push(AccountRow {
            name,
            role: role("accounts", r)?,
            password_hash,
            created_at,
        });
    }
    Ok(out)
}

/// Sets an account's role; `Ok(false)` if there is no such account.
pub fn set_role(conn: &Connection, name: &str, role: Role) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("UPDATE accounts SET role = ?2 WHERE name = ?1")?
        .execute(params![name, role.as_str()])?;
    Ok(n > 0)
}

/// Sets an account's password hash and ends its sessions and devices; `Ok(false)` if there is no
/// such account.
pub fn set_password_hash(conn: &Connection, name: &str, hash: &str) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("UPDATE accounts SET password_hash = ?2 WHERE name = ?1")?
        .execute(params![name, hash])?;
    conn.prepare_cached("DELETE FROM sessions WHERE account = ?1")?
        .execute([name])?;
    conn.prepare_cached("DELETE FROM devices WHERE account = ?1")?
        .execute([name])?;
    Ok(n > 0)
}

/// Removes an account, its sessions and its devices; `Ok(false)` if there was none.
pub fn remove_account(conn: &Connection, name: &str) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("DELETE FROM accounts WHERE name = ?1")?
        .execute([name])?;
    Ok(n > 0)
}

/// Inserts a token; `Ok(false)` if one has that name (nothing changes).
pub fn insert_token(
    conn: &Connection,
    row: &TokenRow,
    token_sha256: &str,
) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO api_tokens (name, role, read_only, token_sha256, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![
            row.name,
            row.role.as_str(),
            row.read_only,
            token_sha256,
            row.created_at
        ])?;
    Ok(n > 0)
}

/// A token's row as selected by `TOKEN_COLUMNS`, its role not parsed yet.
type RawToken = (String, String, bool, String);

const TOKEN_COLUMNS: &str = "name, role, read_only, created_at";

fn raw_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawToken> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn token_row((name, r, read_only, created_at): RawToken) -> Result<TokenRow, DbError> {
    Ok(TokenRow {
        name,
        role: role("api_tokens", r)?,
        read_only,
        created_at,
    })
}

/// The token whose secret hashes to `token_sha256`.
pub fn token_by_sha256(conn: &Connection, token_sha256: &str) -> Result<Option<TokenRow>, DbError> {
    conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = ?1"
    ))?
    .query_row([token_sha256], raw_token)
    .optional()?
    .map(token_row)
    .transpose()
}

/// Every token, by name.
pub fn tokens(conn: &Connection) -> Result<Vec<TokenRow>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name"
    ))?;
    let rows = stmt.query_map([], raw_token)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(token_row(row?)?);
    }
    Ok(out)
}

/// Removes a token; `Ok(false)` if there was none.
pub fn remove_token(conn: &Connection, name: &str) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("DELETE FROM api_tokens WHERE name = ?1")?
        .execute([name])?;
    Ok(n > 0)
}

/// Inserts a session of `account` until `expires_at`.
pub fn insert_session(
    conn: &Connection,
    id_sha256: &str,
    account: &str,
    created_at: &str,
    expires_at: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO sessions (id_sha256, account, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id_sha256, account, created_at, expires_at])?;
    Ok(())
}

/// The account of the session whose id hashes to `id_sha256`, if it has not expired
/// by `now` (compared as instants, whatever the fractions of a second).
pub fn session_account(
    conn: &Connection,
    id_sha256: &str,
    now: &str,
) -> Result<Option<AccountRow>, DbError> {
    let name: Option<String> = conn
        .prepare_cached(
            "SELECT account FROM sessions
         WHERE id_sha256 = ?1 AND unixepoch(expires_at, 'subsec') > unixepoch(?2, 'subsec')",
        )?
        .query_row(params![id_sha256, now], |r| r.get(0))
        .optional()?;
    match name {
        Some(name) => account(conn, &name),
        None => Ok(None),
    }
}

/// Ends a session; `Ok(false)` if there was none.
pub fn remove_session(conn: &Connection, id_sha256: &str) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("DELETE FROM sessions WHERE id_sha256 = ?1")?
        .execute([id_sha256])?;
    Ok(n > 0)
}

/// Removes the sessions expired by `now`; returns how many.
pub fn remove_expired_sessions(conn: &Connection, now: &str) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM sessions WHERE unixepoch(expires_at, 'subsec') <= unixepoch(?1, 'subsec')",
        )?
        .execute([now])?)
}

/// Records a device of `account` (a browser that signed in) until `expires_at`,
/// replacing the device `replaces` (the one it signed in from, if any), and keeps only
/// the account's `keep` newest devices. Expired devices are cleared on the way.
pub fn insert_device(
    conn: &Connection,
    id_sha256: &str,
    account: &str,
    replaces: Option<&str>,
    now: &str,
    expires_at: &str,
    keep: usize,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "DELETE FROM devices WHERE unixepoch(expires_at, 'subsec') <= unixepoch(?1, 'subsec')",
    )?
    .execute([now])?;
    if let Some(old) = replaces {
        conn.prepare_cached("DELETE FROM devices WHERE id_sha256 = ?1")?
            .execute([old])?;
    }
    conn.prepare_cached(
        "INSERT INTO devices (id_sha256, account, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id_sha256, account, now, expires_at])?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "DELETE FROM devices WHERE account = ?1 AND id_sha256 NOT IN (
             SELECT id_sha256 FROM devices WHERE account = ?1 ORDER BY seq DESC LIMIT ?2)",
    )?
    .execute(params![account, keep])?;
    Ok(())
}

/// The account of the device whose id hashes to `id_sha256`, if it has not expired by
/// `now`.
pub fn device_account(
    conn: &Connection,
    id_sha256: &str,
    now: &str,
) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT account FROM devices
         WHERE id_sha256 = ?1 AND unixepoch(expires_at, 'subsec') > unixepoch(?2, 'subsec')",
        )?
        .query_row(params![id_sha256, now], |r| r.get(0))
        .optional()?)
}
