//! Who a message acts as, through the real binary and the fake Bot API: channels and
//! anonymous administrators each have their own identity; automatic forwards and other
//! bots are ignored.

use serde_json::json;

use crate::support::Data;
use crate::support::fake_bot_api::{FakeBotApi, as_channel, message, message_with};
use crate::telegram::{start, texts};

const GROUP: i64 = -1_001_500_600_700;
const ANN: i64 = 501;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_channel_cannot_edit_or_delete_what_another_channel_created() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message_with(
        1,
        GROUP,
        0,
        "/add Channel A's task",
        as_channel(-1001),
    ));
    api.push(message_with(
        2,
        GROUP,
        0,
        "/edit 1 text=hijacked",
        as_channel(-1002),
    ));
    api.push(message_with(3, GROUP, 0, "/delete 1", as_channel(-1002)));
    api.push(message(4, GROUP, ANN, "/delete 1"));
    api.push(message_with(
        5,
        GROUP,
        0,
        "/edit 1 text=renamed by A",
        as_channel(-1001),
    ));
    let sent = api.wait_for_sent(5).await;
    let group = texts(&sent, GROUP);
    assert!(group[0].contains("#1"), "{group:?}");
    assert!(group[1].contains("Only the creator of #1"), "{group:?}");
    assert!(group[2].contains("Only the creator of #1"), "{group:?}");
    assert!(group[3].contains("Only the creator of #1"), "{group:?}");
    assert!(!group[4].contains("Only the creator"), "{group:?}");
    let stored =
        std::fs::read_to_string(d.dir().join(GROUP.to_string()).join("group.json")).unwrap();
    assert!(stored.contains("renamed by A"), "{stored}");
    assert!(stored.contains("-1001"), "created by channel A: {stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_admins_act_as_the_group_not_as_a_shared_bot_user() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    let anonymous = json!({
        "from": {"id": 1_087_968_824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
        "sender_chat": {"id": GROUP, "type": "supergroup", "title": "G"}
    });
    api.push(message_with(
        1,
        GROUP,
        0,
        "/add Admin task",
        anonymous.clone(),
    ));
    // A channel is not the anonymous admins.
    api.push(message_with(2, GROUP, 0, "/delete 1", as_channel(-1001)));
    api.push(message_with(3, GROUP, 0, "/delete 1", anonymous));
    let sent = api.wait_for_sent(3).await;
    let group = texts(&sent, GROUP);
    assert!(group[0].contains("#1"), "{group:?}");
    assert!(group[1].contains("Only the creator of #1"), "{group:?}");
    assert!(!group[2].contains("Only the creator"), "{group:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_forwards_and_other_bots_run_no_command() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    let mut forward = as_channel(-1001);
    forward["is_automatic_forward"] = json!(true);
    api.push(message_with(
        1,
        GROUP,
        0,
        "/add from the linked channel",
        forward,
    ));
    let bot = json!({"from": {"id": 777, "is_bot": true, "first_name": "OtherBot"}});
    api.push(message_with(2, GROUP, 0, "/add from a bot", bot));
    api.push(message(3, GROUP, ANN, "/bounty"));
    let sent = api.wait_for_sent(1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].text.contains("No bounties"), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_with_a_hidden_link_keeps_its_url() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    let text = "/add Read the spec";
    let at = text.find("spec").unwrap();
    let entities = json!({"entities": [
        {"type": "bot_command", "offset": 0, "length": 4},
        {"type": "text_link", "offset": at, "length": 4, "url": "https://x.org/spec"}
    ]});
    api.push(message_with(1, GROUP, ANN, text, entities));
    api.wait_for_sent(1).await;
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.dir().join(GROUP.to_string()).join("group.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored["bounties"][0]["link"], "https://x.org/spec",
        "{stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_administrator_may_delete_any_bounty() {
    const BOB: i64 = 502;
    const CAROL: i64 = 503;
    let api = FakeBotApi::start().await;
    api.set_admins(GROUP, &[BOB]);
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, GROUP, ANN, "/add Ann's first"));
    api.push(message(2, GROUP, ANN, "/add Ann's second"));
    api.push(message(3, GROUP, CAROL, "/delete 1"));
    api.push(message(4, GROUP, BOB, "/delete 1"));
    api.push(message(5, GROUP, BOB, "/delete 2"));
    api.push(message(6, GROUP, BOB, "/edit 2 text=not even an admin"));
    api.push(message(7, GROUP, ANN, "/help"));
    let sent = api.wait_for_sent(7).await;
    let group = texts(&sent, GROUP);
    assert!(group[2].contains("Only the creator of #1"), "{group:?}");
    assert_eq!(group[3], "Deleted bounty #1.", "{group:?}");
    assert_eq!(group[4], "Deleted bounty #2.", "{group:?}");
    assert!(group[5].contains("no bounty #2"), "{group:?}");
    assert!(
        group[6].contains("group administrator"),
        "/help says so: {}",
        group[6]
    );
    let asked = api
        .calls()
        .iter()
        .filter(|c| *c == "getchatadministrators")
        .count();
    assert_eq!(asked, 1, "asked once, then cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_is_seen_at_once() {
    use crate::support::fake_bot_api::chat_member;
    const BOB: i64 = 502;
    const CAROL: i64 = 503;
    let api = FakeBotApi::start().await;
    api.set_admins(GROUP, &[BOB]);
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    for (i, text) in ["/add first", "/add second", "/add third"]
        .iter()
        .enumerate()
    {
        api.push(message(i as i64 + 1, GROUP, ANN, text));
    }
    api.push(message(4, GROUP, BOB, "/delete 1"));
    let sent = api.wait_for_sent(4).await;
    assert_eq!(texts(&sent, GROUP)[3], "Deleted bounty #1.", "{sent:?}");
    // Someone joining changes no role: the list stays cached.
    api.push(chat_member(5, GROUP, CAROL, "left", "member"));
    // Bob is demoted, and tries again at once.
    api.set_admins(GROUP, &[]);
    api.push(chat_member(6, GROUP, BOB, "administrator", "member"));
    api.push(message(7, GROUP, BOB, "/delete 2"));
    let sent = api.wait_for_sent(5).await;
    let group = texts(&sent, GROUP);
    assert!(group[4].contains("Only the creator of #2"), "{group:?}");
    // Promoted again: seen at once too.
    api.set_admins(GROUP, &[BOB]);
    api.push(chat_member(8, GROUP, BOB, "member", "administrator"));
    api.push(message(9, GROUP, BOB, "/delete 3"));
    let sent = api.wait_for_sent(6).await;
    assert_eq!(texts(&sent, GROUP)[5], "Deleted bounty #3.", "{sent:?}");
    let asked = api
        .calls()
        .iter()
        .filter(|c| *c == "getchatadministrators")
        .count();
    assert_eq!(
        asked, 3,
        "asked again after each role change, not after the join"
    );
    let allowed = api
        .allowed_updates()
        .expect("the bot names the updates it wants");
    for kind in ["message", "chat_member", "my_chat_member"] {
        assert!(
            allowed.as_array().unwrap().iter().any(|k| k == kind),
            "{kind}: {allowed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supergroup_written_to_before_the_migration_notice_gets_the_old_bounties_too() {
    use crate::support::fake_bot_api::migrated_from;
    const OLD: i64 = -4_700_100;
    const NEW: i64 = -1_004_700_100;
    let api = FakeBotApi::start().await;
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    api.push(message(1, OLD, ANN, "/add From the old group"));
    api.wait_for_sent(1).await;
    // The first message in the supergroup arrives before the migration notice.
    api.push(message(2, NEW, ANN, "/add First in the supergroup"));
    api.wait_for_sent(2).await;
    api.push(migrated_from(3, NEW, OLD));
    let sent = api.wait_for_sent(3).await;
    let notice = &texts(&sent, NEW)[1];
    assert!(notice.contains("became a supergroup"), "{notice}");
    assert!(notice.contains("#1 is now #2"), "{notice}");
    api.push(message(4, NEW, ANN, "/bounty"));
    let sent = api.wait_for_sent(4).await;
    let list = texts(&sent, NEW).pop().unwrap();
    assert!(
        list.contains("From the old group") && list.contains("First in the supergroup"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_and_settings_commands_ask_telegram_for_administrators_and_show_names() {
    const BOB: i64 = 502;
    const CAROL: i64 = 503;
    const DAVE: i64 = 504;
    let api = FakeBotApi::start().await;
    api.set_admins(GROUP, &[BOB]);
    let d = Data::new();
    let _bot = start(&d, &api, &[]);
    let script = [
        (ANN, "/add Ann's task"),
        (CAROL, "/claim 1"),
        (ANN, "/bounty #1"),
        (DAVE, "/unclaim 1"),
        (BOB, "/unclaim 1"),
        (DAVE, "/done 1"),
        (BOB, "/done 1"),
        (DAVE, "/remind 09:00"),
        (BOB, "/remind 09:00"),
        (BOB, "/timezone europe/berlin"),
        (DAVE, "/settings"),
    ];
    for (i, (user, text)) in script.iter().enumerate() {
        api.push(message(i as i64 + 1, GROUP, *user, text));
    }
    let sent = api.wait_for_sent(script.len()).await;
    let group = texts(&sent, GROUP);
    assert!(group[1].starts_with("You claimed #1"), "{group:?}");
    // Names come from the messages the bot saw (the fake calls each user `User<id>`).
    assert!(
        group[2].contains("Created by User501") && group[2].contains("Claimed by User503"),
        "{}",
        group[2]
    );
    assert!(
        group[3].contains("Only User503, who claims #1 (or a group administrator)"),
        "{}",
        group[3]
    );
    assert!(
        !group[4].contains("Only"),
        "the administrator unclaims: {}",
        group[4]
    );
    assert!(group[5].contains("Only the creator of #1, its claimer or a group administrator"));
    assert!(
        group[6].starts_with("Done: bounty <b>#1</b>"),
        "{}",
        group[6]
    );
    assert!(
        group[7].starts_with("Only a group administrator can change"),
        "{}",
        group[7]
    );
    assert!(
        group[8].starts_with("Daily digest at <b>09:00</b>"),
        "{}",
        group[8]
    );
    assert!(
        group[9].starts_with("Time zone set to <b>Europe/Berlin</b>"),
        "{}",
        group[9]
    );
    assert!(
        group[10].contains("Europe/Berlin") && group[10].contains("09:00"),
        "{}",
        group[10]
    );
    let asked = api
        .calls()
        .iter()
        .filter(|c| *c == "getchatadministrators")
        .count();
    assert_eq!(asked, 1, "asked once, then cached");
}
