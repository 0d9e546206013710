//! The default backend: one folder per chat, JSON files written atomically.
//!
//! ```text
//! {data}/{group_id}/group.json       {"group_id", "next_id", "bounties": [...], "names"?, settings?}  (group ids are negative)
//! {data}/{group_id}/{user_id}.json   {"user_id", "tracked": [ids], "name"?}
//! {data}/{user_id}/user.json         {"user_id", "next_id", "bounties": [...], "tracked": [ids], "name"?, settings?}
//! ```
//!
//! The settings are `"time_zone"?`, `"remind_at"?` and `"digests"?` (the digest
//! records, `{"date", "claimed_at", "message_id"?}`), each absent while unused, and
//! written under the chat's lock like every other change of the chat.
//!
//! A bounty is `{"id", "created_by_user_id", "text", "link"?, "due_date_ts"?,
//! "created_at", "status"?, "claimed_by_user_id"?, "done_at"?}`: `status` is written
//! only for `"done"` (absent means open), the claimer and `done_at` only when set, and
//! `name` (the display name the bot last saw) only once one is known, so a file that
//! uses none of these reads and writes exactly as before they existed.
//!
//! A group's display names are in its member files, except those learned together
//! with a change of `group.json` (an `/add` by someone whose name is new): these are
//! in `group.json`'s `"names"` (`{"user_id": "name"}`, absent while empty), so that the
//! change, its update and the name take one file replace. A name there wins over the
//! member file's; [`Bounties::remember_name`] writes the member file and drops the
//! entry.
//!
//! Each file may also hold `"updates"`: the ids of the latest Telegram updates whose
//! change this file's last writes stored, recorded in the same atomic replace as the
//! change, so a redelivered update is recognised (absent until the bot writes one, so
//! files written by the REPL look as documented). Fields this version does not know
//! are kept as they are when a file is rewritten.
//!
//! The chat id is the way in: no scanning. Folder names are formatted from the integer
//! id, never from outside text. Every change runs under the chat folder's
//! [`DirLock`] (excluding other processes and threads) as read, modify, atomic write;
//! reads need no lock because a file is only ever replaced whole. The first lock of a
//! chat folder in a process removes the temp files a crashed writer left there. A corrupt file is
//! reported with its position and never overwritten.

mod error;
mod files;
mod moves;
mod portable;

pub use error::Error;
pub use files::UPDATES_KEPT;

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;
use serde::de::DeserializeOwned;

use statekit::json::{JsonError, read_json, write_json_atomic};
use statekit::lock::DirLock;

use super::{Bounties, ChatSettingsStore, Ledger, Origin, ReminderChat, Scope, StoreError};
use crate::domain::{
    Bounty, BountyId, BountyPatch, ChatId, ChatMove, ChatSettings, DigestClaim, DigestRecord,
    NewBounty, SettingsPatch, UpdateId, UserId,
};
use files::{ChatFile, MemberFile, claim_in, note_update};

/// Name of a group's bounty file.
pub const GROUP_FILE: &str = "group.json";
/// Name of a private chat's file.
pub const USER_FILE: &str = "user.json";
/// In a group's folder after its move to a supergroup: the new chat's id. Every later
/// read or write of the old chat goes to the new one (a late message, a redelivered
/// update), so nothing lands where nobody looks.
pub const MOVED_FILE: &str = "moved-to";

/// JSON files under a data dir.
#[derive(Debug, Clone)]
pub struct JsonStore {
    root: PathBuf,
}

