//! The actor glue shared by every virtual actor: [`EntityActor`] hosts one [`Entity`].
//!
//! It owns the lease, subscribes the entity's command subject, decodes each request, runs the
//! entity's handler to completion before the next one (`ctx.wait`: commands to one entity are
//! strictly sequential, which is what makes its invariants race-free across nodes), and replies.
//! Lifecycle:
//! - **start / restart / failover** are one path: `started()` loads the entity from PostgreSQL
//!   and subscribes. A fatal handler error calls `ctx.stop()`; the `Supervisor` restarts the
//!   actor, which reloads.
//! - **final stop** (idle passivation, a fenced lease, drain) first forgets the actor in the
//!   registry, which drops the last address, so the supervisor lets it go.

use crate::env::Env;
use crate::placement::lease::{Fence, Lease};
use actix::prelude::*;
use bus_contracts::v1::{ActorKind, Reply, WireError};
use bus_contracts::{ErrorCode, subjects};
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// What an entity's handler produced: a JSON reply value, or why not.
pub enum CommandError {
    /// Refused with a stable code (the entity is fine).
    Rejected(WireError),
    /// Something broke (database, bus): reply "internal" and restart the actor to reload.
    Fatal(anyhow::Error),
}

impl<E: Into<WireError>> From<E> for CommandError {
    fn from(err: E) -> Self {
        CommandError::Rejected(err.into())
    }
}

/// The future a handler returns; it may touch the actor again when it resolves.
pub type Outcome<E> =
    Pin<Box<dyn ActorFuture<EntityActor<E>, Output = Result<serde_json::Value, CommandError>>>>;

/// A kind of virtual actor.
pub trait Entity: Sized + Unpin + 'static {
    /// Which kind (subject and lease key prefix).
    const KIND: ActorKind;
    /// Passivate after this long without commands (if [`Entity::can_passivate`]).
    const IDLE_TIMEOUT: Duration;
    /// Its commands.
    type Command: DeserializeOwned + 'static;

    /// Load from PostgreSQL; `None` if no such entity exists.
    fn load(env: Arc<Env>, id: Uuid)
    -> Pin<Box<dyn Future<Output = anyhow::Result<Option<Self>>>>>;

    /// Handle one command. `epoch` is the lease epoch of this activation.
    fn handle(&mut self, command: Self::Command, env: &Arc<Env>, epoch: u64) -> Outcome<Self>;

    /// Called once loaded and subscribed, with this activation's lease epoch and fence: the
    /// place to start what runs beside the command handling (a live workout's session), which
    /// must check the fence before acting for the owner.
    fn activated(&mut self, _env: &Arc<Env>, _epoch: u64, _fence: Fence) {}

    /// Whether the actor may be passivated now.
    fn can_passivate(&self) -> bool {
        true
    }

    /// Write-behind work, run every [`FLUSH_INTERVAL`] between commands (never during one).
    fn flush(
        &mut self,
        _env: &Arc<Env>,
    ) -> Option<Pin<Box<dyn Future<Output = anyhow::Result<()>>>>> {
        None
    }
}

/// How often [`Entity::flush`] runs.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Wrap a finished result as an [`Outcome`].
pub fn ready<E: Entity>(result: Result<serde_json::Value, CommandError>) -> Outcome<E> {
    Box::pin(actix::fut::ready(result))
}

/// Wrap a plain future (one that does not need the actor back) as an [`Outcome`].
pub fn detached<E: Entity>(
    future: impl Future<Output = Result<serde_json::Value, CommandError>> + 'static,
) -> Outcome<E> {
    Box::pin(actix::fut::wrap_future(future))
}

/// Serialize a reply value.
pub fn to_value(value: &impl serde::Serialize) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(value).map_err(|err| CommandError::Fatal(err.into()))
}

/// Ask an actor to stop for good (drain).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Hosts one entity.
pub struct EntityActor<E: Entity> {
    id: Uuid,
    env: Arc<Env>,
    lease: Option<Lease>,
    epoch: u64,
    state: Option<E>,
    ready: Option<oneshot::Sender<Result<(), String>>>,
    last_active: Instant,
}

