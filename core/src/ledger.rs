//! Signed ledger records and per-author hash-chain verification.
//!
//! The payload is bound by `payload_hash = sha256(JCS(payload))`. The header is
//! `{author, seq, prev_hash, kind, payload_hash, law_hash, timestamp}`;
//! `signature` is Ed25519 by the author over `"web4:record:v1\n" + JCS(header)`,
//! and the record's hash (its `ledger_ref`) is `sha256(JCS(header + signature))`. Each author's records form a
//! chain: `seq` starts at 1 and increases by one, `prev_hash` is the previous
//! record's hash ([`Hash::ZERO`] for seq 1).

use crate::crypto::{CanonError, Hash, PublicKey, SecretKey, Signature, canonical_json, sha256};
use crate::id::LctId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Record kinds written by this version.
pub mod kind {
    /// A society's first record: its law and founding members.
    pub const SOCIETY_GENESIS: &str = "society.genesis";
    /// An LCT was minted.
    pub const LCT_MINT: &str = "lct.mint";
    /// An LCT was suspended.
    pub const LCT_SUSPEND: &str = "lct.suspend";
    /// A suspended LCT was reinstated.
    pub const LCT_REINSTATE: &str = "lct.reinstate";
    /// An LCT was revoked.
    pub const LCT_REVOKE: &str = "lct.revoke";
    /// An LCT transitioned to a new key (the old one is superseded).
    pub const LCT_TRANSITION: &str = "lct.transition";
    /// A new law version was published for a society.
    pub const LAW_PUBLISH: &str = "law.publish";
    /// An interpretation of the law was added (or replaced an earlier one).
    pub const LAW_INTERPRETATION: &str = "law.interpretation";
    /// A delegation (agency grant) was created.
    pub const AUTH_DELEGATE: &str = "auth.delegate";
    /// A delegation was revoked.
    pub const AUTH_REVOKE: &str = "auth.revoke";
    /// A root delegation awaiting approval (law `delegation.requires_approval`)
    /// was approved.
    pub const AUTH_APPROVE: &str = "auth.approve";
    /// Expired grants were closed by the node, their unspent budget released.
    pub const AUTH_EXPIRE: &str = "auth.expire";
    /// An authorization decision (granted, denied or deferred).
    pub const AUTH_DECISION: &str = "auth.decision";
    /// ADP was minted into a society's pool.
    pub const ATP_MINT: &str = "atp.mint";
    /// Pool ADP was charged to ATP in an account against a value proof.
    pub const ATP_CHARGE: &str = "atp.charge";
    /// ATP moved between accounts (the fee discharged to the pool).
    pub const ATP_TRANSFER: &str = "atp.transfer";
    /// ATP was destroyed as a penalty (the one exception to conservation).
    pub const ATP_SLASH: &str = "atp.slash";
    /// The outcome of an action by an entity in a role, with its reputation delta.
    pub const REPUTATION_OUTCOME: &str = "reputation.outcome";
    /// A lease on a resource pool was opened.
    pub const RESOURCE_ALLOCATE: &str = "resource.allocate";
    /// Usage of a lease was metered and charged.
    pub const RESOURCE_USAGE: &str = "resource.usage";
    /// A lease was closed; the unused part of its lock returned.
    pub const RESOURCE_RELEASE: &str = "resource.release";
    /// Resource conversion rates were updated as the law allows.
    pub const RESOURCE_RATES: &str = "resource.rates";
    /// A triple was asserted into the MRH graph.
    pub const GRAPH_TRIPLE: &str = "graph.triple";
    /// A role was granted to an LCT of the society.
    pub const ROLE_GRANT: &str = "role.grant";
    /// A role was taken back from an LCT of the society.
    pub const ROLE_REVOKE: &str = "role.revoke";
}

/// A signed ledger record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub author: LctId,
    pub seq: u64,
    pub prev_hash: Hash,
    pub kind: String,
    pub payload: Value,
    pub law_hash: Hash,
    pub timestamp: Timestamp,
    pub signature: Signature,
}

/// A record before signing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordDraft {
    pub author: LctId,
    pub seq: u64,
    pub prev_hash: Hash,
    pub kind: String,
    pub payload: Value,
    pub law_hash: Hash,
    pub timestamp: Timestamp,
}

/// The signed header: every field but the payload, which is bound by its hash.
#[derive(Serialize)]
struct Header<'a> {
    author: &'a LctId,
    seq: u64,
    prev_hash: &'a Hash,
    kind: &'a str,
    payload_hash: &'a Hash,
    law_hash: &'a Hash,
    timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a Signature>,
}

