//! The search index in SQLite (`search_index`, an FTS5 table, and `search_position`,
//! migration `0005_search.sql`): the words of every action's title, of every note and
//! of every assignee given, derived from the log and the stored baseline.
//!
//! Like the projection, it is a cache of the log, never a second truth. Only this
//! module writes its tables, always in the transaction that appends the events it
//! indexes ([`catch_up`] after every insert and bulk load) or stores the baseline its
//! titles come from; [`rebuild`] throws it away and builds it again; [`verify`]
//! compares it with what the log and the baseline say without changing anything.
//!
//! Queries are built here from [`SearchQuery`] words, never from a person's text: each
//! term is quoted (an FTS5 string, so nothing in it is syntax) and looked for as a
//! word or a word's beginning (`"insp"*` finds `inspection`); every term must match
//! the same text. Hits holding the whole search as a phrase, word for word, come
//! first; then by BM25; then the newest first. Each kind is ranked among its newest
//! [`MAX_RANKED`] matches, so that a word found in half the log costs no more than
//! one found in a thousand texts.

use std::fmt::Write as _;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::DbError;
use crate::domain::Baseline;
use crate::domain::search::{Field, MAX_RANKED, SearchQuery, event_text};
use crate::storage::backend::{SearchRow, SearchRowEvent};

/// Most words a snippet shows (FTS5 allows at most 64).
const SNIPPET_TOKENS: i64 = 16;

/// Indexed rows after which a catch-up merges the index's segments (a bulk load, a
/// first fill), so that searches read few b-trees.
const OPTIMIZE_AFTER: u64 = 10_000;

/// Where the index stands: the last position it covers, and the SHA-256 of the
/// baseline its titles come from; `None` when never filled.
fn position(conn: &Connection) -> Result<Option<(i64, Option<String>)>, DbError> {
    Ok(conn
        .prepare_cached("SELECT seq, baseline_sha256 FROM search_position WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The log position the index covers; `None` when it was never filled. Reads only.
pub fn covered(conn: &Connection) -> Result<Option<i64>, DbError> {
    Ok(position(conn)?.map(|(seq, _)| seq))
}

fn set_position(conn: &Connection, seq: i64, sha: Option<&str>) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO search_position (id, seq, baseline_sha256) VALUES (1, ?1, ?2)",
    )?
    .execute(params![seq, sha])?;
    Ok(())
}

fn insert(
    conn: &Connection,
    rowid: i64,
    field: Field,
    action_id: &str,
    text: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO search_index (rowid, text, field, action_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![rowid, text, field.as_str(), action_id])?;
    Ok(())
}

/// The stored baseline's SHA-256, if one is stored.
fn baseline_sha(conn: &Connection) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached("SELECT sha256 FROM baseline WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// The stored baseline, parsed, if one is stored. (Read here rather than through
/// `baseline_repo`, which calls [`catch_up`] when it stores one.)
fn stored_baseline(conn: &Connection) -> Result<Option<Baseline>, DbError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM baseline WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let Some(json) = json else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|source| DbError::CorruptRow {
            table: "baseline",
            key: "1".into(),
            source,
        })
}

/// The title rows of `baseline`: `(rowid, action id, title)`, the first action at -1.
fn title_rows(baseline: &Baseline) -> impl Iterator<Item = (i64, &str, &str)> {
    baseline
        .actions
        .iter()
        .zip(1..)
        .map(|(a, i): (_, i64)| (-i, a.id.as_str(), a.title.as_str()))
}

/// Replaces the title rows with the stored baseline's titles.
fn refresh_titles(conn: &Connection) -> Result<(), DbError> {
    conn.prepare_cached("DELETE FROM search_index WHERE rowid < 0")?
        .execute([])?;
    if let Some(baseline) = stored_baseline(conn)? {
        for (rowid, action, title) in title_rows(&baseline) {
            insert(conn, rowid, Field::Title, action, title)?;
        }
    }
    Ok(())
}

