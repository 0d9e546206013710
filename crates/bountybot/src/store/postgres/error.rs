//! What the PostgreSQL backend fails with: a statement or a stored value (in the chat
//! or the store it concerned), the URL, the connection, the database's use by another
//! process, a schema this bountybot cannot use.

use super::super::Scope;
pub use crate::store::sql::BadValue;

/// Why the PostgreSQL backend failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PostgreSQL statement failed (or the connection did).
    #[error("storage error for {scope}: postgres")]
    Statement {
        /// The chat, or the whole store.
        scope: Scope,
        /// What PostgreSQL (or the connection) said.
        source: postgres::Error,
    },
    /// A value stored in PostgreSQL does not parse.
    #[error("storage error for {scope}: postgres holds a value that does not parse")]
    Data {
        /// The chat, or the whole store.
        scope: Scope,
        /// What is wrong with it.
        source: BadValue,
    },
    /// The database URL does not parse (shown without its password).
    #[error("bad database URL {url}")]
    Url {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: postgres::Error,
    },
    /// No connection could be had from the pool in time.
    #[error("cannot connect to {url}")]
    Pool {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: r2d2::Error,
    },
    /// A connection of its own (a lock's, the leader's) could not be made.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: postgres::Error,
    },
    /// Another process holds the database in a way that excludes this one: a bot
    /// runs on it (for `migrate-storage`), or `migrate-storage` does (for a bot).
    #[error("{url} is in use: a bot runs on it, or migrate-storage does; stop it first")]
    Busy {
        /// The URL, password hidden.
        url: String,
    },
    /// The database's data was moved to another backend by `migrate-storage`.
    #[error(
        "the data in {url} was moved to {moved}; run the bot with that backend, or `migrate-storage --to postgres` to move it back"
    )]
    Moved {
        /// The URL, password hidden.
        url: String,
        /// Where and when, and the schema holding the old tables.
        moved: String,
    },
    /// The database's schema is not one this bountybot can use.
    #[error("postgres schema: {0}")]
    Schema(SchemaError),
    /// The embedded migrations could not be read.
    #[error("cannot read the PostgreSQL migrations")]
    Migrations(#[from] statekit::migrate::MigrateError),
}

/// Why the database's schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// It is at a migration this bountybot does not have.
    #[error(
        "the database is at migration {version} ({name}), which this bountybot does not know; run a newer bountybot"
    )]
    Unknown {
        /// The migration's number.
        version: i32,
        /// Its file name.
        name: String,
    },
    /// A migration was applied from another file than this bountybot's.
    #[error("migration {version} ({name}) was applied from a different file than this bountybot's")]
    Changed {
        /// The migration's number.
        version: i32,
        /// Its file name.
        name: String,
    },
}

impl Error {
    /// Whether the failure may pass by itself: a lost or refused connection, a server
    /// shutting down, out of resources or asking for a retry (SQLSTATE classes 08, 40,
    /// 53, 57), a database busy; see [`crate::store::StoreError::is_transient`].
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Pool { .. } | Error::Connect { .. } | Error::Busy { .. } => true,
            Error::Statement { source, .. } => {
                if let Some(db) = source.as_db_error() {
                    let code = db.code().code();
                    return ["08", "40", "53", "57"].iter().any(|c| code.starts_with(c));
                }
                source.is_closed()
                    || std::error::Error::source(source)
                        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
            }
            _ => false,
        }
    }
}

/// A failure inside a unit of work, before the chat or store it concerns is attached
/// ([`Fail::within`], once, where the unit is run).
#[derive(Debug)]
pub(crate) enum Fail {
    /// A statement failed.
    Db(postgres::Error),
    /// A stored value does not parse.
    Data(BadValue),
}

impl Fail {
    /// The failure as one of `scope`.
    pub(crate) fn within(self, scope: Scope) -> Error {
        match self {
            Fail::Db(source) => Error::Statement { scope, source },
            Fail::Data(source) => Error::Data { scope, source },
        }
    }
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Db(e)
    }
}

impl<E: Into<BadValue>> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail::Data(e.into())
    }
}

impl From<postgres::Error> for super::super::StoreError {
    /// A statement failed that concerns the whole store (connecting, migrations, locks,
    /// archiving); a chat's units of work attach their chat instead (`Fail::within`).
    fn from(source: postgres::Error) -> Self {
        Error::Statement {
            scope: Scope::Store,
            source,
        }
        .into()
    }
}
