//! cultfit: the HTTP facade and command line of a live group-workout backend.
//!
//! The `cultfit` binary runs in one or more roles (see `../shared/DESIGN.md` in the project docs
//! and the README): `api` serves the documented HTTP API, `worker` hosts actors. This crate holds
//! the api side and the process plumbing; domain logic lives in `cultfit-actors`, wire contracts in
//! `bus-contracts`.
//!
//! Non-goals: no business rules in route handlers beyond input validation and authorization; the
//! owning actor (or the store) decides.

pub mod accounts;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod error;
pub mod limits;
pub mod live;
pub mod openapi;
pub mod routes;
pub mod simulate;
pub mod startup;
pub mod telemetry;
pub mod workouts;
