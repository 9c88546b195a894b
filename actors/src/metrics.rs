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
/// Gauge: live sessions (workouts ranking and publishing frames) on this node.
pub const LIVE_SESSIONS: &str = "cultfit_live_sessions";
/// Counter: energy samples put on a board.
pub const SAMPLES_ACCEPTED: &str = "cultfit_samples_accepted_total";
/// Counter: energy samples already seen (duplicates, replays, late deliveries): harmless.
pub const SAMPLES_STALE: &str = "cultfit_samples_stale_total";
/// Counter: energy samples refused, by `reason` (see `live::sample::Rejection::as_str`).
pub const SAMPLES_REJECTED: &str = "cultfit_samples_rejected_total";
/// Histogram: time to rank a session and build its frames, in seconds.
pub const TICK_SECONDS: &str = "cultfit_tick_duration_seconds";

use crate::live::sample::Rejection;

/// Registers the live-path series at zero, so dashboards see every rejection reason from the
/// start rather than only after its first occurrence.
pub fn describe_live() {
    metrics::counter!(SAMPLES_ACCEPTED).absolute(0);
    metrics::counter!(SAMPLES_STALE).absolute(0);
    for reason in Rejection::ALL {
        metrics::counter!(SAMPLES_REJECTED, "reason" => reason.as_str()).absolute(0);
    }
    metrics::gauge!(LIVE_SESSIONS).set(0.0);
}

/// A live session started (`+1`) or stopped (`-1`).
pub fn live_sessions_changed(delta: i8) {
    metrics::gauge!(LIVE_SESSIONS).increment(f64::from(delta));
}

/// A sample went on a board.
pub fn sample_accepted() {
    metrics::counter!(SAMPLES_ACCEPTED).increment(1);
}

/// A sample was already known.
pub fn sample_stale() {
    metrics::counter!(SAMPLES_STALE).increment(1);
}

/// A sample was refused.
pub fn sample_rejected(reason: Rejection) {
    metrics::counter!(SAMPLES_REJECTED, "reason" => reason.as_str()).increment(1);
}

/// One tick's ranking took `elapsed`.
pub fn tick_duration(elapsed: std::time::Duration) {
    metrics::histogram!(TICK_SECONDS).record(elapsed.as_secs_f64());
}
