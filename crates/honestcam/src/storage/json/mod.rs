//! The JSON backend: a property served from its legacy files (read and written by
//! [`super::legacy`]), as before `db-migrate` or after `db-rollback`.
//!
//! The files are rewritten whole, so every write needs the property's lock exclusively
//! (a write through a store holding it shared is refused with
//! [`StoreError::NotExclusive`]); reads fold the log as they go. Deleting this folder
//! and its line in `resolve.rs` removes the backend; the legacy formats stay for as
//! long as `db-migrate` reads them and `db-rollback` writes them.

use std::collections::HashSet;
use std::path::Path;

use super::StoreError;
use super::backend::{Decide, Edit, Holdings, LogVersion, PropertyBackend, SearchRow};
use super::legacy::{self, LegacyError};
use super::record::EventRecord;
use crate::domain::search::SearchQuery;
use crate::domain::{ActionChanges, Event, Progress, Projection, StudyUser, UserId};
use crate::property::{PropertyPaths, Slug};

/// A property on its legacy JSON files, for one unit of work.
#[derive(Debug)]
pub struct JsonProperty {
    paths: PropertyPaths,
    exclusive: bool,
}

impl JsonProperty {
    /// The property at `paths`; `exclusive` when the unit of work holds its lock
    /// exclusively (only then may it write).
    pub fn new(paths: PropertyPaths, exclusive: bool) -> JsonProperty {
        JsonProperty { paths, exclusive }
    }

    fn slug(&self) -> &Slug {
        &self.paths.slug
    }

    /// The files are rewritten whole: only an exclusive holder may write them.
    fn check_exclusive(&self) -> Result<(), StoreError> {
        if self.exclusive {
            Ok(())
        } else {
            Err(StoreError::NotExclusive(self.slug().clone()))
        }
    }

    /// Appends to `log` (as read) the `events` whose ids it does not hold, and
    /// replaces the file if any were new; returns how many were.
    fn append_to_log(&self, mut log: Vec<Event>, events: &[Event]) -> Result<u64, StoreError> {
        let mut known: HashSet<&str> = log.iter().map(|e| e.event_id.as_str()).collect();
        let new: Vec<Event> = events
            .iter()
            .filter(|e| known.insert(e.event_id.as_str()))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let added = new.len() as u64;
        log.extend(new);
        legacy::write_log(&self.paths, &log)?;
        Ok(added)
    }

    fn not_on_sqlite(&self) -> StoreError {
        StoreError::NotOnSqlite(self.slug().clone())
    }
}

impl PropertyBackend for JsonProperty {
    fn paths(&self) -> &PropertyPaths {
        &self.paths
    }

    fn orders_its_writers(&self) -> bool {
        false
    }

    fn snapshot_to(&self, _target: &Path) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn log_version(&self) -> Result<LogVersion, StoreError> {
        let file = self.paths.legacy_log();
        let io = |source| LegacyError::Io {
            path: file.clone(),
            source,
        };
        Ok(LogVersion::of_content(match std::fs::metadata(&file) {
            Ok(m) => Some((m.modified().map_err(io)?, m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e).into()),
        }))
    }

    fn projection_position(&self) -> Result<i64, StoreError> {
        Ok(0)
    }

    fn projection(&self) -> Result<Projection, StoreError> {
        let log = legacy::read_events(&self.paths)?;
        Ok(Projection::fold((1..).zip(&log)))
    }

    fn events(&self) -> Result<Vec<Event>, StoreError> {
        Ok(legacy::read_events(&self.paths)?)
    }

    fn events_after(&self, seq: i64) -> Result<Vec<(i64, Event)>, StoreError> {
        Ok(legacy::read_events(&self.paths)?
            .into_iter()
            .zip(1..)
            .map(|(e, i)| (i, e))
            .skip(usize::try_from(seq).unwrap_or(0))
            .collect())
    }

