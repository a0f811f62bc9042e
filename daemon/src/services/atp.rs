//! ATP/ADP service (concepts §4): the society pool, accounts, minting,
//! charging against value proofs, transfers with fees and slashing. Every
//! change is a ledger record applied on the writer, where balances are
//! checked against the committed state, so no concurrency can overdraw.

use super::Node;
use super::checks::{active_lct, admit, known_lct, require_role, store_err};
use crate::error::ApiError;
use crate::ledger::{Event, Prepared, load_account, load_pool};
use crate::services::identity::authenticate;
use crate::store::writer::{Committed, WriteCtx};
use rusqlite::OptionalExtension;
use serde_json::{Value, json};
use std::sync::Arc;
use web4_core::api::{AtpChargeRequest, AtpMintRequest, AtpSlashRequest, AtpTransferRequest};
use web4_core::payload::{AtpCharge, AtpMint, AtpSlash, AtpTransfer};
use web4_core::signing::SignedRequest;
use web4_core::{ErrorCode, Hash, LctId};

fn insufficient(wanted: u64, available: u64, what: &str) -> ApiError {
    ApiError::new(ErrorCode::InsufficientAtp, format!("{what}: {wanted} wanted, {available} available"))
        .details(json!({ "wanted": wanted, "available": available }))
}

fn positive(amount: u64) -> Result<(), ApiError> {
    if amount == 0 {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "amount must be at least 1"));
    }
    if i64::try_from(amount).is_err() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "amount is too large"));
    }
    Ok(())
}

fn account_json(conn: &rusqlite::Connection, id: &str) -> Result<Value, ApiError> {
    let a = load_account(conn, id).map_err(store_err)?;
    Ok(json!({
        "lct_id": id, "available": a.available, "locked": a.locked, "atp": a.atp(),
        "adp_discharged": a.adp, "energy_ratio": a.energy_ratio(),
    }))
}

/// `POST /v1/atp/mint`.
pub async fn mint(node: &Arc<Node>, ev: SignedRequest, req: AtpMintRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    positive(req.amount)?;
    let soc = node.society();
    let (sid, law_hash, atp) = (soc.id.clone(), soc.law.law_hash(), soc.law.atp());
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &[atp.mint_authority.as_str()], "mint ATP")?;
            let cycle = u64::try_from(ctx.now.secs()).unwrap_or(0) / atp.cycle_seconds;
            let pool = load_pool(ctx.conn, sid.as_str()).map_err(store_err)?;
            let minted = if pool.cycle == cycle { pool.minted_in_cycle } else { 0 };
            if let Some(max) = atp.max_mint_per_cycle
                && minted.saturating_add(req.amount) > max
            {
                return Err(ApiError::new(
                    ErrorCode::LawConflict,
                    format!("the law allows {max} per cycle; {minted} already minted in cycle {cycle}"),
                )
                .details(json!({ "max_mint_per_cycle": max, "minted_in_cycle": minted, "cycle": cycle,
                                 "cycle_seconds": atp.cycle_seconds })));
            }
            if pool.total_supply.checked_add(req.amount).is_none_or(|t| i64::try_from(t).is_err()) {
                return Err(ApiError::new(ErrorCode::ProtoFormat, "total supply would overflow"));
            }
            let p = Prepared::new(Event::AtpMint(AtpMint {
                evidence: ev.clone(),
                society_id: sid.clone(),
                amount: req.amount,
                cycle,
            }))
            .map_err(store_err)?;
            ctx.append(&p, law_hash)?;
            let pool = load_pool(ctx.conn, sid.as_str()).map_err(store_err)?;
            Ok(json!({ "minted": req.amount, "pool": pool }))
        }))
        .await
}

