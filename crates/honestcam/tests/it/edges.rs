//! Bad input and edge cases: each a behaviour that once went wrong quietly.

use std::fs;

use serde_json::{Value, json};

use crate::support::{Fixture, SLUG, client, count, event_rows, migrated, snapshot};

/// Rewrites the fixture's baseline with `edit` applied.
fn edit_baseline(f: &Fixture, edit: impl FnOnce(&mut Value)) {
    let path = f.prop().join("compliance.json");
    let mut baseline: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut baseline);
    fs::write(&path, serde_json::to_vec_pretty(&baseline).unwrap()).unwrap();
}

#[test]
fn events_that_cannot_apply_are_counted_listed_by_position_and_imported_as_they_are() {
    let f = Fixture::new();
    let path = f.prop().join("compliance-log.json");
    let mut log: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let events = log["events"].as_array_mut().unwrap();
    let n = events.len();
    let bad = |action: &str, kind: &str, payload: Value| json!({"action_id": action, "type": kind, "payload": payload, "actor": "x", "at": "2026-01-01T00:00:00Z"});
    events.push(bad("NOPE", "note_added", json!({"note": "lost"})));
    events.push(bad(
        "ACT-001",
        "status_changed",
        json!({"status": "finished"}),
    ));
    events.push(bad("ACT-001", "due_changed", json!({"due": "May 1"})));
    events.push(bad("ACT-001", "note_added", Value::Null));
    fs::write(&path, serde_json::to_vec(&log).unwrap()).unwrap();

    let dry = f.plan(&["db-migrate", SLUG]);
    assert_eq!(count(&dry, honestcam::ops::import::UNAPPLIABLE), 4);
    let notes = dry["notes"].to_string();
    assert!(notes.contains(&format!("event #{}", n + 1)), "{notes}");
    assert!(notes.contains("unknown action \\\"NOPE\\\""), "{notes}");
    assert!(notes.contains("finished"), "{notes}");
    assert!(notes.contains("May 1"), "{notes}");
    assert!(notes.contains(&format!("event #{}", n + 4)), "{notes}");
    let done = f.plan(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(count(&done, honestcam::ops::import::UNAPPLIABLE), 4);
    assert_eq!(count(&done, honestcam::ops::import::EVENTS), n as u64 + 4);
    assert_eq!(event_rows(&f), n as i64 + 4, "imported verbatim");
}

#[test]
fn an_invalid_baseline_is_named_with_its_file_and_field() {
    let f = Fixture::new();
    edit_baseline(&f, |b| b["property"]["name"] = json!(""));
    let out = f.run(&["db-migrate", SLUG, "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compliance.json") && err.contains("property.name"),
        "{err}"
    );
    edit_baseline(&f, |b| {
        b["property"].as_object_mut().unwrap().remove("name");
    });
    let err = String::from_utf8_lossy(&f.run(&["db-migrate", SLUG]).stderr).into_owned();
    assert!(
        err.contains("compliance.json") && err.contains("`name`"),
        "{err}"
    );
    assert!(!f.prop().join("honestcam.db").exists());
}

#[test]
fn one_broken_property_does_not_hide_the_others_in_db_status() {
    let f = migrated();
    honestcam::ops::demo::write_demo(
        &f.data()
            .property(&honestcam::property::Slug::parse("other").unwrap()),
        "Other",
        &honestcam::ops::demo::DemoOptions::dated(crate::support::TODAY),
    )
    .unwrap();
    edit_baseline(&f, |b| b["actions"][0]["due"] = json!("soon"));
    let out = f.run(&["db-status", "--json"]);
    assert_eq!(out.status.code(), Some(1), "a broken property is a failure");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let broken = rows.iter().find(|r| r["slug"] == SLUG).unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("actions[0].due"),
        "{broken}"
    );
    let other = rows.iter().find(|r| r["slug"] == "other").unwrap();
    assert!(other.get("error").is_none());
    assert_eq!(other["events"], 12);
    let text = String::from_utf8_lossy(&f.run(&["db-status"]).stdout).into_owned();
    assert!(text.contains("other") && text.contains("error:"), "{text}");
}

#[test]
fn json_commands_report_failures_as_json() {
    let f = Fixture::new();
    for args in [
        &["db-migrate", "nope", "--json"][..],
        &["db-rollback", "nope", "--execute", "--json"],
        &["db-init", "nope", "--json"],
    ] {
        let out = f.run(args);
        assert!(!out.status.success(), "{args:?}");
        let body: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {:?}", out.stdout));
        assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
        assert_eq!(body["exit_code"], out.status.code().unwrap());
    }
}

