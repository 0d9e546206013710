//! Study users, progress, and answering the quiz, on whichever backend the property
//! is on. Answers by one user are serialised: reading the blob, recording the answer
//! and saving it happen in one unit of work (see
//! [`crate::storage::PropertyStore::update_progress`]), so concurrent answers all land.

use crate::domain::quiz::{self, AnswerRecord, QuizError, Summary};
use crate::domain::{Progress, StudyUser, UserId, UserIdError};
use crate::property::Slug;
use crate::service::compliance::new_event_id;
use crate::storage::{Storage, StoreError};

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// Why a study operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The display name is empty or too long.
    #[error("a display name needs 1 to {MAX_NAME_CHARS} characters")]
    BadName,
    /// A made-up user id was not valid.
    #[error(transparent)]
    Id(#[from] UserIdError),
    /// The answer or the stored blob is not acceptable.
    #[error(transparent)]
    Quiz(#[from] QuizError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The property's study users, oldest first.
pub fn users(storage: &Storage, slug: &Slug) -> Result<Vec<StudyUser>, StoreError> {
    storage.read(slug)?.users()
}

/// Adds or renames a study user.
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

/// Replaces `user`'s whole progress blob (last write wins).
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

/// Creates a study user with display name `name`.
pub fn create_user(storage: &Storage, slug: &Slug, name: &str) -> Result<StudyUser, StudyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(StudyError::BadName);
    }
    let user = StudyUser {
        user_id: new_user_id(name)?,
        name: name.to_string(),
        created_at: jiff::Timestamp::now().to_string(),
        owner: None,
    };
    upsert_user(storage, slug, &user)?;
    Ok(user)
}

/// Records an answer in the user's progress and saves the whole blob, as one unit.
pub fn answer(
    storage: &Storage,
    slug: &Slug,
    user: &UserId,
    question: &str,
    choice: usize,
) -> Result<(AnswerRecord, Summary), StudyError> {
    let at = jiff::Timestamp::now().to_string();
    let store = storage.write(slug)?;
    let recorded = store.update_progress(user, |blob| {
        let record = quiz::record_answer(blob, question, choice, &at)?;
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
