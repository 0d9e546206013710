//! The bot on the Telegram Bot API, through teloxide's client.
//!
//! Every update goes through the same command layer as the REPL. Exactly once, per
//! update:
//!
//! 1. updates arrive by long polling (`poll`) or webhook (`serve_webhook`); an
//!    update is confirmed to Telegram only after it was processed (polling: the next
//!    `getUpdates` offset moves past a batch only once the whole batch is done;
//!    webhook: the answer 200 is sent once the update is done), so a crash never
//!    loses an update Telegram considers delivered;
//! 2. processing takes the chat's turn ([`KeyedMutex`], FIFO: a chat's updates in
//!    order, chats in parallel) and runs the command with the update's id: the store
//!    records that id in the same transaction or file replace as the change (and the
//!    sender's name, when new), so a redelivered update is never applied twice, at the
//!    cost of one durable write; a command that reads before it writes checks the id
//!    first ([`crate::command::handle::handle_command`]);
//! 3. the reply goes to the [`send::Outbox`] and is sent outside the chat's turn.
//!
//! A tap on one of the bot's buttons (a `callback_query`) takes the same path in the
//! chat of the tapped message, as the one who tapped: [`crate::command::answer_tap`]
//! runs the button's command under the typed command's rules and ledger, the tap is
//! answered with `answerCallbackQuery` (a toast, or an alert when it changed nothing),
//! and the answer replaces the tapped message through the outbox (or follows it, for
//! a listing's bounty button). A redelivered tap changes nothing and shows nothing; a
//! tap that is to be tried again is not answered yet (Telegram takes one answer per
//! tap); a button of a group that became a supergroup is refused ([`MOVED_BUTTON`]).
//!
//! A storage failure that may pass ([`crate::store::StoreError::is_transient`], e.g.
//! PostgreSQL restarting) leaves its update unconfirmed: the webhook answers 500 and
//! polling asks again from that update on (after a backoff), so Telegram delivers it
//! again; the chat is told once ([`RETRY_NOTICE`]), not at every retry. A failure that
//! stays (a damaged file) is told to the chat and confirmed, so that one bad file does
//! not stall the updates behind it.
//!
//! At start, before the first update, [`menu::sync`] sets Telegram's command menus
//! that differ from the bot's commands.
//!
//! Beside the updates, a [`Scheduler`] thread runs a reminder pass every minute and
//! sends the daily digests that are due ([`crate::reminder`]).
//!
//! In webhook mode the listener also serves `GET /metrics` ([`crate::metrics`]) to
//! a request straight from this machine, or one with the token of
//! `--metrics-token-file` (`statekit::scrape`'s rule); anyone else gets 404.
//!
//! SIGINT and SIGTERM stop fetching, let the updates in flight finish, send what is
//! queued (for at most [`FLUSH_ON_STOP`]), and exit.

pub mod admins;
pub mod digest;
pub mod doctor;
pub mod entities;
pub mod identity;
pub mod menu;
pub mod send;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use statekit::error::Chain;
use statekit::lock::KeyedMutex;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, CallbackQuery, MessageId, ThreadId, UpdateKind};

use crate::command::button::Action;
use crate::command::handle::RETRY_NOTICE;
use crate::command::{
    Context, Outcome, Placement, Reply, TapOutcome, Tapped, answer_tap, handle_update,
};
use crate::crash::crash_point;
use crate::domain::ChatId as Chat;
use crate::domain::{UpdateId, UserId};
use crate::metrics::{BotMetrics, UpdateOutcome};
use crate::reminder::PassOptions;
use crate::reminder::schedule::Scheduler;
use crate::store::{BountyStore, Leadership};

/// The updates the bot asks Telegram for: messages, taps on its buttons, and changes
/// of a member's role (so that a demoted administrator loses its rights at once, see
/// [`admins`]).
pub const ALLOWED_UPDATES: [AllowedUpdate; 4] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::ChatMember,
    AllowedUpdate::MyChatMember,
];

/// Long-polling wait per `getUpdates`.
pub const POLL_TIMEOUT_SECS: u32 = 10;

/// The bot token from BotFather; its `Debug` never shows it.
#[derive(Clone)]
pub struct BotToken(String);

