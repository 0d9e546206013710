//! Text to [`Command`]: the only place that knows the command syntax.
//!
//! A message is a command when its first token starts with `/`. Tokens are split on
//! any whitespace, so `/add\nFix the bug` works. `/cmd@OtherBot` is not for us and is
//! ignored; `/cmd@ThisBot` (any letter case) is.
//!
//! For `/add` and positional `/edit`: a final token shaped like a date (`YYYY-MM-DD`,
//! `today`, `tomorrow`, `+3d`, `+2w`, a weekday name) is the due date; anything else
//! is text. The first link (`http://` or `https://`, brackets and punctuation around
//! it allowed) is the bounty's link. Links stay in the text where they were written,
//! except the documented `/add <text> [link] [due]` form: a single link that comes
//! after all the text is the link alone. `/edit` also takes `text=...`, `link=...`,
//! `due=...`, with `link=-` and `due=-` clearing the field. `/bounty` takes an
//! optional filter (`open`, the default, `done`, `all`, `overdue`) and an optional page
//! number (`/bounty 2`, `/bounty all 2`); `/bounty #5` (or `/show 5`) shows bounty 5 in
//! full: a number with `#` is a bounty, without it a page. `/my` takes a page number.

use jiff::civil::Date;

use crate::domain::{
    BountyId, BountyText, DateToken, DueDate, FieldError, ReminderTime, ZoneName, link_in,
    parse_due, parse_id, quoted,
};

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/bounty [open|done|all|overdue] [page]`: one page of the chat's bounties.
    List {
        /// Which bounties.
        filter: Filter,
        /// Which page, from 1.
        page: usize,
    },
    /// `/bounty #<id>` or `/show <id>`: one bounty in full.
    Show(BountyId),
    /// `/claim <id>`.
    Claim(BountyId),
    /// `/unclaim <id>`.
    Unclaim(BountyId),
    /// `/done <id>`.
    Done(BountyId),
    /// `/reopen <id>`.
    Reopen(BountyId),
    /// `/add <text> [link] [due]`.
    Add {
        /// Description.
        text: BountyText,
        /// Optional link.
        link: Option<String>,
        /// Optional due date.
        due: Option<DueDate>,
    },
    /// `/edit <id> ...`.
    Edit {
        /// Which bounty.
        id: BountyId,
        /// What to change.
        changes: Changes,
    },
    /// `/delete <id>`.
    Delete(BountyId),
    /// `/track <id>`.
    Track(BountyId),
    /// `/untrack <id>`.
    Untrack(BountyId),
    /// `/my [page]`: one page of the sender's tracked bounties.
    My {
        /// Which page, from 1.
        page: usize,
    },
    /// `/timezone <IANA name>`: the chat's time zone.
    TimeZone(ZoneName),
    /// `/remind <HH:MM>` (`Some`) or `/remind off` (`None`): the daily digest's time.
    Remind(Option<ReminderTime>),
    /// `/settings`: shows the chat's settings.
    Settings,
    /// `/start`.
    Start,
    /// `/help`.
    Help,
}

/// Which bounties `/bounty` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Filter {
    /// Not done (the default).
    #[default]
    Open,
    /// Done.
    Done,
    /// Every bounty.
    All,
    /// Open with a due date before today.
    Overdue,
}

impl Filter {
    /// The word that selects it.
    pub fn word(self) -> &'static str {
        match self {
            Filter::Open => "open",
            Filter::Done => "done",
            Filter::All => "all",
            Filter::Overdue => "overdue",
        }
    }

    fn from_word(w: &str) -> Option<Filter> {
        [Filter::Open, Filter::Done, Filter::All, Filter::Overdue]
            .into_iter()
            .find(|f| w.eq_ignore_ascii_case(f.word()))
    }
}

/// Fields an `/edit` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New description.
    pub text: Option<BountyText>,
    /// New link, or `Some(None)` to clear it.
    pub link: Option<Option<String>>,
    /// New due date, or `Some(None)` to clear it.
    pub due: Option<Option<DueDate>>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.text.is_none() && self.link.is_none() && self.due.is_none()
    }
}

