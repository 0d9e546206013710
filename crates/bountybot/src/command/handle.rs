//! Command + store -> reply. Decides who may do what; never touches files itself.
//!
//! One function per command, each given a [`Turn`] (the store, the context, today's
//! date): the actor and the update come from the context, never from the message
//! text, so that a command can be run from a message or from a tap on a button alike.
//! A command that writes hands [`Turn::write`] (its update and the sender's name) to
//! the store's one write, so that the change, its ledger entry and a new name take
//! one store call and one durable write; one that reads first checks its update once,
//! before reading.
//!
//! A storage failure is logged for the operator with its whole cause chain and the
//! chat, and the chat gets a short text without server paths or OS errors.

use std::cell::Cell;

use jiff::Timestamp;
use jiff::civil::Date;
use statekit::error::Chain;

use super::button::{Keyboard, Listing, bounty_buttons, delete_question, listing_buttons};
use super::parse::{COMMANDS, Changes, Command, Filter, Parsed, parse};
use super::render::{
    Names, PAGE_SIZE, Page, confirmation, escape, full_view, list_page, sort_for_display,
};
use crate::domain::{
    Bounty, BountyId, BountyPatch, BountyText, ChatId, ChatSettings, DueDate, NewBounty,
    ReminderTime, SettingsPatch, Status, UpdateId, UserId, ZoneName, quoted, ts_to_date,
};
use crate::store::{BountyStore, Origin, StoreError, json};

/// Who is speaking, where and when.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The chat the message came from.
    pub chat: ChatId,
    /// The sender.
    pub user: UserId,
    /// The time of handling.
    pub now: Timestamp,
    /// This bot's username, for `/cmd@ThisBot`.
    pub bot_username: &'a str,
    /// The Telegram update being handled, if any: its change is stored together with
    /// its id, so a redelivered update changes nothing twice.
    pub update: Option<UpdateId>,
    /// Whether the sender administers this group (then they may delete, unclaim,
    /// finish and reopen any bounty in it). The front end finds out; false where there
    /// is nobody to ask.
    pub admin: bool,
    /// The sender's display name, when the front end knows it (Telegram: first and
    /// last name, or the title of a chat posting as itself): remembered per chat so
    /// listings show names.
    pub name: Option<&'a str>,
}

impl Context<'_> {
    /// What a change made for this message stores with it: its update, and the
    /// sender's name.
    pub fn write(&self) -> Origin {
        Origin {
            update: self.update,
            sender: self.name.map(|n| (self.user, n.to_string())),
        }
    }
}

/// One command's unit of work: the store, the context and today's date, and whether
/// the command handed its update and the sender's name to a store write.
pub struct Turn<'a, 'b> {
    /// The store.
    pub store: &'a dyn BountyStore,
    /// Who acts, where, for which update.
    pub ctx: &'a Context<'b>,
    /// Today (UTC), for due dates.
    pub today: Date,
    wrote: Cell<bool>,
}

impl std::fmt::Debug for Turn<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("ctx", self.ctx)
            .field("today", &self.today)
            .finish_non_exhaustive()
    }
}

impl<'a, 'b> Turn<'a, 'b> {
    /// A turn of `ctx` on `store`.
    pub fn new(store: &'a dyn BountyStore, ctx: &'a Context<'b>) -> Turn<'a, 'b> {
        Turn {
            store,
            ctx,
            today: ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date(),
            wrote: Cell::new(false),
        }
    }

    /// What a store write of this command stores with its change ([`Context::write`]);
    /// the turn notes that it was handed on.
    pub fn write(&self) -> Origin {
        self.wrote.set(true);
        self.ctx.write()
    }

    /// The chat.
    fn chat(&self) -> ChatId {
        self.ctx.chat
    }
}

/// The bot's answer: one or more Telegram HTML messages, sent in order, and the
/// buttons under the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The messages, as Telegram HTML.
    pub messages: Vec<String>,
    /// Inline buttons under the last message (none when empty).
    pub buttons: Keyboard,
}

impl Reply {
    /// `messages` without buttons.
    pub fn new(messages: Vec<String>) -> Reply {
        Reply {
            messages,
            buttons: Keyboard::new(),
        }
    }
}

/// What became of a message: finished, or to be tried again.
#[derive(Debug)]
pub enum Outcome {
    /// Finished: applied, refused, answered, or failed for good (a damaged file, told
    /// to the chat). A Telegram update is confirmed; the reply, if any, is sent.
    Done(Option<Reply>),
    /// A storage failure that may pass ([`StoreError::is_transient`]) and left nothing
    /// changed. A Telegram update is not confirmed, so that Telegram delivers it again;
    /// the front end tells the chat once ([`RETRY_NOTICE`]).
    Retry(StoreError),
    /// A redelivered update, processed before: nothing changed, nothing to say. A
    /// Telegram update is confirmed.
    Duplicate,
}

/// What a chat is told, once, when its command meets a failure that may pass and
/// will be tried again.
pub const RETRY_NOTICE: &str = "⚠️ I could not store that just now; I will try again shortly.";

/// Handles one message; `None` means the bot stays silent (not a command, or a
/// command for another bot or, in a group, one it does not know). A failure that may
/// pass is answered like any other (the REPL and `send` do not try again).
pub fn handle(store: &dyn BountyStore, ctx: &Context<'_>, text: &str) -> Option<Reply> {
    match handle_update(store, ctx, text) {
        Outcome::Done(reply) => reply,
        Outcome::Retry(e) => Some(storage_failure(ctx, &e)),
        Outcome::Duplicate => None,
    }
}

/// Handles one message as [`handle`] does, telling a failure that may pass
/// ([`Outcome::Retry`]) apart from the rest.
pub fn handle_update(store: &dyn BountyStore, ctx: &Context<'_>, text: &str) -> Outcome {
    let today = ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let unnamed = Origin {
        update: ctx.update,
        sender: None,
    };
    match parse(text, ctx.bot_username, today) {
        Parsed::NotACommand | Parsed::OtherBot => Outcome::Done(None),
        Parsed::Unknown(_) if ctx.chat.is_group() => Outcome::Done(None),
        Parsed::Unknown(name) => answered_once(
            store,
            ctx,
            &unnamed,
            Reply::new(vec![format!(
                "I don't know {}. Send /help for what I can do.",
                escape(&quoted(&format!("/{name}")))
            )]),
        ),
        Parsed::Usage { command, reason } => answered_once(
            store,
            ctx,
            &unnamed,
            Reply::new(vec![format!(
                "⚠️ {}\nUsage: {}",
                escape(&reason),
                escape(usage_of(command))
            )]),
        ),
        Parsed::Command(cmd) => handle_command(&Turn::new(store, ctx), cmd),
    }
}

/// Runs a parsed command in `t`: a command that reads before it writes is skipped when
/// its update was processed; one that writes nothing (a read, or a refusal) is
/// answered once, its update noted with the sender's name.
pub fn handle_command(t: &Turn<'_, '_>, cmd: Command) -> Outcome {
    let (store, ctx) = (t.store, t.ctx);
    if cmd.reads_first()
        && let Some(update) = ctx.update
    {
        match store.processed(ctx.chat, ctx.user, update) {
            Ok(true) => {
                tracing::info!(update_id = %update, chat = %ctx.chat, "skipping an update processed before");
                return Outcome::Duplicate;
            }
            Ok(false) => {}
            Err(e) if e.is_transient() => return retry(ctx, e),
            Err(e) => {
                tracing::warn!(update_id = %update, chat = %ctx.chat, error = %Chain(&e), "cannot tell whether the update was processed")
            }
        }
    }
    let subject = buttons_for(&cmd);
    let result = run(t, cmd).map(|reply| with_buttons(t, subject, reply));
    finish_turn(t, result)
}

/// The bounty whose buttons go under the reply to `cmd`: the one it shows or acts on
/// (not an edit's or a delete's).
fn buttons_for(cmd: &Command) -> Option<BountyId> {
    match *cmd {
        Command::Show(id)
        | Command::Claim(id)
        | Command::Unclaim(id)
        | Command::Done(id)
        | Command::Reopen(id)
        | Command::Track(id)
        | Command::Untrack(id) => Some(id),
        _ => None,
    }
}

