//! [`LiveHub`]: an api node's subscriptions to live subjects, one per workout that has clients
//! here, shared by all of them.
//!
//! A workout's [`Channel`] subscribes on first use and unsubscribes when its last client lets go
//! (the subscription task is aborted with the last `Arc`). The newest [`LiveState`] sits in a
//! `tokio::sync::watch`: publishing never waits for clients, and each client reads only the
//! newest state, so a slow one skips frames instead of queueing them.

use super::access::EndedResult;
use super::reader::LiveReader;
use super::state::LiveState;
use bus_contracts::subjects;
use bus_contracts::v1::frames::Standings;
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// Metric: live subjects this api node is subscribed to.
const SUBSCRIBED: &str = "cultfit_live_subscriptions";
/// Metric: undecodable messages seen on live subjects.
const UNDECODABLE: &str = "cultfit_live_undecodable_total";

/// One workout's live state on this node, kept fresh while anyone holds it.
pub struct Channel {
    state: watch::Receiver<LiveState>,
    task: tokio::task::JoinHandle<()>,
    /// Everyone's result once the workout ended, read once for all clients here.
    pub results: tokio::sync::OnceCell<Arc<HashMap<Uuid, EndedResult>>>,
    /// When the subscription was made: the channel knows every transition since.
    pub since: Instant,
    /// The waiting room's head count as the owner told the first client here (later counts
    /// arrive on the channel), so a herd of waiting-room opens asks the owner once.
    waiting_at_open: tokio::sync::OnceCell<u32>,
}

impl Channel {
    /// Who is in the waiting room: the newest count seen on the channel, else `ask` (once per
    /// channel, shared by everyone opening meanwhile).
    pub async fn waiting<F>(&self, ask: F) -> Option<u32>
    where
        F: Future<Output = Option<u32>>,
    {
        if let Some((count, _)) = self.state.borrow().waiting {
            return Some(count);
        }
        self.waiting_at_open
            .get_or_try_init(|| async { ask.await.ok_or(()) })
            .await
            .ok()
            .copied()
    }

    /// A receiver of the newest state (marks the current one as seen).
    pub fn subscribe(&self) -> watch::Receiver<LiveState> {
        let mut rx = self.state.clone();
        rx.mark_unchanged();
        rx
    }

    /// The newest complete tick, waiting up to `wait` for a first one when none came yet (nobody
    /// here followed the workout until now: its owner's next tick is due).
    pub async fn newest_standings(&self, wait: Duration) -> Option<Arc<Standings>> {
        let mut state = self.subscribe();
        let newest = |rx: &watch::Receiver<LiveState>| rx.borrow().frame.clone();
        if let Some(frame) = newest(&state) {
            return Some(frame);
        }
        let _ = tokio::time::timeout(wait, state.wait_for(|s| s.frame.is_some())).await;
        newest(&state)
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.task.abort();
        metrics::gauge!(SUBSCRIBED).decrement(1.0);
    }
}

/// See the module docs.
pub struct LiveHub {
    nats: async_nats::Client,
    channels: Mutex<HashMap<Uuid, Weak<Channel>>>,
    closed: std::sync::atomic::AtomicBool,
}

impl LiveHub {
    /// A hub on this node's NATS connection.
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            channels: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Ends every stream served from this hub (their channels stop, so each client's stream ends
    /// after what it was sending) and refuses new ones: a server shutting down must not wait for
    /// clients that would follow a workout for an hour.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let Ok(channels) = self.channels.lock() else {
            return;
        };
        for channel in channels.values().filter_map(Weak::upgrade) {
            channel.task.abort();
        }
    }

    /// The channel of `workout_id`, subscribing if nobody here follows it yet. Once this returns,
    /// every later message on the live subject reaches the channel.
    pub async fn channel(&self, workout_id: Uuid) -> anyhow::Result<Arc<Channel>> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("shutting down");
        }
        if let Some(channel) = self.existing(workout_id) {
            return Ok(channel);
        }
        let since = Instant::now();
        let subscriber = self
            .nats
            .subscribe(subjects::workout_live(workout_id))
            .await?;
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if let Some(channel) = channels.get(&workout_id).and_then(Weak::upgrade) {
            return Ok(channel); // someone subscribed meanwhile; ours is dropped
        }
        let (tx, rx) = watch::channel(LiveState::default());
        let reader = LiveReader::new(self.nats.clone(), workout_id);
        let task = tokio::spawn(follow(subscriber, reader, tx));
        metrics::gauge!(SUBSCRIBED).increment(1.0);
        let channel = Arc::new(Channel {
            state: rx,
            task,
            results: tokio::sync::OnceCell::new(),
            since,
            waiting_at_open: tokio::sync::OnceCell::new(),
        });
        channels.retain(|_, weak| weak.strong_count() > 0);
        channels.insert(workout_id, Arc::downgrade(&channel));
        Ok(channel)
    }

    fn existing(&self, workout_id: Uuid) -> Option<Arc<Channel>> {
        let channels = self.channels.lock().ok()?;
        channels.get(&workout_id).and_then(Weak::upgrade)
    }
}

/// Folds the live subject's messages into the watch, until aborted.
async fn follow(
    mut subscriber: async_nats::Subscriber,
    mut reader: LiveReader,
    tx: watch::Sender<LiveState>,
) {
    while let Some(message) = subscriber.next().await {
        match reader.read(&message.payload).await {
            Ok(Some(update)) => {
                tx.send_if_modified(|state| state.apply(update));
            }
            Ok(None) => {}
            Err(_) => metrics::counter!(UNDECODABLE).increment(1),
        }
    }
}
