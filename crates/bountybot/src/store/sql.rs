//! What the two SQL backends (SQLite and PostgreSQL) share, written once: every
//! statement, in the syntax both accept (`$1` parameters, `ON CONFLICT`; a digest's
//! date through [`IntSql::AS_DATE`]), over [`IntSql`]; with them, the chat move
//! ([`migrate_chat`]), following moves ([`moved_to`]), the digest claims ([`claim`]),
//! and a whole export and import ([`export_rows`], [`import_rows`]).

use jiff::civil::Date;

use super::{ChatData, LEDGER_CARRIED, MOVES_FOLLOWED, carried};
use crate::domain::{
    BadReminderTime, Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim,
    DigestRecord, IdError, NewBounty, ReminderTime, SettingsPatch, Status, UnknownZone, UpdateId,
    UserId, ZoneName, decide_claim, digests_kept_from, renumber,
};

/// How long a processed update is remembered (Telegram redelivers within a day).
const UPDATES_KEPT_SECS: i64 = 7 * 24 * 3600;

/// Old processed updates are pruned once every this many updates.
pub(crate) const PRUNE_EVERY: u32 = 128;

/// Statements on one connection or transaction of an SQL backend.
pub(crate) trait IntSql {
    /// What a statement fails with.
    type Error;
    /// What turns a text parameter into a digest date (PostgreSQL's are of type `date`).
    const AS_DATE: &'static str;
    /// The rows of `sql` with parameters of either kind, integer and text columns alike.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>, Self::Error>;
    /// Runs `sql` with parameters of either kind; the rows it changed.
    fn exec_with(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Self::Error>;
    /// A stored value in column `col` that does not parse.
    fn bad_value(col: usize, e: BadValue) -> Self::Error;
    /// Runs `sql` with the integer parameters `$1`, `$2`...; the rows it changed.
    fn exec(&mut self, sql: &str, params: &[i64]) -> Result<u64, Self::Error> {
        self.exec_with(sql, &int_params(params))
    }
    /// The rows of `sql` (integer parameters), integer and text columns alike.
    fn cells(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<Cell>>, Self::Error> {
        self.query(sql, &int_params(params))
    }
    /// The rows of `sql`, each a list of its integer columns.
    fn ints(&mut self, sql: &str, params: &[i64]) -> Result<Vec<Vec<i64>>, Self::Error> {
        let rows = self.cells(sql, params)?;
        let int = |(col, c): (usize, &Cell)| match c {
            Cell::Int(i) => Ok(*i),
            _ => Err(Self::bad_value(col, BadValue::Type)),
        };
        rows.iter()
            .map(|r| r.iter().enumerate().map(int).collect())
            .collect()
    }
    /// A stored number in column `col` that is no id.
    fn bad_id(col: usize, e: IdError) -> Self::Error {
        Self::bad_value(col, e.into())
    }
}

/// Integer parameters.
fn int_params(params: &[i64]) -> Vec<Param<'static>> {
    params.iter().map(|i| Param::Int(Some(*i))).collect()
}

/// A value read from an integer or text column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
}

/// A parameter for an integer or a text column (`None`: `NULL` of that type).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// An integer.
    Int(Option<i64>),
    /// A text.
    Text(Option<&'a str>),
}

/// A stored value that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum BadValue {
    /// A number that is no id of its kind.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A value of another type than its column's.
    #[error("a value of another type than its column's")]
    Type,
    /// A bounty status other than `open` and `done`.
    #[error("unknown bounty status {0:?}")]
    Status(String),
    /// A digest date that is no date.
    #[error("bad digest date {date:?}")]
    Date {
        /// The stored text.
        date: String,
        /// Why it does not parse.
        source: jiff::Error,
    },
    /// A time zone this build does not know.
    #[error(transparent)]
    Zone(#[from] UnknownZone),
    /// A reminder time that is no time of day.
    #[error(transparent)]
    Time(#[from] BadReminderTime),
}

/// Reads the cells of one row by column.
struct Cells<'a, S>(&'a [Cell], std::marker::PhantomData<S>);

