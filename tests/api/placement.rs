//! Several nodes against one NATS: where workout actors live, that each has exactly one owner even
//! under concurrent commands from several api nodes, and that a dead worker's workouts move on.

use crate::cluster::{Cluster, LEASE_TTL, NatsShape, Role, on_both_nats_shapes};
use crate::helpers::{ApiClient, hours_ahead, id_of, new_workout, token, user_id};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Registrations are argon2-hashed (~15 ms of CPU each), so at most this many at once.
const REGISTRATION_BATCH: usize = 50;

/// The api clients of the cluster's api (or all) nodes.
fn api_nodes(cluster: &Cluster) -> Vec<&ApiClient> {
    cluster
        .nodes()
        .iter()
        .filter(|n| n.role != Role::Worker)
        .map(|n| &n.api)
        .collect()
}

/// `n` trainees, registered concurrently (in batches) round-robin over the api nodes.
async fn register_trainees(cluster: &Cluster, n: usize) -> Vec<Value> {
    let apis = api_nodes(cluster);
    let mut sessions = Vec::with_capacity(n);
    for batch_start in (0..n).step_by(REGISTRATION_BATCH) {
        let batch = (batch_start..n.min(batch_start + REGISTRATION_BATCH))
            .map(|i| apis[i % apis.len()].signed_up("trainee"));
        sessions.extend(join_all(batch).await);
    }
    sessions
}

/// Books every trainee into `workout_id` at once, trainee `i` through api node `i % #api`.
/// Returns `(status, body)` per trainee, in trainee order.
async fn book_all_at_once(
    cluster: &Cluster,
    trainees: &[Value],
    workout_id: &str,
) -> Vec<(StatusCode, Value)> {
    let apis = api_nodes(cluster);
    let bookings = trainees.iter().enumerate().map(|(i, trainee)| {
        let api = apis[i % apis.len()];
        async move {
            let response = api.book(token(trainee), workout_id).await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    });
    join_all(bookings).await
}

/// A field of a JSON log line: on the event itself, or on the span it was logged in.
fn log_field<'a>(line: &'a Value, name: &str) -> &'a Value {
    match &line[name] {
        Value::Null => &line["span"][name],
        value => value,
    }
}

/// How many times any worker logged "actor activated" for this workout.
fn activations_of(cluster: &Cluster, workout_id: &str) -> usize {
    cluster
        .json_logs_of(Role::Worker)
        .iter()
        .filter(|line| {
            line["message"] == "actor activated"
                && log_field(line, "actor.kind") == "workouts"
                && log_field(line, "actor.id") == workout_id
        })
        .count()
}

/// `(trainee_id, status, waitlist_position)` of the booked and waitlisted roster entries.
fn active(roster: &[Value]) -> Vec<(String, String, Option<i64>)> {
    roster
        .iter()
        .filter(|r| r["status"] == "booked" || r["status"] == "waitlisted")
        .map(|r| {
            (
                r["trainee_id"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["waitlist_position"].as_i64(),
            )
        })
        .collect()
}

on_both_nats_shapes!(
    workouts_are_owned_by_worker_nodes_and_spread_over_them,
    super::workouts_are_owned_by_worker_nodes_and_spread_over_them
);

async fn workouts_are_owned_by_worker_nodes_and_spread_over_them(nats: NatsShape) {
    let cluster = Cluster::start(nats, &[Role::Api, Role::Worker, Role::Worker]).await;
    let api = cluster.api(0);
    let workers: HashSet<String> = cluster.node_ids(Role::Worker).into_iter().collect();
    let trainer = api.signed_up("trainer").await;
    let trainee = api.signed_up("trainee").await;
    let mut workout_ids = Vec::new();
    for slot in 0..16 {
        let created = api
            .created_workout(token(&trainer), &new_workout(hours_ahead(2 * slot)))
            .await;
        workout_ids.push(id_of(&created).to_owned());
    }

    for id in &workout_ids {
        let response = api.book(token(&trainee), id).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "booking {id}: {body}");
        assert_eq!(body["status"], "booked", "{id}");
    }

    let mut owners = HashSet::new();
    for id in &workout_ids {
        let owner = cluster.wait_for_owner(id, Duration::from_secs(2)).await;
        let owner = owner.unwrap_or_else(|| panic!("workout {id} has no owner"));
        assert!(
            workers.contains(&owner),
            "workout {id} is owned by {owner}, which is not a worker ({workers:?})"
        );
        owners.insert(owner);
    }
    assert_eq!(
        owners, workers,
        "16 workouts should land on both workers (rendezvous hashing)"
    );
}