impl BotToken {
    /// Wraps a token.
    pub fn new(token: String) -> BotToken {
        BotToken(token)
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

/// The webhook's secret token; its `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Fewest characters a secret may have.
    pub const MIN_LEN: usize = 16;
    /// Most characters Telegram accepts in `secret_token`.
    pub const MAX_LEN: usize = 256;

    /// Wraps a secret as it is (tests; the command line goes through [`Self::parse`]).
    pub fn new(secret: String) -> WebhookSecret {
        WebhookSecret(secret)
    }

    /// A secret Telegram accepts in `secret_token` (1 to 256 of `A-Z a-z 0-9 _ -`) and
    /// long enough not to be guessed: at least [`Self::MIN_LEN`] characters.
    pub fn parse(secret: String) -> Result<WebhookSecret, WebhookSecretError> {
        if let Some(c) = secret
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(WebhookSecretError::BadCharacter(c));
        }
        let len = secret.len();
        if len < Self::MIN_LEN {
            return Err(WebhookSecretError::TooShort(len));
        }
        if len > Self::MAX_LEN {
            return Err(WebhookSecretError::TooLong(len));
        }
        Ok(WebhookSecret(secret))
    }
}

/// Why a webhook secret was refused; the message never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    /// Fewer than [`WebhookSecret::MIN_LEN`] characters.
    #[error("the webhook secret has {0} characters, fewer than the 16 required")]
    TooShort(usize),
    /// More than Telegram accepts.
    #[error("the webhook secret has {0} characters, more than the 256 Telegram accepts")]
    TooLong(usize),
    /// A character Telegram does not accept.
    #[error(
        "the webhook secret holds {0:?}, which Telegram does not accept (only A-Z, a-z, 0-9, _ and -)"
    )]
    BadCharacter(char),
}

impl WebhookSecret {
    /// Whether `given` is the secret, compared in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        let mut diff = u8::from(want.len() != given.len());
        for (i, w) in want.iter().enumerate() {
            diff |= w ^ given.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// How long a stopping bot waits for queued replies.
pub const FLUSH_ON_STOP: std::time::Duration = std::time::Duration::from_secs(10);

/// How to reach Telegram and receive updates.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Bot token from BotFather.
    pub token: BotToken,
    /// Another Bot API server (a local telegram-bot-api, or a test server).
    pub api_url: Option<url::Url>,
    /// Webhook mode: the public URL Telegram posts to, the local address, the secret.
    pub webhook: Option<(url::Url, SocketAddr, Option<WebhookSecret>)>,
    /// Webhook mode: connections Telegram may open at once.
    pub max_connections: u8,
    /// Webhook mode: the bounds on the listener's connections.
    pub limits: statekit::http::Limits,
    /// Webhook mode: the token that opens `/metrics` from elsewhere than this machine.
    pub metrics_token: Option<statekit::scrape::ScrapeToken>,
    /// Where the bot counts what it does.
    pub metrics: BotMetrics,
}

struct BotState {
    bot: Bot,
    store: Arc<dyn BountyStore>,
    outbox: Arc<send::Outbox>,
    /// One turn at a time per chat in this process, in arrival order.
    chats: KeyedMutex<Chat>,
    admins: admins::Admins,
    username: String,
    /// Updates whose chat was told that a failure will be tried again.
    told: std::sync::Mutex<std::collections::HashSet<UpdateId>>,
    metrics: BotMetrics,
}

/// Most updates remembered as told ([`BotState::told`]); past it the memory restarts.
const TOLD_KEPT: usize = 10_000;

impl BotState {
    /// True the first time it is asked for `update` (until [`Self::forget_told`]).
    fn first_telling(&self, update: UpdateId) -> bool {
        let mut told = self
            .told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if told.len() >= TOLD_KEPT {
            told.clear();
        }
        told.insert(update)
    }

    /// Forgets that `update`'s chat was told (it is done).
    fn forget_told(&self, update: UpdateId) {
        self.told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&update);
    }
}

