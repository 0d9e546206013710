//! Searching a property's text: action titles, notes and assignees, through the
//! search index kept beside the log (see `storage/sqlite/search_repo.rs`), ranked, one
//! page at a time.
//!
//! What is searched, and how (the same for the portal's search box, the API and the
//! assistant's `search` tool):
//!
//! - the text: every action's title (from the baseline), every note ever added, every
//!   assignee an action was ever given. Not categories, sources or ids;
//! - the words: the search is cut at white space into terms, each term into words
//!   (letters and digits); punctuation and query syntax (`"`, `*`, `-`, `:`, `NEAR`,
//!   `AND`...) are only text. Case and accents are ignored (`grune` finds `Grüne`);
//! - a hit: one text (a title, a note, an assignee) holding every term, as a word or
//!   a word's beginning (`insp` finds `inspection`);
//! - the order: texts holding the whole search as a phrase, word for word, first
//!   (`exact`); then by BM25 (`score`, higher is better); then the newest first. Each
//!   kind is ranked among its newest [`MAX_RANKED`] matches: a word found in more texts
//!   than that is answered from the newest (and paging stops at [`MAX_OFFSET`]).
//!
//! Properties still on the legacy JSON files have no index: [`search`] refuses them
//! with a message saying to run `honestcam db-migrate` (the portal's page searches
//! their fold instead, as before the index).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use honestcam::service::search::{Page, search};
//! let data = honestcam::config::DataDir::new("data");
//! let storage = honestcam::storage::Storage::open(data, statekit::sqlite::OpenOptions::default())?;
//! let slug = honestcam::property::Slug::parse("bamboo-house")?;
//! let page = search(&storage, &slug, "fire door", Page::default())?;
//! for hit in &page.hits {
//!     println!("{} {:?}: {}", hit.action_id, hit.field, hit.snippet);
//! }
//! # Ok(()) }
//! ```

use serde::Serialize;

use crate::domain::search::{Field, MAX_RANKED, QueryError, SearchQuery};
use crate::property::Slug;
use crate::storage::{SearchRow, Storage, StoreError};

/// Most hits a page may ask for.
pub const MAX_LIMIT: usize = 100;

/// Hits per page when not asked.
pub const DEFAULT_LIMIT: usize = 20;

/// Most hits that may be skipped: a search deeper than this should be narrowed (the
/// index ranks the newest [`MAX_RANKED`] matches of each kind).
pub const MAX_OFFSET: usize = MAX_RANKED - MAX_LIMIT;

/// Which page of hits: at most `limit` (1 to [`MAX_LIMIT`]) after the first `offset`
/// (at most [`MAX_OFFSET`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Page {
    /// Most hits to return.
    pub limit: usize,
    /// Hits to skip.
    pub offset: usize,
}

impl Default for Page {
    /// The first [`DEFAULT_LIMIT`] hits.
    fn default() -> Page {
        Page {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl Page {
    /// The page, checked against its bounds.
    pub fn new(limit: usize, offset: usize) -> Result<Page, SearchError> {
        let page = Page { limit, offset };
        page.check()?;
        Ok(page)
    }

    fn check(&self) -> Result<(), SearchError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(SearchError::Limit {
                limit: self.limit,
                max: MAX_LIMIT,
            });
        }
        if self.offset > MAX_OFFSET {
            return Err(SearchError::Offset {
                offset: self.offset,
                max: MAX_OFFSET,
            });
        }
        Ok(())
    }
}

/// One page of hits, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// The hits.
    pub hits: Vec<SearchHit>,
    /// The `offset` of the next page, if there are more hits (and it is within
    /// [`MAX_OFFSET`]).
    pub next_offset: Option<usize>,
}

/// One text found: which action, which field, the words around the match, and the
/// event that wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The action's id.
    pub action_id: String,
    /// The action's title (`None` for an action the baseline no longer lists).
    pub action_title: Option<String>,
    /// `title`, `note` or `assignee`.
    pub field: Field,
    /// The text around the words found, each found word between `**`, cut with `…`.
    pub snippet: String,
    /// Whether the text holds the whole search as a phrase (such hits come first).
    pub exact: bool,
    /// BM25 relevance, higher is better; comparable within one search only.
    pub score: f64,
    /// The event that wrote the note or the assignee (`None` for a title).
    pub event: Option<HitEvent>,
}

/// The event a hit comes from: where it is in the log, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HitEvent {
    /// Its position in the property's log (as in the events API and the change feed).
    pub position: i64,
    /// Its id.
    pub event_id: String,
    /// When (RFC 3339, as stored).
    pub at: String,
    /// Who made it.
    pub actor: String,
}

/// Why a search was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The search text is refused (too long, too many words).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The page size is out of bounds.
    #[error("limit must be from 1 to {max}, not {limit}")]
    Limit {
        /// As asked.
        limit: usize,
        /// The bound.
        max: usize,
    },
    /// The page starts too deep.
    #[error("offset can be at most {max}, not {offset}: narrow the search instead")]
    Offset {
        /// As asked.
        offset: usize,
        /// The bound.
        max: usize,
    },
    /// Storage failed, or the property has no index (still on the legacy JSON files:
    /// [`StoreError::NoSearchIndex`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `page` of hits of `query` in the property `slug` (see the module docs for what
/// matches and in which order). A search without any word (only punctuation, or
/// nothing) finds nothing.
pub fn search(
    storage: &Storage,
    slug: &Slug,
    query: &str,
    page: Page,
) -> Result<SearchPage, SearchError> {
    page.check()?;
    let query = SearchQuery::parse(query)?;
    let store = storage.read(slug)?;
    let baseline = store.baseline()?;
    // One more than asked: whether there is a next page.
    let mut rows = store.search(&query, page.limit + 1, page.offset)?;
    let more = rows.len() > page.limit;
    rows.truncate(page.limit);
    let next = page.offset + page.limit;
    let hits = rows
        .into_iter()
        .map(|row| hit(row, |id| baseline.action(id).map(|a| a.title.clone())))
        .collect();
    Ok(SearchPage {
        hits,
        next_offset: (more && next <= MAX_OFFSET).then_some(next),
    })
}

fn hit(row: SearchRow, title: impl FnOnce(&str) -> Option<String>) -> SearchHit {
    SearchHit {
        action_title: title(&row.action_id),
        action_id: row.action_id,
        field: row.field,
        snippet: row.snippet,
        exact: row.exact,
        score: row.score,
        event: row.event.map(|e| HitEvent {
            position: e.position,
            event_id: e.event_id,
            at: e.at,
            actor: e.actor,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_out_of_bounds_is_refused_naming_the_bound() {
        assert!(Page::new(1, 0).is_ok());
        assert!(Page::new(MAX_LIMIT, MAX_OFFSET).is_ok());
        assert_eq!(
            Page::new(0, 0).unwrap_err().to_string(),
            "limit must be from 1 to 100, not 0"
        );
        assert_eq!(
            Page::new(101, 0).unwrap_err().to_string(),
            "limit must be from 1 to 100, not 101"
        );
        assert!(
            Page::new(10, MAX_OFFSET + 1)
                .unwrap_err()
                .to_string()
                .contains("offset can be at most 1000")
        );
    }
}
