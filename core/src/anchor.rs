//! Hardware anchors: a TPM 2.0 quote that endorses an LCT's Ed25519 key
//! (docs/decisions/0015).
//!
//! TPM 2.0 has no Ed25519, so the node's Ed25519 key is endorsed by a
//! TPM-resident ECDSA P-256 attestation key (AK): the AK signs a `TPM2_Quote`
//! whose qualifying data is the digest of [`anchor_message`] (LCT id, Ed25519
//! key, fresh nonce, time) and whose PCR digest covers the reported PCR values.
//! A restricted AK only signs structures the TPM itself produced (they start
//! with `TPM_GENERATED_VALUE`), so the quote is the TPM's statement, not
//! arbitrary data signed by a key.
//!
//! Verification here is pure (no TPM): structure, AK attributes and name,
//! magic, type, qualifying data, PCR digest and the ECDSA signature. Whether an
//! AK lives in a genuine TPM is the EK certificate's job ([`HardwareAnchor::ek_certificate`]),
//! checked by operators against the manufacturer's CA.

use crate::crypto::{Hash, PublicKey, sha256};
use crate::id::LctId;
use crate::time::Timestamp;
use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `type` of a TPM 2.0 quote anchor.
pub const TPM2_QUOTE: &str = "tpm2-quote-v1";
/// Capability level of an LCT whose key is endorsed by a verified hardware anchor.
pub const LEVEL_HARDWARE: u8 = 5;
/// Capability level of a fully bound LCT with a software key.
pub const LEVEL_SOFTWARE: u8 = 4;
/// Trust ceilings (spec digest §1): software-only keys, TPM 2.0 keys.
pub const CEILING_SOFTWARE: f64 = 0.40;
pub const CEILING_TPM2: f64 = 0.75;
/// The only PCR bank we quote.
pub const PCR_BANK: &str = "sha256";

const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ALG_SHA256: u16 = 0x000b;
const TPM_ALG_ECDSA: u16 = 0x0018;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ECC_NIST_P256: u16 = 0x0003;
const ATTR_FIXED_TPM: u32 = 1 << 1;
const ATTR_FIXED_PARENT: u32 = 1 << 4;
const ATTR_SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
const ATTR_RESTRICTED: u32 = 1 << 16;
const ATTR_DECRYPT: u32 = 1 << 17;
const ATTR_SIGN: u32 = 1 << 18;

/// The anchor as carried in `binding.hardware_anchor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareAnchor {
    /// [`TPM2_QUOTE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The AK's `TPMT_PUBLIC`, base64.
    pub ak_public: String,
    /// The quote's `TPMS_ATTEST`, base64.
    pub quote: String,
    /// ECDSA P-256 signature over SHA-256 of the quote: `r || s`, hex (64 bytes).
    pub signature: String,
    /// PCR bank of the quote ([`PCR_BANK`]).
    pub pcr_bank: String,
    /// Quoted PCR values by index, hex.
    pub pcrs: BTreeMap<u8, String>,
    /// 32 random bytes chosen when the anchor was made, base64url.
    pub nonce: String,
    /// When the anchor was made.
    pub anchored_at: Timestamp,
    /// The TPM's EK certificate (DER, base64) when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ek_certificate: Option<String>,
    /// Informational: TPM manufacturer and firmware as the TPM reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<TpmInfo>,
}

/// What the TPM says it is (not verified; for operators).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TpmInfo {
    pub manufacturer: String,
    pub firmware: String,
}

/// Why an anchor does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("hardware_anchor: {0}")]
    Format(String),
    #[error("hardware_anchor: attestation key {0}")]
    AttestationKey(String),
    #[error("hardware_anchor: quote {0}")]
    Quote(String),
    #[error("hardware_anchor: the quote does not endorse this LCT's key (qualifying data differs)")]
    Foreign,
    #[error("hardware_anchor: the reported PCR values do not match the quoted PCR digest")]
    PcrMismatch,
    #[error("hardware_anchor: the quote's signature does not verify with the attestation key")]
    Signature,
}

/// What a verified anchor establishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchorReport {
    /// The AK's TPM name (`000b` || SHA-256 of its `TPMT_PUBLIC`), hex.
    pub ak_name: String,
    /// The AK's qualified name as the quote states it, hex.
    pub qualified_signer: String,
    /// TPM clock (ms), reset and restart counts when quoted.
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    /// Quoted PCR indices.
    pub pcrs: Vec<u8>,
    pub ek_certificate: bool,
}

