//! Inline buttons: what a reply offers to tap, and the `callback_data` a tap sends back.
//!
//! A button's data is a short ASCII string naming one action and the chat's bounty by
//! id: `c:12` claim, `u:12` unclaim, `d:12` done, `r:12` reopen, `t:12` track, `x:12`
//! untrack, `s:12` show, `D:12` ask before deleting, `Y:12` delete (the "sure?"
//! answered), `k:12` keep it (the "sure?" declined: the view again, in place),
//! `p:2:open` a page of `/bounty`, `m:2` a page of `/my`. Whoever taps is the actor; the data names
//! no user and no chat, so a button can only act on a bounty of the chat it was
//! tapped in, under the tapper's own rights. Data coming back from Telegram is input
//! like any typed text: [`Action::parse`] takes exactly the forms above (at most
//! [`MAX_DATA`] bytes, numbers without sign or leading zero) and refuses the rest.

use std::borrow::Cow;

use super::parse::{Command, Filter};
use crate::domain::{Bounty, BountyId, Status, parse_id};

/// Telegram's limit on a button's `callback_data`, in bytes.
pub const MAX_DATA: usize = 64;

/// Most buttons in one row (Telegram's limit on an inline keyboard's row).
pub const MAX_ROW: usize = 8;

/// The longest number [`Action::parse`] reads (a `u64` has at most 20 digits).
const MAX_DIGITS: usize = 20;

/// What a button does when tapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `c:<id>`: `/claim <id>`.
    Claim(BountyId),
    /// `u:<id>`: `/unclaim <id>`.
    Unclaim(BountyId),
    /// `d:<id>`: `/done <id>`.
    Done(BountyId),
    /// `r:<id>`: `/reopen <id>`.
    Reopen(BountyId),
    /// `t:<id>`: `/track <id>`.
    Track(BountyId),
    /// `x:<id>`: `/untrack <id>`.
    Untrack(BountyId),
    /// `s:<id>`: `/show <id>`.
    Show(BountyId),
    /// `D:<id>`: asks whether to delete, with a button that does.
    AskDelete(BountyId),
    /// `Y:<id>`: `/delete <id>` (the question answered).
    Delete(BountyId),
    /// `k:<id>`: `/show <id>` in place of the question (the question declined).
    Keep(BountyId),
    /// `p:<page>:<filter>`: `/bounty <filter> <page>`.
    Page {
        /// Which bounties.
        filter: Filter,
        /// Which page, from 1.
        page: usize,
    },
    /// `m:<page>`: `/my <page>`.
    MyPage(usize),
}

/// Why a button's data was refused. The data is not kept: it may be anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Longer than [`MAX_DATA`] bytes.
    #[error("button data is longer than {MAX_DATA} bytes")]
    TooLong,
    /// Not one of the forms the bot makes.
    #[error("button data is not of a form this bot makes")]
    Malformed,
}

impl Action {
    /// The `callback_data` that names this action.
    pub fn data(self) -> String {
        match self {
            Action::Claim(id) => format!("c:{id}"),
            Action::Unclaim(id) => format!("u:{id}"),
            Action::Done(id) => format!("d:{id}"),
            Action::Reopen(id) => format!("r:{id}"),
            Action::Track(id) => format!("t:{id}"),
            Action::Untrack(id) => format!("x:{id}"),
            Action::Show(id) => format!("s:{id}"),
            Action::AskDelete(id) => format!("D:{id}"),
            Action::Delete(id) => format!("Y:{id}"),
            Action::Keep(id) => format!("k:{id}"),
            Action::Page { filter, page } => format!("p:{page}:{}", filter.word()),
            Action::MyPage(page) => format!("m:{page}"),
        }
    }

