//! What one client of a live stream sees: [`Follower`] turns the node's newest [`LiveState`] into
//! that client's events, and [`slice`] cuts its view of a tick (the top, its own place, the
//! places around it).
//!
//! A follower remembers what it already sent, so however many states it skipped (a slow client
//! only ever sees the newest), it emits each lifecycle change once and in order: waiting room,
//! `started`, frames, then `ended` or `cancelled`.

use super::state::{LiveState, SharedTop};
use apistos::ApiComponent;
use bus_contracts::v1::WorkoutState;
use bus_contracts::v1::frames::{Entry, Standings};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use uuid::Uuid;

/// Places shown from the top of the board.
pub const TOP_N: usize = 10;
/// Places shown on each side of the viewer's own.
pub const NEIGHBOURS: usize = 2;
/// How someone hidden from leaderboards (or not named yet) is shown to others.
pub const ANONYMOUS: &str = "Anonymous";

/// The waiting room.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct WaitingEvent {
    /// Trainees in the waiting room.
    pub participants_waiting: u32,
    /// Planned start, for the countdown.
    pub starts_at: DateTime<Utc>,
}

/// The workout went live.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct StartedEvent {
    /// When.
    pub at: Option<DateTime<Utc>>,
}

/// The workout moved.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct RescheduledEvent {
    /// New planned start.
    pub starts_at: DateTime<Utc>,
}

/// The workout was called off.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct CancelledEvent {
    /// Why, if the trainer said.
    pub reason: Option<String>,
}

/// One place on the board as a client sees it.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct Place {
    /// 1 is best.
    pub rank: u32,
    /// The trainee; null for those who hide from leaderboards (except to themselves).
    pub user_id: Option<Uuid>,
    /// Their name, or "Anonymous".
    pub display_name: String,
    /// Energy points so far.
    pub energy: i64,
    /// Latest effort rating, 0 to 100.
    pub rating: u8,
}

/// The viewer's own standing.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct MyPlace {
    /// 1 is best.
    pub rank: u32,
    /// Energy points so far.
    pub energy: i64,
    /// Latest effort rating, 0 to 100.
    pub rating: u8,
}

/// One tick of the leaderboard, sliced for one viewer.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema, ApiComponent)]
pub struct FrameView {
    /// The owner's lease epoch (changes after a failover).
    pub epoch: u64,
    /// Tick number within the epoch.
    pub tick: u64,
    /// When the ranking was taken.
    pub at: DateTime<Utc>,
    /// Everyone ranked.
    pub participants: u32,
    /// The best [`TOP_N`].
    #[schemars(with = "Vec<Place>")]
    pub top: Top,
    /// The viewer's own place, if they are on the board.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub me: Option<MyPlace>,
    /// The viewer and up to [`NEIGHBOURS`] places on each side (empty if not on the board).
    pub around: Vec<Place>,
    /// Samples accepted and rejected so far in this session.
    pub samples_accepted: u64,
    /// See `samples_accepted`.
    pub samples_rejected: u64,
}

/// The best [`TOP_N`] places of a tick as one viewer sees them: cut for this viewer, or the
/// tick's top as everyone outside it sees it, encoded once per tick for all of a node's clients
/// (at 10 000 clients, cutting and encoding the same ten places for each was most of the work of
/// a frame). Both encode as the same JSON array.
#[derive(Clone, Debug)]
pub enum Top {
    /// Cut for this viewer.
    Places(Vec<Place>),
    /// The tick's shared top, already JSON.
    Encoded(Arc<RawValue>),
}

impl Top {
    /// The places, unless they are already encoded.
    pub fn places(&self) -> Option<&[Place]> {
        match self {
            Top::Places(places) => Some(places),
            Top::Encoded(_) => None,
        }
    }
}

impl PartialEq for Top {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Top::Places(a), Top::Places(b)) => a == b,
            (Top::Encoded(a), Top::Encoded(b)) => a.get() == b.get(),
            _ => false,
        }
    }
}

