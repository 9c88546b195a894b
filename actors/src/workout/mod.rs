//! A workout session: lifecycle (scheduled → live → ended, or cancelled), roster, capacity and
//! waitlist.
//!
//! [`state`] is the pure state machine, unit-tested without a runtime; the actor that owns it lives
//! next to it, with [`live`], the session's live half (samples in, frames out) while it runs.

pub mod actor;
pub mod live;
pub mod live_snapshots;
pub mod live_sweep;
pub mod state;
pub mod store;
