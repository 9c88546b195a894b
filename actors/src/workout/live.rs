//! `LiveSession`: the live half of a workout's actor, running while the workout is live on the
//! node that owns it.
//!
//! It reads the workout's samples from the `ENERGY` stream through a JetStream ordered consumer
//! (attached with `add_stream` in bounded batches, never a `do_send` per sample), folds them into
//! the [`Board`], and every tick publishes the ranking on the live subject, places naming board
//! slots; readers ask who holds them ([`Roster`], through the workout actor) once per change. Start, restart and
//! failover are one path: the session first looks for a snapshot of its board
//! ([`live_snapshots`](super::live_snapshots), written every `CULTFIT_SNAPSHOT_SECS`); with one,
//! it restores every participant's state and reads the stream from just after what the snapshot
//! covers, merging the stored history in meanwhile; without, the consumer begins a little before
//! the workout's start. Either way a new owner rebuilds exactly the same board (samples carry
//! cumulative energy and `seq`, so replayed and duplicated samples change nothing).
//!
//! The workout actor owns it through [`LiveHandle`]: it adds late joiners, and at the end asks
//! for the final board ([`Finish`]) once every sample published before the end has been read.

use super::live_snapshots::{Loaded, Snapshots};
use crate::env::Env;
use crate::live::board::{Applied, Board, HistoryBlock, TS_SLACK_MS};
use crate::live::frame::{frames, roster};
use crate::metrics;
use crate::placement::lease::Fence;
use actix::prelude::*;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use bus_contracts::subjects;
use bus_contracts::v1::energy::{self, Rejection};
use bus_contracts::v1::frames::Tick;
use bus_contracts::v1::{RosterPage, SampleCounts, live_codec};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Most samples handled in one turn of the actor; between batches it serves its other messages
/// (ticks, joins), so a flood delays a frame by at most one batch.
const BATCH: usize = 512;

/// How long [`Finish`] waits for the consumer to catch up before ending with what it has. Far
/// beyond a healthy session's lag (a tick): only an overloaded owner, with a backlog of samples
/// still in the stream, waits this long; ending earlier would leave them out of the results.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);

/// How long [`Finish`] waits at least, so samples published just before the end are delivered.
const SETTLE: Duration = Duration::from_millis(200);

/// How soon a broken consumer is attached again.
const REATTACH_AFTER: Duration = Duration::from_secs(1);

/// How often reading a snapshot's history is tried before replaying the whole session instead.
const HISTORY_ATTEMPTS: u32 = 3;

/// Stored minutes of history merged per turn of the actor, so a long session's history does not
/// hold up a tick.
const MERGE_BATCH: usize = 8;

type Batch = Vec<Result<async_nats::jetstream::Message, pull::OrderedError>>;

/// Adds a trainee who joined after the start.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddParticipant(pub Uuid);

/// Ends the live session: answers with the final board once every sample published up to `at`
/// has been read (or [`CATCH_UP_LIMIT`] passed), then stops.
#[derive(Message)]
#[rtype(result = "Option<Board>")]
pub struct Finish {
    /// When the workout ended; samples published later are refused as not live.
    pub at: DateTime<Utc>,
}

/// Who holds the board's slots from the given one on (a page); `None` until the board is in
/// place, and once it is finishing.
#[derive(Message)]
#[rtype(result = "Option<RosterPage>")]
pub struct Roster(pub u32);

/// Stops without answering (the workout actor went away).
#[derive(Message)]
#[rtype(result = "()")]
struct Shutdown;

/// The workout actor's hold on its live session; dropping it stops the session.
pub struct LiveHandle(Addr<LiveSession>);

impl LiveHandle {
    /// Starts the live session of `workout_id`, live since `started_at`, with `participants` on
    /// the board. `epoch` is the owner's lease epoch, stamped on every frame; no frame goes out
    /// unless `fence` still holds.
    pub fn start(
        env: Arc<Env>,
        workout_id: Uuid,
        epoch: u64,
        fence: Fence,
        started_at: DateTime<Utc>,
        participants: impl IntoIterator<Item = Uuid>,
    ) -> Self {
        let board = Board::new(started_at.timestamp_millis(), participants);
        LiveHandle(
            LiveSession {
                env,
                workout_id,
                epoch,
                fence,
                started_at,
                board,
                board_id: Uuid::new_v4(),
                names: HashMap::new(),
                named_slots: 0,
                names_settled: 0,
                naming: false,
                counts: SampleCounts::default(),
                tick: 0,
                tick_schedule: metrics::TickSchedule::default(),
                last_stream_seq: 0,
                caught_up: false,
                ready: false,
                history_complete: true,
                consumer: None,
                snapshots: None,
                ended_at: None,
                finishing: None,
            }
            .start(),
        )
    }