/// `POST /v1/atp/charge`.
pub async fn charge(node: &Arc<Node>, ev: SignedRequest, req: AtpChargeRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (sid, law_hash, atp) = (soc.id.clone(), soc.law.law_hash(), soc.law.atp());
    let proof = req.proof;
    if proof.reference.trim().is_empty() || proof.reference.len() > 256 || proof.kind.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::ProtoFormat,
            "proof.kind and proof.reference (at most 256 bytes) are required",
        ));
    }
    if !proof.value.is_finite() || proof.value <= 0.0 {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "proof.value must be a positive number"));
    }
    let amount = atp.charge_amount(proof.value);
    if amount == 0 {
        return Err(ApiError::new(
            ErrorCode::ProtoFormat,
            format!("a value of {} at the law's charge rate {} earns no ATP", proof.value, atp.charge_rate),
        ));
    }
    positive(amount)?;
    let record_ref = if proof.reference.starts_with("sha256:") {
        Some(
            Hash::parse(&proof.reference)
                .map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("proof.reference: {e}")))?,
        )
    } else {
        None
    };
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &[atp.mint_authority.as_str()], "charge ATP")?;
            known_lct(ctx.conn, &req.account)?;
            active_lct(ctx.conn, &req.account, ctx.now)?;
            if let Some(h) = &record_ref {
                let on_ledger: Option<i64> = ctx
                    .conn
                    .query_row("SELECT 1 FROM ledger WHERE hash = ?1", [h.to_string()], |r| r.get(0))
                    .optional()
                    .map_err(|e| store_err(e.into()))?;
                if on_ledger.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        format!("proof.reference {h} is not a ledger record"),
                    ));
                }
            }
            let used: Option<String> = ctx
                .conn
                .query_row("SELECT ledger_ref FROM atp_value_proofs WHERE reference = ?1", [&proof.reference], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| store_err(e.into()))?;
            if let Some(at) = used {
                return Err(ApiError::new(
                    ErrorCode::ProtoReplay,
                    format!("value proof {:?} was already charged (record {at})", proof.reference),
                ));
            }
            let pool = load_pool(ctx.conn, sid.as_str()).map_err(store_err)?;
            if pool.adp < amount {
                return Err(insufficient(amount, pool.adp, "the pool has too little ADP to charge"));
            }
            let p = Prepared::new(Event::AtpCharge(AtpCharge {
                evidence: ev.clone(),
                society_id: sid.clone(),
                account: req.account.clone(),
                proof: proof.clone(),
                charge_rate: atp.charge_rate,
                amount,
            }))
            .map_err(store_err)?;
            ctx.append(&p, law_hash)?;
            Ok(json!({ "charged": amount, "account": account_json(ctx.conn, req.account.as_str())? }))
        }))
        .await
}

/// `POST /v1/atp/transfer`.
pub async fn transfer(node: &Arc<Node>, ev: SignedRequest, req: AtpTransferRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    positive(req.amount)?;
    if req.to == ev.signer {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "a transfer needs a different receiver"));
    }
    let soc = node.society();
    let (sid, law_hash, atp) = (soc.id.clone(), soc.law.law_hash(), soc.law.atp());
    let fee = atp.transfer_fee(req.amount);
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            known_lct(ctx.conn, &req.to)?;
            active_lct(ctx.conn, &req.to, ctx.now)?;
            let from = load_account(ctx.conn, ev.signer.as_str()).map_err(store_err)?;
            let total = req.amount.saturating_add(fee);
            if from.available < total {
                return Err(insufficient(total, from.available, "transfer amount plus fee"));
            }
            let p = Prepared::new(Event::AtpTransfer(AtpTransfer {
                evidence: ev.clone(),
                society_id: sid.clone(),
                from: ev.signer.clone(),
                to: req.to.clone(),
                amount: req.amount,
                fee,
            }))
            .map_err(store_err)?;
            ctx.append(&p, law_hash)?;
            Ok(json!({
                "amount": req.amount, "fee": fee,
                "from": account_json(ctx.conn, ev.signer.as_str())?,
                "to": account_json(ctx.conn, req.to.as_str())?,
            }))
        }))
        .await
}

/// `POST /v1/atp/slash`: by the law's status roles (who may suspend and revoke).
pub async fn slash(node: &Arc<Node>, ev: SignedRequest, req: AtpSlashRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    positive(req.amount)?;
    if req.reason.trim().is_empty() || req.reason.len() > 1024 {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "reason: 1 to 1024 bytes"));
    }
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let roles = soc.identity.status_roles.clone();
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &roles, "slash ATP")?;
            known_lct(ctx.conn, &req.account)?;
            let a = load_account(ctx.conn, req.account.as_str()).map_err(store_err)?;
            if a.available < req.amount {
                return Err(insufficient(req.amount, a.available, "slashing takes available ATP only"));
            }
            let p = Prepared::new(Event::AtpSlash(AtpSlash {
                evidence: ev.clone(),
                society_id: sid.clone(),
                account: req.account.clone(),
                amount: req.amount,
                reason: req.reason.clone(),
            }))
            .map_err(store_err)?;
            ctx.append(&p, law_hash)?;
            Ok(json!({ "slashed": req.amount, "account": account_json(ctx.conn, req.account.as_str())? }))
        }))
        .await
}

/// `GET /v1/atp/account/{lct_id}`.
pub fn account(node: &Node, id: &str) -> Result<Value, ApiError> {
    let id = LctId::parse(id).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, format!("lct_id: {e}")))?;
    node.reads
        .with(|c| {
            Ok((|| {
                known_lct(c, &id)?;
                account_json(c, id.as_str())
            })())
        })
        .map_err(store_err)?
}

/// `GET /v1/atp/pool`.
pub fn pool(node: &Node) -> Result<Value, ApiError> {
    let soc = node.society();
    let p = node.reads.with(|c| load_pool(c, soc.id.as_str())).map_err(store_err)?;
    let atp = soc.law.atp();
    Ok(json!({
        "society": soc.id, "pool": p,
        "conserved": p.total_supply == p.adp + p.atp,
        "energy_ratio": web4_core::atp::energy_ratio(p.atp as f64, p.adp as f64),
        "law": atp,
    }))
}