impl Serialize for Top {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Top::Places(places) => places.serialize(serializer),
            Top::Encoded(json) => json.serialize(serializer),
        }
    }
}

/// One event for a client, before the transport (SSE or WebSocket) encodes it.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// See [`WaitingEvent`].
    Waiting(WaitingEvent),
    /// See [`StartedEvent`].
    Started(StartedEvent),
    /// See [`FrameView`].
    Frame(Box<FrameView>),
    /// See [`RescheduledEvent`].
    Rescheduled(RescheduledEvent),
    /// See [`CancelledEvent`]; the stream ends after it.
    Cancelled(CancelledEvent),
}

impl ClientEvent {
    /// The event name (`event:` in SSE, `event` in WebSocket messages).
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::Waiting(_) => "waiting",
            ClientEvent::Started(_) => "started",
            ClientEvent::Frame(_) => "frame",
            ClientEvent::Rescheduled(_) => "rescheduled",
            ClientEvent::Cancelled(_) => "cancelled",
        }
    }

    /// The event's data, encoded as JSON text. Straight to text, not through a
    /// `serde_json::Value`: a node encodes one frame per client per tick, and building the tree
    /// first would cost an allocation per field of each.
    pub fn data(&self) -> String {
        let encoded = match self {
            ClientEvent::Waiting(e) => serde_json::to_string(e),
            ClientEvent::Started(e) => serde_json::to_string(e),
            ClientEvent::Frame(e) => serde_json::to_string(e),
            ClientEvent::Rescheduled(e) => serde_json::to_string(e),
            ClientEvent::Cancelled(e) => serde_json::to_string(e),
        };
        // Plain structs of numbers, strings and timestamps always encode.
        encoded.unwrap_or_else(|_| "null".to_owned())
    }
}

/// What a follower wants done next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send this.
    Send(ClientEvent),
    /// The workout ended at this time: send `ended` with the viewer's result, then close.
    Ended(DateTime<Utc>),
}

/// Where the workout stood when the client connected (read from PostgreSQL).
#[derive(Clone, Copy, Debug)]
pub struct Initial {
    /// Lifecycle state.
    pub state: WorkoutState,
    /// Planned start.
    pub starts_at: DateTime<Utc>,
    /// When it went live, if it did.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// Trainees in the waiting room or the session now.
    pub present: u32,
}

/// One client's progress through a workout's live stream.
#[derive(Debug)]
pub struct Follower {
    viewer: Uuid,
    waiting: Option<(u32, DateTime<Utc>)>,
    starts_at: DateTime<Utc>,
    started: bool,
    tick: Option<(u64, u64)>,
    done: bool,
}

impl Follower {
    /// A follower for `viewer` and the events it opens with.
    pub fn new(viewer: Uuid, initial: Initial) -> (Self, Vec<Step>) {
        let mut follower = Follower {
            viewer,
            waiting: None,
            starts_at: initial.starts_at,
            started: false,
            tick: None,
            done: false,
        };
        let mut steps = Vec::new();
        match initial.state {
            WorkoutState::Scheduled => {
                follower.waiting = Some((initial.present, initial.starts_at));
                steps.push(Step::Send(ClientEvent::Waiting(WaitingEvent {
                    participants_waiting: initial.present,
                    starts_at: initial.starts_at,
                })));
            }
            WorkoutState::Live => {
                follower.started = true;
                steps.push(Step::Send(ClientEvent::Started(StartedEvent {
                    at: initial.started_at,
                })));
            }
            WorkoutState::Ended => {
                follower.done = true;
                steps.push(Step::Ended(initial.ended_at.unwrap_or_else(Utc::now)));
            }
            WorkoutState::Cancelled => {
                follower.done = true;
                steps.push(Step::Send(ClientEvent::Cancelled(CancelledEvent {
                    reason: None,
                })));
            }
        }
        (follower, steps)
    }

