//! The bot's brain: [`parse`] (text to command), [`button`] (inline buttons and the
//! data a tap sends back), [`handle`](mod@handle) (command and store to
//! reply), [`render`] (replies as Telegram HTML) and [`terminal`] (that HTML as a
//! person reads it in a terminal). Pure apart from the store calls in `handle`; no
//! file or network access.

pub mod button;
pub mod digest;
pub mod handle;
pub mod parse;
pub mod render;
pub mod terminal;

pub use handle::{Context, Outcome, Reply, handle, handle_tap, handle_update, tap};