on_both_nats_shapes!(
    a_worker_that_joins_later_takes_new_workouts_until_the_load_is_even,
    super::a_worker_that_joins_later_takes_new_workouts_until_the_load_is_even
);

/// A new workout `2 × slot` hours ahead, with one booking (which activates its actor).
async fn booked_workout(api: &ApiClient, trainer: &Value, trainee: &Value, slot: i64) -> String {
    let created = api
        .created_workout(token(trainer), &new_workout(hours_ahead(2 * slot)))
        .await;
    let id = id_of(&created).to_owned();
    let response = api.book(token(trainee), &id).await;
    assert_eq!(response.status(), StatusCode::CREATED, "booking {id}");
    id
}

/// Bounded loads: the first worker hosts 12 workouts when a second joins. Rendezvous hashing
/// alone would send the second about half of the next 12; with bounded loads the first is over
/// its share (at most 7 of 13 up to 13 of 24) and turns them away, so the second takes all of
/// them, bar the last one or two (the first is back within its share by then) and any asked
/// before the api node saw the newcomer.
async fn a_worker_that_joins_later_takes_new_workouts_until_the_load_is_even(nats: NatsShape) {
    let mut cluster = Cluster::start(nats, &[Role::Api, Role::Worker]).await;
    let api = cluster.api(0).clone();
    let trainer = api.signed_up("trainer").await;
    let trainee = api.signed_up("trainee").await;
    let mut early = Vec::new();
    for slot in 0..12 {
        early.push(booked_workout(&api, &trainer, &trainee, slot).await);
    }
    let first = cluster.node(1).node_id.clone();
    for id in &early {
        let owner = cluster.wait_for_owner(id, Duration::from_secs(2)).await;
        assert_eq!(owner.as_deref(), Some(first.as_str()), "workout {id}");
    }

    let second = cluster.add(Role::Worker).await;
    let second = cluster.node(second).node_id.clone();
    let mut late = Vec::new();
    for slot in 12..24 {
        late.push(booked_workout(&api, &trainer, &trainee, slot).await);
    }
    let mut on_second = 0;
    for id in &late {
        let owner = cluster.wait_for_owner(id, Duration::from_secs(2)).await;
        let owner = owner.unwrap_or_else(|| panic!("workout {id} has no owner"));
        assert!(owner == first || owner == second, "workout {id} on {owner}");
        on_second += usize::from(owner == second);
    }
    assert!(
        on_second >= 10,
        "the worker that joined took {on_second} of the 12 new workouts; the first, hosting 12, \
         should have turned them away"
    );
}

on_both_nats_shapes!(
    concurrent_commands_through_two_api_nodes_activate_exactly_one_actor,
    super::concurrent_commands_through_two_api_nodes_activate_exactly_one_actor
);

async fn concurrent_commands_through_two_api_nodes_activate_exactly_one_actor(nats: NatsShape) {
    let cluster = Cluster::start(nats, &[Role::Api, Role::Api, Role::Worker, Role::Worker]).await;
    let trainer = cluster.api(0).signed_up("trainer").await;
    let created = cluster
        .api(0)
        .created_workout(token(&trainer), &{
            let mut body = new_workout(hours_ahead(10));
            body["capacity"] = json!(1000);
            body
        })
        .await;
    let id = id_of(&created);
    let trainees = register_trainees(&cluster, 20).await;

    let replies = book_all_at_once(&cluster, &trainees, id).await;

    for (i, (status, body)) in replies.iter().enumerate() {
        assert_eq!(*status, StatusCode::CREATED, "trainee {i}: {body}");
        assert_eq!(body["status"], "booked", "trainee {i}: {body}");
    }
    // Log lines arrive through pipes; give them a moment.
    for _ in 0..50 {
        if activations_of(&cluster, id) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        activations_of(&cluster, id),
        1,
        "exactly one worker activates the workout, exactly once"
    );
    let owner = cluster.owner_of(id).await;
    assert!(
        owner
            .as_ref()
            .is_some_and(|o| cluster.node_ids(Role::Worker).contains(o)),
        "{owner:?}"
    );
    let workout: Value = cluster
        .api(1)
        .get_workout(token(&trainer), id)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(workout["booked_count"], 20);
}

