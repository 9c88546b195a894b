//! One client's live stream: the events its [`Follower`] has due, encoded, from admission until
//! the workout ends or is cancelled (or the client goes). No transport here: the routes send each
//! [`EncodedEvent`] as an SSE event or a WebSocket message.
//!
//! A client reads only the newest state of its workout's [`Channel`], so a slow one skips frames
//! (never a lifecycle change: see [`super::view`]), and everyone's results for `ended` are read
//! once per channel, however many of its clients end at that moment.

use super::access::{self, EndedResult};
use super::hub::Channel;
use super::state::LiveState;
use super::view::{ClientEvent, Follower, Initial, Step};
use futures_util::Stream;
use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

/// Metric: clients following a live stream on this api node.
const CLIENTS: &str = "cultfit_live_clients";

/// One event as the client receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedEvent {
    /// Its name: `event:` in SSE, `event` in a WebSocket message.
    pub name: &'static str,
    /// Its data, as JSON text.
    pub data: String,
}

/// The events for one client, until the workout ends or is cancelled (or the client goes).
/// `initial` is where the workout stood at admission; `viewer` is the client's user.
pub fn follow(
    channel: Arc<Channel>,
    initial: Initial,
    viewer: Uuid,
    workout_id: Uuid,
    pool: Arc<PgPool>,
) -> impl Stream<Item = EncodedEvent> + 'static {
    let rx = channel.subscribe();
    let (follower, opening) = Follower::opening(viewer, initial, &rx.borrow());
    let start = Client {
        follower,
        due: opening.into(),
        rx,
        channel,
        pool,
        workout_id,
        viewer,
        finished: false,
        _gauge: ClientGauge::new(),
    };
    futures_util::stream::unfold(start, |mut client| async move {
        if client.finished {
            return None;
        }
        loop {
            if let Some(step) = client.due.pop_front() {
                let (event, last) = client.encode(step).await;
                client.finished = last;
                return Some((event, client));
            }
            // Only the newest state is read: states published meanwhile are skipped.
            if client.follower.is_done() || client.rx.changed().await.is_err() {
                return None;
            }
            let steps = client.follower.next(&client.rx.borrow_and_update());
            client.due.extend(steps);
        }
    })
}

/// One client's place in its stream: what its follower has due, and where it reads states and
/// results from.
struct Client {
    follower: Follower,
    due: VecDeque<Step>,
    rx: watch::Receiver<LiveState>,
    channel: Arc<Channel>,
    pool: Arc<PgPool>,
    workout_id: Uuid,
    viewer: Uuid,
    /// The last event (`ended` or `cancelled`) went out.
    finished: bool,
    _gauge: ClientGauge,
}

impl Client {
    /// `step` as the client receives it, and whether it is the last.
    async fn encode(&self, step: Step) -> (EncodedEvent, bool) {
        match step {
            Step::Send(event) => {
                let last = matches!(event, ClientEvent::Cancelled(_));
                let (name, data) = (event.name(), event.data());
                (EncodedEvent { name, data }, last)
            }
            Step::Ended(at) => {
                let result = self.ended_result().await;
                let data = serde_json::json!({"at": at, "result": result}).to_string();
                (
                    EncodedEvent {
                        name: "ended",
                        data,
                    },
                    true,
                )
            }
        }
    }

    /// The viewer's result once the workout ended (`None` for its trainer or a trainee who never
    /// joined); every client on this node shares one read of the results.
    async fn ended_result(&self) -> Option<EndedResult> {
        let results = self
            .channel
            .results
            .get_or_try_init(|| async {
                access::results(&self.pool, self.workout_id)
                    .await
                    .map(Arc::new)
            })
            .await;
        match results {
            Ok(results) => results.get(&self.viewer).cloned(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read results for the ended event");
                None
            }
        }
    }
}

/// Counts a client in [`CLIENTS`] while alive.
struct ClientGauge;

impl ClientGauge {
    fn new() -> Self {
        metrics::gauge!(CLIENTS).increment(1.0);
        ClientGauge
    }
}

impl Drop for ClientGauge {
    fn drop(&mut self) {
        metrics::gauge!(CLIENTS).decrement(1.0);
    }
}
