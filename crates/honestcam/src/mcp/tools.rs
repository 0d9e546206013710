//! What each tool answers, as JSON, from storage opened read-only: plain functions
//! over a [`Reads`] (the storage, its kept snapshots and today's date), run by the
//! handler in `mod.rs` on the blocking pool. They take the tools' arguments as they
//! came, check them (a property's slug through [`Slug::parse`], lengths, limits) and
//! answer a [`ToolError`] the assistant can act on when they are wrong.
//!
//! Every answer is bounded: lists are paged (`limit` and `offset`, with the
//! `next_offset` to ask for next), and an answer's JSON never exceeds
//! [`MAX_RESULT_BYTES`]: when a page would, it is cut short ([`fit`]) and
//! `next_offset` says where the rest begins.

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::history::{self, What};
use crate::domain::text::{MAX_NOTE_CHARS, shortened};
use crate::domain::urgency::{Summary, Urgency, by_urgency};
use crate::domain::{ActionState, Note, Status};
use crate::property::Slug;
use crate::service::compliance::action_record;
use crate::service::snapshot::Snapshots;
use crate::storage::sqlite::DbError;
use crate::storage::{PropertyStore, Storage, StoreError};

/// Most bytes of JSON in one tool's answer.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// Most characters of an action id given as an argument.
pub const MAX_ACTION_ID_CHARS: usize = 200;
/// Most characters of a note's text in a list of actions (the whole text, up to the
/// note's own bound, is in `get_action`).
pub const NOTE_PREVIEW_CHARS: usize = 280;
/// Latest notes shown per action in a list of actions.
pub const LATEST_NOTES: usize = 3;

/// Why a tool could not answer: told to the assistant as the tool's error.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// An argument is not acceptable; the message says which and why.
    #[error("{0}")]
    BadArgument(String),
    /// No such property in the data dir.
    #[error("no property {0}: list_properties gives the slugs there are")]
    UnknownProperty(Slug),
    /// The property's baseline does not list the action.
    #[error("property {slug} has no action {action:?}: property_summary lists its actions")]
    UnknownAction {
        /// The property.
        slug: Slug,
        /// The id asked for.
        action: String,
    },
    /// Even the smallest answer is beyond [`MAX_RESULT_BYTES`].
    #[error("the answer would exceed {MAX_RESULT_BYTES} bytes even with a single item")]
    TooLarge,
    /// Storage failed (see [`ToolError::shown`] for what the assistant is told).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data dir could not be listed.
    #[error("cannot list the data dir")]
    List(#[source] std::io::Error),
    /// The answer could not be encoded.
    #[error("cannot encode the answer")]
    Encode(#[from] serde_json::Error),
}

impl ToolError {
    /// What the assistant is told: the message of an error it can act on (a bad
    /// argument, a database that needs a migration first, a property busy with a
    /// command); otherwise a generic text, the detail being logged by the caller.
    pub fn shown(&self) -> String {
        match self {
            ToolError::Store(StoreError::Db(
                e @ (DbError::NeedsMigration { .. }
                | DbError::ProjectionBehind { .. }
                | DbError::SearchIndexBehind { .. }),
            )) => e.to_string(),
            ToolError::Store(
                e @ (StoreError::Busy { .. }
                | StoreError::ReadOnly(_)
                | StoreError::NoSearchIndex(_)),
            ) => e.to_string(),
            ToolError::Store(_) | ToolError::List(_) | ToolError::Encode(_) => {
                "reading the data failed on the server (the error was logged there); try again, or ask its operator".to_string()
            }
            other => other.to_string(),
        }
    }

    /// Whether the detail must be logged (a failure of the server, not of the call).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ToolError::Store(_) | ToolError::List(_) | ToolError::Encode(_)
        )
    }
}

/// What every tool reads through.
#[derive(Debug)]
pub struct Reads<'a> {
    /// Storage, opened read-only.
    pub storage: &'a Storage,
    /// The states kept between calls.
    pub snapshots: &'a Snapshots,
    /// Today in the server's time zone (for overdue and due soon).
    pub today: Date,
    /// The server's time zone: the one "as of" a day is reckoned in.
    pub time_zone: &'a jiff::tz::TimeZone,
}

