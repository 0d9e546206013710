//! A small fake Telegram Bot API for end-to-end tests, on a loopback port.
//!
//! Serves `getMe`, `getUpdates` (offset semantics: updates below the offset are
//! confirmed and dropped), `setMyCommands` and `getMyCommands` (a menu per scope),
//! `sendMessage` (with inline buttons), `editMessageText` (answering "message is not
//! modified" when nothing changes, and "message can't be edited" for messages made
//! too old on demand), `answerCallbackQuery`, `deleteWebhook` and
//! `setWebhook`, `getWebhookInfo` (the URL last set, and a pending count and last
//! error on demand) (method names in any letter case, as the real API accepts),
//! records what the bot sent, fails the next sends with 429 or 403 on demand, and
//! refuses the token (401 on every method) on demand. Every call wakes the waiters
//! of [`FakeBotApi::wait_for_call`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const BOT_USERNAME: &str = "TestBountyBot";

/// A message the bot sent; its `message_id` is its place in [`FakeBotApi::sent`],
/// from 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
    /// `message_thread_id`: the forum topic.
    pub thread: Option<i64>,
    /// `reply_parameters.message_id`: the message answered.
    pub reply_to: Option<i64>,
    /// `link_preview_options.is_disabled`.
    pub preview_off: bool,
    /// The inline buttons: each row's `(text, callback_data)`.
    pub buttons: Vec<Vec<(String, String)>>,
}

/// An `editMessageText` that changed a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    /// The buttons the message has now.
    pub buttons: Vec<Vec<(String, String)>>,
}

/// An `answerCallbackQuery`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub query_id: String,
    pub text: Option<String>,
    pub alert: bool,
}

/// A scripted failure for the next `sendMessage`.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// 429 with `retry_after` seconds.
    RetryAfter(u32),
    /// 403: the bot was removed from the chat.
    Forbidden,
    /// 500, with the JSON body Telegram sends.
    ServerError,
}

struct Inner {
    /// Updates not yet confirmed by an offset.
    queue: Mutex<Vec<Value>>,
    /// Every update ever delivered, for re-delivery.
    delivered: Mutex<Vec<Value>>,
    sent: Mutex<Vec<Sent>>,
    /// Each chat's messages by id, as they read now (sent, then edited).
    messages: Mutex<std::collections::HashMap<(i64, i64), (String, Value)>>,
    /// Messages `editMessageText` refuses as too old.
    too_old: Mutex<std::collections::HashSet<(i64, i64)>>,
    edits: Mutex<Vec<Edit>>,
    /// Every `editMessageText` call, changed or not.
    edit_calls: std::sync::atomic::AtomicUsize,
    answers: Mutex<Vec<Answer>>,
    send_attempts: Mutex<u32>,
    failures: Mutex<VecDeque<Failure>>,
    send_delay: Mutex<Duration>,
    /// While set, `sendMessage` answers only once it is cleared.
    held: tokio::sync::watch::Sender<bool>,
    calls: Mutex<Vec<String>>,
    /// Administrators per chat, for `getChatAdministrators`.
    admins: Mutex<std::collections::HashMap<i64, Vec<i64>>>,
    /// The `allowed_updates` of the last `getUpdates` or `setWebhook` that gave them.
    allowed_updates: Mutex<Option<Value>>,
    changed: Notify,
    /// While set, every method answers 401 Unauthorized (a revoked token).
    token_refused: std::sync::atomic::AtomicBool,
    /// What `getWebhookInfo` answers: `url` follows `setWebhook`/`deleteWebhook`.
    webhook: Mutex<Value>,
    /// The command menu per scope type (`default` when none is given).
    menus: Mutex<std::collections::HashMap<String, Value>>,
    /// The scope of every `setMyCommands` that was answered, in order.
    menu_sets: Mutex<Vec<String>>,
    /// While set, `setMyCommands` and `getMyCommands` answer 400.
    menu_refused: std::sync::atomic::AtomicBool,
}

/// The running fake; its server stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeBotApi {
    pub url: String,
    inner: Arc<Inner>,
}

