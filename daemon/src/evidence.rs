//! The request a received record carries, checked again on receipt
//! (decisions/0028).
//!
//! Every record a client's request caused carries that signed request as
//! `evidence`. The node that wrote the record checked it; a peer now checks it
//! too, with nothing but the record and the signer's key:
//!
//! - the request was sent to the route that records this kind, and its body
//!   (and the path's parameters) ask for what the payload records;
//! - it is dated within [`EVIDENCE_WINDOW_SECS`] of the record;
//! - its signature verifies with the signer's key for this society.
//!
//! So a dishonest or compromised node cannot record, in a member's name,
//! what that member never asked for. What the signer was *allowed* to ask
//! (its roles, the law) is not checked again here: that depends on state that
//! reaches nodes in different orders (decisions/0027).

use crate::ledger::Event;
use serde::de::DeserializeOwned;
use web4_core::api::{
    AllocateRequest, AtpChargeRequest, AtpMintRequest, AtpSlashRequest, AtpTransferRequest, AuthorizeRequest,
    DelegateRequest, InterpretationRequest, LawPublishRequest, MintRequest, OutcomeRequest, RatesRequest,
    ReleaseRequest, RevokeRequest, RoleGrantRequest, StatusChangeRequest, TransitionRequest, TripleRequest,
    UsageRequest,
};
use web4_core::law::LawDataset;
use web4_core::signing::SignedRequest;
use web4_core::{Hash, LctId, PublicKey, Signature, Timestamp};

/// The birth context of a mint whose request names none.
pub const MINT_CONTEXT: &str = "minted by web4d";

/// How far apart a record's time and its request's time may be: the
/// largest clock skew a node may be configured to accept (3,600 s) plus an
/// hour for forwarding, witnessing and queueing. Wider than any honest
/// node's gap; narrow enough that an old request cannot be recorded again
/// once the nonces that would refuse it have been forgotten.
pub const EVIDENCE_WINDOW_SECS: i64 = 7_200;

/// A request's signature still to verify, so that the caller can verify it
/// in one batch with the record's other signatures (decisions/0021).
#[derive(Debug)]
pub struct Unverified<'a> {
    pub message: Vec<u8>,
    pub signature: &'a Signature,
    pub key: PublicKey,
    kind: &'static str,
    signer: &'a LctId,
}

impl Unverified<'_> {
    /// Why the record is refused when the signature does not verify.
    pub fn refusal(&self) -> String {
        format!("the request in this {} record does not verify with the key of its signer {}", self.kind, self.signer)
    }
}

/// [`prepare`]'s finding: everything but the signature is checked.
#[derive(Debug)]
pub enum Prepared<'a> {
    /// The record carries no request (genesis, expiries, an expired lease).
    Nothing,
    /// The request asks for what the record holds; its signature remains.
    Signature(Box<Unverified<'a>>),
    /// The request's signer is not registered here yet: the record waits.
    UnknownSigner(LctId),
    /// Refused, with the reason.
    Invalid(String),
}

/// Check the request `event` carries, for a record dated `at` in `society`,
/// but for its signature, which is returned to verify. `key_of` looks up a
/// registered LCT's key.
pub fn prepare<'a, E>(
    event: &'a Event,
    author: &LctId,
    at: Timestamp,
    society: &LctId,
    key_of: impl FnOnce(&LctId) -> Result<Option<PublicKey>, E>,
) -> Result<Prepared<'a>, E> {
    let Some(ev) = event.evidence() else { return Ok(Prepared::Nothing) };
    if let Err(why) = asks_for(event, author, ev) {
        return Ok(Prepared::Invalid(format!("the request in this {} record {why}", event.kind())));
    }
    let gap = (at.secs() - ev.timestamp.secs()).abs();
    if gap > EVIDENCE_WINDOW_SECS {
        return Ok(Prepared::Invalid(format!(
            "the request in this {} record is dated {}, {gap} s from the record (at most {EVIDENCE_WINDOW_SECS} s)",
            event.kind(),
            ev.timestamp
        )));
    }
    // A self-mint is signed by the key it registers (checked bound to its
    // id before this); every other request by a registered LCT.
    let key = match event {
        Event::Mint(m) if ev.signer == m.lct.lct_id => m.lct.binding.public_key,
        _ => match key_of(&ev.signer)? {
            Some(pk) => pk,
            None => return Ok(Prepared::UnknownSigner(ev.signer.clone())),
        },
    };
    Ok(Prepared::Signature(Box::new(Unverified {
        message: ev.canonical(society).into_bytes(),
        signature: &ev.signature,
        key,
        kind: event.kind(),
        signer: &ev.signer,
    })))
}

