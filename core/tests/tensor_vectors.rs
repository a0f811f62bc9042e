//! t3v3/tensor-operations.json (all 15) and reputation/reputation-operations.json (all 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use web4_core::reputation::{self, Outcome, Rule};
use web4_core::tensor::{self, T3, T3Event, V3, ValueEvidence};

fn load(rel: &str) -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/web4-vectors/test-vectors").join(rel);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: &Value, tol: f64, what: &str) {
    assert!((a - f(b)).abs() <= tol, "{what}: got {a}, expected {b}");
}

fn t3(v: &Value) -> T3 {
    T3 { talent: f(&v["talent"]), training: f(&v["training"]), temperament: f(&v["temperament"]) }
}

fn v3(v: &Value) -> V3 {
    V3 { valuation: f(&v["valuation"]), veracity: f(&v["veracity"]), validity: f(&v["validity"]) }
}

fn ts(s: &Value) -> i64 {
    let s = s.as_str().unwrap().replace("+00:00", "Z");
    web4_core::Timestamp::parse(&s).unwrap().secs()
}

#[test]
fn all_tensor_operation_vectors() {
    let mut seen = 0;
    for case in load("t3v3/tensor-operations.json") {
        let id = case["id"].as_str().unwrap().to_owned();
        let (i, e) = (&case["input"], &case["expected"]);
        let tol = case["tolerance"].as_f64().unwrap_or(1e-4);
        match id.as_str() {
            "t3v3-001" => close(t3(i).composite(), &e["composite"], tol, &id),
            "t3v3-002" => close(v3(i).composite(), &e["composite"], tol, &id),
            "t3v3-003" | "t3v3-004" => {
                let after = t3(&i["initial"]).after_quality(f(&i["quality"]), 1.0);
                close(after.talent, &e["talent"], tol, &id);
                close(after.training, &e["training"], tol, &id);
                close(after.temperament, &e["temperament"], tol, &id);
                close(after.talent - 0.5, &e["talent_delta"], tol, &id);
            }
            "t3v3-005" | "t3v3-006" => {
                // The expected values are the bounds: one update stays inside
                // them, and repeated updates stop exactly at them.
                let (sfx, below) = if id == "t3v3-005" { ("_clamped_at", true) } else { ("_max", false) };
                let q = f(&i["quality"]);
                let mut t = t3(&i["initial"]).after_quality(q, 1.0);
                for (name, x) in [("talent", t.talent), ("training", t.training), ("temperament", t.temperament)] {
                    let bound = f(&e[format!("{name}{sfx}")]);
                    assert!(if below { x >= bound } else { x <= bound }, "{id} {name}: {x} past {bound}");
                }
                for _ in 0..200 {
                    t = t.after_quality(q, 1.0);
                }
                for (name, x) in [("talent", t.talent), ("training", t.training), ("temperament", t.temperament)] {
                    close(x, &e[format!("{name}{sfx}")], tol, &format!("{id} {name} after many updates"));
                }
            }
            "t3v3-007" => {
                for (n, want) in e["factors"].as_array().unwrap().iter().enumerate() {
                    close(reputation::diminishing_factor(n as u32 + 1), want, tol, &id);
                }
                close(reputation::diminishing_factor(40), &e["floor"], tol, "floor");
            }
            "t3v3-008" => {
                let s = &i["six_dim"];
                let t = tensor::t3_from_six(
                    f(&s["competence"]),
                    f(&s["reliability"]),
                    f(&s["consistency"]),
                    [f(&s["alignment"]), f(&s["witnesses"]), f(&s["lineage"])],
                );
                close(t.talent, &e["talent"], tol, &id);
                close(t.training, &e["training"], tol, &id);
                close(t.temperament, &e["temperament"], tol, &id);
            }
            "t3v3-009" => {
                for (k, h) in i["hops"].as_array().unwrap().iter().enumerate() {
                    let h = h.as_u64().unwrap() as u32;
                    close(
                        tensor::hop_trust(f(&i["base_trust"]), h, f(&i["decay_factor"])),
                        &e["trust_per_hop"][k],
                        tol,
                        &id,
                    );
                    assert_eq!(tensor::zone(h), e["zones"][k].as_str().unwrap());
                }
            }
            "t3v3-010" => {
                let c = tensor::coherence(f(&i["t3_composite"]), f(&i["v3_composite"]), f(&i["energy_ratio"]));
                close(c, &e["coherence"], tol, &id);
                assert_eq!(c >= f(&e["threshold"]), e["above_threshold"].as_bool().unwrap());
            }
            "t3v3-011" => {
                assert_eq!(i["outcome"], "ethics_violation");
                let after = t3(&i["initial"]).after_event(T3Event::EthicsViolation);
                close(after.talent, &e["talent"], tol, &id);
                close(after.training, &e["training"], tol, &id);
                close(after.temperament, &e["temperament"], tol, &id);
            }
            "t3v3-012" => {
                let after = reputation::monthly_drift(t3(&i["initial"]), f(&i["months"]));
                close(after.talent, &e["talent"], tol, &id);
                close(after.training, &e["training"], tol, &id);
                close(after.temperament, &e["temperament"], tol, &id);
            }
            "t3v3-013" => {
                let cand = t3(&i["candidate"]);
                let (ok, gaps) = cand.qualifies(&t3(&i["minimums"]));
                assert_eq!(ok, e["qualified"].as_bool().unwrap());
                close(cand.composite(), &e["trust_score"], tol, &id);
                close(gaps.talent, &e["gaps"]["talent"], tol, &id);
                close(gaps.training, &e["gaps"]["training"], tol, &id);
                close(gaps.temperament, &e["gaps"]["temperament"], tol, &id);
            }
            "t3v3-014" => {
                let v = V3::from_action(&ValueEvidence {
                    atp_earned: f(&i["atp_earned"]),
                    atp_expected: f(&i["atp_expected"]),
                    recipient_satisfaction: f(&i["recipient_satisfaction"]),
                    verified_claims: i["verified_claims"].as_u64().unwrap() as u32,
                    total_claims: i["total_claims"].as_u64().unwrap() as u32,
                    witness_confidence: f(&i["witness_confidence"]),
                    value_transferred: i["value_transferred"].as_bool().unwrap(),
                });
                close(v.valuation, &e["valuation"], tol, &id);
                close(v.veracity, &e["veracity"], tol, &id);
                close(v.validity, &e["validity"], tol, &id);
            }
            "t3v3-015" => {
                let members: Vec<T3> = i["members"].as_array().unwrap().iter().map(|m| t3(&m["t3"])).collect();
                let team = T3::team(&members).unwrap();
                close(team.talent, &e["talent"], tol, &id);
                close(team.training, &e["training"], tol, &id);
                close(team.temperament, &e["temperament"], tol, &id);
            }
            other => panic!("unknown vector {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 15);
}

#[test]
fn all_reputation_operation_vectors() {
    let mut seen = 0;
    for case in load("reputation/reputation-operations.json") {
        let id = case["id"].as_str().unwrap().to_owned();
        let (i, e) = (&case["input"], &case["expected"]);
        let tol = case["tolerance"].as_f64().unwrap_or(1e-3);
        match id.as_str() {
            "rep-001" | "rep-002" | "rep-005" => {
                let rules: Vec<Rule> = match i.get("rule") {
                    Some(r) => vec![serde_json::from_value(r.clone()).unwrap()],
                    None => vec![],
                };
                let factors: Vec<String> = i["factors"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x["factor"].as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                let o = Outcome {
                    action: i["action"].as_str().unwrap(),
                    result_status: i["result_status"].as_str().unwrap(),
                    quality: i["result_output"]["quality"].as_f64(),
                    factors: &factors,
                };
                let (t, v) = match (i.get("t3"), i.get("v3")) {
                    (Some(a), Some(b)) => (t3(a), v3(b)),
                    _ => (T3::default(), V3::default()),
                };
                let d = reputation::apply_rules(&rules, &o, t, v, 1.0);
                if e.get("delta").is_some_and(Value::is_null) {
                    assert!(d.is_none(), "{id}: no rule fires, no delta");
                    seen += 1;
                    continue;
                }
                let d = d.unwrap();
                for (tensor, got) in [("t3_deltas", &d.t3_deltas), ("v3_deltas", &d.v3_deltas)] {
                    let want = e[tensor].as_object().unwrap();
                    assert_eq!(got.len(), want.len(), "{id} {tensor}");
                    for (dim, w) in want {
                        let g = &got[dim];
                        close(g.change, &w["change"], tol, &format!("{id} {dim}.change"));
                        close(g.from, &w["from"], tol, &format!("{id} {dim}.from"));
                        close(g.to, &w["to"], tol, &format!("{id} {dim}.to"));
                    }
                }
                if let Some(p) = e.get("net_trust_change_positive") {
                    assert_eq!(d.net_trust_change() > 0.0, p.as_bool().unwrap());
                    assert_eq!(d.net_value_change() > 0.0, e["net_value_change_positive"].as_bool().unwrap());
                }
                if let Some(n) = e.get("net_trust_change_negative") {
                    assert_eq!(d.net_trust_change() < 0.0, n.as_bool().unwrap());
                    assert_eq!(d.net_value_change() < 0.0, e["net_value_change_negative"].as_bool().unwrap());
                }
                // Without the factors, rep-001's modifiers do not apply.
                if id == "rep-001" {
                    let bare = Outcome { factors: &[], ..o };
                    let d = reputation::apply_rules(&rules, &bare, t, v, 1.0).unwrap();
                    assert!((d.t3_deltas["training"].change - 0.01).abs() < 1e-9);
                    // Below the quality threshold the rule does not fire.
                    let low = Outcome { quality: Some(0.5), ..o };
                    assert!(reputation::apply_rules(&rules, &low, t, v, 1.0).is_none());
                }
            }
            "rep-003" => {
                let now = ts(&i["now"]);
                let changes: Vec<(f64, i64)> =
                    i["deltas"].as_array().unwrap().iter().map(|d| (f(&d["change"]), ts(&d["timestamp"]))).collect();
                let s = reputation::recency_score(&changes, now);
                close(s, &e["score"], tol, &id);
                assert_eq!(s > 0.5, e["score_above_neutral"].as_bool().unwrap());
            }
            "rep-004" => {
                let d = reputation::inactivity_decay(ts(&i["last_action_timestamp"]), ts(&i["check_timestamp"]));
                close(d, &e["decay"], tol, &id);
            }
            other => panic!("unknown vector {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn decay_schedule() {
    let day = 86_400;
    assert_eq!(reputation::inactivity_decay(0, 30 * day), 0.0, "grace period");
    assert!((reputation::inactivity_decay(0, 210 * day) - (-7.0 * 0.015)).abs() < 1e-9, "accelerated after six months");
    assert_eq!(reputation::inactivity_decay(0, 5000 * day), -0.5, "capped");
    assert_eq!(reputation::recency_score(&[(0.3, 0)], 91 * day), 0.5, "older than 90 days ignored");
}
