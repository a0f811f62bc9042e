//! Identity service (LCT registry): mint, get, verify, suspend, reinstate,
//! revoke, transition, role grants. Checks that need no state run in the request task (in
//! parallel); checks against state run on the writer, inside the transaction
//! that records the change.

use super::Node;
use super::checks::{
    active_lct, admit, collect_witnesses, require_law, require_role, signer_error, store_err, to_value, witness_key,
};
use crate::error::ApiError;
use crate::http::auth;
use crate::ledger::{self, Event, LctRow, Prepared, lct_exists, load_lct, load_signer, roles_of};
use crate::store::StoreError;
use crate::store::writer::{Committed, WriteCtx};
use crate::verify::Lost;
use rusqlite::Connection;
use serde_json::{Value, json};
use std::sync::Arc;
use web4_core::anchor::{CEILING_SOFTWARE, CEILING_TPM2, LEVEL_HARDWARE, LEVEL_SOFTWARE};
use web4_core::api::{
    AnchorCheck, BirthCheck, LctView, MAX_REASON_LEN, MintRequest, RevokeRequest, RoleGrantRequest,
    StatusChangeRequest, TransitionRequest, VerifyReport,
};
use web4_core::birth::BirthCertificateDraft;
use web4_core::lct::{
    Binding, BindingError, LctDocument, LctStatus, LifecycleError, LifecycleEvent, Lineage, SignerError, may_sign,
    next_status,
};
use web4_core::payload::{Mint, Revoke, RoleChange, StatusChange, Transition};
use web4_core::signing::SignedRequest;
use web4_core::witness::WitnessClass;
use web4_core::{ErrorCode, LctId, PublicKey, Signature, Timestamp};

/// The public view of an LCT row.
pub fn view(conn: &Connection, row: LctRow) -> Result<LctView, StoreError> {
    let roles = roles_of(conn, row.society_id.as_str(), row.lct_id.as_str())?;
    Ok(LctView {
        lct: row.document,
        status: row.status,
        society: row.society_id,
        roles,
        status_reason: row.status_reason,
        revocation: row.revocation,
        superseded_by: row.superseded_by,
        overlap_until: row.overlap_until,
        ledger_ref: row.ledger_ref,
        updated_at: row.updated_at,
    })
}

/// Key of a known signer (read path; the writer re-checks status).
fn signer_key(node: &Node, id: &LctId) -> Result<PublicKey, ApiError> {
    if let Some(pk) = node.verifier.cached_key(id) {
        return Ok(pk);
    }
    let pk = node
        .reads
        .with(|c| load_signer(c, id.as_str()))
        .map_err(store_err)?
        .map(|r| r.public_key)
        .ok_or_else(|| ApiError::new(ErrorCode::AuthzDenied, format!("unknown signer {id}")))?;
    node.verifier.remember_key(id, pk);
    Ok(pk)
}

/// Authenticate a request by a registered LCT.
pub async fn authenticate(node: &Node, ev: &SignedRequest) -> Result<(), ApiError> {
    let pk = signer_key(node, &ev.signer)?;
    auth::verify(node, ev, pk).await
}

fn binding_error(e: BindingError) -> ApiError {
    match e {
        BindingError::IdMismatch { claimed, derived } => {
            ApiError::new(ErrorCode::BindingInvalid, format!("lct_id {claimed} does not match the public key"))
                .details(json!({ "claimed": claimed, "derived": derived }))
        }
        BindingError::ProofFail => {
            ApiError::new(ErrorCode::BindingProofFail, "binding_proof does not verify with public_key")
        }
        BindingError::Anchor(e) => {
            ApiError::new(ErrorCode::BindingProofFail, e.to_string()).details(json!({ "field": "hardware_anchor" }))
        }
    }
}

