//! Hashes, Ed25519 keys and signatures, and RFC 8785 canonical JSON.
//!
//! Wire encodings (documented in docs/api.md): hashes are `sha256:<64 lowercase
//! hex>`, public keys and signatures are unpadded base64url.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// Why canonicalisation failed (e.g. a non-finite float).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot canonicalise JSON: {0}")]
pub struct CanonError(String);

impl CanonError {
    /// An error with a message.
    pub fn from_message(m: String) -> Self {
        CanonError(m)
    }
}

/// Why a key, hash or signature could not be decoded or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{what}: not unpadded base64url")]
    Encoding { what: &'static str },
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length { what: &'static str, expected: usize, got: usize },
    #[error("public key is not a valid Ed25519 point")]
    BadPublicKey,
    #[error("hash must look like sha256:<64 lowercase hex digits>")]
    BadHash,
    #[error("signature does not verify")]
    BadSignature,
}

/// RFC 8785 (JCS) canonical bytes of any serialisable value.
///
/// Any NaN or ±Infinity, however deeply nested, is an error (RFC 8785 §3.2.2.3);
/// serde_jcs alone catches only a top-level one and writes nested ones as `null`.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonError> {
    value.serialize(crate::finite::Checker).map_err(|e| CanonError(e.to_string()))?;
    match serde_json::to_value(value) {
        Ok(v) => canonical_value(&v),
        Err(_) => serde_jcs::to_vec(value).map_err(|e| CanonError(e.to_string())),
    }
}

/// RFC 8785 canonical bytes of a JSON value (fast path, see `jcs`).
pub fn canonical_value(value: &serde_json::Value) -> Result<Vec<u8>, CanonError> {
    let mut out = Vec::with_capacity(512);
    match crate::jcs::write(value, &mut out) {
        Ok(()) => Ok(out),
        Err(crate::jcs::Slow::NonFinite) => {
            Err(CanonError("non-finite number (NaN or Infinity) cannot be canonicalised".into()))
        }
        Err(crate::jcs::Slow::Inexact) => Err(CanonError(
            "an integer beyond ±2^53 cannot be canonicalised exactly (RFC 8785 numbers are IEEE doubles)".into(),
        )),
        Err(crate::jcs::Slow::Fallback) => serde_jcs::to_vec(value).map_err(|e| CanonError(e.to_string())),
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Hash(Sha256::digest(bytes).into())
}

/// A SHA-256 digest, written `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used as `prev_hash` of the first record of a chain.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Parse `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        let hex = s.strip_prefix("sha256:").ok_or(CryptoError::BadHash)?;
        if hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(CryptoError::BadHash);
        }
        let bytes = HEXLOWER.decode(hex.as_bytes()).map_err(|_| CryptoError::BadHash)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadHash)?;
        Ok(Hash(arr))
    }

    /// Lowercase hex without prefix.
    pub fn hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}
impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn decode_fixed<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], CryptoError> {
    let bytes = BASE64URL_NOPAD.decode(s.as_bytes()).map_err(|_| CryptoError::Encoding { what })?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| CryptoError::Length { what, expected: N, got })
}

/// An Ed25519 public key (32 bytes, unpadded base64url on the wire).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Decode from unpadded base64url.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        Self::from_bytes(&decode_fixed::<32>(s, "public_key")?)
    }
    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        VerifyingKey::from_bytes(bytes).map(PublicKey).map_err(|_| CryptoError::BadPublicKey)
    }
    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// Strict Ed25519 verification (rejects small-order keys and malleable signatures).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0.verify_strict(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(self.0.as_bytes()))
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}
impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PublicKey::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signing key. Never serialised; `Debug` does not print it.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// From a 32-byte seed (RFC 8032 "private key").
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }
    /// The 32-byte seed, for writing the key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
    /// Sign `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public={})", self.public_key())
    }
}

/// An Ed25519 signature (64 bytes, unpadded base64url on the wire).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Decode from unpadded base64url.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        decode_fixed::<64>(s, "signature").map(Signature)
    }
}
impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Signature::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Decode lowercase or uppercase hex (used by tests and the CLI for seeds).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test1_signature() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let seed: [u8; 32] = decode_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .and_then(|v| v.try_into().ok())
            .unwrap_or([0; 32]);
        let sk = SecretKey::from_seed(&seed);
        let sig = sk.sign(b"");
        assert_eq!(
            HEXLOWER.encode(&sig.0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(sk.public_key().verify(b"", &sig).is_ok());
        assert_eq!(sk.public_key().verify(b"x", &sig), Err(CryptoError::BadSignature));
    }

    #[test]
    fn hash_parse_rejects_wrong_forms() {
        let h = sha256(b"abc");
        assert_eq!(Hash::parse(&h.to_string()), Ok(h));
        assert!(Hash::parse(&h.hex()).is_err());
        assert!(Hash::parse(&format!("sha256:{}", h.hex().to_uppercase())).is_err());
        assert!(Hash::parse("sha256:abcd").is_err());
    }

    #[test]
    fn signature_and_key_lengths_are_checked() {
        assert!(matches!(PublicKey::parse("AAAA"), Err(CryptoError::Length { .. })));
        assert!(matches!(Signature::parse("!!"), Err(CryptoError::Encoding { .. })));
    }
}
