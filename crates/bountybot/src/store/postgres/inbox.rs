//! The order of a chat's updates across replicas sharing the database: the inbox of
//! updates received and done, and the wait for an update's turn.

use std::time::Duration;

use super::PostgresStore;
use super::error::Error;
use crate::domain::{ChatId, UpdateId};
use crate::store::{Scope, StoreError, sql};

/// How far back (in update ids) a missing predecessor is looked for.
pub(super) const ORDER_WINDOW: i64 = 1000;

/// Inbox rows older than this (seconds) are pruned.
pub(super) const INBOX_KEPT_SECS: i64 = 24 * 3600;
/// The inbox's `chat_id` of an update for no chat (Telegram's chat ids are never 0).
pub(super) const NO_CHAT: i64 = 0;

impl PostgresStore {
    /// Notes in the inbox that `update` arrived, for the chat `chat_id` of the inbox
    /// ([`NO_CHAT`] for none).
    pub(super) fn receive(
        &self,
        scope: Scope,
        chat_id: i64,
        update: UpdateId,
    ) -> Result<(), StoreError> {
        let id = i64::from(update.get());
        let now = jiff::Timestamp::now().as_second();
        let mut c = self.conn()?;
        let mut run = || -> Result<(), postgres::Error> {
            let mut tx = c.transaction()?;
            // Ordering data, not data a user wrote: no need to wait for the disk.
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            tx.execute(
                "INSERT INTO inbox (update_id, chat_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (update_id) DO NOTHING",
                &[&id, &chat_id, &now],
            )?;
            // The first update ever seen, or ids that started again lower (Telegram picks
            // a new start after a week without updates): nothing below it is waited for.
            tx.execute(
                "INSERT INTO inbox_floor (id, floor) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET floor = $1 WHERE inbox_floor.floor > $1 + $2",
                &[&id, &ORDER_WINDOW],
            )?;
            if update.get().is_multiple_of(sql::PRUNE_EVERY) {
                // Pruned ids are not waited for either.
                tx.execute(
                "WITH gone AS (DELETE FROM inbox WHERE received_at < $1 RETURNING update_id)
                 UPDATE inbox_floor SET floor = greatest(floor, (SELECT max(update_id) + 1 FROM gone))
                 WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)",
                &[&(now - INBOX_KEPT_SECS)],
            )?;
            }
            tx.commit()
        };
        Ok(run().map_err(|source| Error::Statement { scope, source })?)
    }

    /// Marks `update` done in the inbox.
    pub(super) fn mark_done(&self, scope: Scope, update: UpdateId) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let mut run = || -> Result<(), postgres::Error> {
            let mut tx = c.transaction()?;
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            let sql = "UPDATE inbox SET done = true WHERE update_id = $1";
            tx.execute(sql, &[&i64::from(update.get())])?;
            tx.commit()
        };
        Ok(run().map_err(|source| Error::Statement { scope, source })?)
    }

    /// [`crate::store::Ledger::await_turn`].
    pub(super) fn wait_turn(
        &self,
        chat: ChatId,
        update: UpdateId,
        limit: Duration,
    ) -> Result<bool, StoreError> {
        let id = i64::from(update.get());
        let deadline = std::time::Instant::now() + limit;
        let mut pause = Duration::from_millis(2);
        loop {
            // A connection per look: a waiting update holds none of the pool's.
            let in_chat = |source| Error::Statement {
                scope: chat.into(),
                source,
            };
            let row = self.conn()?.query_one(
                "WITH f AS (SELECT greatest(coalesce((SELECT floor FROM inbox_floor WHERE id = 1), $2), $2 - $3) AS lo)
                 SELECT
                   EXISTS (SELECT 1 FROM inbox WHERE chat_id = $1 AND update_id < $2
                             AND update_id >= $2 - $3 AND NOT done),
                   (SELECT count(*) FROM inbox WHERE update_id >= (SELECT lo FROM f) AND update_id < $2),
                   $2 - (SELECT lo FROM f)",
                &[&chat.get(), &id, &ORDER_WINDOW],
            ).map_err(in_chat)?;
            // An earlier update of the chat in work anywhere, within the window; and
            // earlier ids (above the floor) that have not arrived at all.
            let (pending, received, expected): (bool, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            if !pending && received >= expected {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                // Give up on ids that never came: later updates do not wait for them
                // again. (A pending update of the chat is not skipped for others: it
                // is done or redelivered soon, and each waits for it on its own.)
                if received < expected {
                    self.conn()?
                        .execute(
                            "UPDATE inbox_floor SET floor = greatest(floor, $1) WHERE id = 1",
                            &[&id],
                        )
                        .map_err(in_chat)?;
                }
                return Ok(false);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}
