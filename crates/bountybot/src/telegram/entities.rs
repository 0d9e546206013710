//! Telegram message entities the command parser must see as text.
//!
//! A `text_link` entity is a word with a hidden URL: the message text holds only the
//! word, the URL rides beside it. [`inline_text_links`] writes each such URL into the
//! text after its word, `word (https://url)`, so the parser finds it like a typed link
//! (brackets allowed). Pure: no I/O; entity offsets and lengths are in UTF-16 code
//! units, as Telegram counts them. Other entities (bold, mentions, visible URLs, ...)
//! are left alone.
//!
//! ```
//! use bountybot::telegram::entities::inline_text_links;
//! use teloxide::types::MessageEntity;
//!
//! let url = url::Url::parse("https://x.org/1").unwrap();
//! let entities = [MessageEntity::text_link(url, 13, 3)];
//! assert_eq!(
//!     inline_text_links("/add Fix the bug +3d", &entities),
//!     "/add Fix the bug (https://x.org/1) +3d"
//! );
//! ```

use teloxide::types::{MessageEntity, MessageEntityKind};

/// `text` with the URL of each `http`/`https` `text_link` entity written after the
/// entity's text as ` (url)`. An entity whose text already is its URL, or whose
/// offsets do not fit `text` (past the end, or inside a character), is skipped.
pub fn inline_text_links(text: &str, entities: &[MessageEntity]) -> String {
    let mut inserts: Vec<(usize, &str)> = entities
        .iter()
        .filter_map(|e| {
            let MessageEntityKind::TextLink { url } = &e.kind else {
                return None;
            };
            if !matches!(url.scheme(), "http" | "https") {
                return None; // tg://user?id=... mentions and the like are not links here
            }
            let start = byte_offset(text, e.offset)?;
            let end = byte_offset(text, e.offset.checked_add(e.length)?)?;
            let shown = text.get(start..end)?.trim();
            let url = url.as_str();
            if shown.is_empty() || shown.trim_end_matches('/') == url.trim_end_matches('/') {
                return None;
            }
            Some((end, url))
        })
        .collect();
    inserts.sort_by_key(|&(end, _)| end);
    let extra: usize = inserts.iter().map(|(_, url)| url.len() + 3).sum();
    let mut out = String::with_capacity(text.len() + extra);
    let mut done = 0;
    for (end, url) in inserts {
        out.push_str(text.get(done..end).unwrap_or_default());
        out.push_str(" (");
        out.push_str(url);
        out.push(')');
        done = end;
    }
    out.push_str(text.get(done..).unwrap_or_default());
    out
}

