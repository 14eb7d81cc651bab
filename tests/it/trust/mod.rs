//! Trust and order (POLICIES.md): secret rotation checked by a Standard
//! Webhooks verifier written from the specification, the target policy,
//! mutual TLS against a loopback receiver that demands a client
//! certificate, and per-ticket ordering across retries and `kill -9`.

mod mtls;
mod ordering;
mod policy;
mod rotation;
pub mod verify;
