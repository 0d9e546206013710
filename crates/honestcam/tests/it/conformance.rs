//! One storage suite, run against both property backends (SQLite and the legacy JSON
//! files) through [`honestcam::storage::PropertyStore`], so the two cannot drift.

use honestcam::domain::{Change, Event, Identity, Progress, Role, StudyUser, UserId};
use honestcam::service::compliance::{
    Unchanged, load_events, record_change, record_changes, save_events,
};
use honestcam::service::study::{self, StudyError};
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

fn who(name: &str, role: Role) -> Identity {
    Identity::new(name, role)
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

fn equal_edits_at_once_record_one_event_and_each_edit_is_one_unit(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = std::sync::Arc::new(f.storage());
    let slug = f.slug();
    let before = load_events(&storage, &slug).unwrap().len();
    // The same edit submitted eight times at once: each compares with the action as
    // it stands inside its unit of work, so only the first records anything.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (storage, slug) = (storage.clone(), slug.clone());
            std::thread::spawn(move || {
                record_changes(
                    &storage,
                    &slug,
                    "ACT-004",
                    &[
                        Change::Assignee(Some("Zed Quill".into())),
                        Change::Due(Some("2031-02-03".into())),
                    ],
                    &format!("editor-{i}"),
                    Unchanged::Skip,
                )
                .unwrap()
                .len()
            })
        })
        .collect();
    let stored: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut counts = stored.clone();
    counts.sort();
    assert_eq!(counts, [0, 0, 0, 0, 0, 0, 0, 2], "{stored:?}");
    let after = load_events(&storage, &slug).unwrap();
    assert_eq!(after.len(), before + 2);
    let (assignee, due) = (&after[before], &after[before + 1]);
    assert_eq!(assignee.kind, "assignee_changed");
    assert_eq!(due.kind, "due_changed");
    assert_eq!(assignee.actor, due.actor, "both from one edit");

    // A decision that fails stores nothing; one that returns nothing stores nothing.
    let store = storage.write(&slug).unwrap();
    let last = due.clone();
    let failed = store
        .append_for_action("ACT-004", move |prior| {
            // What the action's events so far changed: the last two set these.
            assert_eq!(prior.assignee, Some(Some("Zed Quill".to_string())));
            assert_eq!(prior.due, Some(Some("2031-02-03".to_string())));
            assert_eq!(prior.updated_at.as_deref(), Some(last.at.as_str()));
            assert_eq!(prior.updated_by.as_deref(), Some(last.actor.as_str()));
            Err::<Vec<Event>, _>("changed my mind")
        })
        .unwrap();
    assert_eq!(failed, Err("changed my mind"));
    let none = store
        .append_for_action("ACT-004", |_| Ok::<_, ()>(Vec::new()))
        .unwrap();
    assert_eq!(none, Ok(Vec::new()));
    drop(store);
    assert_eq!(load_events(&storage, &slug).unwrap(), after);
    let history = storage
        .read(&slug)
        .unwrap()
        .action_events("ACT-004")
        .unwrap();
    assert_eq!(
        history,
        after
            .iter()
            .filter(|e| e.action_id == "ACT-004")
            .cloned()
            .collect::<Vec<_>>()
    );
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
    let kim = who("kim@example.org", Role::Editor);
    let (own, _) = study::own_user_or_create(&storage, &slug, &kim, None).unwrap();
    let u = own.user_id;
    study::save_progress(&storage, &slug, &u, &blob(json!({"keep": true}))).unwrap();
    let err = study::answer(&storage, &slug, &kim, None, "no-such-question", 0).unwrap_err();
    assert!(err.to_string().contains("unknown question"), "{err}");
    assert_eq!(
        study::progress(&storage, &slug, &u).unwrap(),
        Some(blob(json!({"keep": true})))
    );
    let q = honestcam::domain::questions::QUESTIONS[0].id;
    study::answer(&storage, &slug, &kim, Some(&u), q, 0).unwrap();
    let saved = study::progress(&storage, &slug, &u).unwrap().unwrap();
    assert_eq!(saved["keep"], true, "other keys kept");
    assert!(saved["quiz"]["answers"][q].is_object());
}