/// The domain-separated message whose SHA-256 is the quote's qualifying data.
pub fn anchor_message(lct_id: &LctId, public_key: &PublicKey, nonce: &str, at: Timestamp) -> Vec<u8> {
    format!("web4:lct:hardware-anchor:v1\n{lct_id}\n{public_key}\n{nonce}\n{at}").into_bytes()
}

/// SHA-256 over the concatenated PCR values in index order (the quote's `pcrDigest`).
pub fn pcr_digest<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Hash {
    let mut all = Vec::new();
    for v in values {
        all.extend_from_slice(v);
    }
    sha256(&all)
}

/// A big-endian reader over TPM marshalled bytes.
struct Reader<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err(format!("{} is truncated", self.what));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }
    /// A TPM2B: u16 size then bytes.
    fn sized(&mut self) -> Result<&'a [u8], String> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// The parts of an ECC signing key's `TPMT_PUBLIC` we check.
struct AkPublic {
    attributes: u32,
    x: Vec<u8>,
    y: Vec<u8>,
}

fn parse_ak(b: &[u8]) -> Result<AkPublic, String> {
    let mut r = Reader { b, what: "TPMT_PUBLIC" };
    if r.u16()? != TPM_ALG_ECC {
        return Err("is not an ECC key".into());
    }
    if r.u16()? != TPM_ALG_SHA256 {
        return Err("name algorithm is not SHA-256".into());
    }
    let attributes = r.u32()?;
    r.sized()?; // authPolicy
    if r.u16()? != TPM_ALG_NULL {
        return Err("is a storage key (has a symmetric algorithm)".into());
    }
    if r.u16()? != TPM_ALG_ECDSA || r.u16()? != TPM_ALG_SHA256 {
        return Err("scheme is not ECDSA with SHA-256".into());
    }
    if r.u16()? != TPM_ECC_NIST_P256 {
        return Err("curve is not NIST P-256".into());
    }
    if r.u16()? != TPM_ALG_NULL {
        return Err("has a KDF scheme".into());
    }
    let x = r.sized()?.to_vec();
    let y = r.sized()?.to_vec();
    if !r.b.is_empty() {
        return Err("has trailing bytes".into());
    }
    Ok(AkPublic { attributes, x, y })
}

struct Quote<'a> {
    signer: &'a [u8],
    extra: &'a [u8],
    clock: u64,
    reset_count: u32,
    restart_count: u32,
    selection: Vec<(u16, Vec<u8>)>,
    pcr_digest: &'a [u8],
}

fn parse_quote(b: &[u8]) -> Result<Quote<'_>, String> {
    let mut r = Reader { b, what: "TPMS_ATTEST" };
    if r.u32()? != TPM_GENERATED_VALUE {
        return Err("was not generated by a TPM (magic)".into());
    }
    if r.u16()? != TPM_ST_ATTEST_QUOTE {
        return Err("is not a quote (attestation type)".into());
    }
    let signer = r.sized()?;
    let extra = r.sized()?;
    let clock = r.u64()?;
    let reset_count = r.u32()?;
    let restart_count = r.u32()?;
    r.u8()?; // safe
    r.u64()?; // firmwareVersion
    let count = r.u32()?;
    if count > 16 {
        return Err("selects too many PCR banks".into());
    }
    let mut selection = Vec::new();
    for _ in 0..count {
        let hash = r.u16()?;
        let n = r.u8()?;
        selection.push((hash, r.take(usize::from(n))?.to_vec()));
    }
    let pcr_digest = r.sized()?;
    if !r.b.is_empty() {
        return Err("has trailing bytes".into());
    }
    Ok(Quote { signer, extra, clock, reset_count, restart_count, selection, pcr_digest })
}

