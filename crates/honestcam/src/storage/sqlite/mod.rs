//! The SQLite backend: a property served from its database ([`property`]), connections
//! and migrations ([`connection`]), the append-only compliance log
//! ([`compliance_repo`]), what is derived from it and kept beside it (the projection,
//! [`projection_repo`]; the search index, [`search_repo`]) and study users and
//! progress ([`study_repo`]).
//!
//! Repos are plain functions over a connection or transaction: callers decide the
//! transaction boundaries (one per import, one per portal write).

pub mod account_repo;
pub mod baseline_repo;
pub mod compliance_repo;
pub mod connection;
pub mod projection_repo;
pub mod property;
pub mod search_repo;
pub mod study_repo;

pub use connection::Databases;
pub use property::{SqliteProperty, StudyDb};

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Opening or configuring the file failed.
    #[error(transparent)]
    Open(#[from] statekit::sqlite::SqliteError),
    /// Applying or checking migrations failed.
    #[error(transparent)]
    Migrate(#[from] statekit::migrate::MigrateError),
    /// A statement failed.
    #[error("sqlite")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's writer did not commit a unit of work: its batch failed (the
    /// unit was rolled back with it), the unit panicked, or the writer stopped.
    #[error(transparent)]
    Write(#[from] statekit::sqlite::group::WriteFailure),
    /// A database opened read-only needs a migration first (which a read-only
    /// process never runs).
    #[error(
        "database {path} is at schema version {current} and this honestcam needs {latest}; a read-only server does not migrate: {fix}, then try again"
    )]
    NeedsMigration {
        /// The database file.
        path: String,
        /// Its schema version.
        current: u32,
        /// The version this build needs.
        latest: u32,
        /// The command that migrates it.
        fix: &'static str,
    },
    /// A database opened read-only has a projection behind its log (which a read-only
    /// process never catches up).
    #[error(
        "database {path}: its projection covers the log up to position {covered} of {last}; a read-only server does not rebuild it: run `honestcam db-reindex SLUG --execute` for the property, then try again"
    )]
    ProjectionBehind {
        /// The database file.
        path: String,
        /// The last position the projection covers.
        covered: i64,
        /// The log's last position.
        last: i64,
    },
    /// A database opened read-only has a search index behind its log (which a
    /// read-only process never catches up).
    #[error(
        "database {path}: its search index covers the log up to position {covered} of {last}; a read-only server does not rebuild it: run `honestcam db-reindex SLUG --execute` for the property, then try again"
    )]
    SearchIndexBehind {
        /// The database file.
        path: String,
        /// The last position the index covers.
        covered: i64,
        /// The log's last position.
        last: i64,
    },
    /// A bulk load needs an empty table.
    #[error("table {0} is not empty")]
    NotEmpty(&'static str),
    /// A stored user id is not a valid one.
    #[error("corrupt row in {table}")]
    BadUserId {
        /// The table.
        table: &'static str,
        /// Why the id is refused (it names the id).
        source: crate::domain::UserIdError,
    },
    /// A user inserted for its owner has none (a caller's mistake).
    #[error("study user {0} has no owner to be inserted for")]
    NoOwner(crate::domain::UserId),
    /// A stored role is not one.
    #[error("corrupt row in {table}")]
    BadRole {
        /// The table.
        table: &'static str,
        /// The role as stored.
        source: crate::domain::RoleError,
    },
    /// A stored JSON column does not parse.
    #[error("corrupt row in {table} ({key})")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// A stored status is not one.
    #[error("corrupt row in {table} ({key})")]
    BadStatus {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// Why the status is refused (it names the status).
        source: crate::domain::StatusError,
    },
    /// A search index row names a field that is not one (the table was edited).
    #[error("corrupt row {rowid} in search_index: unknown field {field:?}")]
    BadSearchField {
        /// The row.
        rowid: i64,
        /// The field as stored.
        field: String,
    },
    /// A bulk load was finished with a projection of other events than it loaded (a
    /// caller's mistake).
    #[error(
        "the projection covers the log up to position {covered}, but {loaded} events were loaded"
    )]
    ProjectionMismatch {
        /// The last position the projection covers.
        covered: i64,
        /// Events loaded.
        loaded: u64,
    },
}
