//! The portal against a real server on a loopback port, plus in-process checks.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use honestcam::storage::Storage;
use honestcam::web::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{App, Fixture, SLUG, client, event_rows, migrated};

async fn text(app: &App, path: &str) -> (u16, String) {
    let r = client().get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post_form(app: &App, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The status shown for an action on the compliance page.
fn shown_status(page: &str, action: &str) -> String {
    let card = &page[page.find(&format!("id=\"action-{action}\"")).unwrap()..];
    let at = card.find("data-status=\"").unwrap() + "data-status=\"".len();
    card[at..at + card[at..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn health_compliance_page_filters_and_property_routes() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    assert_eq!(text(&app, "/healthz").await, (200, "ok".into()));
    let (status, page) = text(&app, "/compliance/").await;
    assert_eq!(status, 200);
    assert!(page.contains("Bamboo House") && page.contains("ACT-001") && page.contains("ACT-008"));
    let (_, per_property) = text(&app, &format!("/p/{SLUG}/compliance/")).await;
    assert!(per_property.contains(&format!("action=\"/p/{SLUG}/compliance/actions/ACT-001\"")));
    let (status, filtered) = text(&app, "/compliance/?status=waived").await;
    assert_eq!(status, 200);
    let shown: Vec<_> = filtered
        .match_indices("data-status=\"")
        .map(|(i, _)| &filtered[i + 13..i + 19])
        .collect();
    assert!(shown.iter().all(|s| *s == "waived"), "{shown:?}");
    assert_eq!(text(&app, "/compliance/?status=finished").await.0, 422);
    assert_eq!(text(&app, "/p/no-such-place/compliance/").await.0, 404);
    assert_eq!(text(&app, "/p/..%2Fetc/compliance/").await.0, 404);
    assert_eq!(
        text(&app, "/").await.0,
        200,
        "the home page lists properties"
    );
}

#[tokio::test]
async fn a_status_post_lands_one_row_and_survives_a_restart() {
    let f = migrated();
    let before = event_rows(&f);
    let app = f.spawn_app(&[], &[]);
    let r = post_form(
        &app,
        "/compliance/actions/ACT-003",
        &[("status", "blocked"), ("note", "")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/compliance/#action-ACT-003");
    assert_eq!(event_rows(&f), before + 1, "exactly one row appended");
    let (_, page) = text(&app, "/compliance/").await;
    assert_eq!(shown_status(&page, "ACT-003"), "blocked");
    assert!(app.stop(), "SIGTERM exits 0");

    let app = f.spawn_app(&[], &[]);
    let (_, page) = text(&app, "/compliance/").await;
    assert_eq!(
        shown_status(&page, "ACT-003"),
        "blocked",
        "state survives a restart"
    );
}

#[tokio::test]
async fn edits_of_one_or_two_fields_record_only_those() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let before = event_rows(&f);
    assert_eq!(
        post_form(
            &app,
            "/compliance/actions/ACT-002",
            &[("status", "done"), ("note", "batteries swapped")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        post_form(
            &app,
            "/compliance/actions/ACT-002",
            &[("note", "receipt filed")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        post_form(
            &app,
            "/compliance/actions/ACT-002",
            &[("assignee", "Robin")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(event_rows(&f), before + 4);
    let (_, page) = text(&app, "/compliance/").await;
    let card = &page[page.find("id=\"action-ACT-002\"").unwrap()..];
    let card = &card[..card.find("</section>").unwrap()];
    assert!(
        card.contains("batteries swapped")
            && card.contains("receipt filed")
            && card.contains("assigned to Robin"),
        "{card}"
    );
}

#[tokio::test]
async fn unknown_action_is_404_invalid_status_is_422_and_nothing_lands() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let before = event_rows(&f);
    let r = post_form(&app, "/compliance/actions/ACT-404", &[("status", "done")]).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("ACT-404"));
    let r = post_form(
        &app,
        "/compliance/actions/ACT-001",
        &[("status", "finished")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("invalid status"));
    let r = post_form(
        &app,
        "/compliance/actions/ACT-001",
        &[("note", "valid"), ("due", "next week")],
    )
    .await;
    assert_eq!(r.status(), 422, "a bad date refuses the whole form");
    assert!(r.text().await.unwrap().contains("invalid due date"));
    assert_eq!(
        post_form(&app, "/compliance/actions/ACT-001", &[("note", "  ")])
            .await
            .status(),
        303,
        "a blank note is no note"
    );
    assert_eq!(event_rows(&f), before);
}

#[tokio::test]
async fn html_is_escaped_in_notes_and_display_names() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    post_form(
        &app,
        "/compliance/actions/ACT-001",
        &[("note", "<script>alert('note')</script>")],
    )
    .await;
    let (_, page) = text(&app, "/compliance/").await;
    assert!(
        !page.contains("<script>alert"),
        "raw script in compliance page"
    );
    assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"));

    let r = post_form(
        &app,
        "/study/name",
        &[("name", "<script>alert('name')</script>")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = text(&app, "/study/").await;
    assert!(
        page.contains("id=\"study-user\">&#60;script")
            || page.contains("id=\"study-user\">&lt;script"),
        "the caller's new name is shown, escaped"
    );
    assert!(!page.contains("<script>alert"), "raw script in study page");
    let (_, admin) = text(&app, "/study/admin").await;
    assert!(!admin.contains("<script>alert"), "raw script in admin page");
    assert!(admin.contains("script&#62;") || admin.contains("script&gt;"));
}

#[tokio::test]
async fn quiz_flow_saves_progress_and_shows_the_score() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let before = honestcam::service::study::users(&f.storage(), &f.slug()).unwrap();
    let (status, page) = text(&app, "/study/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Studying as <strong id=\"study-user\">local</strong>"),
        "the caller studies as itself"
    );
    assert!(
        !page.contains("Dana Ortiz"),
        "other users are not offered to pick"
    );
    assert_eq!(
        honestcam::service::study::users(&f.storage(), &f.slug()).unwrap(),
        before,
        "looking creates nothing"
    );
    let r = post_form(&app, "/study/name", &[("name", "Quinn")]).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers().get("set-cookie").is_none(), "no study cookie");
    let (_, page) = text(&app, "/study/").await;
    assert!(page.contains("Studying as <strong id=\"study-user\">Quinn</strong>"));
    let first = &honestcam::domain::questions::QUESTIONS[0];
    assert!(page.contains(first.prompt));
    let r = post_form(
        &app,
        "/study/answer",
        &[
            ("question", first.id),
            ("choice", &first.answer.to_string()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = text(&app, r.headers()["location"].to_str().unwrap()).await;
    assert!(page.contains("Right!"), "feedback shown");
    assert!(page.contains("Score: 1 of 1 right (100%)"), "score shown");
    // Renaming kept the one user: the API returns it, with the answer saved.
    let r = client()
        .post(app.url(&format!("/api/p/{SLUG}/study/users")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "it exists already");
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["user"]["name"], "Quinn");
    assert_eq!(user["user"]["owner"], "local");
    let user_id = user["user"]["user_id"].as_str().unwrap();
    let blob: Value = client()
        .get(app.url(&format!("/api/p/{SLUG}/study/progress/{user_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(blob["quiz"]["answers"][first.id]["correct"], true);
    assert_eq!(
        honestcam::service::study::users(&f.storage(), &f.slug())
            .unwrap()
            .len(),
        before.len() + 1
    );
}

#[tokio::test]
async fn the_admin_page_is_for_admins() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let (status, page) = text(&app, "/study/admin").await;
    assert_eq!(
        status, 200,
        "without authentication everyone is the local admin"
    );
    assert!(page.contains("Dana Ortiz") && page.contains('%'));
    for (role, code) in [("viewer", 403), ("editor", 403), ("admin", 200)] {
        let token = crate::auth::token(&f, role);
        let answer = client()
            .get(app.url("/study/admin"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), code, "{role}");
    }
}

#[tokio::test]
async fn json_api_covers_what_the_pages_do() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let c = client();
    let props: Value = c
        .get(app.url("/api/properties"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        props,
        json!([{"slug": SLUG, "name": "Bamboo House", "backend": "sqlite"}])
    );

    let url = app.url(&format!("/api/p/{SLUG}/actions/ACT-005/events"));
    let r = c
        .post(&url)
        .json(&json!({"type": "status_changed", "payload": {"status": "done"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["event"]["actor"], "local", "the caller is the actor");
    for (body, code) in [
        (
            json!({"type": "status_changed", "payload": {"status": "nope"}}),
            422,
        ),
        (json!({"type": "teleported", "payload": {}}), 422),
        (json!({"type": "note_added", "payload": {}}), 422),
        (
            json!({"type": "note_added", "payload": {"note": "x"}, "actor": "someone else"}),
            422,
        ),
    ] {
        let r = c.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), code, "{body}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    let r = c
        .post(app.url(&format!("/api/p/{SLUG}/actions/NOPE/events")))
        .json(&json!({"type": "note_added", "payload": {"note": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("NOPE")
    );

    let done: Value = c
        .get(app.url(&format!("/api/p/{SLUG}/actions?status=done")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        done["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "ACT-005")
    );
    assert_eq!(
        c.get(app.url(&format!("/api/p/{SLUG}/actions?status=bad")))
            .send()
            .await
            .unwrap()
            .status(),
        422
    );

    let r = c
        .post(app.url(&format!("/api/p/{SLUG}/study/users")))
        .json(&json!({"name": "Api User"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    let uid = user["user"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(user["user"]["name"], "Api User");
    let again = c
        .post(app.url(&format!("/api/p/{SLUG}/study/users")))
        .json(&json!({"name": "Another"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "one user per identity");
    assert_eq!(again.json::<Value>().await.unwrap(), user);
    let progress_url = app.url(&format!("/api/p/{SLUG}/study/progress/{uid}"));
    assert_eq!(c.get(&progress_url).send().await.unwrap().status(), 404);
    assert_eq!(
        c.put(&progress_url)
            .json(&json!({"level": 2}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.put(&progress_url)
            .json(&json!({"level": 3}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get(&progress_url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!({"level": 3})
    );
    assert_eq!(
        c.put(&progress_url)
            .json(&json!([1, 2]))
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let q = &honestcam::domain::questions::QUESTIONS[1];
    let r: Value = c
        .post(app.url(&format!("/api/p/{SLUG}/study/answers")))
        .json(&json!({"user_id": uid, "question": q.id, "choice": q.answer}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["answer"]["correct"], true);
    assert_eq!(r["summary"]["answered"], 1);
    let users: Value = c
        .get(app.url(&format!("/api/p/{SLUG}/study/users")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 4);
    assert_eq!(
        c.get(app.url(&format!("/api/p/{SLUG}/study/admin")))
            .bearer_auth(crate::auth::token(&f, "editor"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        c.get(app.url(&format!("/api/p/{SLUG}/study/admin")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(app.url("/api/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn rollback_drill_with_the_server_restarted_on_json() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    post_form(
        &app,
        "/compliance/actions/ACT-004",
        &[("status", "in_progress"), ("note", "crew booked")],
    )
    .await;
    let (_, on_sqlite) = text(&app, "/compliance/").await;
    assert!(app.stop());

    f.plan(&["db-rollback", SLUG, "--execute"]);
    assert!(!f.prop().join("honestcam.db").exists());

    let app = f.spawn_app(&[], &[]);
    let props: Value = client()
        .get(app.url("/api/properties"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(props[0]["backend"], "json");
    let (_, on_json) = text(&app, "/compliance/").await;
    assert_eq!(on_json, on_sqlite, "same state after the rollback");
    assert_eq!(
        post_form(&app, "/compliance/actions/ACT-004", &[("status", "done")])
            .await
            .status(),
        303
    );
    let (_, page) = text(&app, "/compliance/").await;
    assert_eq!(
        shown_status(&page, "ACT-004"),
        "done",
        "writes accepted on JSON"
    );
    let log: Value =
        serde_json::from_slice(&std::fs::read(f.prop().join("compliance-log.json")).unwrap())
            .unwrap();
    assert_eq!(
        log["events"].as_array().unwrap().last().unwrap()["payload"]["status"],
        "done"
    );
}

#[tokio::test]
async fn readers_are_not_blocked_by_an_open_write_transaction() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let mut conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at) VALUES ('held', 'ACT-001', 'note_added', '{\"note\":\"uncommitted\"}', 't', 't')",
        [],
    )
    .unwrap();
    // The client times out after 10 s, so a blocked reader fails here.
    let (status, page) = text(&app, "/compliance/").await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("uncommitted"),
        "readers see only committed state"
    );
    tx.rollback().unwrap();
}

#[tokio::test]
async fn demo_mode_creates_a_working_portal_on_an_empty_data_dir() {
    let f = Fixture {
        tmp: tempfile::tempdir().unwrap(),
    };
    let app = f.spawn_app(&["--demo"], &[]);
    let (status, page) = text(&app, "/compliance/").await;
    assert_eq!(status, 200);
    assert!(page.contains("Demo Plaza"));
    assert!(
        f.dir().join("demo-plaza/honestcam.db").is_file(),
        "demo property migrated to SQLite"
    );
    assert_eq!(text(&app, "/study/").await.0, 200);
}

fn in_process() -> (Fixture, axum::Router) {
    let f = migrated();
    let storage = Storage::open(f.data(), statekit::sqlite::OpenOptions::default()).unwrap();
    let site = honestcam::web::Site::new(None, "127.0.0.1:8080".parse().unwrap()).unwrap();
    let app = router(AppState::new(
        storage,
        Some(f.slug()),
        site,
        honestcam::web::AuthMode::None,
        jiff::tz::TimeZone::UTC,
    ));
    (f, app)
}

/// A GET as a browser on the portal's address sends it.
fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn in_process_routes_answer_without_a_listener() {
    let (_f, app) = in_process();
    let r = app.clone().oneshot(get("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .clone()
        .oneshot(get("/api/p/bamboo-house/actions"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["actions"].as_array().unwrap().len(), 8);
    let r = app.oneshot(get("/nowhere")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
