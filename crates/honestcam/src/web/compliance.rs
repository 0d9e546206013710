//! A property's compliance pages and the one form that changes an action.
//!
//! - `/compliance/`: a summary line (counts per status, overdue, due soon), a text
//!   search and a status filter that combine (`?q=&status=`, a GET form), and the
//!   actions grouped by urgency (overdue, due soon, open, blocked, done or waived),
//!   each with its latest notes, a link to older ones, and its edit form. The search
//!   goes through the property's search index on SQLite (see `service::search`: an
//!   action is shown when each word of the search begins a word of its title, of one
//!   of its notes or of an assignee it was given) and through the fold on the legacy
//!   JSON files (each word found anywhere in its id, title, category, source,
//!   assignee or notes, as before the index).
//! - `/compliance/?as_of=YYYY-MM-DD` (or an RFC 3339 instant): the same page as the
//!   property stood at the end of that day in the portal's zone (see
//!   `service::as_of`), marked as a past view, without edit forms, with a link back to
//!   today. A value that is neither is a 422 naming `as_of`.
//! - `/compliance/actions/{id}`: one action, its edit form, and its whole history,
//!   newest first, each event told in words with who and when.
//! - `POST /compliance/actions/{id}`: status, assignee, due date and a note in one
//!   submit; only the fields that changed are recorded, in one unit of work, and the
//!   answer is a 303 back to where the form was.
//! - `POST /compliance/actions/{id}/status`: the original portal's status route, kept
//!   for its clients (form field `status`): records a status change as that portal
//!   did, one event per request even when the status is already that one, and
//!   answers a 303 back to the property's page.
//!
//! Statuses are shown by their labels (`In progress`), times in the portal's zone.

use std::collections::HashSet;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::auth::{Caller, SignedIn};
use super::rendered::PageKey;
use super::{AppError, AppState, Prop};
use crate::domain::history::{Entry, What};
use crate::domain::search::SearchQuery;
use crate::domain::text::{
    MAX_ACTOR_SHOWN_CHARS, MAX_ASSIGNEE_CHARS, MAX_NOTE_CHARS, MAX_SEARCH_CHARS, check, shorten,
    shortened,
};
use crate::domain::urgency::{Summary, Urgency, by_urgency};
use crate::domain::{ActionState, Change, Event, Note, Status, StatusError};
use crate::service::as_of::{AsOf, AsOfState, compliance_as_of};
use crate::service::compliance::{Unchanged, action_record, record_changes};
use crate::service::search::SearchError;

/// Notes shown per action on the property's page (newest first); the rest are on
/// the action's page.
pub const LATEST_NOTES: usize = 3;

/// A status as a form option or filter: its wire value and its label.
#[derive(Debug, Clone, Copy)]
pub struct StatusOption {
    /// The wire name (`in_progress`).
    pub value: &'static str,
    /// The label (`In progress`).
    pub label: &'static str,
}

fn status_options() -> Vec<StatusOption> {
    Status::ALL
        .iter()
        .map(|s| StatusOption {
            value: s.as_str(),
            label: s.label(),
        })
        .collect()
}

/// How many actions have one status.
#[derive(Debug, Clone, Copy)]
pub struct StatusCount {
    /// The wire name (`in_progress`).
    pub value: &'static str,
    /// The label (`In progress`).
    pub label: &'static str,
    /// How many.
    pub count: usize,
}

/// The statuses some action has, with their counts, in display order.
pub fn status_counts(summary: &Summary) -> Vec<StatusCount> {
    Status::ALL
        .iter()
        .map(|s| StatusCount {
            value: s.as_str(),
            label: s.label(),
            count: summary.count(*s),
        })
        .filter(|c| c.count > 0)
        .collect()
}

/// An action as its card and edit form show it.
struct Row {
    id: String,
    /// The id as a URL path segment (percent-encoded).
    url_id: String,
    title: String,
    category: String,
    /// The wire name (`in_progress`), for form values and `data-status`.
    status: &'static str,
    /// The label (`In progress`).
    status_label: &'static str,
    due: String,
    overdue: bool,
    due_soon: bool,
    assignee: String,
    source: String,
    /// Who made the last change, and when ("" before any).
    changed_by: String,
    changed_at: String,
    /// The latest notes, newest first.
    notes: Vec<Note>,
    /// Notes not shown on the card.
    older_notes: usize,
}

