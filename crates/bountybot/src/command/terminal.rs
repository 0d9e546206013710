//! Replies as a person reads them in a terminal, from the Telegram HTML the bot sends.
//!
//! Over the tag subset [`super::render`] and [`handle`](mod@super::handle) emit: `<b>` (and
//! `<strong>`) is bold and `<i>` (and `<em>`) italic, with ANSI codes when asked for
//! and as plain text otherwise; `<a href="X">T</a>` is `T (X)`, or `X` alone when the
//! text is the address, or `T` alone for a mention (`tg://user?id=...`); `&lt; &gt; &amp; &quot;` and numeric entities are decoded;
//! every other tag (`<code>`...) is dropped and its text kept. Control characters
//! (escape sequences from someone's bounty text among them) are shown as `�`, never
//! passed to the terminal; line breaks and tabs stay.
//!
//! Malformed input never panics and costs at most linear time: a `<` without a `>`
//! within [`MAX_TAG_BYTES`] is text, an `&` without a known entity is text, a closing
//! tag that closes nothing is dropped, and tags left open are closed at the end. At
//! most [`MAX_OPEN_LINKS`] links are open at once; deeper ones show as their text.
//!
//! ```
//! use bountybot::command::terminal::{Style, show};
//! let html = "Added bounty <b>#1</b>: a &lt;b&gt; tag\nLink: <a href=\"https://x.org/?a=1&amp;b=2\">x.org</a>";
//! assert_eq!(
//!     show(html, Style::Plain),
//!     "Added bounty #1: a <b> tag\nLink: x.org (https://x.org/?a=1&b=2)"
//! );
//! assert_eq!(show(html, Style::Raw), html);
//! ```

use std::borrow::Cow;

use super::button::Keyboard;

/// Longest tag read as a tag, `<` and `>` included; a longer one is text.
pub const MAX_TAG_BYTES: usize = 8 * 1024;

/// Most links open at once.
pub const MAX_OPEN_LINKS: usize = 16;

/// Longest entity read as one, `&` and `;` included (`&#x10FFFF;` is 10).
const MAX_ENTITY_BYTES: usize = 12;

const BOLD_ON: &str = "\x1b[1m";
const BOLD_OFF: &str = "\x1b[22m";
const ITALIC_ON: &str = "\x1b[3m";
const ITALIC_OFF: &str = "\x1b[23m";

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The Telegram HTML as it is (`--raw`, for scripts).
    Raw,
    /// Read as text, without styles (stdout is not a terminal, or `NO_COLOR` is set).
    Plain,
    /// Read as text, with ANSI bold and italic (stdout is a terminal).
    Ansi,
}

impl Style {
    /// The style for a front end: [`Style::Raw`] when asked for, [`Style::Ansi`] on a
    /// terminal unless `NO_COLOR` is set (to anything but the empty string),
    /// [`Style::Plain`] otherwise.
    pub fn pick(raw: bool, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> Style {
        let colour = no_color.is_none_or(|v| v.is_empty());
        match (raw, terminal && colour) {
            (true, _) => Style::Raw,
            (false, true) => Style::Ansi,
            (false, false) => Style::Plain,
        }
    }
}

/// One message of a reply as `style` shows it.
pub fn show(html: &str, style: Style) -> Cow<'_, str> {
    match style {
        Style::Raw => Cow::Borrowed(html),
        Style::Plain => Cow::Owned(to_text(html, false)),
        Style::Ansi => Cow::Owned(to_text(html, true)),
    }
}

/// A link being read: its address and where its text starts in the output.
struct OpenLink {
    href: String,
    start: usize,
}

/// The text being written, with the styles open.
struct Text {
    out: String,
    ansi: bool,
    bold: u32,
    italic: u32,
    links: Vec<OpenLink>,
    /// Links opened past [`MAX_OPEN_LINKS`], whose closing tags are dropped.
    links_dropped: u32,
}

