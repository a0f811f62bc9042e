//! Integration tests: the real `web4d` binary on a free loopback port with a
//! temporary data dir, driven over HTTP with signed requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod atp;
mod authz;
mod bad_input;
mod cli;
mod crash;
mod federation;
mod graph;
mod identity;
mod law;
mod ops;
mod reputation;
mod resources;
mod tpm;
