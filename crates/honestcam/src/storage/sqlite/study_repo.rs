//! Study users and progress in the global study database.
//!
//! Users are upserted (by an import) or inserted for an owner, at most one per owner
//! and property (a unique index); a progress blob is overwritten whole (last write
//! wins).

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;
use crate::domain::{Progress, StudyUser, UserId};
use crate::property::Slug;

/// Inserts or updates a user of `property` (all of its fields, the owner too).
pub fn upsert_user(conn: &Connection, property: &Slug, user: &StudyUser) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO study_users (property, user_id, name, created_at, owner) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (property, user_id) DO UPDATE SET name = excluded.name, created_at = excluded.created_at, owner = excluded.owner",
    )?
    .execute(params![
        property.as_str(),
        user.user_id.as_str(),
        user.name,
        user.created_at,
        user.owner
    ])?;
    Ok(())
}

/// Inserts a user of `property` unless one with that id is stored (then nothing
/// changes); returns whether it was inserted.
pub fn insert_user_if_missing(
    conn: &Connection,
    property: &Slug,
    user: &StudyUser,
) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO study_users (property, user_id, name, created_at, owner) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (property, user_id) DO NOTHING",
        )?
        .execute(params![
            property.as_str(),
            user.user_id.as_str(),
            user.name,
            user.created_at,
            user.owner
        ])?;
    Ok(n > 0)
}

/// The user of `property` that `user.owner` owns: `user` inserted if the owner has
/// none yet, else the one stored (unchanged). One statement and a read, safe against
/// a concurrent insert for the same owner (by any process): the unique index decides.
pub fn insert_owned_user(
    conn: &Connection,
    property: &Slug,
    user: &StudyUser,
) -> Result<StudyUser, DbError> {
    let Some(owner) = user.owner.as_deref() else {
        return Err(DbError::NoOwner(user.user_id.clone()));
    };
    conn.prepare_cached(
        "INSERT INTO study_users (property, user_id, name, created_at, owner) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (property, owner) WHERE owner IS NOT NULL DO NOTHING",
    )?
    .execute(params![
        property.as_str(),
        user.user_id.as_str(),
        user.name,
        user.created_at,
        owner
    ])?;
    // Inserted, or kept out by the owner's row: either way the row is there.
    owned_user(conn, property, owner)?.ok_or(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// Changes the display name of `user`; returns whether it exists.
pub fn rename_user(
    conn: &Connection,
    property: &Slug,
    user: &UserId,
    name: &str,
) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached("UPDATE study_users SET name = ?3 WHERE property = ?1 AND user_id = ?2")?
        .execute(params![property.as_str(), user.as_str(), name])?;
    Ok(n > 0)
}

/// Stores `user`'s progress blob unless one is stored (then nothing changes); returns
/// whether it was inserted.
pub fn insert_progress_if_missing(
    conn: &Connection,
    property: &Slug,
    user: &UserId,
    progress: &Progress,
    updated_at: &str,
) -> Result<bool, DbError> {
    let blob = serde_json::Value::Object(progress.clone()).to_string();
    let n = conn
        .prepare_cached(
            "INSERT INTO study_progress (property, user_id, blob, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (property, user_id) DO NOTHING",
        )?
        .execute(params![property.as_str(), user.as_str(), blob, updated_at])?;
    Ok(n > 0)
}

const SELECT_USERS: &str = "SELECT user_id, name, created_at, owner FROM study_users";

/// The users `sql` (a `SELECT_USERS` query) finds with `args`.
fn query_users(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<StudyUser>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, created_at, owner) = row?;
        let user_id = UserId::parse(&id).map_err(|source| DbError::BadUserId {
            table: "study_users",
            source,
        })?;
        out.push(StudyUser {
            user_id,
            name,
            created_at,
            owner,
        });
    }
    Ok(out)
}

/// The users of `property`, by creation time then id.
pub fn users(conn: &Connection, property: &Slug) -> Result<Vec<StudyUser>, DbError> {
    query_users(
        conn,
        &format!("{SELECT_USERS} WHERE property = ?1 ORDER BY created_at, user_id"),
        [property.as_str()],
    )
}

/// The user of `property` with id `user`, if any.
pub fn user(
    conn: &Connection,
    property: &Slug,
    user: &UserId,
) -> Result<Option<StudyUser>, DbError> {
    Ok(query_users(
        conn,
        &format!("{SELECT_USERS} WHERE property = ?1 AND user_id = ?2"),
        [property.as_str(), user.as_str()],
    )?
    .pop())
}

