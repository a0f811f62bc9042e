//! Law datasets in the hub-law format: parsing (YAML or JSON), validation with
//! located messages, the law hash, and the identity parameters.
//!
//! `law_hash = "sha256:" + hex(sha256(JCS(dataset as JSON)))`.

pub mod eval;
pub mod validate;

pub use eval::{Decision, Outcome};
pub use validate::LawIssue;

use crate::crypto::{Hash, canonical_json, sha256};
use crate::witness::QuorumRule;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The witness quorum the standard's default law requires for a birth.
pub const DEFAULT_BIRTH_WITNESSES: u32 = 3;

/// A validated law dataset, with its norms compiled for evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct LawDataset {
    // Shared: a request clones the society's law, which must cost a pointer copy.
    doc: std::sync::Arc<Value>,
    hash: Hash,
    version: String,
    compiled: std::sync::Arc<eval::Compiled>,
}

impl PartialEq for LawDataset {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
    }
}

/// Why a law dataset was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LawError {
    /// The text is not YAML/JSON (the message names line and column).
    #[error("{0}")]
    Syntax(String),
    /// The document breaks the schema; every problem with its location.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<LawIssue>),
}

fn single(path: &str, message: impl Into<String>) -> LawError {
    LawError::Invalid(vec![LawIssue { path: path.into(), message: message.into() }])
}

impl TryFrom<Value> for LawDataset {
    type Error = LawError;
    fn try_from(doc: Value) -> Result<Self, LawError> {
        let issues = validate::validate(&doc);
        if !issues.is_empty() {
            return Err(LawError::Invalid(issues));
        }
        let version = doc.get("version").and_then(Value::as_str).unwrap_or_default().to_owned();
        let jcs = canonical_json(&doc).map_err(|e| single("(document)", e.to_string()))?;
        let hash = sha256(&jcs);
        // Hold the canonical form (`1.0` becomes `1`), so a law read back from
        // a ledger record is the same value as the one that was published.
        let doc: Value = serde_json::from_slice(&jcs).map_err(|e| single("(document)", e.to_string()))?;
        let compiled = eval::Compiled::new(&doc).map_err(|(path, m)| single(&path, m))?;
        Ok(LawDataset { doc: std::sync::Arc::new(doc), hash, version, compiled: std::sync::Arc::new(compiled) })
    }
}

impl LawDataset {
    /// Parse and validate a law file: YAML (JSON is YAML too).
    pub fn from_text(text: &str) -> Result<LawDataset, LawError> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| LawError::Syntax(e.to_string()))?;
        LawDataset::try_from(doc)
    }
}

impl From<LawDataset> for Value {
    fn from(l: LawDataset) -> Value {
        std::sync::Arc::unwrap_or_clone(l.doc)
    }
}

impl LawDataset {
    /// `sha256:` of the JCS form.
    pub fn law_hash(&self) -> Hash {
        self.hash
    }
    /// Evaluate an R6 request (the object the `r6.` selectors address).
    pub fn evaluate(&self, request: &Value) -> Outcome {
        self.compiled.evaluate(request)
    }

    /// The dataset's `version`.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The dataset as JSON.
    pub fn as_json(&self) -> &Value {
        &self.doc
    }
    /// The witness quorum a `procedures[]` entry sets for `action` (its
    /// `applies_to` names the action), if the law has one.
    pub fn quorum_for(&self, action: &str) -> Option<QuorumRule> {
        procedure_quorum(&self.doc, action)
    }

    /// The identity parameters this law sets.
    pub fn identity(&self) -> IdentityLaw {
        IdentityLaw::from_law(&self.doc)
    }

    /// Whether `role` is one of `identity.role_roles` (the roles that grant
    /// roles), as [`LawDataset::identity`] reads them, without building the
    /// rest of the identity parameters.
    pub fn grants_roles(&self, role: &str) -> bool {
        match self.doc.get("identity").and_then(|i| i.get("role_roles")).and_then(Value::as_array) {
            Some(a) => a.iter().any(|v| v.as_str() == Some(role)),
            None => role == "authority",
        }
    }

    /// The reputation rules and gaming thresholds this law sets.
    pub fn reputation(&self) -> ReputationLaw {
        let r = self.doc.get("reputation");
        let get = |k: &str| r.and_then(|r| r.get(k)).cloned();
        ReputationLaw {
            rules: get("rules").and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
            gaming: get("gaming").and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
            quality_update: get("quality_update").and_then(|v| v.as_bool()).unwrap_or(true),
        }
    }

    /// The resource pools, conversion rates and metering this law sets.
    pub fn resources(&self) -> crate::resources::ResourceLaw {
        crate::resources::ResourceLaw::from_law(&self.doc)
    }

    /// The ATP issuance parameters this law sets.
    pub fn atp(&self) -> AtpLaw {
        AtpLaw::from_law(&self.doc)
    }
}

