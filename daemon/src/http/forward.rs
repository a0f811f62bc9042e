//! One writer per mutable object (docs/decisions/0017).
//!
//! A delegation tree is owned by the node that recorded its root. A request
//! that spends from, derives from or revokes a delegation owned by another
//! node is not decided here: the client's signed request travels verbatim to
//! the owner over the peer connection (`web4-p2p`, [`SyncRequest::Forward`]),
//! the owner verifies and decides it as if the client had called it, and its
//! answer is returned unchanged. Concurrent spends through several nodes are
//! therefore serialised on one writer and never overdraw the budget.

use crate::error::ApiError;
use crate::services::Node;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_p2p::{HttpExchange, SyncRequest, SyncResponse};

/// Marks a request a peer forwarded to us as the owner: decide it here.
/// An extension, so no client can set it.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded;

/// Most bytes of an owner's answer relayed back.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// State of the forwarding middleware.
#[derive(Clone)]
pub struct Layer {
    pub node: Arc<Node>,
    pub max_body: usize,
}

/// Headers that describe one hop, not the request.
fn hop_by_hop(name: &str) -> bool {
    matches!(name, "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive" | "upgrade" | "te")
}

/// The delegation a request acts on, for the routes that change one.
pub fn grant_of(method: &Method, path: &str, body: &[u8]) -> Option<String> {
    let json = || serde_json::from_slice::<serde_json::Value>(body).ok();
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match (method.as_str(), path) {
        ("POST", "/v1/auth/authorize") | ("POST", "/v1/resources/allocate") => {
            json().and_then(|v| s(&v["context"]["delegation_id"]))
        }
        ("POST", "/v1/auth/delegate") => json().and_then(|v| s(&v["parent"])),
        ("DELETE", p) => {
            p.strip_prefix("/v1/auth/delegate/").filter(|g| !g.is_empty() && !g.contains('/')).map(str::to_owned)
        }
        _ => None,
    }
}

/// Whether a forwarded request is one the owner should decide (the routes
/// above, nothing else: a peer cannot make us run arbitrary requests).
pub fn forwardable(method: &str, uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or("");
    matches!(
        (method, path),
        ("POST", "/v1/auth/authorize") | ("POST", "/v1/resources/allocate") | ("POST", "/v1/auth/delegate")
    ) || (method == "DELETE" && path.starts_with("/v1/auth/delegate/"))
}

/// The node owning `grant`'s tree, when known.
fn owner_of(node: &Node, grant: &str) -> Option<String> {
    node.reads.with(|c| crate::ledger::grant_owner(c, grant)).ok().flatten()
}

/// Decide here, or forward to the owner.
pub async fn middleware(State(layer): State<Layer>, req: Request, next: Next) -> Response {
    let node = &layer.node;
    let Some(fed) = node.federation.get() else { return next.run(req).await };
    if req.extensions().get::<Forwarded>().is_some() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, layer.max_body).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}")).status(413).into_response();
        }
    };
    let owner = grant_of(&parts.method, parts.uri.path(), &bytes).and_then(|g| owner_of(node, &g).map(|o| (g, o)));
    match owner {
        Some((grant, owner)) if owner != node.id.as_str() => {
            match forward(node, fed, &grant, &owner, &parts, &bytes).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            }
        }
        _ => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

async fn forward(
    node: &Node,
    fed: &crate::federation::Federation,
    grant: &str,
    owner: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Response, ApiError> {
    let unreachable = |why: String| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("delegation {grant} is decided by its owner {owner}, which cannot be reached: {why}"),
        )
        .details(serde_json::json!({ "owner": owner, "grant_id": grant }))
    };
    let peer = crate::federation::peer_of(node, owner).ok_or_else(|| unreachable("its key is unknown here".into()))?;
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "request body is not UTF-8 text"))?;
    let headers = parts
        .headers
        .iter()
        .filter(|(n, _)| !hop_by_hop(n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let uri = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let exchange = HttpExchange { method: parts.method.as_str().to_owned(), uri, headers, body };
    let started = std::time::Instant::now();
    let answer = match fed.handle.sync(peer, SyncRequest::Forward(exchange)).await {
        Ok(SyncResponse::Forwarded(a)) => a,
        Ok(SyncResponse::Error(e)) => return Err(unreachable(e)),
        Ok(_) => return Err(unreachable("unexpected answer".into())),
        Err(e) => return Err(unreachable(e.to_string())),
    };
    node.metrics.forward_duration.observe(started.elapsed().as_secs_f64());
    let status = answer
        .method
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| unreachable(format!("bad status {:?}", answer.method)))?;
    let mut resp = (status, answer.body).into_response();
    for (n, v) in answer.headers {
        if hop_by_hop(&n) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
            resp.headers_mut().insert(n, v);
        }
    }
    if let Ok(v) = HeaderValue::try_from(owner) {
        resp.headers_mut().insert("x-web4-decided-by", v);
    }
    Ok(resp)
}

/// Run a request a peer forwarded to us, as the owner, through our own router.
pub async fn serve(router: axum::Router, exchange: HttpExchange) -> SyncResponse {
    if !forwardable(&exchange.method, &exchange.uri) {
        return SyncResponse::Error(format!("{} {} is not decided by an owner", exchange.method, exchange.uri));
    }
    let mut req = Request::builder().method(exchange.method.as_str()).uri(exchange.uri.as_str());
    for (n, v) in &exchange.headers {
        if !hop_by_hop(&n.to_ascii_lowercase()) {
            req = req.header(n.as_str(), v.as_str());
        }
    }
    let mut req = match req.body(Body::from(exchange.body)) {
        Ok(r) => r,
        Err(e) => return SyncResponse::Error(format!("malformed forwarded request: {e}")),
    };
    req.extensions_mut().insert(Forwarded);
    let resp = match tower::ServiceExt::oneshot(router, req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status().as_u16().to_string();
    let headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| !hop_by_hop(n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    match axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES).await {
        Ok(b) => match String::from_utf8(b.to_vec()) {
            Ok(body) => SyncResponse::Forwarded(HttpExchange { method: status, uri: String::new(), headers, body }),
            Err(_) => SyncResponse::Error("answer is not UTF-8".into()),
        },
        Err(e) => SyncResponse::Error(format!("answer: {e}")),
    }
}
