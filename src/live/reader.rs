//! [`LiveReader`]: what a reader of a workout's live subject makes of each message, as an
//! [`Update`] to fold into its [`LiveState`](super::state::LiveState).
//!
//! Frames name board slots, so a complete tick is shown only with a roster that covers it: when a
//! tick names slots (or settled names) this reader does not know yet, it asks the workout's owner
//! for them ([`WorkoutCommand::Roster`], a page at a time) before passing the tick on. That is one
//! request per change per reader, not per client: an api node's 10 000 followers of a session
//! share one `LiveReader`. A tick whose roster cannot be had is skipped (the next one asks again).

use bus_contracts::subjects;
use bus_contracts::v1::frames::{Assembler, Ranked, Standings};
use bus_contracts::v1::live_codec::{self, DecodeError};
use bus_contracts::v1::roster::Roster;
use bus_contracts::v1::{ActorKind, LiveMessage, Reply, RosterPage, WorkoutCommand};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Metric: roster pages asked of workouts' owners, by outcome.
const ROSTER_PAGES: &str = "cultfit_live_roster_pages_total";

/// How long the owner has to answer for a page: within a tick, so a slow answer costs one frame.
const PAGE_TIMEOUT: Duration = Duration::from_secs(1);

/// Something to fold into the live state.
#[derive(Debug)]
pub enum Update {
    /// A lifecycle change (waiting, started, ended, cancelled, rescheduled).
    Lifecycle(LiveMessage),
    /// A complete tick, named.
    Tick(Standings),
}

/// See the module docs. One per followed workout per reader.
pub struct LiveReader {
    nats: async_nats::Client,
    workout_id: Uuid,
    assembler: Assembler,
    roster: Arc<Roster>,
    /// Whether the last roster request failed (said once, not every tick).
    failing: bool,
}

impl LiveReader {
    /// A reader of `workout_id`'s live subject, asking its owner over `nats` (service
    /// credentials: the owner's command subject) for rosters.
    pub fn new(nats: async_nats::Client, workout_id: Uuid) -> Self {
        LiveReader {
            nats,
            workout_id,
            assembler: Assembler::default(),
            roster: Arc::new(Roster::default()),
            failing: false,
        }
    }

    /// What `payload` (one message of the live subject) changes: `None` for a part of a tick
    /// still incomplete, an older worker's frame, or a tick whose roster could not be had.
    pub async fn read(&mut self, payload: &[u8]) -> Result<Option<Update>, DecodeError> {
        Ok(match live_codec::decode(payload)? {
            LiveMessage::Frame(part) => match self.assembler.add(part) {
                Some(ranked) => self.named(ranked).await.map(Update::Tick),
                None => None,
            },
            // Names in every place: what workers sent before slot frames; not shown.
            LiveMessage::NamedFrame(_) => None,
            lifecycle => Some(Update::Lifecycle(lifecycle)),
        })
    }

    /// `ranked` with a roster that covers it, asking the owner for what is missing.
    async fn named(&mut self, ranked: Ranked) -> Option<Standings> {
        let board = ranked.tick.board;
        if self.roster.board() != board {
            self.roster = Arc::new(Roster::new(board)); // a new board: its slots start again
        }
        let mut asked = None;
        while let Some(from) = self.roster.wants(board, ranked.participants, ranked.named) {
            if asked == Some(from) {
                // The owner answered without moving us on (it ended meanwhile): skip the tick.
                return None;
            }
            asked = Some(from);
            let page = match self.page(from).await {
                Ok(page) => page,
                Err(err) => {
                    metrics::counter!(ROSTER_PAGES, "outcome" => "failed").increment(1);
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::warn!(workout.id = %self.workout_id, error = %err, "cannot read the live roster; ticks are skipped until it can be read");
                    }
                    return None;
                }
            };
            metrics::counter!(ROSTER_PAGES, "outcome" => "ok").increment(1);
            if !Arc::make_mut(&mut self.roster).add(page) {
                return None; // another board's answer: this tick is stale
            }
        }
        self.failing = false;
        Some(Standings::new(ranked, self.roster.clone()))
    }

    async fn page(&self, from: u32) -> anyhow::Result<RosterPage> {
        let subject = subjects::actor_commands(ActorKind::Workout, self.workout_id);
        let command = serde_json::to_vec(&WorkoutCommand::Roster { from })?;
        let request = async_nats::Request::new()
            .payload(command.into())
            .timeout(Some(PAGE_TIMEOUT));
        let reply = self.nats.send_request(subject, request).await?;
        let reply: Reply<RosterPage> = serde_json::from_slice(&reply.payload)?;
        Result::from(reply).map_err(|err| anyhow::anyhow!("{}: {}", err.code, err.message))
    }
}