/// The user of `property` that `owner` owns, if any.
pub fn owned_user(
    conn: &Connection,
    property: &Slug,
    owner: &str,
) -> Result<Option<StudyUser>, DbError> {
    Ok(query_users(
        conn,
        &format!("{SELECT_USERS} WHERE property = ?1 AND owner = ?2"),
        [property.as_str(), owner],
    )?
    .pop())
}

/// Replaces `user`'s whole progress blob.
pub fn save_progress(
    conn: &Connection,
    property: &Slug,
    user: &UserId,
    progress: &Progress,
    updated_at: &str,
) -> Result<(), DbError> {
    let blob = serde_json::Value::Object(progress.clone()).to_string();
    conn.prepare_cached(
        "INSERT INTO study_progress (property, user_id, blob, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (property, user_id) DO UPDATE SET blob = excluded.blob, updated_at = excluded.updated_at",
    )?
    .execute(params![property.as_str(), user.as_str(), blob, updated_at])?;
    Ok(())
}

/// `user`'s progress blob, if saved.
pub fn progress(
    conn: &Connection,
    property: &Slug,
    user: &UserId,
) -> Result<Option<Progress>, DbError> {
    let blob: Option<String> = conn
        .prepare_cached("SELECT blob FROM study_progress WHERE property = ?1 AND user_id = ?2")?
        .query_row([property.as_str(), user.as_str()], |r| r.get(0))
        .optional()?;
    blob.map(|b| parse_blob(user.as_str(), &b)).transpose()
}

/// Every saved progress blob of `property`, by user id.
pub fn all_progress(
    conn: &Connection,
    property: &Slug,
) -> Result<Vec<(UserId, Progress)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, blob FROM study_progress WHERE property = ?1 ORDER BY user_id",
    )?;
    let rows = stmt.query_map([property.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, blob) = row?;
        let user = UserId::parse(&id).map_err(|source| DbError::BadUserId {
            table: "study_progress",
            source,
        })?;
        out.push((user, parse_blob(&id, &blob)?));
    }
    Ok(out)
}

fn parse_blob(user: &str, blob: &str) -> Result<Progress, DbError> {
    serde_json::from_str(blob).map_err(|source| DbError::CorruptRow {
        table: "study_progress",
        key: user.to_string(),
        source,
    })
}

