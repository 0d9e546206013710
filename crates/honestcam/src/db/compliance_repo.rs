//! The compliance event log in SQLite: insert and read, nothing else.
//!
//! This is the only code that writes `compliance_events`, and it only inserts; the
//! schema's triggers refuse `UPDATE` and `DELETE` for everyone else too.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;
use crate::compliance::Event;

/// Inserts the events whose `event_id` is not stored yet, in order, with one prepared
/// statement; returns how many were new. Run it inside a transaction.
pub fn insert_events<'a>(
    conn: &Connection,
    events: impl IntoIterator<Item = &'a Event>,
    mut on_progress: impl FnMut(u64),
) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at, extra)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut inserted = 0;
    let mut seen = 0u64;
    let mut payload = String::new();
    let mut extra = String::new();
    for e in events {
        payload.clear();
        extra.clear();
        // Writing into a String cannot fail for a serde_json::Value.
        payload.push_str(&e.payload.to_string());
        if e.extra.is_empty() {
            extra.push_str("{}");
        } else {
            extra.push_str(
                &serde_json::Value::from(serde_json::Map::from_iter(e.extra.clone())).to_string(),
            );
        }
        inserted += stmt.execute(params![
            e.event_id,
            e.action_id,
            e.kind,
            payload,
            e.actor,
            e.at,
            extra
        ])? as u64;
        seen += 1;
        if seen.is_multiple_of(10_000) {
            on_progress(seen);
        }
    }
    on_progress(seen);
    Ok(inserted)
}

/// Loads `events` into an empty log in one go: the table's indexes and triggers are
/// dropped, the rows inserted in order, and everything recreated from its stored SQL,
/// so each index is built by one sort instead of a million random inserts. Duplicate
/// ids in `events` are skipped first. Run inside a transaction; the schema is the same
/// when it commits.
pub fn bulk_load_into_empty(
    conn: &Connection,
    events: &[Event],
    on_progress: impl FnMut(u64),
) -> Result<u64, DbError> {
    let mut seen = std::collections::HashSet::with_capacity(events.len());
    let unique = events.iter().filter(|e| seen.insert(e.event_id.as_str()));
    let deferred: Vec<(String, String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT type, name, sql FROM sqlite_master
             WHERE tbl_name = 'compliance_events' AND type IN ('index', 'trigger') AND sql IS NOT NULL",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?
    };
    for (kind, name, _) in &deferred {
        let kind = if kind == "index" { "INDEX" } else { "TRIGGER" };
        conn.execute_batch(&format!("DROP {kind} \"{}\"", name.replace('"', "\"\"")))?;
    }
    let n = insert_events(conn, unique, on_progress)?;
    for (_, _, sql) in &deferred {
        conn.execute_batch(sql)?;
    }
    Ok(n)
}

/// Every event, in the order they were appended.
pub fn load_events(conn: &Connection) -> Result<Vec<Event>, DbError> {
    Ok(load_events_after(conn, 0)?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// The events appended after position `seq`, with their positions.
pub fn load_events_after(conn: &Connection, seq: i64) -> Result<Vec<(i64, Event)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, action_id, type, payload, actor, at, extra
         FROM compliance_events WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([seq])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let event_id: String = row.get(1)?;
        let payload: String = row.get(4)?;
        let extra: String = row.get(7)?;
        let corrupt = |source| DbError::CorruptRow {
            table: "compliance_events",
            key: event_id.clone(),
            source,
        };
        let payload = serde_json::from_str(&payload).map_err(corrupt)?;
        let extra = serde_json::from_str(&extra).map_err(corrupt)?;
        out.push((
            row.get(0)?,
            Event {
                event_id,
                action_id: row.get(2)?,
                kind: row.get(3)?,
                payload,
                actor: row.get(5)?,
                at: row.get(6)?,
                extra,
            },
        ));
    }
    Ok(out)
}

