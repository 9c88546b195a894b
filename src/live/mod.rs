//! The api side of the live path: following a workout's live subject and serving each client its
//! own view of it (routes in [`crate::routes::live`]).
//!
//! - [`reader`]: what each message of the live subject changes; complete ticks named through the
//!   roster, asked of the owner once per change (the parts are put together by
//!   `bus_contracts::v1::frames`, beside the workers' split).
//! - [`state`]: the newest state of one workout's session, folded from those updates (pure).
//! - [`view`]: one client's events and its slice of a tick (pure).
//! - [`hub`]: one NATS subscription per followed workout per node, the state in a `watch`.
//! - [`stream`]: one client's stream of encoded events, from its channel, until the end.
//! - [`access`]: who may follow a workout, and the results for the `ended` event.

pub mod access;
pub mod hub;
pub mod reader;
pub mod state;
pub mod stream;
pub mod view;
