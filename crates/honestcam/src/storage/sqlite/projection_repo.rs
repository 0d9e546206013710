//! The projection in SQLite (`action_state`, `action_state_position`, migration
//! `0004_action_state.sql`): one row per action of what its events changed, and how
//! far into the log the rows reach. See [`crate::domain::projection`] for what a row
//! means.
//!
//! Only [`super::compliance_repo`] and this module write these tables, always in the
//! transaction that appends the events folded in ([`catch_up`] after every insert,
//! [`store`] after a bulk load), so the rows never reach past, or stop short of, the
//! committed log. [`rebuild`] throws them away and folds the whole log again;
//! [`verify`] compares them with such a fold without changing anything.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::DbError;
use crate::domain::projection::KEPT_NOTES;
use crate::domain::{ActionChanges, Change, Note, Projection};

const TABLE: &str = "action_state";

/// The changes of one action as stored (`None`: no event changed it).
pub fn load_action(conn: &Connection, action_id: &str) -> Result<Option<ActionChanges>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, assignee_set, assignee, due_set, due, note_count, latest_notes,
                updated_at, updated_by, last_seq
         FROM action_state WHERE action_id = ?1",
    )?;
    let row = stmt
        .query_row([action_id], |r| {
            Ok(RawRow {
                status: r.get(0)?,
                assignee_set: r.get(1)?,
                assignee: r.get(2)?,
                due_set: r.get(3)?,
                due: r.get(4)?,
                note_count: r.get(5)?,
                latest_notes: r.get(6)?,
                updated_at: r.get(7)?,
                updated_by: r.get(8)?,
                last_seq: r.get(9)?,
            })
        })
        .optional()?;
    row.map(|r| r.decode(action_id)).transpose()
}

/// What the events about `action_id` at or before position `seq` changed: the same
/// as folding them ([`Projection::fold`]), but read from the end, a few rows per event
/// type, by the index on action, type and position (migration 6): the latest valid
/// status, assignee and due date, the latest [`KEPT_NOTES`] valid notes, and how many
/// notes there were (counted by the index; the notes read one by one only when the
/// action has notes the fold skips, which its projection row tells). Run it inside
/// a read transaction, so that its queries agree.
pub fn changes_through(
    conn: &Connection,
    action_id: &str,
    seq: i64,
) -> Result<ActionChanges, DbError> {
    let mut latest = conn.prepare_cached(
        "SELECT seq, action_id, type, payload, actor, at FROM compliance_events
         WHERE action_id = ?1 AND type = ?2 AND seq <= ?3 ORDER BY seq DESC",
    )?;
    // (seq, change, actor, at) of the events to apply, any order.
    let mut found = Vec::new();
    for kind in Change::KINDS {
        let wanted = if kind == "note_added" { KEPT_NOTES } else { 1 };
        let mut rows = latest.query(params![action_id, kind, seq])?;
        let mut got = 0;
        while got < wanted {
            let Some(r) = rows.next()? else {
                break;
            };
            if let Some((change, actor, at)) = change_of(r)? {
                found.push((r.get::<_, i64>(0)?, change, actor, at));
                got += 1;
            }
        }
    }
    found.sort_by_key(|f| f.0);
    let mut changes = ActionChanges::default();
    for (at_seq, change, actor, at) in found {
        changes.apply(at_seq, change, &actor, &at);
    }
    changes.note_count = note_count_through(conn, action_id, seq)?;
    Ok(changes)
}

/// How many valid notes the action had at or before `seq`.
fn note_count_through(conn: &Connection, action_id: &str, seq: i64) -> Result<u64, DbError> {
    let count = |through: i64| -> Result<u64, DbError> {
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM compliance_events
                 WHERE action_id = ?1 AND type = 'note_added' AND seq <= ?2",
            )?
            .query_row(params![action_id, through], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let valid_now = load_action(conn, action_id)?.map_or(0, |a| a.note_count);
    if count(i64::MAX)? == valid_now {
        // Every note row of the action is valid: counting rows is counting notes.
        return count(seq);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, action_id, type, payload, actor, at FROM compliance_events
         WHERE action_id = ?1 AND type = 'note_added' AND seq <= ?2",
    )?;
    let mut rows = stmt.query(params![action_id, seq])?;
    let mut valid = 0;
    while let Some(r) = rows.next()? {
        if change_of(r)?.is_some() {
            valid += 1;
        }
    }
    Ok(valid)
}

/// The whole stored projection; `None` when it was never filled.
pub fn load(conn: &Connection) -> Result<Option<Projection>, DbError> {
    let Some(position) = position(conn)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT action_id, status, assignee_set, assignee, due_set, due, note_count,
                latest_notes, updated_at, updated_by, last_seq
         FROM action_state ORDER BY action_id",
    )?;
    let mut rows = stmt.query([])?;
    let mut actions = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let raw = RawRow {
            status: r.get(1)?,
            assignee_set: r.get(2)?,
            assignee: r.get(3)?,
            due_set: r.get(4)?,
            due: r.get(5)?,
            note_count: r.get(6)?,
            latest_notes: r.get(7)?,
            updated_at: r.get(8)?,
            updated_by: r.get(9)?,
            last_seq: r.get(10)?,
        };
        let changes = raw.decode(&id)?;
        actions.push((id, changes));
    }
    Ok(Some(Projection::from_parts(actions, position)))
}