/// `POST /v1/lct/mint`.
pub async fn mint(node: &Arc<Node>, ev: SignedRequest, req: MintRequest) -> Result<Committed, ApiError> {
    let now = node.now();
    let started = std::time::Instant::now();
    let soc = node.society();
    let law = &soc.identity;
    let binding = Binding {
        entity_type: req.entity_type,
        public_key: req.public_key,
        created_at: req.created_at,
        binding_proof: req.binding_proof,
        hardware_anchor: req.hardware_anchor.clone(),
    };
    let new_id = binding.lct_id();
    let claimed = req.lct_id.as_ref().unwrap_or(&new_id);
    binding.check_id(claimed).map_err(binding_error)?;
    let self_mint = ev.signer == new_id;
    // The request's signer key: the new key for a self-mint under open
    // admission, a registered LCT's otherwise. Its errors are reported below,
    // after the binding's, as if it were looked up there.
    let signer_pk = if self_mint {
        Ok(law.open_admission.then_some(binding.public_key))
    } else {
        signer_key(node, &ev.signer).map(Some)
    };
    // The proof of possession and the request signature join the batch of
    // concurrent signatures together (one batch, one yield).
    let mut items = vec![(binding.proof_message(claimed), binding.binding_proof, binding.public_key)];
    if let Ok(Some(pk)) = &signer_pk {
        items.push((ev.canonical(&node.society().id).into_bytes(), ev.signature, *pk));
    }
    let mut checked = node
        .verifier
        .verify_all(items)
        .await
        .map_err(|lost| ApiError::internal("signature verification", lost))?
        .into_iter();
    checked
        .next()
        .ok_or_else(|| ApiError::internal("binding proof verification", Lost))?
        .map_err(|_| binding_error(BindingError::ProofFail))?;
    let request_checked = checked.next();
    let anchor_started = std::time::Instant::now();
    binding.verify_anchor(claimed).map_err(binding_error)?;
    if let Some(a) = &binding.hardware_anchor {
        node.metrics.anchor_verification.observe(anchor_started.elapsed().as_secs_f64());
        let at = web4_core::anchor::HardwareAnchor::from_value(a).map(|a| a.anchored_at);
        if at.is_ok_and(|at| at > now.plus(node.max_skew)) {
            return Err(ApiError::new(ErrorCode::BindingInvalid, "hardware_anchor.anchored_at is in the future"));
        }
    }
    if req.created_at > now.plus(node.max_skew) {
        return Err(ApiError::new(
            ErrorCode::BindingInvalid,
            format!("created_at {} is in the future", req.created_at),
        ));
    }
    if let Some(ctx) = &req.birth_context
        && ctx.len() > MAX_REASON_LEN
    {
        return Err(ApiError::new(ErrorCode::ProtoFormat, format!("birth_context: at most {MAX_REASON_LEN} bytes")));
    }
    match (signer_pk?, request_checked) {
        (Some(_), Some(Ok(()))) => {}
        (Some(_), Some(Err(_))) => return Err(auth::signature_error(&ev, &node.society().id)),
        (Some(_), None) => return Err(ApiError::internal("signature verification", Lost)),
        (None, _) => {
            return Err(ApiError::new(
                ErrorCode::AuthzDenied,
                "admission is closed: an LCT holding a mint role must sign the mint",
            ));
        }
    }

    let society = soc.id.clone();
    let event = binding.event_hash(&society);
    // Witnessing over the network: when what the client brought and this
    // node's own attestation cannot meet the law's quorum, ask the peers
    // (each checks the binding and signs as a witness if it is one). Every
    // attestation is recounted below; none is trusted.
    let mut offered = req.witnesses.clone();
    let own = usize::from(node.is_witness() && new_id != node.id);
    if let Some(fed) = node.federation.get()
        && offered.len() + own < usize::try_from(law.birth_quorum.required()).unwrap_or(usize::MAX)
    {
        let gathered = fed.gather_witnesses(&society, &binding).await;
        node.metrics.network_attestations.inc_by(u64::try_from(gathered.len()).unwrap_or(0));
        offered.extend(gathered);
    }
    let counted =
        collect_witnesses(node, &soc, &new_id, event, WitnessClass::Existence, &offered, law.birth_quorum, now)?;
    let witnesses: Vec<LctId> = counted.iter().map(|a| a.witness.clone()).collect();
    let cert = BirthCertificateDraft {
        lct_id: new_id.clone(),
        issuing_society: society.clone(),
        citizen_role: law.citizen_role.clone(),
        birth_timestamp: now,
        birth_context: req.birth_context.clone().unwrap_or_else(|| crate::evidence::MINT_CONTEXT.into()),
        law_version: soc.law.version().to_owned(),
        law_hash: soc.law.law_hash(),
        rights: law.rights.clone(),
        obligations: law.obligations.clone(),
        birth_witnesses: counted,
        issuer: node.id.clone(),
    }
    .sign(&node.key)
    .map_err(|e| ApiError::internal("birth certificate", e))?;
    let mut doc = LctDocument::new(binding);
    doc.birth_certificate = Some(cert);
    if let Some(p) = req.policy.clone() {
        doc.policy = p;
    }
    let law_hash = soc.law.law_hash();
    let citizen_role = law.citizen_role.clone();
    let mint_roles = law.mint_roles.clone();
    let job_node = Arc::clone(node);
    let lct_id = doc.lct_id.clone();
    let prepared =
        Prepared::new(Event::Mint(Mint { evidence: ev.clone(), society_id: society.clone(), lct: doc.clone() }))
            .map_err(store_err)?;
    let (signer, nonce, ts) = (ev.signer, ev.nonce, ev.timestamp);
    let job_society = society.clone();
    let result = node
        .writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            ctx.use_nonce(&signer, &nonce, ts)?;
            require_law(ctx.conn, &job_society, &law_hash)?;
            if !self_mint {
                active_lct(ctx.conn, &signer, ctx.now)?;
                require_role(ctx.conn, &job_society, &signer, &mint_roles, "mint LCTs")?;
            }
            for w in &witnesses {
                if w != ctx.node_id() && witness_key(ctx.conn, &job_society, w, ctx.now).is_none() {
                    return Err(ApiError::new(ErrorCode::WitnessRejected, format!("witness {w} is no longer active")));
                }
            }
            if lct_exists(ctx.conn, &lct_id).map_err(store_err)? {
                return Err(ApiError::new(ErrorCode::BindingExists, format!("{lct_id} is already registered"))
                    .details(json!({ "lct_id": lct_id })));
            }
            ctx.append(&prepared, law_hash)?;
            Ok(Value::from(ctx.now.secs()))
        }))
        .await
        .and_then(|c| {
            // Build the answer outside the writer from what was recorded.
            let at = Timestamp(c.data.as_i64().unwrap_or_default());
            let ledger_ref = c.ledger_ref.ok_or_else(|| ApiError::internal("mint", "no ledger ref"))?;
            let view = LctView {
                lct: doc,
                status: LctStatus::Active,
                society,
                roles: vec![citizen_role],
                status_reason: None,
                revocation: None,
                superseded_by: None,
                overlap_until: None,
                ledger_ref,
                updated_at: at,
            };
            Ok(Committed { data: to_value(&view)?, ledger_ref: c.ledger_ref })
        });
    job_node.metrics.birth_certificate_ledger_write.observe(started.elapsed().as_secs_f64());
    result
}

