//! TPM 2.0 backend (tss-esapi): seal the node's Ed25519 seed, endorse its
//! public key with a quote by a TPM-resident attestation key, report status.
//! docs/decisions/0015 explains the design; `core::anchor` verifies.
//!
//! Objects: a primary storage key (ECC P-256, the TCG SRK template, derived
//! from the owner seed on every start, never persisted), under it a sealed
//! data object holding the seed (optionally bound to a PCR policy) and an
//! ECDSA P-256 restricted signing key (the AK). Only the TPM-encrypted
//! private parts are kept on disk, in `keys/node.<id>.tpm.json`; they load in
//! this TPM only.

use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tss_esapi::abstraction::AsymmetricAlgorithmSelection;
use tss_esapi::abstraction::ek::retrieve_ek_pubcert;
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::constants::{PropertyTag, SessionType};
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Auth, Data, Digest, EccPoint, EccScheme, HashScheme, KeyedHashScheme, MaxBuffer, PcrSelectionList, PcrSlot,
    Private, Public, PublicBuilder, PublicEccParametersBuilder, PublicKeyedHashParameters, SensitiveData, Signature,
    SignatureScheme, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::{Context, Error as TssError};
use web4_core::anchor::{HardwareAnchor, PCR_BANK, TPM2_QUOTE, TpmInfo, anchor_message};
use web4_core::{LctId, PublicKey, SecretKey, Timestamp, sha256};

/// Default TCTI: the kernel's resource manager.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";
const SEALED_FORMAT: &str = "web4-tpm-sealed-v1";

/// How to reach and use the TPM (from the configuration).
#[derive(Debug, Clone)]
pub struct TpmSettings {
    pub tcti: String,
    /// PCRs (SHA-256 bank) the seed is sealed to; empty = no PCR policy.
    pub seal_pcrs: Vec<u8>,
    /// PCRs (SHA-256 bank) quoted in the hardware anchor.
    pub quote_pcrs: Vec<u8>,
    /// Owner hierarchy authorization, when the owner set one.
    pub owner_auth: Option<Vec<u8>>,
    /// Refuse to anchor without an EK certificate.
    pub require_ek_cert: bool,
}

/// A TPM failure, worded for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    #[error(
        "no TPM device at {path}: enable the TPM in the firmware setup (and load tpm_tis/tpm_crb), \
         point tpm_tcti at the right device, or use hsm_type = \"software\""
    )]
    NoDevice { path: String },
    #[error(
        "permission denied on {path}: run web4d as a member of the `tss` group (`usermod -aG tss web4`) \
         and make sure a udev rule gives that group the device, e.g. \
         KERNEL==\"tpmrm[0-9]*\", GROUP=\"tss\", MODE=\"0660\" (Debian's tpm-udev package ships it)"
    )]
    Permission { path: String },
    #[error("TPM unreachable at {tcti} ({detail}): is the TPM simulator (swtpm) or daemon running there?")]
    Unreachable { tcti: String, detail: String },
    #[error("tpm_tcti {tcti:?} is not a TCTI this build understands (device:PATH, swtpm:host=H,port=P, mssim:…)")]
    BadTcti { tcti: String },
    #[error(
        "{op}: bad authorization value for the owner hierarchy: set tpm_owner_auth_file to a file holding \
         the owner password (the one given to tpm2_changeauth -c owner), or clear it. Repeated failures \
         lead to dictionary-attack lockout"
    )]
    BadAuth { op: &'static str },
    #[error(
        "{op}: the TPM is in dictionary-attack lockout after too many authorization failures: wait for the \
         lockout interval to pass (tpm2_getcap properties-variable shows TPM2_PT_LOCKOUT_*), or clear it \
         with the lockout password: tpm2_dictionarylockout --clear-lockout"
    )]
    Lockout { op: &'static str },
    #[error(
        "the TPM has no EK certificate in NV (RSA 2048, ECC P-256 or P-384 index): peers cannot tell this TPM \
         from a simulator. Provision one (the platform vendor's tool, tpm2_getekcertificate, or \
         swtpm_setup --create-ek-cert for swtpm), or set tpm_require_ek_cert = false"
    )]
    NoEkCert,
    #[error(
        "unseal: the PCR policy is not satisfied: PCRs {pcrs:?} changed since the key was sealed \
         (firmware, boot loader or kernel update?). Boot the measured configuration again, or restore the \
         node from its ledger on a new key"
    )]
    PolicyFail { pcrs: Vec<u8> },
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("{path}: this sealed key was made by another TPM or was changed ({detail})")]
    ForeignBlob { path: String, detail: String },
    #[error("TPM {op}: {detail}")]
    Tpm { op: &'static str, detail: String },
}

