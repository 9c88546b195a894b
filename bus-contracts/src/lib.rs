//! Everything that crosses a process boundary in cultfit, and nothing else.
//!
//! Api nodes, worker nodes and wearables only agree on what is in this crate:
//! - [`ErrorCode`]: the stable error vocabulary shared by NATS replies and HTTP problem documents.
//! - [`subjects`]: every NATS subject, stream and KV bucket name (they are spelled nowhere else).
//! - [`v1`]: the wire types of version 1: actor commands, replies, domain events, placement, and
//!   the live frames (with their split and reassembly, [`v1::frames`]).
//!
//! Versioning policy: within `v1`, changes are additive only (new optional fields, new enum
//! variants that old readers never receive unasked). Anything else is `v2`, on `cultfit.v2.*`
//! subjects, served side by side until `v1` clients are gone. The JSON fixtures under
//! `tests/fixtures/v1/` are frozen: a test decodes each one, so a breaking change fails the build.
//! One deliberate exception, internal to a deployment: live frames went from JSON to a compact
//! binary form ([`v1::live_codec`]). Only cultfit's own nodes read them, readers take both forms,
//! and a rolling upgrade therefore updates api nodes before workers.
//!
//! Non-goals: no transport code. This crate depends on serde (JSON, postcard), uuid and chrono
//! only, so a client in any process (or a test) can use it without pulling in actix, sqlx or a
//! NATS client.

mod error_code;
pub mod subjects;
pub mod v1;

pub use error_code::ErrorCode;