on_both_nats_shapes!(
    two_hundred_concurrent_bookings_fill_fifty_places_and_a_waitlist_of_150,
    super::two_hundred_concurrent_bookings_fill_fifty_places_and_a_waitlist_of_150
);

async fn two_hundred_concurrent_bookings_fill_fifty_places_and_a_waitlist_of_150(nats: NatsShape) {
    let cluster = Cluster::start(nats, &[Role::Api, Role::Api, Role::Worker, Role::Worker]).await;
    let trainer = cluster.api(0).signed_up("trainer").await;
    let created = cluster
        .api(0)
        .created_workout(token(&trainer), &{
            let mut body = new_workout(hours_ahead(10));
            body["capacity"] = json!(50);
            body
        })
        .await;
    let id = id_of(&created);
    let trainees = register_trainees(&cluster, 200).await;

    let replies = book_all_at_once(&cluster, &trainees, id).await;

    let mut booked = HashSet::new();
    let mut waitlisted = BTreeMap::new();
    for (trainee, (status, body)) in trainees.iter().zip(&replies) {
        let who = user_id(trainee).to_owned();
        assert_eq!(*status, StatusCode::CREATED, "{who}: {body}");
        match (body["status"].as_str(), body["waitlist_position"].as_i64()) {
            (Some("booked"), None) => assert!(booked.insert(who)),
            (Some("waitlisted"), Some(position)) => {
                let earlier = waitlisted.insert(position, who);
                assert!(
                    earlier.is_none(),
                    "waitlist position {position} given twice"
                );
            }
            _ => panic!("unexpected booking reply for {who}: {body}"),
        }
    }
    assert_eq!(booked.len(), 50, "booked");
    assert_eq!(waitlisted.len(), 150, "waitlisted");
    assert!(
        waitlisted.keys().copied().eq(1..=150),
        "waitlist positions are exactly 1..=150: {:?}",
        waitlisted.keys()
    );

    let roster = active(&cluster.api(1).full_roster(token(&trainer), id, 100).await);
    let everyone: HashSet<String> = trainees.iter().map(|t| user_id(t).to_owned()).collect();
    let listed: HashSet<String> = roster.iter().map(|(who, _, _)| who.clone()).collect();
    assert_eq!(roster.len(), 200, "one roster entry per trainee");
    assert_eq!(listed, everyone, "no trainee twice, nobody missing");
    let (roster_booked, roster_waitlist) = roster.split_at(50);
    assert!(
        roster_booked
            .iter()
            .all(|(_, s, p)| s == "booked" && p.is_none())
    );
    assert_eq!(
        roster_booked
            .iter()
            .map(|(who, _, _)| who.clone())
            .collect::<HashSet<_>>(),
        booked
    );
    let expected_waitlist: Vec<(String, String, Option<i64>)> = waitlisted
        .iter()
        .map(|(position, who)| (who.clone(), "waitlisted".to_owned(), Some(*position)))
        .collect();
    assert_eq!(roster_waitlist, expected_waitlist.as_slice());
    let workout: Value = cluster
        .api(0)
        .get_workout(token(&trainer), id)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(
        (&workout["booked_count"], &workout["waitlist_count"]),
        (&json!(50), &json!(150))
    );

    // One booked trainee cancels: waitlist #1 takes the place, everyone behind moves up.
    let leaver_id = roster_booked[0].0.clone();
    let leaver = trainees
        .iter()
        .find(|t| user_id(t) == leaver_id)
        .unwrap_or_else(|| panic!("{leaver_id} is one of ours"));
    let response = cluster.api(1).cancel_booking(token(leaver), id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let after = active(&cluster.api(0).full_roster(token(&trainer), id, 100).await);
    let first_in_line = &waitlisted[&1];
    let (after_booked, after_waitlist) = after.split_at(50.min(after.len()));
    let now_booked: HashSet<String> = after_booked
        .iter()
        .filter(|(_, s, _)| s == "booked")
        .map(|(who, _, _)| who.clone())
        .collect();
    assert_eq!(now_booked.len(), 50, "still 50 booked");
    assert!(now_booked.contains(first_in_line), "waitlist #1 promoted");
    assert!(!now_booked.contains(&leaver_id), "the leaver is gone");
    assert!(after.iter().all(|(who, _, _)| *who != leaver_id));
    let moved_up: Vec<(String, String, Option<i64>)> = waitlisted
        .range(2..)
        .map(|(position, who)| (who.clone(), "waitlisted".to_owned(), Some(position - 1)))
        .collect();
    assert_eq!(
        after_waitlist,
        moved_up.as_slice(),
        "positions are 1..=149, order kept"
    );
}

on_both_nats_shapes!(
    when_its_worker_is_killed_a_workout_moves_to_another_and_its_next_command_succeeds,
    super::when_its_worker_is_killed_a_workout_moves_to_another_and_its_next_command_succeeds
);

async fn when_its_worker_is_killed_a_workout_moves_to_another_and_its_next_command_succeeds(
    nats: NatsShape,
) {
    let mut cluster = Cluster::start(nats, &[Role::Api, Role::Worker, Role::Worker]).await;
    let api = cluster.api(0).clone();
    let trainer = api.signed_up("trainer").await;
    let first = api.signed_up("trainee").await;
    let second = api.signed_up("trainee").await;
    let created = api
        .created_workout(token(&trainer), &new_workout(hours_ahead(10)))
        .await;
    let id = id_of(&created);
    let response = api.book(token(&first), id).await;
    assert_eq!(response.status(), StatusCode::CREATED, "first booking");
    let owner = cluster
        .wait_for_owner(id, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("workout {id} has no owner after a booking"));
    let dead = cluster
        .index_of(&owner)
        .unwrap_or_else(|| panic!("owner {owner} is not a node of the cluster"));
    assert_eq!(cluster.node(dead).role, Role::Worker, "owned by a worker");
    let survivor = cluster
        .node_ids(Role::Worker)
        .into_iter()
        .find(|n| *n != owner)
        .unwrap_or_else(|| panic!("a second worker"));

    cluster.kill9(dead);
    let started = Instant::now();
    let response = api.book(token(&second), id).await;
    let elapsed = started.elapsed();

    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "booking after the kill: {body}"
    );
    assert_eq!(body["status"], "booked");
    // How long the move took is a figure to report (target: lease TTL + 2 s), not to assert:
    // on a loaded 2-core machine it varies, and a timing assert would make the suite flaky.
    eprintln!(
        "failover: the next command succeeded {elapsed:?} after the kill (lease TTL {:?})",
        LEASE_TTL
    );
    assert_eq!(cluster.owner_of(id).await, Some(survivor));
    let roster = active(&api.full_roster(token(&trainer), id, 100).await);
    let booked: HashSet<&str> = roster
        .iter()
        .filter(|(_, s, _)| s == "booked")
        .map(|(who, _, _)| who.as_str())
        .collect();
    assert_eq!(
        booked,
        HashSet::from([user_id(&first), user_id(&second)]),
        "the state survived the failover"
    );
}

