//! Identity routes (`/v1/lct/...`).

use super::auth::{Signed, SignedRaw};
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::{Node, identity};
use crate::store::writer::Committed;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{MintRequest, RevokeRequest, RoleGrantRequest, StatusChangeRequest, TransitionRequest};
use web4_core::lct::LifecycleEvent;

/// Wrap a committed write; the LCT it concerns goes to the log line.
pub(crate) fn committed(event: &'static str, status: StatusCode, c: Committed) -> ApiOk {
    let lct_id = c
        .data
        .pointer("/lct/lct_id")
        .or_else(|| c.data.pointer("/lct/lct/lct_id"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    ApiOk { status, data: c.data, ledger_ref: c.ledger_ref, event, lct_id }
}

/// `POST /v1/lct/mint`.
pub async fn mint(State(node): State<Arc<Node>>, Signed(ev, req): Signed<MintRequest>) -> Result<ApiOk, ApiError> {
    Ok(committed("lct_minted", StatusCode::CREATED, identity::mint(&node, ev, req).await?))
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
    Signed(ev, req): Signed<StatusChangeRequest>,
) -> Result<ApiOk, ApiError> {
    let c = identity::change_status(&node, ev, &id, LifecycleEvent::Suspend, req).await?;
    Ok(committed("lct_suspended", StatusCode::OK, c))
}

/// `POST /v1/lct/{lct_id}/reinstate` (our extension: lifts a suspension).
pub async fn reinstate(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Signed(ev, req): Signed<StatusChangeRequest>,
) -> Result<ApiOk, ApiError> {
    let c = identity::change_status(&node, ev, &id, LifecycleEvent::Reinstate, req).await?;
    Ok(committed("lct_reinstated", StatusCode::OK, c))
}

/// `POST /v1/lct/{lct_id}/roles`: grant a role (decisions/0019).
pub async fn grant_role(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Signed(ev, req): Signed<RoleGrantRequest>,
) -> Result<ApiOk, ApiError> {
    let c = identity::change_role(&node, ev, &id, true, req).await?;
    Ok(committed("role_granted", StatusCode::OK, c))
}

/// `DELETE /v1/lct/{lct_id}/roles/{role}`: signed, with an empty body.
pub async fn revoke_role(
    State(node): State<Arc<Node>>,
    Path((id, role)): Path<(String, String)>,
    SignedRaw(ev, body): SignedRaw,
) -> Result<ApiOk, ApiError> {
    if !body.is_empty() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "DELETE takes no body"));
    }
    let c = identity::change_role(&node, ev, &id, false, RoleGrantRequest { role, reason: None }).await?;
    Ok(committed("role_revoked", StatusCode::OK, c))
}

/// `POST /v1/lct/{lct_id}/revoke`.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Signed(ev, req): Signed<RevokeRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("lct_revoked", StatusCode::OK, identity::revoke(&node, ev, &id, req).await?))
}

/// `POST /v1/lct/{lct_id}/transition`.
pub async fn transition(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Signed(ev, req): Signed<TransitionRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("lct_transitioned", StatusCode::CREATED, identity::transition(&node, ev, &id, req).await?))
}
