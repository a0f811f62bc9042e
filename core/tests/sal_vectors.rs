//! test-vectors/federation/sal-governance.json: citizenship lifecycle, quorum
//! policies and audit adjustments (law-merge-inheritance is in law_eval.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use web4_core::citizenship::{Citizenship, audit_adjustment};
use web4_core::witness::QuorumRule;

fn vectors() -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/web4-vectors/test-vectors/federation/sal-governance.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn case(id: &str) -> Value {
    vectors().into_iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("vector {id} missing"))
}

fn status(v: &Value) -> Citizenship {
    Citizenship::parse(v.as_str().unwrap()).unwrap()
}

#[test]
fn citizenship_lifecycle() {
    let c = case("citizenship-lifecycle");
    let mut s = status(&c["input"]["initial_status"]);
    let mut all_valid = true;
    for t in c["input"]["transitions"].as_array().unwrap() {
        let to = status(t);
        all_valid &= s.can_become(to);
        s = to;
    }
    assert_eq!(all_valid, c["expected"]["all_valid"].as_bool().unwrap());
    assert_eq!(s, status(&c["expected"]["final_status"]));
    assert_eq!(s.is_terminal(), c["expected"]["terminal"].as_bool().unwrap());
    assert_eq!(
        s.can_become(Citizenship::Active),
        c["expected"]["post_terminal_transition_to_active"].as_bool().unwrap()
    );
}

#[test]
fn citizenship_invalid_transitions() {
    let c = case("citizenship-invalid-transitions");
    let i = &c["input"];
    let mut all_invalid = true;
    for (from, key) in [
        (Citizenship::Terminated, "transitions_from_terminated"),
        (Citizenship::Active, "transitions_from_active"),
        (Citizenship::Applied, "transitions_from_applied"),
    ] {
        for t in i[key].as_array().unwrap() {
            all_invalid &= !from.can_become(status(t));
        }
    }
    assert_eq!(all_invalid, c["expected"]["all_invalid"].as_bool().unwrap());
}

#[test]
fn quorum_policies() {
    for id in ["quorum-policy-threshold", "quorum-policy-majority"] {
        let c = case(id);
        let i = &c["input"];
        let results: Vec<bool> = i["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|chk| {
                let count = chk["witness_count"].as_u64().unwrap() as u32;
                let registered = chk["total_registered"].as_u64().unwrap() as u32;
                let rule = match i["mode"].as_str().unwrap() {
                    "threshold" => QuorumRule::Threshold { n: i["required"].as_u64().unwrap() as u32 },
                    _ => QuorumRule::Majority { registered },
                };
                rule.met(count)
            })
            .collect();
        let want: Vec<bool> =
            c["expected"]["results"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
        assert_eq!(results, want, "{id}");
    }
}

#[test]
fn audit_adjustments_need_an_appeal_path_when_negative() {
    let c = case("audit-adjustment-validation");
    for (k, a) in c["input"]["cases"].as_array().unwrap().iter().enumerate() {
        let deltas = ["t3_deltas", "v3_deltas"]
            .iter()
            .flat_map(|t| a[*t].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>());
        let (neg, valid) = audit_adjustment(deltas, a["appeal_path"].as_str());
        assert_eq!(neg, c["expected"]["has_negative"][k].as_bool().unwrap(), "case {k}");
        assert_eq!(valid, c["expected"]["is_valid"][k].as_bool().unwrap(), "case {k}");
    }
}