impl Row {
    /// `a` as of `today` (whose urgency is `urgency`), its times in `tz`, with its
    /// `notes` latest notes.
    fn new(a: &ActionState, urgency: Urgency, tz: &TimeZone, notes: usize) -> Row {
        let shown: Vec<Note> = a
            .notes
            .iter()
            .rev()
            .take(notes)
            .map(|n| Note {
                text: shortened(&n.text, MAX_NOTE_CHARS),
                actor: shortened(&n.actor, MAX_ACTOR_SHOWN_CHARS),
                at: display_time(&n.at, tz),
            })
            .collect();
        Row {
            id: a.id.clone(),
            url_id: path_segment(&a.id),
            title: a.title.clone(),
            category: a.category.clone(),
            status: a.status.as_str(),
            status_label: a.status.label(),
            due: a.due.clone().unwrap_or_default(),
            overdue: urgency == Urgency::Overdue,
            due_soon: urgency == Urgency::DueSoon,
            // Shown and posted back shortened (as `assignee` and `shown_assignee`), so
            // an edit of another field leaves a long assignee alone.
            assignee: a
                .assignee
                .as_deref()
                .map(|t| shortened(t, MAX_ASSIGNEE_CHARS))
                .unwrap_or_default(),
            source: a.source.clone().unwrap_or_default(),
            changed_by: a
                .updated_by
                .as_deref()
                .map(|t| shortened(t, MAX_ACTOR_SHOWN_CHARS))
                .unwrap_or_default(),
            changed_at: a
                .updated_at
                .as_deref()
                .map(|t| display_time(t, tz))
                .unwrap_or_default(),
            older_notes: usize::try_from(a.note_count)
                .unwrap_or(usize::MAX)
                .saturating_sub(shown.len()),
            notes: shown,
        }
    }
}

/// The actions of one urgency group.
struct Group {
    key: &'static str,
    label: &'static str,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct Page {
    base: String,
    signed_in: SignedIn,
    property_name: String,
    /// The search as typed.
    q: String,
    /// The status filter's wire value, `""` for all.
    filter: String,
    statuses: Vec<StatusOption>,
    total: usize,
    counts: Vec<StatusCount>,
    overdue: usize,
    due_soon: usize,
    /// Actions shown (after search and filter).
    shown: usize,
    groups: Vec<Group>,
    /// The search and filter as a query string (`?q=...&status=...`, or empty), for
    /// the CSV export of what is shown.
    export_query: String,
    /// A past view: what it shows, and no edit forms.
    past: Option<PastView>,
    /// `&as_of=...` for the summary's links in a past view, else empty.
    as_of_param: String,
    /// The `as_of` as given (for the form), else empty.
    as_of_value: String,
}

/// The banner of a past view.
struct PastView {
    /// `As of 2026-11-30, end of day, Europe/Berlin`.
    label: String,
    /// Events folded in, and left out for want of a readable time.
    events: u64,
    undated: u64,
}

/// `?status=&q=&as_of=` of the property's page.
#[derive(Debug, Deserialize)]
pub struct Filter {
    /// A status's wire name; empty or absent for all.
    #[serde(default)]
    pub status: Option<String>,
    /// Words to search for.
    #[serde(default)]
    pub q: Option<String>,
    /// A day (`YYYY-MM-DD`) or an instant (RFC 3339) to show the property as of;
    /// empty or absent for now.
    #[serde(default)]
    pub as_of: Option<String>,
}

/// Parses an optional `as_of`; anything but a date or an instant is a 422 naming
/// the parameter.
pub fn parse_as_of(raw: Option<&str>) -> Result<Option<AsOf>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(s.parse::<AsOf>()?)),
    }
}

