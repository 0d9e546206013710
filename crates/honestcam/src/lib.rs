//! honestcam: a property-compliance and study portal's state and tools.
//!
//! Layers, each using only those below it:
//!
//! - [`domain`]: pure rules and data (statuses, events, changes, the fold, the quiz);
//!   [`property`] (slugs and paths) and [`config`] (the data dir) sit beside it;
//! - [`storage`]: where state lives (SQLite and the legacy JSON files side by side),
//!   the property lock, and [`storage::PropertyStore`], one unit of work's handle;
//! - [`service`]: what the portal does to a property (record a change, answer a
//!   question), one unit of work per call;
//! - [`ops`]: the commands that create, import, roll back and report on storage;
//! - [`mcp`]: the MCP server for assistants, over storage opened read-only;
//! - [`web`]: the portal (pages, JSON API, and `/mcp`) over the services.
//!
//! The command-line interface is in `main.rs` and `cli/`; it only parses arguments
//! and calls these modules.

pub mod config;
pub mod domain;
pub mod mcp;
pub mod ops;
pub mod property;
pub mod service;
pub mod storage;
pub mod web;
