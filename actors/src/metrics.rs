//! The metric names of the actor layer, in one place (exported at `/metrics` by the binary).
//!
//! Names follow Prometheus conventions: `_total` for counters, base units in the name.

/// Gauge: actors active on this node, by `kind`.
pub const ACTORS_ACTIVE: &str = "cultfit_actors_active";
/// Counter: activation attempts on this node, by `kind` and `outcome`.
pub const ACTIVATIONS: &str = "cultfit_activations_total";
/// Counter: commands handled, by `kind` and `outcome` (`ok`, `rejected`, `failed`).
pub const COMMANDS: &str = "cultfit_commands_total";
/// Histogram: command handling time in seconds, by `kind`.
pub const COMMAND_SECONDS: &str = "cultfit_command_duration_seconds";
/// Counter: lease renewals, by `outcome` (`ok`, `lost`).
pub const LEASE_RENEWALS: &str = "cultfit_lease_renewals_total";
/// Counter: domain events published from the outbox.
pub const OUTBOX_PUBLISHED: &str = "cultfit_outbox_published_total";