/// Runs the bot until SIGINT or SIGTERM.
pub async fn run(
    opts: RunOptions,
    store: Arc<dyn BountyStore>,
    _data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut bot = Bot::new(opts.token.0);
    if let Some(url) = opts.api_url {
        bot = bot.set_api_url(url);
    }
    let me = bot
        .get_me()
        .await
        .context("getMe failed: is the token right and the API reachable?")?;
    let username = me.username().to_string();
    // Before the first update, so a menu read and set is done once the bot polls.
    let menus = menu::sync(&bot).await;
    tracing::debug!(?menus, "command menus");
    let state = Arc::new(BotState {
        bot: bot.clone(),
        outbox: send::Outbox::new(bot.clone(), Arc::clone(&store), opts.metrics.clone()),
        store,
        chats: KeyedMutex::new(),
        admins: admins::Admins::new(bot.clone()),
        username: username.clone(),
        told: std::sync::Mutex::default(),
        metrics: opts.metrics.clone(),
    });
    tracing::info!(bot = %username, "bot started");
    let reminders = Scheduler::start(
        Arc::clone(&state.store),
        Box::new(
            digest::BotSender::new(bot.clone(), tokio::runtime::Handle::current())
                .counting(opts.metrics.clone()),
        ),
        PassOptions::default(),
        opts.metrics.clone(),
    )
    .context("starting the reminder thread")?;
    let served = match opts.webhook {
        Some(hook) => {
            serve_webhook(
                &bot,
                Arc::clone(&state),
                hook,
                opts.max_connections,
                opts.limits,
                opts.metrics_token,
            )
            .await
        }
        None => poll(&bot, Arc::clone(&state)).await,
    };
    if let Err(e) = tokio::task::spawn_blocking(move || reminders.stop()).await {
        tracing::error!("stopping the reminder thread: {}", Chain(&e));
    }
    served?;
    state.outbox.flush(FLUSH_ON_STOP).await;
    tracing::info!("stopped");
    Ok(())
}

/// Long polling until SIGINT or SIGTERM: each batch is processed whole (chats in
/// parallel, each chat in order) before the next `getUpdates` confirms it.
async fn poll(bot: &Bot, state: Arc<BotState>) -> anyhow::Result<()> {
    bot.delete_webhook()
        .await
        .context("deleteWebhook failed (needed for long polling)")?;
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut offset: i32 = 0;
    let mut backoff = send::FIRST_BACKOFF;
    let mut lead: Option<Leadership> = None;
    loop {
        // Only one replica polls: the one holding the store's leadership.
        let held = match lead.take() {
            Some(l) => still_held(l).await,
            None => None,
        };
        lead = match held {
            Some(l) => Some(l),
            None => {
                tokio::select! {
                    () = &mut stop => break,
                    l = take_lead(&state) => Some(l),
                }
            }
        };
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(ALLOWED_UPDATES);
        let updates = tokio::select! {
            () = &mut stop => break,
            r = request.send() => r,
        };
        let updates = match updates {
            Ok(u) => {
                backoff = send::FIRST_BACKOFF;
                u
            }
            Err(e) => {
                tracing::warn!("getUpdates failed ({}); retrying in {backoff:?}", Chain(&e));
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(send::MAX_BACKOFF);
                continue;
            }
        };
        let Some(last) = updates.iter().map(|u| u.id.0).max() else {
            continue;
        };
        match process_batch(&state, updates).await {
            None => {
                offset = i32::try_from(last).unwrap_or(i32::MAX).saturating_add(1);
            }
            Some(first_unconfirmed) => {
                // Asked again from the first update not done: the ones after it that
                // are done are skipped as processed.
                offset = i32::try_from(first_unconfirmed).unwrap_or(i32::MAX);
                tracing::warn!("an update failed in storage; asking again in {backoff:?}");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(send::MAX_BACKOFF);
            }
        }
    }
    tracing::info!("stopping: the updates in flight are done");
    // A leadership may hold a blocking database client: let it go off the runtime.
    if let Some(l) = lead.take() {
        let _ = tokio::task::spawn_blocking(move || drop(l)).await;
    }
    // Confirm what was processed, so a restart does not fetch it again.
    if offset != 0
        && let Err(e) = bot.get_updates().offset(offset).limit(1).timeout(0).await
    {
        tracing::warn!(
            "could not confirm the last updates ({}); they will be skipped as processed",
            Chain(&e)
        );
    }
    Ok(())
}

/// How often a replica that does not poll asks whether it may.
pub const LEAD_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits until this process may poll (at once when it is the only one).
async fn take_lead(state: &Arc<BotState>) -> Leadership {
    let mut told = false;
    loop {
        let store = Arc::clone(&state.store);
        match tokio::task::spawn_blocking(move || store.try_lead()).await {
            Ok(Ok(Some(l))) => {
                if told {
                    tracing::info!("this replica polls Telegram now");
                }
                return l;
            }
            Ok(Ok(None)) => {
                if !told {
                    tracing::info!("another replica polls Telegram; standing by to take over");
                    told = true;
                }
            }
            Ok(Err(e)) => tracing::warn!("cannot ask to poll: {}", Chain(&e)),
            Err(e) => tracing::warn!("cannot ask to poll: {}", Chain(&e)),
        }
        tokio::time::sleep(LEAD_RETRY).await;
    }
}