impl FakeBotApi {
    pub async fn start() -> FakeBotApi {
        let inner = Arc::new(Inner {
            queue: Mutex::default(),
            delivered: Mutex::default(),
            sent: Mutex::default(),
            messages: Mutex::default(),
            too_old: Mutex::default(),
            edits: Mutex::default(),
            edit_calls: std::sync::atomic::AtomicUsize::new(0),
            answers: Mutex::default(),
            send_attempts: Mutex::default(),
            failures: Mutex::default(),
            send_delay: Mutex::default(),
            held: tokio::sync::watch::Sender::new(false),
            calls: Mutex::default(),
            admins: Mutex::default(),
            allowed_updates: Mutex::default(),
            changed: Notify::new(),
            token_refused: std::sync::atomic::AtomicBool::new(false),
            webhook: Mutex::new(no_webhook()),
            menus: Mutex::default(),
            menu_sets: Mutex::default(),
            menu_refused: std::sync::atomic::AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route("/{bot}/{method}", post(dispatch))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeBotApi { url, inner }
    }

    /// Queues an update for `getUpdates`.
    pub fn push(&self, update: Value) {
        self.inner.queue.lock().unwrap().push(update);
        self.inner.changed.notify_waiters();
    }

    /// Puts every update delivered so far back in the queue (as after a crash that
    /// lost the confirmation).
    pub fn redeliver_all(&self) {
        let delivered = self.inner.delivered.lock().unwrap().clone();
        let mut queue = self.inner.queue.lock().unwrap();
        for u in delivered {
            if !queue.iter().any(|q| q["update_id"] == u["update_id"]) {
                queue.push(u);
            }
        }
        queue.sort_by_key(|u| u["update_id"].as_i64());
        self.inner.changed.notify_waiters();
    }

    /// Answers 401 Unauthorized to every method from now on, as for a revoked token.
    pub fn refuse_token(&self) {
        self.inner
            .token_refused
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes `getWebhookInfo` report `url` set, `pending` updates waiting and, if
    /// given, a last delivery error (its Unix time and message).
    pub fn set_webhook_info(&self, url: &str, pending: u32, last_error: Option<(i64, &str)>) {
        let mut info = json!({"url": url, "has_custom_certificate": false,
            "pending_update_count": pending, "max_connections": 1});
        if let Some((date, message)) = last_error {
            info["last_error_date"] = json!(date);
            info["last_error_message"] = json!(message);
        }
        *self.inner.webhook.lock().unwrap() = info;
    }

    /// The command menu of `scope` (`all_group_chats`...), if one was set.
    pub fn menu(&self, scope: &str) -> Option<Value> {
        self.inner.menus.lock().unwrap().get(scope).cloned()
    }

    /// Sets the menu of `scope` as if someone had set it before.
    pub fn set_menu(&self, scope: &str, commands: Value) {
        self.inner
            .menus
            .lock()
            .unwrap()
            .insert(scope.to_string(), commands);
    }

    /// The scope of every `setMyCommands` answered so far, in order.
    pub fn menu_sets(&self) -> Vec<String> {
        self.inner.menu_sets.lock().unwrap().clone()
    }

    /// Answers 400 to `setMyCommands` and `getMyCommands` from now on.
    pub fn refuse_menus(&self) {
        self.inner
            .menu_refused
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits (up to 30 s) until `method` (lowercase) was called `n` times in total.
    pub async fn wait_for_call(&self, method: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.inner.changed.notified();
            if self.calls().iter().filter(|c| *c == method).count() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {n} calls of {method}; calls: {:?}",
                    self.calls()
                );
            }
        }
    }

    pub fn fail_next_send(&self, f: Failure) {
        self.inner.failures.lock().unwrap().push_back(f);
    }

    /// The administrators `getChatAdministrators` reports for `chat`.
    pub fn set_admins(&self, chat: i64, users: &[i64]) {
        self.inner
            .admins
            .lock()
            .unwrap()
            .insert(chat, users.to_vec());
    }

    /// Makes every `sendMessage` and `editMessageText` wait until
    /// [`FakeBotApi::release_sends`] (an edit is counted before it waits).
    pub fn hold_sends(&self) {
        self.inner.held.send_replace(true);
    }

    pub fn release_sends(&self) {
        self.inner.held.send_replace(false);
    }

    pub fn set_send_delay(&self, d: Duration) {
        *self.inner.send_delay.lock().unwrap() = d;
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.inner.sent.lock().unwrap().clone()
    }

    /// Queues `updates` at once, so that one `getUpdates` delivers them together (a
    /// duplicate among them is delivered twice in one batch).
    pub fn push_batch(&self, updates: &[Value]) {
        self.inner.queue.lock().unwrap().extend_from_slice(updates);
        self.inner.changed.notify_waiters();
    }

    /// Every edit that changed a message, in order.
    pub fn edits(&self) -> Vec<Edit> {
        self.inner.edits.lock().unwrap().clone()
    }

    /// How many times `editMessageText` was called (a change or not).
    pub fn edit_calls(&self) -> usize {
        self.inner
            .edit_calls
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every `answerCallbackQuery`, in order.
    pub fn answers(&self) -> Vec<Answer> {
        self.inner.answers.lock().unwrap().clone()
    }

    /// Makes `editMessageText` refuse message `message_id` of `chat` as too old.
    pub fn make_too_old(&self, chat: i64, message_id: i64) {
        self.inner
            .too_old
            .lock()
            .unwrap()
            .insert((chat, message_id));
    }

    /// Waits (up to 30 s) until `pred` holds for the edits and answers so far.
    pub async fn wait_for_taps(&self, what: &str, pred: impl Fn(&[Edit], &[Answer]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.inner.changed.notified();
            if pred(&self.edits(), &self.answers()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {what}; edits {:#?}, answers {:#?}, calls {:?}",
                    self.edits(),
                    self.answers(),
                    self.calls()
                );
            }
        }
    }

    pub fn send_attempts(&self) -> u32 {
        *self.inner.send_attempts.lock().unwrap()
    }

    /// The update kinds the bot last asked for (`allowed_updates`).
    pub fn allowed_updates(&self) -> Option<Value> {
        self.inner.allowed_updates.lock().unwrap().clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `pred` holds for what was sent.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&[Sent], u32) -> bool) -> Vec<Sent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.inner.changed.notified();
            {
                let sent = self.sent();
                if pred(&sent, self.send_attempts()) {
                    return sent;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {what}; sent so far: {:#?}",
                    self.sent()
                );
            }
        }
    }

