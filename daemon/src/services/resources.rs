//! Resource service (docs/decisions/0012): pools per resource type with the
//! capacity and ATP conversion rates the law publishes, leases charged to an
//! ATP account or a delegation budget, metered usage, release of the unused
//! part, and enforcement on the local machine where the node allows it.

use super::Node;
use super::authorization::{denial_error, max_depth, spending_chain};
use super::checks::{admit, require_law, require_role, store_err};
use crate::enforce::Limits;
use crate::error::ApiError;
use crate::ledger::{AllocationRow, Event, Prepared, load_allocation, roles_of};
use crate::services::identity::authenticate;
use crate::store::writer::{Committed, WriteCtx};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use web4_core::api::{AllocateRequest, RatesRequest, ReleaseRequest, UsageRequest};
use web4_core::authz::{Request, decide};
use web4_core::law::LawDataset;
use web4_core::payload::{ResourceAllocate, ResourceRates, ResourceRelease, ResourceUsage};
use web4_core::resources::{Lease, ResourceError, ResourceLaw, check_rates, unit_of};
use web4_core::signing::SignedRequest;
use web4_core::{ErrorCode, LctId, Timestamp};

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ProtoFormat, msg)
}

fn resource_error(e: ResourceError) -> ApiError {
    let code = match e {
        ResourceError::TooExpensive { .. } | ResourceError::Rate { .. } => ErrorCode::ProtoFormat,
        ResourceError::RateChange { .. } => ErrorCode::LawConflict,
        ResourceError::Sequence { seq, expected } if seq < expected => ErrorCode::ProtoReplay,
        ResourceError::Sequence { .. } => ErrorCode::ProtoSequence,
        ResourceError::RateExceeded { .. } => ErrorCode::AuthzRate,
        ResourceError::LeaseExceeded { .. } => ErrorCode::AuthzScope,
    };
    let details = serde_json::to_value(&e).unwrap_or(Value::Null);
    ApiError::new(code, e.to_string()).details(details)
}

/// The rates in force: the law's, overlaid by the latest update recorded
/// under the same law hash. Version `<law version>#<updates>`.
pub fn current_rates(
    conn: &Connection,
    society: &LctId,
    law: &LawDataset,
) -> Result<(String, BTreeMap<String, f64>), ApiError> {
    let law_hash = law.law_hash().to_string();
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM resource_rates WHERE society_id = ?1 AND law_hash = ?2")
        .and_then(|mut s| s.query_row(params![society.as_str(), law_hash], |r| r.get(0)))
        .map_err(|e| store_err(e.into()))?;
    let version = format!("{}#{n}", law.version());
    let mut rates = law.resources().rates();
    if n > 0
        && let Some(updated) = crate::ledger::rates_update(conn, society.as_str(), &version).map_err(store_err)?
    {
        rates.extend(updated);
    }
    Ok((version, rates))
}

/// Open leases of each pool: (units allocated, lease count, ATP held).
fn allocated(conn: &Connection, society: &LctId) -> Result<BTreeMap<String, (u64, u64, u64)>, ApiError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT resource_type, allocated, open_leases, atp_held FROM resource_pools WHERE society_id = ?1",
        )
        .map_err(|e| store_err(e.into()))?;
    let rows = stmt
        .query_map([society.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })
        .map_err(|e| store_err(e.into()))?;
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut out = BTreeMap::new();
    for row in rows {
        let (t, q, n, held) = row.map_err(|e| store_err(e.into()))?;
        out.insert(t, (u(q), u(n), u(held)));
    }
    Ok(out)
}

fn allocation_json(a: &AllocationRow, now: Timestamp) -> Value {
    let l = &a.lease;
    json!({
        "allocation_id": a.allocation_id, "holder": a.holder, "resource_type": a.resource_type,
        "unit": unit_of(&a.resource_type), "quantity": l.quantity, "duration_seconds": l.seconds,
        "opened_at": Timestamp(l.opened_at), "expires_at": Timestamp(l.expires_at()),
        "rate": l.rate, "rates_version": a.rates_version, "grant_id": a.grant_id, "payer": a.payer,
        "atp_locked": l.locked, "atp_charged": l.charged, "atp_held": l.returned(),
        "used": l.used, "allowance": l.allowance(), "last_seq": l.last_seq,
        "meter_available": l.bucket_at(now.secs()).tokens,
        "pid": a.pid, "released": a.released_at.is_some(),
        "released_at": a.released_at.map(Timestamp), "release_reason": a.release_reason,
        "ledger_ref": a.ledger_ref,
    })
}