fn tss(op: &'static str) -> impl Fn(TssError) -> TpmError {
    move |e| match e {
        TssError::Tss2Error(rc) => match rc.kind() {
            Some(Tss2ResponseCodeKind::Lockout) => TpmError::Lockout { op },
            Some(Tss2ResponseCodeKind::AuthFail | Tss2ResponseCodeKind::BadAuth) => TpmError::BadAuth { op },
            _ => TpmError::Tpm { op, detail: e.to_string() },
        },
        TssError::WrapperError(_) => TpmError::Tpm { op, detail: e.to_string() },
    }
}

/// Latencies of TPM operations, for metrics and `web4d tpm bench`.
#[derive(Debug, Default, Clone)]
pub struct Timings {
    pub ops: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn time<T>(&mut self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.ops.push((op, t.elapsed()));
        r
    }
}

/// An open TPM with our primary storage key loaded.
pub struct Tpm {
    ctx: Context,
    srk: KeyHandle,
    /// HMAC session with parameter encryption, for commands that need authorization.
    session: AuthSession,
    settings: TpmSettings,
    pub timings: Timings,
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tpm").field("tcti", &self.settings.tcti).finish_non_exhaustive()
    }
}

/// Check the transport before handing it to the TSS, so that the operator
/// gets "no device" / "permission denied" / "unreachable" rather than a TCTI
/// return code.
fn preflight(tcti: &str) -> Result<TctiNameConf, TpmError> {
    let conf = TctiNameConf::from_str(tcti).map_err(|_| TpmError::BadTcti { tcti: tcti.into() })?;
    let (kind, rest) = tcti.split_once(':').unwrap_or((tcti, ""));
    match kind {
        "device" => {
            let path = if rest.is_empty() { "/dev/tpm0" } else { rest };
            match std::fs::OpenOptions::new().read(true).write(true).open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(TpmError::NoDevice { path: path.into() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(TpmError::Permission { path: path.into() });
                }
                Err(e) => return Err(TpmError::Unreachable { tcti: tcti.into(), detail: e.to_string() }),
            }
        }
        "swtpm" | "mssim" => {
            let (mut host, mut port) = ("localhost".to_owned(), 2321u16);
            for kv in rest.split(',').filter(|s| !s.is_empty()) {
                match kv.split_once('=') {
                    Some(("host", h)) => h.clone_into(&mut host),
                    Some(("port", p)) => port = p.parse().map_err(|_| TpmError::BadTcti { tcti: tcti.into() })?,
                    _ => {}
                }
            }
            let unreachable = |detail: String| TpmError::Unreachable { tcti: tcti.into(), detail };
            // swtpm and mssim take commands on `port` and platform/control
            // commands on `port + 1`; both must answer.
            for (p, what) in [(port, "command port"), (port.saturating_add(1), "control port (port + 1)")] {
                let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), p))
                    .map_err(|e| unreachable(e.to_string()))?;
                let mut last = "no address".to_owned();
                let connected = addrs.into_iter().any(|a| {
                    std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2))
                        .map_err(|e| last = format!("{what} {a}: {e}"))
                        .is_ok()
                });
                if !connected {
                    return Err(unreachable(last));
                }
            }
        }
        _ => {}
    }
    Ok(conf)
}

fn srk_template() -> Result<Public, TssError> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_restricted_decryption_key(
                SymmetricDefinitionObject::AES_128_CFB,
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

fn ak_template() -> Result<Public, TssError> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_sign_encrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new()
                .with_symmetric(SymmetricDefinitionObject::Null)
                .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                .with_curve(EccCurve::NistP256)
                .with_key_derivation_function_scheme(tss_esapi::structures::KeyDerivationFunctionScheme::Null)
                .with_is_signing_key(true)
                .with_is_decryption_key(false)
                .with_restricted(true)
                .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

fn sealed_template(policy: Option<Digest>) -> Result<Public, TssError> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_no_da(true)
        .with_admin_with_policy(true)
        // Without a PCR policy the object is used with its (empty) auth value;
        // with one, only the policy can unseal it.
        .with_user_with_auth(policy.is_none())
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_auth_policy(policy.unwrap_or_default())
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
        .with_keyed_hash_unique_identifier(Digest::default())
        .build()
}