    /// Puts a late joiner on the board.
    pub fn add(&self, trainee: Uuid) {
        self.0.do_send(AddParticipant(trainee));
    }

    /// Who holds the board's slots from `from` on, see [`Roster`]; `None` if the session is gone
    /// or has no board to tell of.
    pub fn roster(&self, from: u32) -> impl Future<Output = Option<RosterPage>> + 'static {
        let request = self.0.send(Roster(from));
        async move { request.await.ok().flatten() }
    }

    /// The final board, see [`Finish`]; `None` if the session is gone.
    pub fn finish(&self, at: DateTime<Utc>) -> impl Future<Output = Option<Board>> + 'static {
        let request = self.0.send(Finish { at });
        async move { request.await.ok().flatten() }
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.0.do_send(Shutdown);
    }
}

/// See the module docs.
pub struct LiveSession {
    env: Arc<Env>,
    workout_id: Uuid,
    epoch: u64,
    fence: Fence,
    started_at: DateTime<Utc>,
    board: Board,
    /// This board's id on frames and roster pages: readers know slots only within it (a board
    /// started again, on this owner or another, is another board).
    board_id: Uuid,
    /// Display names (`None`: hidden from leaderboards), looked up in batches.
    names: HashMap<Uuid, Option<String>>,
    /// Slots below this were looked up (or are being).
    named_slots: u32,
    /// Slots below this have their names in `names` (what frames tell readers as `named`).
    names_settled: u32,
    naming: bool,
    counts: SampleCounts,
    tick: u64,
    /// When each tick is due, to measure how late it runs.
    tick_schedule: metrics::TickSchedule,
    /// Stream sequence of the newest sample read, to resume after a broken consumer.
    last_stream_seq: u64,
    /// Whether the consumer had nothing more pending after the newest sample read.
    caught_up: bool,
    /// Whether the board is in place (a snapshot looked for, and restored if found): no frame
    /// goes out before.
    ready: bool,
    /// Whether the board holds all its history (false while a snapshot's is still being read):
    /// needed for a snapshot and for the results, not for ranking.
    history_complete: bool,
    /// The running sample consumer.
    consumer: Option<SpawnHandle>,
    /// The snapshot writer and reader, when snapshots are on.
    snapshots: Option<Snapshots>,
    ended_at: Option<DateTime<Utc>>,
    finishing: Option<(oneshot::Sender<Board>, Instant)>,
}

impl Actor for LiveSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::live_sessions_changed(1);
        let tick = self.env.tick;
        self.tick_schedule = metrics::TickSchedule::starting_now(tick);
        ctx.run_interval(tick, |act, ctx| act.publish_frames(ctx));
        ctx.run_interval(Duration::from_millis(100), |act, ctx| act.try_finish(ctx));
        match self.env.snapshot_every {
            Some(every) => {
                let snapshots =
                    Snapshots::new(self.env.snapshots.clone(), self.workout_id, self.epoch);
                let load = snapshots.load(self.started_at.timestamp_millis());
                self.snapshots = Some(snapshots);
                ctx.run_interval(every, |act, ctx| act.snapshot(ctx));
                ctx.spawn(actix::fut::wrap_future(load).map(|loaded, act: &mut Self, ctx| {
                    match loaded {
                        Ok(Some(loaded)) => act.restore(loaded, ctx),
                        Ok(None) => metrics::snapshot_restored("none"),
                        Err(err) => {
                            metrics::snapshot_restored("failed");
                            tracing::warn!(workout.id = %act.workout_id, error = %err, "cannot read the snapshot; replaying the whole session");
                        }
                    }
                    act.ready = true;
                    act.attach(ctx);
                }));
            }
            None => {
                self.ready = true;
                self.attach(ctx);
            }
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::live_sessions_changed(-1);
    }
}