impl JsonStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> JsonStore {
        JsonStore { root: root.into() }
    }

    /// The data dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `{data}/{chat}`.
    pub fn chat_dir(&self, chat: ChatId) -> PathBuf {
        self.root.join(chat.get().to_string())
    }

    /// The chat that holds `chat`'s data now: `chat` itself, or where its moves led.
    fn resolve(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        let mut at = chat;
        for _ in 0..super::MOVES_FOLLOWED {
            match self.moved_from(at, chat)? {
                Some(next) => at = next,
                None => return Ok(at),
            }
        }
        Err(Error::Shape {
            chat,
            what: "the chat's moves go round in a circle",
        }
        .into())
    }

    /// Where `at` moved to, from its [`MOVED_FILE`], if it moved; errors are `chat`'s.
    fn moved_from(&self, at: ChatId, chat: ChatId) -> Result<Option<ChatId>, StoreError> {
        let path = self.chat_dir(at).join(MOVED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::fs(chat, "cannot read", &path)(e).into()),
        };
        let to = text.trim().parse::<i64>().ok();
        let to = to.and_then(|id| ChatId::try_from(id).ok());
        Ok(Some(to.ok_or(Error::Shape {
            chat,
            what: "the moved-to file does not hold a chat id",
        })?))
    }

    /// Marks `from` as moved to `to`: its later reads and writes go to `to`.
    fn mark_moved(&self, from: ChatId, to: ChatId) -> Result<(), StoreError> {
        let tombstone = self.chat_dir(from).join(MOVED_FILE);
        statekit::json::write_bytes_atomic(&tombstone, to.get().to_string().as_bytes())
            .map_err(|source| Error::File { chat: from, source }.into())
    }

    fn bounty_file(&self, chat: ChatId) -> PathBuf {
        self.chat_dir(chat).join(if chat.is_group() {
            GROUP_FILE
        } else {
            USER_FILE
        })
    }

    fn member_file(&self, chat: ChatId, user: UserId) -> PathBuf {
        self.chat_dir(chat).join(format!("{}.json", user.get()))
    }

    fn err(&self, chat: ChatId, e: JsonError) -> StoreError {
        match e {
            JsonError::Malformed {
                path, line, column, ..
            } => Error::Corrupt {
                chat,
                file: path
                    .strip_prefix(&self.root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                line,
                column,
            },
            source => Error::File { chat, source },
        }
        .into()
    }

    fn read<T: DeserializeOwned>(
        &self,
        chat: ChatId,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        read_json(path).map_err(|e| self.err(chat, e))
    }

    fn write<T: Serialize>(&self, chat: ChatId, path: &Path, value: &T) -> Result<(), StoreError> {
        write_json_atomic(path, value).map_err(|e| self.err(chat, e))
    }

    fn lock(&self, chat: ChatId) -> Result<DirLock, StoreError> {
        DirLock::acquire(&self.chat_dir(chat)).map_err(|source| Error::Lock { chat, source }.into())
    }

    /// Locks the chat that holds `chat`'s data now. The move is checked again under
    /// the lock: a chat that moved between the caller's look-up and the lock is
    /// followed, so nothing is written into a folder a move left behind.
    fn lock_current(&self, chat: ChatId) -> Result<(ChatId, DirLock), StoreError> {
        let mut at = self.resolve(chat)?;
        for _ in 0..8 {
            let lock = self.lock(at)?;
            let now = self.resolve(at)?;
            if now == at {
                return Ok((at, lock));
            }
            drop(lock);
            at = now;
        }
        Err(Error::Shape {
            chat,
            what: "the chat's moves go round in a circle",
        }
        .into())
    }

    /// The chat's file (`group.json` or `user.json`), if any; one without its chat's
    /// id is refused as misshapen.
    fn load_doc(&self, chat: ChatId) -> Result<Option<ChatFile>, StoreError> {
        let Some(mut file) = self.read::<ChatFile>(chat, &self.bounty_file(chat))? else {
            return Ok(None);
        };
        if !file.fits(chat) {
            let what = "the chat's file lacks its group_id or user_id";
            return Err(Error::Shape { chat, what }.into());
        }
        Ok(Some(file))
    }

    fn save_doc(&self, chat: ChatId, doc: &ChatFile) -> Result<(), StoreError> {
        self.write(chat, &self.bounty_file(chat), doc)
    }

    /// Runs `f` on the chat's bounties under the chat lock; saves when `f` says so or
    /// the sender's name is new, with `w` (update, name) in the same file.
    fn modify<R>(
        &self,
        chat: ChatId,
        w: &Origin,
        f: impl FnOnce(&mut ChatFile) -> (R, bool),
    ) -> Result<R, StoreError> {
        let (chat, _lock) = self.lock_current(chat)?;
        let update = w.update;
        let mut doc = self.load_doc(chat)?.unwrap_or_else(|| ChatFile::new(chat));
        if let Some(u) = update
            && doc.updates.contains(&u)
        {
            return Err(StoreError::AlreadyProcessed { update: u });
        }
        let (result, mut changed) = f(&mut doc);
        if let Some((user, name)) = w.name_in(chat) {
            changed |= self.name_into(chat, &mut doc, user, name)?;
        }
        if changed {
            note_update(&mut doc.updates, update)
                .map_err(|update| StoreError::AlreadyProcessed { update })?;
            self.save_doc(chat, &doc)?;
        }
        Ok(result)
    }

    /// Puts `user`'s `name` into the chat's file unless it is the name remembered;
    /// true when the file changed.
    fn name_into(
        &self,
        chat: ChatId,
        doc: &mut ChatFile,
        user: UserId,
        name: String,
    ) -> Result<bool, StoreError> {
        let known = match doc.names.get(&user) {
            _ if !chat.is_group() => doc.name.clone(),
            Some(n) => Some(n.clone()),
            None => self.member_name(chat, user)?,
        };
        if known.as_ref() == Some(&name) {
            return Ok(false);
        }
        if chat.is_group() {
            doc.names.insert(user, name);
        } else {
            doc.name = Some(name);
        }
        Ok(true)
    }

    /// The name in `user`'s member file of group `chat`.
    fn member_name(&self, chat: ChatId, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(self
            .read::<MemberFile>(chat, &self.member_file(chat, user))?
            .and_then(|m| m.name))
    }

    /// Runs `f` on a user's bookmarks in a chat under the chat lock, then remembers
    /// the sender's name if new (in a group: a second write, of its own).
    fn modify_tracked<R>(
        &self,
        chat: ChatId,
        user: UserId,
        w: &Origin,
        f: impl FnOnce(&mut Vec<BountyId>) -> (R, bool),
    ) -> Result<R, StoreError> {
        let update = w.update;
        if chat.is_group() {
            let (chat, _lock) = self.lock_current(chat)?;
            let path = self.member_file(chat, user);
            let mut member = self
                .read::<MemberFile>(chat, &path)?
                .unwrap_or_else(|| MemberFile::new(user));
            if let Some(u) = update
                && member.updates.contains(&u)
            {
                return Err(StoreError::AlreadyProcessed { update: u });
            }
            let (result, changed) = f(&mut member.tracked);
            if changed {
                note_update(&mut member.updates, update)
                    .map_err(|update| StoreError::AlreadyProcessed { update })?;
                self.write(chat, &path, &member)?;
            }
            drop(_lock);
            if let Some((user, name)) = w.name_in(chat) {
                self.remember_name(chat, user, &name)?;
            }
            Ok(result)
        } else {
            self.modify(chat, w, |doc| f(doc.tracked.get_or_insert_default()))
        }
    }
}

