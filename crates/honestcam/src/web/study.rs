//! `/study/`: the CAM quiz. A user picks or enters a display name (kept in a cookie),
//! answers questions, sees the score and the topics that need work. Every answer saves
//! the user's whole progress blob. `/study/admin` lists every user's progress (admins).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppError, AppState, Prop};
use crate::domain::questions::{self, Question};
use crate::domain::{UserId, quiz};
use crate::service::study::{self as store, answer, create_user};

/// Cookie holding the study user's id.
pub const USER_COOKIE: &str = "honestcam_study_user";

struct Feedback {
    correct: bool,
    answer: &'static str,
    explanation: &'static str,
}

struct ShownQuestion {
    id: &'static str,
    prompt: &'static str,
    topic: &'static str,
    choices: &'static [&'static str],
}

#[derive(Template)]
#[template(path = "study.html")]
struct Page {
    base: String,
    user: Option<String>,
    users: Vec<(String, String)>,
    answered: u32,
    correct: u32,
    percent: u32,
    total: u32,
    weak: Vec<&'static str>,
    feedback: Option<Feedback>,
    question: Option<ShownQuestion>,
}

fn cookie_user(headers: &HeaderMap) -> Option<UserId> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == USER_COOKIE)
        .and_then(|(_, v)| UserId::parse(v).ok())
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    answered: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    prop: Prop,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, AppError> {
    let slug = prop.slug.clone();
    let cookie = cookie_user(&headers);
    let (users, current) = state
        .run(move |storage, _| {
            let users = store::users(storage, &slug)?;
            let current =
                match cookie.and_then(|id| users.iter().find(|u| u.user_id == id).cloned()) {
                    Some(u) => Some((
                        u.clone(),
                        store::progress(storage, &slug, &u.user_id)?.unwrap_or_default(),
                    )),
                    None => None,
                };
            Ok((users, current))
        })
        .await?;
    let mut page = Page {
        base: prop.base,
        user: None,
        users: users
            .iter()
            .map(|u| (u.user_id.to_string(), u.name.clone()))
            .collect(),
        answered: 0,
        correct: 0,
        percent: 0,
        total: questions::QUESTIONS.len() as u32,
        weak: Vec::new(),
        feedback: None,
        question: None,
    };
    if let Some((user, blob)) = current {
        let summary = quiz::summarize(&blob).map_err(|e| AppError::unprocessable(e.to_string()))?;
        page.user = Some(user.name);
        page.answered = summary.answered;
        page.correct = summary.correct;
        page.percent = summary.percent;
        page.weak = summary.weak_topics().map(|t| t.label).collect();
        if let Some(qid) = q.answered.as_deref()
            && let (Some(question), Some(record)) = (
                questions::find(qid),
                quiz::answer_for(&blob, qid).ok().flatten(),
            )
        {
            page.feedback = Some(feedback(question, record.correct));
        }
        page.question = quiz::next_question(&blob)
            .map_err(|e| AppError::unprocessable(e.to_string()))?
            .map(|q| ShownQuestion {
                id: q.id,
                prompt: q.prompt,
                topic: q.topic.label(),
                choices: q.choices,
            });
    }
    Ok(Html(
        page.render()
            .map_err(|e| AppError::internal(e.to_string()))?,
    ))
}

fn feedback(q: &'static Question, correct: bool) -> Feedback {
    Feedback {
        correct,
        answer: q.choices.get(q.answer).copied().unwrap_or(""),
        explanation: q.explanation,
    }
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_id: String,
}

pub async fn post_name(
    State(state): State<AppState>,
    prop: Prop,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    let slug = prop.slug.clone();
    let user_id = if form.user_id.is_empty() {
        state
            .run(move |storage, _| Ok(create_user(storage, &slug, &form.name)?.user_id))
            .await?
    } else {
        let wanted =
            UserId::parse(&form.user_id).map_err(|e| AppError::unprocessable(e.to_string()))?;
        let known = state
            .run(move |storage, _| Ok(store::users(storage, &slug)?))
            .await?;
        if !known.iter().any(|u| u.user_id == wanted) {
            return Err(AppError::not_found(format!("no study user {wanted}")));
        }
        wanted
    };
    let mut response = Redirect::to(&format!("{}/study/", prop.base)).into_response();
    let secure = if state.site().https() { "; Secure" } else { "" };
    let cookie = format!(
        "{USER_COOKIE}={user_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"
    );
    let value = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal(e.to_string()))?;
    response.headers_mut().insert(SET_COOKIE, value);
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    question: String,
    choice: usize,
}

pub async fn post_answer(
    State(state): State<AppState>,
    prop: Prop,
    headers: HeaderMap,
    Form(form): Form<AnswerForm>,
) -> Result<Redirect, AppError> {
    let Some(user) = cookie_user(&headers) else {
        return Ok(Redirect::to(&format!("{}/study/", prop.base)));
    };
    let slug = prop.slug.clone();
    let question = form.question.clone();
    state
        .run(move |storage, _| Ok(answer(storage, &slug, &user, &question, form.choice)?))
        .await?;
    Ok(Redirect::to(&format!(
        "{}/study/?answered={}",
        prop.base, form.question
    )))
}

struct AdminRow {
    user_id: String,
    name: String,
    answered: u32,
    correct: u32,
    total: u32,
    percent: u32,
    weak: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    base: String,
    rows: Vec<AdminRow>,
}

/// Every user's progress: admins only (see `auth::required_role`).
pub async fn admin(State(state): State<AppState>, prop: Prop) -> Result<Html<String>, AppError> {
    let slug = prop.slug.clone();
    let rows = state
        .run(move |storage, _| {
            let users = store::users(storage, &slug)?;
            let mut rows = Vec::new();
            for u in users {
                let blob = store::progress(storage, &slug, &u.user_id)?.unwrap_or_default();
                let row = match quiz::summarize(&blob) {
                    Ok(s) => AdminRow {
                        user_id: u.user_id.to_string(),
                        name: u.name,
                        answered: s.answered,
                        correct: s.correct,
                        total: s.total,
                        percent: s.percent,
                        weak: s
                            .weak_topics()
                            .map(|t| t.label)
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                    Err(e) => AdminRow {
                        user_id: u.user_id.to_string(),
                        name: u.name,
                        answered: 0,
                        correct: 0,
                        total: 0,
                        percent: 0,
                        weak: format!("unreadable progress: {e}"),
                    },
                };
                rows.push(row);
            }
            Ok(rows)
        })
        .await?;
    let page = AdminPage {
        base: prop.base,
        rows,
    };
    Ok(Html(
        page.render()
            .map_err(|e| AppError::internal(e.to_string()))?,
    ))
}
