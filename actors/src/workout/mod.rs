//! A workout session: lifecycle (scheduled → live → ended, or cancelled), roster, capacity and
//! waitlist.
//!
//! [`state`] is the pure state machine, unit-tested without a runtime; the actor that owns it lives
//! next to it.

pub mod actor;
pub mod auto_end;
pub mod state;
pub mod store;
