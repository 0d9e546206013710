//! One storage test suite, run against every [`BountyStore`] backend, so that the
//! backends cannot drift apart. Each test is a generic function over a factory that
//! opens a store on a data dir; `backend_suite!` instantiates them per backend.

use std::path::Path;
use std::sync::Arc;

use bountybot::domain::{BountyId, ChatId, ReminderTime, UpdateId, UserId, ZoneName};
use bountybot::domain::{
    BountyPatch, ChatSettings, DigestClaim, DigestRecord, NewBounty, SettingsPatch, Status,
};
use bountybot::store::StoreError;
use bountybot::store::prelude::*;
use jiff::civil::{Date, date};

pub type Open = fn(&Path) -> Arc<dyn BountyStore>;

const GROUP: ChatId = ChatId::new(-1_001_234_567_890);
const OTHER: ChatId = ChatId::new(-42);
const ANN: UserId = UserId::new(7);
const BOB: UserId = UserId::new(8);

fn new(text: &str, by: UserId) -> NewBounty {
    NewBounty {
        created_by_user_id: by,
        text: text.into(),
        link: Some("https://x.org/1".into()),
        due_date_ts: Some(1_796_083_200),
        created_at: 1_795_000_000,
    }
}

pub fn ids_are_sequential_per_chat(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for chat in [GROUP, OTHER, ChatId::new(ANN.get())] {
        for expected in 1..=3 {
            assert_eq!(
                s.add(chat, new("t", ANN), &Origin::NONE).unwrap().id,
                BountyId::new(expected)
            );
        }
    }
}

pub fn stored_bounties_read_back_exactly(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b = s
        .add(
            GROUP,
            new("Exact <text> & \"quotes\" é", ANN),
            &Origin::NONE,
        )
        .unwrap();
    assert_eq!(s.get(GROUP, b.id).unwrap(), Some(b.clone()));
    assert_eq!(s.list(GROUP).unwrap(), vec![b.clone()]);
    let mut bare = new("no extras", BOB);
    bare.link = None;
    bare.due_date_ts = None;
    let b2 = s.add(GROUP, bare, &Origin::NONE).unwrap();
    assert_eq!(s.get(GROUP, b2.id).unwrap().unwrap().link, None);
    assert_eq!(s.list(GROUP).unwrap(), vec![b, b2]);
    assert_eq!(s.get(GROUP, BountyId::new(99)).unwrap(), None);
}

pub fn update_changes_only_the_given_fields(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b = s.add(GROUP, new("old", ANN), &Origin::NONE).unwrap();
    let text_only = BountyPatch {
        text: Some("new".into()),
        ..BountyPatch::default()
    };
    let mut want = b.clone();
    want.text = "new".into();
    assert_eq!(
        s.update(GROUP, b.id, &text_only, &Origin::NONE).unwrap(),
        Some(want.clone())
    );
    // A second edit of other fields keeps the first one's text.
    let clear = BountyPatch {
        link: Some(None),
        due_date_ts: Some(Some(1_800_000_000)),
        ..BountyPatch::default()
    };
    want.link = None;
    want.due_date_ts = Some(1_800_000_000);
    assert_eq!(
        s.update(GROUP, b.id, &clear, &Origin::NONE).unwrap(),
        Some(want.clone())
    );
    assert_eq!(s.get(GROUP, b.id).unwrap(), Some(want));
    assert_eq!(
        s.update(GROUP, BountyId::new(50), &text_only, &Origin::NONE)
            .unwrap(),
        None
    );
}

pub fn concurrent_edits_of_different_fields_both_survive(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b = s.add(GROUP, new("start", ANN), &Origin::NONE).unwrap();
    std::thread::scope(|scope| {
        let texts = Arc::clone(&s);
        scope.spawn(move || {
            for i in 0..50 {
                let patch = BountyPatch {
                    text: Some(format!("text {i}")),
                    ..BountyPatch::default()
                };
                texts.update(GROUP, b.id, &patch, &Origin::NONE).unwrap();
            }
        });
        let dues = Arc::clone(&s);
        scope.spawn(move || {
            for i in 0..50 {
                let patch = BountyPatch {
                    due_date_ts: Some(Some(1_800_000_000 + i)),
                    ..BountyPatch::default()
                };
                dues.update(GROUP, b.id, &patch, &Origin::NONE).unwrap();
            }
        });
    });
    let got = s.get(GROUP, b.id).unwrap().unwrap();
    assert_eq!(
        (got.text.as_str(), got.due_date_ts),
        ("text 49", Some(1_800_000_049)),
        "the last edit of each field wins; neither is lost"
    );
}

pub fn deleted_ids_are_never_reused(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.add(GROUP, new("a", ANN), &Origin::NONE).unwrap();
    let b = s.add(GROUP, new("b", ANN), &Origin::NONE).unwrap();
    assert!(s.delete(GROUP, b.id, &Origin::NONE).unwrap());
    assert!(!s.delete(GROUP, b.id, &Origin::NONE).unwrap());
    assert_eq!(
        s.add(GROUP, new("c", ANN), &Origin::NONE).unwrap().id,
        BountyId::new(3)
    );
    // Even when the highest id is gone and the store is reopened.
    assert!(s.delete(GROUP, BountyId::new(3), &Origin::NONE).unwrap());
    drop(s);
    let s = open(dir.path());
    assert_eq!(
        s.add(GROUP, new("d", ANN), &Origin::NONE).unwrap().id,
        BountyId::new(4)
    );
}