/// A payload canonicalised once: its JCS text and hash.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalPayload {
    pub jcs: String,
    pub hash: Hash,
}

impl CanonicalPayload {
    /// Canonicalise `value`.
    pub fn new(value: Value) -> Result<Self, CanonError> {
        Self::from_jcs(crate::crypto::canonical_value(&value)?)
    }

    /// Canonicalise a typed payload straight from its type (the same text as
    /// [`CanonicalPayload::new`] of its `serde_json::to_value`).
    pub fn of<T: Serialize + ?Sized>(payload: &T) -> Result<Self, CanonError> {
        Self::from_jcs(crate::crypto::canonical_json(payload)?)
    }

    /// [`CanonicalPayload::of`] with the member `name` of the object
    /// `payload` replaced by text canonicalised before (`member_jcs`): the
    /// member's own value is not serialised. The same text as
    /// [`CanonicalPayload::with_member`] of the payload without that member.
    pub fn of_with_member<T: Serialize + ?Sized>(
        payload: &T,
        name: &str,
        member_jcs: &[u8],
    ) -> Result<Self, CanonError> {
        let mut bytes = Vec::with_capacity(member_jcs.len() + 512);
        if crate::jcs::typed::write(payload, Some((name, member_jcs)), &mut bytes).is_err() {
            payload.serialize(crate::finite::Checker).map_err(|e| CanonError::from_message(e.to_string()))?;
            let mut rest = serde_json::to_value(payload).map_err(|e| CanonError::from_message(e.to_string()))?;
            if let Some(m) = rest.as_object_mut() {
                m.remove(name);
            }
            return Self::with_member(rest, name, member_jcs);
        }
        Self::from_jcs(bytes)
    }

    /// Canonicalise the object `rest` with one more member, `name`, whose
    /// value was canonicalised before (`member_jcs`, e.g. a request's
    /// evidence, canonicalised before the writer takes the job). The result
    /// is the canonical form of the whole object, as [`CanonicalPayload::new`]
    /// gives it with the member in place.
    pub fn with_member(rest: Value, name: &str, member_jcs: &[u8]) -> Result<Self, CanonError> {
        let mut bytes = Vec::with_capacity(rest.as_object().map_or(0, |m| 64 * m.len()) + member_jcs.len() + 16);
        let fast = match &rest {
            Value::Object(m) => crate::jcs::object_with(m, name, member_jcs, &mut bytes).is_ok(),
            _ => false,
        };
        if !fast {
            // The general path: put the member back and canonicalise it all.
            let member: Value =
                serde_json::from_slice(member_jcs).map_err(|e| CanonError::from_message(e.to_string()))?;
            let mut rest = rest;
            return match &mut rest {
                Value::Object(m) if !m.contains_key(name) => {
                    m.insert(name.to_owned(), member);
                    Self::new(rest)
                }
                _ => Err(CanonError::from_message(format!("cannot add member {name:?} to the payload"))),
            };
        }
        Self::from_jcs(bytes)
    }

    /// Canonical text and its hash.
    fn from_jcs(bytes: Vec<u8>) -> Result<Self, CanonError> {
        let hash = sha256(&bytes);
        let jcs = String::from_utf8(bytes).map_err(|e| CanonError::from_message(e.to_string()))?;
        Ok(CanonicalPayload { jcs, hash })
    }
}

/// `sha256(JCS(payload))`.
pub fn payload_hash(payload: &Value) -> Result<Hash, CanonError> {
    // A `Value` is canonicalised as it is (no copy of the tree; a `Value`
    // cannot hold a non-finite number).
    Ok(sha256(&crate::crypto::canonical_value(payload)?))
}

fn header_bytes(h: &Header<'_>) -> Result<Vec<u8>, CanonError> {
    let mut out = Vec::with_capacity(400);
    out.extend_from_slice(b"web4:record:v1\n");
    header_jcs(h, &mut out)?;
    Ok(out)
}

