//! The worker side of cultfit: domain state machines, the actix actors that own them, placement of
//! those actors across nodes, and the persistence they need.
//!
//! Layout (grows with each entity):
//! - [`MIGRATOR`]: the PostgreSQL schema, embedded from `migrations/` at compile time, so every
//!   binary that links this crate can bring a database up to date.
//!
//! Non-goals: no HTTP here. The actix-web facade lives in the `cultfit` binary crate and talks to
//! actors only through the wire types of `bus-contracts`.

/// Every migration under `migrations/`, applied by `cultfit migrate` and at `cultfit serve` start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