impl<S: IntSql> Cells<'_, S> {
    fn int(&self, col: usize) -> Result<Option<i64>, S::Error> {
        match self.0.get(col) {
            Some(Cell::Null) => Ok(None),
            Some(Cell::Int(i)) => Ok(Some(*i)),
            _ => Err(S::bad_value(col, BadValue::Type)),
        }
    }

    fn text(&self, col: usize) -> Result<Option<String>, S::Error> {
        match self.0.get(col) {
            Some(Cell::Null) => Ok(None),
            Some(Cell::Text(t)) => Ok(Some(t.clone())),
            _ => Err(S::bad_value(col, BadValue::Type)),
        }
    }

    fn some<T>(&self, col: usize, v: Option<T>) -> Result<T, S::Error> {
        v.ok_or_else(|| S::bad_value(col, BadValue::Type))
    }

    fn id<T: TryFrom<i64, Error = IdError>>(&self, col: usize) -> Result<T, S::Error> {
        let n = self.some(col, self.int(col)?)?;
        T::try_from(n).map_err(|e| S::bad_id(col, e))
    }
}

const BOUNTY_COLUMNS: &str = "id, created_by_user_id, text, link, due_date_ts, created_at, status, claimed_by_user_id, done_at";

/// A bounty from its row ([`BOUNTY_COLUMNS`]).
fn bounty_of<S: IntSql>(row: &[Cell]) -> Result<Bounty, S::Error> {
    let c = Cells::<S>(row, std::marker::PhantomData);
    let status = c.some(6, c.text(6)?)?;
    let status = Status::from_stored(&status)
        .ok_or_else(|| S::bad_value(6, BadValue::Status(status.clone())))?;
    let claimer = c.int(7)?.map(UserId::try_from).transpose();
    Ok(Bounty {
        id: c.id(0)?,
        created_by_user_id: c.id(1)?,
        text: c.some(2, c.text(2)?)?,
        link: c.text(3)?,
        due_date_ts: c.int(4)?,
        created_at: c.some(5, c.int(5)?)?,
        status,
        claimed_by_user_id: claimer.map_err(|e| S::bad_id(7, e))?,
        done_at: c.int(8)?,
    })
}

/// The chat's bounties, by id (`id`: only that one).
pub(crate) fn bounties<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    id: Option<BountyId>,
) -> Result<Vec<Bounty>, S::Error> {
    let sql = format!("SELECT {BOUNTY_COLUMNS} FROM bounties WHERE chat_id = $1");
    let rows = match id {
        None => s.cells(&format!("{sql} ORDER BY id"), &[chat.get()])?,
        Some(id) => s.cells(
            &format!("{sql} AND id = $2"),
            &[chat.get(), id.get() as i64],
        )?,
    };
    rows.iter().map(|r| bounty_of::<S>(r)).collect()
}

/// Stores bounty `b` of `chat`, added or replacing the stored one.
pub(crate) fn put_bounty<S: IntSql>(s: &mut S, chat: ChatId, b: &Bounty) -> Result<(), S::Error> {
    use Param::{Int, Text};
    s.exec_with(
        "INSERT INTO bounties (chat_id, id, created_by_user_id, text, link, due_date_ts, created_at,
           status, claimed_by_user_id, done_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (chat_id, id) DO UPDATE SET text = excluded.text, link = excluded.link,
           due_date_ts = excluded.due_date_ts, status = excluded.status,
           claimed_by_user_id = excluded.claimed_by_user_id, done_at = excluded.done_at",
        &[
            Int(Some(chat.get())),
            Int(Some(b.id.get() as i64)),
            Int(Some(b.created_by_user_id.get())),
            Text(Some(&b.text)),
            Text(b.link.as_deref()),
            Int(b.due_date_ts),
            Int(Some(b.created_at)),
            Text(Some(b.status.as_str())),
            Int(b.claimed_by_user_id.map(UserId::get)),
            Int(b.done_at),
        ],
    )
    .map(drop)
}

