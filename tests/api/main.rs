//! Black-box tests of the `cultfit` binary: each test starts the real executable against a fresh
//! PostgreSQL database and its own nats-server, and talks to it over HTTP only.

mod access;
mod accounts;
mod afterwards;
mod bus;
mod cluster;
mod docs;
mod events;
mod faults;
mod helpers;
mod limits;
mod live;
mod operations;
mod placement;
mod private_pg;
mod saturation;
mod supervision;
mod tokens;
mod web_app;
mod workouts;