/// Reputation parameters (`reputation` section, our extension).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReputationLaw {
    /// Rules in law order; the first that fires gives the delta.
    pub rules: Vec<crate::reputation::Rule>,
    pub gaming: crate::reputation::GamingLaw,
    /// When no rule fires and the outcome has a quality, apply the canonical
    /// quality update (default true).
    pub quality_update: bool,
}

/// ATP issuance parameters (`atp_issuance` section), with the defaults we
/// chose where the standard is silent (docs/decisions/0010).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtpLaw {
    /// Role that mints ADP into the pool and charges accounts (`mint_authority`).
    pub mint_authority: String,
    /// Most ADP minted per cycle (`max_mint_per_cycle`); `None` = no cap.
    pub max_mint_per_cycle: Option<u64>,
    /// Length of a minting cycle in seconds (`cycle_seconds`, default one day).
    pub cycle_seconds: u64,
    /// ATP credited per unit of proven value (`charge_rate`, default 1.0).
    pub charge_rate: f64,
    /// Fee per transferred ATP, discharged to the pool (`transfer_fee_rate`, default 0).
    pub transfer_fee_rate: f64,
    /// Root delegations with a budget must be funded (`require_funded_delegations`).
    pub require_funded_delegations: bool,
}

impl AtpLaw {
    fn from_law(doc: &Value) -> AtpLaw {
        let a = doc.get("atp_issuance");
        let get = |k: &str| a.and_then(|a| a.get(k));
        AtpLaw {
            mint_authority: get("mint_authority").and_then(Value::as_str).unwrap_or("treasurer").to_owned(),
            max_mint_per_cycle: get("max_mint_per_cycle").and_then(Value::as_u64),
            cycle_seconds: get("cycle_seconds").and_then(Value::as_u64).filter(|s| *s > 0).unwrap_or(86_400),
            charge_rate: get("charge_rate").and_then(Value::as_f64).unwrap_or(1.0),
            transfer_fee_rate: get("transfer_fee_rate").and_then(Value::as_f64).unwrap_or(0.0),
            require_funded_delegations: get("require_funded_delegations").and_then(Value::as_bool).unwrap_or(false),
        }
    }

    /// The fee for transferring `amount` (rounded up, so a fee rate is never dodged by splitting).
    pub fn transfer_fee(&self, amount: u64) -> u64 {
        let fee = (amount as f64 * self.transfer_fee_rate).ceil();
        if fee <= 0.0 {
            0
        } else if fee >= u64::MAX as f64 {
            u64::MAX
        } else {
            fee as u64
        }
    }

    /// ATP credited for `value` units of proven value (rounded down).
    pub fn charge_amount(&self, value: f64) -> u64 {
        let atp = (value * self.charge_rate).floor();
        if atp.is_nan() || atp <= 0.0 {
            0
        } else if atp >= u64::MAX as f64 {
            u64::MAX
        } else {
            atp as u64
        }
    }
}

/// `requires_witnesses: N` is a threshold, `requires_quorum: N` a majority of N
/// registered witnesses (validation guarantees one of them is present).
fn procedure_quorum(doc: &Value, action: &str) -> Option<QuorumRule> {
    let applies = |p: &Value| match p.get("applies_to") {
        Some(Value::String(s)) => s == action,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(action)),
        _ => false,
    };
    let p = doc.get("procedures")?.as_array()?.iter().find(|p| applies(p))?;
    let count = |k: &str| p.get(k).and_then(Value::as_u64).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    match (count("requires_witnesses"), count("requires_quorum")) {
        (Some(n), _) => Some(QuorumRule::Threshold { n }),
        (None, Some(registered)) => Some(QuorumRule::Majority { registered }),
        (None, None) => None,
    }
}

/// Identity-related parameters read from a law dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentityLaw {
    /// Birth witness quorum (`procedures[]` entry with `applies_to: "lct.mint"`).
    pub birth_quorum: QuorumRule,
    /// Whether a new key may mint its own LCT (self-signed request).
    pub open_admission: bool,
    /// Roles whose holders may mint LCTs for others.
    pub mint_roles: Vec<String>,
    /// Roles whose holders may suspend, reinstate and revoke any LCT.
    pub status_roles: Vec<String>,
    /// Roles whose holders may grant and revoke roles (default `authority`).
    pub role_roles: Vec<String>,
    /// How long a superseded LCT may still sign after a transition.
    pub rotation_overlap_seconds: i64,
    /// Freshness bound for witness attestations.
    pub witness_max_skew_seconds: i64,
    /// Role given to newborn citizens.
    pub citizen_role: String,
    pub rights: Vec<String>,
    pub obligations: Vec<String>,
}

fn strings(v: Option<&Value>, default: &[&str]) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        None => default.iter().map(|s| (*s).to_owned()).collect(),
    }
}

