//! [`frames`]: a tick's ranking as the messages published on the live subject.
//!
//! Everyone's standing goes out every tick (the api nodes slice each client's view from it: top N,
//! their own place, the neighbours around it), split into parts of at most
//! [`Frame::MAX_STANDINGS`] so that even a 100 000-trainee session stays under NATS's payload
//! limit. Only the board's side is here (ranking to standings, names); the split itself is
//! [`bus_contracts::v1::frames::split`], beside the reassembly every reader uses.

use super::board::{Board, Ranking};
use bus_contracts::v1::frames::{Tick, split};
use bus_contracts::v1::{Frame, Standing};
use std::collections::HashMap;
use uuid::Uuid;

/// The frames of one tick, in rank order. `names` holds each participant's display name, `None`
/// for those who hide from leaderboards; anyone missing is shown without a name. An empty board
/// still yields one (empty) part, so clients see the tick.
pub fn frames(
    board: &Board,
    ranking: &Ranking,
    names: &HashMap<Uuid, Option<String>>,
    tick: Tick,
) -> Vec<Frame> {
    let standings = ranking
        .order
        .iter()
        .map(|&slot| standing(board, slot, names));
    split(tick, standings, Frame::MAX_STANDINGS)
}

fn standing(board: &Board, slot: u32, names: &HashMap<Uuid, Option<String>>) -> Standing {
    let user = board.user(slot);
    // Board energy is finite and non-negative; ratings are validated to 0..=100.
    Standing(
        user,
        board.energy(slot).floor() as i64,
        board.rating(slot).round().clamp(0.0, 100.0) as u8,
        names.get(&user).cloned().flatten(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bus_contracts::v1::SampleCounts;
    use bus_contracts::v1::energy::Sample;
    use chrono::DateTime;

    fn user(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn tick() -> Tick {
        Tick {
            epoch: 7,
            tick: 3,
            at: DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 2,
                rejected: 1,
            },
        }
    }

    #[test]
    fn standings_follow_the_ranking_with_names_where_shown() {
        let start = 1_900_000_000_000;
        let mut board = Board::new(start, [user(1), user(2), user(3)]);
        for (who, energy, rating) in [(2, 150.0, 80.0), (3, 90.0, 40.4)] {
            let sample = Sample {
                seq: 1,
                ts: start + 2_000,
                rating,
                energy,
                hr: None,
            };
            assert!(board.ingest(user(who), &sample, start + 2_000).is_ok());
        }
        let names = HashMap::from([
            (user(1), Some("Asha".to_owned())),
            (user(2), None),
            (user(3), Some("Ravi".to_owned())),
        ]);
        let frames = frames(&board, &board.rank(), &names, tick());
        assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        assert_eq!((frame.epoch, frame.tick, frame.participants), (7, 3, 3));
        assert_eq!((frame.part, frame.parts, frame.offset), (0, 1, 0));
        assert_eq!(
            frame.standings,
            vec![
                Standing(user(2), 150, 80, None),
                Standing(user(3), 90, 40, Some("Ravi".to_owned())),
                Standing(user(1), 0, 0, Some("Asha".to_owned())),
            ]
        );
    }

    #[test]
    fn large_sessions_are_split_into_parts_with_offsets() {
        let n = Frame::MAX_STANDINGS * 2 + 1;
        let board = Board::new(0, (0..n as u128).map(user));
        let frames = frames(&board, &board.rank(), &HashMap::new(), tick());
        let shape: Vec<(u32, u32, u32, usize)> = frames
            .iter()
            .map(|f| (f.part, f.parts, f.offset, f.standings.len()))
            .collect();
        let max = Frame::MAX_STANDINGS;
        assert_eq!(
            shape,
            vec![
                (0, 3, 0, max),
                (1, 3, max as u32, max),
                (2, 3, 2 * max as u32, 1)
            ]
        );
        assert!(frames.iter().all(|f| f.participants == n as u32));
    }

    #[test]
    fn an_empty_board_still_publishes_its_tick() {
        let board = Board::new(0, []);
        let frames = frames(&board, &board.rank(), &HashMap::new(), tick());
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].parts, frames[0].participants), (1, 0));
        assert!(frames[0].standings.is_empty());
    }
}