/// The leadership if still held, checked without blocking the runtime.
async fn still_held(mut lead: Leadership) -> Option<Leadership> {
    match tokio::task::spawn_blocking(move || lead.still_held().then_some(lead)).await {
        Ok(Some(l)) => Some(l),
        Ok(None) | Err(_) => {
            tracing::warn!("lost the right to poll (the database connection went away)");
            None
        }
    }
}

/// Processes a batch: one task per chat, each chat's updates in order. Returns the
/// lowest id of an update not done (a failure that may pass; a chat's updates after
/// it wait for it), if any.
async fn process_batch(state: &Arc<BotState>, updates: Vec<Update>) -> Option<u32> {
    let mut per_chat: HashMap<Option<i64>, Vec<Update>> = HashMap::new();
    for u in updates {
        // A role change goes in its chat's order too: a demotion is taken note of
        // before the demoted member's next command.
        let key = match &u.kind {
            UpdateKind::Message(m) => Some(m.chat.id.0),
            UpdateKind::CallbackQuery(q) => q.message.as_ref().map(|m| m.chat().id.0),
            UpdateKind::ChatMember(c) | UpdateKind::MyChatMember(c) => Some(c.chat.id.0),
            _ => None,
        };
        per_chat.entry(key).or_default().push(u);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, chat_updates) in per_chat {
        let state = Arc::clone(state);
        tasks.spawn(async move {
            for u in chat_updates {
                let id = u.id.0;
                if !process_update(&state, u).await {
                    return Some(id);
                }
            }
            None
        });
    }
    let mut first_unconfirmed: Option<u32> = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(id)) => {
                first_unconfirmed = Some(first_unconfirmed.map_or(id, |f| f.min(id)));
            }
            Ok(None) => {}
            Err(e) => tracing::error!("an update task failed: {}", Chain(&e)),
        }
    }
    first_unconfirmed
}