/// How a search picks among a property's actions.
#[derive(Debug, Clone)]
pub enum Matching {
    /// No search: every action.
    All,
    /// The actions the search index found.
    Ids(HashSet<String>),
    /// Each word somewhere in the action as folded (the legacy JSON files, which keep
    /// no index): [`ActionState::matches`].
    Words(String),
}

impl Matching {
    /// Whether the search picks `a`.
    pub fn matches(&self, a: &ActionState) -> bool {
        match self {
            Matching::All => true,
            Matching::Ids(ids) => ids.contains(&a.id),
            Matching::Words(q) => a.matches(q),
        }
    }
}

/// The property's name, its actions as they stand (shared, unfiltered) and how the
/// search `q` (already checked by [`parse_search`]) picks among them: through the
/// search index on SQLite, the actions read from the projection; through the fold of
/// every note on the legacy JSON files.
pub async fn searched_actions(
    state: &AppState,
    prop: &Prop,
    q: &str,
) -> Result<(String, Arc<Vec<ActionState>>, Matching), AppError> {
    if q.is_empty() {
        let (name, actions) = actions(state, prop, Notes::Latest).await?;
        return Ok((name, actions, Matching::All));
    }
    let query = SearchQuery::parse(q).map_err(SearchError::from)?;
    let (slug, words) = (prop.slug.clone(), q.to_string());
    let (baseline, actions, matching) = state
        .run(move |storage, snapshots| {
            let store = storage.read(&slug)?;
            // The ids and the state in one unit of work: they agree.
            Ok(match store.matching_actions(&query)? {
                Some(ids) => {
                    let (b, a) = snapshots.current(&store)?;
                    (b, a, Matching::Ids(ids.into_iter().collect()))
                }
                None => {
                    let (b, a) = snapshots.folded(&store)?;
                    (b, a, Matching::Words(words))
                }
            })
        })
        .await?;
    Ok((baseline.property.name.clone(), actions, matching))
}

/// How `search` picks among the actions of a past view (on the search index, or the
/// words of the past state on the legacy JSON files).
async fn past_matching(state: &AppState, prop: &Prop, q: &str) -> Result<Matching, AppError> {
    if q.is_empty() {
        return Ok(Matching::All);
    }
    let query = SearchQuery::parse(q).map_err(SearchError::from)?;
    let (slug, words) = (prop.slug.clone(), q.to_string());
    state
        .run(move |storage, _| {
            Ok(match storage.read(&slug)?.matching_actions(&query)? {
                Some(ids) => Matching::Ids(ids.into_iter().collect()),
                None => Matching::Words(words),
            })
        })
        .await
}

/// The property as of `as_of`, in the portal's zone.
pub async fn past_state(state: &AppState, prop: &Prop, as_of: AsOf) -> Result<AsOfState, AppError> {
    let (slug, tz) = (prop.slug.clone(), state.time_zone().clone());
    state
        .run(move |storage, _| Ok(compliance_as_of(storage, &slug, as_of, &tz)?))
        .await
}

/// `As of 2026-11-30, end of day, Europe/Berlin`, or `As of 2026-11-30 17:00 CET`.
fn past_label(as_of: AsOf, past: &AsOfState, tz: &TimeZone) -> String {
    match as_of {
        AsOf::EndOfDay(day) => format!("As of {day}, end of day, {}", past.time_zone),
        AsOf::Instant(t) => format!("As of {}", display_time(&t.to_string(), tz)),
    }
}

/// Parses an optional status filter; an unknown one is a 422.
pub fn parse_filter(raw: Option<&str>) -> Result<Option<Status>, AppError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: StatusError| AppError::unprocessable(e.to_string())),
    }
}

/// The search `?q=`, trimmed: at most [`MAX_SEARCH_CHARS`] characters, else a 422.
pub fn parse_search(raw: Option<&str>) -> Result<String, AppError> {
    let q = raw.unwrap_or_default().trim();
    check("a search", q, MAX_SEARCH_CHARS).map_err(|e| AppError::unprocessable(e.to_string()))?;
    Ok(q.to_string())
}

