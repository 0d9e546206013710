//! The SQLite backend of a property: its log and projection in `honestcam.db`, its
//! study users and progress in the global study database ([`StudyDb`]).
//!
//! Every write is one unit of work on the database's writer (see
//! `statekit::sqlite::Database::write`), which orders concurrent writers itself: the
//! property's lock is held shared meanwhile. A unit runs on the writer's thread, so
//! what it uses is moved into it.

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use statekit::sqlite::Database;

use super::{Databases, DbError, compliance_repo, projection_repo, search_repo, study_repo};
use crate::config::DataDir;
use crate::domain::search::SearchQuery;
use crate::domain::{ActionChanges, Event, Progress, Projection, StudyUser, UserId};
use crate::property::{PropertyPaths, Slug};
use crate::storage::StoreError;
use crate::storage::backend::{Decide, Edit, Holdings, LogVersion, PropertyBackend, SearchRow};
use crate::storage::lock_policy;
use crate::storage::record::EventRecord;

/// The global study database of a data dir, written under the study lock.
#[derive(Debug, Clone, Copy)]
pub struct StudyDb<'s> {
    dbs: &'s Databases,
    data: &'s DataDir,
}

impl<'s> StudyDb<'s> {
    /// The study database of `data`, opened through `dbs`.
    pub fn new(dbs: &'s Databases, data: &'s DataDir) -> StudyDb<'s> {
        StudyDb { dbs, data }
    }

    /// `f` run on a reader if the database exists; `absent` if not (nothing is
    /// created).
    fn read<T>(
        &self,
        absent: T,
        f: impl FnOnce(&Connection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        match self.dbs.study_existing(&self.data.study_db())? {
            Some(db) => Ok(db.read(f)?),
            None => Ok(absent),
        }
    }

    /// Runs `f` as one unit of work on the database's writer (the database created if
    /// missing), holding the study lock shared.
    pub fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _study = lock_policy::study_shared(self.data)?;
        Ok(self.dbs.study(&self.data.study_db())?.write(f)?)
    }
}

/// A property on SQLite, for one unit of work.
#[derive(Debug)]
pub struct SqliteProperty<'s> {
    paths: PropertyPaths,
    db: Arc<Database>,
    study: StudyDb<'s>,
}

impl<'s> SqliteProperty<'s> {
    /// The property at `paths`, whose database is `db`.
    pub fn new(paths: PropertyPaths, db: Arc<Database>, study: StudyDb<'s>) -> SqliteProperty<'s> {
        SqliteProperty { paths, db, study }
    }

    fn slug(&self) -> &Slug {
        &self.paths.slug
    }
}

impl PropertyBackend for SqliteProperty<'_> {
    fn paths(&self) -> &PropertyPaths {
        &self.paths
    }

    fn orders_its_writers(&self) -> bool {
        true
    }

    fn snapshot_to(&self, target: &Path) -> Result<bool, StoreError> {
        self.db.snapshot_to(target).map_err(DbError::from)?;
        Ok(true)
    }

    fn log_version(&self) -> Result<LogVersion, StoreError> {
        Ok(LogVersion::of_file(self.db.file_id()))
    }

    fn projection_position(&self) -> Result<i64, StoreError> {
        Ok(self.db.read(projection_repo::position)?.unwrap_or(0))
    }

    fn projection(&self) -> Result<Projection, StoreError> {
        // One read transaction: the rows and the position they cover agree.
        Ok(self
            .db
            .read(|c| {
                let tx = c.unchecked_transaction()?;
                let p = projection_repo::load(&tx);
                tx.finish()?;
                p
            })?
            .unwrap_or_default())
    }

    fn events(&self) -> Result<Vec<Event>, StoreError> {
        Ok(self.db.read(compliance_repo::load_events)?)
    }

    fn events_after(&self, seq: i64) -> Result<Vec<(i64, Event)>, StoreError> {
        Ok(self
            .db
            .read(|c| compliance_repo::load_events_after(c, seq))?)
    }