/// `reply` with the buttons of bounty `id` as it is now, for the one acting (whether
/// they track it). The buttons only decorate: a failure to read is logged and the reply
/// goes without them; a bounty that is gone has none.
fn with_buttons(t: &Turn<'_, '_>, id: Option<BountyId>, mut reply: Reply) -> Reply {
    let Some(id) = id else {
        return reply;
    };
    let b = match t.store.get(t.chat(), id) {
        Ok(Some(b)) => b,
        Ok(None) => return reply,
        Err(e) => {
            warn_decoration(t.ctx, &e, "bounty for its buttons");
            return reply;
        }
    };
    let tracked = t
        .store
        .tracked(t.chat(), t.ctx.user)
        .inspect_err(|e| warn_decoration(t.ctx, e, "tracked bounties"))
        .is_ok_and(|tracked| tracked.contains(&id));
    reply.buttons = bounty_buttons(&b, tracked);
    reply
}

/// The "sure?" before a delete: only to whom may delete (its creator, or a group
/// administrator), with a button that deletes and one that keeps it. Reads only.
pub(super) fn ask_delete(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    let Some(b) = t.store.get(t.chat(), id)? else {
        return Ok(no_such(id));
    };
    if b.created_by_user_id != t.ctx.user && !group_admin(t.ctx) {
        return say(format!(
            "Only the creator of #{id} (or a group administrator) can delete it."
        ));
    }
    Ok(Reply {
        messages: vec![format!(
            "Delete bounty <b>#{id}</b>: {}? This cannot be undone.",
            escape(&b.text)
        )],
        buttons: delete_question(id),
    })
}

/// What a command's `result` makes of the turn `t`: a write's reply as it is (its
/// update went with the write); a read's or a refusal's answered once, its update
/// noted with the sender's name.
pub(super) fn finish_turn(t: &Turn<'_, '_>, result: Result<Reply, StoreError>) -> Outcome {
    let (store, ctx) = (t.store, t.ctx);
    match result {
        Ok(reply) if t.wrote.get() => Outcome::Done(Some(reply)),
        // A read, or a refusal: answered once, so that the update delivered again (after
        // the state changed) is not run again with another result.
        Ok(reply) => answered_once(store, ctx, &ctx.write(), reply),
        // A redelivered update whose change is stored: nothing to do again.
        Err(StoreError::AlreadyProcessed { .. }) => Outcome::Duplicate,
        Err(e) if e.is_transient() => retry(ctx, e),
        Err(e) => Outcome::Done(Some(storage_failure(ctx, &e))),
    }
}

/// A failure that may pass: logged, and the update is to be delivered again.
fn retry(ctx: &Context<'_>, e: StoreError) -> Outcome {
    tracing::warn!(
        chat = %ctx.chat,
        user = %ctx.user,
        error = %Chain(&e),
        "a command failed in storage; it will be tried again"
    );
    Outcome::Retry(e)
}

/// `reply`, which changed nothing, with `w` noted (its update recorded as processed, so
/// that the update delivered again is not answered again: [`crate::store::Ledger::note`]).
pub(super) fn answered_once(
    store: &dyn BountyStore,
    ctx: &Context<'_>,
    w: &Origin,
    reply: Reply,
) -> Outcome {
    match store.note(ctx.chat, w) {
        Ok(()) => Outcome::Done(Some(reply)),
        // Answered before (a redelivery).
        Err(StoreError::AlreadyProcessed { .. }) => Outcome::Duplicate,
        Err(e) if e.is_transient() => retry(ctx, e),
        Err(e) => {
            // A damaged file: the answer still goes out (it may say so itself).
            tracing::warn!(chat = %ctx.chat, error = %Chain(&e), "cannot record an answered update");
            Outcome::Done(Some(reply))
        }
    }
}

/// Logs `e` for the operator and tells the chat as little as is useful.
pub(super) fn storage_failure(ctx: &Context<'_>, e: &StoreError) -> Reply {
    tracing::error!(
        chat = %ctx.chat,
        user = %ctx.user,
        error = %Chain(e),
        "a command failed in storage"
    );
    let text = match e {
        // The chat's own file: worth telling them, by its name within the data dir.
        StoreError::Json(json::Error::Corrupt {
            chat,
            file,
            line,
            column,
        }) => format!(
            "⚠️ stored data of chat {chat} is damaged ({}, line {line}, column {column}); nothing was changed",
            escape(&data_relative(file))
        ),
        _ => "⚠️ Sorry, something went wrong storing that; the operator has been told.".into(),
    };
    Reply::new(vec![text])
}

/// A stored file's name as the chat may see it: relative to the data dir, never an
/// absolute server path (only the file name is left of one).
fn data_relative(file: &str) -> String {
    let path = std::path::Path::new(file);
    if path.is_absolute() {
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    } else {
        file.to_string()
    }
}

/// The answer to a page past the end of a listing.
fn past_the_end(pages: usize, what: &str, command: &str) -> Reply {
    let (verb, noun) = if pages == 1 {
        ("is", "page")
    } else {
        ("are", "pages")
    };
    Reply::new(vec![format!(
        "There {verb} only {pages} {noun} of {what} here. The last one: /{command} {pages}"
    )])
}

fn usage_of(command: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|c| c.name == command)
        .map_or("/help", |c| c.about)
}

fn no_such(id: BountyId) -> Reply {
    Reply::new(vec![format!(
        "There is no bounty #{id} in this chat. Send /bounty for the list."
    )])
}

/// One line of text as a reply.
fn say(text: impl Into<String>) -> Result<Reply, StoreError> {
    Ok(Reply::new(vec![text.into()]))
}

/// Dispatches `cmd` to its function.
fn run(t: &Turn<'_, '_>, cmd: Command) -> Result<Reply, StoreError> {
    match cmd {
        Command::List { filter, page } => list(t, filter, page),
        Command::Show(id) => show(t, id),
        Command::Claim(id) => claim(t, id),
        Command::Unclaim(id) => unclaim(t, id),
        Command::Done(id) => finish(t, id, Status::Done),
        Command::Reopen(id) => finish(t, id, Status::Open),
        Command::Add { text, link, due } => add(t, text, link, due),
        Command::Edit { id, changes } => edit(t, id, changes),
        Command::Delete(id) => delete(t, id),
        Command::Track(id) => track(t, id),
        Command::Untrack(id) => untrack(t, id),
        Command::My { page } => my(t, page),
        Command::Start => start(t),
        Command::Help => say(help_text()),
        Command::Settings => Ok(settings_reply(&t.store.settings(t.chat())?, t.ctx)),
        Command::TimeZone(zone) => time_zone(t, zone),
        Command::Remind(at) => remind(t, at),
    }
}

/// `/bounty [filter] [page]`: the chat's bounties, a page at a time.
fn list(t: &Turn<'_, '_>, filter: Filter, page: usize) -> Result<Reply, StoreError> {
    let (chat, today) = (t.chat(), t.today);
    let all = t.store.list(chat)?;
    if all.is_empty() {
        return say("No bounties yet. Add one with /add &lt;text&gt; [link] [due].");
    }
    let mut list: Vec<Bounty> = all
        .into_iter()
        .filter(|b| shown_by(filter, b, today))
        .collect();
    if list.is_empty() {
        return say(match filter {
            Filter::Open => "No open bounties. /bounty all shows every one.",
            Filter::Done => "No bounties are done yet.",
            Filter::All => "No bounties yet.",
            Filter::Overdue => "Nothing is overdue.",
        });
    }
    let title = match (filter, chat.is_group()) {
        (Filter::Open, true) => "Bounties in this group",
        (Filter::Open, false) => "Your bounties",
        (Filter::Done, true) => "Done bounties in this group",
        (Filter::Done, false) => "Your done bounties",
        (Filter::All, true) => "All bounties in this group",
        (Filter::All, false) => "All your bounties",
        (Filter::Overdue, true) => "Overdue bounties in this group",
        (Filter::Overdue, false) => "Your overdue bounties",
    };
    let command = match filter {
        Filter::Open => "bounty".to_string(),
        f => format!("bounty {}", f.word()),
    };
    let names = names(t.store, t.ctx);
    let buttons = page_buttons(Listing::Bounties(filter), &mut list, page);
    Ok(
        match list_page(title, &command, list, page, today, &names) {
            Page::Shown(message) => Reply {
                messages: vec![message],
                buttons,
            },
            Page::PastTheEnd(pages) => past_the_end(pages, "bounties", &command),
        },
    )
}