    fn events_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
        // The log is parsed up to the page.
        let after = u64::try_from(after).unwrap_or(0);
        Ok(legacy::read_events_page(&self.paths, after, limit)?
            .into_iter()
            .map(|(i, e)| (i64::try_from(i).unwrap_or(i64::MAX), e))
            .collect())
    }

    fn last_position(&self) -> Result<i64, StoreError> {
        Ok(i64::try_from(legacy::count_events(&self.paths)?).unwrap_or(i64::MAX))
    }

    fn action_events(&self, action_id: &str) -> Result<Vec<Event>, StoreError> {
        Ok(legacy::read_events(&self.paths)?
            .into_iter()
            .filter(|e| e.action_id == action_id)
            .collect())
    }

    fn changes_through(&self, action_id: &str, seq: i64) -> Result<ActionChanges, StoreError> {
        // No projection is stored: the action's events up to `seq` are folded.
        let log = legacy::read_events(&self.paths)?;
        let folded = Projection::fold(
            (1..)
                .zip(&log)
                .take_while(|(i, _)| *i <= seq)
                .filter(|(_, e)| e.action_id == action_id),
        );
        Ok(folded.action(action_id).cloned().unwrap_or_default())
    }

    fn search(
        &self,
        _query: &SearchQuery,
        _limit: usize,
        _offset: usize,
    ) -> Result<Vec<SearchRow>, StoreError> {
        // The files keep no index; the portal's page searches the fold instead.
        Err(StoreError::NoSearchIndex(self.slug().clone()))
    }

    fn matching_actions(&self, _query: &SearchQuery) -> Result<Option<Vec<String>>, StoreError> {
        Ok(None)
    }

    fn rebuild_search(&self) -> Result<u64, StoreError> {
        Err(self.not_on_sqlite())
    }

    fn append_for_action(&self, action_id: &str, decide: Decide) -> Result<Vec<Event>, StoreError> {
        self.check_exclusive()?;
        // No projection is stored: the action's events are folded.
        let log = legacy::read_events(&self.paths)?;
        let prior = Projection::fold((1..).zip(&log).filter(|(_, e)| e.action_id == action_id));
        let events = decide(prior.action(action_id).unwrap_or(&ActionChanges::default()));
        if !events.is_empty() {
            self.append_to_log(log, &events)?;
        }
        Ok(events)
    }

    fn append(&self, events: &[Event]) -> Result<u64, StoreError> {
        self.check_exclusive()?;
        let log = legacy::read_events(&self.paths)?;
        self.append_to_log(log, events)
    }

    fn rebuild_projection(&self) -> Result<u64, StoreError> {
        Err(self.not_on_sqlite())
    }

    fn append_records(
        &self,
        _records: Vec<EventRecord>,
        _on_progress: &mut dyn FnMut(u64),
    ) -> Result<u64, StoreError> {
        Err(self.not_on_sqlite())
    }

    fn users(&self) -> Result<Vec<StudyUser>, StoreError> {
        let mut users = legacy::read_users(&self.paths)?.unwrap_or_default();
        users.sort_by(|a, b| (&a.created_at, &a.user_id).cmp(&(&b.created_at, &b.user_id)));
        Ok(users)
    }

    fn user(&self, user: &UserId) -> Result<Option<StudyUser>, StoreError> {
        Ok(legacy::read_users(&self.paths)?
            .unwrap_or_default()
            .into_iter()
            .find(|u| u.user_id == *user))
    }

    fn owned_user(&self, owner: &str) -> Result<Option<StudyUser>, StoreError> {
        Ok(legacy::read_users(&self.paths)?
            .unwrap_or_default()
            .into_iter()
            .find(|u| u.owner.as_deref() == Some(owner)))
    }

    fn insert_owned_user(&self, user: &StudyUser) -> Result<StudyUser, StoreError> {
        // One user per owner: the exclusive lock orders concurrent inserts.
        self.check_exclusive()?;
        Ok(legacy::update_users(&self.paths, |users| {
            match users
                .iter()
                .find(|u| u.owner.is_some() && u.owner == user.owner)
            {
                Some(stored) => stored.clone(),
                None => {
                    users.push(user.clone());
                    user.clone()
                }
            }
        })?)
    }

    fn rename_user(&self, user: &UserId, name: &str) -> Result<bool, StoreError> {
        self.check_exclusive()?;
        Ok(legacy::update_users(&self.paths, |users| {
            match users.iter_mut().find(|u| u.user_id == *user) {
                Some(found) => {
                    found.name = name.to_string();
                    true
                }
                None => false,
            }
        })?)
    }

    fn upsert_user(&self, user: &StudyUser) -> Result<(), StoreError> {
        self.check_exclusive()?;
        Ok(legacy::update_users(&self.paths, |users| {
            match users.iter_mut().find(|u| u.user_id == user.user_id) {
                Some(existing) => *existing = user.clone(),
                None => users.push(user.clone()),
            }
        })?)
    }

    fn progress(&self, user: &UserId) -> Result<Option<Progress>, StoreError> {
        Ok(legacy::read_progress(&self.paths, user)?)
    }

    fn all_progress(&self) -> Result<Vec<(UserId, Progress)>, StoreError> {
        Ok(legacy::read_all_progress(&self.paths)?)
    }

    fn update_progress(&self, user: &UserId, edit: Edit) -> Result<(), StoreError> {
        self.check_exclusive()?;
        let mut blob = legacy::read_progress(&self.paths, user)?.unwrap_or_default();
        if edit(&mut blob) {
            legacy::write_progress(&self.paths, user, &blob)?;
        }
        Ok(())
    }
}

/// What the property's legacy files hold, read without changing anything.
pub fn holdings(paths: &PropertyPaths) -> Result<Holdings, StoreError> {
    Ok(Holdings {
        events: legacy::read_log(paths)?.map_or(0, |l| l.events.len() as u64),
        users: legacy::read_users(paths)?.map_or(0, |u| u.len() as u64),
        progress: legacy::progress_files(paths)?.len() as u64,
        schema: None,
        projection_differences: None,
        search_differences: None,
    })
}
