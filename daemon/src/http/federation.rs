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
    if p.after < 0 || p.limit == 0 || p.limit > MAX_PAGE {
        return Err(ApiError::new(ErrorCode::ProtoFormat, format!("after ≥ 0 and limit 1..={MAX_PAGE}")));
    }
    let rows = node
        .reads
        .with(|c| {
            let mut st = c.prepare("SELECT id, record FROM ledger WHERE id > ?1 ORDER BY id LIMIT ?2")?;
            let v = st
                .query_map(rusqlite::params![p.after, p.limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })
        .map_err(crate::services::checks::store_err)?;
    let next = rows.last().map(|(id, _)| *id);
    let records: Vec<String> = rows.into_iter().map(|(_, t)| t).collect();
    Ok(ApiOk::new("ledger_records_listed", json!({ "records": records, "next": next })))
}