fn open_lease(conn: &Connection, id: &str, signer: &LctId) -> Result<AllocationRow, ApiError> {
    let a = load_allocation(conn, id)
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no allocation {id}")))?;
    if &a.holder != signer {
        return Err(ApiError::new(
            ErrorCode::AuthzDenied,
            format!("only the holder of {id} may report on or release it"),
        ));
    }
    if a.released_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::ProtoSequence,
            format!("{id} was already released ({})", a.release_reason.as_deref().unwrap_or("released")),
        ));
    }
    Ok(a)
}

/// `POST /v1/resources/allocate`.
pub async fn allocate(node: &Arc<Node>, ev: SignedRequest, req: AllocateRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let law = soc.law.clone();
    let rlaw: ResourceLaw = law.resources();
    let Some(pool) = rlaw.pools.get(&req.resource_type).cloned() else {
        return Err(bad(format!(
            "resource_type {:?}: the law has no such pool (pools: {:?})",
            req.resource_type,
            rlaw.pools.keys().collect::<Vec<_>>()
        )));
    };
    if req.quantity == 0 || i64::try_from(req.quantity).is_err() {
        return Err(bad("quantity must be at least 1"));
    }
    if req.duration_seconds == 0 || req.duration_seconds > rlaw.max_lease_seconds {
        return Err(bad(format!("duration_seconds must be between 1 and the law's {}", rlaw.max_lease_seconds)));
    }
    if let Some(pid) = req.pid {
        if !matches!(req.resource_type.as_str(), "cpu" | "memory") {
            return Err(bad("only cpu and memory leases can be enforced on a process"));
        }
        node.enforcer.check_pid(pid).map_err(|m| ApiError::new(ErrorCode::AuthzDenied, m))?;
    }
    let allocation_id = ev.derived_id("alloc");
    let (sid, law_hash, depth_max) = (soc.id.clone(), law.law_hash(), max_depth(&law));
    let result = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            let (rates_version, rates) = current_rates(ctx.conn, &sid, &law)?;
            let rate = rates.get(&req.resource_type).copied().unwrap_or(pool.rate);
            let lease = Lease::open(req.quantity, req.duration_seconds, rate, rlaw.burst_seconds, ctx.now.secs())
                .map_err(resource_error)?;
            if let Some(max) = req.max_atp
                && lease.locked > max
            {
                return Err(ApiError::new(
                    ErrorCode::InsufficientAtp,
                    format!("the lease costs {} ATP at rates {rates_version}, above max_atp {max}", lease.locked),
                )
                .details(
                    json!({ "price": lease.locked, "max_atp": max, "rate": rate, "rates_version": rates_version }),
                ));
            }
            let used = allocated(ctx.conn, &sid)?.get(&req.resource_type).map(|x| x.0).unwrap_or(0);
            if used.saturating_add(req.quantity) > pool.capacity {
                return Err(ApiError::new(
                    ErrorCode::AuthzRate,
                    format!(
                        "the {} pool has {} of {} {} free",
                        req.resource_type,
                        pool.capacity.saturating_sub(used),
                        pool.capacity,
                        unit_of(&req.resource_type).unwrap_or("units")
                    ),
                )
                .details(json!({ "capacity": pool.capacity, "allocated": used, "wanted": req.quantity })));
            }
            // The same checks as an authorization: delegation, law, ATP.
            let grant = req.context.delegation_id.as_deref();
            let (chain, remaining) = spending_chain(ctx.conn, &ev.signer, grant)?;
            let resource = format!("resource:{}", req.resource_type);
            let roles = roles_of(ctx.conn, sid.as_str(), ev.signer.as_str()).map_err(store_err)?;
            let verdict = decide(
                &law,
                &Request {
                    actor: &ev.signer,
                    actor_roles: &roles,
                    role: None,
                    action: "allocate",
                    resource: &resource,
                    atp_cost: lease.locked,
                    chain: &chain,
                    atp_remaining: remaining,
                    now: ctx.now,
                },
                depth_max,
            );
            if !verdict.granted {
                let msg = verdict.denial.as_ref().map(ToString::to_string).unwrap_or_else(|| "refused".into());
                let code = match (&verdict.denial, verdict.decision) {
                    (_, "deferred") => ErrorCode::LawConflict,
                    (Some(d), _) => denial_error(d),
                    (None, _) => ErrorCode::AuthzDenied,
                };
                return Err(ApiError::new(code, format!("allocation refused: {msg}")).details(
                    json!({ "decision": verdict.decision, "denial": verdict.denial, "price": lease.locked }),
                ));
            }
            let payload = ResourceAllocate {
                evidence: ev.clone(),
                society_id: sid.clone(),
                allocation_id: allocation_id.clone(),
                holder: ev.signer.clone(),
                resource_type: req.resource_type.clone(),
                grant_id: req.context.delegation_id.clone(),
                rates_version,
                lease,
                pid: req.pid,
            };
            ctx.append(&Prepared::new(Event::Allocate(payload)).map_err(store_err)?, law_hash)?;
            let a = load_allocation(ctx.conn, &allocation_id)
                .map_err(store_err)?
                .ok_or_else(|| ApiError::internal("allocate", "lease not stored"))?;
            let mut body = allocation_json(&a, ctx.now);
            body["law_hash"] = json!(law_hash);
            Ok(body)
        }))
        .await?;
    if req.pid.is_some() {
        enforce(node).await;
    }
    Ok(result)
}