/// Brings the index up to the log and the stored baseline: indexes every event past
/// the position it covers (after an append, exactly the events just inserted) and
/// takes the titles again if the baseline changed; fills it from the whole log if it
/// was never filled. Run it inside the transaction that appended (or stored the
/// baseline). Returns how many events were read.
pub fn catch_up(conn: &Connection) -> Result<u64, DbError> {
    let (from, titled, filled) = match position(conn)? {
        Some((seq, sha)) => (seq, sha, true),
        None => {
            conn.execute("DELETE FROM search_index", [])?;
            (0, None, false)
        }
    };
    let sha = baseline_sha(conn)?;
    let titles_stale = !filled || titled != sha;
    if titles_stale {
        refresh_titles(conn)?;
    }
    let end = last_seq(conn)?;
    let mut read = 0;
    let mut indexed = 0;
    if end > from {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, action_id, type, payload FROM compliance_events
             WHERE seq > ?1 AND type IN ('note_added', 'assignee_changed') ORDER BY seq",
        )?;
        let mut rows = stmt.query([from])?;
        while let Some(r) = rows.next()? {
            read += 1;
            if let Some((field, text)) = row_text(r)? {
                let (seq, action): (i64, String) = (r.get(0)?, r.get(1)?);
                insert(conn, seq, field, &action, &text)?;
                indexed += 1;
            }
        }
    }
    if end != from || titles_stale {
        set_position(conn, end.max(from), sha.as_deref())?;
    }
    if indexed >= OPTIMIZE_AFTER {
        conn.execute(
            "INSERT INTO search_index (search_index) VALUES ('optimize')",
            [],
        )?;
    }
    Ok(read)
}

/// The position of the last event of the log, 0 for none. (Read here rather than
/// through `compliance_repo`, which calls [`catch_up`] after every insert.)
fn last_seq(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM compliance_events")?
        .query_row([], |r| r.get(0))?)
}

/// What a row of `seq, action_id, type, payload` gives the index, if anything.
fn row_text(r: &rusqlite::Row<'_>) -> Result<Option<(Field, String)>, DbError> {
    let kind: String = r.get(2)?;
    let payload: String = r.get(3)?;
    // A payload that does not parse changes nothing, as in the fold: nothing indexed.
    let Ok(payload) = serde_json::from_str::<Value>(&payload) else {
        return Ok(None);
    };
    Ok(event_text(&kind, &payload))
}

/// Throws the index away and builds it again from the whole log and the stored
/// baseline. Run it inside a transaction. Returns how many events were read (those
/// that can add text: notes and assignees).
pub fn rebuild(conn: &Connection) -> Result<u64, DbError> {
    conn.execute("DELETE FROM search_position", [])?;
    catch_up(conn)
}

