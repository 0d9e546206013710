//! The change feed: every event of every property, each exactly once, as a line that
//! stands alone (the property, the action and its title, the event, and the action's
//! state after it), and a [`Cursor`] to resume from. For indexers that keep a search
//! or vector store in step with the portal without reading everything again
//! (`honestcam export --jsonl --since`, the assistant's `events_since` tool).
//!
//! Why every event exactly once, while others write: a property's events have
//! positions that only grow and are never reused (the log is append-only; see
//! `storage/sqlite/compliance_repo.rs::last_seq`), and the cursor holds, per property,
//! the position of the last event handed out. A page reads each property's events
//! after its position, in position order, properties in slug order; an event appended
//! meanwhile lands after the positions already handed out, so the next page has it. A
//! property's positions carry over `db-migrate` (the log is loaded in order), so a
//! cursor does too. The cursor is the only state: a reader may stop, restart, or move
//! to another machine with its cursor.
//!
//! The cursor is opaque text: `v1.` and the base64url of a JSON object of positions
//! by slug (properties at position 0 left out). It is bounded ([`MAX_CURSOR_CHARS`]),
//! and anything else is refused with an error saying what is wrong. A cursor naming a
//! property that no longer exists is fine (its position is kept, in case it comes
//! back); a property that is new starts at its first event.
//!
//! The state on each line is the action's fold up to its event: a reader keeps, per
//! action it met, what its events changed, and reads it for an action it meets the
//! first time at the position it started from (`PropertyStore::changes_through`: a few
//! indexed rows on SQLite, whatever the action's history), so resuming costs the
//! actions met, not the log before the cursor.
//!
//! A page fills from the first property (by slug) with events past its position, then
//! the next, so a property written faster than a reader reads would hold the others
//! back: the feed is for catching up, not for a firehose.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::Value;

use crate::domain::{ActionChanges, ActionState, Baseline, Change, Event};
use crate::property::{Slug, SlugError};
use crate::storage::{PropertyStore, Storage, StoreError};

/// Most characters a cursor may have (about 4,000 properties).
pub const MAX_CURSOR_CHARS: usize = 262_144;

/// Most lines one call of [`events_since`] may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// What a cursor starts with: the version of its format.
const VERSION: &str = "v1.";

/// Where a reader of the feed stands: per property, the position of the last event
/// handed out (see the module docs). [`Cursor::default`] is the beginning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    positions: BTreeMap<Slug, i64>,
}