fn an_identity_has_one_user_made_on_first_use_and_renamed_in_place(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let slug = f.slug();
    let kim = who("kim@example.org", Role::Editor);
    let legacy = study::users(&storage, &slug).unwrap();
    assert!(!legacy.is_empty() && legacy.iter().all(|u| u.owner.is_none()));
    assert_eq!(study::own_user(&storage, &slug, &kim).unwrap(), None);
    assert_eq!(
        study::visible_users(&storage, &slug, &kim).unwrap(),
        [],
        "an editor sees no legacy user"
    );

    let (first, created) = study::own_user_or_create(&storage, &slug, &kim, None).unwrap();
    assert!(created);
    assert_eq!(first.name, "kim@example.org", "named after the identity");
    assert_eq!(first.owner.as_deref(), Some("kim@example.org"));
    let (again, created) = study::own_user_or_create(&storage, &slug, &kim, Some("Other")).unwrap();
    assert!(!created);
    assert_eq!(again, first, "the same user, name unchanged");

    let renamed = study::rename_own_user(&storage, &slug, &kim, "  Kim  ").unwrap();
    assert_eq!(
        (renamed.user_id.clone(), renamed.name.as_str()),
        (first.user_id.clone(), "Kim")
    );
    assert_eq!(
        study::own_user(&storage, &slug, &kim).unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        study::visible_users(&storage, &slug, &kim).unwrap(),
        std::slice::from_ref(&renamed)
    );
    assert!(matches!(
        study::rename_own_user(&storage, &slug, &kim, " "),
        Err(StudyError::Name(_))
    ));

    // Another identity's first rename creates its user under that name.
    let lee = who("lee@example.org", Role::Editor);
    let lees = study::rename_own_user(&storage, &slug, &lee, "Lee").unwrap();
    assert_ne!(lees.user_id, renamed.user_id);
    assert_eq!(lees.owner.as_deref(), Some("lee@example.org"));
    let admin = who("boss", Role::Admin);
    assert_eq!(
        study::visible_users(&storage, &slug, &admin).unwrap().len(),
        legacy.len() + 2,
        "an admin sees everyone"
    );

    let viewer = who("vic", Role::Viewer);
    assert!(matches!(
        study::own_user_or_create(&storage, &slug, &viewer, None),
        Err(StudyError::NotEditor { .. })
    ));
    assert_eq!(study::own_user(&storage, &slug, &viewer).unwrap(), None);
}