/// `JCS(header)` appended to `out`. The header is flat: strings and one
/// integer, so its canonical form is written directly (members in JCS order;
/// serde_json escapes strings exactly as RFC 8785 does). Every record is
/// signed and hashed through here, twice; the generic path builds a
/// `serde_json::Value` first. A test compares both on many headers.
fn header_jcs(h: &Header<'_>, out: &mut Vec<u8>) -> Result<(), CanonError> {
    const EXACT: u64 = 1 << 53;
    if h.seq > EXACT {
        // Not representable exactly: let the generic path give its error.
        out.extend(canonical_json(h)?);
        return Ok(());
    }
    fn member<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, v: &T) -> Result<(), CanonError> {
        out.extend_from_slice(name.as_bytes());
        serde_json::to_writer(out, v).map_err(|e| CanonError::from_message(e.to_string()))
    }
    member(out, "{\"author\":", h.author)?;
    member(out, ",\"kind\":", h.kind)?;
    member(out, ",\"law_hash\":", h.law_hash)?;
    member(out, ",\"payload_hash\":", h.payload_hash)?;
    member(out, ",\"prev_hash\":", h.prev_hash)?;
    member(out, ",\"seq\":", &h.seq)?;
    if let Some(sig) = h.signature {
        member(out, ",\"signature\":", sig)?;
    }
    member(out, ",\"timestamp\":", &h.timestamp)?;
    out.push(b'}');
    Ok(())
}

/// `sha256(JCS(header))`: the record hash when the header carries the signature.
fn header_hash(h: &Header<'_>) -> Result<Hash, CanonError> {
    let mut jcs = Vec::with_capacity(400);
    header_jcs(h, &mut jcs)?;
    Ok(sha256(&jcs))
}

impl RecordDraft {
    /// Sign with the author's key.
    pub fn sign(self, sk: &SecretKey) -> Result<Record, CanonError> {
        let ph = payload_hash(&self.payload)?;
        Ok(self.sign_with_payload_hash(sk, &ph)?.0)
    }

    /// Sign when the payload hash is already known; also returns the record hash.
    pub fn sign_with_payload_hash(self, sk: &SecretKey, ph: &Hash) -> Result<(Record, Hash), CanonError> {
        self.sign_with_payload_hash_by(|m| sk.sign(m), ph)
    }

    /// [`RecordDraft::sign_with_payload_hash`] with the signing done by
    /// `sign` over the header bytes (e.g. a [`crate::crypto::PresignKey`]
    /// with a nonce made in advance).
    pub fn sign_with_payload_hash_by(
        self,
        sign: impl FnOnce(&[u8]) -> Signature,
        ph: &Hash,
    ) -> Result<(Record, Hash), CanonError> {
        let mut h = Header {
            author: &self.author,
            seq: self.seq,
            prev_hash: &self.prev_hash,
            kind: &self.kind,
            payload_hash: ph,
            law_hash: &self.law_hash,
            timestamp: self.timestamp,
            signature: None,
        };
        let signature = sign(&header_bytes(&h)?);
        h.signature = Some(&signature);
        let hash = header_hash(&h)?;
        let record = Record {
            author: self.author,
            seq: self.seq,
            prev_hash: self.prev_hash,
            kind: self.kind,
            payload: self.payload,
            law_hash: self.law_hash,
            timestamp: self.timestamp,
            signature,
        };
        Ok((record, hash))
    }
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("record seq {seq}: author {found} is not the chain's author")]
    WrongAuthor { seq: u64, found: String },
    #[error("expected seq {expected}, found {found}")]
    Sequence { expected: u64, found: u64 },
    #[error("record seq {seq}: prev_hash does not match the previous record's hash")]
    BrokenLink { seq: u64 },
    #[error("record seq {seq}: signature does not verify")]
    BadSignature { seq: u64 },
    #[error("record seq {seq}: cannot canonicalise")]
    Canonical { seq: u64 },
}

impl Record {
    fn header<'a>(&'a self, ph: &'a Hash, with_sig: bool) -> Header<'a> {
        Header {
            author: &self.author,
            seq: self.seq,
            prev_hash: &self.prev_hash,
            kind: &self.kind,
            payload_hash: ph,
            law_hash: &self.law_hash,
            timestamp: self.timestamp,
            signature: with_sig.then_some(&self.signature),
        }
    }

    /// The record's hash, used as its `ledger_ref`.
    pub fn hash(&self) -> Result<Hash, CanonError> {
        self.hash_with(&payload_hash(&self.payload)?)
    }

    /// The record's hash when its payload hash (`sha256(JCS(payload))`) is
    /// already known: canonicalising a large payload is the costly part, so
    /// a caller that hashes and verifies does it once.
    pub fn hash_with(&self, payload_hash: &Hash) -> Result<Hash, CanonError> {
        header_hash(&self.header(payload_hash, true))
    }

