//! LCT documents, binding proofs and the lifecycle state machine.

use crate::birth::BirthCertificate;
use crate::crypto::{Hash, PublicKey, SecretKey, Signature, canonical_json, sha256};
use crate::id::LctId;
use crate::tensor::{T3, V3};
use crate::time::Timestamp;
use crate::witness::Attestation;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Kinds of entity an LCT can bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Human,
    Ai,
    Society,
    Organization,
    Role,
    Task,
    Resource,
    Device,
    Service,
    Oracle,
    Accumulator,
    Dictionary,
    Hybrid,
    Policy,
    Infrastructure,
}

impl EntityType {
    /// Every entity type (bounded label set for metrics).
    pub const ALL: [EntityType; 15] = [
        Self::Human,
        Self::Ai,
        Self::Society,
        Self::Organization,
        Self::Role,
        Self::Task,
        Self::Resource,
        Self::Device,
        Self::Service,
        Self::Oracle,
        Self::Accumulator,
        Self::Dictionary,
        Self::Hybrid,
        Self::Policy,
        Self::Infrastructure,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Ai => "ai",
            Self::Society => "society",
            Self::Organization => "organization",
            Self::Role => "role",
            Self::Task => "task",
            Self::Resource => "resource",
            Self::Device => "device",
            Self::Service => "service",
            Self::Oracle => "oracle",
            Self::Accumulator => "accumulator",
            Self::Dictionary => "dictionary",
            Self::Hybrid => "hybrid",
            Self::Policy => "policy",
            Self::Infrastructure => "infrastructure",
        }
    }

    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The binding of an LCT to its key, with the proof of possession.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub entity_type: EntityType,
    pub public_key: PublicKey,
    pub created_at: Timestamp,
    pub binding_proof: Signature,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_anchor: Option<Value>,
}

/// Why a binding is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("lct_id {claimed} does not match the public key (derived {derived})")]
    IdMismatch { claimed: String, derived: String },
    #[error("binding proof does not verify with the public key")]
    ProofFail,
    #[error("{0}")]
    Anchor(crate::anchor::AnchorError),
}

/// The domain-separated message a binding proof signs.
pub fn binding_message(lct_id: &LctId, entity_type: EntityType, created_at: Timestamp) -> Vec<u8> {
    format!("web4:lct:binding:v1\n{lct_id}\n{entity_type}\n{created_at}").into_bytes()
}

impl Binding {
    /// Create a binding for the key `sk`, proving possession.
    pub fn create(sk: &SecretKey, entity_type: EntityType, created_at: Timestamp) -> Binding {
        let public_key = sk.public_key();
        let id = LctId::from_public_key(&public_key);
        let binding_proof = sk.sign(&binding_message(&id, entity_type, created_at));
        Binding { entity_type, public_key, created_at, binding_proof, hardware_anchor: None }
    }

    /// The id derived from the bound key.
    pub fn lct_id(&self) -> LctId {
        LctId::from_public_key(&self.public_key)
    }

    /// Verify that `lct_id` is derived from the key, the proof is valid and,
    /// when the binding carries a hardware anchor, that it endorses this key.
    pub fn verify(&self, lct_id: &LctId) -> Result<(), BindingError> {
        self.verify_proof(lct_id)?;
        self.verify_anchor(lct_id).map(|_| ())
    }

    /// Verify the id derivation and the proof of possession only.
    pub fn verify_proof(&self, lct_id: &LctId) -> Result<(), BindingError> {
        self.check_id(lct_id)?;
        self.public_key.verify(&self.proof_message(lct_id), &self.binding_proof).map_err(|_| BindingError::ProofFail)
    }

    /// Check only that `lct_id` is derived from the key.
    pub fn check_id(&self, lct_id: &LctId) -> Result<(), BindingError> {
        let derived = self.lct_id();
        if &derived != lct_id {
            return Err(BindingError::IdMismatch { claimed: lct_id.to_string(), derived: derived.to_string() });
        }
        Ok(())
    }

    /// The message `binding_proof` signs (to verify it in a batch).
    pub fn proof_message(&self, lct_id: &LctId) -> Vec<u8> {
        binding_message(lct_id, self.entity_type, self.created_at)
    }