    /// Waits until `n` messages were sent in total.
    pub async fn wait_for_sent(&self, n: usize) -> Vec<Sent> {
        self.wait_until(&format!("{n} sent messages"), |s, _| s.len() >= n)
            .await
    }
}

fn ok(result: Value) -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({"ok": true, "result": result})))
}

/// `getWebhookInfo`'s answer with no webhook set.
fn no_webhook() -> Value {
    json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0})
}

fn chat_json(id: i64) -> Value {
    if id > 0 {
        json!({"id": id, "type": "private", "first_name": "User"})
    } else if id <= -1_000_000_000_000 {
        json!({"id": id, "type": "supergroup", "title": "Super group"})
    } else {
        json!({"id": id, "type": "group", "title": "Group"})
    }
}

async fn dispatch(
    State(inner): State<Arc<Inner>>,
    Path((_bot, method)): Path<(String, String)>,
    body: String,
) -> (StatusCode, Json<Value>) {
    let method = method.to_ascii_lowercase();
    inner.calls.lock().unwrap().push(method.clone());
    inner.changed.notify_waiters();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if !body["allowed_updates"].is_null() {
        *inner.allowed_updates.lock().unwrap() = Some(body["allowed_updates"].clone());
    }
    if inner
        .token_refused
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        );
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": 4242, "is_bot": true, "first_name": "Bounty", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false
        })),
        "setmycommands" | "getmycommands"
            if inner.menu_refused.load(std::sync::atomic::Ordering::SeqCst) =>
        {
            (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: menus refused by the test"}),
                ),
            )
        }
        "setmycommands" => {
            let scope = body["scope"]["type"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            inner
                .menus
                .lock()
                .unwrap()
                .insert(scope.clone(), body["commands"].clone());
            inner.menu_sets.lock().unwrap().push(scope);
            ok(json!(true))
        }
        "getmycommands" => {
            let scope = body["scope"]["type"].as_str().unwrap_or("default");
            let menu = inner.menus.lock().unwrap().get(scope).cloned();
            ok(menu.unwrap_or_else(|| json!([])))
        }
        "setwebhook" => {
            let url = body["url"].as_str().unwrap_or("").to_string();
            inner.webhook.lock().unwrap()["url"] = json!(url);
            ok(json!(true))
        }
        "deletewebhook" => {
            *inner.webhook.lock().unwrap() = no_webhook();
            ok(json!(true))
        }
        "getchatadministrators" => {
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            let admins = inner
                .admins
                .lock()
                .unwrap()
                .get(&chat)
                .cloned()
                .unwrap_or_default();
            let members: Vec<Value> = admins
                .iter()
                .map(|id| {
                    json!({"user": {"id": id, "is_bot": false, "first_name": format!("Admin{id}")},
                        "status": "creator", "is_anonymous": false})
                })
                .collect();
            ok(Value::Array(members))
        }
        "getwebhookinfo" => ok(inner.webhook.lock().unwrap().clone()),
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0))
                .min(Duration::from_millis(500));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let notified = inner.changed.notified();
                {
                    let mut queue = inner.queue.lock().unwrap();
                    queue.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !queue.is_empty() {
                        let batch = queue.clone();
                        let mut delivered = inner.delivered.lock().unwrap();
                        for u in &batch {
                            if !delivered.iter().any(|d| d["update_id"] == u["update_id"]) {
                                delivered.push(u.clone());
                            }
                        }
                        return ok(Value::Array(batch));
                    }
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return ok(json!([]));
                }
            }
        }
        "sendmessage" => {
            let mut held = inner.held.subscribe();
            let _ = held.wait_for(|h| !*h).await;
            *inner.send_attempts.lock().unwrap() += 1;
            let failure = inner.failures.lock().unwrap().pop_front();
            inner.changed.notify_waiters();
            match failure {
                Some(Failure::RetryAfter(n)) => {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        Json(
                            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {n}"), "parameters": {"retry_after": n}}),
                        ),
                    );
                }
                Some(Failure::ServerError) => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(
                            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
                        ),
                    );
                }
                Some(Failure::Forbidden) => {
                    return (
                        StatusCode::FORBIDDEN,
                        Json(
                            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was kicked from the group chat"}),
                        ),
                    );
                }
                None => {}
            }
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let text = body["text"].as_str().unwrap_or("").to_string();
            let n = {
                let mut sent = inner.sent.lock().unwrap();
                sent.push(Sent {
                    chat_id,
                    text: text.clone(),
                    thread: body["message_thread_id"].as_i64(),
                    reply_to: body["reply_parameters"]["message_id"].as_i64(),
                    preview_off: body["link_preview_options"]["is_disabled"] == true,
                    buttons: buttons(&body["reply_markup"]),
                });
                sent.len()
            };
            inner.messages.lock().unwrap().insert(
                (chat_id, n as i64),
                (text.clone(), body["reply_markup"].clone()),
            );
            inner.changed.notify_waiters();
            let delay = *inner.send_delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            ok(
                json!({"message_id": n, "date": 1_795_000_000, "chat": chat_json(chat_id), "text": text}),
            )
        }
        "editmessagetext" => {
            inner
                .edit_calls
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            inner.changed.notify_waiters();
            let mut held = inner.held.subscribe();
            let _ = held.wait_for(|h| !*h).await;
            let chat_id = body["chat_id"].as_i64().unwrap_or(0);
            let message_id = body["message_id"].as_i64().unwrap_or(0);
            let text = body["text"].as_str().unwrap_or("").to_string();
            let markup = body["reply_markup"].clone();
            let bad = |description: &str| {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"ok": false, "error_code": 400, "description": description})),
                )
            };
            if inner
                .too_old
                .lock()
                .unwrap()
                .contains(&(chat_id, message_id))
            {
                inner.changed.notify_waiters();
                return bad("Bad Request: message can't be edited");
            }
            let mut messages = inner.messages.lock().unwrap();
            let Some(current) = messages.get_mut(&(chat_id, message_id)) else {
                drop(messages);
                inner.changed.notify_waiters();
                return bad("Bad Request: message to edit not found");
            };
            // An edit without markup removes the buttons.
            let unchanged = current.0 == text && buttons(&current.1) == buttons(&markup);
            if unchanged {
                drop(messages);
                inner.changed.notify_waiters();
                return bad(
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                );
            }
            *current = (text.clone(), markup.clone());
            drop(messages);
            inner.edits.lock().unwrap().push(Edit {
                chat_id,
                message_id,
                text: text.clone(),
                buttons: buttons(&markup),
            });
            inner.changed.notify_waiters();
            ok(
                json!({"message_id": message_id, "date": 1_795_000_000, "edit_date": 1_795_000_001, "chat": chat_json(chat_id), "text": text}),
            )
        }
        "answercallbackquery" => {
            inner.answers.lock().unwrap().push(Answer {
                query_id: body["callback_query_id"].as_str().unwrap_or("").to_string(),
                text: body["text"].as_str().map(str::to_string),
                alert: body["show_alert"] == true,
            });
            inner.changed.notify_waiters();
            ok(json!(true))
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(
                json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
            ),
        ),
    }
}

