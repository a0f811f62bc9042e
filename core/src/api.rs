//! Request and response bodies of the HTTP API, shared by the daemon, the CLI
//! and the dashboard. Requests refuse unknown fields.

use crate::crypto::{Hash, PublicKey, Signature};
use crate::error::ErrorCode;
use crate::id::LctId;
use crate::lct::{EntityType, LctDocument, LctStatus, Policy, RevocationReason};
use crate::time::Timestamp;
use crate::witness::Attestation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Maximum length of free-text reasons.
pub const MAX_REASON_LEN: usize = 512;

/// `POST /v1/lct/mint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub entity_type: EntityType,
    pub public_key: PublicKey,
    pub created_at: Timestamp,
    pub binding_proof: Signature,
    /// If given, must equal the id derived from `public_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lct_id: Option<LctId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_context: Option<String>,
    /// Attestations of the birth event by witnesses (see docs/api.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Attestation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_anchor: Option<Value>,
}

/// `POST /v1/lct/{id}/suspend` and `/reinstate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChangeRequest {
    pub reason: String,
}

/// `POST /v1/lct/{id}/roles`: grant a role (docs/decisions/0019).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGrantRequest {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/lct/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: RevocationReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/lct/{id}/transition`: rotate to a new key. Signed by the old LCT;
/// the binding proof (same entity type as the old LCT) proves the new key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub public_key: PublicKey,
    pub created_at: Timestamp,
    pub binding_proof: Signature,
    /// A hardware anchor endorsing the new key (docs/decisions/0015).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_anchor: Option<Value>,
}

/// Revocation details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevocationInfo {
    pub reason: RevocationReason,
    pub note: Option<String>,
    pub at: Timestamp,
    pub by: LctId,
}

/// An LCT with its current state, as served by `GET /v1/lct/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LctView {
    pub lct: LctDocument,
    pub status: LctStatus,
    pub society: LctId,
    pub roles: Vec<String>,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub revocation: Option<RevocationInfo>,
    #[serde(default)]
    pub superseded_by: Option<LctId>,
    #[serde(default)]
    pub overlap_until: Option<Timestamp>,
    /// Hash of the last record that changed this LCT.
    pub ledger_ref: Hash,
    pub updated_at: Timestamp,
}

/// Birth certificate check in a verification report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BirthCheck {
    pub issuer_signature: bool,
    pub witnesses_valid: u32,
    pub witnesses_required: u32,
    pub ok: bool,
}

/// `GET /v1/lct/{id}/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub lct_id: LctId,
    /// True when every check passed and the LCT may sign now.
    pub valid: bool,
    pub status: LctStatus,
    pub id_matches_key: bool,
    pub binding_proof: bool,
    pub birth_certificate: Option<BirthCheck>,
    /// Present when `message` and `signature` query parameters were given.
    pub signature: Option<bool>,
    /// 5 when a hardware anchor verifies, 4 for a software-bound key.
    pub capability_level: u8,
    /// Highest trust the key's custody allows (spec digest §1).
    pub trust_ceiling: f64,
    /// Present when the binding carries a hardware anchor.
    pub hardware_anchor: Option<AnchorCheck>,
    pub problems: Vec<String>,
}

/// The check of a binding's hardware anchor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchorCheck {
    pub valid: bool,
    /// What the anchor establishes, when it verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::anchor::AnchorReport>,
    /// Why it does not, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Response metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub request_id: String,
    pub timestamp: Timestamp,
    pub law_hash: Hash,
    pub ledger_ref: Option<Hash>,
}

/// Success envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    pub metadata: Metadata,
}

/// The `error` member of a failure envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default)]
    pub details: Value,
}

/// Failure envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ErrorBody,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// RFC 9457 Problem Details with the W4 `code` extension member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: ErrorCode,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

/// `POST /v1/law/check`: an action to check against the law in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawCheckRequest {
    /// `r6.request.action`.
    pub action: String,
    /// `r6.role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `r6.resource.*` (e.g. `{"atp": 40}`).
    #[serde(default)]
    pub resource: serde_json::Map<String, Value>,
    /// `r6.request.payload.*`.
    #[serde(default)]
    pub payload: serde_json::Map<String, Value>,
    /// When given, must be the law hash in force (else `W4_ERR_PROTO_DOWNGRADE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub law_hash: Option<Hash>,
}

impl LawCheckRequest {
    /// The R6 object the law's selectors address.
    pub fn r6(&self) -> Value {
        let mut r6 = serde_json::Map::new();
        if let Some(role) = &self.role {
            r6.insert("role".into(), Value::String(role.clone()));
        }
        r6.insert(
            "request".into(),
            serde_json::json!({"action": self.action, "payload": Value::Object(self.payload.clone())}),
        );
        r6.insert("resource".into(), Value::Object(self.resource.clone()));
        Value::Object(r6)
    }
}

