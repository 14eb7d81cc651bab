//! hookline: sends a ticketing system's outgoing webhooks.
//!
//! The trip of an event, part by part (DESIGN.md):
//! [`http`] parses `POST /api/v1/events` and sends `Ingest` to the
//! [`engine`]'s RuleEngine actor, which evaluates the [`rules`] and
//! [`render`]s the bodies; the [`store`]'s single writer commits event,
//! deliveries and dedup keys in one fsync'd group commit, then `202`. The
//! [`delivery`] side — a RetrySupervisor and one WebhookQueue per webhook —
//! reads the due index, sends with reqwest, asks `delivery::decide` what the
//! answer means, and hands that decision to the store.
//!
//! Configuration objects are changed through [`admin`] (shared by the HTTP
//! API and the admin screens of [`ui`]): commit, then `ConfigChanged` to the engine, the one owner
//! of applying a change. [`config`] turns file and environment into one
//! `Config`; [`model`] holds the API types and single-value validation;
//! [`metrics`] and [`watchdog`] watch it run.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod model;
pub mod render;
pub mod rules;
pub mod store;
pub mod ui;
pub mod watchdog;