impl Text {
    fn push_char(&mut self, c: char) {
        if c == '\n' || c == '\t' || !c.is_control() {
            self.out.push(c);
        } else {
            self.out.push('\u{FFFD}');
        }
    }

    fn style(&mut self, bold: bool, open: bool) {
        let (depth, on, off) = if bold {
            (&mut self.bold, BOLD_ON, BOLD_OFF)
        } else {
            (&mut self.italic, ITALIC_ON, ITALIC_OFF)
        };
        let code = if open {
            *depth = depth.saturating_add(1);
            (*depth == 1).then_some(on)
        } else if *depth > 0 {
            *depth -= 1;
            (*depth == 0).then_some(off)
        } else {
            None
        };
        if let Some(code) = code
            && self.ansi
        {
            self.out.push_str(code);
        }
    }

    fn open_link(&mut self, href: String) {
        if self.links.len() < MAX_OPEN_LINKS {
            self.links.push(OpenLink {
                href,
                start: self.out.len(),
            });
        } else {
            self.links_dropped = self.links_dropped.saturating_add(1);
        }
    }

    fn close_link(&mut self) {
        if self.links_dropped > 0 {
            self.links_dropped -= 1;
            return;
        }
        let Some(link) = self.links.pop() else {
            return;
        };
        let text = self.out.get(link.start..).unwrap_or_default();
        // A mention (`tg://user?id=...`) opens nothing in a terminal: its name is enough.
        let mention = link.href.starts_with("tg://") && !text.trim().is_empty();
        if link.href.is_empty() || text.trim() == link.href || mention {
            return;
        }
        if text.trim().is_empty() {
            self.out.push_str(&link.href);
        } else {
            self.out.push_str(" (");
            self.out.push_str(&link.href);
            self.out.push(')');
        }
    }

    /// Applies one tag, given without its `<` and `>`.
    fn tag(&mut self, tag: &str) {
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let name_len = tag
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name = tag[..name_len].to_ascii_lowercase();
        match name.as_str() {
            "b" | "strong" => self.style(true, !closing),
            "i" | "em" => self.style(false, !closing),
            "a" if closing => self.close_link(),
            "a" => {
                let href = attribute(&tag[name_len..], "href").map_or_else(String::new, |v| {
                    let mut href = Text::new(false);
                    href.decode_into(v);
                    href.out
                });
                self.open_link(href);
            }
            _ => {}
        }
    }

    fn new(ansi: bool) -> Text {
        Text {
            out: String::new(),
            ansi,
            bold: 0,
            italic: 0,
            links: Vec::new(),
            links_dropped: 0,
        }
    }

