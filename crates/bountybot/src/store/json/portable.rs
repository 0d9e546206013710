//! The JSON files as the backend-neutral [`ChatData`] a move between backends copies.

use std::collections::BTreeMap;

use super::JsonStore;
use super::files::{ChatFile, MemberFile, name_of};
use crate::domain::{BountyId, ChatId, UpdateId, UserId};
use crate::store::{ChatData, Portable, StoreError, carried};

impl JsonStore {
    /// A group's member files, by user id (the file name gives the id).
    pub(super) fn members(&self, chat: ChatId) -> Result<Vec<MemberFile>, StoreError> {
        let mut members = Vec::new();
        for name in self.json_files(chat)? {
            let Some(user) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|id| UserId::try_from(id).ok())
            else {
                continue;
            };
            let path = self.chat_dir(chat).join(&name);
            if let Some(mut m) = self.read::<MemberFile>(chat, &path)? {
                m.user_id = user;
                members.push(m);
            }
        }
        members.sort_by_key(|m| m.user_id);
        Ok(members)
    }

    /// A group's members (its member files, and the users named in its file) with
    /// their bookmarks, and its names (the group file's winning), by user id.
    #[allow(clippy::type_complexity)]
    pub(super) fn members_and_names(
        &self,
        chat: ChatId,
    ) -> Result<(Vec<(UserId, Vec<BountyId>)>, Vec<(UserId, String)>), StoreError> {
        let files = self.members(chat)?;
        let listed = self.load_doc(chat)?.map(|f| f.names).unwrap_or_default();
        let mut names: BTreeMap<UserId, String> = files
            .iter()
            .filter_map(|m| m.name.clone().map(|n| (m.user_id, n)))
            .collect();
        let mut members: BTreeMap<UserId, Vec<BountyId>> =
            files.into_iter().map(|m| (m.user_id, m.tracked)).collect();
        for (user, name) in listed {
            members.entry(user).or_default();
            names.insert(user, name);
        }
        Ok((members.into_iter().collect(), names.into_iter().collect()))
    }
}

impl Portable for JsonStore {
    fn export(&self) -> Result<Vec<ChatData>, StoreError> {
        let (mut out, moves) = (Vec::new(), self.moves()?);
        for chat in self.chats()? {
            let doc = self.load_doc(chat)?.unwrap_or_else(|| ChatFile::new(chat));
            let mut bounties = doc.bounties.clone();
            bounties.sort_by_key(|b| b.id);
            let mut updates: Vec<UpdateId> = doc.updates.iter().copied().collect();
            let (members, names) = if chat.is_group() {
                for m in self.members(chat)? {
                    updates.extend(m.updates);
                }
                self.members_and_names(chat)?
            } else {
                let owner = chat.private_user();
                let name = doc.name.clone().map(|n| (owner, n));
                let tracked = doc.tracked.clone().unwrap_or_default();
                (vec![(owner, tracked)], name.into_iter().collect())
            };
            out.push(ChatData {
                chat,
                next_id: doc.next_bounty_id().get(),
                bounties,
                members,
                names,
                settings: doc.settings(),
                digests: doc.digest_records(),
                updates: carried(updates),
                moved_here: moves.iter().filter(|m| m.1 == chat).map(|m| m.0).collect(),
            });
        }
        Ok(out)
    }

    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError> {
        for d in chats {
            let _lock = self.lock(d.chat)?;
            let owner = d.chat.private_user();
            let mut file = ChatFile {
                next_id: d.next_id,
                bounties: d.bounties.clone(),
                time_zone: d.settings.time_zone.clone(),
                remind_at: d.settings.remind_at,
                digests: d.digests.iter().map(|r| (*r).into()).collect(),
                updates: carried(d.updates.clone()).into(),
                ..ChatFile::new(d.chat)
            };
            if !d.chat.is_group() {
                file.tracked = Some(
                    d.members
                        .first()
                        .map(|(_, t)| t.clone())
                        .unwrap_or_default(),
                );
                file.name = name_of(&d.names, owner);
            }
            self.save_doc(d.chat, &file)?;
            for (user, tracked) in d.members.iter().filter(|_| d.chat.is_group()) {
                let member = MemberFile {
                    tracked: tracked.clone(),
                    name: name_of(&d.names, *user),
                    ..MemberFile::new(*user)
                };
                self.write(d.chat, &self.member_file(d.chat, *user), &member)?;
            }
            for from in &d.moved_here {
                let _lock = self.lock(*from)?;
                self.mark_moved(*from, d.chat)?;
            }
        }
        Ok(())
    }
}
