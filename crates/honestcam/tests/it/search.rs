//! What an assistant or an indexer asks of the portal: the full-text search (a note
//! found as soon as it is written, the exact phrase first, query syntax taken as text,
//! its bounds, the legacy JSON files refused by the API and searched by the page, the
//! index rebuilt by `db-reindex`, filled for databases made before it, and equal to
//! the log after appends during a rebuild); "as of" a day (the earlier state, the
//! time-zone boundary, a past view without edit forms); and the change feed
//! (`export --jsonl --since`: every event once while the portal takes writes, and a
//! resume from a cursor after a restart).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use honestcam::domain::{Event, Status};
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::property::Slug;
use honestcam::service::as_of::{AsOf, compliance_as_of};
use honestcam::service::compliance::{action_record, load_events, save_events};
use honestcam::service::search::{Page, search};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::pages::{act, add_property, app, empty, get, post, visible};
use crate::support::{App, Fixture, SLUG, TODAY, client, migrated};

/// `GET path` in-process, its body as JSON.
async fn get_api(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let (status, body) = get(app, path).await;
    (status, serde_json::from_str(&body).unwrap())
}

/// The action ids and fields of a search answer's hits, in order.
fn hit_ids(answer: &Value) -> Vec<(String, String)> {
    answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action_id"].as_str().unwrap().to_string(),
                h["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The ids of the action cards on a page, in page order.
fn card_ids(page: &str) -> Vec<String> {
    page.match_indices("<section class=\"card")
        .map(|(i, _)| {
            let rest = &page[i..];
            let id = &rest[rest.find(" id=\"action-").unwrap() + 12..];
            id[..id.find('"').unwrap()].to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_note_written_through_the_edit_form_is_found_at_once_and_the_exact_phrase_ranks_first() {
    let f = migrated();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let find = |q: &str| format!("/api/p/{SLUG}/search?q={}", url_encode(q));
    let (status, before) = get_api(&app, &find("sprinkler riser valve")).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["hits"], json!([]), "not written yet");
    // Three notes holding the words, one of them as the phrase searched for.
    for (action, note) in [
        (
            "ACT-003",
            "Valve on the riser near the sprinkler room is stiff",
        ),
        (
            "ACT-005",
            "Sprinkler riser valve replaced, tested by the vendor",
        ),
        ("ACT-006", "riser: sprinkler valve, see photos"),
    ] {
        let (status, _) = post(
            &app,
            &format!("/compliance/actions/{action}"),
            &[("note", note)],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, found) = get_api(&app, &find("sprinkler riser valve")).await;
    assert_eq!(status, StatusCode::OK);
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{found}");
    assert_eq!(hits[0]["action_id"], "ACT-005", "the exact phrase first");
    assert_eq!(hits[0]["exact"], true);
    assert!(hits[1..].iter().all(|h| h["exact"] == false));
    assert_eq!(hits[0]["field"], "note");
    assert_eq!(hits[0]["action_title"], "Backflow preventer test");
    assert_eq!(
        hits[0]["snippet"],
        "**Sprinkler** **riser** **valve** replaced, tested by the vendor"
    );
    let event = &hits[0]["event"];
    assert_eq!(event["actor"], "local");
    assert!(event["position"].as_i64().unwrap() > 12, "{event}");
    assert!(event["event_id"].as_str().unwrap().starts_with("ev-"));
    assert!(
        event["at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    assert_eq!(found["next_offset"], Value::Null);
    // Paging: one at a time, in the same order.
    let (_, first) = get_api(&app, &format!("{}&limit=1", find("sprinkler riser valve"))).await;
    assert_eq!(hit_ids(&first), [("ACT-005".into(), "note".into())]);
    assert_eq!(first["next_offset"], 1);
    let (_, second) = get_api(
        &app,
        &format!("{}&limit=1&offset=1", find("sprinkler riser valve")),
    )
    .await;
    assert_eq!(second["hits"][0], hits[1]);
    // The service gives the same, and the page shows the three actions.
    let page = search(
        &f.storage(),
        &f.slug(),
        "sprinkler riser valve",
        Page::default(),
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&page).unwrap(), found);
    let (status, html) = get(&app, "/compliance/?q=sprinkler+riser+valve").await;
    assert_eq!(status, StatusCode::OK);
    let mut cards = card_ids(&html);
    cards.sort();
    assert_eq!(cards, ["ACT-003", "ACT-005", "ACT-006"]);
    // A word's beginning finds it; titles and assignees are searched too.
    let (_, prefix) = get_api(&app, &find("sprinkl")).await;
    assert_eq!(prefix["hits"].as_array().unwrap().len(), 3);
    let (_, title) = get_api(&app, &find("backflow")).await;
    assert_eq!(hit_ids(&title), [("ACT-005".into(), "title".into())]);
    assert_eq!(title["hits"][0]["event"], Value::Null);
    let (_, assignee) = get_api(&app, &find("dana")).await;
    assert!(
        hit_ids(&assignee).contains(&("ACT-007".into(), "assignee".into())),
        "{assignee}"
    );
}

fn url_encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

#[tokio::test]
async fn query_syntax_characters_are_only_text() {
    let f = migrated();
    honestcam::service::compliance::record_change(
        &f.storage(),
        &f.slug(),
        "ACT-004",
        &honestcam::domain::Change::Note(
            "NEAR the gate: \"restriping\" -- half-done * again".into(),
        ),
        "kim",
    )
    .unwrap();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    for (q, finds) in [
        ("\"restriping\"", true),
        ("\"", false),
        ("*", false),
        ("-", false),
        (":", false),
        ("NEAR", true),
        ("NEAR(gate restriping)", false),
        ("near(the", true),
        ("half-done", true),
        ("gate:", true),
        ("title:parking", false),
        ("parking:", true),
        ("-gate", true),
        ("gate*", true),
        ("\"gate\" OR \"vendor\"", false),
        ("restriping\" OR \"x", false),
        ("{gate} + ^again", true),
    ] {
        let (status, answer) =
            get_api(&app, &format!("/api/p/{SLUG}/search?q={}", url_encode(q))).await;
        assert_eq!(status, StatusCode::OK, "{q:?}: {answer}");
        let ids = hit_ids(&answer);
        assert_eq!(
            ids.iter().any(|(id, _)| id == "ACT-004"),
            finds,
            "{q:?}: {answer}"
        );
        let (status, page) = get(&app, &format!("/compliance/?q={}", url_encode(q))).await;
        assert_eq!(status, StatusCode::OK, "{q:?}");
        assert_eq!(
            card_ids(&page).contains(&"ACT-004".to_string()),
            finds,
            "{q:?}"
        );
    }
}

#[tokio::test]
async fn a_search_beyond_its_bounds_is_refused_saying_which() {
    let f = migrated();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let long = "x".repeat(201);
    let words = vec!["w"; 17].join("+");
    for (query, status, says) in [
        (
            format!("q={long}"),
            422,
            "at most 200 characters, this one has 201",
        ),
        (
            format!("q={words}"),
            422,
            "at most 16 words, this one has 17",
        ),
        (
            "q=fire&limit=0".into(),
            422,
            "bad limit=\"0\": a number of hits from 1 to 100",
        ),
        ("q=fire&limit=101".into(), 422, "from 1 to 100"),
        ("q=fire&limit=ten".into(), 422, "from 1 to 100"),
        ("q=fire&offset=1001".into(), 422, "bad offset=\"1001\""),
        ("q=fire&offset=-1".into(), 422, "bad offset"),
        ("q=".into(), 422, "no search given"),
        ("limit=5".into(), 422, "no search given"),
        ("q=fire&page=2".into(), 400, "unknown parameter \"page\""),
    ] {
        let (got, body) = get_api(&app, &format!("/api/p/{SLUG}/search?{query}")).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{query}: {error}");
    }
    let (status, page) = get(&app, &format!("/compliance/?q={words}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("at most 16 words"), "{page}");
}

#[tokio::test]
async fn on_the_legacy_json_files_the_api_refuses_to_search_and_the_page_searches_the_fold() {
    let f = Fixture::new();
    let app = app(&f, Some(SLUG), TimeZone::UTC);
    let (status, body) = get_api(&app, &format!("/api/p/{SLUG}/search?q=vendor")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        format!(
            "property {SLUG} is still on the legacy JSON files, which have no search index; run honestcam db-migrate {SLUG}"
        )
    );
    let err = search(&f.storage(), &f.slug(), "vendor", Page::default()).unwrap_err();
    assert!(err.to_string().contains("db-migrate"), "{err}");
    let (status, page) = get(&app, "/compliance/?q=vendor").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        card_ids(&page),
        ["ACT-001"],
        "the note of ACT-001, in the fold"
    );
    // After db-migrate, the same page through the index.
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let (_, page) = get(&app, "/compliance/?q=vendor").await;
    assert_eq!(card_ids(&page), ["ACT-001"]);
    let (status, _) = get_api(&app, &format!("/api/p/{SLUG}/search?q=vendor")).await;
    assert_eq!(status, StatusCode::OK);
}

/// How the fixture's search index differs from the log, by `db-status --verify --json`.
fn search_differences(f: &Fixture) -> Vec<String> {
    let out = f.run(&["db-status", SLUG, "--verify", "--json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_value(rows[0]["search_differences"].clone()).unwrap()
}

#[test]
fn db_reindex_rebuilds_a_damaged_search_index() {
    let f = migrated();
    let db = f.prop().join("honestcam.db");
    let found = |q: &str| {
        search(&f.storage(), &f.slug(), q, Page::default())
            .unwrap()
            .hits
            .len()
    };
    assert_eq!(found("landlord"), 1);
    assert!(search_differences(&f).is_empty());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let gone = conn
            .execute("DELETE FROM search_index WHERE text LIKE '%landlord%'", [])
            .unwrap();
        assert_eq!(gone, 1);
        conn.execute(
            "INSERT INTO search_index (rowid, text, field, action_id) VALUES (-99, 'phantom', 'title', 'X')",
            [],
        )
        .unwrap();
    }
    assert_eq!(found("landlord"), 0);
    assert_eq!(found("phantom"), 1);
    let out = f.run(&["db-status", "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("search index: differs from the log"),
        "{stdout}"
    );
    assert!(stdout.contains("landlord"), "{stdout}");
    assert!(stdout.contains("phantom"), "{stdout}");
    let dry = f.plan(&["db-reindex", SLUG]);
    assert_eq!(
        crate::support::count(&dry, "search index differences from the log found"),
        2
    );
    let done = f.plan(&["db-reindex", SLUG, "--execute"]);
    let with_text = load_events(&f.storage(), &f.slug())
        .unwrap()
        .iter()
        .filter(|e| e.kind == "note_added" || e.kind == "assignee_changed")
        .count() as u64;
    assert!(with_text > 0);
    assert_eq!(
        crate::support::count(&done, "read notes and assignees into the search index"),
        with_text
    );
    assert!(search_differences(&f).is_empty());
    assert_eq!(found("landlord"), 1);
    assert_eq!(found("phantom"), 0);
}

#[test]
fn a_database_made_before_the_index_gets_it_filled_when_first_opened() {
    let f = migrated();
    let db = f.prop().join("honestcam.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP TABLE search_index; DROP TABLE search_position;
             DELETE FROM _statekit_migrations WHERE version = 5; PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    // Read-only, the check says the index is not there yet.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let predates = honestcam::storage::sqlite::search_repo::verify(&conn, 10).unwrap();
    drop(conn);
    assert_eq!(predates.len(), 1, "{predates:?}");
    assert!(
        predates[0].contains("predates the search index"),
        "{predates:?}"
    );
    let page = search(&f.storage(), &f.slug(), "landlord", Page::default()).unwrap();
    assert_eq!(page.hits.len(), 1, "filled on first open");
    assert_eq!(page.hits[0].action_id, "ACT-008");
    assert!(search_differences(&f).is_empty());
}

/// Appends notes `{tag}-{i}` to ACT-00{n} through the API until `stop`; counts what
/// was acknowledged.
async fn append_until(
    app: Arc<App>,
    slug: &'static str,
    n: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) {
    let url = app.url(&format!("/api/p/{slug}/actions/ACT-00{n}/events"));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let answer = client()
            .post(&url)
            .json(&json!({"type": "note_added", "payload": {"note": format!("w{n}x{i} written")}}))
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) <= than {
        assert!(Instant::now() < deadline, "no write acknowledged in time");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_during_a_rebuild_leave_the_index_equal_to_the_log() {
    let f = migrated();
    let app = Arc::new(f.spawn_app(&[], &[]));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (1..=3)
        .map(|n| {
            tokio::spawn(append_until(
                app.clone(),
                SLUG,
                n,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    for _ in 0..3 {
        let before = acked.load(Ordering::Relaxed);
        wait_for_more(&acked, before + 10).await;
        let dir = f.dir();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_honestcam"))
                .args(["db-reindex", SLUG, "--execute", "--json"])
                .env("HONESTCAM_DATA_DIR", dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Writes went on after the last rebuild.
    let before = acked.load(Ordering::Relaxed);
    wait_for_more(&acked, before + 10).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(Arc::into_inner(app).unwrap().stop());
    assert!(search_differences(&f).is_empty());
    // Every acknowledged note is found.
    let written: Vec<String> = load_events(&f.storage(), &f.slug())
        .unwrap()
        .into_iter()
        .filter_map(|e| e.payload["note"].as_str().map(str::to_string))
        .filter(|n| n.ends_with(" written"))
        .collect();
    assert_eq!(written.len(), acked.load(Ordering::Relaxed));
    for note in written.iter().step_by(7) {
        let word = note.trim_end_matches(" written");
        let page = search(&f.storage(), &f.slug(), word, Page::default()).unwrap();
        // `w1x2` also begins `w1x20`...: the word itself comes first, once.
        assert!(page.hits[0].exact, "{word}");
        assert_eq!(page.hits[0].snippet, format!("**{word}** written"));
        assert!(!page.hits[1..].iter().any(|h| h.exact), "{word}");
    }
}

/// A property whose ACT-1 is changed at the given times (RFC 3339), on SQLite or on
/// the legacy JSON files.
fn dated(on_sqlite: bool, changes: &[(&str, &str, Value)]) -> Fixture {
    let f = empty();
    let actions = vec![
        act("ACT-1", "Fire door inspection", Status::Open, Some(10)),
        act("ACT-2", "Boiler service", Status::Open, None),
    ];
    if on_sqlite {
        add_property(&f, "oak-court", "Oak Court", actions);
    } else {
        let slug = Slug::parse("oak-court").unwrap();
        let paths = f.data().property(&slug);
        std::fs::create_dir_all(&paths.dir).unwrap();
        let baseline = honestcam::domain::Baseline {
            property: honestcam::domain::PropertyInfo {
                slug: "oak-court".into(),
                name: "Oak Court".into(),
            },
            actions,
        };
        honestcam::storage::legacy::write_baseline(&paths, &baseline).unwrap();
    }
    let events: Vec<Event> = changes
        .iter()
        .enumerate()
        .map(|(i, (at, kind, payload))| Event {
            event_id: format!("e{i}"),
            action_id: "ACT-1".into(),
            kind: kind.to_string(),
            payload: payload.clone(),
            actor: format!("actor{i}"),
            at: at.to_string(),
            extra: Default::default(),
        })
        .collect();
    let slug = Slug::parse("oak-court").unwrap();
    save_events(&f.storage(), &slug, &events).unwrap();
    f
}

#[tokio::test]
async fn as_of_a_day_shows_the_state_then_with_the_days_end_in_the_portals_zone() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    for on_sqlite in [true, false] {
        let f = dated(
            on_sqlite,
            &[
                (
                    "2026-11-20T09:00:00Z",
                    "status_changed",
                    json!({"status": "in_progress"}),
                ),
                (
                    "2026-11-20T09:05:00Z",
                    "note_added",
                    json!({"note": "vendor called"}),
                ),
                // 23:30 in Berlin on the 30th: in that day's view.
                (
                    "2026-11-30T22:30:00Z",
                    "assignee_changed",
                    json!({"assignee": "Kim"}),
                ),
                // 00:30 in Berlin on 1 December (still the 30th in UTC): not in it.
                (
                    "2026-11-30T23:30:00Z",
                    "status_changed",
                    json!({"status": "done"}),
                ),
                ("last tuesday", "note_added", json!({"note": "undated"})),
            ],
        );
        let slug = Slug::parse("oak-court").unwrap();
        let storage = f.storage();
        let state = |day: &str, tz: &TimeZone| {
            compliance_as_of(&storage, &slug, day.parse::<AsOf>().unwrap(), tz).unwrap()
        };
        let act1 = |s: &honestcam::service::as_of::AsOfState| s.actions[0].clone();

        // The day before the first change: the baseline.
        let before = state("2026-11-19", &berlin);
        assert_eq!(act1(&before).status, Status::Open);
        assert_eq!(before.events, 0);
        assert_eq!(before.undated, 1);
        // The day of the first change.
        let first = state("2026-11-20", &berlin);
        assert_eq!(act1(&first).status, Status::InProgress);
        assert_eq!(act1(&first).notes[0].text, "vendor called");
        assert_eq!(act1(&first).assignee, None);
        // 30 November in Berlin: the 23:30 change, not the 00:30 one.
        let day = state("2026-11-30", &berlin);
        assert_eq!(act1(&day).assignee.as_deref(), Some("Kim"));
        assert_eq!(
            act1(&day).status,
            Status::InProgress,
            "done came after midnight"
        );
        assert_eq!(act1(&day).updated_by.as_deref(), Some("actor2"));
        assert_eq!(day.at.to_string(), "2026-11-30T22:59:59.999999999Z");
        assert_eq!(day.time_zone, "Europe/Berlin");
        // The same day in UTC ends later: both changes are in it.
        assert_eq!(
            act1(&state("2026-11-30", &TimeZone::UTC)).status,
            Status::Done
        );
        // 1 December in Berlin has the change of 00:30.
        let next = state("2026-12-01", &berlin);
        assert_eq!(act1(&next).status, Status::Done);
        assert_eq!(next.events, 4);
        // An instant between the two.
        let instant = state("2026-11-30T23:00:00Z", &berlin);
        assert_eq!(act1(&instant).status, Status::InProgress);
        assert_eq!(instant.day.to_string(), "2026-12-01");
        // Today's state is the last one.
        assert_eq!(
            action_record(&storage, &slug, "ACT-1")
                .unwrap()
                .unwrap()
                .state
                .status,
            Status::Done
        );

        // The page and the API, in the portal's zone.
        let app = app(&f, None, berlin.clone());
        let base = "/p/oak-court/compliance/";
        let (status, page) = get(&app, &format!("{base}?as_of=2026-11-30")).await;
        assert_eq!(status, StatusCode::OK);
        let text = visible(&page);
        assert!(
            text.contains("As of 2026-11-30, end of day, Europe/Berlin"),
            "{text}"
        );
        assert!(text.contains("a past view"), "{text}");
        assert!(
            page.contains(&format!("href=\"{base}\" id=\"back-to-today\"")),
            "{page}"
        );
        assert!(!page.contains("<form class=\"edit\""), "no edit forms");
        assert!(!page.contains("export.csv"), "no export of today's state");
        assert!(text.contains("assigned to Kim"), "{text}");
        assert!(page.contains("data-status=\"in_progress\""));
        assert!(
            page.contains("value=\"2026-11-30\""),
            "the day stays in the form"
        );
        let (_, today) = get(&app, base).await;
        assert!(
            today.contains("<form class=\"edit\""),
            "today's page can be changed"
        );
        assert!(!today.contains("id=\"as-of\""));
        let (status, api) = get_api(&app, "/api/p/oak-court/actions?as_of=2026-11-30").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(api["as_of"]["time_zone"], "Europe/Berlin");
        assert_eq!(api["as_of"]["day"], "2026-11-30");
        assert_eq!(api["as_of"]["events"], 3);
        assert_eq!(api["as_of"]["undated"], 1);
        assert_eq!(api["actions"][0]["status"], "in_progress");
        assert_eq!(api["actions"][0]["assignee"], "Kim");
        let (_, filtered) = get_api(
            &app,
            "/api/p/oak-court/actions?as_of=2026-12-01&status=done",
        )
        .await;
        assert_eq!(filtered["actions"].as_array().unwrap().len(), 1);
        // A bad value is a 422 naming the parameter, on the page and in the API.
        for bad in ["30.11.2026", "2026-11-31", "tomorrow", "2026-11-30T12:00"] {
            let (status, body) =
                get_api(&app, &format!("/api/p/oak-court/actions?as_of={bad}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(
                body["error"].as_str().unwrap().starts_with("as_of "),
                "{body}"
            );
            let (status, page) = get(&app, &format!("{base}?as_of={bad}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(page.contains("as_of"), "{page}");
        }
    }
}

/// One `honestcam export --jsonl` run: its event lines, and the cursor of its last line.
fn export(
    f: &Fixture,
    since: Option<&std::path::Path>,
    limit: usize,
) -> (Vec<Value>, String, bool) {
    let limit = limit.to_string();
    let since = since.map(|p| format!("@{}", p.display()));
    let mut args = vec!["export", "--jsonl", "--limit", &limit];
    if let Some(s) = &since {
        args.extend(["--since", s]);
    }
    let out = f.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = lines.pop().expect("the cursor line");
    let cursor = end["cursor"].as_str().unwrap().to_string();
    assert_eq!(end["events"], lines.len());
    assert!(lines.iter().all(|l| l.get("cursor").is_none()));
    (lines, cursor, end["more"].as_bool().unwrap())
}

/// Every event of a data dir's properties, as `"{slug}" {event id}`.
fn all_ids(f: &Fixture, slugs: &[&str]) -> HashSet<String> {
    let storage = f.storage();
    slugs
        .iter()
        .flat_map(|s| {
            load_events(&storage, &Slug::parse(s).unwrap())
                .unwrap()
                .into_iter()
                .map(move |e| format!("\"{s}\" {}", e.event_id))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_visits_every_event_once_while_writes_continue_and_resumes_after_a_restart() {
    // Two properties: the demo on SQLite, and one on the legacy JSON files.
    let f = Fixture::with(DemoOptions {
        events: 600,
        ..DemoOptions::dated(TODAY)
    });
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let json_slug = Slug::parse("alder-row").unwrap();
    write_demo(
        &f.data().property(&json_slug),
        "Alder Row",
        &DemoOptions::dated(TODAY),
    )
    .unwrap();
    let slugs = [SLUG, "alder-row"];
    let cursor_file = f.tmp.path().join("cursor");
    let app = Arc::new(f.spawn_app(&[], &[]));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers: Vec<_> = (1..=2)
        .map(|n| {
            tokio::spawn(append_until(
                app.clone(),
                SLUG,
                n,
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    writers.push(tokio::spawn(append_until(
        app.clone(),
        "alder-row",
        3,
        stop.clone(),
        acked.clone(),
    )));
    wait_for_more(&acked, 0).await;
    let at_start = all_ids(&f, &slugs);
    let mut seen: Vec<Value> = Vec::new();
    let mut runs = 0;
    loop {
        let before = acked.load(Ordering::Relaxed);
        let since = (runs > 0).then_some(cursor_file.as_path());
        let (lines, cursor, more) = export(&f, since, 97);
        std::fs::write(&cursor_file, &cursor).unwrap();
        seen.extend(lines);
        runs += 1;
        if !more && runs > 8 {
            break;
        }
        assert!(runs < 500, "the export never caught up");
        // Between runs, more writes land (for the first runs at least).
        if runs < 8 {
            wait_for_more(&acked, before).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    // What was written after the last run comes with the next one.
    let (rest, cursor, more) = export(&f, Some(&cursor_file), 10_000);
    assert!(!more);
    std::fs::write(&cursor_file, &cursor).unwrap();
    seen.extend(rest);

    // Event ids are unique within a property (the demo's story has the same ids in
    // both).
    let ids: Vec<String> = seen
        .iter()
        .map(|l| {
            let slug = l["property"]["slug"].as_str().unwrap();
            format!("\"{slug}\" {}", l["event"]["event_id"].as_str().unwrap())
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event twice");
    let stored = all_ids(&f, &slugs);
    assert!(
        at_start.iter().all(|id| unique.contains(id)),
        "the events at the start"
    );
    assert_eq!(
        unique.len(),
        stored.len(),
        "every event, those written meanwhile too"
    );
    assert!(
        stored.len() > at_start.len() + 20,
        "writes went on during the walk"
    );
    // Each property's events in log order, with its name; each line stands alone.
    for slug in slugs {
        let positions: Vec<i64> = seen
            .iter()
            .filter(|l| l["property"]["slug"] == slug)
            .map(|l| l["event"]["position"].as_i64().unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{slug} in order");
        assert_eq!(positions.len(), all_ids(&f, &[slug]).len());
    }
    assert!(seen.iter().any(|l| l["property"]["name"] == "Alder Row"));
    // The state on each action's last line is its state now.
    let storage = f.storage();
    let mut last: HashMap<(String, String), &Value> = HashMap::new();
    for l in &seen {
        let key = (
            l["property"]["slug"].as_str().unwrap().to_string(),
            l["action"]["id"].as_str().unwrap().to_string(),
        );
        last.insert(key, l);
    }
    for ((slug, id), l) in &last {
        let now = action_record(&storage, &Slug::parse(slug).unwrap(), id)
            .unwrap()
            .unwrap()
            .state;
        let state = &l["state"];
        assert_eq!(state["status"], json!(now.status), "{slug} {id}");
        assert_eq!(state["assignee"], json!(now.assignee), "{slug} {id}");
        assert_eq!(state["due"], json!(now.due), "{slug} {id}");
        assert_eq!(state["note_count"], json!(now.note_count), "{slug} {id}");
        assert_eq!(state["updated_at"], json!(now.updated_at), "{slug} {id}");
        assert_eq!(l["action"]["title"], json!(now.title));
    }

    // The server restarts; what is written after comes from the saved cursor, alone.
    assert!(Arc::into_inner(app).unwrap().stop());
    let (nothing, same, more) = export(&f, Some(&cursor_file), 100);
    assert!(nothing.is_empty() && !more);
    assert_eq!(same, cursor, "nothing new: the same cursor");
    let app = f.spawn_app(&[], &[]);
    for i in 0..5 {
        let answer = client()
            .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-004/events")))
            .json(&json!({"type": "note_added", "payload": {"note": format!("after restart {i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
    }
    let (after, _, more) = export(&f, Some(&cursor_file), 100);
    assert!(!more);
    let notes: Vec<&str> = after
        .iter()
        .map(|l| l["event"]["payload"]["note"].as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        (0..5)
            .map(|i| format!("after restart {i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        after[4]["state"]["note_count"],
        after[0]["state"]["note_count"].as_u64().unwrap() + 4
    );
    // A cursor that is not one is a usage error.
    let out = f.run(&["export", "--jsonl", "--since", "v1.%%%"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not base64url"));
    drop(app);
}
