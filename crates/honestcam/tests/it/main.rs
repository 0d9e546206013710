//! honestcam integration tests: one binary, a module per capability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bounded;
mod browser;
mod conformance;
mod conns;
mod demo;
mod drill;
mod edges;
mod export;
mod guard;
mod manifest;
mod migrate;
mod overlap;
mod pages;
mod paging;
mod portal;
mod projection;
mod replication;
mod search;
mod seed_route;
mod study;
mod support;
mod textbounds;
mod tidy;
mod writes;
