//! What the simulator learns from the live frames: which samples a frame reflects (and how long
//! after their intended send), and what the workout's owner counted.

use super::wearable::Latencies;
use crate::live::reader::LiveReader;
use crate::live::state::LiveState;
use futures_util::StreamExt as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What the frames showed so far.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Samples sent and the latency of those reflected.
    pub latencies: Latencies,
    /// (accepted, rejected) as counted by the workout's owner.
    pub samples: (u64, u64),
    /// When the accepted count last grew (the owner's pace, which may trail the senders').
    pub last_accepted_at: Option<Instant>,
    /// Complete ticks seen.
    pub ticks: u64,
    /// When the last complete tick arrived.
    pub last_tick_at: Option<Instant>,
    /// The longest wait between two complete ticks: how long apps would have seen no update.
    pub longest_gap: std::time::Duration,
    /// Bytes of the live subject up to the last complete tick: what every api node following
    /// the workout receives.
    pub live_bytes: u64,
}

impl Tracker {
    /// Bytes of the live subject per complete tick.
    pub fn live_bytes_per_tick(&self) -> u64 {
        self.live_bytes.checked_div(self.ticks).unwrap_or(0)
    }
}

/// The tracker, whoever panicked while holding it (its numbers stay usable).
pub fn lock(tracker: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    tracker.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Folds the live subject into the tracker: every complete tick settles pending samples.
/// `reader` names the ticks (it asks the owner for the roster as a service would).
pub async fn follow(
    mut frames: async_nats::Subscriber,
    mut reader: LiveReader,
    tracker: Arc<Mutex<Tracker>>,
) {
    let mut state = LiveState::default();
    let mut bytes = 0;
    while let Some(message) = frames.next().await {
        let at = Instant::now();
        bytes += message.payload.len() as u64;
        let Ok(Some(update)) = reader.read(&message.payload).await else {
            continue;
        };
        let before = state.frame.as_ref().map(|f| (f.epoch, f.tick));
        state.apply(update);
        let Some(frame) = state.frame.clone() else {
            continue;
        };
        if before == Some((frame.epoch, frame.tick)) {
            continue;
        }
        let mut t = lock(&tracker);
        t.ticks += 1;
        t.live_bytes += std::mem::take(&mut bytes);
        if let Some(last) = t.last_tick_at {
            t.longest_gap = t.longest_gap.max(at.duration_since(last));
        }
        t.last_tick_at = Some(at);
        if frame.samples.accepted > t.samples.0 {
            t.last_accepted_at = Some(at);
        }
        t.samples = (frame.samples.accepted, frame.samples.rejected);
        for entry in frame.iter() {
            t.latencies.observed(entry.user, entry.energy, at);
        }
    }
}