/// How far into the log the stored projection reaches; `None` when never filled.
pub fn position(conn: &Connection) -> Result<Option<i64>, DbError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM action_state_position WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Replaces the stored projection with `projection`. Run it inside a transaction.
pub fn store(conn: &Connection, projection: &Projection) -> Result<(), DbError> {
    conn.execute("DELETE FROM action_state", [])?;
    for (id, changes) in projection.actions() {
        write_action(conn, id, changes)?;
    }
    set_position(conn, projection.position())
}

/// Folds into the stored projection every event past the position it reaches (after
/// an append, exactly the events just inserted), or fills it from the whole log if
/// it was never filled. Run it inside the transaction that appended. Returns how many
/// events were folded in.
pub fn catch_up(conn: &Connection) -> Result<u64, DbError> {
    let Some(from) = position(conn)? else {
        return rebuild(conn);
    };
    let mut touched: std::collections::BTreeMap<String, ActionChanges> = Default::default();
    let mut end = from;
    let mut folded = 0;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, action_id, type, payload, actor, at
         FROM compliance_events WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([from])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        end = seq;
        folded += 1;
        let action_id: String = r.get(1)?;
        let Some((change, actor, at)) = change_of(r)? else {
            continue;
        };
        if !touched.contains_key(&action_id) {
            let stored = load_action(conn, &action_id)?.unwrap_or_default();
            touched.insert(action_id.clone(), stored);
        }
        if let Some(a) = touched.get_mut(&action_id) {
            a.apply(seq, change, &actor, &at);
        }
    }
    for (id, changes) in &touched {
        write_action(conn, id, changes)?;
    }
    if end != from {
        set_position(conn, end)?;
    }
    Ok(folded)
}

/// Throws the stored projection away and folds the whole log again, reading it row
/// by row (memory grows with the number of actions, not of events). Run it inside a
/// transaction. Returns how many events were read.
pub fn rebuild(conn: &Connection) -> Result<u64, DbError> {
    let (projection, events) = fold_log(conn)?;
    store(conn, &projection)?;
    Ok(events)
}

/// How the stored projection differs from a fresh fold of the log, one line per
/// difference (empty when they agree); changes nothing.
pub fn verify(conn: &Connection) -> Result<Vec<String>, DbError> {
    if !exists(conn)? {
        return Ok(vec![
            "the database predates the projection: it is filled when honestcam next opens it for writing (or by db-reindex)".to_string(),
        ]);
    }
    let (expected, _) = fold_log(conn)?;
    match load(conn)? {
        None => Ok(vec!["the projection was never filled".to_string()]),
        Some(stored) => Ok(stored.differences(&expected)),
    }
}