/// The buttons of a `reply_markup`: each row's `(text, callback_data)`.
fn buttons(markup: &Value) -> Vec<Vec<(String, String)>> {
    markup["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| {
                            (
                                b["text"].as_str().unwrap_or("").to_string(),
                                b["callback_data"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A tap by `user` on a button with `data` under the bot's message `message_id` in
/// `chat` (query id `q<update_id>`).
pub fn callback(update_id: i64, chat: i64, user: i64, message_id: i64, data: &str) -> Value {
    json!({"update_id": update_id, "callback_query": {
        "id": format!("q{update_id}"),
        "from": {"id": user, "is_bot": false, "first_name": format!("User{user}")},
        "message": {
            "message_id": message_id, "date": 1_795_000_000, "chat": chat_json(chat),
            "from": {"id": 4242, "is_bot": true, "first_name": "Bounty", "username": BOT_USERNAME},
            "text": "a message of the bot"
        },
        "chat_instance": format!("ci{chat}"),
        "data": data,
    }})
}

/// A text message update in `chat` from `user`, with a `bot_command` entity when it
/// starts with `/`.
pub fn message(update_id: i64, chat: i64, user: i64, text: &str) -> Value {
    let mut msg = json!({
        "message_id": update_id,
        "date": 1_795_000_000,
        "chat": chat_json(chat),
        "from": {"id": user, "is_bot": false, "first_name": format!("User{user}")},
        "text": text,
    });
    if text.starts_with('/') {
        let len = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .encode_utf16()
            .count();
        msg["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
    }
    json!({"update_id": update_id, "message": msg})
}

/// [`message`] with more fields merged into the message (`sender_chat`, a bot `from`,
/// `is_automatic_forward`, `message_thread_id`...).
pub fn message_with(update_id: i64, chat: i64, user: i64, text: &str, extra: Value) -> Value {
    let mut update = message(update_id, chat, user, text);
    if let (Some(msg), Some(extra)) = (update["message"].as_object_mut(), extra.as_object()) {
        msg.extend(extra.clone());
    }
    update
}

/// The `sender_chat` of a message posted as channel `id`, and the placeholder user
/// Telegram puts in `from` then.
pub fn as_channel(id: i64) -> Value {
    json!({
        "from": {"id": 136_817_688, "is_bot": false, "first_name": "Channel", "username": "Channel_Bot"},
        "sender_chat": {"id": id, "type": "channel", "title": format!("Channel {id}")}
    })
}

/// The service message in the old group saying it became supergroup `to`.
pub fn migrated_to(update_id: i64, chat: i64, to: i64) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_795_000_000, "chat": chat_json(chat),
        "from": {"id": 1, "is_bot": false, "first_name": "Admin"},
        "migrate_to_chat_id": to
    }})
}

/// The service message in the new supergroup saying it came from group `from`.
pub fn migrated_from(update_id: i64, chat: i64, from: i64) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_795_000_000, "chat": chat_json(chat),
        "from": {"id": 1, "is_bot": false, "first_name": "Admin"},
        "migrate_from_chat_id": from
    }})
}