/// The names remembered in `chat` (`user`: only theirs), by user id.
pub(crate) fn names<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: Option<UserId>,
) -> Result<Vec<(UserId, String)>, S::Error> {
    let sql = "SELECT user_id, name FROM names WHERE chat_id = $1";
    let rows = match user {
        None => s.cells(&format!("{sql} ORDER BY user_id"), &[chat.get()])?,
        Some(u) => s.cells(&format!("{sql} AND user_id = $2"), &[chat.get(), u.get()])?,
    };
    rows.iter()
        .map(|r| {
            let c = Cells::<S>(r, std::marker::PhantomData);
            Ok((c.id(0)?, c.some(1, c.text(1)?)?))
        })
        .collect()
}

/// Remembers `user`'s (cleaned) `name` in `chat`; a named user is a member. An
/// unchanged name writes no new row version (most changes come with a known name).
pub(crate) fn put_name<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: UserId,
    name: &str,
) -> Result<(), S::Error> {
    ensure_member(s, chat, user)?;
    s.exec_with(
        "INSERT INTO names (chat_id, user_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET name = excluded.name
         WHERE names.name <> excluded.name",
        &[
            Param::Int(Some(chat.get())),
            Param::Int(Some(user.get())),
            Param::Text(Some(name)),
        ],
    )
    .map(drop)
}

/// Settings from their row's `time_zone` and `remind_at` cells.
fn settings_of<S: IntSql>(row: &[Cell]) -> Result<ChatSettings, S::Error> {
    let c = Cells::<S>(row, std::marker::PhantomData);
    let bad = |col| move |e: BadValue| S::bad_value(col, e);
    let time_zone = c.text(0)?.map(|t| ZoneName::parse(&t)).transpose();
    let remind_at = c.text(1)?.map(|a| ReminderTime::parse(&a)).transpose();
    Ok(ChatSettings {
        time_zone: time_zone.map_err(|e| bad(0)(e.into()))?,
        remind_at: remind_at.map_err(|e| bad(1)(e.into()))?,
    })
}

/// The chat's settings (defaults when none were set).
pub(crate) fn settings<S: IntSql>(s: &mut S, chat: ChatId) -> Result<ChatSettings, S::Error> {
    let sql = "SELECT time_zone, remind_at FROM chat_settings WHERE chat_id = $1";
    match s.cells(sql, &[chat.get()])?.first() {
        Some(row) => settings_of::<S>(row),
        None => Ok(ChatSettings::default()),
    }
}

/// Stores the chat's settings (no row for the defaults).
pub(crate) fn put_settings<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    set: &ChatSettings,
) -> Result<(), S::Error> {
    if *set == ChatSettings::default() {
        let sql = "DELETE FROM chat_settings WHERE chat_id = $1";
        return s.exec(sql, &[chat.get()]).map(drop);
    }
    let remind_at = set.remind_at.map(|t| t.to_string());
    s.exec_with(
        "INSERT INTO chat_settings (chat_id, time_zone, remind_at) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE SET time_zone = excluded.time_zone, remind_at = excluded.remind_at",
        &[
            Param::Int(Some(chat.get())),
            Param::Text(set.time_zone.as_ref().map(ZoneName::as_str)),
            Param::Text(remind_at.as_deref()),
        ],
    )
    .map(drop)
}

const DIGEST_COLUMNS: &str = "CAST(local_date AS TEXT), claimed_at, message_id";