pub fn tracking_is_per_user_per_chat(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for chat in [GROUP, OTHER] {
        s.add(chat, new("a", ANN), &Origin::NONE).unwrap();
        s.add(chat, new("b", ANN), &Origin::NONE).unwrap();
    }
    assert!(
        s.track(GROUP, ANN, BountyId::new(2), &Origin::NONE)
            .unwrap()
    );
    assert!(
        !s.track(GROUP, ANN, BountyId::new(2), &Origin::NONE)
            .unwrap()
    );
    assert!(
        s.track(GROUP, ANN, BountyId::new(1), &Origin::NONE)
            .unwrap()
    );
    assert_eq!(
        s.tracked(GROUP, ANN).unwrap(),
        vec![BountyId::new(2), BountyId::new(1)]
    );
    assert!(s.tracked(GROUP, BOB).unwrap().is_empty());
    assert!(s.tracked(OTHER, ANN).unwrap().is_empty());
    assert!(
        s.untrack(GROUP, ANN, BountyId::new(2), &Origin::NONE)
            .unwrap()
    );
    assert!(
        !s.untrack(GROUP, ANN, BountyId::new(2), &Origin::NONE)
            .unwrap()
    );
    assert_eq!(s.tracked(GROUP, ANN).unwrap(), vec![BountyId::new(1)]);
    let private = ChatId::new(ANN.get());
    s.add(private, new("mine", ANN), &Origin::NONE).unwrap();
    assert!(
        s.track(private, ANN, BountyId::new(1), &Origin::NONE)
            .unwrap()
    );
    assert_eq!(s.tracked(private, ANN).unwrap(), vec![BountyId::new(1)]);
}

pub fn chats_are_isolated(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b = s.add(GROUP, new("group only", ANN), &Origin::NONE).unwrap();
    assert!(s.list(OTHER).unwrap().is_empty());
    assert_eq!(s.get(OTHER, b.id).unwrap(), None);
    assert!(!s.delete(OTHER, b.id, &Origin::NONE).unwrap());
    let patch = BountyPatch {
        text: Some("hijacked".into()),
        ..BountyPatch::default()
    };
    assert_eq!(s.update(OTHER, b.id, &patch, &Origin::NONE).unwrap(), None);
    assert_eq!(s.list(GROUP).unwrap(), vec![b]);
}

pub fn ensure_user_creates_and_never_deletes(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.ensure_user(GROUP, ANN).unwrap();
    assert!(s.list(GROUP).unwrap().is_empty());
    let b = s.add(GROUP, new("keep", ANN), &Origin::NONE).unwrap();
    s.track(GROUP, ANN, b.id, &Origin::NONE).unwrap();
    s.ensure_user(GROUP, ANN).unwrap();
    s.ensure_user(ChatId::new(ANN.get()), ANN).unwrap();
    assert_eq!(s.list(GROUP).unwrap(), vec![b.clone()]);
    assert_eq!(s.tracked(GROUP, ANN).unwrap(), vec![b.id]);
}

pub fn concurrent_adds_from_threads_lose_nothing(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = Arc::clone(&s);
            scope.spawn(move || {
                for i in 0..25 {
                    s.add(GROUP, new(&format!("{t}-{i}"), ANN), &Origin::NONE)
                        .unwrap();
                }
            });
        }
    });
    let ids: Vec<u64> = s.list(GROUP).unwrap().iter().map(|b| b.id.get()).collect();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
}

pub fn migrating_a_chat_moves_everything_once(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    const NEW: ChatId = ChatId::new(-1_000_000_000_042);
    let a = s.add(OTHER, new("a", ANN), &Origin::NONE).unwrap();
    let b = s.add(OTHER, new("b", BOB), &Origin::NONE).unwrap();
    s.delete(OTHER, b.id, &Origin::NONE).unwrap();
    s.track(OTHER, BOB, a.id, &Origin::NONE).unwrap();
    assert!(s.migrate_chat(OTHER, NEW).unwrap().moved);
    assert!(
        !s.migrate_chat(OTHER, NEW).unwrap().moved,
        "a second migration finds nothing to move"
    );
    // The old id is dead: it shows nothing of its own (JSON leads it to the new chat).
    let now_new = s.list(NEW).unwrap();
    assert!(s.list(OTHER).unwrap().iter().all(|b| now_new.contains(b)));
    assert_eq!(s.list(NEW).unwrap(), vec![a.clone()]);
    assert_eq!(s.tracked(NEW, BOB).unwrap(), vec![a.id]);
    assert_eq!(
        s.add(NEW, new("c", ANN), &Origin::NONE).unwrap().id,
        BountyId::new(3),
        "the counter moved too"
    );
    assert!(
        s.migrate_chat(GROUP, ChatId::new(5)).is_err(),
        "only group to group"
    );
}

pub fn migrating_into_a_chat_with_bounties_joins_them(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    const NEW: ChatId = ChatId::new(-1_000_000_000_043);
    // The old group: #1, #2 (deleted), #3; Bob bookmarks #1 and #3.
    let one = s.add(OTHER, new("old one", ANN), &Origin::NONE).unwrap();
    let two = s.add(OTHER, new("old two", ANN), &Origin::NONE).unwrap();
    let three = s.add(OTHER, new("old three", BOB), &Origin::NONE).unwrap();
    s.delete(OTHER, two.id, &Origin::NONE).unwrap();
    s.track(OTHER, BOB, one.id, &Origin::NONE).unwrap();
    s.track(OTHER, BOB, three.id, &Origin::NONE).unwrap();
    // The new supergroup was written to first: its own #1, bookmarked by Bob.
    let fresh = s.add(NEW, new("new one", ANN), &Origin::NONE).unwrap();
    s.track(NEW, BOB, fresh.id, &Origin::NONE).unwrap();

    let moved = s.migrate_chat(OTHER, NEW).unwrap();
    assert!(moved.moved && moved.merged);
    // Old #1 collides with the new #1; old #3 is free in the new chat and keeps its id.
    assert_eq!(moved.renumbered, vec![(BountyId::new(1), BountyId::new(4))]);
    let texts: Vec<(u64, String)> = s
        .list(NEW)
        .unwrap()
        .into_iter()
        .map(|b| (b.id.get(), b.text))
        .collect();
    assert_eq!(
        texts,
        [
            (1, "new one".to_string()),
            (3, "old three".into()),
            (4, "old one".into())
        ]
    );
    assert_eq!(
        s.tracked(NEW, BOB).unwrap(),
        vec![BountyId::new(1), BountyId::new(4), BountyId::new(3)],
        "bookmarks follow their bounties"
    );
    // The old id is dead: it shows nothing of its own (JSON leads it to the new chat).
    let now_new = s.list(NEW).unwrap();
    assert!(s.list(OTHER).unwrap().iter().all(|b| now_new.contains(b)));
    assert!(!s.migrate_chat(OTHER, NEW).unwrap().moved, "idempotent");
    assert_eq!(
        s.add(NEW, new("next", ANN), &Origin::NONE).unwrap().id,
        BountyId::new(5),
        "no id is handed out twice"
    );
}

