//! A search as a person typed it, parsed into words: bounded, and free of any query
//! syntax, so that whatever is typed is looked for as text.
//!
//! The text is cut at white space into terms, and each term into its words (runs of
//! letters and digits; everything else separates): `Maria's "fire-door"` is two terms,
//! `maria s` and `fire door`. Quotes, `*`, `-`, `:`, `NEAR`, `AND`, `OR` mean nothing
//! special: punctuation separates words, and operator names are words like any other.
//! What a match is (a word, a word's beginning, the whole search as a phrase) is the
//! index's business (see `storage/sqlite/search_repo.rs`); this only says which words.
//!
//! ```
//! use honestcam::domain::search::SearchQuery;
//!
//! let q = SearchQuery::parse(r#"  Maria's "fire-door" NEAR * "#).unwrap();
//! let terms: Vec<Vec<&str>> = q.terms().map(|t| t.iter().map(String::as_str).collect()).collect();
//! assert_eq!(terms, [vec!["Maria", "s"], vec!["fire", "door"], vec!["NEAR"]]);
//! assert_eq!(q.words().collect::<Vec<_>>(), ["Maria", "s", "fire", "door", "NEAR"]);
//! assert!(SearchQuery::parse("---").unwrap().is_empty());
//! ```

use super::compliance::Change;
use super::text::{MAX_SEARCH_CHARS, TooLong, check};

/// Most words a search may have (across its terms).
pub const MAX_SEARCH_WORDS: usize = 16;

/// Most texts of each kind a search ranks (those holding the whole search as a
/// phrase, and the others), the newest first: a word found in more texts is answered
/// from the newest, and a page of hits can start no deeper.
pub const MAX_RANKED: usize = 1_100;

/// Why a search is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Longer than [`MAX_SEARCH_CHARS`].
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// More than [`MAX_SEARCH_WORDS`] words.
    #[error("a search can have at most {max} words, this one has {len}")]
    TooManyWords {
        /// The bound.
        max: usize,
        /// The words it has.
        len: usize,
    },
}

/// Which text of an action a search found: its title, one of its notes, or one of the
/// assignees it was given (each note and each assignee is an event of its log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The action's title, from the baseline.
    Title,
    /// A note added (a `note_added` event).
    Note,
    /// An assignee given (an `assignee_changed` event naming someone).
    Assignee,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 3] = [Field::Title, Field::Note, Field::Assignee];

    /// Its name: `title`, `note`, `assignee`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Note => "note",
            Field::Assignee => "assignee",
        }
    }

    /// The field named `name`, if any.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The text an event of type `kind` with `payload` gives the index, and in which
/// field: a note's text, an assignee's name; nothing for other events, for a removed
/// assignee, and for payloads the fold would skip (what is searched is what the
/// action's history shows).
pub fn event_text(kind: &str, payload: &serde_json::Value) -> Option<(Field, String)> {
    match Change::from_event(kind, payload) {
        Ok(Some(Change::Note(text))) => Some((Field::Note, text)),
        Ok(Some(Change::Assignee(Some(name)))) => Some((Field::Assignee, name)),
        _ => None,
    }
}

/// A search, as words (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Each term's words, in the order typed; no term is empty.
    terms: Vec<Vec<String>>,
}

impl SearchQuery {
    /// Parses `text`: at most [`MAX_SEARCH_CHARS`] characters and
    /// [`MAX_SEARCH_WORDS`] words, else an error saying which bound and by how much.
    pub fn parse(text: &str) -> Result<SearchQuery, QueryError> {
        check("a search", text, MAX_SEARCH_CHARS)?;
        let terms: Vec<Vec<String>> = text
            .split_whitespace()
            .map(|term| {
                term.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|words| !words.is_empty())
            .collect();
        let len = terms.iter().map(Vec::len).sum();
        if len > MAX_SEARCH_WORDS {
            return Err(QueryError::TooManyWords {
                max: MAX_SEARCH_WORDS,
                len,
            });
        }
        Ok(SearchQuery { terms })
    }

    /// Whether the search has no word at all (it then matches nothing).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Each term's words, in the order typed.
    pub fn terms(&self) -> impl ExactSizeIterator<Item = &[String]> {
        self.terms.iter().map(Vec::as_slice)
    }

    /// Every word, in the order typed: the search as a phrase.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().flatten().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<Vec<String>> {
        SearchQuery::parse(text).unwrap().terms
    }

    #[test]
    fn query_syntax_is_only_text() {
        assert_eq!(terms("\"fire door\""), [vec!["fire"], vec!["door"]]);
        assert_eq!(terms("fire*"), [vec!["fire"]]);
        assert_eq!(terms("-fire"), [vec!["fire"]]);
        assert_eq!(terms("title:fire"), [vec!["title", "fire"]]);
        assert_eq!(terms("a NEAR b"), [vec!["a"], vec!["NEAR"], vec!["b"]]);
        assert_eq!(terms("NEAR(a b)"), [vec!["NEAR", "a"], vec!["b"]]);
        assert_eq!(terms("Grüne Straße"), [vec!["Grüne"], vec!["Straße"]]);
        for nothing in ["", "   ", "\"", "*", "-", ":", "\"*\" - : ()"] {
            assert!(
                SearchQuery::parse(nothing).unwrap().is_empty(),
                "{nothing:?}"
            );
        }
    }

    #[test]
    fn notes_and_assignees_given_are_indexed_nothing_else() {
        use serde_json::json;
        assert_eq!(
            event_text("note_added", &json!({"note": "called"})),
            Some((Field::Note, "called".into()))
        );
        assert_eq!(
            event_text("assignee_changed", &json!({"assignee": "Kim"})),
            Some((Field::Assignee, "Kim".into()))
        );
        for (kind, payload) in [
            ("assignee_changed", json!({"assignee": null})),
            ("note_added", json!({"note": "  "})),
            ("note_added", json!({"text": "x"})),
            ("status_changed", json!({"status": "done"})),
            ("photo_added", json!({"note": "x"})),
        ] {
            assert_eq!(event_text(kind, &payload), None, "{kind} {payload}");
        }
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn a_search_beyond_its_bounds_is_refused_saying_which() {
        let words = vec!["w"; MAX_SEARCH_WORDS].join(" ");
        assert_eq!(SearchQuery::parse(&words).unwrap().words().count(), 16);
        let err = SearchQuery::parse(&format!("{words} x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a search can have at most 16 words, this one has 17"
        );
        let err = SearchQuery::parse("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q").unwrap_err();
        assert!(
            matches!(err, QueryError::TooManyWords { len: 17, .. }),
            "{err}"
        );
        let err = SearchQuery::parse(&"x".repeat(MAX_SEARCH_CHARS + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a search can have at most 200 characters, this one has 201"
        );
    }
}