impl Bounties for JsonStore {
    fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        let (chat, _lock) = self.lock_current(chat)?;
        if self.load_doc(chat)?.is_none() {
            self.save_doc(chat, &ChatFile::new(chat))?;
        }
        if chat.is_group() {
            let path = self.member_file(chat, user);
            if self.read::<MemberFile>(chat, &path)?.is_none() {
                self.write(chat, &path, &MemberFile::new(user))?;
            }
        }
        Ok(())
    }

    fn add(&self, chat: ChatId, new: NewBounty, w: &Origin) -> Result<Bounty, StoreError> {
        super::injected_failure("add", chat)?;
        self.modify(chat, w, |doc| {
            let id = doc.next_bounty_id();
            let bounty = Bounty::from_new(id, new);
            doc.bounties.push(bounty.clone());
            doc.next_id = id.next().get();
            (bounty, true)
        })
    }

    fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
        let chat = self.resolve(chat)?;
        Ok(self
            .load_doc(chat)?
            .and_then(|d| d.bounties.into_iter().find(|b| b.id == id)))
    }

    fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
        let chat = self.resolve(chat)?;
        let mut list = self.load_doc(chat)?.map(|d| d.bounties).unwrap_or_default();
        list.sort_by_key(|b| b.id);
        Ok(list)
    }

    fn update(
        &self,
        chat: ChatId,
        id: BountyId,
        patch: &BountyPatch,
        w: &Origin,
    ) -> Result<Option<Bounty>, StoreError> {
        super::injected_failure("update", chat)?;
        self.modify(chat, w, |doc| {
            match doc.bounties.iter_mut().find(|b| b.id == id) {
                Some(slot) if !patch.applies_to(slot) => (Some(slot.clone()), false),
                Some(slot) => {
                    patch.apply_to(slot);
                    (Some(slot.clone()), true)
                }
                None => (None, false),
            }
        })
    }

    fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> Result<bool, StoreError> {
        self.modify(chat, w, |doc| {
            // Pin the counter first so the deleted id is never handed out again.
            let next = doc.next_bounty_id().get();
            let before = doc.bounties.len();
            doc.bounties.retain(|b| b.id != id);
            let removed = doc.bounties.len() != before;
            if removed {
                doc.next_id = next;
            }
            (removed, removed)
        })
    }

    fn track(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        self.modify_tracked(chat, user, w, |tracked| {
            if tracked.contains(&id) {
                (false, false)
            } else {
                tracked.push(id);
                (true, true)
            }
        })
    }

    fn untrack(
        &self,
        chat: ChatId,
        user: UserId,
        id: BountyId,
        w: &Origin,
    ) -> Result<bool, StoreError> {
        self.modify_tracked(chat, user, w, |tracked| {
            let before = tracked.len();
            tracked.retain(|t| *t != id);
            let removed = tracked.len() != before;
            (removed, removed)
        })
    }

    fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
        let chat = self.resolve(chat)?;
        if chat.is_group() {
            Ok(self
                .read::<MemberFile>(chat, &self.member_file(chat, user))?
                .map(|m| m.tracked)
                .unwrap_or_default())
        } else {
            Ok(self
                .load_doc(chat)?
                .and_then(|f| f.tracked)
                .unwrap_or_default())
        }
    }

    fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError> {
        let Some(name) = super::name_kept(chat, user, name) else {
            return Ok(());
        };
        let chat = self.resolve(chat)?;
        if !chat.is_group() {
            let w = Origin {
                update: None,
                sender: Some((user, name)),
            };
            return self.modify(chat, &w, |_| ((), false));
        }
        let listed = self
            .load_doc(chat)?
            .and_then(|f| f.names.get(&user).cloned());
        if listed.is_none() && self.member_name(chat, user)?.as_ref() == Some(&name) {
            return Ok(());
        }
        // Under the lock: the member file gets the name, and an entry in the group's
        // file (which would win over it) goes.
        let (chat, _lock) = self.lock_current(chat)?;
        let path = self.member_file(chat, user);
        let mut member = self
            .read::<MemberFile>(chat, &path)?
            .unwrap_or_else(|| MemberFile::new(user));
        member.name = Some(name);
        self.write(chat, &path, &member)?;
        if let Some(mut file) = self.load_doc(chat)?
            && file.names.remove(&user).is_some()
        {
            self.save_doc(chat, &file)?;
        }
        Ok(())
    }

    fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
        let chat = self.resolve(chat)?;
        if !chat.is_group() {
            let file = self.load_doc(chat)?;
            let tracks = file
                .and_then(|f| f.tracked)
                .is_some_and(|t| t.contains(&id));
            return Ok(tracks.then(|| chat.private_user()).into_iter().collect());
        }
        Ok(self
            .members(chat)?
            .into_iter()
            .filter(|m| m.tracked.contains(&id))
            .map(|m| m.user_id)
            .collect())
    }

    fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
        let chat = self.resolve(chat)?;
        if !chat.is_group() {
            let name = self.load_doc(chat)?.and_then(|f| f.name);
            return Ok(name.map(|n| (chat.private_user(), n)).into_iter().collect());
        }
        let (_, names) = self.members_and_names(chat)?;
        Ok(names)
    }
}

