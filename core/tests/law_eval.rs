//! Law evaluation: fixtures, the law-merge vector, and a property test against
//! a naive reference evaluator written straight from the standard's wording.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use web4_core::law::eval::{json_eq, merge};
use web4_core::law::{Decision, LawDataset};

fn shared(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/web4-vectors").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{} is missing: {e}", p.display()))
}

fn r6(action: &str, atp: f64) -> Value {
    json!({"role": "citizen", "request": {"action": action}, "resource": {"atp": atp}})
}

#[test]
fn full_featured_fixture_decisions() {
    let law = LawDataset::from_text(&shared("law-fixtures/full-featured.yaml")).unwrap();
    // OPEN-READ (priority 50) outranks ATP-LIMIT (10).
    let o = law.evaluate(&r6("query", 10.0));
    assert_eq!((o.decision, o.norm.as_deref()), (Decision::Allow, Some("OPEN-READ")));
    // ATP-LIMIT fires when `atp <= 100` holds and denies (terminal, before escalations).
    let o = law.evaluate(&r6("compute", 60.0));
    assert_eq!((o.decision, o.norm.as_deref()), (Decision::Deny, Some("ATP-LIMIT")));
    // Nothing fires above 100 ATP, but the `atp > 50` trigger escalates.
    let o = law.evaluate(&r6("compute", 500.0));
    assert_eq!(o.decision, Decision::Escalate);
    assert_eq!(o.escalation.as_deref(), Some("r6.resource.atp > 50"));
    assert_eq!(o.escalate_to.as_deref(), Some("sovereign"));
    // A winning escalate norm.
    let o = law.evaluate(&r6("assign_role", 500.0));
    assert_eq!(o.decision, Decision::Escalate);
    // Evidence covers every norm, with what it saw.
    assert_eq!(o.evidence.len(), 3);
    assert_eq!(o.evidence[0].actual, Some(json!(500.0)));
}

#[test]
fn starter_law_escalates_joins_and_allows_the_rest() {
    let law = LawDataset::from_text(&shared("law-fixtures/starter-law.yaml")).unwrap();
    let o = law.evaluate(&r6("member_join_request", 1.0));
    assert_eq!((o.decision, o.norm.as_deref()), (Decision::Escalate, Some("ESCALATE-MEMBER-JOIN")));
    let o = law.evaluate(&r6("event_recorded", 1.0));
    assert_eq!((o.decision, o.norm.as_deref()), (Decision::Allow, Some("DEFAULT-ALLOW")));
    let minimal = LawDataset::from_text(&shared("law-fixtures/minimal.yaml")).unwrap();
    assert_eq!(minimal.evaluate(&r6("anything", 0.0)).decision, Decision::Allow);
    // A request without the selected field fires nothing: default allow.
    let o = minimal.evaluate(&json!({}));
    assert_eq!((o.decision, o.norm), (Decision::Allow, None));
}

#[test]
fn law_merge_inheritance_vector() {
    let v: Value = serde_json::from_str(&shared("test-vectors/federation/sal-governance.json")).unwrap();
    let case = v["vectors"].as_array().unwrap().iter().find(|c| c["id"] == "law-merge-inheritance").unwrap();
    // The vector names fields norm_id/op and bare selectors; map them to hub-law.
    let to_law = |norms: &Value| {
        let norms: Vec<Value> = norms
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                json!({"id": n["norm_id"], "selector": format!("r6.{}", n["selector"].as_str().unwrap()),
                       "operator": n["op"], "value": n["value"], "decision": "allow"})
            })
            .collect();
        json!({"version": "1.0.0", "norms": norms})
    };
    let merged = merge(&to_law(&case["input"]["parent_norms"]), &to_law(&case["input"]["child_norms"]));
    let law = LawDataset::try_from(merged).unwrap();
    let norms = law.as_json()["norms"].as_array().unwrap();
    assert_eq!(norms.len() as u64, case["expected"]["merged_norm_count"].as_u64().unwrap());
    let ev = law.evaluate(&json!({"x": 75, "y": 1}));
    let fired = |id: &str| ev.evidence.iter().find(|e| e.norm == id).unwrap().fired;
    assert_eq!(fired("SHARED"), case["expected"]["shared_check_75"].as_bool().unwrap());
    assert_eq!(fired("PARENT-ONLY"), case["expected"]["parent_only_check_1"].as_bool().unwrap());
}

#[test]
fn bad_patterns_are_refused_with_their_location() {
    let err = LawDataset::try_from(json!({"version": "1.0.0", "norms": [
        {"id": "R", "selector": "r6.request.action", "operator": "matches", "value": "(", "decision": "deny"}]}))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("norms[0].value: invalid pattern"), "{err}");
}

// ---- reference evaluator -------------------------------------------------

fn get<'a>(req: &'a Value, selector: &str) -> Option<&'a Value> {
    let mut v = req;
    for seg in selector.trim_start_matches("r6.").split('.') {
        v = v.get(seg)?;
    }
    Some(v)
}

fn holds(req: &Value, selector: &str, op: &str, value: &Value) -> bool {
    let Some(a) = get(req, selector) else { return false };
    let num = |x: &Value| x.as_f64();
    match op {
        "==" => json_eq(a, value),
        "!=" => !json_eq(a, value),
        "<" => matches!((num(a), num(value)), (Some(x), Some(y)) if x < y),
        "<=" => matches!((num(a), num(value)), (Some(x), Some(y)) if x <= y),
        ">" => matches!((num(a), num(value)), (Some(x), Some(y)) if x > y),
        ">=" => matches!((num(a), num(value)), (Some(x), Some(y)) if x >= y),
        "in" => value.as_array().unwrap().iter().any(|x| json_eq(a, x)),
        "not_in" => !value.as_array().unwrap().iter().any(|x| json_eq(a, x)),
        _ => unreachable!(),
    }
}

