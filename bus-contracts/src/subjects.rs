//! NATS subjects, JetStream streams and KV buckets: the only place their names are spelled.

use crate::v1::ActorKind;
use uuid::Uuid;

/// Prefix of every subject of this contract version.
pub const PREFIX: &str = "cultfit.v1";

/// Header carrying the request id from the HTTP edge to the actor.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Stream capturing every workout's domain events (`cultfit.v1.workouts.*.events`).
pub const EVENTS_STREAM: &str = "EVENTS";
/// Subjects of [`EVENTS_STREAM`].
pub const EVENTS_STREAM_SUBJECTS: &str = "cultfit.v1.workouts.*.events";
/// Stream capturing wearables' energy samples (`cultfit.v1.workouts.*.energy.*`).
pub const ENERGY_STREAM: &str = "ENERGY";
/// Subjects of [`ENERGY_STREAM`].
pub const ENERGY_STREAM_SUBJECTS: &str = "cultfit.v1.workouts.*.energy.*";

/// KV bucket of worker heartbeats: key = node id.
pub const NODES_BUCKET: &str = "nodes";
/// KV bucket of actor leases: key = [`lease_key`], value = owning node id, revision = epoch.
pub const OWNERS_BUCKET: &str = "owners";
/// KV bucket of actor snapshots (live workouts): key = [`snapshot_head`], and the pieces it
/// names under [`snapshot_piece`].
pub const SNAPSHOTS_BUCKET: &str = "snapshots";

/// NATS account of the services (api and worker nodes): JetStream, every stream and bucket.
pub const SERVICE_ACCOUNT: &str = "CULTFIT";
/// NATS account wearables are placed in by the auth callout. It exports
/// [`ENERGY_STREAM_SUBJECTS`] to [`SERVICE_ACCOUNT`], and nothing else.
pub const DEVICE_ACCOUNT: &str = "DEVICES";
/// Where nats-server asks the auth callout to admit a connection (request-reply, served by a
/// queue group of the api nodes).
pub const AUTH_CALLOUT: &str = "$SYS.REQ.USER.AUTH";
/// The queue group of the auth callout responders.
pub const AUTH_CALLOUT_QUEUE: &str = "cultfit-auth-callout";

/// Commands to a virtual actor (request-reply): `cultfit.v1.<kind>.<id>.cmd`.
pub fn actor_commands(kind: ActorKind, id: Uuid) -> String {
    format!("{PREFIX}.{}.{id}.cmd", kind.as_str())
}

/// The lease key of an actor in [`OWNERS_BUCKET`]: `<kind>.<id>`.
pub fn lease_key(kind: ActorKind, id: Uuid) -> String {
    format!("{}.{id}", kind.as_str())
}

/// The newest snapshot of a live workout's board in [`SNAPSHOTS_BUCKET`]: `workouts.<id>`.
pub fn snapshot_head(workout_id: Uuid) -> String {
    format!("workouts.{workout_id}")
}

/// A piece of a live workout's snapshot in [`SNAPSHOTS_BUCKET`]: `workouts.<id>.<piece>`, where
/// `piece` is named by the snapshot's writer.
pub fn snapshot_piece(workout_id: Uuid, piece: &str) -> String {
    format!("workouts.{workout_id}.{piece}")
}

/// Activation requests for one worker node (request-reply).
pub fn node_activations(node_id: &str) -> String {
    format!("{PREFIX}.placement.nodes.{node_id}.activate")
}

/// A workout's domain events (captured by [`EVENTS_STREAM`]).
pub fn workout_events(workout_id: Uuid) -> String {
    format!("{PREFIX}.workouts.{workout_id}.events")
}

/// A workout's live frames and lifecycle events, published by its owner.
pub fn workout_live(workout_id: Uuid) -> String {
    format!("{PREFIX}.workouts.{workout_id}.live")
}

/// A trainee's wearable samples for a workout.
pub fn workout_energy(workout_id: Uuid, user_id: Uuid) -> String {
    format!("{PREFIX}.workouts.{workout_id}.energy.{user_id}")
}

/// The inbox prefix a trainee's wearable uses for replies (JetStream's acks of its samples): the
/// only subjects it may subscribe to are below it. Set it as the NATS client's inbox prefix.
pub fn device_inbox_prefix(user_id: Uuid) -> String {
    format!("_INBOX.{user_id}")
}

/// Every wearable's samples for one workout (a filter over [`ENERGY_STREAM`]).
pub fn workout_energy_all(workout_id: Uuid) -> String {
    format!("{PREFIX}.workouts.{workout_id}.energy.*")
}

/// The sender of a sample: the `<user_id>` token of a [`workout_energy`] subject, if it is one.
pub fn energy_sender(subject: &str) -> Option<Uuid> {
    let (rest, user) = subject.rsplit_once('.')?;
    if !rest.ends_with(".energy") {
        return None;
    }
    Uuid::parse_str(user).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_published_contract() {
        let id = Uuid::nil();
        assert_eq!(
            actor_commands(ActorKind::Workout, id),
            "cultfit.v1.workouts.00000000-0000-0000-0000-000000000000.cmd"
        );
        assert_eq!(
            actor_commands(ActorKind::Trainee, id),
            format!("cultfit.v1.trainees.{id}.cmd")
        );
        assert_eq!(
            actor_commands(ActorKind::Trainer, id),
            format!("cultfit.v1.trainers.{id}.cmd")
        );
        assert_eq!(
            workout_events(id),
            format!("cultfit.v1.workouts.{id}.events")
        );
        assert_eq!(workout_live(id), format!("cultfit.v1.workouts.{id}.live"));
        assert_eq!(
            workout_energy(id, id),
            format!("cultfit.v1.workouts.{id}.energy.{id}")
        );
        assert_eq!(lease_key(ActorKind::Workout, id), format!("workouts.{id}"));
        assert_eq!(
            workout_energy_all(id),
            format!("cultfit.v1.workouts.{id}.energy.*")
        );
    }

    #[test]
    fn the_sender_is_read_from_the_energy_subject() {
        let (workout, user) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(energy_sender(&workout_energy(workout, user)), Some(user));
        assert_eq!(energy_sender(&workout_live(workout)), None);
        assert_eq!(
            energy_sender(&format!("cultfit.v1.workouts.{workout}.energy.not-a-uuid")),
            None
        );
        assert_eq!(energy_sender("energy"), None);
    }
}
