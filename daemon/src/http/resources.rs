//! Resource routes (`/v1/resources/...`), the seed's four plus usage reports
//! and a lease lookup (docs/api.md §17).

use super::auth::Signed;
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, resources};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use web4_core::api::{AllocateRequest, RatesRequest, ReleaseRequest, UsageRequest};

/// `POST /v1/resources/allocate`.
pub async fn allocate(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<AllocateRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("resources_allocated", StatusCode::CREATED, resources::allocate(&node, ev, req).await?))
}

/// `POST /v1/resources/usage`.
pub async fn usage(State(node): State<Arc<Node>>, Signed(ev, req): Signed<UsageRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("usage_recorded", StatusCode::OK, resources::usage(&node, ev, req).await?))
}

/// `POST /v1/resources/release`.
pub async fn release(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<ReleaseRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("resources_released", StatusCode::OK, resources::release(&node, ev, req).await?))
}

/// `POST /v1/resources/rates`.
pub async fn rates(State(node): State<Arc<Node>>, Signed(ev, req): Signed<RatesRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("rates_updated", StatusCode::OK, resources::rates(&node, ev, req).await?))
}

/// `GET /v1/resources/pool/stats`.
pub async fn stats(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("pool_stats_fetched", resources::stats(&node)?))
}

/// `GET /v1/resources/allocation/{id}`.
pub async fn get(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("allocation_fetched", resources::get(&node, &id)?))
}
