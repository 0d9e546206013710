//! The event log read in pages by cursor, and the streamed exports of the whole log:
//! every event once while others append, the bounds of a page, cursors that carry
//! over `db-migrate`, the streamed files equal to the in-memory ones, and a failure
//! mid-stream that ends the body with an error, logged.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use honestcam::ops::demo::DemoOptions;
use honestcam::service::compliance::load_events;
use honestcam::web::export::{DEFAULT_LIMIT, EXPORT_PAGE, MAX_LIMIT, events_csv};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{App, Fixture, SLUG, TODAY, client, event_rows, get_json};

/// The demo property with `events` events, on the legacy JSON log.
fn legacy_with(events: u64) -> Fixture {
    Fixture::with(DemoOptions {
        events,
        ..DemoOptions::dated(TODAY)
    })
}

/// The demo property with `events` events, on SQLite.
fn migrated_with(events: u64) -> Fixture {
    let f = legacy_with(events);
    f.plan(&["db-migrate", SLUG, "--execute"]);
    f
}

/// `GET path` in-process: status and body.
async fn fetch(app: &axum::Router, path: &str) -> (StatusCode, Vec<u8>) {
    let request = Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(request).await.unwrap();
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 28).await.unwrap();
    (status, body.to_vec())
}

async fn fetch_json(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let (status, body) = fetch(app, path).await;
    (status, serde_json::from_slice(&body).unwrap())
}

/// Walks every page from the start in-process; the ids in order, and the pages.
async fn walk(app: &axum::Router, limit: usize) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut after) = (Vec::new(), 0, String::new());
    loop {
        let path = format!("/api/p/{SLUG}/events?after={after}&limit={limit}");
        let (status, page) = fetch_json(app, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= limit);
        ids.extend(
            events
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
        match &page["next"] {
            Value::Null => return (ids, pages),
            Value::String(next) => {
                assert_eq!(events.len(), limit, "only a full page has a next");
                assert_eq!(page["last"], *next);
                after = next.clone();
            }
            other => panic!("next is {other}"),
        }
    }
}

fn ids_of(events: &[honestcam::domain::Event]) -> Vec<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

#[tokio::test]
async fn pages_cover_the_log_in_order_on_both_backends_and_cursors_carry_over_db_migrate() {
    let f = legacy_with(250);
    let app = crate::pages::app(&f, None, jiff::tz::TimeZone::UTC);
    let all = ids_of(&load_events(&f.storage(), &f.slug()).unwrap());
    assert_eq!(all.len(), 250);
    let (json_ids, pages) = walk(&app, 40).await;
    assert_eq!(json_ids, all, "the JSON log, in order");
    assert_eq!(pages, 7);
    // Half the walk on JSON, then the property moves to SQLite: the cursor goes on.
    let (_, first) = fetch_json(&app, &format!("/api/p/{SLUG}/events?limit=100")).await;
    assert_eq!(first["next"], "100");
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let (_, rest) = fetch_json(&app, &format!("/api/p/{SLUG}/events?after=100&limit=1000")).await;
    let carried: Vec<String> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["events"].as_array().unwrap())
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(carried, all, "positions are kept by db-migrate");
    assert_eq!(rest["next"], Value::Null);
    assert_eq!(rest["last"], "250");
    let (sqlite_ids, _) = walk(&app, 40).await;
    assert_eq!(sqlite_ids, all, "the SQLite log, in order");
    // Past the end: an empty page, and where to ask again later.
    let (status, past) = fetch_json(&app, &format!("/api/p/{SLUG}/events?after=900")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["events"], json!([]));
    assert_eq!(past["next"], Value::Null);
    assert_eq!(past["last"], "900");
    assert_eq!(past["property"], SLUG);
}