/// Whether a record's kind needs the law it was written under (its
/// `law_hash`) for [`filled_in`].
pub fn needs_law(event: &Event) -> bool {
    matches!(
        event,
        Event::Mint(_)
            | Event::Transition(_)
            | Event::Interpretation(_)
            | Event::AtpMint(_)
            | Event::AtpCharge(_)
            | Event::AtpTransfer(_)
    )
}

/// What the author of a record dated `at`, bound to `law_hash`, filled in
/// from its society and from that law rather than was asked for: the
/// society a payload names, a grant's law hash, a birth certificate's
/// issuer, law and citizen role, a rotation's overlap, a law's predecessor,
/// a minting cycle, a charge's rate and amount, a transfer's fee. A law
/// version never changes, so every node holding it reaches the same
/// verdict; `law` is that version, present when [`needs_law`] says so.
/// Genesis is the society's own statement and is not checked here.
pub fn filled_in(
    event: &Event,
    author: &LctId,
    at: Timestamp,
    law_hash: &Hash,
    society: &LctId,
    law: Option<&LawDataset>,
) -> Result<(), String> {
    let in_society = |named: &LctId| {
        if named == society {
            Ok(())
        } else {
            Err(format!("this {} record names society {named}; this ledger is society {society}'s", event.kind()))
        }
    };
    let with_law = || {
        law.ok_or_else(|| format!("the law {law_hash} this {} record was written under is not held here", event.kind()))
    };
    let derived = |what: &str, expected: &dyn std::fmt::Debug, recorded: &dyn std::fmt::Debug, equal: bool| {
        if equal {
            Ok(())
        } else {
            Err(format!(
                "this {} record holds {what} {recorded:?}; its society and law {law_hash} give {expected:?}",
                event.kind()
            ))
        }
    };
    match event {
        Event::Genesis(_) => Ok(()),
        Event::Mint(m) => {
            in_society(&m.society_id)?;
            let Some(c) = &m.lct.birth_certificate else {
                return Err("this lct.mint record holds no birth certificate".into());
            };
            let law = with_law()?;
            let identity = law.identity();
            derived("birth_certificate.lct_id", &m.lct.lct_id, &c.lct_id, c.lct_id == m.lct.lct_id)?;
            derived("birth_certificate.issuing_society", society, &c.issuing_society, &c.issuing_society == society)?;
            // The node that records a birth issues its certificate.
            derived("birth_certificate.issuer", author, &c.issuer, &c.issuer == author)?;
            derived("birth_certificate.law_hash", law_hash, &c.law_hash, &c.law_hash == law_hash)?;
            derived("birth_certificate.law_version", &law.version(), &c.law_version, c.law_version == law.version())?;
            // The citizen role is granted with the birth: taken from the law,
            // never from the author.
            derived(
                "birth_certificate.citizen_role",
                &identity.citizen_role,
                &c.citizen_role,
                c.citizen_role == identity.citizen_role,
            )?;
            derived("birth_certificate.rights", &identity.rights, &c.rights, c.rights == identity.rights)?;
            derived(
                "birth_certificate.obligations",
                &identity.obligations,
                &c.obligations,
                c.obligations == identity.obligations,
            )?;
            let gap = (at.secs() - c.birth_timestamp.secs()).abs();
            derived("birth_certificate.birth_timestamp", &at, &c.birth_timestamp, gap <= EVIDENCE_WINDOW_SECS)
        }
        Event::Transition(t) => {
            let identity = with_law()?.identity();
            // One lineage entry, checked against the request in `asks_for`.
            let Some(l) = t.lct.lineage.first() else {
                return Err("this lct.transition record holds no lineage".into());
            };
            let expected = l.at.plus(identity.rotation_overlap_seconds);
            derived("overlap_until", &expected, &t.overlap_until, t.overlap_until == expected)
        }
        Event::RoleGrant(c) | Event::RoleRevoke(c) => in_society(&c.society_id),
        Event::LawPublish(p) => {
            in_society(&p.society_id)?;
            // Written under the law it replaces.
            derived("previous", law_hash, &p.previous, &p.previous == law_hash)
        }
        Event::Interpretation(i) => {
            in_society(&i.society_id)?;
            let law = with_law()?;
            derived("law_version", &law.version(), &i.law_version, i.law_version == law.version())
        }
        Event::Delegate(d) => {
            let g = &d.delegation;
            in_society(&g.society)?;
            derived("delegation.law_hash", law_hash, &g.law_hash, &g.law_hash == law_hash)
        }
        Event::AtpMint(m) => {
            in_society(&m.society_id)?;
            let atp = with_law()?.atp();
            let cycle = u64::try_from(at.secs()).unwrap_or(0) / atp.cycle_seconds;
            derived("cycle", &cycle, &m.cycle, m.cycle == cycle)
        }
        Event::AtpCharge(c) => {
            in_society(&c.society_id)?;
            let atp = with_law()?.atp();
            close("charge_rate", atp.charge_rate, c.charge_rate).map_err(|_| {
                format!("this atp.charge record holds charge_rate {}; its law gives {}", c.charge_rate, atp.charge_rate)
            })?;
            let amount = atp.charge_amount(c.proof.value);
            derived("amount", &amount, &c.amount, c.amount == amount)
        }
        Event::AtpTransfer(t) => {
            in_society(&t.society_id)?;
            let fee = with_law()?.atp().transfer_fee(t.amount);
            derived("fee", &fee, &t.fee, t.fee == fee)
        }
        Event::AtpSlash(s) => in_society(&s.society_id),
        Event::Outcome(o) => in_society(&o.society_id),
        Event::Allocate(a) => in_society(&a.society_id),
        Event::Rates(r) => in_society(&r.society_id),
        Event::Suspend(_)
        | Event::Reinstate(_)
        | Event::Revoke(_)
        | Event::RevokeDelegation(_)
        | Event::ApproveDelegation(_)
        | Event::Expire(_)
        | Event::AuthDecision(_)
        | Event::Usage(_)
        | Event::Release(_)
        | Event::GraphTriple(_) => Ok(()),
    }
}

