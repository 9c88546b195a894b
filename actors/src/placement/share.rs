//! Bounded loads: how many workouts one worker should host.
//!
//! Rendezvous hashing spreads workouts evenly only on average (200 over two workers came out 87 /
//! 113). With bounded loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded
//! Loads", 2018) the caller still walks the rendezvous order, but a worker that already hosts its
//! share turns a new workout away and the next one in the order takes it. The share is an even
//! split plus [`SLACK_PERCENT`], rounded up, so the busiest worker stays within 5 % (and one
//! workout) of the average while most workouts still land where rendezvous puts them.
//!
//! A worker counts its own workouts exactly and the others' from their heartbeats, which can lag;
//! a lagging count makes it turn work away sooner, never later, and when every worker asked is
//! full the caller gives the workout to the most preferred of them anyway (see
//! [`crate::client::ActorClient`]).

/// Headroom over an even split before a worker turns workouts away.
pub const SLACK_PERCENT: u64 = 5;

/// The most workouts one of `workers` should host when `total` are placed.
pub fn share(total: u32, workers: u32) -> u32 {
    let even_plus_slack =
        (u64::from(total) * (100 + SLACK_PERCENT)).div_ceil(100 * u64::from(workers.max(1)));
    u32::try_from(even_plus_slack).unwrap_or(u32::MAX)
}

/// Whether a worker hosting `hosted` workouts, of `total` on all `workers` (its own included),
/// should turn one more away.
pub fn is_full(hosted: u32, total: u32, workers: u32) -> bool {
    hosted.saturating_add(1) > share(total.saturating_add(1), workers)
}

#[cfg(test)]
mod tests {
    use super::{is_full, share};

    #[test]
    fn a_lone_worker_takes_everything() {
        for hosted in 0..1_000 {
            assert!(!is_full(hosted, hosted, 1), "{hosted}");
        }
    }

    #[test]
    fn the_share_is_an_even_split_plus_five_percent_rounded_up() {
        assert_eq!(share(0, 2), 0);
        assert_eq!(share(1, 2), 1);
        assert_eq!(share(2, 2), 2); // 1.05
        assert_eq!(share(200, 2), 105);
        assert_eq!(share(200, 3), 70); // 66.7 × 1.05 = 70
        assert_eq!(share(10, 0), 11, "no known worker counts as one");
    }

    /// Every workout prefers the first worker (the worst case for rendezvous hashing); with
    /// fresh counts the spread stays within the share.
    #[test]
    fn placement_in_preference_order_stays_within_the_share() {
        for workers in 1..=5u32 {
            let mut hosted = vec![0u32; workers as usize];
            for placed in 0..500u32 {
                let taker = (0..workers as usize)
                    .find(|&w| !is_full(hosted[w], placed, workers))
                    .unwrap_or(0);
                hosted[taker] += 1;
            }
            let busiest = hosted.iter().copied().max().unwrap_or_default();
            assert!(
                busiest <= share(500, workers),
                "{workers} workers: {hosted:?}"
            );
            assert!(
                hosted.iter().all(|&h| h > 0),
                "{workers} workers: {hosted:?}"
            );
        }
    }

    #[test]
    fn a_worker_behind_the_others_always_takes_one_more() {
        for total in 0..300u32 {
            for workers in 2..=4u32 {
                let average = total / workers;
                assert!(!is_full(average, total, workers), "{total} / {workers}");
            }
        }
    }
}
