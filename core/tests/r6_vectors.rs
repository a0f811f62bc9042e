//! test-vectors/r6/action-operations.json — all 4 vectors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use web4_core::r6::{self, Action, ActionError};
use web4_core::tensor::T3;

fn vectors() -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/web4-vectors/test-vectors/r6/action-operations.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn close(a: f64, b: &Value, tol: f64, what: &str) {
    let b = b.as_f64().unwrap_or_else(|| panic!("{what}: expected value missing"));
    assert!((a - b).abs() <= tol, "{what}: got {a}, expected {b}");
}

#[test]
fn all_action_operation_vectors() {
    let mut seen = 0;
    for case in vectors() {
        let id = case["id"].as_str().unwrap();
        let (i, e) = (&case["input"], &case["expected"]);
        let tol = case["tolerance"].as_f64().unwrap_or(1e-4);
        match id {
            "r6-001" => {
                let a = Action {
                    actor: s(&i["actor"]),
                    role_lct: s(&i["role_lct"]),
                    action: s(&i["action"]),
                    target: Some(s(&i["target"])),
                    atp_stake: i["atp_stake"].as_u64().unwrap(),
                    nonce: "n-0001".into(),
                    timestamp: "2025-01-01T00:00:00Z".into(),
                    prev_hash: None,
                };
                let available = i["available_atp"].as_u64().unwrap();
                assert_eq!(a.validate(available).is_ok(), e["is_valid"].as_bool().unwrap(), "{id}");
                let aid = a.action_id().unwrap();
                assert!(aid.starts_with(e["action_id_prefix"].as_str().unwrap()), "{id}: {aid}");
                assert_eq!(!a.nonce.is_empty(), e["has_nonce"].as_bool().unwrap());
                // The same action staking more than is available is invalid.
                let greedy = Action { atp_stake: available + 1, ..a.clone() };
                assert!(matches!(greedy.validate(available), Err(ActionError::InsufficientAtp { .. })));
                // The id depends on every field.
                let other = Action { nonce: "n-0002".into(), ..a };
                assert_ne!(other.action_id().unwrap(), aid);
            }
            "r6-002" | "r6-003" => {
                let t3 = T3 {
                    talent: i["t3"]["talent"].as_f64().unwrap(),
                    training: i["t3"]["training"].as_f64().unwrap(),
                    temperament: i["t3"]["temperament"].as_f64().unwrap(),
                };
                let after = t3.after_quality(i["quality"].as_f64().unwrap(), 1.0);
                let d = &e["t3_deltas"];
                for (name, from, to) in [
                    ("talent", t3.talent, after.talent),
                    ("training", t3.training, after.training),
                    ("temperament", t3.temperament, after.temperament),
                ] {
                    close(from, &d[name]["from"], tol, &format!("{id} {name}.from"));
                    close(to, &d[name]["to"], tol, &format!("{id} {name}.to"));
                    close(to - from, &d[name]["change"], tol, &format!("{id} {name}.change"));
                }
                let net =
                    (after.talent - t3.talent) + (after.training - t3.training) + (after.temperament - t3.temperament);
                close(net, &e["net_trust_change"], tol, id);
                assert_eq!(net > 0.0, e["net_value_change_positive"].as_bool().unwrap(), "{id}");
            }
            "r6-004" => {
                let mut chain: Vec<Action> = i["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| Action {
                        actor: s(&a["actor"]),
                        role_lct: s(&a["role_lct"]),
                        action: s(&a["action"]),
                        target: None,
                        atp_stake: 0,
                        nonce: s(&a["nonce"]),
                        timestamp: s(&a["timestamp"]),
                        prev_hash: None,
                    })
                    .collect();
                r6::link(&mut chain).unwrap();
                assert_eq!(chain.len() as u64, e["length"].as_u64().unwrap());
                assert_eq!(r6::verify_chain(&chain).is_ok(), e["chain_valid"].as_bool().unwrap());
                let has_prev: Vec<bool> = chain.iter().map(|a| a.prev_hash.is_some()).collect();
                let want: Vec<bool> =
                    e["each_has_prev_hash"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
                assert_eq!(has_prev, want);
                // Tampering with any earlier action breaks the link after it.
                let mut tampered = chain.clone();
                tampered[1].action = "delete".into();
                assert_eq!(r6::verify_chain(&tampered), Err(ActionError::BrokenLink { index: 2 }));
                let mut dangling = chain.clone();
                dangling.remove(0);
                assert_eq!(r6::verify_chain(&dangling), Err(ActionError::DanglingStart));
            }
            other => panic!("unknown vector {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}
