//! Every free-text field has a bound: a new value beyond it is refused with a 422
//! naming the field and the bound, by the forms and the API alike; a value already
//! stored beyond it (a legacy event, an old row) stays verbatim in the log and is
//! shown cut at the bound wherever it is rendered.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use honestcam::domain::text::{MAX_ASSIGNEE_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_NOTE_CHARS};
use honestcam::domain::{Event, StudyUser, UserId};
use honestcam::service::compliance::{load_events, save_events};
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::pages::{app, get};
use crate::support::{Fixture, SLUG, event_rows, migrated};

/// Sends `request` (from the portal's own pages); the status and the body.
async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let r = app.clone().oneshot(request).await.unwrap();
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 26).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn form(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn json_post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The refusal of a value of `len` characters for the field `what` bounded by `max`.
fn refusal(what: &str, max: usize, len: usize) -> String {
    format!("{what} can have at most {max} characters, this one has {len}")
}

#[tokio::test]
async fn a_long_assignee_is_refused_by_the_form_and_the_api_and_exactly_the_bound_is_accepted() {
    let f = migrated();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let rows = event_rows(&f);
    let long = "x".repeat(5_000);
    let expected = refusal("an assignee", MAX_ASSIGNEE_CHARS, 5_000);
    assert_eq!(
        expected,
        "an assignee can have at most 200 characters, this one has 5000"
    );

    let (code, page) = send(
        &app,
        form("/compliance/actions/ACT-001", &[("assignee", &long)]),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(&expected), "{page}");
    let (code, body) = send(
        &app,
        json_post(
            &format!("/api/p/{SLUG}/actions/ACT-001/events"),
            &json!({"type": "assignee_changed", "payload": {"assignee": long}}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], expected.as_str());
    // An edit that also changes the status is refused whole.
    let (code, _) = send(
        &app,
        form(
            "/compliance/actions/ACT-001",
            &[("status", "done"), ("assignee", &long)],
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(event_rows(&f), rows, "nothing recorded");

    // Exactly the bound (in characters, not bytes) is accepted, by both.
    let exactly = "é".repeat(MAX_ASSIGNEE_CHARS);
    let (code, _) = send(
        &app,
        form("/compliance/actions/ACT-001", &[("assignee", &exactly)]),
    )
    .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let other = "ü".repeat(MAX_ASSIGNEE_CHARS);
    let (code, _) = send(
        &app,
        json_post(
            &format!("/api/p/{SLUG}/actions/ACT-002/events"),
            &json!({"type": "assignee_changed", "payload": {"assignee": other}}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(event_rows(&f), rows + 2);
    let events = load_events(&f.storage(), &f.slug()).unwrap();
    let assigned: Vec<&Value> = events
        .iter()
        .rev()
        .take(2)
        .map(|e| &e.payload["assignee"])
        .collect();
    assert_eq!(assigned, [&json!(other), &json!(exactly)]);

    // The form says the same bounds as the domain.
    let (_, page) = get(&app, "/compliance/").await;
    assert!(page.contains(&format!(
        r#"maxlength="{MAX_ASSIGNEE_CHARS}" aria-label="assignee"#
    )));
    assert!(page.contains(&format!(r#"maxlength="{MAX_NOTE_CHARS}" aria-label="note"#)));
}

#[tokio::test]
async fn a_long_study_name_is_refused_by_the_form_and_the_api_and_exactly_the_bound_is_accepted() {
    let f = migrated();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let long = "n".repeat(5_000);
    let expected = refusal("a display name", MAX_DISPLAY_NAME_CHARS, 5_000);
    assert_eq!(
        expected,
        "a display name can have at most 80 characters, this one has 5000"
    );
    // The users created through the portal (the demo's legacy users have no owner).
    let users = |f: &Fixture| {
        let all = honestcam::service::study::users(&f.storage(), &f.slug()).unwrap();
        all.into_iter()
            .filter(|u| u.owner.is_some())
            .collect::<Vec<_>>()
    };

    let (code, page) = send(&app, form("/study/name", &[("name", &long)])).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(&expected), "{page}");
    let api_users = format!("/api/p/{SLUG}/study/users");
    let (code, body) = send(&app, json_post(&api_users, &json!({"name": long}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], expected.as_str());
    assert_eq!(users(&f), [], "nobody created");

    // Exactly the bound is accepted.
    let exactly = "ß".repeat(MAX_DISPLAY_NAME_CHARS);
    let (code, body) = send(&app, json_post(&api_users, &json!({"name": exactly}))).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(users(&f)[0].name, exactly);
    let renamed = "r".repeat(MAX_DISPLAY_NAME_CHARS);
    let (code, _) = send(&app, form("/study/name", &[("name", &renamed)])).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert_eq!(users(&f)[0].name, renamed);

    // A user who has one is refused a bad name too, and keeps theirs.
    let (code, _) = send(&app, json_post(&api_users, &json!({"name": long}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = send(&app, form("/study/name", &[("name", &long)])).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(users(&f)[0].name, renamed);

    let (_, page) = get(&app, "/study/").await;
    assert!(page.contains(&format!(
        r#"maxlength="{MAX_DISPLAY_NAME_CHARS}" aria-label="display name""#
    )));
}

/// How long the stored values beyond their bounds are.
const HUGE: usize = 100_000;

/// A legacy event of `action`, by `actor`.
fn event(n: usize, action: &str, kind: &str, payload: Value, actor: &str) -> Event {
    Event {
        event_id: format!("legacy-long-{n}"),
        action_id: action.into(),
        kind: kind.into(),
        payload,
        actor: actor.into(),
        at: "2026-04-01T10:00:00Z".into(),
        extra: Default::default(),
    }
}

/// Twenty over-long assignees, over-long notes and an over-long actor on ACT-001.
fn long_events() -> Vec<Event> {
    let mut events = Vec::new();
    for n in 0..20 {
        let assignee = format!("{}{n:02}", char::from(b'a' + n as u8)).repeat(HUGE / 3);
        events.push(event(
            n,
            "ACT-001",
            "assignee_changed",
            json!({ "assignee": assignee }),
            "kim",
        ));
    }
    events.push(event(
        20,
        "ACT-001",
        "note_added",
        json!({ "note": "N".repeat(HUGE) }),
        &"A".repeat(HUGE),
    ));
    events
}

/// What the portal shows for a value stored beyond `max`: `max - 1` of its
/// characters and an ellipsis.
fn cut(text: &str, max: usize) -> String {
    let mut shown: String = text.chars().take(max - 1).collect();
    shown.push('…');
    shown
}

/// The pages, the actions' exports and the history show the long values cut, and
/// stay small; the event log's export keeps them whole.
async fn assert_shown_shortened(f: &Fixture) {
    let app = app(f, Some(SLUG), TimeZone::UTC);
    let events = long_events();
    let last_assignee = events[19].payload["assignee"].as_str().unwrap().to_string();
    let shown_assignee = cut(&last_assignee, MAX_ASSIGNEE_CHARS);
    let shown_note = cut(&"N".repeat(HUGE), MAX_NOTE_CHARS);
    let beyond = |max: usize, text: &str| text.chars().take(max + 1).collect::<String>();

    for path in ["/compliance/", "/compliance/actions/ACT-001"] {
        let (code, page) = get(&app, path).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        assert!(page.len() < 120_000, "{path} is {} bytes", page.len());
        assert!(page.contains(&shown_assignee), "{path}: assignee not cut");
        assert!(!page.contains(&beyond(MAX_ASSIGNEE_CHARS, &last_assignee)));
        assert!(page.contains(&shown_note), "{path}: note not cut");
        assert!(!page.contains(&"N".repeat(MAX_NOTE_CHARS)));
        assert!(!page.contains(&"A".repeat(300)), "{path}: actor not cut");
    }
    // Every earlier assignee of the history is cut too.
    let (_, history) = get(&app, "/compliance/actions/ACT-001").await;
    for e in &events[..19] {
        let a = e.payload["assignee"].as_str().unwrap();
        assert!(history.contains(&cut(a, MAX_ASSIGNEE_CHARS)));
    }

    for path in [
        "/compliance/export.csv",
        &format!("/api/p/{SLUG}/actions.csv"),
    ] {
        let (code, csv) = get(&app, path).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        assert!(csv.len() < 30_000, "{path} is {} bytes", csv.len());
        assert!(
            csv.contains(&shown_assignee) && csv.contains(&shown_note),
            "{path}"
        );
    }
    // The log is the log: verbatim.
    let whole = Request::get("/compliance/events.csv")
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (code, log) = send(&app, whole).await;
    assert_eq!(code, StatusCode::OK);
    assert!(log.contains(&last_assignee) && log.contains(&"N".repeat(HUGE)));
    let stored = load_events(&f.storage(), &f.slug()).unwrap();
    for e in &events {
        assert!(stored.contains(e), "{} not kept verbatim", e.event_id);
    }
}

#[tokio::test]
async fn long_values_in_the_legacy_log_are_kept_verbatim_and_shown_shortened_before_and_after_migrating()
 {
    let f = Fixture::new();
    let paths = f.data().property(&f.slug());
    let mut log = honestcam::storage::legacy::read_events(&paths).unwrap();
    log.extend(long_events());
    honestcam::storage::legacy::write_log(&paths, &log).unwrap();
    assert_shown_shortened(&f).await;
    f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_shown_shortened(&f).await;
}

#[tokio::test]
async fn long_values_stored_directly_on_sqlite_are_shown_shortened() {
    let f = migrated();
    save_events(&f.storage(), &f.slug(), &long_events()).unwrap();
    assert_shown_shortened(&f).await;
}

#[tokio::test]
async fn a_long_study_name_already_stored_is_shown_shortened() {
    let f = migrated();
    let long = "L".repeat(HUGE);
    let user = StudyUser {
        user_id: UserId::parse("old-user").unwrap(),
        name: long.clone(),
        created_at: "2026-01-01T00:00:00Z".into(),
        owner: None,
    };
    honestcam::service::study::upsert_user(&f.storage(), &f.slug(), &user).unwrap();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let (code, page) = get(&app, "/study/admin").await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.len() < 20_000, "{} bytes", page.len());
    assert!(page.contains(&cut(&long, MAX_DISPLAY_NAME_CHARS)));
    let stored = honestcam::service::study::users(&f.storage(), &f.slug()).unwrap();
    assert_eq!(stored[0].name, long, "kept verbatim");
}

#[tokio::test]
async fn a_search_beyond_its_bound_is_refused_and_not_repeated_in_every_form() {
    use honestcam::domain::text::MAX_SEARCH_CHARS;
    let f = migrated();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let long = "q".repeat(5_000);
    let expected = refusal("a search", MAX_SEARCH_CHARS, 5_000);
    let query = |q: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", q)
            .finish()
    };
    for path in ["/compliance/", "/compliance/export.csv"] {
        let (code, page) = get(&app, &format!("{path}?{}", query(&long))).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(page.contains(&expected), "{path}: {page}");
    }
    let (code, body) = get(&app, &format!("/api/p/{SLUG}/actions.csv?{}", query(&long))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], expected.as_str());
    // Exactly the bound is a search (that finds nothing here).
    let exactly = "q".repeat(MAX_SEARCH_CHARS);
    let (code, page) = get(&app, &format!("/compliance/?{}", query(&exactly))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains(&format!(r#"value="{exactly}""#)));
    assert!(page.contains(&format!(
        r#"maxlength="{MAX_SEARCH_CHARS}" aria-label="search actions""#
    )));
    // An edit coming back to a search beyond the bound comes back without it.
    let (code, location) = crate::pages::post(
        &app,
        "/compliance/actions/ACT-001",
        &[("note", "checked"), ("back_q", &long)],
    )
    .await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    assert!(!location.contains("qqq"), "{location}");
    assert!(location.starts_with("/compliance/"), "{location}");
}
