//! Authorization service: delegations and decisions. Every decision, granted or
//! not, is a ledger record; budgets are spent on the writer, so concurrent
//! requests can never overdraw a delegation.

use super::Node;
use super::checks::{active_lct, admit, collect_witnesses, require_law, require_role, store_err};
use crate::error::ApiError;
use crate::ledger::{Event, Prepared, grant_subtree, load_account, load_delegation, roles_of};
use crate::services::identity::authenticate;
use crate::store::writer::{Committed, WriteCtx};
use serde_json::{Value, json};
use std::sync::Arc;
use web4_core::ErrorCode;
use web4_core::api::{AuthorizeRequest, DelegateRequest};
use web4_core::authz::{Delegation, Denial, Request, Verdict, check_grant, decide};
use web4_core::payload::{
    ApproveDelegation, AuthDecision, Delegate, ExpireDelegations, RevokeDelegation, authorize_event,
};
use web4_core::signing::SignedRequest;
use web4_core::witness::WitnessClass;

/// Maximum delegation depth from the law (`delegation.max_depth`, default 2).
pub fn max_depth(law: &web4_core::law::LawDataset) -> u32 {
    law.as_json()["delegation"]["max_depth"].as_u64().and_then(|d| u32::try_from(d).ok()).unwrap_or(2)
}

pub fn denial_error(d: &Denial) -> ErrorCode {
    match d {
        Denial::InsufficientAtp { .. } => ErrorCode::InsufficientAtp,
        Denial::OutOfScope { .. }
        | Denial::Widening { .. }
        | Denial::NotDelegatable { .. }
        | Denial::TooDeep { .. } => ErrorCode::AuthzScope,
        Denial::Expired { .. } => ErrorCode::AuthzExpired,
        Denial::Law { .. } => ErrorCode::LawConflict,
        Denial::RolePairing { .. } | Denial::WrongAgent { .. } | Denial::Revoked { .. } => ErrorCode::AuthzDenied,
    }
}

/// `POST /v1/auth/delegate`: signed by the client (or, for a sub-grant, by the
/// parent grant's agent).
pub async fn delegate(node: &Arc<Node>, ev: SignedRequest, req: DelegateRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let now = node.now();
    if req.expires_at <= now {
        return Err(ApiError::new(ErrorCode::AuthzExpired, "expires_at is in the past"));
    }
    if req.scope.actions.is_empty() || req.scope.resources.is_empty() {
        return Err(ApiError::new(ErrorCode::ProtoFormat, "scope needs at least one action and one resource"));
    }
    let soc = node.society();
    let grant_id = ev.derived_id("deleg");
    let allowed_roles: Option<Vec<String>> = soc.law.as_json()["delegation"]["allowed_roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect());
    let depth_max = max_depth(&soc.law);
    let law_hash = soc.law.law_hash();
    let sid = soc.id.clone();
    let d = Delegation {
        grant_id: grant_id.clone(),
        client: ev.signer.clone(),
        agent: req.agent.clone(),
        society: sid.clone(),
        law_hash,
        scope: req.scope.clone(),
        atp_budget: req.atp_budget,
        not_before: req.not_before.unwrap_or(now),
        expires_at: req.expires_at,
        delegatable: req.delegatable,
        parent: req.parent.clone(),
        depth: 1,
        funded: req.funded,
    };
    if soc.law.atp().require_funded_delegations && d.parent.is_none() && d.atp_budget > 0 && !d.funded {
        return Err(ApiError::new(
            ErrorCode::LawConflict,
            "the law requires delegation budgets to be funded from the client's ATP account (set funded: true)",
        ));
    }
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            // The job may run twice (a re-runnable job): the request's grant is
            // completed from its parent on a copy, never on what it captured.
            let mut d = d.clone();
            admit(ctx, &ev, &sid, &law_hash)?;
            active_lct(ctx.conn, &d.agent, ctx.now)?;
            if let Some(allowed) = &allowed_roles
                && d.parent.is_none()
            {
                require_role(ctx.conn, &sid, &ev.signer, allowed, "delegate")?;
            }
            let parent = match &d.parent {
                None => None,
                Some(p) => {
                    let row = load_delegation(ctx.conn, p)
                        .map_err(store_err)?
                        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no delegation {p}")))?;
                    if row.revoked_at.is_some() {
                        return Err(ApiError::new(ErrorCode::AuthzDenied, format!("delegation {p} is revoked")));
                    }
                    if row.pending {
                        return Err(awaits_approval(p));
                    }
                    if row.delegation.agent != ev.signer {
                        return Err(ApiError::new(
                            ErrorCode::AuthzDenied,
                            format!("only the agent of {p} may re-delegate it"),
                        ));
                    }
                    d.depth = row.delegation.depth + 1;
                    d.funded = row.delegation.funded;
                    Some((row.delegation.clone(), row.delegation.atp_budget.saturating_sub(row.spent)))
                }
            };
            check_grant(&d, parent.as_ref().map(|(p, rem)| (p, *rem)), depth_max)
                .map_err(|e| ApiError::new(denial_error(&e), e.to_string()).details(json!(e)))?;
            if d.funded && d.parent.is_none() {
                let account = load_account(ctx.conn, ev.signer.as_str()).map_err(store_err)?;
                if account.available < d.atp_budget {
                    return Err(ApiError::new(
                        ErrorCode::InsufficientAtp,
                        format!(
                            "a funded budget of {} ATP needs that much available; the account has {}",
                            d.atp_budget, account.available
                        ),
                    )
                    .details(json!({ "wanted": d.atp_budget, "available": account.available })));
                }
            }
            let prepared = Prepared::new(Event::Delegate(Delegate { evidence: ev.clone(), delegation: d.clone() }))
                .map_err(store_err)?;
            ctx.append(&prepared, law_hash)?;
            if let Some((p, rem)) = &parent {
                ctx.effect(crate::ledger::Effect::Budget {
                    grant_id: p.grant_id.clone(),
                    remaining: rem.saturating_sub(d.atp_budget),
                });
            }
            ctx.effect(crate::ledger::Effect::Budget { grant_id: d.grant_id.clone(), remaining: d.atp_budget });
            Ok(json!({"delegation": d, "spent": 0, "atp_remaining": d.atp_budget, "revoked": false}))
        }))
        .await
}

