//! Snapshots of a live session's board in the `snapshots` KV bucket, so that a new owner (after a
//! failover, a drain, a restart) reads only the samples after the snapshot instead of the whole
//! session from the `ENERGY` stream (DESIGN §4).
//!
//! Layout under `workouts.<id>` (see [`Board`]'s `snapshot` module for the pieces themselves):
//! - `workouts.<id>`: the **head**, naming the stream sequence the snapshot covers, the owner's
//!   sample counts, and the version of every piece that makes it up;
//! - `workouts.<id>.state.<block>.<version>`: every block's state, written each time;
//! - `workouts.<id>.history.<block>.<minute>.<version>`: a minute of a block's history, written
//!   again only when samples landed in it since.
//!
//! Pieces are written first and the head last, with a compare-and-set on the head's revision;
//! what an older head names is removed only once the new head is in. A crash at any point
//! therefore leaves the previous head and everything it names intact (an orphaned piece expires
//! with the bucket's `max_age`). Versions carry the owner's lease epoch, so a stale owner still
//! writing can never overwrite a piece a newer owner's head names.

use crate::live::board::{Board, HistoryBlock, StateBlock};
use anyhow::{Context, bail};
use async_nats::jetstream::kv;
use bus_contracts::subjects;
use bus_contracts::v1::SampleCounts;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// KV operations in flight while writing or reading one snapshot.
const IN_FLIGHT: usize = 16;

/// Which write a piece belongs to: the writer's lease epoch and its count of snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    epoch: u64,
    generation: u64,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.epoch, self.generation)
    }
}

/// What a snapshot is made of (stored at `workouts.<id>`, postcard-encoded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// The session's start (epoch ms): a snapshot of another start is not this session's.
    pub started_at_ms: i64,
    /// Stream sequence of the newest sample folded in; reading resumes after it.
    pub covers_seq: u64,
    /// The owner's sample counts at that point.
    pub counts: SampleCounts,
    /// Blocks of state, all of one version.
    blocks: u32,
    state: Version,
    /// Every stored minute of history: `(block, minute)` → version.
    history: BTreeMap<(u32, u32), Version>,
}

impl Head {
    /// A head as stored in the bucket (for tools that watch snapshots being written).
    pub fn decode(bytes: &[u8]) -> anyhow::Result<Self> {
        postcard::from_bytes(bytes).context("decoding a snapshot head")
    }

    fn state_key(workout_id: Uuid, block: u32, version: Version) -> String {
        subjects::snapshot_piece(workout_id, &format!("state.{block}.{version}"))
    }

    fn history_key(workout_id: Uuid, (block, minute): (u32, u32), version: Version) -> String {
        subjects::snapshot_piece(workout_id, &format!("history.{block}.{minute}.{version}"))
    }

    /// Every key this head names, itself included.
    fn keys(&self, workout_id: Uuid) -> Vec<String> {
        let mut keys: Vec<String> = (0..self.blocks)
            .map(|b| Self::state_key(workout_id, b, self.state))
            .collect();
        keys.extend(
            self.history
                .iter()
                .map(|(&at, &version)| Self::history_key(workout_id, at, version)),
        );
        keys.push(subjects::snapshot_head(workout_id));
        keys
    }
}

/// A stored snapshot as read by [`Snapshots::load`].
pub struct Loaded {
    head: Head,
    revision: u64,
    /// `None` when the snapshot is of another start of the session.
    states: Option<Vec<StateBlock>>,
}

/// One snapshot cut from the board, ready to be written (see [`Snapshots::cut`]).
pub struct Cut {
    head: Head,
    states: Vec<StateBlock>,
    history: Vec<HistoryBlock>,
    /// Keys the previous head named that this one no longer does.
    superseded: Vec<String>,
}

/// What writing a [`Cut`] did.
pub struct Written {
    head: Head,
    revision: u64,
    /// Bytes written (pieces and head).
    pub bytes: usize,
}

/// A live session's snapshot writer and reader: see the module docs.
pub struct Snapshots {
    kv: kv::Store,
    workout_id: Uuid,
    epoch: u64,
    /// The newest head written or loaded.
    head: Option<Head>,
    /// Its revision in the bucket; `None` after a failed write (whose head may or may not have
    /// landed), when the next head is put unconditionally: the lease fence, not the revision,
    /// is what keeps a stale owner from writing.
    revision: Option<u64>,
    /// Snapshots cut so far (continuing a loaded head's count): every cut's pieces get new keys,
    /// so a write never overwrites a piece some stored head may name.
    generation: u64,
    /// Minutes whose last write failed: cut again next time.
    retry: BTreeSet<(u32, u32)>,
    writing: bool,
}

