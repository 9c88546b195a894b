//! A trainer: their schedule, which must never hold two sessions at once.
//!
//! [`state`] is the pure rule, unit-tested without a runtime; the actor that owns it lives next to it.

pub mod actor;
pub mod state;
pub mod store;