/// Webhook mode until SIGINT or SIGTERM: Telegram posts each update to the path of
/// `url`; it is answered 200 only once processed (401 without the secret).
async fn serve_webhook(
    bot: &Bot,
    state: Arc<BotState>,
    (url, listen, secret): (url::Url, SocketAddr, Option<WebhookSecret>),
    max_connections: u8,
    limits: statekit::http::Limits,
    metrics_token: Option<statekit::scrape::ScrapeToken>,
) -> anyhow::Result<()> {
    // One connection (the default): Telegram then posts updates one after another, in
    // order. More: the store keeps each chat's order (PostgreSQL replicas).
    let mut set = bot
        .set_webhook(url.clone())
        .allowed_updates(ALLOWED_UPDATES)
        .max_connections(max_connections);
    if let Some(s) = &secret {
        set = set.secret_token(s.0.clone());
    }
    set.await.context("setWebhook failed")?;
    let path = match url.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    let metrics = MetricsAccess {
        metrics: state.metrics.clone(),
        token: metrics_token.map(Arc::new),
    };
    let mut app = axum::Router::new().route(&path, axum::routing::post(on_webhook));
    if path != METRICS_PATH {
        app = app.route(
            METRICS_PATH,
            axum::routing::get(on_metrics).with_state(metrics),
        );
    } else {
        tracing::warn!("the webhook's path is {METRICS_PATH}: the metrics are not served");
    }
    let app = app.with_state((state, secret.map(Arc::new)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    statekit::http::serve(listener, app, limits, shutdown_signal())
        .await
        .context("serving the webhook")?;
    tracing::info!("stopping: the updates in flight are done");
    Ok(())
}

type WebhookState = (Arc<BotState>, Option<Arc<WebhookSecret>>);

/// The path the metrics are served at on the webhook listener.
pub const METRICS_PATH: &str = "/metrics";

/// What `/metrics` needs: the counters, and the token that opens them from elsewhere.
#[derive(Clone)]
struct MetricsAccess {
    metrics: BotMetrics,
    token: Option<Arc<statekit::scrape::ScrapeToken>>,
}

/// `GET /metrics`: the counters to a local request or one with the token; 404 to
/// anyone else, as for a path that does not exist.
async fn on_metrics(
    axum::extract::State(access): axum::extract::State<MetricsAccess>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|axum::extract::ConnectInfo(a)| *a);
    if !statekit::scrape::allows(access.token.as_deref(), peer, request.headers()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        access.metrics.render(),
    )
        .into_response()
}

async fn on_webhook(
    axum::extract::State((state, secret)): axum::extract::State<WebhookState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    if let Some(secret) = secret {
        let given = headers
            .get("x-telegram-bot-api-secret-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !secret.matches(given) {
            return StatusCode::UNAUTHORIZED;
        }
    }
    match serde_json::from_slice::<Update>(&body) {
        Ok(update) => {
            // In its own task: if Telegram hangs up, the update still finishes (and
            // keeps its chat's turn until then); the answer waits for it either way.
            match tokio::spawn(async move { process_update(&state, update).await }).await {
                Ok(true) => StatusCode::OK,
                // Telegram delivers it again (after a backoff of its own).
                Ok(false) => StatusCode::INTERNAL_SERVER_ERROR,
                Err(e) => {
                    tracing::error!("an update task failed: {}", Chain(&e));
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }
        Err(e) => {
            tracing::warn!("a webhook request that is not an update: {}", Chain(&e));
            StatusCode::BAD_REQUEST
        }
    }
}

/// How long an update waits for an earlier update of its chat that another replica
/// has in work (or that has not arrived yet) before it goes ahead anyway.
pub const ORDER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Processes one update (see the module docs for the order of work) and counts its
/// outcome. False when it is to be delivered again (a failure that may pass).
async fn process_update(state: &Arc<BotState>, update: Update) -> bool {
    let outcome = handle_one(state, update).await;
    state.metrics.update(outcome);
    outcome.confirmed()
}

/// Processes one update in its chat's order across replicas: noted as received,
/// after the chat's earlier updates, then marked done.
async fn handle_one(state: &Arc<BotState>, update: Update) -> UpdateOutcome {
    let id = UpdateId::new(update.id.0);
    let work = match update.kind {
        UpdateKind::Message(msg) => Chat::try_from(msg.chat.id.0)
            .ok()
            .map(|chat| (chat, Work::Message(Box::new(msg)))),
        UpdateKind::CallbackQuery(query) => tapped_in(state, query),
        UpdateKind::ChatMember(change) | UpdateKind::MyChatMember(change) => {
            state.admins.role_changed(&change);
            None
        }
        _ => None,
    };
    let Some((chat, work)) = work else {
        // Edited messages and the rest are not for this bot; their ids are noted
        // anyway, so that no replica waits for them as missing.
        let store = Arc::clone(&state.store);
        let noted = tokio::task::spawn_blocking(move || store.update_ignored(id)).await;
        if let Ok(Err(e)) = noted {
            tracing::warn!(update_id = %id, "cannot note the update: {}", Chain(&e));
        }
        return UpdateOutcome::Ignored;
    };
    let store = Arc::clone(&state.store);
    let ordered = tokio::task::spawn_blocking(move || {
        store.update_received(chat, id)?;
        store.await_turn(chat, id, ORDER_WAIT)
    })
    .await;
    match ordered {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            tracing::warn!(update_id = %id, %chat, "an earlier update of the chat did not come in time; going ahead");
        }
        Ok(Err(e)) => {
            tracing::warn!(update_id = %id, %chat, "cannot order the update: {}", Chain(&e))
        }
        Err(e) => tracing::warn!(update_id = %id, %chat, "cannot order the update: {}", Chain(&e)),
    }
    let outcome = match work {
        Work::Message(msg) => process_message(state, id, chat, *msg).await,
        Work::Tap(tap) => process_tap(state, id, chat, tap).await,
    };
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.update_done(chat, id)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(update_id = %id, %chat, "cannot mark the update done: {}", Chain(&e))
        }
        Err(e) => {
            tracing::warn!(update_id = %id, %chat, "cannot mark the update done: {}", Chain(&e))
        }
    }
    outcome
}

/// What an update asks of its chat.
enum Work {
    /// A message (a command, or a service message).
    Message(Box<teloxide::types::Message>),
    /// A tap on one of the bot's buttons.
    Tap(Tap),
}

