//! The frozen v1 wire contract: every JSON file under `tests/fixtures/v1/` is a message as it
//! crosses NATS, written by hand. Each one must decode into its Rust type and re-encode to the same
//! JSON, so renaming, retyping or removing a field or variant fails here before it reaches a peer
//! still speaking the old v1. The files are frozen: add new ones for additive changes, never edit
//! an existing one (a change that needs an edit belongs in `v2`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use bus_contracts::v1::energy;
use bus_contracts::v1::{
    Activation, ActivationRequest, Booking, DomainEvent, Joined, LiveMessage, NodeHeartbeat, Reply,
    RosterPage, TraineeCommand, TrainerCommand, WorkoutCommand, WorkoutStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Decodes a fixture's text into its type and checks the re-encoding; `Err` says what differs.
type Check = fn(&str) -> Result<(), String>;

/// Every fixture file and the type it must decode into.
const FIXTURES: &[(&str, Check)] = &[
    // Commands to a TrainerActor.
    (
        "trainer_command.create_workout.json",
        round_trips::<TrainerCommand>,
    ),
    (
        "trainer_command.reschedule_workout.json",
        round_trips::<TrainerCommand>,
    ),
    // Commands to a TraineeActor.
    ("trainee_command.book.json", round_trips::<TraineeCommand>),
    ("trainee_command.join.json", round_trips::<TraineeCommand>),
    ("trainee_command.leave.json", round_trips::<TraineeCommand>),
    // Commands to a WorkoutActor.
    (
        "workout_command.reschedule.json",
        round_trips::<WorkoutCommand>,
    ),
    ("workout_command.cancel.json", round_trips::<WorkoutCommand>),
    ("workout_command.start.json", round_trips::<WorkoutCommand>),
    ("workout_command.end.json", round_trips::<WorkoutCommand>),
    (
        "workout_command.auto_end.json",
        round_trips::<WorkoutCommand>,
    ),
    ("workout_command.book.json", round_trips::<WorkoutCommand>),
    (
        "workout_command.cancel_booking.json",
        round_trips::<WorkoutCommand>,
    ),
    ("workout_command.join.json", round_trips::<WorkoutCommand>),
    ("workout_command.leave.json", round_trips::<WorkoutCommand>),
    ("workout_command.get.json", round_trips::<WorkoutCommand>),
    ("workout_command.roster.json", round_trips::<WorkoutCommand>),
    // Replies to commands.
    (
        "reply.ok.workout_status.json",
        round_trips::<Reply<WorkoutStatus>>,
    ),
    (
        "reply.ok.workout_status_present.json",
        round_trips::<Reply<WorkoutStatus>>,
    ),
    (
        "reply.ok.booking_booked.json",
        round_trips::<Reply<Booking>>,
    ),
    (
        "reply.ok.booking_waitlisted.json",
        round_trips::<Reply<Booking>>,
    ),
    ("reply.ok.joined.json", round_trips::<Reply<Joined>>),
    (
        "reply.ok.joined_with_duration.json",
        round_trips::<Reply<Joined>>,
    ),
    ("reply.error.json", round_trips::<Reply<WorkoutStatus>>),
    (
        "reply.ok.roster_page.json",
        round_trips::<Reply<RosterPage>>,
    ),
    // Domain events on the EVENTS stream.
    ("domain_event.scheduled.json", round_trips::<DomainEvent>),
    ("domain_event.rescheduled.json", round_trips::<DomainEvent>),
    ("domain_event.cancelled.json", round_trips::<DomainEvent>),
    ("domain_event.started.json", round_trips::<DomainEvent>),
    ("domain_event.ended.json", round_trips::<DomainEvent>),
    ("domain_event.booked.json", round_trips::<DomainEvent>),
    ("domain_event.promoted.json", round_trips::<DomainEvent>),
    // Placement.
    ("activation_request.json", round_trips::<ActivationRequest>),
    (
        "activation_request.bounded.json",
        round_trips::<ActivationRequest>,
    ),
    ("activation.active.json", round_trips::<Activation>),
    ("activation.owned_elsewhere.json", round_trips::<Activation>),
    ("activation.unknown.json", round_trips::<Activation>),
    ("activation.unavailable.json", round_trips::<Activation>),
    ("activation.over_share.json", round_trips::<Activation>),
    ("node_heartbeat.json", round_trips::<NodeHeartbeat>),
    ("node_heartbeat.hosting.json", round_trips::<NodeHeartbeat>),
    // The live subject.
    ("live.waiting.json", round_trips::<LiveMessage>),
    ("live.started.json", round_trips::<LiveMessage>),
    ("live.frame.json", round_trips::<LiveMessage>),
    ("live.slot_frame.json", round_trips::<LiveMessage>),
    ("live.ended.json", round_trips::<LiveMessage>),
    ("live.cancelled.json", round_trips::<LiveMessage>),
    ("live.rescheduled.json", round_trips::<LiveMessage>),
    // What wearables publish (a public contract: parsed by `energy::parse`, not only by serde).
    ("energy_sample.json", parses_as_a_sample),
    ("energy_sample.without_hr.json", parses_as_a_sample),
];

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// Decode `text` as `T`, encode it again and compare the two as JSON values (so key order and
/// whitespace do not matter, but every name, type and value does).
fn round_trips<T: Serialize + DeserializeOwned>(text: &str) -> Result<(), String> {
    let type_name = std::any::type_name::<T>();
    let frozen: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    let decoded: T = serde_json::from_str(text)
        .map_err(|err| format!("does not decode as {type_name}: {err}"))?;
    let encoded = serde_json::to_value(&decoded)
        .map_err(|err| format!("{type_name} does not encode: {err}"))?;
    if encoded == frozen {
        Ok(())
    } else {
        Err(format!(
            "{type_name} re-encodes differently\n    frozen:  {frozen}\n    encoded: {encoded}"
        ))
    }
}

/// A wearable's payload: accepted by the same parser the live path uses, and re-encoded unchanged.
fn parses_as_a_sample(text: &str) -> Result<(), String> {
    energy::parse(text.as_bytes()).map_err(|why| format!("refused by energy::parse: {why}"))?;
    round_trips::<energy::Sample>(text)
}

#[test]
fn every_fixture_decodes_into_its_type_and_re_encodes_unchanged() {
    let mut failures = Vec::new();
    for (name, check) in FIXTURES {
        let path = fixtures_dir().join(name);
        let outcome = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))
            .and_then(|text| check(&text));
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures broke the frozen v1 contract:\n{}",
        failures.len(),
        FIXTURES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_file_is_listed_in_the_table_exactly_once() {
    let mut listed = BTreeSet::new();
    for (name, _) in FIXTURES {
        assert!(listed.insert(*name), "{name} is listed twice in FIXTURES");
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .expect("the fixtures directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 file name")
        })
        .collect();

    let unchecked: Vec<&String> = on_disk
        .iter()
        .filter(|name| !listed.contains(name.as_str()))
        .collect();
    let missing: Vec<&&str> = listed
        .iter()
        .filter(|name| !on_disk.contains(**name))
        .collect();

    assert!(
        unchecked.is_empty(),
        "fixtures with no entry in FIXTURES (add one with their type): {unchecked:?}"
    );
    assert!(
        missing.is_empty(),
        "FIXTURES lists files that do not exist (fixtures are frozen: restore them): {missing:?}"
    );
}
