//! The node's own key under either keystore: create at `init`, load at start,
//! rotate (`web4d rotate-key`), and the TPM commands (`web4d tpm …`).
//!
//! `software`: `keys/node.key` (the first key) or `keys/node.<id>.key` (after a
//! rotation), mode 0600. `tpm2`: `keys/node.<id>.tpm.json`, holding only
//! TPM-encrypted blobs (docs/decisions/0015).

use crate::config::{Config, HsmType};
use crate::keystore;
use crate::tpm::{self, SealedKey, Timings, Tpm};
use anyhow::{Context, anyhow, bail};
use std::path::{Path, PathBuf};
use web4_core::anchor::HardwareAnchor;
use web4_core::{LctId, SecretKey, Timestamp};

/// A node key as `init` or `rotate-key` created it.
#[derive(Debug)]
pub struct NewKey {
    pub key: SecretKey,
    /// Where it is kept.
    pub path: PathBuf,
    /// The hardware anchor endorsing it (tpm2 only).
    pub anchor: Option<HardwareAnchor>,
    pub timings: Timings,
}

fn software_path(dir: &Path, id: &LctId) -> PathBuf {
    dir.join(format!("node.{}.key", keystore::id_suffix(id)))
}

/// Create a fresh node key in the configured keystore. `first`: the key of a
/// new node (`keys/node.key` in software).
pub fn create(cfg: &Config, now: Timestamp, first: bool) -> anyhow::Result<NewKey> {
    let dir = cfg.key_dir();
    let key = keystore::generate()?;
    let id = LctId::from_public_key(&key.public_key());
    match cfg.hsm_type {
        HsmType::Software => {
            let path = if first { dir.join("node.key") } else { software_path(&dir, &id) };
            keystore::write_key(&path, &key)?;
            Ok(NewKey { key, path, anchor: None, timings: Timings::default() })
        }
        HsmType::Tpm2 => {
            let mut t = Tpm::open(&cfg.tpm_settings()?)?;
            let sealed = t.seal_key(&key)?;
            let path = tpm::sealed_path(&dir, &id);
            // The anchor first: a TPM without an EK certificate fails here,
            // before anything is written.
            let anchor = t.anchor(&sealed, &path, now)?;
            tpm::write_sealed(&path, &sealed)?;
            let timings = std::mem::take(&mut t.timings);
            Ok(NewKey { key, path, anchor: Some(anchor), timings })
        }
    }
}

/// Load the key of node `id` from the configured keystore (`strict`), or
/// from whichever keystore holds it (for a rotation that moves keystores).
pub fn load(cfg: &Config, id: &LctId, strict: bool) -> anyhow::Result<(SecretKey, Timings)> {
    let dir = cfg.key_dir();
    let sealed = tpm::sealed_path(&dir, id);
    let rotated = software_path(&dir, id);
    let first = dir.join("node.key");
    let backend = match (strict, sealed.exists()) {
        (true, _) => cfg.hsm_type,
        (false, true) => HsmType::Tpm2,
        (false, false) => HsmType::Software,
    };
    let key = match backend {
        HsmType::Tpm2 => {
            if !sealed.exists() {
                if rotated.exists() || first.exists() {
                    bail!(
                        "node {id} keeps its key in software ({}), but hsm_type is tpm2: set hsm_type = \"software\", \
                         or move the node to the TPM with `web4d rotate-key --hsm-type tpm2`",
                        if rotated.exists() { rotated.display() } else { first.display() }
                    );
                }
                bail!("no TPM-sealed key for node {id} at {}", sealed.display());
            }
            let s = tpm::read_sealed(&sealed)?;
            let mut t = Tpm::open(&cfg.tpm_settings()?)?;
            let k = t.unseal(&s, &sealed)?;
            return check(id, k, std::mem::take(&mut t.timings));
        }
        HsmType::Software => {
            if sealed.exists() && !rotated.exists() && !first.exists() {
                bail!(
                    "node {id} keeps its key in the TPM ({}), but hsm_type is software: set hsm_type = \"tpm2\"",
                    sealed.display()
                );
            }
            let path = if rotated.exists() { rotated } else { first };
            keystore::read_key(&path).with_context(|| format!("reading the node key {}", path.display()))?
        }
    };
    check(id, key, Timings::default())
}

fn check(id: &LctId, key: SecretKey, t: Timings) -> anyhow::Result<(SecretKey, Timings)> {
    id.check_key(&key.public_key()).map_err(|e| anyhow!("node key does not belong to this node: {e}"))?;
    Ok((key, t))
}

/// What `web4d rotate-key` did.
#[derive(Debug, serde::Serialize)]
pub struct Rotation {
    pub old: LctId,
    pub new: LctId,
    pub key: String,
    pub capability_level: u8,
    pub overlap_until: Timestamp,
    pub ledger_ref: String,
}

