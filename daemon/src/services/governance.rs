//! Governance service (law oracle): publish new law versions.

use super::checks::{active_lct, admit, collect_witnesses, require_role, store_err};
use super::{Node, Society};
use crate::error::ApiError;
use crate::ledger::{Event, Prepared, current_law_hash};
use crate::services::identity::authenticate;
use crate::store::StoreError;
use crate::store::writer::{Committed, WriteCtx};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::sync::Arc;
use web4_core::api::LawPublishRequest;
use web4_core::law::{LawDataset, LawError};
use web4_core::payload::{LawPublish, law_publish_event};
use web4_core::signing::SignedRequest;
use web4_core::witness::{QuorumRule, WitnessClass};
use web4_core::{ErrorCode, LctId};

/// Roles that may publish law.
pub const PUBLISH_ROLES: [&str; 2] = ["authority", "law-oracle"];

/// Read a society and its law in force.
pub fn load_society(conn: &Connection, id: &str) -> Result<Society, StoreError> {
    let (name, law): (String, String) =
        conn.query_row("SELECT name, law FROM societies WHERE society_id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let doc: Value = serde_json::from_str(&law).map_err(|e| StoreError::Corrupt(format!("law: {e}")))?;
    let law = LawDataset::try_from(doc).map_err(|e| StoreError::Corrupt(format!("law: {e}")))?;
    Ok(Society {
        id: LctId::parse(id).map_err(|_| StoreError::Corrupt("society id".into()))?,
        name,
        identity: law.identity(),
        law,
    })
}

fn law_error(e: LawError) -> ApiError {
    match e {
        LawError::Syntax(m) => ApiError::new(ErrorCode::ProtoFormat, format!("law: {m}")),
        LawError::Invalid(issues) => {
            let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
            ApiError::new(ErrorCode::ProtoFormat, format!("law is invalid: {}", lines.join("; ")))
                .details(json!({ "issues": issues }))
        }
    }
}

/// `POST /v1/law/publish`.
pub async fn publish(node: &Arc<Node>, ev: SignedRequest, req: LawPublishRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let law = match req.law {
        Value::String(text) => LawDataset::from_text(&text),
        other => LawDataset::try_from(other),
    }
    .map_err(law_error)?;
    let soc = node.society();
    let previous = soc.law.law_hash();
    if law.law_hash() == previous {
        return Err(ApiError::new(ErrorCode::LawConflict, "this law is already in force"));
    }
    // Witnesses of the publication, recounted under the law in force.
    let now = node.now();
    let event = law_publish_event(&soc.id, &law.law_hash(), &previous);
    // The law in force sets the quorum; without a `law.publish` procedure none is needed.
    let rule = soc.law.quorum_for("law.publish").unwrap_or(QuorumRule::Threshold { n: 0 });
    // The publisher cannot witness its own publication.
    let counted = collect_witnesses(node, &soc, &ev.signer, event, WitnessClass::Action, &req.witnesses, rule, now)?;
    let (witnessed, skew) = (counted.clone(), soc.identity.witness_max_skew_seconds);
    let version = law.version().to_owned();
    let new_hash = law.law_hash();
    let prepared = Prepared::new(Event::LawPublish(LawPublish {
        evidence: ev.clone(),
        society_id: soc.id.clone(),
        law,
        previous,
        witnesses: counted,
    }))
    .map_err(store_err)?;
    let sid = soc.id.clone();
    let committed = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
            active_lct(ctx.conn, &ev.signer, ctx.now)?;
            require_role(ctx.conn, &sid, &ev.signer, &PUBLISH_ROLES, "publish law")?;
            // Peers recount the witnesses at the record's time (decisions/0029,
            // session 31): ones that went stale in the writer's queue do not count.
            crate::ledger::witnesses_still_fresh(&witnessed, &event, ctx.now, skew).map_err(|e| {
                ApiError::new(
                    ErrorCode::WitnessQuorum,
                    format!("the witness attestations went stale before the publication was recorded: {e}"),
                )
            })?;
            if current_law_hash(ctx.conn, sid.as_str()).map_err(store_err)? != Some(previous) {
                return Err(ApiError::new(
                    ErrorCode::LawConflict,
                    "another law was published meanwhile; check the law in force and retry",
                ));
            }
            if crate::ledger::law_version_exists(ctx.conn, sid.as_str(), &version).map_err(store_err)? {
                return Err(ApiError::new(
                    ErrorCode::LawConflict,
                    format!("version {version} exists already; law versions are immutable, publish a new version"),
                ));
            }
            ctx.append(&prepared, previous)?;
            Ok(json!({"society": sid, "version": version, "law_hash": new_hash, "previous": previous}))
        }))
        .await?;
    // The commit hook put the new law in force before the answer was sent
    // (`Effect::Law`), on this node as on every node that applies the record.
    Ok(committed)
}

/// `POST /v1/law/interpretation`: by an `authority` or `law-oracle` holder; an
/// interpretation names a norm of the law in force (or none, for the whole law)
/// and may replace an earlier, not yet replaced one of the same norm.
pub async fn interpret(
    node: &Arc<Node>,
    ev: SignedRequest,
    req: web4_core::api::InterpretationRequest,
) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    if req.text.trim().is_empty() || req.text.len() > 4096 {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "text: 1 to 4096 bytes"));
    }
    let soc = node.society();
    if let Some(n) = &req.norm_id {
        let exists =
            soc.law.as_json()["norms"].as_array().is_some_and(|a| a.iter().any(|x| x["id"].as_str() == Some(n)));
        if !exists {
            return Err(ApiError::new(ErrorCode::NotFound, format!("law {} has no norm {n:?}", soc.law.version())));
        }
    }
    let sid = soc.id.clone();
    let law_hash = soc.law.law_hash();
    let law_version = soc.law.version().to_owned();
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &PUBLISH_ROLES, "interpret law")?;
            let version = match req.replaces {
                None => 1,
                Some(r) => {
                    let (norm, v, superseded) = crate::ledger::load_interpretation(ctx.conn, sid.as_str(), &r)
                        .map_err(store_err)?
                        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no interpretation {r}")))?;
                    if norm != req.norm_id {
                        return Err(ApiError::new(ErrorCode::LawConflict, "an interpretation can only replace one of the same norm"));
                    }
                    if let Some(s) = superseded {
                        return Err(ApiError::new(ErrorCode::LawConflict, format!("interpretation {r} was already replaced by {s}")));
                    }
                    v + 1
                }
            };
            let prepared = Prepared::new(Event::Interpretation(web4_core::payload::Interpretation {
                evidence: ev.clone(),
                society_id: sid.clone(),
                law_version: law_version.clone(),
                norm_id: req.norm_id.clone(),
                text: req.text.clone(),
                version,
                replaces: req.replaces,
            }))
            .map_err(store_err)?;
            let r = ctx.append(&prepared, law_hash)?;
            Ok(json!({"ref": r, "society": sid, "law_version": law_version, "norm_id": req.norm_id, "version": version, "replaces": req.replaces}))
        }))
        .await
}
