//! The study side: users, their progress blobs, the question bank and the quiz.

pub mod model;
pub mod questions;
pub mod quiz;
pub mod store;

pub use model::{Progress, StudyUser, UserId};
