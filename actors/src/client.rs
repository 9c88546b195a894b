//! Sending commands to virtual actors, wherever they live.
//!
//! A command is a NATS request on the actor's own subject. If nobody answers (*no responders*),
//! the actor is not active anywhere: the client asks the preferred worker (rendezvous order over
//! live workers; for a workout, the first that is not over its share, see
//! [`crate::placement::share`]) to activate it, then retries. A worker that finds the lease held elsewhere says
//! so, and the client retries until the holder answers or its lease expires (failover), within
//! an overall deadline. A request that times out is *not* retried: it may have been executed.

use crate::placement::nodes::Directory;
use async_nats::{HeaderMap, Request, RequestErrorKind};
use bus_contracts::v1::{Activation, ActivationRequest, ActorKind, Reply, WireError};
use bus_contracts::{ErrorCode, subjects};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Why a command did not produce a reply value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The actor refused it (a domain error with a stable code).
    #[error("{}", .0.message)]
    Rejected(WireError),
    /// No worker could host the actor in time.
    #[error("actor unavailable: {0}")]
    Unavailable(String),
    /// The actor did not answer in time; the command may or may not have been applied.
    #[error("actor did not answer in time")]
    Timeout,
    /// Anything else (encoding, connection).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CallError {
    /// The stable code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            CallError::Rejected(err) => err.code,
            CallError::Unavailable(_) => ErrorCode::Unavailable,
            CallError::Timeout => ErrorCode::Timeout,
            CallError::Other(_) => ErrorCode::Internal,
        }
    }
}

/// Sends commands to actors; cheap to clone.
#[derive(Clone)]
pub struct ActorClient {
    nats: async_nats::Client,
    directory: Directory,
    request_timeout: Duration,
    deadline: Duration,
}

impl ActorClient {
    /// A client; `deadline` bounds activation and failover waits (use lease TTL + a margin).
    pub fn new(nats: async_nats::Client, directory: Directory, deadline: Duration) -> Self {
        Self {
            nats,
            directory,
            request_timeout: Duration::from_secs(5),
            deadline,
        }
    }

    /// The live workers this client places actors on.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Send `command` to the actor `(kind, id)` and decode its reply. `request_id` travels in
    /// the request's NATS header, so the actor's span carries the id of the HTTP request's span.
    #[tracing::instrument(
        name = "actor call",
        level = "debug",
        skip_all,
        fields(actor.kind = kind.as_str(), actor.id = %id)
    )]
    pub async fn call<C: Serialize, R: DeserializeOwned>(
        &self,
        kind: ActorKind,
        id: Uuid,
        command: &C,
        request_id: Option<&str>,
    ) -> Result<R, CallError> {
        let subject = subjects::actor_commands(kind, id);
        let payload = bytes_of(command)?;
        let mut headers = HeaderMap::new();
        if let Some(request_id) = request_id {
            headers.insert(subjects::REQUEST_ID_HEADER, request_id);
        }
        let give_up = Instant::now() + self.deadline;
        loop {
            let request = Request::new()
                .payload(payload.clone())
                .headers(headers.clone())
                .timeout(Some(self.request_timeout));
            match self.nats.send_request(subject.clone(), request).await {
                Ok(message) => {
                    let reply: Reply<R> =
                        serde_json::from_slice(&message.payload).map_err(|err| {
                            anyhow::anyhow!("undecodable reply from {subject}: {err}")
                        })?;
                    tracing::debug!("actor replied");
                    return Result::from(reply).map_err(CallError::Rejected);
                }
                Err(err) if err.kind() == RequestErrorKind::NoResponders => {
                    if Instant::now() >= give_up {
                        return Err(CallError::Unavailable(format!("no owner for {subject}")));
                    }
                    self.activate(kind, id).await?;
                }
                Err(err) if err.kind() == RequestErrorKind::TimedOut => {
                    return Err(CallError::Timeout);
                }
                Err(err) => {
                    return Err(CallError::Other(anyhow::anyhow!(
                        "request to {subject} failed: {err}"
                    )));
                }
            }
        }
    }

    /// Ask the live workers, in rendezvous order, to host the actor, each keeping to its share
    /// of workouts (bounded loads); if every one that answered is full, the most preferred of
    /// them takes it regardless. Returns once it is active somewhere, or after a short pause when
    /// the lease is held elsewhere (the caller then retries).
    async fn activate(&self, kind: ActorKind, id: Uuid) -> Result<(), CallError> {
        // First every live worker, bounded; then, unbounded, those that said they were full.
        let mut asking = self.directory.ranked(&subjects::lease_key(kind, id));
        'asking: for bounded in [true, false] {
            let mut full = Vec::new();
            for node in &asking {
                let request = ActivationRequest { kind, id, bounded };
                match self.ask(node, &request).await? {
                    Some(Activation::Active { .. }) => return Ok(()),
                    // The holder is alive (it will answer) or dead (its lease expires soon): wait.
                    Some(Activation::OwnedElsewhere { .. }) => break 'asking,
                    Some(Activation::OverShare { hosted, share }) => {
                        tracing::debug!(node, hosted, share, "activation refused: over its share");
                        full.push(node.clone());
                    }
                    Some(Activation::Unavailable { reason }) => {
                        tracing::debug!(node, reason, "activation refused")
                    }
                    Some(Activation::Unknown) => {
                        return Err(CallError::Rejected(WireError::new(
                            ErrorCode::NotFound,
                            format!("unknown {}", kind.as_str()),
                        )));
                    }
                    None => {} // dead, unreachable or garbled: the next one
                }
            }
            asking = full;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    /// Send one activation request to `node`; `None` if no usable answer came.
    async fn ask(
        &self,
        node: &str,
        request: &ActivationRequest,
    ) -> Result<Option<Activation>, CallError> {
        let sent = self
            .nats
            .send_request(
                subjects::node_activations(node),
                Request::new()
                    .payload(bytes_of(request)?)
                    .timeout(Some(self.request_timeout)),
            )
            .await;
        let Ok(message) = sent else { return Ok(None) };
        match serde_json::from_slice::<Activation>(&message.payload) {
            Ok(activation) => Ok(Some(activation)),
            Err(err) => {
                tracing::warn!(node, error = %err, "undecodable activation reply");
                Ok(None)
            }
        }
    }
}

fn bytes_of<T: Serialize>(value: &T) -> Result<bytes::Bytes, CallError> {
    serde_json::to_vec(value)
        .map(Into::into)
        .map_err(|err| CallError::Other(err.into()))
}

impl From<CallError> for WireError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Rejected(err) => err,
            other => WireError::new(other.code(), other.to_string()),
        }
    }
}
