//! [`frames`]: a tick's ranking as the messages published on the live subject, and [`roster`]:
//! who holds the board's slots, for readers that ask.
//!
//! Everyone's place goes out every tick (the api nodes slice each client's view from it: top N,
//! their own place, the neighbours around it), each as its board slot, energy and rating, split
//! into parts of at most [`Frame::MAX_STANDINGS`] so that even a 100 000-trainee session stays
//! under NATS's payload limit. Who holds a slot, and their display name, is asked for once per
//! change ([`roster`]). Only the board's side is here; the split and the reassembly are
//! [`bus_contracts::v1::frames`], the roster's pages [`bus_contracts::v1::roster`].

use super::board::{Board, Ranking};
use bus_contracts::v1::frames::{Tick, split};
use bus_contracts::v1::roster::page;
use bus_contracts::v1::{Frame, Placed, RosterEntry, RosterPage};
use std::collections::HashMap;
use uuid::Uuid;

/// The frames of one tick, in rank order; slots below `named` have their names settled. An
/// empty board still yields one (empty) part, so clients see the tick.
pub fn frames(board: &Board, ranking: &Ranking, named: u32, tick: Tick) -> Vec<Frame> {
    let standings = ranking.order.iter().map(|&slot| placed(board, slot));
    split(tick, named, standings, Frame::MAX_STANDINGS)
}

fn placed(board: &Board, slot: u32) -> Placed {
    // Board energy is finite and non-negative; ratings are validated to 0..=100.
    Placed(
        slot,
        board.energy(slot).floor() as i64,
        board.rating(slot).round().clamp(0.0, 100.0) as u8,
    )
}

/// Who holds the slots from `from` on (a page of them): `names` holds each participant's display
/// name, `None` for those who hide from leaderboards; slots below `named` have theirs settled.
/// `id` is the board's (see `Frame::board`).
pub fn roster(
    board: &Board,
    id: Uuid,
    names: &HashMap<Uuid, Option<String>>,
    from: u32,
    named: u32,
) -> RosterPage {
    let participants = u32::try_from(board.len()).unwrap_or(u32::MAX);
    page(id, from, participants, named, |slot| {
        let user = board.user(slot);
        RosterEntry(user, names.get(&user).cloned().flatten())
    })
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
            board: user(70),
            tick: 3,
            at: DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 2,
                rejected: 1,
            },
        }
    }

    #[test]
    fn places_follow_the_ranking_and_the_roster_names_the_slots() {
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
        let frames = frames(&board, &board.rank(), 2, tick());
        assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        assert_eq!((frame.epoch, frame.tick, frame.participants), (7, 3, 3));
        assert_eq!(
            (frame.part, frame.parts, frame.offset, frame.named),
            (0, 1, 0, 2)
        );
        assert_eq!(
            frame.standings,
            vec![Placed(1, 150, 80), Placed(2, 90, 40), Placed(0, 0, 0)]
        );
        let names = HashMap::from([
            (user(1), Some("Asha".to_owned())),
            (user(2), None),
            (user(3), Some("Ravi".to_owned())),
        ]);
        let page = roster(&board, user(70), &names, 1, 3);
        assert_eq!(
            (page.board, page.from, page.named, page.participants),
            (user(70), 1, 3, 3)
        );
        assert_eq!(
            page.entries,
            vec![
                RosterEntry(user(2), None),
                RosterEntry(user(3), Some("Ravi".to_owned()))
            ]
        );
    }

    #[test]
    fn large_sessions_are_split_into_parts_with_offsets() {
        let n = Frame::MAX_STANDINGS * 2 + 1;
        let board = Board::new(0, (0..n as u128).map(user));
        let frames = frames(&board, &board.rank(), 0, tick());
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
        let frames = frames(&board, &board.rank(), 0, tick());
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].parts, frames[0].participants), (1, 0));
        assert!(frames[0].standings.is_empty());
        assert!(
            roster(&board, user(70), &HashMap::new(), 0, 0)
                .entries
                .is_empty()
        );
    }
}
