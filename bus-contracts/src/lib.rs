//! Everything that crosses a process boundary in cultfit, and nothing else.
//!
//! Api nodes, worker nodes and wearables only agree on what is in this crate: the stable error-code
//! vocabulary shared by NATS replies and HTTP problem documents ([`ErrorCode`]), and (as the actor
//! layer grows) the versioned wire types and the subject, stream and bucket names.
//!
//! Non-goals: no transport code. This crate depends on serde, uuid and chrono only, so a client in
//! any process (or a test) can use it without pulling in actix, sqlx or a NATS client.

mod error_code;

pub use error_code::ErrorCode;
