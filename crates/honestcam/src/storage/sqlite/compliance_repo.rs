//! The compliance event log in SQLite: insert and read, nothing else.
//!
//! This is the only code that writes `compliance_events`, and it only inserts; the
//! schema's triggers refuse `UPDATE` and `DELETE` for everyone else too. Every insert
//! folds what it appended into the projection ([`super::projection_repo`]) and the
//! search index ([`super::search_repo`]) in the same transaction.

use rusqlite::{Connection, OptionalExtension, Statement, params};

use super::DbError;
use crate::domain::Event;
use crate::storage::record::EventRecord;

const INSERT: &str =
    "INSERT INTO compliance_events (event_id, action_id, type, payload, actor, at, extra)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// How often, in events, long inserts report progress.
const PROGRESS_EVERY: u64 = 10_000;

fn insert(stmt: &mut Statement<'_>, r: &EventRecord) -> rusqlite::Result<usize> {
    stmt.execute(params![
        r.event_id,
        r.action_id,
        r.kind,
        r.payload,
        r.actor,
        r.at,
        r.extra
    ])
}

/// Inserts the events whose `event_id` is not stored yet, in order, with one prepared
/// statement, and folds them into the projection; returns how many were new. Run it
/// inside a transaction.
pub fn insert_events<'a>(
    conn: &Connection,
    events: impl IntoIterator<Item = &'a Event>,
    on_progress: impl FnMut(u64),
) -> Result<u64, DbError> {
    insert_records(conn, events.into_iter().map(EventRecord::from), on_progress)
}

/// [`insert_events`] for events already encoded.
pub fn insert_records(
    conn: &Connection,
    records: impl IntoIterator<Item = impl std::borrow::Borrow<EventRecord>>,
    mut on_progress: impl FnMut(u64),
) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(INSERT)?;
    let (mut inserted, mut seen) = (0, 0u64);
    for r in records {
        // The schema's trigger skips a known event_id: 0 rows changed.
        inserted += insert(&mut stmt, r.borrow())? as u64;
        seen += 1;
        if seen.is_multiple_of(PROGRESS_EVERY) {
            on_progress(seen);
        }
    }
    on_progress(seen);
    if inserted > 0 {
        super::projection_repo::catch_up(conn)?;
        super::search_repo::catch_up(conn)?;
    }
    Ok(inserted)
}

/// Loads events into an empty log in one go. [`BulkLoad::begin`] drops the table's
/// indexes and triggers, [`BulkLoad::push`] appends rows in order, and
/// [`BulkLoad::finish`] recreates everything from its stored SQL, so each index is
/// built by one sort instead of a million random inserts.
///
/// Nothing skips a known id meanwhile: the caller pushes each id once (see
/// [`crate::storage::legacy::LegacyIds`]), and `finish` fails on the unique index
/// otherwise. The caller also folds what it pushes (it has every event parsed
/// already), and `finish` stores that projection, refusing one that covers other
/// positions than those loaded. Run inside a transaction, and roll back (or discard the file) if
/// `finish` is not reached: until then the table has no indexes and no append-only
/// triggers.
#[derive(Debug)]
pub struct BulkLoad<'c> {
    conn: &'c Connection,
    stmt: Statement<'c>,
    deferred: Vec<String>,
    loaded: u64,
}

impl<'c> BulkLoad<'c> {
    /// Starts a bulk load; the log must be empty.
    pub fn begin(conn: &'c Connection) -> Result<BulkLoad<'c>, DbError> {
        if count_events(conn)? > 0 {
            return Err(DbError::NotEmpty("compliance_events"));
        }
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
        Ok(BulkLoad {
            conn,
            stmt: conn.prepare(INSERT)?,
            deferred: deferred.into_iter().map(|(_, _, sql)| sql).collect(),
            loaded: 0,
        })
    }

    /// Appends `record`, whose id no earlier push had.
    pub fn push(&mut self, record: &EventRecord) -> Result<(), DbError> {
        insert(&mut self.stmt, record)?;
        self.loaded += 1;
        Ok(())
    }

    /// How many events were appended so far.
    pub fn loaded(&self) -> u64 {
        self.loaded
    }

    /// Recreates the indexes and triggers, stores `projection`, the fold of the events
    /// pushed (positions 1 to [`BulkLoad::loaded`]), and fills the search index;
    /// returns how many events were appended.
    pub fn finish(self, projection: &crate::domain::Projection) -> Result<u64, DbError> {
        let BulkLoad {
            conn,
            stmt,
            deferred,
            loaded,
        } = self;
        drop(stmt);
        let end = conn.query_row(
            "SELECT coalesce(max(seq), 0) FROM compliance_events",
            [],
            |r| r.get::<_, i64>(0),
        )?;
        if projection.position() != end || u64::try_from(end).ok() != Some(loaded) {
            return Err(DbError::ProjectionMismatch {
                covered: projection.position(),
                loaded,
            });
        }
        for sql in &deferred {
            conn.execute_batch(sql)?;
        }
        super::projection_repo::store(conn, projection)?;
        super::search_repo::catch_up(conn)?;
        Ok(loaded)
    }
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
    read_rows(stmt.query([seq])?)
}

/// At most `limit` events appended after position `seq`, with their positions, in
/// order: one page of the log (by the primary key, never a scan of what came before).
pub fn load_events_page(
    conn: &Connection,
    seq: i64,
    limit: usize,
) -> Result<Vec<(i64, Event)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, action_id, type, payload, actor, at, extra
         FROM compliance_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    read_rows(stmt.query(params![seq, limit])?)
}

