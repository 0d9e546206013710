//! Showing an error with its causes: the one formatter the applications use for logs,
//! replies and error pages.
//!
//! Our error types name the thing at fault and leave the cause to their
//! [`source`](std::error::Error::source), so a message alone says too little and the
//! chain says it all:
//!
//! ```
//! use statekit::error::Chain;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("cannot read data/group.json")]
//! struct ReadError(#[source] std::io::Error);
//!
//! let e = ReadError(std::io::Error::other("permission denied"));
//! assert_eq!(e.to_string(), "cannot read data/group.json");
//! assert_eq!(Chain(&e).to_string(), "cannot read data/group.json: permission denied");
//! ```
//!
//! This module knows nothing of where the text goes; it only joins.

use std::error::Error;
use std::fmt;

/// Shows an error, then each of its sources, joined by `": "`.
///
/// A cause whose text the chain already ends with is not repeated: some errors of
/// other crates show their source in their own message too (rusqlite's "database is
/// locked" over SQLite's), and a reader needs it once. Only a whole repeat is skipped
/// (the chain equals the cause, or ends with `": "` and the cause), so that a short
/// cause that merely occurs in the text is still shown.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text so far is kept to compare each cause against; errors are short.
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let more = c.to_string();
            let repeated = text == more
                || text
                    .strip_suffix(more.as_str())
                    .is_some_and(|head| head.ends_with(": "));
            if !repeated {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = c.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the chat")]
    struct Save(#[source] Write);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write data/-5/group.json")]
    struct Write(#[source] std::io::Error);

    /// Shows its source in its own message, as some errors of other crates do.
    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct Same(#[source] std::io::Error);

    fn io(text: &str) -> std::io::Error {
        std::io::Error::other(text.to_string())
    }

    #[test]
    fn an_error_without_a_source_is_its_message() {
        assert_eq!(Chain(&io("disk on fire")).to_string(), "disk on fire");
    }

    #[test]
    fn every_cause_follows_its_error_in_order() {
        let e = Save(Write(io("permission denied")));
        assert_eq!(
            Chain(&e).to_string(),
            "cannot save the chat: cannot write data/-5/group.json: permission denied"
        );
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_shown_once() {
        assert_eq!(
            Chain(&Repeats(io("disk on fire"))).to_string(),
            "outer: disk on fire"
        );
        assert_eq!(Chain(&Same(io("disk on fire"))).to_string(), "disk on fire");
    }

    #[test]
    fn a_cause_that_only_occurs_in_the_message_is_still_shown() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read the config file")]
        struct Read(#[source] std::io::Error);
        assert_eq!(
            Chain(&Read(io("file"))).to_string(),
            "cannot read the config file: file"
        );
        assert_eq!(
            Chain(&Read(io("config file"))).to_string(),
            "cannot read the config file: config file"
        );
    }
}
