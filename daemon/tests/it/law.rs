//! Governance routes over HTTP.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn law_in_force_and_checks() {
    let node = TestNode::start().await;
    let r = node.get("/v1/law/version/current").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let law_hash = r.body["data"]["law_hash"].as_str().unwrap().to_owned();
    assert_eq!(r.body["metadata"]["law_hash"], law_hash.as_str());
    assert_eq!(r.body["data"]["version"], "1.0.0");
    assert_eq!(node.get("/v1/law/version/1.0.0").await.status, 200);
    let p = node.get("/v1/law/permissions/authority").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(
        (p.body["data"]["may_mint_lcts"].as_bool(), p.body["data"]["may_publish_law"].as_bool()),
        (Some(true), Some(true))
    );
    let p = node.get("/v1/law/permissions/citizen").await;
    assert_eq!(
        (p.body["data"]["may_mint_lcts"].as_bool(), p.body["data"]["may_change_lct_status"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(node.get("/v1/law/permissions/king").await.status, 404);
    let r = node.get("/v1/law/version/9.9.9").await;
    assert_eq!((r.status, r.code()), (404, "W4_ERR_NOT_FOUND"));

    let check = |body: serde_json::Value| {
        let http = node.http.clone();
        let url = format!("{}/v1/law/check", node.base);
        async move {
            let r = http.post(url).header("content-type", "application/json").json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = check(json!({"action": "lct.mint", "role": "citizen", "resource": {"atp": 5}})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["decision"], "allow");
    assert_eq!(b["data"]["norm"], "DEFAULT-ALLOW");
    assert_eq!(b["data"]["evidence"][0]["fired"], true);
    assert_eq!(b["data"]["law_hash"], law_hash.as_str());
    // Pinned to the law in force: fine; to another hash: a downgrade.
    let (s, _) = check(json!({"action": "x", "law_hash": law_hash})).await;
    assert_eq!(s, 200);
    let other = format!("sha256:{}", "ab".repeat(32));
    let (s, b) = check(json!({"action": "x", "law_hash": other})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("W4_ERR_PROTO_DOWNGRADE")), "{b}");
    let (s, b) = check(json!({"act": "x"})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("W4_ERR_PROTO_FORMAT")), "{b}");
}

fn dev_law(version: &str, publish_witnesses: u64) -> serde_json::Value {
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!(version);
    law["procedures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "LAW-PUBLISH", "requires_witnesses": publish_witnesses, "applies_to": "law.publish"}));
    law
}

#[tokio::test]
async fn publishing_law_versions() {
    let node = TestNode::start().await;
    let old = node.get("/v1/law/version/current").await.body["data"]["law_hash"].as_str().unwrap().to_owned();
    let before = node.ledger_records();

    // Refusals first: nothing is recorded.
    let citizen = random_key();
    assert_eq!(node.mint(&citizen, web4_core::lct::EntityType::Human).await.status, 201);
    let r = node.post(&citizen, "/v1/law/publish", &json!({"law": dev_law("1.1.0", 1)})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let bad = "version: \"1.1.0\"\nnorms:\n  - id: X\n    selector: r6.request.action\n    operator: LIKE\n    value: a\n    decision: deny\n";
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": bad})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["issues"][0]["path"], "norms[0].operator");
    let mut same_version = dev_law("1.0.0", 1);
    same_version["identity"]["rotation_overlap_seconds"] = json!(60);
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": same_version})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    assert_eq!(node.ledger_records(), before + 1, "only the citizen's mint was recorded");

    // The authority publishes 1.1.0; it is in force at once, 1.0.0 stays readable.
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": dev_law("1.1.0", 2)})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new = r.body["data"]["law_hash"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(r.body["data"]["previous"], old.as_str());
    assert_eq!(r.body["metadata"]["law_hash"], new.as_str());
    let cur = node.get("/v1/law/version/current").await;
    assert_eq!(
        (cur.body["data"]["version"].as_str(), cur.body["data"]["in_force"].as_bool()),
        (Some("1.1.0"), Some(true))
    );
    let v1 = node.get("/v1/law/version/1.0.0").await;
    assert_eq!(
        (v1.body["data"]["law_hash"].as_str(), v1.body["data"]["in_force"].as_bool()),
        (Some(old.as_str()), Some(false))
    );

    // Requests pinned to the old law are downgrades; identity keeps working.
    let r = node
        .http
        .post(format!("{}/v1/law/check", node.base))
        .json(&json!({"action": "x", "law_hash": old}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(node.mint(&random_key(), web4_core::lct::EntityType::Ai).await.status, 201);

    // 1.1.0 requires two witnesses to publish; the node alone is one.
    let r = node.post(&node.admin, "/v1/law/publish", &json!({"law": dev_law("1.2.0", 2)})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_WITNESS_QUORUM"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["required"], 2);

    let v = node.ledger_verify();
    assert_eq!(v["records"].as_u64().unwrap(), before + 3, "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn interpretations_form_a_replaces_chain() {
    let node = TestNode::start().await;
    let before = node.ledger_records();
    let r = node
        .post(
            &node.admin,
            "/v1/law/interpretation",
            &json!({"norm_id": "DEFAULT-ALLOW", "text": "Reads are low stakes."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["version"], 1);
    let first = r.body["data"]["ref"].as_str().unwrap().to_owned();
    assert_eq!(r.body["metadata"]["ledger_ref"], first.as_str());
    let r = node
        .post(
            &node.admin,
            "/v1/law/interpretation",
            &json!({"norm_id": "DEFAULT-ALLOW", "text": "Reads and self-mints are low stakes.", "replaces": first}),
        )
        .await;
    assert_eq!((r.status, r.body["data"]["version"].as_u64()), (201, Some(2)), "{}", r.body);
    let second = r.body["data"]["ref"].as_str().unwrap().to_owned();
    // The chain is linear: replacing the replaced one again is a conflict.
    let r = node
        .post(
            &node.admin,
            "/v1/law/interpretation",
            &json!({"norm_id": "DEFAULT-ALLOW", "text": "fork", "replaces": first}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    let r = node.post(&node.admin, "/v1/law/interpretation", &json!({"norm_id": "NOPE", "text": "x"})).await;
    assert_eq!((r.status, r.code()), (404, "W4_ERR_NOT_FOUND"));
    let citizen = random_key();
    assert_eq!(node.mint(&citizen, web4_core::lct::EntityType::Human).await.status, 201);
    let r = node.post(&citizen, "/v1/law/interpretation", &json!({"text": "mine"})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"));
    // The law shows only the interpretation in force.
    let v = node.get("/v1/law/version/current").await;
    let list = v.body["data"]["interpretations"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", v.body);
    assert_eq!(list[0]["ref"], second.as_str());
    assert_eq!(list[0]["replaces"], first.as_str());
    assert_eq!(node.ledger_verify()["records"].as_u64().unwrap(), before + 3);
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}
