//! Reputation service: outcomes recorded on the ledger with rule-based T3/V3
//! deltas per (entity, role), queries with recency aggregation and decay,
//! gaming detection (docs/decisions/0011). There is no global score.

use super::Node;
use super::checks::{active_lct, admit, known_lct, signing_key, store_err};
use crate::error::ApiError;
use crate::ledger::{Event, OUTCOME_TYPES, Prepared, load_reputation};
use crate::services::identity::authenticate;
use crate::store::writer::{Committed, WriteCtx};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::sync::Arc;
use web4_core::api::OutcomeRequest;
use web4_core::law::ReputationLaw;
use web4_core::payload::{GamingFlag, ReputationOutcome, outcome_event};
use web4_core::reputation::{self as rep, Delta, GamingInput, Outcome, Pattern};
use web4_core::signing::SignedRequest;
use web4_core::tensor::{T3, V3};
use web4_core::witness::{Attestation, recount};
use web4_core::{ErrorCode, LctId};

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ProtoFormat, msg)
}

fn check_request(req: &OutcomeRequest) -> Result<(), ApiError> {
    let short = |s: &str| !s.trim().is_empty() && s.len() <= 128;
    if !short(&req.role) || !short(&req.action) {
        return Err(bad("role and action: 1 to 128 bytes"));
    }
    if !OUTCOME_TYPES.contains(&req.result_status.as_str()) {
        return Err(bad(format!("result_status {:?}: expected one of {OUTCOME_TYPES:?}", req.result_status)));
    }
    if let Some(q) = req.quality
        && !(q.is_finite() && (0.0..=1.0).contains(&q))
    {
        return Err(bad("quality must be a number between 0 and 1"));
    }
    if req.factors.len() > 16 || req.factors.iter().any(|f| !short(f)) {
        return Err(bad("factors: at most 16, each 1 to 128 bytes"));
    }
    if req.witnesses.len() > 32 {
        return Err(bad("witnesses: at most 32"));
    }
    Ok(())
}

/// The delta the law gives this outcome, on the pair's current tensors.
fn compute(law: &ReputationLaw, req: &OutcomeRequest, t3: T3, v3: V3, run: u32) -> Option<Delta> {
    let o =
        Outcome { action: &req.action, result_status: &req.result_status, quality: req.quality, factors: &req.factors };
    rep::outcome_delta(law, &o, t3, v3, run)
}

fn current(conn: &Connection, entity: &str, role: &str, action: &str) -> Result<(T3, V3, u32, u32), ApiError> {
    crate::ledger::pair_before(conn, entity, role, action).map_err(store_err)
}

/// The burst window before an outcome: how many of the pair's latest
/// `limit` events there are, and the score before the oldest of them. Both
/// come from the pair index alone but for that one row: the rows skipped by
/// the offset are never read from the table.
pub(crate) fn burst_window(
    conn: &Connection,
    entity: &str,
    role: &str,
    limit: u32,
) -> rusqlite::Result<(i64, Option<f64>)> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM reputation_events WHERE entity = ?1 AND role = ?2 LIMIT ?3)",
        )?
        .query_row(params![entity, role, limit], |r| r.get(0))?;
    if n == 0 {
        return Ok((0, None));
    }
    let oldest = conn
        .prepare_cached(
            "SELECT composite_before FROM reputation_events WHERE entity = ?1 AND role = ?2
             ORDER BY at DESC, rowid DESC LIMIT 1 OFFSET ?3",
        )?
        .query_row(params![entity, role, n - 1], |r| r.get(0))
        .optional()?;
    Ok((n, oldest))
}

