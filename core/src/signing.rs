//! Request signing: the canonical request string and its Ed25519 signature.
//!
//! ```text
//! WEB4-REQUEST-V2\n
//! <society LCT id>\n
//! <METHOD>\n
//! <path and query, exactly as sent>\n
//! <lowercase hex sha256 of the raw body bytes>\n
//! <X-Nonce>\n
//! <X-Timestamp>\n
//! <signer LCT id from Authorization: Bearer>
//! ```
//! (no trailing newline). docs/api.md is the normative description. The
//! society line (V2, session 25) binds a request to the society it was meant
//! for: an LCT id depends on its key alone, so without it a request signed
//! for one society could be replayed to another where the key is registered.

use crate::crypto::{PublicKey, SecretKey, Signature, sha256};
use crate::id::LctId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// First line of every canonical request string.
pub const SCHEME: &str = "WEB4-REQUEST-V2";
/// Nonce length bounds (characters of `[A-Za-z0-9_-]`).
pub const NONCE_MIN: usize = 16;
/// Upper nonce length bound.
pub const NONCE_MAX: usize = 128;

/// Why request authentication failed, before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("X-Nonce must be {NONCE_MIN}–{NONCE_MAX} characters of [A-Za-z0-9_-]")]
    BadNonce,
    #[error("X-Timestamp {ts} is {skew}s away from the node's clock (limit {max}s)")]
    Skew { ts: Timestamp, skew: i64, max: i64 },
    #[error("request signature does not verify")]
    BadSignature,
}

/// Check a nonce's form.
pub fn check_nonce(nonce: &str) -> Result<(), SigningError> {
    let ok = (NONCE_MIN..=NONCE_MAX).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(SigningError::BadNonce) }
}

/// Check the request timestamp against the node clock.
pub fn check_skew(ts: Timestamp, now: Timestamp, max_skew: i64) -> Result<(), SigningError> {
    let skew = (ts.secs() - now.secs()).abs();
    if skew > max_skew { Err(SigningError::Skew { ts, skew, max: max_skew }) } else { Ok(()) }
}

/// The canonical request string of a request to a node of `society`.
pub fn canonical_request(
    society: &LctId,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    nonce: &str,
    timestamp: Timestamp,
    signer: &LctId,
) -> String {
    format!(
        "{SCHEME}\n{society}\n{}\n{path_and_query}\n{}\n{nonce}\n{timestamp}\n{signer}",
        method.to_ascii_uppercase(),
        sha256(body).hex()
    )
}

/// A signed request, kept as evidence inside the ledger record it caused so a
/// peer can re-verify who asked for the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    pub method: String,
    pub path: String,
    /// The raw request body (UTF-8 JSON).
    pub body: String,
    pub nonce: String,
    pub timestamp: Timestamp,
    pub signer: LctId,
    pub signature: Signature,
}

