//! The worker side of cultfit: domain state machines, the actix actors that own them, placement of
//! those actors across nodes, and the persistence they need.
//!
//! Layout:
//! - Pure domain (no runtime, unit-tested): [`error`], [`schedule`], and `state` in each entity
//!   folder ([`workout`], [`trainer`], [`trainee`]).
//! - Actor glue: `actor` in each entity folder; [`entity`] is the shared virtual-actor shell
//!   (lease, subscription, sequential handling, supervision, passivation).
//! - Persistence: `store` in each entity folder, [`db`], [`outbox`], and [`MIGRATOR`].
//! - Distribution: [`placement`] (leases, membership, activation), [`client`] (sending commands
//!   to actors wherever they live), [`bus`] (streams and buckets), [`worker`] (a worker node).
//!
//! Non-goals: no HTTP here. The actix-web facade lives in the `cultfit` binary crate and talks to
//! actors only through [`client::ActorClient`] and the wire types of `bus-contracts`.

pub mod bus;
pub mod client;
pub mod db;
pub mod entity;
pub mod env;
/// Domain errors and their stable codes.
pub mod error;
/// The live path: wearable samples, the leaderboard, calories and results.
pub mod live;
pub mod metrics;
pub mod outbox;
pub mod placement;
/// Time slots and the overlap rule.
pub mod schedule;
/// A trainee: no overlapping bookings, one live session at a time.
pub mod trainee;
/// A trainer: no overlapping sessions.
pub mod trainer;
pub mod worker;
/// A workout session: lifecycle, roster, capacity, waitlist.
pub mod workout;

/// Every migration under `migrations/`, applied by `cultfit migrate` and at `cultfit serve` start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
