//! web4d, the Web4 edge trust daemon, and the `web4` command-line client.
//!
//! The binaries only compose: `node` wires config, keystore, store, services
//! and the HTTP API; `cli` is a client of that API.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod enforce;
pub mod error;
pub mod evidence;
pub mod federation;
pub mod foreign;
pub mod graph;
pub mod http;
pub mod keystore;
pub mod ledger;
pub mod metrics;
pub mod node;
pub mod nodekey;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod tpm;
pub mod verify;