/// A tap on a button of the bot's message `message`, in forum topic `thread`.
struct Tap {
    query: Box<CallbackQuery>,
    message: MessageId,
    thread: Option<ThreadId>,
}

/// The answer to a button of a group that became a supergroup.
pub const MOVED_BUTTON: &str =
    "This group became a supergroup: send /bounty there for the bounties as they are now.";

/// The chat and tap of `query`; `None` (answered, with nothing to do) for a button of
/// a message sent in inline mode, which this bot has none of.
fn tapped_in(state: &Arc<BotState>, query: CallbackQuery) -> Option<(Chat, Work)> {
    let Some(message) = &query.message else {
        answer_query(state, &query, None, false);
        return None;
    };
    let Ok(chat) = Chat::try_from(message.chat().id.0) else {
        answer_query(state, &query, None, false);
        return None;
    };
    let tap = Tap {
        message: message.id(),
        thread: message
            .regular_message()
            .and_then(|m| m.thread_id.filter(|_| m.is_topic_message)),
        query: Box::new(query),
    };
    Some((chat, Work::Tap(tap)))
}

/// Answers a tap (`answerCallbackQuery`, so the client stops waiting): with `notice`
/// as a toast, or as an alert when `alert`. Sent on its own, without holding the
/// update; a failure (a query answered before) is only logged.
fn answer_query(state: &Arc<BotState>, query: &CallbackQuery, notice: Option<String>, alert: bool) {
    let mut request = state.bot.answer_callback_query(query.id.clone());
    if let Some(text) = notice {
        request = request.text(text).show_alert(alert);
    }
    tokio::spawn(async move {
        if let Err(e) = request.await {
            tracing::debug!("cannot answer a tap: {}", Chain(&e));
        }
    });
}

/// Processes a tap on a button of the bot's message in `chat`, as the one who tapped.
async fn process_tap(state: &Arc<BotState>, id: UpdateId, chat: Chat, tap: Tap) -> UpdateOutcome {
    let query = &tap.query;
    let user = match i64::try_from(query.from.id.0).map(UserId::try_from) {
        Ok(Ok(user)) if !query.from.is_bot => user,
        _ => {
            tracing::debug!(update_id = %id, %chat, "ignoring a tap of a bot or a user id out of range");
            answer_query(state, query, None, false);
            return UpdateOutcome::Ignored;
        }
    };
    // A game's button has no data; every button of this bot has.
    let data = query.data.clone().unwrap_or_default();
    // Only taps an administrator may make on others' bounties ask who administers
    // the group.
    let admin = chat.is_group()
        && Action::parse(&data).is_ok_and(Action::needs_admin)
        && state.admins.is_admin(chat, user).await;
    let name = query.from.full_name();
    let st = Arc::clone(state);
    let turn = state.chats.lock(chat).await;
    crash_point("received");
    let outcome = tokio::task::spawn_blocking(move || {
        match data_chat(&st, chat, id) {
            Ok(to) if to == chat => {}
            // A button of the old group: its bounties may have other numbers in the
            // supergroup, so the button may name another one there.
            Ok(_) => return TapOutcome::Done(Tapped::alert(MOVED_BUTTON)),
            Err(e) => return TapOutcome::Retry(e),
        }
        let ctx = Context {
            chat,
            user,
            now: jiff::Timestamp::now(),
            bot_username: &st.username,
            update: Some(id),
            admin,
            name: Some(&name),
        };
        answer_tap(st.store.as_ref(), &ctx, &data)
    })
    .await;
    crash_point("stored");
    drop(turn);
    let outcome = match outcome {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(update_id = %id, %chat, "the tap failed: {}", Chain(&e));
            answer_query(state, query, None, false);
            return UpdateOutcome::Done;
        }
    };
    let tapped = match outcome {
        TapOutcome::Done(tapped) => tapped,
        TapOutcome::Duplicate => {
            // Answered before; answering again only stops a spinner left by a crash.
            answer_query(state, query, None, false);
            return UpdateOutcome::Duplicate;
        }
        // Not answered: a tap can be answered once, and its answer is the one given
        // when Telegram delivers it again.
        TapOutcome::Retry(_) => return UpdateOutcome::Retried,
    };
    if let Some(reply) = tapped.message {
        let replace = tapped.placement == Placement::Replace;
        state.outbox.push(send::Job {
            target: send::Target {
                chat,
                thread: tap.thread,
                reply_to: (!replace).then_some(tap.message),
            },
            messages: reply.messages,
            buttons: reply.buttons,
            edit: replace.then_some(tap.message),
            update_id: id.get(),
        });
    }
    // After the message is queued: whoever sees the answer finds the message on its way.
    answer_query(state, query, tapped.notice, tapped.alert);
    UpdateOutcome::Done
}