#[test]
fn a_rollback_dry_run_changes_nothing_even_with_migrations_pending() {
    let f = migrated();
    // An older schema version: a read-write open would migrate it.
    let db = f.prop().join("honestcam.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch("PRAGMA user_version = 0").unwrap();
    drop(conn);
    let before = snapshot(&f.dir());
    let plan = f.plan(&["db-rollback", SLUG]);
    assert_eq!(count(&plan, honestcam::ops::rollback::EVENTS), 12);
    assert_eq!(snapshot(&f.dir()), before, "byte-identical");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {version}"))
        .unwrap();
}

#[tokio::test]
async fn an_update_that_changes_nothing_appends_nothing() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let status_url = app.url("/compliance/actions/ACT-001");
    let c = client();
    let page = c.get(app.url("/compliance/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    let card = &page[page.find("id=\"action-ACT-001\"").unwrap()..];
    let at = card.find("data-status=\"").unwrap() + "data-status=\"".len();
    let current = card[at..at + card[at..].find('"').unwrap()].to_string();
    let rows = event_rows(&f);
    let r = c
        .post(&status_url)
        .form(&[("status", current.as_str()), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(event_rows(&f), rows, "same status, no note: nothing stored");
    let r = c
        .post(&status_url)
        .form(&[("status", current.as_str()), ("note", "just a note")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(event_rows(&f), rows + 1, "only the note");
    let assign = |who: &'static str| {
        c.post(app.url("/compliance/actions/ACT-001"))
            .form(&[("assignee", who)])
            .send()
    };
    assert_eq!(assign("Someone New").await.unwrap().status(), 303);
    assert_eq!(event_rows(&f), rows + 2);
    assert_eq!(assign("Someone New").await.unwrap().status(), 303);
    assert_eq!(
        event_rows(&f),
        rows + 2,
        "an unchanged assignee is not stored again"
    );
}

#[tokio::test]
async fn notes_have_a_size_limit() {
    let f = migrated();
    let app = f.spawn_app(&[], &[]);
    let c = client();
    let rows = event_rows(&f);
    let long = "x".repeat(honestcam::domain::compliance::MAX_NOTE_CHARS + 1);
    let r = c
        .post(app.url("/compliance/actions/ACT-001"))
        .form(&[("note", long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = c
        .post(app.url(&format!("/api/p/{SLUG}/actions/ACT-001/events")))
        .json(&json!({"type": "note_added", "payload": {"note": long}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    assert_eq!(event_rows(&f), rows);
}

#[tokio::test]
async fn action_ids_go_into_form_urls_encoded() {
    let f = Fixture::new();
    edit_baseline(&f, |b| {
        let actions = b["actions"].as_array_mut().unwrap();
        let mut odd = actions[0].clone();
        odd["id"] = json!("ACT%41");
        let mut plain = actions[0].clone();
        plain["id"] = json!("ACTA");
        actions.push(odd);
        actions.push(plain);
    });
    f.plan(&["db-migrate", SLUG, "--execute"]);
    let app = f.spawn_app(&[], &[]);
    let c = client();
    let page = c.get(app.url("/compliance/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    // The form's action as the page gives it, posted as a browser would.
    let marker = "/compliance/actions/ACT%2541";
    assert!(page.contains(marker), "no encoded form action");
    let r = c
        .post(app.url(marker))
        .form(&[("note", "for the odd one")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("#action-ACT%2541"), "{location}");
    let events = honestcam::service::compliance::load_events(&f.storage(), &f.slug()).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action_id, "ACT%41", "not ACTA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_answers_by_one_user_all_land() {
    for migrate in [true, false] {
        let f = if migrate { migrated() } else { Fixture::new() };
        let app = f.spawn_app(&[], &[]);
        let c = client();
        let user: Value = c
            .post(app.url(&format!("/api/p/{SLUG}/study/users")))
            .json(&json!({"name": "Racer"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = user["user"]["user_id"].as_str().unwrap().to_string();
        let questions: Vec<_> = honestcam::domain::questions::QUESTIONS
            .iter()
            .take(8)
            .map(|q| q.id)
            .collect();
        let answers = questions.iter().map(|q| {
            let (c, url, id) = (
                c.clone(),
                app.url(&format!("/api/p/{SLUG}/study/answers")),
                id.clone(),
            );
            let q = q.to_string();
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .json(&json!({"user_id": id, "question": q, "choice": 0}))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        });
        for a in answers.collect::<Vec<_>>() {
            assert_eq!(a.await.unwrap(), 200);
        }
        let blob: Value = c
            .get(app.url(&format!("/api/p/{SLUG}/study/progress/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kept = blob["quiz"]["answers"].as_object().unwrap();
        assert_eq!(kept.len(), questions.len(), "migrated: {migrate}: {blob}");
    }
}

#[tokio::test]
async fn a_property_database_alone_serves_its_baseline() {
    let f = migrated();
    let conn = rusqlite::Connection::open(f.prop().join("honestcam.db")).unwrap();
    let stored: String = conn
        .query_row("SELECT json FROM baseline", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    assert!(
        stored.contains("Bamboo House"),
        "stored at migration: {stored}"
    );
    // The ingest input changes: the copy follows.
    edit_baseline(&f, |b| b["property"]["name"] = json!("Bamboo House II"));
    let storage = f.storage();
    let paths = storage.property(&f.slug()).unwrap();
    assert_eq!(
        storage.baseline(&paths).unwrap().property.name,
        "Bamboo House II"
    );
    drop(storage);
    // Without the file (a restored database alone), the portal still serves it.
    fs::remove_file(f.prop().join("compliance.json")).unwrap();
    let app = f.spawn_app(&[], &[]);
    let page = client().get(app.url("/compliance/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Bamboo House II") && page.contains("ACT-001"),
        "{page}"
    );
}
