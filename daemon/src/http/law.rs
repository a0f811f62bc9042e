//! Governance routes (`/v1/law/...`): the law in force and legality checks.

use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::Node;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::json;
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::LawCheckRequest;

/// `GET /v1/law/version/{version}`: the dataset of that version (`current` for
/// the law in force). Versions are immutable; old ones stay readable.
pub async fn version(State(node): State<Arc<Node>>, Path(version): Path<String>) -> Result<ApiOk, ApiError> {
    let soc = node.society();
    let wanted = if version == "current" { soc.law.version().to_owned() } else { version.clone() };
    let found = node
        .reads
        .with(|c| crate::ledger::load_law_version(c, soc.id.as_str(), &wanted))
        .map_err(|e| ApiError::internal("store", e))?;
    let Some((law, ledger_ref, published_at)) = found else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no law version {version:?} in society {}; in force: {}", soc.id, soc.law.version()),
        ));
    };
    let interpretations = node
        .reads
        .with(|c| crate::ledger::current_interpretations(c, soc.id.as_str(), law.version()))
        .map_err(|e| ApiError::internal("store", e))?;
    Ok(ApiOk::new(
        "law_fetched",
        json!({"society": soc.id, "version": law.version(), "interpretations": interpretations, "law_hash": law.law_hash(), "in_force": law.law_hash() == soc.law.law_hash(),
               "published_at": published_at, "ledger_ref": ledger_ref, "law": law.as_json()}),
    ))
}

/// `POST /v1/law/publish`: signed by an LCT holding `authority` or `law-oracle`.
pub async fn publish(
    State(node): State<Arc<Node>>,
    method: axum::http::Method,
    uri: axum::extract::OriginalUri,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    super::lct::signed_write(
        node,
        (method, uri, headers),
        body,
        "law_published",
        axum::http::StatusCode::CREATED,
        |n, ev, req: web4_core::api::LawPublishRequest| async move {
            crate::services::governance::publish(&n, ev, req).await
        },
    )
    .await
}

/// `POST /v1/law/check`: evaluate an action against the law in force.
pub async fn check(State(node): State<Arc<Node>>, body: Result<Bytes, BytesRejection>) -> Result<ApiOk, ApiError> {
    let body = body.map_err(|rej| {
        let e = ApiError::new(ErrorCode::ProtoFormat, format!("request body: {}", rej.body_text()));
        if rej.status().as_u16() == 413 { e.status(413) } else { e }
    })?;
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
    method: axum::http::Method,
    uri: axum::extract::OriginalUri,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiOk, ApiError> {
    super::lct::signed_write(
        node,
        (method, uri, headers),
        body,
        "law_interpreted",
        axum::http::StatusCode::CREATED,
        |n, ev, req: web4_core::api::InterpretationRequest| async move {
            crate::services::governance::interpret(&n, ev, req).await
        },
    )
    .await
}
