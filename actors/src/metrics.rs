//! The metric names of the actor layer, in one place (exported at `/metrics` by the binary).
//!
//! Names follow Prometheus conventions: `_total` for counters, base units in the name.

/// Gauge: actors active on this node, by `kind`.
pub const ACTORS_ACTIVE: &str = "cultfit_actors_active";
/// Counter: activation attempts on this node, by `kind` and `outcome`.
pub const ACTIVATIONS: &str = "cultfit_activations_total";
/// Counter: commands handled, by `kind` and `outcome` (`ok`, `rejected`, `failed`;
/// `unavailable`: PostgreSQL was out of reach, the caller may retry).
pub const COMMANDS: &str = "cultfit_commands_total";
/// Histogram: command handling time in seconds, by `kind`.
pub const COMMAND_SECONDS: &str = "cultfit_command_duration_seconds";
/// Counter: lease renewals, by `outcome` (`ok`; `retry`: failed for a transient reason and
/// retried; `lost`: the lease was fenced).
pub const LEASE_RENEWALS: &str = "cultfit_lease_renewals_total";
/// Counter: frames a stale owner held back because its lease no longer held.
pub const FRAMES_FENCED: &str = "cultfit_frames_fenced_total";
/// Counter: live sessions resumed on activation (a failover, a drain, an actor restart), each one
/// a replay of the session's samples.
pub const LIVE_SESSIONS_RESUMED: &str = "cultfit_live_sessions_resumed_total";
/// Counter: domain events published from the outbox.
pub const OUTBOX_PUBLISHED: &str = "cultfit_outbox_published_total";
/// Gauge: live sessions (workouts ranking and publishing frames) on this node.
pub const LIVE_SESSIONS: &str = "cultfit_live_sessions";
/// Counter: energy samples put on a board.
pub const SAMPLES_ACCEPTED: &str = "cultfit_samples_accepted_total";
/// Counter: energy samples already seen (duplicates, replays, late deliveries): harmless.
pub const SAMPLES_STALE: &str = "cultfit_samples_stale_total";
/// Counter: energy samples refused, by `reason` (see `bus_contracts::v1::energy::Rejection::as_str`).
pub const SAMPLES_REJECTED: &str = "cultfit_samples_rejected_total";
/// Counter: snapshots of live sessions written, by `outcome` (`ok`, `failed`).
pub const SNAPSHOTS_WRITTEN: &str = "cultfit_live_snapshots_written_total";
/// Counter: bytes of live-session snapshots written (pieces and heads).
pub const SNAPSHOT_BYTES: &str = "cultfit_live_snapshot_bytes_total";
/// Counter: live sessions started, by what became of their snapshot (`outcome`): `restored`
/// (the board came from a snapshot and only later samples were read), `none` (no snapshot: the
/// session was read from its start), `failed` (one could not be read or used: read from the
/// start), `abandoned` (its history could not be read after restoring: read from the start).
pub const SNAPSHOT_RESTORES: &str = "cultfit_live_snapshot_restores_total";
/// Histogram: time to rank a session and build its frames, in seconds.
pub const TICK_SECONDS: &str = "cultfit_tick_duration_seconds";
/// Histogram: how late each live session's tick ran against its schedule, in seconds. A session
/// ticking every `period` has tick `k` (from 0) due at `first + k × period`, `first` being one
/// period after it started ticking; lateness is when the tick ran minus when it was due. The
/// schedule is never reset, so drift accumulates, and overdue ticks that run back to back after a
/// stall each count their own lateness. Buckets: [`TICK_LATENESS_BUCKETS`].
pub const TICK_LATENESS_SECONDS: &str = "cultfit_live_tick_lateness_seconds";
/// Bucket bounds of [`TICK_LATENESS_SECONDS`] (seconds): fine around the 50 ms target, so p99
/// can be read off the difference of two scrapes.
pub const TICK_LATENESS_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
    2.0, 5.0, 10.0,
];

use bus_contracts::v1::energy::Rejection;
use std::time::{Duration, Instant};

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

/// Sample outcomes counted over a batch, recorded at once (see [`SampleTally::record`]).
#[derive(Debug, Default)]
pub struct SampleTally {
    accepted: u64,
    stale: u64,
    rejected: [u64; Rejection::ALL.len()],
}

impl SampleTally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Result<crate::live::board::Applied, Rejection>) {
        use crate::live::board::Applied;
        match outcome {
            Ok(Applied::Accepted) => self.accepted += 1,
            Ok(Applied::Stale) => self.stale += 1,
            Err(reason) => {
                if let Some(i) = Rejection::ALL.iter().position(|r| *r == reason) {
                    self.rejected[i] += 1;
                }
            }
        }
    }

    /// Adds the tally to the exported counters.
    pub fn record(self) {
        if self.accepted > 0 {
            metrics::counter!(SAMPLES_ACCEPTED).increment(self.accepted);
        }
        if self.stale > 0 {
            metrics::counter!(SAMPLES_STALE).increment(self.stale);
        }
        for (reason, n) in Rejection::ALL.iter().zip(self.rejected) {
            if n > 0 {
                metrics::counter!(SAMPLES_REJECTED, "reason" => reason.as_str()).increment(n);
            }
        }
    }
}

/// One tick's ranking took `elapsed`.
pub fn tick_duration(elapsed: std::time::Duration) {
    metrics::histogram!(TICK_SECONDS).record(elapsed.as_secs_f64());
}

/// A live session's snapshot was written: `bytes` of pieces and head.
pub fn snapshot_written(bytes: usize) {
    metrics::counter!(SNAPSHOTS_WRITTEN, "outcome" => "ok").increment(1);
    metrics::counter!(SNAPSHOT_BYTES).increment(bytes as u64);
}

/// Writing a live session's snapshot failed (it is tried again at the next interval).
pub fn snapshot_failed() {
    metrics::counter!(SNAPSHOTS_WRITTEN, "outcome" => "failed").increment(1);
}

/// A live session started: `outcome` says what became of its snapshot (see [`SNAPSHOT_RESTORES`]).
pub fn snapshot_restored(outcome: &'static str) {
    metrics::counter!(SNAPSHOT_RESTORES, "outcome" => outcome).increment(1);
}

/// A live session's tick schedule, against which each tick's lateness is recorded
/// ([`TICK_LATENESS_SECONDS`]). `Default` is no schedule: nothing is recorded.
#[derive(Debug, Default)]
pub struct TickSchedule {
    /// The next tick's due time, and the period.
    next: Option<(Instant, Duration)>,
}

impl TickSchedule {
    /// Ticks every `period`, the first one period from now: what `run_interval`, called right
    /// after, schedules (its slots are due at or after these, never before).
    pub fn starting_now(period: Duration) -> Self {
        Self {
            next: Some((Instant::now() + period, period)),
        }
    }

    /// A tick is running now: records how late it is and moves on to the next slot.
    pub fn ticked(&mut self) {
        if let Some((due, period)) = &mut self.next {
            let lateness = Instant::now().saturating_duration_since(*due);
            *due += *period;
            metrics::histogram!(TICK_LATENESS_SECONDS).record(lateness.as_secs_f64());
        }
    }
}