    fn events_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
        Ok(self
            .db
            .read(|c| compliance_repo::load_events_page(c, after, limit))?)
    }

    fn last_position(&self) -> Result<i64, StoreError> {
        Ok(self.db.read(compliance_repo::last_seq)?)
    }

    fn action_events(&self, action_id: &str) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .db
            .read(|c| compliance_repo::load_action_events(c, action_id))?)
    }

    fn changes_through(&self, action_id: &str, seq: i64) -> Result<ActionChanges, StoreError> {
        // One read transaction: its few queries agree.
        Ok(self.db.read(|c| {
            let tx = c.unchecked_transaction()?;
            let changes = projection_repo::changes_through(&tx, action_id, seq);
            tx.finish()?;
            changes
        })?)
    }

    fn search(
        &self,
        query: &SearchQuery,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<SearchRow>, StoreError> {
        // One read transaction: the hits and the events they name agree.
        Ok(self.db.read(|c| {
            let tx = c.unchecked_transaction()?;
            let hits = search_repo::search(&tx, query, limit, offset);
            tx.finish()?;
            hits
        })?)
    }

    fn matching_actions(&self, query: &SearchQuery) -> Result<Option<Vec<String>>, StoreError> {
        Ok(Some(
            self.db.read(|c| search_repo::matching_actions(c, query))?,
        ))
    }

    fn rebuild_search(&self) -> Result<u64, StoreError> {
        Ok(self.db.write(search_repo::rebuild)?)
    }

    fn append_for_action(&self, action_id: &str, decide: Decide) -> Result<Vec<Event>, StoreError> {
        // The action's projection is one row, whatever its history.
        let action_id = action_id.to_string();
        Ok(self.db.write(move |c| {
            let prior = projection_repo::load_action(c, &action_id)?.unwrap_or_default();
            let events = decide(&prior);
            if !events.is_empty() {
                compliance_repo::insert_events(c, &events, |_| {})?;
            }
            Ok::<_, DbError>(events)
        })?)
    }

    fn append(&self, events: &[Event]) -> Result<u64, StoreError> {
        let events = events.to_vec();
        Ok(self
            .db
            .write(move |conn| compliance_repo::insert_events(conn, &events, |_| {}))?)
    }

    fn rebuild_projection(&self) -> Result<u64, StoreError> {
        Ok(self.db.write(projection_repo::rebuild)?)
    }

    fn append_records(
        &self,
        records: Vec<EventRecord>,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<u64, StoreError> {
        let (progress, heard) = std::sync::mpsc::channel();
        let pending = self.db.writer().submit(move |conn: &Connection| {
            compliance_repo::insert_records(conn, &records, |done| {
                // The caller stops listening only when it is gone.
                let _ = progress.send(done);
            })
        });
        // The unit drops its sender when it has run (or the writer drops it unrun).
        for done in heard {
            on_progress(done);
        }
        Ok(pending
            .wait()
            .map_err(statekit::sqlite::group::WriteError::flatten)?)
    }

    fn users(&self) -> Result<Vec<StudyUser>, StoreError> {
        self.study
            .read(Vec::new(), |c| study_repo::users(c, self.slug()))
    }

    fn user(&self, user: &UserId) -> Result<Option<StudyUser>, StoreError> {
        self.study
            .read(None, |c| study_repo::user(c, self.slug(), user))
    }

    fn owned_user(&self, owner: &str) -> Result<Option<StudyUser>, StoreError> {
        self.study
            .read(None, |c| study_repo::owned_user(c, self.slug(), owner))
    }

    fn insert_owned_user(&self, user: &StudyUser) -> Result<StudyUser, StoreError> {
        // One user per owner: the unique index decides between concurrent inserts.
        let (slug, user) = (self.slug().clone(), user.clone());
        self.study
            .write(move |c| study_repo::insert_owned_user(c, &slug, &user))
    }

    fn rename_user(&self, user: &UserId, name: &str) -> Result<bool, StoreError> {
        let (slug, user, name) = (self.slug().clone(), user.clone(), name.to_string());
        self.study
            .write(move |c| study_repo::rename_user(c, &slug, &user, &name))
    }

    fn upsert_user(&self, user: &StudyUser) -> Result<(), StoreError> {
        let (slug, user) = (self.slug().clone(), user.clone());
        self.study
            .write(move |c| study_repo::upsert_user(c, &slug, &user))
    }

    fn progress(&self, user: &UserId) -> Result<Option<Progress>, StoreError> {
        self.study
            .read(None, |c| study_repo::progress(c, self.slug(), user))
    }

    fn all_progress(&self) -> Result<Vec<(UserId, Progress)>, StoreError> {
        self.study
            .read(Vec::new(), |c| study_repo::all_progress(c, self.slug()))
    }

    fn update_progress(&self, user: &UserId, edit: Edit) -> Result<(), StoreError> {
        let now = jiff::Timestamp::now().to_string();
        let (slug, user) = (self.slug().clone(), user.clone());
        self.study.write(move |c| {
            let mut blob = study_repo::progress(c, &slug, &user)?.unwrap_or_default();
            if edit(&mut blob) {
                study_repo::save_progress(c, &slug, &user, &blob, &now)?;
            }
            Ok(())
        })
    }
}

/// Most differences of the search index that [`holdings`] lists (then a count).
const LISTED_SEARCH_DIFFERENCES: usize = 10;

/// What the property's database holds (and the study database, if given, for it),
/// read through connections of its own that change nothing; with `verify`, how the
/// stored projection differs from a fresh fold of the log and the search index from
/// what the log and the baseline give.
pub fn holdings(
    dbs: &Databases,
    paths: &PropertyPaths,
    study: Option<&Connection>,
    verify: bool,
) -> Result<Holdings, StoreError> {
    let conn = super::connection::open_read_only(&paths.db())?;
    let (users, progress) = match study {
        Some(c) => study_repo::counts(c, &paths.slug)?,
        None => (0, 0),
    };
    let schema = dbs
        .property_migrations()
        .current_version(&conn)
        .map_err(DbError::from)?;
    let events = compliance_repo::count_events(&conn)?;
    let (projection_differences, search_differences) = if verify {
        (
            Some(projection_repo::verify(&conn)?),
            Some(search_repo::verify(&conn, LISTED_SEARCH_DIFFERENCES)?),
        )
    } else {
        (None, None)
    };
    Ok(Holdings {
        events,
        users,
        progress,
        schema: Some(schema),
        projection_differences,
        search_differences,
    })
}
