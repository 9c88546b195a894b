//! A worker's side of placement: activation requests in, actors out.
//!
//! Activation of an entity on this node: take its lease (or report who holds it), start its
//! actor under a `Supervisor` on the next arbiter of the pool, wait until it has loaded and
//! subscribed, and answer. Concurrent requests for the same entity share one activation.

use crate::entity::{Entity, EntityActor, Stop};
use crate::env::Env;
use crate::placement::lease::{Acquired, Lease};
use crate::placement::nodes::Directory;
use crate::placement::share;
use crate::{trainee::actor::Trainee, trainer::actor::Trainer, workout::actor::WorkoutEntity};
use actix::{Arbiter, ArbiterHandle, Recipient, Supervisor};
use anyhow::Context;
use async_nats::jetstream::kv;
use bus_contracts::subjects;
use bus_contracts::v1::{Activation, ActivationRequest, ActorKind};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// How long an actor may take to load and subscribe.
const ACTIVATION_TIMEOUT: Duration = Duration::from_secs(5);

type Key = (ActorKind, Uuid);

enum Slot {
    /// Being activated: later requests wait for the first one's outcome.
    Activating(watch::Receiver<Option<Activation>>),
    /// Running here.
    Active { epoch: u64, stop: Recipient<Stop> },
}

/// The actors active on this node.
#[derive(Default)]
pub struct Registry {
    slots: Mutex<Slots>,
}

/// Actors by key, and how many of them are workouts (active or activating): this node's load,
/// which its heartbeat announces whenever it changes.
#[derive(Default)]
struct Slots {
    by_key: HashMap<Key, Slot>,
    workouts: watch::Sender<u32>,
}

impl Slots {
    fn put(&mut self, key: Key, slot: Slot) {
        if self.by_key.insert(key, slot).is_none() && key.0 == ActorKind::Workout {
            self.workouts.send_modify(|n| *n += 1);
        }
    }

    fn take(&mut self, key: &Key) -> Option<Slot> {
        let slot = self.by_key.remove(key);
        if slot.is_some() && key.0 == ActorKind::Workout {
            self.workouts.send_modify(|n| *n -= 1);
        }
        slot
    }
}

impl Registry {
    /// Forget an actor (it is stopping for good). Drops its address, so no supervisor restart.
    pub fn forget(&self, kind: ActorKind, id: Uuid) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if let Some(Slot::Active { .. }) = slots.take(&(kind, id)) {
            metrics::gauge!(crate::metrics::ACTORS_ACTIVE, "kind" => kind.as_str()).decrement(1.0);
        }
    }

    /// How many actors are active or activating.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .map(|s| s.by_key.len())
            .unwrap_or_default()
    }

    /// The number of workouts active or activating here, as it changes.
    pub fn workouts(&self) -> watch::Receiver<u32> {
        match self.slots.lock() {
            Ok(slots) => slots.workouts.subscribe(),
            // Poisoned: the count will not change again.
            Err(_) => watch::channel(0).1,
        }
    }

    /// Whether no actor is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stop_all(&self) {
        let Ok(slots) = self.slots.lock() else { return };
        for slot in slots.by_key.values() {
            if let Slot::Active { stop, .. } = slot {
                stop.do_send(Stop);
            }
        }
    }
}

