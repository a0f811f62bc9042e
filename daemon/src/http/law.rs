//! Governance routes (`/v1/law/...`): the law in force and legality checks.

use super::auth::{Signed, body_bytes};
use super::lct::committed;
use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::Node;
use crate::services::governance;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{InterpretationRequest, LawCheckRequest, LawPublishRequest};

/// `GET /v1/law/version/{version}`: the dataset of that version (`current` for
/// the law in force). Versions are immutable; old ones stay readable.
pub async fn version(State(node): State<Arc<Node>>, Path(version): Path<String>) -> Result<ApiOk, ApiError> {
    let soc = node.society();
    let wanted = if version == "current" { soc.law.version().to_owned() } else { version.clone() };
    let found = node
        .reads
        .with(|c| crate::ledger::load_law_version(c, soc.id.as_str(), &wanted))
        .map_err(|e| ApiError::internal("store", e))?;
    let Some(row) = found else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no law version {version:?} in society {}; in force: {}", soc.id, soc.law.version()),
        ));
    };
    let interpretations = node
        .reads
        .with(|c| crate::ledger::current_interpretations(c, soc.id.as_str(), &wanted))
        .map_err(|e| ApiError::internal("store", e))?;
    let in_force = row.law_hash == soc.law.law_hash().to_string();
    Ok(ApiOk::new(
        "law_fetched",
        json!({"society": soc.id, "version": wanted, "interpretations": interpretations, "law_hash": row.law_hash,
               "in_force": in_force, "published_at": row.published_at, "ledger_ref": row.ledger_ref, "law": row.law}),
    ))
}

/// `POST /v1/law/publish`: signed by an LCT holding `authority` or `law-oracle`.
pub async fn publish(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<LawPublishRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("law_published", StatusCode::CREATED, governance::publish(&node, ev, req).await?))
}

/// `POST /v1/law/check`: evaluate an action against the law in force.
pub async fn check(State(node): State<Arc<Node>>, req: axum::extract::Request) -> Result<ApiOk, ApiError> {
    let body = body_bytes(req, &node).await?;
    let req: LawCheckRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("request body: {e}")))?;
    let law = &node.society().law;
    if let Some(h) = req.law_hash
        && h != law.law_hash()
    {
        return Err(ApiError::new(
            ErrorCode::ProtoDowngrade,
            format!("request is bound to law {h}, but {} is in force", law.law_hash()),
        )
        .details(json!({"requested": h, "in_force": law.law_hash()})));
    }
    let outcome = law.evaluate(&req.r6());
    let mut data = serde_json::to_value(&outcome).map_err(|e| ApiError::internal("serialise", e))?;
    data["law_hash"] = json!(law.law_hash());
    data["law_version"] = json!(law.version());
    Ok(ApiOk::new("law_checked", data))
}

/// `GET /v1/law/permissions/{role}`: what the law in force lets a role do.
pub async fn permissions(State(node): State<Arc<Node>>, Path(role): Path<String>) -> Result<ApiOk, ApiError> {
    if !web4_core::law::validate::ROLES.contains(&role.as_str()) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("unknown role {role:?}; roles: {}", web4_core::law::validate::ROLES.join(", ")),
        ));
    }
    let soc = node.society();
    Ok(ApiOk::new("law_permissions", web4_core::law::permissions(&soc.law, &role)))
}

/// `POST /v1/law/interpretation`.
pub async fn interpretation(
    State(node): State<Arc<Node>>,
    Signed(ev, req): Signed<InterpretationRequest>,
) -> Result<ApiOk, ApiError> {
    Ok(committed("law_interpreted", StatusCode::CREATED, governance::interpret(&node, ev, req).await?))
}
