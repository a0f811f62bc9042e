//! Resources over HTTP: pools and law-published rates, leases charged to an
//! account or a funded grant, metered usage, release, rate updates, expiry,
//! metrics, and cgroup enforcement of a lease on a real process.

use crate::harness::*;
use serde_json::{Value, json};
use web4_core::lct::EntityType;

async fn account(node: &TestNode, k: &web4_core::SecretKey) -> Value {
    node.get(&format!("/v1/atp/account/{}", id_of(k))).await.body["data"].clone()
}

async fn stats(node: &TestNode) -> Value {
    let s = node.get("/v1/resources/pool/stats").await;
    assert_eq!(s.status, 200, "{}", s.body);
    s.body["data"].clone()
}

async fn conserved(node: &TestNode) -> Value {
    let p = node.get("/v1/atp/pool").await.body["data"].clone();
    assert_eq!(p["conserved"], true, "conservation: {p}");
    p
}

fn future(secs: i64) -> String {
    web4_core::Timestamp(now().0 + secs).to_string()
}

/// Mint ADP and charge `atp` to each of `keys`.
async fn fund(node: &TestNode, keys: &[(&web4_core::SecretKey, u64)]) {
    let r = node.post(&node.admin, "/v1/atp/mint", &json!({"amount": 500_000})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    for (k, atp) in keys {
        let proof = json!({"kind": "contribution", "reference": random_nonce(), "value": *atp as f64});
        let r = node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(k), "proof": proof})).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

