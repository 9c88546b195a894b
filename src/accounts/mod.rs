//! Accounts: trainees and trainers, their profiles and their refresh tokens.
//!
//! - [`model`]: the account as stored, and the role.
//! - [`validate`]: field rules (email, password, name, mobile, profile) with clear messages.
//! - [`store`]: the queries. Accounts are read and written by the api role directly: they are not
//!   actor state, and the unique index on `lower(email)` is the only invariant they need.

pub mod model;
pub mod store;
pub mod validate;

pub use model::{Account, Role, Sex};
