//! Knowledge service (docs/decisions/0013): triples asserted through the
//! ledger, a read-only SPARQL 1.1 Protocol endpoint, traversal, paths and
//! trust over the MRH graph.

use super::Node;
use super::checks::{admit, store_err};
use crate::error::ApiError;
use crate::ledger::{Event, Prepared, load_reputation, roles_of};
use crate::services::identity::authenticate;
use crate::store::writer::{Committed, WriteCtx};
use oxigraph::io::{RdfFormat, RdfSerializer};
use oxigraph::model::NamedNode;
use oxigraph::sparql::results::{QueryResultsFormat, QueryResultsSerializer};
use oxigraph::sparql::{CancellationToken, QueryEvaluationError, QueryResults, SparqlEvaluator};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use web4_core::api::{TraverseRequest, TripleRequest, TrustRequest};
use web4_core::mrh::{self, DEFAULT_DEPTH};
use web4_core::payload::GraphTriple;
use web4_core::signing::SignedRequest;
use web4_core::{ErrorCode, LctId};

/// Deepest traversal, path or trust query.
pub const MAX_DEPTH: u32 = 6;
/// Most nodes a traversal visits.
pub const MAX_NODES: usize = 10_000;
/// Most paths a path or trust query explores.
pub const MAX_PATHS: usize = 1_000;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ProtoFormat, msg)
}

fn iri(what: &str, s: &str) -> Result<(), ApiError> {
    if s.len() > 1024 {
        return Err(bad(format!("{what}: at most 1024 bytes")));
    }
    NamedNode::new(s).map(|_| ()).map_err(|e| bad(format!("{what}: {s:?} is not an absolute IRI ({e})")))
}

/// Roles that may assert triples about any subject.
pub const CURATOR_ROLES: [&str; 2] = ["authority", "archivist"];

/// `POST /v1/graph/triple`: signed; the subject is the signer itself, or the
/// signer is a curator (authority or archivist role).
pub async fn triple(node: &Arc<Node>, ev: SignedRequest, req: TripleRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    iri("subject", &req.subject)?;
    iri("predicate", &req.predicate)?;
    let object_type = req.object_type.clone().unwrap_or_else(|| "iri".into());
    match object_type.as_str() {
        "iri" => iri("object", &req.object)?,
        "literal" if req.object.len() <= 4096 => {}
        "literal" => return Err(bad("object: a literal of at most 4096 bytes")),
        "double" if req.object.parse::<f64>().is_ok_and(f64::is_finite) => {}
        "double" => return Err(bad(format!("object: {:?} is not a finite number", req.object))),
        other => return Err(bad(format!("object_type {other:?}: expected iri, literal or double"))),
    }
    if let Some(local) = crate::graph::reserved(&req.predicate) {
        return Err(ApiError::new(
            ErrorCode::AuthzDenied,
            format!(
                "web4:{local} is written only by the records that establish it; assert binding, pairing or witness relations here"
            ),
        ));
    }
    // What is left of the namespace are relationship edges.
    let relation = req.predicate.strip_prefix(mrh::WEB4);
    if relation.is_some() && object_type != "iri" {
        return Err(bad("a relationship's object is an IRI"));
    }
    if let Some(w) = req.weight {
        if relation.is_none() {
            return Err(bad("weight applies to web4: relationship edges only"));
        }
        if !(w.is_finite() && (0.0..=1.0).contains(&w)) {
            return Err(bad("weight must be between 0 and 1"));
        }
    }
    let weight = relation.map(|_| req.weight.unwrap_or(1.0));
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            if req.subject != ev.signer.as_str() {
                let roles = roles_of(ctx.conn, sid.as_str(), ev.signer.as_str()).map_err(store_err)?;
                if !roles.iter().any(|r| CURATOR_ROLES.contains(&r.as_str())) {
                    return Err(ApiError::new(
                        ErrorCode::AuthzDenied,
                        format!("{} may assert triples about itself only (curators: {CURATOR_ROLES:?})", ev.signer),
                    ));
                }
            }
            let payload = GraphTriple {
                evidence: ev.clone(),
                subject: req.subject.clone(),
                predicate: req.predicate.clone(),
                object: req.object.clone(),
                object_type: object_type.clone(),
                weight,
            };
            ctx.append(&Prepared::new(Event::GraphTriple(payload)).map_err(store_err)?, law_hash)?;
            Ok(json!({ "subject": req.subject, "predicate": req.predicate, "object": req.object,
                       "object_type": object_type, "weight": weight }))
        }))
        .await
}

