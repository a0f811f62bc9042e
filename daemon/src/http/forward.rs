//! One writer per mutable object (docs/decisions/0017).
//!
//! A delegation tree is owned by the node that recorded its root; an LCT's
//! ATP account and reputation by its home node; a lease by the node that
//! opened it; the society pool, law and rates by the founding node
//! ([`crate::ledger::Owned`]). A request that changes an object owned by
//! another node is not decided here: the client's signed request travels
//! verbatim to the owner over the peer connection (`web4-p2p`,
//! [`SyncRequest::Forward`]), the owner verifies and decides it as if the
//! client had called it, and its answer is returned unchanged. Concurrent
//! spends through several nodes are therefore serialised on one writer and
//! never overdraw the budget.

use crate::error::ApiError;
use crate::ledger::Owned;
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

/// The signer a request names (`Authorization: Bearer <lct_id>`).
fn signer(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|s| s.trim().to_owned())
}

/// The object with one writer that a request changes, for the routes that
/// change one (and only those: see [`forwardable`]).
pub fn object_of(method: &Method, path: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> Option<Owned> {
    let json = || serde_json::from_slice::<serde_json::Value>(body).ok();
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let own_account = || signer(headers).map(Owned::Account);
    match (method.as_str(), path) {
        ("POST", "/v1/auth/authorize") => {
            let v = json()?;
            match s(&v["context"]["delegation_id"]) {
                Some(g) => Some(Owned::Grant(g)),
                // Only a spend from the actor's own account needs its home node.
                None if v["atp_cost"].as_u64().is_some_and(|c| c > 0) => own_account(),
                None => None,
            }
        }
        ("POST", "/v1/resources/allocate") => {
            json().and_then(|v| s(&v["context"]["delegation_id"])).map(Owned::Grant).or_else(own_account)
        }
        ("POST", "/v1/auth/delegate") => json().and_then(|v| s(&v["parent"])).map(Owned::Grant).or_else(own_account),
        ("POST", "/v1/atp/transfer") => own_account(),
        ("POST", "/v1/atp/slash") => json().and_then(|v| s(&v["account"])).map(Owned::Account),
        ("POST", "/v1/reputation/outcome") => json().and_then(|v| s(&v["entity"])).map(Owned::Reputation),
        ("POST", "/v1/resources/usage" | "/v1/resources/release") => {
            json().and_then(|v| s(&v["allocation_id"])).map(Owned::Lease)
        }
        (
            "POST",
            "/v1/atp/mint" | "/v1/atp/charge" | "/v1/law/publish" | "/v1/law/interpretation" | "/v1/resources/rates",
        ) => Some(Owned::Society),
        ("DELETE", p) => p
            .strip_prefix("/v1/auth/delegate/")
            .filter(|g| !g.is_empty() && !g.contains('/'))
            .map(|g| Owned::Grant(g.to_owned())),
        ("POST", p) => approved_grant(p).map(|g| Owned::Grant(g.to_owned())),
        _ => None,
    }
}

/// Whether a forwarded request is one the owner should decide (the routes
/// above, nothing else: a peer cannot make us run arbitrary requests).
pub fn forwardable(method: &str, uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or("");
    matches!(
        (method, path),
        (
            "POST",
            "/v1/auth/authorize"
                | "/v1/resources/allocate"
                | "/v1/auth/delegate"
                | "/v1/atp/transfer"
                | "/v1/atp/slash"
                | "/v1/reputation/outcome"
                | "/v1/atp/mint"
                | "/v1/atp/charge"
                | "/v1/resources/usage"
                | "/v1/resources/release"
                | "/v1/law/publish"
                | "/v1/law/interpretation"
                | "/v1/resources/rates"
        )
    ) || (method == "DELETE" && path.starts_with("/v1/auth/delegate/"))
        || (method == "POST" && approved_grant(path).is_some())
}

/// The grant of `POST /v1/auth/delegate/{id}/approve`.
fn approved_grant(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/auth/delegate/")
        .and_then(|rest| rest.strip_suffix("/approve"))
        .filter(|g| !g.is_empty() && !g.contains('/'))
}

/// The node owning `obj`, when known.
fn owner_of(node: &Node, obj: &Owned) -> Option<String> {
    node.reads.with(|c| crate::ledger::owner_of(c, obj)).ok().flatten()
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
    let owner = object_of(&parts.method, parts.uri.path(), &parts.headers, &bytes)
        .and_then(|obj| owner_of(node, &obj).map(|o| (obj, o)));
    match owner {
        Some((obj, owner)) if owner != node.id.as_str() => {
            match forward(node, fed, &obj, &owner, &parts, &bytes).await {
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
    obj: &Owned,
    owner: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Response, ApiError> {
    let unreachable = |why: String| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("{obj} is decided by its owner {owner}, which cannot be reached: {why}"),
        )
        .details(owner_details(obj, owner))
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
        Ok(SyncResponse::Error(e)) if e.starts_with(DECIDED) => {
            return Err(ApiError::new(
                ErrorCode::Timeout,
                format!("{obj} was decided by its owner {owner}, but its answer was lost ({e}); check before retrying"),
            )
            .details(owner_details(obj, owner)));
        }
        // The owner refused to run it (not serving yet, not forwardable).
        Ok(SyncResponse::Error(e)) => return Err(unreachable(e)),
        Ok(_) => return Err(unreachable("unexpected answer".into())),
        // Sent, but no answer came back: the owner may have decided it. A
        // retry with a fresh nonce could then apply it twice, so this is no
        // "not decided anywhere" 503 but an unknown outcome.
        Err(web4_p2p::P2pError::Sync { error, maybe_delivered: true, .. }) => {
            return Err(ApiError::new(
                ErrorCode::Timeout,
                format!(
                    "{obj} is decided by its owner {owner}; the request reached it but no answer came back ({error}): \
                     it may have been applied, check before retrying"
                ),
            )
            .details(owner_details(obj, owner)));
        }
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
            Err(_) => answer_lost(&status, "not UTF-8"),
        },
        Err(e) => answer_lost(&status, &e.to_string()),
    }
}

/// `details` of a forwarding error: the owner, and the grant when the object is one.
fn owner_details(obj: &Owned, owner: &str) -> serde_json::Value {
    let mut details = serde_json::json!({ "owner": owner });
    if let Owned::Grant(g) = obj {
        details["grant_id"] = serde_json::json!(g);
    }
    details
}

/// The start of a forwarded request's error that means the owner decided
/// it but could not send the answer back (an unknown outcome to the client).
const DECIDED: &str = "decided, answer lost: ";

/// The request was decided here (status `status`) but its answer cannot be
/// carried back: say so as an unknown outcome, never as "not decided", which
/// would invite a retry that applies it twice.
fn answer_lost(status: &str, why: &str) -> SyncResponse {
    SyncResponse::Error(format!("{DECIDED}status {status}, {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_goes_to_the_owner_of_its_grant() {
        assert_eq!(approved_grant("/v1/auth/delegate/deleg:ab12/approve"), Some("deleg:ab12"));
        for not in [
            "/v1/auth/delegate//approve",
            "/v1/auth/delegate/a/b/approve",
            "/v1/auth/delegate/a",
            "/v1/other/a/approve",
        ] {
            assert_eq!(approved_grant(not), None, "{not}");
        }
        assert!(forwardable("POST", "/v1/auth/delegate/deleg:ab12/approve"));
        assert!(!forwardable("GET", "/v1/auth/delegate/deleg:ab12/approve"));
        assert!(!forwardable("POST", "/v1/auth/delegation/deleg:ab12"));
    }

    /// An owner that decided a forwarded request but cannot send its answer
    /// back says so (the forwarding node answers `W4_ERR_TIMEOUT`, "check
    /// before retrying"), rather than an error the forwarding node would
    /// report as "not decided anywhere".
    #[tokio::test]
    async fn an_answer_that_cannot_go_back_is_reported_as_decided() {
        let huge = "x".repeat(MAX_ANSWER_BYTES + 1);
        let router = axum::Router::new().route("/v1/atp/transfer", axum::routing::post(move || async move { huge }));
        let exchange = |uri: &str| HttpExchange {
            method: "POST".into(),
            uri: uri.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: "{}".into(),
        };
        match serve(router.clone(), exchange("/v1/atp/transfer")).await {
            SyncResponse::Error(e) => assert!(e.starts_with(DECIDED) && e.contains("status 200"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
        // Not forwardable: never run, so not "decided".
        match serve(router, exchange("/v1/lct/mint")).await {
            SyncResponse::Error(e) => assert!(!e.starts_with(DECIDED), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