pub fn after_a_move_nothing_of_the_old_chat_is_lost_or_applied_twice(open: Open) {
    for new_chat_has_bounties in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        const NEW: ChatId = ChatId::new(-1_000_000_000_044);
        s.add(
            OTHER,
            new("before the move", ANN),
            &Origin::update(UpdateId::new(1)),
        )
        .unwrap();
        s.track(
            OTHER,
            BOB,
            BountyId::new(1),
            &Origin::update(UpdateId::new(2)),
        )
        .unwrap();
        if new_chat_has_bounties {
            s.add(NEW, new("new chat's own", ANN), &Origin::NONE)
                .unwrap();
        }
        assert!(s.migrate_chat(OTHER, NEW).unwrap().moved);
        // Delivered again after a crash: recognised, wherever the data went.
        assert!(
            s.processed(OTHER, ANN, UpdateId::new(1)).unwrap(),
            "{new_chat_has_bounties}"
        );
        assert!(
            s.processed(OTHER, BOB, UpdateId::new(2)).unwrap(),
            "{new_chat_has_bounties}"
        );
        // A late message in the old chat, then the other migration notice.
        s.add(OTHER, new("late in the old chat", ANN), &Origin::NONE)
            .unwrap();
        s.migrate_chat(OTHER, NEW).unwrap();
        let texts: Vec<String> = s.list(NEW).unwrap().into_iter().map(|b| b.text).collect();
        let late = texts
            .iter()
            .filter(|t| *t == "late in the old chat")
            .count();
        assert_eq!(late, 1, "{texts:?}");
        assert_eq!(
            texts.iter().filter(|t| *t == "before the move").count(),
            1,
            "{texts:?}"
        );
        let mut ids: Vec<u64> = s.list(NEW).unwrap().iter().map(|b| b.id.get()).collect();
        ids.dedup();
        assert_eq!(ids.len(), texts.len(), "no id twice: {ids:?}");
    }
}

pub fn an_update_changes_the_store_once(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (u1, u2, u3) = (UpdateId::new(901), UpdateId::new(902), UpdateId::new(903));
    assert!(!s.processed(GROUP, ANN, u1).unwrap());
    let b = s.add(GROUP, new("once", ANN), &Origin::update(u1)).unwrap();
    assert!(
        s.processed(GROUP, ANN, u1).unwrap(),
        "recorded with the change"
    );
    let again = s
        .add(GROUP, new("once", ANN), &Origin::update(u1))
        .unwrap_err();
    assert!(
        matches!(again, StoreError::AlreadyProcessed { update } if update == u1),
        "{again}"
    );
    assert_eq!(s.list(GROUP).unwrap().len(), 1, "not added twice");
    // Bookmarks live in their own file on JSON: recorded there, seen there.
    assert!(s.track(GROUP, BOB, b.id, &Origin::update(u2)).unwrap());
    assert!(s.processed(GROUP, BOB, u2).unwrap());
    assert!(
        s.untrack(GROUP, BOB, b.id, &Origin::update(u2)).is_err(),
        "same update again"
    );
    assert_eq!(s.tracked(GROUP, BOB).unwrap(), vec![b.id]);
    assert!(s.delete(GROUP, b.id, &Origin::update(u3)).unwrap());
    assert!(matches!(
        s.delete(GROUP, b.id, &Origin::update(u3)),
        Err(StoreError::AlreadyProcessed { .. })
    ));
    assert!(!s.processed(OTHER, ANN, UpdateId::new(904)).unwrap());
    // Without an update id, nothing is recorded and nothing refused.
    s.add(GROUP, new("plain", ANN), &Origin::NONE).unwrap();
    s.add(GROUP, new("plain", ANN), &Origin::NONE).unwrap();
    assert_eq!(s.list(GROUP).unwrap().len(), 2);
}

