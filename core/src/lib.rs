//! Web4 domain core: identities (LCT), canonical JSON and hashes, witness
//! attestations, signed ledger records, request signing and the W4 error codes.
//!
//! Pure by design: no I/O, no clocks and no randomness (callers pass `now` and
//! key material in), so the same code runs in the daemon, the CLI, the tests
//! that replay the upstream vectors, and the dashboard compiled to wasm32.
#![forbid(unsafe_code)]

pub mod anchor;
pub mod api;
pub mod atp;
pub mod authz;
pub mod birth;
pub mod citizenship;
pub mod crypto;
pub mod error;
mod finite;
pub mod id;
mod jcs;
pub mod law;
pub mod lct;
pub mod ledger;
pub mod mrh;
pub mod payload;
pub mod r6;
pub mod reputation;
pub mod resources;
pub mod signing;
pub mod tensor;
pub mod time;
pub mod witness;

pub use crypto::{Hash, PublicKey, SecretKey, Signature, canonical_json, sha256};
pub use error::ErrorCode;
pub use id::LctId;
pub use time::Timestamp;
