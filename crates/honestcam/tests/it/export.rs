//! CSV exports: the actions as they stand and the whole event log, from the pages
//! and through the API; quoting of commas, quotes and line breaks; cells that would
//! be formulas made text; times in UTC; the same roles as the pages.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use honestcam::domain::{BaselineAction, Change, Event, Status};
use honestcam::property::Slug;
use honestcam::service::compliance::{record_change, save_events};
use honestcam::web::export::{ACTION_COLUMNS, EVENT_COLUMNS};
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::pages::{act, add_property, app, day, empty};
use crate::support::{Fixture, SLUG, client, migrated};

/// `GET path` in-process: status, headers, body.
async fn fetch(app: &axum::Router, path: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// The rows of a CSV file, its header first, as a CSV reader sees them.
fn rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The cell of `column` in `row` (by the header).
fn cell<'r>(header: &[String], row: &'r [String], column: &str) -> &'r str {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &row[i]
}

/// A property whose actions and notes hold every kind of awkward text.
fn awkward() -> (Fixture, axum::Router) {
    let f = empty();
    add_property(
        &f,
        "oak-court",
        "Oak Court",
        vec![
            act("Q1", "Fix roof, \"north\" side", Status::Open, Some(-2)),
            act("Q2", "=HYPERLINK(\"http://evil\")", Status::Done, None),
            BaselineAction {
                source: Some("Lease 4.1\nand rider".into()),
                ..act("Q3", "Two\nlines", Status::Blocked, Some(30))
            },
            act("Q4", "Plain", Status::Open, Some(3)),
        ],
    );
    let storage = f.storage();
    let slug = Slug::parse("oak-court").unwrap();
    for (action, change) in [
        ("Q1", Change::Note("=cmd()".into())),
        ("Q1", Change::Assignee(Some("@admin".into()))),
        ("Q4", Change::Note("+1, -1; \"ok\"".into())),
        ("Q4", Change::Assignee(Some("-Kim".into()))),
        ("Q3", Change::Note("\tindented".into())),
    ] {
        record_change(&storage, &slug, action, &change, "kim").unwrap();
    }
    let app = app(&f, None, TimeZone::UTC);
    (f, app)
}

#[tokio::test]
async fn the_actions_export_is_the_pages_list_as_csv_with_formulas_made_text() {
    let (_f, app) = awkward();
    let (status, headers, text) = fetch(&app, "/p/oak-court/compliance/export.csv").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"oak-court-actions-{}.csv\"", day(0)).as_str()
    );
    // Quoting as RFC 4180 has it, CRLF line ends.
    assert!(text.starts_with("id,title,category,status,"), "{text}");
    assert!(text.contains("\r\nQ1,\"Fix roof, \"\"north\"\" side\",Safety,open,"));
    assert!(text.contains("\"Two\nlines\""), "a line break is quoted");
    assert!(text.ends_with("\r\n"));

    let all = rows(&text);
    let (header, body) = all.split_first().unwrap();
    assert_eq!(header, &ACTION_COLUMNS.map(String::from));
    let ids: Vec<_> = body.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        ["Q1", "Q4", "Q3", "Q2"],
        "the page's order: most urgent first"
    );
    let row = |id: &str| body.iter().find(|r| r[0] == id).unwrap();
    let q1 = row("Q1");
    assert_eq!(cell(header, q1, "title"), "Fix roof, \"north\" side");
    assert_eq!(cell(header, q1, "urgency"), "overdue");
    assert_eq!(cell(header, q1, "due"), day(-2));
    assert_eq!(
        cell(header, q1, "latest_note"),
        "'=cmd()",
        "a formula as text"
    );
    assert_eq!(cell(header, q1, "assignee"), "'@admin");
    assert_eq!(cell(header, q1, "notes"), "1");
    assert_eq!(cell(header, q1, "last_changed_by"), "kim");
    let changed = cell(header, q1, "last_changed_at_utc");
    assert!(
        changed.len() == 20 && changed.ends_with('Z') && changed.contains('T'),
        "UTC to the second: {changed}"
    );
    assert_eq!(
        cell(header, row("Q2"), "title"),
        "'=HYPERLINK(\"http://evil\")"
    );
    assert_eq!(cell(header, row("Q2"), "status_label"), "Done");
    let q3 = row("Q3");
    assert_eq!(cell(header, q3, "title"), "Two\nlines");
    assert_eq!(cell(header, q3, "source"), "Lease 4.1\nand rider");
    assert_eq!(cell(header, q3, "latest_note"), "'\tindented");
    let q4 = row("Q4");
    assert_eq!(cell(header, q4, "latest_note"), "'+1, -1; \"ok\"");
    assert_eq!(cell(header, q4, "assignee"), "'-Kim");
    assert_eq!(cell(header, q4, "urgency"), "due-soon");
    // No cell a spreadsheet would run.
    for r in body {
        for c in r {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{c:?} would be a formula"
            );
        }
    }

    // Search and filter as on the page.
    let (_, _, text) = fetch(&app, "/p/oak-court/compliance/export.csv?status=open").await;
    let ids: Vec<_> = rows(&text)[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, ["Q1", "Q4"]);
    let (_, _, text) = fetch(&app, "/p/oak-court/compliance/export.csv?q=KIM&status=open").await;
    let ids: Vec<_> = rows(&text)[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, ["Q4"], "search and filter combine");
    let (status, _, page) = fetch(&app, "/p/oak-court/compliance/export.csv?status=finished").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("<!doctype html>"), "a page's error is a page");
    // The page links to both exports, keeping its search and filter.
    let (_, _, page) = fetch(&app, "/p/oak-court/compliance/?q=KIM&status=open").await;
    assert!(
        page.contains("href=\"/p/oak-court/compliance/export.csv?q=KIM&#38;status=open\""),
        "{page}"
    );
    assert!(page.contains("href=\"/p/oak-court/compliance/events.csv\""));
}