/// PCR indices selected by a `pcrSelect` bitmap.
fn selected(bitmap: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (byte, bits) in bitmap.iter().enumerate() {
        for bit in 0..8u8 {
            if bits & (1 << bit) != 0 {
                out.push(u8::try_from(byte * 8).unwrap_or(u8::MAX).saturating_add(bit));
            }
        }
    }
    out
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, AnchorError> {
    BASE64.decode(s.as_bytes()).map_err(|_| AnchorError::Format(format!("{field}: not base64")))
}

impl HardwareAnchor {
    /// Read an anchor from a binding's JSON value.
    pub fn from_value(v: &serde_json::Value) -> Result<HardwareAnchor, AnchorError> {
        serde_json::from_value(v.clone()).map_err(|e| AnchorError::Format(e.to_string()))
    }

    /// The qualifying data this anchor's quote must carry for `lct_id` and `public_key`.
    pub fn qualifying_data(&self, lct_id: &LctId, public_key: &PublicKey) -> Hash {
        sha256(&anchor_message(lct_id, public_key, &self.nonce, self.anchored_at))
    }

    /// Verify that this anchor endorses `public_key` for `lct_id`.
    pub fn verify(&self, lct_id: &LctId, public_key: &PublicKey) -> Result<AnchorReport, AnchorError> {
        if self.kind != TPM2_QUOTE {
            return Err(AnchorError::Format(format!("type {:?} is not {TPM2_QUOTE:?}", self.kind)));
        }
        if self.pcr_bank != PCR_BANK {
            return Err(AnchorError::Format(format!("pcr_bank {:?} is not {PCR_BANK:?}", self.pcr_bank)));
        }
        let nonce = BASE64URL_NOPAD
            .decode(self.nonce.as_bytes())
            .map_err(|_| AnchorError::Format("nonce: not unpadded base64url".into()))?;
        if nonce.len() < 16 {
            return Err(AnchorError::Format("nonce: fewer than 16 bytes".into()));
        }
        let ak_bytes = b64("ak_public", &self.ak_public)?;
        let ak = parse_ak(&ak_bytes).map_err(AnchorError::AttestationKey)?;
        let required = ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN | ATTR_RESTRICTED | ATTR_SIGN;
        if ak.attributes & required != required || ak.attributes & ATTR_DECRYPT != 0 {
            return Err(AnchorError::AttestationKey(
                "is not a TPM-generated restricted signing key (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign)"
                    .into(),
            ));
        }
        let mut name = TPM_ALG_SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&sha256(&ak_bytes).0);
        let quote_bytes = b64("quote", &self.quote)?;
        let q = parse_quote(&quote_bytes).map_err(AnchorError::Quote)?;
        // `qualifiedSigner` is the AK's qualified name (it folds in the parent
        // chain), so it is reported, not compared: the signature check below is
        // what ties the quote to `ak_public`.
        if q.extra != self.qualifying_data(lct_id, public_key).0.as_slice() {
            return Err(AnchorError::Foreign);
        }
        // One SHA-256 bank; the listed PCRs are exactly the selected ones.
        let [(hash, bitmap)] = q.selection.as_slice() else {
            return Err(AnchorError::Quote("must select exactly one PCR bank".into()));
        };
        if *hash != TPM_ALG_SHA256 {
            return Err(AnchorError::Quote("PCR bank is not SHA-256".into()));
        }
        let indices = selected(bitmap);
        if indices != self.pcrs.keys().copied().collect::<Vec<_>>() {
            return Err(AnchorError::PcrMismatch);
        }
        let mut values = Vec::with_capacity(self.pcrs.len());
        for v in self.pcrs.values() {
            let b = HEXLOWER
                .decode(v.as_bytes())
                .map_err(|_| AnchorError::Format("pcrs: values must be lowercase hex".into()))?;
            if b.len() != 32 {
                return Err(AnchorError::Format("pcrs: SHA-256 values are 32 bytes".into()));
            }
            values.push(b);
        }
        if pcr_digest(values.iter().map(Vec::as_slice)).0.as_slice() != q.pcr_digest {
            return Err(AnchorError::PcrMismatch);
        }
        let sig = HEXLOWER
            .decode(self.signature.as_bytes())
            .map_err(|_| AnchorError::Format("signature: not lowercase hex".into()))?;
        verify_p256(&ak.x, &ak.y, &sha256(&quote_bytes).0, &sig)?;
        Ok(AnchorReport {
            ak_name: HEXLOWER.encode(&name),
            qualified_signer: HEXLOWER.encode(q.signer),
            clock: q.clock,
            reset_count: q.reset_count,
            restart_count: q.restart_count,
            pcrs: indices,
            ek_certificate: self.ek_certificate.is_some(),
        })
    }
}

