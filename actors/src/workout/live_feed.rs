//! `SampleFeed`: one `ENERGY` consumer per worker, reading every sample and routing each to the
//! worker's live session of its workout (by the workout id in its subject); samples of sessions
//! elsewhere are dropped.
//!
//! Why not one consumer per session: to find a filtered consumer's next message, nats-server
//! 2.15's file store matches the subject of every sample stored since that consumer's last one,
//! so 200 per-session consumers on one stream match every sample 200 times (BENCHMARKS,
//! "Many classes at once": a third of nats-server's CPU). A consumer of the whole stream matches
//! nothing: every sample is its next. The price is that each worker receives every sample, so
//! W workers receive W × the samples. (One consumer per worker filtering its sessions' subjects,
//! `filter_subjects`, was tried first and was worse than 200 consumers: BENCHMARKS says by how
//! much.)
//!
//! A session still reads on its own consumer first: a start or a failover may replay an hour of
//! its samples, and the feed must not rewind for every other session. Once that consumer has
//! nothing pending, the session hands over ([`Join`]) with the stream sequence it has read
//! through. If the feed has read at least that far, the session is served from the next sample
//! on; if not, the feed starts its consumer again (at most once per [`REGROUP_AFTER`], however
//! many sessions join) right after the lowest sequence any member may still miss: nothing is
//! skipped, and what is delivered twice the session drops by stream sequence.

use crate::metrics;
use actix::prelude::*;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use bus_contracts::subjects;
use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Most samples routed in one turn of the feed (as a session's own consumer reads them).
const BATCH: usize = 512;

/// How long hand-overs gather before the consumer is started again from behind: a burst of
/// sessions going live costs one new consumer, not one each.
const REGROUP_AFTER: Duration = Duration::from_millis(100);

/// How soon a broken consumer is started again.
const REATTACH_AFTER: Duration = Duration::from_secs(1);

type Batch = Vec<Result<async_nats::jetstream::Message, pull::OrderedError>>;

/// Samples of one session, in stream order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Samples(pub Vec<async_nats::jetstream::Message>);

/// A session's hand-over: from now on the feed delivers its workout's samples after stream
/// sequence `after` (everything up to it the session has read).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The session's workout.
    pub workout: Uuid,
    /// Which session of the workout (its board id): a session started again replaces the older.
    pub board: Uuid,
    /// The stream sequence the session has read through.
    pub after: u64,
    /// Where its samples go.
    pub to: Recipient<Samples>,
}

/// A session stopped; its workout's samples are no longer read for it (unless a newer session of
/// the workout has joined since).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The session's workout.
    pub workout: Uuid,
    /// The session's board id, as it joined.
    pub board: Uuid,
}

struct Member {
    board: Uuid,
    to: Recipient<Samples>,
    /// Whether the running consumer serves it: not while it waits for a consumer started again
    /// from behind (no later than its `after`), so that it never gets its samples out of order.
    read: bool,
}

/// See the module docs.
pub struct SampleFeed {
    nats: async_nats::Client,
    members: HashMap<Uuid, Member>,
    /// Every member the running consumer reads for has been delivered its samples up to this
    /// stream sequence; `None` while no consumer runs.
    through: Option<u64>,
    /// The lowest `after` of the members that joined since the consumer was started.
    joined_after: Option<u64>,
    /// Which start of the consumer is current; an older one still opening is dropped.
    generation: u64,
    consumer: Option<SpawnHandle>,
    /// The running consumer's name on the server, to delete it when another replaces it.
    consumer_name: Option<String>,
    regroup: Option<SpawnHandle>,
}

impl Actor for SampleFeed {
    type Context = Context<Self>;
}

