//! `GET /v1/p2p/peers` and `GET /v1/ledger/records` (federation and joining).

use super::render::ApiOk;
use crate::error::ApiError;
use crate::services::Node;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use web4_core::ErrorCode;

/// `GET /v1/p2p/peers`: this node's libp2p identity, addresses, peers (with
/// their gossipsub scores), gossip counters and escrow.
pub async fn peers(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    let data = match node.federation.get() {
        Some(f) => {
            let mut v = f.status().await;
            v["enabled"] = json!(true);
            v
        }
        None => json!({ "enabled": false, "peers": [] }),
    };
    Ok(ApiOk::new("p2p_peers_listed", data))
}

/// Most records in one page of `GET /v1/ledger/records`.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Position after which to read (0: from the start).
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
    /// When nothing is newer than `after`, wait up to this long (ms, ≤ 30000)
    /// for the next commit before answering (a long poll for followers).
    #[serde(default)]
    wait_ms: u64,
}

fn default_limit() -> u32 {
    MAX_PAGE
}

/// `GET /v1/ledger/records?after=N&limit=M`: the ledger in this node's
/// arrival order (each record is signed by its author; a reader verifies the
/// chains itself). Used by `web4d init --join`.
pub async fn records(
    State(node): State<Arc<Node>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiOk, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.body_text()))?;
    if p.after < 0 || p.limit == 0 || p.limit > MAX_PAGE || p.wait_ms > 30_000 {
        return Err(ApiError::new(ErrorCode::ProtoFormat, format!("after ≥ 0, limit 1..={MAX_PAGE}, wait_ms ≤ 30000")));
    }
    let read = || {
        node.reads
            .with(|c| {
                let mut st = c.prepare_cached("SELECT id, record FROM ledger WHERE id > ?1 ORDER BY id LIMIT ?2")?;
                let v = st
                    .query_map(rusqlite::params![p.after, p.limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            })
            .map_err(crate::services::checks::store_err)
    };
    let mut commits = node.commits.subscribe();
    let mut rows = read()?;
    if rows.is_empty() && p.wait_ms > 0 {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(p.wait_ms), commits.changed()).await;
        rows = read()?;
    }
    let next = rows.last().map(|(id, _)| *id);
    let records: Vec<String> = rows.into_iter().map(|(_, t)| t).collect();
    Ok(ApiOk::new("ledger_records_listed", json!({ "records": records, "next": next })))
}

/// `POST /v1/p2p/block` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub peer_id: String,
    /// `true` blocks (connections close, the peer cannot reconnect), `false` lifts the block.
    pub blocked: bool,
}

/// `POST /v1/p2p/block`: an authority blocks or unblocks a peer on this node.
/// Not a ledger change (it is this node's network policy); the request's
/// nonce is spent like any signed request's.
pub async fn block(
    State(node): State<Arc<Node>>,
    super::auth::Signed(ev, req): super::auth::Signed<BlockRequest>,
) -> Result<ApiOk, ApiError> {
    let fed =
        node.federation.get().cloned().ok_or_else(|| {
            ApiError::new(ErrorCode::Unavailable, "federation is off on this node (p2p_listen is empty)")
        })?;
    let peer: libp2p::PeerId =
        req.peer_id.parse().map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "peer_id: not a libp2p peer id"))?;
    crate::services::identity::authenticate(&node, &ev)?;
    let society = node.society().id.clone();
    node.writer
        .submit(Box::new(move |ctx| {
            ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
            crate::services::checks::active_lct(ctx.conn, &ev.signer, ctx.now)?;
            crate::services::checks::require_role(ctx.conn, &society, &ev.signer, &["authority"], "block peers")?;
            Ok(json!(null))
        }))
        .await?;
    fed.handle.block(peer, req.blocked).await.map_err(|e| ApiError::new(ErrorCode::Unavailable, e.to_string()))?;
    tracing::info!(service = "p2p", event = if req.blocked { "peer_blocked" } else { "peer_unblocked" }, peer_id = %peer);
    Ok(ApiOk::new("p2p_block_changed", json!({ "peer_id": req.peer_id, "blocked": req.blocked })))
}

/// `GET /v1/p2p/equivocations`: authors caught signing two records with one
/// seq (seen here or learned from peers' evidence), newest first, at most
/// 1000. The other record of each pair is included so anyone can re-check it.
pub async fn equivocations(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    let rows = node
        .reads
        .with(|c| {
            let mut st = c.prepare(
                "SELECT author, seq, kept_hash, other_hash, other_record, seen_at FROM equivocations
                 ORDER BY seen_at DESC, author, seq LIMIT 1000",
            )?;
            let v = st
                .query_map([], |r| {
                    Ok(json!({
                        "author": r.get::<_, String>(0)?,
                        "seq": r.get::<_, i64>(1)?,
                        "kept_hash": r.get::<_, String>(2)?,
                        "other_hash": r.get::<_, String>(3)?,
                        "other_record": r.get::<_, String>(4)?,
                        "seen_at": r.get::<_, i64>(5)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .map_err(|e| ApiError::internal("equivocations", e))?;
    let authors: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r["author"].as_str()).collect();
    Ok(ApiOk::new("equivocations_listed", json!({ "flagged_authors": authors, "evidence": rows })))
}
