//! Authorization over HTTP: delegations, decisions, budgets under concurrency.

use crate::harness::*;
use serde_json::json;
use web4_core::lct::EntityType;

fn future(secs: i64) -> String {
    web4_core::Timestamp(now().0 + secs).to_string()
}

/// Mint a client and an agent; the client delegates `budget` ATP within
/// `scope` to the agent for an hour. Returns both keys and the grant id.
async fn client_agent_grant(
    node: &TestNode,
    budget: u64,
    scope: serde_json::Value,
) -> (web4_core::SecretKey, web4_core::SecretKey, String) {
    let (client, agent) = (random_key(), random_key());
    for k in [&client, &agent] {
        assert_eq!(node.mint(k, EntityType::Ai).await.status, 201);
    }
    let body = json!({"agent": id_of(&agent), "atp_budget": budget, "expires_at": future(3600), "scope": scope});
    let r = node.post(&client, "/v1/auth/delegate", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    (client, agent, grant)
}

#[tokio::test]
async fn delegations_and_decisions() {
    let node = TestNode::start().await;
    let (client, agent, sub) = (random_key(), random_key(), random_key());
    for k in [&client, &agent, &sub] {
        assert_eq!(node.mint(k, EntityType::Ai).await.status, 201);
    }
    let agent_id = id_of(&agent).to_string();
    let r = node
        .post(
            &client,
            "/v1/auth/delegate",
            &json!({
            "agent": agent_id, "atp_budget": 1000, "expires_at": future(3600), "delegatable": true,
            "scope": {"actions": ["compute", "read*"], "resources": ["model:*"], "max_atp": 500}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();

    // The seed's example request.
    let r = node.authorize(&agent, json!({"action": "compute", "resource": "model:training", "atp_cost": 500, "context": {"delegation_id": grant}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["decision"], "granted");
    assert_eq!(r.body["data"]["atp_remaining"], 500);
    assert_eq!(r.body["data"]["requires_witness"], false);
    assert_eq!(r.body["data"]["decision_hash"], r.body["metadata"]["ledger_ref"]);

    // Denials are recorded too, and answered with their code.
    let before = node.ledger_records();
    let r = node
        .authorize(
            &agent,
            json!({"action": "delete", "resource": "model:x", "atp_cost": 1, "context": {"delegation_id": grant}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "W4_ERR_AUTHZ_SCOPE"), "{}", r.body);
    assert!(r.body["error"]["details"]["decision_hash"].as_str().unwrap().starts_with("sha256:"));
    let r = node
        .authorize(
            &client,
            json!({"action": "compute", "resource": "model:x", "atp_cost": 1, "context": {"delegation_id": grant}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "client is not the agent: {}", r.body);
    let r = node.authorize(&agent, json!({"action": "compute", "resource": "model:x", "atp_cost": 1, "role": "treasurer", "context": {"delegation_id": grant}})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "role pairing: {}", r.body);
    assert_eq!(node.ledger_records(), before + 3, "every decision is a record");

    // A sub-grant can only narrow.
    let sub_id = id_of(&sub).to_string();
    let wide = json!({"agent": sub_id, "atp_budget": 100, "expires_at": future(60), "parent": grant,
        "scope": {"actions": ["*"], "resources": ["model:*"], "max_atp": 50}});
    let r = node.post(&agent, "/v1/auth/delegate", &wide).await;
    assert_eq!((r.status, r.code()), (403, "W4_ERR_AUTHZ_SCOPE"), "{}", r.body);
    let narrow = json!({"agent": sub_id, "atp_budget": 100, "expires_at": future(60), "parent": grant,
        "scope": {"actions": ["compute"], "resources": ["model:a"], "max_atp": 50}});
    let r = node.post(&agent, "/v1/auth/delegate", &narrow).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub_grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["delegation"]["depth"], 2);
    // The parent's budget reserved the sub-grant's 100.
    let s = node.get(&format!("/v1/auth/delegation/{grant}")).await;
    assert_eq!((s.body["data"]["spent"].as_u64(), s.body["data"]["atp_remaining"].as_u64()), (Some(600), Some(400)));

    // Revoking the parent stops the sub-grant's very next request.
    let r = node.authorize(
        &sub,
        json!({"action": "compute", "resource": "model:a", "atp_cost": 10, "context": {"delegation_id": sub_grant}}),
    )
    .await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    let del = node.http.delete(format!("{}/v1/auth/delegate/{grant}", node.base));
    let h = web4_daemon::cli::client::sign_headers(
        &client,
        &node.society().await,
        "DELETE",
        &format!("/v1/auth/delegate/{grant}"),
        b"",
    )
    .unwrap();
    let resp = h.apply(del).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let r = node.authorize(
        &sub,
        json!({"action": "compute", "resource": "model:a", "atp_cost": 10, "context": {"delegation_id": sub_grant}}),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    assert_eq!(node.get(&format!("/v1/auth/delegation/{grant}")).await.body["data"]["revoked"], true);

    // Unknown delegation, malformed request: nothing recorded.
    let before = node.ledger_records();
    let r = node.authorize(
        &agent,
        json!({"action": "compute", "resource": "model:a", "atp_cost": 1, "context": {"delegation_id": "deleg:nope"}}),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "W4_ERR_NOT_FOUND"));
    let r = node.authorize(&agent, json!({"action": "compute", "atp_cost": 1})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"));
    let r = node
        .post(
            &client,
            "/v1/auth/delegate",
            &json!({"agent": agent_id, "atp_budget": 1, "expires_at": future(-10),
        "scope": {"actions": ["a"], "resources": ["b"], "max_atp": 1}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_EXPIRED"));
    // An integer that RFC 8785 could not record exactly is refused, not rounded.
    let r = node
        .post(
            &client,
            "/v1/auth/delegate",
            &json!({"agent": agent_id, "atp_budget": u64::MAX / 4, "expires_at": future(60),
        "scope": {"actions": ["a"], "resources": ["b"], "max_atp": 1}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["path"], "body.atp_budget");
    assert_eq!(node.ledger_records(), before);

    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains("web4_authorization_requests_total{decision=\"granted\"} 2"), "{metrics}");
    assert!(metrics.contains("web4_authorization_duration_seconds_count"));
    // Revoking the parent revoked the sub-grant too: none active, no budget left.
    assert!(metrics.contains("web4_delegation_active_count 0"), "{metrics}");
    assert!(metrics.contains(&format!("web4_atp_budget_remaining{{delegation_id=\"{sub_grant}\"}} 0")), "{metrics}");
    assert_eq!(node.get(&format!("/v1/auth/delegation/{sub_grant}")).await.body["data"]["revoked"], true);
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn thirty_two_concurrent_clients_never_overdraw_a_budget() {
    let node = TestNode::start().await;
    let (_client, agent, grant) =
        client_agent_grant(&node, 1000, json!({"actions": ["compute"], "resources": ["*"], "max_atp": 100})).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (http, base, agent, grant) = (node.http.clone(), node.base.clone(), agent.clone(), grant.clone());
        tasks.push(tokio::spawn(async move {
            let mut granted = 0u64;
            for j in 0..10 {
                let cost = 7 + (i + j) % 5; // 7..=11
                let body = serde_json::to_vec(
                    &json!({"action": "compute", "resource": format!("job:{i}:{j}"), "atp_cost": cost,
                    "context": {"delegation_id": grant}}),
                )
                .unwrap();
                let r = post_signed(&http, &base, &agent, "/v1/auth/authorize", body).await.unwrap();
                let status = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap();
                match status {
                    200 => {
                        assert_eq!(v["data"]["decision"], "granted");
                        granted += cost as u64;
                    }
                    402 => assert_eq!(v["error"]["code"], "INSUFFICIENT_ATP"),
                    other => panic!("unexpected {other}: {v}"),
                }
            }
            granted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    // 320 requests asking ~2,880 ATP against a budget of 1,000.
    assert!(total <= 1000, "granted {total} > budget");
    assert!(total > 900, "the budget should be nearly used: {total}");
    let s = node.get(&format!("/v1/auth/delegation/{grant}")).await;
    assert_eq!(s.body["data"]["spent"].as_u64(), Some(total));
    node.ledger_verify();
}

#[tokio::test]
async fn delegation_gauge_survives_a_restart() {
    let mut node = TestNode::start().await;
    let (client, agent) = (random_key(), random_key());
    for k in [&client, &agent] {
        assert_eq!(node.mint(k, EntityType::Ai).await.status, 201);
    }
    for _ in 0..2 {
        let r = node
            .post(
                &client,
                "/v1/auth/delegate",
                &json!({"agent": id_of(&agent), "atp_budget": 5, "expires_at": future(600),
                "scope": {"actions": ["a"], "resources": ["b"], "max_atp": 5}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert!(node.sigterm().success());
    node.spawn(&[]).await;
    let m = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(m.contains("web4_delegation_active_count 2"), "{m}");
}

/// Revoking a delegation is a signed write like the others: a suspended
/// client (say, a stolen key awaiting revocation) cannot cut its agents off,
/// and the refused request leaves the grant as it was.
#[tokio::test]
async fn a_suspended_client_cannot_revoke_its_delegations() {
    let node = TestNode::start().await;
    let (client, _agent, grant) =
        client_agent_grant(&node, 10, json!({"actions": ["compute"], "resources": ["model:*"], "max_atp": 5})).await;
    let r =
        node.post(&node.admin, &format!("/v1/lct/{}/suspend", id_of(&client)), &json!({"reason": "key lost"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = node.ledger_records();
    let r = node.delete(&client, &format!("/v1/auth/delegate/{grant}")).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    assert_eq!(node.ledger_records(), before, "nothing recorded");
    assert_eq!(node.get(&format!("/v1/auth/delegation/{grant}")).await.body["data"]["revoked"], false);
}

/// Law `delegation.requires_approval`: a root delegation grants nothing, and
/// cannot be re-delegated, until a role authority approves it; sub-grants of
/// an approved root need no approval of their own; everything replays.
#[tokio::test]
async fn a_delegation_the_law_requires_to_be_approved_grants_nothing_until_approved() {
    let node = TestNode::start().await;
    // Before the law requires it: a grant takes effect at once.
    let scope = json!({"actions": ["compute"], "resources": ["*"], "max_atp": 100});
    let (_, _, before) = client_agent_grant(&node, 100, scope.clone()).await;
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    law["delegation"]["requires_approval"] = json!(true);
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = |g: String| {
        let node = &node;
        async move { node.get(&format!("/v1/auth/delegation/{g}")).await }
    };
    assert_eq!(status(before.clone()).await.body["data"]["pending"], false, "grants recorded before stay in effect");

    let (client, agent) = (random_key(), random_key());
    for k in [&client, &agent] {
        assert_eq!(node.mint(k, EntityType::Ai).await.status, 201);
    }
    let body = json!({"agent": id_of(&agent), "atp_budget": 100, "expires_at": future(3600), "scope": scope,
        "delegatable": true});
    let r = node.post(&client, "/v1/auth/delegate", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let s = status(grant.clone()).await.body["data"].clone();
    assert_eq!((s["pending"].as_bool(), s["active"].as_bool()), (Some(true), Some(false)), "{s}");
    let act = json!({"action": "compute", "resource": "job:1", "atp_cost": 5, "context": {"delegation_id": grant}});
    let r = node.authorize(&agent, act.clone()).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("awaits approval"), "{}", r.body);
    let helper = random_key();
    assert_eq!(node.mint(&helper, EntityType::Ai).await.status, 201);
    let sub =
        json!({"agent": id_of(&helper), "atp_budget": 10, "expires_at": future(1800), "scope": scope, "parent": grant});
    let r = node.post(&agent, "/v1/auth/delegate", &sub).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "no re-delegation while it waits: {}", r.body);

    // Only a role authority approves, once, and not with a body.
    let approve = format!("/v1/auth/delegate/{grant}/approve");
    let r = node.post_raw(&client, &approve, Vec::new(), &Sign::default()).await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "the client may not approve its own grant: {}", r.body);
    let r = node.post_raw(&node.admin, &approve, b"{}".to_vec(), &Sign::default()).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_FORMAT", "{}", r.body);
    let r = node.post_raw(&node.admin, "/v1/auth/delegate/deleg:nope/approve", Vec::new(), &Sign::default()).await;
    assert_eq!(r.code(), "W4_ERR_NOT_FOUND", "{}", r.body);
    let records = node.ledger_records();
    let r = node.post_raw(&node.admin, &approve, Vec::new(), &Sign::default()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(node.ledger_records(), records + 1);
    let r = node.post_raw(&node.admin, &approve, Vec::new(), &Sign::default()).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_SEQUENCE", "{}", r.body);
    let s = status(grant.clone()).await.body["data"].clone();
    assert_eq!((s["pending"].as_bool(), s["active"].as_bool()), (Some(false), Some(true)), "{s}");
    assert_eq!(s["approved_by"], json!(id_of(&node.admin).to_string()));

    // Approved: it grants, and its sub-grants need no approval of their own.
    let r = node.authorize(&agent, act).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["atp_remaining"], 95);
    let r = node.post(&agent, "/v1/auth/delegate", &sub).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let child = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(status(child.clone()).await.body["data"]["pending"], false);
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}
