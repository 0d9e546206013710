//! Exports of a property, for spreadsheets and scripts:
//!
//! - `/compliance/export.csv[?q=&status=]`: the actions as they stand, in the page's
//!   order (most urgent first), searched and filtered like the page;
//! - `/compliance/events.csv`: the whole event log, oldest first, one row per event;
//! - the same for API clients at `/api/p/{slug}/actions.csv` and
//!   `/api/p/{slug}/events.csv` (errors as JSON), beside the JSON
//!   `/api/p/{slug}/events` (the whole log, or one page of it by cursor).
//!
//! Every export needs the viewer role, like the pages. Files are UTF-8 (no byte-order
//! mark), RFC 4180 (CRLF line ends; a cell holding a comma, a quote or a line break
//! is quoted, quotes doubled), with a header row. Times are UTC, ISO 8601 to the second
//! (`2026-11-23T01:50:39Z`), whatever the portal's display zone; "overdue" and the
//! file's date are reckoned in that zone, as on the pages. A cell that a spreadsheet
//! would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
//! return) is prefixed with `'`, as OWASP advises against CSV injection: a note
//! `=cmd()` arrives as the text `'=cmd()`.
//!
//! The actions' export shows an assignee, a note or an actor stored beyond its
//! bound (see [`crate::domain::text`]) cut at the bound with an ellipsis, as the
//! pages do; the event log's export is the log, verbatim.
//!
//! The whole log (`events.csv`, and `/events` without paging parameters) is streamed:
//! it is the log as it stood when asked (up to the position of its last event then),
//! read [`EXPORT_PAGE`] events at a time by position, each page one short read on the
//! blocking pool holding the property's lock for that read only, encoded there, and
//! handed to the response body through a channel of [`PAGES_AHEAD`] pages; so the
//! server's memory does not grow with the log, and a slow client holds no lock and no
//! blocking thread. An error before the first byte is an ordinary error answer; one
//! after it is logged and aborts the body (no final chunk: the client sees a
//! truncated transfer, never a short file that looks complete).
//!
//! On the legacy JSON files a page is found by parsing the log from its start (and a
//! whole export by doing so once per page): fine for the logs that backend holds
//! before `db-migrate`, slow for very large ones, which belong on SQLite.
//!
//! Paging (`/events?after=&limit=`): see [`Paging`].

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Query, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use tokio::sync::mpsc;

use super::compliance::{Filter, parse_filter, parse_search, searched_actions, shown};
use super::{AppError, AppState, Prop};
use crate::domain::text::{MAX_ACTOR_SHOWN_CHARS, MAX_ASSIGNEE_CHARS, MAX_NOTE_CHARS, shorten};
use crate::domain::urgency::by_urgency;
use crate::domain::{ActionState, Baseline, Change, Event};
use crate::property::Slug;
use crate::storage::StoreError;

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
    /// An event could not be written as JSON.
    #[error("writing an event as JSON")]
    Json(#[from] serde_json::Error),
    /// Reading a page of the log failed.
    #[error("reading the event log after position {after}")]
    Read {
        /// The cursor of the page.
        after: i64,
        /// Why (boxed: it is large, and rare).
        #[source]
        source: Box<StoreError>,
    },
    /// The blocking task reading a page failed (it panicked, or the runtime is
    /// shutting down).
    #[error("the task reading the event log after position {after} failed")]
    Task {
        /// The cursor of the page.
        after: i64,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl From<ExportError> for AppError {
    fn from(e: ExportError) -> AppError {
        AppError::internal("the export failed", e)
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
        let mut sheet = Sheet::rows_into(Vec::new());
        sheet.writer.write_record(header)?;
        Ok(sheet)
    }

    /// Rows without a header, appended to `buffer`.
    fn rows_into(buffer: Vec<u8>) -> Sheet {
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(buffer);
        Sheet { writer }
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
            &shorten(a.assignee.as_deref().unwrap_or(""), MAX_ASSIGNEE_CHARS),
            a.source.as_deref().unwrap_or(""),
            &notes,
            &shorten(
                a.notes.last().map_or("", |n| n.text.as_str()),
                MAX_NOTE_CHARS,
            ),
            &shorten(a.updated_by.as_deref().unwrap_or(""), MAX_ACTOR_SHOWN_CHARS),
            &changed_at,
        ])?;
    }
    sheet.finish()
}

/// `events` as `events.csv`, one row each in log order; what a known event set is in
/// its own column, and every payload also as JSON. The whole file in memory: the
/// portal streams it instead (see the module's doc), row for row the same.
pub fn events_csv(baseline: &Baseline, events: &[Event]) -> Result<Vec<u8>, ExportError> {
    let mut sheet = Sheet::new(&EVENT_COLUMNS)?;
    event_rows(&mut sheet, baseline, events.iter())?;
    sheet.finish()
}

/// The rows of `events` in `events.csv`.
fn event_rows<'a>(
    sheet: &mut Sheet,
    baseline: &Baseline,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<(), ExportError> {
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
    Ok(())
}

