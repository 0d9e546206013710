//! honestcam: a property-compliance and study portal's state and tools.
//!
//! - [`compliance`]: the event model and the pure fold (`apply_events`), plus the
//!   loader that reads and appends the log on either backend;
//! - [`study`]: study users, progress blobs, the CAM question bank and the quiz;
//! - [`storage`]: the entry point to persistent state, choosing SQLite or legacy JSON
//!   per property; [`db`] and [`legacy`] are the two backends;
//! - [`migrate`]: import legacy JSON into SQLite, and roll back;
//! - [`admin`]: `db-init` and `db-status`; [`demo`]: demo property generator;
//! - [`web`]: the portal (pages, JSON API) over [`storage`].
//!
//! The command-line interface is in `main.rs` and `cli/`; it only parses arguments
//! and calls these modules.

pub mod admin;
pub mod compliance;
pub mod config;
pub mod db;
pub mod demo;
pub mod legacy;
pub mod migrate;
pub mod property;
pub mod storage;
pub mod study;
pub mod web;