pub fn claims_and_status_are_stored_and_a_claim_is_conditional(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for chat in [GROUP, ChatId::new(ANN.get())] {
        let b = s.add(chat, new("work", ANN), &Origin::NONE).unwrap();
        assert_eq!(b.status, Status::Open);
        assert_eq!(b.claimed_by_user_id, None);
        let claim = |who: UserId| BountyPatch {
            claimed_by_user_id: Some(Some(who)),
            if_claimed_by: Some(None),
            ..BountyPatch::default()
        };
        let got = s
            .update(chat, b.id, &claim(BOB), &Origin::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(got.claimed_by_user_id, Some(BOB));
        // A second claim finds the bounty taken: nothing changes, the holder is shown.
        let lost = s
            .update(chat, b.id, &claim(ANN), &Origin::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(lost.claimed_by_user_id, Some(BOB));
        assert_eq!(
            s.get(chat, b.id).unwrap().unwrap().claimed_by_user_id,
            Some(BOB)
        );
        let done = BountyPatch {
            status: Some((Status::Done, Some(1_796_000_000))),
            ..BountyPatch::default()
        };
        let finished = s.update(chat, b.id, &done, &Origin::NONE).unwrap().unwrap();
        assert_eq!(
            (
                finished.status,
                finished.done_at,
                finished.claimed_by_user_id
            ),
            (Status::Done, Some(1_796_000_000), Some(BOB))
        );
        assert_eq!(s.get(chat, b.id).unwrap(), Some(finished.clone()));
        assert_eq!(s.list(chat).unwrap(), vec![finished]);
        // A claim that needs an open bounty finds it done: nothing changes.
        let release = BountyPatch {
            claimed_by_user_id: Some(None),
            ..BountyPatch::default()
        };
        let released = s
            .update(chat, b.id, &release, &Origin::NONE)
            .unwrap()
            .unwrap();
        let late_claim = BountyPatch {
            if_status: Some(Status::Open),
            ..claim(ANN)
        };
        let refused = s
            .update(chat, b.id, &late_claim, &Origin::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(refused, released, "a done bounty is not claimed");
        let reclaimed = s
            .update(chat, b.id, &claim(BOB), &Origin::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(
            reclaimed.claimed_by_user_id,
            Some(BOB),
            "no condition on status"
        );
        let reopen = BountyPatch {
            status: Some((Status::Open, None)),
            claimed_by_user_id: Some(None),
            if_claimed_by: Some(Some(BOB)),
            ..BountyPatch::default()
        };
        let open_again = s
            .update(chat, b.id, &reopen, &Origin::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                open_again.status,
                open_again.done_at,
                open_again.claimed_by_user_id
            ),
            (Status::Open, None, None)
        );
        assert_eq!(s.get(chat, b.id).unwrap(), Some(open_again));
    }
}

pub fn names_are_remembered_per_chat_and_updated(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.names(GROUP).unwrap(), vec![]);
    s.remember_name(GROUP, BOB, "Bob").unwrap();
    s.remember_name(GROUP, ANN, "  Ann  ").unwrap();
    s.remember_name(GROUP, ANN, "   ").unwrap();
    assert_eq!(
        s.names(GROUP).unwrap(),
        vec![(ANN, "Ann".to_string()), (BOB, "Bob".to_string())]
    );
    s.remember_name(GROUP, ANN, "Ann Lee").unwrap();
    assert_eq!(s.names(GROUP).unwrap()[0], (ANN, "Ann Lee".to_string()));
    assert_eq!(s.names(OTHER).unwrap(), vec![], "per chat");
    // A private chat remembers its owner only.
    let private = ChatId::new(ANN.get());
    s.remember_name(private, BOB, "Bob").unwrap();
    s.remember_name(private, ANN, "Ann").unwrap();
    assert_eq!(s.names(private).unwrap(), vec![(ANN, "Ann".to_string())]);
    // Long names are cut.
    s.remember_name(OTHER, BOB, &"n".repeat(1000)).unwrap();
    assert_eq!(s.names(OTHER).unwrap()[0].1.chars().count(), 128);
}

pub fn trackers_of_a_bounty_are_listed(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b = s.add(GROUP, new("t", ANN), &Origin::NONE).unwrap();
    assert_eq!(s.trackers(GROUP, b.id).unwrap(), vec![]);
    s.track(GROUP, BOB, b.id, &Origin::NONE).unwrap();
    s.track(GROUP, ANN, b.id, &Origin::NONE).unwrap();
    assert_eq!(s.trackers(GROUP, b.id).unwrap(), vec![ANN, BOB]);
    let private = ChatId::new(ANN.get());
    let p = s.add(private, new("p", ANN), &Origin::NONE).unwrap();
    s.track(private, ANN, p.id, &Origin::NONE).unwrap();
    assert_eq!(s.trackers(private, p.id).unwrap(), vec![ANN]);
}

pub fn names_claims_and_status_follow_a_chat_move(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for to in [ChatId::new(-500), ChatId::new(-600)] {
        let from = ChatId::new(to.get() + 1);
        let b = s.add(from, new("moving", ANN), &Origin::NONE).unwrap();
        if to == ChatId::new(-600) {
            // The new chat has data already: the two are merged.
            s.add(to, new("there first", BOB), &Origin::NONE).unwrap();
            s.remember_name(to, BOB, "Bob").unwrap();
        }
        s.remember_name(from, ANN, "Ann").unwrap();
        let patch = BountyPatch {
            claimed_by_user_id: Some(Some(ANN)),
            status: Some((Status::Done, Some(5))),
            ..BountyPatch::default()
        };
        s.update(from, b.id, &patch, &Origin::NONE).unwrap();
        s.migrate_chat(from, to).unwrap();
        let moved = s.list(to).unwrap();
        let m = moved.iter().find(|x| x.text == "moving").unwrap();
        assert_eq!(
            (m.status, m.done_at, m.claimed_by_user_id),
            (Status::Done, Some(5), Some(ANN))
        );
        assert!(
            s.names(to).unwrap().contains(&(ANN, "Ann".to_string())),
            "{to}"
        );
    }
}

fn zone(name: &str) -> ZoneName {
    ZoneName::parse(name).unwrap()
}

fn at(hhmm: &str) -> ReminderTime {
    ReminderTime::parse(hhmm).unwrap()
}

const DAY: Date = date(2026, 11, 20);
const T0: i64 = 1_795_000_000;

pub fn settings_default_to_utc_and_off_and_can_be_set_and_cleared(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for chat in [GROUP, ChatId::new(ANN.get())] {
        let none = s.settings(chat).unwrap();
        assert_eq!(none, ChatSettings::default());
        assert_eq!(none.zone().as_str(), "UTC");
        let tz = SettingsPatch {
            time_zone: Some(Some(zone("Europe/Berlin"))),
            ..SettingsPatch::default()
        };
        let after = s.update_settings(chat, &tz, &Origin::NONE).unwrap();
        assert_eq!(after.time_zone, Some(zone("Europe/Berlin")));
        assert_eq!(after.remind_at, None);
        let remind = SettingsPatch {
            remind_at: Some(Some(at("09:30"))),
            ..SettingsPatch::default()
        };
        s.update_settings(chat, &remind, &Origin::NONE).unwrap();
        let both = s.settings(chat).unwrap();
        assert_eq!(
            both,
            ChatSettings {
                time_zone: Some(zone("Europe/Berlin")),
                remind_at: Some(at("09:30")),
            },
            "setting one leaves the other"
        );
        let off = SettingsPatch {
            remind_at: Some(None),
            ..SettingsPatch::default()
        };
        s.update_settings(chat, &off, &Origin::NONE).unwrap();
        assert_eq!(s.settings(chat).unwrap().remind_at, None);
        assert_eq!(
            s.settings(chat).unwrap().time_zone,
            Some(zone("Europe/Berlin"))
        );
        let reset = SettingsPatch {
            time_zone: Some(None),
            ..SettingsPatch::default()
        };
        s.update_settings(chat, &reset, &Origin::NONE).unwrap();
        assert_eq!(s.settings(chat).unwrap(), ChatSettings::default());
    }
    assert_eq!(s.settings(OTHER).unwrap(), ChatSettings::default());
    // A settings change for an update is recorded with it, once.
    let tz = SettingsPatch {
        time_zone: Some(Some(zone("Asia/Tokyo"))),
        ..SettingsPatch::default()
    };
    s.update_settings(GROUP, &tz, &Origin::update(UpdateId::new(5)))
        .unwrap();
    assert!(s.processed(GROUP, ANN, UpdateId::new(5)).unwrap());
    assert!(matches!(
        s.update_settings(GROUP, &tz, &Origin::update(UpdateId::new(5))),
        Err(StoreError::AlreadyProcessed { .. })
    ));
}

pub fn a_digest_is_claimed_once_and_a_second_claim_sees_the_first(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.digests(GROUP).unwrap(), vec![]);
    assert_eq!(s.claim_digest(GROUP, DAY, T0).unwrap(), DigestClaim::Got);
    assert_eq!(
        s.claim_digest(GROUP, DAY, T0 + 60).unwrap(),
        DigestClaim::Pending { since: T0 }
    );
    assert_eq!(
        s.digests(GROUP).unwrap(),
        vec![DigestRecord {
            date: DAY,
            claimed_at: T0,
            message_id: None
        }]
    );
    assert!(s.digest_sent(GROUP, DAY, 555).unwrap());
    assert_eq!(
        s.claim_digest(GROUP, DAY, T0 + 120).unwrap(),
        DigestClaim::Sent { message_id: 555 }
    );
    // The first message id is kept; a send of an unclaimed day records nothing.
    assert!(!s.digest_sent(GROUP, DAY, 556).unwrap());
    assert!(!s.digest_sent(GROUP, DAY.tomorrow().unwrap(), 557).unwrap());
    assert_eq!(
        s.digests(GROUP).unwrap(),
        vec![DigestRecord {
            date: DAY,
            claimed_at: T0,
            message_id: Some(555)
        }]
    );
}

pub fn a_stale_unsent_claim_is_reclaimed_once_and_a_sent_one_never(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.claim_digest(GROUP, DAY, T0).unwrap(), DigestClaim::Got);
    // Younger than the age given: still the first claimer's.
    assert_eq!(
        s.reclaim_digest(GROUP, DAY, T0 + 300, 600).unwrap(),
        DigestClaim::Pending { since: T0 }
    );
    // Older: taken over, once; the second caller sees the new claim.
    assert_eq!(
        s.reclaim_digest(GROUP, DAY, T0 + 601, 600).unwrap(),
        DigestClaim::Got
    );
    assert_eq!(
        s.reclaim_digest(GROUP, DAY, T0 + 601, 600).unwrap(),
        DigestClaim::Pending { since: T0 + 601 }
    );
    assert_eq!(
        s.reclaim_digest(GROUP, DAY, T0 + 601, 0).unwrap(),
        DigestClaim::Pending { since: T0 + 601 },
        "a claim made this very second is never stale"
    );
    assert!(s.digest_sent(GROUP, DAY, 9).unwrap());
    assert_eq!(
        s.reclaim_digest(GROUP, DAY, T0 + 86_000, 600).unwrap(),
        DigestClaim::Sent { message_id: 9 }
    );
    // Without a record, a re-claim claims.
    let next = DAY.tomorrow().unwrap();
    assert_eq!(
        s.reclaim_digest(GROUP, next, T0, 600).unwrap(),
        DigestClaim::Got
    );
    assert_eq!(
        s.claim_digest(GROUP, next, T0).unwrap(),
        DigestClaim::Pending { since: T0 }
    );
}

