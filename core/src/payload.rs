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

/// `role.grant` and `role.revoke` (docs/decisions/0019): the role a holder of
/// one of the law's `identity.role_roles` gave to or took from an LCT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub lct_id: LctId,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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

/// `auth.approve`: a root delegation recorded while the law required approval
/// (`delegation.requires_approval`) is approved and takes effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveDelegation {
    pub evidence: SignedRequest,
    pub grant_id: String,
}

/// `auth.expire`: root grants past their `expires_at`, closed by the node (no
/// evidence; the record's timestamp shows they had expired). Their unspent
/// budget is released like a revocation's, and derived grants end with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpireDelegations {
    pub grant_ids: Vec<String>,
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
    /// Attestations that met the law's witness requirement for the action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Attestation>,
}

/// The event witnesses attest for an authorization request: the actor, what
/// it asks and the request's nonce, so an attestation fits one request only.
pub fn authorize_event(actor: &LctId, action: &str, resource: &str, atp_cost: u64, nonce: &str) -> Hash {
    let v = serde_json::json!({
        "type": "web4:authorize:v1", "actor": actor, "action": action,
        "resource": resource, "atp_cost": atp_cost, "nonce": nonce,
    });
    // Strings and integers only: canonicalisation cannot fail.
    crate::crypto::sha256(&crate::crypto::canonical_value(&v).unwrap_or_default())
}

/// `atp.mint`: ADP minted into the society pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpMint {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub amount: u64,
    /// The minting cycle (`timestamp / cycle_seconds`) the amount counts against.
    pub cycle: u64,
}

/// What a charge of ADP to ATP is paid for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueProof {
    /// What kind of value (`outcome`, `contribution`, `stake`, …).
    pub kind: String,
    /// A unique reference to the evidence; one proof is charged once. A
    /// `sha256:` reference must name a record on this node's ledger.
    pub reference: String,
    /// Units of value; ATP = floor(value · charge_rate).
    pub value: f64,
}

/// `atp.charge`: pool ADP → ATP in an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpCharge {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub account: LctId,
    pub proof: ValueProof,
    pub charge_rate: f64,
    pub amount: u64,
}

/// `atp.transfer`: `from` pays `amount + fee`, `to` receives `amount`, the fee
/// is discharged to the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpTransfer {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub from: LctId,
    pub to: LctId,
    pub amount: u64,
    pub fee: u64,
}

/// `atp.slash`: ATP destroyed from an account's available balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpSlash {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub account: LctId,
    pub amount: u64,
    pub reason: String,
}

/// A detected gaming pattern with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GamingFlag {
    pub pattern: crate::reputation::Pattern,
    pub evidence: serde_json::Value,
}

/// `reputation.outcome`: what happened, who witnessed it, and the delta
/// applied to the (entity, role) tensors (`None`: no rule fired).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationOutcome {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub entity: LctId,
    pub role: String,
    pub action: String,
    /// `success`, `failure` or `partial`.
    pub result_status: String,
    pub quality: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Attestation>,
    pub delta: Option<crate::reputation::Delta>,
    /// Position in a streak of the same action (diminishing returns).
    pub same_action_run: u32,
    /// Consecutive outcomes with too few independent witnesses, this one included.
    pub witness_poor_run: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<GamingFlag>,
}

/// The event witnesses attest for an outcome.
pub fn outcome_event(
    entity: &LctId,
    role: &str,
    action: &str,
    result_status: &str,
    quality: Option<f64>,
    nonce: &str,
) -> Hash {
    let v = serde_json::json!({
        "type": "web4:outcome:v1", "entity": entity, "role": role, "action": action,
        "result_status": result_status, "quality": quality, "nonce": nonce,
    });
    // Finite numbers, strings and null only: canonicalisation cannot fail.
    crate::crypto::sha256(&crate::crypto::canonical_value(&v).unwrap_or_default())
}

/// `resource.allocate`: a lease on a resource pool, its cost locked from the
/// holder's account or reserved from a delegation budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceAllocate {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    pub allocation_id: String,
    pub holder: LctId,
    pub resource_type: String,
    /// The grant the cost is reserved from; `None`: the holder's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The rates version the lease is priced at (`<law version>+<updates>`).
    pub rates_version: String,
    /// The lease as opened (quantity, seconds, rate, locked ATP, bucket).
    pub lease: crate::resources::Lease,
    /// A local process whose limits enforce the lease (when the node allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// `resource.usage`: a metered usage report (`(allocation_id, seq)` unique).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceUsage {
    pub evidence: SignedRequest,
    pub allocation_id: String,
    pub seq: u64,
    /// Unit-seconds used since the previous report.
    pub used: u64,
    /// ATP discharged by this report.
    pub charge: u64,
}

/// `resource.release`: a lease closed by its holder, by the node after it
/// expired (no evidence), or with the revocation of its grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRelease {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<SignedRequest>,
    pub allocation_id: String,
    /// `released` or `expired`.
    pub reason: String,
    /// ATP charged over the lease's life.
    pub charged: u64,
    /// Locked ATP returned.
    pub returned: u64,
}

/// `resource.rates`: conversion rates updated as the law allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRates {
    pub evidence: SignedRequest,
    pub society_id: LctId,
    /// The new version, `<law version>+<n>`.
    pub version: String,
    /// Every pool's rate after the update (ATP per unit-hour).
    pub rates: std::collections::BTreeMap<String, f64>,
}

/// `graph.triple`: a triple asserted into the MRH graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphTriple {
    pub evidence: SignedRequest,
    pub subject: String,
    pub predicate: String,
    pub object: String,
    /// `iri`, `literal` or `double`.
    pub object_type: String,
    /// Edge weight of a relationship (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}
