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
