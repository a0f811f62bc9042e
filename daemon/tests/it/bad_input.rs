//! Bad input: each answered with its documented code, nothing written.

use crate::harness::*;
use serde_json::json;
use web4_core::Timestamp;
use web4_core::lct::{Binding, EntityType};

#[tokio::test]
async fn bad_requests_get_their_codes_and_write_nothing() {
    let node = TestNode::start().await;
    let k = random_key();
    let body = serde_json::to_vec(&mint_body(&k, EntityType::Ai)).unwrap();
    let before = node.ledger_records();
    let mut cases: Vec<(&str, Resp, u16, &str)> = Vec::new();

    // Bad signature: signed over different bytes.
    let other_sig = k.sign(b"something else").to_string();
    let r =
        node.post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { signature: Some(other_sig), ..Sign::default() }).await;
    cases.push(("bad signature", r, 401, "W4_ERR_CRYPTO_VERIFY"));

    // Signed for another society (WEB4-REQUEST-V2 names it): a request meant
    // for one society cannot be replayed to another where the key is known.
    let elsewhere = web4_core::LctId::parse("lct:web4:another-society").unwrap();
    let r =
        node.post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { society: Some(elsewhere), ..Sign::default() }).await;
    let society = node.society().await;
    let canon = r.body["error"]["details"]["canonical_request"].as_str().unwrap_or_default().to_owned();
    assert!(canon.starts_with(&format!("WEB4-REQUEST-V2\n{society}\nPOST\n")), "{}", r.body);
    cases.push(("signed for another society", r, 401, "W4_ERR_CRYPTO_VERIFY"));

    // Signature that is not even base64url.
    let r = node
        .post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { signature: Some("***".into()), ..Sign::default() })
        .await;
    cases.push(("garbled signature", r, 401, "W4_ERR_CRYPTO_VERIFY"));

    // Unknown signer: a registered-looking id that is not on this node.
    let stranger = random_key();
    let r = node.post(&stranger, &format!("/v1/lct/{}/suspend", id_of(&k)), &json!({"reason": "x"})).await;
    cases.push(("unknown signer", r, 401, "W4_ERR_AUTHZ_DENIED"));

    // Missing Authorization.
    let r = node
        .http
        .post(format!("{}/v1/lct/mint", node.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let b: serde_json::Value = r.json().await.unwrap();
    cases.push(("no auth", Resp { status, body: b, headers: Default::default() }, 401, "W4_ERR_AUTHZ_DENIED"));

    // Stale and future timestamps.
    let r = node
        .post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { ts: Some(Timestamp(now().0 - 301)), ..Sign::default() })
        .await;
    cases.push(("stale timestamp", r, 401, "W4_ERR_AUTHZ_EXPIRED"));
    let r = node
        .post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { ts: Some(Timestamp(now().0 + 3600)), ..Sign::default() })
        .await;
    cases.push(("future timestamp", r, 401, "W4_ERR_AUTHZ_EXPIRED"));

    // Bad nonce form.
    let r =
        node.post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { nonce: Some("short".into()), ..Sign::default() }).await;
    cases.push(("short nonce", r, 400, "W4_ERR_PROTO_FORMAT"));

    // Malformed JSON, missing field, extra field, wrong types.
    let r = node.post_raw(&k, "/v1/lct/mint", b"{\"entity_type\": ".to_vec(), &Sign::default()).await;
    cases.push(("malformed JSON", r, 400, "W4_ERR_PROTO_FORMAT"));
    let mut missing = mint_body(&k, EntityType::Ai);
    missing.as_object_mut().unwrap().remove("binding_proof");
    let r = node.post(&k, "/v1/lct/mint", &missing).await;
    cases.push(("missing field", r, 400, "W4_ERR_PROTO_FORMAT"));
    let mut extra = mint_body(&k, EntityType::Ai);
    extra["admin"] = json!(true);
    let r = node.post(&k, "/v1/lct/mint", &extra).await;
    cases.push(("extra field", r, 400, "W4_ERR_PROTO_FORMAT"));
    let mut wrong = mint_body(&k, EntityType::Ai);
    wrong["entity_type"] = json!("dragon");
    let r = node.post(&k, "/v1/lct/mint", &wrong).await;
    cases.push(("unknown entity type", r, 400, "W4_ERR_PROTO_FORMAT"));
    let r = node
        .post_raw(&k, "/v1/lct/mint", body.clone(), &Sign { content_type: Some("text/plain"), ..Sign::default() })
        .await;
    cases.push(("wrong content type", r, 400, "W4_ERR_PROTO_FORMAT"));

    // Oversized body (default limit 64 KiB).
    let mut big = mint_body(&k, EntityType::Ai);
    big["birth_context"] = json!("x".repeat(70 * 1024));
    let r = node.post(&k, "/v1/lct/mint", &big).await;
    cases.push(("oversized body", r, 413, "W4_ERR_PROTO_FORMAT"));

    // id/key mismatch in the submitted document.
    let mut mismatch = mint_body(&k, EntityType::Ai);
    mismatch["lct_id"] = json!(id_of(&random_key()));
    let r = node.post(&k, "/v1/lct/mint", &mismatch).await;
    cases.push(("id/key mismatch", r, 400, "W4_ERR_BINDING_INVALID"));

    // Binding proof made by another key / over other data.
    let mut forged = mint_body(&k, EntityType::Ai);
    forged["binding_proof"] = json!(Binding::create(&random_key(), EntityType::Ai, now()).binding_proof);
    let r = node.post(&k, "/v1/lct/mint", &forged).await;
    cases.push(("forged binding proof", r, 401, "W4_ERR_BINDING_PROOF_FAIL"));
    let mut retyped = mint_body(&k, EntityType::Ai);
    retyped["entity_type"] = json!("human");
    let r = node.post(&k, "/v1/lct/mint", &retyped).await;
    cases.push(("binding proof over another entity type", r, 401, "W4_ERR_BINDING_PROOF_FAIL"));

    // A mint signed by another LCT: its key is registered or the request is
    // refused; the request signature and the binding proof are checked in one
    // batch, the binding's failure reported first.
    let r = node.post(&random_key(), "/v1/lct/mint", &mint_body(&k, EntityType::Ai)).await;
    cases.push(("mint by an unknown signer", r, 401, "W4_ERR_AUTHZ_DENIED"));
    let r = node
        .post_raw(
            &node.admin,
            "/v1/lct/mint",
            body.clone(),
            &Sign { signature: Some(node.admin.sign(b"something else").to_string()), ..Sign::default() },
        )
        .await;
    cases.push(("mint by a registered signer, bad signature", r, 401, "W4_ERR_CRYPTO_VERIFY"));
    let r = node
        .post_raw(
            &k,
            "/v1/lct/mint",
            serde_json::to_vec(&forged).unwrap(),
            &Sign { signature: Some(k.sign(b"something else").to_string()), ..Sign::default() },
        )
        .await;
    cases.push(("forged binding proof and bad signature", r, 401, "W4_ERR_BINDING_PROOF_FAIL"));

    // Unknown target, bad reason, unknown route, wrong method.
    let r = node.post(&node.admin, &format!("/v1/lct/{}/suspend", id_of(&random_key())), &json!({"reason": "x"})).await;
    cases.push(("unknown target", r, 404, "W4_ERR_NOT_FOUND"));
    let r =
        node.post(&node.admin, &format!("/v1/lct/{}/revoke", id_of(&node.admin)), &json!({"reason": "bored"})).await;
    cases.push(("bad revocation reason", r, 400, "W4_ERR_PROTO_FORMAT"));
    let r = node.get("/v1/nope").await;
    cases.push(("unknown route", r, 404, "W4_ERR_NOT_FOUND"));
    let r = node.get("/v1/lct/mint").await;
    cases.push(("wrong method", r, 405, "W4_ERR_PROTO_FORMAT"));
    let r = node.get("/v1/lct/not-an-lct-id").await;
    cases.push(("malformed id", r, 400, "W4_ERR_PROTO_FORMAT"));
    let r = node.get("/v1/lct/lct:web4:nobody").await;
    cases.push(("GET unknown LCT", r, 404, "W4_ERR_NOT_FOUND"));

    let mut failures = Vec::new();
    for (name, r, status, code) in &cases {
        if r.status != *status || r.code() != *code || r.body["success"] != false {
            failures.push(format!("{name}: expected {status} {code}, got {} {}", r.status, r.body));
        }
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: no message");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(node.ledger_records(), before, "a refused request wrote to the ledger");

    // Replayed nonce: the first use succeeds, the exact replay is refused.
    let nonce = random_nonce();
    let ts = now();
    let s = Sign { nonce: Some(nonce), ts: Some(ts), ..Sign::default() };
    let r1 = node.post_raw(&k, "/v1/lct/mint", body.clone(), &s).await;
    assert_eq!(r1.status, 201, "{}", r1.body);
    let r2 = node.post_raw(&k, "/v1/lct/mint", body.clone(), &s).await;
    assert_eq!((r2.status, r2.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", r2.body);
    let target = id_of(&k).to_string();
    let sb = serde_json::to_vec(&json!({"reason": "replay test"})).unwrap();
    let s = Sign { nonce: Some(random_nonce()), ts: Some(now()), ..Sign::default() };
    let path = format!("/v1/lct/{target}/suspend");
    let a = node.post_raw(&node.admin, &path, sb.clone(), &s).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let path_r = format!("/v1/lct/{target}/reinstate");
    let a = node.post_raw(&node.admin, &path_r, sb.clone(), &s).await;
    assert_eq!((a.status, a.code()), (409, "W4_ERR_PROTO_REPLAY"), "same nonce, other request: {}", a.body);
    assert_eq!(node.get(&format!("/v1/lct/{target}")).await.body["data"]["status"], "suspended");

    // A refused request spends its nonce too: replaying it after the state changed
    // (here: reinstate refused while active, replayed once suspended) is refused.
    let (oid, rb, s) = refused_reinstate(&node).await;
    let sus = node.post(&node.admin, &format!("/v1/lct/{oid}/suspend"), &json!({"reason": "x"})).await;
    assert_eq!(sus.status, 200);
    let replay = node.post_raw(&node.admin, &format!("/v1/lct/{oid}/reinstate"), rb, &s).await;
    assert_eq!((replay.status, replay.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", replay.body);
    assert_eq!(node.ledger_records(), before + 4);
}

/// Mint an LCT and ask, as the admin, to reinstate it while it is active: the
/// request is refused (`W4_ERR_PROTO_SEQUENCE`) but spends its nonce. Returns
/// the LCT id and the refused request's body and signing, to replay it.
async fn refused_reinstate(node: &TestNode) -> (String, Vec<u8>, Sign) {
    let other = random_key();
    assert_eq!(node.mint(&other, EntityType::Ai).await.status, 201);
    let oid = id_of(&other).to_string();
    let s = Sign { nonce: Some(random_nonce()), ts: Some(now()), ..Sign::default() };
    let rb = serde_json::to_vec(&json!({"reason": "lift"})).unwrap();
    let refused = node.post_raw(&node.admin, &format!("/v1/lct/{oid}/reinstate"), rb.clone(), &s).await;
    assert_eq!((refused.status, refused.code()), (400, "W4_ERR_PROTO_SEQUENCE"));
    (oid, rb, s)
}

#[tokio::test]
async fn spent_nonces_stay_spent_across_a_restart() {
    let mut node = TestNode::start().await;
    // A refused request (reinstating an active LCT) spends its nonce.
    let (oid, rb, s) = refused_reinstate(&node).await;
    // So does an accepted one.
    let sb = serde_json::to_vec(&json!({"reason": "x"})).unwrap();
    let s2 = Sign { nonce: Some(random_nonce()), ts: Some(now()), ..Sign::default() };
    let sus = node.post_raw(&node.admin, &format!("/v1/lct/{oid}/suspend"), sb.clone(), &s2).await;
    assert_eq!(sus.status, 200, "{}", sus.body);
    assert!(node.sigterm().success());
    node.spawn(&[]).await;
    // After the restart the LCT is suspended, so the refused request would now
    // pass: it is refused as a replay. The accepted one is a replay too.
    let replay = node.post_raw(&node.admin, &format!("/v1/lct/{oid}/reinstate"), rb, &s).await;
    assert_eq!((replay.status, replay.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", replay.body);
    let replay = node.post_raw(&node.admin, &format!("/v1/lct/{oid}/suspend"), sb, &s2).await;
    assert_eq!((replay.status, replay.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", replay.body);
    assert_eq!(node.get(&format!("/v1/lct/{oid}")).await.body["data"]["status"], "suspended");
    node.ledger_verify();
}

#[tokio::test]
async fn problem_details_on_request() {
    let node = TestNode::start().await;
    let k = random_key();
    let body = serde_json::to_vec(&mint_body(&k, EntityType::Ai)).unwrap();
    let r = node
        .post_raw(
            &k,
            "/v1/lct/mint",
            body,
            &Sign {
                signature: Some(k.sign(b"x").to_string()),
                accept: Some("application/problem+json"),
                ..Sign::default()
            },
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(r.body["code"], "W4_ERR_CRYPTO_VERIFY");
    assert_eq!(r.body["status"], 401);
    assert_eq!(r.body["title"], "Signature Verification Failed");
    assert_eq!(r.body["type"], "about:blank");
    assert_eq!(r.body["instance"], "/v1/lct/mint");
    assert_eq!(r.body["request_id"].as_str(), r.headers["x-request-id"].to_str().ok());
    let r = node.get_with("/v1/lct/lct:web4:nobody", Some("application/problem+json")).await;
    assert_eq!((r.status, r.body["code"].as_str()), (404, Some("W4_ERR_NOT_FOUND")));
}