/// The chat `chat`'s data lives in: a basic group that became a supergroup has it in
/// the supergroup, where its late or redelivered updates belong. A failure that may
/// pass is returned; any other is logged and the chat taken as it is.
fn data_chat(state: &BotState, chat: Chat, id: UpdateId) -> Result<Chat, crate::store::StoreError> {
    if !chat.is_basic_group() {
        return Ok(chat);
    }
    match state.store.moved_to(chat) {
        Ok(to) => Ok(to),
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            tracing::warn!(update_id = %id, %chat, "cannot tell whether the chat moved: {}", Chain(&e));
            Ok(chat)
        }
    }
}

/// Processes one message of a chat.
async fn process_message(
    state: &Arc<BotState>,
    id: UpdateId,
    chat: Chat,
    msg: teloxide::types::Message,
) -> UpdateOutcome {
    let moved = |done: bool| {
        if done {
            UpdateOutcome::Done
        } else {
            UpdateOutcome::Retried
        }
    };
    if let Some(to) = msg.migrate_to_chat_id() {
        if let Ok(to) = Chat::try_from(to.0) {
            return moved(migrate(state, chat, to, id).await);
        }
        tracing::error!(update_id = %id, %chat, "ignoring a move to chat 0");
        return UpdateOutcome::Ignored;
    }
    if let Some(from) = msg.migrate_from_chat_id() {
        if let Ok(from) = Chat::try_from(from.0) {
            return moved(migrate(state, from, chat, id).await);
        }
        tracing::error!(update_id = %id, %chat, "ignoring a move from chat 0");
        return UpdateOutcome::Ignored;
    }
    let Some(text) = msg.text() else {
        return UpdateOutcome::Ignored; // stickers, photos, service messages
    };
    let user = match identity::sender(&msg) {
        identity::Sender::Acting(user) => user,
        identity::Sender::Ignored(why) => {
            tracing::debug!(update_id = %id, %chat, "ignoring {why}");
            return UpdateOutcome::Ignored;
        }
    };
    // Words with a hidden link (`text_link`) keep their URL for the parser.
    let text = entities::inline_text_links(text, msg.entities().unwrap_or(&[]));
    // Only commands an administrator may use on others' bounties ask who administers
    // the group (the parser knows which).
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let admin = chat.is_group()
        && admins::needs_admin(&text, &state.username, today)
        && state.admins.is_admin(chat, user).await;
    let name = identity::display_name(&msg);
    let st = Arc::clone(state);
    let turn = state.chats.lock(chat).await;
    crash_point("received");
    let outcome = tokio::task::spawn_blocking(move || {
        let chat = match data_chat(&st, chat, id) {
            Ok(chat) => chat,
            Err(e) => return (chat, Outcome::Retry(e)),
        };
        let ctx = Context {
            chat,
            user,
            now: jiff::Timestamp::now(),
            bot_username: &st.username,
            update: Some(id),
            admin,
            name: name.as_deref(),
        };
        (chat, handle_update(st.store.as_ref(), &ctx, &text))
    })
    .await;
    crash_point("stored");
    drop(turn);
    let (to, outcome) = match outcome {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(update_id = %id, %chat, "the command failed: {}", Chain(&e));
            (chat, Outcome::Done(None))
        }
    };
    let (reply, counted) = match outcome {
        Outcome::Done(reply) => {
            state.forget_told(id);
            (reply, UpdateOutcome::Done)
        }
        Outcome::Duplicate => {
            state.forget_told(id);
            (None, UpdateOutcome::Duplicate)
        }
        Outcome::Retry(_) => {
            let notice = state
                .first_telling(id)
                .then(|| Reply::new(vec![RETRY_NOTICE.to_string()]));
            (notice, UpdateOutcome::Retried)
        }
    };
    if let Some(reply) = reply {
        let target = if to == chat {
            send::Target {
                chat,
                thread: msg.thread_id.filter(|_| msg.is_topic_message),
                reply_to: Some(msg.id),
            }
        } else {
            // The old group's message cannot be replied to in the supergroup.
            send::Target {
                chat: to,
                thread: None,
                reply_to: None,
            }
        };
        state.outbox.push(send::Job {
            target,
            messages: reply.messages,
            buttons: reply.buttons,
            edit: None,
            update_id: id.get(),
        });
    }
    counted
}