/// Whether the database has the projection's tables (a read-only look at a database
/// not migrated yet finds none).
fn exists(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'action_state_position'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The fold of the whole log, and how many events it read.
fn fold_log(conn: &Connection) -> Result<(Projection, u64), DbError> {
    let mut projection = Projection::new();
    let mut events = 0;
    let mut stmt = conn.prepare(
        "SELECT seq, action_id, type, payload, actor, at FROM compliance_events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        events += 1;
        match change_of(r)? {
            Some((change, actor, at)) => {
                let action_id: String = r.get(1)?;
                projection.apply(seq, &action_id, change, &actor, &at);
            }
            None => projection.cover(seq),
        }
    }
    Ok((projection, events))
}

/// The change a row of `seq, action_id, type, payload, actor, at` makes, with its
/// actor and time; `None` for a row the fold skips. The payload is parsed only for
/// the types the fold knows.
fn change_of(
    r: &rusqlite::Row<'_>,
) -> Result<Option<(crate::domain::Change, String, String)>, DbError> {
    let kind: String = r.get(2)?;
    if !crate::domain::Change::KINDS.contains(&kind.as_str()) {
        return Ok(None);
    }
    let payload: String = r.get(3)?;
    // A payload the fold cannot read changes nothing, as in the fold.
    let Ok(payload) = serde_json::from_str::<Value>(&payload) else {
        return Ok(None);
    };
    match crate::domain::Change::from_event(&kind, &payload) {
        Ok(Some(change)) => Ok(Some((change, r.get(4)?, r.get(5)?))),
        _ => Ok(None),
    }
}

fn write_action(conn: &Connection, id: &str, a: &ActionChanges) -> Result<(), DbError> {
    let notes = serde_json::to_string(
        &a.latest_notes
            .iter()
            .map(|n| StoredNote {
                text: &n.text,
                actor: &n.actor,
                at: &n.at,
            })
            .collect::<Vec<_>>(),
    )
    .map_err(|source| DbError::CorruptRow {
        table: TABLE,
        key: id.to_string(),
        source,
    })?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO action_state
           (action_id, status, assignee_set, assignee, due_set, due, note_count,
            latest_notes, updated_at, updated_by, last_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    stmt.execute(params![
        id,
        a.status.map(|s| s.as_str()),
        a.assignee.is_some(),
        a.assignee.as_ref().and_then(Option::as_deref),
        a.due.is_some(),
        a.due.as_ref().and_then(Option::as_deref),
        i64::try_from(a.note_count).unwrap_or(i64::MAX),
        notes,
        a.updated_at,
        a.updated_by,
        a.last_seq,
    ])?;
    Ok(())
}

fn set_position(conn: &Connection, seq: i64) -> Result<(), DbError> {
    conn.prepare_cached("INSERT OR REPLACE INTO action_state_position (id, seq) VALUES (1, ?1)")?
        .execute([seq])?;
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredNote<S> {
    text: S,
    actor: S,
    at: S,
}

/// A row as SQLite hands it out.
struct RawRow {
    status: Option<String>,
    assignee_set: bool,
    assignee: Option<String>,
    due_set: bool,
    due: Option<String>,
    note_count: i64,
    latest_notes: String,
    updated_at: Option<String>,
    updated_by: Option<String>,
    last_seq: i64,
}

impl RawRow {
    fn decode(self, id: &str) -> Result<ActionChanges, DbError> {
        let status = self
            .status
            .map(|s| s.parse())
            .transpose()
            .map_err(|source| DbError::BadStatus {
                table: TABLE,
                key: id.to_string(),
                source,
            })?;
        let notes: Vec<StoredNote<String>> =
            serde_json::from_str(&self.latest_notes).map_err(|source| DbError::CorruptRow {
                table: TABLE,
                key: id.to_string(),
                source,
            })?;
        Ok(ActionChanges {
            status,
            assignee: self.assignee_set.then_some(self.assignee),
            due: self.due_set.then_some(self.due),
            note_count: u64::try_from(self.note_count).unwrap_or(0),
            latest_notes: notes
                .into_iter()
                .map(|n| Note {
                    text: n.text,
                    actor: n.actor,
                    at: n.at,
                })
                .collect(),
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            last_seq: self.last_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Event;
    use crate::storage::sqlite::{Databases, compliance_repo};
    use proptest::prelude::*;
    use serde_json::json;
    use statekit::sqlite::OpenOptions;

    /// An event of any kind the log may hold, valid or not, about A or B.
    fn any_event() -> impl Strategy<Value = (String, String, Value)> {
        let action = prop_oneof![Just("A"), Just("B")].prop_map(String::from);
        let kind_payload = prop_oneof![
            prop_oneof![Just("open"), Just("done"), Just("nonsense")]
                .prop_map(|s| ("status_changed".to_string(), json!({ "status": s }))),
            prop_oneof![Just("n"), Just(" "), Just("note")]
                .prop_map(|n| ("note_added".to_string(), json!({ "note": n }))),
            Just(("note_added".to_string(), json!({}))),
            prop_oneof![Just(json!(null)), Just(json!("kim")), Just(json!(3))]
                .prop_map(|a| ("assignee_changed".to_string(), json!({ "assignee": a }))),
            prop_oneof![
                Just(json!(null)),
                Just(json!("2026-06-01")),
                Just(json!("June"))
            ]
            .prop_map(|d| ("due_changed".to_string(), json!({ "due": d }))),
            Just(("photo_added".to_string(), json!({"url": "x"}))),
        ];
        (action, kind_payload).prop_map(|(a, (k, p))| (a, k, p))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn changes_through_a_position_are_the_fold_of_the_events_up_to_it(
            parts in proptest::collection::vec(any_event(), 0..40)
        ) {
            let events: Vec<Event> = parts
                .iter()
                .enumerate()
                .map(|(i, (action, kind, payload))| Event {
                    event_id: format!("e{i}"),
                    action_id: action.clone(),
                    kind: kind.clone(),
                    payload: payload.clone(),
                    actor: format!("actor{i}"),
                    at: format!("2026-04-01T10:00:{:02}Z", i % 60),
                    extra: Default::default(),
                })
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let dbs = Databases::new(OpenOptions::default()).unwrap();
            let db = dbs.property(&dir.path().join("honestcam.db")).unwrap();
            let stored = events.clone();
            db.write(move |c| compliance_repo::insert_events(c, &stored, |_| {})).unwrap();
            for seq in 0..=events.len() as i64 {
                let folded = Projection::fold(
                    events.iter().take(seq as usize).enumerate().map(|(i, e)| (i as i64 + 1, e)),
                );
                for action in ["A", "B"] {
                    let got = db.read(|c| changes_through(c, action, seq)).unwrap();
                    let want = folded.action(action).cloned().unwrap_or_default();
                    prop_assert_eq!(got, want, "{} through {}", action, seq);
                }
            }
        }
    }
}
