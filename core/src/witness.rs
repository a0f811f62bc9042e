//! Witness attestations and quorum counting.
//!
//! An attestation is `{witness, type, claims, ts, nonce, sig}`; `sig` is Ed25519
//! by the witness over `"web4:witness:v1\n" + JCS({witness,type,claims,ts,nonce})`.
//! `claims.event` names the event attested (a `sha256:` hash). A quorum is always
//! recounted from the signatures, never taken from a claimed count.

use crate::crypto::{Hash, PublicKey, SecretKey, Signature, canonical_json};
use crate::id::LctId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Witness classes of the standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WitnessClass {
    Time,
    Audit,
    AuditMinimal,
    Oracle,
    Existence,
    Action,
    State,
    Quality,
}

/// A signed witness attestation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub witness: LctId,
    #[serde(rename = "type")]
    pub class: WitnessClass,
    pub claims: Map<String, Value>,
    pub ts: Timestamp,
    pub nonce: String,
    pub sig: Signature,
}

#[derive(Serialize)]
struct AttestationBody<'a> {
    witness: &'a LctId,
    #[serde(rename = "type")]
    class: WitnessClass,
    claims: &'a Map<String, Value>,
    ts: Timestamp,
    nonce: &'a str,
}

/// Why one attestation does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum WitnessError {
    #[error("witness {0} is not a registered, active witness")]
    UnknownWitness(String),
    #[error("witness {0} attests its own event (self-attestation)")]
    SelfAttestation(String),
    #[error("attestation timestamp {ts} is more than {max_skew}s from {now}")]
    Stale { ts: Timestamp, now: Timestamp, max_skew: i64 },
    #[error("attestation is for another event")]
    WrongEvent,
    #[error("attestation signature does not verify")]
    BadSignature,
    #[error("witness {0} attested more than once")]
    Duplicate(String),
    #[error("nonce reused")]
    NonceReused,
    #[error("attestation cannot be canonicalised")]
    Canonical,
}

fn signing_bytes(a: &AttestationBody<'_>) -> Result<Vec<u8>, WitnessError> {
    let mut out = b"web4:witness:v1\n".to_vec();
    out.extend(canonical_json(a).map_err(|_| WitnessError::Canonical)?);
    Ok(out)
}

impl Attestation {
    /// Sign an attestation of `event` by `witness`.
    pub fn sign(
        sk: &SecretKey,
        witness: LctId,
        class: WitnessClass,
        event: Hash,
        ts: Timestamp,
        nonce: String,
    ) -> Result<Attestation, WitnessError> {
        let mut claims = Map::new();
        claims.insert("event".into(), Value::String(event.to_string()));
        let body = AttestationBody { witness: &witness, class, claims: &claims, ts, nonce: &nonce };
        let sig = sk.sign(&signing_bytes(&body)?);
        Ok(Attestation { witness, class, claims, ts, nonce, sig })
    }

    /// The event this attestation names, if well-formed.
    pub fn event(&self) -> Option<Hash> {
        self.claims.get("event").and_then(Value::as_str).and_then(|s| Hash::parse(s).ok())
    }

    /// Check one attestation: event, freshness against `now`, signature.
    pub fn verify(&self, pk: &PublicKey, event: &Hash, now: Timestamp, max_skew: i64) -> Result<(), WitnessError> {
        self.check_unsigned(event, now, max_skew)?;
        pk.verify(&self.signed_message()?, &self.sig).map_err(|_| WitnessError::BadSignature)
    }

    /// What [`Attestation::verify`] checks but the signature: the event and
    /// the freshness against `now`.
    pub fn check_unsigned(&self, event: &Hash, now: Timestamp, max_skew: i64) -> Result<(), WitnessError> {
        if self.event().as_ref() != Some(event) {
            return Err(WitnessError::WrongEvent);
        }
        if (self.ts.secs() - now.secs()).abs() > max_skew {
            return Err(WitnessError::Stale { ts: self.ts, now, max_skew });
        }
        Ok(())
    }

    /// The bytes `sig` covers, for a caller that verifies signatures in a
    /// batch (`crypto::verify_each`).
    pub fn signed_message(&self) -> Result<Vec<u8>, WitnessError> {
        signing_bytes(&AttestationBody {
            witness: &self.witness,
            class: self.class,
            claims: &self.claims,
            ts: self.ts,
            nonce: &self.nonce,
        })
    }
}

/// How many valid witnesses are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum QuorumRule {
    /// At least `n` valid attestations.
    Threshold { n: u32 },
    /// More than half of the `registered` witnesses (0 of 0 fails).
    Majority { registered: u32 },
}

impl QuorumRule {
    /// Whether `valid` attestations satisfy the rule.
    pub fn met(self, valid: u32) -> bool {
        match self {
            QuorumRule::Threshold { n } => valid >= n,
            QuorumRule::Majority { registered } => registered > 0 && u64::from(valid) * 2 > u64::from(registered),
        }
    }