    /// Verify the author's signature.
    pub fn verify_signature(&self, pk: &PublicKey) -> Result<(), ChainError> {
        let ph = payload_hash(&self.payload).map_err(|_| ChainError::Canonical { seq: self.seq })?;
        self.verify_signature_with(pk, &ph)
    }

    /// Verify the author's signature given the payload hash (see [`Record::hash_with`]).
    pub fn verify_signature_with(&self, pk: &PublicKey, payload_hash: &Hash) -> Result<(), ChainError> {
        let bytes = self.signed_bytes(payload_hash)?;
        pk.verify(&bytes, &self.signature).map_err(|_| ChainError::BadSignature { seq: self.seq })
    }

    /// The bytes the record's signature signs, given its payload hash (to
    /// verify it in a batch with other signatures).
    pub fn signed_bytes(&self, payload_hash: &Hash) -> Result<Vec<u8>, ChainError> {
        header_bytes(&self.header(payload_hash, false)).map_err(|_| ChainError::Canonical { seq: self.seq })
    }
}

/// Incremental verifier for one author's chain.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    author: LctId,
    key: PublicKey,
    next_seq: u64,
    head: Hash,
}

impl ChainVerifier {
    /// Start verifying `author`'s chain from its first record.
    pub fn new(author: LctId, key: PublicKey) -> Self {
        ChainVerifier { author, key, next_seq: 1, head: Hash::ZERO }
    }

    /// Check the next record; on success it becomes the head.
    pub fn push(&mut self, r: &Record) -> Result<Hash, ChainError> {
        if r.author != self.author {
            return Err(ChainError::WrongAuthor { seq: r.seq, found: r.author.to_string() });
        }
        if r.seq != self.next_seq {
            return Err(ChainError::Sequence { expected: self.next_seq, found: r.seq });
        }
        if r.prev_hash != self.head {
            return Err(ChainError::BrokenLink { seq: r.seq });
        }
        r.verify_signature(&self.key)?;
        let h = r.hash().map_err(|_| ChainError::Canonical { seq: r.seq })?;
        self.next_seq += 1;
        self.head = h;
        Ok(h)
    }

    /// Number of records verified so far.
    pub fn len(&self) -> u64 {
        self.next_seq - 1
    }

    /// Whether no record has been verified.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 1
    }

    /// Hash of the last verified record.
    pub fn head(&self) -> Hash {
        self.head
    }
}