impl LiveSession {
    /// Attaches an ordered consumer for this workout's samples: from a little before the start
    /// on the first attach (replaying whatever a previous owner already read), else right after
    /// the newest sample read.
    fn attach(&mut self, ctx: &mut Context<Self>) {
        let js = async_nats::jetstream::new(self.env.nats.clone());
        let deliver_policy = if self.last_stream_seq == 0 {
            let from = self.started_at - chrono::TimeDelta::milliseconds(TS_SLACK_MS);
            let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(from.timestamp_micros()) * 1000,
            )
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            DeliverPolicy::ByStartTime { start_time }
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: self.last_stream_seq + 1,
            }
        };
        let config = pull::OrderedConfig {
            filter_subject: subjects::workout_energy_all(self.workout_id),
            deliver_policy,
            ..Default::default()
        };
        let open = async move {
            let stream = js.get_stream(subjects::ENERGY_STREAM).await?;
            let consumer = stream.create_consumer(config).await?;
            let pending = consumer.cached_info().num_pending;
            let messages = consumer.messages().await?;
            anyhow::Ok((pending, messages))
        };
        ctx.spawn(
            actix::fut::wrap_future(open).map(|opened, act: &mut Self, ctx| match opened {
                Ok((pending, messages)) => {
                    act.caught_up = pending == 0;
                    act.consumer = Some(ctx.add_stream(messages.ready_chunks(BATCH)));
                    tracing::info!(workout.id = %act.workout_id, pending, "live session reading samples");
                }
                Err(err) => {
                    tracing::warn!(workout.id = %act.workout_id, error = %err, "cannot read samples; retrying");
                    ctx.run_later(REATTACH_AFTER, |act, ctx| act.attach(ctx));
                }
            }),
        );
    }

    /// Applies one delivered sample and tallies the outcome in `tally`.
    fn ingest(
        &mut self,
        message: &async_nats::jetstream::Message,
        now_ms: i64,
        tally: &mut metrics::SampleTally,
    ) {
        let (published, pending) = match message.info() {
            Ok(info) => {
                self.last_stream_seq = self.last_stream_seq.max(info.stream_sequence);
                (info.published, info.pending)
            }
            Err(_) => (time::OffsetDateTime::UNIX_EPOCH, 0),
        };
        self.caught_up = pending == 0;
        let published_ms = (published.unix_timestamp_nanos() / 1_000_000) as i64;
        let outcome = self.judge(&message.subject, &message.payload, published_ms, now_ms);
        match outcome {
            Ok(Applied::Accepted) => self.counts.accepted += 1,
            Err(_) => self.counts.rejected += 1,
            Ok(Applied::Stale) => {}
        }
        tally.add(outcome);
    }

    /// Decides one sample: when it was published, who sent it, what it says.
    fn judge(
        &mut self,
        subject: &str,
        payload: &[u8],
        published_ms: i64,
        now_ms: i64,
    ) -> Result<Applied, Rejection> {
        let ended_ms = self.ended_at.map_or(i64::MAX, |at| at.timestamp_millis());
        if published_ms < self.started_at.timestamp_millis() || published_ms > ended_ms {
            return Err(Rejection::NotLive);
        }
        let user = subjects::energy_sender(subject).ok_or(Rejection::NotParticipant)?;
        let sample = energy::parse(payload)?;
        self.board.ingest(user, &sample, now_ms)
    }

    /// Puts a snapshot's board in place of the empty one (keeping everyone already on it: the
    /// roster, and whoever joined meanwhile), and starts reading its history.
    fn restore(&mut self, loaded: Loaded, ctx: &mut Context<Self>) {
        let Some(snapshots) = self.snapshots.as_mut() else {
            return;
        };
        let Some((head, states)) = snapshots.adopt(loaded) else {
            metrics::snapshot_restored("none");
            return;
        };
        let mut board = match Board::restore(self.started_at.timestamp_millis(), states) {
            Ok(board) => board,
            Err(err) => {
                metrics::snapshot_restored("failed");
                tracing::warn!(workout.id = %self.workout_id, error = %err, "unusable snapshot; replaying the whole session");
                snapshots.forget_history();
                return;
            }
        };
        for slot in 0..self.board.len() as u32 {
            board.add_participant(self.board.user(slot));
        }
        tracing::info!(workout.id = %self.workout_id, covers_seq = head.covers_seq, participants = board.len(), "live session restored from a snapshot");
        metrics::snapshot_restored("restored");
        self.board = board;
        self.last_stream_seq = head.covers_seq;
        self.counts = head.counts;
        self.history_complete = false;
        self.read_history(head, 1, ctx);
    }

    /// Reads the stored history `head` names and merges it in; after [`HISTORY_ATTEMPTS`]
    /// failures, replays the whole session instead.
    fn read_history(
        &mut self,
        head: super::live_snapshots::Head,
        attempt: u32,
        ctx: &mut Context<Self>,
    ) {
        let Some(snapshots) = self.snapshots.as_ref() else {
            return;
        };
        let read = snapshots.load_history(&head);
        ctx.spawn(actix::fut::wrap_future(read).map(move |read, act: &mut Self, ctx| {
            match read {
                Ok(pieces) => act.merge_history(pieces, ctx),
                Err(err) if attempt < HISTORY_ATTEMPTS => {
                    tracing::warn!(workout.id = %act.workout_id, error = %err, attempt, "cannot read the snapshot's history; retrying");
                    ctx.run_later(REATTACH_AFTER, move |act, ctx| {
                        act.read_history(head, attempt + 1, ctx)
                    });
                }
                Err(err) => {
                    tracing::warn!(workout.id = %act.workout_id, error = %err, "cannot read the snapshot's history; replaying the whole session");
                    act.replay_everything(ctx);
                }
            }
        }));
    }

    /// Merges stored history a few minutes per turn (see [`MERGE_BATCH`]).
    fn merge_history(&mut self, mut pieces: Vec<HistoryBlock>, ctx: &mut Context<Self>) {
        let rest = pieces.split_off(pieces.len().min(MERGE_BATCH));
        for piece in pieces {
            if let Err(err) = self.board.merge_history(piece) {
                tracing::warn!(workout.id = %self.workout_id, error = %err, "unusable snapshot history; replaying the whole session");
                self.replay_everything(ctx);
                return;
            }
        }
        if rest.is_empty() {
            self.history_complete = true;
        } else {
            ctx.run_later(Duration::ZERO, move |act, ctx| act.merge_history(rest, ctx));
        }
    }

    /// Drops a restored board and reads the session from its start, as without a snapshot.
    fn replay_everything(&mut self, ctx: &mut Context<Self>) {
        metrics::snapshot_restored("abandoned");
        if let Some(consumer) = self.consumer.take() {
            ctx.cancel_future(consumer);
        }
        let everyone: Vec<Uuid> = (0..self.board.len() as u32)
            .map(|slot| self.board.user(slot))
            .collect();
        self.board = Board::new(self.started_at.timestamp_millis(), everyone);
        self.counts = SampleCounts::default();
        self.last_stream_seq = 0;
        self.caught_up = false;
        self.history_complete = true;
        if let Some(snapshots) = self.snapshots.as_mut() {
            snapshots.forget_history();
        }
        self.attach(ctx);
    }

    /// Cuts a snapshot of the board and writes it in the background (one write at a time).
    fn snapshot(&mut self, ctx: &mut Context<Self>) {
        if !self.ready
            || !self.history_complete
            || self.finishing.is_some()
            || self.last_stream_seq == 0
            || !self.fence.holds()
        {
            return;
        }
        let Some(snapshots) = self.snapshots.as_mut() else {
            return;
        };
        let Some(cut) = snapshots.cut(&mut self.board, self.last_stream_seq, self.counts) else {
            return;
        };
        let minutes = cut.minutes();
        let write = snapshots.write(cut);
        ctx.spawn(actix::fut::wrap_future(write).map(move |outcome, act: &mut Self, _| {
            let outcome = match outcome {
                Ok(written) => {
                    metrics::snapshot_written(written.bytes);
                    Ok(written)
                }
                Err(err) => {
                    metrics::snapshot_failed();
                    tracing::warn!(workout.id = %act.workout_id, error = %err, "snapshot not written; trying again next time");
                    Err(())
                }
            };
            if let Some(snapshots) = act.snapshots.as_mut() {
                snapshots.written(outcome, minutes);
            }
        }));
    }

    fn publish_frames(&mut self, ctx: &mut Context<Self>) {
        self.tick_schedule.ticked();
        if !self.ready {
            return;
        }
        if !self.fence.holds() {
            // A stale owner (stalled past its lease, or fenced and not yet stopped) must not
            // publish: another owner with a newer epoch may be publishing already.
            ::metrics::counter!(metrics::FRAMES_FENCED).increment(1);
            return;
        }
        let started = Instant::now();
        self.tick += 1;
        let ranking = self.board.rank();
        let tick = Tick {
            epoch: self.epoch,
            board: self.board_id,
            tick: self.tick,
            at: Utc::now(),
            samples: self.counts,
        };
        let payloads: Vec<Vec<u8>> = frames(&self.board, &ranking, self.names_settled, tick)
            .into_iter()
            .map(|frame| live_codec::encode_frame(&frame))
            .collect();
        metrics::tick_duration(started.elapsed());
        let (nats, subject) = (
            self.env.nats.clone(),
            subjects::workout_live(self.workout_id),
        );
        actix::spawn(async move {
            for payload in payloads {
                if let Err(err) = nats.publish(subject.clone(), payload.into()).await {
                    tracing::warn!(error = %err, "failed to publish a live frame");
                }
            }
        });
        self.look_up_names(ctx);
    }

    /// Fetches, in one query in the background, the display names of the slots handed out since
    /// the last lookup. Slots are append-only, so a cursor replaces a scan of the whole board on
    /// every tick.
    fn look_up_names(&mut self, ctx: &mut Context<Self>) {
        let (from, to) = (self.named_slots, self.board.len() as u32);
        if self.naming || from >= to {
            return;
        }
        let unknown: Vec<Uuid> = (from..to).map(|slot| self.board.user(slot)).collect();
        self.naming = true;
        self.named_slots = to;
        let pool = self.env.pool.clone();
        let lookup = async move { super::store::display_names(&pool, &unknown).await };
        ctx.spawn(
            actix::fut::wrap_future(lookup).map(move |found, act: &mut Self, _| {
                act.naming = false;
                match found {
                    Ok(found) => {
                        act.names.extend(found);
                        act.names_settled = to;
                    }
                    Err(err) => {
                        act.named_slots = from; // try these again next tick
                        tracing::warn!(error = %err, "display name lookup failed");
                    }
                }
            }),
        );
    }

    /// Answers a pending [`Finish`] once the consumer has caught up (or waited long enough).
    fn try_finish(&mut self, ctx: &mut Context<Self>) {
        let Some((_, since)) = &self.finishing else {
            return;
        };
        let waited = since.elapsed();
        let complete = self.ready && self.caught_up && self.history_complete;
        if waited < SETTLE || (!complete && waited < CATCH_UP_LIMIT) {
            return;
        }
        if !complete {
            tracing::error!(workout.id = %self.workout_id, "ending before every sample was read: results miss the unread ones");
        }
        if let Some((reply, _)) = self.finishing.take() {
            let board = std::mem::replace(&mut self.board, Board::new(0, []));
            let _ = reply.send(board);
        }
        if let Some(snapshots) = &self.snapshots {
            // The session is over: its results are being written from the board just sent.
            actix::spawn(snapshots.remove());
        }
        ctx.stop();
    }
}