    /// The smallest count that satisfies the rule.
    pub fn required(self) -> u32 {
        match self {
            QuorumRule::Threshold { n } => n,
            QuorumRule::Majority { registered } => registered / 2 + 1,
        }
    }
}

/// The result of recounting a set of attestations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub valid: Vec<LctId>,
    /// Positions (in the input) of the attestations that counted.
    pub accepted: Vec<usize>,
    pub rejected: Vec<(String, WitnessError)>,
}

/// Recount `attestations` of `event` about `subject`: each distinct, registered
/// witness other than the subject with a fresh, correct signature counts once.
pub fn recount<'a>(
    attestations: impl IntoIterator<Item = &'a Attestation>,
    subject: &LctId,
    event: &Hash,
    lookup: impl Fn(&LctId) -> Option<PublicKey>,
    now: Timestamp,
    max_skew: i64,
) -> Tally {
    let mut seen = BTreeSet::new();
    let mut nonces = BTreeSet::new();
    let mut tally = Tally { valid: Vec::new(), accepted: Vec::new(), rejected: Vec::new() };
    for (i, a) in attestations.into_iter().enumerate() {
        let who = a.witness.to_string();
        let verdict = if &a.witness == subject {
            Err(WitnessError::SelfAttestation(who.clone()))
        } else if seen.contains(&a.witness) {
            Err(WitnessError::Duplicate(who.clone()))
        } else if !nonces.insert(a.nonce.clone()) {
            Err(WitnessError::NonceReused)
        } else {
            match lookup(&a.witness) {
                None => Err(WitnessError::UnknownWitness(who.clone())),
                Some(pk) => a.verify(&pk, event, now, max_skew),
            }
        };
        match verdict {
            Ok(()) => {
                seen.insert(a.witness.clone());
                tally.valid.push(a.witness.clone());
                tally.accepted.push(i);
            }
            Err(e) => tally.rejected.push((who, e)),
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sha256;

    fn key(n: u8) -> (SecretKey, LctId) {
        let sk = SecretKey::from_seed(&[n; 32]);
        let id = LctId::from_public_key(&sk.public_key());
        (sk, id)
    }

    #[test]
    fn quorum_modes() {
        assert!(QuorumRule::Threshold { n: 3 }.met(3));
        assert!(!QuorumRule::Threshold { n: 3 }.met(2));
        assert!(!QuorumRule::Majority { registered: 0 }.met(0));
        assert!(!QuorumRule::Majority { registered: 4 }.met(2));
        assert!(QuorumRule::Majority { registered: 4 }.met(3));
        assert_eq!(QuorumRule::Majority { registered: 4 }.required(), 3);
    }

    #[test]
    fn recount_ignores_claims_and_counts_only_valid_distinct_witnesses() {
        let now = Timestamp(1_000_000);
        let event = sha256(b"birth");
        let (subject_sk, subject) = key(1);
        let (w1, w1id) = key(2);
        let (w2, w2id) = key(3);
        let (w3, w3id) = key(4);
        let lookup = |id: &LctId| {
            [&w1, &w2, &subject_sk].into_iter().map(|k| k.public_key()).find(|pk| &LctId::from_public_key(pk) == id)
        };
        let atts = vec![
            Attestation::sign(&w1, w1id.clone(), WitnessClass::Existence, event, now, "n1".into()),
            Attestation::sign(&w1, w1id.clone(), WitnessClass::Existence, event, now, "n2".into()),
            Attestation::sign(&w2, w2id.clone(), WitnessClass::Existence, sha256(b"other"), now, "n3".into()),
            Attestation::sign(&subject_sk, subject.clone(), WitnessClass::Existence, event, now, "n4".into()),
            Attestation::sign(&w3, w3id.clone(), WitnessClass::Existence, event, now, "n5".into()),
            Attestation::sign(&w2, w2id.clone(), WitnessClass::Existence, event, now.plus(301), "n6".into()),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>();
        let atts = atts.unwrap_or_default();
        assert_eq!(atts.len(), 6);
        let t = recount(&atts, &subject, &event, lookup, now, 300);
        assert_eq!(t.valid, vec![w1id.clone()]);
        assert_eq!(t.accepted, vec![0]);
        let reasons: Vec<_> = t.rejected.iter().map(|(_, e)| e.clone()).collect();
        assert!(matches!(reasons[0], WitnessError::Duplicate(_)));
        assert_eq!(reasons[1], WitnessError::WrongEvent);
        assert!(matches!(reasons[2], WitnessError::SelfAttestation(_)));
        assert!(matches!(reasons[3], WitnessError::UnknownWitness(_)));
        assert!(matches!(reasons[4], WitnessError::Stale { .. }));

        // A tampered signature does not count.
        let mut forged = atts[0].clone();
        forged.nonce = "zz".into();
        let t = recount([&forged], &subject, &event, lookup, now, 300);
        assert_eq!(t.rejected[0].1, WitnessError::BadSignature);
    }
}
