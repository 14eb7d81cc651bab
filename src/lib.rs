//! hookline: sends a ticketing system's outgoing webhooks.
//!
//! The parts follow DESIGN.md: [`config`] (file + env → one `Config`),
//! [`model`] (API types and single-value validation), [`store`] (the redb
//! file and its group-committing writer) and [`http`] (the actix-web front).

pub mod admin;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod model;
pub mod render;
pub mod rules;
pub mod store;
pub mod watchdog;
