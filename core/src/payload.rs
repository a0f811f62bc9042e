//! Typed payloads of the record kinds in [`crate::ledger::kind`].
//!
//! Every payload that a client request caused carries that request
//! ([`SignedRequest`]) as evidence, so a peer can re-verify who asked.

use crate::crypto::Hash;
use crate::id::LctId;
use crate::law::LawDataset;
use crate::lct::{LctDocument, RevocationReason};
use crate::signing::SignedRequest;
use crate::time::Timestamp;
use crate::witness::Attestation;
use serde::{Deserialize, Serialize};

/// A founding member listed in a genesis record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub lct: LctDocument,
    pub roles: Vec<String>,
}

/// `society.genesis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub society_id: LctId,
    pub name: String,
    pub law: LawDataset,
    pub members: Vec<Member>,
}

/// `lct.mint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mint {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub lct: LctDocument,
}

/// `lct.suspend` and `lct.reinstate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub evidence: SignedRequest,
    pub lct_id: LctId,
    pub reason: String,
}

/// `lct.revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    pub evidence: SignedRequest,
    pub lct_id: LctId,
    pub reason: RevocationReason,
    pub note: Option<String>,
}

/// `lct.transition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub evidence: SignedRequest,
    pub old: LctId,
    pub lct: LctDocument,
    pub overlap_until: Timestamp,
}

/// `law.publish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawPublish {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub law: LawDataset,
    /// The law hash this version replaces.
    pub previous: Hash,
    /// Attestations of the publication event that met the quorum.
    pub witnesses: Vec<Attestation>,
}

/// The event witnesses attest when a law is published.
pub fn law_publish_event(society: &LctId, law_hash: &Hash, previous: &Hash) -> Hash {
    let e = serde_json::json!({"event": "web4:law:publish:v1", "society": society, "law_hash": law_hash, "previous": previous});
    crate::crypto::sha256(&crate::crypto::canonical_value(&e).unwrap_or_default())
}

/// `law.interpretation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interpretation {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub law_version: String,
    /// The norm interpreted; `None` for the law as a whole.
    pub norm_id: Option<String>,
    pub text: String,
    /// 1 for a first interpretation, else the replaced one's version + 1.
    pub version: u32,
    /// The ledger_ref of the interpretation this one replaces.
    pub replaces: Option<Hash>,
}

/// `auth.delegate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegate {
    pub evidence: SignedRequest,
    pub delegation: crate::authz::Delegation,
}

/// `auth.revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeDelegation {
    pub evidence: SignedRequest,
    pub grant_id: String,
}

/// `auth.decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthDecision {
    pub evidence: SignedRequest,
    pub actor: LctId,
    pub grant_id: Option<String>,
    pub action: String,
    pub resource: String,
    pub atp_cost: u64,
    /// `granted`, `denied` or `deferred`.
    pub decision: String,
    pub reason: Option<String>,
}