/// `POST /v1/reputation/outcome`: signed by the reporter (any active LCT).
pub async fn outcome(node: &Arc<Node>, ev: SignedRequest, req: OutcomeRequest) -> Result<Committed, ApiError> {
    authenticate(node, &ev).await?;
    check_request(&req)?;
    let soc = node.society();
    let (sid, law_hash, law) = (soc.id.clone(), soc.law.law_hash(), soc.law.reputation());
    let skew = soc.identity.witness_max_skew_seconds;
    // Witness signatures are checked outside the writer. Any active LCT may
    // witness an outcome; independence is judged below.
    let event = outcome_event(&req.entity, &req.role, &req.action, &req.result_status, req.quality, &ev.nonce);
    let now = node.now();
    let tally = node
        .reads
        .with(|c| Ok(recount(&req.witnesses, &sid, &event, |w| signing_key(c, w, now), now, skew)))
        .map_err(store_err)?;
    let witnesses: Vec<Attestation> = tally.accepted.iter().filter_map(|&i| req.witnesses.get(i).cloned()).collect();
    let rejected: Vec<Value> =
        tally.rejected.iter().map(|(w, e)| json!({"witness": w, "reason": e.to_string()})).collect();
    // The evidence is canonicalised here, not on the writer.
    let evidence = crate::ledger::EvidenceJcs::new(&ev).map_err(store_err)?;
    let job_node = Arc::clone(node);
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &sid, &law_hash)?;
            known_lct(ctx.conn, &req.entity)?;
            active_lct(ctx.conn, &req.entity, ctx.now)?;
            let entity = req.entity.as_str();
            let (t3, v3, run, poor_before) = current(ctx.conn, entity, &req.role, &req.action)?;
            let mut delta = compute(&law, &req, t3, v3, run);

            // Independence: not the entity, not one of its live delegates.
            let delegates: Vec<String> = ctx
                .conn
                .prepare_cached("SELECT agent FROM delegations WHERE client = ?1 AND revoked_at IS NULL")
                .and_then(|mut st| st.query_map([entity], |r| r.get(0))?.collect())
                .map_err(|e| store_err(e.into()))?;
            let independent = witnesses
                .iter()
                .filter(|w| w.witness.as_str() != entity && !delegates.iter().any(|d| d == w.witness.as_str()))
                .count();
            // A cycle: the entity witnessed one of its witnesses' own outcomes.
            let mut cycle_with = Vec::new();
            for w in &witnesses {
                let hit: bool = ctx
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM reputation_witnessing WHERE witness = ?1 AND actor = ?2)",
                    )
                    .and_then(|mut st| st.query_row(params![entity, w.witness.as_str()], |r| r.get(0)))
                    .map_err(|e| store_err(e.into()))?;
                if hit {
                    cycle_with.push(w.witness.to_string());
                }
            }
            // The burst window: this outcome and the ones before it.
            let window = law.gaming.burst_window.max(1);
            let (in_window, window_start) =
                burst_window(ctx.conn, entity, &req.role, window - 1).map_err(|e| store_err(e.into()))?;
            let after = delta.as_ref().map(|d| d.t3).unwrap_or(t3);
            let g = GamingInput {
                independent_witnesses: u32::try_from(independent).unwrap_or(u32::MAX),
                witnesses: u32::try_from(witnesses.len()).unwrap_or(u32::MAX),
                cycle_with: &cycle_with,
                composite_window_start: window_start.unwrap_or(t3.composite()),
                composite_after: after.composite(),
                window_len: u32::try_from(in_window).unwrap_or(u32::MAX) + 1,
                witness_poor_before: poor_before,
                same_action_run: run,
            };
            let found = rep::detect(&law.gaming, &g);
            if found.iter().any(|(p, _)| matches!(p, Pattern::SelfDealing | Pattern::WitnessCycle)) {
                // Self-dealt or cyclic witnessing earns nothing; losses still count.
                delta = delta.map(Delta::without_gains);
            }
            let poor = independent < law.gaming.min_independent_witnesses as usize;
            let payload = ReputationOutcome {
                evidence: ev.clone(),
                society_id: sid.clone(),
                entity: req.entity.clone(),
                role: req.role.clone(),
                action: req.action.clone(),
                result_status: req.result_status.clone(),
                quality: req.quality,
                factors: req.factors.clone(),
                witnesses: witnesses.clone(),
                delta: delta.clone(),
                same_action_run: run,
                witness_poor_run: if poor { poor_before.saturating_add(1) } else { 0 },
                flags: found.into_iter().map(|(pattern, evidence)| GamingFlag { pattern, evidence }).collect(),
            };
            let flags = payload.flags.clone();
            ctx.append(&Prepared::with_evidence(Event::Outcome(payload), &evidence).map_err(store_err)?, law_hash)?;
            let (nt, nv) = delta.as_ref().map(|d| (d.t3, d.v3)).unwrap_or((t3, v3));
            job_node.metrics.set_pair_scores(entity, &req.role, nt.composite(), nv.composite());
            Ok(json!({
                "entity": req.entity, "role": req.role, "delta": delta,
                "t3": nt, "v3": nv, "t3_composite": nt.composite(), "v3_composite": nv.composite(),
                "independent_witnesses": independent, "rejected_witnesses": rejected, "gaming_flags": flags,
            }))
        }))
        .await
}

