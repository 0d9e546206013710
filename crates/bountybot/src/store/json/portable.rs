//! The JSON files as the backend-neutral [`ChatData`] a move between backends copies.

use std::collections::BTreeMap;

use serde_json::Map;

use super::JsonStore;
use super::files::{Doc, GroupFile, MemberFile, PrivateFile, name_of};
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
        let listed = match self.load_doc(chat)? {
            Some(Doc::Group(g)) => g.names,
            _ => BTreeMap::new(),
        };
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
            let mut doc = self
                .load_doc(chat)?
                .unwrap_or_else(|| Self::empty_doc(chat));
            let next_id = doc.next_id().get();
            let mut bounties = doc.bounties().to_vec();
            bounties.sort_by_key(|b| b.id);
            let mut updates: Vec<UpdateId> = doc.updates().iter().copied().collect();
            let (members, names) = match &doc {
                Doc::Private(p) => (
                    vec![(p.user_id, p.tracked.clone())],
                    p.name
                        .clone()
                        .map(|n| vec![(p.user_id, n)])
                        .unwrap_or_default(),
                ),
                Doc::Group(_) => {
                    for m in self.members(chat)? {
                        updates.extend(m.updates);
                    }
                    self.members_and_names(chat)?
                }
            };
            out.push(ChatData {
                chat,
                next_id,
                bounties,
                members,
                names,
                settings: doc.settings(),
                digests: doc.digests(),
                updates: carried(updates),
                moved_here: moves.iter().filter(|m| m.1 == chat).map(|m| m.0).collect(),
            });
        }
        Ok(out)
    }

    fn import(&self, chats: &[ChatData]) -> Result<(), StoreError> {
        for d in chats {
            let _lock = self.lock(d.chat)?;
            if d.chat.is_group() {
                let group = GroupFile {
                    group_id: d.chat,
                    next_id: d.next_id,
                    bounties: d.bounties.clone(),
                    time_zone: d.settings.time_zone.clone(),
                    remind_at: d.settings.remind_at,
                    digests: d.digests.iter().map(|r| (*r).into()).collect(),
                    updates: carried(d.updates.clone()).into(),
                    merged_from: Vec::new(),
                    names: BTreeMap::new(),
                    unknown: Map::new(),
                };
                self.save_doc(d.chat, &Doc::Group(group))?;
                for (user, tracked) in &d.members {
                    let member = MemberFile {
                        tracked: tracked.clone(),
                        name: name_of(&d.names, *user),
                        ..MemberFile::new(*user)
                    };
                    self.write(d.chat, &self.member_file(d.chat, *user), &member)?;
                }
            } else {
                let private = PrivateFile {
                    user_id: d.chat.private_user(),
                    next_id: d.next_id,
                    bounties: d.bounties.clone(),
                    tracked: d
                        .members
                        .first()
                        .map(|(_, t)| t.clone())
                        .unwrap_or_default(),
                    name: name_of(&d.names, d.chat.private_user()),
                    time_zone: d.settings.time_zone.clone(),
                    remind_at: d.settings.remind_at,
                    digests: d.digests.iter().map(|r| (*r).into()).collect(),
                    updates: carried(d.updates.clone()).into(),
                    unknown: Map::new(),
                };
                self.save_doc(d.chat, &Doc::Private(private))?;
            }
            for from in &d.moved_here {
                let _lock = self.lock(*from)?;
                self.mark_moved(*from, d.chat)?;
            }
        }
        Ok(())
    }
}
