//! bountybot