/// `POST /v1/reputation/delta`: what an outcome would change now (nothing recorded).
pub fn delta(node: &Node, req: &OutcomeRequest) -> Result<Value, ApiError> {
    check_request(req)?;
    let law = node.society().law.reputation();
    let (t3, v3, run, _) =
        node.reads.with(|c| Ok(current(c, req.entity.as_str(), &req.role, &req.action))).map_err(store_err)??;
    let d = compute(&law, req, t3, v3, run);
    Ok(json!({
        "entity": req.entity, "role": req.role, "delta": d, "diminishing_factor": rep::diminishing_factor(run),
        "net_trust_change": d.as_ref().map(Delta::net_trust_change), "net_value_change": d.as_ref().map(Delta::net_value_change),
    }))
}

/// `GET /v1/reputation/{entity}/{role}`, evaluated at the request time.
pub fn get(node: &Node, entity: &str, role: &str) -> Result<Value, ApiError> {
    let id = LctId::parse(entity).map_err(|e| bad(format!("entity: {e}")))?;
    let now = node.now().secs();
    node.reads.with(|c| Ok(get_in(c, &id, role, now))).map_err(store_err)?
}

/// T3/V3 of (entity, role) in a store: this node's, or a foreign society's
/// verified copy (`crate::foreign`), evaluated at `now` (seconds).
pub fn get_in(c: &rusqlite::Connection, id: &LctId, role: &str, now: i64) -> Result<Value, ApiError> {
    {
        {
            (|| {
                known_lct(c, id)?;
                let row = load_reputation(c, id.as_str(), role).map_err(store_err)?;
                let Some(r) = row else {
                    let (t3, v3) = (T3::default(), V3::default());
                    return Ok(json!({"entity": id, "role": role, "outcomes": 0, "t3": t3, "v3": v3,
                        "t3_composite": t3.composite(), "v3_composite": v3.composite(), "trust": t3.composite(),
                        "inactivity_decay": 0.0, "recency": Value::Null, "gaming_flags": [],
                        "streaks": {"same_action": 0, "witness_poor": 0}}));
                };
                // Recency aggregation per dimension over the last 90 days.
                let mut st = c
                    .prepare_cached(
                        "SELECT at, changes FROM reputation_events WHERE entity = ?1 AND role = ?2 AND at >= ?3",
                    )
                    .map_err(|e| store_err(e.into()))?;
                let rows: Vec<(i64, String)> = st
                    .query_map(params![id.as_str(), role, now - 90 * 86_400], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(Iterator::collect)
                    .map_err(|e| store_err(e.into()))?;
                let mut per_dim: std::collections::BTreeMap<String, Vec<(f64, i64)>> = Default::default();
                for (at, changes) in rows {
                    let m: std::collections::BTreeMap<String, f64> = serde_json::from_str(&changes).unwrap_or_default();
                    for (k, v) in m {
                        per_dim.entry(k).or_default().push((v, at));
                    }
                }
                let recency: serde_json::Map<String, Value> =
                    per_dim.iter().map(|(k, v)| (k.clone(), json!(rep::recency_score(v, now)))).collect();
                let decay = rep::inactivity_decay(r.last_action_at, now);
                let idle_months = ((now - r.last_action_at).max(0) as f64 / rep::MONTH_SECS as f64).floor();
                let drifted = rep::monthly_drift(r.t3, idle_months);
                let flags: Vec<Value> = c
                    .prepare_cached(
                        "SELECT pattern, COUNT(*) FROM gaming_flags WHERE entity = ?1 AND role = ?2 GROUP BY pattern",
                    )
                    .and_then(|mut st| {
                        st.query_map(params![id.as_str(), role], |r| {
                            Ok(json!({"pattern": r.get::<_, String>(0)?, "count": r.get::<_, i64>(1)?}))
                        })?
                        .collect()
                    })
                    .map_err(|e| store_err(e.into()))?;
                Ok(json!({
                    "entity": id, "role": role, "outcomes": r.outcomes, "last_action": r.last_action,
                    "last_action_at": web4_core::Timestamp(r.last_action_at),
                    "t3": r.t3, "v3": r.v3, "t3_composite": r.t3.composite(), "v3_composite": r.v3.composite(),
                    "t3_after_idle_drift": drifted, "idle_months": idle_months,
                    "inactivity_decay": decay, "trust": (r.t3.composite() + decay).clamp(0.0, 1.0),
                    "recency": recency, "gaming_flags": flags,
                    "streaks": {"same_action": r.same_action_run, "witness_poor": r.witness_poor_run},
                }))
            })()
        }
    }
}

/// `GET /v1/reputation/stats`: counts and per-role distributions; never a
/// score across roles.
pub fn stats(node: &Node) -> Result<Value, ApiError> {
    node.reads
        .with(|c| {
            Ok((|| {
                let q = |sql: &str| -> Result<i64, ApiError> {
                    c.query_row(sql, [], |r| r.get(0)).map_err(|e| store_err(e.into()))
                };
                // Every type and pattern is listed, with 0 when absent.
                let counts = |sql: &str, keys: &mut dyn Iterator<Item = &str>| -> Result<serde_json::Map<String, Value>, ApiError> {
                    let mut m: serde_json::Map<String, Value> = keys.map(|k| (k.to_owned(), json!(0))).collect();
                    let mut st = c.prepare(sql).map_err(|e| store_err(e.into()))?;
                    let rows: Vec<(String, i64)> = st
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                        .and_then(Iterator::collect)
                        .map_err(|e| store_err(e.into()))?;
                    for (k, n) in rows {
                        m.insert(k, json!(n));
                    }
                    Ok(m)
                };
                let by_type = counts(
                    "SELECT result_status, COUNT(*) FROM reputation_events GROUP BY result_status",
                    &mut OUTCOME_TYPES.into_iter(),
                )?;
                let flags = counts(
                    "SELECT pattern, COUNT(*) FROM gaming_flags GROUP BY pattern",
                    &mut Pattern::ALL.into_iter().map(Pattern::as_str),
                )?;
                // T3 composite distribution per role, in tenths (the 50 busiest roles).
                let mut st = c
                    .prepare("SELECT role, t3 FROM reputation WHERE role IN (SELECT role FROM reputation GROUP BY role ORDER BY COUNT(*) DESC LIMIT 50)")
                    .map_err(|e| store_err(e.into()))?;
                let rows: Vec<(String, String)> = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(Iterator::collect)
                    .map_err(|e| store_err(e.into()))?;
                let mut roles: std::collections::BTreeMap<String, [u64; 10]> = Default::default();
                for (role, t3) in rows {
                    if let Ok(t) = serde_json::from_str::<T3>(&t3) {
                        let bucket = ((t.composite() * 10.0).floor() as usize).min(9);
                        roles.entry(role).or_default()[bucket] += 1;
                    }
                }
                Ok(json!({
                    "pairs": q("SELECT COUNT(*) FROM reputation")?,
                    "entities": q("SELECT COUNT(DISTINCT entity) FROM reputation")?,
                    "roles": q("SELECT COUNT(DISTINCT role) FROM reputation")?,
                    "outcomes": q("SELECT COUNT(*) FROM reputation_events")?,
                    "outcomes_by_type": by_type,
                    "gaming_flags": flags,
                    "t3_composite_distribution": roles.into_iter().map(|(r, b)| json!({"role": r, "buckets": b})).collect::<Vec<_>>(),
                    "buckets": "tenths of the T3 composite: [0,0.1), [0.1,0.2), … [0.9,1.0]",
                }))
            })())
        })
        .map_err(store_err)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The burst window read from the index equals reading every row of it.
    #[test]
    fn the_burst_window_is_the_latest_events_of_the_pair() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn).unwrap();
        // Two events share a second: the later row is the more recent one.
        let rows = [("e", "r", 5, 0.1), ("e", "r", 7, 0.2), ("x", "r", 8, 0.9), ("e", "r", 7, 0.3), ("e", "q", 9, 0.8)];
        for (i, (entity, role, at, before)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO reputation_events VALUES (?1, ?2, ?3, ?4, 'a', 'success', ?5, 0.5, '{}')",
                params![format!("sha256:{i}"), entity, role, at, before],
            )
            .unwrap();
        }
        let every_row = |limit: u32| -> Vec<f64> {
            conn.prepare(
                "SELECT composite_before FROM reputation_events WHERE entity = 'e' AND role = 'r'
                 ORDER BY at DESC, rowid DESC LIMIT ?1",
            )
            .unwrap()
            .query_map([limit], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        for limit in 0..5 {
            let all = every_row(limit);
            let got = burst_window(&conn, "e", "r", limit).unwrap();
            assert_eq!(got, (all.len() as i64, all.last().copied()), "limit {limit}");
        }
        assert_eq!(burst_window(&conn, "e", "r", 2).unwrap(), (2, Some(0.2)));
        assert_eq!(burst_window(&conn, "nobody", "r", 3).unwrap(), (0, None));
    }
}
