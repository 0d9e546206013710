//! `db-init` and `db-status`: creating databases and reporting on them.

use serde::Serialize;
use statekit::plan::{Mode, Plan};

use crate::db::connection::open_read_only;
use crate::db::{DbError, compliance_repo, study_repo};
use crate::legacy;
use crate::property::Slug;
use crate::storage::{Backend, Storage, StoreError};

/// Plan line: property database to create.
pub const CREATE_PROPERTY_DB: &str = "create property database";
/// Plan line: study database to create.
pub const CREATE_STUDY_DB: &str = "create study database";
/// Plan line: pending property migrations.
pub const PROPERTY_MIGRATIONS: &str = "apply property migrations";
/// Plan line: pending study migrations.
pub const STUDY_MIGRATIONS: &str = "apply study migrations";

/// Why `db-init` refused.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The property still has legacy data, which `db-init` would hide.
    #[error(
        "property {0} has legacy JSON data; import it with `honestcam db-migrate {0} --execute` instead"
    )]
    HasLegacyData(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<legacy::LegacyError> for InitError {
    fn from(e: legacy::LegacyError) -> Self {
        InitError::Store(e.into())
    }
}

fn pending(path: &std::path::Path, m: &statekit::migrate::Migrations) -> Result<u64, DbError> {
    if !path.exists() {
        return Ok(u64::from(m.latest()));
    }
    let conn = open_read_only(path)?;
    Ok(m.pending(&conn)?.len() as u64)
}

/// Plans, and with [`Mode::Execute`] creates, fresh databases for `slug`. A no-op on
/// an initialised property.
pub fn db_init(storage: &Storage, slug: &Slug, mode: Mode) -> Result<Plan, InitError> {
    let paths = storage.data().property(slug);
    if !paths.on_sqlite() && !legacy::mutable_files(&paths)?.is_empty() {
        return Err(InitError::HasLegacyData(slug.to_string()));
    }
    let dbs = storage.databases();
    let study_path = storage.data().study_db();
    let mut plan = Plan::new(format!("db-init {slug}"), mode);
    plan.push(CREATE_PROPERTY_DB, u64::from(!paths.on_sqlite()));
    plan.push(
        PROPERTY_MIGRATIONS,
        pending(&paths.db(), dbs.property_migrations())?,
    );
    plan.push(CREATE_STUDY_DB, u64::from(!study_path.exists()));
    plan.push(
        STUDY_MIGRATIONS,
        pending(&study_path, dbs.study_migrations())?,
    );
    if mode.is_execute() && plan.changes() {
        dbs.property(&paths.db())?;
        dbs.study(&study_path)?;
    }
    Ok(plan)
}

/// One property's storage at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyStatus {
    /// The property.
    pub slug: String,
    /// Backend in use.
    pub backend: Backend,
    /// Property database schema version (SQLite only).
    pub property_schema: Option<u32>,
    /// Study database schema version, if that database exists.
    pub study_schema: Option<u32>,
    /// Compliance events stored.
    pub events: u64,
    /// Study users.
    pub users: u64,
    /// Progress blobs.
    pub progress: u64,
}

/// Status of `slugs` (every property when empty). Reads only.
pub fn db_status(storage: &Storage, slugs: &[Slug]) -> Result<Vec<PropertyStatus>, StoreError> {
    let all;
    let slugs = if slugs.is_empty() {
        all = storage.data().properties().map_err(|source| {
            StoreError::Legacy(legacy::LegacyError::Io {
                path: storage.data().path().to_path_buf(),
                source,
            })
        })?;
        &all
    } else {
        slugs
    };
    let study_path = storage.data().study_db();
    let study = if study_path.exists() {
        Some(open_read_only(&study_path)?)
    } else {
        None
    };
    let study_schema = match &study {
        Some(c) => Some(
            storage
                .databases()
                .study_migrations()
                .current_version(c)
                .map_err(DbError::from)?,
        ),
        None => None,
    };
    let mut out = Vec::new();
    for slug in slugs {
        let paths = storage.property(slug)?;
        let backend = storage.backend(&paths);
        let status = match backend {
            Backend::Sqlite => {
                let conn = open_read_only(&paths.db())?;
                let (users, progress) = match &study {
                    Some(c) => study_repo::counts(c, slug)?,
                    None => (0, 0),
                };
                PropertyStatus {
                    slug: slug.to_string(),
                    backend,
                    property_schema: Some(
                        storage
                            .databases()
                            .property_migrations()
                            .current_version(&conn)
                            .map_err(DbError::from)?,
                    ),
                    study_schema,
                    events: compliance_repo::count_events(&conn)?,
                    users,
                    progress,
                }
            }
            Backend::Json => PropertyStatus {
                slug: slug.to_string(),
                backend,
                property_schema: None,
                study_schema,
                events: legacy::read_log(&paths)?.map_or(0, |l| l.events.len() as u64),
                users: legacy::read_users(&paths)?.map_or(0, |u| u.len() as u64),
                progress: legacy::progress_files(&paths)?.len() as u64,
            },
        };
        out.push(status);
    }
    Ok(out)
}