/// A digest record from its row ([`DIGEST_COLUMNS`]).
fn digest_of<S: IntSql>(row: &[Cell]) -> Result<DigestRecord, S::Error> {
    let c = Cells::<S>(row, std::marker::PhantomData);
    let date = c.some(0, c.text(0)?)?;
    let message_id = c.int(2)?.map(i32::try_from).transpose();
    Ok(DigestRecord {
        date: date.parse().map_err(|source| {
            let date = date.clone();
            S::bad_value(0, BadValue::Date { date, source })
        })?,
        claimed_at: c.some(1, c.int(1)?)?,
        message_id: message_id.map_err(|_| S::bad_value(2, BadValue::Type))?,
    })
}

/// The chat's digest records, by date (`date`: only that one).
pub(crate) fn digests<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    date: Option<Date>,
) -> Result<Vec<DigestRecord>, S::Error> {
    let sql = format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE chat_id = $1");
    let rows = match date {
        None => s.cells(&format!("{sql} ORDER BY local_date"), &[chat.get()])?,
        Some(d) => s.query(
            &format!("{sql} AND local_date = $2{}", S::AS_DATE),
            &[
                Param::Int(Some(chat.get())),
                Param::Text(Some(&d.to_string())),
            ],
        )?,
    };
    rows.iter().map(|r| digest_of::<S>(r)).collect()
}

/// Stores digest record `d` of `chat`, added or replacing the stored one.
pub(crate) fn put_digest<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    d: &DigestRecord,
) -> Result<(), S::Error> {
    let sql = format!(
        "INSERT INTO digests (chat_id, local_date, claimed_at, message_id)
         VALUES ($1, $2{}, $3, CAST($4 AS BIGINT))
         ON CONFLICT (chat_id, local_date) DO UPDATE
           SET claimed_at = excluded.claimed_at, message_id = excluded.message_id",
        S::AS_DATE
    );
    let params = [
        Param::Int(Some(chat.get())),
        Param::Text(Some(&d.date.to_string())),
        Param::Int(Some(d.claimed_at)),
        Param::Int(d.message_id.map(i64::from)),
    ];
    s.exec_with(&sql, &params).map(drop)
}

/// Claims (or re-claims) the digest of (`chat`, `date`) ([`decide_claim`]) inside the
/// caller's unit of work, which holds the chat's lock: no other claim interleaves.
pub(crate) fn claim<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    date: Date,
    now: i64,
    older_than: Option<i64>,
) -> Result<DigestClaim, S::Error> {
    let existing = digests(s, chat, Some(date))?.pop();
    let (record, answer) = decide_claim(existing.as_ref(), date, now, older_than);
    if let Some(record) = record {
        ensure_chat(s, chat)?;
        put_digest(s, chat, &record)?;
        let sql = format!(
            "DELETE FROM digests WHERE chat_id = $1 AND local_date < $2{}",
            S::AS_DATE
        );
        let kept = digests_kept_from(date).to_string();
        s.exec_with(
            &sql,
            &[Param::Int(Some(chat.get())), Param::Text(Some(&kept))],
        )?;
    }
    Ok(answer)
}

/// Records the digest of (`chat`, `date`) as sent as `message_id`
/// ([`crate::store::ChatSettingsStore::digest_sent`]).
pub(crate) fn digest_sent<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    date: Date,
    message_id: i32,
) -> Result<bool, S::Error> {
    let sql = format!(
        "UPDATE digests SET message_id = CAST($3 AS BIGINT)
         WHERE chat_id = $1 AND local_date = $2{} AND message_id IS NULL",
        S::AS_DATE
    );
    let params = [
        Param::Int(Some(chat.get())),
        Param::Text(Some(&date.to_string())),
        Param::Int(Some(message_id.into())),
    ];
    Ok(s.exec_with(&sql, &params)? == 1)
}

/// Every chat whose daily digest is on, by chat id, with its settings or why they do
/// not parse.
#[allow(clippy::type_complexity)]
pub(crate) fn reminder_chats<S: IntSql>(
    s: &mut S,
) -> Result<Vec<(ChatId, Result<ChatSettings, S::Error>)>, S::Error> {
    let rows = s.cells(
        "SELECT chat_id, time_zone, remind_at FROM chat_settings
         WHERE remind_at IS NOT NULL ORDER BY chat_id",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            let chat = Cells::<S>(r, std::marker::PhantomData).id(0)?;
            Ok((chat, settings_of::<S>(&r[1..])))
        })
        .collect()
}