/// Who may use a command in a group. In a private chat its owner may use them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Any member (the command itself may still check who created or claimed a bounty).
    Anyone,
    /// Only the group's administrators (the chat's settings).
    Admins,
}

/// One command the bot knows: its name, its one-line usage, and who may use it in a
/// group. The one table behind `/help`, usage replies and Telegram's command menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The name, without `/` (1-32 lowercase letters, digits or `_`, as Telegram wants).
    pub name: &'static str,
    /// What it does and how to call it (1-256 characters).
    pub about: &'static str,
    /// Who may use it in a group.
    pub in_groups: Who,
}

const fn info(name: &'static str, about: &'static str) -> CommandInfo {
    CommandInfo {
        name,
        about,
        in_groups: Who::Anyone,
    }
}

const fn admins_only(name: &'static str, about: &'static str) -> CommandInfo {
    CommandInfo {
        name,
        about,
        in_groups: Who::Admins,
    }
}

/// The commands the bot knows, for `/help` and the command menu (`setMyCommands`).
pub const COMMANDS: [CommandInfo; 17] = [
    info(
        "bounty",
        "list bounties: /bounty [open|done|all|overdue] [page]; one in full: /bounty #<id>",
    ),
    info("show", "one bounty in full: /show <id>"),
    info("add", "add a bounty: /add <text> [link] [due]"),
    info("edit", "change your bounty: /edit <id> [text] [link] [due]"),
    info("claim", "say you work on a bounty: /claim <id>"),
    info("unclaim", "give a claimed bounty back: /unclaim <id>"),
    info("done", "mark a bounty done: /done <id>"),
    info("reopen", "open a done bounty again: /reopen <id>"),
    info("delete", "delete your bounty: /delete <id>"),
    info("track", "bookmark a bounty: /track <id>"),
    info("untrack", "remove a bookmark: /untrack <id>"),
    info("my", "your bookmarked bounties here: /my [page]"),
    admins_only(
        "timezone",
        "set the chat's time zone: /timezone Europe/Berlin",
    ),
    admins_only(
        "remind",
        "daily digest of due bounties: /remind 09:00 or /remind off",
    ),
    info("settings", "show the chat's time zone and reminder"),
    info("start", "say hello"),
    info("help", "how to use the bot"),
];

/// The chats a command menu is for (Telegram's `BotCommandScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuScope {
    /// Private chats with the bot: every command (the owner runs the chat).
    PrivateChats,
    /// Groups, for their members: the commands [`Who::Anyone`] may use.
    GroupChats,
    /// Groups, for their administrators: every command.
    GroupAdmins,
}

impl MenuScope {
    /// Every scope the bot sets a menu for.
    pub const ALL: [MenuScope; 3] = [
        MenuScope::PrivateChats,
        MenuScope::GroupChats,
        MenuScope::GroupAdmins,
    ];

    /// The commands its menu shows, in the table's order.
    pub fn commands(self) -> impl Iterator<Item = &'static CommandInfo> {
        COMMANDS.iter().filter(move |c| match self {
            MenuScope::PrivateChats | MenuScope::GroupAdmins => true,
            MenuScope::GroupChats => c.in_groups == Who::Anyone,
        })
    }
}

/// What a message means to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Plain text, not a command.
    NotACommand,
    /// A command addressed to another bot (`/cmd@OtherBot`).
    OtherBot,
    /// A command name the bot does not know.
    Unknown(String),
    /// A known command used wrongly: the command and the reason.
    Usage {
        /// The command name.
        command: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A valid command.
    Command(Command),
}

