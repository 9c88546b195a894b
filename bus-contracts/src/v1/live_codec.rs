//! How a [`LiveMessage`] travels on the live subject: [`encode`] and [`decode`].
//!
//! Lifecycle messages (waiting, started, ended, cancelled, rescheduled) are rare and small, and
//! stay JSON for anyone reading the bus. Frames carry every participant every tick, so they go in
//! a compact binary form: one [`FRAME_V1`] byte, then the [`Frame`] in postcard (the user id as its
//! 16 bytes, energy as a varint, the name only where there is one), about half the bytes of the
//! JSON form and cheaper to decode on every api node. The first byte tells them apart: JSON
//! always starts with `{`.
//!
//! Readers decode both forms (a JSON frame too), so in a rolling upgrade the api nodes go first
//! and the workers after them.

use super::{Frame, LiveMessage};

/// The first byte of a binary frame (never the first byte of a JSON document).
pub const FRAME_V1: u8 = 0x01;

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

/// A frame's payload: [`FRAME_V1`], then the frame in postcard.
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    // Serialising into a growable buffer cannot fail (no size limit, no unsupported types).
    postcard::to_extend(frame, vec![FRAME_V1]).unwrap_or_default()
}

/// Reads a payload from the live subject, in either form.
pub fn decode(payload: &[u8]) -> Result<LiveMessage, DecodeError> {
    match payload.split_first() {
        Some((&FRAME_V1, frame)) => postcard::from_bytes(frame)
            .map(LiveMessage::Frame)
            .map_err(DecodeError::Frame),
        _ => serde_json::from_slice(payload).map_err(DecodeError::Json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::frames::{Tick, split};
    use crate::v1::{SampleCounts, Standing};
    use chrono::DateTime;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn tick() -> Tick {
        Tick {
            epoch: 3,
            tick: 41,
            at: DateTime::from_timestamp_millis(1_900_000_000_123).unwrap_or_default(),
            samples: SampleCounts {
                accepted: 123_456,
                rejected: 7,
            },
        }
    }

    fn standing() -> impl Strategy<Value = Standing> {
        (
            any::<u128>(),
            0i64..=400_000,
            0u8..=100,
            proptest::option::of("[A-Za-z ]{0,24}"),
        )
            .prop_map(|(user, energy, rating, name)| {
                Standing(Uuid::from_u128(user), energy, rating, name)
            })
    }

    proptest! {
        #[test]
        fn every_frame_decodes_to_itself(standings in proptest::collection::vec(standing(), 0..300)) {
            for frame in split(tick(), standings, 64) {
                let payload = encode(&LiveMessage::Frame(frame.clone()));
                prop_assert_eq!(payload[0], FRAME_V1);
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

        let frame = split(tick(), [Standing(Uuid::from_u128(9), 10, 50, None)], 10)
            .pop()
            .map(LiveMessage::Frame);
        let json = frame.as_ref().map(serde_json::to_vec);
        let decoded = json.and_then(Result::ok).and_then(|j| decode(&j).ok());
        assert_eq!(decoded, frame, "what an older worker publishes");
    }

    #[test]
    fn a_binary_frame_is_about_half_the_json_one() {
        let standings: Vec<Standing> = (0..1_000u128)
            .map(|i| {
                Standing(
                    Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)),
                    100_000 + i as i64,
                    (i % 101) as u8,
                    Some(format!("Trainee {i:05}")),
                )
            })
            .collect();
        let frame = split(tick(), standings, 1_000).remove(0);
        let binary = encode_frame(&frame).len();
        let json = serde_json::to_vec(&LiveMessage::Frame(frame))
            .map(|j| j.len())
            .unwrap_or_default();
        assert!(
            binary * 100 <= json * 55,
            "binary {binary} B against JSON {json} B"
        );
    }
}
