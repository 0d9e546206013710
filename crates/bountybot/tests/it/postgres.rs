//! What only the PostgreSQL backend has: migrations applied once by replicas starting
//! together, a schema from another version refused, passwords never shown.

use std::sync::{Arc, Barrier};

use bountybot::store::StoreError;
use bountybot::store::postgres::{DatabaseUrl, Error, PostgresStore, SchemaError};

use crate::support::postgres::fresh_database;

#[test]
fn replicas_starting_together_apply_each_migration_once() {
    let Some(url) = fresh_database() else { return };
    let url = DatabaseUrl::new(url);
    let start = Arc::new(Barrier::new(6));
    let opened: Vec<_> = (0..6)
        .map(|_| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                PostgresStore::open(&url).map(|_| ())
            })
        })
        .collect();
    for h in opened {
        h.join().unwrap().unwrap();
    }
    let mut c = postgres::Client::connect(url.expose(), postgres::NoTls).unwrap();
    let rows: Vec<i32> = c
        .query(
            "SELECT version FROM bountybot_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let latest = rows.last().copied().unwrap_or(0);
    assert_eq!(
        rows,
        (1..=latest).collect::<Vec<i32>>(),
        "each migration once"
    );
    assert!(latest >= 2);
}

#[test]
fn a_schema_from_a_newer_or_different_bountybot_is_refused() {
    let Some(url) = fresh_database() else { return };
    let url = DatabaseUrl::new(url);
    PostgresStore::open(&url).unwrap();
    let mut c = postgres::Client::connect(url.expose(), postgres::NoTls).unwrap();
    c.execute(
        "INSERT INTO bountybot_migrations VALUES (99, '0099_future.sql', 'x', 0)",
        &[],
    )
    .unwrap();
    let e = PostgresStore::open(&url).unwrap_err();
    assert!(
        matches!(&e, StoreError::Postgres(p) if matches!(&**p, Error::Schema(SchemaError::Unknown { version: 99, name }) if name == "0099_future.sql"))
            && e.to_string().contains("newer"),
        "{e}"
    );
    c.batch_execute(
        "DELETE FROM bountybot_migrations WHERE version = 99;
         UPDATE bountybot_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .unwrap();
    let e = PostgresStore::open(&url).unwrap_err();
    assert!(
        e.to_string().contains("applied from a different file"),
        "{e}"
    );
}

#[test]
fn a_wrong_password_or_server_is_reported_without_the_password() {
    let url =
        DatabaseUrl::new("postgres://bot:s3cret@127.0.0.1:1/nothing?connect_timeout=2".into());
    let e = PostgresStore::open(&url).unwrap_err().to_string();
    assert!(
        e.contains("cannot connect to postgres://bot:***@127.0.0.1:1/nothing"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
    let bad = DatabaseUrl::new("postgres://bot:s3cret@[::1/x".into());
    let e = PostgresStore::open(&bad).unwrap_err().to_string();
    assert!(
        e.starts_with("bad database URL") && !e.contains("s3cret"),
        "{e}"
    );
}

#[test]
fn giving_up_on_a_missing_id_never_lets_an_update_pass_its_chats_pending_one() {
    use bountybot::domain::ChatId;
    use bountybot::domain::UpdateId;
    use bountybot::store::prelude::*;
    use std::time::Duration;
    let Some(url) = fresh_database() else { return };
    let s = PostgresStore::open(&DatabaseUrl::new(url)).unwrap();
    let (a, b) = (ChatId::new(-1), ChatId::new(-2));
    let short = Duration::from_millis(150);
    s.update_received(a, UpdateId::new(300)).unwrap();
    s.update_received(a, UpdateId::new(301)).unwrap();
    // 302 never comes; chat b's 303 gives up waiting for it.
    s.update_received(b, UpdateId::new(303)).unwrap();
    assert!(!s.await_turn(b, UpdateId::new(303), short).unwrap());
    // 301 still waits for 300, which is in work somewhere.
    assert!(!s.await_turn(a, UpdateId::new(301), short).unwrap());
    s.update_done(a, UpdateId::new(300)).unwrap();
    assert!(s.await_turn(a, UpdateId::new(301), short).unwrap());
    // And 304 does not wait for 302 again.
    s.update_done(b, UpdateId::new(303)).unwrap();
    s.update_received(b, UpdateId::new(304)).unwrap();
    assert!(s.await_turn(b, UpdateId::new(304), short).unwrap());
}

#[test]
fn update_ids_that_start_again_lower_are_not_held_up() {
    use bountybot::domain::ChatId;
    use bountybot::domain::UpdateId;
    use bountybot::store::prelude::*;
    use std::time::Duration;
    let Some(url) = fresh_database() else { return };
    let s = PostgresStore::open(&DatabaseUrl::new(url)).unwrap();
    let chat = ChatId::new(-3);
    let short = Duration::from_millis(150);
    for id in 50_000..50_003 {
        s.update_received(chat, UpdateId::new(id)).unwrap();
        assert!(s.await_turn(chat, UpdateId::new(id), short).unwrap());
        s.update_done(chat, UpdateId::new(id)).unwrap();
    }
    // After a week without updates Telegram may start from a lower id.
    for id in 7..10 {
        s.update_received(chat, UpdateId::new(id)).unwrap();
        assert!(
            s.await_turn(chat, UpdateId::new(id), short).unwrap(),
            "{id}"
        );
        s.update_done(chat, UpdateId::new(id)).unwrap();
    }
}
