//! Replies as Telegram HTML: user text escaped, lists sorted and shown one page (one
//! message) at a time, texts shortened when a page would not fit in one message.

use std::collections::HashMap;

use jiff::civil::Date;

use crate::domain::{Bounty, Status};
use crate::domain::{UserId, ts_to_date};

/// Telegram's limit is 4096 characters after entity parsing; keep a margin.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Bounties per page of `/bounty` and `/my`.
pub const PAGE_SIZE: usize = 20;

/// Most characters of a link shown as text in a confirmation (the link itself is
/// kept whole in the `href`).
const MAX_LINK_SHOWN: usize = 200;

/// Most characters of a display name shown in a listing.
pub const MAX_NAME_SHOWN: usize = 32;

/// Most trackers named in a bounty's full view; the rest are counted.
pub const MAX_TRACKERS_SHOWN: usize = 20;

/// Display names the bot remembers in a chat; a user it has no name for is shown as
/// `user 42`.
#[derive(Debug, Clone, Default)]
pub struct Names(HashMap<UserId, String>);

impl Names {
    /// From the store's (user, name) pairs.
    pub fn new(pairs: Vec<(UserId, String)>) -> Names {
        Names(pairs.into_iter().collect())
    }

    /// `user`'s name as plain text (not escaped), cut to [`MAX_NAME_SHOWN`].
    pub fn of(&self, user: UserId) -> String {
        match self.0.get(&user) {
            Some(name) => shorten(name, MAX_NAME_SHOWN).into_owned(),
            None if user.is_person() => format!("user {user}"),
            None => format!("chat {user}"),
        }
    }
}

/// Escapes text for Telegram's HTML parse mode (`&`, `<`, `>`, `"`), and leaves out
/// bidirectional controls ([`is_bidi_control`]). Every text from a person (a bounty,
/// a name, a time zone, an echoed command) is shown through here, so one bounty or
/// name cannot reorder the rest of a listing line; what is stored keeps them.
/// Stripped rather than isolated: right-to-left letters still show right to left by
/// the Unicode bidirectional algorithm without them, and a stripped control cannot
/// leak past the end of its text whatever the client makes of isolates.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` is an explicit bidirectional formatting character: the embeddings and
/// overrides (U+202A to U+202E), the isolates (U+2066 to U+2069) and the marks
/// (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// "due today", "due in 3 days", "overdue by 2 days"...
pub fn relative_due(due: Date, today: Date) -> String {
    let days = (due - today).get_days();
    match days {
        0 => "due today".to_string(),
        1 => "due tomorrow".to_string(),
        -1 => "overdue by 1 day".to_string(),
        d if d > 1 => format!("due in {d} days"),
        d => format!("overdue by {} days", -d),
    }
}

/// Length as Telegram counts it (UTF-16 code units).
fn visible_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `max` UTF-16 units, `…` included, between characters. A link
/// the cut would break is left out whole, so no half link is shown.
pub fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if visible_len(s) <= max {
        return s.into();
    }
    let mut end = 0;
    let mut units = 0;
    for (i, c) in s.char_indices() {
        if units + c.len_utf16() + 1 > max {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
    }
    let mut head = &s[..end];
    let last_word = head.rsplit(char::is_whitespace).next().unwrap_or_default();
    let word_start = head.len() - last_word.len();
    let whole_word = s[word_start..].split(char::is_whitespace).next();
    if whole_word.is_some_and(|w| w.contains("://")) {
        head = head[..word_start].trim_end();
    }
    format!("{head}…").into()
}

/// `text` as HTML with `link` clickable where it is written (the first time it
/// stands as a word of its own, brackets and punctuation around it allowed); `None`
/// when `text` does not contain it so.
fn with_inline_link(text: &str, link: &str) -> Option<String> {
    if link.is_empty() {
        return None;
    }
    let opens = |c: char| c.is_whitespace() || "([<\"'«".contains(c);
    let closes = |c: char| c.is_whitespace() || ")]>.,;:!?\"'»".contains(c);
    let (at, _) = text.match_indices(link).find(|(at, _)| {
        text[..*at].chars().next_back().is_none_or(opens)
            && text[at + link.len()..].chars().next().is_none_or(closes)
    })?;
    let href = escape(link);
    Some(format!(
        "{}<a href=\"{href}\">{href}</a>{}",
        escape(&text[..at]),
        escape(&text[at + link.len()..])
    ))
}

