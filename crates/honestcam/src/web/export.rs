//! CSV exports of a property, for spreadsheets and scripts:
//!
//! - `/compliance/export.csv[?q=&status=]`: the actions as they stand, in the page's
//!   order (most urgent first), searched and filtered like the page;
//! - `/compliance/events.csv`: the whole event log, oldest first, one row per event;
//! - the same for API clients at `/api/p/{slug}/actions.csv` and
//!   `/api/p/{slug}/events.csv` (errors as JSON), beside the JSON
//!   `/api/p/{slug}/events`.
//!
//! Every export needs the viewer role, like the pages. Files are UTF-8 (no byte-order
//! mark), RFC 4180 (CRLF line ends; a cell holding a comma, a quote or a line break
//! is quoted, quotes doubled), with a header row. Times are UTC, ISO 8601 to the second
//! (`2026-11-23T01:50:39Z`), whatever the portal's display zone; "overdue" and the
//! file's date are reckoned in that zone, as on the pages. A cell that a spreadsheet
//! would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
//! return) is prefixed with `'`, as OWASP advises against CSV injection: a note
//! `=cmd()` arrives as the text `'=cmd()`.

use std::borrow::Cow;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde_json::{Value, json};

use super::compliance::{Filter, actions, parse_filter, shown};
use super::{AppError, AppState, Prop};
use crate::domain::urgency::by_urgency;
use crate::domain::{ActionState, Baseline, Change, Event};

/// The columns of `export.csv`.
pub const ACTION_COLUMNS: [&str; 13] = [
    "id",
    "title",
    "category",
    "status",
    "status_label",
    "urgency",
    "due",
    "assignee",
    "source",
    "notes",
    "latest_note",
    "last_changed_by",
    "last_changed_at_utc",
];

/// The columns of `events.csv`.
pub const EVENT_COLUMNS: [&str; 11] = [
    "at_utc",
    "event_id",
    "action_id",
    "action_title",
    "type",
    "actor",
    "status",
    "assignee",
    "due",
    "note",
    "payload",
];

/// Why a CSV file could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CSV writer refused a record.
    #[error("writing a CSV record")]
    Record(#[from] csv::Error),
    /// The CSV writer could not hand its buffer back.
    #[error("finishing the CSV file")]
    Finish(#[source] std::io::Error),
}

impl From<ExportError> for AppError {
    fn from(e: ExportError) -> AppError {
        AppError::internal(super::error::chain(&e))
    }
}

/// `text` as a cell a spreadsheet shows as text: prefixed with `'` when it starts
/// with a character that would make it a formula (`=`, `+`, `-`, `@`, tab, CR).
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// An RFC 3339 time as UTC to the second (`2026-11-23T01:50:39Z`); other text as it is
/// (legacy logs may hold anything).
pub fn utc(at: &str) -> String {
    match at.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => at.to_string(),
    }
}

/// A CSV file being written: every cell passes through [`safe_cell`].
struct Sheet {
    writer: csv::Writer<Vec<u8>>,
}

impl Sheet {
    fn new(header: &[&str]) -> Result<Sheet, ExportError> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(header)?;
        Ok(Sheet { writer })
    }

    fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<(), ExportError> {
        self.writer
            .write_record(cells.into_iter().map(|c| safe_cell(c).into_owned()))?;
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, ExportError> {
        self.writer
            .into_inner()
            .map_err(|e| ExportError::Finish(e.into_error()))
    }
}

/// `actions` as `export.csv` (one row each, in the order given), as of `today`.
pub fn actions_csv<'a>(
    actions: impl IntoIterator<Item = &'a ActionState>,
    today: Date,
) -> Result<Vec<u8>, ExportError> {
    let mut sheet = Sheet::new(&ACTION_COLUMNS)?;
    for a in actions {
        let notes = a.note_count.to_string();
        let changed_at = a.updated_at.as_deref().map(utc).unwrap_or_default();
        sheet.row([
            a.id.as_str(),
            &a.title,
            &a.category,
            a.status.as_str(),
            a.status.label(),
            a.urgency(today).key(),
            a.due.as_deref().unwrap_or(""),
            a.assignee.as_deref().unwrap_or(""),
            a.source.as_deref().unwrap_or(""),
            &notes,
            a.notes.last().map_or("", |n| n.text.as_str()),
            a.updated_by.as_deref().unwrap_or(""),
            &changed_at,
        ])?;
    }
    sheet.finish()
}