/// `POST /v1/resources/usage`: a metered report by the holder.
pub async fn usage(node: &Arc<Node>, ev: SignedRequest, req: UsageRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            let a = open_lease(ctx.conn, &req.allocation_id, &ev.signer)?;
            let m = a.lease.meter(req.seq, req.used, ctx.now.secs()).map_err(resource_error)?;
            let payload = ResourceUsage {
                evidence: ev.clone(),
                allocation_id: req.allocation_id.clone(),
                seq: req.seq,
                used: req.used,
                charge: m.charge,
            };
            ctx.append(&Prepared::new(Event::Usage(payload)).map_err(store_err)?, law_hash)?;
            let a = load_allocation(ctx.conn, &req.allocation_id)
                .map_err(store_err)?
                .ok_or_else(|| ApiError::internal("usage", "lease vanished"))?;
            let mut body = allocation_json(&a, ctx.now);
            body["charged"] = json!(m.charge);
            Ok(body)
        }))
        .await
}

/// `POST /v1/resources/release`: by the holder, with an optional final report.
pub async fn release(node: &Arc<Node>, ev: SignedRequest, req: ReleaseRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let result = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            let mut a = open_lease(ctx.conn, &req.allocation_id, &ev.signer)?;
            if let Some(f) = req.final_usage {
                let m = a.lease.meter(f.seq, f.used, ctx.now.secs()).map_err(resource_error)?;
                let payload = ResourceUsage {
                    evidence: ev.clone(),
                    allocation_id: req.allocation_id.clone(),
                    seq: f.seq,
                    used: f.used,
                    charge: m.charge,
                };
                ctx.append(&Prepared::new(Event::Usage(payload)).map_err(store_err)?, law_hash)?;
                a.lease.record(f.seq, &m);
            }
            let payload = ResourceRelease {
                evidence: Some(ev.clone()),
                allocation_id: req.allocation_id.clone(),
                reason: "released".into(),
                charged: a.lease.charged,
                returned: a.lease.returned(),
            };
            ctx.append(&Prepared::new(Event::Release(payload)).map_err(store_err)?, law_hash)?;
            let a = load_allocation(ctx.conn, &req.allocation_id)
                .map_err(store_err)?
                .ok_or_else(|| ApiError::internal("release", "lease vanished"))?;
            let mut body = allocation_json(&a, ctx.now);
            body["returned"] = json!(a.lease.returned());
            Ok(body)
        }))
        .await?;
    if result.data["pid"].is_u64() {
        enforce(node).await;
    }
    Ok(result)
}

/// `POST /v1/resources/rates`: by the law's `rates_authority`, within its
/// `max_rate_change`.
pub async fn rates(node: &Arc<Node>, ev: SignedRequest, req: RatesRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    let soc = node.society();
    let law = soc.law.clone();
    let rlaw = law.resources();
    let Some(authority) = rlaw.rates_authority.clone() else {
        return Err(ApiError::new(
            ErrorCode::LawConflict,
            "the law names no resources.rates_authority: rates change only with a new law version",
        ));
    };
    if req.rates.is_empty() {
        return Err(bad("rates: at least one resource type"));
    }
    let (sid, law_hash) = (soc.id.clone(), law.law_hash());
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            require_role(ctx.conn, &sid, &ev.signer, &[authority.as_str()], "update resource rates")?;
            let (old_version, current) = current_rates(ctx.conn, &sid, &law)?;
            check_rates(&rlaw, &current, &req.rates).map_err(resource_error)?;
            let n = old_version.rsplit('#').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
            let version = format!("{}#{n}", law.version());
            let mut rates = current.clone();
            rates.extend(req.rates.clone());
            let payload =
                ResourceRates { evidence: ev.clone(), society_id: sid.clone(), version: version.clone(), rates: rates.clone() };
            ctx.append(&Prepared::new(Event::Rates(payload)).map_err(store_err)?, law_hash)?;
            Ok(json!({ "rates_version": version, "previous_version": old_version, "rates": rates, "previous": current }))
        }))
        .await
}

