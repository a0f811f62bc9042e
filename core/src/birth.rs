//! Birth certificates: the society's signed record that an LCT was born in it,
//! co-signed by witnesses whose quorum is recounted on every verification.

use crate::crypto::{Hash, PublicKey, SecretKey, Signature, canonical_json};
use crate::id::LctId;
use crate::lct::Binding;
use crate::time::Timestamp;
use crate::witness::{Attestation, QuorumRule, Tally, recount};
use serde::{Deserialize, Serialize};

/// A birth certificate as embedded in the LCT document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthCertificate {
    pub lct_id: LctId,
    pub issuing_society: LctId,
    pub citizen_role: String,
    pub birth_timestamp: Timestamp,
    pub birth_context: String,
    pub law_version: String,
    pub law_hash: Hash,
    pub rights: Vec<String>,
    pub obligations: Vec<String>,
    /// Attestations of the binding's birth event (see [`Binding::event_hash`]).
    pub birth_witnesses: Vec<Attestation>,
    /// The authority LCT that signed for the society.
    pub issuer: LctId,
    pub signature: Signature,
}

/// The unsigned part of a certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BirthCertificateDraft {
    pub lct_id: LctId,
    pub issuing_society: LctId,
    pub citizen_role: String,
    pub birth_timestamp: Timestamp,
    pub birth_context: String,
    pub law_version: String,
    pub law_hash: Hash,
    pub rights: Vec<String>,
    pub obligations: Vec<String>,
    pub birth_witnesses: Vec<Attestation>,
    pub issuer: LctId,
}

/// Why a birth certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BirthError {
    #[error("certificate is for {0}, not for this LCT")]
    WrongSubject(String),
    #[error("issuer signature does not verify")]
    BadIssuerSignature,
    #[error("witness quorum not met: {valid} valid of {required} required")]
    Quorum { valid: u32, required: u32 },
    #[error("certificate cannot be canonicalised")]
    Canonical,
}

fn signing_bytes(d: &BirthCertificateDraft) -> Result<Vec<u8>, BirthError> {
    let mut out = b"web4:birth:v1\n".to_vec();
    out.extend(canonical_json(d).map_err(|_| BirthError::Canonical)?);
    Ok(out)
}

impl BirthCertificateDraft {
    /// Sign for the society with the issuer's key.
    pub fn sign(self, issuer_key: &SecretKey) -> Result<BirthCertificate, BirthError> {
        let signature = issuer_key.sign(&signing_bytes(&self)?);
        let d = self;
        Ok(BirthCertificate {
            lct_id: d.lct_id,
            issuing_society: d.issuing_society,
            citizen_role: d.citizen_role,
            birth_timestamp: d.birth_timestamp,
            birth_context: d.birth_context,
            law_version: d.law_version,
            law_hash: d.law_hash,
            rights: d.rights,
            obligations: d.obligations,
            birth_witnesses: d.birth_witnesses,
            issuer: d.issuer,
            signature,
        })
    }
}

impl BirthCertificate {
    fn draft(&self) -> BirthCertificateDraft {
        BirthCertificateDraft {
            lct_id: self.lct_id.clone(),
            issuing_society: self.issuing_society.clone(),
            citizen_role: self.citizen_role.clone(),
            birth_timestamp: self.birth_timestamp,
            birth_context: self.birth_context.clone(),
            law_version: self.law_version.clone(),
            law_hash: self.law_hash,
            rights: self.rights.clone(),
            obligations: self.obligations.clone(),
            birth_witnesses: self.birth_witnesses.clone(),
            issuer: self.issuer.clone(),
        }
    }

    /// Verify the issuer signature and recount the witnesses of the birth event
    /// (`binding.event_hash(society)`) at the certificate's birth time.
    pub fn verify(
        &self,
        binding: &Binding,
        issuer_key: &PublicKey,
        witness_key: impl Fn(&LctId) -> Option<PublicKey>,
        rule: QuorumRule,
        max_skew: i64,
    ) -> Result<Tally, BirthError> {
        let subject = binding.lct_id();
        if self.lct_id != subject {
            return Err(BirthError::WrongSubject(self.lct_id.to_string()));
        }
        issuer_key
            .verify(&signing_bytes(&self.draft())?, &self.signature)
            .map_err(|_| BirthError::BadIssuerSignature)?;
        let event = binding.event_hash(&self.issuing_society);
        let tally = recount(&self.birth_witnesses, &subject, &event, witness_key, self.birth_timestamp, max_skew);
        let valid = u32::try_from(tally.valid.len()).unwrap_or(u32::MAX);
        if !rule.met(valid) {
            return Err(BirthError::Quorum { valid, required: rule.required() });
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lct::EntityType;
    use crate::witness::WitnessClass;

    #[test]
    fn certificate_verifies_and_quorum_is_recounted() {
        let now = Timestamp(1_800_000_000);
        let society = LctId::parse("lct:web4:society:dev").unwrap_or_else(|_| unreachable!());
        let issuer = SecretKey::from_seed(&[1; 32]);
        let issuer_id = LctId::from_public_key(&issuer.public_key());
        let subject = SecretKey::from_seed(&[2; 32]);
        let binding = Binding::create(&subject, EntityType::Human, now);
        let w = SecretKey::from_seed(&[3; 32]);
        let wid = LctId::from_public_key(&w.public_key());
        let att =
            Attestation::sign(&w, wid.clone(), WitnessClass::Existence, binding.event_hash(&society), now, "n".into())
                .unwrap_or_else(|_| unreachable!());
        let draft = BirthCertificateDraft {
            lct_id: binding.lct_id(),
            issuing_society: society,
            citizen_role: "citizen".into(),
            birth_timestamp: now,
            birth_context: "test".into(),
            law_version: "1.0.0".into(),
            law_hash: crate::crypto::sha256(b"law"),
            rights: vec![],
            obligations: vec![],
            birth_witnesses: vec![att.clone(), att],
            issuer: issuer_id,
        };
        let cert = draft.sign(&issuer).unwrap_or_else(|_| unreachable!());
        let lookup = |id: &LctId| (id == &wid).then(|| w.public_key());
        // Two copies of one attestation count once: threshold 1 passes, 2 fails.
        assert!(cert.verify(&binding, &issuer.public_key(), lookup, QuorumRule::Threshold { n: 1 }, 300).is_ok());
        assert_eq!(
            cert.verify(&binding, &issuer.public_key(), lookup, QuorumRule::Threshold { n: 2 }, 300),
            Err(BirthError::Quorum { valid: 1, required: 2 })
        );
        let mut forged = cert.clone();
        forged.citizen_role = "sovereign".into();
        assert_eq!(
            forged.verify(&binding, &issuer.public_key(), lookup, QuorumRule::Threshold { n: 1 }, 300),
            Err(BirthError::BadIssuerSignature)
        );
    }
}