/// `DELETE /v1/auth/delegate/{id}`: by the client of the grant.
pub async fn revoke(node: &Arc<Node>, ev: SignedRequest, grant_id: &str) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let grant_id = grant_id.to_owned();
    let committed = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            // A suspended or revoked client (a stolen key) may not cut off
            // its agents either.
            admit(ctx, &ev, &sid, &law_hash)?;
            let row = load_delegation(ctx.conn, &grant_id)
                .map_err(store_err)?
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no delegation {grant_id}")))?;
            if row.delegation.client != ev.signer {
                return Err(ApiError::new(
                    ErrorCode::AuthzDenied,
                    format!("only the client of {grant_id} may revoke it"),
                ));
            }
            if row.revoked_at.is_some() {
                return Err(ApiError::new(ErrorCode::ProtoSequence, format!("{grant_id} is already revoked")));
            }
            let prepared = Prepared::new(Event::RevokeDelegation(RevokeDelegation {
                evidence: ev.clone(),
                grant_id: grant_id.clone(),
            }))
            .map_err(store_err)?;
            ctx.append(&prepared, law_hash)?;
            // The grant and those derived from it have no budget left.
            let revoked = grant_subtree(ctx.conn, &grant_id).map_err(store_err)?;
            for g in &revoked {
                ctx.effect(crate::ledger::Effect::Budget { grant_id: g.clone(), remaining: 0 });
            }
            Ok(json!({"grant_id": grant_id, "revoked": true, "revoked_grants": revoked}))
        }))
        .await?;
    // Leases paid from the revoked grants were closed with them.
    super::resources::enforce(node).await;
    Ok(committed)
}

/// Close root grants that have expired (a node-authored `auth.expire`), so
/// their unspent budget — locked ATP for a funded grant — is released without
/// waiting for the client to revoke them. Returns how many were closed.
pub async fn expire(node: &Arc<Node>) -> Result<usize, ApiError> {
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let now = node.now().secs();
    let due: Vec<String> = node
        .reads
        .with(|c| {
            let mut st = c.prepare_cached(
                "SELECT grant_id FROM delegations WHERE parent IS NULL AND revoked_at IS NULL AND expires_at <= ?1
                 AND (owner IS NULL OR owner = ?2 OR owner IN (SELECT lct_id FROM lcts WHERE superseded_by IS NOT NULL))
                 ORDER BY expires_at LIMIT 256",
            )?;
            let ids = st
                .query_map(rusqlite::params![now, node.id.as_str()], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            // Only the tree's owner closes it (decisions/0017).
            let mut mine = Vec::new();
            for g in ids {
                if crate::ledger::owned_here(c, &crate::ledger::Owned::Grant(g.clone()), node.id.as_str())? {
                    mine.push(g);
                }
            }
            Ok(mine)
        })
        .map_err(store_err)?;
    if due.is_empty() {
        return Ok(0);
    }
    let c = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            require_law(ctx.conn, &sid, &law_hash)?;
            let mut still = Vec::new();
            for g in &due {
                if let Some(row) = load_delegation(ctx.conn, g).map_err(store_err)?
                    && row.revoked_at.is_none()
                    && row.delegation.expires_at <= ctx.now
                {
                    still.push(g.clone());
                }
            }
            if still.is_empty() {
                return Ok(json!(0));
            }
            let n = still.len();
            let mut closed = Vec::new();
            for g in &still {
                closed.extend(grant_subtree(ctx.conn, g).map_err(store_err)?);
            }
            let p = Prepared::new(Event::Expire(ExpireDelegations { grant_ids: still })).map_err(store_err)?;
            ctx.append(&p, law_hash)?;
            for g in &closed {
                ctx.effect(crate::ledger::Effect::Budget { grant_id: g.clone(), remaining: 0 });
            }
            Ok(json!(n))
        }))
        .await?;
    Ok(usize::try_from(c.data.as_u64().unwrap_or(0)).unwrap_or(0))
}