/// Whether `ev` is a request to the route that records `event` and asks for
/// what it records (the record's `author` may add its own attestation as a
/// witness); `Err` says how it differs.
fn asks_for(event: &Event, author: &LctId, ev: &SignedRequest) -> Result<(), String> {
    match event {
        Event::Genesis(_) | Event::Expire(_) => Ok(()),
        Event::Mint(m) => {
            route(ev, "POST", &["v1", "lct", "mint"])?;
            let b: MintRequest = body(ev)?;
            let bd = &m.lct.binding;
            same("entity_type", &b.entity_type, &bd.entity_type)?;
            same("public_key", &b.public_key, &bd.public_key)?;
            same("created_at", &b.created_at, &bd.created_at)?;
            same("binding_proof", &b.binding_proof, &bd.binding_proof)?;
            same_json("hardware_anchor", &b.hardware_anchor, &bd.hardware_anchor)?;
            if let Some(id) = &b.lct_id {
                same("lct_id", id, &m.lct.lct_id)?;
            }
            // What the node fills in from the request, or its defaults.
            same_json("policy", &b.policy.clone().unwrap_or_default(), &m.lct.policy)?;
            let context = m.lct.birth_certificate.as_ref().map(|c| c.birth_context.as_str());
            same("birth_context", &Some(b.birth_context.as_deref().unwrap_or(MINT_CONTEXT)), &context)?;
            same("lineage", &0, &m.lct.lineage.len())
        }
        Event::Suspend(s) | Event::Reinstate(s) => {
            let verb = if matches!(event, Event::Suspend(_)) { "suspend" } else { "reinstate" };
            let p = route(ev, "POST", &["v1", "lct", "*", verb])?;
            same_id("the path's LCT", &p[0], &s.lct_id)?;
            let b: StatusChangeRequest = body(ev)?;
            same("reason", &b.reason, &s.reason)
        }
        Event::Revoke(r) => {
            let p = route(ev, "POST", &["v1", "lct", "*", "revoke"])?;
            same_id("the path's LCT", &p[0], &r.lct_id)?;
            let b: RevokeRequest = body(ev)?;
            same("reason", &b.reason, &r.reason)?;
            same("note", &b.note, &r.note)
        }
        Event::Transition(t) => {
            let p = route(ev, "POST", &["v1", "lct", "*", "transition"])?;
            same_id("the path's LCT", &p[0], &t.old)?;
            same("signer", &ev.signer, &t.old)?;
            let b: TransitionRequest = body(ev)?;
            let bd = &t.lct.binding;
            same("public_key", &b.public_key, &bd.public_key)?;
            same("created_at", &b.created_at, &bd.created_at)?;
            same("binding_proof", &b.binding_proof, &bd.binding_proof)?;
            same_json("hardware_anchor", &b.hardware_anchor, &bd.hardware_anchor)?;
            // One lineage entry: a rotation of the old LCT, dated when the
            // node took the request.
            let [l] = t.lct.lineage.as_slice() else {
                return Err(format!("asks for one rotation, the record holds {} lineage entries", t.lct.lineage.len()));
            };
            same("lineage.parent", &t.old, &l.parent)?;
            same("lineage.reason", "rotation", l.reason.as_str())?;
            if (l.at.secs() - ev.timestamp.secs()).abs() > EVIDENCE_WINDOW_SECS {
                return Err(format!("is dated {}, far from the rotation it records ({})", ev.timestamp, l.at));
            }
            Ok(())
        }
        Event::RoleGrant(c) => {
            let p = route(ev, "POST", &["v1", "lct", "*", "roles"])?;
            same_id("the path's LCT", &p[0], &c.lct_id)?;
            let b: RoleGrantRequest = body(ev)?;
            same("role", &b.role, &c.role)?;
            same("reason", &b.reason, &c.reason)
        }
        Event::RoleRevoke(c) => {
            let p = route(ev, "DELETE", &["v1", "lct", "*", "roles", "*"])?;
            same_id("the path's LCT", &p[0], &c.lct_id)?;
            same("role", &p[1], &c.role)?;
            same("reason", &None, &c.reason)?;
            empty(ev)
        }
        Event::LawPublish(l) => {
            route(ev, "POST", &["v1", "law", "publish"])?;
            let b: LawPublishRequest = body(ev)?;
            let law = match b.law {
                serde_json::Value::String(text) => LawDataset::from_text(&text),
                other => LawDataset::try_from(other),
            }
            .map_err(|e| format!("holds a law that does not parse: {e}"))?;
            same("law_hash", &law.law_hash(), &l.law.law_hash())
        }
        Event::Interpretation(i) => {
            route(ev, "POST", &["v1", "law", "interpretation"])?;
            let b: InterpretationRequest = body(ev)?;
            same("norm_id", &b.norm_id, &i.norm_id)?;
            same("text", &b.text, &i.text)?;
            same("replaces", &b.replaces, &i.replaces)
        }
        Event::Delegate(d) => {
            route(ev, "POST", &["v1", "auth", "delegate"])?;
            let b: DelegateRequest = body(ev)?;
            let g = &d.delegation;
            same("client", &ev.signer, &g.client)?;
            same("agent", &b.agent, &g.agent)?;
            same("scope", &b.scope, &g.scope)?;
            same("atp_budget", &b.atp_budget, &g.atp_budget)?;
            same("expires_at", &b.expires_at, &g.expires_at)?;
            same("delegatable", &b.delegatable, &g.delegatable)?;
            same("parent", &b.parent, &g.parent)?;
            if let Some(nb) = &b.not_before {
                same("not_before", nb, &g.not_before)?;
            }
            // A re-delegation inherits its parent's funding and sits one
            // below it; a root grant is at depth 1.
            if b.parent.is_none() {
                same("funded", &b.funded, &g.funded)?;
                same("depth", &1, &g.depth)?;
            }
            // The grant id is derived from the request's signature: one
            // request makes one grant.
            same("grant_id", &ev.derived_id("deleg"), &g.grant_id)
        }
        Event::RevokeDelegation(r) => {
            let p = route(ev, "DELETE", &["v1", "auth", "delegate", "*"])?;
            same("the path's grant", &p[0], &r.grant_id)?;
            empty(ev)
        }
        Event::ApproveDelegation(a) => {
            let p = route(ev, "POST", &["v1", "auth", "delegate", "*", "approve"])?;
            same("the path's grant", &p[0], &a.grant_id)?;
            empty(ev)
        }
        Event::AuthDecision(d) => {
            route(ev, "POST", &["v1", "auth", "authorize"])?;
            let b: AuthorizeRequest = body(ev)?;
            same("actor", &ev.signer, &d.actor)?;
            same("action", &b.action, &d.action)?;
            same("resource", &b.resource, &d.resource)?;
            same("atp_cost", &b.atp_cost, &d.atp_cost)?;
            same("context.delegation_id", &b.context.delegation_id, &d.grant_id)?;
            // The attestations the request brought, and the node's own.
            brought("context.witnesses", &b.context.witnesses, &d.witnesses, Some(author))
        }
        Event::AtpMint(m) => {
            route(ev, "POST", &["v1", "atp", "mint"])?;
            let b: AtpMintRequest = body(ev)?;
            same("amount", &b.amount, &m.amount)
        }
        Event::AtpCharge(c) => {
            route(ev, "POST", &["v1", "atp", "charge"])?;
            let b: AtpChargeRequest = body(ev)?;
            same("account", &b.account, &c.account)?;
            same("proof.kind", &b.proof.kind, &c.proof.kind)?;
            same("proof.reference", &b.proof.reference, &c.proof.reference)?;
            close("proof.value", b.proof.value, c.proof.value)
        }
        Event::AtpTransfer(t) => {
            route(ev, "POST", &["v1", "atp", "transfer"])?;
            let b: AtpTransferRequest = body(ev)?;
            same("from", &ev.signer, &t.from)?;
            same("to", &b.to, &t.to)?;
            same("amount", &b.amount, &t.amount)
        }
        Event::AtpSlash(s) => {
            route(ev, "POST", &["v1", "atp", "slash"])?;
            let b: AtpSlashRequest = body(ev)?;
            same("account", &b.account, &s.account)?;
            same("amount", &b.amount, &s.amount)?;
            same("reason", &b.reason, &s.reason)
        }
        Event::Outcome(o) => {
            route(ev, "POST", &["v1", "reputation", "outcome"])?;
            let b: OutcomeRequest = body(ev)?;
            same("entity", &b.entity, &o.entity)?;
            same("role", &b.role, &o.role)?;
            same("action", &b.action, &o.action)?;
            same("result_status", &b.result_status, &o.result_status)?;
            same("factors", &b.factors, &o.factors)?;
            match (b.quality, o.quality) {
                (Some(a), Some(r)) => close("quality", a, r)?,
                (a, r) => same("quality", &a, &r)?,
            }
            // Only attestations the request brought count for an outcome.
            brought("witnesses", &b.witnesses, &o.witnesses, None)
        }
        Event::Allocate(a) => {
            route(ev, "POST", &["v1", "resources", "allocate"])?;
            let b: AllocateRequest = body(ev)?;
            same("holder", &ev.signer, &a.holder)?;
            same("resource_type", &b.resource_type, &a.resource_type)?;
            same("quantity", &b.quantity, &a.lease.quantity)?;
            same("duration_seconds", &b.duration_seconds, &a.lease.seconds)?;
            same("pid", &b.pid, &a.pid)?;
            same("context.delegation_id", &b.context.delegation_id, &a.grant_id)?;
            // Derived from the request's signature, as a grant id is: one
            // request opens one lease.
            same("allocation_id", &ev.derived_id("alloc"), &a.allocation_id)
        }
        Event::Usage(u) => {
            // A usage report, or the final report of a release.
            let (allocation, seq, used) = if route(ev, "POST", &["v1", "resources", "release"]).is_ok() {
                let b: ReleaseRequest = body(ev)?;
                let f = b.final_usage.ok_or("is a release without a final usage report")?;
                (b.allocation_id, f.seq, f.used)
            } else {
                route(ev, "POST", &["v1", "resources", "usage"])?;
                let b: UsageRequest = body(ev)?;
                (b.allocation_id, b.seq, b.used)
            };
            same("allocation_id", &allocation, &u.allocation_id)?;
            same("seq", &seq, &u.seq)?;
            same("used", &used, &u.used)
        }
        // (A lease the node closed when it expired carries no request and is
        // not checked here.)
        Event::Release(r) => {
            route(ev, "POST", &["v1", "resources", "release"])?;
            let b: ReleaseRequest = body(ev)?;
            same("allocation_id", &b.allocation_id, &r.allocation_id)?;
            same("reason", "released", r.reason.as_str())
        }
        Event::Rates(r) => {
            route(ev, "POST", &["v1", "resources", "rates"])?;
            let b: RatesRequest = body(ev)?;
            // The record holds every pool's rate after the update; the
            // request names the ones it changes.
            for (pool, asked) in &b.rates {
                let recorded =
                    r.rates.get(pool).ok_or_else(|| format!("asks for a rate of {pool}, the record holds none"))?;
                close(&format!("rates.{pool}"), *asked, *recorded)?;
            }
            Ok(())
        }
        Event::GraphTriple(t) => {
            route(ev, "POST", &["v1", "graph", "triple"])?;
            let b: TripleRequest = body(ev)?;
            same("subject", &b.subject, &t.subject)?;
            same("predicate", &b.predicate, &t.predicate)?;
            same("object", &b.object, &t.object)?;
            same("object_type", b.object_type.as_deref().unwrap_or("iri"), t.object_type.as_str())?;
            match (t.weight, b.weight) {
                // A relationship's weight defaults to 1.
                (Some(w), asked) => close("weight", asked.unwrap_or(1.0), w),
                (None, asked) => same("weight", &asked, &None),
            }
        }
    }
}

