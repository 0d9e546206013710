//! Study users, progress, and answering the quiz, on whichever backend the property
//! is on, for an identity. Every portal request goes through the functions that take
//! an [`Identity`]: they decide, by [`crate::domain::study::access`], whose user and
//! progress the caller may see or change. Each identity has at most one study user per
//! property, created on first use ([`own_user_or_create`]).
//!
//! Answers by one user are serialised: reading the blob, recording the answer and
//! saving it happen in one unit of work (see
//! [`crate::storage::PropertyStore::update_progress`]), so concurrent answers all land.
//! The functions without an identity ([`users`], [`upsert_user`], [`progress`],
//! [`save_progress`], [`all_progress`]) are for commands and tests: they check nothing.

use crate::domain::quiz::{self, AnswerRecord, QuizError, Summary};
use crate::domain::study::{DisplayNameError, display_name};
use crate::domain::text::MAX_DISPLAY_NAME_CHARS;
use crate::domain::{Access, Identity, Progress, Role, StudyUser, UserId, UserIdError};
use crate::property::Slug;
use crate::service::compliance::new_event_id;
use crate::storage::{PropertyStore, Storage, StoreError};

/// Why a study operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The display name is empty or too long.
    #[error(transparent)]
    Name(#[from] DisplayNameError),
    /// A made-up user id was not valid.
    #[error(transparent)]
    Id(#[from] UserIdError),
    /// The answer or the stored blob is not acceptable.
    #[error(transparent)]
    Quiz(#[from] QuizError),
    /// The user is not the caller's (or the caller only reads it): the same answer
    /// whether or not it exists, to whoever may not know.
    #[error("{who} may not {} the progress of study user {user}", if *.write { "change" } else { "read" })]
    NotYours {
        /// The caller.
        who: String,
        /// The user asked for.
        user: UserId,
        /// Whether it was a change.
        write: bool,
    },
    /// Only editors and admins keep progress of their own.
    #[error("{who} is a {role}; answering and keeping study progress needs an editor")]
    NotEditor {
        /// The caller.
        who: String,
        /// Their role.
        role: Role,
    },
    /// No such user (told only to whoever may read anyone's).
    #[error("no study user {0}")]
    UnknownUser(UserId),
    /// The user has saved nothing yet.
    #[error("no progress saved for {0}")]
    NoProgress(UserId),
    /// The caller's study user has another name than the one asked for.
    #[error(
        "{who} studies as {name:?} ({user}) on this property, not as {asked:?}: give --user {name:?} (or rename it on the study page)"
    )]
    OtherName {
        /// The caller.
        who: String,
        /// Their user's id.
        user: UserId,
        /// Their user's display name.
        name: String,
        /// The name asked for.
        asked: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The property's study users, oldest first.
pub fn users(storage: &Storage, slug: &Slug) -> Result<Vec<StudyUser>, StoreError> {
    storage.read(slug)?.users()
}

/// Adds a study user or replaces the one with its id (no check: for commands and
/// tests).
pub fn upsert_user(storage: &Storage, slug: &Slug, user: &StudyUser) -> Result<(), StoreError> {
    storage.write(slug)?.upsert_user(user)
}

/// `user`'s progress blob, if saved.
pub fn progress(
    storage: &Storage,
    slug: &Slug,
    user: &UserId,
) -> Result<Option<Progress>, StoreError> {
    storage.read(slug)?.progress(user)
}

/// Replaces `user`'s whole progress blob, last write wins (no check: for commands
/// and tests).
pub fn save_progress(
    storage: &Storage,
    slug: &Slug,
    user: &UserId,
    progress: &Progress,
) -> Result<(), StoreError> {
    storage.write(slug)?.save_progress(user, progress)
}

/// Every saved progress blob of the property, by user id.
pub fn all_progress(storage: &Storage, slug: &Slug) -> Result<Vec<(UserId, Progress)>, StoreError> {
    storage.read(slug)?.all_progress()
}

/// A new user id for a display name: readable and unique.
pub fn new_user_id(name: &str) -> Result<UserId, UserIdError> {
    let stem: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    // `ev-` and 24 hex digits: eight of them make a short, unique enough suffix.
    let id = new_event_id();
    let suffix = id.get(3..11).unwrap_or("0");
    let text = if stem.is_empty() {
        format!("u-{suffix}")
    } else {
        format!("{stem}-{suffix}")
    };
    // Letters, digits and '-' only, at most 29 characters: a valid id.
    UserId::parse(&text)
}

/// The display name an identity starts with: its name, cut to
/// [`MAX_DISPLAY_NAME_CHARS`].
pub fn default_name(who: &Identity) -> String {
    who.name.chars().take(MAX_DISPLAY_NAME_CHARS).collect()
}

/// A new study user owned by `who`, named `name`.
fn new_user(who: &Identity, name: String) -> Result<StudyUser, StudyError> {
    Ok(StudyUser {
        user_id: new_user_id(&name)?,
        name,
        created_at: jiff::Timestamp::now().to_string(),
        owner: Some(who.name.clone()),
    })
}

/// `who`'s study user of the property, if they have one.
pub fn own_user(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
) -> Result<Option<StudyUser>, StoreError> {
    storage.read(slug)?.owned_user(&who.name)
}

/// The study users `who` may see: everyone for an admin (legacy users too), else
/// their own, if any.
pub fn visible_users(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
) -> Result<Vec<StudyUser>, StoreError> {
    if who.is_admin() {
        users(storage, slug)
    } else {
        Ok(own_user(storage, slug, who)?.into_iter().collect())
    }
}

/// `who`'s study user within `store`, stored now (named `name`, else after the
/// identity) if they have none; and whether it was.
fn own_user_in(
    store: &PropertyStore,
    who: &Identity,
    name: Option<&str>,
) -> Result<(StudyUser, bool), StudyError> {
    if !who.may_write() {
        return Err(StudyError::NotEditor {
            who: who.name.clone(),
            role: who.role,
        });
    }
    if let Some(user) = store.owned_user(&who.name)? {
        return Ok((user, false));
    }
    let name = match name {
        Some(name) => display_name(name)?,
        None => default_name(who),
    };
    let candidate = new_user(who, name)?;
    let stored = store.insert_owned_user(&candidate)?;
    let created = stored.user_id == candidate.user_id;
    Ok((stored, created))
}

/// `who`'s study user, created (named `name`, else after the identity) on first use;
/// and whether it was created now. Two first uses at once create one. Editors and
/// admins only. A `name` that is not a display name is refused even when the user
/// exists (and keeps theirs).
pub fn own_user_or_create(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    name: Option<&str>,
) -> Result<(StudyUser, bool), StudyError> {
    if let Some(name) = name {
        display_name(name)?;
    }
    own_user_in(&storage.write(slug)?, who, name)
}

/// `who`'s study user, asked for by `name` (its display name or its id), as the
/// terminal quiz and `study import` name it: `Ok(None)` if `who` has none yet and
/// `create` is false; created with that display name on first use if `create` is
/// true. A user of `who`'s under another name is refused ([`StudyError::OtherName`]):
/// each identity has one study user per property, and a name that does not match is
/// more likely a mistake than a wish to rename it. Editors and admins only.
pub fn own_user_named(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    name: &str,
    create: bool,
) -> Result<Option<StudyUser>, StudyError> {
    if !who.may_write() {
        return Err(StudyError::NotEditor {
            who: who.name.clone(),
            role: who.role,
        });
    }
    let asked = display_name(name)?;
    let user = match own_user(storage, slug, who)? {
        Some(user) => user,
        None if create => own_user_or_create(storage, slug, who, Some(&asked))?.0,
        None => return Ok(None),
    };
    if user.name == asked || user.user_id.as_str() == asked {
        Ok(Some(user))
    } else {
        Err(StudyError::OtherName {
            who: who.name.clone(),
            user: user.user_id,
            name: user.name,
            asked,
        })
    }
}

/// Renames `who`'s study user (created with that name if they have none yet).
pub fn rename_own_user(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    name: &str,
) -> Result<StudyUser, StudyError> {
    let name = display_name(name)?;
    let store = storage.write(slug)?;
    let (mut user, created) = own_user_in(&store, who, Some(&name))?;
    if !created && user.name != name {
        store.rename_user(&user.user_id, &name)?;
        user.name = name;
    }
    Ok(user)
}

/// What `who` may do with `user`'s progress, looked up in `store`: an id nobody has
/// counts as a user without an owner (admins only).
fn access_to(
    store: &PropertyStore,
    who: &Identity,
    user: &UserId,
) -> Result<(Option<StudyUser>, Access), StoreError> {
    let found = store.user(user)?;
    let access = match &found {
        Some(u) => u.access(who),
        None => crate::domain::study::access(None, who),
    };
    Ok((found, access))
}

/// `user`'s progress, for `who`: the owner's own, or anyone's for an admin.
pub fn progress_for(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    user: &UserId,
) -> Result<Progress, StudyError> {
    let store = storage.read(slug)?;
    let (found, access) = access_to(&store, who, user)?;
    if access == Access::None {
        return Err(StudyError::NotYours {
            who: who.name.clone(),
            user: user.clone(),
            write: false,
        });
    }
    match store.progress(user)? {
        Some(blob) => Ok(blob),
        None if found.is_some() => Err(StudyError::NoProgress(user.clone())),
        None => Err(StudyError::UnknownUser(user.clone())),
    }
}

/// Checks, within `store`, that `who` may change `user`'s progress.
fn check_writes(store: &PropertyStore, who: &Identity, user: &UserId) -> Result<(), StudyError> {
    match access_to(store, who, user)? {
        (_, Access::Write) => Ok(()),
        (None, Access::Read) => Err(StudyError::UnknownUser(user.clone())),
        _ => Err(StudyError::NotYours {
            who: who.name.clone(),
            user: user.clone(),
            write: true,
        }),
    }
}

/// Replaces the whole progress blob of `user`, which must be `who`'s own.
pub fn save_progress_for(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    user: &UserId,
    progress: &Progress,
) -> Result<(), StudyError> {
    let store = storage.write(slug)?;
    check_writes(&store, who, user)?;
    Ok(store.save_progress(user, progress)?)
}

/// Records an answer in the progress of `who`'s own user and saves the whole blob, as
/// one unit. `user`, if given, must be that user; if not, it is created on first use.
pub fn answer(
    storage: &Storage,
    slug: &Slug,
    who: &Identity,
    user: Option<&UserId>,
    question: &str,
    choice: usize,
) -> Result<(AnswerRecord, Summary), StudyError> {
    let at = jiff::Timestamp::now().to_string();
    let store = storage.write(slug)?;
    let user = match user {
        Some(user) => {
            check_writes(&store, who, user)?;
            user.clone()
        }
        None => own_user_in(&store, who, None)?.0.user_id,
    };
    let question = question.to_string();
    let recorded = store.update_progress(&user, move |blob| {
        let record = quiz::record_answer(blob, &question, choice, &at)?;
        let summary = quiz::summarize(blob)?;
        Ok::<_, QuizError>((record, summary))
    })??;
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_come_from_any_display_name() {
        for name in [
            "Quinn",
            "<script>",
            "Zoë Ångström",
            "a very long display name that goes on and on",
            "!!!",
        ] {
            let id = new_user_id(name).unwrap();
            assert!(UserId::parse(id.as_str()).is_ok(), "{name} gave {id}");
        }
        assert!(new_user_id("Quinn").unwrap().as_str().starts_with("quinn-"));
        assert_ne!(
            new_user_id("Quinn").unwrap(),
            new_user_id("Quinn").unwrap(),
            "unique"
        );
    }
}