    /// Reads `data` as the bot wrote it, strictly: nothing else is accepted.
    pub fn parse(data: &str) -> Result<Action, DataError> {
        if data.len() > MAX_DATA {
            return Err(DataError::TooLong);
        }
        let (kind, rest) = data.split_once(':').ok_or(DataError::Malformed)?;
        if kind == "p" {
            let (page, filter) = rest.split_once(':').ok_or(DataError::Malformed)?;
            let page = number(page)?
                .parse::<usize>()
                .map_err(|_| DataError::Malformed)?;
            let filter = [Filter::Open, Filter::Done, Filter::All, Filter::Overdue]
                .into_iter()
                .find(|f| f.word() == filter)
                .ok_or(DataError::Malformed)?;
            return Ok(Action::Page { filter, page });
        }
        if kind == "m" {
            let page = number(rest)?
                .parse::<usize>()
                .map_err(|_| DataError::Malformed)?;
            return Ok(Action::MyPage(page));
        }
        let id = parse_id(number(rest)?).map_err(|_| DataError::Malformed)?;
        Ok(match kind {
            "c" => Action::Claim(id),
            "u" => Action::Unclaim(id),
            "d" => Action::Done(id),
            "r" => Action::Reopen(id),
            "t" => Action::Track(id),
            "x" => Action::Untrack(id),
            "s" => Action::Show(id),
            "D" => Action::AskDelete(id),
            "Y" => Action::Delete(id),
            "k" => Action::Keep(id),
            _ => return Err(DataError::Malformed),
        })
    }

    /// The command a tap runs, the same value typing it produces; `None` for
    /// [`Action::AskDelete`], which only asks.
    pub fn command(self) -> Option<Command> {
        Some(match self {
            Action::Claim(id) => Command::Claim(id),
            Action::Unclaim(id) => Command::Unclaim(id),
            Action::Done(id) => Command::Done(id),
            Action::Reopen(id) => Command::Reopen(id),
            Action::Track(id) => Command::Track(id),
            Action::Untrack(id) => Command::Untrack(id),
            Action::Show(id) | Action::Keep(id) => Command::Show(id),
            Action::Delete(id) => Command::Delete(id),
            Action::Page { filter, page } => Command::List { filter, page },
            Action::MyPage(page) => Command::My { page },
            Action::AskDelete(_) => return None,
        })
    }

    /// Whether a group administrator may do more with this tap than its tapper could
    /// (so the front end asks who administers the group): its command's
    /// [`Command::needs_admin`], and the question before a delete, which only those
    /// who may delete are asked.
    pub fn needs_admin(self) -> bool {
        match self {
            Action::AskDelete(id) => Command::Delete(id).needs_admin(),
            other => other.command().is_some_and(|c| c.needs_admin()),
        }
    }

    /// A button doing this, labelled `label`.
    pub fn button(self, label: impl Into<Cow<'static, str>>) -> Button {
        Button {
            label: label.into(),
            action: self,
        }
    }
}

/// Digits of a positive number without sign or leading zero, at most [`MAX_DIGITS`].
fn number(s: &str) -> Result<&str, DataError> {
    let well_formed = !s.is_empty()
        && s.len() <= MAX_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0');
    if well_formed {
        Ok(s)
    } else {
        Err(DataError::Malformed)
    }
}

/// One inline button: what it says and what a tap does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What the button says.
    pub label: Cow<'static, str>,
    /// What a tap does ([`Action::data`] is its `callback_data`).
    pub action: Action,
}

/// Rows of buttons under a message; empty when there are none.
pub type Keyboard = Vec<Vec<Button>>;

/// The buttons for bounty `b`, in one row: Claim or Unclaim (none when it is done and
/// unclaimed), Done or Reopen, Track or Untrack (`tracked`: whether the one the reply is
/// for tracks it), Delete (which asks first).
pub fn bounty_buttons(b: &Bounty, tracked: bool) -> Keyboard {
    let id = b.id;
    let mut row = Vec::with_capacity(4);
    match (b.claimed_by_user_id, b.status) {
        (Some(_), _) => row.push(Action::Unclaim(id).button("Unclaim")),
        (None, Status::Open) => row.push(Action::Claim(id).button("Claim")),
        (None, Status::Done) => {}
    }
    row.push(match b.status {
        Status::Open => Action::Done(id).button("Done"),
        Status::Done => Action::Reopen(id).button("Reopen"),
    });
    row.push(if tracked {
        Action::Untrack(id).button("Untrack")
    } else {
        Action::Track(id).button("Track")
    });
    row.push(Action::AskDelete(id).button("Delete"));
    vec![row]
}