/// The byte offset in `text` of `units` UTF-16 code units from its start; `None` when
/// that is past the end or inside a character (between the halves of a surrogate
/// pair).
fn byte_offset(text: &str, units: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, c) in text.char_indices() {
        if seen == units {
            return Some(i);
        }
        if seen > units {
            return None;
        }
        seen += c.len_utf16();
    }
    (seen == units).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse::{Command, Parsed, parse};
    use proptest::prelude::*;

    fn text_link(url: &str, offset: usize, length: usize) -> MessageEntity {
        MessageEntity::text_link(url::Url::parse(url).unwrap(), offset, length)
    }

    #[test]
    fn a_text_link_is_written_after_its_word() {
        assert_eq!(
            inline_text_links("/add Fix the bug", &[text_link("https://x.org/1", 13, 3)]),
            "/add Fix the bug (https://x.org/1)"
        );
        assert_eq!(
            inline_text_links(
                "/add Read spec then fix",
                &[text_link("https://x.org/spec", 10, 4)]
            ),
            "/add Read spec (https://x.org/spec) then fix"
        );
    }

    #[test]
    fn offsets_count_utf16_units_after_emoji_and_accents() {
        // "😀" is 2 UTF-16 units (4 bytes); "é" is 1 unit (2 bytes); "€" 1 unit (3 bytes).
        let text = "/add 😀 café € spec now";
        let entities = [text_link("https://x.org/s", 15, 4)];
        assert_eq!(&text[20..24], "spec", "bytes differ from UTF-16 units");
        assert_eq!(
            inline_text_links(text, &entities),
            "/add 😀 café € spec (https://x.org/s) now"
        );
        // The entity's own text may hold an emoji too.
        let text = "/add 🚀🚀 launch";
        assert_eq!(
            inline_text_links(text, &[text_link("https://x.org/l", 5, 4)]),
            "/add 🚀🚀 (https://x.org/l) launch"
        );
    }

    #[test]
    fn several_links_in_any_order_and_other_entities_left_alone() {
        let text = "/add one two three";
        let entities = [
            text_link("https://x.org/3", 13, 5),
            MessageEntity::bold(5, 3),
            text_link("https://x.org/1", 5, 3),
            MessageEntity::new(MessageEntityKind::Url, 0, 4),
        ];
        assert_eq!(
            inline_text_links(text, &entities),
            "/add one (https://x.org/1) two three (https://x.org/3)"
        );
        assert_eq!(
            inline_text_links(text, &[MessageEntity::italic(5, 3)]),
            text
        );
    }

    #[test]
    fn non_web_links_visible_urls_and_bad_offsets_are_skipped() {
        let text = "/add ask 😀 https://x.org/ now";
        for e in [
            text_link("tg://user?id=42", 5, 3),    // a mention, not a link
            text_link("mailto:a@x.org", 5, 3),     // not http(s)
            text_link("https://x.org", 12, 14),    // its text already is the URL
            text_link("https://x.org/a", 9, 1),    // ends inside the emoji
            text_link("https://x.org/a", 10, 1),   // starts inside the emoji
            text_link("https://x.org/a", 20, 100), // past the end
            text_link("https://x.org/a", usize::MAX, 2), // overflowing
            text_link("https://x.org/a", 5, 0),    // empty
        ] {
            assert_eq!(
                inline_text_links(text, std::slice::from_ref(&e)),
                text,
                "{e:?}"
            );
        }
    }

    #[test]
    fn the_parser_then_sees_the_hidden_url_as_the_link() {
        let text = inline_text_links(
            "/add Fix the 😀 login bug +3d",
            &[text_link("https://x.org/issues/1", 16, 9)],
        );
        let today = "2026-11-23".parse().unwrap();
        let Parsed::Command(Command::Add { text, link, due }) = parse(&text, "bot", today) else {
            panic!("{text}")
        };
        assert_eq!(text.as_str(), "Fix the 😀 login bug");
        assert_eq!(link.as_deref(), Some("https://x.org/issues/1"));
        assert_eq!(due.map(|d| d.to_string()).as_deref(), Some("2026-11-26"));
        let middle =
            inline_text_links("/add See spec first", &[text_link("https://x.org/s", 9, 4)]);
        let Parsed::Command(Command::Add { text, link, .. }) = parse(&middle, "bot", today) else {
            panic!("{middle}")
        };
        assert_eq!(text.as_str(), "See spec (https://x.org/s) first");
        assert_eq!(link.as_deref(), Some("https://x.org/s"));
    }

    proptest! {
        #[test]
        fn any_entities_on_any_text_never_panic_and_keep_the_text(
            text in "\\PC{0,60}",
            spans in proptest::collection::vec((0usize..150, 0usize..150, any::<bool>()), 0..6),
        ) {
            let entities: Vec<MessageEntity> = spans
                .iter()
                .map(|&(offset, length, is_link)| {
                    if is_link {
                        text_link("https://x.org/p", offset, length)
                    } else {
                        MessageEntity::bold(offset, length)
                    }
                })
                .collect();
            let out = inline_text_links(&text, &entities);
            let removed = out.replace(" (https://x.org/p)", "");
            prop_assert_eq!(removed, text);
        }
    }
}