/// How many events a rebuild reads: those that can add text (notes, assignees).
pub fn count_indexable(conn: &Connection) -> Result<u64, DbError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM compliance_events WHERE type IN ('note_added', 'assignee_changed')",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether the database has the index's tables (a read-only look at a database not
/// migrated yet finds none).
fn exists(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_position'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// An indexed row: `(rowid, field, action id, text)`.
type IndexRow = (i64, String, String, String);

/// How the stored index differs from what the log and the stored baseline give, one
/// line per difference (empty when they agree; at most `max` lines, then a count of
/// the rest); changes nothing. Reads the whole log and the whole index, in order.
pub fn verify(conn: &Connection, max: usize) -> Result<Vec<String>, DbError> {
    if !exists(conn)? {
        return Ok(vec![
            "the database predates the search index: it is filled when honestcam next opens it for writing (or by db-reindex)".to_string(),
        ]);
    }
    let mut out = Vec::new();
    let mut more = 0u64;
    let mut report = |line: String| {
        if out.len() < max {
            out.push(line);
        } else {
            more += 1;
        }
    };
    let end = last_seq(conn)?;
    match position(conn)? {
        None => report("the search index was never filled".to_string()),
        Some((seq, sha)) => {
            if seq != end {
                report(format!(
                    "the search index covers the log up to position {seq}, the log ends at {end}"
                ));
            }
            if sha != baseline_sha(conn)? {
                report("the search index's titles are not the stored baseline's".to_string());
            }
        }
    }
    // Expected rows in rowid order: the titles (most negative first), then events.
    let mut titles: Vec<IndexRow> = stored_baseline(conn)?
        .map(|b| {
            title_rows(&b)
                .map(|(rowid, a, t)| (rowid, Field::Title.as_str().into(), a.into(), t.into()))
                .collect()
        })
        .unwrap_or_default();
    titles.sort_by_key(|r| r.0);
    let mut events = conn.prepare(
        "SELECT seq, action_id, type, payload FROM compliance_events
         WHERE type IN ('note_added', 'assignee_changed') ORDER BY seq",
    )?;
    let mut event_rows = events.query([])?;
    let mut next_expected = {
        let mut titles = titles.into_iter();
        move || -> Result<Option<IndexRow>, DbError> {
            if let Some(t) = titles.next() {
                return Ok(Some(t));
            }
            while let Some(r) = event_rows.next()? {
                if let Some((field, text)) = row_text(r)? {
                    return Ok(Some((r.get(0)?, field.as_str().into(), r.get(1)?, text)));
                }
            }
            Ok(None)
        }
    };
    let mut stored =
        conn.prepare("SELECT rowid, field, action_id, text FROM search_index ORDER BY rowid")?;
    let mut stored_rows = stored.query([])?;
    let mut next_stored = move || -> Result<Option<IndexRow>, DbError> {
        Ok(match stored_rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            None => None,
        })
    };
    let (mut want, mut got) = (next_expected()?, next_stored()?);
    loop {
        let order = match (&want, &got) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(w), Some(g)) => w.0.cmp(&g.0),
        };
        match (order, &want, &got) {
            (std::cmp::Ordering::Equal, Some(w), Some(g)) => {
                if w != g {
                    report(format!(
                        "index row {} is {} {:?} of {:?}, the log says {} {:?} of {:?}",
                        g.0, g.1, g.3, g.2, w.1, w.3, w.2
                    ));
                }
                want = next_expected()?;
                got = next_stored()?;
            }
            (std::cmp::Ordering::Less, Some(w), _) => {
                report(format!(
                    "{} {:?} of {:?} is missing from the index",
                    w.1, w.3, w.2
                ));
                want = next_expected()?;
            }
            (_, _, Some(g)) => {
                report(format!(
                    "index row {} ({} {:?} of {:?}) comes from no event or title",
                    g.0, g.1, g.3, g.2
                ));
                got = next_stored()?;
            }
            // Not reached: each order above comes with the rows it names.
            _ => break,
        }
    }
    if more > 0 {
        out.push(format!("... and {more} more differences"));
    }
    Ok(out)
}

/// `words` as one FTS5 string (a phrase of those words), quotes doubled.
fn quoted(out: &mut String, words: impl IntoIterator<Item = impl AsRef<str>>) {
    out.push('"');
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&w.as_ref().replace('"', "\"\""));
    }
    out.push('"');
}

/// One term as an FTS5 query: its words as a phrase whose last word may be a word's
/// beginning (`"fire doo"*`).
fn term_query(words: &[String]) -> String {
    let mut out = String::new();
    quoted(&mut out, words);
    out.push('*');
    out
}

/// Every term, each as in [`term_query`], all required.
fn all_terms_query(query: &SearchQuery) -> String {
    let mut out = String::new();
    for (i, words) in query.terms().enumerate() {
        if i > 0 {
            out.push_str(" AND ");
        }
        let _ = write!(out, "{}", term_query(words));
    }
    out
}

/// The whole search as one phrase, word for word.
fn phrase_query(query: &SearchQuery) -> String {
    let mut out = String::new();
    quoted(&mut out, query.words());
    out
}

