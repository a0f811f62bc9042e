//! Reputation routes (`/v1/reputation/...`).

use super::auth::{Signed, body_bytes};
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, reputation};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::OutcomeRequest;

/// `POST /v1/reputation/outcome`.
pub async fn outcome(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<OutcomeRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("outcome_recorded", StatusCode::CREATED, reputation::outcome(&node, ev, req).await?))
}

/// `POST /v1/reputation/delta`: unsigned, nothing recorded.
pub async fn delta(State(node): State<Arc<Node>>, req: axum::extract::Request) -> Result<ApiOk, ApiError> {
    let body = body_bytes(req, &node).await?;
    let req: OutcomeRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}")))?;
    Ok(ApiOk::new("delta_computed", reputation::delta(&node, &req)?))
}

/// `GET /v1/reputation/{entity}/{role}`.
pub async fn get(
    State(node): State<Arc<Node>>,
    Path((entity, role)): Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("reputation_fetched", reputation::get(&node, &entity, &role)?))
}

/// `GET /v1/reputation/stats`.
pub async fn stats(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("reputation_stats", reputation::stats(&node)?))
}
