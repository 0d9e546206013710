//! `/study/`: the CAM quiz. Each signed-in identity has its own study user per
//! property, created on first use and named after the identity until renamed through
//! the name form; the identity comes from [`Caller`], never from a cookie. The caller
//! answers questions, sees the score and the topics that need work; every answer saves
//! their whole progress blob. `/study/admin` lists every user's progress (admins).
//! "Switch user" signs out so that someone else can sign in ([`SwitchUser`]).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::auth::{ACCESS_LOGOUT, AuthMode, Caller, SignedIn};
use super::{AppError, AppState, Prop};
use crate::domain::questions::{self, Question};
use crate::domain::quiz;
use crate::domain::text::{MAX_ACTOR_SHOWN_CHARS, MAX_DISPLAY_NAME_CHARS, shortened};
use crate::service::study::{self as store, answer, default_name, rename_own_user};

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

/// How the person at the screen becomes someone else on the study page. The study
/// user is always the signed-in identity (never a choice made in the page), so
/// switching user is signing out and in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchUser {
    /// Local accounts: sign out and back to the login form, then to the study page.
    SignOutForm,
    /// Cloudflare Access: its logout URL; the next page asks who you are.
    Link(&'static str),
    /// No sign-in: everyone is the same `local` user; nobody to switch to.
    Nobody,
}

impl SwitchUser {
    /// The way to switch under `mode`.
    pub fn under(mode: &AuthMode) -> SwitchUser {
        match mode {
            AuthMode::Local(_) => SwitchUser::SignOutForm,
            AuthMode::CloudflareAccess(_) => SwitchUser::Link(ACCESS_LOGOUT),
            AuthMode::None => SwitchUser::Nobody,
        }
    }
}

#[derive(Template)]
#[template(path = "study.html")]
struct Page {
    base: String,
    signed_in: SignedIn,
    /// Whether "switch user" is a sign-out form (local accounts).
    switch_form: bool,
    /// Where "switch user" leads otherwise (empty: nowhere).
    switch_link: &'static str,
    /// The display name: the caller's study user's, or the one it will start with.
    user: String,
    /// Whether the caller may answer and rename (an editor or admin).
    can_write: bool,
    answered: u32,
    correct: u32,
    percent: u32,
    total: u32,
    weak: Vec<&'static str>,
    feedback: Option<Feedback>,
    question: Option<ShownQuestion>,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    answered: Option<String>,
}

/// The caller's own study user and progress (nothing is created by looking).
pub async fn page(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, AppError> {
    let slug = prop.slug.clone();
    let who = caller.clone();
    let (name, blob) = state
        .run(
            move |storage, _| match store::own_user(storage, &slug, &who)? {
                Some(u) => {
                    let blob = store::progress(storage, &slug, &u.user_id)?.unwrap_or_default();
                    Ok((u.name, blob))
                }
                None => Ok((default_name(&who), Default::default())),
            },
        )
        .await?;
    let summary = quiz::summarize(&blob).map_err(|e| AppError::unprocessable(e.to_string()))?;
    let switch = SwitchUser::under(state.auth());
    let mut page = Page {
        base: prop.base,
        signed_in: SignedIn::new(&caller, state.auth()),
        switch_form: switch == SwitchUser::SignOutForm,
        switch_link: match switch {
            SwitchUser::Link(url) => url,
            SwitchUser::SignOutForm | SwitchUser::Nobody => "",
        },
        // A name stored beyond the bound (an old row) is shown cut at it.
        user: shortened(&name, MAX_DISPLAY_NAME_CHARS),
        can_write: caller.may_write(),
        answered: summary.answered,
        correct: summary.correct,
        percent: summary.percent,
        total: questions::QUESTIONS.len() as u32,
        weak: summary.weak_topics().map(|t| t.label).collect(),
        feedback: None,
        question: None,
    };
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
    Ok(Html(page.render().map_err(|e| {
        AppError::internal("cannot render the page", e)
    })?))
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
}

/// Renames the caller's own study user (creating it with that name on first use).
pub async fn post_name(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Form(form): Form<NameForm>,
) -> Result<Redirect, AppError> {
    let slug = prop.slug.clone();
    state
        .run(move |storage, _| Ok(rename_own_user(storage, &slug, &caller, &form.name)?))
        .await?;
    Ok(Redirect::to(&format!("{}/study/", prop.base)))
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    question: String,
    choice: usize,
}

/// Answers as the caller's own study user (created on first use).
pub async fn post_answer(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
    Form(form): Form<AnswerForm>,
) -> Result<Redirect, AppError> {
    let slug = prop.slug.clone();
    let question = form.question.clone();
    state
        .run(move |storage, _| {
            Ok(answer(
                storage,
                &slug,
                &caller,
                None,
                &question,
                form.choice,
            )?)
        })
        .await?;
    Ok(Redirect::to(&format!(
        "{}/study/?answered={}",
        prop.base, form.question
    )))
}

struct AdminRow {
    user_id: String,
    name: String,
    owner: String,
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
    signed_in: SignedIn,
    rows: Vec<AdminRow>,
}

/// Who a user belongs to, as the admin page shows it.
fn owner_text(owner: Option<&str>) -> String {
    owner.map_or_else(
        || "(from before sign-in; read only)".to_string(),
        |o| shortened(o, MAX_ACTOR_SHOWN_CHARS),
    )
}

/// Every user's progress: admins only (see `auth::required_role`).
pub async fn admin(
    State(state): State<AppState>,
    prop: Prop,
    Caller(caller): Caller,
) -> Result<Html<String>, AppError> {
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
                        name: shortened(&u.name, MAX_DISPLAY_NAME_CHARS),
                        owner: owner_text(u.owner.as_deref()),
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
                        name: shortened(&u.name, MAX_DISPLAY_NAME_CHARS),
                        owner: owner_text(u.owner.as_deref()),
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
        signed_in: SignedIn::new(&caller, state.auth()),
        rows,
    };
    Ok(Html(page.render().map_err(|e| {
        AppError::internal("cannot render the page", e)
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::auth::LocalAuth;
    use crate::web::auth::access::{AccessConfig, AccessVerifier};

    #[test]
    fn switching_user_is_signing_out_where_there_is_sign_in() {
        let access = AccessConfig::new("https://team.cloudflareaccess.com", "aud").unwrap();
        assert_eq!(
            SwitchUser::under(&AuthMode::CloudflareAccess(AccessVerifier::new(access))),
            SwitchUser::Link("/cdn-cgi/access/logout")
        );
        let local = LocalAuth::new(std::time::Duration::from_secs(60));
        assert_eq!(
            SwitchUser::under(&AuthMode::Local(local)),
            SwitchUser::SignOutForm
        );
        assert_eq!(SwitchUser::under(&AuthMode::None), SwitchUser::Nobody);
    }
}
