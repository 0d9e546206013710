//! `db-init`: create a property's database and the global study database.

use statekit::plan::Plan;

use super::Run;
use crate::domain::{Baseline, PropertyInfo};
use crate::property::Slug;
use crate::storage::sqlite::DbError;
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::{Storage, StoreError, legacy};

/// Plan line: baseline to create (`--create`).
pub const CREATE_BASELINE: &str = "create compliance.json";
/// Plan line: property database to create.
pub const CREATE_PROPERTY_DB: &str = "create property database";
/// Plan line: study database to create.
pub const CREATE_STUDY_DB: &str = "create study database";
/// Plan line: pending property migrations.
pub const PROPERTY_MIGRATIONS: &str = "apply property migrations";
/// Plan line: pending study migrations.
pub const STUDY_MIGRATIONS: &str = "apply study migrations";

/// Why `db-init` refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The property still has legacy data, which `db-init` would hide.
    #[error(
        "property {0} has legacy JSON data; import it with `honestcam db-migrate {0} --execute` instead"
    )]
    HasLegacyData(Slug),
    /// No `compliance.json`: most likely a mistyped slug.
    #[error(
        "no property {slug} in {dir} (no compliance.json there); check the slug, or pass --create to start a new, empty property"
    )]
    NoBaseline {
        /// The slug given.
        slug: Slug,
        /// The data dir.
        dir: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A legacy file could not be read or written.
    #[error(transparent)]
    Legacy(#[from] legacy::LegacyError),
    /// A database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A new property for `--create`: its display name.
#[derive(Debug, Clone, Copy)]
pub struct Create<'a> {
    /// The property's display name.
    pub name: &'a str,
}

/// Refuses, before any lock or file is taken, a property that has no baseline unless
/// it is to be created.
pub fn check(storage: &Storage, slug: &Slug, create: Option<Create<'_>>) -> Result<(), InitError> {
    let paths = storage.data().property(slug);
    if create.is_none() && !paths.baseline().is_file() {
        return Err(InitError::NoBaseline {
            slug: slug.clone(),
            dir: storage.data().path().display().to_string(),
        });
    }
    Ok(())
}

fn pending(path: &std::path::Path, m: &statekit::migrate::Migrations) -> Result<u64, DbError> {
    if !path.exists() {
        return Ok(u64::from(m.latest()));
    }
    let conn = open_read_only(path)?;
    Ok(m.pending(&conn)?.len() as u64)
}

/// Plans, and with [`Run::Execute`] creates, fresh databases for `slug` (and, with
/// `create`, an empty `compliance.json`). A no-op on an initialised property.
pub fn db_init(
    storage: &Storage,
    slug: &Slug,
    run: Run<'_>,
    create: Option<Create<'_>>,
) -> Result<Plan, InitError> {
    check(storage, slug, create)?;
    let paths = storage.data().property(slug);
    let on_sqlite = paths.db().is_file();
    if !on_sqlite && !legacy::mutable_files(&paths)?.is_empty() {
        return Err(InitError::HasLegacyData(slug.clone()));
    }
    let dbs = storage.databases();
    let study_path = storage.data().study_db();
    let mut plan = Plan::new(format!("db-init {slug}"), run.mode());
    let new_baseline = !paths.baseline().is_file();
    plan.push(CREATE_BASELINE, u64::from(new_baseline));
    plan.push(CREATE_PROPERTY_DB, u64::from(!on_sqlite));
    plan.push(
        PROPERTY_MIGRATIONS,
        pending(&paths.db(), dbs.property_migrations())?,
    );
    plan.push(CREATE_STUDY_DB, u64::from(!study_path.exists()));
    plan.push(
        STUDY_MIGRATIONS,
        pending(&study_path, dbs.study_migrations())?,
    );
    let Run::Execute(_lock) = run else {
        return Ok(plan);
    };
    if !plan.changes() {
        return Ok(plan);
    }
    if let (true, Some(create)) = (new_baseline, create) {
        legacy::write_baseline(
            &paths,
            &Baseline {
                property: PropertyInfo {
                    slug: slug.to_string(),
                    name: create.name.to_string(),
                },
                actions: Vec::new(),
            },
        )?;
    }
    dbs.property(&paths.db())?;
    dbs.study(&study_path)?;
    storage.sync_baseline(&paths)?;
    Ok(plan)
}
