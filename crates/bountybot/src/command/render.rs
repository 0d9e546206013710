//! Replies as Telegram HTML: user text escaped, lists sorted and split under the
//! message size limit.

use jiff::civil::Date;

use crate::domain::ts_to_date;
use crate::store::Bounty;

/// Telegram's limit is 4096 characters after entity parsing; keep a margin.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Escapes text for Telegram's HTML parse mode (`&`, `<`, `>`, `"`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
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

/// One bounty as an HTML line, and its visible length.
pub fn bounty_line(b: &Bounty, today: Date) -> (String, usize) {
    let mut html = format!("<b>#{}</b> {}", b.id, escape(&b.text));
    let mut plain = format!("#{} {}", b.id, b.text);
    if let Some(link) = &b.link {
        html.push_str(&format!(" · <a href=\"{}\">link</a>", escape(link)));
        plain.push_str(" · link");
    }
    if let Some(ts) = b.due_date_ts {
        let due = ts_to_date(ts);
        let rel = relative_due(due, today);
        html.push_str(&format!(" · {rel} ({due})"));
        plain.push_str(&format!(" · {rel} ({due})"));
    }
    let by = format!(" · by user {}", b.created_by_user_id);
    html.push_str(&by);
    plain.push_str(&by);
    (html, visible_len(&plain))
}

/// Sorts by due date (undated last), then id.
pub fn sort_for_display(bounties: &mut [Bounty]) {
    bounties.sort_by_key(|b| (b.due_date_ts.is_none(), b.due_date_ts, b.id));
}

/// A titled list split into messages of at most [`MAX_MESSAGE_CHARS`] visible
/// characters, breaking only between lines (so never inside a tag).
pub fn list_messages(title: &str, mut bounties: Vec<Bounty>, today: Date) -> Vec<String> {
    sort_for_display(&mut bounties);
    let header = format!("<b>{}</b>", escape(title));
    let header_len = visible_len(title);
    let mut messages = Vec::new();
    let mut current = header.clone();
    let mut current_len = header_len;
    for b in &bounties {
        let (line, len) = bounty_line(b, today);
        if current_len + 1 + len > MAX_MESSAGE_CHARS && current_len > header_len {
            messages.push(std::mem::replace(&mut current, format!("{header} (cont.)")));
            current_len = header_len + 8;
        }
        current.push('\n');
        current.push_str(&line);
        current_len += 1 + len;
    }
    messages.push(current);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BountyId, UserId, date_to_ts};

    fn today() -> Date {
        "2026-11-23".parse().unwrap()
    }

    fn bounty(id: u64, text: &str, due: Option<&str>) -> Bounty {
        Bounty {
            id: BountyId(id),
            created_by_user_id: UserId(42),
            text: text.into(),
            link: None,
            due_date_ts: due.map(|d| date_to_ts(d.parse().unwrap())),
            created_at: 0,
        }
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
        let mut b = bounty(1, "<script>alert(1)</script>", None);
        b.link = Some("https://x.org/?a=1&b=\"2\"".into());
        let (line, _) = bounty_line(&b, today());
        assert!(line.contains("&lt;script&gt;"), "{line}");
        assert!(
            line.contains("href=\"https://x.org/?a=1&amp;b=&quot;2&quot;\""),
            "{line}"
        );
        assert!(!line.contains("<script>"));
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
        let msgs = list_messages(
            "Bounties",
            vec![
                bounty(1, "undated", None),
                bounty(2, "later", Some("2026-12-10")),
                bounty(3, "sooner", Some("2026-11-25")),
                bounty(4, "also later", Some("2026-12-10")),
            ],
            today(),
        );
        assert_eq!(msgs.len(), 1);
        let order: Vec<_> = ["sooner", "later", "also later", "undated"]
            .iter()
            .map(|t| msgs[0].find(&format!("</b> {t} ")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", msgs[0]);
    }

    #[test]
    fn long_lists_split_between_lines_under_the_limit() {
        let bounties: Vec<_> = (1..=200)
            .map(|i| bounty(i, &"é<".repeat(60), None))
            .collect();
        let msgs = list_messages("Bounties", bounties, today());
        assert!(msgs.len() > 1);
        let mut seen = 0;
        for m in &msgs {
            let visible: String = m
                .replace("&lt;", "<")
                .replace("<b>", "")
                .replace("</b>", "");
            assert!(visible.encode_utf16().count() <= 4096, "{}", visible.len());
            assert_eq!(
                m.matches("<b>").count(),
                m.matches("</b>").count(),
                "tags balanced"
            );
            seen += m.matches("<b>#").count();
        }
        assert_eq!(seen, 200, "every bounty shown once, in order");
    }
}