impl ChatSettingsStore for JsonStore {
    fn settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        let chat = self.resolve(chat)?;
        Ok(self
            .load_doc(chat)?
            .map(|d| d.settings())
            .unwrap_or_default())
    }

    fn update_settings(
        &self,
        chat: ChatId,
        patch: &SettingsPatch,
        w: &Origin,
    ) -> Result<ChatSettings, StoreError> {
        self.modify(chat, w, |doc| {
            let before = doc.settings();
            let mut after = before.clone();
            patch.apply_to(&mut after);
            doc.time_zone.clone_from(&after.time_zone);
            doc.remind_at = after.remind_at;
            let changed = after != before;
            (after, changed)
        })
    }

    fn claim_digest(&self, chat: ChatId, date: Date, now: i64) -> Result<DigestClaim, StoreError> {
        self.modify(chat, &Origin::NONE, |doc| claim_in(doc, date, now, None))
    }

    fn reclaim_digest(
        &self,
        chat: ChatId,
        date: Date,
        now: i64,
        older_than: i64,
    ) -> Result<DigestClaim, StoreError> {
        self.modify(chat, &Origin::NONE, |doc| {
            claim_in(doc, date, now, Some(older_than))
        })
    }

    fn digest_sent(&self, chat: ChatId, date: Date, message_id: i32) -> Result<bool, StoreError> {
        self.modify(chat, &Origin::NONE, |doc| {
            match doc.digests.iter_mut().find(|d| d.date == date) {
                Some(d) if d.message_id.is_none() => {
                    d.message_id = Some(message_id);
                    (true, true)
                }
                _ => (false, false),
            }
        })
    }

    fn digests(&self, chat: ChatId) -> Result<Vec<DigestRecord>, StoreError> {
        let chat = self.resolve(chat)?;
        Ok(self
            .load_doc(chat)?
            .map(|d| d.digest_records())
            .unwrap_or_default())
    }

    fn reminder_chats(&self) -> Result<Vec<ReminderChat>, StoreError> {
        let mut out = Vec::new();
        for chat in self.chats()? {
            // A folder left behind by a chat move is read through its new id.
            match self.resolve(chat) {
                Ok(at) if at != chat => continue,
                Ok(_) => {}
                Err(e) => {
                    out.push((chat, Err(e)));
                    continue;
                }
            }
            match self.settings(chat) {
                Ok(s) if s.remind_at.is_none() => {}
                settings => out.push((chat, settings)),
            }
        }
        Ok(out)
    }
}