/// `GET /v1/auth/delegation/{id}`.
pub fn status(node: &Node, grant_id: &str) -> Result<Value, ApiError> {
    let now = node.now();
    let row = node
        .reads
        .with(|c| load_delegation(c, grant_id))
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no delegation {grant_id}")))?;
    let d = &row.delegation;
    let active = row.revoked_at.is_none() && !row.pending && now >= d.not_before && now < d.expires_at;
    let remaining = if row.revoked_at.is_some() { 0 } else { d.atp_budget.saturating_sub(row.spent) };
    Ok(json!({
        "delegation": d, "spent": row.spent, "atp_remaining": remaining,
        "revoked": row.revoked_at.is_some(), "revoked_at": row.revoked_at, "released": row.released,
        "funder": row.funder, "active": active, "ledger_ref": row.ledger_ref,
        "pending": row.pending, "approved_by": row.approved_by,
    }))
}

/// The refusal of a grant that waits for approval.
fn awaits_approval(grant_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AuthzDenied,
        format!("delegation {grant_id} awaits approval (the law requires root delegations to be approved)"),
    )
    .details(json!({ "grant_id": grant_id, "pending": true }))
}

/// `POST /v1/auth/delegate/{id}/approve`: a holder of one of the law's
/// `identity.role_roles` approves a root delegation recorded while the law
/// required approval (`delegation.requires_approval`); it takes effect with
/// the approval (decisions/0009, session 24).
pub async fn approve(node: &Arc<Node>, ev: SignedRequest, grant_id: &str) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let approvers = soc.law.identity().role_roles;
    let grant_id = grant_id.to_owned();
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &approvers, "approve delegations")?;
            let row = load_delegation(ctx.conn, &grant_id)
                .map_err(store_err)?
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no delegation {grant_id}")))?;
            if row.revoked_at.is_some() {
                return Err(ApiError::new(ErrorCode::AuthzDenied, format!("delegation {grant_id} is revoked")));
            }
            if !row.pending {
                return Err(ApiError::new(
                    ErrorCode::ProtoSequence,
                    format!("delegation {grant_id} is not awaiting approval"),
                ));
            }
            let prepared = Prepared::new(Event::ApproveDelegation(ApproveDelegation {
                evidence: ev.clone(),
                grant_id: grant_id.clone(),
            }))
            .map_err(store_err)?;
            ctx.append(&prepared, law_hash)?;
            Ok(json!({"grant_id": grant_id, "pending": false, "approved_by": ev.signer}))
        }))
        .await
}

/// The chain from the used grant to its root, with revocation flags, and the
/// ATP still available under it; without a grant, an empty chain and the
/// actor's own available ATP.
pub fn spending_chain(
    conn: &rusqlite::Connection,
    actor: &web4_core::LctId,
    grant: Option<&str>,
) -> Result<(Vec<(Delegation, bool)>, u64), ApiError> {
    use crate::ledger::ChainRefusal;
    let Some(g) = grant else {
        return Ok((Vec::new(), load_account(conn, actor.as_str()).map_err(store_err)?.available));
    };
    crate::ledger::delegation_chain(conn, g).map_err(store_err)?.map_err(|why| match why {
        ChainRefusal::Unknown(id) => ApiError::new(ErrorCode::NotFound, format!("no delegation {id}")),
        ChainRefusal::Pending(id) => awaits_approval(&id),
        ChainRefusal::TooLong => ApiError::internal("delegation", "chain too long"),
    })
}

