//! Checks shared by the services. They run against the write transaction (on
//! the writer) or a read connection, and answer with the documented W4 codes.

use super::{Node, Society};
use crate::error::ApiError;
use crate::ledger::{SignerRow, current_law_hash, load_signer, roles_of};
use crate::store::StoreError;
use rusqlite::Connection;
use serde_json::{Value, json};
use web4_core::lct::{SignerError, may_sign};
use web4_core::witness::{Attestation, QuorumRule, WitnessClass, recount};
use web4_core::{ErrorCode, Hash, LctId, PublicKey, Timestamp};

/// A store failure is the node's fault: logged, answered as internal.
pub fn store_err(e: StoreError) -> ApiError {
    ApiError::internal("store", e)
}

/// Serialise a response body.
pub fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal("serialise", e))
}

/// The answer for an LCT that may not sign now.
pub fn signer_error(id: &LctId, e: SignerError) -> ApiError {
    match e {
        SignerError::Revoked => ApiError::new(ErrorCode::BindingRevoked, format!("{id} is revoked")),
        SignerError::Suspended => ApiError::new(ErrorCode::AuthzDenied, format!("{id} is suspended")),
        SignerError::SupersededExpired => {
            ApiError::new(ErrorCode::AuthzDenied, format!("{id} was superseded and its overlap window has ended"))
        }
    }
}

/// A registered LCT that may sign now: unknown, suspended or superseded →
/// `W4_ERR_AUTHZ_DENIED`; revoked → `W4_ERR_BINDING_REVOKED`.
pub fn active_lct(conn: &Connection, id: &LctId, now: Timestamp) -> Result<SignerRow, ApiError> {
    let row = load_signer(conn, id.as_str())
        .map_err(store_err)?
        .ok_or_else(|| ApiError::new(ErrorCode::AuthzDenied, format!("unknown LCT {id}")))?;
    may_sign(row.status, row.overlap_until, now).map_err(|e| signer_error(id, e))?;
    Ok(row)
}

/// `signer` holds one of `roles` in `society`, else `W4_ERR_AUTHZ_DENIED`.
pub fn require_role<R: AsRef<str>>(
    conn: &Connection,
    society: &LctId,
    signer: &LctId,
    roles: &[R],
    action: &str,
) -> Result<(), ApiError> {
    let held = roles_of(conn, society.as_str(), signer.as_str()).map_err(store_err)?;
    if held.iter().any(|h| roles.iter().any(|r| r.as_ref() == h)) {
        return Ok(());
    }
    let roles: Vec<&str> = roles.iter().map(AsRef::as_ref).collect();
    Err(ApiError::new(
        ErrorCode::AuthzDenied,
        format!("{signer} may not {action}: the law requires one of the roles {roles:?}"),
    )
    .details(json!({ "required_roles": roles, "held_roles": held })))
}

/// A record is bound to the law in force when it commits; a request decided
/// under a law that was replaced meanwhile is refused as a downgrade.
pub fn require_law(conn: &Connection, society: &LctId, law_hash: &Hash) -> Result<(), ApiError> {
    match current_law_hash(conn, society.as_str()).map_err(store_err)? {
        Some(h) if &h == law_hash => Ok(()),
        Some(h) => Err(ApiError::new(
            ErrorCode::ProtoDowngrade,
            format!("the request was decided under law {law_hash}, but {h} is now in force; retry"),
        )),
        None => Err(ApiError::internal("law", "society has no law")),
    }
}

/// The opening of every signed write on the writer: spend the request's nonce
/// (a replay is refused), require the law it was decided under to be still in
/// force, and a signer that may sign now.
pub fn admit(
    ctx: &mut crate::store::writer::WriteCtx<'_>,
    ev: &web4_core::signing::SignedRequest,
    society: &LctId,
    law_hash: &Hash,
) -> Result<SignerRow, ApiError> {
    ctx.use_nonce(&ev.signer, &ev.nonce, ev.timestamp)?;
    require_law(ctx.conn, society, law_hash)?;
    active_lct(ctx.conn, &ev.signer, ctx.now)
}

/// An LCT registered on this node, else `W4_ERR_NOT_FOUND`.
pub fn known_lct(conn: &Connection, id: &LctId) -> Result<(), ApiError> {
    if crate::ledger::lct_exists(conn, id).map_err(store_err)? {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotFound, format!("no LCT {id}")))
    }
}

/// Key of an LCT that may sign at `now`.
pub fn signing_key(conn: &Connection, id: &LctId, now: Timestamp) -> Option<PublicKey> {
    let row = load_signer(conn, id.as_str()).ok()??;
    may_sign(row.status, row.overlap_until, now).ok()?;
    Some(row.public_key)
}

/// Key of a registered witness (role `witness`) that may sign at `now`.
pub fn witness_key(conn: &Connection, society: &LctId, id: &LctId, now: Timestamp) -> Option<PublicKey> {
    let key = signing_key(conn, id, now)?;
    let roles = roles_of(conn, society.as_str(), id.as_str()).ok()?;
    roles.iter().any(|r| r == "witness").then_some(key)
}

/// Recount the submitted attestations of `event` (never trusting a count), add
/// the node's own when it is a witness, and check the quorum. Returns the
/// attestations that counted, one per witness. `subject` may not attest itself.
#[allow(clippy::too_many_arguments)]
pub fn collect_witnesses(
    node: &Node,
    soc: &Society,
    subject: &LctId,
    event: Hash,
    class: WitnessClass,
    submitted: &[Attestation],
    rule: QuorumRule,
    now: Timestamp,
) -> Result<Vec<Attestation>, ApiError> {
    // The node attests itself below; a submitted attestation in its name is ignored.
    let submitted: Vec<&Attestation> = submitted.iter().filter(|a| a.witness != node.id).collect();
    let skew = soc.identity.witness_max_skew_seconds;
    let mut tally = if submitted.is_empty() {
        web4_core::witness::Tally { valid: vec![], accepted: vec![], rejected: vec![] }
    } else {
        node.reads
            .with(|c| {
                Ok(recount(submitted.iter().copied(), subject, &event, |w| witness_key(c, &soc.id, w, now), now, skew))
            })
            .map_err(store_err)?
    };
    let mut counted: Vec<Attestation> =
        tally.accepted.iter().filter_map(|&i| submitted.get(i).map(|a| (*a).clone())).collect();
    if node.is_witness() && subject != &node.id {
        let nonce = data_encoding::BASE64URL_NOPAD
            .encode(&crate::keystore::random_bytes::<16>().map_err(|e| ApiError::internal("rng", e))?);
        counted.push(
            Attestation::sign(&node.key, node.id.clone(), class, event, now, nonce)
                .map_err(|e| ApiError::internal("attestation", e))?,
        );
        tally.valid.push(node.id.clone());
    }
    let valid = u32::try_from(tally.valid.len()).unwrap_or(u32::MAX);
    if !rule.met(valid) {
        let rejected: Vec<Value> =
            tally.rejected.iter().map(|(w, e)| json!({"witness": w, "reason": e.to_string()})).collect();
        return Err(ApiError::new(
            ErrorCode::WitnessQuorum,
            format!("{valid} valid witness attestations, the law requires {}", rule.required()),
        )
        .details(json!({ "valid": valid, "required": rule.required(), "event": event, "rejected": rejected })));
    }
    Ok(counted)
}