/// `GET /v1/resources/allocation/{id}`.
pub fn get(node: &Node, id: &str) -> Result<Value, ApiError> {
    let a = node
        .reads
        .with(|c| load_allocation(c, id))
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no allocation {id}")))?;
    Ok(allocation_json(&a, node.now()))
}

/// `GET /v1/resources/pool/stats`.
pub fn stats(node: &Node) -> Result<Value, ApiError> {
    let soc = node.society();
    let rlaw = soc.law.resources();
    let (version, rates, used) = node
        .reads
        .with(|c| {
            Ok((|| {
                let (v, r) = current_rates(c, &soc.id, &soc.law)?;
                Ok::<_, ApiError>((v, r, allocated(c, &soc.id)?))
            })())
        })
        .map_err(store_err)??;
    let pools: BTreeMap<&String, Value> = rlaw
        .pools
        .iter()
        .map(|(t, p)| {
            let (allocated, leases, held) = used.get(t).copied().unwrap_or((0, 0, 0));
            let utilization = if p.capacity == 0 { 0.0 } else { allocated as f64 / p.capacity as f64 };
            (
                t,
                json!({
                    "unit": unit_of(t), "capacity": p.capacity, "allocated": allocated,
                    "available": p.capacity.saturating_sub(allocated), "utilization": utilization,
                    "open_leases": leases, "atp_held": held, "rate": rates.get(t),
                }),
            )
        })
        .collect();
    Ok(json!({
        "society": soc.id, "law_hash": soc.law.law_hash(), "rates_version": version, "pools": pools,
        "atp_held": used.values().map(|x| x.2).sum::<u64>(),
        "metering": { "burst_seconds": rlaw.burst_seconds, "max_lease_seconds": rlaw.max_lease_seconds,
                      "release_grace_seconds": rlaw.release_grace_seconds },
        "rates_authority": rlaw.rates_authority, "max_rate_change": rlaw.max_rate_change,
        "enforcement": { "mode": node.enforcer.mode, "reason": node.enforcer.reason },
    }))
}

/// Refresh the resource gauges (called when `/metrics` is scraped, so they
/// are right after restarts and law changes).
pub fn refresh_metrics(node: &Node) {
    let Ok(s) = stats(node) else { return };
    let Some(pools) = s["pools"].as_object() else { return };
    for (t, p) in pools {
        let l = crate::metrics::ResourceLabel { resource_type: t.clone() };
        node.metrics.resource_utilization.get_or_create(&l).set(p["utilization"].as_f64().unwrap_or(0.0));
        node.metrics.conversion_rate.get_or_create(&l).set(p["rate"].as_f64().unwrap_or(0.0));
    }
}

/// Bring local enforcement in line with the open leases.
pub async fn enforce(node: &Arc<Node>) {
    if !node.enforcer.active() {
        return;
    }
    let n = Arc::clone(node);
    let problems = tokio::task::spawn_blocking(move || {
        let desired = n.reads.with(|c| local_limits(c, n.id.as_str()));
        match desired {
            Ok(d) => n.enforcer.reconcile(&d),
            Err(e) => vec![format!("store: {e}")],
        }
    })
    .await
    .unwrap_or_else(|e| vec![format!("enforcement task: {e}")]);
    for p in problems {
        tracing::warn!(service = "resources", event = "enforcement_problem", "{p}");
    }
}

/// The limits each local process should have: the open cpu and memory
/// leases that name a process, summed per process. Only leases this node
/// recorded (`node`, or a key of this node that it rotated from) count: a
/// peer's lease names a process of the peer's machine.
fn local_limits(c: &Connection, node: &str) -> Result<BTreeMap<u32, Limits>, crate::store::StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT allocation_id, pid, resource_type, quantity FROM resource_allocations
         WHERE released_at IS NULL AND pid IS NOT NULL AND resource_type IN ('cpu', 'memory')
         AND (owner IS NULL OR owner = ?1 OR owner IN (SELECT lct_id FROM lcts WHERE superseded_by IS NOT NULL))",
    )?;
    let rows = stmt
        .query_map([node], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut want: BTreeMap<u32, Limits> = BTreeMap::new();
    for (id, pid, t, q) in rows {
        if !crate::ledger::owned_here(c, &crate::ledger::Owned::Lease(id), node)? {
            continue;
        }
        let (Ok(pid), Ok(q)) = (u32::try_from(pid), u64::try_from(q)) else { continue };
        let l = want.entry(pid).or_default();
        if t == "cpu" {
            l.cpu_millicores = l.cpu_millicores.saturating_add(q);
        } else {
            l.memory_mib = l.memory_mib.saturating_add(q);
        }
    }
    Ok(want)
}