impl<E: Entity> EntityActor<E> {
    /// An actor for `id` holding `lease`; `ready` learns when it serves commands (or why not).
    pub fn new(
        id: Uuid,
        env: Arc<Env>,
        lease: Lease,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> Self {
        Self {
            id,
            env,
            epoch: lease.epoch(),
            lease: Some(lease),
            state: None,
            ready: Some(ready),
            last_active: Instant::now(),
        }
    }

    /// The hosted entity, once loaded (for handlers' completion closures).
    pub fn entity_mut(&mut self) -> Option<&mut E> {
        self.state.as_mut()
    }

    /// Stop for good: forget the address (no supervisor restart), release the lease.
    fn shutdown(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        self.env.registry.forget(E::KIND, self.id);
        if let Some(lease) = self.lease.take()
            && !lease.is_fenced()
        {
            lease.release();
        }
        tracing::info!(actor.kind = E::KIND.as_str(), actor.id = %self.id, reason, "actor stopped");
        ctx.stop();
    }

    fn report_ready(&mut self, outcome: Result<(), String>) {
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(outcome);
        }
    }
}

impl<E: Entity> Actor for EntityActor<E> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (env, id) = (self.env.clone(), self.id);
        let load = async move {
            // Subscribe only to an entity that exists: a subscription dropped unread (the entity
            // turned out unknown) would swallow a command sent meanwhile, which would then wait
            // out its timeout instead of hearing "no responders" and then "unknown".
            let Some(state) = E::load(env.clone(), id).await? else {
                return anyhow::Ok((None, None));
            };
            let commands = env
                .nats
                .subscribe(subjects::actor_commands(E::KIND, id))
                .await?;
            anyhow::Ok((Some(state), Some(commands)))
        };
        ctx.wait(actix::fut::wrap_future(load).map(|loaded, act: &mut Self, ctx| match loaded {
            Ok((Some(mut state), Some(commands))) => {
                if let Some(fence) = act.lease.as_ref().map(Lease::fence) {
                    state.activated(&act.env, act.epoch, fence);
                }
                act.state = Some(state);
                ctx.add_stream(commands);
                act.report_ready(Ok(()));
                tracing::info!(actor.kind = E::KIND.as_str(), actor.id = %act.id, actor.epoch = act.epoch, "actor activated");
            }
            Ok(_) => {
                act.report_ready(Err("unknown".to_owned()));
                act.shutdown(ctx, "unknown entity");
            }
            Err(err) => {
                tracing::error!(actor.kind = E::KIND.as_str(), actor.id = %act.id, error = ?err, "actor failed to load");
                act.report_ready(Err(err.to_string()));
                act.shutdown(ctx, "failed to load");
            }
        }));
        if let Some(lease) = &self.lease {
            ctx.spawn(
                actix::fut::wrap_future(lease.fenced())
                    .map(|(), act: &mut Self, ctx| act.shutdown(ctx, "lease lost")),
            );
        }
        ctx.run_interval(FLUSH_INTERVAL, |act, ctx| {
            let Some(flush) = act.state.as_mut().and_then(|state| state.flush(&act.env)) else { return };
            ctx.wait(actix::fut::wrap_future(flush).map(|flushed, act: &mut Self, _| {
                if let Err(err) = flushed {
                    tracing::warn!(actor.kind = E::KIND.as_str(), actor.id = %act.id, error = ?err, "write-behind flush failed");
                }
            }));
        });
        let every = (E::IDLE_TIMEOUT / 4).max(Duration::from_millis(500));
        ctx.run_interval(every, |act, ctx| {
            let idle = act.last_active.elapsed() > E::IDLE_TIMEOUT;
            if idle && act.state.as_ref().is_some_and(E::can_passivate) {
                act.shutdown(ctx, "idle");
            }
        });
    }
}