/// The buttons under page `page` of `listing` showing `bounties` (sorted here as
/// [`list_page`] shows them): one opening each bounty on the page, and the page turns
/// there are. None past the end.
fn page_buttons(listing: Listing, bounties: &mut [Bounty], page: usize) -> Keyboard {
    sort_for_display(bounties);
    let pages = bounties.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.max(1);
    let shown: Vec<BountyId> = bounties
        .iter()
        .skip((page - 1).saturating_mul(PAGE_SIZE))
        .take(PAGE_SIZE)
        .map(|b| b.id)
        .collect();
    listing_buttons(listing, page, pages, &shown)
}

/// `/bounty #id`: one bounty in full, with who tracks it.
fn show(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    let Some(b) = t.store.get(t.chat(), id)? else {
        return Ok(no_such(id));
    };
    say(view_of(t, &b))
}

/// Bounty `b` in full, with the names of who made, claims and tracks it (what `/show`
/// says). Names and trackers only decorate: a failure to read them is logged.
pub(super) fn view_of(t: &Turn<'_, '_>, b: &Bounty) -> String {
    let names = names(t.store, t.ctx);
    let trackers = t
        .store
        .trackers(t.chat(), b.id)
        .inspect_err(|e| warn_decoration(t.ctx, e, "trackers"))
        .ok();
    full_view(b, t.today, &names, trackers.as_deref())
}

/// `/add`: a new bounty, the sender its creator; one store write.
fn add(
    t: &Turn<'_, '_>,
    text: BountyText,
    link: Option<String>,
    due: Option<DueDate>,
) -> Result<Reply, StoreError> {
    let new = NewBounty {
        created_by_user_id: t.ctx.user,
        text: text.into_string(),
        link,
        due_date_ts: due.map(DueDate::timestamp),
        created_at: t.ctx.now.as_second(),
    };
    let b = t.store.add(t.chat(), new, &t.write())?;
    say(confirmation("Added", &b, t.today))
}

/// `/edit`: the creator changes text, link or due date.
fn edit(t: &Turn<'_, '_>, id: BountyId, changes: Changes) -> Result<Reply, StoreError> {
    let Some(b) = t.store.get(t.chat(), id)? else {
        return Ok(no_such(id));
    };
    // The creator never changes and ids are never reused, so this check stays true for
    // the update below.
    if b.created_by_user_id != t.ctx.user {
        return say(format!("Only the creator of #{id} can edit it."));
    }
    let patch = BountyPatch {
        text: changes.text.map(BountyText::into_string),
        link: changes.link,
        due_date_ts: changes.due.map(|d| d.map(DueDate::timestamp)),
        ..BountyPatch::default()
    };
    // Applied by the store in one unit of work, so a concurrent edit of another field is
    // kept; `None` means the bounty was deleted meanwhile.
    let Some(b) = t.store.update(t.chat(), id, &patch, &t.write())? else {
        return Ok(no_such(id));
    };
    say(confirmation("Updated", &b, t.today))
}

/// `/delete`: the creator, or a group administrator.
fn delete(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    let Some(b) = t.store.get(t.chat(), id)? else {
        return Ok(no_such(id));
    };
    if b.created_by_user_id != t.ctx.user && !group_admin(t.ctx) {
        return say(format!(
            "Only the creator of #{id} (or a group administrator) can delete it."
        ));
    }
    if !t.store.delete(t.chat(), id, &t.write())? {
        return Ok(no_such(id));
    }
    say(format!("Deleted bounty #{id}."))
}

/// `/track`: bookmarks a bounty of the chat for the sender.
fn track(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    if t.store.get(t.chat(), id)?.is_none() {
        return Ok(no_such(id));
    }
    if t.store.track(t.chat(), t.ctx.user, id, &t.write())? {
        say(format!("Tracking #{id}. See your list with /my."))
    } else {
        say(format!("You already track #{id}."))
    }
}

/// `/untrack`: removes the sender's bookmark.
fn untrack(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    if t.store.untrack(t.chat(), t.ctx.user, id, &t.write())? {
        say(format!("Stopped tracking #{id}."))
    } else {
        say(format!("You were not tracking #{id}."))
    }
}

/// `/my`: the bounties the sender tracks.
fn my(t: &Turn<'_, '_>, page: usize) -> Result<Reply, StoreError> {
    let tracked = t.store.tracked(t.chat(), t.ctx.user)?;
    let mut mine: Vec<Bounty> = t
        .store
        .list(t.chat())?
        .into_iter()
        .filter(|b| tracked.contains(&b.id))
        .collect();
    if mine.is_empty() {
        return say("You track no bounties here. Use /track &lt;id&gt; to bookmark one.");
    }
    let names = names(t.store, t.ctx);
    let buttons = page_buttons(Listing::Tracked, &mut mine, page);
    Ok(
        match list_page("Your tracked bounties", "my", mine, page, t.today, &names) {
            Page::Shown(message) => Reply {
                messages: vec![message],
                buttons,
            },
            Page::PastTheEnd(pages) => past_the_end(pages, "your tracked bounties", "my"),
        },
    )
}

/// `/start`: creates the sender's files in the chat.
fn start(t: &Turn<'_, '_>) -> Result<Reply, StoreError> {
    t.store.ensure_user(t.chat(), t.ctx.user)?;
    say(format!(
        "Hi! I keep track of bounties {}. Send /help to see how.",
        if t.chat().is_group() {
            "for this group"
        } else {
            "for you"
        }
    ))
}

/// `/timezone`: a group's administrators, or a private chat's owner.
fn time_zone(t: &Turn<'_, '_>, zone: ZoneName) -> Result<Reply, StoreError> {
    if let Some(refusal) = settings_refusal(t.ctx) {
        return Ok(refusal);
    }
    let patch = SettingsPatch {
        time_zone: Some(Some(zone)),
        ..SettingsPatch::default()
    };
    let s = t.store.update_settings(t.chat(), &patch, &t.write())?;
    let zone = s.zone();
    let local = t.ctx.now.to_zoned(zone.time_zone());
    say(format!(
        "Time zone set to <b>{}</b> (it is {} there now).{}",
        escape(zone.as_str()),
        local.strftime("%Y-%m-%d %H:%M"),
        s.remind_at.map_or(String::new(), |t| format!(
            " The daily digest comes at {t} there."
        ))
    ))
}

/// `/remind`: turns the daily digest on (at a local time) or off.
fn remind(t: &Turn<'_, '_>, at: Option<ReminderTime>) -> Result<Reply, StoreError> {
    if let Some(refusal) = settings_refusal(t.ctx) {
        return Ok(refusal);
    }
    let patch = SettingsPatch {
        remind_at: Some(at),
        ..SettingsPatch::default()
    };
    let s = t.store.update_settings(t.chat(), &patch, &t.write())?;
    say(match s.remind_at {
        Some(t) => format!(
            "Daily digest at <b>{t}</b> ({}): open bounties overdue, due today and \
             due tomorrow. /remind off turns it off.",
            escape(s.zone().as_str())
        ),
        None => "Daily digest off. /remind 09:00 turns it on.".to_string(),
    })
}

/// Who may change a chat's settings: in a group its administrators, in a private
/// chat its owner. `None` when the sender may; otherwise the answer.
fn settings_refusal(ctx: &Context<'_>) -> Option<Reply> {
    if ctx.chat.is_group() {
        (!group_admin(ctx)).then(|| {
            Reply::new(vec![
                "Only a group administrator can change this chat's settings. /settings shows them."
                    .to_string(),
            ])
        })
    } else {
        (ctx.user.get() != ctx.chat.get()).then(|| {
            Reply::new(vec![
                "Only this chat's owner can change its settings.".to_string(),
            ])
        })
    }
}