pub fn digests_are_per_chat_and_per_date(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let next = DAY.tomorrow().unwrap();
    for chat in [GROUP, OTHER, ChatId::new(ANN.get())] {
        assert_eq!(s.claim_digest(chat, DAY, T0).unwrap(), DigestClaim::Got);
        assert_eq!(s.claim_digest(chat, next, T0).unwrap(), DigestClaim::Got);
    }
    s.digest_sent(OTHER, DAY, 1).unwrap();
    assert_eq!(
        s.claim_digest(GROUP, DAY, T0).unwrap(),
        DigestClaim::Pending { since: T0 }
    );
    assert_eq!(
        s.claim_digest(OTHER, DAY, T0).unwrap(),
        DigestClaim::Sent { message_id: 1 }
    );
    assert_eq!(
        s.claim_digest(OTHER, next, T0).unwrap(),
        DigestClaim::Pending { since: T0 }
    );
    assert_eq!(s.digests(ChatId::new(ANN.get())).unwrap().len(), 2);
    // Bounties and settings are untouched by digests.
    assert_eq!(s.list(GROUP).unwrap(), vec![]);
    assert_eq!(s.settings(GROUP).unwrap(), ChatSettings::default());
}

pub fn old_digest_records_are_pruned_when_a_digest_is_claimed(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let days: Vec<Date> = (0..10)
        .map(|i| DAY.checked_add(jiff::Span::new().days(i)).unwrap())
        .collect();
    for (i, d) in days.iter().enumerate() {
        assert_eq!(
            s.claim_digest(GROUP, *d, T0 + i as i64 * 86_400).unwrap(),
            DigestClaim::Got
        );
        s.digest_sent(GROUP, *d, i as i32 + 1).unwrap();
    }
    let kept: Vec<Date> = s.digests(GROUP).unwrap().iter().map(|r| r.date).collect();
    // The last claimed day and the seven before it.
    assert_eq!(kept, days[2..].to_vec());
    // Another chat's records are its own.
    s.claim_digest(OTHER, days[0], T0).unwrap();
    assert_eq!(s.digests(OTHER).unwrap().len(), 1);
}

