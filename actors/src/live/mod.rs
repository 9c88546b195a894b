//! The live path of a session, as pure data: wearable samples in, a leaderboard every tick, and
//! per-participant results at the end (DESIGN §5).
//!
//! The flow, one step per module:
//! 1. [`bus_contracts::v1::energy`] turns a wire payload (`{"seq", "ts", "rating", "energy", "hr"}`)
//!    into a validated `Sample`, or a `Rejection` that the actor counts under its metrics label.
//! 2. [`board`] folds accepted samples into a dense, struct-of-arrays [`board::Board`] (one slot
//!    per participant) and ranks it once per tick.
//! 3. Every tick, [`frame`] turns the ranking into the messages published on the live subject
//!    (split by [`bus_contracts::v1::frames`], where the api's reassembly sits too).
//! 4. At the end, [`summary`] replays each slot's per-second history into a
//!    [`summary::ParticipantResult`], with calories from [`calories`]; its per-second energy
//!    curve is stored packed by [`curve`].
//!
//! Why cumulative energy plus `seq`: a wearable reports its running total, so the board only keeps
//! the newest report per participant. Duplicates, replays and out-of-order delivery are then
//! harmless (older `seq`s are ignored), and a lost message costs freshness, not score.
//!
//! Everything here is synchronous and clock-free (time is passed in), so it is unit-tested without a
//! runtime. It sits on the actor's hot path, where nothing the wire sends may crash or stall the
//! actor: no function here panics on any input, arithmetic saturates, and hostile values are
//! rejected rather than trusted.

pub mod board;
pub mod calories;
pub mod curve;
pub mod frame;
pub mod summary;