/// `GET /v1/lct/{id}`.
pub fn get(node: &Node, id: &str) -> Result<LctView, ApiError> {
    let id = LctId::parse(id).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))?;
    node.reads
        .with(|c| match load_lct(c, id.as_str())? {
            Some(row) => view(c, row).map(Some),
            None => Ok(None),
        })
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no LCT {id} on this node")))
}

/// `GET /v1/lct/{id}/verify`: recheck the binding, the birth certificate (issuer
/// signature and a recount of the witnesses) and the lifecycle state; with
/// `message` and `signature` (unpadded base64url), also a signature by the LCT.
pub fn verify(node: &Node, id: &str, message: Option<&str>, signature: Option<&str>) -> Result<VerifyReport, ApiError> {
    let id = LctId::parse(id).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))?;
    let sig_check = match (message, signature) {
        (None, None) => None,
        (Some(m), Some(s)) => {
            let msg = data_encoding::BASE64URL_NOPAD
                .decode(m.as_bytes())
                .map_err(|_| ApiError::new(ErrorCode::ProtoFormat, "message: not unpadded base64url"))?;
            let sig =
                Signature::parse(s).map_err(|e| ApiError::new(ErrorCode::CryptoVerify, format!("signature: {e}")))?;
            Some((msg, sig))
        }
        _ => return Err(ApiError::new(ErrorCode::ProtoFormat, "give both message and signature, or neither")),
    };
    let now = node.now();
    let society = node.society();
    node.reads
        .with(|c| verify_in(c, &society, now, &id, sig_check.as_ref(), Some(&node.metrics)))
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no LCT {id} on this node")))
}