#[tokio::test]
async fn leases_usage_release_rates_and_grants() {
    let node = TestNode::start().await;
    let (alice, bob, agent) = (random_key(), random_key(), random_key());
    for k in [&alice, &bob, &agent] {
        assert_eq!(node.mint(k, EntityType::Human).await.status, 201);
    }
    fund(&node, &[(&alice, 20_000)]).await;

    let s = stats(&node).await;
    assert_eq!(s["rates_version"], "1.0.0#0");
    assert_eq!(s["pools"]["cpu"]["capacity"], 4000);
    assert_eq!(s["pools"]["cpu"]["unit"], "millicores");
    assert_eq!(s["pools"]["cpu"]["rate"], 1.0);
    assert_eq!(s["enforcement"]["mode"], "off");

    // Refusals, each with its code, and nothing recorded.
    let before = node.ledger_records();
    let cpu = |q: u64, d: u64| json!({"resource_type": "cpu", "quantity": q, "duration_seconds": d});
    for (body, status, code) in [
        (json!({"resource_type": "quantum", "quantity": 1, "duration_seconds": 60}), 400, "W4_ERR_PROTO_FORMAT"),
        (cpu(0, 60), 400, "W4_ERR_PROTO_FORMAT"),
        (cpu(100, 0), 400, "W4_ERR_PROTO_FORMAT"),
        (cpu(100, 86_401), 400, "W4_ERR_PROTO_FORMAT"),
        (cpu(5000, 60), 429, "W4_ERR_AUTHZ_RATE"),
        (
            json!({"resource_type": "cpu", "quantity": 100, "duration_seconds": 60, "pid": std::process::id()}),
            401,
            "W4_ERR_AUTHZ_DENIED",
        ),
        (
            json!({"resource_type": "cpu", "quantity": 1000, "duration_seconds": 600, "max_atp": 100}),
            402,
            "INSUFFICIENT_ATP",
        ),
        (
            json!({"resource_type": "cpu", "quantity": 1, "duration_seconds": 60, "extra": 1}),
            400,
            "W4_ERR_PROTO_FORMAT",
        ),
    ] {
        let r = node.post(&alice, "/v1/resources/allocate", &body).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.body);
    }
    let r = node.post(&bob, "/v1/resources/allocate", &cpu(100, 60)).await;
    assert_eq!((r.status, r.code()), (402, "INSUFFICIENT_ATP"), "bob has no ATP: {}", r.body);
    assert_eq!(node.ledger_records(), before, "refusals record nothing");

    // A lease of one core for 10 minutes costs ceil(1000 · 600 · 1.0 / 3600) = 167 ATP, locked.
    let r = node.post(&alice, "/v1/resources/allocate", &cpu(1000, 600)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let lease = r.body["data"].clone();
    let id = lease["allocation_id"].as_str().unwrap().to_owned();
    assert_eq!(lease["atp_locked"], 167);
    assert_eq!(lease["rates_version"], "1.0.0#0");
    assert_eq!(lease["law_hash"], r.body["metadata"]["law_hash"]);
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(20_000 - 167), Some(167)));
    let s = stats(&node).await;
    assert_eq!(
        (s["pools"]["cpu"]["allocated"].as_u64(), s["pools"]["cpu"]["utilization"].as_f64()),
        (Some(1000), Some(0.25))
    );
    conserved(&node).await;

    // Usage is metered: seq in order, once each, within the token bucket (60 s of the quantity).
    let usage = |seq: u64, used: u64| json!({"allocation_id": id, "seq": seq, "used": used});
    let r = node.post(&alice, "/v1/resources/usage", &usage(1, 30_000)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["data"]["charged"].as_u64(), r.body["data"]["atp_charged"].as_u64()), (Some(9), Some(9)));
    let r = node.post(&alice, "/v1/resources/usage", &usage(1, 10)).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_REPLAY", "{}", r.body);
    let r = node.post(&alice, "/v1/resources/usage", &usage(3, 10)).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_SEQUENCE", "{}", r.body);
    let r = node.post(&alice, "/v1/resources/usage", &usage(2, 200_000)).await;
    assert_eq!((r.status, r.code()), (429, "W4_ERR_AUTHZ_RATE"), "beyond the bucket: {}", r.body);
    let r = node.post(&bob, "/v1/resources/usage", &usage(2, 10)).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "only the holder reports: {}", r.body);
    let r =
        node.post(&alice, "/v1/resources/usage", &json!({"allocation_id": "alloc:nope", "seq": 1, "used": 1})).await;
    assert_eq!(r.code(), "W4_ERR_NOT_FOUND");

    // Release with a final report: 40,000 unit-seconds cost ceil(11.1) = 12; 155 return.
    let pool_adp = conserved(&node).await["pool"]["adp"].as_u64().unwrap();
    let r = node
        .post(&alice, "/v1/resources/release", &json!({"allocation_id": id, "final_usage": {"seq": 2, "used": 10_000}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["data"]["atp_charged"].as_u64(), r.body["data"]["returned"].as_u64()), (Some(12), Some(155)));
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(20_000 - 12), Some(0)));
    assert_eq!(conserved(&node).await["pool"]["adp"].as_u64().unwrap(), pool_adp + 3, "9 was discharged earlier");
    let r = node.post(&alice, "/v1/resources/release", &json!({"allocation_id": id})).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_SEQUENCE", "{}", r.body);
    assert_eq!(stats(&node).await["pools"]["cpu"]["allocated"], 0);

    // Rates change only as the law allows: its rates_authority, within ±50 %.
    let r = node.post(&bob, "/v1/resources/rates", &json!({"rates": {"cpu": 1.2}})).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "{}", r.body);
    let r = node.post(&node.admin, "/v1/resources/rates", &json!({"rates": {"cpu": 2.0}})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    let r = node.post(&node.admin, "/v1/resources/rates", &json!({"rates": {"quantum": 1.0}})).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_FORMAT", "{}", r.body);
    let r = node.post(&node.admin, "/v1/resources/rates", &json!({"rates": {"cpu": 1.44}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["rates_version"], "1.0.0#1");
    assert_eq!(stats(&node).await["pools"]["cpu"]["rate"], 1.44);
    let r = node.post(&alice, "/v1/resources/allocate", &cpu(500, 100)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!((r.body["data"]["rate"].as_f64(), r.body["data"]["atp_locked"].as_u64()), (Some(1.44), Some(20)));
    assert_eq!(r.body["data"]["rates_version"], "1.0.0#1");

    // A funded grant pays for the agent's memory lease; its scope is checked.
    let grant = json!({"agent": id_of(&agent), "atp_budget": 1000, "expires_at": future(3600), "funded": true,
        "scope": {"actions": ["allocate"], "resources": ["resource:memory"], "max_atp": 500}});
    let r = node.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let mem = json!({"resource_type": "memory", "quantity": 1024, "duration_seconds": 3600, "context": {"delegation_id": gid}});
    let mut wrong = mem.clone();
    wrong["resource_type"] = json!("cpu");
    wrong["quantity"] = json!(10);
    let r = node.post(&agent, "/v1/resources/allocate", &wrong).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_SCOPE", "{}", r.body);
    let r = node.post(&bob, "/v1/resources/allocate", &mem).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "only the agent uses the grant: {}", r.body);
    let r = node.post(&agent, "/v1/resources/allocate", &mem).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mem_id = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["atp_locked"], 11, "ceil(1024 · 0.01)");
    assert_eq!(node.get(&format!("/v1/auth/delegation/{gid}")).await.body["data"]["spent"], 11);
    let r =
        node.post(&agent, "/v1/resources/usage", &json!({"allocation_id": mem_id, "seq": 1, "used": 1024 * 60})).await;
    assert_eq!(r.body["data"]["charged"], 1, "{}", r.body);
    let locked = account(&node, &alice).await["locked"].as_u64().unwrap();
    assert_eq!(locked, 20 + 1000 - 1, "the cpu lease, and the grant's lock less the charged ATP");

    // Revoking the grant ends its lease; everything unspent returns to Alice.
    let r = node.delete(&alice, &format!("/v1/auth/delegate/{gid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let l = node.get(&format!("/v1/resources/allocation/{mem_id}")).await.body["data"].clone();
    assert_eq!((l["released"].as_bool(), l["release_reason"].as_str()), (Some(true), Some("revoked")));
    assert_eq!(account(&node, &alice).await["locked"], 20);
    conserved(&node).await;

    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    for want in [
        "web4_resource_allocations_total{resource_type=\"cpu\"} 2",
        "web4_resource_allocations_total{resource_type=\"memory\"} 1",
        "web4_atp_conversion_rate{resource_type=\"cpu\"} 1.44",
        "web4_resource_pool_utilization{resource_type=\"cpu\"} 0.125",
    ] {
        assert!(metrics.contains(want), "missing {want}: {metrics}");
    }
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

/// Wait (up to 20 s) until `node` closed lease `id` as expired.
async fn closed_as_expired(node: &TestNode, id: &str, otherwise: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let l = node.get(&format!("/v1/resources/allocation/{id}")).await.body["data"].clone();
        if l["released"] == true {
            assert_eq!(l["release_reason"], "expired");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{otherwise}: {l}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn expired_leases_are_closed_by_the_node() {
    let node = TestNode::start_with_config("sweep_interval_secs = 1\n", &[]).await;
    let alice = random_key();
    assert_eq!(node.mint(&alice, EntityType::Human).await.status, 201);
    fund(&node, &[(&alice, 1000)]).await;
    // A law with no grace period after expiry; it resets the rates version.
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    law["resources"]["release_grace_seconds"] = json!(0);
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(stats(&node).await["rates_version"], "1.1.0#0");

    let r = node
        .post(&alice, "/v1/resources/allocate", &json!({"resource_type": "gpu", "quantity": 1, "duration_seconds": 2}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["atp_locked"], 1, "ceil(2 s of 50 ATP per hour)");
    let r = node
        .post(&alice, "/v1/resources/allocate", &json!({"resource_type": "gpu", "quantity": 1, "duration_seconds": 60}))
        .await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_RATE", "the only GPU is leased: {}", r.body);
    closed_as_expired(&node, &id, "the lease was not closed").await;
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(1000), Some(0)), "nothing used, all returned");
    let r = node
        .post(&alice, "/v1/resources/allocate", &json!({"resource_type": "gpu", "quantity": 1, "duration_seconds": 60}))
        .await;
    assert_eq!(r.status, 201, "the GPU is free again: {}", r.body);
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
}

/// A node closes only the expired leases it owns (decisions/0017); a peer's
/// expired lease, which it may not close, does not hold back its own.
#[tokio::test]
async fn a_peers_expired_lease_does_not_hold_back_the_nodes_own() {
    let a = TestNode::start_with_config("sweep_interval_secs = 3600\n", &[]).await;
    let (alice, agent) = (random_key(), random_key());
    for k in [&alice, &agent] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    fund(&a, &[(&alice, 1000)]).await;
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    law["resources"]["release_grace_seconds"] = json!(0);
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // a's lease: it expires, and a (sweeping hourly) does not close it yet.
    let r = a
        .post(&alice, "/v1/resources/allocate", &json!({"resource_type": "gpu", "quantity": 1, "duration_seconds": 1}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let theirs = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    // b holds a copy of a's ledger (no federation) and sweeps every second.
    let b = TestNode::join(&a, "sweep_interval_secs = 1\n").await;
    // b's own lease, paid from a grant whose tree b recorded (so b owns both).
    let grant = json!({"agent": id_of(&agent), "atp_budget": 100, "expires_at": future(3600), "funded": false,
        "scope": {"actions": ["allocate"], "resources": ["resource:memory"], "max_atp": 100}});
    let r = b.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let mem =
        json!({"resource_type": "memory", "quantity": 1024, "duration_seconds": 2, "context": {"delegation_id": gid}});
    let r = b.post(&agent, "/v1/resources/allocate", &mem).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mine = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    closed_as_expired(&b, &mine, "b did not close its own expired lease").await;
    let l = b.get(&format!("/v1/resources/allocation/{theirs}")).await.body["data"].clone();
    assert_eq!(l["released"], false, "a's lease is a's to close: {l}");
    let v = b.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
}

fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

#[tokio::test]
async fn leases_are_enforced_with_cgroups() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().next().unwrap().to_owned()))
        .unwrap();
    let config = format!("enforce_leases = true\nenforce_uids = [{uid}]\nsweep_interval_secs = 1\n");
    let node = TestNode::start_with_config(&config, &[]).await;
    let s = stats(&node).await;
    if s["enforcement"]["mode"] == "off" {
        eprintln!(
            "\n*** SKIPPED leases_are_enforced_with_cgroups: this machine does not let the node manage cgroups: {} ***\n",
            s["enforcement"]["reason"]
        );
        return;
    }
    let mode = s["enforcement"]["mode"].as_str().unwrap().to_owned();
    let alice = random_key();
    assert_eq!(node.mint(&alice, EntityType::Human).await.status, 201);
    fund(&node, &[(&alice, 10_000)]).await;
    let mut sleeper = std::process::Command::new("sleep").arg("120").spawn().unwrap();
    let pid = sleeper.id();

    // Not every process may be named: init, and processes of other users, are refused.
    let r = node
        .post(
            &alice,
            "/v1/resources/allocate",
            &json!({"resource_type": "cpu", "quantity": 250, "duration_seconds": 60, "pid": 1}),
        )
        .await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "{}", r.body);

    let cpu = json!({"resource_type": "cpu", "quantity": 250, "duration_seconds": 600, "pid": pid});
    let r = node.post(&alice, "/v1/resources/allocate", &cpu).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cpu_id = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    let mem = json!({"resource_type": "memory", "quantity": 64, "duration_seconds": 600, "pid": pid});
    let r = node.post(&alice, "/v1/resources/allocate", &mem).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mem_id = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();

    let group = format!("pid-{pid}");
    assert!(cgroup_of(pid).contains(&group), "{} not in its lease cgroup: {}", pid, cgroup_of(pid));
    if mode == "cgroup1" {
        let cpu_dir = format!("/sys/fs/cgroup/cpu/web4/{group}");
        let q = std::fs::read_to_string(format!("{cpu_dir}/cpu.cfs_quota_us")).unwrap();
        let p = std::fs::read_to_string(format!("{cpu_dir}/cpu.cfs_period_us")).unwrap();
        assert_eq!((q.trim(), p.trim()), ("25000", "100000"), "250 millicores");
        let m = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/web4/{group}/memory.limit_in_bytes")).unwrap();
        assert_eq!(m.trim(), (64u64 << 20).to_string());
    } else {
        let dir = format!("/sys/fs/cgroup/web4.slice/{group}");
        assert_eq!(std::fs::read_to_string(format!("{dir}/cpu.max")).unwrap().trim(), "25000 100000");
        assert_eq!(std::fs::read_to_string(format!("{dir}/memory.max")).unwrap().trim(), (64u64 << 20).to_string());
    }

    // Releasing one lease lifts its limit; releasing both moves the process out.
    let r = node.post(&alice, "/v1/resources/release", &json!({"allocation_id": cpu_id})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    if mode == "cgroup1" {
        let q = std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/web4/{group}/cpu.cfs_quota_us")).unwrap();
        assert_eq!(q.trim(), "-1", "no CPU limit left");
    }
    let r = node.post(&alice, "/v1/resources/release", &json!({"allocation_id": mem_id})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!cgroup_of(pid).contains(&group), "still in {}", cgroup_of(pid));
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}