    /// A follower for `viewer` whose opening also reflects what this node's channel has seen
    /// (`state`): the opening read may be up to [`crate::live::access::GATE_TTL`] old, and a
    /// client must not be shown a waiting room for a workout the node knows was cancelled.
    pub fn opening(viewer: Uuid, initial: Initial, state: &LiveState) -> (Self, Vec<Step>) {
        let (mut follower, mut steps) = Self::new(viewer, initial);
        let since = follower.next(state);
        if follower.done && !since.is_empty() {
            // Ended or cancelled since the read: that is all there is to say.
            steps = since.into_iter().last().into_iter().collect();
        } else {
            steps.extend(since);
        }
        (follower, steps)
    }

    /// Whether the stream is over (`ended` or `cancelled` was due).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The events due since the last call, given the newest state.
    pub fn next(&mut self, state: &LiveState) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.done {
            return steps;
        }
        if let Some(reason) = &state.cancelled {
            self.done = true;
            steps.push(Step::Send(ClientEvent::Cancelled(CancelledEvent {
                reason: reason.clone(),
            })));
            return steps;
        }
        if !self.started {
            if let Some(starts_at) = state.rescheduled
                && starts_at != self.starts_at
            {
                self.starts_at = starts_at;
                steps.push(Step::Send(ClientEvent::Rescheduled(RescheduledEvent {
                    starts_at,
                })));
            }
            if let Some((count, _)) = state.waiting
                && state.started.is_none()
                && self.waiting != Some((count, self.starts_at))
            {
                self.waiting = Some((count, self.starts_at));
                steps.push(Step::Send(ClientEvent::Waiting(WaitingEvent {
                    participants_waiting: count,
                    starts_at: self.starts_at,
                })));
            }
            if state.started.is_some() || state.frame.is_some() || state.ended.is_some() {
                self.started = true;
                steps.push(Step::Send(ClientEvent::Started(StartedEvent {
                    at: state.started,
                })));
            }
        }
        if let Some(frame) = &state.frame
            && self.tick != Some((frame.epoch, frame.tick))
        {
            self.tick = Some((frame.epoch, frame.tick));
            let mine = frame.position(self.viewer);
            let top = shared_top(frame, mine, &state.shared_top);
            steps.push(Step::Send(ClientEvent::Frame(Box::new(cut(
                frame,
                self.viewer,
                mine,
                top,
            )))));
        }
        if let Some(at) = state.ended {
            self.done = true;
            steps.push(Step::Ended(at));
        }
        steps
    }
}

/// The place at `index` (0 is the top) as `viewer` sees it: hidden trainees are anonymous to
/// everyone but themselves.
fn place(standings: &Standings, index: usize, viewer: Uuid) -> Option<Place> {
    let Entry {
        user,
        energy,
        rating,
        name,
    } = standings.get(index)?;
    let rank = u32::try_from(index + 1).unwrap_or(u32::MAX);
    let (user_id, display_name) = match (name, user == viewer) {
        (Some(name), _) => (Some(user), name.to_owned()),
        (None, true) => (Some(user), ANONYMOUS.to_owned()),
        (None, false) => (None, ANONYMOUS.to_owned()),
    };
    Some(Place {
        rank,
        user_id,
        display_name,
        energy,
        rating,
    })
}

/// The first `limit` places of a tick, best first, as `viewer` sees them (the trainer's board).
pub fn places(standings: &Standings, viewer: Uuid, limit: usize) -> Vec<Place> {
    (0..limit.min(standings.len()))
        .filter_map(|index| place(standings, index, viewer))
        .collect()
}

/// `viewer`'s view of a tick.
pub fn slice(standings: &Standings, viewer: Uuid) -> FrameView {
    cut(standings, viewer, standings.position(viewer), None)
}

/// The tick's top, encoded once and shared through `cache`, when a viewer whose own place is
/// `mine` sees it as everyone outside it does; `None` for a viewer who is in it anonymously
/// (they see their own id there).
fn shared_top(standings: &Standings, mine: Option<usize>, cache: &SharedTop) -> Option<Top> {
    let own = mine.filter(|&i| i < TOP_N).and_then(|i| standings.get(i));
    if own.is_some_and(|entry| entry.name.is_none()) {
        return None;
    }
    let encoded = cache.get_or_init(|| {
        let outsider = places(standings, Uuid::nil(), TOP_N);
        // Places of numbers and strings always encode.
        let json = serde_json::to_string(&outsider).unwrap_or_else(|_| "[]".to_owned());
        RawValue::from_string(json).map(Arc::from).ok()
    });
    encoded.clone().map(Top::Encoded)
}