/// Two store instances over one data dir (as two processes would be), each claiming
/// the same digests from its own thread at once: every (chat, date) is got once.
pub fn two_stores_racing_claim_each_digest_once(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let stores = [open(dir.path()), open(dir.path())];
    let days: Vec<Date> = (0..25)
        .map(|i| DAY.checked_add(jiff::Span::new().days(i)).unwrap())
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let got: Vec<Vec<(ChatId, Date)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .map(|s| {
                let (days, barrier) = (&days, &barrier);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for d in days {
                        for chat in [GROUP, OTHER] {
                            barrier.wait();
                            if s.claim_digest(chat, *d, T0).unwrap() == DigestClaim::Got {
                                mine.push((chat, *d));
                            }
                            barrier.wait();
                            // And the same for re-claims of a stale claim.
                            if s.reclaim_digest(chat, *d, T0 + 3_600, 600).unwrap()
                                == DigestClaim::Got
                            {
                                mine.push((chat, *d));
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<(ChatId, Date)> = got.concat();
    assert_eq!(
        all.len(),
        2 * 2 * days.len(),
        "each claim and re-claim got once"
    );
    all.sort();
    let mut expected: Vec<(ChatId, Date)> = days
        .iter()
        .flat_map(|d| [(GROUP, *d), (GROUP, *d), (OTHER, *d), (OTHER, *d)])
        .collect();
    expected.sort();
    assert_eq!(all, expected);
}

pub fn settings_and_digests_follow_a_chat_move(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let tz = SettingsPatch {
        time_zone: Some(Some(zone("America/New_York"))),
        remind_at: Some(Some(at("08:00"))),
    };
    s.update_settings(OTHER, &tz, &Origin::NONE).unwrap();
    s.claim_digest(OTHER, DAY, T0).unwrap();
    s.migrate_chat(OTHER, GROUP).unwrap();
    assert_eq!(s.settings(GROUP).unwrap().remind_at, Some(at("08:00")));
    assert_eq!(
        s.claim_digest(GROUP, DAY, T0 + 1).unwrap(),
        DigestClaim::Pending { since: T0 },
        "no second digest that day after the move"
    );
}

pub fn reminder_chats_are_the_chats_with_a_reminder_time_once_each(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let remind = |chat: ChatId, hhmm: Option<&str>| {
        let patch = SettingsPatch {
            remind_at: Some(hhmm.map(at)),
            ..SettingsPatch::default()
        };
        s.update_settings(chat, &patch, &Origin::NONE).unwrap();
    };
    let (a, b, c, private) = (
        ChatId::new(-300),
        ChatId::new(-200),
        ChatId::new(-100),
        ChatId::new(ANN.get()),
    );
    s.add(c, new("no settings at all", ANN), &Origin::NONE)
        .unwrap();
    remind(a, Some("09:00"));
    remind(b, Some("18:30"));
    remind(private, Some("07:15"));
    let tz = SettingsPatch {
        time_zone: Some(Some(zone("Asia/Tokyo"))),
        ..SettingsPatch::default()
    };
    s.update_settings(b, &tz, &Origin::NONE).unwrap();
    // A time zone alone does not turn the digest on; off turns it off.
    s.update_settings(c, &tz, &Origin::NONE).unwrap();
    remind(a, None);
    remind(a, Some("10:00"));
    let listed: Vec<(ChatId, ChatSettings)> = s
        .reminder_chats()
        .unwrap()
        .into_iter()
        .map(|(c, r)| (c, r.unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                a,
                ChatSettings {
                    time_zone: None,
                    remind_at: Some(at("10:00")),
                }
            ),
            (
                b,
                ChatSettings {
                    time_zone: Some(zone("Asia/Tokyo")),
                    remind_at: Some(at("18:30")),
                }
            ),
            (
                private,
                ChatSettings {
                    time_zone: None,
                    remind_at: Some(at("07:15")),
                }
            ),
        ]
    );
    // After a move the chat is listed once, under its new id.
    let to = ChatId::new(-1_000_000_000_300);
    s.migrate_chat(a, to).unwrap();
    let ids: Vec<ChatId> = s
        .reminder_chats()
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let mut want = vec![b, to, private];
    want.sort();
    assert_eq!(ids, want);
}

/// A group of this test's own, from its temp dir: failures are armed per chat for the
/// whole test process, and the suite runs on every backend at once.
fn group_of(dir: &Path) -> ChatId {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    ChatId::new(-1_000_000 - i64::try_from(h.finish() % 1_000_000_000).unwrap())
}

pub fn a_failure_that_passes_then_redelivery_applies_and_answers_once(open: Open) {
    use bountybot::command::{Context, Outcome, handle_update};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let chat = group_of(dir.path());
    let update = UpdateId::new(4_242);
    let ctx = Context {
        chat,
        user: ANN,
        now: jiff::Timestamp::now(),
        bot_username: "bountybot",
        update: Some(update),
        admin: false,
        name: Some("Ann"),
    };
    bountybot::crash::arm_failure("add", chat.get());
    match handle_update(s.as_ref(), &ctx, "/add Outlasts a failure") {
        Outcome::Retry(e) => assert!(e.is_transient(), "{e:?}"),
        other => panic!("not to be tried again: {other:?}"),
    }
    assert_eq!(s.list(chat).unwrap(), vec![], "nothing stored");
    assert!(!s.processed(chat, ANN, update).unwrap(), "not recorded");
    let mut answers = Vec::new();
    for _ in 0..2 {
        match handle_update(s.as_ref(), &ctx, "/add Outlasts a failure") {
            Outcome::Done(reply) => answers.extend(reply.into_iter().flat_map(|r| r.messages)),
            Outcome::Retry(e) => panic!("failed again: {e:?}"),
            Outcome::Duplicate => {}
        }
    }
    assert_eq!(answers.len(), 1, "answered once: {answers:?}");
    assert!(
        answers[0].starts_with("Added bounty <b>#1</b>"),
        "{answers:?}"
    );
    let texts: Vec<String> = s.list(chat).unwrap().into_iter().map(|b| b.text).collect();
    assert_eq!(texts, ["Outlasts a failure"], "applied once");
    assert!(s.processed(chat, ANN, update).unwrap());
}

pub fn a_moved_chat_is_found_at_its_supergroup(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let old = ChatId::new(-4_557);
    let new_chat = ChatId::new(-1_000_000_004_557);
    assert_eq!(s.moved_to(old).unwrap(), old, "not moved yet");
    s.add(old, new("before", ANN), &Origin::NONE).unwrap();
    s.migrate_chat(old, new_chat).unwrap();
    assert_eq!(s.moved_to(old).unwrap(), new_chat);
    assert_eq!(s.moved_to(new_chat).unwrap(), new_chat);
    assert_eq!(s.moved_to(OTHER).unwrap(), OTHER);
    // Again (both service messages come): still the supergroup.
    s.migrate_chat(old, new_chat).unwrap();
    assert_eq!(s.moved_to(old).unwrap(), new_chat);
    let texts: Vec<String> = s
        .list(new_chat)
        .unwrap()
        .into_iter()
        .map(|b| b.text)
        .collect();
    assert_eq!(texts, ["before"]);
}

pub fn a_read_only_command_delivered_twice_is_answered_once(open: Open) {
    use bountybot::command::{Context, Outcome, handle_update};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.add(GROUP, new("listed", ANN), &Origin::NONE).unwrap();
    let update = UpdateId::new(5_151);
    let ctx = Context {
        chat: GROUP,
        user: BOB,
        now: jiff::Timestamp::now(),
        bot_username: "bountybot",
        update: Some(update),
        admin: false,
        name: None,
    };
    let mut answers = Vec::new();
    for _ in 0..2 {
        match handle_update(s.as_ref(), &ctx, "/bounty") {
            Outcome::Done(reply) => answers.extend(reply.into_iter().flat_map(|r| r.messages)),
            Outcome::Retry(e) => panic!("{e:?}"),
            Outcome::Duplicate => {}
        }
    }
    assert_eq!(answers.len(), 1, "answered once: {answers:?}");
    assert!(answers[0].contains("listed"), "{answers:?}");
    assert!(s.processed(GROUP, BOB, update).unwrap(), "recorded");
    assert_eq!(s.list(GROUP).unwrap().len(), 1, "nothing else changed");
}

pub fn after_a_move_the_anonymous_admins_bounties_are_the_supergroups(open: Open) {
    use bountybot::command::{Context, Outcome, handle_update};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let old = ChatId::new(-4_558);
    let to = ChatId::new(-1_000_000_004_558);
    // Posted by the group's anonymous administrators: the group acts as itself.
    let b = s
        .add(
            old,
            new("by the admins", old.acting_as_itself()),
            &Origin::NONE,
        )
        .unwrap();
    let claim = BountyPatch {
        claimed_by_user_id: Some(Some(old.acting_as_itself())),
        ..BountyPatch::default()
    };
    s.update(old, b.id, &claim, &Origin::NONE).unwrap();
    s.add(old, new("by Ann", ANN), &Origin::NONE).unwrap();
    s.migrate_chat(old, to).unwrap();
    s.migrate_chat(old, to).unwrap();
    let moved = s.list(to).unwrap();
    assert_eq!(moved[0].created_by_user_id, to.acting_as_itself());
    assert_eq!(moved[0].claimed_by_user_id, Some(to.acting_as_itself()));
    assert_eq!(moved[1].created_by_user_id, ANN, "a person's stay theirs");
    // The supergroup's anonymous administrators edit it.
    let ctx = Context {
        chat: to,
        user: to.acting_as_itself(),
        now: jiff::Timestamp::now(),
        bot_username: "bountybot",
        update: None,
        admin: true,
        name: None,
    };
    let reply = match handle_update(s.as_ref(), &ctx, &format!("/edit {} text=renamed", b.id)) {
        Outcome::Done(Some(r)) => r.messages.join("\n"),
        other => panic!("{other:?}"),
    };
    assert!(reply.starts_with("Updated"), "{reply}");
    assert_eq!(s.get(to, b.id).unwrap().unwrap().text, "renamed");
}

/// Instantiates every conformance test for one backend.
#[macro_export]
macro_rules! backend_suite {
    ($backend:ident, $open:expr) => {
        $crate::backend_suite!($backend, $open, true);
    };
    ($backend:ident, $open:expr, $available:expr) => {
        mod $backend {
            use $crate::conformance as c;
            #[test]
            fn after_a_move_the_anonymous_admins_bounties_are_the_supergroups() {
                if !$available {
                    return;
                }
                c::after_a_move_the_anonymous_admins_bounties_are_the_supergroups($open)
            }
            #[test]
            fn a_read_only_command_delivered_twice_is_answered_once() {
                if !$available {
                    return;
                }
                c::a_read_only_command_delivered_twice_is_answered_once($open)
            }
            #[test]
            fn a_moved_chat_is_found_at_its_supergroup() {
                if !$available {
                    return;
                }
                c::a_moved_chat_is_found_at_its_supergroup($open)
            }
            #[test]
            fn a_failure_that_passes_then_redelivery_applies_and_answers_once() {
                if !$available {
                    return;
                }
                c::a_failure_that_passes_then_redelivery_applies_and_answers_once($open)
            }
            #[test]
            fn settings_default_to_utc_and_off_and_can_be_set_and_cleared() {
                if !$available {
                    return;
                }
                c::settings_default_to_utc_and_off_and_can_be_set_and_cleared($open)
            }
            #[test]
            fn a_digest_is_claimed_once_and_a_second_claim_sees_the_first() {
                if !$available {
                    return;
                }
                c::a_digest_is_claimed_once_and_a_second_claim_sees_the_first($open)
            }
            #[test]
            fn a_stale_unsent_claim_is_reclaimed_once_and_a_sent_one_never() {
                if !$available {
                    return;
                }
                c::a_stale_unsent_claim_is_reclaimed_once_and_a_sent_one_never($open)
            }
            #[test]
            fn digests_are_per_chat_and_per_date() {
                if !$available {
                    return;
                }
                c::digests_are_per_chat_and_per_date($open)
            }
            #[test]
            fn old_digest_records_are_pruned_when_a_digest_is_claimed() {
                if !$available {
                    return;
                }
                c::old_digest_records_are_pruned_when_a_digest_is_claimed($open)
            }
            #[test]
            fn two_stores_racing_claim_each_digest_once() {
                if !$available {
                    return;
                }
                c::two_stores_racing_claim_each_digest_once($open)
            }
            #[test]
            fn settings_and_digests_follow_a_chat_move() {
                if !$available {
                    return;
                }
                c::settings_and_digests_follow_a_chat_move($open)
            }
            #[test]
            fn reminder_chats_are_the_chats_with_a_reminder_time_once_each() {
                if !$available {
                    return;
                }
                c::reminder_chats_are_the_chats_with_a_reminder_time_once_each($open)
            }
            #[test]
            fn ids_are_sequential_per_chat() {
                if !$available {
                    return;
                }
                c::ids_are_sequential_per_chat($open)
            }
            #[test]
            fn stored_bounties_read_back_exactly() {
                if !$available {
                    return;
                }
                c::stored_bounties_read_back_exactly($open)
            }
            #[test]
            fn update_changes_only_the_given_fields() {
                if !$available {
                    return;
                }
                c::update_changes_only_the_given_fields($open)
            }
            #[test]
            fn concurrent_edits_of_different_fields_both_survive() {
                if !$available {
                    return;
                }
                c::concurrent_edits_of_different_fields_both_survive($open)
            }
            #[test]
            fn deleted_ids_are_never_reused() {
                if !$available {
                    return;
                }
                c::deleted_ids_are_never_reused($open)
            }
            #[test]
            fn tracking_is_per_user_per_chat() {
                if !$available {
                    return;
                }
                c::tracking_is_per_user_per_chat($open)
            }
            #[test]
            fn chats_are_isolated() {
                if !$available {
                    return;
                }
                c::chats_are_isolated($open)
            }
            #[test]
            fn ensure_user_creates_and_never_deletes() {
                if !$available {
                    return;
                }
                c::ensure_user_creates_and_never_deletes($open)
            }
            #[test]
            fn migrating_a_chat_moves_everything_once() {
                if !$available {
                    return;
                }
                c::migrating_a_chat_moves_everything_once($open)
            }
            #[test]
            fn migrating_into_a_chat_with_bounties_joins_them() {
                if !$available {
                    return;
                }
                c::migrating_into_a_chat_with_bounties_joins_them($open)
            }
            #[test]
            fn after_a_move_nothing_of_the_old_chat_is_lost_or_applied_twice() {
                if !$available {
                    return;
                }
                c::after_a_move_nothing_of_the_old_chat_is_lost_or_applied_twice($open)
            }
            #[test]
            fn an_update_changes_the_store_once() {
                if !$available {
                    return;
                }
                c::an_update_changes_the_store_once($open)
            }
            #[test]
            fn claims_and_status_are_stored_and_a_claim_is_conditional() {
                if !$available {
                    return;
                }
                c::claims_and_status_are_stored_and_a_claim_is_conditional($open)
            }
            #[test]
            fn names_are_remembered_per_chat_and_updated() {
                if !$available {
                    return;
                }
                c::names_are_remembered_per_chat_and_updated($open)
            }
            #[test]
            fn trackers_of_a_bounty_are_listed() {
                if !$available {
                    return;
                }
                c::trackers_of_a_bounty_are_listed($open)
            }
            #[test]
            fn names_claims_and_status_follow_a_chat_move() {
                if !$available {
                    return;
                }
                c::names_claims_and_status_follow_a_chat_move($open)
            }
            #[test]
            fn concurrent_adds_from_threads_lose_nothing() {
                if !$available {
                    return;
                }
                c::concurrent_adds_from_threads_lose_nothing($open)
            }
        }
    };
}

fn open_json(dir: &Path) -> Arc<dyn BountyStore> {
    Arc::new(bountybot::store::json::JsonStore::new(dir.join("data")))
}

backend_suite!(json, super::open_json);

fn open_sqlite(dir: &Path) -> Arc<dyn BountyStore> {
    let path = bountybot::store::sqlite::SqliteStore::path_in(&dir.join("data"));
    Arc::new(bountybot::store::sqlite::SqliteStore::open(&path).unwrap())
}

backend_suite!(sqlite, super::open_sqlite);

/// A store on the database of `dir`: each temp dir gets a fresh database on the shared
/// throwaway server, and opening the same dir again opens the same database (as a
/// second process would).
fn open_postgres(dir: &Path) -> Arc<dyn BountyStore> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Mutex;
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let url = {
        let mut dbs = DATABASES.lock().unwrap();
        let dbs = dbs.get_or_insert_with(HashMap::new);
        dbs.entry(dir.to_path_buf())
            .or_insert_with(|| crate::support::postgres::fresh_database().unwrap())
            .clone()
    };
    let url = bountybot::store::postgres::DatabaseUrl::new(url);
    Arc::new(bountybot::store::postgres::PostgresStore::open(&url).unwrap())
}

fn postgres_available() -> bool {
    crate::support::postgres::server().is_some()
}

backend_suite!(postgres, super::open_postgres, super::postgres_available());