impl Reads<'_> {
    /// The property for reading, an unknown one told as such.
    fn open(&self, slug: &Slug) -> Result<PropertyStore<'_>, ToolError> {
        match self.storage.read(slug) {
            Err(StoreError::UnknownProperty { slug, .. }) => Err(ToolError::UnknownProperty(slug)),
            other => Ok(other?),
        }
    }
}

/// A property's slug as an argument.
fn slug(raw: &str) -> Result<Slug, ToolError> {
    Slug::parse(raw.trim())
        .map_err(|e| ToolError::BadArgument(format!("property: {e}; list_properties gives them")))
}

/// `limit` (1 to `max`, `default` when absent) and `offset` as numbers of items.
fn page(
    limit: Option<u32>,
    offset: Option<u32>,
    default: u32,
    max: u32,
) -> Result<(usize, usize), ToolError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ToolError::BadArgument(format!(
            "limit must be 1 to {max}, not {limit}"
        )));
    }
    Ok((limit as usize, offset.unwrap_or(0) as usize))
}

/// The JSON of the largest answer `render(n)` (`n` at most `most`) within
/// [`MAX_RESULT_BYTES`]. `render` must grow with `n`; it is tried with `most` first.
/// An answer that fits only without a single item is refused ([`ToolError::TooLarge`]):
/// it would send the caller back to the same page for ever.
pub fn fit(most: usize, render: impl Fn(usize) -> Value) -> Result<String, ToolError> {
    match largest_fitting(most, &render)? {
        Some((n, text)) if n > 0 || most == 0 => Ok(text),
        _ => Err(ToolError::TooLarge),
    }
}

/// The largest `n` (at most `most`) whose `render(n)` is within [`MAX_RESULT_BYTES`],
/// with its JSON; `None` if not even `render(0)` is. `most` is tried first, then a
/// binary search.
fn largest_fitting(
    most: usize,
    render: &dyn Fn(usize) -> Value,
) -> Result<Option<(usize, String)>, ToolError> {
    let encode = |n: usize| serde_json::to_string(&render(n));
    let all = encode(most)?;
    if all.len() <= MAX_RESULT_BYTES {
        return Ok(Some((most, all)));
    }
    // Invariant: render(hi) does not fit; best is the largest n < lo that does.
    let (mut lo, mut hi) = (0, most);
    let mut best = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let text = encode(mid)?;
        if text.len() <= MAX_RESULT_BYTES {
            best = Some((mid, text));
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(best)
}

/// `next_offset` after showing `shown` items from `offset` out of `total`.
fn next_offset(offset: usize, shown: usize, total: usize) -> Option<usize> {
    let next = offset + shown;
    (next < total).then_some(next)
}

/// Counts per status, by wire name, the statuses no action has left out.
fn by_status(summary: &Summary) -> serde_json::Map<String, Value> {
    Status::ALL
        .iter()
        .filter(|s| summary.count(**s) > 0)
        .map(|s| (s.as_str().to_string(), Value::from(summary.count(*s))))
        .collect()
}

// ---------------------------------------------------------------- list_properties

/// Arguments of `list_properties`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListProperties {
    /// Most properties in the answer, 1 to 200 (50 when absent).
    pub limit: Option<u32>,
    /// How many to skip, in slug order: the `next_offset` of the previous answer
    /// (0 when absent).
    pub offset: Option<u32>,
}