/// The path parameters (`*` in `pattern`) of a request to `method` and the
/// route `pattern`, percent-decoded; the query, if any, is not part of it.
fn route(ev: &SignedRequest, method: &str, pattern: &[&str]) -> Result<Vec<String>, String> {
    let to = || format!("was sent to {} {}, not to {method} /{}", ev.method, ev.path, pattern.join("/"));
    if !ev.method.eq_ignore_ascii_case(method) {
        return Err(to());
    }
    let path = ev.path.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix('/') else { return Err(to()) };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() != pattern.len() {
        return Err(to());
    }
    let mut params = Vec::new();
    for (seg, pat) in segments.iter().zip(pattern) {
        let seg = percent_encoding::percent_decode_str(seg).decode_utf8().map_err(|_| to())?;
        if *pat == "*" {
            if seg.is_empty() {
                return Err(to());
            }
            params.push(seg.into_owned());
        } else if seg != *pat {
            return Err(to());
        }
    }
    Ok(params)
}

fn body<T: DeserializeOwned>(ev: &SignedRequest) -> Result<T, String> {
    serde_json::from_str(&ev.body).map_err(|e| format!("has a body that does not parse: {e}"))
}

fn empty(ev: &SignedRequest) -> Result<(), String> {
    if ev.body.is_empty() { Ok(()) } else { Err("has a body where the route takes none".into()) }
}

