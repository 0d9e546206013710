//! Durable local state for small self-hosted programs.
//!
//! `statekit` owns the mechanics both applications share and knows no domain type:
//!
//! - [`json`]: atomic JSON files (temp file, fsync, rename, fsync of the directory) and
//!   strict reads that never mistake a corrupt file for an empty one;
//! - [`fs`]: directory fsync, sidecar names, a file's identity (device and inode);
//! - [`lock`]: cross-process directory locks (exclusive, and reader-writer) and an
//!   in-process keyed async mutex;
//! - [`sqlite`]: connections opened in WAL mode with foreign keys on, one writer and a
//!   reader pool per file, shared through a cache; [`sqlite::group`]: group commit,
//!   one writer thread committing many callers' units of work with one fsync;
//! - [`migrate`]: numbered SQL migrations embedded at build time, one transaction each,
//!   with checksums;
//! - [`staged`]: building a whole database under a staging name and putting it in
//!   place only when complete;
//! - [`archive`]: moving files (or a database with its `-wal`/`-shm`) aside into
//!   timestamped folders without overwriting;
//! - [`error`]: an error shown with its causes, the one formatter for logs and replies;
//! - [`crash`]: crash points that let tests stop a real binary between two writes;
//! - [`doctor`]: a deployment's health report (text or JSON) and the checks both
//!   applications share: a private data dir, free space, the descriptor limit, each
//!   database's integrity and durability settings;
//! - [`plan`]: the report of a `--dry-run`/`--execute` command, as text or JSON;
//! - `http` (feature `http`): the accept loop both applications serve HTTP through,
//!   with a header-read timeout, an idle timeout and a cap on open connections;
//! - `scrape` (feature `http`): who may read a metrics endpoint (this machine, or a
//!   bearer token from a file).

pub mod archive;
pub mod crash;
pub mod doctor;
pub mod error;
pub mod fs;
#[cfg(feature = "http")]
pub mod http;
pub mod json;
pub mod lock;
pub mod migrate;
pub mod plan;
#[cfg(feature = "http")]
pub mod scrape;
pub mod sqlite;
pub mod staged;
