//! Command + store -> reply. Decides who may do what; never touches files itself.
//!
//! A storage failure is logged for the operator with its whole cause chain and the
//! chat, and the chat gets a short text without server paths or OS errors.

use jiff::Timestamp;
use statekit::error::Chain;

use super::parse::{COMMANDS, Command, Filter, Parsed, parse};
use super::render::{Names, PAGE_SIZE, Page, confirmation, escape, full_view, list_page};
use crate::domain::{BountyId, BountyText, ChatId, DueDate, UpdateId, UserId, quoted, ts_to_date};
use crate::store::{
    Bounty, BountyPatch, BountyStore, ChatSettings, NewBounty, SettingsPatch, Status, StoreError,
};

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

/// The bot's answer: one or more Telegram HTML messages, sent in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply(pub Vec<String>);

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
    }
}

/// Handles one message as [`handle`] does, telling a failure that may pass
/// ([`Outcome::Retry`]) apart from the rest.
pub fn handle_update(store: &dyn BountyStore, ctx: &Context<'_>, text: &str) -> Outcome {
    let today = ctx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    match parse(text, ctx.bot_username, today) {
        Parsed::NotACommand | Parsed::OtherBot => Outcome::Done(None),
        Parsed::Unknown(name) => {
            if ctx.chat.is_group() {
                Outcome::Done(None)
            } else {
                answered_once(
                    store,
                    ctx,
                    Reply(vec![format!(
                        "I don't know {}. Send /help for what I can do.",
                        escape(&quoted(&format!("/{name}")))
                    )]),
                )
            }
        }
        Parsed::Usage { command, reason } => answered_once(
            store,
            ctx,
            Reply(vec![format!(
                "⚠️ {}\nUsage: {}",
                escape(&reason),
                escape(usage_of(command))
            )]),
        ),
        Parsed::Command(cmd) => {
            let reads_only = cmd.reads_only();
            remember(store, ctx);
            match run(store, ctx, today, cmd) {
                Ok(reply) if reads_only => answered_once(store, ctx, reply),
                Ok(reply) => Outcome::Done(Some(reply)),
                // A redelivered update whose change is stored: nothing to do again.
                Err(StoreError::AlreadyProcessed { .. }) => Outcome::Done(None),
                Err(e) if e.is_transient() => retry(ctx, e),
                Err(e) => Outcome::Done(Some(storage_failure(ctx, &e))),
            }
        }
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

/// `reply`, which changed nothing, with its update recorded as processed, so that the
/// update delivered again is not answered again ([`BountyStore::note_processed`]).
fn answered_once(store: &dyn BountyStore, ctx: &Context<'_>, reply: Reply) -> Outcome {
    let Some(update) = ctx.update else {
        return Outcome::Done(Some(reply));
    };
    match store.note_processed(ctx.chat, update) {
        Ok(()) => Outcome::Done(Some(reply)),
        // Answered before (a redelivery that came past the first check).
        Err(StoreError::AlreadyProcessed { .. }) => Outcome::Done(None),
        Err(e) if e.is_transient() => retry(ctx, e),
        Err(e) => {
            // A damaged file: the answer still goes out (it may say so itself).
            tracing::warn!(chat = %ctx.chat, error = %Chain(&e), "cannot record an answered update");
            Outcome::Done(Some(reply))
        }
    }
}

/// Remembers the sender's name. A failure is logged and does not stop the command
/// (a damaged file is reported by the command itself).
fn remember(store: &dyn BountyStore, ctx: &Context<'_>) {
    if let Some(name) = ctx.name
        && let Err(e) = store.remember_name(ctx.chat, ctx.user, name)
    {
        tracing::warn!(chat = %ctx.chat, user = %ctx.user, error = %Chain(&e), "cannot remember a name");
    }
}

/// Logs `e` for the operator and tells the chat as little as is useful.
fn storage_failure(ctx: &Context<'_>, e: &StoreError) -> Reply {
    tracing::error!(
        chat = %ctx.chat,
        user = %ctx.user,
        error = %Chain(e),
        "a command failed in storage"
    );
    let text = match e {
        // The chat's own file: worth telling them, by its name within the data dir.
        StoreError::Corrupt {
            chat,
            file,
            line,
            column,
            ..
        } => format!(
            "⚠️ stored data of chat {chat} is damaged ({}, line {line}, column {column}); nothing was changed",
            escape(&data_relative(file))
        ),
        _ => "⚠️ Sorry, something went wrong storing that; the operator has been told.".into(),
    };
    Reply(vec![text])
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
    Reply(vec![format!(
        "There {verb} only {pages} {noun} of {what} here. The last one: /{command} {pages}"
    )])
}

fn usage_of(command: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(n, _)| *n == command)
        .map_or("/help", |(_, u)| u)
}

fn no_such(id: BountyId) -> Reply {
    Reply(vec![format!(
        "There is no bounty #{id} in this chat. Send /bounty for the list."
    )])
}

fn run(
    store: &dyn BountyStore,
    ctx: &Context<'_>,
    today: jiff::civil::Date,
    cmd: Command,
) -> Result<Reply, StoreError> {
    let chat = ctx.chat;
    Ok(match cmd {
        Command::List { filter, page } => {
            let all = store.list(chat)?;
            if all.is_empty() {
                return Ok(Reply(vec![
                    "No bounties yet. Add one with /add &lt;text&gt; [link] [due].".into(),
                ]));
            }
            let list: Vec<Bounty> = all
                .into_iter()
                .filter(|b| shown_by(filter, b, today))
                .collect();
            let none = match filter {
                Filter::Open => "No open bounties. /bounty all shows every one.",
                Filter::Done => "No bounties are done yet.",
                Filter::All => "No bounties yet.",
                Filter::Overdue => "Nothing is overdue.",
            };
            if list.is_empty() {
                return Ok(Reply(vec![none.into()]));
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
            let names = names(store, ctx);
            match list_page(title, &command, list, page, today, &names) {
                Page::Shown(message) => Reply(vec![message]),
                Page::PastTheEnd(pages) => past_the_end(pages, "bounties", &command),
            }
        }
        Command::Show(id) => {
            let Some(b) = store.get(chat, id)? else {
                return Ok(no_such(id));
            };
            let names = names(store, ctx);
            let trackers = store
                .trackers(chat, id)
                .inspect_err(|e| warn_decoration(ctx, e, "trackers"))
                .ok();
            Reply(vec![full_view(&b, today, &names, trackers.as_deref())])
        }
        Command::Claim(id) => claim(store, ctx, id)?,
        Command::Unclaim(id) => unclaim(store, ctx, id)?,
        Command::Done(id) => finish(store, ctx, id, Status::Done)?,
        Command::Reopen(id) => finish(store, ctx, id, Status::Open)?,
        Command::Add { text, link, due } => {
            let b = store.add(
                chat,
                NewBounty {
                    created_by_user_id: ctx.user,
                    text: text.into_string(),
                    link,
                    due_date_ts: due.map(DueDate::timestamp),
                    created_at: ctx.now.as_second(),
                },
                ctx.update,
            )?;
            Reply(vec![confirmation("Added", &b, today)])
        }
        Command::Edit { id, changes } => {
            let Some(b) = store.get(chat, id)? else {
                return Ok(no_such(id));
            };
            // The creator never changes and ids are never reused, so this check stays
            // true for the update below.
            if b.created_by_user_id != ctx.user {
                return Ok(Reply(vec![format!(
                    "Only the creator of #{id} can edit it."
                )]));
            }
            let patch = BountyPatch {
                text: changes.text.map(BountyText::into_string),
                link: changes.link,
                due_date_ts: changes.due.map(|d| d.map(DueDate::timestamp)),
                ..BountyPatch::default()
            };
            // Applied by the store in one unit of work, so a concurrent edit of another
            // field is kept; `None` means the bounty was deleted meanwhile.
            let Some(b) = store.update(chat, id, &patch, ctx.update)? else {
                return Ok(no_such(id));
            };
            Reply(vec![confirmation("Updated", &b, today)])
        }
        Command::Delete(id) => {
            let Some(b) = store.get(chat, id)? else {
                return Ok(no_such(id));
            };
            if b.created_by_user_id != ctx.user && !(chat.is_group() && ctx.admin) {
                return Ok(Reply(vec![format!(
                    "Only the creator of #{id} (or a group administrator) can delete it."
                )]));
            }
            if !store.delete(chat, id, ctx.update)? {
                return Ok(no_such(id));
            }
            Reply(vec![format!("Deleted bounty #{id}.")])
        }
        Command::Track(id) => {
            if store.get(chat, id)?.is_none() {
                return Ok(no_such(id));
            }
            if store.track(chat, ctx.user, id, ctx.update)? {
                Reply(vec![format!("Tracking #{id}. See your list with /my.")])
            } else {
                Reply(vec![format!("You already track #{id}.")])
            }
        }
        Command::Untrack(id) => {
            if store.untrack(chat, ctx.user, id, ctx.update)? {
                Reply(vec![format!("Stopped tracking #{id}.")])
            } else {
                Reply(vec![format!("You were not tracking #{id}.")])
            }
        }
        Command::My { page } => {
            let tracked = store.tracked(chat, ctx.user)?;
            let all = store.list(chat)?;
            let mine: Vec<Bounty> = all
                .into_iter()
                .filter(|b| tracked.contains(&b.id))
                .collect();
            if mine.is_empty() {
                Reply(vec![
                    "You track no bounties here. Use /track &lt;id&gt; to bookmark one.".into(),
                ])
            } else {
                let names = names(store, ctx);
                match list_page("Your tracked bounties", "my", mine, page, today, &names) {
                    Page::Shown(message) => Reply(vec![message]),
                    Page::PastTheEnd(pages) => past_the_end(pages, "your tracked bounties", "my"),
                }
            }
        }
        Command::Start => {
            store.ensure_user(chat, ctx.user)?;
            Reply(vec![format!(
                "Hi! I keep track of bounties {}. Send /help to see how.",
                if chat.is_group() {
                    "for this group"
                } else {
                    "for you"
                }
            )])
        }
        Command::Help => Reply(vec![help_text()]),
        Command::Settings => settings_reply(&store.settings(chat)?, ctx),
        Command::TimeZone(zone) => {
            if let Some(refusal) = settings_refusal(ctx) {
                return Ok(refusal);
            }
            let patch = SettingsPatch {
                time_zone: Some(Some(zone)),
                ..SettingsPatch::default()
            };
            let s = store.update_settings(chat, &patch, ctx.update)?;
            let zone = s.zone();
            let local = ctx.now.to_zoned(zone.time_zone());
            Reply(vec![format!(
                "Time zone set to <b>{}</b> (it is {} there now).{}",
                escape(zone.as_str()),
                local.strftime("%Y-%m-%d %H:%M"),
                s.remind_at.map_or(String::new(), |t| format!(
                    " The daily digest comes at {t} there."
                ))
            )])
        }
        Command::Remind(at) => {
            if let Some(refusal) = settings_refusal(ctx) {
                return Ok(refusal);
            }
            let patch = SettingsPatch {
                remind_at: Some(at),
                ..SettingsPatch::default()
            };
            let s = store.update_settings(chat, &patch, ctx.update)?;
            Reply(vec![match s.remind_at {
                Some(t) => format!(
                    "Daily digest at <b>{t}</b> ({}): open bounties overdue, due today and \
                     due tomorrow. /remind off turns it off.",
                    escape(s.zone().as_str())
                ),
                None => "Daily digest off. /remind 09:00 turns it on.".to_string(),
            }])
        }
    })
}

/// Who may change a chat's settings: in a group its administrators, in a private
/// chat its owner. `None` when the sender may; otherwise the answer.
fn settings_refusal(ctx: &Context<'_>) -> Option<Reply> {
    if ctx.chat.is_group() {
        (!group_admin(ctx)).then(|| {
            Reply(vec![
                "Only a group administrator can change this chat's settings. /settings shows them."
                    .to_string(),
            ])
        })
    } else {
        (ctx.user.get() != ctx.chat.get()).then(|| {
            Reply(vec![
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
    Reply(vec![format!(
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
fn claim(store: &dyn BountyStore, ctx: &Context<'_>, id: BountyId) -> Result<Reply, StoreError> {
    let chat = ctx.chat;
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    if b.status == Status::Done {
        return Ok(Reply(vec![format!(
            "#{id} is done already. /reopen {id} first if there is more to do."
        )]));
    }
    let taken = |holder: UserId| -> Result<Reply, StoreError> {
        Ok(Reply(vec![format!(
            "#{id} is claimed by {} already. They can /unclaim {id} (or a group administrator can).",
            name_in(store, ctx, holder)
        )]))
    };
    match b.claimed_by_user_id {
        Some(holder) if holder == ctx.user => {
            return Ok(Reply(vec![format!("You claim #{id} already.")]));
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
    let Some(b) = store.update(chat, id, &patch, ctx.update)? else {
        return Ok(no_such(id));
    };
    if b.status == Status::Done {
        // Marked done between the check above and the claim: nothing was claimed.
        return Ok(Reply(vec![format!(
            "#{id} is done already. /reopen {id} first if there is more to do."
        )]));
    }
    match b.claimed_by_user_id {
        Some(holder) if holder == ctx.user => Ok(Reply(vec![format!(
            "You claimed #{id}: {}. /done {id} when it is finished.",
            escape(&b.text)
        )])),
        Some(holder) => taken(holder),
        None => Ok(no_such(id)),
    }
}

/// `/unclaim`: the claimer, or a group administrator.
fn unclaim(store: &dyn BountyStore, ctx: &Context<'_>, id: BountyId) -> Result<Reply, StoreError> {
    let chat = ctx.chat;
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    let Some(holder) = b.claimed_by_user_id else {
        return Ok(Reply(vec![format!("Nobody claims #{id}.")]));
    };
    if holder != ctx.user && !group_admin(ctx) {
        return Ok(Reply(vec![format!(
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
    match store.update(chat, id, &patch, ctx.update)? {
        None => Ok(no_such(id)),
        Some(b) if b.claimed_by_user_id.is_none() => {
            let whose = if holder == ctx.user {
                "your claim".to_string()
            } else {
                format!("{}'s claim", name_in(store, ctx, holder))
            };
            Ok(Reply(vec![format!(
                "Released {whose} on #{id}; anyone can /claim {id} now."
            )]))
        }
        Some(_) => Ok(Reply(vec![format!(
            "#{id} changed meanwhile; see /bounty #{id}."
        )])),
    }
}

/// `/done` (to [`Status::Done`]) and `/reopen` (to [`Status::Open`]): the creator,
/// the claimer, or a group administrator. When only the claim allows it, the store
/// changes the status only if the claim still holds.
fn finish(
    store: &dyn BountyStore,
    ctx: &Context<'_>,
    id: BountyId,
    to: Status,
) -> Result<Reply, StoreError> {
    let chat = ctx.chat;
    let verb = if to == Status::Done {
        "finish"
    } else {
        "reopen"
    };
    let Some(b) = store.get(chat, id)? else {
        return Ok(no_such(id));
    };
    if b.status == to {
        return Ok(Reply(vec![if to == Status::Done {
            format!("#{id} is done already.")
        } else {
            format!("#{id} is open already.")
        }]));
    }
    let creator = b.created_by_user_id == ctx.user;
    let claimer = b.claimed_by_user_id == Some(ctx.user);
    if !creator && !claimer && !group_admin(ctx) {
        return Ok(Reply(vec![format!(
            "Only the creator of #{id}, its claimer or a group administrator can {verb} it."
        )]));
    }
    let at = (to == Status::Done).then(|| ctx.now.as_second());
    let patch = BountyPatch {
        status: Some((to, at)),
        if_claimed_by: (!creator && !group_admin(ctx)).then_some(Some(ctx.user)),
        ..BountyPatch::default()
    };
    match store.update(chat, id, &patch, ctx.update)? {
        None => Ok(no_such(id)),
        Some(b) if b.status == to && to == Status::Done => Ok(Reply(vec![format!(
            "Done: bounty <b>#{id}</b>: {}. /reopen {id} if it is not.",
            escape(&b.text)
        )])),
        Some(b) if b.status == to => Ok(Reply(vec![format!(
            "Reopened bounty <b>#{id}</b>: {}.",
            escape(&b.text)
        )])),
        Some(_) => Ok(Reply(vec![format!(
            "#{id} changed meanwhile; see /bounty #{id}."
        )])),
    }
}

/// Usage of every command, with examples.
pub fn help_text() -> String {
    let mut s = String::from("<b>Bounty bot</b>\n");
    for (name, what) in COMMANDS {
        s.push_str(&format!("/{name}: {}\n", escape(what)));
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
    use crate::domain::date_to_ts;
    use crate::store::json::JsonStore;

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
            handle(&self.store, &ctx, text).map(|r| r.0.join("\n---\n"))
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
            handle(&bot.store, &ctx, text).unwrap().0.join("\n")
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
        for (name, _) in COMMANDS {
            assert!(help.contains(&format!("/{name}")), "{name}");
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

    /// Delegates to a JSON store and records each call by name. Unless `raced` starts
    /// true, the first `get` lets another writer set a due date first: the
    /// interleaving of two edits from two processes, made deterministic.
    struct Spy {
        inner: JsonStore,
        raced: std::sync::atomic::AtomicBool,
        calls: std::sync::Mutex<Vec<&'static str>>,
    }

    impl Spy {
        fn new(inner: JsonStore, race_an_edit: bool) -> Spy {
            Spy {
                inner,
                raced: std::sync::atomic::AtomicBool::new(!race_an_edit),
                calls: std::sync::Mutex::default(),
            }
        }

        fn called(&self, name: &'static str) {
            self.calls.lock().unwrap().push(name);
        }

        fn calls(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    impl BountyStore for Spy {
        fn ensure_user(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
            self.called("ensure_user");
            self.inner.ensure_user(chat, user)
        }
        fn processed(
            &self,
            chat: ChatId,
            user: UserId,
            update: UpdateId,
        ) -> Result<bool, StoreError> {
            self.called("processed");
            self.inner.processed(chat, user, update)
        }
        fn add(
            &self,
            chat: ChatId,
            b: NewBounty,
            update: Option<UpdateId>,
        ) -> Result<Bounty, StoreError> {
            self.called("add");
            self.inner.add(chat, b, update)
        }
        fn get(&self, chat: ChatId, id: BountyId) -> Result<Option<Bounty>, StoreError> {
            self.called("get");
            let seen = self.inner.get(chat, id);
            if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other = BountyPatch {
                    due_date_ts: Some(Some(date_to_ts("2026-12-24".parse().unwrap()))),
                    ..BountyPatch::default()
                };
                self.inner.update(chat, id, &other, None)?;
            }
            seen
        }
        fn list(&self, chat: ChatId) -> Result<Vec<Bounty>, StoreError> {
            self.called("list");
            self.inner.list(chat)
        }
        fn update(
            &self,
            chat: ChatId,
            id: BountyId,
            patch: &BountyPatch,
            update: Option<UpdateId>,
        ) -> Result<Option<Bounty>, StoreError> {
            self.called("update");
            self.inner.update(chat, id, patch, update)
        }
        fn delete(
            &self,
            chat: ChatId,
            id: BountyId,
            update: Option<UpdateId>,
        ) -> Result<bool, StoreError> {
            self.called("delete");
            self.inner.delete(chat, id, update)
        }
        fn track(
            &self,
            chat: ChatId,
            user: UserId,
            id: BountyId,
            update: Option<UpdateId>,
        ) -> Result<bool, StoreError> {
            self.called("track");
            self.inner.track(chat, user, id, update)
        }
        fn untrack(
            &self,
            chat: ChatId,
            user: UserId,
            id: BountyId,
            update: Option<UpdateId>,
        ) -> Result<bool, StoreError> {
            self.called("untrack");
            self.inner.untrack(chat, user, id, update)
        }
        fn tracked(&self, chat: ChatId, user: UserId) -> Result<Vec<BountyId>, StoreError> {
            self.called("tracked");
            self.inner.tracked(chat, user)
        }
        fn migrate_chat(
            &self,
            from: ChatId,
            to: ChatId,
        ) -> Result<crate::store::ChatMove, StoreError> {
            self.called("migrate_chat");
            self.inner.migrate_chat(from, to)
        }
        fn moved_to(&self, chat: ChatId) -> Result<ChatId, StoreError> {
            self.called("moved_to");
            self.inner.moved_to(chat)
        }
        fn note_processed(&self, chat: ChatId, update: UpdateId) -> Result<(), StoreError> {
            self.called("note_processed");
            self.inner.note_processed(chat, update)
        }
        fn remember_name(&self, chat: ChatId, user: UserId, name: &str) -> Result<(), StoreError> {
            self.called("remember_name");
            self.inner.remember_name(chat, user, name)
        }
        fn trackers(&self, chat: ChatId, id: BountyId) -> Result<Vec<UserId>, StoreError> {
            self.called("trackers");
            self.inner.trackers(chat, id)
        }
        fn names(&self, chat: ChatId) -> Result<Vec<(UserId, String)>, StoreError> {
            self.called("names");
            self.inner.names(chat)
        }
        fn settings(&self, chat: ChatId) -> Result<crate::store::ChatSettings, StoreError> {
            self.called("settings");
            self.inner.settings(chat)
        }
        fn update_settings(
            &self,
            chat: ChatId,
            patch: &crate::store::SettingsPatch,
            update: Option<UpdateId>,
        ) -> Result<crate::store::ChatSettings, StoreError> {
            self.called("update_settings");
            self.inner.update_settings(chat, patch, update)
        }
        fn claim_digest(
            &self,
            chat: ChatId,
            date: jiff::civil::Date,
            now: i64,
        ) -> Result<crate::store::DigestClaim, StoreError> {
            self.called("claim_digest");
            self.inner.claim_digest(chat, date, now)
        }
        fn reclaim_digest(
            &self,
            chat: ChatId,
            date: jiff::civil::Date,
            now: i64,
            older_than: i64,
        ) -> Result<crate::store::DigestClaim, StoreError> {
            self.called("reclaim_digest");
            self.inner.reclaim_digest(chat, date, now, older_than)
        }
        fn digest_sent(
            &self,
            chat: ChatId,
            date: jiff::civil::Date,
            message_id: i32,
        ) -> Result<bool, StoreError> {
            self.called("digest_sent");
            self.inner.digest_sent(chat, date, message_id)
        }
        fn digests(&self, chat: ChatId) -> Result<Vec<crate::store::DigestRecord>, StoreError> {
            self.called("digests");
            self.inner.digests(chat)
        }
        fn reminder_chats(&self) -> Result<Vec<crate::store::ReminderChat>, StoreError> {
            self.called("reminder_chats");
            self.inner.reminder_chats()
        }
    }

    /// Every data file under `dir` with its bytes (not the empty lock files, which are
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

    /// One `/add` as the Telegram layer runs it (the update checked, then handled):
    /// the store calls made and the files written durably (JSON: one atomic replace
    /// each).
    fn one_add(bot: &Bot, spy: &Spy, update: u32, name: &str) -> (Vec<&'static str>, usize) {
        let before = files(bot._dir.path());
        let ctx = Context {
            chat: GROUP,
            user: ANN,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            bot_username: "BountyBot",
            update: Some(UpdateId::new(update)),
            admin: false,
            name: Some(name),
        };
        assert!(!spy.processed(GROUP, ANN, UpdateId::new(update)).unwrap());
        match handle_update(spy, &ctx, "/add counted") {
            Outcome::Done(Some(r)) => assert!(r.0[0].starts_with("Added"), "{r:?}"),
            other => panic!("{other:?}"),
        }
        let after = files(bot._dir.path());
        let written = after
            .iter()
            .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
            .count();
        (spy.calls(), written)
    }

    #[test]
    fn an_add_costs_three_store_calls_and_one_write_once_the_name_is_known() {
        let bot = Bot::new();
        let spy = Spy::new(bot.store.clone(), false);
        // A new name: remembered in the member's file, beside the chat's file.
        let (calls, written) = one_add(&bot, &spy, 1, "Ann");
        assert_eq!(calls, ["processed", "remember_name", "add"]);
        assert_eq!(written, 2, "the member file (name) and the chat file");
        // The name known: the bounty, its id and the update's record in one write.
        let (calls, written) = one_add(&bot, &spy, 2, "Ann");
        assert_eq!(calls, ["processed", "remember_name", "add"]);
        assert_eq!(written, 1, "only the chat file");
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
            .0
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