impl<E: Entity> Supervised for EntityActor<E> {
    fn restarting(&mut self, _: &mut Self::Context) {
        tracing::warn!(actor.kind = E::KIND.as_str(), actor.id = %self.id, "actor restarting: reloading state");
        self.state = None;
    }
}

impl<E: Entity> StreamHandler<async_nats::Message> for EntityActor<E> {
    fn handle(&mut self, message: async_nats::Message, ctx: &mut Self::Context) {
        self.last_active = Instant::now();
        let Some(reply_to) = message.reply.clone() else {
            return;
        };
        let request_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(subjects::REQUEST_ID_HEADER))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        // One span per command, named for the NATS boundary and carrying the caller's request
        // id: joined with the api node's logs, it is one trace from HTTP request to actor.
        let span = tracing::debug_span!("actor command", actor.kind = E::KIND.as_str(), actor.id = %self.id, request_id);
        let entered = span.enter();
        let outcome = match (
            serde_json::from_slice::<E::Command>(&message.payload),
            self.state.as_mut(),
        ) {
            (Err(err), _) => ready(Err(CommandError::Rejected(WireError::new(
                ErrorCode::MalformedRequest,
                err.to_string(),
            )))),
            (Ok(command), Some(state)) => state.handle(command, &self.env, self.epoch),
            (Ok(_), None) => ready(Err(CommandError::Fatal(anyhow::anyhow!(
                "command before the actor loaded"
            )))),
        };
        drop(entered);
        let started = Instant::now();
        let outcome = InSpan {
            inner: outcome,
            span: span.clone(),
        };
        ctx.wait(outcome.map(move |result, act: &mut Self, ctx| {
            let _entered = span.enter();
            let kind = E::KIND.as_str();
            metrics::histogram!(crate::metrics::COMMAND_SECONDS, "kind" => kind)
                .record(started.elapsed().as_secs_f64());
            let (outcome, reply) = match result {
                Ok(value) => ("ok", Reply::Ok(value)),
                Err(CommandError::Rejected(err)) => ("rejected", Reply::Error(err)),
                Err(CommandError::Fatal(err)) => {
                    tracing::error!(error = ?err, "command failed");
                    ctx.stop(); // the supervisor restarts us and we reload from PostgreSQL
                    if crate::db::is_unreachable(&err) {
                        // Nothing was applied (memory never runs ahead of PostgreSQL): the
                        // caller may simply retry once the database is back.
                        (
                            "unavailable",
                            Reply::Error(WireError::new(
                                ErrorCode::Unavailable,
                                "the database is unavailable",
                            )),
                        )
                    } else {
                        (
                            "failed",
                            Reply::Error(WireError::new(ErrorCode::Internal, "internal error")),
                        )
                    }
                }
            };
            metrics::counter!(crate::metrics::COMMANDS, "kind" => kind, "outcome" => outcome)
                .increment(1);
            tracing::debug!(
                outcome,
                command.duration_us = started.elapsed().as_micros() as u64,
                "command handled"
            );
            let nats = act.env.nats.clone();
            let payload = serde_json::to_vec(&reply).unwrap_or_default();
            actix::spawn(async move {
                if let Err(err) = nats.publish(reply_to, payload.into()).await {
                    tracing::warn!(error = %err, "failed to send reply");
                }
            });
        }));
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The subscription ended (connection drained or closed): nobody can reach us any more.
        self.shutdown(ctx, "subscription closed");
    }
}

/// An entity's handler future run inside the command's span (tracing's `Instrument` covers
/// plain futures, not actix's actor futures).
struct InSpan<E: Entity> {
    inner: Outcome<E>,
    span: tracing::Span,
}

impl<E: Entity> ActorFuture<EntityActor<E>> for InSpan<E> {
    type Output = Result<serde_json::Value, CommandError>;

    fn poll(
        self: Pin<&mut Self>,
        act: &mut EntityActor<E>,
        ctx: &mut Context<EntityActor<E>>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        this.inner.as_mut().poll(act, ctx, task)
    }
}

impl<E: Entity> Handler<Stop> for EntityActor<E> {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        self.shutdown(ctx, "drain");
    }
}