/// The first column of each row of `sql`, as ids of type `T`.
fn ids<S: IntSql, T: TryFrom<i64, Error = IdError>>(
    s: &mut S,
    sql: &str,
    params: &[i64],
) -> Result<Vec<T>, S::Error> {
    s.ints(sql, params)?
        .iter()
        .map(|row| T::try_from(row[0]).map_err(|e| S::bad_id(0, e)))
        .collect()
}

/// The chat's row, made if missing.
pub(crate) fn ensure_chat<S: IntSql>(s: &mut S, chat: ChatId) -> Result<(), S::Error> {
    let sql = "INSERT INTO chats (chat_id) VALUES ($1) ON CONFLICT DO NOTHING";
    s.exec(sql, &[chat.get()]).map(drop)
}

/// The chat's row and, in a group, the user's membership, made if missing.
pub(crate) fn ensure_member<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: UserId,
) -> Result<(), S::Error> {
    ensure_chat(s, chat)?;
    if chat.is_group() {
        let sql = "INSERT INTO members (chat_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        s.exec(sql, &[chat.get(), user.get()])?;
    }
    Ok(())
}

/// Whether `update` is recorded as processed.
pub(crate) fn processed<S: IntSql>(s: &mut S, update: UpdateId) -> Result<bool, S::Error> {
    let sql = "SELECT update_id FROM processed_updates WHERE update_id = $1";
    Ok(!s.ints(sql, &[i64::from(update.get())])?.is_empty())
}

/// Records `update` as processed for `chat` (records older than a week are pruned
/// every [`PRUNE_EVERY`] updates).
pub(crate) fn record<S: IntSql>(s: &mut S, chat: ChatId, update: UpdateId) -> Result<(), S::Error> {
    let now = jiff::Timestamp::now().as_second();
    let sql = "INSERT INTO processed_updates (update_id, chat_id, at) VALUES ($1, $2, $3)";
    s.exec(sql, &[i64::from(update.get()), chat.get(), now])?;
    if update.get().is_multiple_of(PRUNE_EVERY) {
        let sql = "DELETE FROM processed_updates WHERE at < $1";
        s.exec(sql, &[now - UPDATES_KEPT_SECS])?;
    }
    Ok(())
}

/// Adds `new` as the chat's next bounty: past the id counter and every id present.
pub(crate) fn add<S: IntSql>(s: &mut S, chat: ChatId, new: NewBounty) -> Result<Bounty, S::Error> {
    ensure_chat(s, chat)?;
    let c = chat.get();
    let mut next = 1;
    for sql in [
        "SELECT next_id FROM chats WHERE chat_id = $1",
        "SELECT coalesce(max(id), 0) + 1 FROM bounties WHERE chat_id = $1",
    ] {
        next = s.ints(sql, &[c])?.iter().fold(next, |n, r| n.max(r[0]));
    }
    let id = BountyId::try_from(next).map_err(|e| S::bad_id(0, e))?;
    let b = Bounty::from_new(id, new);
    put_bounty(s, chat, &b)?;
    s.exec(
        "UPDATE chats SET next_id = $2 WHERE chat_id = $1",
        &[c, next + 1],
    )?;
    Ok(b)
}

/// Applies `patch` to bounty `id` ([`crate::store::Bounties::update`]).
pub(crate) fn update<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    id: BountyId,
    patch: &BountyPatch,
) -> Result<Option<Bounty>, S::Error> {
    let Some(mut b) = bounties(s, chat, Some(id))?.pop() else {
        return Ok(None);
    };
    if patch.applies_to(&b) {
        patch.apply_to(&mut b);
        put_bounty(s, chat, &b)?;
    }
    Ok(Some(b))
}

