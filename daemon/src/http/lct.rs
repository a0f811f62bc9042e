//! Identity routes (`/v1/lct/...`).

use super::auth;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, identity};
use crate::store::writer::Committed;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{MintRequest, RevokeRequest, StatusChangeRequest, TransitionRequest};
use web4_core::lct::LifecycleEvent;
use web4_core::signing::SignedRequest;

/// A signed request body: size-checked, authenticated headers, parsed JSON.
fn signed<T: DeserializeOwned>(
    node: &Node,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(SignedRequest, T), ApiError> {
    let body = body.map_err(|rej| {
        let status = rej.status().as_u16();
        let e = ApiError::new(ErrorCode::ProtoFormat, format!("request body: {}", rej.body_text()));
        if status == 413 { e.status(413) } else { e }
    })?;
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let ev = auth::evidence(headers, method.as_str(), path, &body, node.now(), node.max_skew)?;
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "Content-Type must be application/json"));
    }
    let req: T = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}"))
            .details(serde_json::json!({ "line": e.line(), "column": e.column() }))
    })?;
    Ok((ev, req))
}

fn committed(event: &'static str, status: StatusCode, c: Committed) -> ApiOk {
    let lct_id = c
        .data
        .pointer("/lct/lct_id")
        .or_else(|| c.data.pointer("/lct/lct/lct_id"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    ApiOk { status, data: c.data, ledger_ref: c.ledger_ref, event, lct_id }
}

/// Parse a signed request, run the service call, wrap the committed result.
pub(crate) async fn signed_write<T, F, Fut>(
    node: Arc<Node>,
    parts: (Method, OriginalUri, HeaderMap),
    body: Result<Bytes, BytesRejection>,
    event: &'static str,
    status: StatusCode,
    call: F,
) -> Result<ApiOk, ApiError>
where
    T: DeserializeOwned,
    F: FnOnce(Arc<Node>, SignedRequest, T) -> Fut,
    Fut: std::future::Future<Output = Result<Committed, ApiError>>,
{
    let (method, uri, headers) = parts;
    let (ev, req) = signed::<T>(&node, &method, &uri, &headers, body)?;
    let c = call(node, ev, req).await?;
    Ok(committed(event, status, c))
}

/// `POST /v1/lct/mint`.
pub async fn mint(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    signed_write(
        node,
        (method, uri, headers),
        body,
        "lct_minted",
        StatusCode::CREATED,
        |n, ev, req: MintRequest| async move { identity::mint(&n, ev, req).await },
    )
    .await
}

/// `GET /v1/lct/{lct_id}` (public).
pub async fn get_lct(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Result<ApiOk, ApiError> {
    let v = identity::get(&node, &id)?;
    let data = serde_json::to_value(&v).map_err(|e| ApiError::internal("serialise", e))?;
    Ok(ApiOk { lct_id: Some(id), ..ApiOk::new("lct_fetched", data) })
}

/// `GET /v1/lct/{lct_id}/verify` (public).
pub async fn verify(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<ApiOk, ApiError> {
    let r = identity::verify(&node, &id, q.get("message").map(String::as_str), q.get("signature").map(String::as_str))?;
    let data = serde_json::to_value(&r).map_err(|e| ApiError::internal("serialise", e))?;
    Ok(ApiOk { lct_id: Some(id), ..ApiOk::new("lct_verified", data) })
}

/// `POST /v1/lct/{lct_id}/suspend`.
pub async fn suspend(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    signed_write(
        node,
        (method, uri, headers),
        body,
        "lct_suspended",
        StatusCode::OK,
        |n, ev, req: StatusChangeRequest| async move {
            identity::change_status(&n, ev, &id, LifecycleEvent::Suspend, req).await
        },
    )
    .await
}

/// `POST /v1/lct/{lct_id}/reinstate` (our extension: lifts a suspension).
pub async fn reinstate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    signed_write(
        node,
        (method, uri, headers),
        body,
        "lct_reinstated",
        StatusCode::OK,
        |n, ev, req: StatusChangeRequest| async move {
            identity::change_status(&n, ev, &id, LifecycleEvent::Reinstate, req).await
        },
    )
    .await
}

/// `POST /v1/lct/{lct_id}/revoke`.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    signed_write(
        node,
        (method, uri, headers),
        body,
        "lct_revoked",
        StatusCode::OK,
        |n, ev, req: RevokeRequest| async move { identity::revoke(&n, ev, &id, req).await },
    )
    .await
}

/// `POST /v1/lct/{lct_id}/transition`.
pub async fn transition(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    signed_write(
        node,
        (method, uri, headers),
        body,
        "lct_transitioned",
        StatusCode::CREATED,
        |n, ev, req: TransitionRequest| async move { identity::transition(&n, ev, &id, req).await },
    )
    .await
}