/// `POST /v1/law/publish`: a new law version for the node's society.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawPublishRequest {
    /// The dataset as a JSON object, or the text of a YAML/JSON law file.
    pub law: Value,
    /// Attestations of the publication event (`payload::law_publish_event`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Attestation>,
}

/// `POST /v1/law/interpretation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterpretationRequest {
    /// The norm interpreted (must exist in the law in force); omit for the law as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_id: Option<String>,
    /// The interpretation, 1–4096 bytes.
    pub text: String,
    /// The `ref` of the interpretation this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Hash>,
}

/// `POST /v1/auth/delegate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateRequest {
    pub agent: LctId,
    pub scope: crate::authz::Scope,
    pub atp_budget: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    pub expires_at: Timestamp,
    #[serde(default)]
    pub delegatable: bool,
    /// Re-delegate from this grant (held by the signer as agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Lock the budget from the signer's ATP account. A re-delegation always
    /// inherits its parent's funding; this flag is ignored for it.
    #[serde(default)]
    pub funded: bool,
}

/// `context` of an authorization request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation_id: Option<String>,
    /// Attestations of [`crate::payload::authorize_event`] when the law
    /// requires witnesses for the action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<crate::witness::Attestation>,
}

/// `POST /v1/auth/authorize` (the seed's shape, plus an optional role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    pub action: String,
    pub resource: String,
    pub atp_cost: u64,
    /// The role the actor acts in (role pairing is checked when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub context: AuthorizeContext,
}

/// `POST /v1/atp/mint`: mint ADP into the society pool (law's `mint_authority`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpMintRequest {
    pub amount: u64,
}

/// `POST /v1/atp/charge`: charge pool ADP to ATP in an account against a value proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpChargeRequest {
    pub account: LctId,
    pub proof: crate::payload::ValueProof,
}

/// `POST /v1/atp/transfer`: from the signer's account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpTransferRequest {
    pub to: LctId,
    pub amount: u64,
}

/// `POST /v1/atp/slash`: destroy ATP from an account as a penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpSlashRequest {
    pub account: LctId,
    pub amount: u64,
    pub reason: String,
}

/// `POST /v1/reputation/outcome` (and, without witnesses, `/v1/reputation/delta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub entity: LctId,
    pub role: String,
    pub action: String,
    pub result_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<String>,
    /// Attestations of [`crate::payload::outcome_event`] (nonce = the request's X-Nonce).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Attestation>,
}

/// `context` of an allocation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateContext {
    /// Reserve the cost from this grant (held by the signer as agent; its
    /// scope must allow action `allocate` on `resource:<type>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation_id: Option<String>,
}

/// `POST /v1/resources/allocate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    pub resource_type: String,
    /// Units of the type (millicores, MiB, kbit/s, devices).
    pub quantity: u64,
    /// Lease length in seconds.
    pub duration_seconds: u64,
    /// A local process to enforce the lease on (cgroup limits), when the node allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Refuse instead of paying more than this (the rate may have changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_atp: Option<u64>,
    #[serde(default)]
    pub context: AllocateContext,
}

/// `POST /v1/resources/usage`: by the lease's holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    pub allocation_id: String,
    pub seq: u64,
    /// Unit-seconds used since the previous report.
    pub used: u64,
}

/// `POST /v1/resources/release`: by the lease's holder, with an optional last report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub allocation_id: String,
    /// A final usage report (`seq`, `used`) settled before the lease closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_usage: Option<FinalUsage>,
}

/// The last usage report of a release.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalUsage {
    pub seq: u64,
    pub used: u64,
}

/// `POST /v1/resources/rates`: new rates for some pools (ATP per unit-hour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesRequest {
    pub rates: std::collections::BTreeMap<String, f64>,
}

/// `POST /v1/graph/triple`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripleRequest {
    /// An absolute IRI (an LCT id is one).
    pub subject: String,
    /// An absolute IRI; in the `web4:` namespace only binding, pairing and
    /// witness relations may be asserted this way.
    pub predicate: String,
    pub object: String,
    /// `iri` (default), `literal` or `double`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    /// Weight of a relationship edge, 0 to 1 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// `POST /v1/graph/traverse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraverseRequest {
    pub origin: String,
    /// Default 3, at most 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Follow only these relations (local names, e.g. `pairedWith`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations: Option<Vec<String>>,
    /// At most this many nodes (default and ceiling 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<usize>,
}

/// `POST /v1/graph/trust`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRequest {
    pub source: String,
    pub target: String,
    /// Weigh by the target's T3 in this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Longest path considered (default 4, at most 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
}