/// `/settings`: the time zone and the reminder, and how to change them.
fn settings_reply(s: &ChatSettings, ctx: &Context<'_>) -> Reply {
    let zone = match &s.time_zone {
        Some(z) => format!("<b>{}</b>", escape(z.as_str())),
        None => "<b>UTC</b> (the default)".to_string(),
    };
    let remind = match s.remind_at {
        Some(t) => format!("at <b>{t}</b> local time"),
        None => "<b>off</b>".to_string(),
    };
    let who = if ctx.chat.is_group() {
        "group administrators"
    } else {
        "you"
    };
    Reply::new(vec![format!(
        "<b>Settings</b>\nTime zone: {zone}\nDaily digest: {remind}\n\n\
         To change them ({who}): /timezone Europe/Berlin, /remind 09:00, /remind off"
    )])
}

/// Whether `/bounty` with `filter` lists `b`.
fn shown_by(filter: Filter, b: &Bounty, today: jiff::civil::Date) -> bool {
    match filter {
        Filter::Open => b.status == Status::Open,
        Filter::Done => b.status == Status::Done,
        Filter::All => true,
        Filter::Overdue => {
            b.status == Status::Open && b.due_date_ts.is_some_and(|ts| ts_to_date(ts) < today)
        }
    }
}

/// The chat's remembered names. They only decorate a reply, so a failure to read them
/// (a damaged member file) is logged and the reply shows ids instead.
fn names(store: &dyn BountyStore, ctx: &Context<'_>) -> Names {
    store
        .names(ctx.chat)
        .inspect_err(|e| warn_decoration(ctx, e, "names"))
        .map(Names::new)
        .unwrap_or_default()
}

fn warn_decoration(ctx: &Context<'_>, e: &StoreError, what: &str) {
    tracing::warn!(chat = %ctx.chat, error = %Chain(e), "cannot read the chat's {what}; replying without them");
}

/// `user`'s name as a reply shows it (escaped).
fn name_in(store: &dyn BountyStore, ctx: &Context<'_>, user: UserId) -> String {
    escape(&names(store, ctx).of(user))
}

/// Whether the sender administers the group (never in a private chat).
fn group_admin(ctx: &Context<'_>) -> bool {
    ctx.chat.is_group() && ctx.admin
}

/// `/claim`: anyone, when nobody else holds the bounty and it is open. The store sets
/// the claimer only if the bounty is still unclaimed, so of two claims at once one
/// wins and the other is told who did.
fn claim(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    let (store, ctx, chat) = (t.store, t.ctx, t.chat());
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    if b.status == Status::Done {
        return Ok(Reply::new(vec![format!(
            "#{id} is done already. /reopen {id} first if there is more to do."
        )]));
    }
    let taken = |holder: UserId| -> Result<Reply, StoreError> {
        Ok(Reply::new(vec![format!(
            "#{id} is claimed by {} already. They can /unclaim {id} (or a group administrator can).",
            name_in(store, ctx, holder)
        )]))
    };
    match b.claimed_by_user_id {
        Some(holder) if holder == ctx.user => {
            return Ok(Reply::new(vec![format!("You claim #{id} already.")]));
        }
        Some(holder) => return taken(holder),
        None => {}
    }
    let patch = BountyPatch {
        claimed_by_user_id: Some(Some(ctx.user)),
        if_claimed_by: Some(None),
        if_status: Some(Status::Open),
        ..BountyPatch::default()
    };
    let Some(b) = store.update(chat, id, &patch, &t.write())? else {
        return Ok(no_such(id));
    };
    if b.status == Status::Done {
        // Marked done between the check above and the claim: nothing was claimed.
        return Ok(Reply::new(vec![format!(
            "#{id} is done already. /reopen {id} first if there is more to do."
        )]));
    }
    match b.claimed_by_user_id {
        Some(holder) if holder == ctx.user => Ok(Reply::new(vec![format!(
            "You claimed #{id}: {}. /done {id} when it is finished.",
            escape(&b.text)
        )])),
        Some(holder) => taken(holder),
        None => Ok(no_such(id)),
    }
}

/// `/unclaim`: the claimer, or a group administrator.
fn unclaim(t: &Turn<'_, '_>, id: BountyId) -> Result<Reply, StoreError> {
    let (store, ctx, chat) = (t.store, t.ctx, t.chat());
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    let Some(holder) = b.claimed_by_user_id else {
        return Ok(Reply::new(vec![format!("Nobody claims #{id}.")]));
    };
    if holder != ctx.user && !group_admin(ctx) {
        return Ok(Reply::new(vec![format!(
            "Only {}, who claims #{id} (or a group administrator), can unclaim it.",
            name_in(store, ctx, holder)
        )]));
    }
    // Only if the claim is still the one checked: a claim made meanwhile is not undone.
    let patch = BountyPatch {
        claimed_by_user_id: Some(None),
        if_claimed_by: Some(Some(holder)),
        ..BountyPatch::default()
    };
    match store.update(chat, id, &patch, &t.write())? {
        None => Ok(no_such(id)),
        Some(b) if b.claimed_by_user_id.is_none() => {
            let whose = if holder == ctx.user {
                "your claim".to_string()
            } else {
                format!("{}'s claim", name_in(store, ctx, holder))
            };
            Ok(Reply::new(vec![format!(
                "Released {whose} on #{id}; anyone can /claim {id} now."
            )]))
        }
        Some(_) => Ok(Reply::new(vec![format!(
            "#{id} changed meanwhile; see /bounty #{id}."
        )])),
    }
}

/// `/done` (to [`Status::Done`]) and `/reopen` (to [`Status::Open`]): the creator,
/// the claimer, or a group administrator. When only the claim allows it, the store
/// changes the status only if the claim still holds.
fn finish(t: &Turn<'_, '_>, id: BountyId, to: Status) -> Result<Reply, StoreError> {
    let (store, ctx, chat) = (t.store, t.ctx, t.chat());
    let verb = if to == Status::Done {
        "finish"
    } else {
        "reopen"
    };
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    if b.status == to {
        return Ok(Reply::new(vec![if to == Status::Done {
            format!("#{id} is done already.")
        } else {
            format!("#{id} is open already.")
        }]));
    }
    let creator = b.created_by_user_id == ctx.user;
    let claimer = b.claimed_by_user_id == Some(ctx.user);
    if !creator && !claimer && !group_admin(ctx) {
        return Ok(Reply::new(vec![format!(
            "Only the creator of #{id}, its claimer or a group administrator can {verb} it."
        )]));
    }
    let at = (to == Status::Done).then(|| ctx.now.as_second());
    let patch = BountyPatch {
        status: Some((to, at)),
        if_claimed_by: (!creator && !group_admin(ctx)).then_some(Some(ctx.user)),
        ..BountyPatch::default()
    };
    match store.update(chat, id, &patch, &t.write())? {
        None => Ok(no_such(id)),
        Some(b) if b.status == to && to == Status::Done => Ok(Reply::new(vec![format!(
            "Done: bounty <b>#{id}</b>: {}. /reopen {id} if it is not.",
            escape(&b.text)
        )])),
        Some(b) if b.status == to => Ok(Reply::new(vec![format!(
            "Reopened bounty <b>#{id}</b>: {}.",
            escape(&b.text)
        )])),
        Some(_) => Ok(Reply::new(vec![format!(
            "#{id} changed meanwhile; see /bounty #{id}."
        )])),
    }
}