/// Straight from the text: collect firing norms; pick the highest priority,
/// first declared on ties; deny is terminal; else first escalation; else winner;
/// else allow.
fn reference(law: &Value, req: &Value) -> (Decision, Option<String>) {
    let norms = law["norms"].as_array().unwrap();
    let firing: Vec<&Value> = norms
        .iter()
        .filter(|n| holds(req, n["selector"].as_str().unwrap(), n["operator"].as_str().unwrap(), &n["value"]))
        .collect();
    let best = firing.iter().map(|n| n["priority"].as_i64().unwrap()).max();
    let winner = best.and_then(|b| firing.iter().find(|n| n["priority"].as_i64().unwrap() == b));
    let wid = winner.map(|w| w["id"].as_str().unwrap().to_owned());
    let wdec = winner.map(|w| Decision::parse(w["decision"].as_str().unwrap()).unwrap());
    if wdec == Some(Decision::Deny) {
        return (Decision::Deny, wid);
    }
    for e in law["escalation"].as_array().unwrap() {
        let c: Vec<&str> = e["condition"].as_str().unwrap().splitn(3, ' ').collect();
        let v: Value = serde_json::from_str(c[2]).unwrap();
        if holds(req, c[0], c[1], &v) {
            return (Decision::Escalate, wid);
        }
    }
    (wdec.unwrap_or(Decision::Allow), wid)
}

const FIELDS: [&str; 3] = ["r6.request.action", "r6.resource.atp", "r6.role"];
const WORDS: [&str; 3] = ["read", "write", "admin"];

fn arb_value(field: usize) -> BoxedStrategy<Value> {
    if field == 1 {
        (0i64..200).prop_map(|n| json!(n)).boxed()
    } else {
        prop::sample::select(WORDS.to_vec()).prop_map(|w| json!(w)).boxed()
    }
}

fn arb_norm(i: usize) -> impl Strategy<Value = Value> {
    (0usize..3, 0usize..8, 0i64..4, prop::sample::select(vec!["allow", "warn", "deny", "escalate"])).prop_flat_map(
        move |(f, op, prio, dec)| {
            let ops = ["==", "!=", "<", "<=", ">", ">=", "in", "not_in"];
            let op = if f != 1 && (2..6).contains(&op) { "==" } else { ops[op] };
            let value = if op == "in" || op == "not_in" {
                prop::collection::vec(arb_value(f), 0..3).prop_map(Value::Array).boxed()
            } else {
                arb_value(f)
            };
            value.prop_map(move |v| {
                json!({"id": format!("N{i}"), "selector": FIELDS[f], "operator": op, "value": v, "decision": dec, "priority": prio})
            })
        },
    )
}

fn arb_law() -> impl Strategy<Value = Value> {
    let norms = (0usize..6).prop_flat_map(|n| (0..n).map(arb_norm).collect::<Vec<_>>());
    let escalations = prop::collection::vec(
        (0i64..200).prop_map(|n| json!({"condition": format!("r6.resource.atp > {n}"), "escalate_to": "sovereign"})),
        0..2,
    );
    (norms, escalations).prop_map(|(norms, esc)| json!({"version": "1.0.0", "norms": norms, "escalation": esc}))
}

fn arb_request() -> impl Strategy<Value = Value> {
    (prop::sample::select(WORDS.to_vec()), 0i64..200, prop::sample::select(WORDS.to_vec()), any::<bool>()).prop_map(
        |(a, atp, role, with_atp)| {
            if with_atp {
                json!({"request": {"action": a}, "resource": {"atp": atp}, "role": role})
            } else {
                json!({"request": {"action": a}, "role": role})
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn evaluator_agrees_with_the_reference(law in arb_law(), req in arb_request()) {
        let compiled = LawDataset::try_from(law.clone()).unwrap();
        let got = compiled.evaluate(&req);
        let (decision, norm) = reference(&law, &req);
        prop_assert_eq!(got.decision, decision);
        prop_assert_eq!(got.norm, norm);
    }
}

#[test]
fn permissions_list_the_norms_that_apply_to_a_role() {
    let law = LawDataset::try_from(json!({"version": "1.0.0", "norms": [
        {"id": "NO-CITIZEN-MINT", "selector": "r6.role", "operator": "==", "value": "citizen", "decision": "deny", "priority": 5},
        {"id": "STAFF", "selector": "r6.role", "operator": "in", "value": ["administrator", "archivist"], "decision": "allow"},
        {"id": "OTHER", "selector": "r6.request.action", "operator": "==", "value": "x", "decision": "deny"}],
        "delegation": {"max_depth": 2, "allowed_roles": ["archivist"]},
        "escalation": [{"condition": "r6.resource.atp > 5", "escalate_to": "sovereign"}]}))
    .unwrap();
    let p = web4_core::law::permissions(&law, "citizen");
    assert_eq!(p["norms"].as_array().unwrap().len(), 1);
    assert_eq!(p["norms"][0]["norm"], "NO-CITIZEN-MINT");
    assert_eq!(p["may_delegate"], false);
    let p = web4_core::law::permissions(&law, "archivist");
    assert_eq!(p["norms"][0]["norm"], "STAFF");
    assert_eq!(p["may_delegate"], true);
    assert_eq!(web4_core::law::permissions(&law, "sovereign")["escalations_to_role"], json!(["r6.resource.atp > 5"]));
}
