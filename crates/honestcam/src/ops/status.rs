//! `db-status`: what each property's storage holds, read without changing anything.
//! A property that cannot be read gets its error in its row; the others are still
//! reported.

use serde::Serialize;

use crate::property::{PropertyPaths, Slug};
use crate::storage::sqlite::DbError;
use crate::storage::sqlite::connection::open_read_only;
use crate::storage::{Backend, Storage, StoreError, legacy};

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
    /// With `--verify`, on SQLite: how the stored projection differs from a fresh fold
    /// of the log (empty when it agrees; the first [`LISTED_DIFFERENCES`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_differences: Option<Vec<String>>,
    /// With `--verify`, on SQLite: how the stored search index differs from what the
    /// log and the baseline give (empty when it agrees; the first
    /// [`LISTED_DIFFERENCES`], then a count of the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_differences: Option<Vec<String>>,
    /// Why the property could not be read (the counts are then zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How many differences of a projection a row lists.
pub const LISTED_DIFFERENCES: usize = 10;

/// Whether `db-status` also checks each projection against its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Counts only.
    No,
    /// Fold each SQLite property's log and compare it with the stored projection, and
    /// its notes, assignees and titles with the stored search index.
    Projection,
}

/// Status of `slugs` (every property when empty). Reads only; an error reading one
/// property is reported in its row.
pub fn db_status(
    storage: &Storage,
    slugs: &[Slug],
    verify: Verify,
) -> Result<Vec<PropertyStatus>, StoreError> {
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
        for slug in slugs {
            storage.property(slug)?;
        }
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
        let paths = storage.data().property(slug);
        let backend = storage.backend(&paths);
        let mut row = PropertyStatus {
            slug: slug.to_string(),
            backend,
            property_schema: None,
            study_schema,
            events: 0,
            users: 0,
            progress: 0,
            projection_differences: None,
            search_differences: None,
            error: None,
        };
        if let Err(e) = fill(storage, &paths, study.as_ref(), verify, &mut row) {
            row.error = Some(statekit::error::Chain(&e).to_string());
        }
        out.push(row);
    }
    Ok(out)
}

fn fill(
    storage: &Storage,
    paths: &PropertyPaths,
    study: Option<&rusqlite::Connection>,
    verify: Verify,
    row: &mut PropertyStatus,
) -> Result<(), StoreError> {
    storage.baseline(paths)?;
    let holdings = storage.holdings(paths, study, verify == Verify::Projection)?;
    (row.events, row.users, row.progress) = (holdings.events, holdings.users, holdings.progress);
    row.property_schema = holdings.schema;
    row.projection_differences = holdings.projection_differences.map(|mut differences| {
        differences.truncate(LISTED_DIFFERENCES);
        differences
    });
    row.search_differences = holdings.search_differences;
    Ok(())
}
