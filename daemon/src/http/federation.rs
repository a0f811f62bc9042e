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

/// Query of `GET /v1/p2p/chains`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainsQuery {
    /// Most chains listed (default and maximum 1000).
    #[serde(default = "default_chains")]
    limit: usize,
}

fn default_chains() -> usize {
    1000
}

/// `GET /v1/p2p/chains`: the authors' chains that are not whole here, and
/// why (behind peers, parked after a gap, waiting for what a record needs,
/// stopped by a refusal of its next record), stopped ones first.
pub async fn chains(
    State(node): State<Arc<Node>>,
    q: Result<Query<ChainsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ApiOk, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.body_text()))?;
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "limit: 1 to 1000"));
    }
    let data = match node.federation.get() {
        Some(f) => {
            let mut v = f.chains(&node, q.limit);
            v["enabled"] = json!(true);
            v
        }
        None => json!({ "enabled": false, "chains": [] }),
    };
    Ok(ApiOk::new("p2p_chains_listed", data))
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
                let mut st =
                    c.prepare_cached("SELECT id, record, applied_at FROM ledger WHERE id > ?1 ORDER BY id LIMIT ?2")?;
                let v = st
                    .query_map(rusqlite::params![p.after, p.limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?))
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
    let next = rows.last().map(|(id, _, _)| *id);
    let (records, applied_at): (Vec<String>, Vec<Option<i64>>) = rows.into_iter().map(|(_, t, at)| (t, at)).unzip();
    Ok(ApiOk::new("ledger_records_listed", json!({ "records": records, "applied_at": applied_at, "next": next })))
}

/// `POST /v1/p2p/block` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// The node this request is meant for (its LCT id, `node` in `/ready`).
    pub node: String,
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
    authority_only(&node, ev, &req.node, "block peers").await?;
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

/// Body of `POST /v1/federation/societies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    /// The node this request is meant for (its LCT id, `node` in `/ready`).
    pub node: String,
    /// Base URL of a node of the other society.
    pub url: String,
    /// Expected hash of its genesis record (compare out of band); optional.
    #[serde(default)]
    pub genesis_hash: Option<String>,
}

/// Admit a signed request that only an active `authority` may make and that
/// records nothing: meant for this node, signature, nonce (spent, so it
/// cannot be replayed), signer status and role. Recorded nowhere, its nonce
/// is spent on this node only; naming the node in the signed body keeps it
/// from being replayed to the society's other nodes (decisions/0027).
async fn authority_only(
    node: &Arc<Node>,
    ev: web4_core::signing::SignedRequest,
    meant_for: &str,
    action: &'static str,
) -> Result<(), ApiError> {
    if meant_for != node.id.as_str() {
        return Err(ApiError::new(
            ErrorCode::AuthzDenied,
            format!("this request is meant for node {meant_for}; this node is {}", node.id),
        )
        .details(json!({ "node": node.id })));
    }
    crate::services::identity::authenticate(node, &ev).await?;
    let society = node.society().id.clone();
    node.writer
        .submit(Box::new(move |ctx| {
            ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
            crate::services::checks::active_lct(ctx.conn, &ev.signer, ctx.now)?;
            crate::services::checks::require_role(ctx.conn, &society, &ev.signer, &["authority"], action)?;
            Ok(json!(null))
        }))
        .await?;
    Ok(())
}

/// `POST /v1/federation/societies`: an authority makes this node follow
/// another society: its ledger is copied from `url` and verified record by
/// record into a separate store (docs/decisions/0018).
pub async fn follow_society(
    State(node): State<Arc<Node>>,
    super::auth::Signed(ev, req): super::auth::Signed<FollowRequest>,
) -> Result<ApiOk, ApiError> {
    if !(req.url.starts_with("http://") || req.url.starts_with("https://")) {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "url: an http:// or https:// base URL"));
    }
    authority_only(&node, ev, &req.node, "follow other societies").await?;
    let own = node.society().id.clone();
    let s = node.foreign.add(&own, &req.url, req.genesis_hash.as_deref()).await.map_err(|e| {
        ApiError::new(ErrorCode::ProtoFormat, format!("cannot follow {}: {e:#}", req.url))
            .status(422)
            .details(json!({ "url": req.url }))
    })?;
    let mut ok = ApiOk::new("foreign_society_followed", s.summary());
    ok.status = axum::http::StatusCode::CREATED;
    Ok(ok)
}