/// Which notes of each action a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notes {
    /// The latest ones, as a card shows them (read from the projection on SQLite).
    Latest,
    /// Every note: for the API's list of actions, and a search on the legacy JSON
    /// files, which looks through all of them.
    All,
}

/// The property's name and the current state of its actions (shared, unfiltered),
/// with the `notes` asked for.
pub async fn actions(
    state: &AppState,
    prop: &Prop,
    notes: Notes,
) -> Result<(String, Arc<Vec<ActionState>>), AppError> {
    let slug = prop.slug.clone();
    let (baseline, actions) = state
        .run(move |storage, snapshots| {
            let store = storage.read(&slug)?;
            Ok(match notes {
                Notes::Latest => snapshots.current(&store)?,
                Notes::All => snapshots.folded(&store)?,
            })
        })
        .await?;
    Ok((baseline.property.name.clone(), actions))
}

/// `2026-11-23 01:50 UTC` for an RFC 3339 time in `tz` (with the zone's abbreviation,
/// e.g. `2026-11-22 20:50 EST` in America/New_York); other text as it is.
pub fn display_time(at: &str, tz: &TimeZone) -> String {
    match at.parse::<jiff::Timestamp>() {
        // Written out by hand: a page shows hundreds of times, and this is several
        // times cheaper than building a `Zoned` and formatting it with `strftime`.
        Ok(t) => {
            let info = tz.to_offset_info(t);
            let dt = info.offset().to_datetime(t);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} {}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                info.abbreviation()
            )
        }
        Err(_) => at.to_string(),
    }
}

/// Whether `a` passes the status filter.
pub fn shown(a: &ActionState, filter: Option<Status>) -> bool {
    filter.is_none_or(|f| a.status == f)
}

/// `/compliance/`: the summary, the search and filter, and the actions by urgency; with
/// `?as_of=`, as they stood then.
pub async fn page(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Query(query): Query<Filter>,
) -> Result<Html<Bytes>, AppError> {
    let filter = parse_filter(query.status.as_deref())?;
    let q = parse_search(query.q.as_deref())?;
    let as_of = parse_as_of(query.as_of.as_deref())?;
    let tz = state.time_zone();
    let (name, actions, matching, today, past) = match as_of {
        None => {
            let (name, actions, matching) = searched_actions(&state, &prop, &q).await?;
            (name, actions, matching, state.today(), None)
        }
        Some(as_of) => {
            let past = past_state(&state, &prop, as_of).await?;
            let matching = past_matching(&state, &prop, &q).await?;
            let view = PastView {
                label: past_label(as_of, &past, tz),
                events: past.events,
                undated: past.undated,
            };
            let actions = Arc::new(past.actions);
            (past.property_name, actions, matching, past.day, Some(view))
        }
    };
    // The page as rendered for the same state, unless it is a search or a past view.
    let key = (q.is_empty() && past.is_none()).then(|| PageKey {
        slug: prop.slug.clone(),
        base: prop.base.clone(),
        filter,
        today,
        caller: caller.name.clone(),
    });
    if let Some(html) = key.as_ref().and_then(|k| state.pages().get(k, &actions)) {
        return Ok(Html(html));
    }
    let summary = Summary::of(actions.iter(), today);
    let picked = actions
        .iter()
        .filter(|a| shown(a, filter) && matching.matches(a));
    let mut groups: Vec<Group> = Urgency::ALL
        .iter()
        .map(|u| Group {
            key: u.key(),
            label: u.label(),
            rows: Vec::new(),
        })
        .collect();
    let mut count = 0;
    for a in by_urgency(picked, today) {
        let urgency = a.urgency(today);
        let i = Urgency::ALL.iter().position(|u| *u == urgency).unwrap_or(0);
        groups[i].rows.push(Row::new(a, urgency, tz, LATEST_NOTES));
        count += 1;
    }
    groups.retain(|g| !g.rows.is_empty());
    let mut export_query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        export_query.append_pair("q", &q);
    }
    if let Some(f) = filter {
        export_query.append_pair("status", f.as_str());
    }
    let export_query = match export_query.finish() {
        query if query.is_empty() => query,
        query => format!("?{query}"),
    };
    let as_of_param = match (&past, query.as_of.as_deref()) {
        (Some(_), Some(raw)) => {
            let mut param = url::form_urlencoded::Serializer::new(String::new());
            param.append_pair("as_of", raw.trim());
            format!("&{}", param.finish())
        }
        _ => String::new(),
    };
    // The form's date field shows a day; an instant is kept in the links only.
    let as_of_value = match as_of {
        Some(AsOf::EndOfDay(day)) => day.to_string(),
        _ => String::new(),
    };
    let page = Page {
        base: prop.base,
        signed_in: SignedIn::new(&caller, state.auth()),
        property_name: name,
        q,
        filter: filter.map(|f| f.as_str().to_string()).unwrap_or_default(),
        statuses: status_options(),
        total: summary.total,
        counts: status_counts(&summary),
        overdue: summary.overdue,
        due_soon: summary.due_soon,
        shown: count,
        groups,
        export_query,
        past,
        as_of_param,
        as_of_value,
    };
    let html = Bytes::from(
        page.render()
            .map_err(|e| AppError::internal("cannot render the page", e))?,
    );
    if let Some(key) = key {
        state.pages().put(key, actions, html.clone());
    }
    Ok(Html(html))
}

