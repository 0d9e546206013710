//! Durable local state.
