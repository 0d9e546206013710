//! Which backend a property is on, decided here and nowhere else.
//!
//! A property is on SQLite when `{data}/{slug}/honestcam.db` exists, and on the legacy
//! JSON files otherwise (before `db-migrate`, or after `db-rollback`). [`open`] looks
//! once, under the property's lock that the caller already holds, and returns the
//! backend as a value ([`super::PropertyStore`] over a `Box<dyn PropertyBackend>`), so
//! the unit of work never sees the property move to the other backend under it.
//!
//! This is the only module that names both backends: nothing else in `src/` matches
//! on [`Backend`] (the tidy test checks it). Removing a backend means deleting its
//! folder and its lines here.

use rusqlite::Connection;

use super::backend::{Backend, Holdings, PropertyBackend};
use super::json::{self, JsonProperty};
use super::lock_policy::Held;
use super::sqlite::{self, SqliteProperty, StudyDb};
use super::{PropertyStore, Storage, StoreError};
use crate::property::PropertyPaths;

/// Every backend, for code that counts properties by backend.
pub const ALL_BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Json];

impl Backend {
    /// The backend's name, as `/metrics` and `doctor` show it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Json => "json",
        }
    }
}

/// Which backend the property is on right now, from its files alone (a hint: it can
/// change as soon as this returns).
pub(super) fn kind(paths: &PropertyPaths) -> Backend {
    if paths.db().is_file() {
        Backend::Sqlite
    } else {
        Backend::Json
    }
}

/// The property at `paths` for one unit of work, held as `held`, on the backend it is
/// on now. A database that exists is opened (and migrated if needed), never created.
pub(super) fn open<'s>(
    storage: &'s Storage,
    paths: PropertyPaths,
    held: Held<'s>,
) -> Result<PropertyStore<'s>, StoreError> {
    let (kind, backend): (Backend, Box<dyn PropertyBackend + 's>) =
        match storage.dbs.property_existing(&paths.db())? {
            Some(db) => {
                let study = StudyDb::new(&storage.dbs, &storage.data);
                (
                    Backend::Sqlite,
                    Box::new(SqliteProperty::new(paths, db, study)),
                )
            }
            None => (
                Backend::Json,
                Box::new(JsonProperty::new(paths, held.is_exclusive())),
            ),
        };
    Ok(PropertyStore::new(storage, kind, backend, held))
}

/// What the property's storage holds, counted without taking its lock or changing
/// anything (see [`Storage::holdings`]).
pub(super) fn holdings(
    storage: &Storage,
    paths: &PropertyPaths,
    study: Option<&Connection>,
    verify: bool,
) -> Result<Holdings, StoreError> {
    match kind(paths) {
        Backend::Sqlite => sqlite::property::holdings(&storage.dbs, paths, study, verify),
        Backend::Json => json::holdings(paths),
    }
}