/// One property's line.
#[derive(Debug, Serialize)]
struct PropertyLine {
    slug: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by_status: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overdue: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    due_soon: Option<usize>,
    /// Why it cannot be read, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `list_properties`: every property of the data dir in slug order, a page at a time,
/// with its name, its actions counted by status, and how many are overdue or due
/// soon.
pub fn list_properties(reads: &Reads<'_>, args: &ListProperties) -> Result<String, ToolError> {
    let (limit, offset) = page(args.limit, args.offset, 50, 200)?;
    let slugs = reads.storage.data().properties().map_err(ToolError::List)?;
    let total = slugs.len();
    let lines: Vec<PropertyLine> = slugs
        .iter()
        .skip(offset)
        .take(limit)
        .map(|slug| property_line(reads, slug))
        .collect();
    fit(lines.len(), |n| {
        serde_json::json!({
            "today": reads.today.to_string(),
            "total": total,
            "properties": &lines[..n],
            "next_offset": next_offset(offset, n, total),
        })
    })
}

fn property_line(reads: &Reads<'_>, slug: &Slug) -> PropertyLine {
    let current = reads
        .open(slug)
        .and_then(|store| Ok(reads.snapshots.current(&store)?));
    match current {
        Ok((baseline, actions)) => {
            let summary = Summary::of(actions.iter(), reads.today);
            PropertyLine {
                slug: slug.to_string(),
                name: Some(baseline.property.name.clone()),
                actions: Some(summary.total),
                by_status: Some(by_status(&summary)),
                overdue: Some(summary.overdue),
                due_soon: Some(summary.due_soon),
                error: None,
            }
        }
        Err(e) => {
            if e.is_internal() {
                tracing::warn!(
                    "mcp: property {slug} cannot be read: {}",
                    statekit::error::Chain(&e)
                );
            }
            PropertyLine {
                slug: slug.to_string(),
                name: None,
                actions: None,
                by_status: None,
                overdue: None,
                due_soon: None,
                error: Some(e.shown()),
            }
        }
    }
}

// --------------------------------------------------------------- property_summary

/// Arguments of `property_summary`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PropertySummary {
    /// The property's slug, as list_properties gives it (e.g. `bamboo-house`).
    pub property: String,
    /// Only this urgency group, paged with `offset`: one of `overdue`, `due-soon`,
    /// `open`, `blocked`, `closed`. All groups when absent.
    pub group: Option<String>,
    /// Most actions shown per group, 1 to 100 (25 when absent).
    pub limit: Option<u32>,
    /// With `group`: how many of its actions to skip (the `next_offset` of the
    /// previous answer).
    pub offset: Option<u32>,
}

/// An action as a list shows it.
#[derive(Debug, Serialize)]
struct ActionLine {
    id: String,
    title: String,
    category: String,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    note_count: u64,
    /// The latest notes, newest first, each cut at [`NOTE_PREVIEW_CHARS`].
    latest_notes: Vec<Note>,
}

impl ActionLine {
    fn new(a: &ActionState) -> ActionLine {
        ActionLine {
            id: a.id.clone(),
            title: a.title.clone(),
            category: a.category.clone(),
            status: a.status,
            due: a.due.clone(),
            assignee: a.assignee.clone(),
            source: a.source.clone(),
            updated_by: a.updated_by.clone(),
            updated_at: a.updated_at.clone(),
            note_count: a.note_count,
            latest_notes: a
                .notes
                .iter()
                .rev()
                .take(LATEST_NOTES)
                .map(|n| Note {
                    text: shortened(&n.text, NOTE_PREVIEW_CHARS),
                    actor: n.actor.clone(),
                    at: n.at.clone(),
                })
                .collect(),
        }
    }
}

fn urgency_named(key: &str) -> Result<Urgency, ToolError> {
    Urgency::ALL
        .into_iter()
        .find(|u| u.key() == key.trim())
        .ok_or_else(|| {
            let keys: Vec<&str> = Urgency::ALL.iter().map(|u| u.key()).collect();
            ToolError::BadArgument(format!(
                "group must be one of {}, not {key:?}",
                keys.join(", ")
            ))
        })
}

/// `property_summary`: a property's counts, and its actions in the urgency groups of
/// its page (overdue, due soon, open, blocked, done or waived), the most urgent first
/// within each.
pub fn property_summary(reads: &Reads<'_>, args: &PropertySummary) -> Result<String, ToolError> {
    let slug = slug(&args.property)?;
    let (limit, offset) = page(args.limit, args.offset, 25, 100)?;
    let only = args.group.as_deref().map(urgency_named).transpose()?;
    if only.is_none() && offset > 0 {
        return Err(ToolError::BadArgument(
            "offset pages within one group: give group too".into(),
        ));
    }
    let store = reads.open(&slug)?;
    let (baseline, actions) = reads.snapshots.current(&store)?;
    drop(store);
    let summary = Summary::of(actions.iter(), reads.today);
    let mut groups: Vec<(Urgency, Vec<&ActionState>)> =
        Urgency::ALL.iter().map(|u| (*u, Vec::new())).collect();
    for a in by_urgency(actions.iter(), reads.today) {
        let urgency = a.urgency(reads.today);
        if let Some((_, list)) = groups.iter_mut().find(|(u, _)| *u == urgency) {
            list.push(a);
        }
    }
    groups.retain(|(u, list)| only.map_or(!list.is_empty(), |o| o == *u));
    let lines: Vec<(Urgency, usize, Vec<ActionLine>)> = groups
        .iter()
        .map(|(u, list)| {
            let shown = list.iter().skip(offset).take(limit);
            (*u, list.len(), shown.map(|a| ActionLine::new(a)).collect())
        })
        .collect();
    fit(limit, |n| {
        let groups: Vec<Value> = lines
            .iter()
            .map(|(u, count, shown)| {
                let n = n.min(shown.len());
                serde_json::json!({
                    "group": u.key(),
                    "label": u.label(),
                    "count": count,
                    "actions": &shown[..n],
                    "next_offset": next_offset(offset, n, *count),
                })
            })
            .collect();
        serde_json::json!({
            "property": slug.as_str(),
            "name": baseline.property.name,
            "today": reads.today.to_string(),
            "actions": summary.total,
            "by_status": by_status(&summary),
            "overdue": summary.overdue,
            "due_soon": summary.due_soon,
            "groups": groups,
        })
    })
}

