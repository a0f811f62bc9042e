//! The HTTP API: one listener for every service, the auth layer, the envelope
//! and errors, health, readiness, metrics and the OpenAPI document.

pub mod atp;
pub mod auth;
pub mod authz;
pub mod federation;
pub mod forward;
pub mod graph;
pub mod law;
pub mod lct;
pub mod openapi;
pub mod render;
pub mod reputation;
pub mod resources;

use crate::services::Node;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Build the router.
pub fn router(node: Arc<Node>, max_body: usize, timeout: Duration) -> Router {
    // Routes that change a delegation: decided by the tree's owner (forward.rs).
    let owned = Router::new()
        .route("/v1/auth/authorize", post(authz::authorize))
        .route("/v1/auth/delegate", post(authz::delegate))
        .route("/v1/auth/delegate/{id}", axum::routing::delete(authz::revoke))
        .route("/v1/auth/delegate/{id}/approve", post(authz::approve))
        .route("/v1/resources/allocate", post(resources::allocate))
        .route("/v1/resources/usage", post(resources::usage))
        .route("/v1/resources/release", post(resources::release))
        .route("/v1/resources/rates", post(resources::rates))
        .route("/v1/atp/mint", post(atp::mint))
        .route("/v1/atp/charge", post(atp::charge))
        .route("/v1/atp/transfer", post(atp::transfer))
        .route("/v1/atp/slash", post(atp::slash))
        .route("/v1/law/publish", post(law::publish))
        .route("/v1/law/interpretation", post(law::interpretation))
        .route("/v1/reputation/outcome", post(reputation::outcome))
        .route_layer(axum::middleware::from_fn_with_state(
            forward::Layer { node: Arc::clone(&node), max_body },
            forward::middleware,
        ));
    let api = Router::new()
        .merge(owned)
        .route("/v1/lct/mint", post(lct::mint))
        .route("/v1/lct/{lct_id}", get(lct::get_lct))
        .route("/v1/lct/{lct_id}/suspend", post(lct::suspend))
        .route("/v1/lct/{lct_id}/reinstate", post(lct::reinstate))
        .route("/v1/lct/{lct_id}/revoke", post(lct::revoke))
        .route("/v1/lct/{lct_id}/roles", post(lct::grant_role))
        .route("/v1/lct/{lct_id}/roles/{role}", axum::routing::delete(lct::revoke_role))
        .route("/v1/lct/{lct_id}/verify", get(lct::verify))
        .route("/v1/lct/{lct_id}/transition", post(lct::transition))
        .route("/v1/law/version/{version}", get(law::version))
        .route("/v1/law/check", post(law::check))
        .route("/v1/law/permissions/{role}", get(law::permissions))
        .route("/v1/auth/delegation/{id}", get(authz::status))
        .route("/v1/atp/account/{lct_id}", get(atp::account))
        .route("/v1/atp/pool", get(atp::pool))
        .route("/v1/reputation/delta", post(reputation::delta))
        .route("/v1/reputation/stats", get(reputation::stats))
        .route("/v1/reputation/{entity}/{role}", get(reputation::get))
        .route("/v1/resources/pool/stats", get(resources::stats))
        .route("/v1/resources/allocation/{id}", get(resources::get))
        .route("/v1/graph/triple", post(graph::triple))
        .route("/v1/graph/query", get(graph::query_get).post(graph::query_post))
        .route("/v1/graph/traverse", post(graph::traverse))
        .route("/v1/graph/paths", get(graph::paths))
        .route("/v1/graph/trust", post(graph::trust))
        .route("/v1/p2p/peers", get(federation::peers))
        .route("/v1/p2p/chains", get(federation::chains))
        .route("/v1/p2p/block", post(federation::block))
        .route("/v1/p2p/equivocations", get(federation::equivocations))
        .route("/v1/federation/societies", get(federation::societies).post(federation::follow_society))
        .route("/v1/federation/societies/{society}/lct/{lct_id}/verify", get(federation::foreign_verify))
        .route("/v1/federation/societies/{society}/reputation/{entity}/{role}", get(federation::foreign_reputation))
        .route("/v1/ledger/records", get(federation::records))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(render::not_found)
        .method_not_allowed_fallback(render::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Arc::clone(&node));
    api.layer(axum::middleware::from_fn_with_state(render::Layer { node, timeout }, render::middleware))
}

async fn health() -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

async fn ready(State(node): State<Arc<Node>>) -> Response {
    let ready = node.ready.load(Ordering::Acquire);
    let store_ok = node.reads.with(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).is_ok();
    let writer_ok = node.writer.is_alive();
    let ok = ready && store_ok && writer_ok;
    let p2p = match node.federation.get() {
        None => serde_json::json!({ "enabled": false }),
        Some(f) => {
            let s = f.status().await;
            serde_json::json!({
                "enabled": true,
                "peer_id": s["peer_id"],
                "listen": s["listen"],
                "peers": s["peers"].as_array().map_or(0, Vec::len),
                "escrow": s["escrow"],
                "sync_lag": node.metrics.sync_lag.get(),
            })
        }
    };
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": { "store": store_ok, "writer": writer_ok, "key_loaded": true, "accepting": ready },
        "node": node.id,
        "society": node.society().id,
        "law_hash": node.society().law.law_hash(),
        "p2p": p2p,
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    crate::services::resources::refresh_metrics(&node);
    node.metrics.graph_triples.set(i64::try_from(node.knowledge.triples()).unwrap_or(i64::MAX));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        node.metrics.render(),
    )
}
