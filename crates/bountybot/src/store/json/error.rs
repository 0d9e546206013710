//! What the JSON backend fails with: a damaged or misshapen file, a file or folder
//! that cannot be read or written, a chat folder that cannot be locked.

use std::path::PathBuf;

use super::super::Scope;
use crate::domain::ChatId;

/// Why the JSON backend failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A chat's file is corrupt; it is left untouched.
    #[error(
        "stored data of chat {chat} is damaged ({file}, line {line}, column {column}); nothing was changed"
    )]
    Corrupt {
        /// The chat.
        chat: ChatId,
        /// The file name, relative to the data dir.
        file: String,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// Reading or writing a JSON file failed (other than a damaged file).
    #[error("storage error for chat {chat}")]
    File {
        /// The chat.
        chat: ChatId,
        /// What failed, naming the file.
        source: statekit::json::JsonError,
    },
    /// A file-system operation failed.
    #[error("storage error for {scope}: {what} {}", .path.display())]
    Fs {
        /// The chat, or the whole store.
        scope: Scope,
        /// What was being done.
        what: &'static str,
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A chat folder could not be locked.
    #[error("storage error for chat {chat}")]
    Lock {
        /// The chat.
        chat: ChatId,
        /// What failed.
        source: statekit::lock::LockError,
    },
    /// A stored file holds well-formed JSON of the wrong shape.
    #[error("stored data of chat {chat} has the wrong shape: {what}")]
    Shape {
        /// The chat.
        chat: ChatId,
        /// What is wrong.
        what: &'static str,
    },
}

impl Error {
    /// Whether the failure may pass by itself (a lock not had in time, an I/O error
    /// that may pass); see [`crate::store::StoreError::is_transient`].
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Lock { .. } => true,
            Error::Fs { source, .. }
            | Error::File {
                source: statekit::json::JsonError::Io { source, .. },
                ..
            } => super::super::io_transient(source),
            _ => false,
        }
    }
}