/// A CSV download named `{slug}-{what}-{date}.csv`.
fn download(prop: &Prop, what: &str, today: Date, body: impl Into<Body>) -> Response {
    let disposition = format!("attachment; filename=\"{}-{what}-{today}.csv\"", prop.slug);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body.into(),
    )
        .into_response()
}

/// `GET /compliance/export.csv` and `GET /api/p/{slug}/actions.csv`: the actions,
/// searched and filtered like the page.
pub async fn actions_download(
    State(state): State<AppState>,
    prop: Prop,
    Query(query): Query<Filter>,
) -> Result<Response, AppError> {
    let filter = parse_filter(query.status.as_deref())?;
    let q = parse_search(query.q.as_deref())?;
    let (_, all, matching) = searched_actions(&state, &prop, &q).await?;
    let today = state.today();
    let matching = all
        .iter()
        .filter(|a| shown(a, filter) && matching.matches(a));
    let body = actions_csv(by_urgency(matching, today), today).map_err(AppError::from)?;
    Ok(download(&prop, "actions", today, body))
}

/// Events read per page by the streamed exports.
pub const EXPORT_PAGE: usize = 1_000;

/// Pages encoded ahead of what the client has taken, at most.
pub const PAGES_AHEAD: usize = 2;

/// How a streamed export encodes a page of events, `written` events having come
/// before it.
type Encode = fn(&Baseline, &[(i64, Event)], u64, &mut Vec<u8>) -> Result<(), ExportError>;

fn csv_page(
    baseline: &Baseline,
    page: &[(i64, Event)],
    _written: u64,
    out: &mut Vec<u8>,
) -> Result<(), ExportError> {
    let mut sheet = Sheet::rows_into(std::mem::take(out));
    event_rows(&mut sheet, baseline, page.iter().map(|(_, e)| e))?;
    *out = sheet.finish()?;
    Ok(())
}

fn json_page(
    _baseline: &Baseline,
    page: &[(i64, Event)],
    written: u64,
    out: &mut Vec<u8>,
) -> Result<(), ExportError> {
    for (i, (_, e)) in page.iter().enumerate() {
        if written > 0 || i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, e)?;
    }
    Ok(())
}

/// A streamed export of a property's log up to position `end`.
#[derive(Debug, Clone)]
struct LogExport {
    state: AppState,
    slug: Slug,
    baseline: Arc<Baseline>,
    end: i64,
    encode: Encode,
}

/// One page of a streamed export, encoded.
#[derive(Debug)]
struct Chunk {
    bytes: Vec<u8>,
    /// The position of its last event.
    last: i64,
    /// How many events it holds.
    events: u64,
    /// Whether the export is complete with it.
    done: bool,
}

impl LogExport {
    /// The log's baseline and end, read now; an error is an ordinary answer.
    async fn start(state: &AppState, prop: &Prop, encode: Encode) -> Result<LogExport, AppError> {
        let slug = prop.slug.clone();
        let (baseline, end) = state
            .run(move |storage, _| {
                let store = storage.read(&slug)?;
                Ok((store.baseline()?, store.last_position()?))
            })
            .await?;
        Ok(LogExport {
            state: state.clone(),
            slug: prop.slug.clone(),
            baseline,
            end,
            encode,
        })
    }

    /// Reads and encodes the page after `after`, on the blocking pool, appending to
    /// `bytes`; the property's lock is held for the read alone.
    async fn chunk(&self, after: i64, written: u64, bytes: Vec<u8>) -> Result<Chunk, ExportError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let page = this
                .state
                .storage()
                .read(&this.slug)
                .and_then(|store| store.events_page(after, EXPORT_PAGE))
                .map_err(|source| ExportError::Read {
                    after,
                    source: Box::new(source),
                })?;
            let whole = page.len() == EXPORT_PAGE;
            let mine: Vec<_> = page
                .into_iter()
                .take_while(|(p, _)| *p <= this.end)
                .collect();
            let last = mine.last().map_or(after, |(p, _)| *p);
            let mut bytes = bytes;
            (this.encode)(&this.baseline, &mine, written, &mut bytes)?;
            Ok(Chunk {
                bytes,
                last,
                events: mine.len() as u64,
                done: !whole || last >= this.end,
            })
        })
        .await
        .map_err(|source| ExportError::Task { after, source })?
    }

    /// The export as a body: `head`, the pages, `tail`. The first page is read before
    /// the answer starts (its error is an ordinary answer); the rest by a task feeding
    /// a bounded channel, which stops when the client goes away.
    async fn body(self, head: Vec<u8>, tail: &'static [u8]) -> Result<Body, AppError> {
        let first = self.chunk(0, 0, head).await.map_err(AppError::from)?;
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        tokio::spawn(async move {
            let mut chunk = first;
            let mut written = 0;
            loop {
                written += chunk.events;
                let (done, after) = (chunk.done, chunk.last);
                let mut bytes = chunk.bytes;
                if done {
                    bytes.extend_from_slice(tail);
                }
                if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                    return; // The client went away.
                }
                if done {
                    return;
                }
                chunk = match self.chunk(after, written, Vec::new()).await {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        tracing::error!(
                            property = %self.slug,
                            events_sent = written,
                            "export of the event log stopped mid-stream, the answer is cut short: {}",
                            statekit::error::Chain(&e)
                        );
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
            }
        });
        Ok(Body::from_stream(Chunks(rx)))
    }
}