/// A member's status as `chatMember` JSON: `administrator` (with the rights Telegram
/// always lists), or any other status (`member`, `left`, ...).
fn member(user: i64, status: &str) -> Value {
    let mut m = json!({
        "user": {"id": user, "is_bot": false, "first_name": format!("User{user}")},
        "status": status,
    });
    if status == "administrator" {
        for right in [
            "is_anonymous",
            "can_be_edited",
            "can_manage_chat",
            "can_change_info",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_invite_users",
            "can_restrict_members",
            "can_promote_members",
        ] {
            m[right] = json!(right != "is_anonymous");
        }
    }
    m
}

/// A `chat_member` update: `user`'s status in `chat` changed from `old` to `new`.
pub fn chat_member(update_id: i64, chat: i64, user: i64, old: &str, new: &str) -> Value {
    json!({"update_id": update_id, "chat_member": {
        "chat": chat_json(chat),
        "from": {"id": 1, "is_bot": false, "first_name": "Owner"},
        "date": 1_795_000_000,
        "old_chat_member": member(user, old),
        "new_chat_member": member(user, new),
    }})
}

/// A sticker message (no text).
pub fn sticker(update_id: i64, chat: i64, user: i64) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_795_000_000, "chat": chat_json(chat),
        "from": {"id": user, "is_bot": false, "first_name": "U"},
        "sticker": {"file_id": "x", "file_unique_id": "y", "type": "regular", "width": 1, "height": 1, "is_animated": false, "is_video": false}
    }})
}
