//! Reputation over HTTP: outcomes, queries, deltas, stats, and each gaming
//! pattern detected in a scripted scenario while an honest one is not flagged.

use crate::harness::*;
use serde_json::{Value, json};
use web4_core::SecretKey;
use web4_core::lct::EntityType;
use web4_core::witness::{Attestation, WitnessClass};

/// Report an outcome of `entity` signed by `reporter`, attested by `witnesses`.
async fn report(
    node: &TestNode,
    reporter: &SecretKey,
    entity: &SecretKey,
    action: &str,
    quality: f64,
    witnesses: &[&SecretKey],
) -> Resp {
    let nonce = random_nonce();
    let event = web4_core::payload::outcome_event(&id_of(entity), "analyst", action, "success", Some(quality), &nonce);
    let atts: Vec<Attestation> = witnesses
        .iter()
        .map(|w| Attestation::sign(w, id_of(w), WitnessClass::Quality, event, now(), random_nonce()).unwrap())
        .collect();
    let body = json!({"entity": id_of(entity), "role": "analyst", "action": action, "result_status": "success",
        "quality": quality, "witnesses": atts});
    node.post_raw(
        reporter,
        "/v1/reputation/outcome",
        serde_json::to_vec(&body).unwrap(),
        &Sign { nonce: Some(nonce), ..Sign::default() },
    )
    .await
}

fn patterns(r: &Resp) -> Vec<String> {
    r.body["data"]["gaming_flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pattern"].as_str().unwrap().to_owned())
        .collect()
}

async fn keys(node: &TestNode, n: usize) -> Vec<SecretKey> {
    let mut out = Vec::new();
    for _ in 0..n {
        let k = random_key();
        assert_eq!(node.mint(&k, EntityType::Human).await.status, 201);
        out.push(k);
    }
    out
}

