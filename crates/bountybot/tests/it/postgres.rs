//! What only the PostgreSQL backend has: migrations applied once by replicas starting
//! together, a schema from another version refused, passwords never shown.

use std::sync::{Arc, Barrier};

use bountybot::store::StoreError;
use bountybot::store::postgres::{DatabaseUrl, PostgresStore};

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
        matches!(&e, StoreError::PostgresSchema(m) if m.contains("migration 99 (0099_future.sql)") && m.contains("newer")),
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