// --------------------------------------------------------------------- get_action

/// Arguments of `get_action`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetAction {
    /// The property's slug (e.g. `bamboo-house`).
    pub property: String,
    /// The action's id, as property_summary lists it (e.g. `ACT-001`).
    pub action_id: String,
    /// Most history entries in the answer, newest first, 1 to 200 (50 when absent).
    pub limit: Option<u32>,
    /// How many of the newest history entries to skip: the `next_offset` of the
    /// previous answer (0 when absent).
    pub offset: Option<u32>,
}

/// One history entry.
#[derive(Debug, Serialize)]
struct HistoryLine {
    event_id: String,
    /// Who made the change: an email, a login, `token:{name}`, `local`.
    actor: String,
    /// When (RFC 3339, UTC).
    at: String,
    change: Value,
}

fn change(what: &What) -> Value {
    match what {
        What::Status { from, to } => {
            serde_json::json!({"type": "status", "from": from, "to": to})
        }
        What::Assignee { from, to } => {
            serde_json::json!({"type": "assignee", "from": from, "to": to})
        }
        What::Due { from, to } => serde_json::json!({"type": "due", "from": from, "to": to}),
        What::Note(text) => {
            serde_json::json!({"type": "note", "text": shortened(text, MAX_NOTE_CHARS)})
        }
        What::Unknown { kind } => serde_json::json!({"type": "other", "kind": kind}),
        What::Invalid { kind, reason } => {
            serde_json::json!({"type": "invalid", "kind": kind, "reason": reason})
        }
    }
}

/// `get_action`: one action's current state and its history, newest first, each
/// change with who made it and when.
pub fn get_action(reads: &Reads<'_>, args: &GetAction) -> Result<String, ToolError> {
    let slug = slug(&args.property)?;
    let id = args.action_id.trim();
    if id.is_empty() || id.chars().count() > MAX_ACTION_ID_CHARS {
        return Err(ToolError::BadArgument(format!(
            "action_id must be 1 to {MAX_ACTION_ID_CHARS} characters"
        )));
    }
    let (limit, offset) = page(args.limit, args.offset, 50, 200)?;
    // Checked first, so that an unknown property is told as such.
    drop(reads.open(&slug)?);
    let Some(record) = action_record(reads.storage, &slug, id)? else {
        return Err(ToolError::UnknownAction {
            slug,
            action: id.to_string(),
        });
    };
    let total = record.history.len();
    let lines: Vec<HistoryLine> = record
        .history
        .iter()
        .rev()
        .skip(offset)
        .take(limit)
        .map(|e: &history::Entry| HistoryLine {
            event_id: e.event_id.clone(),
            actor: e.actor.clone(),
            at: e.at.clone(),
            change: change(&e.what),
        })
        .collect();
    let state = &record.state;
    let current = serde_json::json!({
        "id": state.id,
        "title": state.title,
        "category": state.category,
        "source": state.source,
        "status": state.status,
        "due": state.due,
        "assignee": state.assignee,
        "urgency": state.urgency(reads.today).key(),
        "note_count": state.note_count,
        "updated_by": state.updated_by,
        "updated_at": state.updated_at,
    });
    let listed = serde_json::json!({
        "status": record.baseline.status,
        "due": record.baseline.due,
    });
    fit(lines.len(), |n| {
        serde_json::json!({
            "property": slug.as_str(),
            "name": record.property_name,
            "today": reads.today.to_string(),
            "action": current,
            "as_listed": listed,
            "history_total": total,
            "history": &lines[..n],
            "next_offset": next_offset(offset, n, total),
        })
    })
}