impl Command {
    /// Whether a group's administrator may use the command on others' bounties or on
    /// the chat's settings, so that the front end asks who administers the group.
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Command::Delete(_)
                | Command::Unclaim(_)
                | Command::Done(_)
                | Command::Reopen(_)
                | Command::TimeZone(_)
                | Command::Remind(_)
        )
    }

    /// Whether the command reads the chat before it writes, so that its update is
    /// checked first (a redelivered one is not answered again from what it changed);
    /// the others' writes refuse a processed update themselves.
    pub fn reads_first(&self) -> bool {
        matches!(
            self,
            Command::Edit { .. }
                | Command::Delete(_)
                | Command::Track(_)
                | Command::Claim(_)
                | Command::Unclaim(_)
                | Command::Done(_)
                | Command::Reopen(_)
        )
    }
}

/// Parses `text` for the bot named `bot_username`, with relative dates from `today`.
pub fn parse(text: &str, bot_username: &str, today: Date) -> Parsed {
    let text = text.trim_start();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::NotACommand;
    };
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (name, addressee) = match head.split_once('@') {
        Some((n, bot)) => (n, Some(bot)),
        None => (head, None),
    };
    if let Some(bot) = addressee
        && !bot.eq_ignore_ascii_case(bot_username)
    {
        return Parsed::OtherBot;
    }
    if name.is_empty() {
        return Parsed::NotACommand;
    }
    let name = name.to_ascii_lowercase();
    let tokens: Vec<&str> = args.split_whitespace().collect();
    let result = match name.as_str() {
        "bounty" | "bounties" | "list" => parse_list(&tokens),
        "show" => one_id("show", &tokens).map(Command::Show),
        "claim" => one_id("claim", &tokens).map(Command::Claim),
        "unclaim" => one_id("unclaim", &tokens).map(Command::Unclaim),
        "done" => one_id("done", &tokens).map(Command::Done),
        "reopen" => one_id("reopen", &tokens).map(Command::Reopen),
        "my" => page("my", &tokens).map(|page| Command::My { page }),
        "timezone" | "tz" => parse_timezone(&tokens),
        "remind" => parse_remind(&tokens),
        "settings" => Ok(Command::Settings),
        "start" => Ok(Command::Start),
        "help" => Ok(Command::Help),
        "add" => parse_add(&tokens, today),
        "edit" => parse_edit(&tokens, today),
        "delete" => one_id("delete", &tokens).map(Command::Delete),
        "track" => one_id("track", &tokens).map(Command::Track),
        "untrack" => one_id("untrack", &tokens).map(Command::Untrack),
        _ => return Parsed::Unknown(name),
    };
    match result {
        Ok(c) => Parsed::Command(c),
        Err((command, reason)) => Parsed::Usage { command, reason },
    }
}

type ParseResult = Result<Command, (&'static str, String)>;

fn page(command: &'static str, tokens: &[&str]) -> Result<usize, (&'static str, String)> {
    match tokens {
        [] => Ok(1),
        [n] => match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err((
                command,
                format!("{} is not a page number; pages start at 1", quoted(n)),
            )),
        },
        _ => Err((command, "give just one page number".to_string())),
    }
}

fn parse_list(tokens: &[&str]) -> ParseResult {
    if let [first] = tokens
        && let Some(id) = first.strip_prefix('#')
    {
        return parse_id(id)
            .map(Command::Show)
            .map_err(|e| ("bounty", e.to_string()));
    }
    let (filter, rest) = match tokens.split_first() {
        Some((w, rest)) if !w.starts_with(|c: char| c.is_ascii_digit()) => {
            match Filter::from_word(w) {
                Some(f) => (f, rest),
                None => {
                    return Err((
                        "bounty",
                        format!(
                            "{} is not a page number or a filter (open, done, all, overdue); /bounty #5 shows bounty 5",
                            quoted(w)
                        ),
                    ));
                }
            }
        }
        _ => (Filter::Open, tokens),
    };
    page("bounty", rest).map(|page| Command::List { filter, page })
}

/// An example in every time-zone reason.
const ZONE_EXAMPLE: &str =
    "Example: /timezone Europe/Berlin (names as in the IANA time-zone database: Area/City, or UTC)";

