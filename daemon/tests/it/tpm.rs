//! The tpm2 keystore end to end against swtpm (a real TPM 2.0 simulator over
//! TCP): init, level-5 node LCT, restart with the sealed key, rotation that
//! re-seals, verification by a second node, tampered and foreign anchors,
//! PCR policy, owner authorization, and the errors an operator sees.
//!
//! swtpm is installed by `scripts/test`, which sets `WEB4_REQUIRE_SWTPM=1`:
//! then a missing swtpm fails these tests. Without it (a bare `cargo test`)
//! they are skipped with a loud message.

use crate::harness::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web4_core::lct::{Binding, EntityType};

struct Swtpm {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// Whether the tools are there; panics when they must be.
fn tools(needed: &[&str]) -> bool {
    let missing: Vec<&str> = needed.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("WEB4_REQUIRE_SWTPM").is_err(),
        "WEB4_REQUIRE_SWTPM is set but {missing:?} are not installed"
    );
    eprintln!(
        "\n!!!!!!!! SKIPPED: TPM test needs {missing:?} (apt-get install swtpm swtpm-tools tpm2-tools; scripts/test does) !!!!!!!!\n"
    );
    false
}

impl Swtpm {
    /// A fresh TPM; `ek_cert`: manufactured with an EK certificate (swtpm_setup).
    fn start(ek_cert: bool) -> Option<Swtpm> {
        if !tools(&["swtpm", "swtpm_setup"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap().to_owned();
        if ek_cert {
            let out = Command::new("swtpm_setup")
                .args(["--tpm2", "--tpmstate", &state, "--create-ek-cert", "--overwrite"])
                .output()
                .unwrap();
            assert!(out.status.success(), "swtpm_setup: {}", String::from_utf8_lossy(&out.stderr));
        }
        // The swtpm TCTI talks to the control channel on port + 1.
        let (port, ctrl) = loop {
            let p = free_port();
            if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                break (p, p + 1);
            }
        };
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "startup-clear", "--tpmstate", &format!("dir={state}")])
            .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
            .args(["--ctrl", &format!("type=tcp,port={ctrl},bindaddr=127.0.0.1")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "swtpm did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Swtpm { child, port, _dir: dir })
    }

    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    fn config(&self, extra: &str) -> String {
        format!("hsm_type = \"tpm2\"\ntpm_tcti = \"{}\"\n{extra}", self.tcti())
    }

    /// Run a tpm2-tools command against this TPM.
    fn tool(&self, args: &[&str]) -> std::process::Output {
        Command::new(args[0]).args(&args[1..]).env("TPM2TOOLS_TCTI", self.tcti()).output().unwrap()
    }
}

async fn node_id(n: &TestNode) -> String {
    n.get("/ready").await.body["node"].as_str().unwrap().to_owned()
}

/// `web4d ARGS` on `n`'s data dir and config.
fn web4d(n: &TestNode, args: &[&str]) -> std::process::Output {
    Command::new(WEB4D)
        .args(args)
        .env("DATA_DIR", n.data_dir())
        .env("WEB4_CONFIG", n.dir.path().join("web4d.toml"))
        .output()
        .unwrap()
}

/// `web4d init` in a fresh dir with `config`: (success, stderr).
fn init_with(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web4d.toml"), config).unwrap();
    let out = Command::new(WEB4D)
        .arg("init")
        .env("DATA_DIR", dir.path().join("data"))
        .env("WEB4_CONFIG", dir.path().join("web4d.toml"))
        .output()
        .unwrap();
    let no_seed_left = !dir.path().join("data/keys/node.key").exists();
    assert!(no_seed_left, "a tpm2 init never writes a software node key");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn verify(n: &TestNode, id: &str) -> Value {
    let r = n.get(&format!("/v1/lct/{id}/verify")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].clone()
}

#[tokio::test]
async fn tpm2_node_is_level_5_survives_restart_and_rotates_with_a_new_sealed_key() {
    let Some(tpm) = Swtpm::start(true) else { return };
    let mut n = TestNode::start_with_config(&tpm.config(""), &[]).await;
    let id = node_id(&n).await;
    // The node key rests on disk only as TPM-encrypted blobs.
    let keys: Vec<String> = std::fs::read_dir(n.data_dir().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!keys.contains(&"node.key".to_owned()), "{keys:?}");
    let sealed_file = keys.iter().find(|k| k.ends_with(".tpm.json")).expect("sealed key file");
    let sealed: Value =
        serde_json::from_str(&std::fs::read_to_string(n.data_dir().join("keys").join(sealed_file)).unwrap()).unwrap();
    assert_eq!(sealed["lct_id"], json!(id));
    assert!(sealed.get("seed").is_none() && sealed["sealed_private"].as_str().unwrap().len() > 64);

    let v = verify(&n, &id).await;
    assert_eq!((v["valid"].as_bool(), v["capability_level"].as_u64()), (Some(true), Some(5)), "{v}");
    assert_eq!(v["trust_ceiling"], json!(0.75));
    assert_eq!(v["hardware_anchor"]["valid"], json!(true));
    assert_eq!(v["hardware_anchor"]["report"]["ek_certificate"], json!(true));
    assert_eq!(v["hardware_anchor"]["report"]["pcrs"], json!([0, 1, 2, 3, 4, 5, 6, 7]));
    // A software-bound LCT is level 4.
    let k = random_key();
    assert_eq!(n.mint(&k, EntityType::Ai).await.status, 201);
    let sw = verify(&n, id_of(&k).as_str()).await;
    assert_eq!((sw["capability_level"].as_u64(), sw["trust_ceiling"].as_f64()), (Some(4), Some(0.4)));
    assert!(sw["hardware_anchor"].is_null());

    // Restart: the key is unsealed from the TPM and the node signs as before.
    assert!(n.sigterm().success());
    n.spawn(&[]).await;
    assert_eq!(node_id(&n).await, id);
    let k2 = random_key();
    let r = n.mint(&k2, EntityType::Ai).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["lct"]["birth_certificate"]["issuer"], json!(id));
    let metrics = n.get("/metrics").await.body.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("web4_tpm_operation_duration_seconds_count{op=\"unseal\"} 1"), "{metrics}");
    assert!(metrics.contains("web4_hardware_anchor_verification_duration_seconds_count"));

