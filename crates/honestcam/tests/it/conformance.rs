//! One storage suite, run against both property backends (SQLite and the legacy JSON
//! files) through [`honestcam::storage::PropertyStore`], so the two cannot drift.

use honestcam::domain::{Change, Event, Progress, StudyUser, UserId};
use honestcam::service::compliance::{load_events, record_change, save_events};
use honestcam::service::study;
use honestcam::storage::Backend;
use serde_json::json;

use crate::support::{Fixture, migrated};

fn event(id: &str, note: &str) -> Event {
    Event {
        event_id: id.into(),
        action_id: "ACT-001".into(),
        kind: "note_added".into(),
        payload: json!({ "note": note }),
        actor: "kim".into(),
        at: "2026-03-01T00:00:00Z".into(),
        extra: [("channel".to_string(), json!("sms"))]
            .into_iter()
            .collect(),
    }
}

fn user(id: &str, name: &str, created_at: &str) -> StudyUser {
    StudyUser {
        user_id: UserId::parse(id).unwrap(),
        name: name.into(),
        created_at: created_at.into(),
        owner: None,
    }
}

fn blob(v: serde_json::Value) -> Progress {
    v.as_object().unwrap().clone()
}

fn check_backend(f: &Fixture, backend: Backend) {
    let storage = f.storage();
    let store = storage.read(&f.slug()).unwrap();
    assert_eq!(store.backend(), backend);
}

fn appends_only_new_ids_in_order_and_reads_them_back_verbatim(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let before = load_events(&storage, &f.slug()).unwrap();
    let added = save_events(
        &storage,
        &f.slug(),
        &[event("c1", "one"), event("c2", "two")],
    );
    assert_eq!(added.unwrap(), 2);
    let again = save_events(
        &storage,
        &f.slug(),
        &[event("c2", "two"), event("c3", "three")],
    );
    assert_eq!(again.unwrap(), 1, "a known id is skipped");
    let after = load_events(&storage, &f.slug()).unwrap();
    assert_eq!(after.len(), before.len() + 3);
    assert_eq!(&after[..before.len()], &before[..], "history unchanged");
    assert_eq!(
        &after[before.len()..],
        &[event("c1", "one"), event("c2", "two"), event("c3", "three")],
        "in order, extra fields kept"
    );
    let store = storage.read(&f.slug()).unwrap();
    let tail = store.events_after(before.len() as i64).unwrap();
    let ids: Vec<_> = tail.iter().map(|(_, e)| e.event_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
}

fn a_change_to_an_unknown_action_is_refused_and_stores_nothing(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let before = load_events(&storage, &f.slug()).unwrap();
    let err = record_change(
        &storage,
        &f.slug(),
        "NOPE",
        &Change::Note("x".into()),
        "kim",
    );
    assert!(err.unwrap_err().to_string().contains("no action \"NOPE\""));
    assert_eq!(load_events(&storage, &f.slug()).unwrap(), before);
    let e = record_change(
        &storage,
        &f.slug(),
        "ACT-002",
        &Change::Note("y".into()),
        "kim",
    );
    let e = e.unwrap();
    assert_eq!(load_events(&storage, &f.slug()).unwrap().last(), Some(&e));
}

fn users_are_ordered_by_creation_then_id_and_renamed_in_place(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let slug = f.slug();
    let existing = study::users(&storage, &slug).unwrap();
    for u in [
        user("zed", "Zed", "2020-01-02T00:00:00Z"),
        user("amy", "Amy", "2020-01-02T00:00:00Z"),
        user("old", "Old", "2019-12-31T00:00:00Z"),
    ] {
        study::upsert_user(&storage, &slug, &u).unwrap();
    }
    study::upsert_user(
        &storage,
        &slug,
        &user("amy", "Amelia", "2020-01-02T00:00:00Z"),
    )
    .unwrap();
    let users = study::users(&storage, &slug).unwrap();
    assert_eq!(users.len(), existing.len() + 3);
    let ours: Vec<_> = users
        .iter()
        .filter(|u| ["zed", "amy", "old"].contains(&u.user_id.as_str()))
        .map(|u| (u.user_id.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(ours, [("old", "Old"), ("amy", "Amelia"), ("zed", "Zed")]);
    let mut sorted = users.clone();
    sorted.sort_by(|a, b| (&a.created_at, &a.user_id).cmp(&(&b.created_at, &b.user_id)));
    assert_eq!(users, sorted, "the whole list is in that order");
}

fn progress_is_replaced_whole_and_listed_by_user(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let slug = f.slug();
    let (a, b) = (UserId::parse("p-a").unwrap(), UserId::parse("p-b").unwrap());
    assert_eq!(study::progress(&storage, &slug, &a).unwrap(), None);
    study::save_progress(&storage, &slug, &b, &blob(json!({"x": 1}))).unwrap();
    study::save_progress(&storage, &slug, &a, &blob(json!({"a": 1, "b": 2}))).unwrap();
    study::save_progress(&storage, &slug, &a, &blob(json!({"c": 3}))).unwrap();
    assert_eq!(
        study::progress(&storage, &slug, &a).unwrap(),
        Some(blob(json!({"c": 3})))
    );
    let all = study::all_progress(&storage, &slug).unwrap();
    let ours: Vec<_> = all
        .iter()
        .filter(|(u, _)| u == &a || u == &b)
        .map(|(u, _)| u.as_str())
        .collect();
    assert_eq!(ours, ["p-a", "p-b"], "by user id");
    let ids: Vec<_> = all.iter().map(|(u, _)| u.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

fn a_failed_progress_update_saves_nothing(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let slug = f.slug();
    let u = UserId::parse("p-fail").unwrap();
    study::save_progress(&storage, &slug, &u, &blob(json!({"keep": true}))).unwrap();
    let err = study::answer(&storage, &slug, &u, "no-such-question", 0).unwrap_err();
    assert!(err.to_string().contains("unknown question"), "{err}");
    assert_eq!(
        study::progress(&storage, &slug, &u).unwrap(),
        Some(blob(json!({"keep": true})))
    );
    let q = honestcam::domain::questions::QUESTIONS[0].id;
    study::answer(&storage, &slug, &u, q, 0).unwrap();
    let saved = study::progress(&storage, &slug, &u).unwrap().unwrap();
    assert_eq!(saved["keep"], true, "other keys kept");
    assert!(saved["quiz"]["answers"][q].is_object());
}

macro_rules! backend_suite {
    ($backend:ident, $fixture:expr, $kind:expr) => {
        mod $backend {
            use super::*;

            #[test]
            fn appends_only_new_ids_in_order_and_reads_them_back_verbatim() {
                super::appends_only_new_ids_in_order_and_reads_them_back_verbatim($fixture, $kind)
            }

            #[test]
            fn a_change_to_an_unknown_action_is_refused_and_stores_nothing() {
                super::a_change_to_an_unknown_action_is_refused_and_stores_nothing($fixture, $kind)
            }

            #[test]
            fn users_are_ordered_by_creation_then_id_and_renamed_in_place() {
                super::users_are_ordered_by_creation_then_id_and_renamed_in_place($fixture, $kind)
            }

            #[test]
            fn progress_is_replaced_whole_and_listed_by_user() {
                super::progress_is_replaced_whole_and_listed_by_user($fixture, $kind)
            }

            #[test]
            fn a_failed_progress_update_saves_nothing() {
                super::a_failed_progress_update_saves_nothing($fixture, $kind)
            }
        }
    };
}

backend_suite!(sqlite, migrated(), Backend::Sqlite);
backend_suite!(json_files, Fixture::new(), Backend::Json);
