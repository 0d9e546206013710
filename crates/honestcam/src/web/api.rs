//! The JSON API: everything the pages do, for scripts and other front ends. Errors are
//! `{"error": "..."}` with the matching status code.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/api/properties` | slug, name and backend of every property |
//! | GET | `/api/p/{slug}/actions[?status=]` | actions with their current state |
//! | GET | `/api/p/{slug}/actions?as_of=[&status=]` | actions as they stood at the end of a day (`YYYY-MM-DD`, in the portal's zone) or at an RFC 3339 instant, with `"as_of"` saying when (see `service::as_of`) |
//! | GET | `/api/p/{slug}/search?q=[&limit=&offset=]` | ranked hits of a full-text search of titles, notes and assignees: `{"hits", "next_offset"}` (see `service::search`); 409 for a property still on the legacy JSON files |
//! | GET | `/api/p/{slug}/actions.csv[?q=&status=]` | the same as CSV (see `web::export`) |
//! | GET | `/api/p/{slug}/events` | the whole event log, oldest first (streamed) |
//! | GET | `/api/p/{slug}/events?after=&limit=` | one page of it: `{"property", "events", "next", "last"}` (see `web::export::Paging`) |
//! | GET | `/api/p/{slug}/events.csv` | the whole log as CSV (streamed) |
//! | POST | `/api/p/{slug}/actions/{id}/events` | `{"type", "payload"}`: append an event (201) |
//! | GET | `/api/p/{slug}/study/users` | the caller's study user (every user for an admin) |
//! | POST | `/api/p/{slug}/study/users` | `{"name"?}`: the caller's study user, created (201) or as it was (200) |
//! | GET/PUT | `/api/p/{slug}/study/progress/{user_id}` | a user's whole progress blob: the owner reads and writes, an admin reads |
//! | POST | `/api/p/{slug}/study/answers` | `{"user_id"?, "question", "choice"}`: record an answer as the caller's own user |
//! | GET | `/api/p/{slug}/study/admin` | every user's summary (admins) |
//!
//! Every route needs an identity (see `web::auth`): `Authorization: Bearer <token>`
//! works in every mode. Reads need a viewer, changes an editor. The actor of a change
//! is the caller; a body that names an `actor` is refused. A study user belongs to the
//! identity that created it: anyone else gets 403 for it (an admin may read it), and
//! 404 for a user that does not exist is told only to admins.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::compliance::{
    Notes, action_param, actions, apply, parse_as_of, parse_filter, past_state, shown,
};
use super::{AppError, AppState, Prop, export};
use crate::domain::{Change, PayloadError, UserId, quiz};
use crate::service::compliance::Unchanged;
use crate::service::search::{self as full_text, MAX_LIMIT, MAX_OFFSET, Page};
use crate::service::study::{
    self as store, answer, own_user_or_create, progress_for, save_progress_for, visible_users,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/properties", get(properties))
        .route("/p/{slug}/actions", get(list_actions))
        .route("/p/{slug}/search", get(search))
        .route("/p/{slug}/actions.csv", get(export::actions_download))
        .route("/p/{slug}/events", get(export::events_json))
        .route("/p/{slug}/events.csv", get(export::events_download))
        .route("/p/{slug}/actions/{id}/events", post(post_event))
        .route("/p/{slug}/study/users", get(list_users).post(post_user))
        .route(
            "/p/{slug}/study/progress/{user_id}",
            get(get_progress).put(put_progress),
        )
        .route("/p/{slug}/study/answers", post(post_answer))
        .route("/p/{slug}/study/admin", get(admin))
        .fallback(|| async { AppError::not_found("no such API route") })
}

async fn properties(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state
        .run(|storage, _| {
            let slugs = storage
                .data()
                .properties()
                .map_err(|e| AppError::internal("cannot list the properties", e))?;
            let mut out = Vec::new();
            for slug in slugs {
                let paths = storage.data().property(&slug);
                let name = storage
                    .baseline(&paths)
                    .map(|b| b.property.name.clone())
                    .unwrap_or_default();
                out.push(json!({"slug": slug, "name": name, "backend": storage.backend(&paths)}));
            }
            Ok(Json(Value::Array(out)))
        })
        .await
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
}

async fn list_actions(
    State(state): State<AppState>,
    prop: Prop,
    Query(q): Query<StatusQuery>,
) -> Result<Json<Value>, AppError> {
    let filter = parse_filter(q.status.as_deref())?;
    if let Some(as_of) = parse_as_of(q.as_of.as_deref())? {
        let past = past_state(&state, &prop, as_of).await?;
        let shown: Vec<_> = past.actions.iter().filter(|a| shown(a, filter)).collect();
        return Ok(Json(json!({
            "property": prop.slug,
            "name": past.property_name,
            "as_of": {
                "at": past.at,
                "day": past.day,
                "time_zone": past.time_zone,
                "position": past.position,
                "events": past.events,
                "undated": past.undated,
            },
            "actions": shown,
        })));
    }
    let (name, actions) = actions(&state, &prop, Notes::All).await?;
    let shown: Vec<_> = actions.iter().filter(|a| shown(a, filter)).collect();
    Ok(Json(
        json!({"property": prop.slug, "name": name, "actions": shown}),
    ))
}