/// Left-pad a big-endian integer to 32 bytes (TPMs may drop leading zeros).
fn pad32(b: &[u8]) -> Option<[u8; 32]> {
    let b = &b[b.iter().take_while(|&&x| x == 0).count().min(b.len())..];
    if b.len() > 32 {
        return None;
    }
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(b);
    Some(out)
}

fn verify_p256(x: &[u8], y: &[u8], digest: &[u8; 32], sig: &[u8]) -> Result<(), AnchorError> {
    let (Some(x), Some(y)) = (pad32(x), pad32(y)) else {
        return Err(AnchorError::AttestationKey("point coordinates exceed 32 bytes".into()));
    };
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(4u8);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| AnchorError::AttestationKey("is not a point on P-256".into()))?;
    if sig.len() != 64 {
        return Err(AnchorError::Format("signature: r || s must be 64 bytes".into()));
    }
    let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| AnchorError::Signature)?;
    key.verify_prehash(digest, &sig).map_err(|_| AnchorError::Signature)
}

/// Marshal a `TPMS_ATTEST` quote and an ECC AK `TPMT_PUBLIC` (tests and tools
/// that build anchors without a TPM, e.g. to show that a software key cannot
/// pass for a TPM: see the tests).
pub mod build {
    use super::*;

    /// An ECDSA P-256 AK's `TPMT_PUBLIC` with `attributes`.
    pub fn ak_public(attributes: u32, x: &[u8; 32], y: &[u8; 32]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [TPM_ALG_ECC, TPM_ALG_SHA256] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        for v in [TPM_ALG_NULL, TPM_ALG_ECDSA, TPM_ALG_SHA256, TPM_ECC_NIST_P256, TPM_ALG_NULL] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for c in [x, y] {
            b.extend_from_slice(&32u16.to_be_bytes());
            b.extend_from_slice(c);
        }
        b
    }

    /// The attributes of a well-formed AK.
    pub const AK_ATTRIBUTES: u32 =
        ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN | ATTR_RESTRICTED | ATTR_SIGN;

