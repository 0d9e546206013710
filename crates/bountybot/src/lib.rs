//! bountybot: tracks bounties (tasks with an optional link and due date) per chat.
//!
//! - [`domain`]: ids, text, links and dates, parsed at the edge;
//! - [`command`]: parse a message, handle it against a store, render the reply;
//! - [`store`]: the [`store::BountyStore`] trait and its JSON backend;
//! - [`repl`]: a local front end reading messages from stdin;
//! - [`telegram`]: the bot on the Telegram Bot API (polling or webhook);
//! - [`crash`]: the crash points the crash tests stop the binary at;
//! - [`doctor`]: the storage checks of `bountybot doctor`;
//! - [`metrics`]: the counters `/metrics` shows.
//!
//! The binary (`main.rs`) wires these to the command line.

pub mod command;
pub mod crash;
pub mod doctor;
pub mod domain;
pub mod metrics;
pub mod reminder;
pub mod repl;
pub mod store;
pub mod telegram;