fn parse_timezone(tokens: &[&str]) -> ParseResult {
    match tokens {
        [name] => ZoneName::parse(name)
            .map(Command::TimeZone)
            .map_err(|e| ("timezone", format!("{e}. {ZONE_EXAMPLE}"))),
        [] => Err(("timezone", format!("which time zone? {ZONE_EXAMPLE}"))),
        _ => Err((
            "timezone",
            format!("give one time-zone name. {ZONE_EXAMPLE}"),
        )),
    }
}

fn parse_remind(tokens: &[&str]) -> ParseResult {
    const EXAMPLE: &str = "Example: /remind 09:00, or /remind off";
    match tokens {
        [w] if w.eq_ignore_ascii_case("off") => Ok(Command::Remind(None)),
        [t] => ReminderTime::parse(t)
            .map(|t| Command::Remind(Some(t)))
            .map_err(|e| ("remind", format!("{e}; or /remind off"))),
        [] => Err(("remind", format!("at what time? {EXAMPLE}"))),
        _ => Err(("remind", format!("give one time. {EXAMPLE}"))),
    }
}

fn one_id(command: &'static str, tokens: &[&str]) -> Result<BountyId, (&'static str, String)> {
    match tokens {
        [id] => parse_id(id.trim_start_matches('#')).map_err(|e| (command, e.to_string())),
        [] => Err((command, "which bounty? Give its number".to_string())),
        _ => Err((command, "give just one bounty number".to_string())),
    }
}

/// Splits tokens into (text, link, due) the positional way.
#[allow(clippy::type_complexity)]
fn positional(
    command: &'static str,
    tokens: &[&str],
    today: Date,
) -> Result<(String, Option<String>, Option<DueDate>), (&'static str, String)> {
    let mut tokens = tokens.to_vec();
    let mut due = None;
    if let Some(last) = tokens.last() {
        match parse_due(last, today) {
            DateToken::Date(d) => {
                due = Some(d);
                tokens.pop();
            }
            DateToken::Bad(e) => return Err((command, e.to_string())),
            DateToken::NotADate => {}
        }
    }
    let links: Vec<(usize, &str)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| link_in(t).map(|l| (i, l)))
        .collect();
    let link = links.first().map(|(_, l)| (*l).to_string());
    // `/add <text> [link] [due]`: one link after all the text is the link alone.
    if let [(i, _)] = links[..]
        && i + 1 == tokens.len()
    {
        tokens.pop();
    }
    Ok((tokens.join(" "), link, due))
}

fn parse_add(tokens: &[&str], today: Date) -> ParseResult {
    if tokens.is_empty() {
        return Err((
            "add",
            "what is the bounty? Example: /add Fix the login bug https://example.org/1 +3d".into(),
        ));
    }
    let (text, link, due) = positional("add", tokens, today)?;
    let text = BountyText::parse(&text).map_err(|e| ("add", e.to_string()))?;
    Ok(Command::Add { text, link, due })
}

fn parse_edit(tokens: &[&str], today: Date) -> ParseResult {
    let Some((id, rest)) = tokens.split_first() else {
        return Err(("edit", "which bounty? Example: /edit 3 due=+1w".into()));
    };
    let id = parse_id(id.trim_start_matches('#')).map_err(|e| ("edit", e.to_string()))?;
    let keyed = rest.iter().any(|t| key_of(t).is_some());
    let changes = if keyed {
        keyed_changes(rest, today)?
    } else {
        positional_changes(rest, today)?
    };
    if changes.is_empty() {
        return Err((
            "edit",
            "nothing to change. Example: /edit 3 text=New text link=- due=2026-12-01".into(),
        ));
    }
    Ok(Command::Edit { id, changes })
}

fn key_of(token: &str) -> Option<(&'static str, &str)> {
    for key in ["text", "link", "due"] {
        if let Some(v) = token.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            return Some((key, v));
        }
    }
    None
}