/// The position of the last event appended, 0 for an empty log. Positions are never
/// reused: rows are never deleted, and writers are serialised, so a reader that saw
/// position `n` never later sees a new event at or below `n`.
pub fn last_seq(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT coalesce(max(seq), 0) FROM compliance_events",
        [],
        |r| r.get(0),
    )?)
}

/// The events about `action_id`, in the order they were appended (by the index on
/// action and position, not a scan of the log).
pub fn load_action_events(conn: &Connection, action_id: &str) -> Result<Vec<Event>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, action_id, type, payload, actor, at, extra
         FROM compliance_events WHERE action_id = ?1 ORDER BY seq",
    )?;
    Ok(read_rows(stmt.query([action_id])?)?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// Rows of `seq, event_id, action_id, type, payload, actor, at, extra` as events.
fn read_rows(mut rows: rusqlite::Rows<'_>) -> Result<Vec<(i64, Event)>, DbError> {
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

/// The id of the event appended last, if any.
pub fn last_event_id(conn: &Connection) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT event_id FROM compliance_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// When the event at position `offset` of the log (0 is the first) was written, as
/// stored; `None` past the end.
pub fn event_at(conn: &Connection, offset: u64) -> Result<Option<String>, DbError> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    Ok(conn
        .query_row(
            "SELECT at FROM compliance_events ORDER BY seq LIMIT 1 OFFSET ?1",
            [offset],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether an event with this id is stored.
pub fn contains(conn: &Connection, event_id: &str) -> Result<bool, DbError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM compliance_events WHERE event_id = ?1")?;
    Ok(stmt.query_row([event_id], |_| Ok(())).optional()?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::Databases;
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
        let n = db
            .write(move |c| insert_events(c, &events, |_| {}))
            .unwrap();
        assert_eq!(n, 2);
        let again = vec![event("b"), event("c")];
        let n = db.write(move |c| insert_events(c, &again, |_| {})).unwrap();
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
        let mut other = event("d");
        other.action_id = "ACT-002".into();
        db.write(move |c| insert_events(c, [&other], |_| {}))
            .unwrap();
        let ids = |action: &str| -> Vec<String> {
            db.read(|c| load_action_events(c, action))
                .unwrap()
                .into_iter()
                .map(|e| e.event_id)
                .collect()
        };
        assert_eq!(ids("ACT-001"), ["a", "b", "c"]);
        assert_eq!(ids("ACT-002"), ["d"]);
        assert!(ids("ACT-404").is_empty());
        let plan: String = db
            .read(|c| {
                c.query_row(
                    "EXPLAIN QUERY PLAN SELECT seq FROM compliance_events WHERE action_id = 'x' ORDER BY seq",
                    [],
                    |r| r.get(3),
                )
            })
            .unwrap();
        assert!(plan.contains("compliance_events_action"), "{plan}");
    }

    #[test]
    fn bulk_load_leaves_the_schema_as_migrated_and_refuses_a_repeated_id() {
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
        let load = |events: &[Event]| {
            let events = events.to_vec();
            // A bulk load manages its own transaction: alone on the writer's connection.
            db.exclusive(move |c| {
                let tx = c.transaction()?;
                let mut load = BulkLoad::begin(&tx)?;
                for e in &events {
                    load.push(&EventRecord::from(e))?;
                }
                assert_eq!(load.loaded(), events.len() as u64);
                let projection = crate::domain::Projection::fold(
                    events.iter().enumerate().map(|(i, e)| (i as i64 + 1, e)),
                );
                let n = load.finish(&projection)?;
                tx.commit()?;
                Ok::<_, DbError>(n)
            })
        };
        let repeated = load(&[event("a"), event("a")]).unwrap_err();
        let shown = statekit::error::Chain(&repeated).to_string();
        assert!(shown.contains("UNIQUE"), "{shown}");
        assert_eq!(schema(&db), before, "rolled back whole");
        assert_eq!(load(&[event("a"), event("b")]).unwrap(), 2);
        assert_eq!(schema(&db), before);
        let stored: Vec<_> = db.read(load_events).unwrap();
        assert_eq!(stored, vec![event("a"), event("b")], "in order");
        assert_eq!(
            db.write(|c| insert_events(c, &[event("b")], |_| {}))
                .unwrap(),
            0,
            "known ids are skipped again"
        );
        assert!(
            db.read(super::super::projection_repo::verify)
                .unwrap()
                .is_empty(),
            "the projection is stored with the log"
        );
        let again = db.write(|c| BulkLoad::begin(c).map(|_| ())).unwrap_err();
        assert!(matches!(again, DbError::NotEmpty(_)), "{again}");
    }

    #[test]
    fn the_database_refuses_update_and_delete() {
        let (_dir, db) = db();
        db.write(|c| insert_events(c, &[event("a")], |_| {}))
            .unwrap();
        let upd = db
            .writer()
            .write(|c| c.execute("UPDATE compliance_events SET actor = 'mallory'", []))
            .unwrap_err();
        assert!(upd.to_string().contains("append-only"), "{upd}");
        let del = db
            .writer()
            .write(|c| c.execute("DELETE FROM compliance_events", []))
            .unwrap_err();
        assert!(del.to_string().contains("append-only"), "{del}");
        let replace = db.writer().write(|c| {
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
        let taken = db.writer().write(|c| {
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