/// Verify an LCT against a store and the society whose law it was born under:
/// this node's, or a foreign society's verified copy (`crate::foreign`).
pub fn verify_in(
    c: &Connection,
    society: &crate::services::Society,
    now: Timestamp,
    id: &LctId,
    sig_check: Option<&(Vec<u8>, Signature)>,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<Option<VerifyReport>, crate::store::StoreError> {
    {
        {
            let Some(row) = load_lct(c, id.as_str())? else { return Ok(None) };
            let mut problems = Vec::new();
            let doc = &row.document;
            let id_ok = doc.binding.lct_id() == *id && doc.lct_id == *id;
            if !id_ok {
                problems.push("lct_id is not derived from the bound public key".to_owned());
            }
            let proof_ok = doc.binding.verify_proof(id).is_ok();
            if !proof_ok {
                problems.push("binding proof does not verify".to_owned());
            }
            let started = std::time::Instant::now();
            let anchor = match doc.binding.verify_anchor(id) {
                Ok(None) => None,
                Ok(Some(report)) => Some(AnchorCheck { valid: true, report: Some(report), problem: None }),
                Err(e) => {
                    problems.push(e.to_string());
                    Some(AnchorCheck { valid: false, report: None, problem: Some(e.to_string()) })
                }
            };
            if anchor.is_some()
                && let Some(m) = metrics
            {
                m.anchor_verification.observe(started.elapsed().as_secs_f64());
            }
            let hardware = anchor.as_ref().is_some_and(|a| a.valid);
            let birth = match &doc.birth_certificate {
                None => None,
                Some(cert) => {
                    let issuer = load_signer(c, cert.issuer.as_str())?.map(|r| r.public_key);
                    let rule = society.identity.birth_quorum;
                    let lookup = |w: &LctId| load_signer(c, w.as_str()).ok().flatten().map(|r| r.public_key);
                    let (issuer_ok, valid, ok) = match issuer {
                        None => {
                            problems.push(format!("birth certificate issuer {} is unknown", cert.issuer));
                            (false, 0, false)
                        }
                        Some(pk) => match cert.verify(
                            &doc.binding,
                            &pk,
                            lookup,
                            rule,
                            society.identity.witness_max_skew_seconds,
                        ) {
                            Ok(t) => (true, u32::try_from(t.valid.len()).unwrap_or(u32::MAX), true),
                            Err(web4_core::birth::BirthError::Quorum { valid, .. }) => {
                                problems.push("birth certificate witness quorum not met".into());
                                (true, valid, false)
                            }
                            Err(e) => {
                                problems.push(format!("birth certificate: {e}"));
                                (false, 0, false)
                            }
                        },
                    };
                    Some(BirthCheck {
                        issuer_signature: issuer_ok,
                        witnesses_valid: valid,
                        witnesses_required: rule.required(),
                        ok,
                    })
                }
            };
            if let Err(e) = may_sign(row.status, row.overlap_until, now) {
                problems.push(e.to_string());
            }
            let signature = sig_check.map(|(m, s)| row.public_key.verify(m, s).is_ok());
            if signature == Some(false) {
                problems.push("signature does not verify with this LCT's key".into());
            }
            Ok(Some(VerifyReport {
                lct_id: id.clone(),
                valid: problems.is_empty(),
                status: row.status,
                id_matches_key: id_ok,
                binding_proof: proof_ok,
                birth_certificate: birth,
                signature,
                capability_level: if hardware { LEVEL_HARDWARE } else { LEVEL_SOFTWARE },
                trust_ceiling: if hardware { CEILING_TPM2 } else { CEILING_SOFTWARE },
                hardware_anchor: anchor,
                problems,
            }))
        }
    }
}

fn lifecycle_error(id: &LctId, e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::Terminal => {
            ApiError::new(ErrorCode::BindingRevoked, format!("{id} is revoked; revocation is terminal"))
        }
        LifecycleError::NotAllowed { from, event } => ApiError::new(
            ErrorCode::ProtoSequence,
            format!("cannot {} {id}: it is {}", format!("{event:?}").to_lowercase(), from.as_str()),
        )
        .details(json!({ "status": from, "event": event })),
    }
}

