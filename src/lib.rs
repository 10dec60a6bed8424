//! gantry: promote the exact container image you built through your environments.

pub mod attestation;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod domain;
pub mod engine;
pub mod gates;
pub mod git;
pub mod ledger;
pub mod notify;
pub mod registry;
pub mod retention;
pub mod sandbox;
pub mod signing;
pub mod tui;
pub mod webhook;
