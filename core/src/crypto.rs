//! Hashes, Ed25519 keys and signatures, and RFC 8785 canonical JSON.
//!
//! Wire encodings (documented in docs/api.md): hashes are `sha256:<64 lowercase
//! hex>`, public keys and signatures are unpadded base64url.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256, Sha512};
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
    // Straight from the type when it can promise the same bytes (no NaN or
    // Infinity on that path either); otherwise through a `Value`.
    let mut out = Vec::with_capacity(512);
    if crate::jcs::typed::write(value, None, &mut out).is_ok() {
        return Ok(out);
    }
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
    /// Ed25519 verification with the cofactored equation (RFC 8032 §5.1.7,
    /// decisions/0021): `S` canonical, `R` canonically encoded, neither `A`
    /// nor `R` of small order, and `[8][S]B = [8]R + [8][k]A`. Accepts exactly
    /// what [`verify_batch`] accepts.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        let p = Prepared::new(msg, sig, self).ok_or(CryptoError::BadSignature)?;
        let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-p.a, &p.s);
        if (p.r - expected).mul_by_cofactor().is_identity() { Ok(()) } else { Err(CryptoError::BadSignature) }
    }
}

/// One signature's parsed parts: `R`, `S`, `A` and `k = H(R || A || M)`.
struct Prepared {
    r: EdwardsPoint,
    s: Scalar,
    a: EdwardsPoint,
    k: Scalar,
}

impl Prepared {
    fn new(msg: &[u8], sig: &Signature, pk: &PublicKey) -> Option<Prepared> {
        let (r_bytes, s_bytes) = sig.0.split_at(32);
        let r_bytes: [u8; 32] = r_bytes.try_into().ok()?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes.try_into().ok()?))?;
        if !canonical_point_encoding(&r_bytes) {
            return None;
        }
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        let a = pk.0.to_edwards();
        if r.is_small_order() || a.is_small_order() {
            return None;
        }
        Some(Prepared { r, s, a, k: challenge(&r_bytes, pk.0.as_bytes(), msg) })
    }
}

/// `k = SHA-512(R || A || M) mod L`.
fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    let h: [u8; 64] = Sha512::new().chain_update(r).chain_update(a).chain_update(msg).finalize().into();
    Scalar::from_bytes_mod_order_wide(&h)
}