/// One bounty as a listing line with its text cut to `max_text` UTF-16 units, and
/// the line's visible length. A link written in the text is made clickable where it
/// stands; a link that is not in the (shown) text follows as ` · link`.
pub fn bounty_line(b: &Bounty, today: Date, max_text: usize, names: &Names) -> (String, usize) {
    let text = shorten(&b.text, max_text);
    let inline = b.link.as_deref().and_then(|l| with_inline_link(&text, l));
    let mark = if b.status == Status::Done { "✅ " } else { "" };
    let mut html = format!(
        "<b>#{}</b> {mark}{}",
        b.id,
        inline.clone().unwrap_or_else(|| escape(&text))
    );
    let mut plain = format!("#{} {mark}{text}", b.id);
    if let Some(link) = &b.link
        && inline.is_none()
    {
        html.push_str(&format!(" · <a href=\"{}\">link</a>", escape(link)));
        plain.push_str(" · link");
    }
    if let Some(ts) = b.due_date_ts {
        let due = ts_to_date(ts);
        let when = if b.status == Status::Done {
            format!("due {due}")
        } else {
            format!("{} ({due})", relative_due(due, today))
        };
        html.push_str(&format!(" · {when}"));
        plain.push_str(&format!(" · {when}"));
    }
    let by = names.of(b.created_by_user_id);
    html.push_str(&format!(" · by {}", escape(&by)));
    plain.push_str(&format!(" · by {by}"));
    if let Some(claimer) = b.claimed_by_user_id {
        let who = names.of(claimer);
        html.push_str(&format!(" · claimed by {}", escape(&who)));
        plain.push_str(&format!(" · claimed by {who}"));
    }
    (html, visible_len(&plain))
}

/// Sorts by due date (undated last), then id.
pub fn sort_for_display(bounties: &mut [Bounty]) {
    bounties.sort_by_key(|b| (b.due_date_ts.is_none(), b.due_date_ts, b.id));
}

/// A reply to `/add` or `/edit`: what was stored, field by field, text in full.
pub fn confirmation(what: &str, b: &Bounty, today: Date) -> String {
    let mut s = format!("{what} bounty <b>#{}</b>: {}", b.id, escape(&b.text));
    if let Some(link) = &b.link {
        s.push_str(&format!(
            "\nLink: <a href=\"{}\">{}</a>",
            escape(link),
            escape(&shorten(link, MAX_LINK_SHOWN))
        ));
    }
    if let Some(ts) = b.due_date_ts {
        let due = ts_to_date(ts);
        s.push_str(&format!("\nDue: {due} ({})", relative_due(due, today)));
    }
    s
}

/// `/bounty #id`: one bounty in full: status, text (link clickable where written), link,
/// due date, creator, claimer, trackers (the first [`MAX_TRACKERS_SHOWN`], then a
/// count; `None`: they could not be read). Fits one message: text and link are bounded, names cut.
pub fn full_view(b: &Bounty, today: Date, names: &Names, trackers: Option<&[UserId]>) -> String {
    let status = match (b.status, b.done_at) {
        (Status::Done, Some(at)) => format!("done on {}", ts_to_date(at)),
        (Status::Done, None) => "done".to_string(),
        (Status::Open, _) => "open".to_string(),
    };
    let text = b
        .link
        .as_deref()
        .and_then(|l| with_inline_link(&b.text, l))
        .unwrap_or_else(|| escape(&b.text));
    let mut s = format!("<b>Bounty #{}</b> ({status})\n{text}", b.id);
    if let Some(link) = &b.link {
        s.push_str(&format!(
            "\nLink: <a href=\"{}\">{}</a>",
            escape(link),
            escape(&shorten(link, MAX_LINK_SHOWN))
        ));
    }
    if let Some(ts) = b.due_date_ts {
        let due = ts_to_date(ts);
        if b.status == Status::Done {
            s.push_str(&format!("\nDue: {due}"));
        } else {
            s.push_str(&format!("\nDue: {due} ({})", relative_due(due, today)));
        }
    }
    s.push_str(&format!(
        "\nCreated by {} on {}",
        escape(&names.of(b.created_by_user_id)),
        ts_to_date(b.created_at)
    ));
    match b.claimed_by_user_id {
        Some(u) => s.push_str(&format!("\nClaimed by {}", escape(&names.of(u)))),
        None if b.status == Status::Open => {
            s.push_str(&format!("\nNot claimed: /claim {}", b.id));
        }
        None => {}
    }
    let Some(trackers) = trackers else {
        s.push_str("\nTrackers: cannot be read just now");
        return s;
    };
    if trackers.is_empty() {
        s.push_str("\nTracked by nobody");
    } else {
        let shown: Vec<String> = trackers
            .iter()
            .take(MAX_TRACKERS_SHOWN)
            .map(|u| escape(&names.of(*u)))
            .collect();
        s.push_str(&format!("\nTracked by {}", shown.join(", ")));
        if trackers.len() > MAX_TRACKERS_SHOWN {
            s.push_str(&format!(
                " and {} more",
                trackers.len() - MAX_TRACKERS_SHOWN
            ));
        }
    }
    s
}

