//! Workouts as the API shows them: views, read queries and the listing cache.
//!
//! Reads go straight to PostgreSQL (DESIGN.md §3); only commands go through the actors.

pub mod afterwards;
pub mod cursor;
pub mod queries;
pub mod views;

pub use views::{WORKOUT_TYPES, WorkoutType, WorkoutView};
