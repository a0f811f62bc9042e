//! mint → get → verify → suspend → reinstate → transition → revoke, over HTTP.

use crate::graph::{W4, ask};
use crate::harness::*;
use serde_json::json;
use web4_core::lct::EntityType;

#[tokio::test]
async fn lct_lifecycle_end_to_end() {
    let node = TestNode::start().await;
    let alice = random_key();
    let alice_id = id_of(&alice).to_string();

    // Mint (self-admission under the dev law).
    let r = node.mint(&alice, EntityType::Human).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["data"]["lct"]["lct_id"], alice_id);
    assert_eq!(r.body["data"]["status"], "active");
    let ledger_ref = r.body["metadata"]["ledger_ref"].as_str().unwrap().to_owned();
    assert!(ledger_ref.starts_with("sha256:"));
    assert!(r.body["metadata"]["law_hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(r.body["metadata"]["request_id"].as_str().unwrap().len() >= 32);
    let cert = &r.body["data"]["lct"]["birth_certificate"];
    assert_eq!(cert["citizen_role"], "citizen");
    assert_eq!(cert["birth_witnesses"].as_array().unwrap().len(), 1, "the node witnessed the birth");
    assert_eq!(r.body["data"]["roles"], json!(["citizen"]));

    // Get.
    let g = node.get(&format!("/v1/lct/{alice_id}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["data"]["lct"], r.body["data"]["lct"]);
    assert_eq!(g.body["data"]["ledger_ref"], ledger_ref.as_str());

    // Verify: binding, certificate, witness recount, status.
    let v = node.get(&format!("/v1/lct/{alice_id}/verify")).await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["data"]["valid"], true, "{}", v.body);
    assert_eq!(v.body["data"]["birth_certificate"]["witnesses_valid"], 1);
    // Verify a signature made by the LCT.
    let msg = b"hello web4";
    let sig = alice.sign(msg);
    let m = data_encoding::BASE64URL_NOPAD.encode(msg);
    let v = node.get(&format!("/v1/lct/{alice_id}/verify?message={m}&signature={sig}")).await;
    assert_eq!(v.body["data"]["signature"], true);
    let bad = random_key().sign(msg);
    let v = node.get(&format!("/v1/lct/{alice_id}/verify?message={m}&signature={bad}")).await;
    assert_eq!(v.body["data"]["signature"], false);
    assert_eq!(v.body["data"]["valid"], false);

    // Suspend (by the admin, who holds the authority role).
    let s = node.post(&node.admin, &format!("/v1/lct/{alice_id}/suspend"), &json!({"reason": "investigation"})).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["data"]["status"], "suspended");
    // A citizen may not suspend others.
    let bob = random_key();
    assert_eq!(node.mint(&bob, EntityType::Ai).await.status, 201);
    let r = node.post(&bob, &format!("/v1/lct/{alice_id}/reinstate"), &json!({"reason": "x"})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"));
    // The suspended LCT's signed requests are refused.
    let carol = random_key();
    let r = node.post(&alice, "/v1/lct/mint", &mint_body(&carol, EntityType::Ai)).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let r = node.post(&alice, &format!("/v1/lct/{alice_id}/transition"), &json!({})).await;
    assert_eq!(r.status, 400, "malformed transition is refused first");
    // Suspending twice is out of sequence.
    let r = node.post(&node.admin, &format!("/v1/lct/{alice_id}/suspend"), &json!({"reason": "again"})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_SEQUENCE"));

    // Reinstate.
    let r = node.post(&node.admin, &format!("/v1/lct/{alice_id}/reinstate"), &json!({"reason": "cleared"})).await;
    assert_eq!(r.body["data"]["status"], "active", "{}", r.body);

    // Transition to a new key: new LCT with lineage, old one superseded.
    let alice2 = random_key();
    let b = web4_core::lct::Binding::create(&alice2, EntityType::Human, now());
    let t = node
        .post(
            &alice,
            &format!("/v1/lct/{alice_id}/transition"),
            &json!({"public_key": b.public_key, "created_at": b.created_at, "binding_proof": b.binding_proof}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let new_id = id_of(&alice2).to_string();
    assert_eq!(t.body["data"]["lct"]["lct"]["lct_id"], new_id);
    assert_eq!(t.body["data"]["lct"]["lct"]["lineage"][0]["parent"], alice_id);
    assert_eq!(t.body["data"]["lct"]["lct"]["lineage"][0]["reason"], "rotation");
    assert_eq!(t.body["data"]["previous"]["status"], "superseded");
    assert_eq!(t.body["data"]["previous"]["superseded_by"], new_id);
    let g = node.get(&format!("/v1/lct/{alice_id}")).await;
    assert_eq!(g.body["data"]["status"], "superseded");
    assert_eq!(node.get(&format!("/v1/lct/{new_id}/verify")).await.body["data"]["valid"], true);
    // A superseded LCT cannot transition again.
    let b3 = web4_core::lct::Binding::create(&random_key(), EntityType::Human, now());
    let r = node
        .post(
            &alice,
            &format!("/v1/lct/{alice_id}/transition"),
            &json!({"public_key": b3.public_key, "created_at": b3.created_at, "binding_proof": b3.binding_proof}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_SEQUENCE"), "{}", r.body);

    // Revoke the new LCT (self-revocation for key compromise): terminal, 410 on use.
    let r = node
        .post(&alice2, &format!("/v1/lct/{new_id}/revoke"), &json!({"reason": "compromise", "note": "laptop stolen"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["status"], "revoked");
    assert_eq!(r.body["data"]["revocation"]["reason"], "compromise");
    let r = node.post(&alice2, "/v1/lct/mint", &mint_body(&random_key(), EntityType::Ai)).await;
    assert_eq!((r.status, r.code()), (410, "W4_ERR_BINDING_REVOKED"), "{}", r.body);
    let r = node.post(&node.admin, &format!("/v1/lct/{new_id}/reinstate"), &json!({"reason": "no"})).await;
    assert_eq!((r.status, r.code()), (410, "W4_ERR_BINDING_REVOKED"));
    let v = node.get(&format!("/v1/lct/{new_id}/verify")).await;
    assert_eq!(v.body["data"]["valid"], false);

    // Minting an existing binding again.
    let r = node.mint(&bob, EntityType::Ai).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_BINDING_EXISTS"));

    // Every change is on the ledger and the projections rebuild identically.
    let v = node.ledger_verify();
    assert_eq!(v["records"], 7, "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn sponsored_mint_requires_a_mint_role() {
    let node = TestNode::start().await;
    let subject = random_key();
    // The admin (authority role) mints for someone else.
    let r = node.post(&node.admin, "/v1/lct/mint", &mint_body(&subject, EntityType::Device)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["lct"]["lct_id"], id_of(&subject).to_string());
    // A plain citizen may not.
    let citizen = random_key();
    assert_eq!(node.mint(&citizen, EntityType::Human).await.status, 201);
    let r = node.post(&citizen, "/v1/lct/mint", &mint_body(&random_key(), EntityType::Device)).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
}

/// Role grants (decisions/0019): only a holder of the law's `role_roles` may
/// grant and revoke, citizens first, the last authority stays, and every
/// change is a record the projections rebuild from.
#[tokio::test]
async fn roles_are_granted_and_taken_back_by_the_role_authority() {
    let node = TestNode::start().await;
    let node_id = node.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let admin_id = id_of(&node.admin).to_string();
    let (alice, bob) = (random_key(), random_key());
    let (alice_id, bob_id) = (id_of(&alice).to_string(), id_of(&bob).to_string());
    assert_eq!(node.mint(&alice, EntityType::Human).await.status, 201);
    assert_eq!(node.mint(&bob, EntityType::Ai).await.status, 201);
    let before = node.ledger_records();
    let grant = |who: &str, role: &str| (format!("/v1/lct/{who}/roles"), json!({"role": role, "reason": "elected"}));

    // A citizen may not grant roles.
    let (p, b) = grant(&alice_id, "witness");
    let r = node.post(&bob, &p, &b).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["required_roles"], json!(["authority"]), "{}", r.body);
    // Unknown roles, unknown LCTs and bodies with extra fields are refused.
    let r = node.post(&node.admin, &p, &json!({"role": "wizard"})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "{}", r.body);
    let (p2, b2) = grant(&id_of(&random_key()).to_string(), "witness");
    assert_eq!(node.post(&node.admin, &p2, &b2).await.code(), "W4_ERR_NOT_FOUND");
    let r = node.post(&node.admin, &p, &json!({"role": "witness", "extra": 1})).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "{}", r.body);
    assert_eq!(node.ledger_records(), before, "nothing refused was written");

    // The admin (authority) grants alice the witness role.
    let r = node.post(&node.admin, &p, &b).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["roles"], json!(["citizen", "witness"]), "{}", r.body);
    assert!(r.body["metadata"]["ledger_ref"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(node.get(&format!("/v1/lct/{alice_id}")).await.body["data"]["roles"], json!(["citizen", "witness"]));
    let has_role = format!("ASK {{ <{alice_id}> <{W4}hasRole> \"witness\" }}");
    assert!(ask(&node, &has_role).await, "the graph shows the role");
    // Twice is out of sequence.
    let r = node.post(&node.admin, &p, &b).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_SEQUENCE"), "{}", r.body);
    // The citizen role goes last.
    let r = node.delete(&node.admin, &format!("/v1/lct/{alice_id}/roles/citizen")).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    // Taking the witness role back.
    let r = node.delete(&node.admin, &format!("/v1/lct/{alice_id}/roles/witness")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["roles"], json!(["citizen"]));
    let r = node.delete(&node.admin, &format!("/v1/lct/{alice_id}/roles/witness")).await;
    assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_SEQUENCE"), "{}", r.body);
    assert!(!ask(&node, &has_role).await, "the graph lost the role");

    // Alice becomes an authority and takes the role from the admin and the node;
    // she cannot take it from herself, the last holder.
    let (p, b) = grant(&alice_id, "authority");
    assert_eq!(node.post(&node.admin, &p, &b).await.status, 200);
    for who in [&admin_id, &node_id] {
        let r = node.delete(&alice, &format!("/v1/lct/{who}/roles/authority")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = node.delete(&alice, &format!("/v1/lct/{alice_id}/roles/authority")).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    // Nor can the last holder's LCT be taken out of service: suspended or
    // revoked (by herself), the society could never change a role again.
    let r = node.post(&alice, &format!("/v1/lct/{alice_id}/suspend"), &json!({"reason": "away"})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["roles"], json!(["authority"]), "{}", r.body);
    let r = node.post(&alice, &format!("/v1/lct/{alice_id}/revoke"), &json!({"reason": "compromise"})).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
    // The admin lost the right to change roles.
    let (p, b) = grant(&bob_id, "witness");
    assert_eq!(node.post(&node.admin, &p, &b).await.code(), "W4_ERR_AUTHZ_DENIED");
    // Roles change only on active LCTs.
    assert_eq!(node.post(&alice, &format!("/v1/lct/{bob_id}/suspend"), &json!({"reason": "x"})).await.status, 200);
    let r = node.post(&alice, &p, &b).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("suspended"), "{}", r.body);

    // Five role changes and a suspension on the ledger; the projections
    // (roles, role changes, graph) rebuild identically from it.
    assert_eq!(node.ledger_records(), before + 6);
    let v = node.ledger_verify();
    assert_eq!(v["projection_differences"], json!([]), "{v}");
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

/// A large number in a mint's policy (1e16, which canonical JSON writes as
/// `10000000000000000`) reads back on a peer as an integer beyond 2^53: the
/// peer still hashes the record as its author did and applies it
/// (decisions/0002, session-27 addendum).
#[tokio::test]
async fn a_large_number_in_a_record_is_hashed_alike_by_its_peers() {
    let node = TestNode::start().await;
    let alice = random_key();
    let mut body = mint_body(&alice, EntityType::Human);
    body["policy"] = json!({"constraints": {"max_bytes": 1e16, "ratio": 0.5}});
    let r = node.post(&alice, "/v1/lct/mint", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let doc = node.get(&format!("/v1/lct/{}", id_of(&alice))).await;
    assert_eq!(doc.body["data"]["lct"]["policy"]["constraints"]["max_bytes"].as_f64(), Some(1e16), "{}", doc.body);
    node.a_joining_peer_accepts_every_record().await;
}