impl Ledger for JsonStore {
    fn processed(&self, chat: ChatId, user: UserId, update: UpdateId) -> Result<bool, StoreError> {
        let chat = self.resolve(chat)?;
        if let Some(doc) = self.load_doc(chat)?
            && doc.updates.contains(&update)
        {
            return Ok(true);
        }
        if chat.is_group()
            && let Some(member) = self.read::<MemberFile>(chat, &self.member_file(chat, user))?
        {
            return Ok(member.updates.contains(&update));
        }
        Ok(false)
    }

    fn note(&self, chat: ChatId, w: &Origin) -> Result<(), StoreError> {
        match (w.update, w.name_in(chat)) {
            (None, None) => Ok(()),
            (None, Some((user, name))) => self.remember_name(chat, user, &name),
            (Some(_), _) => self.modify(chat, w, |_| ((), true)),
        }
    }

    fn migrate_chat(&self, from: ChatId, to: ChatId) -> Result<ChatMove, StoreError> {
        super::check_migration(from, to)?;
        // Lock both folders, lower id first, so two migrations cannot deadlock.
        let _a = self.lock(from.min(to))?;
        let _b = self.lock(from.max(to))?;
        let files = self.json_files(from)?;
        if files.is_empty() {
            // Moved before; a crash may have come before the creators were rewritten.
            self.adopt_anonymous_admins(from, to)?;
            return Ok(ChatMove::default());
        }
        let moved = if self.bounty_file(to).exists() {
            self.merge_chat(from, to, &files)?
        } else {
            self.rename_chat(from, to, files)?
        };
        self.adopt_anonymous_admins(from, to)?;
        // Last: from now on the old chat's reads and writes go to the new one.
        self.mark_moved(from, to)?;
        Ok(moved)
    }

    fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
        self.resolve(chat)
    }
}

impl JsonStore {
    /// Chat ids that have a folder with at least one JSON file, sorted.
    pub fn chats(&self) -> Result<Vec<ChatId>, StoreError> {
        let mut chats = Vec::new();
        for chat in self.folders()? {
            if !self.json_files(chat)?.is_empty() {
                chats.push(chat);
            }
        }
        Ok(chats)
    }

    /// The chats that moved (a folder with a [`MOVED_FILE`]) and where to, sorted.
    pub fn moves(&self) -> Result<Vec<(ChatId, ChatId)>, StoreError> {
        let mut moves = Vec::new();
        for chat in self.folders()? {
            if let Some(to) = self.moved_from(chat, chat)? {
                moves.push((chat, to));
            }
        }
        Ok(moves)
    }

    /// Chat ids that have a folder, sorted.
    fn folders(&self) -> Result<Vec<ChatId>, StoreError> {
        let io = |e| Error::fs(Scope::Store, "cannot list", &self.root)(e);
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e).into()),
        };
        let mut chats = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let id = name.to_string_lossy().parse::<i64>().ok();
            if let Some(chat) = id.and_then(|id| ChatId::try_from(id).ok())
                && entry.path().is_dir()
            {
                chats.push(chat);
            }
        }
        chats.sort();
        Ok(chats)
    }

    /// Names of the data files in a chat folder (no lock or temp files), sorted.
    pub fn json_files(&self, chat: ChatId) -> Result<Vec<String>, StoreError> {
        let dir = self.chat_dir(chat);
        let mut files: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !statekit::json::is_temp_file(n))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::fs(chat, "cannot list", &dir)(e).into()),
        };
        files.sort();
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReminderTime, Status, ZoneName};
    use serde_json::Value;

    /// A store in a temp dir holding group -5's folder with `files` (name, text).
    fn group_with(files: &[(&str, &str)]) -> (tempfile::TempDir, JsonStore, ChatId) {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::new(dir.path());
        let chat = ChatId::new(-5);
        std::fs::create_dir_all(store.chat_dir(chat)).unwrap();
        for (name, text) in files {
            std::fs::write(store.chat_dir(chat).join(name), text).unwrap();
        }
        (dir, store, chat)
    }

    /// A bounty "t" by `user`.
    fn bounty_by(user: UserId) -> NewBounty {
        NewBounty {
            created_by_user_id: user,
            text: "t".into(),
            link: None,
            due_date_ts: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_crashed_writers_temp_file_is_removed_on_the_next_write_and_a_live_ones_kept() {
        let (_dir, store, chat) = group_with(&[]);
        let dead = store.chat_dir(chat).join(".x.json.tmp-99999999-0");
        let live = store
            .chat_dir(chat)
            .join(format!(".x.json.tmp-{}-0", std::process::id()));
        std::fs::write(&dead, "").unwrap();
        std::fs::write(&live, "").unwrap();
        let new = bounty_by(UserId::new(7));
        store.add(chat, new, &Origin::NONE).unwrap();
        assert!(!dead.exists(), "a dead writer's temp file is swept");
        assert!(live.exists(), "a live writer's temp file is kept");
        assert!(store.chat_dir(chat).join(GROUP_FILE).exists());
    }

    #[test]
    fn fields_this_version_does_not_know_survive_a_write() {
        let (_dir, store, chat) = group_with(&[
            (
                GROUP_FILE,
                r#"{"group_id": -5, "next_id": 1, "bounties": [], "title": "Ops", "settings": {"tz": "UTC"}}"#,
            ),
            ("7.json", r#"{"user_id": 7, "tracked": [], "name": "Ann"}"#),
        ]);
        let new = bounty_by(UserId::new(7));
        let b = store.add(chat, new, &Origin::NONE).unwrap();
        store
            .track(chat, UserId::new(7), b.id, &Origin::NONE)
            .unwrap();
        let read = |name: &str| -> Value {
            serde_json::from_slice(&std::fs::read(store.chat_dir(chat).join(name)).unwrap())
                .unwrap()
        };
        let group = read(GROUP_FILE);
        assert_eq!(group["title"], "Ops");
        assert_eq!(group["settings"]["tz"], "UTC");
        assert_eq!(group["bounties"][0]["text"], "t");
        assert_eq!(read("7.json")["name"], "Ann");
        assert!(
            group.get("updates").is_none(),
            "absent until a bot writes one"
        );
    }

    /// A group file and a member file as the original design wrote them (no status,
    /// claimer, done time or name).
    const ORIGINAL_GROUP: &str = r#"{
  "group_id": -5,
  "next_id": 3,
  "bounties": [
    {
      "id": 1,
      "created_by_user_id": 7,
      "text": "first",
      "link": "https://x.org/1",
      "due_date_ts": 1796083200,
      "created_at": 1795000000
    },
    {
      "id": 2,
      "created_by_user_id": 8,
      "text": "second",
      "created_at": 1795000001
    }
  ]
}
"#;
    const ORIGINAL_MEMBER: &str = r#"{
  "user_id": 7,
  "tracked": [
    2
  ]
}
"#;

    #[test]
    fn files_of_the_original_design_load_as_open_unclaimed_and_rewrite_byte_for_byte() {
        let (_dir, store, chat) =
            group_with(&[(GROUP_FILE, ORIGINAL_GROUP), ("7.json", ORIGINAL_MEMBER)]);
        let folder = store.chat_dir(chat);
        let list = store.list(chat).unwrap();
        assert_eq!(list.len(), 2);
        for b in &list {
            assert_eq!(
                (b.status, b.claimed_by_user_id, b.done_at),
                (Status::Open, None, None)
            );
        }
        assert_eq!(store.names(chat).unwrap(), vec![]);
        // Rewrites that use none of the new features give the same bytes.
        let same = BountyPatch {
            text: Some("first".into()),
            ..BountyPatch::default()
        };
        store
            .update(chat, BountyId::new(1), &same, &Origin::NONE)
            .unwrap();
        store
            .track(chat, UserId::new(7), BountyId::new(2), &Origin::NONE)
            .unwrap();
        store
            .untrack(chat, UserId::new(7), BountyId::new(1), &Origin::NONE)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(folder.join(GROUP_FILE)).unwrap(),
            ORIGINAL_GROUP
        );
        assert_eq!(
            std::fs::read_to_string(folder.join("7.json")).unwrap(),
            ORIGINAL_MEMBER
        );
        // Using them adds the fields, and undoing them removes them again.
        let done = BountyPatch {
            claimed_by_user_id: Some(Some(UserId::new(8))),
            status: Some((Status::Done, Some(1_796_000_000))),
            ..BountyPatch::default()
        };
        store
            .update(chat, BountyId::new(2), &done, &Origin::NONE)
            .unwrap();
        let text = std::fs::read_to_string(folder.join(GROUP_FILE)).unwrap();
        assert!(
            text.contains("\"status\": \"done\"") && text.contains("\"claimed_by_user_id\": 8"),
            "{text}"
        );
        let undo = BountyPatch {
            claimed_by_user_id: Some(None),
            status: Some((Status::Open, None)),
            ..BountyPatch::default()
        };
        store
            .update(chat, BountyId::new(2), &undo, &Origin::NONE)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(folder.join(GROUP_FILE)).unwrap(),
            ORIGINAL_GROUP
        );
        store.remember_name(chat, UserId::new(7), "Ann").unwrap();
        let member: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("7.json")).unwrap()).unwrap();
        assert_eq!(member["name"], "Ann");
        assert_eq!(member["tracked"], serde_json::json!([2]));
    }

    #[test]
    fn files_of_the_original_design_rewrite_byte_for_byte_until_settings_are_used() {
        let (_dir, store, chat) = group_with(&[(GROUP_FILE, ORIGINAL_GROUP)]);
        let folder = store.chat_dir(chat);
        assert_eq!(store.settings(chat).unwrap(), ChatSettings::default());
        assert_eq!(store.digests(chat).unwrap(), vec![]);
        // Setting nothing new, and a patch that changes nothing, write the same bytes.
        store
            .update_settings(chat, &SettingsPatch::default(), &Origin::NONE)
            .unwrap();
        let same = BountyPatch {
            text: Some("first".into()),
            ..BountyPatch::default()
        };
        store
            .update(chat, BountyId::new(1), &same, &Origin::NONE)
            .unwrap();
        let read = || std::fs::read_to_string(folder.join(GROUP_FILE)).unwrap();
        assert_eq!(read(), ORIGINAL_GROUP);
        // Using them adds the fields; clearing them gives the original bytes back.
        let on = SettingsPatch {
            time_zone: Some(Some(ZoneName::parse("Europe/Berlin").unwrap())),
            remind_at: Some(Some(ReminderTime::parse("09:00").unwrap())),
        };
        store.update_settings(chat, &on, &Origin::NONE).unwrap();
        let text = read();
        assert!(
            text.contains("\"time_zone\": \"Europe/Berlin\"")
                && text.contains("\"remind_at\": \"09:00\""),
            "{text}"
        );
        let off = SettingsPatch {
            time_zone: Some(None),
            remind_at: Some(None),
        };
        store.update_settings(chat, &off, &Origin::NONE).unwrap();
        assert_eq!(read(), ORIGINAL_GROUP);
        // A digest record is stored in the chat's own file.
        let day = jiff::civil::date(2026, 11, 20);
        store.claim_digest(chat, day, 1_795_000_000).unwrap();
        store.digest_sent(chat, day, 77).unwrap();
        let v: Value = serde_json::from_str(&read()).unwrap();
        assert_eq!(
            v["digests"],
            serde_json::json!([{"date": "2026-11-20", "claimed_at": 1_795_000_000, "message_id": 77}])
        );
    }

    #[test]
    fn a_damaged_setting_is_reported_with_its_position() {
        let (_dir, store, chat) = group_with(&[(
            GROUP_FILE,
            r#"{"group_id": -5, "next_id": 1, "bounties": [], "remind_at": "25:00"}"#,
        )]);
        assert!(matches!(
            store.settings(chat),
            Err(StoreError::Json(Error::Corrupt { line: 1, .. }))
        ));
    }

    #[test]
    fn a_chat_file_without_its_id_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::new(dir.path());
        for (chat, file) in [(ChatId::new(-5), GROUP_FILE), (ChatId::new(5), USER_FILE)] {
            std::fs::create_dir_all(store.chat_dir(chat)).unwrap();
            let path = store.chat_dir(chat).join(file);
            let text = r#"{"next_id": 1, "bounties": []}"#;
            std::fs::write(&path, text).unwrap();
            let new = bounty_by(UserId::new(5));
            let refused = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Json(Error::Shape { chat: c, .. })) if c == chat);
            assert!(refused(store.list(chat).map(drop)), "{chat}");
            assert!(
                refused(store.add(chat, new, &Origin::NONE).map(drop)),
                "{chat}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{chat}");
        }
    }

    #[test]
    fn a_name_learned_with_a_change_is_kept_in_the_chat_file_until_one_is_remembered_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::new(dir.path());
        let (chat, ann) = (ChatId::new(-5), UserId::new(7));
        let w = Origin {
            update: Some(UpdateId::new(1)),
            sender: Some((ann, " Ann ".into())),
        };
        let new = bounty_by(ann);
        store.add(chat, new, &w).unwrap();
        let group = |store: &JsonStore| -> Value {
            let path = store.chat_dir(chat).join(GROUP_FILE);
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        assert_eq!(group(&store)["names"], serde_json::json!({"7": "Ann"}));
        assert!(!store.member_file(chat, ann).exists(), "one file written");
        assert_eq!(store.names(chat).unwrap(), [(ann, "Ann".to_string())]);
        // Remembered apart (a command that changes no bounty): the member file gets
        // it, and the chat file's entry, which would win, goes.
        store.remember_name(chat, ann, "Annie").unwrap();
        assert_eq!(group(&store).get("names"), None);
        assert_eq!(store.names(chat).unwrap(), [(ann, "Annie".to_string())]);
    }
}