/// Verify a whole chain; returns the head hash.
pub fn verify_chain(author: &LctId, key: &PublicKey, records: &[Record]) -> Result<Hash, ChainError> {
    let mut v = ChainVerifier::new(author.clone(), *key);
    for r in records {
        v.push(r)?;
    }
    Ok(v.head())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(sk: &SecretKey, n: u64) -> Vec<Record> {
        let author = LctId::from_public_key(&sk.public_key());
        let mut prev = Hash::ZERO;
        (1..=n)
            .map(|seq| {
                let r = RecordDraft {
                    author: author.clone(),
                    seq,
                    prev_hash: prev,
                    kind: kind::LCT_MINT.into(),
                    payload: serde_json::json!({"n": seq}),
                    law_hash: sha256(b"law"),
                    timestamp: Timestamp(1_700_000_000 + seq as i64),
                }
                .sign(sk)
                .unwrap();
                prev = r.hash().unwrap();
                r
            })
            .collect()
    }

    proptest! {
        // The direct header writer is byte-for-byte the generic JCS path.
        #[test]
        fn header_writer_matches_generic_jcs(
            kind in "\\PC{0,12}|[\u{0}-\u{1f}\"\\\\/\u{7f}\u{2028}\u{10000}]{0,6}",
            seq in prop_oneof![0u64..1000, Just((1u64 << 53) - 1), Just(1u64 << 53)],
            ts in 0i64..4_000_000_000,
            seed in any::<[u8; 32]>(),
            with_sig in any::<bool>(),
        ) {
            let sk = SecretKey::from_seed(&seed);
            let author = LctId::from_public_key(&sk.public_key());
            let (prev, ph, lh) = (sha256(&seed), sha256(b"p"), sha256(b"l"));
            let sig = sk.sign(b"x");
            let h = Header {
                author: &author, seq, prev_hash: &prev, kind: &kind, payload_hash: &ph,
                law_hash: &lh, timestamp: Timestamp(ts), signature: with_sig.then_some(&sig),
            };
            let mut direct = Vec::new();
            header_jcs(&h, &mut direct).unwrap();
            prop_assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(canonical_json(&h).unwrap()).unwrap());
        }
    }

    #[test]
    fn a_seq_beyond_2_pow_53_is_refused_like_any_inexact_integer() {
        let sk = SecretKey::from_seed(&[5; 32]);
        let author = LctId::from_public_key(&sk.public_key());
        let h = Header {
            author: &author,
            seq: (1 << 53) + 1,
            prev_hash: &Hash::ZERO,
            kind: "k",
            payload_hash: &Hash::ZERO,
            law_hash: &Hash::ZERO,
            timestamp: Timestamp(1),
            signature: None,
        };
        assert!(header_jcs(&h, &mut Vec::new()).is_err());
    }

    #[test]
    fn good_chain_verifies() {
        let sk = SecretKey::from_seed(&[5; 32]);
        let c = chain(&sk, 5);
        let author = LctId::from_public_key(&sk.public_key());
        assert_eq!(verify_chain(&author, &sk.public_key(), &c), Ok(c[4].hash().unwrap()));
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let sk = SecretKey::from_seed(&[5; 32]);
        let author = LctId::from_public_key(&sk.public_key());
        let pk = sk.public_key();
        let c = chain(&sk, 4);

        let mut gap = c.clone();
        gap.remove(1);
        assert_eq!(verify_chain(&author, &pk, &gap), Err(ChainError::Sequence { expected: 2, found: 3 }));

        let mut tampered = c.clone();
        tampered[2].payload = serde_json::json!({"n": 99});
        assert_eq!(verify_chain(&author, &pk, &tampered), Err(ChainError::BadSignature { seq: 3 }));

        // Re-signed by the author but linked to a different predecessor.
        let mut relinked = c.clone();
        let d = RecordDraft {
            author: author.clone(),
            seq: 3,
            prev_hash: sha256(b"elsewhere"),
            kind: relinked[2].kind.clone(),
            payload: relinked[2].payload.clone(),
            law_hash: relinked[2].law_hash,
            timestamp: relinked[2].timestamp,
        };
        relinked[2] = d.sign(&sk).unwrap();
        assert_eq!(verify_chain(&author, &pk, &relinked), Err(ChainError::BrokenLink { seq: 3 }));

        let other = SecretKey::from_seed(&[6; 32]);
        assert_eq!(verify_chain(&author, &other.public_key(), &c), Err(ChainError::BadSignature { seq: 1 }));
    }

    proptest! {
        #[test]
        fn any_single_byte_flip_in_payload_breaks_the_chain(n in 2u64..6, idx in 0usize..6, val in any::<i64>()) {
            let sk = SecretKey::from_seed(&[5; 32]);
            let author = LctId::from_public_key(&sk.public_key());
            let mut c = chain(&sk, n);
            let i = idx % c.len();
            prop_assume!(c[i].payload != serde_json::json!({"n": val}));
            c[i].payload = serde_json::json!({"n": val});
            prop_assert!(verify_chain(&author, &sk.public_key(), &c).is_err());
        }
    }

    /// A member canonicalised before and spliced in gives the canonical
    /// form of the whole object, on the fast path (ASCII names) and on the
    /// general one (a non-ASCII name anywhere); a name already present or a
    /// non-object is refused.
    #[test]
    fn a_member_canonicalised_before_gives_the_whole_canonical_form() {
        let member = serde_json::json!({"method": "POST", "body": "{\"a\":1,\"é\":\"\\u0001\"}", "n": [3, 1.5, -0.0]});
        let member_jcs = crate::crypto::canonical_value(&member).unwrap_or_default();
        for rest in [
            serde_json::json!({}),
            serde_json::json!({"actor": "x", "zeta": [1, {"b": 2, "a": null}], "atp_cost": 5}),
            serde_json::json!({"actor": "x", "factors": {"qualité": 1}}),
            serde_json::json!({"a": 1e21, "f": 0.1, "g": "\u{1f}"}),
        ] {
            let mut whole = rest.clone();
            if let Some(m) = whole.as_object_mut() {
                m.insert("evidence".into(), member.clone());
            }
            let expected = CanonicalPayload::new(whole);
            let spliced = CanonicalPayload::with_member(rest, "evidence", &member_jcs);
            assert!(expected.is_ok());
            assert_eq!(spliced, expected);
        }
        assert!(CanonicalPayload::with_member(serde_json::json!({"evidence": 1}), "evidence", b"2").is_err());
        assert!(CanonicalPayload::with_member(serde_json::json!([1]), "evidence", b"2").is_err());
    }
}