/// Applies `patch` to the chat's settings and returns them.
pub(crate) fn update_settings<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    patch: &SettingsPatch,
) -> Result<ChatSettings, S::Error> {
    ensure_chat(s, chat)?;
    let mut settings = settings(s, chat)?;
    patch.apply_to(&mut settings);
    put_settings(s, chat, &settings)?;
    Ok(settings)
}

/// Bookmarks bounty `id` for `user` (the bookmarks' owner) after their others; false
/// if it already was.
pub(crate) fn track<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: UserId,
    id: BountyId,
) -> Result<bool, S::Error> {
    ensure_member(s, chat, user)?;
    let n = s.exec(
        "INSERT INTO tracked (chat_id, user_id, bounty_id, seq)
         VALUES ($1, $2, $3, (SELECT coalesce(max(seq), 0) + 1 FROM tracked WHERE chat_id = $1 AND user_id = $2))
         ON CONFLICT DO NOTHING",
        &[chat.get(), user.get(), id.get() as i64],
    )?;
    Ok(n > 0)
}

/// Removes a bookmark of `user` (the bookmarks' owner); false if there was none.
pub(crate) fn untrack<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: UserId,
    id: BountyId,
) -> Result<bool, S::Error> {
    let sql = "DELETE FROM tracked WHERE chat_id = $1 AND user_id = $2 AND bounty_id = $3";
    Ok(s.exec(sql, &[chat.get(), user.get(), id.get() as i64])? > 0)
}

/// Deletes a bounty; false if there was none. The counter already sits past every id
/// handed out, so the id stays retired.
pub(crate) fn delete<S: IntSql>(s: &mut S, chat: ChatId, id: BountyId) -> Result<bool, S::Error> {
    let sql = "DELETE FROM bounties WHERE chat_id = $1 AND id = $2";
    Ok(s.exec(sql, &[chat.get(), id.get() as i64])? > 0)
}

/// Who tracks bounty `id` in `chat`, by user id.
pub(crate) fn trackers<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    id: BountyId,
) -> Result<Vec<UserId>, S::Error> {
    let sql = "SELECT user_id FROM tracked WHERE chat_id = $1 AND bounty_id = $2 ORDER BY user_id";
    ids(s, sql, &[chat.get(), id.get() as i64])
}

/// `user`'s bookmarks in a chat (the bookmarks' owner), in the order made.
pub(crate) fn tracked<S: IntSql>(
    s: &mut S,
    chat: ChatId,
    user: UserId,
) -> Result<Vec<BountyId>, S::Error> {
    let sql = "SELECT bounty_id FROM tracked WHERE chat_id = $1 AND user_id = $2 ORDER BY seq";
    ids(s, sql, &[chat.get(), user.get()])
}

/// Where `chat`'s data lives: where its moves lead, or itself.
pub(crate) fn moved_to<S: IntSql>(s: &mut S, chat: ChatId) -> Result<ChatId, S::Error> {
    let mut at = chat;
    for _ in 0..MOVES_FOLLOWED {
        let sql = "SELECT to_chat FROM chat_moves WHERE from_chat = $1";
        match ids(s, sql, &[at.get()])?.first() {
            Some(to) => at = *to,
            None => break,
        }
    }
    Ok(at)
}

