//! What needs attention first: an action's urgency group, a property's summary
//! (counts by status, overdue, due soon), the order of a property's page, and the
//! text search over actions. Pure: `today` is always given by the caller.
//!
//! ```
//! use honestcam::domain::urgency::{Summary, Urgency, by_urgency};
//! # let actions: Vec<honestcam::domain::ActionState> = Vec::new();
//! let today: jiff::civil::Date = "2026-11-24".parse().unwrap();
//! let summary = Summary::of(&actions, today);
//! let ordered = by_urgency(actions.iter(), today);
//! assert_eq!(summary.total, ordered.len());
//! assert!(Urgency::Overdue < Urgency::Closed);
//! ```

use jiff::civil::Date;

use super::compliance::{ActionState, Status};

/// An active action due within this many days from today (today included) is due soon.
pub const DUE_SOON_DAYS: i64 = 14;

/// The group an action is shown in, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Urgency {
    /// Active, due before today.
    Overdue,
    /// Active, due today or within [`DUE_SOON_DAYS`].
    DueSoon,
    /// Open or in progress, due later or undated.
    Open,
    /// Blocked, due later or undated.
    Blocked,
    /// Done or waived.
    Closed,
}

impl Urgency {
    /// Every group, most urgent first.
    pub const ALL: [Urgency; 5] = [
        Urgency::Overdue,
        Urgency::DueSoon,
        Urgency::Open,
        Urgency::Blocked,
        Urgency::Closed,
    ];

    /// The group's heading.
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Overdue => "Overdue",
            Urgency::DueSoon => "Due soon",
            Urgency::Open => "Open",
            Urgency::Blocked => "Blocked",
            Urgency::Closed => "Done or waived",
        }
    }

    /// A name for machines (CSS classes, test hooks): `overdue`, `due-soon`...
    pub fn key(self) -> &'static str {
        match self {
            Urgency::Overdue => "overdue",
            Urgency::DueSoon => "due-soon",
            Urgency::Open => "open",
            Urgency::Blocked => "blocked",
            Urgency::Closed => "closed",
        }
    }
}

/// The last day that counts as due soon, seen from `today`.
fn soon_until(today: Date) -> Date {
    today.saturating_add(jiff::Span::new().days(DUE_SOON_DAYS))
}

impl ActionState {
    /// Whether the action is active and due between `today` and [`DUE_SOON_DAYS`]
    /// from it, both included.
    pub fn is_due_soon(&self, today: Date) -> bool {
        self.status.is_active()
            && self
                .due_date()
                .is_some_and(|d| d >= today && d <= soon_until(today))
    }

    /// The group the action is shown in.
    pub fn urgency(&self, today: Date) -> Urgency {
        if !self.status.is_active() {
            return Urgency::Closed;
        }
        // The due date is parsed once: this runs for every action of every page.
        match self.due_date() {
            Some(d) if d < today => Urgency::Overdue,
            Some(d) if d <= soon_until(today) => Urgency::DueSoon,
            _ if self.status == Status::Blocked => Urgency::Blocked,
            _ => Urgency::Open,
        }
    }

    /// Whether every word of `query` appears, ignoring case, in the action's id, title,
    /// category, source, assignee or one of its notes. An empty query matches all.
    pub fn matches(&self, query: &str) -> bool {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return true;
        }
        let fields = || {
            [&self.id, &self.title, &self.category]
                .into_iter()
                .map(String::as_str)
                .chain(self.source.as_deref())
                .chain(self.assignee.as_deref())
                .chain(self.notes.iter().map(|n| n.text.as_str()))
        };
        words
            .iter()
            .all(|w| fields().any(|f| contains_lowercase(f, w)))
    }
}

/// Whether `text`, lowercased, contains `word` (already lowercase); without copying
/// `text` when it is ASCII, as most is.
fn contains_lowercase(text: &str, word: &str) -> bool {
    if !text.is_ascii() {
        return text.to_lowercase().contains(word);
    }
    let (text, word) = (text.as_bytes(), word.as_bytes());
    word.is_empty()
        || text
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
}

/// `actions` in the order a property's page shows them: by [`Urgency`]; within a
/// group of active actions the earliest due first (undated last); otherwise in
/// baseline order.
pub fn by_urgency<'a>(
    actions: impl IntoIterator<Item = &'a ActionState>,
    today: Date,
) -> Vec<&'a ActionState> {
    let mut out: Vec<&ActionState> = actions.into_iter().collect();
    out.sort_by_cached_key(|a| {
        let urgency = a.urgency(today);
        let due = match urgency {
            Urgency::Closed => None,
            _ => a.due_date(),
        };
        (urgency, due.is_none(), due)
    });
    out
}

/// A property at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Actions in all.
    pub total: usize,
    /// Actions per status, in [`Status::ALL`] order.
    pub by_status: [usize; 5],
    /// Active actions past their due date.
    pub overdue: usize,
    /// Active actions due within [`DUE_SOON_DAYS`].
    pub due_soon: usize,
}

