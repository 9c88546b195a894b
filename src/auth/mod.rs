//! Authentication and authorization.
//!
//! - [`password`]: argon2id hashing, off the async workers, with a concurrency cap.
//! - [`tokens`]: short-lived JWT access tokens and opaque refresh tokens.
//! - [`extractor`]: [`AuthUser`] (any signed-in user) and the role guards [`Trainer`] and
//!   [`Trainee`] that every protected route takes as an argument; a route without one of them is
//!   public, which makes the rule visible in each handler's signature.

pub mod extractor;
pub mod password;
pub mod tokens;

pub use extractor::{AuthUser, LiveViewer, Trainee, Trainer};
