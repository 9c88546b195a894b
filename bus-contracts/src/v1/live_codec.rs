//! How a [`LiveMessage`] travels on the live subject: [`encode`] and [`decode`].
//!
//! Lifecycle messages (waiting, started, ended, cancelled, rescheduled) are rare and small, and
//! stay JSON for anyone reading the bus. Frames carry every participant every tick, so they go in
//! a compact binary form: one [`FRAME_V2`] byte, then the [`Frame`] in postcard (each place as its
//! board slot, energy and rating, varints: 4–7 bytes a participant; names and user ids are in the
//! roster, see [`super::roster`]). The first byte tells them apart: JSON always starts with `{`.
//!
//! Readers decode a JSON frame too, and the older binary [`NamedFrame`] ([`FRAME_V1`]: user ids
//! and names in every place), which workers no longer publish and readers do not show.

use super::{Frame, LiveMessage, NamedFrame};

/// The first byte of a binary [`NamedFrame`] (never the first byte of a JSON document).
pub const FRAME_V1: u8 = 0x01;

/// The first byte of a binary [`Frame`].
pub const FRAME_V2: u8 = 0x02;

/// Why a payload on the live subject could not be read.
#[derive(Debug)]
pub enum DecodeError {
    /// A binary frame that does not decode.
    Frame(postcard::Error),
    /// JSON that is not a live message.
    Json(serde_json::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Frame(err) => write!(f, "undecodable frame: {err}"),
            DecodeError::Json(err) => write!(f, "undecodable live message: {err}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The payload to publish for `message`.
pub fn encode(message: &LiveMessage) -> Vec<u8> {
    match message {
        LiveMessage::Frame(frame) => encode_frame(frame),
        // Serialising these plain structs and enums cannot fail.
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

/// A frame's payload: [`FRAME_V2`], then the frame in postcard.
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    // Serialising into a growable buffer cannot fail (no size limit, no unsupported types).
    postcard::to_extend(frame, vec![FRAME_V2]).unwrap_or_default()
}

/// Reads a payload from the live subject, in either form.
pub fn decode(payload: &[u8]) -> Result<LiveMessage, DecodeError> {
    match payload.split_first() {
        Some((&FRAME_V2, frame)) => postcard::from_bytes(frame)
            .map(LiveMessage::Frame)
            .map_err(DecodeError::Frame),
        Some((&FRAME_V1, frame)) => postcard::from_bytes::<NamedFrame>(frame)
            .map(LiveMessage::NamedFrame)
            .map_err(DecodeError::Frame),
        _ => serde_json::from_slice(payload).map_err(DecodeError::Json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::frames::{Tick, split};
    use crate::v1::{Placed, SampleCounts};
    use chrono::DateTime;
    use proptest::prelude::*;

    fn tick() -> Tick {
        Tick {
            epoch: 3,
            board: uuid::Uuid::from_u128(30),
            tick: 41,
            at: DateTime::from_timestamp_millis(1_900_000_000_123).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 123_456,
                rejected: 7,
            },
        }
    }

    fn placed() -> impl Strategy<Value = Placed> {
        (any::<u32>(), 0i64..=400_000, 0u8..=100)
            .prop_map(|(slot, energy, rating)| Placed(slot, energy, rating))
    }

    proptest! {
        #[test]
        fn every_frame_decodes_to_itself(standings in proptest::collection::vec(placed(), 0..300)) {
            for frame in split(tick(), 17, standings, 64) {
                let payload = encode(&LiveMessage::Frame(frame.clone()));
                prop_assert_eq!(payload[0], FRAME_V2);
                prop_assert_eq!(decode(&payload).ok(), Some(LiveMessage::Frame(frame)));
            }
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&payload);
        }
    }

    #[test]
    fn lifecycle_messages_stay_json_and_json_frames_are_still_read() {
        let started = LiveMessage::Started {
            epoch: 2,
            at: tick().at,
        };
        let payload = encode(&started);
        assert_eq!(payload.first(), Some(&b'{'));
        assert_eq!(decode(&payload).ok(), Some(started));

        let frame = split(tick(), 1, [Placed(0, 10, 50)], 10)
            .pop()
            .map(LiveMessage::Frame);
        let json = frame.as_ref().map(serde_json::to_vec);
        let decoded = json.and_then(Result::ok).and_then(|j| decode(&j).ok());
        assert_eq!(decoded, frame);
    }

    #[test]
    fn an_older_workers_named_frame_is_still_decoded() {
        let named = NamedFrame {
            epoch: 1,
            tick: 2,
            at: tick().at,
            participants: 1,
            samples: SampleCounts::default(),
            part: 0,
            parts: 1,
            offset: 0,
            standings: vec![crate::v1::Standing(uuid::Uuid::from_u128(5), 10, 50, None)],
        };
        let payload = postcard::to_extend(&named, vec![FRAME_V1]).unwrap_or_default();
        assert_eq!(decode(&payload).ok(), Some(LiveMessage::NamedFrame(named)));
    }

    #[test]
    fn a_place_costs_a_few_bytes() {
        // 10 000 trainees in rank order, energies of an hour's class (up to ≈ 100 000 points).
        let standings: Vec<Placed> = (0..10_000u32)
            .map(|i| {
                Placed(
                    (i * 7_919) % 10_000,
                    100_000 - i64::from(i) * 9,
                    (i % 101) as u8,
                )
            })
            .collect();
        let frame = split(tick(), 10_000, standings, 10_000).remove(0);
        let bytes = encode_frame(&frame).len();
        assert!(bytes <= 10_000 * 7 + 64, "{bytes} B for 10 000 places");
    }
}
