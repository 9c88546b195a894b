//! Who holds each slot of a live board: [`page`] is how the workout's owner answers
//! [`WorkoutCommand::Roster`](super::WorkoutCommand::Roster), [`Roster`] is what a reader of the
//! live subject keeps of the answers.
//!
//! Frames name board slots, not trainees ([`Placed`](super::Placed)): a user id and a display name
//! are 30–40 bytes a participant, and sending them every tick made what every following api node
//! receives grow with the session (≈ 376 KB a tick at 10 000). Slots are handed out in join order
//! and never reused on a board (one owner's live session), and names are looked up once, so the
//! roster only grows: a reader asks for what is new when a frame's `participants` or `named` is
//! ahead of it, and starts again when a frame names another board.

use super::{RosterEntry, RosterPage};
use std::collections::HashMap;
use uuid::Uuid;

/// Most entries in one [`RosterPage`] (≈ 60 bytes each as JSON: a page stays well under 1 MB).
pub const MAX_PAGE: usize = 5_000;

/// The owner's answer for slots `from..` of a board of `participants` slots, of which those below
/// `named` have their names settled; `entry` says who holds a slot. At most [`MAX_PAGE`] entries:
/// the reader asks again from where the page stops.
pub fn page(
    board: Uuid,
    from: u32,
    participants: u32,
    named: u32,
    entry: impl Fn(u32) -> RosterEntry,
) -> RosterPage {
    let end = participants.min(from.saturating_add(MAX_PAGE as u32));
    RosterPage {
        board,
        from,
        named: named.min(participants),
        participants,
        entries: (from.min(end)..end).map(entry).collect(),
    }
}

/// A reader's copy of one board's roster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    board: Uuid,
    users: Vec<Uuid>,
    names: Vec<Option<String>>,
    /// Slots below this have their names settled.
    named: u32,
    slots: HashMap<Uuid, u32>,
}

impl Roster {
    /// An empty roster of `board`.
    pub fn new(board: Uuid) -> Self {
        Roster {
            board,
            ..Roster::default()
        }
    }

    /// The board this roster names.
    pub fn board(&self) -> Uuid {
        self.board
    }

    /// Slots known.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no slot is known.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The first slot to ask the owner for so that this roster covers a frame of `board` with
    /// `participants` slots and `named` names settled; `None` when it already does (or the frame
    /// is another board's: start a new roster for it).
    pub fn wants(&self, board: Uuid, participants: u32, named: u32) -> Option<u32> {
        let known = self.users.len() as u32;
        if board != self.board {
            None
        } else if self.named < named {
            Some(self.named) // names settled since: from the first one not known here
        } else {
            (known < participants).then_some(known)
        }
    }

    /// Takes a page in; false (and unchanged) if it is another board's or leaves a gap.
    pub fn add(&mut self, page: RosterPage) -> bool {
        if page.board != self.board || page.from as usize > self.users.len() {
            return false;
        }
        let from = page.from as usize;
        self.users.truncate(from);
        self.names.truncate(from);
        self.slots.retain(|_, slot| (*slot as usize) < from);
        for (slot, RosterEntry(user, name)) in (page.from..).zip(page.entries) {
            self.slots.insert(user, slot);
            self.users.push(user);
            self.names.push(name);
        }
        self.named = page.named.min(self.users.len() as u32);
        true
    }

    /// Who holds `slot`, and their display name (`None`: hidden, or not known yet).
    pub fn holder(&self, slot: u32) -> Option<(Uuid, Option<&str>)> {
        let user = *self.users.get(slot as usize)?;
        let name = self.names.get(slot as usize)?.as_deref();
        Some((user, name))
    }

    /// `user`'s slot.
    pub fn slot(&self, user: Uuid) -> Option<u32> {
        self.slots.get(&user).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Uuid = Uuid::from_u128(4);
    const OTHER: Uuid = Uuid::from_u128(5);

    fn entry(slot: u32) -> RosterEntry {
        let name = (!slot.is_multiple_of(3)).then(|| format!("T{slot}"));
        RosterEntry(Uuid::from_u128(u128::from(slot) + 1), name)
    }

    #[test]
    fn a_reader_learns_a_growing_roster_page_by_page_and_names_as_they_settle() {
        let mut roster = Roster::new(B);
        assert_eq!(roster.wants(B, 0, 0), None);
        // 12 000 joined, names of the first 7 000 settled: three pages.
        let mut asked = Vec::new();
        while let Some(from) = roster.wants(B, 12_000, 7_000) {
            asked.push(from);
            assert!(roster.add(page(B, from, 12_000, 7_000, entry)));
        }
        assert_eq!(asked, vec![0, 5_000, 10_000]);
        assert_eq!(roster.len(), 12_000);
        assert_eq!(roster.holder(7), Some((Uuid::from_u128(8), Some("T7"))));
        // The rest of the names settle: asked again from the first unsettled slot only.
        assert_eq!(roster.wants(B, 12_000, 12_000), Some(7_000));
        assert!(roster.add(page(B, 7_000, 12_000, 12_000, entry)));
        assert_eq!(roster.wants(B, 12_000, 12_000), None);
        assert_eq!(roster.slot(Uuid::from_u128(11_500)), Some(11_499));
        assert_eq!(roster.holder(12_000), None);
    }

    #[test]
    fn pages_of_another_board_or_past_a_gap_change_nothing() {
        let mut roster = Roster::new(B);
        assert!(roster.add(page(B, 0, 10, 10, entry)));
        let before = roster.clone();
        assert!(!roster.add(page(OTHER, 0, 10, 10, entry)));
        assert!(!roster.add(page(B, 11, 20, 20, entry)));
        assert_eq!(roster, before);
        // Another board's frame is never "covered": the reader starts a new roster for it.
        assert_eq!(roster.wants(OTHER, 10, 10), None);
        assert_ne!(roster.board(), OTHER);
    }

    #[test]
    fn a_page_never_runs_past_the_board() {
        let last = page(B, 9, 10, 12, entry);
        assert_eq!((last.entries.len(), last.named), (1, 10));
        assert!(page(B, 10, 10, 10, entry).entries.is_empty());
        assert!(page(B, 50, 10, 10, entry).entries.is_empty());
    }
}