/// `POST /v1/auth/authorize`: decided and recorded on the writer.
pub async fn authorize(node: &Arc<Node>, ev: SignedRequest, req: AuthorizeRequest) -> Result<Committed, ApiError> {
    let started = std::time::Instant::now();
    authenticate(node, &ev).await?;
    let soc = node.society();
    let law = soc.law.clone();
    let sid = soc.id.clone();
    let depth_max = max_depth(&law);
    // The witness requirement (checked last, but collected before the writer
    // so that the writer never waits on signatures).
    // (With the event attested, which the writer checks them against again.)
    let witness_skew = soc.identity.witness_max_skew_seconds;
    let witnesses = match law.quorum_for(&req.action) {
        None => None,
        Some(rule) => {
            let event = authorize_event(&ev.signer, &req.action, &req.resource, req.atp_cost, &ev.nonce);
            let got = collect_witnesses(
                node,
                &soc,
                &ev.signer,
                event,
                WitnessClass::Action,
                &req.context.witnesses,
                rule,
                node.now(),
            );
            match got {
                Ok(w) => Some((event, Ok(w))),
                Err(e) if e.code == ErrorCode::WitnessQuorum => Some((event, Err(e))),
                Err(e) => return Err(e),
            }
        }
    };
    // The evidence is canonicalised here, not on the writer.
    let evidence = crate::ledger::EvidenceJcs::new(&ev).map_err(store_err)?;
    let result = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law.law_hash())?;
            // Roles matter only for role pairing.
            let roles = match &req.role {
                Some(_) => roles_of(ctx.conn, sid.as_str(), ev.signer.as_str()).map_err(store_err)?,
                None => Vec::new(),
            };
            let (chain, remaining) = spending_chain(ctx.conn, &ev.signer, req.context.delegation_id.as_deref())?;
            let mut verdict = decide(
                &law,
                &Request {
                    actor: &ev.signer,
                    actor_roles: &roles,
                    role: req.role.as_deref(),
                    action: &req.action,
                    resource: &req.resource,
                    atp_cost: req.atp_cost,
                    chain: &chain,
                    atp_remaining: remaining,
                    now: ctx.now,
                },
                depth_max,
            );
            let mut attested = Vec::new();
            let mut witness_shortfall = Value::Null;
            // Peers recount the attestations at the record's time: ones that
            // went stale in the writer's queue no longer count (decisions/0029,
            // session 31).
            let stale = match &witnesses {
                Some((event, Ok(w))) => {
                    crate::ledger::witnesses_still_fresh(w, event, ctx.now, witness_skew).err().map(|e| {
                        ApiError::new(
                            ErrorCode::WitnessQuorum,
                            format!("the witness attestations went stale before the decision was recorded: {e}"),
                        )
                        .details(json!({ "event": event, "stale": e.to_string() }))
                    })
                }
                _ => None,
            };
            let short = match &witnesses {
                Some((_, Err(e))) => Some(e),
                _ => None,
            };
            match (&witnesses, stale.as_ref().or(short)) {
                (Some((_, Ok(w))), None) => attested = w.clone(),
                (_, Some(e)) if verdict.granted => {
                    // Everything else allows it: deferred until witnessed.
                    verdict = Verdict {
                        granted: false,
                        decision: "deferred",
                        denial: None,
                        atp_remaining: verdict.atp_remaining + req.atp_cost,
                        requires_witness: true,
                        law_decision: verdict.law_decision,
                    };
                    witness_shortfall = e.details.clone();
                }
                _ => {}
            }
            let payload = AuthDecision {
                evidence: ev.clone(),
                actor: ev.signer.clone(),
                grant_id: req.context.delegation_id.clone(),
                action: req.action.clone(),
                resource: req.resource.clone(),
                atp_cost: req.atp_cost,
                decision: verdict.decision.to_owned(),
                reason: verdict.denial.as_ref().map(ToString::to_string),
                witnesses: attested,
            };
            let prepared = Prepared::with_evidence(Event::AuthDecision(payload), &evidence).map_err(store_err)?;
            let decision_hash = ctx.append(&prepared, law.law_hash())?;
            if let Some(g) = &req.context.delegation_id {
                ctx.effect(crate::ledger::Effect::Budget { grant_id: g.clone(), remaining: verdict.atp_remaining });
            }
            Ok(json!({
                "decision": verdict.decision,
                "atp_remaining": verdict.atp_remaining,
                "requires_witness": verdict.requires_witness,
                "decision_hash": decision_hash,
                "law_decision": verdict.law_decision,
                "denial": verdict.denial,
                "reason": verdict.denial.as_ref().map(ToString::to_string),
                "witness_requirement": witness_shortfall,
            }))
        }))
        .await;
    node.metrics.authorization_duration.observe(started.elapsed().as_secs_f64());
    let c = result?;
    let decision = c.data["decision"].as_str().unwrap_or("denied").to_owned();
    node.metrics
        .authorization_requests
        .get_or_create(&crate::metrics::DecisionLabel { decision: decision.clone() })
        .inc();
    if decision == "denied" {
        // Recorded, but answered with the denial's code (the decision_hash is in details).
        let denial: Option<Denial> = serde_json::from_value(c.data["denial"].clone()).ok();
        let code = denial.as_ref().map(denial_error).unwrap_or(ErrorCode::AuthzDenied);
        let msg = c.data["reason"].as_str().unwrap_or("denied").to_owned();
        return Err(ApiError::new(code, msg).details(c.data));
    }
    Ok(c)
}