impl IdentityLaw {
    fn from_law(doc: &Value) -> IdentityLaw {
        let birth_quorum =
            procedure_quorum(doc, "lct.mint").unwrap_or(QuorumRule::Threshold { n: DEFAULT_BIRTH_WITNESSES });
        let id = doc.get("identity");
        let get = |k: &str| id.and_then(|i| i.get(k));
        IdentityLaw {
            birth_quorum,
            open_admission: get("admission").and_then(Value::as_str) == Some("open"),
            mint_roles: strings(get("mint_roles"), &["authority"]),
            status_roles: strings(get("status_roles"), &["authority"]),
            role_roles: strings(get("role_roles"), &["authority"]),
            rotation_overlap_seconds: get("rotation_overlap_seconds").and_then(Value::as_i64).unwrap_or(86_400).max(0),
            witness_max_skew_seconds: get("witness_max_skew_seconds")
                .and_then(Value::as_i64)
                .unwrap_or(300)
                .clamp(1, 3600),
            citizen_role: get("citizen_role").and_then(Value::as_str).unwrap_or("citizen").to_owned(),
            rights: strings(get("rights"), &[]),
            obligations: strings(get("obligations"), &[]),
        }
    }
}

/// What the law lets `role` do: the norms that name the role (selector
/// `r6.role` with `==`, `!=`, `in` or `not_in`) and would apply to it, and the
/// role lists of the identity, delegation and publication rules.
pub fn permissions(law: &LawDataset, role: &str) -> Value {
    let doc = law.as_json();
    let probe = serde_json::json!({ "role": role });
    let norms: Vec<Value> = law
        .compiled
        .norms
        .iter()
        .filter(|n| n.predicate.selector == "r6.role" && n.predicate.holds(&probe))
        .map(|n| {
            serde_json::json!({"norm": n.id, "decision": n.decision, "priority": n.priority, "description": n.description})
        })
        .collect();
    let has = |list: &[String]| list.iter().any(|r| r == role);
    let identity = law.identity();
    let delegation = doc.get("delegation");
    let may_delegate = delegation
        .and_then(|d| d.get("allowed_roles"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|r| r.as_str() == Some(role)));
    let may_publish = ["authority", "law-oracle"].contains(&role);
    let escalations: Vec<Value> = doc
        .get("escalation")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|e| e.get("escalate_to").and_then(Value::as_str) == Some(role))
                .filter_map(|e| e.get("condition").cloned())
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "role": role,
        "law_version": law.version(),
        "law_hash": law.law_hash(),
        "norms": norms,
        "may_mint_lcts": has(&identity.mint_roles),
        "may_change_lct_status": has(&identity.status_roles),
        "may_change_roles": has(&identity.role_roles),
        "may_publish_law": may_publish,
        "may_delegate": may_delegate,
        "delegation_max_depth": delegation.and_then(|d| d.get("max_depth")).cloned(),
        "escalations_to_role": escalations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_is_over_jcs_so_key_order_does_not_matter() {
        let a = LawDataset::try_from(json!({"version": "1.0.0", "norms": [], "admission": {"b": 1, "a": 2}})).unwrap();
        let b = LawDataset::try_from(json!({"admission": {"a": 2, "b": 1}, "norms": [], "version": "1.0.0"})).unwrap();
        assert_eq!(a.law_hash(), b.law_hash());
        assert_eq!(a.law_hash(), sha256(br#"{"admission":{"a":2,"b":1},"norms":[],"version":"1.0.0"}"#));
    }

    #[test]
    fn grants_roles_reads_role_roles_as_identity_does() {
        for doc in [
            json!({"version": "1.0.0", "norms": []}),
            json!({"version": "1.0.0", "norms": [], "identity": {"role_roles": ["authority", "citizen"]}}),
            json!({"version": "1.0.0", "norms": [], "identity": {"role_roles": []}}),
        ] {
            let l = LawDataset::try_from(doc).unwrap();
            for role in ["authority", "citizen", "witness"] {
                assert_eq!(l.grants_roles(role), l.identity().role_roles.iter().any(|r| r == role), "{role}");
            }
        }
    }

    #[test]
    fn identity_defaults_follow_the_standard() {
        let l = LawDataset::try_from(json!({"version": "1.0.0", "norms": []})).unwrap();
        let i = l.identity();
        assert_eq!(i.birth_quorum, QuorumRule::Threshold { n: 3 });
        assert!(!i.open_admission);
        let l = LawDataset::try_from(json!({"version": "1.0.0", "norms": [],
            "procedures": [{"id": "W1", "requires_witnesses": 1, "applies_to": ["lct.mint"]}],
            "identity": {"admission": "open", "rotation_overlap_seconds": 60}}))
        .unwrap();
        let i = l.identity();
        assert_eq!(i.birth_quorum, QuorumRule::Threshold { n: 1 });
        assert!(i.open_admission);
        assert_eq!(i.rotation_overlap_seconds, 60);
    }

    #[test]
    fn malformed_law_is_refused() {
        assert!(LawDataset::try_from(json!([])).is_err());
        assert!(LawDataset::try_from(json!({"norms": []})).is_err());
        assert!(LawDataset::try_from(json!({"version": "1"})).is_err());
    }
}