/// `events` as `events.csv`, one row each in log order; what a known event set is in
/// its own column, and every payload also as JSON.
pub fn events_csv(baseline: &Baseline, events: &[Event]) -> Result<Vec<u8>, ExportError> {
    let mut sheet = Sheet::new(&EVENT_COLUMNS)?;
    for e in events {
        let title = baseline
            .action(&e.action_id)
            .map_or("", |a| a.title.as_str());
        let (mut status, mut assignee, mut due, mut note) = ("", None, None, None);
        match Change::from_event(&e.kind, &e.payload) {
            Ok(Some(Change::Status(s))) => status = s.as_str(),
            Ok(Some(Change::Assignee(a))) => assignee = a,
            Ok(Some(Change::Due(d))) => due = d,
            Ok(Some(Change::Note(n))) => note = Some(n),
            Ok(None) | Err(_) => {}
        }
        let payload = if e.payload.is_null() {
            String::new()
        } else {
            e.payload.to_string()
        };
        sheet.row([
            utc(&e.at).as_str(),
            &e.event_id,
            &e.action_id,
            title,
            &e.kind,
            &e.actor,
            status,
            assignee.as_deref().unwrap_or(""),
            due.as_deref().unwrap_or(""),
            note.as_deref().unwrap_or(""),
            &payload,
        ])?;
    }
    sheet.finish()
}

/// A CSV download named `{slug}-{what}-{date}.csv`.
fn download(prop: &Prop, what: &str, today: Date, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{}-{what}-{today}.csv\"", prop.slug);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The actions export, searched and filtered like the page.
async fn export_actions(
    state: &AppState,
    prop: &Prop,
    query: Filter,
    json: bool,
) -> Result<Response, AppError> {
    let api = |e: AppError| e.json(json);
    let filter = parse_filter(query.status.as_deref(), json)?;
    let q = query.q.unwrap_or_default();
    let q = q.trim();
    let (_, all) = actions(state, prop).await.map_err(&api)?;
    let today = state.today();
    let matching = all.iter().filter(|a| shown(a, filter) && a.matches(q));
    let body = actions_csv(by_urgency(matching, today), today).map_err(|e| api(e.into()))?;
    Ok(download(prop, "actions", today, body))
}

/// The whole log and the baseline, read under the property's lock.
async fn log(
    state: &AppState,
    prop: &Prop,
) -> Result<(std::sync::Arc<Baseline>, Vec<Event>), AppError> {
    let slug = prop.slug.clone();
    state
        .run(move |storage, _| {
            let store = storage.read(&slug)?;
            Ok((store.baseline()?, store.events()?))
        })
        .await
}

async fn export_events(state: &AppState, prop: &Prop, json: bool) -> Result<Response, AppError> {
    let api = |e: AppError| e.json(json);
    let (baseline, events) = log(state, prop).await.map_err(&api)?;
    let body = events_csv(&baseline, &events).map_err(|e| api(e.into()))?;
    Ok(download(prop, "events", state.today(), body))
}

/// `GET /compliance/export.csv`.
pub async fn actions_page(
    State(state): State<AppState>,
    prop: Prop,
    Query(query): Query<Filter>,
) -> Result<Response, AppError> {
    export_actions(&state, &prop, query, false).await
}

/// `GET /compliance/events.csv`.
pub async fn events_page(State(state): State<AppState>, prop: Prop) -> Result<Response, AppError> {
    export_events(&state, &prop, false).await
}

/// `GET /api/p/{slug}/actions.csv`.
pub async fn actions_api(
    State(state): State<AppState>,
    prop: Prop,
    Query(query): Query<Filter>,
) -> Result<Response, AppError> {
    export_actions(&state, &prop, query, true).await
}

/// `GET /api/p/{slug}/events.csv`.
pub async fn events_api(State(state): State<AppState>, prop: Prop) -> Result<Response, AppError> {
    export_events(&state, &prop, true).await
}

/// `GET /api/p/{slug}/events`: the whole log as JSON, oldest first.
pub async fn events_json(
    State(state): State<AppState>,
    prop: Prop,
) -> Result<axum::Json<Value>, AppError> {
    let (_, events) = log(&state, &prop).await.map_err(|e| e.json(true))?;
    Ok(axum::Json(json!({"property": prop.slug, "events": events})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_start_a_formula_are_made_text() {
        for (given, kept) in [
            ("=cmd()", "'=cmd()"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("a=1", "a=1"),
            ("2026-05-01", "2026-05-01"),
            ("", ""),
            (" =1", " =1"),
        ] {
            assert_eq!(safe_cell(given), kept, "{given:?}");
        }
    }

    #[test]
    fn times_are_utc_to_the_second() {
        assert_eq!(
            utc("2026-11-23T01:50:39.153565505Z"),
            "2026-11-23T01:50:39Z"
        );
        assert_eq!(utc("2026-11-22T20:50:39-05:00"), "2026-11-23T01:50:39Z");
        assert_eq!(utc("last tuesday"), "last tuesday");
    }
}