/// Whether a compressed Edwards point's `y` is below the field prime
/// `2^255 - 19` (the sign bit is not part of `y`).
fn canonical_point_encoding(b: &[u8; 32]) -> bool {
    !(b[31] & 0x7f == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

/// Verify many signatures at once: `Ok` when every one of them passes
/// [`PublicKey::verify`], and only then (decisions/0021). One multiscalar
/// multiplication with random 128-bit weights replaces one double-scalar
/// multiplication per signature; the weights are derived from every input
/// (signatures, keys, message hashes), so no signer can choose them, and the
/// cofactor is cleared, so the result does not depend on them for any
/// signature that verifies on its own. An empty batch verifies.
pub fn verify_batch(items: &[(&[u8], &Signature, &PublicKey)]) -> Result<(), CryptoError> {
    match items {
        [] => return Ok(()),
        [(m, s, pk)] => return pk.verify(m, s),
        _ => {}
    }
    let prepared = items
        .iter()
        .map(|(m, s, pk)| Prepared::new(m, s, pk))
        .collect::<Option<Vec<_>>>()
        .ok_or(CryptoError::BadSignature)?;
    let mut transcript =
        Sha512::new().chain_update(b"web4-ed25519-batch-v1").chain_update((items.len() as u64).to_le_bytes());
    for ((_, sig, pk), p) in items.iter().zip(&prepared) {
        transcript.update(sig.0);
        transcript.update(pk.0.as_bytes());
        transcript.update(p.k.as_bytes());
    }
    let seed: [u8; 64] = transcript.finalize().into();
    let mut weights = Vec::with_capacity(prepared.len());
    for block in 0..prepared.len().div_ceil(4) {
        let out: [u8; 64] =
            Sha512::new().chain_update(seed).chain_update((block as u64).to_le_bytes()).finalize().into();
        for chunk in out.chunks_exact(16) {
            let mut w = [0u8; 16];
            w.copy_from_slice(chunk);
            weights.push(Scalar::from(u128::from_le_bytes(w).max(1)));
        }
    }
    weights.truncate(prepared.len());
    let b_coefficient: Scalar = prepared.iter().zip(&weights).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(-b_coefficient)
        .chain(weights.iter().copied())
        .chain(prepared.iter().zip(&weights).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| p.r))
        .chain(prepared.iter().map(|p| p.a));
    let sum = EdwardsPoint::vartime_multiscalar_mul(scalars, points);
    if sum.mul_by_cofactor().is_identity() { Ok(()) } else { Err(CryptoError::BadSignature) }
}

/// Verify many signatures and report each one: one batch when all of them
/// verify (the common case), otherwise each on its own.
pub fn verify_each(items: &[(&[u8], &Signature, &PublicKey)]) -> Vec<Result<(), CryptoError>> {
    if verify_batch(items).is_ok() {
        return vec![Ok(()); items.len()];
    }
    items.iter().map(|(m, s, pk)| pk.verify(m, s)).collect()
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

impl SecretKey {
    /// The key in the form that signs with nonces made in advance
    /// ([`PresignKey`]). `session` should differ for every process start
    /// (the daemon hashes its pid, the start time and OS entropy): it enters
    /// every nonce this key makes.
    pub fn presign_key(&self, session: [u8; 32]) -> PresignKey {
        let mut h: [u8; 64] = Sha512::digest(self.0.to_bytes()).into();
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&h[32..]);
        zeroize::Zeroize::zeroize(&mut h);
        PresignKey {
            a: self.0.to_scalar(),
            prefix,
            public: self.0.verifying_key().to_bytes(),
            session,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// An Ed25519 key that signs with a nonce made before the message is known
/// (decisions/0023). Standard Ed25519 derives the nonce `r` from the message,
/// so its costly part, `R = r·B`, can only start once the message exists;
/// here `r` comes from fresh entropy hashed with the key's secret prefix and
/// a counter, and `R` is computed ahead (on another thread), so signing a
/// known message costs one SHA-512 and a scalar multiply-add. The signature
/// is an ordinary Ed25519 signature: every verifier accepts it unchanged.
/// What it gives up is determinism: signing the same message twice gives two
/// different valid signatures. Each [`Nonce`] is consumed by the signature
/// that uses it (it is neither `Clone` nor `Copy`) and wiped when dropped
/// (best effort: moves leave copies on the stack).
pub struct PresignKey {
    a: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
    session: [u8; 32],
    /// Nonces made by this key so far; enters every nonce.
    counter: std::sync::atomic::AtomicU64,
}

/// A one-time signing nonce `r` with `R = r·B`, for one [`PresignKey`].
pub struct Nonce {
    r: Scalar,
    big_r: [u8; 32],
    public: [u8; 32],
}

impl PresignKey {
    /// A fresh nonce:
    /// `r = SHA-512(tag ‖ secret prefix ‖ session ‖ counter ‖ entropy) mod L`.
    /// `entropy` must come from the operating system's CSPRNG. The secret
    /// prefix keeps `r` unpredictable even if it did not; the key's own
    /// counter (never repeated by one key) and its session value (one per
    /// process start) keep two nonces apart even if the entropy repeated.
    pub fn nonce(&self, entropy: &[u8; 32]) -> Nonce {
        let r = self.nonce_scalar(entropy);
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        Nonce { r, big_r, public: self.public }
    }

    /// One nonce per `entropy` value, each made as [`PresignKey::nonce`]
    /// makes one, and the same nonces that as many calls of it would give.
    /// Cheaper per nonce: the points `r·B` are compressed with one field
    /// inversion for the whole batch (64 nonces: about 12 instead of 16 µs
    /// each). Larger constant-time base-point tables (radix 32, 64 and 256)
    /// were measured and were no faster: each lookup scans a whole row.
    pub fn nonces(&self, entropy: &[[u8; 32]]) -> Vec<Nonce> {
        let mut rs: Vec<Scalar> = entropy.iter().map(|e| self.nonce_scalar(e)).collect();
        let points: Vec<EdwardsPoint> = rs.iter().map(EdwardsPoint::mul_base).collect();
        let compressed = EdwardsPoint::compress_batch_alloc(&points);
        let nonces = rs
            .iter()
            .zip(compressed)
            .map(|(&r, big_r)| Nonce { r, big_r: big_r.to_bytes(), public: self.public })
            .collect();
        // The scalars now live in the nonces (wiped when they are dropped).
        zeroize::Zeroize::zeroize(&mut rs);
        nonces
    }

    /// `r = SHA-512(tag ‖ secret prefix ‖ session ‖ counter ‖ entropy) mod L`,
    /// taking the key's next counter value.
    fn nonce_scalar(&self, entropy: &[u8; 32]) -> Scalar {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut h: [u8; 64] = Sha512::new()
            .chain_update(b"web4-ed25519-presign-nonce-v1")
            .chain_update(self.prefix)
            .chain_update(self.session)
            .chain_update(n.to_le_bytes())
            .chain_update(entropy)
            .finalize()
            .into();
        let r = Scalar::from_bytes_mod_order_wide(&h);
        zeroize::Zeroize::zeroize(&mut h);
        r
    }

    /// Sign `msg` with `nonce`: `s = r + SHA-512(R ‖ A ‖ M)·a mod L`. A nonce
    /// made for another key is not used: the message is then signed the
    /// standard (deterministic) way, which is as valid.
    pub fn sign(&self, nonce: Nonce, msg: &[u8]) -> Signature {
        if nonce.public != self.public {
            return self.sign_deterministic(msg);
        }
        let k = challenge(&nonce.big_r, &self.public, msg);
        let s = k * self.a + nonce.r;
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&nonce.big_r);
        out[32..].copy_from_slice(s.as_bytes());
        Signature(out)
    }

    /// RFC 8032 signing (the nonce derived from the message).
    pub fn sign_deterministic(&self, msg: &[u8]) -> Signature {
        let h: [u8; 64] = Sha512::new().chain_update(self.prefix).chain_update(msg).finalize().into();
        let r = Scalar::from_bytes_mod_order_wide(&h);
        let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
        self.sign(Nonce { r, big_r, public: self.public }, msg)
    }
}

impl Nonce {
    /// A nonce that signs nothing (it belongs to no key, so [`PresignKey::sign`]
    /// does not use it): what a pool leaves in a slot it has given away.
    pub fn empty() -> Nonce {
        Nonce { r: Scalar::ZERO, big_r: [0; 32], public: [0; 32] }
    }
}

impl Drop for PresignKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.a.zeroize();
        self.prefix.zeroize();
    }
}

impl Drop for Nonce {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.r.zeroize();
    }
}