#[tokio::test]
async fn a_page_has_a_default_and_a_maximum_size_and_bad_cursors_are_refused() {
    let f = migrated_with(DEFAULT_LIMIT as u64 + 50);
    let app = crate::pages::app(&f, None, jiff::tz::TimeZone::UTC);
    let (_, page) = fetch_json(&app, &format!("/api/p/{SLUG}/events?after=")).await;
    assert_eq!(page["events"].as_array().unwrap().len(), DEFAULT_LIMIT);
    assert_eq!(page["next"], DEFAULT_LIMIT.to_string());
    let (_, page) = fetch_json(&app, &format!("/api/p/{SLUG}/events?limit={MAX_LIMIT}")).await;
    assert_eq!(page["events"].as_array().unwrap().len(), DEFAULT_LIMIT + 50);
    assert_eq!(page["next"], Value::Null);
    for (query, says) in [
        (format!("limit={}", MAX_LIMIT + 1), "from 1 to 10000"),
        ("limit=0".into(), "from 1 to 10000"),
        ("limit=ten".into(), "from 1 to 10000"),
        ("after=-1".into(), "bad cursor"),
        ("after=abc".into(), "bad cursor"),
        ("after=1.5".into(), "bad cursor"),
        ("after=99999999999999999999".into(), "bad cursor"),
        ("page=2".into(), "unknown parameter \"page\""),
    ] {
        let (status, body) = fetch_json(&app, &format!("/api/p/{SLUG}/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{query}: {error}");
    }
    // Without paging parameters, the whole log as it always was.
    let (status, whole) = fetch_json(&app, &format!("/api/p/{SLUG}/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        whole.as_object().unwrap().len(),
        2,
        "property and events only"
    );
    assert_eq!(
        whole["events"].as_array().unwrap().len(),
        DEFAULT_LIMIT + 50
    );
}

/// Appends notes to ACT-00{n} through the API until `stop`; counts what was acknowledged.
async fn append_until(app: Arc<App>, n: usize, stop: Arc<AtomicBool>, acked: Arc<AtomicUsize>) {
    let url = app.url(&format!("/api/p/{SLUG}/actions/ACT-00{n}/events"));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let answer = client()
            .post(&url)
            .json(&json!({"type": "note_added", "payload": {"note": format!("w{n}-{i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        acked.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

/// Waits until `acked` is above `than`, failing after a deadline.
async fn wait_for_more(acked: &AtomicUsize, than: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.load(Ordering::Relaxed) <= than {
        assert!(Instant::now() < deadline, "no write acknowledged in time");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_visits_every_event_once_while_others_append() {
    let f = migrated_with(2_000);
    let app = Arc::new(f.spawn_app(&[], &[]));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (1..=3)
        .map(|n| tokio::spawn(append_until(app.clone(), n, stop.clone(), acked.clone())))
        .collect();
    wait_for_more(&acked, 0).await;
    // Every event present when the walk starts.
    let at_start: HashSet<String> = ids_of(&load_events(&f.storage(), &f.slug()).unwrap())
        .into_iter()
        .collect();
    let (mut seen, mut after, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        // Between any two pages, at least one more write lands.
        let before = acked.load(Ordering::Relaxed);
        let page: Value =
            get_json(app.url(&format!("/api/p/{SLUG}/events?after={after}&limit=97"))).await;
        pages += 1;
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
        if pages < 30 {
            wait_for_more(&acked, before).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    let missing: Vec<_> = at_start.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "{} events missed", missing.len());
    assert!(
        seen.len() > at_start.len(),
        "events appended during the walk were seen too ({} > {})",
        seen.len(),
        at_start.len()
    );
    assert!(pages > 20, "{pages} pages");
    let stored = ids_of(&load_events(&f.storage(), &f.slug()).unwrap());
    assert_eq!(
        seen[..],
        stored[..seen.len()],
        "the walk saw the log's beginning, in order"
    );
    assert!(event_rows(&f) as usize >= seen.len());
}

#[tokio::test]
async fn the_streamed_exports_equal_the_in_memory_ones() {
    for (what, f) in [
        ("small, JSON", legacy_with(12)),
        ("small, SQLite", migrated_with(12)),
        (
            "several pages, JSON",
            legacy_with(2 * EXPORT_PAGE as u64 + 17),
        ),
        (
            "several pages, SQLite",
            migrated_with(2 * EXPORT_PAGE as u64 + 17),
        ),
        (
            "exactly one page, SQLite",
            migrated_with(EXPORT_PAGE as u64),
        ),
    ] {
        let app = crate::pages::app(&f, Some(SLUG), jiff::tz::TimeZone::UTC);
        let storage = f.storage();
        let events = load_events(&storage, &f.slug()).unwrap();
        let baseline = storage.read(&f.slug()).unwrap().baseline().unwrap();
        let expected = events_csv(&baseline, &events).unwrap();
        for path in [
            "/compliance/events.csv".to_string(),
            format!("/p/{SLUG}/compliance/events.csv"),
            format!("/api/p/{SLUG}/events.csv"),
        ] {
            let (status, body) = fetch(&app, &path).await;
            assert_eq!(status, StatusCode::OK, "{what} {path}");
            assert!(
                body == expected,
                "{what} {path}: {} bytes streamed, {} in memory",
                body.len(),
                expected.len()
            );
        }
        let (status, body) = fetch(&app, &format!("/api/p/{SLUG}/events")).await;
        assert_eq!(status, StatusCode::OK);
        let streamed: Value = serde_json::from_slice(&body).unwrap();
        let old = json!({"property": SLUG, "events": events});
        assert!(streamed == old, "{what}: the JSON export as it was");
    }
}

#[tokio::test]
async fn a_failure_mid_stream_ends_the_body_with_an_error_and_is_logged() {
    let f = migrated_with(EXPORT_PAGE as u64 * 2 + 10);
    // A row the log cannot read, past the first page.
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    conn.execute(
        "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at)
         VALUES ('broken', 'ACT-001', 'note_added', 'not json', 'x', '2026-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    drop(conn);
    let log = f.tmp.path().join("serve.log");
    let app = f.spawn_app_logging(&[], &[], Some(&log));
    for path in [
        "/compliance/events.csv".to_string(),
        format!("/api/p/{SLUG}/events"),
    ] {
        let answer = client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "{path}: the first page was fine"
        );
        assert!(
            answer.headers().get("content-length").is_none(),
            "{path}: streamed"
        );
        let body = answer.bytes().await;
        assert!(
            body.is_err(),
            "{path}: the body must end with an error, not look complete"
        );
    }
    // The same row in a page of its own is an ordinary error answer.
    let after = EXPORT_PAGE * 2 + 10;
    let page = client()
        .get(app.url(&format!("/api/p/{SLUG}/events?after={after}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(app.stop());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("stopped mid-stream").count(),
        2,
        "each cut-short export is logged: {logged}"
    );
    assert!(logged.contains("broken"), "the log names the row: {logged}");
}