on_both_nats_shapes!(
    a_worker_stopped_with_sigterm_hands_its_actors_over_at_once,
    super::a_worker_stopped_with_sigterm_hands_its_actors_over_at_once
);

async fn a_worker_stopped_with_sigterm_hands_its_actors_over_at_once(nats: NatsShape) {
    let mut cluster = Cluster::start(nats, &[Role::Api, Role::Worker, Role::Worker]).await;
    let api = cluster.api(0).clone();
    let trainer = api.signed_up("trainer").await;
    let (first, second) = (
        api.signed_up("trainee").await,
        api.signed_up("trainee").await,
    );
    let created = api
        .created_workout(token(&trainer), &new_workout(hours_ahead(12)))
        .await;
    let id = id_of(&created).to_owned();
    assert_eq!(
        api.book(token(&first), &id).await.status(),
        StatusCode::CREATED
    );
    let owner = cluster
        .wait_for_owner(&id, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("no owner"));
    let leaving = cluster
        .index_of(&owner)
        .unwrap_or_else(|| panic!("owner {owner} is not in the cluster"));

    let status = cluster.terminate(leaving);

    assert!(status.success(), "graceful exit: {status}");
    // Deleted on the way out, not left to expire: the next command need not wait for the TTL.
    assert_eq!(cluster.owner_of(&id).await, None, "the lease was released");
    assert_eq!(
        api.book(token(&second), &id).await.status(),
        StatusCode::CREATED
    );
    let new_owner = cluster.wait_for_owner(&id, Duration::from_secs(2)).await;
    assert!(
        new_owner.is_some_and(|n| n != owner),
        "another worker took over"
    );
    let logs = cluster.node(leaving).json_logs();
    let handed_over = logs
        .iter()
        .filter(|l| l["message"] == "actor stopped" && l["reason"] == "drain")
        .count();
    assert!(
        handed_over >= 1,
        "the leaving worker stopped its actors itself: {logs:#?}"
    );
}