/// Why a cursor is refused.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    /// Longer than [`MAX_CURSOR_CHARS`].
    #[error("the cursor has {len} characters, more than the {max} a cursor can have")]
    TooLong {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a cursor of this format.
    #[error("not a cursor: it should start with {VERSION} (copy it whole from the last export)")]
    Version,
    /// Not base64url.
    #[error("not a cursor: its text after {VERSION} is not base64url")]
    Base64(#[source] base64::DecodeError),
    /// Not the JSON a cursor holds.
    #[error("not a cursor: its content is not an object of positions")]
    Json(#[source] serde_json::Error),
    /// A property name that is not a slug.
    #[error("not a cursor: it names an invalid property")]
    Slug(#[source] SlugError),
    /// A position below 0.
    #[error("not a cursor: property {slug} is at position {position}")]
    Negative {
        /// The property.
        slug: Slug,
        /// The position.
        position: i64,
    },
}

impl Cursor {
    /// The position of the last event of `slug` handed out (0: none yet).
    pub fn position(&self, slug: &Slug) -> i64 {
        self.positions.get(slug).copied().unwrap_or(0)
    }

    /// Every property the cursor has passed events of, with its position.
    pub fn positions(&self) -> impl Iterator<Item = (&Slug, i64)> {
        self.positions.iter().map(|(s, p)| (s, *p))
    }

    fn advance(&mut self, slug: &Slug, position: i64) {
        if position > self.position(slug) {
            self.positions.insert(slug.clone(), position);
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let positions: BTreeMap<&str, i64> = self
            .positions
            .iter()
            .filter(|(_, p)| **p > 0)
            .map(|(s, p)| (s.as_str(), *p))
            .collect();
        // Serialising a map of strings to integers cannot fail.
        let json = serde_json::to_vec(&positions).unwrap_or_default();
        write!(f, "{VERSION}{}", URL_SAFE_NO_PAD.encode(json))
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(text: &str) -> Result<Cursor, CursorError> {
        let text = text.trim();
        if text.len() > MAX_CURSOR_CHARS {
            return Err(CursorError::TooLong {
                len: text.chars().count(),
                max: MAX_CURSOR_CHARS,
            });
        }
        let body = text.strip_prefix(VERSION).ok_or(CursorError::Version)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(CursorError::Base64)?;
        let raw: BTreeMap<String, i64> =
            serde_json::from_slice(&json).map_err(CursorError::Json)?;
        let mut positions = BTreeMap::new();
        for (slug, position) in raw {
            let slug = Slug::parse(&slug).map_err(CursorError::Slug)?;
            if position < 0 {
                return Err(CursorError::Negative { slug, position });
            }
            positions.insert(slug, position);
        }
        Ok(Cursor { positions })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One event of the feed, standing alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedLine {
    /// The property.
    pub property: FeedProperty,
    /// The action the event is about.
    pub action: FeedAction,
    /// The event.
    pub event: FeedEvent,
    /// The action's state right after the event (its latest notes then, and a count
    /// of all); `None` for an action the baseline does not list.
    pub state: Option<ActionState>,
}

/// The property of a [`FeedLine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedProperty {
    /// Its slug.
    pub slug: Slug,
    /// Its name.
    pub name: String,
}

/// The action of a [`FeedLine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedAction {
    /// Its id.
    pub id: String,
    /// Its title (`None` for an action the baseline does not list).
    pub title: Option<String>,
}

/// The event of a [`FeedLine`], as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    /// Its position in the property's log (as in the events API).
    pub position: i64,
    /// Its id.
    pub event_id: String,
    /// Its type: `status_changed`, `note_added`, `assignee_changed`, `due_changed`,
    /// or any other a legacy writer used.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its payload.
    pub payload: Value,
    /// When (RFC 3339, as stored).
    pub at: String,
    /// Who made it.
    pub actor: String,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedPage {
    /// The events, properties in slug order, each property's in log order.
    pub lines: Vec<FeedLine>,
    /// Where to resume: after every line of this page.
    pub next: Cursor,
    /// Whether the page stopped at its limit (ask again: there may be more); `false`
    /// when every property was read to its end.
    pub more: bool,
}

/// Why the feed could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The page size is out of bounds.
    #[error("limit must be from 1 to {max}, not {limit}")]
    Limit {
        /// As asked.
        limit: usize,
        /// The bound.
        max: usize,
    },
    /// The data dir could not be listed.
    #[error("listing the properties in {dir}")]
    List {
        /// The data dir.
        dir: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// At most `limit` events (1 to [`MAX_LIMIT`]) after `cursor` (the beginning if
/// `None`), across every property, each as a [`FeedLine`], and the cursor to resume
/// from. See the module docs for why each event comes exactly once.
pub fn events_since(
    storage: &Storage,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<FeedPage, FeedError> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(FeedError::Limit {
            limit,
            max: MAX_LIMIT,
        });
    }
    let mut feed = Feed::new(storage, cursor.cloned().unwrap_or_default());
    let lines = feed.next_page(limit)?;
    let more = lines.len() == limit;
    Ok(FeedPage {
        lines,
        next: feed.cursor().clone(),
        more,
    })
}

/// A reader of the feed that keeps, between its pages, what it folded of the
/// property it is in, so a long export reads each event once (its memory is the
/// actions of one property, not the events). [`events_since`] is one page of it.
#[derive(Debug)]
pub struct Feed<'s> {
    storage: &'s Storage,
    cursor: Cursor,
    /// The property being read, and what its actions' events changed up to the
    /// cursor's position there.
    current: Option<Folding>,
    /// Properties read to their end by this reader (each is read once per reader:
    /// events appended to it later are for the next reader, or the next cursor).
    finished: Vec<Slug>,
}

#[derive(Debug)]
struct Folding {
    slug: Slug,
    /// The position the fold of each action in `actions` was started from.
    start: i64,
    actions: HashMap<String, ActionChanges>,
}

impl<'s> Feed<'s> {
    /// A reader starting after `cursor`.
    pub fn new(storage: &'s Storage, cursor: Cursor) -> Feed<'s> {
        Feed {
            storage,
            cursor,
            current: None,
            finished: Vec::new(),
        }
    }

    /// Where to resume after the lines handed out so far.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The next at most `limit` lines; empty when every property was read to its end.
    pub fn next_page(&mut self, limit: usize) -> Result<Vec<FeedLine>, FeedError> {
        let mut lines = Vec::new();
        let slugs = self
            .storage
            .data()
            .properties()
            .map_err(|source| FeedError::List {
                dir: self.storage.data().path().display().to_string(),
                source,
            })?;
        for slug in slugs {
            if lines.len() >= limit {
                break;
            }
            if self.finished.contains(&slug) {
                continue;
            }
            let want = limit - lines.len();
            let got = match self.read_property(&slug, want, &mut lines) {
                // The property went away since it was listed: nothing to hand out.
                Err(StoreError::UnknownProperty { .. }) => 0,
                other => other?,
            };
            if got < want {
                self.finished.push(slug);
            }
        }
        Ok(lines)
    }

    /// Appends to `lines` at most `want` events of `slug` past the cursor; returns how
    /// many.
    fn read_property(
        &mut self,
        slug: &Slug,
        want: usize,
        lines: &mut Vec<FeedLine>,
    ) -> Result<usize, StoreError> {
        let store = self.storage.read(slug)?;
        let after = self.cursor.position(slug);
        let page = store.events_page(after, want)?;
        if page.is_empty() {
            return Ok(0);
        }
        let baseline = store.baseline()?;
        let folding = match self.current.take() {
            Some(f) if f.slug == *slug => f,
            _ => Folding {
                slug: slug.clone(),
                start: after,
                actions: HashMap::new(),
            },
        };
        let folding = self.current.insert(folding);
        let property = FeedProperty {
            slug: slug.clone(),
            name: baseline.property.name.clone(),
        };
        let n = page.len();
        for (seq, event) in page {
            let changes = changes_before(&store, folding, &event.action_id)?;
            // An event the fold skips changes nothing, as in the fold.
            if let Ok(Some(change)) = Change::from_event(&event.kind, &event.payload) {
                changes.apply(seq, change, &event.actor, &event.at);
            }
            let state = state_of(&baseline, &event.action_id, changes);
            self.cursor.advance(slug, seq);
            lines.push(line(&property, &baseline, seq, event, state));
        }
        Ok(n)
    }
}

/// What the events of `action` before the one being read changed: kept in `folding`
/// since its start, and read from the log up to the start the first time.
fn changes_before<'f>(
    store: &PropertyStore<'_>,
    folding: &'f mut Folding,
    action: &str,
) -> Result<&'f mut ActionChanges, StoreError> {
    if !folding.actions.contains_key(action) {
        let changes = if folding.start > 0 {
            store.changes_through(action, folding.start)?
        } else {
            ActionChanges::default()
        };
        folding.actions.insert(action.to_string(), changes);
    }
    // Inserted just above if it was missing.
    Ok(folding.actions.entry(action.to_string()).or_default())
}

fn state_of(baseline: &Baseline, action: &str, changes: &ActionChanges) -> Option<ActionState> {
    baseline.action(action).map(|a| changes.state(a))
}

fn line(
    property: &FeedProperty,
    baseline: &Arc<Baseline>,
    position: i64,
    event: Event,
    state: Option<ActionState>,
) -> FeedLine {
    FeedLine {
        property: property.clone(),
        action: FeedAction {
            title: baseline.action(&event.action_id).map(|a| a.title.clone()),
            id: event.action_id,
        },
        event: FeedEvent {
            position,
            event_id: event.event_id,
            kind: event.kind,
            payload: event.payload,
            at: event.at,
            actor: event.actor,
        },
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_itself_and_leaves_out_unread_properties() {
        let mut c = Cursor::default();
        assert_eq!(c.to_string(), "v1.e30", "the beginning: {{}}");
        let a = Slug::parse("oak-court").unwrap();
        let b = Slug::parse("elm-house").unwrap();
        c.advance(&a, 12);
        c.advance(&b, 3);
        c.advance(&b, 2);
        let text = c.to_string();
        assert!(text.starts_with("v1."));
        let back: Cursor = text.parse().unwrap();
        assert_eq!(back, c);
        assert_eq!((back.position(&a), back.position(&b)), (12, 3));
        assert_eq!(back.position(&Slug::parse("new").unwrap()), 0);
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!(text));
    }

    #[test]
    fn garbage_and_oversized_cursors_are_refused_saying_why() {
        let encode = |json: &str| format!("v1.{}", URL_SAFE_NO_PAD.encode(json));
        for (text, says) in [
            ("", "should start with v1."),
            ("v2.e30", "should start with v1."),
            ("12", "should start with v1."),
            ("v1.!!!", "not base64url"),
            (&encode("[1, 2]"), "not an object of positions"),
            (&encode("{\"a\": \"x\"}"), "not an object of positions"),
            (&encode("{\"a\": 1.5}"), "not an object of positions"),
            (&encode("{\"../etc\": 1}"), "invalid property"),
            (&encode("{\"a\": -1}"), "property a is at position -1"),
        ] {
            let err = text.parse::<Cursor>().unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        let huge = format!("v1.{}", "A".repeat(MAX_CURSOR_CHARS));
        let err = huge.parse::<Cursor>().unwrap_err().to_string();
        assert!(err.contains("more than the 262144"), "{err}");
        let gone = encode("{\"gone-away\": 7}").parse::<Cursor>().unwrap();
        assert_eq!(gone.position(&Slug::parse("gone-away").unwrap()), 7);
    }
}