impl SampleFeed {
    /// The worker's feed, idle until a session joins.
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            members: HashMap::new(),
            through: None,
            joined_after: None,
            generation: 0,
            consumer: None,
            consumer_name: None,
            regroup: None,
        }
    }

    /// Starts the consumer again (or stops it, with no members left) after
    /// [`REGROUP_AFTER`] (once however many changes come meanwhile).
    fn regroup_soon(&mut self, ctx: &mut Context<Self>) {
        if self.regroup.is_none() {
            self.regroup = Some(ctx.run_later(REGROUP_AFTER, |act, ctx| {
                act.regroup = None;
                act.attach(ctx);
            }));
        }
    }

    fn attach(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        if let Some(consumer) = self.consumer.take() {
            ctx.cancel_future(consumer);
        }
        if let Some(name) = self.consumer_name.take() {
            actix::spawn(delete_consumer(self.nats.clone(), name));
        }
        metrics::feed_sessions(self.members.len());
        if self.members.is_empty() {
            self.through = None;
            self.joined_after = None;
            return;
        }
        let after = match (self.through, self.joined_after.take()) {
            (Some(through), Some(joined)) => through.min(joined),
            (Some(after), None) | (None, Some(after)) => after,
            (None, None) => 0,
        };
        // From here the new consumer covers every member from `after` on, whether it opens now or
        // on a retry.
        self.through = Some(after);
        for member in self.members.values_mut() {
            member.read = true;
        }
        let config = pull::OrderedConfig {
            filter_subject: subjects::ENERGY_STREAM_SUBJECTS.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        };
        let js = async_nats::jetstream::new(self.nats.clone());
        let open = async move {
            let stream = js.get_stream(subjects::ENERGY_STREAM).await?;
            let consumer = stream.create_consumer(config).await?;
            let (name, pending) = (
                consumer.cached_info().name.clone(),
                consumer.cached_info().num_pending,
            );
            let messages = consumer.messages().await?;
            anyhow::Ok((name, pending, messages))
        };
        let generation = self.generation;
        let sessions = self.members.len();
        ctx.spawn(
            actix::fut::wrap_future(open).map(move |opened, act: &mut Self, ctx| {
                if generation != act.generation {
                    return;
                }
                match opened {
                    Ok((name, pending, messages)) => {
                        act.consumer_name = Some(name);
                        act.consumer = Some(ctx.add_stream(messages.ready_chunks(BATCH)));
                        tracing::debug!(sessions, after, pending, "sample feed reading");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "sample feed cannot read samples; retrying");
                        ctx.run_later(REATTACH_AFTER, move |act, ctx| {
                            if generation == act.generation {
                                act.attach(ctx);
                            }
                        });
                    }
                }
            }),
        );
    }
}

/// Deletes an `ENERGY` consumer no longer read. Dropping its messages alone would leave it on
/// the server until its inactivity threshold (30 s), still matching samples for its open pulls.
pub(super) async fn delete_consumer(nats: async_nats::Client, name: String) {
    let js = async_nats::jetstream::new(nats);
    let deleted = async {
        let stream = js.get_stream_no_info(subjects::ENERGY_STREAM).await?;
        stream.delete_consumer(&name).await?;
        anyhow::Ok(())
    };
    if let Err(err) = deleted.await {
        // It goes away on its own once inactive.
        tracing::debug!(consumer = %name, error = %err, "cannot delete a sample consumer");
    }
}

impl StreamHandler<Batch> for SampleFeed {
    fn handle(&mut self, batch: Batch, _: &mut Self::Context) {
        let mut routed: HashMap<Uuid, Vec<async_nats::jetstream::Message>> = HashMap::new();
        for message in batch {
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(error = %err, "sample feed consumer error");
                    continue;
                }
            };
            if let Ok(info) = message.info() {
                self.through = self.through.max(Some(info.stream_sequence));
            }
            if let Some(workout) = subjects::energy_workout(&message.subject) {
                routed.entry(workout).or_default().push(message);
            }
        }
        for (workout, messages) in routed {
            // A workout that left meanwhile, or whose session was started again and waits for
            // the next consumer: dropped.
            if let Some(member) = self.members.get(&workout).filter(|member| member.read) {
                member.to.do_send(Samples(messages));
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The ordered consumer recreates itself on gaps; it only ends when it cannot go on.
        tracing::warn!("sample feed consumer ended; starting it again");
        let generation = self.generation;
        ctx.run_later(REATTACH_AFTER, move |act, ctx| {
            if generation == act.generation {
                act.attach(ctx);
            }
        });
    }
}

impl Handler<Join> for SampleFeed {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Self::Context) {
        // The running consumer reads every workout: a member that has read at least as far is
        // served by it from the next sample on; one behind it needs it started again from
        // where it is.
        let read =
            self.consumer.is_some() && self.through.is_some_and(|through| join.after >= through);
        self.members.insert(
            join.workout,
            Member {
                board: join.board,
                to: join.to,
                read,
            },
        );
        metrics::feed_sessions(self.members.len());
        if !read {
            self.joined_after = Some(self.joined_after.map_or(join.after, |a| a.min(join.after)));
            self.regroup_soon(ctx);
        }
    }
}

impl Handler<Leave> for SampleFeed {
    type Result = ();

    fn handle(&mut self, leave: Leave, ctx: &mut Self::Context) {
        if self
            .members
            .get(&leave.workout)
            .is_some_and(|member| member.board == leave.board)
        {
            self.members.remove(&leave.workout);
            metrics::feed_sessions(self.members.len());
            if self.members.is_empty() {
                self.regroup_soon(ctx);
            }
        }
    }
}