/// Every chat's data (an export's, inside one snapshot).
pub(crate) fn export_rows<S: IntSql>(s: &mut S) -> Result<Vec<ChatData>, S::Error> {
    let chats = s.ints("SELECT chat_id, next_id FROM chats ORDER BY chat_id", &[])?;
    let mut out = Vec::with_capacity(chats.len());
    for row in chats {
        let chat = ChatId::try_from(row[0]).map_err(|e| S::bad_id(0, e))?;
        let users = if chat.is_group() {
            let sql = "SELECT user_id FROM members WHERE chat_id = $1 ORDER BY user_id";
            ids(s, sql, &[chat.get()])?
        } else {
            vec![chat.private_user()]
        };
        let mut members = Vec::with_capacity(users.len());
        for user in users {
            members.push((user, tracked(s, chat, user)?));
        }
        let sql = "SELECT from_chat FROM chat_moves WHERE to_chat = $1";
        let mut moved_here: Vec<ChatId> = ids(s, sql, &[chat.get()])?;
        moved_here.sort_unstable();
        // The processed updates a move carries (the highest ones). Update ids are
        // stored from a `u32`; a larger one is no update id of ours.
        let updates = s.ints(
            "SELECT update_id FROM processed_updates WHERE chat_id = $1
             ORDER BY update_id DESC LIMIT $2",
            &[chat.get(), LEDGER_CARRIED as i64],
        )?;
        let updates = updates.iter().filter_map(|r| u32::try_from(r[0]).ok());
        out.push(ChatData {
            chat,
            next_id: row[1] as u64,
            bounties: bounties(s, chat, None)?,
            members,
            names: names(s, chat, None)?,
            settings: settings(s, chat)?,
            digests: digests(s, chat, None)?,
            updates: carried(updates.map(UpdateId::new).collect()),
            moved_here,
        });
    }
    Ok(out)
}

/// Writes `chats` through `w`.
pub(crate) fn import_rows<S: IntSql>(w: &mut S, chats: &[ChatData]) -> Result<(), S::Error> {
    let now = jiff::Timestamp::now().as_second();
    for d in chats {
        let (chat, next_id) = (d.chat.get(), d.next_id as i64);
        w.exec(
            "INSERT INTO chats (chat_id, next_id) VALUES ($1, $2)",
            &[chat, next_id],
        )?;
        for b in &d.bounties {
            put_bounty(w, d.chat, b)?;
        }
        for (user, tracked) in &d.members {
            ensure_member(w, d.chat, *user)?;
            for (seq, id) in (1..).zip(tracked) {
                let owner = d.chat.bookmark_owner(*user).get();
                let sql = "INSERT INTO tracked (chat_id, user_id, bounty_id, seq) VALUES ($1, $2, $3, $4)";
                w.exec(sql, &[chat, owner, id.get() as i64, seq])?;
            }
        }
        for (user, name) in &d.names {
            put_name(w, d.chat, *user, name)?;
        }
        put_settings(w, d.chat, &d.settings)?;
        for r in &d.digests {
            put_digest(w, d.chat, r)?;
        }
        for u in &d.updates {
            w.exec(
                "INSERT INTO processed_updates (update_id, chat_id, at) VALUES ($1, $2, $3)
                 ON CONFLICT (update_id) DO NOTHING",
                &[i64::from(u.get()), chat, now],
            )?;
        }
        for from in &d.moved_here {
            put_move(w, *from, d.chat)?;
        }
    }
    Ok(())
}

/// The move of group `from` into `to`, replacing an earlier one of `from`.
pub(crate) fn put_move<S: IntSql>(s: &mut S, from: ChatId, to: ChatId) -> Result<(), S::Error> {
    s.exec(
        "INSERT INTO chat_moves (from_chat, to_chat) VALUES ($1, $2)
         ON CONFLICT (from_chat) DO UPDATE SET to_chat = excluded.to_chat",
        &[from.get(), to.get()],
    )
    .map(drop)
}

