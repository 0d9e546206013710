//! What the SQLite backend fails with: a statement, the writer's transaction, opening
//! the database or reading its migrations.

use super::super::Scope;

/// Why the SQLite backend failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An SQLite statement failed.
    #[error("storage error for {scope}: sqlite")]
    Statement {
        /// The chat, or the whole store.
        scope: Scope,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The SQLite writer did not commit a change: its batch's transaction failed (the
    /// change was rolled back with it), or the writer stopped.
    #[error("storage error for {scope}")]
    Write {
        /// The chat, or the whole store.
        scope: Scope,
        /// What failed.
        source: statekit::sqlite::group::WriteFailure,
    },
    /// The database could not be opened.
    #[error("cannot open the SQLite database")]
    Open(#[from] statekit::sqlite::SqliteError),
    /// The database's migrations could not be read or applied.
    #[error("cannot migrate the SQLite database")]
    Migrations(#[from] statekit::migrate::MigrateError),
}

impl Error {
    /// Whether the failure may pass by itself (a database busy or locked, an I/O error,
    /// a full disk, a writer's batch that failed); see
    /// [`crate::store::StoreError::is_transient`].
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            Error::Write { .. } => true,
            Error::Statement { source, .. } => source.sqlite_error_code().is_some_and(|c| {
                matches!(
                    c,
                    C::DatabaseBusy | C::DatabaseLocked | C::SystemIoFailure | C::DiskFull
                )
            }),
            _ => false,
        }
    }
}

impl From<statekit::sqlite::group::WriteFailure> for Error {
    /// The writer failed a job of the whole store (migrating at open).
    fn from(source: statekit::sqlite::group::WriteFailure) -> Error {
        Error::Write {
            scope: Scope::Store,
            source,
        }
    }
}
