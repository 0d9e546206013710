//! A chat's move to a supergroup on files: renaming the old chat's folder into the new
//! one, or merging into a new chat that has bounties already, resumable after a crash.

use std::path::Path;

use super::files::{MemberFile, Merged, adopt};
use super::{Error, GROUP_FILE, JsonStore};
use crate::domain::{Bounty, BountyId, ChatId, ChatMove, renumber};
use crate::store::StoreError;

impl JsonStore {
    /// [`adopt`] in `to`'s file (both chats' locks held).
    pub(super) fn adopt_anonymous_admins(
        &self,
        from: ChatId,
        to: ChatId,
    ) -> Result<(), StoreError> {
        if let Some(mut doc) = self.load_doc(to)?
            && adopt(&mut doc.bounties, from, to)
        {
            self.save_doc(to, &doc)?;
        }
        Ok(())
    }

    /// Moves `from`'s files into `to`, which has no bounty file yet. Members first and
    /// the group file last: a crash in between leaves the group file in the old folder,
    /// so a re-run moves the rest.
    pub(super) fn rename_chat(
        &self,
        from: ChatId,
        to: ChatId,
        mut files: Vec<String>,
    ) -> Result<ChatMove, StoreError> {
        let (from_dir, to_dir) = (self.chat_dir(from), self.chat_dir(to));
        let io = |chat: ChatId, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Fs {
                scope: chat.into(),
                what: "cannot move",
                path,
                source,
            }
        };
        files.sort_by_key(|f| f == GROUP_FILE);
        for name in &files {
            let target = to_dir.join(name);
            if name != GROUP_FILE && target.exists() {
                // A member file `to` got first: keep both sets of bookmarks.
                let theirs = self.read::<MemberFile>(from, &from_dir.join(name))?;
                let mut ours = self.read::<MemberFile>(to, &target)?.ok_or(Error::Shape {
                    chat: to,
                    what: "a member file vanished during a chat move",
                })?;
                if let Some(theirs) = theirs {
                    ours.absorb(theirs, |id| id);
                }
                self.write(to, &target, &ours)?;
                let old = from_dir.join(name);
                std::fs::remove_file(&old).map_err(io(from, &old))?;
                continue;
            }
            let old = from_dir.join(name);
            std::fs::rename(&old, &target).map_err(io(from, &old))?;
        }
        statekit::fs::fsync_dir(&to_dir).map_err(io(to, &to_dir))?;
        statekit::fs::fsync_dir(&from_dir).map_err(io(from, &from_dir))?;
        // The ids inside follow the folder.
        if let Some(mut g) = self.load_doc(to)?
            && g.group_id != Some(to)
        {
            g.group_id = Some(to);
            self.save_doc(to, &g)?;
        }
        Ok(ChatMove {
            moved: true,
            merged: false,
            renumbered: Vec::new(),
        })
    }

    /// Joins `from`'s bounties and bookmarks to `to`, which has a bounty file already
    /// (the new supergroup was written to before the migration message arrived).
    /// First the joined bounty file is written, with a note of the merge and its id
    /// map, in one atomic replace; then the bookmarks follow; then `from`'s files go,
    /// its bounty file last. A re-run after a crash finds the note and finishes.
    pub(super) fn merge_chat(
        &self,
        from: ChatId,
        to: ChatId,
        files: &[String],
    ) -> Result<ChatMove, StoreError> {
        let from_dir = self.chat_dir(from);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Fs {
                scope: from.into(),
                what: "cannot remove",
                path,
                source,
            }
        };
        let Some(mut target) = self.load_doc(to)? else {
            return Err(Error::Shape {
                chat: to,
                what: "the new chat's file vanished during a chat move",
            }
            .into());
        };
        let had_bounties = !target.bounties.is_empty();
        let source = self.load_doc(from)?;
        let note_at = match target.merged_from.iter().position(|m| m.chat == from) {
            Some(i) => i,
            None => {
                target.merged_from.push(Merged {
                    chat: from,
                    renumbered: Vec::new(),
                    taken: Vec::new(),
                });
                target.merged_from.len() - 1
            }
        };
        if let Some(source) = source {
            // Only what is not merged yet: after a crash half-way, nothing is merged
            // twice; a bounty written to the old chat since is merged now.
            let taken = target.merged_from[note_at].taken.clone();
            let fresh: Vec<Bounty> = source
                .bounties
                .iter()
                .filter(|b| !taken.contains(&(b.id, b.created_at)))
                .cloned()
                .collect();
            let from_ids: Vec<BountyId> = fresh.iter().map(|b| b.id).collect();
            let to_ids: Vec<BountyId> = target.bounties.iter().map(|b| b.id).collect();
            let to_next = target.next_bounty_id().get();
            // Floored past the highest id, as for any new id in the source.
            let from_next = source.next_bounty_id().get();
            let (map, next) = renumber(&from_ids, from_next, &to_ids, to_next);
            let note = &mut target.merged_from[note_at];
            note.taken
                .extend(fresh.iter().map(|b| (b.id, b.created_at)));
            note.renumbered
                .extend(map.iter().copied().filter(|(a, b)| a != b));
            for (b, (_, new)) in fresh.into_iter().zip(&map) {
                target.bounties.push(Bounty { id: *new, ..b });
            }
            target.bounties.sort_by_key(|b| b.id);
            target.next_id = next.max(target.next_id);
            // Settings the new chat lacks, and digest records of dates it has none for,
            // come along (so a moved chat gets no second digest that day).
            if target.time_zone.is_none() {
                target.time_zone.clone_from(&source.time_zone);
            }
            if target.remind_at.is_none() {
                target.remind_at = source.remind_at;
            }
            for d in &source.digests {
                if !target.digests.iter().any(|t| t.date == d.date) {
                    target.digests.push(*d);
                }
            }
            for (user, name) in source.names {
                target.names.entry(user).or_insert(name);
            }
            // The old chat's processed updates are the new chat's now.
            for u in source.updates {
                if !target.updates.contains(&u) {
                    target.updates.push_back(u);
                }
            }
            self.save_doc(to, &target)?;
        }
        let map = target.merged_from[note_at].renumbered.clone();
        let remap = |id: BountyId| {
            map.iter()
                .find(|(old, _)| *old == id)
                .map_or(id, |(_, new)| *new)
        };
        for name in files.iter().filter(|f| *f != GROUP_FILE) {
            let Some(theirs) = self.read::<MemberFile>(from, &from_dir.join(name))? else {
                continue;
            };
            let path = self.member_file(to, theirs.user_id);
            let mut ours = self
                .read::<MemberFile>(to, &path)?
                .unwrap_or_else(|| MemberFile::new(theirs.user_id));
            ours.absorb(theirs, remap);
            self.write(to, &path, &ours)?;
        }
        let mut order: Vec<&String> = files.iter().collect();
        order.sort_by_key(|f| *f == GROUP_FILE);
        for name in order {
            let old = from_dir.join(name);
            statekit::fs::remove_if_exists(&old).map_err(io(&old))?;
        }
        statekit::fs::fsync_dir(&from_dir).map_err(io(&from_dir))?;
        Ok(ChatMove {
            moved: true,
            merged: had_bounties,
            renumbered: map,
        })
    }
}