#[tokio::test]
async fn the_event_log_export_has_every_event_oldest_first_in_utc() {
    let (f, app) = awkward();
    let slug = Slug::parse("oak-court").unwrap();
    let event = |id: &str, kind: &str, payload: Value, at: &str| Event {
        event_id: id.into(),
        action_id: "Q4".into(),
        kind: kind.into(),
        payload,
        actor: "=evil()".into(),
        at: at.into(),
        extra: Default::default(),
    };
    save_events(
        &f.storage(),
        &slug,
        &[
            event(
                "x1",
                "due_changed",
                json!({"due": "2027-01-31"}),
                "2026-11-22T20:50:39.5-05:00",
            ),
            event("x2", "photo_added", json!({"url": "a,b.jpg"}), "yesterday"),
            event(
                "x3",
                "status_changed",
                json!({"status": "waived"}),
                "2026-11-23T02:00:00Z",
            ),
        ],
    )
    .unwrap();
    let (status, headers, text) = fetch(&app, "/p/oak-court/compliance/events.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"oak-court-events-{}.csv\"", day(0)).as_str()
    );
    let all = rows(&text);
    let (header, body) = all.split_first().unwrap();
    assert_eq!(header, &EVENT_COLUMNS.map(String::from));
    assert_eq!(body.len(), 8, "every event");
    let kinds: Vec<_> = body.iter().map(|r| cell(header, r, "type")).collect();
    assert_eq!(
        kinds,
        [
            "note_added",
            "assignee_changed",
            "note_added",
            "assignee_changed",
            "note_added",
            "due_changed",
            "photo_added",
            "status_changed"
        ],
        "in log order"
    );
    assert_eq!(cell(header, &body[0], "note"), "'=cmd()");
    assert_eq!(
        cell(header, &body[0], "action_title"),
        "Fix roof, \"north\" side"
    );
    assert_eq!(cell(header, &body[1], "assignee"), "'@admin");
    assert_eq!(cell(header, &body[2], "note"), "'+1, -1; \"ok\"");
    assert_eq!(
        cell(header, &body[2], "payload"),
        r#"{"note":"+1, -1; \"ok\""}"#
    );
    let due = &body[5];
    assert_eq!(cell(header, due, "at_utc"), "2026-11-23T01:50:39Z", "UTC");
    assert_eq!(cell(header, due, "due"), "2027-01-31");
    assert_eq!(cell(header, due, "actor"), "'=evil()");
    assert_eq!(cell(header, due, "event_id"), "x1");
    let photo = &body[6];
    assert_eq!(
        cell(header, photo, "at_utc"),
        "yesterday",
        "kept as written"
    );
    assert_eq!(cell(header, photo, "payload"), r#"{"url":"a,b.jpg"}"#);
    assert_eq!(cell(header, photo, "note"), "");
    assert_eq!(cell(header, &body[7], "status"), "waived");
}

#[tokio::test]
async fn api_clients_export_with_a_readers_token_and_get_json_errors() {
    let f = migrated();
    record_change(
        &f.storage(),
        &f.slug(),
        "ACT-003",
        &Change::Note("=1+1, said \"Kim\"".into()),
        "kim",
    )
    .unwrap();
    let app = f.spawn_app(&["--auth", "local"], &[]);
    let viewer = crate::auth::token(&f, "viewer");
    let api = |path: &str| {
        client()
            .get(app.url(&format!("/api/p/{SLUG}{path}")))
            .bearer_auth(&viewer)
    };
    let answer = api("/actions.csv?status=open").send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = answer.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{SLUG}-actions-"))
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let all = rows(&answer.text().await.unwrap());
    let (header, body) = all.split_first().unwrap();
    assert!(!body.is_empty());
    assert!(body.iter().all(|r| cell(header, r, "status") == "open"));
    let act3 = body.iter().find(|r| r[0] == "ACT-003").unwrap();
    assert_eq!(cell(header, act3, "latest_note"), "'=1+1, said \"Kim\"");

    let events = api("/events.csv").send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let csv_rows = rows(&events.text().await.unwrap()).len() - 1;
    let json: Value = api("/events").send().await.unwrap().json().await.unwrap();
    assert_eq!(json["property"], SLUG);
    let listed = json["events"].as_array().unwrap();
    assert_eq!(listed.len() as i64, crate::support::event_rows(&f));
    assert_eq!(csv_rows, listed.len(), "one row per event");
    assert_eq!(
        listed.last().unwrap()["payload"]["note"],
        "=1+1, said \"Kim\""
    );

    // Errors are JSON, as everywhere in the API.
    let bad = api("/actions.csv?status=finished").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.json::<Value>().await.unwrap()["error"].is_string());
    let none = client()
        .get(app.url("/api/p/no-such/events.csv"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert!(none.json::<Value>().await.unwrap()["error"].is_string());
    let anonymous = client()
        .get(app.url(&format!("/api/p/{SLUG}/events.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // The page exports need a session like the pages.
    let page = client()
        .get(app.url("/compliance/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()["location"],
        "/login?next=%2Fcompliance%2Fexport.csv"
    );
}