    /// A `TPMS_ATTEST` quote by the key named `signer` over `pcrs` (SHA-256 bank).
    pub fn quote(signer: &[u8], extra: &[u8], pcrs: &[u8], digest: &Hash) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
        b.extend_from_slice(&TPM_ST_ATTEST_QUOTE.to_be_bytes());
        for s in [signer, extra] {
            b.extend_from_slice(&u16::try_from(s.len()).unwrap_or(0).to_be_bytes());
            b.extend_from_slice(s);
        }
        b.extend_from_slice(&7u64.to_be_bytes()); // clock
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 1]); // reset, restart, safe
        b.extend_from_slice(&0u64.to_be_bytes()); // firmware
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
        let mut bitmap = [0u8; 3];
        for &p in pcrs {
            if let Some(byte) = bitmap.get_mut(usize::from(p / 8)) {
                *byte |= 1 << (p % 8);
            }
        }
        b.push(3);
        b.extend_from_slice(&bitmap);
        b.extend_from_slice(&32u16.to_be_bytes());
        b.extend_from_slice(&digest.0);
        b
    }

    /// The TPM name of a `TPMT_PUBLIC`.
    pub fn name(public: &[u8]) -> Vec<u8> {
        let mut n = TPM_ALG_SHA256.to_be_bytes().to_vec();
        n.extend_from_slice(&sha256(public).0);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    /// An anchor built by a software P-256 key in the shape a TPM produces.
    fn anchor_for(lct: &LctId, pk: &PublicKey, ak: &SigningKey, attrs: u32) -> HardwareAnchor {
        let point = ak.verifying_key().to_sec1_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        let mut xb = [0u8; 32];
        xb.copy_from_slice(x);
        let mut yb = [0u8; 32];
        yb.copy_from_slice(y);
        let ak_pub = build::ak_public(attrs, &xb, &yb);
        let pcrs: BTreeMap<u8, String> =
            [(0u8, [0u8; 32]), (7, [7u8; 32])].into_iter().map(|(i, v)| (i, HEXLOWER.encode(&v))).collect();
        let digest = pcr_digest([[0u8; 32].as_slice(), [7u8; 32].as_slice()]);
        let mut a = HardwareAnchor {
            kind: TPM2_QUOTE.into(),
            ak_public: BASE64.encode(&ak_pub),
            quote: String::new(),
            signature: String::new(),
            pcr_bank: PCR_BANK.into(),
            pcrs,
            nonce: BASE64URL_NOPAD.encode(&[9u8; 32]),
            anchored_at: Timestamp::parse("2026-11-24T12:00:00Z").unwrap(),
            ek_certificate: None,
            tpm: None,
        };
        let q = build::quote(&build::name(&ak_pub), &a.qualifying_data(lct, pk).0, &[0, 7], &digest);
        let sig: p256::ecdsa::Signature = ak.sign_prehash(&sha256(&q).0).unwrap();
        a.quote = BASE64.encode(&q);
        a.signature = HEXLOWER.encode(&sig.to_bytes());
        a
    }

    fn fixture() -> (LctId, PublicKey, SigningKey) {
        let k = SecretKey::from_seed(&[1u8; 32]);
        let pk = k.public_key();
        let ak = SigningKey::from_slice(&[3u8; 32]).unwrap();
        (LctId::from_public_key(&pk), pk, ak)
    }

    #[test]
    fn a_well_formed_quote_verifies_and_reports_its_pcrs() {
        let (id, pk, ak) = fixture();
        let a = anchor_for(&id, &pk, &ak, build::AK_ATTRIBUTES);
        let r = a.verify(&id, &pk).unwrap();
        assert_eq!(r.pcrs, vec![0, 7]);
        assert_eq!(r.reset_count, 1);
        assert!(r.ak_name.starts_with("000b"));
    }

    #[test]
    fn tampering_with_any_part_is_refused() {
        let (id, pk, ak) = fixture();
        let good = anchor_for(&id, &pk, &ak, build::AK_ATTRIBUTES);
        let mut a = good.clone();
        a.pcrs.insert(7, HEXLOWER.encode(&[8u8; 32]));
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::PcrMismatch));
        let mut a = good.clone();
        a.nonce = BASE64URL_NOPAD.encode(&[10u8; 32]);
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::Foreign));
        let mut a = good.clone();
        a.anchored_at = Timestamp::parse("2026-11-24T12:00:01Z").unwrap();
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::Foreign));
        let mut a = good.clone();
        let mut q = BASE64.decode(a.quote.as_bytes()).unwrap_or_default();
        let n = q.len();
        q[n - 45] ^= 1; // firmware version byte: still well formed, signature no longer matches
        a.quote = BASE64.encode(&q);
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::Signature));
        let mut a = good.clone();
        a.signature = HEXLOWER.encode(&[1u8; 64]);
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::Signature));
        // Another AK's public key: the signature does not verify with it.
        let other = SigningKey::from_slice(&[4u8; 32]).unwrap();
        let mut a = good.clone();
        a.ak_public = anchor_for(&id, &pk, &other, build::AK_ATTRIBUTES).ak_public;
        assert_eq!(a.verify(&id, &pk), Err(AnchorError::Signature));
        let mut a = good;
        a.quote = "AAAA".into();
        assert!(matches!(a.verify(&id, &pk), Err(AnchorError::Quote(_))));
    }

    #[test]
    fn an_anchor_for_another_key_is_foreign() {
        let (id, pk, ak) = fixture();
        let a = anchor_for(&id, &pk, &ak, build::AK_ATTRIBUTES);
        let other = SecretKey::from_seed(&[2u8; 32]).public_key();
        assert_eq!(a.verify(&LctId::from_public_key(&other), &other), Err(AnchorError::Foreign));
    }

    #[test]
    fn an_unrestricted_or_decrypting_key_is_not_an_attestation_key() {
        let (id, pk, ak) = fixture();
        for attrs in [build::AK_ATTRIBUTES & !ATTR_RESTRICTED, build::AK_ATTRIBUTES | ATTR_DECRYPT] {
            let a = anchor_for(&id, &pk, &ak, attrs);
            assert!(matches!(a.verify(&id, &pk), Err(AnchorError::AttestationKey(_))));
        }
    }

    #[test]
    fn bitmap_selection_lists_indices_in_order() {
        assert_eq!(selected(&[0b1000_0001, 0, 0b0000_0010]), vec![0, 7, 17]);
        assert_eq!(pad32(&[0, 0, 5]).map(|a| a[31]), Some(5));
    }
}