/// A serialised SPARQL answer.
pub struct SparqlAnswer {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

enum Wanted {
    Results(QueryResultsFormat, &'static str),
    Graph(RdfFormat, &'static str),
}

/// The formats `accept` asks for, in its order (q-values are not ranked).
fn negotiate(accept: &str) -> Vec<Wanted> {
    use QueryResultsFormat as Q;
    let mut out = Vec::new();
    for m in accept.split(',').map(|m| m.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
        out.push(match m.as_str() {
            "application/sparql-results+json" | "application/json" => {
                Wanted::Results(Q::Json, "application/sparql-results+json")
            }
            "application/sparql-results+xml" | "application/xml" | "text/xml" => {
                Wanted::Results(Q::Xml, "application/sparql-results+xml")
            }
            "text/csv" => Wanted::Results(Q::Csv, "text/csv; charset=utf-8"),
            "text/tab-separated-values" => Wanted::Results(Q::Tsv, "text/tab-separated-values; charset=utf-8"),
            "application/n-triples" | "text/plain" => Wanted::Graph(RdfFormat::NTriples, "application/n-triples"),
            "text/turtle" | "application/x-turtle" => Wanted::Graph(RdfFormat::Turtle, "text/turtle"),
            "application/rdf+xml" => Wanted::Graph(RdfFormat::RdfXml, "application/rdf+xml"),
            _ => continue,
        });
    }
    out
}

fn evaluation_error(e: QueryEvaluationError, limit: Duration) -> ApiError {
    match e {
        QueryEvaluationError::Cancelled => ApiError::new(
            ErrorCode::Timeout,
            format!("the query ran longer than {} ms; narrow it or add a LIMIT", limit.as_millis()),
        ),
        other => bad(format!("query evaluation failed: {other}")),
    }
}

/// Run a read-only SPARQL query with the node's time and result limits.
pub async fn query(node: &Arc<Node>, text: String, accept: Option<String>) -> Result<SparqlAnswer, ApiError> {
    let started = Instant::now();
    if text.trim().is_empty() {
        return Err(bad("no query: give query= (GET or form POST) or a body of type application/sparql-query"));
    }
    let token = CancellationToken::new();
    let prepared = match SparqlEvaluator::new().with_cancellation_token(token.clone()).parse_query(&text) {
        Ok(p) => p,
        Err(e) => {
            if SparqlEvaluator::new().parse_update(&text).is_ok() {
                return Err(ApiError::new(
                    ErrorCode::AuthzDenied,
                    "SPARQL UPDATE is refused: the graph is written only through the ledger (POST /v1/graph/triple)",
                ));
            }
            return Err(bad(format!("SPARQL syntax error: {e}")));
        }
    };
    let (limit, max_results) = (node.graph_limits.timeout, node.graph_limits.max_results);
    let k = Arc::clone(&node.knowledge);
    let wanted = negotiate(accept.as_deref().unwrap_or(""));
    let cancel = token.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(limit).await;
        cancel.cancel();
    });
    let job = tokio::task::spawn_blocking(move || -> Result<SparqlAnswer, ApiError> {
        let results = prepared.on_store(&k.store).execute().map_err(|e| evaluation_error(e, limit))?;
        serialise(results, &wanted, max_results, limit)
    });
    let out = job.await.map_err(|e| ApiError::internal("sparql", e));
    timer.abort();
    node.metrics.sparql_duration.observe(started.elapsed().as_secs_f64());
    out?
}

fn too_many(max: usize) -> ApiError {
    bad(format!("the query returns more than {max} results; add a LIMIT or narrow it"))
}

fn serialise(
    results: QueryResults<'_>,
    wanted: &[Wanted],
    max: usize,
    limit: Duration,
) -> Result<SparqlAnswer, ApiError> {
    let io = |e: std::io::Error| ApiError::internal("sparql serialise", e);
    let results_format = wanted
        .iter()
        .find_map(|w| if let Wanted::Results(f, ct) = w { Some((*f, *ct)) } else { None })
        .unwrap_or((QueryResultsFormat::Json, "application/sparql-results+json"));
    match results {
        QueryResults::Boolean(b) => {
            let body = QueryResultsSerializer::from_format(results_format.0)
                .serialize_boolean_to_writer(Vec::new(), b)
                .map_err(io)?;
            Ok(SparqlAnswer { content_type: results_format.1, body })
        }
        QueryResults::Solutions(solutions) => {
            let mut w = QueryResultsSerializer::from_format(results_format.0)
                .serialize_solutions_to_writer(Vec::new(), solutions.variables().to_vec())
                .map_err(io)?;
            for (n, s) in solutions.enumerate() {
                if n >= max {
                    return Err(too_many(max));
                }
                let s = s.map_err(|e| evaluation_error(e, limit))?;
                w.serialize(&s).map_err(io)?;
            }
            Ok(SparqlAnswer { content_type: results_format.1, body: w.finish().map_err(io)? })
        }
        QueryResults::Graph(triples) => {
            let (format, ct) = wanted
                .iter()
                .find_map(|w| if let Wanted::Graph(f, ct) = w { Some((*f, *ct)) } else { None })
                .unwrap_or((RdfFormat::NTriples, "application/n-triples"));
            let mut w = RdfSerializer::from_format(format).for_writer(Vec::new());
            for (n, t) in triples.enumerate() {
                if n >= max {
                    return Err(too_many(max));
                }
                let t = t.map_err(|e| evaluation_error(e, limit))?;
                w.serialize_triple(&t).map_err(io)?;
            }
            Ok(SparqlAnswer { content_type: ct, body: w.finish().map_err(io)? })
        }
    }
}

fn depth(d: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let d = d.unwrap_or(default);
    if d == 0 || d > MAX_DEPTH {
        return Err(bad(format!("depth must be between 1 and {MAX_DEPTH}")));
    }
    Ok(d)
}

fn known_node(node: &Node, id: &str) -> Result<(), ApiError> {
    let present = node.knowledge.adj.read().map(|g| g.contains(id)).unwrap_or(false);
    if present {
        return Ok(());
    }
    Err(ApiError::new(ErrorCode::NotFound, format!("{id} has no relationships in the graph")))
}

/// `POST /v1/graph/traverse`.
pub fn traverse(node: &Node, req: &TraverseRequest) -> Result<Value, ApiError> {
    let d = depth(req.depth, DEFAULT_DEPTH)?;
    let max_nodes = req.max_nodes.unwrap_or(MAX_NODES).clamp(1, MAX_NODES);
    if let Some(rs) = &req.relations
        && let Some(bad_rel) = rs.iter().find(|r| mrh::category(r).is_none())
    {
        let known: Vec<&str> = mrh::RELATIONS.iter().map(|(n, _)| *n).collect();
        return Err(bad(format!("relations: unknown relation {bad_rel:?}, expected one of {}", known.join(", "))));
    }
    known_node(node, &req.origin)?;
    let g = node.knowledge.adj.read().map_err(|_| ApiError::internal("graph", "lock poisoned"))?;
    let h = g.horizon(&req.origin, d, max_nodes, req.relations.as_deref());
    let summary = g.summary(&req.origin);
    drop(g);
    let reached = h.distances.values().copied().max().unwrap_or(0);
    node.metrics.traversal_depth.observe(f64::from(reached));
    Ok(json!({
        "origin": req.origin, "depth": d, "nodes": h.distances.len(), "distances": h.distances,
        "zones": h.zones, "truncated": h.truncated, "relationships": summary,
    }))
}

/// `GET /v1/graph/paths`.
pub fn paths(node: &Node, source: &str, target: &str, d: Option<u32>) -> Result<Value, ApiError> {
    let d = depth(d, DEFAULT_DEPTH)?;
    known_node(node, source)?;
    known_node(node, target)?;
    let g = node.knowledge.adj.read().map_err(|_| ApiError::internal("graph", "lock poisoned"))?;
    let (trust, paths) = g.path_trust(source, target, d, MAX_PATHS);
    drop(g);
    let longest = paths.iter().map(|p| p.relations.len()).max().unwrap_or(0);
    node.metrics.traversal_depth.observe(longest as f64);
    Ok(json!({ "source": source, "target": target, "depth": d, "count": paths.len(),
               "complete": paths.len() < MAX_PATHS, "path_trust": trust, "paths": paths }))
}

/// `POST /v1/graph/trust`: zone decay and path propagation (noisy-OR over
/// paths), weighed by the target's T3 in the role when one is given.
pub fn trust(node: &Node, req: &TrustRequest) -> Result<Value, ApiError> {
    let d = depth(req.depth, 4)?;
    known_node(node, &req.source)?;
    known_node(node, &req.target)?;
    let base = match &req.role {
        None => None,
        Some(role) => {
            let id = LctId::parse(&req.target).map_err(|e| bad(format!("target: {e}")))?;
            let t3 = node
                .reads
                .with(|c| load_reputation(c, id.as_str(), role))
                .map_err(store_err)?
                .map(|r| r.t3)
                .unwrap_or_default();
            Some(t3.composite())
        }
    };
    let g = node.knowledge.adj.read().map_err(|_| ApiError::internal("graph", "lock poisoned"))?;
    let hops = g.distance(&req.source, &req.target, mrh::MAX_ZONE_HOPS);
    let (path_trust, paths) = g.path_trust(&req.source, &req.target, d, MAX_PATHS);
    drop(g);
    let b = base.unwrap_or(1.0);
    let zone_trust = hops.map(|h| mrh::zone_trust(b, h)).unwrap_or(0.0);
    node.metrics.traversal_depth.observe(f64::from(hops.unwrap_or(0)));
    Ok(json!({
        "source": req.source, "target": req.target, "role": req.role,
        "hops": hops, "zone": hops.map(mrh::zone).unwrap_or("BEYOND"),
        "role_t3_composite": base, "zone_trust": zone_trust,
        "path_trust": path_trust, "trust": path_trust * b,
        "paths_considered": paths.len(), "strongest_paths": paths.iter().take(5).collect::<Vec<_>>(),
    }))
}