/// The buttons under "Delete #id?": one that deletes, one that shows the bounty again.
pub fn delete_question(id: BountyId) -> Keyboard {
    vec![vec![
        Action::Delete(id).button("Yes, delete"),
        Action::Keep(id).button("Keep it"),
    ]]
}

/// Which listing a page belongs to, so its page buttons turn the same listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `/bounty <filter>`.
    Bounties(Filter),
    /// `/my`.
    Tracked,
}

impl Listing {
    /// The button that shows page `page` of this listing.
    fn page(self, page: usize) -> Action {
        match self {
            Listing::Bounties(filter) => Action::Page { filter, page },
            Listing::Tracked => Action::MyPage(page),
        }
    }
}

/// The buttons under page `page` of `pages` of `listing` showing the bounties `shown`
/// (in the order listed): one `#id` button a bounty opening its view, at most
/// [`MAX_ROW`] a row, then `◀ Prev` and `Next ▶` where there is such a page. Nothing
/// for an empty page.
pub fn listing_buttons(
    listing: Listing,
    page: usize,
    pages: usize,
    shown: &[BountyId],
) -> Keyboard {
    if shown.is_empty() {
        return Keyboard::new();
    }
    let mut rows: Keyboard = shown
        .chunks(MAX_ROW)
        .map(|ids| {
            ids.iter()
                .map(|&id| Action::Show(id).button(format!("#{id}")))
                .collect()
        })
        .collect();
    let mut turn = Vec::with_capacity(2);
    if page > 1 {
        turn.push(listing.page(page - 1).button("◀ Prev"));
    }
    if page < pages {
        turn.push(listing.page(page + 1).button("Next ▶"));
    }
    if !turn.is_empty() {
        rows.push(turn);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse::{Parsed, parse};
    use crate::domain::UserId;
    use proptest::prelude::*;

    fn id(n: u64) -> BountyId {
        BountyId::try_from(n).unwrap()
    }

    fn every_action(n: u64) -> Vec<Action> {
        let i = id(n);
        let mut all = vec![
            Action::Claim(i),
            Action::Unclaim(i),
            Action::Done(i),
            Action::Reopen(i),
            Action::Track(i),
            Action::Untrack(i),
            Action::Show(i),
            Action::AskDelete(i),
            Action::Delete(i),
            Action::Keep(i),
        ];
        for filter in [Filter::Open, Filter::Done, Filter::All, Filter::Overdue] {
            all.push(Action::Page { filter, page: 1 });
            all.push(Action::Page {
                filter,
                page: usize::MAX,
            });
        }
        all.push(Action::MyPage(1));
        all.push(Action::MyPage(usize::MAX));
        all
    }

    /// The typed command each action stands for, as a person would write it.
    fn typed(a: Action) -> Option<String> {
        Some(match a {
            Action::Claim(i) => format!("/claim {i}"),
            Action::Unclaim(i) => format!("/unclaim {i}"),
            Action::Done(i) => format!("/done {i}"),
            Action::Reopen(i) => format!("/reopen {i}"),
            Action::Track(i) => format!("/track {i}"),
            Action::Untrack(i) => format!("/untrack {i}"),
            Action::Show(i) | Action::Keep(i) => format!("/show {i}"),
            Action::Delete(i) => format!("/delete {i}"),
            Action::Page { filter, page } => format!("/bounty {} {page}", filter.word()),
            Action::MyPage(page) => format!("/my {page}"),
            Action::AskDelete(_) => return None,
        })
    }

    #[test]
    fn every_button_fits_telegram_and_reads_back_as_itself() {
        for n in [1, 12, 999_999, u64::MAX] {
            for a in every_action(n) {
                let data = a.data();
                assert!(data.len() <= MAX_DATA, "{data} is too long");
                assert!(data.is_ascii(), "{data}");
                assert_eq!(Action::parse(&data), Ok(a), "{data}");
            }
        }
    }

    #[test]
    fn a_tap_runs_the_command_typing_it_would() {
        let today = jiff::civil::date(2026, 1, 1);
        for a in every_action(12) {
            match (a.command(), typed(a)) {
                (Some(cmd), Some(text)) => {
                    assert_eq!(parse(&text, "bot", today), Parsed::Command(cmd), "{text}");
                }
                (None, None) => assert_eq!(a, Action::AskDelete(id(12))),
                (cmd, text) => panic!("{a:?}: {cmd:?} vs {text:?}"),
            }
        }
    }

    #[test]
    fn the_taps_that_ask_for_an_administrator_are_the_typed_commands_that_do() {
        let admin: Vec<Action> = every_action(3)
            .into_iter()
            .filter(|a| a.needs_admin())
            .collect();
        assert_eq!(
            admin,
            [
                Action::Unclaim(id(3)),
                Action::Done(id(3)),
                Action::Reopen(id(3)),
                Action::AskDelete(id(3)),
                Action::Delete(id(3)),
            ]
        );
    }

    #[test]
    fn data_of_another_form_is_refused() {
        for bad in [
            "",
            "c",
            "c:",
            "c:0",
            "c:012",
            "c:+1",
            "c:-1",
            "c: 1",
            "c:1 ",
            "c:1:2",
            "C:1",
            "cc:1",
            "q:1",
            "c:18446744073709551616",
            "c:1x",
            "c:١",
            "p:1",
            "p:0:open",
            "p:1:Open",
            "p:1:",
            "p::open",
            "p:1:open:",
            "p:99999999999999999999999:all",
            "m:",
            "m:0",
            "m:01",
            "m:1:open",
            "m:99999999999999999999999",
            "s:12\n",
            "D:12;Y:12",
        ] {
            assert_eq!(
                Action::parse(bad),
                Err(DataError::Malformed),
                "{bad:?} was accepted"
            );
        }
        let long = format!("c:{}", "1".repeat(MAX_DATA));
        assert_eq!(Action::parse(&long), Err(DataError::TooLong));
    }

    fn bounty(status: Status, claimed: Option<i64>) -> Bounty {
        Bounty {
            id: id(7),
            created_by_user_id: UserId::new(1),
            text: "fix it".into(),
            link: None,
            due_date_ts: None,
            status,
            claimed_by_user_id: claimed.map(UserId::new),
            created_at: 0,
            done_at: None,
        }
    }

    fn labels(k: &Keyboard) -> Vec<&str> {
        k.iter().flatten().map(|b| b.label.as_ref()).collect()
    }

    #[test]
    fn a_bounty_offers_what_its_state_allows() {
        let cases = [
            (
                Status::Open,
                None,
                false,
                vec!["Claim", "Done", "Track", "Delete"],
            ),
            (
                Status::Open,
                Some(2),
                true,
                vec!["Unclaim", "Done", "Untrack", "Delete"],
            ),
            (Status::Done, None, false, vec!["Reopen", "Track", "Delete"]),
            (
                Status::Done,
                Some(2),
                true,
                vec!["Unclaim", "Reopen", "Untrack", "Delete"],
            ),
        ];
        for (status, claimed, tracked, want) in cases {
            let b = bounty(status, claimed);
            let k = bounty_buttons(&b, tracked);
            assert_eq!(labels(&k), want, "{status:?} {claimed:?} {tracked}");
            for button in k.iter().flatten() {
                let Some(cmd) = button.action.command() else {
                    assert_eq!(button.action, Action::AskDelete(b.id));
                    continue;
                };
                assert!(
                    matches!(
                        cmd,
                        Command::Claim(i) | Command::Unclaim(i) | Command::Done(i)
                            | Command::Reopen(i) | Command::Track(i) | Command::Untrack(i)
                            if i == b.id
                    ),
                    "{cmd:?}"
                );
            }
        }
    }

    #[test]
    fn the_delete_question_deletes_or_shows_the_bounty() {
        let k = delete_question(id(7));
        assert_eq!(labels(&k), ["Yes, delete", "Keep it"]);
        assert_eq!(k[0][0].action.command(), Some(Command::Delete(id(7))));
        assert_eq!(k[0][1].action.command(), Some(Command::Show(id(7))));
    }

    fn ids(range: std::ops::RangeInclusive<u64>) -> Vec<BountyId> {
        range.map(id).collect()
    }

    /// Each row's labels.
    fn rows(k: &Keyboard) -> Vec<Vec<&str>> {
        k.iter()
            .map(|row| row.iter().map(|b| b.label.as_ref()).collect())
            .collect()
    }

    #[test]
    fn a_listing_page_opens_its_bounties_and_turns_to_the_pages_there_are() {
        let open = Listing::Bounties(Filter::Open);
        // A single page: its bounties, no page buttons.
        let k = listing_buttons(open, 1, 1, &ids(1..=3));
        assert_eq!(rows(&k), [vec!["#1", "#2", "#3"]]);
        // The first of three: Next only.
        let k = listing_buttons(open, 1, 3, &ids(1..=2));
        assert_eq!(rows(&k), [vec!["#1", "#2"], vec!["Next ▶"]]);
        assert_eq!(
            k[1][0].action,
            Action::Page {
                filter: Filter::Open,
                page: 2
            }
        );
        // A middle one: both, each turning the same listing.
        let done = Listing::Bounties(Filter::Done);
        let k = listing_buttons(done, 2, 3, &ids(21..=21));
        assert_eq!(rows(&k), [vec!["#21"], vec!["◀ Prev", "Next ▶"]]);
        assert_eq!(
            k[1][0].action,
            Action::Page {
                filter: Filter::Done,
                page: 1
            }
        );
        assert_eq!(
            k[1][1].action,
            Action::Page {
                filter: Filter::Done,
                page: 3
            }
        );
        // The last: Prev only; /my turns /my's pages.
        let k = listing_buttons(Listing::Tracked, 3, 3, &ids(41..=42));
        assert_eq!(rows(&k), [vec!["#41", "#42"], vec!["◀ Prev"]]);
        assert_eq!(k[1][0].action, Action::MyPage(2));
        assert_eq!(k[1][0].action.command(), Some(Command::My { page: 2 }));
        // An empty listing: nothing to tap.
        assert!(listing_buttons(open, 1, 1, &[]).is_empty());
        // Each bounty's button opens it.
        let k = listing_buttons(open, 1, 1, &ids(7..=7));
        assert_eq!(k[0][0].action.command(), Some(Command::Show(id(7))));
    }

    #[test]
    fn a_full_page_of_the_largest_ids_keeps_within_telegrams_limits() {
        use crate::command::render::PAGE_SIZE;
        let biggest = u64::MAX - PAGE_SIZE as u64 + 1;
        for filter in [Filter::Open, Filter::Done, Filter::All, Filter::Overdue] {
            for listing in [Listing::Bounties(filter), Listing::Tracked] {
                let k = listing_buttons(
                    listing,
                    usize::MAX - 1,
                    usize::MAX,
                    &ids(biggest..=u64::MAX),
                );
                let shown: usize = k.iter().map(Vec::len).sum();
                assert_eq!(shown, PAGE_SIZE + 2);
                for row in &k {
                    assert!(!row.is_empty() && row.len() <= MAX_ROW, "{}", row.len());
                    for b in row {
                        let data = b.action.data();
                        assert!(data.len() <= MAX_DATA, "{data}");
                        assert_eq!(Action::parse(&data), Ok(b.action), "{data}");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_or_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let data = String::from_utf8_lossy(&bytes);
            if let Ok(a) = Action::parse(&data) {
                // Accepted only in the exact form the bot writes.
                prop_assert_eq!(a.data(), data.as_ref());
            }
        }

        #[test]
        fn shaped_data_is_read_or_refused_without_panic(data in "[cudrtxsDYkpm]:[0-9+-]{0,22}(:[a-zA-Z]{0,8})?") {
            if let Ok(a) = Action::parse(&data) {
                prop_assert_eq!(a.data(), data);
            }
        }
    }
}
