//! ATP over HTTP: pool, charging, transfers, funded delegations, slashing,
//! the witness requirement on authorize, and conservation throughout.

use crate::harness::*;
use serde_json::{Value, json};
use web4_core::lct::EntityType;

fn future(secs: i64) -> String {
    web4_core::Timestamp(now().0 + secs).to_string()
}

async fn account(node: &TestNode, k: &web4_core::SecretKey) -> Value {
    node.get(&format!("/v1/atp/account/{}", id_of(k))).await.body["data"].clone()
}

async fn pool(node: &TestNode) -> Value {
    let p = node.get("/v1/atp/pool").await.body["data"].clone();
    assert_eq!(p["conserved"], true, "conservation: {p}");
    p
}

#[tokio::test]
async fn pool_accounts_and_funded_delegations() {
    let node = TestNode::start().await;
    let (alice, bob, agent) = (random_key(), random_key(), random_key());
    for k in [&alice, &bob, &agent] {
        assert_eq!(node.mint(k, EntityType::Human).await.status, 201);
    }
    let before = node.ledger_records();

    // Refusals, nothing recorded: minting needs the mint authority, charging
    // needs ADP in the pool, amounts must be positive.
    let r = node.post(&alice, "/v1/atp/mint", &json!({"amount": 100})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let proof = json!({"kind": "contribution", "reference": "pr-1", "value": 300.0});
    let r = node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(&alice), "proof": proof})).await;
    assert_eq!((r.status, r.code()), (402, "INSUFFICIENT_ATP"), "{}", r.body);
    let r = node.post(&node.admin, "/v1/atp/mint", &json!({"amount": 0})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"));
    let r = node.post(&node.admin, "/v1/atp/mint", &json!({"amount": 2_000_000})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "cycle cap: {}", r.body);
    assert_eq!(r.body["error"]["details"]["max_mint_per_cycle"], 1_000_000);
    assert_eq!(node.ledger_records(), before);

    // The authority mints ADP and charges Alice against a value proof.
    let r = node.post(&node.admin, "/v1/atp/mint", &json!({"amount": 10_000})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let p = pool(&node).await;
    assert_eq!((p["pool"]["total_supply"].as_u64(), p["pool"]["adp"].as_u64()), (Some(10_000), Some(10_000)));
    let r = node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(&alice), "proof": proof})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["charged"], 300);
    // The same proof is never charged twice; a sha256 reference must be a record.
    let r = node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(&bob), "proof": proof})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", r.body);
    let fake = json!({"kind": "outcome", "reference": format!("sha256:{}", "ab".repeat(32)), "value": 5.0});
    let r = node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(&bob), "proof": fake})).await;
    assert_eq!((r.status, r.code()), (404, "W4_ERR_NOT_FOUND"), "{}", r.body);
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(300), Some(0)));

    // Transfer with the law's 1 % fee (rounded up), discharged to the pool.
    let r = node.post(&alice, "/v1/atp/transfer", &json!({"to": id_of(&bob), "amount": 50})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["fee"], 1);
    assert_eq!(account(&node, &alice).await["available"], 249);
    assert_eq!(account(&node, &bob).await["available"], 50);
    let r = node.post(&bob, "/v1/atp/transfer", &json!({"to": id_of(&alice), "amount": 50})).await;
    assert_eq!((r.status, r.code()), (402, "INSUFFICIENT_ATP"), "50 + fee 1 > 50: {}", r.body);
    let p = pool(&node).await;
    assert_eq!(p["pool"]["adp"], 10_000 - 300 + 1);

    // A funded delegation locks its budget in Alice's account ...
    let agent_id = id_of(&agent).to_string();
    let grant = json!({"agent": agent_id, "atp_budget": 200, "expires_at": future(3600), "funded": true,
        "delegatable": true, "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 100}});
    let mut too_big = grant.clone();
    too_big["atp_budget"] = json!(1000);
    let r = node.post(&alice, "/v1/auth/delegate", &too_big).await;
    assert_eq!((r.status, r.code()), (402, "INSUFFICIENT_ATP"), "{}", r.body);
    let r = node.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(49), Some(200)));
    // ... spending discharges from the lock to the pool ...
    let spend = |cost: u64| json!({"action": "compute", "resource": "job:1", "atp_cost": cost, "context": {"delegation_id": gid}});
    let r = node.authorize(&agent, spend(80)).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    let a = account(&node, &alice).await;
    assert_eq!((a["locked"].as_u64(), a["adp_discharged"].as_u64()), (Some(120), Some(81)));
    // ... a funded sub-grant reserves from the parent's lock ...
    let sub = random_key();
    assert_eq!(node.mint(&sub, EntityType::Ai).await.status, 201);
    let r = node
        .post(
            &agent,
            "/v1/auth/delegate",
            &json!({"agent": id_of(&sub), "atp_budget": 60, "expires_at": future(600),
            "parent": gid, "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 50}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["delegation"]["funded"], true, "a sub-grant inherits funding");
    let sub_gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let r = node
        .authorize(
            &sub,
            json!({"action": "compute", "resource": "x", "atp_cost": 25, "context": {"delegation_id": sub_gid}}),
        )
        .await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    assert_eq!(account(&node, &alice).await["locked"], 95);
    // ... and revoking the root releases everything unspent, sub-grant included.
    let h = web4_daemon::cli::client::sign_headers(
        &alice,
        &node.society().await,
        "DELETE",
        &format!("/v1/auth/delegate/{gid}"),
        b"",
    )
    .unwrap();
    let resp = h.apply(node.http.delete(format!("{}/v1/auth/delegate/{gid}", node.base))).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(49 + 95), Some(0)));
    let s = node.get(&format!("/v1/auth/delegation/{sub_gid}")).await.body["data"].clone();
    assert_eq!((s["revoked"].as_bool(), s["released"].as_u64()), (Some(true), Some(35)));
    let s = node.get(&format!("/v1/auth/delegation/{gid}")).await.body["data"].clone();
    assert_eq!(s["released"], 95);

    // Spending without a grant comes from the actor's own account.
    let r = node.authorize(&bob, json!({"action": "compute", "resource": "x", "atp_cost": 20})).await;
    assert_eq!(
        (r.body["data"]["decision"].as_str(), r.body["data"]["atp_remaining"].as_u64()),
        (Some("granted"), Some(30))
    );
    let r = node.authorize(&bob, json!({"action": "compute", "resource": "x", "atp_cost": 31})).await;
    assert_eq!((r.status, r.code()), (402, "INSUFFICIENT_ATP"), "{}", r.body);

    // Slashing destroys ATP: supply shrinks, conservation still holds.
    let r = node.post(&bob, "/v1/atp/slash", &json!({"account": id_of(&alice), "amount": 10, "reason": "x"})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"));
    let r = node
        .post(&node.admin, "/v1/atp/slash", &json!({"account": id_of(&alice), "amount": 44, "reason": "spam"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = pool(&node).await;
    assert_eq!(p["pool"]["total_supply"], 10_000 - 44);
    assert_eq!(p["pool"]["atp"], 100 + 30);

    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains("web4_atp_pool_total_supply 9956"), "{metrics}");
    // The projections (pool, accounts, proofs, delegations) rebuild identically
    // from the ledger, and conservation is checked there too.
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn witness_requirement_defers_until_met() {
    let node = TestNode::start().await;
    let actor = random_key();
    assert_eq!(node.mint(&actor, EntityType::Ai).await.status, 201);
    let law = dev_law_with(
        "1.1.0",
        &[
            json!({"id": "PAY-2", "requires_witnesses": 2, "applies_to": "pay"}),
            json!({"id": "SIGN-1", "requires_witnesses": 1, "applies_to": "sign"}),
        ],
    );
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Two witnesses required, only the node attests: deferred, recorded, nothing spent.
    let before = node.ledger_records();
    let r = node.authorize(&actor, json!({"action": "pay", "resource": "x", "atp_cost": 0})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["data"]["decision"].as_str(), r.body["data"]["requires_witness"].as_bool()),
        (Some("deferred"), Some(true))
    );
    assert_eq!(r.body["data"]["witness_requirement"]["required"], 2);
    // An attestation by a key that is not a registered witness does not count.
    let event = web4_core::payload::authorize_event(&id_of(&actor), "pay", "x", 0, "nonce-0000000000000001");
    let forged = web4_core::witness::Attestation::sign(
        &node.admin,
        id_of(&node.admin),
        web4_core::witness::WitnessClass::Action,
        event,
        now(),
        "w1".into(),
    )
    .unwrap();
    let body = serde_json::to_vec(&json!({"action": "pay", "resource": "x", "atp_cost": 0,
        "context": {"witnesses": [forged]}}))
    .unwrap();
    let r = node
        .post_raw(
            &actor,
            "/v1/auth/authorize",
            body,
            &Sign { nonce: Some("nonce-0000000000000001".into()), ..Sign::default() },
        )
        .await;
    assert_eq!(r.body["data"]["decision"], "deferred", "{}", r.body);
    assert_eq!(r.body["data"]["witness_requirement"]["rejected"].as_array().unwrap().len(), 1, "{}", r.body);
    // One witness required: the node's own attestation meets it and is recorded.
    let r = node.authorize(&actor, json!({"action": "sign", "resource": "x", "atp_cost": 0})).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    assert_eq!(node.ledger_records(), before + 3);
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    // A peer recounts the witnesses of the granted one (decisions/0029,
    // session 31) and accepts every record.
    node.a_joining_peer_accepts_every_record().await;
}

/// The node closes a funded grant once it expires: what was not spent is
/// unlocked without the client having to revoke it.
#[tokio::test]
async fn expired_funded_grants_release_their_lock() {
    let node = TestNode::start_with_config("sweep_interval_secs = 1\n", &[]).await;
    let (alice, agent) = (random_key(), random_key());
    for k in [&alice, &agent] {
        assert_eq!(node.mint(k, EntityType::Human).await.status, 201);
    }
    assert_eq!(node.post(&node.admin, "/v1/atp/mint", &json!({"amount": 1000})).await.status, 201);
    let proof = json!({"kind": "contribution", "reference": "exp-1", "value": 500.0});
    assert_eq!(
        node.post(&node.admin, "/v1/atp/charge", &json!({"account": id_of(&alice), "proof": proof})).await.status,
        201
    );
    let grant = json!({"agent": id_of(&agent), "atp_budget": 300, "expires_at": future(3), "funded": true,
        "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 100}});
    let r = node.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let r = node
        .authorize(
            &agent,
            json!({"action": "compute", "resource": "x", "atp_cost": 50, "context": {"delegation_id": gid}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(200), Some(250)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = node.get(&format!("/v1/auth/delegation/{gid}")).await.body["data"].clone();
        if s["revoked"] == true {
            assert_eq!(s["released"], 250, "{s}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the expired grant was not closed: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let a = account(&node, &alice).await;
    assert_eq!((a["available"].as_u64(), a["locked"].as_u64()), (Some(450), Some(0)), "unspent ATP unlocked");
    pool(&node).await;
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
}