/// A change refused because a newer one recorded by a peer is in force.
fn newer_change(id: &LctId, what: &str, stamp: Option<(Timestamp, String, u64)>) -> ApiError {
    let by = stamp
        .as_ref()
        .map(|(at, author, seq)| format!(", recorded by {author} at {at} (seq {seq}),"))
        .unwrap_or_default();
    ApiError::new(
        ErrorCode::ProtoSequence,
        format!("a newer {what} of {id}{by} is in force on this node; read the LCT and retry if still wanted"),
    )
    .details(json!({ "in_force": stamp.map(|(at, author, seq)| json!({"at": at, "author": author, "seq": seq})) }))
}

fn target_row(conn: &Connection, id: &LctId) -> Result<LctRow, ApiError> {
    load_lct(conn, id.as_str())
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no LCT {id} on this node")))
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(ApiError::new(ErrorCode::ProtoFormat, format!("reason: 1 to {MAX_REASON_LEN} bytes")));
    }
    Ok(())
}

fn parse_target(id: &str) -> Result<LctId, ApiError> {
    LctId::parse(id).map_err(|e| ApiError::new(ErrorCode::ProtoFormat, e.to_string()))
}

/// `POST /v1/lct/{id}/suspend` and `/reinstate`: by a holder of a status role.
pub async fn change_status(
    node: &Arc<Node>,
    ev: SignedRequest,
    target: &str,
    event: LifecycleEvent,
    req: StatusChangeRequest,
) -> Result<Committed, ApiError> {
    let target = parse_target(target)?;
    check_reason(&req.reason)?;
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (society, roles, law_hash) = (soc.id.clone(), soc.identity.status_roles.clone(), soc.law.law_hash());
    let payload = StatusChange { evidence: ev.clone(), lct_id: target.clone(), reason: req.reason };
    let event_ = if event == LifecycleEvent::Suspend { Event::Suspend(payload) } else { Event::Reinstate(payload) };
    let prepared = Prepared::new(event_).map_err(store_err)?;
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &society, &law_hash)?;
            require_role(ctx.conn, &society, &ev.signer, &roles, "change the status of LCTs")?;
            let row = target_row(ctx.conn, &target)?;
            let to = next_status(row.status, event).map_err(|e| lifecycle_error(&target, e))?;
            if to == LctStatus::Suspended {
                not_the_last_holder(ctx.conn, &society, &target)?;
            }
            ctx.append(&prepared, law_hash)?;
            let after = target_row(ctx.conn, &target)?;
            if after.status != to {
                // A peer's change of this LCT, newer by (time, author, seq)
                // than this record would be, applied here already (clocks
                // of two nodes in the same second): recording ours would
                // acknowledge a change that every node ignores.
                let stamp = ledger::status_stamp(ctx.conn, target.as_str()).map_err(store_err)?;
                return Err(newer_change(&target, "suspension or reinstatement", stamp));
            }
            to_value(&view(ctx.conn, after).map_err(store_err)?)
        }))
        .await
}

/// Refuse taking `target` out of service while it is the last active holder
/// of a role-granting role: the society could never change a role again,
/// nor (with the default law) reinstate anyone (decisions/0019, rule 4).
fn not_the_last_holder(conn: &rusqlite::Connection, society: &LctId, target: &LctId) -> Result<(), ApiError> {
    let last = ledger::last_holder_of(conn, society.as_str(), target.as_str()).map_err(store_err)?;
    if last.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::LawConflict,
        format!("{target} is the last active holder of {last:?}, which the law needs to change roles; give the role to another LCT first"),
    )
    .details(json!({ "roles": last })))
}

/// `POST /v1/lct/{id}/revoke`: by a holder of a status role, or by the LCT itself.
pub async fn revoke(
    node: &Arc<Node>,
    ev: SignedRequest,
    target: &str,
    req: RevokeRequest,
) -> Result<Committed, ApiError> {
    let target = parse_target(target)?;
    if let Some(n) = &req.note {
        check_reason(n)?;
    }
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (society, roles, law_hash) = (soc.id.clone(), soc.identity.status_roles.clone(), soc.law.law_hash());
    let prepared = Prepared::new(Event::Revoke(Revoke {
        evidence: ev.clone(),
        lct_id: target.clone(),
        reason: req.reason,
        note: req.note,
    }))
    .map_err(store_err)?;
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
            require_law(ctx.conn, &society, &law_hash)?;
            if ev.signer == target {
                // Self-revocation (e.g. key compromise) is allowed from any non-terminal state.
                let row = target_row(ctx.conn, &target)?;
                if row.status == LctStatus::Revoked {
                    return Err(signer_error(&target, SignerError::Revoked));
                }
            } else {
                active_lct(ctx.conn, &ev.signer, ctx.now)?;
                require_role(ctx.conn, &society, &ev.signer, &roles, "revoke LCTs")?;
            }
            let row = target_row(ctx.conn, &target)?;
            next_status(row.status, LifecycleEvent::Revoke).map_err(|e| lifecycle_error(&target, e))?;
            not_the_last_holder(ctx.conn, &society, &target)?;
            ctx.append(&prepared, law_hash)?;
            to_value(&view(ctx.conn, target_row(ctx.conn, &target)?).map_err(store_err)?)
        }))
        .await
}

