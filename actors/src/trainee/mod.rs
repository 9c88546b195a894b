//! A trainee: per-user invariants that span workouts (no overlapping bookings, at most one live
//! session at a time).
//!
//! [`state`] is the pure rule, unit-tested without a runtime; the actor that owns it lives next to it.

pub mod actor;
pub mod state;
pub mod store;