    /// Appends `text` with its entities decoded (no tags: a `<` is a character).
    fn decode_into(&mut self, text: &str) {
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c == '&'
                && let Some((decoded, len)) = entity(rest)
            {
                self.push_char(decoded);
                rest = &rest[len..];
            } else {
                self.push_char(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }

    fn finish(mut self) -> String {
        if self.ansi {
            if self.bold > 0 {
                self.out.push_str(BOLD_OFF);
            }
            if self.italic > 0 {
                self.out.push_str(ITALIC_OFF);
            }
        }
        self.out
    }
}

/// `html` read as text: with ANSI styles when `ansi`, plain otherwise.
pub fn to_text(html: &str, ansi: bool) -> String {
    let mut text = Text::new(ansi);
    text.out.reserve(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                // '>' is ASCII, so the byte after it starts a character.
                let end = rest.bytes().take(MAX_TAG_BYTES).position(|b| b == b'>');
                match end {
                    Some(end) => {
                        text.tag(&rest[1..end]);
                        rest = &rest[end + 1..];
                    }
                    None => {
                        text.push_char('<');
                        rest = &rest[1..];
                    }
                }
            }
            '&' => match entity(rest) {
                Some((decoded, len)) => {
                    text.push_char(decoded);
                    rest = &rest[len..];
                }
                None => {
                    text.push_char('&');
                    rest = &rest[1..];
                }
            },
            c => {
                text.push_char(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    text.finish()
}

/// The character an entity at the start of `s` (`&...;`) stands for, and its length in
/// bytes; `None` when `s` does not start with one Telegram understands.
fn entity(s: &str) -> Option<(char, usize)> {
    let semi = s.bytes().take(MAX_ENTITY_BYTES).position(|b| b == b';')?;
    let name = s.get(1..semi)?;
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse::<u32>().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

/// The raw value of attribute `name` among a tag's attributes: quoted with `"` or
/// `'`, or up to the next space.
fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower.get(from..)?.find(name) {
        let at = from + at;
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = attrs[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            return Some(match value.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let inner = &value[1..];
                    inner.find(q).map_or(inner, |end| &inner[..end])
                }
                _ => value
                    .find(|c: char| c.is_ascii_whitespace())
                    .map_or(value, |end| &value[..end]),
            });
        }
        from = at + name.len();
    }
    None
}

/// A reply's inline buttons as text, a line a row: `[Claim] [Done] [Track] [Delete]`.
pub fn buttons(k: &Keyboard) -> impl Iterator<Item = String> + '_ {
    k.iter().map(|row| {
        row.iter()
            .map(|b| format!("[{}]", b.label))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(html: &str) -> String {
        to_text(html, false)
    }

    #[test]
    fn bold_is_bold_on_a_terminal_and_plain_elsewhere() {
        let html = "Added bounty <b>#1</b>: <i>soon</i>";
        assert_eq!(plain(html), "Added bounty #1: soon");
        assert_eq!(
            to_text(html, true),
            "Added bounty \x1b[1m#1\x1b[22m: \x1b[3msoon\x1b[23m"
        );
    }

    #[test]
    fn links_show_their_address_once() {
        assert_eq!(
            plain("Link: <a href=\"https://x.org/a?b=1&amp;c=&quot;2&quot;\">x.org/a…</a>"),
            "Link: x.org/a… (https://x.org/a?b=1&c=\"2\")"
        );
        assert_eq!(
            plain("Read <a href=\"https://x.org/1\">https://x.org/1</a> today"),
            "Read https://x.org/1 today"
        );
        assert_eq!(plain("<a href=\"https://x.org\"></a>"), "https://x.org");
        assert_eq!(
            plain("<A HREF='https://x.org'>here</A>"),
            "here (https://x.org)"
        );
        assert_eq!(
            plain("<a href=https://x.org>here</a>"),
            "here (https://x.org)"
        );
        assert_eq!(plain("<a title=\"t\">no address</a>"), "no address");
        assert_eq!(
            plain("tracked by <a href=\"tg://user?id=7\">Bo &lt;x&gt;</a>"),
            "tracked by Bo <x>",
            "a mention is its name"
        );
    }

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(
            plain("&lt;b&gt; &amp;lt; &quot;q&quot; &#65;&#x42; &nbsp; & ; &amp"),
            "<b> &lt; \"q\" AB &nbsp; & ; &amp"
        );
    }

    #[test]
    fn other_tags_are_dropped_and_their_text_kept() {
        assert_eq!(
            plain("<code>/add x</code> <u>under</u> <tg-spoiler>s</tg-spoiler>"),
            "/add x under s"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let shown = to_text("<b>x</b>\x1b[2J&#27;]0;title\x07\r\nnext\tcol", true);
        assert_eq!(
            shown,
            "\x1b[1mx\x1b[22m\u{FFFD}[2J\u{FFFD}]0;title\u{FFFD}\u{FFFD}\nnext\tcol"
        );
        assert_eq!(plain("<a href=\"x\x1by\">t</a>"), "t (x\u{FFFD}y)");
    }

    #[test]
    fn malformed_markup_reads_as_text() {
        assert_eq!(plain("a < b and c > d"), "a  d");
        assert_eq!(plain("2 < 3"), "2 < 3");
        assert_eq!(plain("</b></a>unopened"), "unopened");
        assert_eq!(plain("<b>left open"), "left open");
        assert_eq!(to_text("<b><b>x</b>y", true), "\x1b[1mxy\x1b[22m");
        assert_eq!(plain("<a href=\"u\">open"), "open");
        assert_eq!(
            plain("&#xD800; &#99999999999; &#x;"),
            "&#xD800; &#99999999999; &#x;"
        );
        assert_eq!(plain("é<b>ü</b>&amp;€"), "éü&€");
    }

    #[test]
    fn a_tag_longer_than_the_bound_is_text() {
        let long = format!("<a href=\"{}\">x</a>", "u".repeat(MAX_TAG_BYTES));
        let shown = plain(&long);
        assert!(shown.starts_with("<a href=\"uuu"), "{}", &shown[..20]);
        let short = format!("<a href=\"{}\">x</a>", "u".repeat(100));
        assert_eq!(plain(&short), format!("x ({})", "u".repeat(100)));
    }

    #[test]
    fn links_open_past_the_bound_show_as_text() {
        let deep =
            "<a href=\"h\">".repeat(MAX_OPEN_LINKS + 3) + "t" + &"</a>".repeat(MAX_OPEN_LINKS + 3);
        let shown = plain(&deep);
        assert!(shown.starts_with("t (h)"), "{shown}");
        assert_eq!(shown.matches("(h)").count(), MAX_OPEN_LINKS);
    }

    #[test]
    fn raw_keeps_the_html_and_no_color_turns_styles_off() {
        let html = "<b>#1</b> &lt;x&gt;";
        assert_eq!(show(html, Style::Raw), html);
        assert_eq!(show(html, Style::Plain), "#1 <x>");
        let none = None;
        let set = Some(std::ffi::OsStr::new("1"));
        let empty = Some(std::ffi::OsStr::new(""));
        assert_eq!(Style::pick(true, true, none), Style::Raw);
        assert_eq!(Style::pick(false, true, none), Style::Ansi);
        assert_eq!(Style::pick(false, true, empty), Style::Ansi);
        assert_eq!(Style::pick(false, true, set), Style::Plain);
        assert_eq!(Style::pick(false, false, none), Style::Plain);
    }

    #[test]
    fn every_reply_the_bot_writes_reads_without_markup() {
        let help = crate::command::handle::help_text();
        let shown = plain(&help);
        assert!(
            shown.starts_with("Bounty bot\n/bounty: list bounties"),
            "{shown}"
        );
        assert!(shown.contains("/bounty #<id>"), "{shown}");
        assert!(!shown.contains("&lt;") && !shown.contains("<b>"), "{shown}");
    }

    proptest! {
        #[test]
        fn any_input_is_read_without_panic_and_without_escape_codes(
            s in "([<>&;/#x\"'= abhr0-9\u{1b}\n\u{e9}]|<b>|</b>|<a href=\"|</a>|&lt;|&#){0,60}"
        ) {
            let plain = to_text(&s, false);
            prop_assert!(!plain.contains('\x1b'), "{:?}", plain);
            let ansi = to_text(&s, true);
            let without_codes = ansi
                .replace(BOLD_ON, "")
                .replace(BOLD_OFF, "")
                .replace(ITALIC_ON, "")
                .replace(ITALIC_OFF, "");
            prop_assert!(!without_codes.contains('\x1b'), "{:?}", without_codes);
            prop_assert!(plain.len() <= s.len() * 4 + 16, "{} from {}", plain.len(), s.len());
        }

        #[test]
        fn text_without_markup_is_unchanged(s in "[^<&\\p{Cc}]{0,80}") {
            prop_assert_eq!(to_text(&s, false), s);
        }
    }
}
