//! The domain, pure: what a compliance action, an event, a change, a study user and
//! the quiz are, and the rules over them. No I/O, no clock, no logging, no file or
//! row formats: everything here is tested without disks, and everything above
//! (storage, services, operations, the web) builds on it.
//!
//! - [`account`]: roles and account names: who may do what;
//! - [`compliance`]: statuses, the baseline, events, changes, an action's state;
//! - [`fold`]: `apply_events`, folding events over the baseline;
//! - [`projection`]: what each action's events changed, folded: the state kept beside
//!   the log, one row per action;
//! - [`history`]: an action's events told as what each changed, from what to what;
//! - [`urgency`]: what needs attention first: urgency groups, a property's summary,
//!   the page's order, text search over the fold (the legacy JSON backend's);
//! - [`search`]: a search as typed, parsed into words with its bounds;
//! - [`study`]: study users, their owners and progress blobs, and who may read or
//!   change which;
//! - [`text`]: the bound of every free-text field, its check, and the shortening of
//!   values stored beyond it for display;
//! - [`questions`] and [`quiz`]: the CAM question bank and scoring.

pub mod account;
pub mod compliance;
pub mod fold;
pub mod history;
pub mod projection;
pub mod questions;
pub mod quiz;
pub mod search;
pub mod study;
pub mod text;
pub mod urgency;

pub use account::{Identity, Role, RoleError};
pub use compliance::{
    ActionState, Baseline, BaselineAction, BaselineError, Change, Event, Note, PayloadError,
    PropertyInfo, Status, StatusError,
};
pub use fold::{Applied, ComplianceState, action_state, apply_events};
pub use projection::{ActionChanges, Projection};
pub use study::{Access, Progress, StudyUser, UserId, UserIdError};