impl SignedRequest {
    /// Sign a request to a node of `society` as `signer` with `sk`. (One
    /// argument per line of the canonical string, in its order.)
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        sk: &SecretKey,
        society: &LctId,
        signer: LctId,
        method: &str,
        path: &str,
        body: String,
        nonce: String,
        timestamp: Timestamp,
    ) -> Self {
        let canon = canonical_request(society, method, path, body.as_bytes(), &nonce, timestamp, &signer);
        let signature = sk.sign(canon.as_bytes());
        SignedRequest {
            method: method.to_ascii_uppercase(),
            path: path.into(),
            body,
            nonce,
            timestamp,
            signer,
            signature,
        }
    }

    /// The canonical string this request's signature covers, sent to a
    /// node of `society`.
    pub fn canonical(&self, society: &LctId) -> String {
        canonical_request(
            society,
            &self.method,
            &self.path,
            self.body.as_bytes(),
            &self.nonce,
            self.timestamp,
            &self.signer,
        )
    }

    /// The id a node gives what this request creates (`deleg:…`, `alloc:…`):
    /// derived from its signature, so one request creates one object, and a
    /// peer can derive it again from the request a record carries.
    pub fn derived_id(&self, prefix: &str) -> String {
        format!("{prefix}:{}", &crate::sha256(self.signature.to_string().as_bytes()).hex()[..24])
    }

    /// Verify the signature with the signer's key, for a request to `society`.
    pub fn verify(&self, pk: &PublicKey, society: &LctId) -> Result<(), SigningError> {
        pk.verify(self.canonical(society).as_bytes(), &self.signature).map_err(|_| SigningError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_layout() {
        let signer = LctId::parse("lct:web4:test").unwrap();
        let society = LctId::parse("lct:web4:society").unwrap();
        let s = canonical_request(&society, "post", "/v1/lct/mint?x=1", b"", "n0nce-0123456789", Timestamp(0), &signer);
        assert_eq!(
            s,
            "WEB4-REQUEST-V2\nlct:web4:society\nPOST\n/v1/lct/mint?x=1\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nn0nce-0123456789\n1970-01-01T00:00:00Z\nlct:web4:test"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let id = LctId::from_public_key(&sk.public_key());
        let (a, b) = (LctId::parse("lct:web4:society-a").unwrap(), LctId::parse("lct:web4:society-b").unwrap());
        let r = SignedRequest::sign(
            &sk,
            &a,
            id,
            "POST",
            "/v1/lct/mint",
            "{}".into(),
            "abcdefghijklmnop".into(),
            Timestamp(5),
        );
        assert!(r.verify(&sk.public_key(), &a).is_ok());
        assert_eq!(r.verify(&sk.public_key(), &b), Err(SigningError::BadSignature), "meant for society a only");
        let mut t = r.clone();
        t.body = "{ }".into();
        assert_eq!(t.verify(&sk.public_key(), &a), Err(SigningError::BadSignature));
        let mut t = r;
        t.path = "/v1/lct/mint?".into();
        assert_eq!(t.verify(&sk.public_key(), &a), Err(SigningError::BadSignature));
    }

    #[test]
    fn nonce_and_skew_bounds() {
        assert!(check_nonce("abcdefghijklmnop").is_ok());
        assert!(check_nonce("short").is_err());
        assert!(check_nonce("abcdefghijklmnop!").is_err());
        assert!(check_skew(Timestamp(1000), Timestamp(1300), 300).is_ok());
        assert!(check_skew(Timestamp(1000), Timestamp(1301), 300).is_err());
    }

    /// The worked example of docs/api.md ("Worked example"): alice's key (RFC 8032
    /// TEST 1 seed) self-mints its own LCT. Ed25519 is deterministic, so every
    /// value below is fixed; a client in another language must reproduce them.
    #[test]
    fn worked_example_is_pinned() {
        use crate::api::MintRequest;
        use crate::crypto::decode_hex;
        use crate::lct::{Binding, EntityType};

        let seed: [u8; 32] = decode_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .and_then(|v| v.try_into().ok())
            .unwrap();
        let sk = SecretKey::from_seed(&seed);
        let created_at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let binding = Binding::create(&sk, EntityType::Ai, created_at);
        let id = binding.lct_id();
        let req = MintRequest {
            entity_type: binding.entity_type,
            public_key: binding.public_key,
            created_at: binding.created_at,
            binding_proof: binding.binding_proof,
            lct_id: None,
            birth_context: None,
            witnesses: vec![],
            policy: None,
            hardware_anchor: None,
        };
        let body = serde_json::to_string(&req).unwrap();
        let nonce = "0123456789abcdef0123";
        let ts = Timestamp::parse("2026-01-01T00:00:05Z").unwrap();
        let society = LctId::parse("lct:web4:example-society").unwrap();
        let r = SignedRequest::sign(&sk, &society, id.clone(), "POST", "/v1/lct/mint", body.clone(), nonce.into(), ts);

        assert_eq!(sk.public_key().to_string(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(id.as_str(), "lct:web4:mb32:beh7ddx5bksrgcytl7bkai36se4nxx3klnk7elksyq57pi74xeg4q");
        assert_eq!(
            body,
            r#"{"entity_type":"ai","public_key":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","created_at":"2026-01-01T00:00:00Z","binding_proof":"R6ob86Psa3YJwATJhmV3Ux-qpELkF12TrOPWd_xuLERMAs1IqTe9ZySxS7SaWl4x06SgN_YhBy74iXIxwtxEBQ"}"#
        );
        assert_eq!(sha256(body.as_bytes()).hex(), "18a9105674d6e5799f56c862c52eec68867c8db1b8c512114a3d6a4bdb7a17b2");
        assert_eq!(
            r.canonical(&society),
            "WEB4-REQUEST-V2\nlct:web4:example-society\nPOST\n/v1/lct/mint\n18a9105674d6e5799f56c862c52eec68867c8db1b8c512114a3d6a4bdb7a17b2\n0123456789abcdef0123\n2026-01-01T00:00:05Z\nlct:web4:mb32:beh7ddx5bksrgcytl7bkai36se4nxx3klnk7elksyq57pi74xeg4q"
        );
        assert_eq!(
            r.signature.to_string(),
            "zJ8Ba9v_eCJfLKhnzWYddS7p2clC8EIId1X5CZCtPoca2Jync3dJcYIKuV0HPms3FM91cgpOt5vC5aolhrB1Dg"
        );
        assert!(r.verify(&sk.public_key(), &society).is_ok());
    }
}
