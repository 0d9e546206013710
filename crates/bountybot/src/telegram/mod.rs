//! The bot on the Telegram Bot API, through teloxide.
//!
//! Every update goes through the same command layer as the REPL. Order of work for one
//! update: skip it if already processed ([`dedup`]); run the command (its store write
//! is durable when `handle` returns); record the update as processed; send the replies
//! ([`send`]). teloxide's dispatcher runs one chat's updates in order and different
//! chats concurrently; the command itself also takes the chat's turn on a
//! [`KeyedMutex`] and runs in a blocking task, as every async front end does. SIGINT and SIGTERM stop fetching, let the update in flight
//! finish, and exit.

pub mod dedup;
pub mod entities;
pub mod send;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use statekit::lock::KeyedMutex;
use teloxide::dispatching::Dispatcher;
use teloxide::dptree;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, UpdateKind};
use teloxide::update_listeners::webhooks;

use crate::command::parse::COMMANDS;
use crate::command::{Context, handle};
use crate::domain::{ChatId as Chat, UserId as User};
use crate::store::BountyStore;

/// How to reach Telegram and receive updates.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Bot token from BotFather.
    pub token: String,
    /// Another Bot API server (a local telegram-bot-api, or a test server).
    pub api_url: Option<url::Url>,
    /// Webhook mode: the public URL Telegram posts to, and the local address.
    pub webhook: Option<(url::Url, SocketAddr, Option<String>)>,
}

struct BotState {
    store: Arc<dyn BountyStore>,
    /// One turn at a time per chat in this process. teloxide already runs one chat's
    /// updates in order; this keeps the command layer's per-chat ordering independent
    /// of how the dispatcher distributes updates.
    chats: KeyedMutex<Chat>,
    processed: dedup::Processed,
    username: String,
}

/// Runs the bot until SIGINT or SIGTERM.
pub async fn run(
    opts: RunOptions,
    store: Arc<dyn BountyStore>,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut bot = Bot::new(opts.token);
    if let Some(url) = opts.api_url {
        bot = bot.set_api_url(url);
    }
    let me = bot
        .get_me()
        .await
        .context("getMe failed: is the token right and the API reachable?")?;
    let username = me.username().to_string();
    let commands: Vec<BotCommand> = COMMANDS
        .iter()
        .map(|(name, what)| BotCommand::new(*name, *what))
        .collect();
    if let Err(e) = bot.set_my_commands(commands).await {
        tracing::warn!("setMyCommands failed: {e}");
    }
    let processed =
        dedup::Processed::open(data_dir).context("reading the processed-updates record")?;
    let state = Arc::new(BotState {
        store,
        chats: KeyedMutex::new(),
        processed,
        username: username.clone(),
    });
    tracing::info!(bot = %username, "bot started");

    let handler = dptree::endpoint(on_update);
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![state])
        .default_handler(|_| async {})
        .build();
    let token = dispatcher.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing the update in flight");
        // Retry while the dispatcher is still starting up (idle error).
        loop {
            match token.shutdown() {
                Ok(done) => {
                    done.await;
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    });

    let errors = LoggingErrorHandler::with_custom_text("update listener error");
    match opts.webhook {
        Some((url, listen, secret)) => {
            let mut options = webhooks::Options::new(listen, url);
            if let Some(secret) = secret {
                options = options.secret_token(secret);
            }
            let listener = webhooks::axum(bot, options)
                .await
                .context("setting up the webhook")?;
            dispatcher.dispatch_with_listener(listener, errors).await;
        }
        None => {
            let listener = teloxide::update_listeners::Polling::builder(bot)
                .timeout(std::time::Duration::from_secs(10))
                .delete_webhook()
                .await
                .build();
            dispatcher.dispatch_with_listener(listener, errors).await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn on_update(bot: Bot, update: Update, state: Arc<BotState>) -> ResponseResult<()> {
    let id = update.id.0;
    if state.processed.contains(id) {
        tracing::info!(update_id = id, "skipping an update processed before");
        return Ok(());
    }
    let UpdateKind::Message(msg) = update.kind else {
        // Edited messages, callbacks and the rest are not for this bot.
        return record(&state, id).await;
    };
    let chat = Chat(msg.chat.id.0);

    if let Some(to) = msg.migrate_to_chat_id() {
        migrate(&state, chat, Chat(to.0)).await;
        return record(&state, id).await;
    }
    if let Some(from) = msg.migrate_from_chat_id() {
        migrate(&state, Chat(from.0), chat).await;
        return record(&state, id).await;
    }
    let (Some(text), Some(from)) = (msg.text(), msg.from.as_ref()) else {
        return record(&state, id).await; // stickers, photos, service messages
    };
    let user = User(from.id.0 as i64);
    let text = text.to_string();
    let st = Arc::clone(&state);
    let turn = state.chats.lock(chat).await;
    let reply = tokio::task::spawn_blocking(move || {
        let ctx = Context {
            chat,
            user,
            now: jiff::Timestamp::now(),
            bot_username: &st.username,
        };
        handle(st.store.as_ref(), &ctx, &text)
    })
    .await
    .ok()
    .flatten();
    drop(turn);
    record(&state, id).await?;
    if let Some(reply) = reply {
        send::send_all(&bot, &state.store, chat, reply.0).await;
    }
    Ok(())
}

async fn record(state: &Arc<BotState>, id: u32) -> ResponseResult<()> {
    let st = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || st.processed.record(id)).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(update_id = id, "cannot record a processed update: {e}"),
        Err(e) => tracing::error!(update_id = id, "cannot record a processed update: {e}"),
    }
    Ok(())
}

/// Moves a chat's data after a group became a supergroup; idempotent.
async fn migrate(state: &Arc<BotState>, from: Chat, to: Chat) {
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.migrate_chat(from, to)).await {
        Ok(Ok(true)) => tracing::info!(%from, %to, "moved chat data to the supergroup"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => tracing::error!(%from, %to, "cannot move chat data: {e}"),
        Err(e) => tracing::error!(%from, %to, "cannot move chat data: {e}"),
    }
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