#[tokio::test]
async fn outcomes_queries_and_an_honest_history() {
    let node = TestNode::start().await;
    let ks = keys(&node, 4).await;
    let (alice, reporter, w1, w2) = (&ks[0], &ks[1], &ks[2], &ks[3]);
    let path = format!("/v1/reputation/{}/analyst", id_of(alice));

    // Before any outcome: neutral tensors.
    let r = node.get(&path).await;
    assert_eq!((r.status, r.body["data"]["t3_composite"].as_f64()), (200, Some(0.5)));
    // A dry run changes nothing.
    let dry = json!({"entity": id_of(alice), "role": "analyst", "action": "review", "result_status": "success", "quality": 0.9});
    let r = node.post_raw(reporter, "/v1/reputation/delta", serde_json::to_vec(&dry).unwrap(), &Sign::default()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!((r.body["data"]["delta"]["t3_deltas"]["talent"]["change"].as_f64().unwrap() - 0.008).abs() < 1e-9);

    // An honest history: varied actions, independent witnesses, mixed quality.
    let before = node.ledger_records();
    for (action, q) in [("review", 0.9), ("analyze", 0.7), ("review", 0.4), ("report", 0.8)] {
        let r = report(&node, reporter, alice, action, q, &[w1, w2]).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["data"]["independent_witnesses"], 2);
        assert!(patterns(&r).is_empty(), "honest outcome flagged: {}", r.body);
    }
    assert_eq!(node.ledger_records(), before + 4, "every outcome is a record");
    let r = node.get(&path).await;
    let d = &r.body["data"];
    assert_eq!(d["outcomes"], 4);
    assert!(d["t3"]["talent"].as_f64().unwrap() > 0.5);
    assert!(d["recency"]["talent"].as_f64().unwrap() > 0.5, "{d}");
    assert_eq!(d["inactivity_decay"], 0.0);
    // Trust is per role: the same entity in another role is untouched.
    let other = node.get(&format!("/v1/reputation/{}/auditor", id_of(alice))).await;
    assert_eq!(other.body["data"]["outcomes"], 0);

    // Bad input: nothing recorded.
    let before = node.ledger_records();
    for bad in [
        json!({"entity": id_of(alice), "role": "analyst", "action": "x", "result_status": "great", "quality": 0.5}),
        json!({"entity": id_of(alice), "role": "analyst", "action": "x", "result_status": "success", "quality": 1.5}),
        json!({"entity": id_of(alice), "role": "", "action": "x", "result_status": "success"}),
    ] {
        let r = node.post(reporter, "/v1/reputation/outcome", &bad).await;
        assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "{}", r.body);
    }
    let ghost = id_of(&random_key());
    let r = node
        .post(
            reporter,
            "/v1/reputation/outcome",
            &json!({"entity": ghost, "role": "a", "action": "x", "result_status": "success"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "W4_ERR_NOT_FOUND"));
    assert_eq!(node.ledger_records(), before);

    let s = node.get("/v1/reputation/stats").await.body["data"].clone();
    assert_eq!((s["pairs"].as_u64(), s["outcomes"].as_u64()), (Some(1), Some(4)));
    assert_eq!(s["t3_composite_distribution"][0]["role"], "analyst");
    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains("web4_reputation_updates_total{outcome_type=\"success\"} 4"), "{metrics}");
    assert!(metrics.contains("web4_gaming_detected_total{pattern=\"self_dealing\"} 0"), "{metrics}");
    assert!(metrics.contains(&format!("web4_reputation_t3_score{{entity=\"{}\",role=\"analyst\"}}", id_of(alice))));
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn each_gaming_pattern_is_detected() {
    let node = TestNode::start().await;
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    law["reputation"] = json!({"gaming": {"burst_window": 3, "burst_threshold": 0.015, "min_independent_witnesses": 1,
        "witness_poor_streak": 2, "farming_repeats": 3}});
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ks = keys(&node, 6).await;
    let (a, b, reporter, delegate, w) = (&ks[0], &ks[1], &ks[2], &ks[3], &ks[4]);

    // Self-dealing: witnessed only by the actor itself, then only by its own delegate.
    let r = report(&node, reporter, a, "s1", 1.0, &[a]).await;
    assert_eq!(patterns(&r), ["self_dealing"], "{}", r.body);
    assert_eq!(r.body["data"]["t3_composite"], 0.5, "self-dealt gains are not applied");
    let g = node
        .post(
            a,
            "/v1/auth/delegate",
            &json!({"agent": id_of(delegate), "atp_budget": 0,
            "expires_at": web4_core::Timestamp(now().0 + 600).to_string(),
            "scope": {"actions": ["*"], "resources": ["*"], "max_atp": 0}}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let r = report(&node, reporter, a, "s2", 1.0, &[delegate]).await;
    assert!(patterns(&r).contains(&"self_dealing".to_owned()), "{}", r.body);

    // Witness cycle: b witnesses a, then a witnesses b.
    let r = report(&node, reporter, a, "c1", 0.6, &[b]).await;
    assert!(!patterns(&r).contains(&"witness_cycle".to_owned()), "{}", r.body);
    let r = report(&node, reporter, b, "c1", 0.6, &[a]).await;
    assert!(patterns(&r).contains(&"witness_cycle".to_owned()), "{}", r.body);

    // Witness-poor streak: two outcomes in a row without independent witnesses.
    let c = &ks[5];
    let r = report(&node, reporter, c, "p1", 0.6, &[]).await;
    assert!(patterns(&r).is_empty(), "{}", r.body);
    let r = report(&node, reporter, c, "p2", 0.6, &[]).await;
    assert_eq!(patterns(&r), ["witness_poor"], "{}", r.body);
    // A streak is flagged at its threshold and at each multiple of it, not at
    // every outcome; the pair shows the streak as it runs.
    let r = report(&node, reporter, c, "p3", 0.6, &[]).await;
    assert!(patterns(&r).is_empty(), "{}", r.body);
    let r = report(&node, reporter, c, "p4", 0.6, &[]).await;
    assert_eq!(patterns(&r), ["witness_poor"], "{}", r.body);
    assert_eq!(r.body["data"]["gaming_flags"][0]["evidence"]["streak"], 4, "{}", r.body);
    let pair = node.get(&format!("/v1/reputation/{}/analyst", id_of(c))).await;
    assert_eq!(pair.body["data"]["streaks"]["witness_poor"], 4, "{}", pair.body);
    assert_eq!(pair.body["data"]["gaming_flags"], json!([{"pattern": "witness_poor", "count": 2}]), "{}", pair.body);

    // Farming: the same action three times in a row (with diminishing returns).
    let mut gains = Vec::new();
    let mut last = Resp { status: 0, body: Value::Null, headers: Default::default() };
    for _ in 0..3 {
        last = report(&node, reporter, w, "farm", 1.0, &[reporter]).await;
        gains.push(last.body["data"]["delta"]["t3_deltas"]["talent"]["change"].as_f64().unwrap());
    }
    assert!(patterns(&last).contains(&"action_farming".to_owned()), "{}", last.body);
    assert!(gains[1] < gains[0] && gains[2] < gains[1], "diminishing returns: {gains:?}");
    // Burst growth: the three quality-1.0 outcomes raised w's composite by more than 0.015.
    assert!(patterns(&last).contains(&"burst_growth".to_owned()), "{}", last.body);

    let s = node.get("/v1/reputation/stats").await.body["data"].clone();
    for p in ["self_dealing", "witness_cycle", "witness_poor", "action_farming", "burst_growth"] {
        assert!(s["gaming_flags"][p].as_u64().unwrap() >= 1, "{p}: {s}");
    }
    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains("web4_gaming_detected_total{pattern=\"witness_cycle\"} 1"), "{metrics}");
    // Flags, events and tensors rebuild identically from the ledger.
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    // A peer recomputes each outcome's delta under the law it names,
    // self-dealt and cyclic ones (gains taken away) and streaks included.
    node.a_joining_peer_accepts_every_record().await;
}