/// How many events are stored.
pub fn count_events(conn: &Connection) -> Result<u64, DbError> {
    Ok(
        conn.query_row("SELECT count(*) FROM compliance_events", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Whether an event with this id is stored.
pub fn contains(conn: &Connection, event_id: &str) -> Result<bool, DbError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM compliance_events WHERE event_id = ?1")?;
    Ok(stmt.query_row([event_id], |_| Ok(())).optional()?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Databases;
    use serde_json::json;
    use statekit::sqlite::OpenOptions;

    fn event(id: &str) -> Event {
        serde_json::from_value(json!({
            "event_id": id, "action_id": "ACT-001", "type": "note_added",
            "payload": {"note": "hi"}, "actor": "kim", "at": "2026-04-07T10:00:00Z", "channel": "sms"
        }))
        .unwrap()
    }

    fn db() -> (
        tempfile::TempDir,
        std::sync::Arc<statekit::sqlite::Database>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.property(&dir.path().join("honestcam.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn inserts_new_events_once_and_reads_them_back_verbatim() {
        let (_dir, db) = db();
        let events = vec![event("a"), event("b")];
        let n = db.write(|c| insert_events(c, &events, |_| {})).unwrap();
        assert_eq!(n, 2);
        let again = vec![event("b"), event("c")];
        let n = db.write(|c| insert_events(c, &again, |_| {})).unwrap();
        assert_eq!(n, 1, "known ids are skipped");
        let stored = db.read(load_events).unwrap();
        let ids: Vec<_> = stored.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(stored[0], event("a"), "payload and extra fields round-trip");
        assert!(db.read(|c| contains(c, "c")).unwrap());
        assert!(!db.read(|c| contains(c, "z")).unwrap());
        let after = db.read(|c| load_events_after(c, 2)).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].0, 3);
    }

    #[test]
    fn bulk_load_skips_duplicates_and_leaves_the_schema_as_migrated() {
        let (_dir, db) = db();
        let schema = |db: &statekit::sqlite::Database| -> Vec<(String, String)> {
            db.read(|c| {
                let mut s = c.prepare(
                    "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name",
                )?;
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
        };
        let before = schema(&db);
        let events = vec![event("a"), event("b"), event("a")];
        let n = db
            .write(|c| {
                let tx = c.transaction()?;
                let n = bulk_load_into_empty(&tx, &events, |_| {})?;
                tx.commit()?;
                Ok::<_, DbError>(n)
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(schema(&db), before);
        assert_eq!(
            db.write(|c| insert_events(c, &[event("b")], |_| {}))
                .unwrap(),
            0,
            "dedup still enforced"
        );
    }

    #[test]
    fn the_database_refuses_update_and_delete() {
        let (_dir, db) = db();
        db.write(|c| insert_events(c, &[event("a")], |_| {}))
            .unwrap();
        let upd = db
            .write(|c| c.execute("UPDATE compliance_events SET actor = 'mallory'", []))
            .unwrap_err();
        assert!(upd.to_string().contains("append-only"), "{upd}");
        let del = db
            .write(|c| c.execute("DELETE FROM compliance_events", []))
            .unwrap_err();
        assert!(del.to_string().contains("append-only"), "{del}");
        let replace = db.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO compliance_events (event_id, action_id, type, payload, actor, at)
                 VALUES ('a', 'X', 'x', '{}', 'm', 't')",
                [],
            )
        });
        assert_eq!(
            replace.unwrap(),
            0,
            "a known event_id is skipped, even by REPLACE"
        );
        let taken = db.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO compliance_events (seq, event_id, action_id, type, payload, actor, at)
                 VALUES (1, 'new', 'X', 'x', '{}', 'm', 't')",
                [],
            )
        });
        assert!(taken.unwrap_err().to_string().contains("append-only"));
        let stored = db.read(load_events).unwrap();
        assert_eq!(stored, vec![event("a")], "history is unchanged");
    }
}