// ------------------------------------------------------------------------- search

/// Arguments of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Search {
    /// The property's slug (e.g. `bamboo-house`).
    pub property: String,
    /// Words to find in action titles, notes and assignees (at most 200 characters
    /// and 16 words; every word must match, in any order; the exact phrase ranks
    /// first). Plain text: no query syntax.
    pub query: String,
    /// Most hits in the answer, 1 to 100 (20 when absent).
    pub limit: Option<u32>,
    /// How many hits to skip: the `next_offset` of the previous answer (0 when
    /// absent; at most 10000).
    pub offset: Option<u32>,
}

/// `search`: ranked full-text hits of `query` in one property, each with its
/// snippet, the action it belongs to, and the event that wrote it.
pub fn search(reads: &Reads<'_>, args: &Search) -> Result<String, ToolError> {
    use crate::service::search::{self, Page, SearchError};
    let slug = slug(&args.property)?;
    let (limit, offset) = page(
        args.limit,
        args.offset,
        search::DEFAULT_LIMIT as u32,
        search::MAX_LIMIT as u32,
    )?;
    let bad = |e: SearchError| match e {
        SearchError::Store(StoreError::UnknownProperty { slug, .. }) => {
            ToolError::UnknownProperty(slug)
        }
        SearchError::Store(e) => ToolError::Store(e),
        other => ToolError::BadArgument(other.to_string()),
    };
    let page = Page::new(limit, offset).map_err(bad)?;
    let found = search::search(reads.storage, &slug, &args.query, page).map_err(bad)?;
    let hits = found.hits;
    fit(hits.len(), |n| {
        // Cut short: the next page starts at the first hit left out.
        let next = if n < hits.len() {
            Some(offset + n)
        } else {
            found.next_offset
        };
        serde_json::json!({
            "property": slug.as_str(),
            "query": args.query,
            "hits": &hits[..n],
            "next_offset": next,
        })
    })
}

// --------------------------------------------------------------- compliance_as_of

/// Arguments of `compliance_as_of`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ComplianceAsOf {
    /// The property's slug (e.g. `bamboo-house`).
    pub property: String,
    /// When: a day, `YYYY-MM-DD` (its end in the server's time zone), or an RFC 3339
    /// instant such as `2026-11-30T17:00:00Z`.
    pub as_of: String,
    /// Most actions in the answer, in baseline order, 1 to 200 (50 when absent).
    pub limit: Option<u32>,
    /// How many actions to skip: the `next_offset` of the previous answer.
    pub offset: Option<u32>,
}

/// `compliance_as_of`: every action as it stood at a past moment, folded from the log,
/// with the counts (overdue reckoned from that day).
pub fn compliance_as_of(reads: &Reads<'_>, args: &ComplianceAsOf) -> Result<String, ToolError> {
    use crate::service::as_of::{self, AsOf, AsOfError};
    let slug = slug(&args.property)?;
    let (limit, offset) = page(args.limit, args.offset, 50, 200)?;
    let when: AsOf = args
        .as_of
        .parse()
        .map_err(|e: AsOfError| ToolError::BadArgument(e.to_string()))?;
    let state = match as_of::compliance_as_of(reads.storage, &slug, when, reads.time_zone) {
        Ok(state) => state,
        Err(AsOfError::Store(StoreError::UnknownProperty { slug, .. })) => {
            return Err(ToolError::UnknownProperty(slug));
        }
        Err(AsOfError::Store(e)) => return Err(ToolError::Store(e)),
        Err(other) => return Err(ToolError::BadArgument(other.to_string())),
    };
    let summary = Summary::of(state.actions.iter(), state.day);
    let total = state.actions.len();
    let lines: Vec<Value> = state
        .actions
        .iter()
        .skip(offset)
        .take(limit)
        .map(|a| {
            let mut line = serde_json::to_value(ActionLine::new(a)).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut line {
                map.insert("urgency".into(), a.urgency(state.day).key().into());
            }
            line
        })
        .collect();
    fit(lines.len(), |n| {
        serde_json::json!({
            "property": slug.as_str(),
            "name": state.property_name,
            "as_of": state.at.to_string(),
            "day": state.day.to_string(),
            "time_zone": state.time_zone,
            "events_folded": state.events,
            "events_undated": state.undated,
            "log_position": state.position,
            "actions_total": total,
            "by_status": by_status(&summary),
            "overdue": summary.overdue,
            "due_soon": summary.due_soon,
            "actions": &lines[..n],
            "next_offset": next_offset(offset, n, total),
        })
    })
}