    // Status names the TPM and finds our key loadable.
    let out = web4d(&n, &["tpm", "status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["manufacturer"], json!("IBM"));
    assert!(st["pcr_banks"].as_array().unwrap().contains(&json!("sha256")));
    assert!(st["algorithms"].as_array().unwrap().contains(&json!("ecdsa")));
    assert_eq!(st["keys"][0]["lct_id"], json!(id));
    assert_eq!(st["keys"][0]["loads"], json!(true));

    // Rotation refuses to run beside the node, then re-seals a new key.
    let busy = web4d(&n, &["rotate-key"]);
    assert!(!busy.status.success() && String::from_utf8_lossy(&busy.stderr).contains("in use by a running web4d"));
    assert!(n.sigterm().success());
    let out = web4d(&n, &["rotate-key", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rot: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((rot["old"].as_str(), rot["capability_level"].as_u64()), (Some(id.as_str()), Some(5)));
    let new_id = rot["new"].as_str().unwrap().to_owned();
    assert!(rot["key"].as_str().unwrap().ends_with(".tpm.json"));
    n.spawn(&[]).await;
    assert_eq!(node_id(&n).await, new_id);
    let v = verify(&n, &new_id).await;
    assert_eq!((v["valid"].as_bool(), v["capability_level"].as_u64()), (Some(true), Some(5)), "{v}");
    let old = n.get(&format!("/v1/lct/{id}")).await;
    assert_eq!(old.body["data"]["status"], json!("superseded"));
    assert_eq!(old.body["data"]["superseded_by"], json!(new_id));
    let roles = n.get(&format!("/v1/lct/{new_id}")).await.body["data"]["roles"].clone();
    assert!(roles.as_array().unwrap().contains(&json!("witness")), "{roles}");
    // The rotated node still witnesses births.
    assert_eq!(n.mint(&random_key(), EntityType::Ai).await.status, 201);
    // A peer accepts every record, the TPM-anchored rotation and the request
    // it carries included (decisions/0028).
    n.a_joining_peer_accepts_every_record().await;
    assert!(n.sigterm().success());
    let lv = n.ledger_verify();
    assert_eq!(lv["chain_errors"], json!([]));
}

#[tokio::test]
async fn a_second_node_verifies_the_endorsement_and_refuses_tampered_or_foreign_anchors() {
    let Some(tpm) = Swtpm::start(true) else { return };
    let a = TestNode::start_with_config(&tpm.config(""), &[]).await;
    let b = TestNode::start().await;
    let a_id = node_id(&a).await;
    // A introduces itself to B's society: B checks the binding and a fresh anchor.
    let out = web4d(&a, &["introduce", "--peer", &b.base]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = verify(&b, &a_id).await;
    assert_eq!((v["valid"].as_bool(), v["capability_level"].as_u64()), (Some(true), Some(5)), "{v}");
    assert_eq!(v["birth_certificate"]["ok"], json!(true));

    // B's authority tries to register A's key with a doctored anchor: refused, nothing recorded.
    let doc = a.get(&format!("/v1/lct/{a_id}")).await.body["data"]["lct"].clone();
    let binding = doc["binding"].clone();
    let records = b.ledger_records();
    let mint = |anchor: Value, b: &Value| {
        json!({
            "entity_type": b["entity_type"], "public_key": b["public_key"], "created_at": b["created_at"],
            "binding_proof": b["binding_proof"], "hardware_anchor": anchor,
        })
    };
    let mut pcr = binding["hardware_anchor"].clone();
    pcr["pcrs"]["7"] = json!("11".repeat(32));
    let mut sig = binding["hardware_anchor"].clone();
    let s = sig["signature"].as_str().unwrap().to_owned();
    sig["signature"] = json!(format!("{}{}", if s.starts_with('0') { "1" } else { "0" }, &s[1..]));
    let mut when = binding["hardware_anchor"].clone();
    when["anchored_at"] = json!("2030-01-01T00:00:00Z");
    let mut ak = binding["hardware_anchor"].clone();
    ak["ak_public"] = json!("AAAA");
    let c = TestNode::start().await; // a third society, where A is unknown
    for (what, anchor) in [("pcr", pcr), ("signature", sig), ("anchored_at", when), ("ak_public", ak)] {
        let r = c.post(&c.admin, "/v1/lct/mint", &mint(anchor, &binding)).await;
        assert_eq!(r.code(), "W4_ERR_BINDING_PROOF_FAIL", "{what}: {}", r.body);
        assert_eq!(r.body["error"]["details"]["field"], json!("hardware_anchor"), "{what}");
    }
    // A's genuine anchor on another key's binding: it endorses A's key, not this one.
    let k = random_key();
    let other = Binding::create(&k, EntityType::Infrastructure, now());
    let other = serde_json::to_value(&other).unwrap();
    let r = c.post(&c.admin, "/v1/lct/mint", &mint(binding["hardware_anchor"].clone(), &other)).await;
    assert_eq!(r.code(), "W4_ERR_BINDING_PROOF_FAIL", "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("does not endorse this LCT's key"), "{}", r.body);
    // Nothing half-written anywhere.
    assert_eq!(b.ledger_records(), records);
    assert_eq!(c.ledger_records(), 1);
    // The genuine binding is accepted by the third society too.
    let r = c.post(&c.admin, "/v1/lct/mint", &mint(binding["hardware_anchor"].clone(), &binding)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(verify(&c, &a_id).await["capability_level"], json!(5));
}

#[tokio::test]
async fn unreachable_or_missing_tpm_is_explained() {
    let port = free_port();
    let (ok, err) = init_with(&format!("hsm_type = \"tpm2\"\ntpm_tcti = \"swtpm:host=127.0.0.1,port={port}\"\n"));
    assert!(!ok);
    assert!(err.contains("TPM unreachable") && err.contains("swtpm"), "{err}");
    let (ok, err) = init_with("hsm_type = \"tpm2\"\ntpm_tcti = \"device:/nonexistent/tpmrm0\"\n");
    assert!(!ok);
    assert!(err.contains("no TPM device at /nonexistent/tpmrm0") && err.contains("firmware"), "{err}");
    let (ok, err) = init_with("hsm_type = \"tpm2\"\ntpm_tcti = \"carrier-pigeon\"\n");
    assert!(!ok && err.contains("not a TCTI"), "{err}");
    // A software node started with hsm_type = tpm2 says where its key is.
    let mut n = TestNode::start().await;
    assert!(n.sigterm().success());
    std::fs::write(n.dir.path().join("web4d.toml"), "hsm_type = \"tpm2\"\n").unwrap();
    let out = Command::new(WEB4D)
        .env("DATA_DIR", n.data_dir())
        .env("PORT", free_port().to_string())
        .env("WEB4_CONFIG", n.dir.path().join("web4d.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keeps its key in software") && err.contains("rotate-key"), "{err}");
}

#[tokio::test]
async fn a_tpm_without_ek_certificate_is_refused_unless_allowed() {
    let Some(tpm) = Swtpm::start(false) else { return };
    let (ok, err) = init_with(&tpm.config(""));
    assert!(!ok);
    assert!(err.contains("no EK certificate") && err.contains("swtpm_setup --create-ek-cert"), "{err}");
    let (ok, err) = init_with(&tpm.config("tpm_require_ek_cert = false\n"));
    assert!(ok, "{err}");
}

#[tokio::test]
async fn a_key_sealed_to_pcrs_does_not_unseal_after_they_change() {
    let Some(tpm) = Swtpm::start(true) else { return };
    if !tools(&["tpm2_pcrextend"]) {
        return;
    }
    let mut n = TestNode::start_with_config(&tpm.config("tpm_seal_pcrs = [16]\n"), &[]).await;
    assert!(n.sigterm().success());
    n.spawn(&[]).await; // PCR 16 unchanged: unseals
    assert!(n.sigterm().success());
    let out = tpm.tool(&["tpm2_pcrextend", &format!("16:sha256={}", "ab".repeat(32))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(WEB4D)
        .env("DATA_DIR", n.data_dir())
        .env("PORT", n.port.to_string())
        .env("WEB4_CONFIG", n.dir.path().join("web4d.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PCR policy is not satisfied") && err.contains("[16]"), "{err}");
}

#[tokio::test]
async fn an_owner_password_is_needed_when_set_and_a_wrong_one_is_explained() {
    let Some(tpm) = Swtpm::start(true) else { return };
    if !tools(&["tpm2_changeauth"]) {
        return;
    }
    let out = tpm.tool(&["tpm2_changeauth", "-c", "owner", "s3cret"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ok, err) = init_with(&tpm.config(""));
    assert!(!ok);
    assert!(err.contains("bad authorization value") && err.contains("tpm_owner_auth_file"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("owner-auth");
    std::fs::write(&auth, "s3cret\n").unwrap();
    let (ok, err) = init_with(&tpm.config(&format!("tpm_owner_auth_file = \"{}\"\n", auth.display())));
    assert!(ok, "{err}");
}
