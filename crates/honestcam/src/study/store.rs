//! Study users and progress of one property, on whichever backend it uses.

use statekit::lock::DirLock;

use super::{Progress, StudyUser, UserId};
use crate::db::study_repo;
use crate::legacy;
use crate::property::Slug;
use crate::storage::{Backend, Storage, StoreError};

/// The property's study users.
pub fn users(storage: &Storage, slug: &Slug) -> Result<Vec<StudyUser>, StoreError> {
    let paths = storage.property(slug)?;
    match storage.backend(&paths) {
        Backend::Sqlite => Ok(storage.study_db()?.read(|c| study_repo::users(c, slug))?),
        Backend::Json => Ok(legacy::read_users(&paths)?.unwrap_or_default()),
    }
}

/// Adds or renames a study user.
pub fn upsert_user(storage: &Storage, slug: &Slug, user: &StudyUser) -> Result<(), StoreError> {
    let paths = storage.property(slug)?;
    match storage.backend(&paths) {
        Backend::Sqlite => Ok(storage
            .study_db()?
            .write(|c| study_repo::upsert_user(c, slug, user))?),
        Backend::Json => {
            let _lock = DirLock::acquire(&paths.dir)?;
            let mut users = legacy::read_users(&paths)?.unwrap_or_default();
            match users.iter_mut().find(|u| u.user_id == user.user_id) {
                Some(existing) => *existing = user.clone(),
                None => users.push(user.clone()),
            }
            Ok(legacy::write_users(&paths, &users)?)
        }
    }
}

/// `user`'s progress blob, if saved.
pub fn progress(
    storage: &Storage,
    slug: &Slug,
    user: &UserId,
) -> Result<Option<Progress>, StoreError> {
    let paths = storage.property(slug)?;
    match storage.backend(&paths) {
        Backend::Sqlite => Ok(storage
            .study_db()?
            .read(|c| study_repo::progress(c, slug, user))?),
        Backend::Json => Ok(legacy::read_progress(&paths, user)?),
    }
}

/// Replaces `user`'s whole progress blob (last write wins).
pub fn save_progress(
    storage: &Storage,
    slug: &Slug,
    user: &UserId,
    progress: &Progress,
) -> Result<(), StoreError> {
    let paths = storage.property(slug)?;
    match storage.backend(&paths) {
        Backend::Sqlite => {
            let now = jiff::Timestamp::now().to_string();
            Ok(storage
                .study_db()?
                .write(|c| study_repo::save_progress(c, slug, user, progress, &now))?)
        }
        Backend::Json => Ok(legacy::write_progress(&paths, user, progress)?),
    }
}

/// Every saved progress blob of the property.
pub fn all_progress(storage: &Storage, slug: &Slug) -> Result<Vec<(UserId, Progress)>, StoreError> {
    let paths = storage.property(slug)?;
    match storage.backend(&paths) {
        Backend::Sqlite => Ok(storage
            .study_db()?
            .read(|c| study_repo::all_progress(c, slug))?),
        Backend::Json => Ok(legacy::read_all_progress(&paths)?),
    }
}