/// One page of a listing, or how many pages there are when `page` is past the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The page as one message.
    Shown(String),
    /// `page` is past the last page; there are this many.
    PastTheEnd(usize),
}

/// Page `page` (from 1) of `bounties`, sorted for display, as one message of at most
/// [`MAX_MESSAGE_CHARS`] visible characters: the title (with "page n of m" when there
/// is more than one), up to [`PAGE_SIZE`] lines, and `Next page: /{command} n+1`
/// unless it is the last. When the lines would not fit, the longest texts are cut
/// (to the same length, as long as fits).
pub fn list_page(
    title: &str,
    command: &str,
    mut bounties: Vec<Bounty>,
    page: usize,
    today: Date,
    names: &Names,
) -> Page {
    let pages = bounties.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.max(1);
    if page > pages {
        return Page::PastTheEnd(pages);
    }
    sort_for_display(&mut bounties);
    let start = (page - 1) * PAGE_SIZE;
    let shown = &bounties[start..bounties.len().min(start + PAGE_SIZE)];
    let mut head = format!("<b>{}</b>", escape(title));
    let mut frame = visible_len(title);
    if pages > 1 {
        let of = format!(" (page {page} of {pages})");
        frame += visible_len(&of);
        head.push_str(&of);
    }
    let mut foot = String::new();
    if page < pages {
        foot = format!("\nNext page: /{command} {}", page + 1);
        frame += visible_len(&foot);
    }
    let lines_fit = |max_text: usize| {
        let mut total = frame;
        let lines: Vec<String> = shown
            .iter()
            .map(|b| {
                let (line, len) = bounty_line(b, today, max_text, names);
                total += 1 + len;
                line
            })
            .collect();
        (total <= MAX_MESSAGE_CHARS).then_some(lines)
    };
    // The longest text cut that fits: binary search over the cut length (a full text
    // is at most 2,000 UTF-16 units, so the search is short).
    let longest = shown
        .iter()
        .map(|b| visible_len(&b.text))
        .max()
        .unwrap_or(0);
    let lines = lines_fit(longest).unwrap_or_else(|| {
        let (mut fits, mut fails) = (0, longest);
        while fails - fits > 1 {
            let mid = fits + (fails - fits) / 2;
            if lines_fit(mid).is_some() {
                fits = mid;
            } else {
                fails = mid;
            }
        }
        lines_fit(fits).unwrap_or_default()
    });
    let mut message = head;
    for line in lines {
        message.push('\n');
        message.push_str(&line);
    }
    message.push_str(&foot);
    Page::Shown(message)
}
#[cfg(test)]
mod tests {
    #[test]
    fn bidirectional_controls_are_left_out_of_what_is_shown() {
        let shown = super::escape("pay \u{202E}gnp.exe <now> \u{2066}x\u{2069} \u{200F}");
        assert_eq!(shown, "pay gnp.exe &lt;now&gt; x ");
        assert!(!shown.chars().any(super::is_bidi_control));
        assert_eq!(super::escape("שלום"), "שלום", "right-to-left letters stay");
    }

