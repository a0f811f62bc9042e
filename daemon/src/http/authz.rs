//! Authorization routes (`/v1/auth/...`).

use super::auth::{Signed, SignedRaw};
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, authorization};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{AuthorizeRequest, DelegateRequest};

/// `POST /v1/auth/authorize`.
pub async fn authorize(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<AuthorizeRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("authorization_decided", StatusCode::OK, authorization::authorize(&node, ev, req).await?))
}

/// `POST /v1/auth/delegate`.
pub async fn delegate(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<DelegateRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("delegation_created", StatusCode::CREATED, authorization::delegate(&node, ev, req).await?))
}

/// `DELETE /v1/auth/delegate/{id}`: signed, with an empty body.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    SignedRaw(ev, body): SignedRaw,
) -> Result<ApiOk, ApiError> {
    if !body.is_empty() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "DELETE takes no body"));
    }
    Ok(committed("delegation_revoked", StatusCode::OK, authorization::revoke(&node, ev, &id).await?))
}

/// `POST /v1/auth/delegate/{id}/approve`: signed, with an empty body.
pub async fn approve(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    SignedRaw(ev, body): SignedRaw,
) -> Result<ApiOk, ApiError> {
    if !body.is_empty() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "approve takes no body"));
    }
    Ok(committed("delegation_approved", StatusCode::OK, authorization::approve(&node, ev, &id).await?))
}

/// `GET /v1/auth/delegation/{id}`.
pub async fn status(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("delegation_fetched", authorization::status(&node, &id)?))
}
