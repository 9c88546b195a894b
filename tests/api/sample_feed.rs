//! A worker reads the samples of all its live sessions through one `ENERGY` consumer (the sample
//! feed), and no sample is lost as sessions hand over to it and leave it.
#![allow(
    clippy::expect_used,
    reason = "a broken connection should fail the test loudly"
)]

use crate::helpers::{TestApp, token, user_id};
use crate::live::{Class, counter, fast_ticking_app, live_class, sample, send_and_expect};
use futures_util::TryStreamExt as _;
use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// The filter of each consumer on `ENERGY`, as sets of subjects.
async fn energy_consumers(bus: &async_nats::Client) -> Vec<BTreeSet<String>> {
    let js = async_nats::jetstream::new(bus.clone());
    let stream = js.get_stream("ENERGY").await.expect("the ENERGY stream");
    let infos: Vec<_> = stream
        .consumers()
        .try_collect()
        .await
        .expect("list the consumers");
    infos
        .into_iter()
        .map(|info| {
            let mut filter: BTreeSet<String> = info.config.filter_subjects.into_iter().collect();
            if !info.config.filter_subject.is_empty() {
                filter.insert(info.config.filter_subject);
            }
            filter
        })
        .collect()
}

/// Waits (up to 20 s) until the consumers on `ENERGY` are exactly one, reading every sample, and
/// the node says it serves `sessions` sessions through it.
async fn one_consumer_serving(app: &TestApp, bus: &async_nats::Client, sessions: usize) {
    let expected = [BTreeSet::from(
        ["cultfit.v1.workouts.*.energy.*".to_owned()],
    )];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let consumers = energy_consumers(bus).await;
        let served = counter(app, "cultfit_live_feed_sessions").await;
        if consumers == expected && served == sessions as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected one consumer serving {sessions}, found {consumers:?} serving {served}"
        );
        sleep(Duration::from_millis(200)).await;
    }
}

/// Sends trainee 0's sample number `seq` (energy `energy`) and waits until the board shows it.
async fn send(app: &crate::helpers::ApiClient, class: &Class, seq: u64, energy: i64) {
    let wearable = class.wearable(0).await;
    let trainee = user_id(&class.trainees[0]);
    let second = seq as i64 - 1;
    let payload = sample(class, second, seq, 50.0, energy as f64);
    send_and_expect(app, &wearable, class, trainee, payload, energy).await;
}

/// Ends `class` and returns its one trainee's energy in the results.
async fn ended_with_energy(app: &crate::helpers::ApiClient, class: &Class) -> i64 {
    let trainer = token(&class.trainer);
    assert_eq!(
        app.end_workout(trainer, &class.id).await.status(),
        StatusCode::OK
    );
    crate::live::results(app, trainer, &class.id).await["items"][0]["energy"]
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_live_sessions_share_one_sample_consumer_and_lose_no_sample() {
    let app = fast_ticking_app().await;
    let bus = app.nats.service_client().await;
    let mut classes = Vec::new();
    for _ in 0..3 {
        classes.push(live_class(&app, 1).await);
    }
    for (class, energy) in classes.iter().zip([10, 20, 30]) {
        send(&app, class, 1, energy).await;
    }
    // Each session caught up on its own consumer, then handed over: one consumer serves all three.
    one_consumer_serving(&app, &bus, 3).await;

    // Samples go on arriving through it.
    for (class, energy) in classes.iter().zip([110, 120, 130]) {
        send(&app, class, 2, energy).await;
    }

    // The first class ends with its last sample counted; the consumer then serves the other two.
    assert_eq!(ended_with_energy(&app, &classes[0]).await, 110);
    one_consumer_serving(&app, &bus, 2).await;
    for (class, energy) in classes[1..].iter().zip([220, 230]) {
        send(&app, class, 3, energy).await;
    }
    // A sample sent just before the end still reaches the results.
    let wearable = classes[1].wearable(0).await;
    let trainee = user_id(&classes[1].trainees[0]).to_owned();
    let last = sample(&classes[1], 3, 4, 50.0, 299.0);
    crate::live::publish(
        &wearable,
        crate::live::subject(&classes[1].id, &trainee),
        last.to_string(),
    )
    .await;
    wearable.flush().await.expect("flush");
    assert_eq!(ended_with_energy(&app, &classes[1]).await, 299);
    assert_eq!(ended_with_energy(&app, &classes[2]).await, 230);
    // Nobody left to read for: no consumer at all.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !energy_consumers(&bus).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "a sample consumer outlived its sessions"
        );
        sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(counter(&app, "cultfit_live_feed_sessions").await, 0.0);
}