    use super::*;
    use crate::domain::{BountyId, UserId, date_to_ts};
    use proptest::prelude::*;

    fn today() -> Date {
        "2026-11-23".parse().unwrap()
    }

    fn bounty(id: u64, text: &str, due: Option<&str>) -> Bounty {
        Bounty {
            id: BountyId::new(id),
            created_by_user_id: UserId::new(42),
            text: text.into(),
            link: None,
            due_date_ts: due.map(|d| date_to_ts(d.parse().unwrap())),
            created_at: 0,
            status: Status::Open,
            claimed_by_user_id: None,
            done_at: None,
        }
    }

    fn shown(page: Page) -> String {
        match page {
            Page::Shown(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// Visible text of Telegram HTML: tags dropped, entities decoded.
    fn visible(html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        while let Some(i) = rest.find('<') {
            out.push_str(&rest[..i]);
            rest = &rest[i + rest[i..].find('>').unwrap() + 1..];
        }
        out.push_str(rest);
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
        let mut b = bounty(1, "<script>alert(1)</script>", None);
        b.link = Some("https://x.org/?a=1&b=\"2\"".into());
        let (line, _) = bounty_line(&b, today(), 1000, &Names::default());
        assert!(line.contains("&lt;script&gt;"), "{line}");
        assert!(
            line.contains("href=\"https://x.org/?a=1&amp;b=&quot;2&quot;\""),
            "{line}"
        );
        assert!(!line.contains("<script>"));
        let shown = confirmation("Added", &b, today());
        assert!(
            shown.contains("&lt;script&gt;") && shown.contains("&amp;b=&quot;2&quot;"),
            "{shown}"
        );
    }

    #[test]
    fn relative_due_dates() {
        let d = |s: &str| relative_due(s.parse().unwrap(), today());
        assert_eq!(d("2026-11-23"), "due today");
        assert_eq!(d("2026-11-24"), "due tomorrow");
        assert_eq!(d("2026-11-26"), "due in 3 days");
        assert_eq!(d("2026-11-22"), "overdue by 1 day");
        assert_eq!(d("2026-11-21"), "overdue by 2 days");
    }

    #[test]
    fn sorted_by_due_then_id_with_undated_last() {
        let page = shown(list_page(
            "Bounties",
            "bounty",
            vec![
                bounty(1, "undated", None),
                bounty(2, "later", Some("2026-12-10")),
                bounty(3, "sooner", Some("2026-11-25")),
                bounty(4, "also later", Some("2026-12-10")),
            ],
            1,
            today(),
            &Names::default(),
        ));
        let order: Vec<_> = ["sooner", "later", "also later", "undated"]
            .iter()
            .map(|t| page.find(&format!("</b> {t} ")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{page}");
        assert!(
            page.starts_with("<b>Bounties</b>\n"),
            "no pager on one page"
        );
    }

    #[test]
    fn pages_follow_the_sorted_order_and_say_how_to_go_on() {
        let bounties: Vec<_> = (1..=41)
            .map(|i| bounty(i, &format!("t{i}"), (i > 30).then_some("2026-12-01")))
            .collect();
        let first = shown(list_page(
            "B",
            "my",
            bounties.clone(),
            1,
            today(),
            &Names::default(),
        ));
        assert!(
            first.starts_with("<b>B</b> (page 1 of 3)\n<b>#31</b>"),
            "{first}"
        );
        assert!(first.ends_with("\nNext page: /my 2"), "{first}");
        let last = shown(list_page(
            "B",
            "my",
            bounties.clone(),
            3,
            today(),
            &Names::default(),
        ));
        assert_eq!(
            last, "<b>B</b> (page 3 of 3)\n<b>#30</b> t30 · by user 42",
            "the last page has no next"
        );
        assert_eq!(
            list_page("B", "my", bounties, 4, today(), &Names::default()),
            Page::PastTheEnd(3)
        );
        assert_eq!(
            list_page("B", "my", vec![], 2, today(), &Names::default()),
            Page::PastTheEnd(1)
        );
    }

    #[test]
    fn a_link_in_the_text_is_made_clickable_there_and_not_repeated() {
        let mut b = bounty(1, "Read https://x.org/a, then https://x.org/ab", None);
        b.link = Some("https://x.org/a".into());
        let (line, len) = bounty_line(&b, today(), 1000, &Names::default());
        assert_eq!(
            line,
            "<b>#1</b> Read <a href=\"https://x.org/a\">https://x.org/a</a>, then https://x.org/ab · by user 42"
        );
        assert_eq!(len, visible(&line).encode_utf16().count());
        b.text = "Read it".into();
        let (line, _) = bounty_line(&b, today(), 1000, &Names::default());
        assert_eq!(
            line,
            "<b>#1</b> Read it · <a href=\"https://x.org/a\">link</a> · by user 42"
        );
        b.text = "See https://x.org/abc".into();
        let (line, _) = bounty_line(&b, today(), 1000, &Names::default());
        assert!(
            line.ends_with(
                "See https://x.org/abc · <a href=\"https://x.org/a\">link</a> · by user 42"
            ),
            "{line}"
        );
    }

    #[test]
    fn shortening_never_breaks_a_link_or_a_character() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
        assert_eq!(
            shorten("😀😀😀", 4),
            "😀…",
            "UTF-16 units, whole characters"
        );
        assert_eq!(shorten("see https://x.org/long/path", 15), "see…");
        assert_eq!(shorten("a\u{3000}https://x.org/long", 10), "a…");
        assert_eq!(shorten("abc", 0), "…");
        let mut b = bounty(1, "Read https://x.org/long/path/to/it and more", None);
        b.link = Some("https://x.org/long/path/to/it".into());
        let (line, _) = bounty_line(&b, today(), 12, &Names::default());
        assert_eq!(
            line,
            "<b>#1</b> Read… · <a href=\"https://x.org/long/path/to/it\">link</a> · by user 42",
            "a link cut out of the text still follows it"
        );
    }

    #[test]
    fn confirmations_show_text_link_and_due() {
        let mut b = bounty(7, "Fix it", Some("2026-11-30"));
        assert_eq!(
            confirmation("Added", &b, today()),
            "Added bounty <b>#7</b>: Fix it\nDue: 2026-11-30 (due in 7 days)"
        );
        b.link = Some(format!("https://x.org/{}", "a".repeat(5000)));
        let shown = confirmation("Updated", &b, today());
        assert!(shown.contains(&format!("href=\"{}\"", b.link.as_deref().unwrap())));
        assert!(visible(&shown).encode_utf16().count() < 300, "{shown}");
    }

    proptest! {
        #[test]
        fn a_page_always_fits_one_message(
            texts in proptest::collection::vec("\\PC{1,1000}", 1..45),
            page in 1usize..4,
            id_base in proptest::num::u64::ANY,
            user in proptest::num::i64::ANY,
            due in proptest::option::of(proptest::num::i64::ANY),
            link in proptest::option::of("https://[a-z]{1,3000}"),
        ) {
            let n = texts.len();
            let bounties: Vec<Bounty> = texts
                .into_iter()
                .enumerate()
                .map(|(i, text)| Bounty {
                    id: BountyId::new(id_base.wrapping_add(i as u64)),
                    created_by_user_id: UserId::new(user),
                    text,
                    link: link.clone(),
                    due_date_ts: due,
                    created_at: 0,
                    status: Status::Open,
                    claimed_by_user_id: None,
                    done_at: None,
                })
                .collect();
            match list_page("Bounties in this group", "bounty", bounties, page, today(), &Names::default()) {
                Page::Shown(html) => {
                    let seen = visible(&html);
                    prop_assert!(seen.encode_utf16().count() <= MAX_MESSAGE_CHARS);
                    let lines = html.matches("<b>#").count();
                    prop_assert_eq!(lines, n.saturating_sub((page - 1) * PAGE_SIZE).min(PAGE_SIZE));
                    prop_assert_eq!(html.matches("<a ").count(), html.matches("</a>").count());
                }
                Page::PastTheEnd(pages) => prop_assert!(page > pages && pages == n.div_ceil(PAGE_SIZE)),
            }
        }
    }
}