/// `web4d rotate-key` (node stopped): a new node key in the configured
/// keystore (sealed and anchored with tpm2), and a `lct.transition` record
/// signed by the old key. The new key file is written before the record
/// commits; the database names the node's current LCT, so a crash between the
/// two leaves the old key in force and an unused file behind.
pub fn rotate(cfg: &Config, now: Timestamp) -> anyhow::Result<Rotation> {
    use crate::ledger::{Event, Prepared};
    use crate::store::writer::{NodeSigner, append_record, load_head, save_head};
    use crate::store::{node_value, open_connection};
    use web4_core::api::TransitionRequest;
    use web4_core::lct::{Binding, LctDocument, Lineage};
    use web4_core::payload::Transition;
    use web4_core::signing::SignedRequest;

    let _lock = lock_data_dir(cfg)?;
    let mut conn = open_connection(&cfg.db_path(), false)?;
    crate::store::migrations::migrate(&mut conn)?;
    let old_id = node_value(&conn, "node_lct")?
        .ok_or_else(|| anyhow!("{} is not initialised: run `web4d init`", cfg.data_dir.display()))?;
    let old_id = LctId::parse(&old_id).map_err(|e| anyhow!("{e}"))?;
    let society_id = node_value(&conn, "society_id")?.ok_or_else(|| anyhow!("node has no society"))?;
    let society = crate::services::governance::load_society(&conn, &society_id)?;
    let old_row = crate::ledger::load_lct(&conn, old_id.as_str())?
        .ok_or_else(|| anyhow!("node LCT {old_id} is not registered"))?;
    if old_row.status != web4_core::lct::LctStatus::Active {
        bail!("node LCT {old_id} is {}; only an active LCT can rotate", old_row.status.as_str());
    }
    let (old_key, _) = load(cfg, &old_id, false)?;
    let new = create(cfg, now, false)?;
    let mut binding = Binding::create(&new.key, old_row.entity_type, now);
    binding.hardware_anchor = new.anchor.as_ref().map(serde_json::to_value).transpose()?;
    let new_id = binding.lct_id();
    binding.verify(&new_id).map_err(|e| anyhow!("the new binding does not verify: {e}"))?;
    let level = binding.capability_level(&new_id);
    let req = TransitionRequest {
        public_key: binding.public_key,
        created_at: binding.created_at,
        binding_proof: binding.binding_proof,
        hardware_anchor: binding.hardware_anchor.clone(),
    };
    let nonce = data_encoding::BASE64URL_NOPAD.encode(&keystore::random_bytes::<16>()?);
    let evidence = SignedRequest::sign(
        &old_key,
        &society.id,
        old_id.clone(),
        "POST",
        &format!("/v1/lct/{old_id}/transition"),
        serde_json::to_string(&req)?,
        nonce,
        now,
    );
    let mut doc = LctDocument::new(binding);
    doc.lineage.push(Lineage { parent: old_id.clone(), reason: "rotation".into(), at: now });
    doc.policy = old_row.document.policy.clone();
    let overlap_until = now.plus(society.identity.rotation_overlap_seconds);
    let prepared =
        Prepared::new(Event::Transition(Transition { evidence, old: old_id.clone(), lct: doc, overlap_until }))?;
    let signer = NodeSigner::new(old_id.clone(), old_key);
    let tx = conn.transaction()?;
    let mut head = load_head(&tx, &old_id)?;
    let (lref, _, _) = append_record(&tx, &signer, &mut head, &prepared, society.law.law_hash(), now)?;
    save_head(&tx, &old_id, head)?;
    tx.execute("UPDATE node SET value = ?1 WHERE key = 'node_lct'", [new_id.as_str()])?;
    tx.commit()?;
    Ok(Rotation {
        old: old_id,
        new: new_id,
        key: new.path.display().to_string(),
        capability_level: level,
        overlap_until,
        ledger_ref: lref.to_string(),
    })
}

/// Hold `DATA_DIR/web4d.lock` for as long as the returned file lives, so
/// that offline commands never write while a node runs on the same state.
pub fn lock_data_dir(cfg: &Config) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("web4d.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("{} is in use by a running web4d (stop it first: systemctl stop web4d)", cfg.data_dir.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// `web4d tpm status`: the TPM and whether our sealed keys load in it.
pub fn tpm_status(cfg: &Config) -> anyhow::Result<tpm::Status> {
    let mut t = Tpm::open(&cfg.tpm_settings()?)?;
    let mut sealed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(cfg.key_dir()) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tpm.json"))
            .collect();
        paths.sort();
        for p in paths {
            let s = tpm::read_sealed(&p);
            sealed.push((p, s));
        }
    }
    Ok(t.status(&sealed))
}

/// `web4d tpm anchor`: a fresh hardware anchor for the node key (for a peer
/// society to mint or verify this node's LCT).
pub fn fresh_anchor(cfg: &Config, id: &LctId, now: Timestamp) -> anyhow::Result<(SealedKey, HardwareAnchor)> {
    let path = tpm::sealed_path(&cfg.key_dir(), id);
    let sealed = tpm::read_sealed(&path)?;
    let mut t = Tpm::open(&cfg.tpm_settings()?)?;
    let a = t.anchor(&sealed, &path, now)?;
    Ok((sealed, a))
}