impl Snapshots {
    /// Snapshots of `workout_id`, written by the owner holding lease `epoch`.
    pub fn new(kv: kv::Store, workout_id: Uuid, epoch: u64) -> Self {
        Snapshots {
            kv,
            workout_id,
            epoch,
            head: None,
            revision: None,
            generation: 0,
            retry: BTreeSet::new(),
            writing: false,
        }
    }

    /// Reads the newest snapshot: its head, and its state blocks if it is of a session started
    /// at `started_at_ms` (give it to [`Snapshots::adopt`]); `None` if there is none.
    pub fn load(
        &self,
        started_at_ms: i64,
    ) -> impl Future<Output = anyhow::Result<Option<Loaded>>> + 'static {
        let (kv, workout_id) = (self.kv.clone(), self.workout_id);
        async move {
            let key = subjects::snapshot_head(workout_id);
            let Some(entry) = kv.entry(key).await.context("reading the snapshot head")? else {
                return Ok(None);
            };
            if entry.operation != kv::Operation::Put {
                return Ok(None);
            }
            let head: Head =
                postcard::from_bytes(&entry.value).context("decoding the snapshot head")?;
            let states = if head.started_at_ms == started_at_ms {
                let keys = (0..head.blocks)
                    .map(|b| Head::state_key(workout_id, b, head.state))
                    .collect();
                Some(fetch_all(&kv, keys).await?)
            } else {
                None
            };
            Ok(Some(Loaded {
                head,
                revision: entry.revision,
                states,
            }))
        }
    }

    /// Takes in a loaded snapshot: later writes follow its head. Returns the head and the state
    /// blocks to restore from, unless it was of another start.
    pub fn adopt(&mut self, loaded: Loaded) -> Option<(Head, Vec<StateBlock>)> {
        self.revision = Some(loaded.revision);
        self.generation = loaded.head.state.generation;
        let states = loaded.states?;
        self.head = Some(loaded.head.clone());
        Some((loaded.head, states))
    }

    /// The history pieces `head` names (read after the state, while the session already runs).
    pub fn load_history(
        &self,
        head: &Head,
    ) -> impl Future<Output = anyhow::Result<Vec<HistoryBlock>>> + 'static {
        let keys: Vec<String> = head
            .history
            .iter()
            .map(|(&at, &version)| Head::history_key(self.workout_id, at, version))
            .collect();
        let kv = self.kv.clone();
        async move { fetch_all(&kv, keys).await }
    }

    /// Forgets what was loaded: the next write starts a snapshot from scratch (after a fallback
    /// to a full replay), though still following the stored head's revision.
    pub fn forget_history(&mut self) {
        if let Some(head) = &mut self.head {
            head.history.clear();
        }
        self.retry.clear();
    }

    /// Cuts a snapshot of `board` covering stream sequence `covers_seq`; `None` while a write is
    /// in flight or nothing was read since the last one.
    pub fn cut(&mut self, board: &mut Board, covers_seq: u64, counts: SampleCounts) -> Option<Cut> {
        let previous = self.head.as_ref();
        if self.writing || previous.is_some_and(|head| head.covers_seq >= covers_seq) {
            return None;
        }
        self.generation += 1;
        let version = Version {
            epoch: self.epoch,
            generation: self.generation,
        };
        let mut dirty: BTreeSet<(u32, u32)> = std::mem::take(&mut self.retry);
        dirty.extend(board.take_dirty_history());
        let mut head = Head {
            started_at_ms: board.started_at_ms(),
            covers_seq,
            counts,
            blocks: board.blocks(),
            state: version,
            history: previous
                .map(|head| head.history.clone())
                .unwrap_or_default(),
        };
        let mut superseded = Vec::new();
        if let Some(previous) = previous {
            superseded.extend(
                (0..previous.blocks).map(|b| Head::state_key(self.workout_id, b, previous.state)),
            );
        }
        for &at in &dirty {
            if let Some(old) = head.history.insert(at, version) {
                superseded.push(Head::history_key(self.workout_id, at, old));
            }
        }
        self.writing = true;
        Some(Cut {
            states: (0..head.blocks).map(|b| board.state_block(b)).collect(),
            history: dirty
                .iter()
                .map(|&(block, minute)| board.history_block(block, minute))
                .collect(),
            head,
            superseded,
        })
    }

    /// Writes `cut`: pieces, then the head (compare-and-set), then removes what it superseded.
    pub fn write(&self, cut: Cut) -> impl Future<Output = anyhow::Result<Written>> + 'static {
        let (kv, workout_id) = (self.kv.clone(), self.workout_id);
        let revision = self.revision;
        async move {
            let Cut {
                head,
                states,
                history,
                superseded,
            } = cut;
            // Encoding a big class's pieces takes milliseconds: off the actor's thread.
            let (pieces, head_bytes) = tokio::task::spawn_blocking(move || {
                let mut pieces = Vec::with_capacity(states.len() + history.len());
                for (b, state) in states.iter().enumerate() {
                    let key = Head::state_key(workout_id, b as u32, head.state);
                    pieces.push((key, postcard::to_allocvec(state)?));
                }
                for piece in &history {
                    let version = head.state;
                    let key = Head::history_key(workout_id, (piece.block, piece.minute), version);
                    pieces.push((key, postcard::to_allocvec(piece)?));
                }
                let head_bytes = postcard::to_allocvec(&head)?;
                anyhow::Ok((pieces, (head, head_bytes)))
            })
            .await??;
            let (head, head_bytes) = head_bytes;
            let bytes = pieces.iter().map(|(_, v)| v.len()).sum::<usize>() + head_bytes.len();
            futures_util::stream::iter(pieces)
                .map(|(key, value)| {
                    let kv = kv.clone();
                    async move { kv.put(key, value.into()).await.map(drop) }
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect::<()>()
                .await
                .context("writing snapshot pieces")?;
            let key = subjects::snapshot_head(workout_id);
            let revision = match revision {
                Some(revision) => kv
                    .update(key, head_bytes.into(), revision)
                    .await
                    .context("replacing the snapshot head (another owner wrote one?)")?,
                None => kv
                    .put(key, head_bytes.into())
                    .await
                    .context("writing the snapshot head")?,
            };
            // Best effort: what is left behind expires with the bucket's max_age.
            purge_all(&kv, superseded).await;
            Ok(Written {
                head,
                revision,
                bytes,
            })
        }
    }

    /// Takes in how the write of a cut carrying the minutes `history` went: a failed write's
    /// minutes are cut again next time.
    pub fn written(&mut self, outcome: Result<Written, ()>, history: Vec<(u32, u32)>) {
        self.writing = false;
        match outcome {
            Ok(written) => {
                self.head = Some(written.head);
                self.revision = Some(written.revision);
            }
            Err(()) => {
                self.retry.extend(history);
                self.revision = None;
            }
        }
    }

    /// Removes the session's snapshot (it has ended and its results are being written).
    pub fn remove(&self) -> impl Future<Output = ()> + 'static {
        let keys = self
            .head
            .as_ref()
            .map(|head| head.keys(self.workout_id))
            .unwrap_or_else(|| vec![subjects::snapshot_head(self.workout_id)]);
        let kv = self.kv.clone();
        async move { purge_all(&kv, keys).await }
    }
}

impl Cut {
    /// The minutes of history this cut carries.
    pub fn minutes(&self) -> Vec<(u32, u32)> {
        self.history.iter().map(|p| (p.block, p.minute)).collect()
    }
}

/// Reads and decodes every key, in order; fails if any is missing.
async fn fetch_all<T: serde::de::DeserializeOwned>(
    kv: &kv::Store,
    keys: Vec<String>,
) -> anyhow::Result<Vec<T>> {
    futures_util::stream::iter(keys)
        .map(|key| {
            let kv = kv.clone();
            async move {
                let Some(value) = kv.get(key.clone()).await? else {
                    bail!("snapshot piece {key} is missing");
                };
                postcard::from_bytes(&value).with_context(|| format!("decoding {key}"))
            }
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await
}

async fn purge_all(kv: &kv::Store, keys: Vec<String>) {
    futures_util::stream::iter(keys)
        .for_each_concurrent(IN_FLIGHT, |key| async move {
            if let Err(err) = kv.purge(&key).await {
                tracing::debug!(key, error = %err, "could not remove a snapshot piece");
            }
        })
        .await;
}