/// `(users, progress blobs)` stored for `property`.
pub fn counts(conn: &Connection, property: &Slug) -> Result<(u64, u64), DbError> {
    let users: i64 = conn.query_row(
        "SELECT count(*) FROM study_users WHERE property = ?1",
        [property.as_str()],
        |r| r.get(0),
    )?;
    let progress: i64 = conn.query_row(
        "SELECT count(*) FROM study_progress WHERE property = ?1",
        [property.as_str()],
        |r| r.get(0),
    )?;
    Ok((users as u64, progress as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::Databases;
    use serde_json::json;
    use statekit::sqlite::OpenOptions;

    /// A unit of work owning clones of a property and a value (units are `'static`).
    fn owned<V: Clone + Send + 'static, T>(
        p: &Slug,
        v: &V,
        f: impl FnOnce(&Connection, &Slug, &V) -> Result<T, DbError> + Send + 'static,
    ) -> impl FnOnce(&Connection) -> Result<T, DbError> + Send + 'static {
        let (p, v) = (p.clone(), v.clone());
        move |c| f(c, &p, &v)
    }

    #[test]
    fn users_upsert_and_progress_overwrites_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.study(&dir.path().join("study.db")).unwrap();
        let p = Slug::parse("bamboo").unwrap();
        let other = Slug::parse("other").unwrap();
        let u = StudyUser {
            user_id: UserId::parse("u1").unwrap(),
            name: "Ann".into(),
            created_at: "2026-04-01T00:00:00Z".into(),
            owner: None,
        };
        db.write(owned(&p, &u, upsert_user)).unwrap();
        let renamed = StudyUser {
            name: "Anne".into(),
            ..u.clone()
        };
        db.write(owned(&p, &renamed, upsert_user)).unwrap();
        assert_eq!(db.read(|c| users(c, &p)).unwrap(), vec![renamed]);
        assert!(
            db.read(|c| users(c, &other)).unwrap().is_empty(),
            "properties are separate"
        );

        let first = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
        let second = json!({"c": 3}).as_object().unwrap().clone();
        for (blob, at) in [(&first, "t1"), (&second, "t2")] {
            let (id, blob) = (u.user_id.clone(), blob.clone());
            db.write(owned(&p, &(), move |c, p, _| {
                save_progress(c, p, &id, &blob, at)
            }))
            .unwrap();
        }
        assert_eq!(
            db.read(|c| progress(c, &p, &u.user_id)).unwrap(),
            Some(second.clone())
        );
        assert_eq!(
            db.read(|c| all_progress(c, &p)).unwrap(),
            vec![(u.user_id.clone(), second)]
        );
        assert_eq!(db.read(|c| counts(c, &p)).unwrap(), (1, 1));
    }

    #[test]
    fn a_study_database_from_before_owners_keeps_its_users_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("study.db");
        let before: Vec<_> = crate::storage::sqlite::connection::study_migrations()
            .unwrap()
            .list()
            .iter()
            .filter(|m| m.version < 3)
            .map(|m| (m.name.clone(), m.sql.clone()))
            .collect();
        {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            statekit::migrate::Migrations::from_files(before)
                .unwrap()
                .apply(&mut conn)
                .unwrap();
            conn.execute(
                "INSERT INTO study_users (property, user_id, name, created_at) VALUES ('bamboo', 'u1', 'Ann', 't')",
                [],
            )
            .unwrap();
        }
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.study(&path).unwrap();
        let p = Slug::parse("bamboo").unwrap();
        let stored = db.read(|c| users(c, &p)).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].name.as_str(), stored[0].owner.as_deref()),
            ("Ann", None)
        );
        assert_eq!(db.read(|c| owned_user(c, &p, "Ann")).unwrap(), None);
    }

    #[test]
    fn an_owner_has_one_user_per_property_and_keeps_it_through_renames() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::new(OpenOptions::default()).unwrap();
        let db = dbs.study(&dir.path().join("study.db")).unwrap();
        let p = Slug::parse("bamboo").unwrap();
        let other = Slug::parse("other").unwrap();
        let candidate = |id: &str| StudyUser {
            user_id: UserId::parse(id).unwrap(),
            name: "kim".into(),
            created_at: "2026-04-01T00:00:00Z".into(),
            owner: Some("kim@example.org".into()),
        };
        let first = db
            .write(owned(&p, &candidate("k1"), |c, p, u| {
                insert_owned_user(c, p, u)
            }))
            .unwrap();
        assert_eq!(first, candidate("k1"));
        let again = db
            .write(owned(&p, &candidate("k2"), |c, p, u| {
                insert_owned_user(c, p, u)
            }))
            .unwrap();
        assert_eq!(again, first, "the stored one, not a second");
        let elsewhere = db
            .write(owned(&other, &candidate("k3"), |c, p, u| {
                insert_owned_user(c, p, u)
            }))
            .unwrap();
        assert_eq!(elsewhere.user_id.as_str(), "k3", "one per property");
        assert!(
            db.write(owned(&p, &first.user_id, |c, p, u| rename_user(
                c, p, u, "Kim"
            )))
            .unwrap()
        );
        let found = db
            .read(|c| owned_user(c, &p, "kim@example.org"))
            .unwrap()
            .unwrap();
        assert_eq!((found.name.as_str(), found.owner), ("Kim", first.owner));
        assert_eq!(
            db.read(|c| user(c, &p, &first.user_id))
                .unwrap()
                .unwrap()
                .name,
            "Kim"
        );
        let unknown = UserId::parse("nobody").unwrap();
        assert!(
            !db.write(owned(&p, &unknown, |c, p, u| rename_user(c, p, u, "X")))
                .unwrap()
        );
        assert_eq!(db.read(|c| user(c, &p, &unknown)).unwrap(), None);
        let legacy = StudyUser {
            owner: None,
            ..candidate("old")
        };
        assert!(matches!(
            db.write(owned(&p, &legacy, insert_owned_user)),
            Err(DbError::NoOwner(_))
        ));
        db.write(owned(&p, &legacy, upsert_user)).unwrap();
        assert_eq!(db.read(|c| users(c, &p)).unwrap().len(), 2, "k1 and old");
    }
}
