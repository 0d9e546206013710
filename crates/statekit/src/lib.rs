//! Durable local state for small self-hosted programs.
//!
//! `statekit` owns the mechanics both applications share and knows no domain type:
//!
//! - [`json`]: atomic JSON files (temp file, fsync, rename, fsync of the directory) and
//!   strict reads that never mistake a corrupt file for an empty one;
//! - [`lock`]: a cross-process directory lock and an in-process keyed async mutex;
//! - [`sqlite`]: connections opened in WAL mode with foreign keys on, one writer and a
//!   reader pool per file, shared through a cache;
//! - [`migrate`]: numbered SQL migrations embedded at build time, one transaction each,
//!   with checksums;
//! - [`archive`]: moving files aside into timestamped folders without overwriting;
//! - [`plan`]: the report of a `--dry-run`/`--execute` command, as text or JSON.

pub mod archive;
pub mod json;
pub mod lock;
pub mod migrate;
pub mod plan;
pub mod sqlite;
