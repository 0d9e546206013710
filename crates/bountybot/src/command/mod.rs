//! The bot's brain: [`parse`] (text to command), [`button`] (inline buttons and the
//! data a tap sends back), [`handle`](mod@handle) (command and store to
//! reply), [`tap`](mod@tap) (a tap on a button and what it gets back), [`render`] (replies as Telegram HTML) and [`terminal`] (that HTML as a
//! person reads it in a terminal). Pure apart from the store calls in `handle`; no
//! file or network access.

pub mod button;
pub mod digest;
pub mod handle;
pub mod parse;
pub mod render;
pub mod tap;
pub mod terminal;

pub use handle::{Context, Outcome, Reply, handle, handle_update};
pub use tap::{Placement, TapOutcome, Tapped, answer_tap, tap};