/// `?q=&limit=&offset=` of the search API, each checked with a message naming it.
fn search_query(raw: Option<&str>) -> Result<(String, Page), AppError> {
    let (mut q, mut page) = (None, Page::default());
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*key {
            "q" => q = Some(value.into_owned()),
            "limit" => {
                page.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        AppError::unprocessable(format!(
                            "bad limit={value:?}: a number of hits from 1 to {MAX_LIMIT}"
                        ))
                    })?;
            }
            "offset" => {
                page.offset = value
                    .parse::<usize>()
                    .ok()
                    .filter(|o| *o <= MAX_OFFSET)
                    .ok_or_else(|| {
                        AppError::unprocessable(format!(
                            "bad offset={value:?}: a number of hits to skip from 0 to {MAX_OFFSET} (the \"next_offset\" of an earlier answer)"
                        ))
                    })?;
            }
            other => {
                return Err(AppError::bad_request(format!(
                    "unknown parameter {other:?}: the search API takes \"q\", \"limit\" and \"offset\""
                )));
            }
        }
    }
    match q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()) {
        Some(q) => Ok((q, page)),
        None => Err(AppError::unprocessable(
            "no search given: q= the words to look for",
        )),
    }
}

/// Ranked hits of a full-text search of the property's titles, notes and assignees.
async fn search(
    State(state): State<AppState>,
    prop: Prop,
    RawQuery(raw): RawQuery,
) -> Result<Json<full_text::SearchPage>, AppError> {
    let (q, page) = search_query(raw.as_deref())?;
    let slug = prop.slug.clone();
    let found = state
        .run(move |storage, _| Ok(full_text::search(storage, &slug, &q, page)?))
        .await?;
    Ok(Json(found))
}

#[derive(Debug, Deserialize)]
struct EventBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    /// Refused when present: the actor is who is asking.
    #[serde(default)]
    actor: Option<Value>,
}

async fn post_event(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Json(body): Json<EventBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = action_param(&params)?;
    if body.actor.is_some() {
        return Err(AppError::unprocessable(
            "\"actor\" is not accepted: a change is recorded as made by whoever is signed in",
        ));
    }
    let change = match Change::from_event(&body.kind, &body.payload) {
        Ok(Some(change)) => change,
        Ok(None) => {
            return Err(AppError::unprocessable(format!(
                "unknown event type {:?}: expected one of {}",
                body.kind,
                Change::KINDS.join(", ")
            )));
        }
        Err(e @ PayloadError::Field { .. }) | Err(e) => {
            return Err(AppError::unprocessable(e.to_string()));
        }
    };
    let events = apply(
        &state,
        &prop,
        id,
        vec![change],
        caller.name,
        Unchanged::Record,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"event": events.first()}))))
}

/// The caller's own study user, or every user for an admin.
async fn list_users(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
) -> Result<Json<Value>, AppError> {
    let slug = prop.slug.clone();
    let users = state
        .run(move |storage, _| Ok(visible_users(storage, &slug, &caller)?))
        .await?;
    Ok(Json(json!({"users": users})))
}

#[derive(Debug, Deserialize)]
struct NewUser {
    /// The display name of a new user (the identity's name if absent); an existing
    /// user keeps theirs.
    #[serde(default)]
    name: Option<String>,
}

/// The caller's own study user: 201 if created now, 200 if it was there.
async fn post_user(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let slug = prop.slug.clone();
    let (user, created) = state
        .run(move |storage, _| {
            Ok(own_user_or_create(
                storage,
                &slug,
                &caller,
                body.name.as_deref(),
            )?)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"user": user}))))
}

fn user_param(params: &[(String, String)]) -> Result<UserId, AppError> {
    let raw = params
        .iter()
        .find(|(k, _)| k == "user_id")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    UserId::parse(raw).map_err(|e| AppError::unprocessable(e.to_string()))
}

/// A user's progress: the owner's own, or anyone's for an admin.
async fn get_progress(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Json<Value>, AppError> {
    let user = user_param(&params)?;
    let slug = prop.slug.clone();
    let blob = state
        .run(move |storage, _| Ok(progress_for(storage, &slug, &caller, &user)?))
        .await?;
    Ok(Json(Value::Object(blob)))
}

/// Replaces the whole progress of the caller's own user.
async fn put_progress(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Path(params): Path<Vec<(String, String)>>,
    Json(body): Json<Value>,
) -> Result<StatusCode, AppError> {
    let user = user_param(&params)?;
    let Value::Object(blob) = body else {
        return Err(AppError::unprocessable("progress must be a JSON object"));
    };
    let slug = prop.slug.clone();
    state
        .run(move |storage, _| Ok(save_progress_for(storage, &slug, &caller, &user, &blob)?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct AnswerBody {
    /// Must be the caller's own user if given; absent: the caller's own (created on
    /// first use).
    #[serde(default)]
    user_id: Option<String>,
    question: String,
    choice: usize,
}

/// Records an answer as the caller's own user.
async fn post_answer(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Json(body): Json<AnswerBody>,
) -> Result<Json<Value>, AppError> {
    let user = body
        .user_id
        .as_deref()
        .map(UserId::parse)
        .transpose()
        .map_err(|e| AppError::unprocessable(e.to_string()))?;
    let slug = prop.slug.clone();
    let (record, summary) = state
        .run(move |storage, _| {
            Ok(answer(
                storage,
                &slug,
                &caller,
                user.as_ref(),
                &body.question,
                body.choice,
            )?)
        })
        .await?;
    Ok(Json(json!({"answer": record, "summary": summary})))
}

/// Every user's summary: admins only (see `auth::required_role`).
async fn admin(State(state): State<AppState>, prop: Prop) -> Result<Json<Value>, AppError> {
    let slug = prop.slug.clone();
    state
        .run(move |storage, _| {
            let mut out = Vec::new();
            for u in store::users(storage, &slug)? {
                let blob = store::progress(storage, &slug, &u.user_id)?.unwrap_or_default();
                let summary = quiz::summarize(&blob).ok();
                out.push(json!({"user": u, "summary": summary}));
            }
            Ok(Json(json!({"users": out})))
        })
        .await
}
