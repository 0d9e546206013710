//! The original portal's status route, `POST /compliance/actions/{id}/status` with
//! `status=...`, and its smoke test: one event lands, it shows on the action's page
//! and through the API, and it survives a restart of the real binary; with the same
//! guard, roles and refusals as the edit form.

use reqwest::StatusCode;
use serde_json::Value;

use crate::guard::bare;
use crate::support::{App, Fixture, SLUG, client, event_rows, get_json, migrated};

/// A form's fields.
type Form<'a> = &'a [(&'a str, &'a str)];

async fn post_status(app: &App, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn text(app: &App, path: &str) -> (StatusCode, String) {
    let r = client().get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The last event of the log, through the paged API.
async fn last_event(app: &App, f: &Fixture) -> Value {
    let after = (event_rows(f) - 1).to_string();
    let page: Value = get_json(app.url(&format!("/api/p/{SLUG}/events?after={after}"))).await;
    assert_eq!(page["next"], Value::Null, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    events[0].clone()
}

/// ACT-001's status through the API.
async fn api_status(app: &App, action: &str) -> String {
    let listed: Value = get_json(app.url(&format!("/api/p/{SLUG}/actions"))).await;
    listed["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == action)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_seeds_smoke_test_lands_one_event_that_survives_a_restart() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    // The seed's smoke test: these pages answer 200 under SQLite...
    for page in ["/study/", "/compliance/", "/study/admin"] {
        assert_eq!(text(&app, page).await.0, StatusCode::OK, "{page}");
    }
    assert_ne!(api_status(&app, "ACT-001").await, "done");
    let before = event_rows(&f);
    // ...and the status POST lands exactly one row.
    let r = post_status(
        &app,
        "/compliance/actions/ACT-001/status",
        &[("status", "done")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/compliance/#action-ACT-001");
    assert_eq!(event_rows(&f), before + 1, "exactly one event");
    let event = last_event(&app, &f).await;
    assert_eq!(event["action_id"], "ACT-001");
    assert_eq!(event["type"], "status_changed");
    assert_eq!(event["payload"]["status"], "done");
    assert_eq!(event["actor"], "local", "the caller is the actor");
    let (_, page) = text(&app, "/compliance/actions/ACT-001").await;
    assert!(page.contains("local set status to Done (was "), "{page}");
    assert_eq!(api_status(&app, "ACT-001").await, "done");
    assert!(app.stop(), "SIGTERM exits 0");

    let app = f.spawn_app(&[], &[]);
    assert_eq!(event_rows(&f), before + 1, "nothing lost, nothing added");
    assert_eq!(
        last_event(&app, &f).await,
        event,
        "the same event after a restart"
    );
    assert_eq!(api_status(&app, "ACT-001").await, "done");
    let (_, page) = text(&app, "/compliance/actions/ACT-001").await;
    assert!(page.contains("local set status to Done (was "), "{page}");
}

#[tokio::test]
async fn the_status_route_records_each_request_and_refuses_bad_input() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let before = event_rows(&f);
    // Under /p/{slug}/ too, back to that property's page.
    let path = format!("/p/{SLUG}/compliance/actions/ACT-002/status");
    let r = post_status(&app, &path, &[("status", " in_progress ")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/p/{SLUG}/compliance/#action-ACT-002").as_str()
    );
    assert_eq!(event_rows(&f), before + 1);
    // The same status again is recorded again, as the original portal did.
    let r = post_status(&app, &path, &[("status", "in_progress")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(event_rows(&f), before + 2, "one event per request");
    let (_, page) = text(&app, "/compliance/actions/ACT-002").await;
    assert!(
        page.contains("local set status to In progress (unchanged)"),
        "{page}"
    );

    let refusals: [(&str, Form, StatusCode); 5] = [
        (
            "ACT-002",
            &[("status", "finished")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "ACT-002",
            &[("status", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "ACT-002",
            &[("note", "no status")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("NOPE", &[("status", "done")], StatusCode::NOT_FOUND),
        (
            "NOPE",
            &[("status", "finished")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (action, form, expected) in refusals {
        let r = post_status(&app, &format!("/compliance/actions/{action}/status"), form).await;
        assert_eq!(r.status(), expected, "{action} {form:?}");
        let body = r.text().await.unwrap();
        assert!(body.contains("<!doctype html>"), "a page's error is a page");
    }
    let r = post_status(
        &app,
        "/p/no-such/compliance/actions/ACT-002/status",
        &[("status", "done")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(event_rows(&f), before + 2, "no refusal lands anything");
}

#[tokio::test]
async fn a_viewer_and_a_cross_site_post_are_refused() {
    let f = migrated();
    crate::auth::add_local(&f, "kim", "editor", "kim's long password");
    crate::auth::add_local(&f, "lee", "viewer", "lee's long password");
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let kim = crate::auth::session(&crate::auth::sign_in(&app, "kim", "kim's long password").await);
    let lee = crate::auth::session(&crate::auth::sign_in(&app, "lee", "lee's long password").await);
    let before = event_rows(&f);
    let url = app.url("/compliance/actions/ACT-003/status");
    let as_viewer = client()
        .post(&url)
        .header("cookie", &lee)
        .form(&[("status", "done")])
        .send()
        .await
        .unwrap();
    assert_eq!(as_viewer.status(), StatusCode::FORBIDDEN, "a viewer");
    let viewer_token = crate::auth::token(&f, "viewer");
    let as_viewer_token = client()
        .post(&url)
        .bearer_auth(&viewer_token)
        .form(&[("status", "done")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_viewer_token.status(),
        StatusCode::FORBIDDEN,
        "a viewer's token"
    );
    let anonymous = client()
        .post(&url)
        .form(&[("status", "done")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "nobody signed in"
    );
    // An editor's session, from another site.
    let forged: [&[(&str, &str)]; 4] = [
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[],
    ];
    for headers in forged {
        let mut request = bare()
            .post(&url)
            .header("cookie", &kim)
            .form(&[("status", "done")]);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(event_rows(&f), before, "nothing refused lands");
    // The editor from the portal's own pages may.
    let own = bare()
        .post(&url)
        .header("cookie", &kim)
        .header("origin", app.base.as_str())
        .form(&[("status", "done")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(event_rows(&f), before + 1);
}
