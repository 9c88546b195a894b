//! The locked bus (DESIGN §7): who may connect to NATS, and as what.
//!
//! - [`secrets`]: the secrets env file (service password, callout keys), created 0600.
//! - [`server_config`]: `cultfit nats-config`, the nats-server configuration derived from it:
//!   accounts `CULTFIT` (services, JetStream) and `DEVICES` (wearables), the energy subjects
//!   exported from one to the other, and the auth callout for everyone but the service.
//! - [`connect`]: how a node connects as the service, refusing an open or hostile bus.
//! - [`callout`]: the responder every api node runs, admitting a wearable with its device token
//!   to publish its own energy subject and nothing else.
//! - [`nkey_jwt`]: the NATS JWTs the callout reads and writes.
//! - [`xkey`]: the encryption of callout traffic, one key exchange per server.
//!
//! Non-goals: operator mode (accounts as JWTs with a resolver). The accounts are fixed by the
//! product, so a static configuration is simpler to run and to audit.

pub mod callout;
pub mod connect;
pub mod nkey_jwt;
pub mod secrets;
pub mod server_config;
pub mod xkey;