fn only_the_owner_writes_progress_and_an_admin_reads_it(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = f.storage();
    let slug = f.slug();
    let (kim, lee, boss) = (
        who("kim", Role::Editor),
        who("lee", Role::Editor),
        who("boss", Role::Admin),
    );
    let kims = study::own_user_or_create(&storage, &slug, &kim, None)
        .unwrap()
        .0
        .user_id;
    assert!(matches!(
        study::progress_for(&storage, &slug, &kim, &kims),
        Err(StudyError::NoProgress(_))
    ));
    study::save_progress_for(&storage, &slug, &kim, &kims, &blob(json!({"mine": 1}))).unwrap();
    assert_eq!(
        study::progress_for(&storage, &slug, &kim, &kims).unwrap(),
        blob(json!({"mine": 1}))
    );

    let q = honestcam::domain::questions::QUESTIONS[0].id;
    let refused = [
        study::progress_for(&storage, &slug, &lee, &kims).map(|_| ()),
        study::save_progress_for(&storage, &slug, &lee, &kims, &blob(json!({}))),
        study::answer(&storage, &slug, &lee, Some(&kims), q, 0).map(|_| ()),
        study::save_progress_for(&storage, &slug, &boss, &kims, &blob(json!({}))),
        study::answer(&storage, &slug, &boss, Some(&kims), q, 0).map(|_| ()),
    ];
    for r in refused {
        assert!(matches!(r, Err(StudyError::NotYours { .. })), "{r:?}");
    }
    assert_eq!(
        study::progress_for(&storage, &slug, &boss, &kims).unwrap(),
        blob(json!({"mine": 1})),
        "an admin reads, and nothing above changed it"
    );

    // A legacy user: admins read it, nobody writes it.
    let legacy = study::users(&storage, &slug).unwrap()[0].user_id.clone();
    let before = study::progress(&storage, &slug, &legacy).unwrap();
    assert!(before.is_some(), "the demo's users have progress");
    assert_eq!(
        study::progress_for(&storage, &slug, &boss, &legacy).ok(),
        before
    );
    for caller in [&kim, &boss] {
        let r = study::save_progress_for(&storage, &slug, caller, &legacy, &blob(json!({})));
        assert!(matches!(r, Err(StudyError::NotYours { .. })), "{r:?}");
        let r = study::answer(&storage, &slug, caller, Some(&legacy), q, 0);
        assert!(matches!(r, Err(StudyError::NotYours { .. })), "{r:?}");
    }
    assert!(matches!(
        study::progress_for(&storage, &slug, &kim, &legacy),
        Err(StudyError::NotYours { .. })
    ));
    assert_eq!(study::progress(&storage, &slug, &legacy).unwrap(), before);

    // An id nobody has: 403 to an editor, "no such user" only to an admin.
    let nobody = UserId::parse("nobody").unwrap();
    assert!(matches!(
        study::progress_for(&storage, &slug, &kim, &nobody),
        Err(StudyError::NotYours { .. })
    ));
    assert!(matches!(
        study::save_progress_for(&storage, &slug, &kim, &nobody, &blob(json!({}))),
        Err(StudyError::NotYours { .. })
    ));
    assert!(matches!(
        study::progress_for(&storage, &slug, &boss, &nobody),
        Err(StudyError::UnknownUser(_))
    ));
    assert!(matches!(
        study::save_progress_for(&storage, &slug, &boss, &nobody, &blob(json!({}))),
        Err(StudyError::UnknownUser(_))
    ));
    assert_eq!(study::progress(&storage, &slug, &nobody).unwrap(), None);
}

fn first_uses_at_once_make_one_user(f: Fixture, backend: Backend) {
    check_backend(&f, backend);
    let storage = std::sync::Arc::new(f.storage());
    let slug = f.slug();
    let kim = who("kim", Role::Editor);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (storage, slug, kim) = (storage.clone(), slug.clone(), kim.clone());
            std::thread::spawn(move || study::own_user_or_create(&storage, &slug, &kim, None))
        })
        .collect();
    let made: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(made.iter().filter(|(_, created)| *created).count(), 1);
    assert!(made.iter().all(|(u, _)| u == &made[0].0), "{made:?}");
    let owned: Vec<_> = study::users(&storage, &slug)
        .unwrap()
        .into_iter()
        .filter(|u| u.owner.is_some())
        .collect();
    assert_eq!(owned, [made[0].0.clone()]);
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
            fn equal_edits_at_once_record_one_event_and_each_edit_is_one_unit() {
                super::equal_edits_at_once_record_one_event_and_each_edit_is_one_unit(
                    $fixture, $kind,
                )
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

            #[test]
            fn an_identity_has_one_user_made_on_first_use_and_renamed_in_place() {
                super::an_identity_has_one_user_made_on_first_use_and_renamed_in_place(
                    $fixture, $kind,
                )
            }

            #[test]
            fn only_the_owner_writes_progress_and_an_admin_reads_it() {
                super::only_the_owner_writes_progress_and_an_admin_reads_it($fixture, $kind)
            }

            #[test]
            fn first_uses_at_once_make_one_user() {
                super::first_uses_at_once_make_one_user($fixture, $kind)
            }
        }
    };
}

backend_suite!(sqlite, migrated(), Backend::Sqlite);
backend_suite!(json_files, Fixture::new(), Backend::Json);
