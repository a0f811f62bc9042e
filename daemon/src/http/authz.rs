//! Authorization routes (`/v1/auth/...`).

use super::lct::signed_write;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, authorization};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{AuthorizeRequest, DelegateRequest};

/// `POST /v1/auth/authorize`.
pub async fn authorize(
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
        "authorization_decided",
        StatusCode::OK,
        |n, ev, req: AuthorizeRequest| async move { authorization::authorize(&n, ev, req).await },
    )
    .await
}

/// `POST /v1/auth/delegate`.
pub async fn delegate(
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
        "delegation_created",
        StatusCode::CREATED,
        |n, ev, req: DelegateRequest| async move { authorization::delegate(&n, ev, req).await },
    )
    .await
}

/// `DELETE /v1/auth/delegate/{id}`: signed, with an empty body.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    let body =
        body.map_err(|rej| ApiError::new(ErrorCode::ProtoFormat, format!("request body: {}", rej.body_text())))?;
    if !body.is_empty() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "DELETE takes no body"));
    }
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let ev = super::auth::evidence(&headers, method.as_str(), path, &body, node.now(), node.max_skew)?;
    let c = authorization::revoke(&node, ev, &id).await?;
    Ok(ApiOk {
        status: StatusCode::OK,
        data: c.data,
        ledger_ref: c.ledger_ref,
        event: "delegation_revoked",
        lct_id: None,
    })
}

/// `GET /v1/auth/delegation/{id}`.
pub async fn status(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("delegation_fetched", authorization::status(&node, &id)?))
}