fn positional_changes(tokens: &[&str], today: Date) -> Result<Changes, (&'static str, String)> {
    let (text, link, due) = positional("edit", tokens, today)?;
    let text = if text.is_empty() {
        None
    } else {
        Some(BountyText::parse(&text).map_err(|e| ("edit", e.to_string()))?)
    };
    Ok(Changes {
        text,
        link: link.map(Some),
        due: due.map(Some),
    })
}

fn keyed_changes(tokens: &[&str], today: Date) -> Result<Changes, (&'static str, String)> {
    // Each key's value runs until the next key: `text=Fix the bug due=+1w`.
    let mut fields: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for t in tokens {
        match key_of(t) {
            Some((key, v)) => {
                if fields.iter().any(|(k, _)| *k == key) {
                    return Err(("edit", format!("{key}= given twice")));
                }
                fields.push((key, if v.is_empty() { vec![] } else { vec![v] }));
            }
            None => match fields.last_mut() {
                Some((_, words)) => words.push(t),
                None => {
                    return Err((
                        "edit",
                        format!(
                            "{} comes before any text=, link= or due=; use one style",
                            quoted(t)
                        ),
                    ));
                }
            },
        }
    }
    let mut changes = Changes::default();
    for (key, words) in fields {
        let value = words.join(" ");
        match key {
            "text" => {
                changes.text = Some(BountyText::parse(&value).map_err(|e| ("edit", e.to_string()))?)
            }
            "link" if value == "-" => changes.link = Some(None),
            "link" if words.len() == 1 && link_in(&value).is_some() => {
                changes.link = Some(link_in(&value).map(str::to_string));
            }
            "link" => {
                return Err((
                    "edit",
                    format!(
                        "{} is not a link (http:// or https://); link=- clears it",
                        quoted(&value)
                    ),
                ));
            }
            "due" if value == "-" => changes.due = Some(None),
            _ => match parse_due(&value, today) {
                DateToken::Date(d) => changes.due = Some(Some(d)),
                DateToken::Bad(e) => return Err(("edit", e.to_string())),
                DateToken::NotADate => {
                    return Err(("edit", FieldError::BadDate(value).to_string()));
                }
            },
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FIRST_DUE, LAST_DUE};
    use proptest::prelude::*;

    const BOT: &str = "BountyBot";

    fn today() -> Date {
        "2026-11-23".parse().unwrap()
    }

    fn p(s: &str) -> Parsed {
        parse(s, BOT, today())
    }

    fn cmd(s: &str) -> Command {
        match p(s) {
            Parsed::Command(c) => c,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn every_command_in_the_table_is_one_telegram_accepts_and_the_parser_knows() {
        let mut names = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(
                (1..=32).contains(&c.name.len())
                    && c.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{c:?}"
            );
            assert!((1..=256).contains(&c.about.chars().count()), "{c:?}");
            assert!(names.insert(c.name), "{} twice", c.name);
            assert!(
                !matches!(p(&format!("/{}", c.name)), Parsed::Unknown(_)),
                "{c:?}"
            );
        }
    }

    /// The table and [`Command::needs_admin`] agree: a command only administrators may
    /// use in a group is one whose front end asks who administers the group.
    #[test]
    fn the_admin_only_commands_are_the_ones_that_ask_for_an_administrator() {
        let admin_only: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| c.in_groups == Who::Admins)
            .map(|c| c.name)
            .collect();
        assert_eq!(admin_only, ["timezone", "remind"]);
        for name in admin_only {
            let example = match name {
                "timezone" => "/timezone UTC",
                "remind" => "/remind off",
                other => panic!("give /{other} an example here"),
            };
            assert!(cmd(example).needs_admin(), "{example}");
        }
    }

    #[test]
    fn members_of_a_group_see_no_admin_only_command_in_their_menu() {
        let names = |s: MenuScope| s.commands().map(|c| c.name).collect::<Vec<_>>();
        let all: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert_eq!(names(MenuScope::PrivateChats), all);
        assert_eq!(names(MenuScope::GroupAdmins), all);
        let group = names(MenuScope::GroupChats);
        assert_eq!(group.len(), all.len() - 2);
        assert!(!group.contains(&"timezone") && !group.contains(&"remind"));
        assert!(group.contains(&"delete") && group.contains(&"settings"));
    }

    fn day(d: Option<DueDate>) -> Option<String> {
        d.map(|d| d.to_string())
    }

    fn usage(s: &str) -> String {
        match p(s) {
            Parsed::Usage { reason, .. } => reason,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn add_splits_text_link_and_due() {
        let Command::Add { text, link, due } =
            cmd("/add Fix the login bug https://x.org/1 2026-12-01")
        else {
            panic!()
        };
        assert_eq!(text.as_str(), "Fix the login bug");
        assert_eq!(link.as_deref(), Some("https://x.org/1"));
        assert_eq!(day(due), Some("2026-12-01".into()));
        let Command::Add { text, link, due } = cmd("/add\nWrite docs +2w") else {
            panic!()
        };
        assert_eq!(
            (text.as_str(), link, day(due)),
            ("Write docs", None, Some("2026-12-07".into()))
        );
        let Command::Add { text, due, .. } = cmd("/add meet today at noon") else {
            panic!()
        };
        assert_eq!(
            (text.as_str(), due),
            ("meet today at noon", None),
            "only a final date token counts"
        );
    }

    #[test]
    fn links_stay_in_the_text_unless_they_come_after_it() {
        let add = |s: &str| match cmd(s) {
            Command::Add { text, link, due } => (text.into_string(), link, day(due)),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            add("/add Read https://x.org/a and comment +1d"),
            (
                "Read https://x.org/a and comment".into(),
                Some("https://x.org/a".into()),
                Some("2026-11-24".into())
            )
        );
        assert_eq!(
            add("/add Compare https://x.org/a with https://x.org/b"),
            (
                "Compare https://x.org/a with https://x.org/b".into(),
                Some("https://x.org/a".into()),
                None
            ),
            "two links: both stay, the first is the link"
        );
        assert_eq!(
            add("/add Fix the bug (https://x.org/1)"),
            ("Fix the bug".into(), Some("https://x.org/1".into()), None),
            "a single link after the text, as inline_text_links writes it"
        );
        assert_eq!(
            add("/add Release 1.2.3"),
            ("Release 1.2.3".into(), None, None)
        );
    }

    #[test]
    fn addressing_other_bots_and_this_bot() {
        assert_eq!(p("/bounty@OtherBot"), Parsed::OtherBot);
        assert_eq!(
            cmd("/bounty@bountybot"),
            Command::List {
                filter: Filter::Open,
                page: 1
            }
        );
        assert_eq!(
            cmd("/BOUNTY"),
            Command::List {
                filter: Filter::Open,
                page: 1
            }
        );
        assert_eq!(p("hello"), Parsed::NotACommand);
        assert_eq!(p("/"), Parsed::NotACommand);
        assert_eq!(p("/frobnicate"), Parsed::Unknown("frobnicate".into()));
    }

    #[test]
    fn bad_inputs_get_reasons() {
        assert!(usage("/add").contains("what is the bounty"));
        assert!(usage("/add   ").contains("what is the bounty"));
        assert!(usage("/add https://x.org").contains("description"));
        assert!(usage("/delete abc").contains("not a bounty number"));
        assert!(usage("/delete").contains("which bounty"));
        assert!(usage("/delete 1 2").contains("just one"));
        assert!(usage("/add Fix it 2026/12/01").contains("not a date"));
        assert!(usage("/add Fix it 2026-02-30").contains("not a date"));
        assert!(usage(&format!("/add {}", "x".repeat(1001))).contains("limit is 1000"));
        assert!(usage("/edit 3").contains("nothing to change"));
        assert!(usage("/edit x text=a").contains("not a bounty number"));
        assert!(usage("/edit 3 link=notalink").contains("not a link"));
        assert!(usage("/edit 3 due=soon").contains("not a date"));
        assert!(usage("/add Fix it 9999-12-31").contains("between 2000-01-01 and 2200-12-31"));
        assert!(usage("/edit 3 due=9999-12-31").contains("between 2000-01-01 and 2200-12-31"));
        assert!(usage("/my extra").contains("\"extra\" is not a page number"));
        assert!(usage("/bounty 0").contains("\"0\" is not a page number"));
        assert!(usage("/bounty 1 2").contains("just one page number"));
    }

    #[test]
    fn edit_keyed_and_positional() {
        let Command::Edit { id, changes } = cmd("/edit 3 text=New words here link=- due=+1d")
        else {
            panic!()
        };
        assert_eq!(id, BountyId::new(3));
        assert_eq!(changes.text.unwrap().as_str(), "New words here");
        assert_eq!(changes.link, Some(None));
        assert_eq!(changes.due.map(day), Some(Some("2026-11-24".into())));
        let Command::Edit { changes, .. } = cmd("/edit #4 due=-") else {
            panic!()
        };
        assert_eq!(
            (changes.text, changes.link, changes.due),
            (None, None, Some(None))
        );
        let Command::Edit { changes, .. } = cmd("/edit 4 https://x.org/2") else {
            panic!()
        };
        assert_eq!(changes.text, None);
        assert_eq!(changes.link, Some(Some("https://x.org/2".into())));
        let Command::Edit { changes, .. } = cmd("/edit 4 Better title tomorrow") else {
            panic!()
        };
        assert_eq!(changes.text.unwrap().as_str(), "Better title");
        assert_eq!(changes.due.map(day), Some(Some("2026-11-24".into())));
        let Command::Edit { changes, .. } = cmd("/edit 4 See https://x.org/3 first") else {
            panic!()
        };
        assert_eq!(
            changes.text.unwrap().as_str(),
            "See https://x.org/3 first",
            "a link inside the text stays there"
        );
        assert_eq!(changes.link, Some(Some("https://x.org/3".into())));
        let Command::Edit { changes, .. } = cmd("/edit 4 link=(https://x.org/4).") else {
            panic!()
        };
        assert_eq!(changes.link, Some(Some("https://x.org/4".into())));
    }

    #[test]
    fn id_commands() {
        assert_eq!(cmd("/delete 7"), Command::Delete(BountyId::new(7)));
        assert_eq!(cmd("/track #2"), Command::Track(BountyId::new(2)));
        assert_eq!(cmd("/untrack 2"), Command::Untrack(BountyId::new(2)));
        assert_eq!(cmd("/start whatever"), Command::Start);
        assert_eq!(cmd("/help"), Command::Help);
        assert_eq!(cmd("/my"), Command::My { page: 1 });
        assert_eq!(cmd("/my 2"), Command::My { page: 2 });
        assert_eq!(
            cmd("/bounty 3"),
            Command::List {
                filter: Filter::Open,
                page: 3
            }
        );
        assert_eq!(
            cmd("/list 4"),
            Command::List {
                filter: Filter::Open,
                page: 4
            }
        );
        assert_eq!(
            cmd("/bounty all 2"),
            Command::List {
                filter: Filter::All,
                page: 2
            }
        );
        assert_eq!(
            cmd("/bounty Overdue"),
            Command::List {
                filter: Filter::Overdue,
                page: 1
            }
        );
        assert_eq!(
            cmd("/bounty done"),
            Command::List {
                filter: Filter::Done,
                page: 1
            }
        );
        assert_eq!(cmd("/bounty #5"), Command::Show(BountyId::new(5)));
        assert_eq!(cmd("/show 5"), Command::Show(BountyId::new(5)));
        assert_eq!(cmd("/show #5"), Command::Show(BountyId::new(5)));
        assert_eq!(cmd("/claim 2"), Command::Claim(BountyId::new(2)));
        assert_eq!(cmd("/unclaim #2"), Command::Unclaim(BountyId::new(2)));
        assert_eq!(cmd("/done 3"), Command::Done(BountyId::new(3)));
        assert_eq!(cmd("/reopen 3"), Command::Reopen(BountyId::new(3)));
        for bad in [
            "/bounty #x",
            "/bounty soon",
            "/bounty all x",
            "/bounty all 2 3",
            "/claim",
            "/done 0",
        ] {
            assert!(
                matches!(parse(bad, "bountybot", today()), Parsed::Usage { .. }),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_text_never_panics(s in "\\PC{0,300}") {
            let _ = p(&s);
            let _ = p(&format!("/add {s}"));
            let _ = p(&format!("/edit {s}"));
            let _ = p(&format!("/edit 1 {s}"));
        }

        #[test]
        fn random_command_shaped_text_never_panics(
            name in "(add|edit|delete|track|untrack|bounty|my|x)",
            args in proptest::collection::vec("(text=|link=|due=|\\+[0-9]{1,12}[dwx]?|https?://[a-z./]{0,10}|[0-9-/.]{1,12}|-|\\PC{1,8})", 0..8),
            sep in "[ \\n\\t]{1,3}",
        ) {
            let _ = p(&format!("/{name}{sep}{}", args.join(&sep)));
        }

        #[test]
        fn an_accepted_due_date_is_always_in_range(
            token in "(today|tomorrow|[a-z]{3,9}day|\\+[0-9]{1,7}[dwDW]|[0-9]{4}-[0-9]{2}-[0-9]{2})",
            days in -80_000i64..80_000,
        ) {
            let today = jiff::civil::date(2026, 1, 1)
                .checked_add(jiff::Span::new().days(days))
                .unwrap();
            for text in [format!("/add thing {token}"), format!("/edit 1 due={token}")] {
                match parse(&text, BOT, today) {
                    Parsed::Command(Command::Add { due: Some(d), .. }) => {
                        prop_assert!((FIRST_DUE..=LAST_DUE).contains(&d.date()), "{d}");
                    }
                    Parsed::Command(Command::Edit { changes, .. }) => {
                        let d = changes.due.flatten().unwrap();
                        prop_assert!((FIRST_DUE..=LAST_DUE).contains(&d.date()), "{d}");
                    }
                    Parsed::Command(Command::Add { due: None, .. }) | Parsed::Usage { .. } => {}
                    other => prop_assert!(false, "{other:?}"),
                }
            }
        }

        #[test]
        fn numbers_and_versions_at_the_end_stay_text(
            word in "(v?[0-9]{1,3}(\\.[0-9]{1,3}){1,3}|[0-9]{3}-[0-9]{3}-[0-9]{4}|[0-9]{1,9}|v[0-9]{1,3})",
        ) {
            match p(&format!("/add Ship {word}")) {
                Parsed::Command(Command::Add { text, due: None, .. }) => {
                    prop_assert_eq!(text.as_str(), format!("Ship {word}"));
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn a_link_among_words_stays_where_it_was_written(
            before in proptest::collection::vec("[a-zA-Z]{1,9}x", 0..6),
            after in proptest::collection::vec("[a-zA-Z]{1,9}x", 1..6),
            path in "[a-z0-9/._-]{0,20}",
        ) {
            let link = format!("https://example.org/{path}");
            let text = [before.join(" "), link.clone(), after.join(" ")]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            match p(&format!("/add {text}")) {
                Parsed::Command(Command::Add { text: t, link: l, .. }) => {
                    prop_assert_eq!(t.as_str(), text.as_str());
                    prop_assert_eq!(l.as_deref(), link_in(&link));
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn added_text_survives_parsing(words in proptest::collection::vec("[a-zA-Z]{0,9}x", 1..20)) {
            let text = words.join(" ");
            match p(&format!("/add {text}")) {
                Parsed::Command(Command::Add { text: t, .. }) => {
                    // A final word like "today" is a due date; everything else is text.
                    prop_assert_eq!(t.as_str(), text.as_str());
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