/// A role name the law knows: one of the concept roles (`law::validate::ROLES`)
/// or the law's citizen role.
fn check_role(role: &str, citizen_role: &str) -> Result<(), ApiError> {
    if role == citizen_role || web4_core::law::validate::ROLES.contains(&role) {
        return Ok(());
    }
    let mut known: Vec<&str> = web4_core::law::validate::ROLES.to_vec();
    if !known.contains(&citizen_role) {
        known.push(citizen_role);
    }
    Err(ApiError::new(ErrorCode::ProtoFormat, format!("unknown role {role:?}, expected one of {known:?}"))
        .details(json!({ "field": "role", "known_roles": known })))
}

/// `POST /v1/lct/{id}/roles` (`grant`) and `DELETE /v1/lct/{id}/roles/{role}`:
/// by a holder of one of the law's `identity.role_roles` (docs/decisions/0019).
/// The target must be an active LCT of the society; every role but the
/// citizen role needs the citizen role first (concepts §5), and the citizen
/// role goes last. The last holder of a role-granting role cannot lose it.
pub async fn change_role(
    node: &Arc<Node>,
    ev: SignedRequest,
    target: &str,
    grant: bool,
    req: RoleGrantRequest,
) -> Result<Committed, ApiError> {
    let target = parse_target(target)?;
    if let Some(r) = &req.reason {
        check_reason(r)?;
    }
    authenticate(node, &ev).await?;
    let soc = node.society();
    let (society, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let (role_roles, citizen) = (soc.identity.role_roles.clone(), soc.identity.citizen_role.clone());
    check_role(&req.role, &citizen)?;
    let role = req.role.clone();
    let change = RoleChange {
        evidence: ev.clone(),
        society_id: society.clone(),
        lct_id: target.clone(),
        role: req.role,
        reason: req.reason,
    };
    let prepared =
        Prepared::new(if grant { Event::RoleGrant(change) } else { Event::RoleRevoke(change) }).map_err(store_err)?;
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            admit(ctx, &ev, &society, &law_hash)?;
            require_role(ctx.conn, &society, &ev.signer, &role_roles, "grant or revoke roles")?;
            let row = target_row(ctx.conn, &target)?;
            if row.society_id != society {
                return Err(ApiError::new(
                    ErrorCode::AuthzDenied,
                    format!("{target} belongs to society {}, not {society}", row.society_id),
                ));
            }
            match row.status {
                LctStatus::Active => {}
                LctStatus::Revoked => return Err(signer_error(&target, SignerError::Revoked)),
                other => {
                    return Err(ApiError::new(
                        ErrorCode::AuthzDenied,
                        format!("{target} is {}; roles change only on active LCTs", other.as_str()),
                    ));
                }
            }
            let held = roles_of(ctx.conn, society.as_str(), target.as_str()).map_err(store_err)?;
            // A role kept only because no other active LCT holds it (its
            // register says revoked, decisions/0019) can be granted again.
            let has = ledger::holds_role(ctx.conn, society.as_str(), target.as_str(), &role).map_err(store_err)?;
            if grant && has {
                return Err(ApiError::new(
                    ErrorCode::ProtoSequence,
                    format!("{target} already holds the role {role:?}"),
                ));
            }
            if !grant && !has {
                return Err(ApiError::new(
                    ErrorCode::ProtoSequence,
                    format!("{target} does not hold the role {role:?}"),
                ));
            }
            if grant && role != citizen && !held.contains(&citizen) {
                return Err(ApiError::new(
                    ErrorCode::AuthzDenied,
                    format!("{target} must hold the citizen role {citizen:?} before any other role"),
                )
                .details(json!({ "held_roles": held })));
            }
            if !grant && role == citizen && held.len() > 1 {
                return Err(ApiError::new(
                    ErrorCode::LawConflict,
                    format!("{target} holds other roles {held:?}; revoke them before the citizen role"),
                ));
            }
            if !grant && role_roles.contains(&role) {
                let holders: i64 = ctx
                    .conn
                    .prepare_cached(
                        "SELECT COUNT(*) FROM roles r JOIN lcts l ON l.lct_id = r.lct_id
                         WHERE r.society_id = ?1 AND r.role = ?2 AND l.status = 'active'",
                    )
                    .and_then(|mut st| st.query_row(rusqlite::params![society.as_str(), role], |r| r.get(0)))
                    .map_err(|e| store_err(e.into()))?;
                if holders <= 1 {
                    return Err(ApiError::new(
                        ErrorCode::LawConflict,
                        format!("{target} is the last active holder of {role:?}, which the law needs to change roles"),
                    ));
                }
            }
            ctx.append(&prepared, law_hash)?;
            if ledger::holds_role(ctx.conn, society.as_str(), target.as_str(), &role).map_err(store_err)? != grant {
                // As for status changes: a newer change of this role from a peer is in force.
                let stamp =
                    ledger::role_stamp(ctx.conn, society.as_str(), target.as_str(), &role).map_err(store_err)?;
                return Err(newer_change(&target, &format!("change of the role {role:?}"), stamp));
            }
            to_value(&view(ctx.conn, target_row(ctx.conn, &target)?).map_err(store_err)?)
        }))
        .await
}

