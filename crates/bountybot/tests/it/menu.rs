//! Telegram's command menu, set by `bountybot run` through the fake Bot API: one menu
//! per scope, set only when Telegram's differs.

use bountybot::command::parse::MenuScope;
use serde_json::{Value, json};

use crate::support::Data;
use crate::support::fake_bot_api::{FakeBotApi, message};
use crate::telegram::start;

/// The menu the bot should set for `scope`, as the Bot API's JSON.
fn wanted(scope: MenuScope) -> Value {
    scope
        .commands()
        .map(|c| json!({"command": c.name, "description": c.about}))
        .collect()
}

const SCOPES: [(&str, MenuScope); 3] = [
    ("all_private_chats", MenuScope::PrivateChats),
    ("all_group_chats", MenuScope::GroupChats),
    ("all_chat_administrators", MenuScope::GroupAdmins),
];

/// Starts the bot and waits until it polls, which it does only once the menus are
/// done; then stops it. `getupdates` calls seen before: `polls`.
async fn start_until_it_polls(d: &Data, api: &FakeBotApi, polls: usize) {
    let bot = start(d, api, &[]);
    api.wait_for_call("getupdates", polls + 1).await;
    assert!(bot.stop().await);
}

fn polls(api: &FakeBotApi) -> usize {
    api.calls().iter().filter(|c| *c == "getupdates").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_is_set_once_per_scope_and_not_again_on_a_restart() {
    let api = FakeBotApi::start().await;
    let d = Data::new();
    start_until_it_polls(&d, &api, 0).await;
    let mut sets = api.menu_sets();
    sets.sort();
    assert_eq!(
        sets,
        [
            "all_chat_administrators",
            "all_group_chats",
            "all_private_chats"
        ]
    );
    for (name, scope) in SCOPES {
        assert_eq!(api.menu(name), Some(wanted(scope)), "{name}");
    }
    let group = api.menu("all_group_chats").unwrap().to_string();
    assert!(!group.contains("\"timezone\"") && group.contains("\"claim\""));
    let admins = api.menu("all_chat_administrators").unwrap().to_string();
    assert!(admins.contains("\"timezone\"") && admins.contains("\"remind\""));
    assert_eq!(api.menu("default"), None, "the default scope is left alone");

    start_until_it_polls(&d, &api, polls(&api)).await;
    let gets = api.calls().iter().filter(|c| *c == "getmycommands").count();
    assert_eq!(gets, 6, "each start reads every scope");
    assert_eq!(api.menu_sets().len(), 3, "a restart sets nothing again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_whose_menu_differs_is_set_again_alone() {
    let api = FakeBotApi::start().await;
    for (name, scope) in SCOPES {
        api.set_menu(name, wanted(scope));
    }
    // As left by an older version: a command fewer, one description different.
    let mut old = wanted(MenuScope::GroupChats);
    old.as_array_mut().unwrap().pop();
    old[0]["description"] = json!("list bounties");
    api.set_menu("all_group_chats", old);
    let d = Data::new();
    start_until_it_polls(&d, &api, 0).await;
    assert_eq!(api.menu_sets(), ["all_group_chats"]);
    assert_eq!(
        api.menu("all_group_chats"),
        Some(wanted(MenuScope::GroupChats))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_menu_does_not_stop_the_bot() {
    let api = FakeBotApi::start().await;
    api.refuse_menus();
    let d = Data::new();
    let bot = start(&d, &api, &[]);
    api.push(message(1, 501, 501, "/add Still here"));
    let sent = api.wait_for_sent(1).await;
    assert!(sent[0].text.contains("Still here"), "{sent:?}");
    let calls = api.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "setmycommands").count(),
        3,
        "each scope was tried: {calls:?}"
    );
    assert!(api.menu_sets().is_empty());
    assert!(bot.stop().await);
}
