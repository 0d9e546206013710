//! Application services: what the portal and the commands do to a property, each call
//! one unit of work on one [`crate::storage::PropertyStore`] (so under the property's
//! lock, on one backend). They decide; storage stores; the domain says what is valid.
//!
//! - [`accounts`]: accounts and API tokens (who may use the portal);
//! - [`compliance`]: recording changes to actions, reading and appending the log;
//! - [`search`]: ranked full-text search of a property's titles, notes and assignees;
//! - [`as_of`]: every action as it stood at the end of a day, or at an instant;
//! - [`feed`]: every event of every property once, with a cursor to resume from;
//! - [`snapshot`]: the folded state per property, kept between requests;
//! - [`study`]: study users, progress, and answering the quiz.

pub mod accounts;
pub mod as_of;
pub mod compliance;
pub mod feed;
pub mod search;
pub mod snapshot;
pub mod study;