fn pcr_list(pcrs: &[u8]) -> Result<PcrSelectionList, TpmError> {
    let mut slots = Vec::with_capacity(pcrs.len());
    for &p in pcrs {
        let slot = 1u32
            .checked_shl(u32::from(p))
            .and_then(|bit| PcrSlot::try_from(bit).ok())
            .ok_or_else(|| TpmError::Tpm { op: "pcr selection", detail: format!("PCR {p} does not exist") })?;
        slots.push(slot);
    }
    PcrSelectionList::builder().with_selection(HashingAlgorithm::Sha256, &slots).build().map_err(tss("pcr selection"))
}

/// What is kept on disk for a TPM-held node key: TPM-encrypted blobs only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    pub format: String,
    pub lct_id: LctId,
    pub public_key: PublicKey,
    pub seal_pcrs: Vec<u8>,
    pub sealed_public: String,
    pub sealed_private: String,
    pub ak_public: String,
    pub ak_private: String,
}

/// What `web4d tpm status` prints.
#[derive(Debug, Serialize)]
pub struct Status {
    pub tcti: String,
    pub manufacturer: String,
    pub vendor: String,
    pub firmware: String,
    pub spec: String,
    pub algorithms: Vec<String>,
    pub pcr_banks: Vec<String>,
    pub ek_certificate: Option<usize>,
    pub lockout: Lockout,
    pub keys: Vec<KeyPresence>,
}

/// Dictionary-attack state.
#[derive(Debug, Serialize)]
pub struct Lockout {
    pub in_lockout: bool,
    pub failures: u32,
    pub max_failures: u32,
    pub interval_secs: u32,
}

/// Whether one of our sealed keys loads in this TPM.
#[derive(Debug, Serialize)]
pub struct KeyPresence {
    pub file: String,
    pub lct_id: String,
    pub loads: bool,
    pub detail: Option<String>,
}

fn ascii(v: u32) -> String {
    v.to_be_bytes().iter().filter(|&&c| c.is_ascii_graphic()).map(|&c| char::from(c)).collect()
}