fn render(page: &impl Template) -> Result<Html<String>, AppError> {
    Ok(Html(page.render().map_err(|e| {
        AppError::internal("cannot render the page", e)
    })?))
}

/// One event of an action's history as the page shows it.
struct HistoryRow {
    /// What happened, in words, starting with who.
    text: String,
    /// When, in the portal's zone.
    at: String,
    /// The event type, for styling and tests.
    kind: String,
}

#[derive(Template)]
#[template(path = "action.html")]
struct ActionPage {
    base: String,
    signed_in: SignedIn,
    property_name: String,
    r: Row,
    history: Vec<HistoryRow>,
    statuses: Vec<StatusOption>,
}

/// An event told in words: "Maria set status to Done (was Open)". Values stored
/// beyond their field's bound (legacy events) are shortened.
pub fn describe(entry: &Entry) -> String {
    let who = shorten(&entry.actor, MAX_ACTOR_SHOWN_CHARS);
    let assignee = |a: &Option<String>| a.as_deref().map(|t| shortened(t, MAX_ASSIGNEE_CHARS));
    match &entry.what {
        What::Status { from, to } if from == to => {
            format!("{who} set status to {} (unchanged)", to.label())
        }
        What::Status { from, to } => {
            format!("{who} set status to {} (was {})", to.label(), from.label())
        }
        What::Assignee { from, to } => match (assignee(from), assignee(to)) {
            (None, Some(to)) => format!("{who} assigned it to {to}"),
            (Some(from), Some(to)) if from == to => format!("{who} assigned it to {to} again"),
            (Some(from), Some(to)) => format!("{who} changed the assignee from {from} to {to}"),
            (Some(from), None) => format!("{who} removed the assignee ({from})"),
            (None, None) => format!("{who} left it unassigned"),
        },
        What::Due { from, to } => match (from, to) {
            (None, Some(to)) => format!("{who} set the due date to {to}"),
            (Some(from), Some(to)) if from == to => format!("{who} kept the due date {to}"),
            (Some(from), Some(to)) => format!("{who} changed the due date from {from} to {to}"),
            (Some(from), None) => format!("{who} removed the due date ({from})"),
            (None, None) => format!("{who} left it without a due date"),
        },
        What::Note(text) => format!("{who} added a note: {}", shorten(text, MAX_NOTE_CHARS)),
        What::Unknown { kind } => {
            format!("{who} recorded a {kind} event (not a kind this portal applies)")
        }
        What::Invalid { kind, reason } => {
            format!("{who} recorded a {kind} event that could not be applied: {reason}")
        }
    }
}