/// Close leases that expired more than the law's grace period ago (records
/// authored by the node, without evidence). Returns how many were closed.
pub async fn sweep(node: &Arc<Node>) -> Result<usize, ApiError> {
    let soc = node.society();
    let (sid, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let grace = i64::try_from(soc.law.resources().release_grace_seconds).unwrap_or(i64::MAX);
    let cutoff = node.now().secs().saturating_sub(grace);
    let due: Vec<String> = node
        .reads
        .with(|c| {
            // Only the lease's owner closes it (decisions/0017): a peer's
            // record of it would be refused, and a peer's lease that is due
            // here must not hold back this node's own.
            let mut stmt = c.prepare_cached(
                "SELECT allocation_id FROM resource_allocations
                 WHERE released_at IS NULL AND expires_at <= ?1
                 AND (owner IS NULL OR owner = ?2 OR owner IN (SELECT lct_id FROM lcts WHERE superseded_by IS NOT NULL))
                 ORDER BY expires_at LIMIT 256",
            )?;
            let ids = stmt
                .query_map(rusqlite::params![cutoff, node.id.as_str()], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            let mut mine = Vec::new();
            for id in ids {
                if crate::ledger::owned_here(c, &crate::ledger::Owned::Lease(id.clone()), node.id.as_str())? {
                    mine.push(id);
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
            let mut closed = 0usize;
            for id in &due {
                let Some(a) = load_allocation(ctx.conn, id).map_err(store_err)? else { continue };
                if a.released_at.is_some() || a.lease.expires_at().saturating_add(grace) > ctx.now.secs() {
                    continue;
                }
                let lease = crate::ledger::Owned::Lease(id.clone());
                if !crate::ledger::owned_here(ctx.conn, &lease, ctx.node_id().as_str()).map_err(store_err)? {
                    continue;
                }
                let payload = ResourceRelease {
                    evidence: None,
                    allocation_id: id.clone(),
                    reason: "expired".into(),
                    charged: a.lease.charged,
                    returned: a.lease.returned(),
                };
                ctx.append(&Prepared::new(Event::Release(payload)).map_err(store_err)?, law_hash)?;
                closed += 1;
            }
            Ok(json!(closed))
        }))
        .await?;
    Ok(usize::try_from(c.data.as_u64().unwrap_or(0)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leases_this_node_recorded_limit_local_processes() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        let (node, old_key, peer) = ("lct:web4:node", "lct:web4:node-old", "lct:web4:peer");
        // This node rotated its key from old_key; its leases recorded under the old key stay its own.
        c.execute(
            "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, document, ledger_ref,
                               created_at, updated_at, superseded_by)
             VALUES (?1, 'lct:web4:society:s', 'k', 'infrastructure', 'superseded', '{}', 'r', 0, 0, ?2)",
            [old_key, node],
        )
        .unwrap();
        let lease = |id: &str, owner: &str, pid: i64, t: &str, q: i64, released: Option<i64>| {
            c.execute(
                "INSERT INTO resource_allocations (allocation_id, society_id, holder, resource_type, quantity,
                     rates_version, lease, locked, charged, opened_at, expires_at, pid, released_at, ledger_ref, owner)
                 VALUES (?1, 'lct:web4:society:s', 'h', ?2, ?3, 'v', '{}', 0, 0, 0, 9, ?4, ?5, 'r', ?6)",
                rusqlite::params![id, t, q, pid, released, owner],
            )
            .unwrap();
        };
        lease("mine-cpu-1", node, 10, "cpu", 100, None);
        lease("mine-cpu-2", node, 10, "cpu", 50, None);
        lease("mine-mem", node, 10, "memory", 64, None);
        lease("mine-closed", node, 10, "memory", 999, Some(5));
        lease("rotated", old_key, 12, "memory", 32, None);
        lease("peers", peer, 11, "cpu", 200, None);
        lease("peers-mem", peer, 10, "memory", 4096, None);
        let want = local_limits(&c, node).unwrap();
        assert_eq!(want.keys().copied().collect::<Vec<_>>(), [10, 12], "the peer's process 11 is not this machine's");
        assert_eq!((want[&10].cpu_millicores, want[&10].memory_mib), (150, 64), "summed per process, peer's left out");
        assert_eq!((want[&12].cpu_millicores, want[&12].memory_mib), (0, 32));
    }
}