/// At most `limit` hits of `query` after the first `offset`: those holding the whole
/// search as a phrase first, then by BM25, then the newest first, each kind among its
/// newest [`MAX_RANKED`] matches (so nothing past `2 * MAX_RANKED`). A query without a
/// word finds nothing.
pub fn search(
    conn: &Connection,
    query: &SearchQuery,
    limit: usize,
    offset: usize,
) -> Result<Vec<SearchRow>, DbError> {
    if query.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let (all, phrase) = (all_terms_query(query), phrase_query(query));
    // Ranked without snippets (they would be made for every match), then the
    // snippets and events of the page only.
    // Each kind (holding the phrase, or only the terms) ranked among its newest
    // MAX_RANKED matches: the cost of a common word stays bounded.
    let others = format!("({all}) NOT ({phrase})");
    let ranked: Vec<(i64, String, String, f64, bool)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT rowid, field, action_id, score, 1 AS exact FROM (
                 SELECT rowid, field, action_id, bm25(search_index) AS score FROM search_index
                 WHERE search_index MATCH ?1 ORDER BY rowid DESC LIMIT ?5)
             UNION ALL
             SELECT rowid, field, action_id, score, 0 FROM (
                 SELECT rowid, field, action_id, bm25(search_index) AS score FROM search_index
                 WHERE search_index MATCH ?2 ORDER BY rowid DESC LIMIT ?5)
             ORDER BY exact DESC, score, rowid DESC LIMIT ?3 OFFSET ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let ranked = i64::try_from(MAX_RANKED).unwrap_or(i64::MAX);
        stmt.query_map(params![phrase, others, limit, offset, ranked], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let mut snippet = conn.prepare_cached(
        "SELECT snippet(search_index, 0, '**', '**', '…', ?3) FROM search_index
         WHERE search_index MATCH ?1 AND rowid = ?2",
    )?;
    let mut event =
        conn.prepare_cached("SELECT event_id, at, actor FROM compliance_events WHERE seq = ?1")?;
    let mut out = Vec::with_capacity(ranked.len());
    for (rowid, field, action_id, bm25, exact) in ranked {
        let Some(field) = Field::parse(&field) else {
            return Err(DbError::BadSearchField { rowid, field });
        };
        let snippet: String = snippet
            .query_row(params![all, rowid, SNIPPET_TOKENS], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        let event = if rowid > 0 {
            event
                .query_row([rowid], |r| {
                    Ok(SearchRowEvent {
                        position: rowid,
                        event_id: r.get(0)?,
                        at: r.get(1)?,
                        actor: r.get(2)?,
                    })
                })
                .optional()?
        } else {
            None
        };
        out.push(SearchRow {
            field,
            action_id,
            snippet,
            score: -bm25,
            exact,
            event,
        });
    }
    Ok(out)
}

/// The ids of the actions with every term of `query` somewhere in their indexed text
/// (each term may match a different text of the action), sorted. A query without a
/// word matches none.
pub fn matching_actions(conn: &Connection, query: &SearchQuery) -> Result<Vec<String>, DbError> {
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::new();
    for i in 1..=query.terms().len() {
        if i > 1 {
            sql.push_str(" INTERSECT ");
        }
        let _ = write!(
            sql,
            "SELECT DISTINCT action_id FROM search_index WHERE search_index MATCH ?{i}"
        );
    }
    sql.push_str(" ORDER BY 1");
    let terms: Vec<String> = query.terms().map(term_query).collect();
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(rusqlite::params_from_iter(&terms), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Event;
    use crate::storage::sqlite::{Databases, compliance_repo};
    use serde_json::json;
    use statekit::sqlite::OpenOptions;

    fn event(id: &str, action: &str, kind: &str, payload: Value) -> Event {
        Event {
            event_id: id.into(),
            action_id: action.into(),
            kind: kind.into(),
            payload,
            actor: "kim".into(),
            at: "2026-04-07T10:00:00Z".into(),
            extra: Default::default(),
        }
    }

    fn note(id: &str, action: &str, text: &str) -> Event {
        event(id, action, "note_added", json!({ "note": text }))
    }

    fn db() -> (
        tempfile::TempDir,
        std::sync::Arc<statekit::sqlite::Database>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.property(&dir.path().join("honestcam.db")).unwrap();
        let baseline = json!({"property": {"slug": "p", "name": "P"}, "actions": [
            {"id": "A", "title": "Fire door inspection", "category": "Fire", "status": "open"},
            {"id": "B", "title": "Boiler service", "category": "Heat", "status": "open"}]});
        db.write(move |c| {
            super::super::baseline_repo::store(c, &baseline.to_string(), "sha-1", "now")
        })
        .unwrap();
        (dir, db)
    }

    fn append(db: &statekit::sqlite::Database, events: Vec<Event>) {
        db.write(move |c| compliance_repo::insert_events(c, &events, |_| {}))
            .unwrap();
    }

    fn hits(db: &statekit::sqlite::Database, text: &str) -> Vec<(String, String, bool)> {
        let q = SearchQuery::parse(text).unwrap();
        db.read(|c| search(c, &q, 50, 0))
            .unwrap()
            .into_iter()
            .map(|h| (h.action_id, h.snippet, h.exact))
            .collect()
    }

    #[test]
    fn titles_notes_and_assignees_are_found_with_their_snippets() {
        let (_dir, db) = db();
        append(
            &db,
            vec![
                note("e1", "B", "Called the vendor about the boiler"),
                event(
                    "e2",
                    "B",
                    "assignee_changed",
                    json!({"assignee": "Maria Lopez"}),
                ),
                event("e3", "B", "status_changed", json!({"status": "done"})),
                event("e4", "A", "assignee_changed", json!({"assignee": null})),
            ],
        );
        assert_eq!(
            hits(&db, "inspection"),
            [("A".into(), "Fire door **inspection**".into(), true)]
        );
        assert_eq!(
            hits(&db, "MARIA"),
            [("B".into(), "**Maria** Lopez".into(), true)]
        );
        let vendor = SearchQuery::parse("vend").unwrap();
        let found = db.read(|c| search(c, &vendor, 10, 0)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, Field::Note);
        assert!(!found[0].exact, "a word's beginning is not the word");
        assert_eq!(found[0].snippet, "Called the **vendor** about the boiler");
        let e = found[0].event.as_ref().unwrap();
        assert_eq!(
            (e.position, e.event_id.as_str(), e.actor.as_str()),
            (1, "e1", "kim")
        );
        let boiler = hits(&db, "boiler");
        assert_eq!(boiler.len(), 2, "the title and the note: {boiler:?}");
        assert!(db.read(|c| verify(c, 10)).unwrap().is_empty());
    }

    #[test]
    fn the_exact_phrase_ranks_first_then_bm25() {
        let (_dir, db) = db();
        append(
            &db,
            vec![
                note(
                    "e1",
                    "B",
                    "door inspection of the fire escape, fire door fire door",
                ),
                note("e2", "B", "fire door inspection booked for Tuesday"),
                note("e3", "B", "inspection fire door"),
            ],
        );
        let found = hits(&db, "fire door inspection");
        let exact: Vec<_> = found.iter().filter(|h| h.2).map(|h| h.0.as_str()).collect();
        assert_eq!(exact, ["A", "B"], "{found:?}");
        assert!(
            found[0].2 && found[1].2 && !found[2].2 && !found[3].2,
            "{found:?}"
        );
        assert_eq!(
            found[1].1,
            "**fire** **door** **inspection** booked for Tuesday"
        );
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn a_word_found_in_more_texts_than_are_ranked_is_answered_from_the_newest() {
        let (_dir, db) = db();
        let n = MAX_RANKED + 100;
        let notes: Vec<Event> = (0..n)
            .map(|i| note(&format!("e{i}"), "B", &format!("common word {i}")))
            .collect();
        append(&db, notes);
        let q = SearchQuery::parse("common").unwrap();
        let first = db.read(|c| search(c, &q, 100, 0)).unwrap();
        assert_eq!(first.len(), 100);
        let oldest_ranked = i64::try_from(n - MAX_RANKED).unwrap();
        let position = |h: &SearchRow| h.event.as_ref().unwrap().position;
        assert!(first.iter().all(|h| position(h) > oldest_ranked));
        let last = db.read(|c| search(c, &q, 100, MAX_RANKED - 1)).unwrap();
        assert_eq!(last.len(), 1);
        assert!(
            db.read(|c| search(c, &q, 100, MAX_RANKED))
                .unwrap()
                .is_empty()
        );
        // The page's question reads every match.
        assert_eq!(db.read(|c| matching_actions(c, &q)).unwrap(), ["B"]);
    }

    #[test]
    fn query_syntax_is_text_and_never_an_error() {
        let (_dir, db) = db();
        append(
            &db,
            vec![
                note(
                    "e1",
                    "A",
                    "NEAR the door: \"quoted\" text, half-done *star*",
                ),
                note("e2", "B", "title:boiler AND OR NOT"),
            ],
        );
        for (text, want) in [
            ("\"quoted\"", vec!["A"]),
            ("NEAR", vec!["A"]),
            ("near(the", vec!["A"]),
            ("near(door", vec![]),
            ("half-done", vec!["A"]),
            ("*star*", vec!["A"]),
            ("title:boiler", vec!["B"]),
            ("AND OR NOT", vec!["B"]),
            ("-door", vec!["A", "A"]),
            ("\"", vec![]),
            ("* - : \" ^", vec![]),
            ("NEAR(a b, 2)", vec![]),
        ] {
            let found: Vec<String> = hits(&db, text).into_iter().map(|h| h.0).collect();
            assert_eq!(found, want, "{text:?}");
        }
    }

    #[test]
    fn actions_match_when_each_term_is_somewhere_in_their_text() {
        let (_dir, db) = db();
        append(
            &db,
            vec![
                note("e1", "B", "vendor booked"),
                event("e2", "B", "assignee_changed", json!({"assignee": "Maria"})),
                note("e3", "A", "Maria called"),
            ],
        );
        let ids = |text: &str| {
            let q = SearchQuery::parse(text).unwrap();
            db.read(|c| matching_actions(c, &q)).unwrap()
        };
        assert_eq!(ids("maria"), ["A", "B"]);
        assert_eq!(ids("vendor maria"), ["B"], "a note and an assignee");
        assert_eq!(ids("boiler maria"), ["B"], "the title counts");
        assert!(ids("maria elevator").is_empty());
        assert!(ids("--").is_empty());
    }

    #[test]
    fn a_new_baseline_replaces_the_titles_and_verify_finds_damage() {
        let (_dir, db) = db();
        append(&db, vec![note("e1", "A", "first note")]);
        let baseline = json!({"property": {"slug": "p", "name": "P"}, "actions": [
            {"id": "A", "title": "Sprinkler test", "category": "Fire", "status": "open"}]});
        db.write(move |c| {
            super::super::baseline_repo::store(c, &baseline.to_string(), "sha-2", "now")
        })
        .unwrap();
        assert!(hits(&db, "boiler").is_empty());
        assert_eq!(hits(&db, "sprinkler").len(), 1);
        assert!(db.read(|c| verify(c, 10)).unwrap().is_empty());
        db.write(|c| {
            c.execute("DELETE FROM search_index WHERE rowid = 1", [])?;
            c.execute(
                "INSERT INTO search_index (rowid, text, field, action_id) VALUES (9, 'stray', 'note', 'A')",
                [],
            )?;
            Ok::<_, DbError>(())
        })
        .unwrap();
        let differences = db.read(|c| verify(c, 10)).unwrap();
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].contains("\"first note\"") && differences[0].contains("missing"));
        assert!(differences[1].contains("stray"));
        let read = db.write(rebuild).unwrap();
        assert_eq!(read, 1);
        assert!(db.read(|c| verify(c, 10)).unwrap().is_empty());
    }
}
