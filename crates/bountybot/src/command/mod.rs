//! The bot's brain: [`parse`] (text to command), [`handle`](mod@handle) (command and store to
//! reply) and [`render`] (replies as Telegram HTML). Pure apart from the store calls
//! in `handle`; no file or network access.

pub mod digest;
pub mod handle;
pub mod parse;
pub mod render;

pub use handle::{Context, Outcome, Reply, handle, handle_update};
