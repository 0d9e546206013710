//! `/compliance/`: the actions with their current state, and the forms that change
//! them (status with an optional note, a note, the assignee). Each POST appends events
//! and redirects back with 303.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::auth::{Caller, SignedIn};
use super::{AppError, AppState, Prop};
use crate::domain::{ActionState, Change, Event, Note, Status, StatusError};
use crate::service::compliance::{Unchanged, record_changes};

/// Notes shown per action on the page (newest first).
pub const LATEST_NOTES: usize = 3;

struct Row {
    id: String,
    /// The id as a URL path segment (percent-encoded).
    url_id: String,
    title: String,
    category: String,
    status: &'static str,
    due: String,
    overdue: bool,
    assignee: String,
    source: String,
    /// Who made the last change, and when ("" before any).
    changed_by: String,
    changed_at: String,
    notes: Vec<Note>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct Page {
    base: String,
    signed_in: SignedIn,
    property_name: String,
    filter: String,
    statuses: Vec<&'static str>,
    rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
pub struct Filter {
    #[serde(default)]
    status: Option<String>,
}

/// Parses an optional status filter; an unknown one is a 422.
pub fn parse_filter(raw: Option<&str>, json: bool) -> Result<Option<Status>, AppError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: StatusError| AppError::unprocessable(e.to_string()).json(json)),
    }
}

/// The property's name and the current state of its actions (shared, unfiltered).
pub async fn actions(
    state: &AppState,
    prop: &Prop,
) -> Result<(String, Arc<Vec<ActionState>>), AppError> {
    let slug = prop.slug.clone();
    let (baseline, actions) = state
        .run(move |storage, snapshots| Ok(snapshots.current(&storage.read(&slug)?)?))
        .await?;
    Ok((baseline.property.name.clone(), actions))
}

/// `2026-11-23 01:50 UTC` for an RFC 3339 time; other text as it is.
pub fn display_time(at: &str) -> String {
    match at.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => at.to_string(),
    }
}

/// Whether `a` passes the status filter.
pub fn shown(a: &ActionState, filter: Option<Status>) -> bool {
    filter.is_none_or(|f| a.status == f)
}

pub async fn page(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Query(q): Query<Filter>,
) -> Result<Html<String>, AppError> {
    let filter = parse_filter(q.status.as_deref(), false)?;
    let (name, actions) = actions(&state, &prop).await?;
    let today = jiff::Zoned::now().date();
    let rows = actions
        .iter()
        .filter(|a| shown(a, filter))
        .map(|a| Row {
            overdue: a.is_overdue(today),
            status: a.status.as_str(),
            due: a.due.clone().unwrap_or_default(),
            assignee: a.assignee.clone().unwrap_or_default(),
            source: a.source.clone().unwrap_or_default(),
            changed_by: a.updated_by.clone().unwrap_or_default(),
            changed_at: a
                .updated_at
                .as_deref()
                .map(display_time)
                .unwrap_or_default(),
            notes: a
                .notes
                .iter()
                .rev()
                .take(LATEST_NOTES)
                .map(|n| Note {
                    at: display_time(&n.at),
                    ..n.clone()
                })
                .collect(),
            id: a.id.clone(),
            url_id: path_segment(&a.id),
            title: a.title.clone(),
            category: a.category.clone(),
        })
        .collect();
    let page = Page {
        base: prop.base,
        signed_in: SignedIn::new(&caller, state.auth()),
        property_name: name,
        filter: filter.map(|f| f.as_str().to_string()).unwrap_or_default(),
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        rows,
    };
    Ok(Html(
        page.render()
            .map_err(|e| AppError::internal(e.to_string()))?,
    ))
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
    json: bool,
) -> Result<Vec<Event>, AppError> {
    let slug = prop.slug.clone();
    state
        .run(move |storage, snapshots| {
            record_changes(
                storage, snapshots, &slug, &action, &changes, &actor, unchanged,
            )
            .map_err(|e| AppError::from(e).json(json))
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

fn back(prop: &Prop, action: &str) -> Redirect {
    Redirect::to(&format!(
        "{}/compliance/#action-{}",
        prop.base,
        path_segment(action)
    ))
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    note: String,
}

pub async fn post_status(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Form(form): Form<StatusForm>,
) -> Result<Redirect, AppError> {
    let id = action_param(&params)?;
    let status: Status = form
        .status
        .parse()
        .map_err(|e: StatusError| AppError::unprocessable(e.to_string()))?;
    let mut changes = vec![Change::Status(status)];
    if !form.note.trim().is_empty() {
        changes.push(Change::Note(form.note.trim().to_string()));
    }
    apply(
        &state,
        &prop,
        id.clone(),
        changes,
        caller.name,
        Unchanged::Skip,
        false,
    )
    .await?;
    Ok(back(&prop, &id))
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    note: String,
}

pub async fn post_note(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Form(form): Form<NoteForm>,
) -> Result<Redirect, AppError> {
    let id = action_param(&params)?;
    if form.note.trim().is_empty() {
        return Err(AppError::unprocessable("a note cannot be empty"));
    }
    apply(
        &state,
        &prop,
        id.clone(),
        vec![Change::Note(form.note.trim().to_string())],
        caller.name,
        Unchanged::Skip,
        false,
    )
    .await?;
    Ok(back(&prop, &id))
}

#[derive(Debug, Deserialize)]
pub struct AssigneeForm {
    #[serde(default)]
    assignee: String,
}

pub async fn post_assignee(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Form(form): Form<AssigneeForm>,
) -> Result<Redirect, AppError> {
    let id = action_param(&params)?;
    let assignee = Some(form.assignee.trim().to_string()).filter(|a| !a.is_empty());
    apply(
        &state,
        &prop,
        id.clone(),
        vec![Change::Assignee(assignee)],
        caller.name,
        Unchanged::Skip,
        false,
    )
    .await?;
    Ok(back(&prop, &id))
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
    #[test]
    fn action_ids_are_encoded_as_one_path_segment() {
        assert_eq!(super::path_segment("ACT-001"), "ACT-001");
        assert_eq!(super::path_segment("ACT%41"), "ACT%2541");
        assert_eq!(super::path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn times_are_shown_to_the_minute_in_utc() {
        assert_eq!(
            super::display_time("2026-11-23T01:50:39.153565505Z"),
            "2026-11-23 01:50 UTC"
        );
        assert_eq!(
            super::display_time("2026-11-23T03:50:39+02:00"),
            "2026-11-23 01:50 UTC"
        );
        assert_eq!(super::display_time("last tuesday"), "last tuesday");
    }
}