/// `GET /v1/federation/societies`: the societies this node follows.
pub async fn societies(State(node): State<Arc<Node>>) -> Result<ApiOk, ApiError> {
    let list: Vec<serde_json::Value> = node.foreign.all().iter().map(|s| s.summary()).collect();
    Ok(ApiOk::new("foreign_societies_listed", json!({ "societies": list })))
}

fn foreign(node: &Node, society: &str) -> Result<Arc<crate::foreign::ForeignSociety>, ApiError> {
    node.foreign.get(society).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("this node does not follow society {society}"))
            .details(json!({ "hint": "POST /v1/federation/societies {url} (an authority)" }))
    })
}

/// When an LCT is not in the copy yet, pull once before answering 404.
async fn fresh(node: &Node, s: &Arc<crate::foreign::ForeignSociety>, lct: &str) {
    let known = s.with(|c| crate::ledger::load_signer(c, lct).ok().flatten().is_some());
    if !known && let Err(e) = node.foreign.pull(s).await {
        tracing::warn!(service = "federation", event = "foreign_pull_failed", society = %s.id, error = %e);
    }
}

/// `GET /v1/federation/societies/{society}/lct/{lct_id}/verify`: verify an
/// LCT born in another society with that society's law and witnesses, from
/// this node's verified copy of its ledger.
pub async fn foreign_verify(
    State(node): State<Arc<Node>>,
    axum::extract::Path((society, lct)): axum::extract::Path<(String, String)>,
) -> Result<ApiOk, ApiError> {
    let s = foreign(&node, &society)?;
    let id = web4_core::LctId::parse(&lct).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))?;
    fresh(&node, &s, id.as_str()).await;
    let now = node.now();
    let (report, law_hash) = s
        .with(|c| {
            let soc = crate::services::governance::load_society(c, s.id.as_str())?;
            let r = crate::services::identity::verify_in(c, &soc, now, &id, None, Some(&node.metrics))?;
            Ok::<_, crate::store::StoreError>((r, soc.law.law_hash()))
        })
        .map_err(|e| ApiError::internal("foreign verify", e))?;
    let report =
        report.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no LCT {id} in society {society}")))?;
    let mut v = serde_json::to_value(&report).map_err(|e| ApiError::internal("foreign verify", e))?;
    v["society_id"] = json!(s.id);
    v["society_law_hash"] = json!(law_hash);
    v["genesis_hash"] = json!(s.genesis_hash);
    Ok(ApiOk::new("foreign_lct_verified", v))
}

/// `GET /v1/federation/societies/{society}/reputation/{entity}/{role}`: the
/// other society's T3/V3 for (entity, role), as that society's records make
/// them; shown, never merged into this society's tensors.
pub async fn foreign_reputation(
    State(node): State<Arc<Node>>,
    axum::extract::Path((society, entity, role)): axum::extract::Path<(String, String, String)>,
) -> Result<ApiOk, ApiError> {
    let s = foreign(&node, &society)?;
    let id = web4_core::LctId::parse(&entity).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))?;
    fresh(&node, &s, id.as_str()).await;
    let now = node.now().secs();
    let mut v = s.with(|c| crate::services::reputation::get_in(c, &id, &role, now))?;
    v["society_id"] = json!(s.id);
    v["merged"] = json!(false);
    Ok(ApiOk::new("foreign_reputation_fetched", v))
}
