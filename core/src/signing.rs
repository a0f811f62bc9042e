//! Request signing: the canonical request string and its Ed25519 signature.
//!
//! ```text
//! WEB4-REQUEST-V1\n
//! <METHOD>\n
//! <path and query, exactly as sent>\n
//! <lowercase hex sha256 of the raw body bytes>\n
//! <X-Nonce>\n
//! <X-Timestamp>\n
//! <signer LCT id from Authorization: Bearer>
//! ```
//! (no trailing newline). docs/api.md is the normative description.

use crate::crypto::{sha256, PublicKey, SecretKey, Signature};
use crate::id::LctId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// First line of every canonical request string.
pub const SCHEME: &str = "WEB4-REQUEST-V1";
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

/// The canonical request string.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    nonce: &str,
    timestamp: Timestamp,
    signer: &LctId,
) -> String {
    format!(
        "{SCHEME}\n{}\n{path_and_query}\n{}\n{nonce}\n{timestamp}\n{signer}",
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
    /// Sign a request as `signer` with `sk`.
    pub fn sign(sk: &SecretKey, signer: LctId, method: &str, path: &str, body: String, nonce: String, timestamp: Timestamp) -> Self {
        let canon = canonical_request(method, path, body.as_bytes(), &nonce, timestamp, &signer);
        let signature = sk.sign(canon.as_bytes());
        SignedRequest { method: method.to_ascii_uppercase(), path: path.into(), body, nonce, timestamp, signer, signature }
    }

    /// The canonical string this request's signature covers.
    pub fn canonical(&self) -> String {
        canonical_request(&self.method, &self.path, self.body.as_bytes(), &self.nonce, self.timestamp, &self.signer)
    }

    /// Verify the signature with the signer's key.
    pub fn verify(&self, pk: &PublicKey) -> Result<(), SigningError> {
        pk.verify(self.canonical().as_bytes(), &self.signature)
            .map_err(|_| SigningError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_layout() {
        let signer = LctId::parse("lct:web4:test").unwrap();
        let s = canonical_request("post", "/v1/lct/mint?x=1", b"", "n0nce-0123456789", Timestamp(0), &signer);
        assert_eq!(
            s,
            "WEB4-REQUEST-V1\nPOST\n/v1/lct/mint?x=1\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nn0nce-0123456789\n1970-01-01T00:00:00Z\nlct:web4:test"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let id = LctId::from_public_key(&sk.public_key());
        let r = SignedRequest::sign(&sk, id, "POST", "/v1/lct/mint", "{}".into(), "abcdefghijklmnop".into(), Timestamp(5));
        assert!(r.verify(&sk.public_key()).is_ok());
        let mut t = r.clone();
        t.body = "{ }".into();
        assert_eq!(t.verify(&sk.public_key()), Err(SigningError::BadSignature));
        let mut t = r;
        t.path = "/v1/lct/mint?".into();
        assert_eq!(t.verify(&sk.public_key()), Err(SigningError::BadSignature));
    }

    #[test]
    fn nonce_and_skew_bounds() {
        assert!(check_nonce("abcdefghijklmnop").is_ok());
        assert!(check_nonce("short").is_err());
        assert!(check_nonce("abcdefghijklmnop!").is_err());
        assert!(check_skew(Timestamp(1000), Timestamp(1300), 300).is_ok());
        assert!(check_skew(Timestamp(1000), Timestamp(1301), 300).is_err());
    }
}