/// The chunks of a streamed export, as the body's stream.
#[derive(Debug)]
struct Chunks(mpsc::Receiver<Result<Bytes, ExportError>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, ExportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `GET /compliance/events.csv` and `GET /api/p/{slug}/events.csv`: the whole log,
/// streamed.
pub async fn events_download(
    State(state): State<AppState>,
    prop: Prop,
) -> Result<Response, AppError> {
    let export = LogExport::start(&state, &prop, csv_page).await?;
    let head = Sheet::new(&EVENT_COLUMNS)
        .and_then(Sheet::finish)
        .map_err(AppError::from)?;
    let body = export.body(head, b"").await?;
    Ok(download(&prop, "events", state.today(), body))
}

/// Paging of `/api/p/{slug}/events`: `?after=CURSOR&limit=N`.
///
/// Without either parameter the answer is the whole log, as it always was
/// (`{"property", "events": [...]}`, streamed). With either, it is one page:
/// `{"property", "events": [...], "next": CURSOR | null, "last": CURSOR}`, the events
/// after `after` (from the start when absent or empty), oldest first, at most `limit`
/// ([`DEFAULT_LIMIT`] when absent, 1 to [`MAX_LIMIT`]). `next` is the cursor of the
/// following page, `null` when this page reaches the end of the log; `last` is the
/// cursor of the page's last event (`after` itself for an empty page), to ask later
/// for what was appended since.
///
/// A cursor is an event's position in the log, as a decimal string: `seq` on SQLite,
/// never reused; on the legacy JSON files, the 1-based position in the log, stable as
/// the log only grows at its end (`db-migrate` keeps the positions). Paging while
/// others append visits every event once: a page never repeats an earlier one, and
/// events appended meanwhile come after the cursor. A cursor that is not a
/// non-negative integer, an unknown parameter, or a limit out of range is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The cursor: the position of the last event already seen (0: none).
    pub after: i64,
    /// Events in the page.
    pub limit: usize,
}

/// Events in a page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 1_000;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 10_000;

impl Paging {
    /// The paging a query asks for: `None` for the whole log (neither parameter).
    pub fn parse(query: Option<&str>) -> Result<Option<Paging>, String> {
        let (mut after, mut limit, mut paged) = (0, DEFAULT_LIMIT, false);
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "after" => {
                    paged = true;
                    if !value.is_empty() {
                        after = value
                            .parse::<i64>()
                            .ok()
                            .filter(|a| *a >= 0)
                            .ok_or_else(|| {
                                format!(
                                    "bad cursor after={value:?}: use the \"next\" (or \"last\") of an earlier answer, or leave it out to start from the beginning"
                                )
                            })?;
                    }
                }
                "limit" => {
                    paged = true;
                    limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| {
                            format!("bad limit={value:?}: a number of events from 1 to {MAX_LIMIT}")
                        })?;
                }
                other => {
                    return Err(format!(
                        "unknown parameter {other:?}: the events API takes \"after\" and \"limit\""
                    ));
                }
            }
        }
        Ok(paged.then_some(Paging { after, limit }))
    }
}

/// A page of the log as the API answers it.
#[derive(Debug, serde::Serialize)]
struct LogPage<'a> {
    property: &'a Slug,
    events: Vec<&'a Event>,
    next: Option<String>,
    last: String,
}

/// One page of the log, read in one short read and encoded, on the blocking pool.
async fn page_of_log(state: &AppState, prop: &Prop, paging: Paging) -> Result<Vec<u8>, AppError> {
    let slug = prop.slug.clone();
    let Paging { after, limit } = paging;
    state
        .run(move |storage, _| {
            // One more than asked, to tell whether another page follows.
            let mut page = storage.read(&slug)?.events_page(after, limit + 1)?;
            let more = page.len() > limit;
            page.truncate(limit);
            let last = page.last().map_or(after, |(p, _)| *p);
            let answer = LogPage {
                property: &slug,
                events: page.iter().map(|(_, e)| e).collect(),
                next: more.then(|| last.to_string()),
                last: last.to_string(),
            };
            serde_json::to_vec(&answer).map_err(|e| ExportError::from(e).into())
        })
        .await
}

/// `GET /api/p/{slug}/events[?after=&limit=]`: the whole log as JSON, oldest first,
/// streamed; or one page of it (see [`Paging`]).
pub async fn events_json(
    State(state): State<AppState>,
    prop: Prop,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let paging = Paging::parse(query.as_deref()).map_err(AppError::bad_request)?;
    if let Some(paging) = paging {
        let page = page_of_log(&state, &prop, paging).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], page).into_response());
    }
    let export = LogExport::start(&state, &prop, json_page).await?;
    let mut head = br#"{"property":"#.to_vec();
    serde_json::to_writer(&mut head, &prop.slug)
        .map_err(|e| AppError::from(ExportError::from(e)))?;
    head.extend_from_slice(br#","events":["#);
    let body = export.body(head, b"]}").await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
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
