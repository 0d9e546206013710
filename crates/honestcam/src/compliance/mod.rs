//! Compliance actions and their event log.
//!
//! The baseline (`compliance.json`, from ingest) lists the actions; the log records
//! what happened to them since. [`events::apply_events`] folds the log over the
//! baseline into the current state of each action, as a pure function. [`loader`]
//! reads and appends the log on whichever backend the property uses.

pub mod event_json;
pub mod events;
pub mod loader;
pub mod model;
pub mod record;
pub mod snapshot;

pub use events::{ComplianceState, apply_events};
pub use model::{ActionState, Baseline, Change, ComplianceLog, Event, Status};
