//! Placement: which worker node hosts which virtual actor (DESIGN.md §4).
//!
//! - [`rendezvous`]: every node ranks the live workers for an entity the same way, with no
//!   coordination (highest-random-weight hashing).
//! - [`nodes`]: worker heartbeats in the `nodes` KV bucket, and the directory every node keeps of
//!   them.
//! - [`share`]: bounded loads: a worker hosting its share of workouts turns new ones away, so
//!   the next in rendezvous order takes them.
//! - [`lease`]: one lease per active entity in the `owners` KV bucket. `create` is the lock, its
//!   revision the epoch; renewal at TTL/3; a failed renewal fences the actor at once.
//! - [`host`]: a worker's side: answering activation requests, starting actors on its arbiters,
//!   stopping them (passivation, fencing, drain).
//!
//! The caller's side (send a command; on *no responders*, ask the preferred node to activate the
//! entity and retry) is [`crate::client::ActorClient`].

pub mod host;
pub mod lease;
pub mod nodes;
pub mod rendezvous;
pub mod share;
