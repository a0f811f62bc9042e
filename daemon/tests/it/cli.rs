//! The `web4` CLI against a real node.

use crate::harness::*;
use std::process::Command;

const WEB4: &str = env!("CARGO_BIN_EXE_web4");

fn web4(node: &TestNode, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WEB4).arg("--node").arg(&node.base).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_drives_every_identity_route() {
    let node = TestNode::start().await;
    let dir = node.dir.path().to_owned();
    let key = dir.join("me.key").display().to_string();
    let new_key = dir.join("new.key").display().to_string();
    let admin = node.data_dir().join("keys/admin.key").display().to_string();

    let (code, out, err) = web4(&node, &["keygen", "--out", &key]);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_owned();
    assert!(id.starts_with("lct:web4:mb32:b"), "{out}");
    let (_, printed, _) = web4(&node, &["--key", &key, "id"]);
    assert_eq!(printed.trim(), id);

    let (code, out, err) = web4(&node, &["--key", &key, "mint", "--entity-type", "human"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id) && out.contains("active"), "{out}");

    let (code, out, _) = web4(&node, &["--json", "get", &id]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["lct"]["lct_id"], id.as_str());

    let (code, out, _) = web4(&node, &["verify", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("valid") && !out.contains("NOT"), "{out}");

    let (code, out, _) = web4(&node, &["--key", &admin, "suspend", &id, "--reason", "check"]);
    assert_eq!(code, 0);
    assert!(out.contains("suspended"), "{out}");
    // A W4 error is printed with its code, meaning and a hint; exit code 1.
    let (code, _, err) = web4(&node, &["--key", &admin, "suspend", &id, "--reason", "again"]);
    assert_eq!(code, 1);
    assert!(err.contains("W4_ERR_PROTO_SEQUENCE") && err.contains("Out Of Sequence"), "{err}");
    let (code, out, _) = web4(&node, &["--key", &admin, "reinstate", &id, "--reason", "ok"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, err) =
        web4(&node, &["--key", &admin, "grant-role", &id, "--role", "witness", "--reason", "elected"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("roles=citizen,witness"), "{out}");
    let (code, out, err) = web4(&node, &["--key", &admin, "revoke-role", &id, "--role", "witness"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("roles=citizen") && !out.contains("witness"), "{out}");

    assert_eq!(web4(&node, &["keygen", "--out", &new_key]).0, 0);
    let (code, out, err) = web4(&node, &["--key", &key, "transition", "--new-key", &new_key]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("superseded"), "{out}");
    let (code, out, _) = web4(
        &node,
        &["--key", &new_key, "revoke", web4(&node, &["--key", &new_key, "id"]).1.trim(), "--reason", "compromise"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("revoked"), "{out}");

    // Usage errors are exit code 2 with a message, not a panic.
    let (code, _, err) = web4(&node, &["--key", &key, "revoke", &id, "--reason", "bored"]);
    assert_eq!(code, 2);
    assert!(err.contains("--reason must be"), "{err}");
    let (code, _, err) = web4(&node, &["--key", "/nonexistent/key", "mint"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/key"), "{err}");
    node.ledger_verify();
}

#[test]
fn law_check_lints_the_fixtures() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/web4-vectors/law-fixtures");
    for (file, code) in [
        ("minimal.yaml", 0),
        ("full-featured.yaml", 0),
        ("starter-law.yaml", 0),
        ("invalid-bad-operator.yaml", 1),
        ("invalid-missing-norm-id.yaml", 1),
    ] {
        let out = Command::new(WEB4).args(["law", "check"]).arg(dir.join(file)).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        if code == 1 {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(file) && err.contains("norms[0]."), "{err}");
        } else {
            assert!(String::from_utf8_lossy(&out.stdout).contains("law_hash sha256:"));
        }
    }
    let out = Command::new(WEB4).args(["law", "check", "/nonexistent.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn cli_atp_commands() {
    let node = TestNode::start().await;
    let dir = node.dir.path().to_owned();
    let key = dir.join("me.key").display().to_string();
    let admin = node.data_dir().join("keys/admin.key").display().to_string();
    let (_, out, _) = web4(&node, &["keygen", "--out", &key]);
    let id = out.lines().next().unwrap().to_owned();
    assert_eq!(web4(&node, &["--key", &key, "mint", "--entity-type", "human"]).0, 0);

    let (code, out, err) = web4(&node, &["--key", &admin, "atp", "mint", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("minted 1000 ADP"), "{out}");
    let (code, out, err) = web4(
        &node,
        &["--key", &admin, "atp", "charge", &id, "--kind", "stake", "--reference", "r-1", "--value", "250.7"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("charged 250 ATP"), "{out}");
    // Refusals exit 1 with the code on stderr.
    let (code, _, err) =
        web4(&node, &["--key", &admin, "atp", "charge", &id, "--kind", "stake", "--reference", "r-1", "--value", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("W4_ERR_PROTO_REPLAY"), "{err}");
    let (code, _, err) = web4(&node, &["--key", &key, "atp", "transfer", &id, "5"]);
    assert_eq!(code, 1, "to oneself");
    assert!(err.contains("W4_ERR_PROTO_FORMAT"), "{err}");
    let (code, out, _) = web4(&node, &["atp", "account", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("250 available, 0 locked"), "{out}");
    let (code, out, _) = web4(&node, &["atp", "pool"]);
    assert_eq!(code, 0);
    assert!(out.contains("supply 1000: 750 ADP in the pool, 250 ATP in 1 accounts (conserved)"), "{out}");
}

#[tokio::test]
async fn cli_resources_and_bench() {
    let node = TestNode::start().await;
    let admin = node.data_dir().join("keys/admin.key").display().to_string();
    let key = node.dir.path().join("me.key").display().to_string();
    let (_, out, _) = web4(&node, &["keygen", "--out", &key]);
    let id = out.lines().next().unwrap().to_owned();
    assert_eq!(web4(&node, &["--key", &key, "mint", "--entity-type", "human"]).0, 0);
    assert_eq!(web4(&node, &["--key", &admin, "atp", "mint", "10000"]).0, 0);
    let (code, _, err) =
        web4(&node, &["--key", &admin, "atp", "charge", &id, "--kind", "t", "--reference", "r1", "--value", "500"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) =
        web4(&node, &["--key", &key, "--json", "resources", "allocate", "memory", "512", "--duration", "3600"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lease = v["data"]["allocation_id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"]["atp_locked"], 6, "ceil(512 · 0.01)");
    let (code, out, err) = web4(&node, &["--key", &key, "resources", "usage", &lease, "1", "3000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("charged 1 ATP"), "{out}");
    let (code, out, _) = web4(&node, &["resources", "stats"]);
    assert_eq!(code, 0);
    assert!(out.contains("memory") && out.contains("512/8192"), "{out}");
    let (code, out, err) = web4(&node, &["--key", &key, "resources", "release", &lease, "--seq", "2", "--used", "100"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("returned 5 ATP") && out.contains("released"), "{out}");
    let (code, _, err) = web4(&node, &["--key", &key, "resources", "rates", "cpu=1.1"]);
    assert_eq!(code, 1);
    assert!(err.contains("W4_ERR_AUTHZ_DENIED"), "{err}");
    let (code, out, err) = web4(&node, &["--key", &admin, "resources", "rates", "cpu=1.1", "gpu=60"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1.0.0#1"), "{out}");

    // The load tool's resource and reputation benchmarks run (figures are not judged).
    for what in [vec!["bench", "allocate"], vec!["bench", "outcome"]] {
        let mut args = vec!["--key", admin.as_str(), "--json"];
        args.extend(what.iter().copied());
        args.extend(["--concurrency", "4", "--duration", "300ms"]);
        let (code, out, err) = web4(&node, &args);
        assert_eq!(code, 0, "{what:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let phase = &v["phases"][1];
        assert!(phase["ok"].as_u64().unwrap() > 0 && phase["errors"] == 0, "{what:?}: {v}");
    }
    let args = ["--key", admin.as_str(), "--json", "bench", "graph", "--triples", "60", "--nodes", "12"];
    let (code, out, err) = web4(&node, &[&args[..], &["--concurrency", "4", "--duration", "300ms"]].concat());
    assert_eq!(code, 0, "{err}");
    let phases: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(phases.len(), 3, "{out}");
    assert_eq!(phases[0]["ok"], 60, "every triple ingested: {out}");
    for p in &phases {
        assert!(p["ok"].as_u64().unwrap() > 0 && p["errors"] == 0, "{p}");
    }
}

#[tokio::test]
async fn cli_p2p_commands_on_a_node_without_p2p() {
    let node = TestNode::start().await;
    for what in ["peers", "chains"] {
        let (code, out, err) = web4(&node, &["p2p", what]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("p2p is off"), "{out}");
    }
    let (code, out, err) = web4(&node, &["p2p", "equivocations"]);
    assert_eq!((code, out.trim()), (0, "0 authors flagged"), "{err}");
    let (code, out, _) = web4(&node, &["--json", "p2p", "chains"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["enabled"], false);
}
