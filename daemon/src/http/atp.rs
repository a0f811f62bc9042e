//! ATP routes (`/v1/atp/...`), an extension of the seed's API (docs/api.md §15).

use super::auth::Signed;
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, atp};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use web4_core::api::{AtpChargeRequest, AtpMintRequest, AtpSlashRequest, AtpTransferRequest};

/// `POST /v1/atp/mint`.
pub async fn mint(State(node): State<Arc<Node>>, Signed(ev, req): Signed<AtpMintRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("atp_minted", StatusCode::CREATED, atp::mint(&node, ev, req).await?))
}

/// `POST /v1/atp/charge`.
pub async fn charge(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<AtpChargeRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("atp_charged", StatusCode::CREATED, atp::charge(&node, ev, req).await?))
}

/// `POST /v1/atp/transfer`.
pub async fn transfer(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<AtpTransferRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("atp_transferred", StatusCode::OK, atp::transfer(&node, ev, req).await?))
}

/// `POST /v1/atp/slash`.
pub async fn slash(State(node): State<Arc<Node>>, Signed(ev, req): Signed<AtpSlashRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("atp_slashed", StatusCode::OK, atp::slash(&node, ev, req).await?))
}

/// `GET /v1/atp/account/{lct_id}`.
pub async fn account(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("atp_account_fetched", atp::account(&node, &id)?))
}

/// `GET /v1/atp/pool`.
pub async fn pool(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    Ok(ApiOk::new("atp_pool_fetched", atp::pool(&node)?))
}
