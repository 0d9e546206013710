//! What a `--dry-run`/`--execute` command will do, or did.
//!
//! A [`Plan`] lists actions with counts. The same value is printed as text for people
//! and as JSON (`--json`) for scripts; [`Plan::changes`] says whether anything would
//! change, which is what "a second run is a no-op" means in tests.
//!
//! ```
//! use statekit::plan::{Mode, Plan};
//! let mut plan = Plan::new("db-migrate bamboo-house", Mode::DryRun);
//! plan.push("import compliance events", 12);
//! plan.push("archive legacy files", 0);
//! assert!(plan.changes());
//! assert!(plan.to_string().contains("import compliance events"));
//! ```

use std::fmt;

use serde::Serialize;

/// Whether a command only reports or also acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Report what would happen; change nothing.
    DryRun,
    /// Do it.
    Execute,
}

impl Mode {
    /// `Execute` only when asked to execute; a command run with neither flag is a dry run.
    pub fn from_execute_flag(execute: bool) -> Mode {
        if execute { Mode::Execute } else { Mode::DryRun }
    }

    /// True for [`Mode::Execute`].
    pub fn is_execute(self) -> bool {
        self == Mode::Execute
    }
}

/// One line of a plan: what, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedAction {
    /// What is done, e.g. "import study users".
    pub what: String,
    /// How many items; 0 means nothing to do for this action.
    pub count: u64,
}

/// The actions of one command run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The command and its subject, e.g. "db-migrate bamboo-house".
    pub title: String,
    /// Dry run or execute.
    pub mode: Mode,
    /// The actions, in the order they run.
    pub actions: Vec<PlannedAction>,
    /// Free-form remarks shown after the actions (e.g. where files were archived).
    pub notes: Vec<String>,
}

impl Plan {
    /// An empty plan.
    pub fn new(title: impl Into<String>, mode: Mode) -> Plan {
        Plan {
            title: title.into(),
            mode,
            actions: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds an action.
    pub fn push(&mut self, what: impl Into<String>, count: u64) {
        self.actions.push(PlannedAction {
            what: what.into(),
            count,
        });
    }

    /// Adds a remark.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The count of the action named `what`, if present.
    pub fn count(&self, what: &str) -> Option<u64> {
        self.actions
            .iter()
            .find(|a| a.what == what)
            .map(|a| a.count)
    }

    /// True when any action has work to do.
    pub fn changes(&self) -> bool {
        self.actions.iter().any(|a| a.count > 0)
    }

    /// The plan as JSON, with `changes` included.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "mode": self.mode,
            "actions": self.actions,
            "notes": self.notes,
            "changes": self.changes(),
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::DryRun => "dry run: nothing is changed; pass --execute to apply",
            Mode::Execute => "executed",
        };
        writeln!(f, "{} ({mode})", self.title)?;
        let width = self.actions.iter().map(|a| a.what.len()).max().unwrap_or(0);
        for a in &self.actions {
            writeln!(f, "  {:<width$}  {:>9}", a.what, a.count)?;
        }
        for n in &self.notes {
            writeln!(f, "  {n}")?;
        }
        let verdict = match (self.mode, self.changes()) {
            (_, false) => "nothing to do",
            (Mode::DryRun, true) => "would change the data",
            (Mode::Execute, true) => "done",
        };
        write!(f, "{verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_zero_plan_changes_nothing() {
        let mut plan = Plan::new("db-init x", Mode::Execute);
        assert!(!plan.changes());
        plan.push("apply migrations", 0);
        assert!(!plan.changes());
        assert!(plan.to_string().ends_with("nothing to do"));
        assert_eq!(plan.to_json()["changes"], false);
    }

    #[test]
    fn text_and_json_carry_the_same_counts() {
        let mut plan = Plan::new("db-migrate bamboo-house", Mode::DryRun);
        plan.push("import study users", 3);
        plan.push("import compliance events", 0);
        plan.note("legacy files stay in place");
        let text = plan.to_string();
        assert!(
            text.starts_with("db-migrate bamboo-house (dry run"),
            "{text}"
        );
        assert!(text.contains("import study users"), "{text}");
        assert!(text.lines().any(|l| l.trim_end().ends_with(" 3")), "{text}");
        assert!(text.contains("legacy files stay in place"));
        assert!(text.ends_with("would change the data"));
        let json = plan.to_json();
        assert_eq!(json["mode"], "dry-run");
        assert_eq!(json["actions"][0]["what"], "import study users");
        assert_eq!(json["actions"][0]["count"], 3);
        assert_eq!(json["changes"], true);
        assert_eq!(plan.count("import study users"), Some(3));
        assert_eq!(plan.count("nope"), None);
    }

    #[test]
    fn no_flag_means_dry_run() {
        assert_eq!(Mode::from_execute_flag(false), Mode::DryRun);
        assert!(Mode::from_execute_flag(true).is_execute());
    }
}
