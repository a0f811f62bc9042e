//! Knowledge routes (`/v1/graph/...`): triples through the ledger, the
//! SPARQL 1.1 Protocol query endpoint, traversal, paths and trust.

use super::auth::{Signed, body_bytes};
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, knowledge};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{TraverseRequest, TripleRequest, TrustRequest};

/// `POST /v1/graph/triple`.
pub async fn triple(State(node): State<Arc<Node>>, Signed(ev, req): Signed<TripleRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("triple_recorded", StatusCode::CREATED, knowledge::triple(&node, ev, req).await?))
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The query of a protocol request; an `update` parameter is refused.
fn pick_query(params: &[(String, String)]) -> Result<String, ApiError> {
    if params.iter().any(|(k, _)| k == "update") {
        return Err(ApiError::new(
            ErrorCode::AuthzDenied,
            "SPARQL UPDATE is refused: the graph is written only through the ledger (POST /v1/graph/triple)",
        ));
    }
    let mut queries = params.iter().filter(|(k, _)| k == "query");
    match (queries.next(), queries.next()) {
        (Some((_, q)), None) => Ok(q.clone()),
        (None, _) => Err(ApiError::new(ErrorCode::ProtoFormat, "no query parameter")),
        (Some(_), Some(_)) => Err(ApiError::new(ErrorCode::ProtoFormat, "more than one query parameter")),
    }
}

fn accept(headers: &HeaderMap) -> Option<String> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn answer(node: &Arc<Node>, query: String, headers: &HeaderMap) -> Result<Response, ApiError> {
    let a = knowledge::query(node, query, accept(headers)).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response())
}

/// `GET /v1/graph/query?query=…`.
pub async fn query_get(
    State(node): State<Arc<Node>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = pick_query(&form(raw.unwrap_or_default().as_bytes()))?;
    answer(&node, q, &headers).await
}

/// `POST /v1/graph/query`: `application/sparql-query` body, or a form with `query=`.
pub async fn query_post(State(node): State<Arc<Node>>, req: axum::extract::Request) -> Result<Response, ApiError> {
    let headers = req.headers().clone();
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let url_params = form(req.uri().query().unwrap_or("").as_bytes());
    let body = body_bytes(req, &node).await?;
    let q = if ct.starts_with("application/sparql-query") {
        if url_params.iter().any(|(k, _)| k == "update") {
            pick_query(&url_params)?;
        }
        String::from_utf8(body.to_vec()).map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "query is not UTF-8"))?
    } else if ct.starts_with("application/sparql-update") {
        return Err(ApiError::new(
            ErrorCode::AuthzDenied,
            "SPARQL UPDATE is refused: the graph is written only through the ledger (POST /v1/graph/triple)",
        ));
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        pick_query(&form(&body))?
    } else {
        return Err(ApiError::new(
            ErrorCode::ProtoFormat,
            "POST a query as application/sparql-query or application/x-www-form-urlencoded (query=…)",
        )
        .status(415));
    };
    answer(&node, q, &headers).await
}

async fn json_body<T: DeserializeOwned>(node: &Arc<Node>, req: axum::extract::Request) -> Result<T, ApiError> {
    let body = body_bytes(req, node).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}")))
}

/// `POST /v1/graph/traverse`.
pub async fn traverse(State(node): State<Arc<Node>>, req: axum::extract::Request) -> Result<ApiOk, ApiError> {
    let r: TraverseRequest = json_body(&node, req).await?;
    Ok(ApiOk::new("graph_traversed", knowledge::traverse(&node, &r)?))
}

/// `GET /v1/graph/paths?source=…&target=…&depth=…`.
pub async fn paths(State(node): State<Arc<Node>>, RawQuery(raw): RawQuery) -> Result<ApiOk, ApiError> {
    let params = form(raw.unwrap_or_default().as_bytes());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(source), Some(target)) = (get("source"), get("target")) else {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "source and target are required"));
    };
    let depth = match get("depth") {
        None => None,
        Some(d) => Some(d.parse().map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "depth: not a number"))?),
    };
    Ok(ApiOk::new("graph_paths", knowledge::paths(&node, &source, &target, depth)?))
}

/// `POST /v1/graph/trust`.
pub async fn trust(State(node): State<Arc<Node>>, req: axum::extract::Request) -> Result<ApiOk, ApiError> {
    let r: TrustRequest = json_body(&node, req).await?;
    Ok(ApiOk::new("graph_trust", knowledge::trust(&node, &r)?))
}