impl fmt::Debug for PresignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresignKey(public={})", BASE64URL_NOPAD.encode(&self.public))
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(..)")
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
    fn presigned_signatures_verify_like_standard_ones() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let pk = sk.public_key();
        let psk = sk.presign_key([0; 32]);
        // The deterministic path is RFC 8032 exactly.
        for msg in [&b""[..], b"abc", &[0xa5; 1000]] {
            assert_eq!(psk.sign_deterministic(msg), sk.sign(msg));
        }
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes()).ok();
        for (i, msg) in [&b""[..], b"record header", &[0x5a; 700]].into_iter().enumerate() {
            let sig = psk.sign(psk.nonce(&[i as u8; 32]), msg);
            assert_ne!(sig, sk.sign(msg), "a presigned nonce is not the message-derived one");
            assert_eq!(pk.verify(msg, &sig), Ok(()));
            let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
            assert!(strict.is_some_and(|k| k.verify_strict(msg, &dalek_sig).is_ok()));
            assert_eq!(verify_batch(&[(msg, &sig, &pk), (b"x", &sk.sign(b"x"), &pk)]), Ok(()));
            assert_eq!(pk.verify(b"another message", &sig), Err(CryptoError::BadSignature));
        }
    }

    #[test]
    fn presign_nonces_differ_by_counter_session_and_key() {
        let sk = SecretKey::from_seed(&[1; 32]);
        let r = |n: Nonce| n.big_r;
        // Same entropy every time: the key's counter still changes the nonce.
        let psk = sk.presign_key([0; 32]);
        let first = r(psk.nonce(&[0; 32]));
        assert_ne!(first, r(psk.nonce(&[0; 32])));
        // A new key instance (a restart) with the same session and entropy
        // repeats its first nonce; another session does not.
        assert_eq!(first, r(sk.presign_key([0; 32]).nonce(&[0; 32])), "a nonce is a function of its inputs");
        assert_ne!(first, r(sk.presign_key([1; 32]).nonce(&[0; 32])));
        assert_ne!(first, r(sk.presign_key([0; 32]).nonce(&[1; 32])));
        let other = SecretKey::from_seed(&[2; 32]).presign_key([0; 32]);
        assert_ne!(first, r(other.nonce(&[0; 32])), "the secret prefix enters the nonce");
    }

    #[test]
    fn a_batch_of_nonces_is_the_nonces_made_one_by_one() {
        let sk = SecretKey::from_seed(&[5; 32]);
        let entropy: Vec<[u8; 32]> = (0..5u8).map(|i| [i.wrapping_mul(37); 32]).collect();
        // Two instances with the same session: their counters run alike.
        let (batch, single) = (sk.presign_key([2; 32]), sk.presign_key([2; 32]));
        let made = batch.nonces(&entropy);
        assert_eq!(made.len(), entropy.len());
        for (n, e) in made.iter().zip(&entropy) {
            let one = single.nonce(e);
            assert_eq!((n.r, n.big_r, n.public), (one.r, one.big_r, one.public));
        }
        // The counter moved past the batch: the next nonce is new.
        assert_ne!(batch.nonce(&entropy[0]).big_r, made[0].big_r);
        assert!(batch.nonces(&[]).is_empty());
        for (i, n) in batch.nonces(&entropy).into_iter().enumerate() {
            let msg = [i as u8; 40];
            assert_eq!(sk.public_key().verify(&msg, &batch.sign(n, &msg)), Ok(()));
        }
    }

    #[test]
    fn a_nonce_of_another_key_is_not_used() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let psk = sk.presign_key([0; 32]);
        let foreign = SecretKey::from_seed(&[4; 32]).presign_key([0; 32]).nonce(&[9; 32]);
        let sig = psk.sign(foreign, b"m");
        assert_eq!(sig, sk.sign(b"m"));
        assert_eq!(sk.public_key().verify(b"m", &sig), Ok(()));
        assert_eq!(psk.sign(Nonce::empty(), b"m"), sk.sign(b"m"), "an empty slot signs the standard way");
    }

    #[test]
    fn hash_parse_rejects_wrong_forms() {
        let h = sha256(b"abc");
        assert_eq!(Hash::parse(&h.to_string()), Ok(h));
        assert!(Hash::parse(&h.hex()).is_err());
        assert!(Hash::parse(&format!("sha256:{}", h.hex().to_uppercase())).is_err());
        assert!(Hash::parse("sha256:abcd").is_err());
    }

    fn signed(seed: u8, msg: &[u8]) -> (PublicKey, Signature) {
        let sk = SecretKey::from_seed(&[seed; 32]);
        (sk.public_key(), sk.sign(msg))
    }

    fn strict(pk: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
        pk.0.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0)).is_ok()
    }

    /// A signature by `a` whose `R` carries an 8-torsion component `t`:
    /// valid under the cofactored equation, refused by the cofactorless one.
    fn torsioned(a: Scalar, t: usize, msg: &[u8]) -> (PublicKey, Signature) {
        let pk_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
        let pk = PublicKey::from_bytes(&pk_bytes).unwrap();
        let r = Scalar::from(12_345_678u64);
        let big_r = (EdwardsPoint::mul_base(&r) + curve25519_dalek::constants::EIGHT_TORSION[t]).compress();
        let s = r + challenge(big_r.as_bytes(), &pk_bytes, msg) * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        (pk, Signature(sig))
    }

    #[test]
    fn honest_signatures_verify_like_verify_strict() {
        for seed in 0..32u8 {
            let msg = vec![seed; usize::from(seed) * 7];
            let (pk, sig) = signed(seed, &msg);
            assert!(pk.verify(&msg, &sig).is_ok() && strict(&pk, &msg, &sig));
            let mut bad = sig;
            bad.0[usize::from(seed) % 64] ^= 1 << (seed % 8);
            assert_eq!(pk.verify(&msg, &bad).is_ok(), strict(&pk, &msg, &bad), "seed {seed}");
            assert!(pk.verify(&[&msg[..], b"x"].concat(), &sig).is_err());
        }
    }

    #[test]
    fn torsion_in_r_is_accepted_alike_by_single_and_batch() {
        let msg = b"torsion";
        for t in 1..8 {
            let (pk, sig) = torsioned(Scalar::from(987_654_321u64), t, msg);
            assert!(!strict(&pk, msg, &sig), "the cofactorless equation refuses it");
            assert!(pk.verify(msg, &sig).is_ok(), "t = {t}");
            let (pk2, sig2) = signed(1, b"other");
            // Deterministic: the result does not depend on the batch weights.
            assert!(verify_batch(&[(msg, &sig, &pk), (b"other", &sig2, &pk2)]).is_ok());
            assert!(verify_batch(&[(msg, &sig, &pk), (msg, &sig, &pk)]).is_ok());
        }
    }

    #[test]
    fn malformed_signatures_are_refused_by_both_paths() {
        let msg = b"m";
        let (pk, sig) = signed(3, msg);
        let (pk2, sig2) = signed(4, msg);
        // S not reduced: S + L.
        let mut unreduced = sig;
        let s = Scalar::from_canonical_bytes(sig.0[32..].try_into().unwrap()).unwrap();
        // The group order L, little-endian.
        let l_bytes = decode_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
        let mut carry = 0u16;
        for ((out, a), b) in unreduced.0[32..].iter_mut().zip(s.as_bytes()).zip(&l_bytes) {
            let v = u16::from(*a) + u16::from(*b) + carry;
            *out = v as u8;
            carry = v >> 8;
        }
        // R of small order (the identity), and R not canonically encoded.
        let mut small_r = sig;
        small_r.0[..32].copy_from_slice(&EdwardsPoint::default().compress().to_bytes());
        let mut noncanonical_r = sig;
        noncanonical_r.0[0] = 0xee;
        noncanonical_r.0[1..31].fill(0xff);
        noncanonical_r.0[31] = 0x7f;
        for bad in [unreduced, small_r, noncanonical_r] {
            assert_eq!(pk.verify(msg, &bad), Err(CryptoError::BadSignature));
            assert!(verify_batch(&[(msg, &bad, &pk), (msg, &sig2, &pk2)]).is_err());
        }
        assert!(!canonical_point_encoding(&noncanonical_r.0[..32].try_into().unwrap()));
        assert!(canonical_point_encoding(&sig.0[..32].try_into().unwrap()));
    }

    #[test]
    fn a_batch_verifies_only_when_every_member_does() {
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10]).collect();
        let signed_all: Vec<(PublicKey, Signature)> = (0..40u8).map(|i| signed(i, &msgs[usize::from(i)])).collect();
        let items: Vec<(&[u8], &Signature, &PublicKey)> =
            msgs.iter().zip(&signed_all).map(|(m, (pk, s))| (&m[..], s, pk)).collect();
        assert!(verify_batch(&items).is_ok());
        assert!(verify_batch(&[]).is_ok());
        for bad_at in [0, 17, 39] {
            let mut tampered = items.clone();
            tampered[bad_at].0 = b"forged";
            assert!(verify_batch(&tampered).is_err());
            let each = verify_each(&tampered);
            let failed: Vec<usize> = each.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
            assert_eq!(failed, vec![bad_at]);
            // Another signer's key under a valid signature is refused too.
            let mut swapped = items.clone();
            swapped[bad_at].2 = items[(bad_at + 1) % 40].2;
            assert!(verify_batch(&swapped).is_err());
        }
        assert!(verify_each(&items).iter().all(Result::is_ok));
    }

    #[test]
    fn signature_and_key_lengths_are_checked() {
        assert!(matches!(PublicKey::parse("AAAA"), Err(CryptoError::Length { .. })));
        assert!(matches!(Signature::parse("!!"), Err(CryptoError::Encoding { .. })));
    }
}