// ------------------------------------------------------------------- events_since

/// Arguments of `events_since`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EventsSince {
    /// Where to resume: the `next_cursor` of the previous answer, as it was. Absent
    /// for the first event ever.
    pub cursor: Option<String>,
    /// Most events in the answer, 1 to 200 (50 when absent).
    pub limit: Option<u32>,
}

/// `events_since`: the change feed: every event of every property after `cursor`,
/// each once, standing alone (property, action and title, the event, the action's
/// state after it), and the cursor to resume from.
pub fn events_since(reads: &Reads<'_>, args: &EventsSince) -> Result<String, ToolError> {
    use crate::service::feed::{self, Cursor, CursorError, FeedError, FeedPage};
    let (limit, _) = page(args.limit, None, 50, 200)?;
    let cursor: Option<Cursor> = args
        .cursor
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse().map_err(|e: CursorError| {
                ToolError::BadArgument(format!("cursor: {}", statekit::error::Chain(&e)))
            })
        })
        .transpose()?;
    let read = |limit: usize| -> Result<FeedPage, ToolError> {
        feed::events_since(reads.storage, cursor.as_ref(), limit).map_err(|e| match e {
            FeedError::Store(e) => ToolError::Store(e),
            FeedError::List { source, .. } => ToolError::List(source),
            other => ToolError::BadArgument(other.to_string()),
        })
    };
    let render = |p: &FeedPage, n: usize| {
        serde_json::json!({
            "events": &p.lines[..n.min(p.lines.len())],
            "next_cursor": p.next.to_string(),
            "more": p.more,
        })
    };
    let mut want = limit;
    // A page too large is read again, shorter: the cursor of a page is after its last
    // line, so it cannot be cut after the fact. Events appended meanwhile only land
    // after the positions handed out, so the shorter page is a page as good.
    for _ in 0..4 {
        let page = read(want)?;
        let all = serde_json::to_string(&render(&page, page.lines.len()))?;
        if all.len() <= MAX_RESULT_BYTES {
            return Ok(all);
        }
        match largest_fitting(page.lines.len(), &|n| render(&page, n))? {
            Some((fits, _)) if fits > 0 => want = fits,
            _ => return Err(ToolError::TooLarge),
        }
    }
    Err(ToolError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_beyond_the_bound_is_cut_to_the_largest_page_that_fits() {
        let item = "x".repeat(1000);
        let render = |n: usize| serde_json::json!({ "items": vec![&item; n] });
        let small = fit(10, render).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&small).unwrap()["items"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        let cut = fit(500, render).unwrap();
        let shown = serde_json::from_str::<Value>(&cut).unwrap()["items"]
            .as_array()
            .unwrap()
            .len();
        assert!(cut.len() <= MAX_RESULT_BYTES);
        assert!(shown > 10 && shown < 500, "{shown}");
        assert!(
            serde_json::to_string(&render(shown + 1)).unwrap().len() > MAX_RESULT_BYTES,
            "the largest that fits"
        );
        let huge = "y".repeat(MAX_RESULT_BYTES);
        assert!(matches!(
            fit(3, |n| serde_json::json!({ "items": vec![&huge; n] })),
            Err(ToolError::TooLarge)
        ));
    }

    #[test]
    fn limits_and_groups_are_checked() {
        assert_eq!(page(None, None, 50, 200).unwrap(), (50, 0));
        assert_eq!(page(Some(200), Some(7), 50, 200).unwrap(), (200, 7));
        for bad in [0, 201] {
            assert!(page(Some(bad), None, 50, 200).is_err(), "{bad}");
        }
        assert_eq!(urgency_named("due-soon").unwrap(), Urgency::DueSoon);
        assert!(urgency_named("late").is_err());
        assert!(slug("../etc").is_err());
        assert_eq!(next_offset(10, 5, 20), Some(15));
        assert_eq!(next_offset(10, 10, 20), None);
    }
}