    /// Verify the hardware anchor, if any: `Ok(None)` for a software binding.
    pub fn verify_anchor(&self, lct_id: &LctId) -> Result<Option<crate::anchor::AnchorReport>, BindingError> {
        let Some(v) = &self.hardware_anchor else { return Ok(None) };
        crate::anchor::HardwareAnchor::from_value(v)
            .and_then(|a| a.verify(lct_id, &self.public_key))
            .map(Some)
            .map_err(BindingError::Anchor)
    }

    /// Capability level (spec digest §1): 5 when a hardware anchor verifies, 4 otherwise.
    pub fn capability_level(&self, lct_id: &LctId) -> u8 {
        match self.verify_anchor(lct_id) {
            Ok(Some(_)) => crate::anchor::LEVEL_HARDWARE,
            _ => crate::anchor::LEVEL_SOFTWARE,
        }
    }

    /// The event witnesses attest when an LCT is born in `society`.
    pub fn event_hash(&self, society: &LctId) -> Hash {
        #[derive(Serialize)]
        struct Event<'a> {
            event: &'static str,
            lct_id: LctId,
            entity_type: EntityType,
            public_key: &'a PublicKey,
            created_at: Timestamp,
            society: &'a LctId,
        }
        let e = Event {
            event: "web4:lct:birth:v1",
            lct_id: self.lct_id(),
            entity_type: self.entity_type,
            public_key: &self.public_key,
            created_at: self.created_at,
            society,
        };
        // Serialising a struct of strings cannot fail; fall back to a distinct hash anyway.
        sha256(&canonical_json(&e).unwrap_or_default())
    }
}

/// Markov relevancy horizon links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mrh {
    #[serde(default)]
    pub bound: Vec<LctId>,
    #[serde(default)]
    pub paired: Vec<LctId>,
    #[serde(default)]
    pub witnessing: Vec<LctId>,
    #[serde(default = "default_horizon")]
    pub horizon_depth: u8,
}

fn default_horizon() -> u8 {
    3
}

impl Default for Mrh {
    fn default() -> Self {
        Mrh { bound: vec![], paired: vec![], witnessing: vec![], horizon_depth: 3 }
    }
}

/// Capabilities and constraints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub constraints: Map<String, Value>,
}

/// A link to a predecessor LCT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    pub parent: LctId,
    pub reason: String,
    pub at: Timestamp,
}

/// Why an LCT was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationReason {
    Compromise,
    Superseded,
    Expired,
    Violation,
}

/// The LCT document as minted. Status lives beside it (it is projection state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LctDocument {
    pub lct_id: LctId,
    pub subject: String,
    pub binding: Binding,
    pub mrh: Mrh,
    pub policy: Policy,
    pub t3_tensor: T3,
    pub v3_tensor: V3,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_certificate: Option<BirthCertificate>,
    #[serde(default)]
    pub attestations: Vec<Attestation>,
    #[serde(default)]
    pub lineage: Vec<Lineage>,
}

impl LctDocument {
    /// A fresh document for a verified binding.
    pub fn new(binding: Binding) -> LctDocument {
        let lct_id = binding.lct_id();
        LctDocument {
            subject: format!("did:web4:key:{}", binding.public_key),
            lct_id,
            binding,
            mrh: Mrh::default(),
            policy: Policy::default(),
            t3_tensor: T3::default(),
            v3_tensor: V3::default(),
            birth_certificate: None,
            attestations: vec![],
            lineage: vec![],
        }
    }
}

/// Lifecycle state of an LCT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LctStatus {
    Active,
    Suspended,
    Revoked,
    Superseded,
}

impl LctStatus {
    /// Every status.
    pub const ALL: [LctStatus; 4] = [Self::Active, Self::Suspended, Self::Revoked, Self::Superseded];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
        }
    }
    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Lifecycle events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleEvent {
    Suspend,
    Reinstate,
    Revoke,
    Supersede,
}

/// A lifecycle transition that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the LCT is revoked; revocation is terminal")]
    Terminal,
    #[error("cannot {event:?} an LCT that is {from:?}")]
    NotAllowed { from: LctStatus, event: LifecycleEvent },
}

