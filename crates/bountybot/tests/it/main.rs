//! bountybot integration tests: one binary, a module per capability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod buttons;
mod cli;
mod commands;
mod concurrency;
mod conformance;
mod doctor;
mod exactly_once;
mod lifecycle;
mod menu;
mod metrics;
mod moves;
mod postgres;
mod remind_cli;
mod reminders;
mod replicas;
mod replies;
mod retries;
mod senders;
mod settings;
mod storage;
mod storage_postgres;
mod support;
mod telegram;
mod tidy;
