//! The write path on SQLite: every property database has a writer of its own (a
//! `statekit` group-commit writer), which commits the units of work waiting at that
//! moment together, each rolled back alone if it fails.

use std::sync::mpsc;
use std::time::Duration;

use honestcam::domain::{Change, Event};
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::property::Slug;
use honestcam::service::compliance::{load_events, record_change};
use honestcam::storage::Storage;
use rusqlite::Connection;
use statekit::sqlite::Database;
use statekit::sqlite::group::Pending;

use crate::support::{Fixture, migrated};

const OTHER: &str = "second-house";

/// The migrated demo property and a second migrated property beside it.
fn two_properties() -> (Fixture, Slug) {
    let f = migrated();
    let other = Slug::parse(OTHER).unwrap();
    write_demo(
        &f.data().property(&other),
        "Second House",
        &DemoOptions::dated(crate::support::TODAY),
    )
    .unwrap();
    f.plan(&["db-migrate", OTHER, "--execute"]);
    (f, other)
}

/// The property's database, its baseline already stored in it (so that the next
/// write is the one the test makes).
fn database(storage: &Storage, slug: &Slug) -> std::sync::Arc<Database> {
    let paths = storage.property(slug).unwrap();
    storage.baseline(&paths).unwrap();
    storage
        .databases()
        .property_existing(&paths.db())
        .unwrap()
        .unwrap()
}

/// Occupies `db`'s writer with a unit that waits until the returned sender is used,
/// so that units handed over meanwhile queue up behind it and form the next batch.
fn hold(db: &Database) -> (Pending<(), rusqlite::Error>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let pending = db.writer().submit(move |_: &Connection| {
        started_tx.send(()).unwrap();
        let _ = released.recv();
        Ok(())
    });
    started.recv().unwrap();
    (pending, release)
}

fn note(text: &str) -> Change {
    Change::Note(text.into())
}

fn notes(storage: &Storage, slug: &Slug) -> Vec<String> {
    load_events(storage, slug)
        .unwrap()
        .into_iter()
        .filter_map(|e: Event| e.payload["note"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_write_held_up_in_one_property_does_not_hold_up_another() {
    let (f, other) = two_properties();
    let storage = f.storage();
    database(&storage, &other);
    let (held, release) = hold(&database(&storage, &f.slug()));
    std::thread::scope(|s| {
        // Dropped if an assertion fails, which lets the held unit go.
        let release = release;
        let (done_tx, done) = mpsc::channel();
        for (slug, text) in [(f.slug(), "held up"), (other.clone(), "goes through")] {
            let (storage, done_tx) = (&storage, done_tx.clone());
            s.spawn(move || {
                record_change(storage, &slug, "ACT-001", &note(text), "kim").unwrap();
                done_tx.send(text).unwrap();
            });
        }
        assert_eq!(
            done.recv_timeout(Duration::from_secs(20)),
            Ok("goes through"),
            "the second property's writer commits while the first one's is busy"
        );
        assert!(
            done.recv_timeout(Duration::from_millis(300)).is_err(),
            "the first property's write waits for its own writer"
        );
        release.send(()).unwrap();
        assert_eq!(done.recv().unwrap(), "held up");
    });
    held.wait().unwrap();
    assert!(notes(&storage, &other).contains(&"goes through".to_string()));
    assert!(notes(&storage, &f.slug()).contains(&"held up".to_string()));
}

#[test]
fn a_failing_unit_leaves_the_portal_appends_of_its_batch_committed() {
    let f = migrated();
    let storage = f.storage();
    let db = database(&storage, &f.slug());
    let before = db.writer().stats();
    let (held, release) = hold(&db);
    std::thread::scope(|s| {
        let release = release;
        let mut appends = Vec::new();
        for text in ["first note", "second note"] {
            let storage = &storage;
            let slug = f.slug();
            appends.push(s.spawn(move || {
                record_change(storage, &slug, "ACT-001", &note(text), "kim").unwrap()
            }));
        }
        // Queued with them: a unit that appends, then breaks the log's rules.
        let failing = db.writer().submit(|c: &Connection| {
            c.execute(
                "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at)
                 VALUES ('doomed', 'ACT-001', 'note_added', '{\"note\":\"doomed\"}', 'm', 't')",
                [],
            )?;
            c.execute("UPDATE compliance_events SET actor = 'mallory'", [])
        });
        // Let the appends reach the queue (each takes the property's lock first).
        std::thread::sleep(Duration::from_millis(500));
        release.send(()).unwrap();
        let err = failing.wait().unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        for append in appends {
            assert_eq!(append.join().unwrap().kind, "note_added");
        }
    });
    held.wait().unwrap();
    let stored = notes(&storage, &f.slug());
    assert!(stored.contains(&"first note".to_string()), "{stored:?}");
    assert!(stored.contains(&"second note".to_string()), "{stored:?}");
    assert!(!stored.contains(&"doomed".to_string()), "rolled back alone");
    assert!(
        load_events(&storage, &f.slug())
            .unwrap()
            .iter()
            .all(|e| e.actor != "mallory")
    );
    let after = db.writer().stats();
    assert!(
        after.shared_batches > before.shared_batches && after.largest_batch >= 3,
        "the appends and the failing unit shared a batch: {after:?}"
    );
}
