//! The MRH graph over HTTP: the upstream vectors, ledger projection, the
//! SPARQL protocol (formats, errors, UPDATE refused, limits), traversal,
//! paths and trust, and a reload from the store on restart.

use crate::harness::*;
use serde_json::{Value, json};
use web4_core::lct::EntityType;

pub const W4: &str = "https://web4.io/ontology#";

fn vectors() -> Vec<Value> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/web4-vectors/test-vectors/mrh/graph-operations.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

/// POST a JSON body unsigned.
async fn post_json(node: &TestNode, path: &str, body: &Value) -> Resp {
    let r = node.http.post(format!("{}{path}", node.base)).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    Resp { status, body: r.json().await.unwrap(), headers: Default::default() }
}

fn enc(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A SPARQL GET with an Accept header: (status, content type, body text).
async fn sparql_get(node: &TestNode, query: &str, accept: &str) -> (u16, String, String) {
    let r = node
        .http
        .get(format!("{}/v1/graph/query?{}", node.base, enc(&[("query", query)])))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

async fn select(node: &TestNode, query: &str) -> Vec<Value> {
    let (status, _, body) = sparql_get(node, query, "application/sparql-results+json").await;
    assert_eq!(status, 200, "{query}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["results"]["bindings"].as_array().unwrap().clone()
}

pub async fn ask(node: &TestNode, query: &str) -> bool {
    let (status, _, body) = sparql_get(node, query, "application/sparql-results+json").await;
    assert_eq!(status, 200, "{query}: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["boolean"].as_bool().unwrap()
}

#[tokio::test]
async fn mrh_vectors_over_http() {
    for v in vectors() {
        let node = TestNode::start().await;
        let input = &v["input"];
        for e in input["edges"].as_array().unwrap() {
            let body = json!({"subject": e["source"], "predicate": format!("{W4}{}", e["relation"].as_str().unwrap()),
                              "object": e["target"], "weight": e["weight"]});
            let r = node.post(&node.admin, "/v1/graph/triple", &body).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let want = &v["expected"];
        match v["id"].as_str().unwrap() {
            "mrh-001" => {
                let r = post_json(
                    &node,
                    "/v1/graph/traverse",
                    &json!({"origin": input["origin"], "depth": input["horizonDepth"]}),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(r.body["data"]["distances"], want["distances"]);
                for (zone, members) in want["zones"].as_object().unwrap() {
                    let mut m: Vec<&str> = members.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
                    m.sort_unstable();
                    assert_eq!(r.body["data"]["zones"][zone], json!(m), "zone {zone}");
                }
            }
            "mrh-002" => {
                let r =
                    post_json(&node, "/v1/graph/trust", &json!({"source": input["source"], "target": input["target"]}))
                        .await;
                assert_eq!(r.status, 200, "{}", r.body);
                let t = r.body["data"]["path_trust"].as_f64().unwrap();
                assert!((t - want["trust"].as_f64().unwrap()).abs() <= want["tolerance"].as_f64().unwrap(), "{t}");
                assert_eq!(r.body["data"]["hops"], 2);
                assert_eq!(r.body["data"]["zone"], "INDIRECT");
                let q = format!(
                    "/v1/graph/paths?source={}&target={}&depth=3",
                    input["source"].as_str().unwrap(),
                    input["target"].as_str().unwrap()
                );
                let p = node.get(&q).await;
                assert_eq!((p.status, p.body["data"]["count"].as_u64()), (200, Some(1)), "{}", p.body);
                assert_eq!(p.body["data"]["paths"][0]["nodes"], json!(["lct:alice", "lct:bob", "lct:carol"]));
            }
            "mrh-003" => {
                let r = post_json(&node, "/v1/graph/traverse", &json!({"origin": input["entity"], "depth": 1})).await;
                assert_eq!(r.status, 200, "{}", r.body);
                for k in ["binding", "pairing", "witness"] {
                    assert_eq!(r.body["data"]["relationships"][k], want["summary"][k], "{k}");
                }
            }
            other => panic!("unknown vector {other}"),
        }
    }
}

#[tokio::test]
async fn ledger_projects_into_the_graph_and_sparql_protocol() {
    let mut node = TestNode::start().await;
    let (alice, bob) = (random_key(), random_key());
    for k in [&alice, &bob] {
        assert_eq!(node.mint(k, EntityType::Human).await.status, 201);
    }
    let (a, b) = (id_of(&alice).to_string(), id_of(&bob).to_string());

    // Minting projects membership, the birth witness, type and status.
    let members = select(&node, &format!("SELECT ?s WHERE {{ <{a}> <{W4}memberOf> ?s }}")).await;
    assert_eq!(members.len(), 1);
    let soc = members[0]["s"]["value"].as_str().unwrap().to_owned();
    assert!(soc.starts_with("lct:web4:society:"), "{soc}");
    assert!(ask(&node, &format!("ASK {{ <{a}> <{W4}status> \"active\" ; <{W4}entityType> \"human\" }}")).await);
    assert!(ask(&node, &format!("ASK {{ <{a}> <{W4}witnessedBy> ?w . ?w <{W4}memberOf> <{soc}> }}")).await);
    assert!(ask(&node, &format!("ASK {{ <{soc}> <{W4}publishes> ?law . ?law <{W4}version> \"1.0.0\" }}")).await);

    // A delegation is an edge while a grant is live; an outcome gives tensor triples.
    let grant = json!({"agent": b, "atp_budget": 10, "expires_at": web4_core::Timestamp(now().0 + 3600).to_string(),
        "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 5}});
    let r = node.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    assert!(ask(&node, &format!("ASK {{ <{a}> <{W4}delegatesTo> <{b}> }}")).await);
    let r = node
        .post(
            &bob,
            "/v1/reputation/outcome",
            &json!({"entity": a, "role": "analyst", "action": "report", "result_status": "success", "quality": 0.9}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rows = select(
        &node,
        &format!("SELECT ?c WHERE {{ <{a}> <{W4}hasT3Tensor> ?t . ?t <{W4}role> \"analyst\" ; <{W4}composite> ?c }}"),
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let composite: f64 = rows[0]["c"]["value"].as_str().unwrap().parse().unwrap();
    assert!((composite - r.body["data"]["t3_composite"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(node.delete(&alice, &format!("/v1/auth/delegate/{gid}")).await.status, 200);
    assert!(!ask(&node, &format!("ASK {{ <{a}> <{W4}delegatesTo> <{b}> }}")).await);

    // Asserted relationships: about oneself, or as a curator; web4 terms of other records refused.
    let before = node.ledger_records();
    for (who, body, code) in [
        (&bob, json!({"subject": a, "predicate": format!("{W4}pairedWith"), "object": b}), "W4_ERR_AUTHZ_DENIED"),
        (&alice, json!({"subject": a, "predicate": format!("{W4}memberOf"), "object": b}), "W4_ERR_AUTHZ_DENIED"),
        (
            &alice,
            json!({"subject": "not an iri", "predicate": format!("{W4}pairedWith"), "object": b}),
            "W4_ERR_PROTO_FORMAT",
        ),
        (
            &alice,
            json!({"subject": a, "predicate": format!("{W4}pairedWith"), "object": b, "weight": 2.0}),
            "W4_ERR_PROTO_FORMAT",
        ),
        (
            &alice,
            json!({"subject": a, "predicate": "https://schema.org/name", "object": "Alice", "object_type": "blob"}),
            "W4_ERR_PROTO_FORMAT",
        ),
    ] {
        let r = node.post(who, "/v1/graph/triple", &body).await;
        assert_eq!(r.code(), code, "{body}: {}", r.body);
    }
    assert_eq!(node.ledger_records(), before, "refusals record nothing");
    let r = node
        .post(
            &alice,
            "/v1/graph/triple",
            &json!({"subject": a, "predicate": format!("{W4}pairedWith"), "object": b, "weight": 0.8}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = node
        .post(
            &alice,
            "/v1/graph/triple",
            &json!({"subject": a, "predicate": "https://schema.org/name", "object": "Alice", "object_type": "literal"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Trust: path propagation, weighed by the target's T3 in a role when asked.
    let r = post_json(&node, "/v1/graph/trust", &json!({"source": b, "target": a, "role": "analyst"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["hops"], 1);
    assert!((d["trust"].as_f64().unwrap() - d["path_trust"].as_f64().unwrap() * composite).abs() < 1e-9, "{d}");
    assert!(d["path_trust"].as_f64().unwrap() >= 0.8 * 0.7 - 1e-9);
    let r = post_json(&node, "/v1/graph/trust", &json!({"source": b, "target": "lct:nobody"})).await;
    assert_eq!(r.code(), "W4_ERR_NOT_FOUND");
    let r = post_json(&node, "/v1/graph/traverse", &json!({"origin": a, "depth": 9})).await;
    assert_eq!(r.code(), "W4_ERR_PROTO_FORMAT");

    // SPARQL protocol: formats by Accept, POST bodies and forms.
    let q = format!("SELECT ?name WHERE {{ <{a}> <https://schema.org/name> ?name }}");
    let (s, ct, body) = sparql_get(&node, &q, "application/sparql-results+xml").await;
    assert_eq!((s, ct.as_str()), (200, "application/sparql-results+xml"));
    assert!(body.contains("<literal>Alice</literal>"), "{body}");
    let (s, ct, body) = sparql_get(&node, &q, "text/csv").await;
    assert_eq!((s, ct.starts_with("text/csv")), (200, true));
    assert_eq!(body.replace('\r', ""), "name\nAlice\n");
    let (_, ct, body) = sparql_get(&node, &q, "text/tab-separated-values").await;
    assert!(ct.starts_with("text/tab-separated-values") && body.contains("\"Alice\""), "{body}");
    let c =
        format!("CONSTRUCT {{ <{a}> <https://schema.org/name> ?n }} WHERE {{ <{a}> <https://schema.org/name> ?n }}");
    let (s, ct, body) = sparql_get(&node, &c, "text/turtle").await;
    assert_eq!((s, ct.as_str()), (200, "text/turtle"));
    assert!(body.contains("\"Alice\""), "{body}");
    let (_, ct, _) = sparql_get(&node, &c, "*/*").await;
    assert_eq!(ct, "application/n-triples");
    let r = node
        .http
        .post(format!("{}/v1/graph/query", node.base))
        .header("content-type", "application/sparql-query")
        .header("accept", "application/sparql-results+json")
        .body(q.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Alice"));
    let r = node
        .http
        .post(format!("{}/v1/graph/query", node.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&[("query", q.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Bad queries say where; UPDATE is refused every way it can arrive.
    let (s, _, body) = sparql_get(&node, "SELECT ?x WHERE { ?x ?y }", "application/json").await;
    assert_eq!(s, 400, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"]["code"], "W4_ERR_PROTO_FORMAT");
    assert!(e["error"]["message"].as_str().unwrap().contains("1:"), "{body}");
    let insert = format!("INSERT DATA {{ <{a}> <{W4}memberOf> <urn:x> }}");
    let (s, _, body) = sparql_get(&node, &insert, "application/json").await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("W4_ERR_AUTHZ_DENIED"));
    let r = node
        .http
        .post(format!("{}/v1/graph/query", node.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(&[("update", insert.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = node
        .http
        .post(format!("{}/v1/graph/query", node.base))
        .header("content-type", "application/sparql-update")
        .body(insert.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!ask(&node, &format!("ASK {{ <{a}> <{W4}memberOf> <urn:x> }}")).await);

    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    let triples: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("web4_graph_triples_total "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    assert!(triples > 20, "{triples}");
    assert!(metrics.contains("web4_sparql_query_duration_seconds_count"));
    assert!(metrics.contains("web4_graph_traversal_depth_count"));

    // Status and roles follow their records (derived from the LCT and role
    // rows, decisions/0013): one status at a time, roles as granted.
    let r = node.post(&node.admin, &format!("/v1/lct/{b}/suspend"), &json!({"reason": "key lost"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        node.post(&node.admin, &format!("/v1/lct/{a}/roles"), &json!({"role": "witness", "reason": "elected"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let statuses = select(&node, &format!("SELECT ?st WHERE {{ <{b}> <{W4}status> ?st }}")).await;
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0]["st"]["value"], "suspended");
    let roles = select(&node, &format!("SELECT ?r WHERE {{ <{a}> <{W4}hasRole> ?r }} ORDER BY ?r")).await;
    let roles: Vec<&str> = roles.iter().filter_map(|r| r["r"]["value"].as_str()).collect();
    assert_eq!(roles, ["citizen", "witness"]);
    let triples = triples + 1; // the role; the status was replaced

    // The projection rebuilds identically, and a restart reloads the same graph.
    let all = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }";
    let dump = |body: String| {
        let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let before = dump(sparql_get(&node, all, "application/n-triples").await.2);
    assert_eq!(before.len() as u64, triples);
    let v = node.ledger_verify();
    assert!(v["projection_differences"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(node.sigterm().code(), Some(0));
    node.spawn(&[]).await;
    let metrics = node.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert!(metrics.contains(&format!("web4_graph_triples_total {triples}")), "after restart: {metrics}");
    assert_eq!(select(&node, &q).await.len(), 1);
    assert_eq!(dump(sparql_get(&node, all, "application/n-triples").await.2), before);
    // A peer checks every record, and the request it carries (decisions/0028).
    node.a_joining_peer_accepts_every_record().await;
}

#[tokio::test]
async fn sparql_time_and_result_limits() {
    let node = TestNode::start_with_config("sparql_timeout_ms = 50\nsparql_max_results = 5\n", &[]).await;
    for _ in 0..3 {
        assert_eq!(node.mint(&random_key(), EntityType::Human).await.status, 201);
    }
    let (s, _, body) = sparql_get(&node, "SELECT * WHERE { ?s ?p ?o }", "application/json").await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("more than 5 results"), "{body}");
    let heavy = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }";
    let (s, _, body) = sparql_get(&node, heavy, "application/json").await;
    assert_eq!(s, 504, "{body}");
    assert!(body.contains("W4_ERR_TIMEOUT"), "{body}");
    let (s, _, _) = sparql_get(&node, "ASK { ?s ?p ?o }", "application/json").await;
    assert_eq!(s, 200, "the node still answers");
}