fn same<T: PartialEq + std::fmt::Debug + ?Sized>(what: &str, asked: &T, recorded: &T) -> Result<(), String> {
    if asked == recorded { Ok(()) } else { Err(format!("asks for {what} {asked:?}, the record holds {recorded:?}")) }
}

/// Values with free-form JSON inside (a policy's constraints), compared in
/// canonical form: a number the node wrote as a double (1e16) may read back
/// here as an integer, and equal values then differ as `Value`s.
fn same_json<T: serde::Serialize + std::fmt::Debug>(what: &str, asked: &T, recorded: &T) -> Result<(), String> {
    match (web4_core::canonical_json(asked), web4_core::canonical_json(recorded)) {
        (Ok(a), Ok(r)) if a == r => Ok(()),
        _ => Err(format!("asks for {what} {asked:?}, the record holds {recorded:?}")),
    }
}

/// Each recorded attestation is one the request brought (compared in
/// canonical form, claims being free-form JSON) or, where `own` names the
/// record's author, one in the author's name.
fn brought(
    what: &str,
    asked: &[web4_core::witness::Attestation],
    recorded: &[web4_core::witness::Attestation],
    own: Option<&LctId>,
) -> Result<(), String> {
    let asked: Vec<Vec<u8>> = asked.iter().filter_map(|a| web4_core::canonical_json(a).ok()).collect();
    for a in recorded {
        let theirs = own.is_some_and(|author| &a.witness == author);
        if !theirs && !web4_core::canonical_json(a).is_ok_and(|c| asked.contains(&c)) {
            return Err(format!("does not bring the attestation by {} its record holds in {what}", a.witness));
        }
    }
    Ok(())
}