/// `viewer`'s view of a tick, given their place (`mine`) and `top` if already at hand.
fn cut(standings: &Standings, viewer: Uuid, mine: Option<usize>, top: Option<Top>) -> FrameView {
    let place = |index: usize| place(standings, index, viewer);
    let top = top.unwrap_or_else(|| Top::Places(places(standings, viewer, TOP_N)));
    let me = mine.and_then(place).map(|p| MyPlace {
        rank: p.rank,
        energy: p.energy,
        rating: p.rating,
    });
    let around = mine.map_or_else(Vec::new, |i| {
        let last = (i + NEIGHBOURS).min(standings.len().saturating_sub(1));
        (i.saturating_sub(NEIGHBOURS)..=last)
            .filter_map(place)
            .collect()
    });
    FrameView {
        epoch: standings.epoch,
        tick: standings.tick,
        at: standings.at,
        participants: standings.participants,
        top,
        me,
        around,
        samples_accepted: standings.samples.accepted,
        samples_rejected: standings.samples.rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::state::tests::named_tick;
    use std::sync::Arc;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap_or_default()
    }

    fn user(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// 20 trainees, user(1) best; even-numbered ones hide.
    fn standings(tick: u64) -> Standings {
        let users: Vec<u128> = (1..=20).collect();
        let mut standings = named_tick(1, tick, &users, |n| (n % 2 == 1).then(|| format!("T{n}")));
        standings.at = at(tick as i64);
        standings
    }

    fn initial(state: WorkoutState) -> Initial {
        Initial {
            state,
            starts_at: at(60),
            started_at: None,
            ended_at: None,
            present: 3,
        }
    }

    fn names(steps: &[Step]) -> Vec<&'static str> {
        steps
            .iter()
            .map(|s| match s {
                Step::Send(e) => e.name(),
                Step::Ended(_) => "ended",
            })
            .collect()
    }

    #[test]
    fn the_shared_top_encodes_as_each_viewer_would_see_it_and_hidden_ones_in_it_get_their_own() {
        let standings = standings(4);
        let cache = SharedTop::default();
        let viewers = (1..=20u128).map(user).chain([user(99)]);
        let mut shared = 0;
        for viewer in viewers {
            let mine = standings.position(viewer);
            let top = shared_top(&standings, mine, &cache);
            shared += usize::from(top.is_some());
            let streamed = serde_json::to_string(&cut(&standings, viewer, mine, top));
            let own = serde_json::to_string(&slice(&standings, viewer));
            assert_eq!(streamed.ok(), own.ok(), "viewer {viewer}");
        }
        // Users 2, 4, …, 10 hide and are in the top: they get their own; everyone else shares.
        assert_eq!(shared, 21 - 5);
    }

    #[test]
    fn a_viewer_sees_the_top_itself_and_its_neighbours_with_hidden_names_masked() {
        let view = slice(&standings(1), user(12));
        let top = view.top.places().unwrap_or_default();
        assert_eq!(top.len(), TOP_N);
        assert_eq!(top[0].user_id, Some(user(1)));
        assert_eq!(top[1].user_id, None, "user 2 hides");
        assert_eq!(top[1].display_name, ANONYMOUS);
        assert_eq!(
            view.me,
            Some(MyPlace {
                rank: 12,
                energy: 988,
                rating: 50
            })
        );
        let ranks: Vec<u32> = view.around.iter().map(|p| p.rank).collect();
        assert_eq!(ranks, vec![10, 11, 12, 13, 14]);
        // Hidden from others, but not from themselves.
        assert_eq!(view.around[2].user_id, Some(user(12)));
        assert_eq!(view.around[1].display_name, "T11");
    }

    #[test]
    fn neighbours_stop_at_the_edges_and_outsiders_get_no_place() {
        let first = slice(&standings(1), user(1));
        let ranks: Vec<u32> = first.around.iter().map(|p| p.rank).collect();
        assert_eq!(ranks, vec![1, 2, 3]);
        let last = slice(&standings(1), user(20));
        let ranks: Vec<u32> = last.around.iter().map(|p| p.rank).collect();
        assert_eq!(ranks, vec![18, 19, 20]);
        let trainer = slice(&standings(1), user(999));
        assert!(trainer.me.is_none() && trainer.around.is_empty());
        assert_eq!(trainer.top.places().map(<[Place]>::len), Some(TOP_N));
    }

    #[test]
    fn a_waiting_client_goes_through_start_frames_and_end_once_each() {
        let (mut follower, opening) = Follower::new(user(1), initial(WorkoutState::Scheduled));
        assert_eq!(names(&opening), vec!["waiting"]);
        let mut state = LiveState {
            waiting: Some((5, at(60))),
            ..LiveState::default()
        };
        assert_eq!(names(&follower.next(&state)), vec!["waiting"]);
        assert!(
            follower.next(&state).is_empty(),
            "nothing new, nothing sent"
        );
        // A slow client that missed `started` and two ticks still gets `started`, then the newest.
        state.started = Some(at(61));
        state.frame = Some(Arc::new(standings(3)));
        assert_eq!(names(&follower.next(&state)), vec!["started", "frame"]);
        assert!(follower.next(&state).is_empty());
        state.frame = Some(Arc::new(standings(4)));
        state.ended = Some(at(900));
        assert_eq!(names(&follower.next(&state)), vec!["frame", "ended"]);
        assert!(follower.is_done());
        assert!(follower.next(&state).is_empty());
    }

    #[test]
    fn joining_late_opens_with_started_and_an_ended_workout_only_ends() {
        let (_, live) = Follower::new(user(1), initial(WorkoutState::Live));
        assert_eq!(names(&live), vec!["started"]);
        let (ended, steps) = Follower::new(user(1), initial(WorkoutState::Ended));
        assert_eq!(names(&steps), vec!["ended"]);
        assert!(ended.is_done());
    }

    #[test]
    fn an_opening_read_before_a_transition_the_node_has_seen_is_caught_up() {
        let cancelled = LiveState {
            cancelled: Some(Some("ill".to_owned())),
            ..LiveState::default()
        };
        let (follower, steps) =
            Follower::opening(user(1), initial(WorkoutState::Scheduled), &cancelled);
        assert_eq!(names(&steps), vec!["cancelled"], "no waiting room first");
        assert!(follower.is_done());

        let ended = LiveState {
            started: Some(at(61)),
            frame: Some(Arc::new(standings(7))),
            ended: Some(at(900)),
            ..LiveState::default()
        };
        let (_, steps) = Follower::opening(user(1), initial(WorkoutState::Live), &ended);
        assert_eq!(names(&steps), vec!["ended"]);

        let started = LiveState {
            started: Some(at(61)),
            frame: Some(Arc::new(standings(7))),
            ..LiveState::default()
        };
        let (mut follower, steps) =
            Follower::opening(user(1), initial(WorkoutState::Scheduled), &started);
        assert_eq!(names(&steps), vec!["waiting", "started", "frame"]);
        assert!(follower.next(&started).is_empty(), "nothing twice");
    }

    #[test]
    fn reschedules_and_cancellations_reach_the_waiting_room() {
        let (mut follower, _) = Follower::new(user(1), initial(WorkoutState::Scheduled));
        let mut state = LiveState {
            rescheduled: Some(at(600)),
            ..LiveState::default()
        };
        assert_eq!(names(&follower.next(&state)), vec!["rescheduled"]);
        state.cancelled = Some(Some("ill".to_owned()));
        let steps = follower.next(&state);
        assert_eq!(names(&steps), vec!["cancelled"]);
        assert!(follower.is_done());
    }
}