/// `/compliance/actions/{id}`: the action, its edit form and its whole history.
pub async fn action_page(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Html<String>, AppError> {
    let id = action_param(&params)?;
    let slug = prop.slug.clone();
    let wanted = id.clone();
    let record = state
        .run(move |storage, _| Ok(action_record(storage, &slug, &wanted)?))
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!("property {} has no action {id:?}", prop.slug))
        })?;
    let tz = state.time_zone();
    let history = record
        .history
        .iter()
        .rev()
        .map(|e| HistoryRow {
            text: describe(e),
            at: display_time(&e.at, tz),
            kind: match &e.what {
                What::Status { .. } => "status_changed",
                What::Assignee { .. } => "assignee_changed",
                What::Due { .. } => "due_changed",
                What::Note(_) => "note_added",
                What::Unknown { .. } | What::Invalid { .. } => "other",
            }
            .to_string(),
        })
        .collect();
    let page = ActionPage {
        base: prop.base,
        signed_in: SignedIn::new(&caller, state.auth()),
        property_name: record.property_name,
        r: Row::new(&record.state, record.state.urgency(state.today()), tz, 0),
        history,
        statuses: status_options(),
    };
    render(&page)
}

/// Appends `changes` to `action` as `actor`, in one unit of work (all validated
/// first, all or nothing); with [`Unchanged::Skip`], changes to the current value are
/// left out.
pub async fn apply(
    state: &AppState,
    prop: &Prop,
    action: String,
    changes: Vec<Change>,
    actor: String,
    unchanged: Unchanged,
) -> Result<Vec<Event>, AppError> {
    let slug = prop.slug.clone();
    state
        .run(move |storage, _| {
            record_changes(storage, &slug, &action, &changes, &actor, unchanged)
                .map_err(AppError::from)
        })
        .await
}

/// `text` as one URL path segment or fragment: everything but unreserved characters
/// percent-encoded, so an id like `ACT%41` or `a/b` comes back as itself.
pub fn path_segment(text: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

/// The edit form: every field optional. A field that is absent, or equal to the
/// value the form showed (`shown_*`), is left alone, so a form opened before someone
/// else's change does not undo it; a field equal to the current value records
/// nothing. An empty assignee or due date clears it; a blank note adds nothing.
#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    shown_status: Option<String>,
    #[serde(default)]
    shown_assignee: Option<String>,
    #[serde(default)]
    shown_due: Option<String>,
    /// `action` to come back to the action's page; else the property's page, with
    /// the search (`back_q`) and filter (`back_status`) it had.
    #[serde(default)]
    back: Option<String>,
    #[serde(default)]
    back_q: Option<String>,
    #[serde(default)]
    back_status: Option<String>,
}

/// `Some(None)` for an empty (trimmed) field, `Some(Some(text))` otherwise.
fn optional_text(raw: Option<&str>) -> Option<Option<String>> {
    raw.map(|r| Some(r.trim().to_string()).filter(|t| !t.is_empty()))
}

/// Whether a field was edited: present, and not what the form showed.
fn edited<T: PartialEq>(value: &Option<T>, shown: Option<T>) -> bool {
    match (value, shown) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(v), Some(s)) => *v != s,
    }
}

