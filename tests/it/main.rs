//! The integration tests, as one test binary (the crate is linked once, not
//! once per file). `common` is the harness: the real `hookline` binary on
//! loopback with a temporary data file, and a test receiver.
//!
//! All these tests share one process, so none may change process-wide state
//! (environment, current directory, a global tracing subscriber); each uses
//! its own temporary directory and ports chosen by the kernel. The few that
//! must not overlap one another (heavy load, timing bounds) hold
//! [`common::exclusive`].

mod common;

mod api;
mod api_access;
mod browser;
mod client;
mod cluster;
mod crash;
mod daemon;
mod defects;
mod delivery;
mod events;
mod format1;
mod hardening;
mod health;
mod operations;
mod parse_errors;
mod render_props;
mod render_vectors;
mod rules_props;
mod rules_vectors;
mod schemas;
mod storage;
mod store;
mod systemd;
pub mod trust;
mod ui_rules;
mod ui_safety;
mod ui_screens;
mod ui_trust;