/// Counts an activation this node answered, by kind and outcome.
fn count_activation(kind: ActorKind, activation: &Activation) {
    let outcome = match activation {
        Activation::Active { .. } => "active",
        Activation::OwnedElsewhere { .. } => "owned_elsewhere",
        Activation::Unknown => "unknown",
        Activation::Unavailable { .. } => "unavailable",
        Activation::OverShare { .. } => "over_share",
    };
    metrics::counter!(crate::metrics::ACTIVATIONS, "kind" => kind.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Hosts actors on this worker.
pub struct Host {
    env: Arc<Env>,
    owners: kv::Store,
    /// The other workers and their loads, for bounded-load placement.
    directory: Directory,
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
    draining: AtomicBool,
}

impl Host {
    /// A host with one arbiter (thread) per core for actors.
    pub fn new(env: Arc<Env>, owners: kv::Store, directory: Directory) -> Arc<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arbiters = (0..cores).map(|_| Arbiter::new().handle()).collect();
        Arc::new(Self {
            env,
            owners,
            directory,
            arbiters,
            next: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
        })
    }

    /// Answer activation requests addressed to this node until the connection closes.
    pub async fn serve_activations(
        self: &Arc<Self>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut requests = self
            .env
            .nats
            .subscribe(subjects::node_activations(&self.env.node_id))
            .await
            .context("failed to subscribe to activation requests")?;
        let host = self.clone();
        Ok(tokio::spawn(async move {
            while let Some(message) = requests.next().await {
                let host = host.clone();
                tokio::spawn(async move {
                    let Some(reply_to) = message.reply else {
                        return;
                    };
                    let activation =
                        match serde_json::from_slice::<ActivationRequest>(&message.payload) {
                            Ok(request) => {
                                host.activate(request.kind, request.id, request.bounded)
                                    .await
                            }
                            Err(err) => Activation::Unavailable {
                                reason: format!("bad request: {err}"),
                            },
                        };
                    if let Ok(payload) = serde_json::to_vec(&activation) {
                        let _ = host.env.nats.publish(reply_to, payload.into()).await;
                    }
                });
            }
        }))
    }

    /// Activate `(kind, id)` here unless it already is (or is being) activated. If `bounded`, a
    /// new workout is turned away while this node hosts its share ([`share`]).
    pub async fn activate(&self, kind: ActorKind, id: Uuid, bounded: bool) -> Activation {
        if self.draining.load(Ordering::SeqCst) {
            return Activation::Unavailable {
                reason: "draining".to_owned(),
            };
        }
        let done = {
            let Ok(mut slots) = self.env.registry.slots.lock() else {
                return Activation::Unavailable {
                    reason: "registry poisoned".to_owned(),
                };
            };
            match slots.by_key.get(&(kind, id)) {
                Some(Slot::Active { epoch, .. }) => return Activation::Active { epoch: *epoch },
                Some(Slot::Activating(outcome)) => Err(outcome.clone()),
                None => {
                    if bounded
                        && kind == ActorKind::Workout
                        && let Some(full) = self.full(*slots.workouts.borrow())
                    {
                        count_activation(kind, &full);
                        return full;
                    }
                    let (done, outcome) = watch::channel(None);
                    slots.put((kind, id), Slot::Activating(outcome));
                    Ok(done)
                }
            }
        };
        match done {
            Ok(done) => {
                let activation = self.start(kind, id).await;
                count_activation(kind, &activation);
                let _ = done.send(Some(activation.clone()));
                activation
            }
            Err(mut outcome) => match outcome.wait_for(Option::is_some).await {
                Ok(activation) => activation.clone().unwrap_or(Activation::Unknown),
                Err(_) => Activation::Unavailable {
                    reason: "activation abandoned".to_owned(),
                },
            },
        }
    }

    /// [`Activation::OverShare`] if this node, hosting `hosted` workouts, should take no more.
    fn full(&self, hosted: u32) -> Option<Activation> {
        let (others, their_workouts) = self.directory.others_load(&self.env.node_id);
        let (workers, total) = (others + 1, their_workouts.saturating_add(hosted));
        share::is_full(hosted, total, workers).then(|| Activation::OverShare {
            hosted,
            share: share::share(total.saturating_add(1), workers),
        })
    }

    async fn start(&self, kind: ActorKind, id: Uuid) -> Activation {
        let key = subjects::lease_key(kind, id);
        let lease =
            match Lease::acquire(&self.owners, key, &self.env.node_id, self.env.lease_ttl).await {
                Ok(Acquired::Held(lease)) => lease,
                Ok(Acquired::Taken(owner)) => {
                    self.env.registry.forget(kind, id);
                    return Activation::OwnedElsewhere {
                        owner: owner.unwrap_or_default(),
                    };
                }
                Err(err) => {
                    self.env.registry.forget(kind, id);
                    return Activation::Unavailable {
                        reason: err.to_string(),
                    };
                }
            };
        let epoch = lease.epoch();
        let (stop, ready) = match kind {
            ActorKind::Workout => self.spawn::<WorkoutEntity>(id, lease),
            ActorKind::Trainee => self.spawn::<Trainee>(id, lease),
            ActorKind::Trainer => self.spawn::<Trainer>(id, lease),
        };
        match tokio::time::timeout(ACTIVATION_TIMEOUT, ready).await {
            Ok(Ok(Ok(()))) => {
                if let Ok(mut slots) = self.env.registry.slots.lock() {
                    slots.put((kind, id), Slot::Active { epoch, stop });
                    metrics::gauge!(crate::metrics::ACTORS_ACTIVE, "kind" => kind.as_str())
                        .increment(1.0);
                }
                Activation::Active { epoch }
            }
            // The actor released its lease and forgot itself already.
            Ok(Ok(Err(reason))) if reason == "unknown" => Activation::Unknown,
            Ok(Ok(Err(reason))) => Activation::Unavailable { reason },
            _ => {
                stop.do_send(Stop);
                Activation::Unavailable {
                    reason: "activation timed out".to_owned(),
                }
            }
        }
    }

    fn spawn<E: Entity>(
        &self,
        id: Uuid,
        lease: Lease,
    ) -> (Recipient<Stop>, oneshot::Receiver<Result<(), String>>) {
        let arbiter =
            &self.arbiters[self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len()];
        let (ready_tx, ready) = oneshot::channel();
        let env = self.env.clone();
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
            EntityActor::<E>::new(id, env, lease, ready_tx)
        });
        (addr.recipient(), ready)
    }

    /// Stop taking activations and stop every actor (releasing their leases), waiting up to
    /// `timeout` for them to finish.
    pub async fn drain(&self, timeout: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        self.env.registry.stop_all();
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.env.registry.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(remaining = self.env.registry.len(), "worker drained");
    }
}