/// Latencies of one round of each TPM operation (`web4d tpm bench`).
pub fn tpm_bench(cfg: &Config, id: &LctId, rounds: usize) -> anyhow::Result<Vec<(&'static str, Vec<f64>)>> {
    let path = tpm::sealed_path(&cfg.key_dir(), id);
    let sealed = tpm::read_sealed(&path)?;
    let mut t = Tpm::open(&cfg.tpm_settings()?)?;
    for i in 0..rounds {
        t.unseal(&sealed, &path)?;
        t.sign(&sealed, &path, format!("web4 tpm bench {i}").as_bytes())?;
        t.anchor(&sealed, &path, Timestamp(0))?;
    }
    let mut by_op: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for (op, d) in &t.timings.ops {
        let ms = d.as_secs_f64() * 1e3;
        match by_op.iter_mut().find(|(o, _)| o == op) {
            Some((_, v)) => v.push(ms),
            None => by_op.push((op, vec![ms])),
        }
    }
    Ok(by_op)
}

/// `web4d introduce --peer URL`: register this node's LCT in a peer
/// society through its mint route (self-admission, signed by the node key),
/// with a fresh hardware anchor when the key is in a TPM. The peer verifies
/// the binding and the anchor before it records anything.
pub async fn introduce(cfg: &Config, peer: &str, now: Timestamp) -> anyhow::Result<serde_json::Value> {
    use crate::store::{node_value, open_connection};
    use web4_core::api::MintRequest;
    let (id, doc) = {
        let conn = open_connection(&cfg.db_path(), true)?;
        let id = node_value(&conn, "node_lct")?
            .ok_or_else(|| anyhow!("{} is not initialised: run `web4d init`", cfg.data_dir.display()))?;
        let row = crate::ledger::load_lct(&conn, &id)?.ok_or_else(|| anyhow!("node LCT {id} is not registered"))?;
        (row.lct_id, row.document)
    };
    let (key, _) = load(cfg, &id, true)?;
    let anchor = match cfg.hsm_type {
        HsmType::Software => None,
        HsmType::Tpm2 => Some(serde_json::to_value(fresh_anchor(cfg, &id, now)?.1)?),
    };
    let req = MintRequest {
        entity_type: doc.binding.entity_type,
        public_key: doc.binding.public_key,
        created_at: doc.binding.created_at,
        binding_proof: doc.binding.binding_proof,
        lct_id: Some(id.clone()),
        birth_context: Some(format!("introduced by web4d node {id}")),
        witnesses: Vec::new(),
        policy: None,
        hardware_anchor: anchor,
    };
    let body = serde_json::to_vec(&req)?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let society = crate::cli::client::society_of(&http, peer).await?;
    post_signed(&http, &key, &society, peer, "/v1/lct/mint", body, "the introduction").await
}

/// POST `body` to `base` + `path`, signed with the node key for `society`:
/// the answer, or an error naming `what` was refused and why.
async fn post_signed(
    http: &reqwest::Client,
    key: &SecretKey,
    society: &web4_core::LctId,
    base: &str,
    path: &str,
    body: Vec<u8>,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    let headers = crate::cli::client::sign_headers(key, society, "POST", path, &body)?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let resp = headers.apply(http.post(&url)).body(body).send().await.with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        bail!(
            "{url} refused {what} ({status}): {} {}",
            v["error"]["code"].as_str().unwrap_or(""),
            v["error"]["message"].as_str().unwrap_or("")
        );
    }
    Ok(v)
}

/// `web4d grant-role --lct X --role R`: ask this node (its API at `url`) to
/// give role `R` to LCT `X`, with a request signed by the node key (software
/// or TPM keystore). The node decides as for any signer: the node LCT must
/// hold a role that grants roles, or keep one (decisions/0019) — as the
/// founding node does after two authorities took each other out of service
/// on two nodes at once.
pub async fn grant_role(
    cfg: &Config,
    url: &str,
    lct: &str,
    role: &str,
    reason: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    use crate::store::{node_value, open_connection};
    let target = web4_core::LctId::parse(lct).map_err(|e| anyhow!("--lct {lct}: {e}"))?;
    let (id, society) = {
        let conn = open_connection(&cfg.db_path(), true)?;
        let not_init = || anyhow!("{} is not initialised: run `web4d init`", cfg.data_dir.display());
        (node_value(&conn, "node_lct")?.ok_or_else(not_init)?, node_value(&conn, "society_id")?.ok_or_else(not_init)?)
    };
    let id = web4_core::LctId::parse(&id).map_err(|e| anyhow!("node LCT {id}: {e}"))?;
    let society = web4_core::LctId::parse(&society).map_err(|e| anyhow!("society {society}: {e}"))?;
    let (key, _) = load(cfg, &id, true)?;
    let body = serde_json::to_vec(&web4_core::api::RoleGrantRequest { role: role.to_owned(), reason })?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    post_signed(&http, &key, &society, url, &format!("/v1/lct/{target}/roles"), body, "the grant").await
}