impl StreamHandler<Batch> for LiveSession {
    fn handle(&mut self, batch: Batch, _: &mut Self::Context) {
        let now_ms = Utc::now().timestamp_millis();
        // Metrics once per batch: a registry lookup per sample would cost more than the sample.
        let mut tally = metrics::SampleTally::default();
        for message in batch {
            match message {
                Ok(message) => self.ingest(&message, now_ms, &mut tally),
                Err(err) => {
                    tracing::warn!(workout.id = %self.workout_id, error = %err, "sample consumer error")
                }
            }
        }
        tally.record();
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The ordered consumer recreates itself on gaps; it only ends when it cannot go on.
        tracing::warn!(workout.id = %self.workout_id, "sample consumer ended; attaching again");
        ctx.run_later(REATTACH_AFTER, |act, ctx| act.attach(ctx));
    }
}

impl Handler<AddParticipant> for LiveSession {
    type Result = ();

    fn handle(&mut self, AddParticipant(user): AddParticipant, _: &mut Self::Context) {
        self.board.add_participant(user);
    }
}

impl Handler<Roster> for LiveSession {
    type Result = Option<RosterPage>;

    fn handle(&mut self, Roster(from): Roster, _: &mut Self::Context) -> Self::Result {
        if !self.ready || self.finishing.is_some() {
            return None;
        }
        let named = self.names_settled;
        Some(roster(&self.board, self.board_id, &self.names, from, named))
    }
}

impl Handler<Finish> for LiveSession {
    type Result = ResponseFuture<Option<Board>>;

    fn handle(&mut self, Finish { at }: Finish, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.ended_at = Some(at);
        self.finishing = Some((reply, Instant::now()));
        self.try_finish(ctx);
        Box::pin(async move { answer.await.ok() })
    }
}

impl Handler<Shutdown> for LiveSession {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