/// Moves a chat's data after a group became a supergroup; idempotent. When the new
/// chat had bounties already (its first message came before the migration notice),
/// the chat is told that the old ones joined them, and which got new numbers. False
/// when it is to be delivered again (a failure that may pass).
async fn migrate(state: &Arc<BotState>, from: Chat, to: Chat, update: UpdateId) -> bool {
    let store = Arc::clone(&state.store);
    let moved = match tokio::task::spawn_blocking(move || store.migrate_chat(from, to)).await {
        Ok(Ok(moved)) => moved,
        Ok(Err(e)) => {
            tracing::error!(%from, %to, "cannot move chat data: {}", Chain(&e));
            return !e.is_transient();
        }
        Err(e) => {
            tracing::error!(%from, %to, "cannot move chat data: {}", Chain(&e));
            return true;
        }
    };
    if moved.moved {
        tracing::info!(%from, %to, merged = moved.merged, "moved chat data to the supergroup");
    }
    if let Some(text) = merge_notice(&moved) {
        let target = send::Target {
            chat: to,
            thread: None,
            reply_to: None,
        };
        state
            .outbox
            .push(send::Job::send(target, vec![text], update.get()));
    }
    true
}

/// What to tell a supergroup whose old group's bounties joined its own.
pub fn merge_notice(moved: &crate::domain::ChatMove) -> Option<String> {
    if !moved.merged {
        return None;
    }
    let mut text =
        String::from("This group became a supergroup; the bounties from before are here too.");
    if !moved.renumbered.is_empty() {
        let changes: Vec<String> = moved
            .renumbered
            .iter()
            .map(|(old, new)| format!("#{} is now #{}", old.get(), new.get()))
            .collect();
        text.push_str(&format!(" Renumbered: {}.", changes.join(", ")));
    }
    Some(text)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let opts = RunOptions {
            token: BotToken::new("123456:SECRET-TOKEN".into()),
            api_url: None,
            webhook: Some((
                "https://bot.example.org/hook".parse().unwrap(),
                "127.0.0.1:8443".parse().unwrap(),
                Some(WebhookSecret::new("hook-secret".into())),
            )),
            max_connections: 1,
            limits: statekit::http::Limits::default(),
            metrics_token: None,
            metrics: BotMetrics::new(),
        };
        let shown = format!("{opts:?}");
        assert!(
            !shown.contains("SECRET-TOKEN") && !shown.contains("hook-secret"),
            "{shown}"
        );
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn a_webhook_secret_is_16_to_256_characters_telegram_accepts() {
        let ok = |s: &str| WebhookSecret::parse(s.into()).map(|_| ());
        assert_eq!(ok("0123456789abcdef"), Ok(()));
        assert_eq!(ok(&"a".repeat(256)), Ok(()));
        assert_eq!(ok("A-z_0123456789ab"), Ok(()));
        assert_eq!(ok("0123456789abcde"), Err(WebhookSecretError::TooShort(15)));
        assert_eq!(ok(""), Err(WebhookSecretError::TooShort(0)));
        assert_eq!(ok(&"a".repeat(257)), Err(WebhookSecretError::TooLong(257)));
        assert_eq!(
            ok("0123456789abcdef!"),
            Err(WebhookSecretError::BadCharacter('!'))
        );
        assert_eq!(
            ok("0123456789 abcdef"),
            Err(WebhookSecretError::BadCharacter(' '))
        );
        assert_eq!(
            ok("0123456789abcdeé"),
            Err(WebhookSecretError::BadCharacter('é'))
        );
        let msg = WebhookSecretError::BadCharacter('!').to_string();
        assert!(!msg.contains("0123"), "{msg}");
    }

    #[test]
    fn the_webhook_secret_must_match_exactly() {
        let s = WebhookSecret::new("s3cret".into());
        assert!(s.matches(b"s3cret"));
        for wrong in [&b""[..], b"s3cre", b"s3cret!", b"S3cret"] {
            assert!(!s.matches(wrong), "{wrong:?}");
        }
    }
}