/// Usage of every command, with examples.
pub fn help_text() -> String {
    let mut s = String::from("<b>Bounty bot</b>\n");
    for c in COMMANDS {
        s.push_str(&format!("/{}: {}\n", c.name, escape(c.about)));
    }
    s.push_str(
        "\n<b>Examples</b>\n\
         /add Fix the login bug https://example.org/issues/1 +3d\n\
         /add Write the release notes 2026-12-01\n\
         /add Read https://example.org/spec and comment friday\n\
         /edit 2 text=Write better notes due=tomorrow\n\
         /edit 2 link=- due=-\n\
         /track 2\n\
         /claim 2\n\
         /done 2\n\
         /bounty done\n\
         /bounty all 2\n\
         /bounty #2\n\n\
         Due dates: YYYY-MM-DD (2000-01-01 to 2200-12-31), today, tomorrow, +3d (days), \
         +2w (weeks), or a weekday (friday: the next Friday). A link after the text is \
         the bounty's link; links inside the text stay there (the first one is the link). \
         Only a bounty's creator can edit it; its creator or a group administrator can \
         delete it. Anyone can claim an open bounty nobody else claims; the claimer or a \
         group administrator can unclaim it; its creator, its claimer or a group \
         administrator can mark it done or reopen it. /bounty lists open bounties; \
         /bounty done, /bounty all and /bounty overdue filter; /bounty #5 (with #) or \
         /show 5 shows bounty 5 in full. /timezone takes an IANA name (Europe/Berlin, \
         America/New_York, UTC; UTC is the default); /remind HH:MM sets the daily \
         digest's local time (off by default); in a group only administrators change \
         them.",
    );
    s.push_str(&format!(
        " Lists show {PAGE_SIZE} bounties a page: /bounty 2 shows the next."
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatMove, DigestClaim, DigestRecord, date_to_ts};
    use crate::store::json::JsonStore;
    use crate::store::{Bounties, ChatData, ChatSettingsStore, Ledger, Portable, ReminderChat};
    use jiff::civil::Date as Day;

    const GROUP: ChatId = ChatId::new(-100_123);
    const OTHER_GROUP: ChatId = ChatId::new(-100_999);
    const ANN: UserId = UserId::new(11);
    const BOB: UserId = UserId::new(22);

    struct Bot {
        _dir: tempfile::TempDir,
        store: JsonStore,
    }

    impl Bot {
        fn new() -> Bot {
            let dir = tempfile::tempdir().unwrap();
            let store = JsonStore::new(dir.path());
            Bot { _dir: dir, store }
        }

        fn say(&self, chat: ChatId, user: UserId, text: &str) -> String {
            self.try_say(chat, user, text)
                .unwrap_or_else(|| panic!("no reply to {text:?}"))
        }

        fn try_say(&self, chat: ChatId, user: UserId, text: &str) -> Option<String> {
            let ctx = Context {
                chat,
                user,
                now: "2026-11-23T12:00:00Z".parse().unwrap(),
                bot_username: "BountyBot",
                update: None,
                admin: false,
                name: None,
            };
            handle(&self.store, &ctx, text).map(|r| r.messages.join("\n---\n"))
        }
    }

    impl Bot {
        fn ctx(chat: ChatId, user: UserId) -> Context<'static> {
            Context {
                chat,
                user,
                now: "2026-11-23T12:00:00Z".parse().unwrap(),
                bot_username: "BountyBot",
                update: None,
                admin: false,
                name: None,
            }
        }

        /// The reply's text and the labels of its buttons.
        fn with_buttons(&self, chat: ChatId, user: UserId, text: &str) -> (String, Vec<String>) {
            let r = handle(&self.store, &Bot::ctx(chat, user), text).unwrap();
            (r.messages.join("\n"), labels(&r))
        }
    }

    fn labels(r: &Reply) -> Vec<String> {
        r.buttons
            .iter()
            .flatten()
            .map(|b| b.label.to_string())
            .collect()
    }

    #[test]
    fn a_bounty_and_each_action_on_it_carry_the_buttons_its_state_allows() {
        let bot = Bot::new();
        let (_, added) = bot.with_buttons(GROUP, ANN, "/add Fix the bug");
        assert!(added.is_empty(), "{added:?}");
        let steps: [(UserId, &str, [&str; 4]); 7] = [
            (ANN, "/show 1", ["Claim", "Done", "Track", "Delete"]),
            (BOB, "/claim 1", ["Unclaim", "Done", "Track", "Delete"]),
            (BOB, "/track 1", ["Unclaim", "Done", "Untrack", "Delete"]),
            (BOB, "/done 1", ["Unclaim", "Reopen", "Untrack", "Delete"]),
            (ANN, "/reopen 1", ["Unclaim", "Done", "Track", "Delete"]),
            (BOB, "/unclaim 1", ["Claim", "Done", "Untrack", "Delete"]),
            (BOB, "/untrack 1", ["Claim", "Done", "Track", "Delete"]),
        ];
        for (user, text, want) in steps {
            let (reply, got) = bot.with_buttons(GROUP, user, text);
            assert_eq!(got, want, "{text}: {reply}");
        }
        let (_, done) = bot.with_buttons(GROUP, ANN, "/done 1");
        assert_eq!(done, ["Reopen", "Track", "Delete"], "done and unclaimed");
        // A refusal shows the bounty's buttons as it is; a bounty that is gone has none.
        let (reply, refused) = bot.with_buttons(GROUP, BOB, "/reopen 1");
        assert!(reply.starts_with("Only the creator"), "{reply}");
        assert_eq!(refused, ["Reopen", "Track", "Delete"]);
        for text in ["/show 9", "/claim 9", "/bounty", "/delete 1", "/show 1"] {
            let (reply, none) = bot.with_buttons(GROUP, ANN, text);
            assert!(none.is_empty(), "{text}: {reply} {none:?}");
        }
    }

    fn private(u: UserId) -> ChatId {
        ChatId::new(u.get())
    }

    #[test]
    fn add_and_list_in_a_group_and_in_private() {
        let bot = Bot::new();
        for chat in [GROUP, private(ANN)] {
            assert_eq!(
                bot.say(chat, ANN, "/add First one"),
                "Added bounty <b>#1</b>: First one"
            );
            assert_eq!(
                bot.say(chat, ANN, "/add Second https://x.org +2d"),
                "Added bounty <b>#2</b>: Second\n\
                 Link: <a href=\"https://x.org\">https://x.org</a>\n\
                 Due: 2026-11-25 (due in 2 days)"
            );
            let list = bot.say(chat, ANN, "/bounty");
            assert!(
                list.find("Second").unwrap() < list.find("First one").unwrap(),
                "dated first: {list}"
            );
            assert!(list.contains("due in 2 days"), "{list}");
        }
        assert!(
            bot.say(GROUP, ANN, "/bounty")
                .starts_with("<b>Bounties in this group</b>")
        );
        assert!(
            bot.say(private(ANN), ANN, "/bounty")
                .starts_with("<b>Your bounties</b>")
        );
    }

    #[test]
    fn empty_lists_say_how_to_start() {
        let bot = Bot::new();
        for chat in [GROUP, private(ANN)] {
            assert!(bot.say(chat, ANN, "/bounty").contains("No bounties yet"));
            assert!(
                bot.say(chat, ANN, "/my")
                    .contains("You track no bounties here")
            );
        }
    }

    #[test]
    fn a_group_administrator_may_delete_any_bounty_but_edit_none() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add Ann's task");
        let admin = |text: &str| {
            let ctx = Context {
                chat: GROUP,
                user: BOB,
                now: "2026-11-23T12:00:00Z".parse().unwrap(),
                bot_username: "BountyBot",
                update: None,
                admin: true,
                name: None,
            };
            handle(&bot.store, &ctx, text).unwrap().messages.join("\n")
        };
        assert!(admin("/edit 1 text=mine").contains("Only the creator of #1 can edit"));
        assert_eq!(admin("/delete 1"), "Deleted bounty #1.");
        assert!(bot.say(GROUP, ANN, "/bounty").contains("No bounties"));
    }

    #[test]
    fn only_the_creator_edits_or_deletes() {
        let bot = Bot::new();
        // In a private chat only its owner writes; locally (`repl`'s `:as`) another
        // sender can still reach it and is refused the same way.
        for chat in [GROUP, private(ANN)] {
            bot.say(chat, ANN, "/add Ann's task");
            assert_eq!(
                bot.say(chat, BOB, "/edit 1 text=mine now"),
                "Only the creator of #1 can edit it."
            );
            assert_eq!(
                bot.say(chat, BOB, "/delete 1"),
                "Only the creator of #1 (or a group administrator) can delete it."
            );
            assert!(
                bot.say(chat, ANN, "/bounty").contains("Ann's task"),
                "refused writes change nothing"
            );
            let edited = bot.say(
                chat,
                ANN,
                "/edit 1 text=Renamed due=2026-12-01 link=https://x.org/9",
            );
            assert_eq!(
                edited,
                "Updated bounty <b>#1</b>: Renamed\n\
                 Link: <a href=\"https://x.org/9\">https://x.org/9</a>\n\
                 Due: 2026-12-01 (due in 8 days)"
            );
            let positional = bot.say(chat, ANN, "/edit 1 Shorter name +1d");
            assert_eq!(
                positional,
                "Updated bounty <b>#1</b>: Shorter name\n\
                 Link: <a href=\"https://x.org/9\">https://x.org/9</a>\n\
                 Due: 2026-11-24 (due tomorrow)",
                "link kept, text and due changed"
            );
            let cleared = bot.say(chat, ANN, "/edit 1 link=- due=-");
            assert_eq!(cleared, "Updated bounty <b>#1</b>: Shorter name");
            assert_eq!(bot.say(chat, ANN, "/delete 1"), "Deleted bounty #1.");
            assert!(bot.say(chat, ANN, "/bounty").contains("No bounties yet"));
            assert!(bot.say(chat, ANN, "/delete 1").contains("no bounty #1"));
        }
    }

    #[test]
    fn missing_bounties_and_bad_input_get_reasons() {
        let bot = Bot::new();
        for chat in [GROUP, private(ANN)] {
            assert!(
                bot.say(chat, ANN, "/edit 999 text=x")
                    .contains("no bounty #999")
            );
            assert!(bot.say(chat, ANN, "/delete 999").contains("no bounty #999"));
            assert!(bot.say(chat, ANN, "/track 999").contains("no bounty #999"));
            assert!(
                bot.say(chat, ANN, "/delete abc")
                    .contains("not a bounty number")
            );
            assert!(bot.say(chat, ANN, "/add").contains("what is the bounty"));
            assert_eq!(
                bot.say(chat, ANN, "/track abc"),
                "⚠️ &quot;abc&quot; is not a bounty number\nUsage: bookmark a bounty: /track &lt;id&gt;"
            );
            assert!(bot.say(chat, ANN, "/untrack").contains("which bounty?"));
            assert!(bot.say(chat, ANN, "/edit 1").contains("nothing to change"));
            assert_eq!(
                bot.say(chat, ANN, "/my please"),
                "⚠️ &quot;please&quot; is not a page number; pages start at 1\n\
                 Usage: your bookmarked bounties here: /my [page]"
            );
            assert!(bot.say(chat, ANN, "/bounty 3").contains("No bounties yet"));
            assert!(
                bot.say(chat, ANN, "/bounty three")
                    .contains("not a page number")
            );
            assert!(
                bot.say(chat, ANN, "/add Thing 01/12/2026")
                    .contains("not a date")
            );
            assert!(
                bot.say(chat, ANN, &format!("/add {}", "y".repeat(1001)))
                    .contains("limit is 1000")
            );
        }
    }

    #[test]
    fn ids_are_never_reused_after_a_delete() {
        let bot = Bot::new();
        for chat in [GROUP, private(ANN)] {
            bot.say(chat, ANN, "/add a");
            bot.say(chat, ANN, "/add b");
            bot.say(chat, ANN, "/delete 2");
            assert_eq!(bot.say(chat, ANN, "/add c"), "Added bounty <b>#3</b>: c");
        }
    }

    #[test]
    fn track_untrack_and_my() {
        let bot = Bot::new();
        for chat in [GROUP, private(ANN)] {
            bot.say(chat, ANN, "/add one");
            bot.say(chat, ANN, "/add two");
            assert!(bot.say(chat, ANN, "/track 2").starts_with("Tracking #2"));
            assert_eq!(bot.say(chat, ANN, "/track 2"), "You already track #2.");
            let my = bot.say(chat, ANN, "/my");
            assert!(my.contains("two") && !my.contains("one"), "{my}");
            assert_eq!(bot.say(chat, ANN, "/untrack 2"), "Stopped tracking #2.");
            assert_eq!(
                bot.say(chat, ANN, "/untrack 2"),
                "You were not tracking #2."
            );
        }
        // In a group, bookmarks are per user.
        bot.say(GROUP, ANN, "/track 1");
        assert!(bot.say(GROUP, BOB, "/my").contains("You track no bounties"));
    }

    #[test]
    fn groups_cannot_see_or_track_each_others_bounties() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add secret plan");
        assert!(
            bot.say(OTHER_GROUP, ANN, "/bounty")
                .contains("No bounties yet")
        );
        assert!(
            bot.say(OTHER_GROUP, ANN, "/track 1")
                .contains("no bounty #1")
        );
        assert!(
            bot.say(OTHER_GROUP, ANN, "/edit 1 text=x")
                .contains("no bounty #1")
        );
    }

    #[test]
    fn start_creates_files_and_help_lists_every_command() {
        let bot = Bot::new();
        assert!(bot.say(GROUP, ANN, "/start").contains("for this group"));
        assert!(bot.store.chat_dir(GROUP).join("group.json").is_file());
        assert!(bot.store.chat_dir(GROUP).join("11.json").is_file());
        assert!(bot.say(private(ANN), ANN, "/start").contains("for you"));
        assert!(bot.store.chat_dir(private(ANN)).join("user.json").is_file());
        bot.say(GROUP, ANN, "/add keep me");
        bot.say(GROUP, ANN, "/start");
        assert!(
            bot.say(GROUP, ANN, "/bounty").contains("keep me"),
            "start never deletes"
        );
        let help = bot.say(GROUP, ANN, "/help");
        for c in COMMANDS {
            assert!(help.contains(&format!("/{}", c.name)), "{}", c.name);
        }
    }

    #[test]
    fn silence_for_chatter_other_bots_and_unknown_group_commands() {
        let bot = Bot::new();
        assert_eq!(bot.try_say(GROUP, ANN, "just talking"), None);
        assert_eq!(bot.try_say(GROUP, ANN, "/bounty@OtherBot"), None);
        assert_eq!(bot.try_say(GROUP, ANN, "/weather"), None);
        assert!(bot.try_say(GROUP, ANN, "/bounty@bountybot").is_some());
        assert!(bot.say(private(ANN), ANN, "/weather").contains("/help"));
    }

    /// Delegates to a store and records each call by name. Unless `raced` starts true,
    /// the first `get` lets another writer set a due date first: the interleaving of
    /// two edits from two processes, made deterministic.
    struct Spy<S> {
        inner: S,
        raced: std::sync::atomic::AtomicBool,
        calls: std::sync::Mutex<Vec<&'static str>>,
    }

    impl<S: BountyStore> Spy<S> {
        fn new(inner: S, race_an_edit: bool) -> Spy<S> {
            Spy {
                inner,
                raced: std::sync::atomic::AtomicBool::new(!race_an_edit),
                calls: std::sync::Mutex::default(),
            }
        }

        /// Records the call `name`, then lets `inner` answer it.
        fn pass<R>(&self, name: &'static str, call: impl FnOnce(&S) -> R) -> R {
            self.calls.lock().unwrap().push(name);
            call(&self.inner)
        }

        fn calls(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    type R<T> = Result<T, StoreError>;

    impl<S: BountyStore> Bounties for Spy<S> {
        fn ensure_user(&self, chat: ChatId, user: UserId) -> R<()> {
            self.pass("ensure_user", |s| s.ensure_user(chat, user))
        }
        fn add(&self, chat: ChatId, b: NewBounty, w: &Origin) -> R<Bounty> {
            self.pass("add", |s| s.add(chat, b, w))
        }
        fn get(&self, chat: ChatId, id: BountyId) -> R<Option<Bounty>> {
            let seen = self.pass("get", |s| s.get(chat, id));
            if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other = BountyPatch {
                    due_date_ts: Some(Some(date_to_ts("2026-12-24".parse().unwrap()))),
                    ..BountyPatch::default()
                };
                self.inner.update(chat, id, &other, &Origin::NONE)?;
            }
            seen
        }
        fn list(&self, chat: ChatId) -> R<Vec<Bounty>> {
            self.pass("list", |s| s.list(chat))
        }
        fn update(
            &self,
            c: ChatId,
            id: BountyId,
            p: &BountyPatch,
            w: &Origin,
        ) -> R<Option<Bounty>> {
            self.pass("update", |s| s.update(c, id, p, w))
        }
        fn delete(&self, chat: ChatId, id: BountyId, w: &Origin) -> R<bool> {
            self.pass("delete", |s| s.delete(chat, id, w))
        }
        fn track(&self, chat: ChatId, user: UserId, id: BountyId, w: &Origin) -> R<bool> {
            self.pass("track", |s| s.track(chat, user, id, w))
        }
        fn untrack(&self, chat: ChatId, user: UserId, id: BountyId, w: &Origin) -> R<bool> {
            self.pass("untrack", |s| s.untrack(chat, user, id, w))
        }
        fn tracked(&self, chat: ChatId, user: UserId) -> R<Vec<BountyId>> {
            self.pass("tracked", |s| s.tracked(chat, user))
        }
        fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> R<()> {
            self.pass("remember_name", |s| s.remember_name(chat, user, name))
        }
        fn trackers(&self, chat: ChatId, id: BountyId) -> R<Vec<UserId>> {
            self.pass("trackers", |s| s.trackers(chat, id))
        }
        fn names(&self, chat: ChatId) -> R<Vec<(UserId, String)>> {
            self.pass("names", |s| s.names(chat))
        }
    }

    impl<S: BountyStore> ChatSettingsStore for Spy<S> {
        fn settings(&self, chat: ChatId) -> R<ChatSettings> {
            self.pass("settings", |s| s.settings(chat))
        }
        fn update_settings(&self, c: ChatId, p: &SettingsPatch, w: &Origin) -> R<ChatSettings> {
            self.pass("update_settings", |s| s.update_settings(c, p, w))
        }
        fn claim_digest(&self, chat: ChatId, date: Day, now: i64) -> R<DigestClaim> {
            self.pass("claim_digest", |s| s.claim_digest(chat, date, now))
        }
        fn reclaim_digest(&self, c: ChatId, d: Day, now: i64, age: i64) -> R<DigestClaim> {
            self.pass("reclaim_digest", |s| s.reclaim_digest(c, d, now, age))
        }
        fn digest_sent(&self, chat: ChatId, date: Day, message_id: i32) -> R<bool> {
            self.pass("digest_sent", |s| s.digest_sent(chat, date, message_id))
        }
        fn digests(&self, chat: ChatId) -> R<Vec<DigestRecord>> {
            self.pass("digests", |s| s.digests(chat))
        }
        fn reminder_chats(&self) -> R<Vec<ReminderChat>> {
            self.pass("reminder_chats", |s| s.reminder_chats())
        }
    }

    impl<S: BountyStore> Ledger for Spy<S> {
        fn processed(&self, chat: ChatId, user: UserId, update: UpdateId) -> R<bool> {
            self.pass("processed", |s| s.processed(chat, user, update))
        }
        fn note(&self, chat: ChatId, w: &Origin) -> R<()> {
            self.pass("note", |s| s.note(chat, w))
        }
        fn migrate_chat(&self, from: ChatId, to: ChatId) -> R<ChatMove> {
            self.pass("migrate_chat", |s| s.migrate_chat(from, to))
        }
        fn moved_to(&self, chat: ChatId) -> R<ChatId> {
            self.pass("moved_to", |s| s.moved_to(chat))
        }
    }

    impl<S: BountyStore> Portable for Spy<S> {
        fn export(&self) -> R<Vec<ChatData>> {
            self.pass("export", |s| s.export())
        }
        fn import(&self, chats: &[ChatData]) -> R<()> {
            self.pass("import", |s| s.import(chats))
        }
    }

    /// Every JSON file under `dir` with its bytes (not the empty lock files, which are
    /// made once and never written).
    fn files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
        let mut out = std::collections::BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "json") {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    /// JSON files written under `dir` while `f` runs: each change of a file is one
    /// atomic replace, one durable write (every write records a new update id, so no
    /// write leaves a file's bytes as they were).
    fn json_writes(dir: &std::path::Path, f: impl FnOnce()) -> usize {
        let before = files(dir);
        f();
        let after = files(dir);
        after
            .iter()
            .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
            .count()
    }

    /// Commit frames in the SQLite WAL file `wal`: one per committed write transaction
    /// since the WAL last started over (the frames of the current salt).
    fn wal_commits(wal: &std::path::Path) -> usize {
        let Ok(b) = std::fs::read(wal) else {
            return 0;
        };
        let word = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
        if b.len() < 32 {
            return 0;
        }
        let (page, salt) = (word(8) as usize, &b[16..24]);
        let (mut commits, mut at) = (0, 32);
        while at + 24 + page <= b.len() && &b[at + 8..at + 16] == salt {
            // A frame's second word is the database size after a commit, 0 otherwise.
            commits += usize::from(word(at + 4) != 0);
            at += 24 + page;
        }
        commits
    }

    /// One `/add` by Ann in `chat` as the Telegram layer runs it (update `update`, her
    /// display name `name`): the reply, and the store calls made.
    fn one_add<S: BountyStore>(
        spy: &Spy<S>,
        chat: ChatId,
        update: u32,
        name: &str,
    ) -> Vec<&'static str> {
        let ctx = Context {
            chat,
            user: ANN,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: Some(UpdateId::new(update)),
            admin: false,
            name: Some(name),
        };
        match handle_update(spy, &ctx, "/add counted") {
            Outcome::Done(Some(r)) => assert!(r.messages[0].starts_with("Added"), "{r:?}"),
            other => panic!("{other:?}"),
        }
        spy.calls()
    }

    #[test]
    fn an_add_is_one_store_call_and_one_json_file_write_also_with_a_new_name() {
        let bot = Bot::new();
        let spy = Spy::new(bot.store.clone(), false);
        let dir = bot._dir.path();
        for chat in [GROUP, private(ANN)] {
            for (update, name) in [(1, "Ann"), (2, "Ann"), (3, "Ann Lee")] {
                let update = update + if chat.is_group() { 0 } else { 10 };
                let mut calls = Vec::new();
                let written = json_writes(dir, || calls = one_add(&spy, chat, update, name));
                assert_eq!(calls, ["add"], "{chat} {name}");
                assert_eq!(written, 1, "{chat} {name}: the chat's file only");
            }
            let names = bot.store.names(chat).unwrap();
            assert_eq!(names, [(ANN, "Ann Lee".to_string())], "{chat}");
            assert_eq!(bot.store.list(chat).unwrap().len(), 3);
        }
        // Delivered again: refused by the write itself, nothing written, nothing said.
        let mut calls = Vec::new();
        let ctx = Context {
            chat: GROUP,
            user: ANN,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: Some(UpdateId::new(3)),
            admin: false,
            name: Some("Ann Lee"),
        };
        let written = json_writes(dir, || {
            assert!(matches!(
                handle_update(&spy, &ctx, "/add counted"),
                Outcome::Duplicate
            ));
            calls = spy.calls();
        });
        assert_eq!((calls, written), (vec!["add"], 0));
        assert_eq!(bot.store.list(GROUP).unwrap().len(), 3);
    }

    #[test]
    fn a_command_that_reads_first_checks_its_update_once_and_is_silent_when_redelivered() {
        let bot = Bot::new();
        let spy = Spy::new(bot.store.clone(), false);
        one_add(&spy, GROUP, 1, "Ann");
        let ctx = Context {
            chat: GROUP,
            user: ANN,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: Some(UpdateId::new(2)),
            admin: false,
            name: Some("Ann"),
        };
        match handle_update(&spy, &ctx, "/delete 1") {
            Outcome::Done(Some(r)) => assert_eq!(r.messages, ["Deleted bounty #1."]),
            other => panic!("{other:?}"),
        }
        assert_eq!(spy.calls(), ["processed", "get", "delete"]);
        // Delivered again: not "there is no bounty #1", but nothing, after one look.
        assert!(matches!(
            handle_update(&spy, &ctx, "/delete 1"),
            Outcome::Duplicate
        ));
        assert_eq!(spy.calls(), ["processed"]);
    }

    #[test]
    fn a_refusal_delivered_again_after_the_state_changed_is_not_run_again() {
        let bot = Bot::new();
        let in_update = |user: UserId, update: u32| Context {
            update: Some(UpdateId::new(update)),
            ..Bot::ctx(GROUP, user)
        };
        let run = |ctx: &Context<'_>, text: &str| handle_update(&bot.store, ctx, text);
        assert!(matches!(
            run(&in_update(ANN, 1), "/add Ann's task"),
            Outcome::Done(_)
        ));
        assert!(matches!(
            run(&in_update(ANN, 2), "/claim 1"),
            Outcome::Done(_)
        ));
        // Bob may not finish what Ann claims: refused.
        match run(&in_update(BOB, 3), "/done 1") {
            Outcome::Done(Some(r)) => assert!(r.messages[0].starts_with("Only the creator")),
            other => panic!("{other:?}"),
        }
        // Ann lets go; then Telegram delivers Bob's /done again.
        assert!(matches!(
            run(&in_update(ANN, 4), "/unclaim 1"),
            Outcome::Done(_)
        ));
        assert!(matches!(
            run(&in_update(BOB, 5), "/claim 1"),
            Outcome::Done(_)
        ));
        assert!(matches!(
            run(&in_update(BOB, 3), "/done 1"),
            Outcome::Duplicate
        ));
        let b = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
        assert_eq!(b.status, Status::Open, "the refused /done stays refused");
    }

    #[test]
    fn an_add_is_one_store_call_and_one_sqlite_commit_also_with_a_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::store::sqlite::SqliteStore::path_in(dir.path());
        let spy = Spy::new(
            crate::store::sqlite::SqliteStore::open(&path).unwrap(),
            false,
        );
        let wal = dir
            .path()
            .join(format!("{}-wal", crate::store::sqlite::DB_FILE));
        for chat in [GROUP, private(ANN)] {
            for (update, name) in [(1, "Ann"), (2, "Ann"), (3, "Ann Lee")] {
                let update = update + if chat.is_group() { 0 } else { 10 };
                let before = wal_commits(&wal);
                let calls = one_add(&spy, chat, update, name);
                assert_eq!(calls, ["add"], "{chat} {name}");
                assert_eq!(wal_commits(&wal) - before, 1, "{chat} {name}: one commit");
            }
            let names = spy.inner.names(chat).unwrap();
            assert_eq!(names, [(ANN, "Ann Lee".to_string())], "{chat}");
        }
        assert!(wal_commits(&wal) >= 6, "the WAL holds the commits counted");
    }

    #[test]
    fn an_edit_keeps_a_concurrent_edit_of_another_field() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add original text");
        let racing = Spy::new(bot.store.clone(), true);
        let ctx = Context {
            chat: GROUP,
            user: ANN,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: None,
            admin: false,
            name: None,
        };
        let reply = handle(&racing, &ctx, "/edit 1 text=renamed")
            .unwrap()
            .messages
            .join("\n");
        assert!(
            reply.contains("renamed") && reply.contains("2026-12-24"),
            "{reply}"
        );
        let stored = bot.store.get(GROUP, BountyId::new(1)).unwrap().unwrap();
        assert_eq!(stored.text, "renamed");
        assert_eq!(
            stored.due_date_ts,
            Some(date_to_ts("2026-12-24".parse().unwrap())),
            "the other writer's due date survives"
        );
    }

    #[test]
    fn replies_to_huge_bad_input_stay_under_the_message_limit() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add something");
        let junk = "&".repeat(4000);
        for text in [
            format!("/edit 1 due={junk}"),
            format!("/edit 1 link={junk}"),
            format!("/edit 1 {junk} text=x"),
            format!("/edit {junk}"),
            format!("/delete {junk}"),
            format!("/add thing 1/2/{}", "3".repeat(4000)),
            format!("/add {junk}"),
            format!("/{}", "x".repeat(4000)),
        ] {
            let reply = bot.say(private(ANN), ANN, &text);
            let visible = reply.replace("&amp;", "&").replace("&quot;", "\"");
            assert!(
                visible.encode_utf16().count() < 200,
                "{}: {reply}",
                &text[..20]
            );
        }
    }

    /// Telegram's HTML mode understands only a few tags; anything else is refused.
    fn assert_telegram_html(reply: &str) {
        let mut rest = reply;
        while let Some(i) = rest.find('<') {
            let tag = &rest[i..i
                + rest[i..]
                    .find('>')
                    .unwrap_or_else(|| panic!("unclosed tag in {reply:?}"))
                + 1];
            let ok = ["<b>", "</b>", "</a>", "<i>", "</i>", "<code>", "</code>"].contains(&tag)
                || tag.starts_with("<a href=\"");
            assert!(ok, "tag {tag:?} is not Telegram HTML in {reply:?}");
            rest = &rest[i + tag.len()..];
        }
    }

    #[test]
    fn every_reply_is_valid_telegram_html() {
        let bot = Bot::new();
        let mut script = vec![
            "/help",
            "/start",
            "/bounty",
            "/my",
            "/add",
            "/add <i>x</i> & y https://x.org/?a=<b> +2d",
            "/add see https://x.org/?a=\"<b>\" & <i>y</i> friday",
            "/bounty 1",
            "/bounty 9",
            "/my 3",
            "/edit 1",
            "/edit 1 text=<new>",
            "/track 1",
            "/my",
            "/bounty",
            "/untrack 9",
            "/delete x",
            "/delete 1",
            "/frob",
        ];
        script.push("/add Fix it 2026/12/01");
        for chat in [GROUP, private(ANN)] {
            for line in &script {
                if let Some(reply) = bot.try_say(chat, ANN, line) {
                    assert_telegram_html(&reply);
                }
            }
        }
    }

    #[test]
    fn user_text_is_escaped_in_every_reply() {
        let bot = Bot::new();
        let added = bot.say(GROUP, ANN, "/add <b>bold</b> & \"quoted\"");
        assert!(
            added.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"),
            "{added}"
        );
        assert!(!bot.say(GROUP, ANN, "/bounty").contains("<b>bold"));
    }

    #[test]
    fn the_cause_chain_names_every_cause_once_and_no_server_path_reaches_the_chat() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Repeats(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Hides(#[source] std::io::Error);
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(Chain(&Repeats(io())).to_string(), "outer: disk on fire");
        assert_eq!(Chain(&Hides(io())).to_string(), "outer: disk on fire");
        assert_eq!(data_relative("-5/group.json"), "-5/group.json");
        assert_eq!(data_relative("/srv/bot/data/-5/group.json"), "group.json");
    }

    #[test]
    fn a_corrupt_chat_file_gets_a_clear_reply_is_kept_and_other_chats_work() {
        let bot = Bot::new();
        bot.say(GROUP, ANN, "/add fine");
        let file = bot.store.chat_dir(GROUP).join("group.json");
        std::fs::write(&file, "{\n  \"group_id\": -100123,\n  \"next_id\": oops\n}").unwrap();
        let before = std::fs::read(&file).unwrap();
        for cmd in ["/bounty", "/add more", "/delete 1", "/start"] {
            let reply = bot.say(GROUP, ANN, cmd);
            assert!(
                reply.contains("damaged")
                    && reply.contains("group.json")
                    && reply.contains("line 3"),
                "{cmd}: {reply}"
            );
        }
        assert_eq!(std::fs::read(&file).unwrap(), before, "never overwritten");
        assert!(bot.say(OTHER_GROUP, ANN, "/add unaffected").contains("#1"));
        assert!(bot.say(private(BOB), BOB, "/add mine").contains("#1"));
    }
}