fn same_id(what: &str, asked: &str, recorded: &LctId) -> Result<(), String> {
    same(what, asked, recorded.as_str())
}

/// Numbers the node parsed from the body and wrote back out: equal up to
/// the last bits of a decimal round trip.
fn close(what: &str, asked: f64, recorded: f64) -> Result<(), String> {
    let tolerance = 1e-12 * asked.abs().max(recorded.abs()).max(1.0);
    if (asked - recorded).abs() <= tolerance {
        Ok(())
    } else {
        Err(format!("asks for {what} {asked}, the record holds {recorded}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use web4_core::SecretKey;
    use web4_core::payload::{AuthDecision, RoleChange};

    const AT: Timestamp = Timestamp(1_700_000_000);

    /// What the whole check finds: [`prepare`], then the signature alone.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Verdict {
        /// The record carries no request (genesis, expiries) or a valid one.
        Valid,
        /// The request's signer is not registered here yet: the record waits.
        UnknownSigner(LctId),
        /// Refused, with the reason.
        Invalid(String),
    }

    /// [`prepare`], with the signature verified on its own.
    fn check<E>(
        event: &Event,
        at: Timestamp,
        society: &LctId,
        key_of: impl FnOnce(&LctId) -> Result<Option<PublicKey>, E>,
    ) -> Result<Verdict, E> {
        // The node that wrote the record: the society's key stands in for it.
        Ok(match prepare(event, &self::society(), at, society, key_of)? {
            Prepared::Nothing => Verdict::Valid,
            Prepared::Signature(u) => match u.key.verify(&u.message, u.signature) {
                Ok(()) => Verdict::Valid,
                Err(_) => Verdict::Invalid(u.refusal()),
            },
            Prepared::UnknownSigner(id) => Verdict::UnknownSigner(id),
            Prepared::Invalid(why) => Verdict::Invalid(why),
        })
    }

    fn member() -> (SecretKey, LctId) {
        let sk = SecretKey::from_seed(&[7; 32]);
        let id = LctId::from_public_key(&sk.public_key());
        (sk, id)
    }

    fn society() -> LctId {
        LctId::from_public_key(&SecretKey::from_seed(&[1; 32]).public_key())
    }

    fn request(path: &str, body: &str, at: Timestamp) -> SignedRequest {
        let (sk, id) = member();
        SignedRequest::sign(&sk, &society(), id, "POST", path, body.into(), "n-1".into(), at)
    }

    fn decision(ev: SignedRequest) -> Event {
        Event::AuthDecision(AuthDecision {
            actor: ev.signer.clone(),
            evidence: ev,
            grant_id: None,
            action: "read".into(),
            resource: "doc:1".into(),
            atp_cost: 5,
            decision: "granted".into(),
            reason: None,
            witnesses: Vec::new(),
        })
    }

    const BODY: &str = r#"{"action":"read","resource":"doc:1","atp_cost":5}"#;

    fn verdict(event: &Event) -> Verdict {
        let (sk, id) = member();
        let key_of = |who: &LctId| Ok::<_, ()>((*who == id).then(|| sk.public_key()));
        match check(event, AT, &society(), key_of) {
            Ok(v) => v,
            Err(()) => Verdict::Invalid("lookup failed".into()),
        }
    }

    fn refused(event: &Event) -> String {
        match verdict(event) {
            Verdict::Invalid(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_request_that_caused_a_record_is_valid_evidence_for_it() {
        assert_eq!(verdict(&decision(request("/v1/auth/authorize", BODY, AT))), Verdict::Valid);
        // Dated up to the window's edge either side of the record.
        let early = Timestamp(AT.0 - EVIDENCE_WINDOW_SECS);
        assert_eq!(verdict(&decision(request("/v1/auth/authorize", BODY, early))), Verdict::Valid);
        // The query string is not part of the route.
        assert_eq!(verdict(&decision(request("/v1/auth/authorize?x=1", BODY, AT))), Verdict::Valid);
    }

    #[test]
    fn a_record_that_differs_from_its_request_is_refused() {
        let mut event = decision(request("/v1/auth/authorize", BODY, AT));
        if let Event::AuthDecision(d) = &mut event {
            d.atp_cost = 1;
        }
        let why = refused(&event);
        assert!(why.contains("asks for atp_cost 5, the record holds 1"), "{why}");
        // In another member's name.
        if let Event::AuthDecision(d) = &mut event {
            d.atp_cost = 5;
            d.actor = society();
        }
        assert!(refused(&event).contains("asks for actor"));
    }

    #[test]
    fn a_request_to_another_route_is_refused() {
        let why = refused(&decision(request("/v1/auth/delegate", BODY, AT)));
        assert!(why.contains("was sent to POST /v1/auth/delegate, not to POST /v1/auth/authorize"), "{why}");
        let why = refused(&decision(request("/v1/auth/authorize/x", BODY, AT)));
        assert!(why.contains("was sent to"), "{why}");
    }

    #[test]
    fn a_request_altered_after_signing_is_refused() {
        let mut ev = request("/v1/auth/authorize", BODY, AT);
        ev.body = BODY.replace("\"atp_cost\":5", "\"atp_cost\":5 ");
        let why = refused(&decision(ev));
        assert!(why.contains("does not verify with the key of its signer"), "{why}");
        // Signed for another society.
        let (sk, id) = member();
        let ev = SignedRequest::sign(&sk, &id, id.clone(), "POST", "/v1/auth/authorize", BODY.into(), "n".into(), AT);
        assert!(refused(&decision(ev)).contains("does not verify"));
    }

    #[test]
    fn a_request_dated_far_from_its_record_is_refused() {
        let late = Timestamp(AT.0 + EVIDENCE_WINDOW_SECS + 1);
        let why = refused(&decision(request("/v1/auth/authorize", BODY, late)));
        assert!(why.contains(&format!("{} s from the record", EVIDENCE_WINDOW_SECS + 1)), "{why}");
    }

    #[test]
    fn a_request_by_an_unregistered_signer_waits_for_its_registration() {
        let stranger = SecretKey::from_seed(&[9; 32]);
        let sid = LctId::from_public_key(&stranger.public_key());
        let ev = SignedRequest::sign(
            &stranger,
            &society(),
            sid.clone(),
            "POST",
            "/v1/auth/authorize",
            BODY.into(),
            "n".into(),
            AT,
        );
        assert_eq!(verdict(&decision(ev)), Verdict::UnknownSigner(sid));
    }

    #[test]
    fn path_parameters_are_compared_percent_decoded() {
        let (_, id) = member();
        let (sk, admin) = member();
        let role_revoke = |path: &str, role: &str| {
            let ev = SignedRequest::sign(&sk, &society(), admin.clone(), "DELETE", path, String::new(), "n".into(), AT);
            Event::RoleRevoke(RoleChange {
                evidence: ev,
                society_id: society(),
                lct_id: id.clone(),
                role: role.into(),
                reason: None,
            })
        };
        let path = format!("/v1/lct/{id}/roles/law%20oracle");
        assert_eq!(verdict(&role_revoke(&path, "law oracle")), Verdict::Valid);
        let why = refused(&role_revoke(&path, "witness"));
        assert!(why.contains(r#"asks for role "law oracle", the record holds "witness""#), "{why}");
        // A body where the route takes none.
        let mut with_body = role_revoke(&path, "law oracle");
        if let Event::RoleRevoke(c) = &mut with_body {
            c.evidence =
                SignedRequest::sign(&sk, &society(), admin.clone(), "DELETE", &path, "{}".into(), "n".into(), AT);
        }
        assert!(refused(&with_body).contains("has a body where the route takes none"));
    }

    fn law(doc: serde_json::Value) -> LawDataset {
        LawDataset::try_from(doc).unwrap()
    }

    #[test]
    fn a_record_naming_another_society_is_refused() {
        let (_, id) = member();
        let grant = |society_id: LctId| {
            Event::RoleGrant(RoleChange {
                evidence: request(&format!("/v1/lct/{id}/roles"), r#"{"role":"witness"}"#, AT),
                society_id,
                lct_id: id.clone(),
                role: "witness".into(),
                reason: None,
            })
        };
        let (author, hash) = (society(), Hash([9; 32]));
        assert_eq!(filled_in(&grant(society()), &author, AT, &hash, &society(), None), Ok(()));
        let other = LctId::from_public_key(&SecretKey::from_seed(&[2; 32]).public_key());
        let why = filled_in(&grant(other.clone()), &author, AT, &hash, &society(), None).unwrap_err();
        assert!(why.contains(&format!("names society {other}")), "{why}");
    }

    #[test]
    fn what_the_law_sets_is_what_the_record_holds() {
        use web4_core::payload::{AtpMint, AtpTransfer};
        let (_, id) = member();
        let law = law(serde_json::json!({"version": "1.0.0", "norms": [],
            "atp_issuance": {"transfer_fee_rate": 0.1, "cycle_seconds": 1000}}));
        let atp = law.atp();
        assert_eq!((atp.transfer_fee(15), atp.cycle_seconds), (2, 1000), "the law as this test reads it");
        let (author, hash) = (society(), law.law_hash());
        let check = |e: &Event| filled_in(e, &author, AT, &hash, &society(), Some(&law));
        let transfer = |fee| {
            Event::AtpTransfer(AtpTransfer {
                evidence: request("/v1/atp/transfer", "{}", AT),
                society_id: society(),
                from: id.clone(),
                to: society(),
                amount: 15,
                fee,
            })
        };
        assert_eq!(check(&transfer(2)), Ok(()));
        let why = check(&transfer(0)).unwrap_err();
        assert!(why.contains("holds fee 0") && why.contains("give 2"), "{why}");
        let mint = |cycle| {
            Event::AtpMint(AtpMint {
                evidence: request("/v1/atp/mint", "{}", AT),
                society_id: society(),
                amount: 10,
                cycle,
            })
        };
        assert_eq!(check(&mint(1_700_000)), Ok(()));
        assert!(check(&mint(1_699_999)).unwrap_err().contains("cycle"));
        // Without the law the record was written under, nothing is assumed.
        let why = filled_in(&transfer(2), &author, AT, &hash, &society(), None).unwrap_err();
        assert!(why.contains("is not held here"), "{why}");
    }

    #[test]
    fn only_the_attestations_a_request_brought_and_the_nodes_own_are_recorded() {
        use web4_core::witness::{Attestation, WitnessClass};
        let (_, id) = member();
        let event = web4_core::payload::authorize_event(&id, "read", "doc:1", 5, "n-1");
        let attest = |seed: u8| {
            let sk = SecretKey::from_seed(&[seed; 32]);
            Attestation::sign(
                &sk,
                LctId::from_public_key(&sk.public_key()),
                WitnessClass::Action,
                event,
                AT,
                "w".into(),
            )
            .unwrap()
        };
        let (brought_one, stranger, node) = (attest(3), attest(4), attest(1));
        let body = serde_json::json!({"action": "read", "resource": "doc:1", "atp_cost": 5,
            "context": {"witnesses": [brought_one]}});
        let with = |witnesses: Vec<Attestation>| {
            let mut e = decision(request("/v1/auth/authorize", &body.to_string(), AT));
            if let Event::AuthDecision(d) = &mut e {
                d.witnesses = witnesses;
            }
            e
        };
        assert_eq!(verdict(&with(vec![brought_one.clone()])), Verdict::Valid);
        // The node's own attestation (the society's key stands in for the node's).
        assert_eq!(verdict(&with(vec![brought_one.clone(), node])), Verdict::Valid);
        let why = refused(&with(vec![brought_one, stranger.clone()]));
        assert!(why.contains(&format!("does not bring the attestation by {}", stranger.witness)), "{why}");
    }
}
