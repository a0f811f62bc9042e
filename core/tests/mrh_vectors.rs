//! mrh/graph-operations.json (all 3) on the pure graph algorithms; the same
//! vectors run over HTTP in daemon/tests/it/graph.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use web4_core::mrh::{Category, Edge, Graph};

fn vectors() -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/web4-vectors/test-vectors/mrh/graph-operations.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn graph(input: &Value) -> Graph {
    let mut g = Graph::new();
    for e in input["edges"].as_array().unwrap() {
        g.add(Edge {
            source: e["source"].as_str().unwrap().into(),
            target: e["target"].as_str().unwrap().into(),
            relation: e["relation"].as_str().unwrap().into(),
            weight: e["weight"].as_f64().unwrap(),
        });
    }
    g
}

#[test]
fn all_mrh_vectors() {
    let vs = vectors();
    assert_eq!(vs.len(), 3);
    for v in &vs {
        let (input, want) = (&v["input"], &v["expected"]);
        let g = graph(input);
        match v["id"].as_str().unwrap() {
            "mrh-001" => {
                let depth = u32::try_from(input["horizonDepth"].as_u64().unwrap()).unwrap();
                let h = g.horizon(input["origin"].as_str().unwrap(), depth, 10_000, None);
                let got: serde_json::Map<String, Value> =
                    h.distances.iter().map(|(k, d)| (k.clone(), Value::from(*d))).collect();
                assert_eq!(Value::Object(got), want["distances"]);
                for (zone, members) in want["zones"].as_object().unwrap() {
                    let mut want: Vec<&str> = members.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
                    want.sort_unstable();
                    let got: Vec<&str> = h.zones[zone.as_str()].iter().map(String::as_str).collect();
                    assert_eq!(got, want, "zone {zone}");
                }
            }
            "mrh-002" => {
                let (t, paths) =
                    g.path_trust(input["source"].as_str().unwrap(), input["target"].as_str().unwrap(), 4, 100);
                let tol = want["tolerance"].as_f64().unwrap();
                assert!((t - want["trust"].as_f64().unwrap()).abs() <= tol, "trust {t}");
                assert_eq!(paths.len(), 1);
            }
            "mrh-003" => {
                let s = g.summary(input["entity"].as_str().unwrap());
                for (k, c) in
                    [("binding", Category::Binding), ("pairing", Category::Pairing), ("witness", Category::Witness)]
                {
                    assert_eq!(u64::from(s[&c]), want["summary"][k].as_u64().unwrap(), "{k}");
                }
            }
            other => panic!("unknown vector {other}"),
        }
    }
}