impl EditForm {
    /// The changes the form asks for, checked: a bad status or date is a 422.
    fn changes(&self) -> Result<Vec<Change>, AppError> {
        let mut changes = Vec::new();
        let status = self
            .status
            .as_deref()
            .map(str::trim)
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|e| AppError::unprocessable(e.to_string()))
            })
            .transpose()?;
        let shown_status = self
            .shown_status
            .as_deref()
            .and_then(|s| s.trim().parse::<Status>().ok());
        if edited(&status, shown_status)
            && let Some(s) = status
        {
            changes.push(Change::Status(s));
        }
        let assignee = optional_text(self.assignee.as_deref());
        if edited(&assignee, optional_text(self.shown_assignee.as_deref()))
            && let Some(a) = assignee
        {
            changes.push(Change::Assignee(a));
        }
        let due = optional_text(self.due.as_deref());
        if let Some(Some(d)) = &due
            && d.parse::<jiff::civil::Date>().is_err()
        {
            return Err(AppError::unprocessable(format!(
                "invalid due date {d:?}: expected YYYY-MM-DD"
            )));
        }
        if edited(&due, optional_text(self.shown_due.as_deref()))
            && let Some(d) = due
        {
            changes.push(Change::Due(d));
        }
        if let Some(Some(note)) = optional_text(self.note.as_deref()) {
            changes.push(Change::Note(note));
        }
        Ok(changes)
    }

    /// Where to go after the change.
    fn back(&self, prop: &Prop, action: &str) -> String {
        let id = path_segment(action);
        if self.back.as_deref() == Some("action") {
            return format!("{}/compliance/actions/{id}", prop.base);
        }
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = self
            .back_q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty() && check("a search", q, MAX_SEARCH_CHARS).is_ok())
        {
            query.append_pair("q", q);
        }
        if let Some(s) = self
            .back_status
            .as_deref()
            .and_then(|s| s.parse::<Status>().ok())
        {
            query.append_pair("status", s.as_str());
        }
        let query = query.finish();
        let query = if query.is_empty() {
            query
        } else {
            format!("?{query}")
        };
        format!("{}/compliance/{query}#action-{id}", prop.base)
    }
}

/// `POST /compliance/actions/{id}`: records what the edit form changed.
pub async fn post_edit(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Form(form): Form<EditForm>,
) -> Result<Redirect, AppError> {
    let id = action_param(&params)?;
    let changes = form.changes()?;
    // Even with nothing to record, an unknown action is a 404.
    apply(
        &state,
        &prop,
        id.clone(),
        changes,
        caller.name,
        Unchanged::Skip,
    )
    .await?;
    Ok(Redirect::to(&form.back(&prop, &id)))
}

/// The original portal's status form: `status` only.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: Option<String>,
}

/// `POST /compliance/actions/{id}/status`: the original portal's route. Records a
/// `status_changed` event with the status given, as the original did: one event per
/// request, even when the action already has that status (the log records that
/// someone set it, like the API's `POST .../events`). A missing or unknown status is
/// a 422, an unknown action a 404; the answer is a 303 to the property's page.
pub async fn post_status(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Form(form): Form<StatusForm>,
) -> Result<Redirect, AppError> {
    let id = action_param(&params)?;
    let Some(raw) = form.status.as_deref().map(str::trim) else {
        return Err(AppError::unprocessable(format!(
            "no status given: expected status= one of {}",
            Status::ALL.map(|s| s.as_str()).join(", ")
        )));
    };
    let status: Status = raw
        .parse()
        .map_err(|e: StatusError| AppError::unprocessable(e.to_string()))?;
    apply(
        &state,
        &prop,
        id.clone(),
        vec![Change::Status(status)],
        caller.name,
        Unchanged::Record,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "{}/compliance/#action-{}",
        prop.base,
        path_segment(&id)
    )))
}