/// Moves everything of chat `from` to chat `to` inside the caller's transaction
/// ([`crate::store::Ledger::migrate_chat`]): `from`'s bounties join `to`'s, renumbered
/// where an id is taken or was used there, with their bookmarks; members, names, the
/// settings `to` lacks and the digest records of dates it has none for come along.
pub(crate) fn migrate_chat<S: IntSql>(
    s: &mut S,
    from: ChatId,
    to: ChatId,
) -> Result<ChatMove, S::Error> {
    let (f, t) = (from.get(), to.get());
    put_move(s, from, to)?;
    // What the old group's anonymous administrators created or claimed (as the group)
    // is the supergroup's, so that its administrators may edit it.
    for column in ["created_by_user_id", "claimed_by_user_id"] {
        let sql = format!(
            "UPDATE bounties SET {column} = $2 WHERE chat_id IN ($1, $2) AND {column} = $1"
        );
        s.exec(&sql, &[f, t])?;
    }
    let mut next_of = |chat: ChatId| -> Result<Option<u64>, S::Error> {
        let rows = s.ints(
            "SELECT next_id FROM chats WHERE chat_id = $1",
            &[chat.get()],
        )?;
        Ok(rows.first().map(|r| r[0] as u64))
    };
    let Some(from_next) = next_of(from)? else {
        return Ok(ChatMove::default());
    };
    let Some(to_next) = next_of(to)? else {
        s.exec("UPDATE chats SET chat_id = $2 WHERE chat_id = $1", &[f, t])?;
        return Ok(ChatMove {
            moved: true,
            ..ChatMove::default()
        });
    };
    let sql = "SELECT id FROM bounties WHERE chat_id = $1 ORDER BY id";
    let (from_ids, to_ids): (Vec<BountyId>, Vec<BountyId>) =
        (ids(s, sql, &[f])?, ids(s, sql, &[t])?);
    let floor = |ids: &[BountyId]| ids.iter().map(|b| b.get() + 1).max().unwrap_or(1);
    let (map, next) = renumber(
        &from_ids,
        from_next.max(floor(&from_ids)),
        &to_ids,
        to_next.max(floor(&to_ids)),
    );
    for (old, new) in &map {
        let sql = "UPDATE bounties SET chat_id = $3, id = $4 WHERE chat_id = $1 AND id = $2";
        s.exec(sql, &[f, old.get() as i64, t, new.get() as i64])?;
    }
    s.exec(
        "INSERT INTO members (chat_id, user_id)
         SELECT $2, user_id FROM members WHERE chat_id = $1 ON CONFLICT DO NOTHING",
        &[f, t],
    )?;
    s.exec(
        "INSERT INTO names (chat_id, user_id, name)
         SELECT $2, user_id, name FROM names WHERE chat_id = $1 ON CONFLICT DO NOTHING",
        &[f, t],
    )?;
    // Settings the new chat lacks, and digest records of dates it has none for, come
    // along (so a moved chat gets no second digest that day).
    let (old, mut new) = (settings(s, from)?, settings(s, to)?);
    new.time_zone = new.time_zone.or(old.time_zone);
    new.remind_at = new.remind_at.or(old.remind_at);
    put_settings(s, to, &new)?;
    s.exec(
        "INSERT INTO digests (chat_id, local_date, claimed_at, message_id)
         SELECT $2, local_date, claimed_at, message_id FROM digests WHERE chat_id = $1
         ON CONFLICT DO NOTHING",
        &[f, t],
    )?;
    let sql = "SELECT user_id, bounty_id FROM tracked WHERE chat_id = $1 ORDER BY user_id, seq";
    for mark in s.ints(sql, &[f])? {
        let user = UserId::try_from(mark[0]).map_err(|e| S::bad_id(0, e))?;
        let old = BountyId::try_from(mark[1]).map_err(|e| S::bad_id(1, e))?;
        let new = map.iter().find(|(o, _)| *o == old).map_or(old, |(_, n)| *n);
        track(s, to, user, new)?;
    }
    s.exec(
        "UPDATE chats SET next_id = $2 WHERE chat_id = $1",
        &[t, next as i64],
    )?;
    s.exec("DELETE FROM chats WHERE chat_id = $1", &[f])?;
    Ok(ChatMove {
        moved: true,
        merged: !to_ids.is_empty(),
        renumbered: map.into_iter().filter(|(a, b)| a != b).collect(),
    })
}