impl Tpm {
    /// Open the TPM named by `settings.tcti` and derive our primary key.
    pub fn open(settings: &TpmSettings) -> Result<Tpm, TpmError> {
        let conf = preflight(&settings.tcti)?;
        let mut timings = Timings::default();
        let mut ctx = Context::new(conf)
            .map_err(|e| TpmError::Unreachable { tcti: settings.tcti.clone(), detail: e.to_string() })?;
        // An HMAC session with parameter encryption for everything we send.
        let session = ctx
            .start_auth_session(
                None,
                None,
                None,
                SessionType::Hmac,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(tss("start session"))?
            .ok_or(TpmError::Tpm { op: "start session", detail: "no session returned".into() })?;
        let (attrs, mask) = SessionAttributesBuilder::new().with_decrypt(true).with_encrypt(true).build();
        ctx.tr_sess_set_attributes(session, attrs, mask).map_err(tss("session attributes"))?;
        if let Some(auth) = &settings.owner_auth {
            let auth = Auth::try_from(auth.clone())
                .map_err(|_| TpmError::Tpm { op: "owner auth", detail: "longer than the TPM accepts".into() })?;
            ctx.tr_set_auth(ObjectHandle::Owner, auth).map_err(tss("owner auth"))?;
        }
        let template = srk_template().map_err(tss("storage key template"))?;
        let srk = timings
            .time("create_primary", || {
                ctx.execute_with_session(Some(session), |c| {
                    c.create_primary(Hierarchy::Owner, template, None, None, None, None)
                })
            })
            .map_err(tss("create primary storage key"))?
            .key_handle;
        Ok(Tpm { ctx, srk, session, settings: settings.clone(), timings })
    }

    /// [`Self::authorized`], timed as `op`.
    fn timed<T>(&mut self, op: &'static str, f: impl FnOnce(&mut Context) -> T) -> T {
        let t = Instant::now();
        let r = self.authorized(f);
        self.timings.ops.push((op, t.elapsed()));
        r
    }

    /// Run `f` with our HMAC session (commands that need authorization).
    fn authorized<T>(&mut self, f: impl FnOnce(&mut Context) -> T) -> T {
        let s = self.session;
        self.ctx.execute_with_session(Some(s), f)
    }

    fn policy_session(&mut self, kind: SessionType) -> Result<AuthSession, TpmError> {
        self.ctx
            .execute_without_session(|c| {
                c.start_auth_session(None, None, None, kind, SymmetricDefinition::AES_128_CFB, HashingAlgorithm::Sha256)
            })
            .map_err(tss("start policy session"))?
            .ok_or(TpmError::Tpm { op: "start policy session", detail: "no session returned".into() })
    }

    fn pcr_policy(&mut self, session: AuthSession, pcrs: &[u8]) -> Result<PolicySession, TpmError> {
        let list = pcr_list(pcrs)?;
        let ps = PolicySession::try_from(session).map_err(tss("policy session"))?;
        self.ctx.execute_without_session(|c| c.policy_pcr(ps, Digest::default(), list)).map_err(tss("policy PCR"))?;
        Ok(ps)
    }

    /// Seal `seed` under our storage key, to a PCR policy over `seal_pcrs` when set.
    fn seal(&mut self, seed: &[u8; 32]) -> Result<(Public, Private), TpmError> {
        let pcrs = self.settings.seal_pcrs.clone();
        let policy = if pcrs.is_empty() {
            None
        } else {
            let trial = self.policy_session(SessionType::Trial)?;
            let ps = self.pcr_policy(trial, &pcrs)?;
            let digest = self.ctx.execute_without_session(|c| c.policy_get_digest(ps)).map_err(tss("policy digest"));
            let _ = self.ctx.flush_context(ObjectHandle::from(SessionHandle::from(trial)));
            Some(digest?)
        };
        let template = sealed_template(policy).map_err(tss("sealed object template"))?;
        let data = SensitiveData::try_from(seed.to_vec()).map_err(tss("sealed data"))?;
        let srk = self.srk;
        let created =
            self.timed("seal", |c| c.create(srk, template, None, Some(data), None, None)).map_err(tss("seal"))?;
        Ok((created.out_public, created.out_private))
    }

    fn load(&mut self, what: &'static str, public: Public, private: Private) -> Result<KeyHandle, TpmError> {
        let srk = self.srk;
        self.authorized(|c| c.load(srk, private, public)).map_err(tss(what))
    }

    /// Unseal the node's seed from `sealed` (read from `path`).
    pub fn unseal(&mut self, sealed: &SealedKey, path: &Path) -> Result<SecretKey, TpmError> {
        let (public, private) = blobs(&sealed.sealed_public, &sealed.sealed_private, path)?;
        let handle = self.load("load sealed key", public, private).map_err(|e| foreign(e, path))?;
        let pcrs = sealed.seal_pcrs.clone();
        let out = if pcrs.is_empty() {
            self.timed("unseal", |c| c.unseal(handle.into())).map_err(tss("unseal"))
        } else {
            let session = self.policy_session(SessionType::Policy)?;
            self.pcr_policy(session, &pcrs)?;
            let r = self
                .timings
                .time("unseal", || self.ctx.execute_with_session(Some(session), |c| c.unseal(handle.into())))
                .map_err(|e| match e {
                    TssError::Tss2Error(rc)
                        if matches!(
                            rc.kind(),
                            Some(Tss2ResponseCodeKind::PolicyFail | Tss2ResponseCodeKind::Value)
                        ) =>
                    {
                        TpmError::PolicyFail { pcrs: pcrs.clone() }
                    }
                    e => tss("unseal")(e),
                });
            let _ = self.ctx.flush_context(ObjectHandle::from(SessionHandle::from(session)));
            r
        };
        let _ = self.ctx.flush_context(handle.into());
        let seed: [u8; 32] = out?.value().try_into().map_err(|_| TpmError::File {
            path: path.display().to_string(),
            detail: "sealed data is not 32 bytes".into(),
        })?;
        let key = SecretKey::from_seed(&seed);
        if key.public_key() != sealed.public_key {
            return Err(TpmError::ForeignBlob {
                path: path.display().to_string(),
                detail: "the unsealed key does not match the recorded public key".into(),
            });
        }
        Ok(key)
    }

    /// Seal `key` and create an attestation key; the result is written by the caller.
    pub fn seal_key(&mut self, key: &SecretKey) -> Result<SealedKey, TpmError> {
        let (sp, spriv) = self.seal(&key.seed())?;
        let template = ak_template().map_err(tss("attestation key template"))?;
        let srk = self.srk;
        let ak = self
            .timed("create_ak", |c| c.create(srk, template, None, None, None, None))
            .map_err(tss("create attestation key"))?;
        let pk = key.public_key();
        Ok(SealedKey {
            format: SEALED_FORMAT.into(),
            lct_id: LctId::from_public_key(&pk),
            public_key: pk,
            seal_pcrs: self.settings.seal_pcrs.clone(),
            sealed_public: BASE64.encode(&sp.marshall().map_err(tss("marshal"))?),
            sealed_private: BASE64.encode(spriv.value()),
            ak_public: BASE64.encode(&ak.out_public.marshall().map_err(tss("marshal"))?),
            ak_private: BASE64.encode(ak.out_private.value()),
        })
    }

    /// The EK certificate from the first of the standard NV indices that exists
    /// (RSA 2048, ECC P-256, ECC P-384).
    fn ek_certificate(&mut self) -> Option<Vec<u8>> {
        use tss_esapi::constants::CapabilityType;
        use tss_esapi::handles::TpmHandle;
        use tss_esapi::structures::CapabilityData;
        let present: Vec<u32> = match self.ctx.get_capability(CapabilityType::Handles, 0x0100_0000, 256) {
            Ok((CapabilityData::Handles(list), _)) => list
                .into_inner()
                .into_iter()
                .filter_map(|h| match h {
                    TpmHandle::NvIndex(i) => Some(u32::from(i)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        [
            (0x01c0_0002, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048)),
            (0x01c0_000a, AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256)),
            (0x01c0_0016, AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP384)),
        ]
        .into_iter()
        .filter(|(index, _)| present.contains(index))
        .find_map(|(_, alg)| retrieve_ek_pubcert(&mut self.ctx, alg).ok())
    }

    fn info(&mut self) -> TpmInfo {
        let mut prop = |t| self.ctx.get_tpm_property(t).ok().flatten().unwrap_or(0);
        let (m, f1, f2) =
            (prop(PropertyTag::Manufacturer), prop(PropertyTag::FirmwareVersion1), prop(PropertyTag::FirmwareVersion2));
        TpmInfo { manufacturer: ascii(m), firmware: format!("{f1:08x}.{f2:08x}") }
    }

    /// A fresh hardware anchor endorsing `sealed`'s key: a quote by its AK over
    /// `quote_pcrs` with qualifying data binding the LCT, the key, a fresh nonce and `now`.
    pub fn anchor(&mut self, sealed: &SealedKey, path: &Path, now: Timestamp) -> Result<HardwareAnchor, TpmError> {
        let ek = self.ek_certificate();
        if ek.is_none() && self.settings.require_ek_cert {
            return Err(TpmError::NoEkCert);
        }
        let nonce = BASE64URL_NOPAD.encode(
            &crate::keystore::random_bytes::<32>().map_err(|e| TpmError::Tpm { op: "nonce", detail: e.to_string() })?,
        );
        let qualifying = sha256(&anchor_message(&sealed.lct_id, &sealed.public_key, &nonce, now));
        let (public, private) = blobs(&sealed.ak_public, &sealed.ak_private, path)?;
        let ak = self.load("load attestation key", public, private).map_err(|e| foreign(e, path))?;
        let pcrs = self.settings.quote_pcrs.clone();
        let list = pcr_list(&pcrs)?;
        let data = Data::try_from(qualifying.0.to_vec()).map_err(tss("qualifying data"))?;
        let quoted =
            self.timed("quote", |c| c.quote(ak, data, SignatureScheme::Null, list.clone())).map_err(tss("quote"));
        let _ = self.ctx.flush_context(ak.into());
        let (attest, signature) = quoted?;
        let values = tss_esapi::abstraction::pcr::read_all(&mut self.ctx, list).map_err(tss("read PCRs"))?;
        let bank = values
            .pcr_bank(HashingAlgorithm::Sha256)
            .ok_or(TpmError::Tpm { op: "read PCRs", detail: "no SHA-256 PCR bank".into() })?;
        let mut pcr_values = BTreeMap::new();
        for &p in &pcrs {
            let slot = PcrSlot::try_from(1u32 << p).map_err(tss("pcr slot"))?;
            let d =
                bank.get_digest(slot).ok_or(TpmError::Tpm { op: "read PCRs", detail: format!("PCR {p} missing") })?;
            pcr_values.insert(p, HEXLOWER.encode(d.value()));
        }
        let Signature::EcDsa(sig) = signature else {
            return Err(TpmError::Tpm { op: "quote", detail: "the AK did not produce an ECDSA signature".into() });
        };
        let mut rs = Vec::with_capacity(64);
        for part in [sig.signature_r().value(), sig.signature_s().value()] {
            let trimmed = &part[part.iter().take_while(|&&b| b == 0).count()..];
            if trimmed.len() > 32 {
                return Err(TpmError::Tpm { op: "quote", detail: "signature component exceeds 32 bytes".into() });
            }
            rs.extend(std::iter::repeat_n(0u8, 32 - trimmed.len()));
            rs.extend_from_slice(trimmed);
        }
        let info = self.info();
        Ok(HardwareAnchor {
            kind: TPM2_QUOTE.into(),
            ak_public: sealed.ak_public.clone(),
            quote: BASE64.encode(&attest.marshall().map_err(tss("marshal quote"))?),
            signature: HEXLOWER.encode(&rs),
            pcr_bank: PCR_BANK.into(),
            pcrs: pcr_values,
            nonce,
            anchored_at: now,
            ek_certificate: ek.map(|c| BASE64.encode(&c)),
            tpm: Some(info),
        })
    }

    /// Hash `data` in the TPM and sign it with the AK (for `web4d tpm bench`).
    pub fn sign(&mut self, sealed: &SealedKey, path: &Path, data: &[u8]) -> Result<(), TpmError> {
        let (public, private) = blobs(&sealed.ak_public, &sealed.ak_private, path)?;
        let ak = self.load("load attestation key", public, private).map_err(|e| foreign(e, path))?;
        let buf = MaxBuffer::try_from(data.to_vec()).map_err(tss("sign data"))?;
        let t = Instant::now();
        let r = self
            .ctx
            .execute_without_session(|c| c.hash(buf, HashingAlgorithm::Sha256, Hierarchy::Owner))
            .and_then(|(digest, ticket)| self.authorized(|c| c.sign(ak, digest, SignatureScheme::Null, ticket)));
        self.timings.ops.push(("sign", t.elapsed()));
        let _ = self.ctx.flush_context(ak.into());
        r.map(|_| ()).map_err(tss("sign"))
    }

    /// Manufacturer, firmware, algorithms, PCR banks, lockout, and whether our keys load.
    pub fn status(&mut self, sealed: &[(PathBuf, Result<SealedKey, TpmError>)]) -> Status {
        let info = self.info();
        let mut prop = |t| self.ctx.get_tpm_property(t).ok().flatten().unwrap_or(0);
        let vendor = [
            PropertyTag::VendorString1,
            PropertyTag::VendorString2,
            PropertyTag::VendorString3,
            PropertyTag::VendorString4,
        ]
        .into_iter()
        .map(|t| ascii(prop(t)))
        .collect::<String>();
        let (family, level, revision) =
            (prop(PropertyTag::FamilyIndicator), prop(PropertyTag::Level), prop(PropertyTag::Revision));
        let permanent = prop(PropertyTag::Permanent);
        let lockout = Lockout {
            in_lockout: permanent & 0x200 != 0,
            failures: prop(PropertyTag::LockoutCounter),
            max_failures: prop(PropertyTag::MaxAuthFail),
            interval_secs: prop(PropertyTag::LockoutInterval),
        };
        let algorithms = self.algorithms();
        let pcr_banks = self.pcr_banks();
        let ek_certificate = self.ek_certificate().map(|c| c.len());
        let keys = sealed
            .iter()
            .map(|(path, s)| {
                let file = path.display().to_string();
                match s {
                    Err(e) => KeyPresence { file, lct_id: String::new(), loads: false, detail: Some(e.to_string()) },
                    Ok(s) => {
                        let r = blobs(&s.sealed_public, &s.sealed_private, path)
                            .and_then(|(p, k)| self.load("load sealed key", p, k))
                            .and_then(|h| {
                                let _ = self.ctx.flush_context(h.into());
                                blobs(&s.ak_public, &s.ak_private, path)
                            })
                            .and_then(|(p, k)| self.load("load attestation key", p, k))
                            .map(|h| {
                                let _ = self.ctx.flush_context(h.into());
                            });
                        KeyPresence {
                            file,
                            lct_id: s.lct_id.to_string(),
                            loads: r.is_ok(),
                            detail: r.err().map(|e| e.to_string()),
                        }
                    }
                }
            })
            .collect();
        Status {
            tcti: self.settings.tcti.clone(),
            manufacturer: info.manufacturer,
            vendor,
            firmware: info.firmware,
            spec: format!("{} level {} revision {}.{:02}", ascii(family), level, revision / 100, revision % 100),
            algorithms,
            pcr_banks,
            ek_certificate,
            lockout,
            keys,
        }
    }

    fn algorithms(&mut self) -> Vec<String> {
        use tss_esapi::constants::CapabilityType;
        use tss_esapi::structures::CapabilityData;
        match self.ctx.get_capability(CapabilityType::Algorithms, 0, 128) {
            Ok((CapabilityData::Algorithms(list), _)) => {
                list.iter().map(|p| format!("{:?}", p.algorithm_identifier()).to_lowercase()).collect()
            }
            _ => Vec::new(),
        }
    }

    fn pcr_banks(&mut self) -> Vec<String> {
        use tss_esapi::constants::CapabilityType;
        use tss_esapi::structures::CapabilityData;
        match self.ctx.get_capability(CapabilityType::AssignedPcr, 0, 16) {
            Ok((CapabilityData::AssignedPcr(list), _)) => list
                .get_selections()
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| format!("{:?}", s.hashing_algorithm()).to_lowercase())
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Drop for Tpm {
    fn drop(&mut self) {
        let _ = self.ctx.flush_context(self.srk.into());
        let _ = self.ctx.flush_context(ObjectHandle::from(SessionHandle::from(self.session)));
    }
}

fn foreign(e: TpmError, path: &Path) -> TpmError {
    match e {
        TpmError::Tpm { detail, .. } => TpmError::ForeignBlob { path: path.display().to_string(), detail },
        other => other,
    }
}

fn blobs(public: &str, private: &str, path: &Path) -> Result<(Public, Private), TpmError> {
    let bad = |detail: &str| TpmError::File { path: path.display().to_string(), detail: detail.into() };
    let p = BASE64.decode(public.as_bytes()).map_err(|_| bad("public part is not base64"))?;
    let k = BASE64.decode(private.as_bytes()).map_err(|_| bad("private part is not base64"))?;
    let public = Public::unmarshall(&p).map_err(|_| bad("public part is not a TPMT_PUBLIC"))?;
    let private = Private::try_from(k).map_err(|_| bad("private part is too large"))?;
    Ok((public, private))
}

/// The sealed-key file of `lct_id` under `dir`.
pub fn sealed_path(dir: &Path, lct_id: &LctId) -> PathBuf {
    dir.join(format!("node.{}.tpm.json", crate::keystore::id_suffix(lct_id)))
}

/// Read a sealed-key file.
pub fn read_sealed(path: &Path) -> Result<SealedKey, TpmError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TpmError::File { path: path.display().to_string(), detail: e.to_string() })?;
    let s: SealedKey = serde_json::from_str(&text)
        .map_err(|e| TpmError::File { path: path.display().to_string(), detail: format!("not a sealed key: {e}") })?;
    if s.format != SEALED_FORMAT {
        return Err(TpmError::File {
            path: path.display().to_string(),
            detail: format!("format {:?}, expected {SEALED_FORMAT:?}", s.format),
        });
    }
    Ok(s)
}

/// Write a sealed-key file (mode 0600, atomically, never overwriting).
pub fn write_sealed(path: &Path, s: &SealedKey) -> Result<(), TpmError> {
    let text = serde_json::to_string_pretty(s)
        .map_err(|e| TpmError::File { path: path.display().to_string(), detail: e.to_string() })?;
    crate::keystore::write_private(path, text.as_bytes())
        .map_err(|e| TpmError::File { path: path.display().to_string(), detail: e.to_string() })
}