/// The lifecycle state machine.
///
/// active ⇄ suspended (suspend / reinstate); active|suspended|superseded → revoked
/// (terminal); active → superseded (transition to a new key).
pub fn next_status(from: LctStatus, event: LifecycleEvent) -> Result<LctStatus, LifecycleError> {
    use LctStatus::*;
    use LifecycleEvent::*;
    match (from, event) {
        (Revoked, _) => Err(LifecycleError::Terminal),
        (Active, Suspend) => Ok(Suspended),
        (Suspended, Reinstate) => Ok(Active),
        (Active | Suspended | Superseded, Revoke) => Ok(Revoked),
        (Active, Supersede) => Ok(Superseded),
        (from, event) => Err(LifecycleError::NotAllowed { from, event }),
    }
}

/// Why an LCT may not sign a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("the LCT is revoked")]
    Revoked,
    #[error("the LCT is suspended")]
    Suspended,
    #[error("the LCT was superseded and its overlap window has ended")]
    SupersededExpired,
}

/// Whether an LCT in `status` may sign requests at `now`. A superseded LCT keeps
/// signing until the end of its overlap window so clients can roll over.
pub fn may_sign(status: LctStatus, overlap_until: Option<Timestamp>, now: Timestamp) -> Result<(), SignerError> {
    match status {
        LctStatus::Active => Ok(()),
        LctStatus::Suspended => Err(SignerError::Suspended),
        LctStatus::Revoked => Err(SignerError::Revoked),
        LctStatus::Superseded => match overlap_until {
            Some(until) if now < until => Ok(()),
            _ => Err(SignerError::SupersededExpired),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LctStatus::*;
    use LifecycleEvent::*;

    #[test]
    fn lifecycle_table_is_complete() {
        // Every (state, event) pair, with the expected outcome.
        let table: [(LctStatus, LifecycleEvent, Option<LctStatus>); 16] = [
            (Active, Suspend, Some(Suspended)),
            (Active, Reinstate, None),
            (Active, Revoke, Some(Revoked)),
            (Active, Supersede, Some(Superseded)),
            (Suspended, Suspend, None),
            (Suspended, Reinstate, Some(Active)),
            (Suspended, Revoke, Some(Revoked)),
            (Suspended, Supersede, None),
            (Superseded, Suspend, None),
            (Superseded, Reinstate, None),
            (Superseded, Revoke, Some(Revoked)),
            (Superseded, Supersede, None),
            (Revoked, Suspend, None),
            (Revoked, Reinstate, None),
            (Revoked, Revoke, None),
            (Revoked, Supersede, None),
        ];
        for (from, ev, want) in table {
            let got = next_status(from, ev);
            assert_eq!(got.ok(), want, "{from:?} + {ev:?}");
            if from == Revoked {
                assert_eq!(got, Err(LifecycleError::Terminal));
            }
        }
    }

    #[test]
    fn signing_rights_follow_status() {
        let now = Timestamp(100);
        assert!(may_sign(Active, None, now).is_ok());
        assert_eq!(may_sign(Suspended, None, now), Err(SignerError::Suspended));
        assert_eq!(may_sign(Revoked, None, now), Err(SignerError::Revoked));
        assert!(may_sign(Superseded, Some(Timestamp(101)), now).is_ok());
        assert_eq!(may_sign(Superseded, Some(Timestamp(100)), now), Err(SignerError::SupersededExpired));
        assert_eq!(may_sign(Superseded, None, now), Err(SignerError::SupersededExpired));
    }

    #[test]
    fn binding_proof_round_trip_and_tamper() {
        let sk = SecretKey::from_seed(&[9; 32]);
        let b = Binding::create(&sk, EntityType::Ai, Timestamp(1_700_000_000));
        let id = b.lct_id();
        assert!(b.verify(&id).is_ok());
        let mut t = b.clone();
        t.entity_type = EntityType::Human;
        assert_eq!(t.verify(&id), Err(BindingError::ProofFail));
        let other = LctId::from_public_key(&SecretKey::from_seed(&[8; 32]).public_key());
        assert!(matches!(b.verify(&other), Err(BindingError::IdMismatch { .. })));
    }
}