/// The `{id}` path parameter (the routes also carry `{slug}` under `/p/`).
pub fn action_param(params: &[(String, String)]) -> Result<String, AppError> {
    params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| AppError::not_found("no action id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_are_encoded_as_one_path_segment() {
        assert_eq!(path_segment("ACT-001"), "ACT-001");
        assert_eq!(path_segment("ACT%41"), "ACT%2541");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn times_are_shown_to_the_minute_in_the_portals_zone() {
        let utc = TimeZone::UTC;
        assert_eq!(
            display_time("2026-11-23T01:50:39.153565505Z", &utc),
            "2026-11-23 01:50 UTC"
        );
        assert_eq!(
            display_time("2026-11-23T03:50:39+02:00", &utc),
            "2026-11-23 01:50 UTC"
        );
        assert_eq!(display_time("last tuesday", &utc), "last tuesday");
        let new_york = jiff::tz::db().get("America/New_York").unwrap();
        assert_eq!(
            display_time("2026-11-23T01:50:39Z", &new_york),
            "2026-11-22 20:50 EST"
        );
        assert_eq!(
            display_time("2026-07-01T12:00:00Z", &new_york),
            "2026-07-01 08:00 EDT"
        );
        // The same as jiff's own formatting, across zones and the clocks' changes.
        for zone in [
            "Europe/Berlin",
            "Asia/Kolkata",
            "America/St_Johns",
            "Etc/GMT+5",
        ] {
            let tz = jiff::tz::db().get(zone).unwrap();
            for at in [
                "2026-03-29T00:59:59Z",
                "2026-03-29T01:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:30:00Z",
                "0001-01-01T00:00:00Z",
            ] {
                let t: jiff::Timestamp = at.parse().unwrap();
                let jiff = t
                    .to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string();
                assert_eq!(display_time(at, &tz), jiff, "{zone} {at}");
            }
        }
    }

    /// The form as the browser would post `fields`.
    fn form(fields: &[(&str, &str)]) -> EditForm {
        let object: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(object)).unwrap()
    }

    #[test]
    fn only_fields_edited_since_the_form_was_shown_become_changes() {
        let shown = [
            ("shown_status", "open"),
            ("shown_assignee", "Kim"),
            ("shown_due", "2026-12-01"),
        ];
        let same = [
            ("status", "open"),
            ("assignee", " Kim "),
            ("due", "2026-12-01"),
            ("note", "  "),
        ];
        let all: Vec<_> = shown.iter().chain(&same).copied().collect();
        assert_eq!(form(&all).changes().unwrap(), []);
        let edited: Vec<_> = shown
            .iter()
            .copied()
            .chain([
                ("status", "done"),
                ("assignee", "Kim"),
                ("due", ""),
                ("note", "fixed"),
            ])
            .collect();
        assert_eq!(
            form(&edited).changes().unwrap(),
            [
                Change::Status(Status::Done),
                Change::Due(None),
                Change::Note("fixed".into())
            ]
        );
        assert_eq!(
            form(&[("assignee", "Lee")]).changes().unwrap(),
            [Change::Assignee(Some("Lee".into()))],
            "without shown values, a present field is a change to check"
        );
        assert_eq!(
            form(&[("due", "soon")]).unwrap_err_status(),
            422,
            "a bad date"
        );
        assert_eq!(form(&[("status", "finished")]).unwrap_err_status(), 422);
    }

    impl EditForm {
        fn unwrap_err_status(&self) -> u16 {
            self.changes().unwrap_err().status().as_u16()
        }
    }

    #[test]
    fn every_event_type_is_told_in_words() {
        let entry = |what| Entry {
            event_id: "e".into(),
            actor: "Maria".into(),
            at: "t".into(),
            what,
        };
        let some = |s: &str| Some(s.to_string());
        let cases = [
            (
                What::Status {
                    from: Status::Open,
                    to: Status::Done,
                },
                "Maria set status to Done (was Open)",
            ),
            (
                What::Status {
                    from: Status::InProgress,
                    to: Status::InProgress,
                },
                "Maria set status to In progress (unchanged)",
            ),
            (
                What::Assignee {
                    from: None,
                    to: some("Kim"),
                },
                "Maria assigned it to Kim",
            ),
            (
                What::Assignee {
                    from: some("Kim"),
                    to: some("Lee"),
                },
                "Maria changed the assignee from Kim to Lee",
            ),
            (
                What::Assignee {
                    from: some("Lee"),
                    to: None,
                },
                "Maria removed the assignee (Lee)",
            ),
            (
                What::Due {
                    from: some("2026-05-01"),
                    to: some("2026-06-01"),
                },
                "Maria changed the due date from 2026-05-01 to 2026-06-01",
            ),
            (
                What::Due {
                    from: None,
                    to: some("2026-06-01"),
                },
                "Maria set the due date to 2026-06-01",
            ),
            (
                What::Due {
                    from: some("2026-06-01"),
                    to: None,
                },
                "Maria removed the due date (2026-06-01)",
            ),
            (
                What::Note("called the vendor".into()),
                "Maria added a note: called the vendor",
            ),
            (
                What::Unknown {
                    kind: "photo_added".into(),
                },
                "Maria recorded a photo_added event (not a kind this portal applies)",
            ),
        ];
        for (what, words) in cases {
            assert_eq!(describe(&entry(what)), words);
        }
    }
}