impl Summary {
    /// The summary of `actions` as of `today`.
    pub fn of<'a>(actions: impl IntoIterator<Item = &'a ActionState>, today: Date) -> Summary {
        let mut s = Summary::default();
        for a in actions {
            s.total += 1;
            if let Some(i) = Status::ALL.iter().position(|st| *st == a.status) {
                s.by_status[i] += 1;
            }
            let urgency = a.urgency(today);
            s.overdue += usize::from(urgency == Urgency::Overdue);
            s.due_soon += usize::from(urgency == Urgency::DueSoon);
        }
        s
    }

    /// How many actions have `status`.
    pub fn count(&self, status: Status) -> usize {
        Status::ALL
            .iter()
            .position(|st| *st == status)
            .map_or(0, |i| self.by_status[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::compliance::{BaselineAction, Note};

    fn action(id: &str, status: Status, due: Option<&str>) -> ActionState {
        ActionState::from_baseline(&BaselineAction {
            id: id.into(),
            title: format!("Title of {id}"),
            category: "Fire safety".into(),
            status,
            due: due.map(str::to_string),
            source: Some("Lease 12.3".into()),
        })
    }

    fn today() -> Date {
        "2026-11-24".parse().unwrap()
    }

    #[test]
    fn groups_are_overdue_due_soon_open_blocked_then_closed() {
        let t = today();
        assert_eq!(
            action("a", Status::Blocked, Some("2026-11-23")).urgency(t),
            Urgency::Overdue,
            "a blocked action past due is overdue"
        );
        assert_eq!(
            action("a", Status::Open, Some("2026-11-24")).urgency(t),
            Urgency::DueSoon
        );
        assert_eq!(
            action("a", Status::InProgress, Some("2026-12-08")).urgency(t),
            Urgency::DueSoon,
            "the 14th day is still soon"
        );
        assert_eq!(
            action("a", Status::InProgress, Some("2026-12-09")).urgency(t),
            Urgency::Open
        );
        assert_eq!(action("a", Status::Open, None).urgency(t), Urgency::Open);
        assert_eq!(
            action("a", Status::Blocked, None).urgency(t),
            Urgency::Blocked
        );
        assert_eq!(
            action("a", Status::Done, Some("2020-01-01")).urgency(t),
            Urgency::Closed,
            "done is never overdue"
        );
        assert_eq!(
            action("a", Status::Waived, None).urgency(t),
            Urgency::Closed
        );
    }

    #[test]
    fn the_most_overdue_comes_first_and_closed_actions_last_in_baseline_order() {
        let actions = [
            action("done-b", Status::Done, Some("2026-01-01")),
            action("open-undated", Status::Open, None),
            action("late-1d", Status::Open, Some("2026-11-23")),
            action("blocked", Status::Blocked, Some("2027-06-01")),
            action("done-a", Status::Waived, Some("2025-01-01")),
            action("late-30d", Status::InProgress, Some("2026-10-25")),
            action("soon", Status::Open, Some("2026-11-30")),
            action("open-later", Status::Open, Some("2027-01-01")),
        ];
        let order: Vec<_> = by_urgency(&actions, today())
            .into_iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "late-30d",
                "late-1d",
                "soon",
                "open-later",
                "open-undated",
                "blocked",
                "done-b",
                "done-a"
            ]
        );
    }

    #[test]
    fn a_summary_counts_statuses_overdue_and_due_soon() {
        let actions = [
            action("a", Status::Open, Some("2026-11-01")),
            action("b", Status::InProgress, Some("2026-11-25")),
            action("c", Status::Done, Some("2026-11-01")),
            action("d", Status::InProgress, None),
        ];
        let s = Summary::of(&actions, today());
        assert_eq!(s.total, 4);
        assert_eq!(s.by_status, [1, 2, 0, 1, 0]);
        assert_eq!(s.count(Status::InProgress), 2);
        assert_eq!((s.overdue, s.due_soon), (1, 1));
    }

    #[test]
    fn search_needs_every_word_somewhere_ignoring_case() {
        let mut a = action("ACT-7", Status::Open, None);
        a.assignee = Some("Maria Lopez".into());
        a.notes.push(Note {
            text: "Vendor booked for Tuesday".into(),
            actor: "kim".into(),
            at: "t".into(),
        });
        a.notes.push(Note {
            text: "Die Grüne STRASSE, Straße".into(),
            actor: "kim".into(),
            at: "t".into(),
        });
        for q in [
            "",
            "  ",
            "maria",
            "FIRE",
            "act-7",
            "lease",
            "vendor maria",
            "tuesday",
            "GRÜN",
            "straße",
        ] {
            assert!(a.matches(q), "{q:?}");
        }
        for q in ["kim", "maria plumbing", "elevator", "grün-x", "é"] {
            assert!(!a.matches(q), "{q:?}");
        }
    }
}