/// `POST /v1/lct/{id}/transition`: the LCT rotates to a new key. Signed by the
/// old LCT; the new key proves possession with its binding proof.
pub async fn transition(
    node: &Arc<Node>,
    ev: SignedRequest,
    target: &str,
    req: TransitionRequest,
) -> Result<Committed, ApiError> {
    let target = parse_target(target)?;
    if ev.signer != target {
        return Err(ApiError::new(ErrorCode::AuthzDenied, "a transition must be signed by the LCT that transitions"));
    }
    authenticate(node, &ev).await?;
    let old = node
        .reads
        .with(|c| load_lct(c, target.as_str()))
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no LCT {target} on this node")))?;
    let binding = Binding {
        entity_type: old.entity_type,
        public_key: req.public_key,
        created_at: req.created_at,
        binding_proof: req.binding_proof,
        hardware_anchor: req.hardware_anchor,
    };
    let new_id = binding.lct_id();
    binding.verify(&new_id).map_err(binding_error)?;
    let now = node.now();
    let mut doc = LctDocument::new(binding);
    doc.lineage.push(Lineage { parent: target.clone(), reason: "rotation".into(), at: now });
    doc.policy = old.document.policy.clone();
    let soc = node.society();
    let overlap_until = now.plus(soc.identity.rotation_overlap_seconds);
    let (law_society, law_hash) = (soc.id.clone(), soc.law.law_hash());
    let prepared = Prepared::new(Event::Transition(Transition {
        evidence: ev.clone(),
        old: target.clone(),
        lct: doc,
        overlap_until,
    }))
    .map_err(store_err)?;
    node.writer
        .submit_rerunnable(Box::new(move |ctx: &mut WriteCtx<'_>| {
            ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
            require_law(ctx.conn, &law_society, &law_hash)?;
            let row = active_lct(ctx.conn, &ev.signer, ctx.now)?;
            next_status(row.status, LifecycleEvent::Supersede).map_err(|e| lifecycle_error(&target, e))?;
            if load_signer(ctx.conn, new_id.as_str()).map_err(store_err)?.is_some() {
                return Err(ApiError::new(ErrorCode::BindingExists, format!("{new_id} is already registered")));
            }
            ctx.append(&prepared, law_hash)?;
            let new_view = view(ctx.conn, target_row(ctx.conn, &new_id)?).map_err(store_err)?;
            let old_view = view(ctx.conn, target_row(ctx.conn, &target)?).map_err(store_err)?;
            Ok(json!({ "lct": to_value(&new_view)?, "previous": to_value(&old_view)? }))
        }))
        .await
}
