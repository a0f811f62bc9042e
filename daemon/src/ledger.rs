//! Applying records to the projections, and rebuilding them from the ledger.
//!
//! `apply` is the only code that changes projection tables. It is called by the
//! writer in the transaction that appends the record, and by `replay` when the
//! projections are rebuilt; both must produce identical state.

use crate::store::StoreError;
use crate::store::migrations::{PROJECTION_TABLES, migrate};
use rusqlite::{Connection, OptionalExtension, params};
use web4_core::api::RevocationInfo;
use web4_core::lct::{EntityType, LctDocument, LctStatus};
use web4_core::ledger::{ChainVerifier, Record, kind};
use web4_core::payload::{
    ApproveDelegation, AtpCharge, AtpMint, AtpSlash, AtpTransfer, AuthDecision, Delegate, ExpireDelegations, Genesis,
    GraphTriple, Interpretation, LawPublish, Mint, ReputationOutcome, ResourceAllocate, ResourceRates, ResourceRelease,
    ResourceUsage, Revoke, RevokeDelegation, RoleChange, StatusChange, Transition,
};
use web4_core::signing::SignedRequest;
use web4_core::{Hash, LctId, PublicKey, Timestamp};

/// What an applied record changed, for metrics and the live graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A reputation outcome was recorded (index into `OUTCOME_TYPES`).
    Outcome(u8),
    /// A gaming pattern was detected.
    Gaming(web4_core::reputation::Pattern),
    /// The society pool's new state after an ATP change.
    Pool {
        total_supply: i64,
        adp: i64,
    },
    /// Active delegations changed by this many.
    Delegation(i64),
    /// A delegation's remaining budget (the `web4_atp_budget_remaining`
    /// gauge), set once the group that changed it committed.
    Budget {
        grant_id: String,
        remaining: u64,
    },
    /// An authorization decision was recorded.
    Decision,
    /// A lease was opened on a pool (index into `RESOURCE_TYPES`).
    Allocated(u8),
    /// A graph triple was added or removed.
    Triple {
        add: bool,
        triple: Box<crate::graph::Triple>,
    },
    /// A pair's tensors changed (their triples are derived).
    Tensor {
        entity: String,
        role: String,
        t3: web4_core::tensor::T3,
        v3: web4_core::tensor::V3,
    },
    Minted(EntityType),
    Status {
        entity_type: EntityType,
        from: LctStatus,
        to: LctStatus,
    },
    /// An LCT gained (`held`) or lost a role.
    Role {
        lct: String,
        role: String,
        held: bool,
    },
    /// A record registered an LCT id that was already registered here
    /// (decisions/0025): the record is kept, the first registration stands.
    RegistrationConflict,
    /// A record the losing home of a registration made about that LCT's
    /// account or reputation, or about what such a record opened: kept,
    /// without effect (decisions/0025, session-30 addendum).
    Voided,
    /// A law version was published: the law in force now. The commit hook
    /// replaces the node's cached society with it, whichever node recorded
    /// the publication.
    Law(Box<web4_core::law::LawDataset>),
}

/// A projection row of an LCT.
#[derive(Debug, Clone)]
pub struct LctRow {
    pub lct_id: LctId,
    pub society_id: LctId,
    pub public_key: PublicKey,
    pub entity_type: EntityType,
    pub status: LctStatus,
    pub document: LctDocument,
    pub status_reason: Option<String>,
    pub revocation: Option<RevocationInfo>,
    pub superseded_by: Option<LctId>,
    pub overlap_until: Option<Timestamp>,
    pub ledger_ref: Hash,
    pub updated_at: Timestamp,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Load an LCT's projection row.
pub fn load_lct(conn: &Connection, id: &str) -> Result<Option<LctRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT c.lct_id, c.society_id, c.public_key, c.entity_type, c.status, c.document, l.record,
                    c.status_reason, c.revocation, c.superseded_by, c.overlap_until, c.ledger_ref, c.updated_at
               FROM lcts c LEFT JOIN ledger l ON l.id = c.doc_record WHERE c.lct_id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<i64>>(10)?,
                r.get::<_, String>(11)?,
                r.get::<_, i64>(12)?,
            ))
        })
        .optional()?;
    let Some((id, soc, pk, et, st, copy, record, reason, revocation, sup, overlap, lref, upd)) = row else {
        return Ok(None);
    };
    // The row's own copy exists only where migration 16 found no record.
    let document = match (copy, record) {
        (Some(copy), _) => parse_json(&copy, "document")?,
        (None, Some(record)) => document_in_record(&record, &id)?,
        (None, None) => return Err(corrupt("the record holding the LCT document is missing")),
    };
    Ok(Some(LctRow {
        lct_id: LctId::parse(&id).map_err(|_| corrupt("lct_id"))?,
        society_id: LctId::parse(&soc).map_err(|_| corrupt("society_id"))?,
        public_key: parse_key(&pk)?,
        entity_type: EntityType::parse(&et).ok_or_else(|| corrupt("entity_type"))?,
        status: LctStatus::parse(&st).ok_or_else(|| corrupt("status"))?,
        document,
        status_reason: reason,
        revocation: revocation.map(|r| parse_json(&r, "revocation")).transpose()?,
        superseded_by: sup.map(|s| LctId::parse(&s).map_err(|_| corrupt("superseded_by"))).transpose()?,
        overlap_until: overlap.map(Timestamp),
        ledger_ref: Hash::parse(&lref).map_err(|_| corrupt("ledger_ref"))?,
        updated_at: Timestamp(upd),
    }))
}

/// An LCT's society, entity type and status: what the apply path reads of
/// an existing LCT (a rebuild into a scratch store has no ledger rows to
/// read documents from).
fn lct_state(conn: &Connection, id: &str) -> Result<Option<(LctId, EntityType, LctStatus)>, StoreError> {
    let row = conn
        .prepare_cached("SELECT society_id, entity_type, status FROM lcts WHERE lct_id = ?1")?
        .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .optional()?;
    let Some((soc, et, st)) = row else { return Ok(None) };
    Ok(Some((
        LctId::parse(&soc).map_err(|_| corrupt("society_id"))?,
        EntityType::parse(&et).ok_or_else(|| corrupt("entity_type"))?,
        LctStatus::parse(&st).ok_or_else(|| corrupt("status"))?,
    )))
}

/// The document of LCT `id` in the ledger record (JSON `text`) that
/// registered it: a genesis member's, a mint's or a transition's new LCT.
fn document_in_record(text: &str, id: &str) -> Result<LctDocument, StoreError> {
    let record: Record = parse_json(text, "ledger record")?;
    let doc = match Event::from_record(&record)? {
        Event::Mint(m) => Some(m.lct),
        Event::Transition(t) => Some(t.lct),
        Event::Genesis(g) => g.members.into_iter().map(|m| m.lct).find(|d| d.lct_id.as_str() == id),
        _ => None,
    };
    doc.filter(|d| d.lct_id.as_str() == id)
        .ok_or_else(|| corrupt(&format!("ledger record {} {} does not register {id}", record.kind, record.seq)))
}

/// What authentication needs of an LCT: key and status (no document parse).
#[derive(Debug, Clone)]
pub struct SignerRow {
    pub public_key: PublicKey,
    pub status: LctStatus,
    pub overlap_until: Option<Timestamp>,
    pub entity_type: EntityType,
    /// From when the LCT may sign no records, whatever its status says now:
    /// the earliest of the record that set its status (for a revoked LCT
    /// the first revocation, for a suspended one the suspension), the
    /// suspension its register holds, and the end of its rotation overlap.
    /// Each is the same on every node once the same records applied, so the
    /// result is too.
    pub since: Timestamp,
}

/// A stored public key. Decoding one decompresses a curve point (about 10 µs,
/// paid by every signed request on the request task and again on the writer);
/// the mapping from the stored text to the key is a pure function, so a
/// process-wide cache is always right. Bounded: emptied when it grows past
/// `MAX_CACHED_KEYS`.
fn parse_key(text: &str) -> Result<PublicKey, StoreError> {
    const MAX_CACHED_KEYS: usize = 100_000;
    type Cache = std::sync::RwLock<std::collections::HashMap<Box<str>, PublicKey>>;
    static KEYS: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Default::default);
    if let Ok(m) = KEYS.read()
        && let Some(k) = m.get(text)
    {
        return Ok(*k);
    }
    let key = PublicKey::parse(text).map_err(|_| corrupt("public_key"))?;
    if let Ok(mut m) = KEYS.write() {
        if m.len() >= MAX_CACHED_KEYS {
            m.clear();
        }
        m.insert(text.into(), key);
    }
    Ok(key)
}

/// Load an LCT's key and status.
pub fn load_signer(conn: &Connection, id: &str) -> Result<Option<SignerRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT public_key, status, overlap_until, entity_type, updated_at,
                    CASE WHEN status_register = 'suspended' THEN status_at END
               FROM lcts WHERE lct_id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()?;
    let Some((pk, st, overlap, et, updated, suspended)) = row else { return Ok(None) };
    let since = [overlap, suspended].into_iter().flatten().fold(updated, i64::min);
    Ok(Some(SignerRow {
        public_key: parse_key(&pk)?,
        status: LctStatus::parse(&st).ok_or_else(|| corrupt("status"))?,
        overlap_until: overlap.map(Timestamp),
        entity_type: EntityType::parse(&et).ok_or_else(|| corrupt("entity_type"))?,
        since: Timestamp(since),
    }))
}

/// Whether an LCT id is registered.
pub fn lct_exists(conn: &Connection, id: &LctId) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("SELECT 1 FROM lcts WHERE lct_id = ?1")?.exists([id.as_str()])?)
}

/// Roles of an LCT in a society.
pub fn roles_of(conn: &Connection, society: &str, lct: &str) -> Result<Vec<String>, StoreError> {
    let mut st = conn.prepare_cached("SELECT role FROM roles WHERE society_id = ?1 AND lct_id = ?2 ORDER BY role")?;
    let rows = st.query_map([society, lct], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// Register an LCT; `home` is the node that recorded it (its account's
/// owner), `record` the ledger row of the record that carries `doc`.
fn insert_lct(
    conn: &Connection,
    society: &LctId,
    doc: &LctDocument,
    (at, home, record): (Timestamp, &LctId, i64),
    lref: &Hash,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, doc_record, ledger_ref, created_at, updated_at, home)
         VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?7, ?8)",
    )?
    .execute(params![
        doc.lct_id.as_str(),
        society.as_str(),
        doc.binding.public_key.to_string(),
        doc.binding.entity_type.as_str(),
        record,
        lref.to_string(),
        at.secs(),
        home.as_str()
    ])?;
    Ok(())
}

fn set_status(
    conn: &Connection,
    id: &LctId,
    to: LctStatus,
    reason: Option<&str>,
    at: Timestamp,
    lref: &Hash,
) -> Result<Effect, StoreError> {
    let (_, entity_type, from) =
        lct_state(conn, id.as_str())?.ok_or_else(|| corrupt("status change of an unknown LCT"))?;
    if from == LctStatus::Revoked && to != LctStatus::Revoked {
        // A revocation is terminal whichever order peers apply records in
        // (decisions/0016): a suspension, reinstatement or rotation recorded
        // concurrently on another node changes nothing once it is revoked.
        // Only a node's own writes check the lifecycle before recording.
        return Ok(Effect::Status { entity_type, from, to: from });
    }
    conn.prepare_cached(
        "UPDATE lcts SET status = ?2, status_reason = ?3, ledger_ref = ?4, updated_at = ?5 WHERE lct_id = ?1",
    )?
    .execute(params![id.as_str(), to.as_str(), reason, lref.to_string(), at.secs()])?;
    Ok(Effect::Status { entity_type, from, to })
}

/// A suspension (`to` suspended) or reinstatement (`to` active) of LCT `id`.
/// They form a last-writer-wins register per LCT, ordered by (record time,
/// author, seq) like role changes (decisions/0019): the stamp of the newest
/// one applied is kept, and an older one arriving later changes nothing. A
/// revocation or a rotation dominates the register whichever order they
/// arrive in: a revoked or superseded LCT keeps that status, while the
/// register still follows the newest stamp. So every node ends with the same
/// row in any arrival order (decisions/0016, session-25 addendum).
fn apply_status_change(
    conn: &Connection,
    id: &LctId,
    to: LctStatus,
    reason: Option<&str>,
    stamp: ChangeStamp<'_>,
    lref: &Hash,
) -> Result<Effect, StoreError> {
    let (_, entity_type, from) =
        lct_state(conn, id.as_str())?.ok_or_else(|| corrupt("status change of an unknown LCT"))?;
    let unchanged = Effect::Status { entity_type, from, to: from };
    let seq = i64::try_from(stamp.seq).unwrap_or(i64::MAX);
    let newer_applied: bool = conn
        .prepare_cached(
            "SELECT status_at IS NOT NULL AND (status_at, status_author, status_seq) >= (?2, ?3, ?4)
               FROM lcts WHERE lct_id = ?1",
        )?
        .query_row(params![id.as_str(), stamp.at.secs(), stamp.author, seq], |r| r.get(0))?;
    if newer_applied {
        return Ok(unchanged);
    }
    conn.prepare_cached(
        "UPDATE lcts SET status_at = ?2, status_author = ?3, status_seq = ?4, status_register = ?5 WHERE lct_id = ?1",
    )?
    .execute(params![id.as_str(), stamp.at.secs(), stamp.author, seq, to.as_str()])?;
    if matches!(from, LctStatus::Revoked | LctStatus::Superseded) {
        return Ok(unchanged);
    }
    set_status(conn, id, to, reason, stamp.at, lref)
}

/// The stamp (record time, author, seq) of the suspension or reinstatement
/// of LCT `id` that decided its status register, if any.
pub fn status_stamp(conn: &Connection, id: &str) -> Result<Option<(Timestamp, String, u64)>, StoreError> {
    let row: Option<(Option<i64>, Option<String>, Option<i64>)> = conn
        .prepare_cached("SELECT status_at, status_author, status_seq FROM lcts WHERE lct_id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(match row {
        Some((Some(at), Some(author), Some(seq))) => Some((Timestamp(at), author, u64::try_from(seq).unwrap_or(0))),
        _ => None,
    })
}

/// Whether `hash` is the hash of a law version this store holds.
pub fn law_known(conn: &Connection, hash: &Hash) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("SELECT 1 FROM law_versions WHERE law_hash = ?1")?.exists([hash.to_string()])?)
}

/// The stamp (record time, author, seq) of the newest change of `role` of
/// LCT `id` in `soc` applied here, if any.
pub fn role_stamp(
    conn: &Connection,
    soc: &str,
    id: &str,
    role: &str,
) -> Result<Option<(Timestamp, String, u64)>, StoreError> {
    let row: Option<(i64, String, i64)> = conn
        .prepare_cached("SELECT at, author, seq FROM role_changes WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3")?
        .query_row([soc, id, role], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(at, author, seq)| (Timestamp(at), author, u64::try_from(seq).unwrap_or(0))))
}

/// When LCT `id` was rotated already by a transition that sorts before one
/// at `at` registering `new` (by time, then new LCT id: both stay in the
/// rows, whatever changes the LCTs later), the effect of keeping it; `None`
/// when the new rotation is to be applied.
fn earlier_rotation(conn: &Connection, id: &LctId, at: Timestamp, new: &LctId) -> Result<Option<Effect>, StoreError> {
    let row: Option<(String, String, i64, String)> = conn
        .prepare_cached(
            "SELECT o.entity_type, o.status, n.created_at, n.lct_id FROM lcts o
               JOIN lcts n ON n.lct_id = o.superseded_by
              WHERE o.lct_id = ?1",
        )?
        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((et, status, kept_at, kept_id)) = row else { return Ok(None) };
    if (at.secs(), new.as_str()) < (kept_at, kept_id.as_str()) {
        return Ok(None);
    }
    let entity_type = EntityType::parse(&et).ok_or_else(|| corrupt("entity_type"))?;
    let status = LctStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
    Ok(Some(Effect::Status { entity_type, from: status, to: status }))
}

/// When LCT `id` is revoked already by a revocation that sorts before one
/// at `at` recorded as `lref` (by time, then record hash), the effect of
/// keeping it; `None` when the new revocation is to be applied.
fn earlier_revocation(conn: &Connection, id: &LctId, at: Timestamp, lref: &Hash) -> Result<Option<Effect>, StoreError> {
    let row: Option<(String, String, i64, String)> = conn
        .prepare_cached("SELECT entity_type, status, updated_at, ledger_ref FROM lcts WHERE lct_id = ?1")?
        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((et, status, kept_at, kept_ref)) = row else { return Ok(None) };
    if status != LctStatus::Revoked.as_str() || (at.secs(), lref.to_string()) < (kept_at, kept_ref) {
        return Ok(None);
    }
    let entity_type = EntityType::parse(&et).ok_or_else(|| corrupt("entity_type"))?;
    Ok(Some(Effect::Status { entity_type, from: LctStatus::Revoked, to: LctStatus::Revoked }))
}

fn payload<T: serde::de::DeserializeOwned>(r: &Record) -> Result<T, StoreError> {
    // Read from the tree in place: no copy of it (a received mint's payload
    // is about a hundred nodes).
    T::deserialize(&r.payload).map_err(|e| StoreError::Corrupt(format!("{} payload: {e}", r.kind)))
}

/// A typed record payload.
#[derive(Debug, Clone)]
pub enum Event {
    Genesis(Genesis),
    Mint(Mint),
    Suspend(StatusChange),
    Reinstate(StatusChange),
    Revoke(Revoke),
    Transition(Transition),
    LawPublish(LawPublish),
    Interpretation(Interpretation),
    Delegate(Delegate),
    RevokeDelegation(RevokeDelegation),
    ApproveDelegation(ApproveDelegation),
    AuthDecision(AuthDecision),
    AtpMint(AtpMint),
    AtpCharge(AtpCharge),
    AtpTransfer(AtpTransfer),
    AtpSlash(AtpSlash),
    Outcome(ReputationOutcome),
    Allocate(ResourceAllocate),
    Usage(ResourceUsage),
    Release(ResourceRelease),
    Rates(ResourceRates),
    GraphTriple(GraphTriple),
    Expire(ExpireDelegations),
    RoleGrant(RoleChange),
    RoleRevoke(RoleChange),
}

impl Event {
    /// The record kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Genesis(_) => kind::SOCIETY_GENESIS,
            Event::Mint(_) => kind::LCT_MINT,
            Event::Suspend(_) => kind::LCT_SUSPEND,
            Event::Reinstate(_) => kind::LCT_REINSTATE,
            Event::Revoke(_) => kind::LCT_REVOKE,
            Event::Transition(_) => kind::LCT_TRANSITION,
            Event::LawPublish(_) => kind::LAW_PUBLISH,
            Event::Interpretation(_) => kind::LAW_INTERPRETATION,
            Event::Delegate(_) => kind::AUTH_DELEGATE,
            Event::RevokeDelegation(_) => kind::AUTH_REVOKE,
            Event::ApproveDelegation(_) => kind::AUTH_APPROVE,
            Event::AuthDecision(_) => kind::AUTH_DECISION,
            Event::AtpMint(_) => kind::ATP_MINT,
            Event::AtpCharge(_) => kind::ATP_CHARGE,
            Event::AtpTransfer(_) => kind::ATP_TRANSFER,
            Event::AtpSlash(_) => kind::ATP_SLASH,
            Event::Outcome(_) => kind::REPUTATION_OUTCOME,
            Event::Allocate(_) => kind::RESOURCE_ALLOCATE,
            Event::Usage(_) => kind::RESOURCE_USAGE,
            Event::Release(_) => kind::RESOURCE_RELEASE,
            Event::Rates(_) => kind::RESOURCE_RATES,
            Event::GraphTriple(_) => kind::GRAPH_TRIPLE,
            Event::Expire(_) => kind::AUTH_EXPIRE,
            Event::RoleGrant(_) => kind::ROLE_GRANT,
            Event::RoleRevoke(_) => kind::ROLE_REVOKE,
        }
    }

    /// Read the typed payload of a record.
    pub fn from_record(r: &Record) -> Result<Event, StoreError> {
        Ok(match r.kind.as_str() {
            kind::SOCIETY_GENESIS => Event::Genesis(payload(r)?),
            kind::LCT_MINT => Event::Mint(payload(r)?),
            kind::LCT_SUSPEND => Event::Suspend(payload(r)?),
            kind::LCT_REINSTATE => Event::Reinstate(payload(r)?),
            kind::LCT_REVOKE => Event::Revoke(payload(r)?),
            kind::LCT_TRANSITION => Event::Transition(payload(r)?),
            kind::LAW_PUBLISH => Event::LawPublish(payload(r)?),
            kind::LAW_INTERPRETATION => Event::Interpretation(payload(r)?),
            kind::AUTH_DELEGATE => Event::Delegate(payload(r)?),
            kind::AUTH_REVOKE => Event::RevokeDelegation(payload(r)?),
            kind::AUTH_APPROVE => Event::ApproveDelegation(payload(r)?),
            kind::AUTH_DECISION => Event::AuthDecision(payload(r)?),
            kind::ATP_MINT => Event::AtpMint(payload(r)?),
            kind::ATP_CHARGE => Event::AtpCharge(payload(r)?),
            kind::ATP_TRANSFER => Event::AtpTransfer(payload(r)?),
            kind::ATP_SLASH => Event::AtpSlash(payload(r)?),
            kind::REPUTATION_OUTCOME => Event::Outcome(payload(r)?),
            kind::RESOURCE_ALLOCATE => Event::Allocate(payload(r)?),
            kind::RESOURCE_USAGE => Event::Usage(payload(r)?),
            kind::RESOURCE_RELEASE => Event::Release(payload(r)?),
            kind::RESOURCE_RATES => Event::Rates(payload(r)?),
            kind::GRAPH_TRIPLE => Event::GraphTriple(payload(r)?),
            kind::AUTH_EXPIRE => Event::Expire(payload(r)?),
            kind::ROLE_GRANT => Event::RoleGrant(payload(r)?),
            kind::ROLE_REVOKE => Event::RoleRevoke(payload(r)?),
            other => return Err(StoreError::Corrupt(format!("unknown record kind {other:?}"))),
        })
    }

    /// The signed request that caused the event, if it carries one.
    pub fn evidence(&self) -> Option<&SignedRequest> {
        match self {
            Event::Genesis(_) | Event::Expire(_) => None,
            Event::Mint(p) => Some(&p.evidence),
            Event::Suspend(p) | Event::Reinstate(p) => Some(&p.evidence),
            Event::Revoke(p) => Some(&p.evidence),
            Event::Transition(p) => Some(&p.evidence),
            Event::LawPublish(p) => Some(&p.evidence),
            Event::Interpretation(p) => Some(&p.evidence),
            Event::Delegate(p) => Some(&p.evidence),
            Event::RevokeDelegation(p) => Some(&p.evidence),
            Event::ApproveDelegation(p) => Some(&p.evidence),
            Event::AuthDecision(p) => Some(&p.evidence),
            Event::AtpMint(p) => Some(&p.evidence),
            Event::AtpCharge(p) => Some(&p.evidence),
            Event::AtpTransfer(p) => Some(&p.evidence),
            Event::AtpSlash(p) => Some(&p.evidence),
            Event::Outcome(p) => Some(&p.evidence),
            Event::Allocate(p) => Some(&p.evidence),
            Event::Usage(p) => Some(&p.evidence),
            Event::Release(p) => p.evidence.as_ref(),
            Event::Rates(p) => Some(&p.evidence),
            Event::GraphTriple(p) => Some(&p.evidence),
            Event::RoleGrant(p) | Event::RoleRevoke(p) => Some(&p.evidence),
        }
    }

    /// The request that caused the event, for the events that carry one
    /// and are recorded on the writer's hot path.
    fn hot_evidence(&self) -> Option<&SignedRequest> {
        match self {
            Event::AuthDecision(p) => Some(&p.evidence),
            Event::Outcome(p) => Some(&p.evidence),
            _ => None,
        }
    }
}

/// An event's payload alone (the record's `payload`), serialisable.
struct PayloadOf<'a>(&'a Event);

impl serde::Serialize for PayloadOf<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Event::Genesis(p) => p.serialize(s),
            Event::Mint(p) => p.serialize(s),
            Event::Suspend(p) | Event::Reinstate(p) => p.serialize(s),
            Event::Revoke(p) => p.serialize(s),
            Event::Transition(p) => p.serialize(s),
            Event::LawPublish(p) => p.serialize(s),
            Event::Interpretation(p) => p.serialize(s),
            Event::Delegate(p) => p.serialize(s),
            Event::RevokeDelegation(p) => p.serialize(s),
            Event::ApproveDelegation(p) => p.serialize(s),
            Event::AuthDecision(p) => p.serialize(s),
            Event::AtpMint(p) => p.serialize(s),
            Event::AtpCharge(p) => p.serialize(s),
            Event::AtpTransfer(p) => p.serialize(s),
            Event::AtpSlash(p) => p.serialize(s),
            Event::Outcome(p) => p.serialize(s),
            Event::Allocate(p) => p.serialize(s),
            Event::Usage(p) => p.serialize(s),
            Event::Release(p) => p.serialize(s),
            Event::Rates(p) => p.serialize(s),
            Event::GraphTriple(p) => p.serialize(s),
            Event::Expire(p) => p.serialize(s),
            Event::RoleGrant(p) | Event::RoleRevoke(p) => p.serialize(s),
        }
    }
}

/// An event with its canonical payload, prepared outside the writer.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event: Event,
    pub payload: web4_core::ledger::CanonicalPayload,
}

impl Prepared {
    /// Canonicalise the event's payload.
    pub fn new(event: Event) -> Result<Prepared, StoreError> {
        let payload = web4_core::ledger::CanonicalPayload::of(&PayloadOf(&event))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Prepared { event, payload })
    }
}

/// A request's evidence canonicalised before the writer takes the job, so
/// that the writer splices it into the payload instead of serialising and
/// canonicalising it again (the body is most of a decision's or an
/// outcome's payload).
#[derive(Debug, Clone)]
pub struct EvidenceJcs {
    jcs: Vec<u8>,
    signature: web4_core::Signature,
}

impl EvidenceJcs {
    /// Canonicalise `ev`.
    pub fn new(ev: &SignedRequest) -> Result<Self, StoreError> {
        let jcs = web4_core::crypto::canonical_json(ev).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(EvidenceJcs { jcs, signature: ev.signature })
    }
}

impl Prepared {
    /// [`Prepared::new`] for an event whose evidence was canonicalised
    /// before (`evidence`): the same payload, with less work on the writer.
    /// An event without evidence, or with other evidence than `evidence`
    /// was made from, is prepared the plain way.
    pub fn with_evidence(event: Event, evidence: &EvidenceJcs) -> Result<Prepared, StoreError> {
        if event.hot_evidence().is_none_or(|e| e.signature != evidence.signature) {
            return Prepared::new(event);
        }
        // The evidence's own value is not serialised again.
        let payload =
            web4_core::ledger::CanonicalPayload::of_with_member(&PayloadOf(&event), "evidence", &evidence.jcs)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Prepared { event, payload })
    }
}

/// Whether the law with `law_hash` (a version of `society`'s law) requires
/// root delegations to be approved before they take effect.
fn law_requires_approval(conn: &Connection, society: &LctId, law_hash: Hash) -> Result<bool, StoreError> {
    let v: Option<Option<i64>> = conn
        .prepare_cached(
            "SELECT json_extract(law, '$.delegation.requires_approval') FROM law_versions
             WHERE society_id = ?1 AND law_hash = ?2",
        )?
        .query_row(params![society.as_str(), law_hash.to_string()], |r| r.get(0))
        .optional()?;
    Ok(v.flatten() == Some(1))
}

/// Apply one record, held in row `row` of the ledger, to the projections.
pub fn apply(conn: &Connection, r: &Record, lref: &Hash, row: i64) -> Result<Vec<Effect>, StoreError> {
    apply_event(conn, &Event::from_record(r)?, (&r.author, r.seq, row), r.timestamp, lref, r.law_hash)
}

/// Apply a typed event recorded by `author` as `seq` at `at` with hash
/// `lref`, held in row `row` of the ledger: the state projections, then the
/// graph's.
pub fn apply_event(
    conn: &Connection,
    ev: &Event,
    (author, seq, row): (&LctId, u64, i64),
    at: Timestamp,
    lref: &Hash,
    law_hash: Hash,
) -> Result<Vec<Effect>, StoreError> {
    let void = !matches!(ev, Event::Expire(_)) && voided(conn, author, ev)?;
    apply_event_as(conn, ev, (author, seq, row), at, (lref, law_hash), void)
}

/// [`apply_event`], told whether the record is voided ([`voided`]; an
/// expiry's grants are sorted here instead), so that a caller that already
/// knows does not ask again.
fn apply_event_as(
    conn: &Connection,
    ev: &Event,
    (author, seq, row): (&LctId, u64, i64),
    at: Timestamp,
    (lref, law_hash): (&Hash, Hash),
    void: bool,
) -> Result<Vec<Effect>, StoreError> {
    // One key, one LCT id: the same key minted on two nodes before either
    // heard of the other (a client retrying a timed-out mint elsewhere) makes
    // two valid records registering one id. The later one here is kept in
    // the ledger, so its author's chain stays whole, but changes nothing; its
    // author is a losing home of that LCT here (decisions/0025 and its
    // session-30 addendum). Local writes never get here: they refuse an id
    // that exists before they append.
    let registers = match ev {
        Event::Mint(m) => Some(&m.lct.lct_id),
        Event::Transition(t) => Some(&t.lct.lct_id),
        _ => None,
    };
    if let Some(id) = registers
        && lct_exists(conn, id)?
    {
        tracing::warn!(
            service = "identity",
            event = "lct_registration_conflict",
            lct_id = %id,
            ledger_ref = %lref,
            author = %author,
            "a second registration of an LCT id: the record is kept, the first registration stands"
        );
        let (old, citizen_role) = match ev {
            Event::Transition(t) => (Some(t.old.as_str()), None),
            Event::Mint(m) => (None, m.lct.birth_certificate.as_ref().map(|c| c.citizen_role.as_str())),
            _ => (None, None),
        };
        lose_registration(conn, id, (author, at, lref), old, citizen_role)?;
        return Ok(vec![Effect::RegistrationConflict]);
    }
    // What a losing home of a registration recorded about that LCT's
    // account or reputation is kept without effect.
    if void {
        void_what_it_opens(conn, ev, author)?;
        return Ok(vec![Effect::Voided]);
    }
    // An expiry ends the grants that are not void for its author; one that
    // ends none of them is voided.
    if let Event::Expire(p) = ev {
        let kept = grants_not_void(conn, &p.grant_ids, author)?;
        if kept.len() < p.grant_ids.len() {
            if kept.is_empty() {
                return Ok(vec![Effect::Voided]);
            }
            let only = Event::Expire(ExpireDelegations { grant_ids: kept });
            return project(conn, &only, (author, seq, row), at, (lref, law_hash));
        }
    }
    project(conn, ev, (author, seq, row), at, (lref, law_hash))
}

/// The state projections, then the graph's, of an event that applies.
fn project(
    conn: &Connection,
    ev: &Event,
    (author, seq, row): (&LctId, u64, i64),
    at: Timestamp,
    (lref, law_hash): (&Hash, Hash),
) -> Result<Vec<Effect>, StoreError> {
    let mut effects = apply_state(conn, ev, (author, seq, row), at, (lref, law_hash))?;
    let lref = lref.to_string();
    let src = crate::graph::Source { lref: &lref, at: at.secs(), author: author.as_str(), seq };
    project_graph(conn, ev, &mut effects, src)?;
    Ok(effects)
}

/// Keep a registration of LCT `id` that does not stand: its author is a
/// losing home, whose records about that LCT's account and reputation are
/// voided ([`voided`]).
fn lose_registration(
    conn: &Connection,
    id: &LctId,
    (author, at, lref): (&LctId, Timestamp, &Hash),
    old: Option<&str>,
    citizen_role: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO lost_registrations (lct_id, ledger_ref, author, at, old, citizen_role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id.as_str(), lref.to_string(), author.as_str(), at.secs(), old, citizen_role])?;
    Ok(())
}

/// Whether `event`, recorded by `author`, is kept without effect: it
/// changes the account or reputation of an LCT whose registration by
/// `author` (or by the LCT `author` succeeds) did not stand here, or a
/// delegation tree or lease that such a record opened. Refusing it instead
/// would stop its author's chain on this node for good, every later record
/// of that node with it (decisions/0025, session-30 addendum).
pub fn voided(conn: &Connection, author: &LctId, event: &Event) -> Result<bool, StoreError> {
    // An expiry is voided only when every grant it ends is void for its
    // author; the others expire ([`apply_event`] skips the void ones).
    if let Event::Expire(p) = event {
        return Ok(!p.grant_ids.is_empty() && grants_not_void(conn, &p.grant_ids, author)?.is_empty());
    }
    // A root delegation without a budget from an account changes no owned
    // object, but its client's home records it (the HTTP layer forwards it
    // there): a losing home's would open a grant the home's record of the
    // same signed request opens too, with the same id.
    if let Event::Delegate(p) = event
        && p.delegation.parent.is_none()
        && !p.delegation.funded
        && lost_home(conn, p.delegation.client.as_str(), author)?
    {
        return Ok(true);
    }
    for obj in Owned::of_event(event) {
        let hit = match &obj {
            Owned::Grant(_) | Owned::Lease(_) => void_for(conn, &obj, author)?,
            Owned::Account(l) | Owned::Reputation(l) => lost_home(conn, l, author)?,
            Owned::Society | Owned::Rates(_) | Owned::Role(..) => false,
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether delegation tree or lease `obj` was opened by a voided record of
/// `author` (or of the LCT `author` succeeds) and `author` does not own it:
/// the object is void for that author only. Another node's real grant or
/// lease with the same id (the same signed request recorded by two nodes)
/// stays its owner's.
pub fn void_for(conn: &Connection, obj: &Owned, author: &LctId) -> Result<bool, StoreError> {
    let (kind, id) = match obj {
        Owned::Grant(g) => ("grant", g.as_str()),
        Owned::Lease(l) => ("lease", l.as_str()),
        _ => return Ok(false),
    };
    let voiders: Vec<String> = conn
        .prepare_cached("SELECT author FROM void_objects WHERE kind = ?1 AND id = ?2")?
        .query_map([kind, id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    is_voider(conn, voiders, obj, author)
}

/// Whether `author` is, or succeeds, the author of a registration of `lct`
/// that did not stand, and does not own `lct`'s account.
fn lost_home(conn: &Connection, lct: &str, author: &LctId) -> Result<bool, StoreError> {
    let losers: Vec<String> = conn
        .prepare_cached("SELECT author FROM lost_registrations WHERE lct_id = ?1")?
        .query_map([lct], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    is_voider(conn, losers, &Owned::Account(lct.to_owned()), author)
}

/// Whether `author` is one of `recorded` (or the LCT one of them was rotated
/// to) and does not own `obj`. The owner is read only when it is.
fn is_voider(conn: &Connection, recorded: Vec<String>, obj: &Owned, author: &LctId) -> Result<bool, StoreError> {
    for lct in recorded {
        if lct == author.as_str() || successors(conn, &lct)?.iter().any(|s| s == author.as_str()) {
            return Ok(owner_of(conn, obj)?.as_deref() != Some(author.as_str()));
        }
    }
    Ok(false)
}

/// The grants of `ids` that are not void for `author` ([`void_for`]).
fn grants_not_void(conn: &Connection, ids: &[String], author: &LctId) -> Result<Vec<String>, StoreError> {
    let mut kept = Vec::with_capacity(ids.len());
    for g in ids {
        if !void_for(conn, &Owned::Grant(g.clone()), author)? {
            kept.push(g.clone());
        }
    }
    Ok(kept)
}

/// The delegation tree or lease a voided record of `author` would have
/// opened: void for that author ([`void_for`]), so its later records about it
/// are voided too.
fn void_what_it_opens(conn: &Connection, event: &Event, author: &LctId) -> Result<(), StoreError> {
    let opened = match event {
        Event::Delegate(p) => Some(("grant", p.delegation.grant_id.as_str())),
        Event::Allocate(a) => Some(("lease", a.allocation_id.as_str())),
        _ => None,
    };
    if let Some((kind, id)) = opened {
        conn.prepare_cached("INSERT OR IGNORE INTO void_objects (kind, id, author) VALUES (?1, ?2, ?3)")?.execute([
            kind,
            id,
            author.as_str(),
        ])?;
    }
    Ok(())
}

/// The graph's status triple effects for LCT `id` as its row has it now.
fn status_now(conn: &Connection, id: &LctId) -> Result<Vec<Effect>, StoreError> {
    let (_, _, status) = lct_state(conn, id.as_str())?.ok_or_else(|| corrupt("status of an unknown LCT"))?;
    Ok(crate::graph::status_effects(id.as_str(), status))
}

/// The graph's view of `role` of LCT `id` as the roles table has it now: the
/// `hasRole` literal, and the society's `hasAuthority` / `hasLawOracle` edge.
fn role_graph(
    conn: &Connection,
    soc: &str,
    id: &str,
    role: &str,
    effects: &mut Vec<Effect>,
    src: crate::graph::Source<'_>,
) -> Result<(), StoreError> {
    let held = roles_of(conn, soc, id)?.iter().any(|r| r == role);
    effects.push(crate::graph::role_effect(id, role, held));
    effects.extend(role_edge(conn, soc, id, role, held, Some(src))?);
    Ok(())
}

/// The edge a role-granting role gives its holder in the graph, stamped by
/// the record that decided the role's register, or by `registration` (the
/// record that registered the LCT with the role: genesis, or the rotation it
/// took the role by) when no record changed that role of that LCT. A
/// function of the state, not of the order records arrived in
/// (decisions/0016, session-29 addendum).
fn role_edge(
    conn: &Connection,
    soc: &str,
    id: &str,
    role: &str,
    held: bool,
    registration: Option<crate::graph::Source<'_>>,
) -> Result<Vec<Effect>, StoreError> {
    use crate::graph::{self, Triple, w4};
    let Some(edge) = (match role {
        "authority" => Some("hasAuthority"),
        "law-oracle" => Some("hasLawOracle"),
        _ => None,
    }) else {
        return Ok(vec![]);
    };
    if !held {
        return Ok(graph::remove(conn, soc, &w4(edge), id)?.into_iter().collect());
    }
    let register: Option<(String, i64, String, i64)> = conn
        .prepare_cached(
            "SELECT ledger_ref, at, author, seq FROM role_changes WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3",
        )?
        .query_row([soc, id, role], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let src = match &register {
        Some((lref, at, author, seq)) => {
            crate::graph::Source { lref, at: *at, author, seq: u64::try_from(*seq).unwrap_or(0) }
        }
        None => match registration {
            Some(src) => src,
            None => return Ok(vec![]),
        },
    };
    graph::put(conn, Triple::edge(soc, edge, id, 1.0), src)
}

/// The successor of `id`: the LCT registered by the rotation of `id` that
/// stands (decisions/0016), if `id` was rotated.
fn successor_of(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT superseded_by FROM lcts WHERE lct_id = ?1")?
        .query_row([id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// The LCTs that rotations of `id` registered, in order (at most 16).
fn successors(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut cur = id.to_owned();
    while out.len() < 16 {
        let next: Option<String> = successor_of(conn, &cur)?;
        match next {
            Some(n) => {
                out.push(n.clone());
                cur = n;
            }
            None => break,
        }
    }
    Ok(out)
}

/// The graph triples of an event (docs/decisions/0013).
fn project_graph(
    conn: &Connection,
    ev: &Event,
    effects: &mut Vec<Effect>,
    src: crate::graph::Source<'_>,
) -> Result<(), StoreError> {
    use crate::graph::{self, Triple, w4};
    let add = |effects: &mut Vec<Effect>, t: Triple| -> Result<(), StoreError> {
        effects.extend(graph::add(conn, t, src)?);
        Ok(())
    };
    match ev {
        Event::Genesis(g) => {
            let soc = g.society_id.as_str();
            add(effects, Triple::iri(soc, graph::RDF_TYPE, &w4("Society")))?;
            effects.extend(graph::law_triples(conn, soc, &g.law, src)?);
            for m in &g.members {
                let id = m.lct.lct_id.as_str();
                effects.extend(graph::lct_triples(conn, soc, &m.lct, src)?);
                for role in &m.roles {
                    effects.push(graph::role_effect(id, role, true));
                    match role.as_str() {
                        "authority" => add(effects, Triple::edge(soc, "hasAuthority", id, 1.0))?,
                        "law-oracle" => add(effects, Triple::edge(soc, "hasLawOracle", id, 1.0))?,
                        _ => {}
                    }
                }
            }
        }
        Event::Mint(m) => {
            effects.extend(graph::lct_triples(conn, m.society_id.as_str(), &m.lct, src)?);
            if let Some(bc) = &m.lct.birth_certificate {
                effects.push(graph::role_effect(m.lct.lct_id.as_str(), &bc.citizen_role, true));
            }
            project_role_effects(conn, m.society_id.as_str(), effects, src, &[m.lct.lct_id.to_string()])?;
        }
        // The status triple follows the `lcts` row, which the order-independent
        // rules of `apply_status_change` and `set_status` decided.
        Event::Suspend(StatusChange { lct_id, .. })
        | Event::Reinstate(StatusChange { lct_id, .. })
        | Event::Revoke(Revoke { lct_id, .. }) => {
            effects.extend(status_now(conn, lct_id)?);
            if effects.iter().any(|e| matches!(e, Effect::Role { .. }))
                && let Some((society, ..)) = lct_state(conn, lct_id.as_str())?
            {
                project_role_effects(conn, society.as_str(), effects, src, &[])?;
            }
        }
        Event::Transition(t) => {
            let (society, ..) =
                lct_state(conn, t.old.as_str())?.ok_or_else(|| corrupt("transition of an unknown LCT"))?;
            let new = t.lct.lct_id.as_str();
            effects.extend(graph::lct_triples(conn, society.as_str(), &t.lct, src)?);
            for role in roles_of(conn, society.as_str(), new)? {
                role_graph(conn, society.as_str(), new, &role, effects, src)?;
            }
            // The roles a successor this rotation displaced (and its own
            // successors) no longer hold, and a role-granting role's keeper.
            project_role_effects(conn, society.as_str(), effects, src, &[new.to_owned()])?;
            // The successor the row names (the first rotation, decisions/0016):
            // its edge, and no other's.
            let successor: Option<String> = successor_of(conn, t.old.as_str())?;
            if successor.as_deref() == Some(new) {
                let p = w4("supersededBy");
                let others: Vec<String> = conn
                    .prepare_cached("SELECT o FROM graph_triples WHERE s = ?1 AND p = ?2 AND o != ?3")?
                    .query_map(params![t.old.as_str(), p, new], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                for o in others {
                    effects.extend(graph::remove(conn, t.old.as_str(), &p, &o)?);
                }
                add(effects, Triple::iri(t.old.as_str(), &p, new))?;
            }
            effects.extend(status_now(conn, &t.old)?);
        }
        Event::LawPublish(p) => {
            effects.extend(graph::law_triples(conn, p.society_id.as_str(), &p.law, src)?);
            project_role_effects(conn, p.society_id.as_str(), effects, src, &[])?;
        }
        Event::RoleGrant(c) | Event::RoleRevoke(c) => {
            // The graph follows the roles table, which the newest change
            // decided, for the LCT and the successors its rotations made,
            // and for the LCT that keeps a role-granting role no one holds.
            let soc = c.society_id.as_str();
            let mut done = vec![c.lct_id.to_string()];
            done.extend(successors(conn, c.lct_id.as_str())?);
            for id in &done {
                role_graph(conn, soc, id, &c.role, effects, src)?;
            }
            project_role_effects(conn, soc, effects, src, &done)?;
        }
        Event::Delegate(p) => {
            let d = &p.delegation;
            add(effects, Triple::edge(d.client.as_str(), "delegatesTo", d.agent.as_str(), 1.0))?;
        }
        Event::RevokeDelegation(p) => drop_delegation_edges(conn, &p.grant_id, effects)?,
        Event::Expire(p) => {
            for g in &p.grant_ids {
                drop_delegation_edges(conn, g, effects)?;
            }
        }
        Event::Outcome(o) => {
            let e = o.entity.as_str();
            for w in &o.witnesses {
                add(effects, Triple::edge(e, graph::witness_relation(w.class), w.witness.as_str(), 1.0))?;
            }
            // The Tensor effect was pushed by the state apply, which knows the new values.
        }
        Event::GraphTriple(t) => {
            let kind = match t.object_type.as_str() {
                "iri" => graph::IRI,
                "double" => graph::DOUBLE,
                _ => graph::LITERAL,
            };
            let triple =
                Triple { s: t.subject.clone(), p: t.predicate.clone(), o: t.object.clone(), kind, weight: t.weight };
            // The route refuses the web4: terms other records establish; a
            // peer's record that carries one anyway projects nothing.
            if graph::reserved(&t.predicate).is_none() {
                add(effects, triple)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Remove the `delegatesTo` edges of a closed grant and those derived from it;
/// an edge stays while any grant between the two is live.
fn drop_delegation_edges(conn: &Connection, grant_id: &str, effects: &mut Vec<Effect>) -> Result<(), StoreError> {
    use crate::graph::{self, w4};
    for g in grant_subtree(conn, grant_id)? {
        let Some(row) = load_delegation(conn, &g)? else { continue };
        let (c, a) = (row.delegation.client.as_str(), row.delegation.agent.as_str());
        let live: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM delegations WHERE client = ?1 AND agent = ?2 AND revoked_at IS NULL")?
            .query_row(params![c, a], |r| r.get(0))?;
        if live == 0 {
            effects.extend(graph::remove(conn, c, &w4("delegatesTo"), a)?);
        }
    }
    Ok(())
}

/// When and by whom a role or status change was recorded: the order of
/// such changes (last writer wins).
#[derive(Debug, Clone, Copy)]
struct ChangeStamp<'a> {
    at: Timestamp,
    author: &'a str,
    seq: u64,
}

/// A role change applies when it is newer, by (timestamp, author, seq), than
/// the last one applied for that (society, LCT, role): last writer wins, so
/// every node ends with the same roles whatever order the changes of
/// different authors arrived in; one author's changes keep their chain order
/// within a second (docs/decisions/0019).
/// The change applies to the LCTs that rotations of `id` registered too,
/// each by its own register: a role given or taken from an LCT is given or
/// taken from its successor whichever order the change and the rotation
/// arrived in (decisions/0019, session-25 addendum).
fn apply_role(
    conn: &Connection,
    (soc, id, role): (&str, &str, &str),
    held: bool,
    stamp: ChangeStamp<'_>,
    lref: &str,
) -> Result<Vec<Effect>, StoreError> {
    let mut effects = apply_role_once(conn, (soc, id, role), held, stamp, lref)?;
    for next in successors(conn, id)? {
        effects.extend(apply_role_once(conn, (soc, &next, role), held, stamp, lref)?);
    }
    Ok(effects)
}

/// The roles that grant roles in the society: its law's `identity.role_roles`.
/// Law is published by the founding node alone, so every node holds the same
/// law once it applied the same founder's records.
fn granting_roles(conn: &Connection, society: &str) -> Result<Vec<String>, StoreError> {
    Ok(law_in_force(conn, society)?.map(|law| law.identity().role_roles).unwrap_or_default())
}

/// The society's law in force here (its latest publication applied).
fn law_in_force(
    conn: &Connection,
    society: &str,
) -> Result<Option<std::sync::Arc<web4_core::law::LawDataset>>, StoreError> {
    let Some(hash) = current_law_hash(conn, society)? else { return Ok(None) };
    law_by_hash(conn, &hash)
}

/// The roles LCT `lct` holds or has a register for: those whose holders a
/// change of its status may change.
fn roles_touching(conn: &Connection, society: &str, lct: &str) -> Result<Vec<String>, StoreError> {
    let mut out = roles_of(conn, society, lct)?;
    out.extend(role_rows(conn, "role_changes", society, lct)?.into_iter().map(|r| r.0));
    out.sort();
    out.dedup();
    Ok(out)
}

/// [`keep_a_granting_role_holder`] after LCT `lct`'s status changed, for the
/// roles it holds or has a register for.
fn guard_after_status(conn: &Connection, lct: &LctId) -> Result<Vec<Effect>, StoreError> {
    let Some((society, ..)) = lct_state(conn, lct.as_str())? else { return Ok(vec![]) };
    let which = roles_touching(conn, society.as_str(), lct.as_str())?;
    keep_a_granting_role_holder(conn, society.as_str(), &which)
}

/// No role-granting role is left without an active holder by changes
/// recorded on different nodes (two authorities each taking the other's role
/// at once, or suspending its LCT; each node only refuses taking the role
/// from the last active holder it knows of, decisions/0019). When no active
/// LCT holds such a role by its register (or without one), the active LCT
/// whose register gave it up last (newest by time, author, seq) keeps it,
/// while its register still says revoked; once an active LCT holds the role
/// again, or the law no longer makes it role-granting, it no longer does. A
/// function of the registers, the statuses and the law, each the same on
/// every node in any order; run after every change of one of them, for the
/// roles in `which` (decisions/0019, session-29 addendum).
fn keep_a_granting_role_holder(conn: &Connection, society: &str, which: &[String]) -> Result<Vec<Effect>, StoreError> {
    keep_holders(conn, society, which, false)
}

/// [`keep_a_granting_role_holder`]; with `all`, also for roles the law in
/// force does not make role-granting, whose kept rows it removes (after a
/// law publication or in a migration: otherwise a kept row exists only for
/// a role-granting role, and the others are skipped without a read).
fn keep_holders(conn: &Connection, society: &str, which: &[String], all: bool) -> Result<Vec<Effect>, StoreError> {
    let granting = granting_roles(conn, society)?;
    let mut effects = Vec::new();
    for role in which.iter().filter(|r| all || granting.contains(*r)) {
        // A row whose register says revoked is a kept one.
        let kept: Vec<String> = conn
            .prepare_cached(
                "SELECT rc.lct_id FROM role_changes rc JOIN roles r
                     ON r.society_id = rc.society_id AND r.lct_id = rc.lct_id AND r.role = rc.role
                  WHERE rc.society_id = ?1 AND rc.role = ?2 AND rc.held = 0",
            )?
            .query_map([society, role.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Only a role-granting role no active LCT holds has a keeper.
        let needs_keeper = granting.contains(role)
            && !conn
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM roles r JOIN lcts l ON l.lct_id = r.lct_id
                      WHERE r.society_id = ?1 AND r.role = ?2 AND l.status = 'active'
                        AND NOT EXISTS (SELECT 1 FROM role_changes rc WHERE rc.society_id = r.society_id
                                          AND rc.lct_id = r.lct_id AND rc.role = r.role AND rc.held = 0))",
                )?
                .query_row([society, role.as_str()], |r| r.get::<_, bool>(0))?;
        let keeper: Option<String> = if !needs_keeper {
            None
        } else {
            conn.prepare_cached(
                "SELECT rc.lct_id FROM role_changes rc JOIN lcts l ON l.lct_id = rc.lct_id
                  WHERE rc.society_id = ?1 AND rc.role = ?2 AND rc.held = 0 AND l.status = 'active'
                  ORDER BY rc.at DESC, rc.author DESC, rc.seq DESC, rc.lct_id DESC
                  LIMIT 1",
            )?
            .query_row([society, role.as_str()], |r| r.get(0))
            .optional()?
        };
        for id in kept.iter().filter(|id| keeper.as_deref() != Some(id.as_str())) {
            conn.prepare_cached("DELETE FROM roles WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3")?.execute([
                society,
                id.as_str(),
                role.as_str(),
            ])?;
            effects.push(Effect::Role { lct: id.clone(), role: role.clone(), held: false });
        }
        if let Some(k) = keeper
            && !kept.contains(&k)
        {
            conn.prepare_cached("INSERT OR IGNORE INTO roles (society_id, lct_id, role) VALUES (?1, ?2, ?3)")?
                .execute([society, k.as_str(), role.as_str()])?;
            tracing::warn!(
                service = "identity",
                event = "granting_role_kept",
                lct_id = %k,
                role = %role,
                "changes recorded on different nodes left no active holder of a role-granting role: the LCT that gave it up last keeps it"
            );
            effects.push(Effect::Role { lct: k, role: role.clone(), held: true });
        }
    }
    Ok(effects)
}

/// The role-granting roles of which `lct` is the last active holder: taking
/// its LCT out of service (a suspension, a revocation) would leave the
/// society without an active holder, as taking the role would (decisions/0019).
pub fn last_holder_of(conn: &Connection, society: &str, lct: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let held = roles_of(conn, society, lct)?;
    for role in granting_roles(conn, society)?.into_iter().filter(|r| held.contains(r)) {
        let others: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM roles r JOIN lcts l ON l.lct_id = r.lct_id
                  WHERE r.society_id = ?1 AND r.role = ?2 AND r.lct_id <> ?3 AND l.status = 'active')",
            )?
            .query_row([society, role.as_str(), lct], |r| r.get(0))?;
        if !others {
            out.push(role);
        }
    }
    Ok(out)
}

/// Whether `lct` holds `role` by its register or without one, not only as the
/// keeper of a role-granting role no active LCT holds ([`keeps_role`]).
pub fn holds_role(conn: &Connection, society: &str, lct: &str, role: &str) -> Result<bool, StoreError> {
    Ok(roles_of(conn, society, lct)?.iter().any(|r| r == role) && !keeps_role(conn, society, lct, role)?)
}

/// Whether `lct` holds `role` only as the keeper of a role-granting role no
/// active LCT holds ([`keep_a_granting_role_holder`]): its row is there, its
/// register says revoked.
pub fn keeps_role(conn: &Connection, society: &str, lct: &str, role: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM roles r JOIN role_changes rc
                 ON rc.society_id = r.society_id AND rc.lct_id = r.lct_id AND rc.role = r.role
              WHERE r.society_id = ?1 AND r.lct_id = ?2 AND r.role = ?3 AND rc.held = 0)",
        )?
        .query_row([society, lct, role], |r| r.get(0))?)
}

/// The graph's view of the roles the state apply changed (`Effect::Role`)
/// for LCTs the event's own projection does not cover (`skip`): a displaced
/// successor's, or the keeper of a role-granting role.
fn project_role_effects(
    conn: &Connection,
    soc: &str,
    effects: &mut Vec<Effect>,
    src: crate::graph::Source<'_>,
    skip: &[String],
) -> Result<(), StoreError> {
    let mut changed: Vec<(String, String)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Role { lct, role, .. } if !skip.contains(lct) => Some((lct.clone(), role.clone())),
            _ => None,
        })
        .collect();
    changed.sort();
    changed.dedup();
    for (lct, role) in changed {
        role_graph(conn, soc, &lct, &role, effects, src)?;
    }
    Ok(())
}

/// What a new LCT takes from the LCT it succeeds: the old one's roles, and
/// its role registers with their stamps, so that role changes of the old one
/// applied later reach it alike in any order (decisions/0019). The roles
/// without a register are its first; their effects are its registration's.
fn inherit_roles(conn: &Connection, society: &str, old: &str, new: &str) -> Result<Vec<Effect>, StoreError> {
    for role in roles_of(conn, society, old)? {
        conn.prepare_cached("INSERT OR IGNORE INTO roles (society_id, lct_id, role) VALUES (?1, ?2, ?3)")?
            .execute(params![society, new, role])?;
    }
    let mut effects = Vec::new();
    for (role, held, stamp, r_ref) in role_rows(conn, "role_changes", society, old)? {
        let stamp = ChangeStamp { at: stamp.0, author: &stamp.1, seq: stamp.2 };
        effects.extend(apply_role_once(conn, (society, new, &role), held, stamp, &r_ref)?);
    }
    Ok(effects)
}

/// Role changes of one LCT from `table` (`role_changes`, the registers, or
/// `role_records`, every record that names it): role, held, stamp, record.
#[allow(clippy::type_complexity)]
fn role_rows(
    conn: &Connection,
    table: &str,
    society: &str,
    lct: &str,
) -> Result<Vec<(String, bool, (Timestamp, String, u64), String)>, StoreError> {
    let sql = format!(
        "SELECT role, held, at, author, seq, ledger_ref FROM {table} WHERE society_id = ?1 AND lct_id = ?2 ORDER BY role, at, author, seq"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([society, lct], |r| {
            let seq: i64 = r.get(4)?;
            Ok((r.get(0)?, r.get(1)?, (Timestamp(r.get(2)?), r.get(3)?, u64::try_from(seq).unwrap_or(0)), r.get(5)?))
        })?
        .collect::<Result<_, _>>()?)
}

/// The roles of `lct`, an LCT a rotation registered, made again from what
/// every node holds alike: what it takes from the LCT it is now the
/// successor of (nothing when its rotation lost to another), then the role
/// records that name it, each register keeping the newest stamp as
/// `apply_role` does. Then the same for its own successors. Called when a
/// rotation that sorts first arrives after the one that registered `lct`:
/// the roles `lct` took from the old LCT were never its own
/// (decisions/0016, session-29 addendum).
fn rebuild_roles(conn: &Connection, society: &str, lct: &str) -> Result<Vec<Effect>, StoreError> {
    let mut effects = Vec::new();
    let mut cur = lct.to_owned();
    // `lct` and as many successors as `successors` follows.
    for _ in 0..=16 {
        let before = roles_of(conn, society, &cur)?;
        conn.prepare_cached("DELETE FROM roles WHERE society_id = ?1 AND lct_id = ?2")?.execute([society, &cur])?;
        conn.prepare_cached("DELETE FROM role_changes WHERE society_id = ?1 AND lct_id = ?2")?
            .execute([society, &cur])?;
        let predecessor: Option<String> = conn
            .prepare_cached("SELECT lct_id FROM lcts WHERE superseded_by = ?1")?
            .query_row([&cur], |r| r.get(0))
            .optional()?;
        if let Some(p) = predecessor {
            inherit_roles(conn, society, &p, &cur)?;
        }
        for (role, held, stamp, r_ref) in role_rows(conn, "role_records", society, &cur)? {
            let stamp = ChangeStamp { at: stamp.0, author: &stamp.1, seq: stamp.2 };
            apply_role_once(conn, (society, &cur, &role), held, stamp, &r_ref)?;
        }
        // Every role it held or holds, changed or not: a register may have
        // changed under a role still held, and the graph's edge follows it.
        let after = roles_of(conn, society, &cur)?;
        for r in before.iter().filter(|r| !after.contains(r)) {
            effects.push(Effect::Role { lct: cur.clone(), role: r.clone(), held: false });
        }
        for r in &after {
            effects.push(Effect::Role { lct: cur.clone(), role: r.clone(), held: true });
        }
        let next: Option<String> = successor_of(conn, &cur)?;
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    Ok(effects)
}

/// Migration 26: a role-granting role no active LCT holds is kept by the
/// active LCT that gave it up last ([`keep_a_granting_role_holder`]), with
/// its graph edge, in a store whose roles came from a past conflict.
pub fn keep_granting_role_holders(conn: &Connection) -> Result<(), StoreError> {
    let societies: Vec<String> =
        conn.prepare("SELECT society_id FROM societies")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for society in societies {
        // The law's role-granting roles, and any role with a row its
        // register says was given up (kept under an earlier rule).
        let mut which = granting_roles(conn, &society)?;
        which.extend(
            conn.prepare("SELECT DISTINCT role FROM role_changes WHERE society_id = ?1 AND held = 0")?
                .query_map([&society], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?,
        );
        which.sort();
        which.dedup();
        role_edges(conn, &society, &keep_holders(conn, &society, &which, true)?)?;
    }
    Ok(())
}

/// Migration 24's second step: every LCT registered by a rotation that does
/// not stand (another rotation of the same LCT sorts first) gets the roles
/// a node that applied the winning rotation first gives it. A store whose
/// roles came from arrival order in a past conflict agrees with its peers
/// again. Returns how many LCTs it made again.
pub fn rebuild_losing_successors(conn: &Connection) -> Result<usize, StoreError> {
    let losers: Vec<(String, String)> = conn
        .prepare(
            "SELECT o.society_id, n.lct_id FROM ledger l
               JOIN lcts n ON n.doc_record = l.id
               JOIN lcts o ON o.lct_id = json_extract(l.record, '$.payload.old')
              WHERE l.kind = 'lct.transition'
                AND n.lct_id = json_extract(l.record, '$.payload.lct.lct_id')
                AND o.superseded_by IS NOT NULL AND o.superseded_by <> n.lct_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (society, lct) in &losers {
        role_edges(conn, society, &rebuild_roles(conn, society, lct)?)?;
    }
    Ok(losers.len())
}

/// In a migration (no record to stamp by): the graph edge of each
/// role-granting role the `Effect::Role`s in `effects` changed.
fn role_edges(conn: &Connection, society: &str, effects: &[Effect]) -> Result<(), StoreError> {
    for e in effects {
        if let Effect::Role { lct, role, held } = e {
            role_edge(conn, society, lct, role, *held, None)?;
        }
    }
    Ok(())
}

/// [`apply_role`] on one LCT's register.
fn apply_role_once(
    conn: &Connection,
    (soc, id, role): (&str, &str, &str),
    held: bool,
    stamp: ChangeStamp<'_>,
    lref: &str,
) -> Result<Vec<Effect>, StoreError> {
    if !conn.prepare_cached("SELECT 1 FROM lcts WHERE lct_id = ?1")?.exists([id])? {
        return Err(corrupt("role change of an unknown LCT"));
    }
    let seq = i64::try_from(stamp.seq).unwrap_or(i64::MAX);
    let superseded: bool = conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM role_changes WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3
             AND (at, author, seq) >= (?4, ?5, ?6))",
        )?
        .query_row(params![soc, id, role, stamp.at.secs(), stamp.author, seq], |r| r.get(0))?;
    if superseded {
        return Ok(vec![]);
    }
    conn.prepare_cached(
        "INSERT INTO role_changes (society_id, lct_id, role, held, at, author, seq, ledger_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (society_id, lct_id, role) DO UPDATE SET held = excluded.held, at = excluded.at,
           author = excluded.author, seq = excluded.seq, ledger_ref = excluded.ledger_ref",
    )?
    .execute(params![soc, id, role, held, stamp.at.secs(), stamp.author, seq, lref])?;
    let changed = if held {
        conn.prepare_cached("INSERT OR IGNORE INTO roles (society_id, lct_id, role) VALUES (?1, ?2, ?3)")?
            .execute(params![soc, id, role])?
    } else {
        conn.prepare_cached("DELETE FROM roles WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3")?
            .execute(params![soc, id, role])?
    };
    Ok(if changed > 0 { vec![Effect::Role { lct: id.to_owned(), role: role.to_owned(), held }] } else { vec![] })
}

fn apply_state(
    conn: &Connection,
    ev: &Event,
    (author, seq, row): (&LctId, u64, i64),
    at: Timestamp,
    (lref, law_hash): (&Hash, Hash),
) -> Result<Vec<Effect>, StoreError> {
    match ev {
        Event::Genesis(g) => {
            let law = to_json(g.law.as_json())?;
            conn.prepare_cached("INSERT INTO societies (society_id, name, law, law_hash, law_version, genesis_ref, founder) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![g.society_id.as_str(), g.name, law, g.law.law_hash().to_string(), g.law.version(), lref.to_string(), author.as_str()],
            )?;
            insert_law_version(conn, &g.society_id, &g.law, lref, at)?;
            let mut effects = Vec::new();
            for m in &g.members {
                insert_lct(conn, &g.society_id, &m.lct, (at, author, row), lref)?;
                for role in &m.roles {
                    conn.prepare_cached("INSERT OR IGNORE INTO roles (society_id, lct_id, role) VALUES (?1, ?2, ?3)")?
                        .execute(params![g.society_id.as_str(), m.lct.lct_id.as_str(), role])?;
                }
                effects.push(Effect::Minted(m.lct.binding.entity_type));
            }
            Ok(effects)
        }
        Event::Mint(m) => {
            insert_lct(conn, &m.society_id, &m.lct, (at, author, row), lref)?;
            let mut effects = vec![Effect::Minted(m.lct.binding.entity_type)];
            if let Some(bc) = &m.lct.birth_certificate {
                conn.prepare_cached("INSERT OR IGNORE INTO roles (society_id, lct_id, role) VALUES (?1, ?2, ?3)")?
                    .execute(params![m.society_id.as_str(), m.lct.lct_id.as_str(), bc.citizen_role])?;
                // A law may make its citizen role one that grants roles: a
                // new holder ends a keeper's hold.
                if law_in_force(conn, m.society_id.as_str())?.is_some_and(|l| l.grants_roles(&bc.citizen_role)) {
                    let which = std::slice::from_ref(&bc.citizen_role);
                    effects.extend(keep_a_granting_role_holder(conn, m.society_id.as_str(), which)?);
                }
            }
            Ok(effects)
        }
        Event::Suspend(s) | Event::Reinstate(s) => {
            let to = if matches!(ev, Event::Suspend(_)) { LctStatus::Suspended } else { LctStatus::Active };
            let reason = (to == LctStatus::Suspended).then_some(s.reason.as_str());
            let stamp = ChangeStamp { at, author: author.as_str(), seq };
            let mut effects = vec![apply_status_change(conn, &s.lct_id, to, reason, stamp, lref)?];
            effects.extend(guard_after_status(conn, &s.lct_id)?);
            Ok(effects)
        }
        Event::Revoke(v) => {
            if let Some(kept) = earlier_revocation(conn, &v.lct_id, at, lref)? {
                // Revoked twice (two nodes at once): every node keeps the
                // earlier revocation, by (time, record hash), in any order.
                return Ok(vec![kept]);
            }
            let info = RevocationInfo { reason: v.reason, note: v.note.clone(), at, by: v.evidence.signer.clone() };
            let eff = set_status(conn, &v.lct_id, LctStatus::Revoked, v.note.as_deref(), at, lref)?;
            let info = to_json(&info)?;
            conn.prepare_cached("UPDATE lcts SET revocation = ?2 WHERE lct_id = ?1")?
                .execute(params![v.lct_id.as_str(), info])?;
            let mut effects = vec![eff];
            effects.extend(guard_after_status(conn, &v.lct_id)?);
            Ok(effects)
        }
        Event::Transition(t) => {
            let (society, ..) =
                lct_state(conn, t.old.as_str())?.ok_or_else(|| corrupt("transition of an unknown LCT"))?;
            // Rotated twice (its key used on two nodes at once): every node
            // keeps the rotation that sorts first by (time, new LCT id), in
            // any order, as for revocations. The other new LCT stays
            // registered, with none of the old one's roles (decisions/0016).
            let kept = earlier_rotation(conn, &t.old, at, &t.lct.lct_id)?;
            insert_lct(conn, &society, &t.lct, (at, author, row), lref)?;
            let new = t.lct.lct_id.as_str();
            let mut effects = vec![Effect::Minted(t.lct.binding.entity_type)];
            if let Some(kept) = kept {
                effects.push(kept);
                return Ok(effects);
            }
            let displaced: Option<String> = successor_of(conn, t.old.as_str())?;
            effects.extend(inherit_roles(conn, society.as_str(), t.old.as_str(), new)?);
            effects.push(set_status(conn, &t.old, LctStatus::Superseded, Some("rotation"), at, lref)?);
            conn.prepare_cached("UPDATE lcts SET superseded_by = ?2, overlap_until = ?3 WHERE lct_id = ?1")?
                .execute(params![t.old.as_str(), new, t.overlap_until.secs()])?;
            if let Some(prev) = displaced {
                // The successor this rotation displaces keeps only what was
                // given to it, as where this rotation applied first.
                effects.extend(rebuild_roles(conn, society.as_str(), &prev)?);
            }
            // The roles whose holders this rotation changed: the old LCT's,
            // and any a displaced successor gained or lost.
            let mut which: Vec<String> = effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Role { role, .. } => Some(role.clone()),
                    _ => None,
                })
                .collect();
            which.extend(roles_touching(conn, society.as_str(), t.old.as_str())?);
            which.sort();
            which.dedup();
            effects.extend(keep_a_granting_role_holder(conn, society.as_str(), &which)?);
            Ok(effects)
        }
        Event::RoleGrant(c) | Event::RoleRevoke(c) => {
            // Each role record is kept by the LCT it names, so that the roles
            // given to an LCT can be made again without the ones it inherited.
            let held = matches!(ev, Event::RoleGrant(_));
            let lref = lref.to_string();
            conn.prepare_cached(
                "INSERT OR IGNORE INTO role_records (society_id, lct_id, role, held, at, author, seq, ledger_ref)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                c.society_id.as_str(),
                c.lct_id.as_str(),
                c.role,
                held,
                at.secs(),
                author.as_str(),
                to_i64(seq),
                lref
            ])?;
            let mut effects = apply_role(
                conn,
                (c.society_id.as_str(), c.lct_id.as_str(), c.role.as_str()),
                held,
                ChangeStamp { at, author: author.as_str(), seq },
                &lref,
            )?;
            effects.extend(keep_a_granting_role_holder(conn, c.society_id.as_str(), std::slice::from_ref(&c.role))?);
            Ok(effects)
        }
        Event::LawPublish(p) => {
            // The roles that granted roles before this law, and after it.
            let mut which = granting_roles(conn, p.society_id.as_str())?;
            which.extend(p.law.identity().role_roles);
            which.sort();
            which.dedup();
            let law = to_json(p.law.as_json())?;
            conn.prepare_cached(
                "UPDATE societies SET law = ?2, law_hash = ?3, law_version = ?4 WHERE society_id = ?1",
            )?
            .execute(params![
                p.society_id.as_str(),
                law,
                p.law.law_hash().to_string(),
                p.law.version()
            ])?;
            insert_law_version(conn, &p.society_id, &p.law, lref, at)?;
            let mut effects = vec![Effect::Law(Box::new(p.law.clone()))];
            effects.extend(keep_holders(conn, p.society_id.as_str(), &which, true)?);
            Ok(effects)
        }
        Event::Interpretation(p) => {
            conn.prepare_cached("INSERT INTO interpretations (ref, society_id, law_version, norm_id, text, version, replaces, created_at, author)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![
                    lref.to_string(),
                    p.society_id.as_str(),
                    p.law_version,
                    p.norm_id,
                    p.text,
                    p.version,
                    p.replaces.map(|h| h.to_string()),
                    at.to_string(),
                    p.evidence.signer.as_str()
                ],
            )?;
            if let Some(old) = p.replaces {
                conn.prepare_cached("UPDATE interpretations SET superseded_by = ?2 WHERE ref = ?1")?
                    .execute(params![old.to_string(), lref.to_string()])?;
            }
            Ok(vec![])
        }
        Event::Delegate(p) => {
            let d = &p.delegation;
            let text = to_json(d)?;
            let budget = to_i64(d.atp_budget);
            // A funded grant's ATP is locked in its root client's account.
            let funder: Option<String> = match (&d.parent, d.funded) {
                (_, false) => None,
                (None, true) => Some(d.client.to_string()),
                (Some(parent), true) => conn
                    .prepare_cached("SELECT funder FROM delegations WHERE grant_id = ?1")?
                    .query_row(params![parent], |r| r.get(0))
                    .optional()?
                    .flatten(),
            };
            // The tree's owner: the root's recording node (decisions/0017).
            let owner: String = match &d.parent {
                None => author.to_string(),
                Some(parent) => conn
                    .prepare_cached("SELECT owner FROM delegations WHERE grant_id = ?1")?
                    .query_row(params![parent], |row| row.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten()
                    .unwrap_or_else(|| author.to_string()),
            };
            // A root grant recorded under a law that requires approval waits
            // for it (`auth.approve`); sub-grants narrow an approved root.
            let pending = d.parent.is_none() && law_requires_approval(conn, &d.society, law_hash)?;
            conn.prepare_cached("INSERT INTO delegations (grant_id, society_id, client, agent, delegation, atp_budget, spent, parent, expires_at, ledger_ref, funder, owner, pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, ?12)")?.execute(params![
                    d.grant_id,
                    d.society.as_str(),
                    d.client.as_str(),
                    d.agent.as_str(),
                    text,
                    budget,
                    d.parent,
                    d.expires_at.secs(),
                    lref.to_string(),
                    funder,
                    owner,
                    pending
                ],
            )?;
            match &d.parent {
                // A sub-grant's budget is reserved from its parent's.
                Some(parent) => {
                    conn.prepare_cached("UPDATE delegations SET spent = spent + ?2 WHERE grant_id = ?1")?
                        .execute(params![parent, budget])?;
                }
                None if d.funded => account_add(conn, &d.society, d.client.as_str(), -budget, budget, 0)?,
                None => {}
            }
            Ok(vec![Effect::Delegation(1)])
        }
        Event::RevokeDelegation(p) => {
            let n = revoke_tree(conn, &p.grant_id, at, p.evidence.signer.as_str())?;
            Ok(vec![Effect::Delegation(-n)])
        }
        Event::ApproveDelegation(p) => {
            conn.prepare_cached("UPDATE delegations SET pending = 0, approved_by = ?2 WHERE grant_id = ?1")?
                .execute(params![p.grant_id, p.evidence.signer.as_str()])?;
            Ok(vec![])
        }
        Event::Expire(p) => {
            let mut n = 0;
            for g in &p.grant_ids {
                n += revoke_tree(conn, g, at, "expiry")?;
            }
            Ok(vec![Effect::Delegation(-n)])
        }
        Event::AuthDecision(p) => {
            let mut effects = vec![Effect::Decision];
            if p.decision == "granted" && p.atp_cost > 0 {
                let cost = to_i64(p.atp_cost);
                // Spending discharges ATP to ADP in the pool: from the funded
                // grant's lock, or from the actor's own account.
                let payer = match &p.grant_id {
                    Some(g) => {
                        conn.prepare_cached("UPDATE delegations SET spent = spent + ?2 WHERE grant_id = ?1")?
                            .execute(params![g, cost])?;
                        conn.prepare_cached("SELECT funder FROM delegations WHERE grant_id = ?1")?
                            .query_row(params![g], |r| r.get::<_, Option<String>>(0))?
                            .map(|f| (f, 0, -cost))
                    }
                    None => Some((p.actor.to_string(), -cost, 0)),
                };
                if let Some((account, d_avail, d_locked)) = payer {
                    let society: String = conn
                        .prepare_cached("SELECT society_id FROM atp_accounts WHERE lct_id = ?1")?
                        .query_row(params![account], |r| r.get(0))
                        .optional()?
                        .ok_or_else(|| corrupt("a granted spend from an account that does not exist"))?;
                    let society = LctId::parse(&society).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    account_add(conn, &society, &account, d_avail, d_locked, cost)?;
                    effects.push(pool_add(conn, &society, 0, cost)?);
                }
            }
            Ok(effects)
        }
        Event::AtpMint(m) => {
            let amount = to_i64(m.amount);
            conn.prepare_cached(
                "INSERT INTO atp_pools (society_id, total_supply, adp, cycle, minted_in_cycle) VALUES (?1, 0, 0, ?2, 0)
                 ON CONFLICT (society_id) DO UPDATE SET
                   minted_in_cycle = CASE WHEN cycle = ?2 THEN minted_in_cycle ELSE 0 END, cycle = ?2",
            )?
            .execute(params![m.society_id.as_str(), to_i64(m.cycle)])?;
            conn.prepare_cached("UPDATE atp_pools SET minted_in_cycle = minted_in_cycle + ?2 WHERE society_id = ?1")?
                .execute(params![m.society_id.as_str(), amount])?;
            Ok(vec![pool_add(conn, &m.society_id, amount, amount)?])
        }
        Event::AtpCharge(c) => {
            let amount = to_i64(c.amount);
            conn.prepare_cached("INSERT INTO atp_value_proofs (reference, society_id, account, amount, ledger_ref) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![c.proof.reference, c.society_id.as_str(), c.account.as_str(), amount, lref.to_string()],
            )?;
            let effect = pool_add(conn, &c.society_id, 0, -amount)?;
            account_add(conn, &c.society_id, c.account.as_str(), amount, 0, 0)?;
            Ok(vec![effect])
        }
        Event::AtpTransfer(t) => {
            let (amount, fee) = (to_i64(t.amount), to_i64(t.fee));
            account_add(conn, &t.society_id, t.from.as_str(), -(amount + fee), 0, fee)?;
            account_add(conn, &t.society_id, t.to.as_str(), amount, 0, 0)?;
            Ok(if fee > 0 { vec![pool_add(conn, &t.society_id, 0, fee)?] } else { vec![] })
        }
        Event::Outcome(o) => apply_outcome(conn, o, at, lref),
        Event::Allocate(a) => apply_allocate(conn, a, author, lref),
        Event::Usage(u) => apply_usage(conn, u, at, lref),
        Event::Release(r) => {
            let lease = load_allocation(conn, &r.allocation_id)?;
            let lease = settles(lease.as_ref(), r).map_err(StoreError::Corrupt)?;
            close_allocation(conn, lease, at, &r.reason)
        }
        Event::GraphTriple(_) => Ok(vec![]),
        Event::Rates(r) => {
            // Tagged with the law the record was written under (which names
            // the version), not the law this node holds now.
            conn.prepare_cached("INSERT INTO resource_rates (society_id, version, law_hash, rates, at, ledger_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![r.society_id.as_str(), r.version, law_hash.to_string(), to_json(&r.rates)?, at.secs(), lref.to_string()],
            )?;
            Ok(vec![])
        }
        Event::AtpSlash(x) => {
            let amount = to_i64(x.amount);
            account_add(conn, &x.society_id, x.account.as_str(), -amount, 0, 0)?;
            Ok(vec![pool_add(conn, &x.society_id, -amount, 0)?])
        }
    }
}

/// Record an outcome: the pair's tensors and counters, the event row, who
/// witnessed whom, and the gaming flags.
fn apply_outcome(
    conn: &Connection,
    o: &ReputationOutcome,
    at: Timestamp,
    lref: &Hash,
) -> Result<Vec<Effect>, StoreError> {
    let cur = load_reputation(conn, o.entity.as_str(), &o.role)?;
    let (t3, v3) = match &o.delta {
        Some(d) => (d.t3, d.v3),
        None => cur.as_ref().map(|c| (c.t3, c.v3)).unwrap_or_default(),
    };
    let before = cur.as_ref().map(|c| c.t3.composite()).unwrap_or_else(|| web4_core::tensor::T3::default().composite());
    conn.prepare_cached(
        "INSERT INTO reputation (entity, role, society_id, t3, v3, outcomes, last_action, last_action_at, same_action_run, witness_poor_run)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9)
         ON CONFLICT (entity, role) DO UPDATE SET t3 = ?4, v3 = ?5, outcomes = outcomes + 1, last_action = ?6,
           last_action_at = ?7, same_action_run = ?8, witness_poor_run = ?9",
    )?
    .execute(params![
        o.entity.as_str(),
        o.role,
        o.society_id.as_str(),
        to_json(&t3)?,
        to_json(&v3)?,
        o.action,
        at.secs(),
        o.same_action_run,
        o.witness_poor_run
    ])?;
    let changes: std::collections::BTreeMap<&str, f64> = o
        .delta
        .iter()
        .flat_map(|d| d.t3_deltas.iter().chain(d.v3_deltas.iter()))
        .map(|(k, v)| (k.as_str(), v.change))
        .collect();
    conn.prepare_cached(
        "INSERT INTO reputation_events (ledger_ref, entity, role, at, action, result_status, composite_before, composite_after, changes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        lref.to_string(),
        o.entity.as_str(),
        o.role,
        at.secs(),
        o.action,
        o.result_status,
        before,
        t3.composite(),
        to_json(&changes)?
    ])?;
    for w in &o.witnesses {
        conn.prepare_cached(
            "INSERT INTO reputation_witnessing (witness, actor, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (witness, actor) DO UPDATE SET at = ?3",
        )?
        .execute(params![w.witness.as_str(), o.entity.as_str(), at.secs()])?;
    }
    let mut effects = vec![
        Effect::Outcome(outcome_type(&o.result_status)),
        Effect::Tensor { entity: o.entity.to_string(), role: o.role.clone(), t3, v3 },
    ];
    for f in &o.flags {
        conn.prepare_cached(
            "INSERT INTO gaming_flags (ledger_ref, pattern, entity, role, at, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            lref.to_string(),
            f.pattern.as_str(),
            o.entity.as_str(),
            o.role,
            at.secs(),
            to_json(&f.evidence)?
        ])?;
        effects.push(Effect::Gaming(f.pattern));
    }
    Ok(effects)
}

fn apply_allocate(
    conn: &Connection,
    a: &ResourceAllocate,
    author: &LctId,
    lref: &Hash,
) -> Result<Vec<Effect>, StoreError> {
    let locked = to_i64(a.lease.locked);
    // Who pays: the holder's account, a funded grant's funder, or (NULL) an
    // unfunded grant's budget alone.
    let payer: Option<String> = match &a.grant_id {
        None => Some(a.holder.to_string()),
        Some(g) => {
            conn.prepare_cached("UPDATE delegations SET spent = spent + ?2 WHERE grant_id = ?1")?
                .execute(params![g, locked])?;
            conn.prepare_cached("SELECT funder FROM delegations WHERE grant_id = ?1")?
                .query_row(params![g], |r| r.get(0))
                .optional()?
                .flatten()
        }
    };
    conn.prepare_cached(
        "INSERT INTO resource_allocations (allocation_id, society_id, holder, resource_type, quantity, grant_id, payer,
           rates_version, lease, locked, charged, opened_at, expires_at, pid, ledger_ref, owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        a.allocation_id,
        a.society_id.as_str(),
        a.holder.as_str(),
        a.resource_type,
        to_i64(a.lease.quantity),
        a.grant_id,
        payer,
        a.rates_version,
        to_json(&a.lease)?,
        locked,
        a.lease.opened_at,
        a.lease.expires_at(),
        a.pid,
        lref.to_string(),
        author.as_str()
    ])?;
    if a.grant_id.is_none() {
        account_add(conn, &a.society_id, a.holder.as_str(), -locked, locked, 0)?;
    }
    resource_pool_add(conn, &a.society_id, &a.resource_type, to_i64(a.lease.quantity), 1, locked)?;
    let t = web4_core::resources::RESOURCE_TYPES.iter().position(|t| *t == a.resource_type).unwrap_or(0);
    Ok(vec![Effect::Allocated(u8::try_from(t).unwrap_or(0))])
}

fn apply_usage(conn: &Connection, u: &ResourceUsage, at: Timestamp, lref: &Hash) -> Result<Vec<Effect>, StoreError> {
    let Some(mut row) = load_allocation(conn, &u.allocation_id)? else {
        return Err(StoreError::Corrupt(format!(
            "this resource.usage record reports on {}, not held here",
            u.allocation_id
        )));
    };
    let m = meters(&row, u, at).map_err(StoreError::Corrupt)?;
    row.lease.record(u.seq, &m);
    conn.prepare_cached("UPDATE resource_allocations SET lease = ?2, charged = ?3 WHERE allocation_id = ?1")?
        .execute(params![u.allocation_id, to_json(&row.lease)?, to_i64(row.lease.charged)])?;
    conn.prepare_cached(
        "INSERT INTO resource_usage (allocation_id, seq, used, charge, at, ledger_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        u.allocation_id,
        to_i64(u.seq),
        to_i64(u.used),
        to_i64(u.charge),
        at.secs(),
        lref.to_string()
    ])?;
    resource_pool_add(conn, &row.society_id, &row.resource_type, 0, 0, -to_i64(u.charge))?;
    let mut effects = vec![];
    // Usage discharges the payer's locked ATP into pool ADP.
    if let Some(payer) = &row.payer
        && u.charge > 0
    {
        let charge = to_i64(u.charge);
        account_add(conn, &row.society_id, payer, 0, -charge, charge)?;
        effects.push(pool_add(conn, &row.society_id, 0, charge)?);
    }
    Ok(effects)
}

/// Close an open allocation: the locked ATP not charged goes back to where
/// it came from (the holder's account, or the grant's budget).
fn close_allocation(
    conn: &Connection,
    a: &AllocationRow,
    at: Timestamp,
    reason: &str,
) -> Result<Vec<Effect>, StoreError> {
    let returned = to_i64(a.lease.returned());
    conn.prepare_cached(
        "UPDATE resource_allocations SET released_at = ?2, release_reason = ?3, returned = ?4 WHERE allocation_id = ?1",
    )?
    .execute(params![a.allocation_id, at.secs(), reason, returned])?;
    resource_pool_add(conn, &a.society_id, &a.resource_type, -to_i64(a.lease.quantity), -1, -returned)?;
    match &a.grant_id {
        None => account_add(conn, &a.society_id, a.holder.as_str(), returned, -returned, 0)?,
        Some(g) => {
            conn.prepare_cached("UPDATE delegations SET spent = spent - ?2 WHERE grant_id = ?1")?
                .execute(params![g, returned])?;
        }
    }
    Ok(vec![])
}

/// Add to a resource pool's open-lease counters (creating the row).
fn resource_pool_add(
    conn: &Connection,
    society: &LctId,
    resource_type: &str,
    allocated: i64,
    leases: i64,
    held: i64,
) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE resource_pools SET allocated = allocated + ?3, open_leases = open_leases + ?4, atp_held = atp_held + ?5
             WHERE society_id = ?1 AND resource_type = ?2",
        )?
        .execute(params![society.as_str(), resource_type, allocated, leases, held])?;
    if n == 0 {
        conn.prepare_cached(
            "INSERT INTO resource_pools (society_id, resource_type, allocated, open_leases, atp_held) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![society.as_str(), resource_type, allocated, leases, held])?;
    }
    Ok(())
}

/// One lease row.
#[derive(Debug, Clone)]
pub struct AllocationRow {
    pub allocation_id: String,
    pub society_id: LctId,
    pub holder: LctId,
    pub resource_type: String,
    pub grant_id: Option<String>,
    pub payer: Option<String>,
    pub rates_version: String,
    pub lease: web4_core::resources::Lease,
    pub pid: Option<u32>,
    pub released_at: Option<i64>,
    pub release_reason: Option<String>,
    pub ledger_ref: String,
}

/// Load a lease.
pub fn load_allocation(conn: &Connection, id: &str) -> Result<Option<AllocationRow>, StoreError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        String,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT society_id, holder, resource_type, grant_id, payer, rates_version, lease, pid, released_at,
                    release_reason, ledger_ref FROM resource_allocations WHERE allocation_id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })
        .optional()?;
    let Some((society, holder, resource_type, grant_id, payer, rates_version, lease, pid, released_at, reason, lref)) =
        row
    else {
        return Ok(None);
    };
    let lct = |s: &str| LctId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()));
    Ok(Some(AllocationRow {
        allocation_id: id.to_owned(),
        society_id: lct(&society)?,
        holder: lct(&holder)?,
        resource_type,
        grant_id,
        payer,
        rates_version,
        lease: parse_json(&lease, "lease")?,
        pid: pid.and_then(|p| u32::try_from(p).ok()),
        released_at,
        release_reason: reason,
        ledger_ref: lref,
    }))
}

/// Open leases paid from one grant.
pub fn open_allocations_of_grant(conn: &Connection, grant_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT allocation_id FROM resource_allocations WHERE grant_id = ?1 AND released_at IS NULL ORDER BY allocation_id",
        )?
        .query_map([grant_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Outcome types (a fixed set, so metric labels stay bounded).
pub const OUTCOME_TYPES: [&str; 3] = ["success", "failure", "partial"];

fn outcome_type(s: &str) -> u8 {
    OUTCOME_TYPES.iter().position(|t| *t == s).and_then(|i| u8::try_from(i).ok()).unwrap_or(2)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One (entity, role) reputation row.
#[derive(Debug, Clone)]
pub struct ReputationRow {
    pub t3: web4_core::tensor::T3,
    pub v3: web4_core::tensor::V3,
    pub outcomes: u64,
    pub last_action: String,
    pub last_action_at: i64,
    pub same_action_run: u32,
    pub witness_poor_run: u32,
}

/// Load the reputation of `entity` in `role`.
pub fn load_reputation(conn: &Connection, entity: &str, role: &str) -> Result<Option<ReputationRow>, StoreError> {
    type Row = (String, String, i64, String, i64, i64, i64);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT t3, v3, outcomes, last_action, last_action_at, same_action_run, witness_poor_run
             FROM reputation WHERE entity = ?1 AND role = ?2",
        )?
        .query_row(params![entity, role], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .optional()?;
    let Some((t3, v3, outcomes, last_action, last_action_at, run, poor)) = row else { return Ok(None) };
    Ok(Some(ReputationRow {
        t3: parse_json(&t3, "t3")?,
        v3: parse_json(&v3, "v3")?,
        outcomes: u64::try_from(outcomes).unwrap_or(0),
        last_action,
        last_action_at,
        same_action_run: u32::try_from(run).unwrap_or(0),
        witness_poor_run: u32::try_from(poor).unwrap_or(0),
    }))
}

/// A pair's tensors before an outcome of `action`, with that outcome's place
/// in a streak of the same action (1 after another action) and the pair's
/// witness-poor streak so far; a pair without outcomes starts at the defaults.
pub fn pair_before(
    conn: &Connection,
    entity: &str,
    role: &str,
    action: &str,
) -> Result<(web4_core::tensor::T3, web4_core::tensor::V3, u32, u32), StoreError> {
    Ok(match load_reputation(conn, entity, role)? {
        Some(r) => {
            let run = if r.last_action == action { r.same_action_run.saturating_add(1) } else { 1 };
            (r.t3, r.v3, run, r.witness_poor_run)
        }
        None => (Default::default(), Default::default(), 1, 0),
    })
}

/// A grant and every grant derived from it, leaves first.
pub fn grant_subtree(conn: &Connection, grant_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "WITH RECURSIVE sub(g, depth) AS (
                 SELECT ?1, 0 UNION ALL
                 SELECT d.grant_id, sub.depth + 1 FROM delegations d JOIN sub ON d.parent = sub.g
             )
             SELECT g FROM sub ORDER BY depth DESC, g",
        )?
        .query_map(params![grant_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Add to an account's balances (creating it). The table's CHECKs refuse a
/// negative balance, so a bug can never commit an overdraft.
fn account_add(
    conn: &Connection,
    society: &LctId,
    lct: &str,
    available: i64,
    locked: i64,
    adp: i64,
) -> Result<(), StoreError> {
    // UPDATE first: an upsert would check the negative delta as a new row.
    let n = conn
        .prepare_cached(
            "UPDATE atp_accounts SET available = available + ?2, locked = locked + ?3, adp = adp + ?4 WHERE lct_id = ?1",
        )?
        .execute(params![lct, available, locked, adp])?;
    if n == 0 {
        conn.prepare_cached(
            "INSERT INTO atp_accounts (lct_id, society_id, available, locked, adp) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![lct, society.as_str(), available, locked, adp])?;
    }
    Ok(())
}

/// Add to the society pool (creating it); returns its new state.
fn pool_add(conn: &Connection, society: &LctId, supply: i64, adp: i64) -> Result<Effect, StoreError> {
    let updated = conn
        .prepare_cached(
            "UPDATE atp_pools SET total_supply = total_supply + ?2, adp = adp + ?3 WHERE society_id = ?1
             RETURNING total_supply, adp",
        )?
        .query_row(params![society.as_str(), supply, adp], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (total_supply, adp) = match updated {
        Some(v) => v,
        None => {
            conn.prepare_cached(
                "INSERT INTO atp_pools (society_id, total_supply, adp, cycle, minted_in_cycle) VALUES (?1, ?2, ?3, 0, 0)",
            )?
            .execute(params![society.as_str(), supply, adp])?;
            (supply, adp)
        }
    };
    Ok(Effect::Pool { total_supply, adp })
}

/// Revoke a grant and every grant derived from it, leaves first, returning
/// each one's unspent budget to its parent or, for a funded root, unlocking it
/// in the funder's account. Returns how many grants were revoked.
fn revoke_tree(conn: &Connection, grant_id: &str, at: Timestamp, by: &str) -> Result<i64, StoreError> {
    let mut n = 0;
    for id in grant_subtree(conn, grant_id)? {
        // Leases paid from a revoked grant end with it; their unused lock
        // returns to the grant before its own unspent budget is released.
        for a in open_allocations_of_grant(conn, &id)? {
            if let Some(row) = load_allocation(conn, &a)? {
                close_allocation(conn, &row, at, "revoked")?;
            }
        }
        type Row = (i64, i64, Option<String>, Option<String>, String);
        let row: Option<Row> = conn
            .prepare_cached("SELECT atp_budget, spent, parent, funder, society_id FROM delegations WHERE grant_id = ?1 AND revoked_at IS NULL")?.query_row(params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((budget, spent, parent, funder, society)) = row else { continue };
        let unspent = (budget - spent).max(0);
        conn.prepare_cached(
            "UPDATE delegations SET revoked_at = ?2, revoked_by = ?3, released = ?4 WHERE grant_id = ?1",
        )?
        .execute(params![id, at.to_string(), by, unspent])?;
        match (parent, funder) {
            (Some(p), _) => {
                conn.prepare_cached("UPDATE delegations SET spent = spent - ?2 WHERE grant_id = ?1")?
                    .execute(params![p, unspent])?;
            }
            (None, Some(f)) => {
                let society = LctId::parse(&society).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                account_add(conn, &society, &f, unspent, -unspent, 0)?;
            }
            (None, None) => {}
        }
        n += 1;
    }
    Ok(n)
}

fn insert_law_version(
    conn: &Connection,
    society: &LctId,
    law: &web4_core::law::LawDataset,
    lref: &Hash,
    at: Timestamp,
) -> Result<(), StoreError> {
    let text = to_json(law.as_json())?;
    conn.prepare_cached("INSERT INTO law_versions (society_id, version, law_hash, law, ledger_ref, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![society.as_str(), law.version(), law.law_hash().to_string(), text, lref.to_string(), at.to_string()],
    )?;
    Ok(())
}

/// A stored law version, as recorded (the law was validated when published).
#[derive(Debug, Clone)]
pub struct LawVersionRow {
    pub law: serde_json::Value,
    pub law_hash: String,
    pub ledger_ref: String,
    pub published_at: String,
}

/// Load a stored law version.
pub fn load_law_version(conn: &Connection, society: &str, version: &str) -> Result<Option<LawVersionRow>, StoreError> {
    let row: Option<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT law, law_hash, ledger_ref, published_at FROM law_versions WHERE society_id = ?1 AND version = ?2",
        )?
        .query_row([society, version], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((law, law_hash, ledger_ref, published_at)) = row else { return Ok(None) };
    Ok(Some(LawVersionRow { law: parse_json(&law, "law")?, law_hash, ledger_ref, published_at }))
}

/// Whether a society has published `version`.
pub fn law_version_exists(conn: &Connection, society: &str, version: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM law_versions WHERE society_id = ?1 AND version = ?2")?
        .exists([society, version])?)
}

/// An interpretation row: `(norm_id, version, superseded_by)`.
pub type InterpretationRow = (Option<String>, u32, Option<String>);

/// Load an interpretation by its ref.
pub fn load_interpretation(
    conn: &Connection,
    society: &str,
    r: &Hash,
) -> Result<Option<InterpretationRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT norm_id, version, superseded_by FROM interpretations WHERE society_id = ?1 AND ref = ?2",
        )?
        .query_row([society, r.to_string().as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?)
}

/// Interpretations of a law version in force (not superseded), oldest first.
pub fn current_interpretations(
    conn: &Connection,
    society: &str,
    version: &str,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let mut st = conn.prepare(
        "SELECT ref, norm_id, text, version, replaces, created_at, author FROM interpretations
         WHERE society_id = ?1 AND law_version = ?2 AND superseded_by IS NULL ORDER BY created_at, ref",
    )?;
    let rows = st.query_map([society, version], |r| {
        Ok(serde_json::json!({
            "ref": r.get::<_, String>(0)?, "norm_id": r.get::<_, Option<String>>(1)?, "text": r.get::<_, String>(2)?,
            "version": r.get::<_, i64>(3)?, "replaces": r.get::<_, Option<String>>(4)?,
            "created_at": r.get::<_, String>(5)?, "author": r.get::<_, String>(6)?,
        }))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A delegation row: the grant, what it has spent or reserved, and whether revoked.
#[derive(Debug, Clone)]
pub struct DelegationRow {
    pub delegation: web4_core::authz::Delegation,
    pub spent: u64,
    pub revoked_at: Option<String>,
    pub ledger_ref: String,
    /// Whose account a funded grant's lock is in.
    pub funder: Option<String>,
    /// Unspent budget returned when it was revoked.
    pub released: u64,
    /// A root grant waiting for approval (law `delegation.requires_approval`).
    pub pending: bool,
    /// Who approved it, when it had to be.
    pub approved_by: Option<String>,
}

/// Why a grant cannot be spent from (`Err`), or its chain up to the root with
/// each grant's revocation flag and the ATP still available under it.
pub type GrantChain = Result<(Vec<(web4_core::authz::Delegation, bool)>, u64), ChainRefusal>;

/// Why a grant's chain cannot be spent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRefusal {
    Unknown(String),
    Pending(String),
    TooLong,
}

/// The chain of grant `grant_id` up to its root, as the authorization
/// decides on it. Its rows change only by the records of the tree's owner
/// (ADR 0017), so a peer reads what the owner read.
pub fn delegation_chain(conn: &Connection, grant_id: &str) -> Result<GrantChain, StoreError> {
    let (mut chain, mut remaining) = (Vec::new(), 0);
    let mut next = Some(grant_id.to_owned());
    while let Some(id) = next {
        let Some(row) = load_delegation(conn, &id)? else { return Ok(Err(ChainRefusal::Unknown(id))) };
        if row.pending {
            return Ok(Err(ChainRefusal::Pending(id)));
        }
        if chain.is_empty() && row.revoked_at.is_none() {
            remaining = row.delegation.atp_budget.saturating_sub(row.spent);
        }
        next = row.delegation.parent.clone();
        chain.push((row.delegation, row.revoked_at.is_some()));
        if chain.len() > 64 {
            return Ok(Err(ChainRefusal::TooLong));
        }
    }
    Ok(Ok((chain, remaining)))
}

/// Load a delegation.
pub fn load_delegation(conn: &Connection, grant_id: &str) -> Result<Option<DelegationRow>, StoreError> {
    type Row = (String, i64, Option<String>, String, Option<String>, i64, bool, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT delegation, spent, revoked_at, ledger_ref, funder, released, pending, approved_by
             FROM delegations WHERE grant_id = ?1",
        )?
        .query_row([grant_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })
        .optional()?;
    let Some((d, spent, revoked_at, ledger_ref, funder, released, pending, approved_by)) = row else { return Ok(None) };
    Ok(Some(DelegationRow {
        delegation: parse_json(&d, "delegation")?,
        spent: u64::try_from(spent).unwrap_or(0),
        revoked_at,
        ledger_ref,
        funder,
        released: u64::try_from(released).unwrap_or(0),
        pending,
        approved_by,
    }))
}

/// An ATP account (zero if it never held ATP).
pub fn load_account(conn: &Connection, lct: &str) -> Result<web4_core::atp::AtpAccount, StoreError> {
    let row: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT available, locked, adp FROM atp_accounts WHERE lct_id = ?1")?
        .query_row([lct], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (a, l, d) = row.unwrap_or((0, 0, 0));
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(web4_core::atp::AtpAccount { available: u(a), locked: u(l), adp: u(d) })
}

/// A society's ATP pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pool {
    pub total_supply: u64,
    /// Discharged ADP in the pool, available to charge.
    pub adp: u64,
    /// Charged ATP held in accounts (available + locked).
    pub atp: u64,
    pub accounts: u64,
    pub cycle: u64,
    pub minted_in_cycle: u64,
}

/// Load a society's pool (zero before the first mint), with the ATP total of
/// its accounts.
pub fn load_pool(conn: &Connection, society: &str) -> Result<Pool, StoreError> {
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    let row: Option<(i64, i64, i64, i64)> = conn
        .prepare_cached("SELECT total_supply, adp, cycle, minted_in_cycle FROM atp_pools WHERE society_id = ?1")?
        .query_row([society], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (ts, adp, cycle, minted) = row.unwrap_or_default();
    let (atp, accounts): (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(available + locked), 0), COUNT(*) FROM atp_accounts WHERE society_id = ?1",
        )?
        .query_row([society], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Pool {
        total_supply: u(ts),
        adp: u(adp),
        atp: u(atp),
        accounts: u(accounts),
        cycle: u(cycle),
        minted_in_cycle: u(minted),
    })
}

/// The law hash in force for a society.
pub fn current_law_hash(conn: &Connection, society: &str) -> Result<Option<Hash>, StoreError> {
    let h: Option<String> = conn
        .prepare_cached("SELECT law_hash FROM societies WHERE society_id = ?1")?
        .query_row([society], |r| r.get(0))
        .optional()?;
    h.map(|h| Hash::parse(&h).map_err(|_| corrupt("law_hash"))).transpose()
}

/// Outcome of `web4d ledger verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyOutcome {
    pub records: u64,
    pub authors: usize,
    pub chain_errors: Vec<String>,
    pub projection_differences: Vec<String>,
}

impl VerifyOutcome {
    /// Whether everything checked out.
    pub fn ok(&self) -> bool {
        self.chain_errors.is_empty() && self.projection_differences.is_empty()
    }
}

/// Look up an author's public key: from the scratch projection being rebuilt, or
/// from the record itself for a genesis (the founding node's own document).
/// What became of a record received from a peer.
#[derive(Debug)]
pub enum Foreign {
    /// Verified, appended to its author's chain and applied.
    Applied { hash: Hash, effects: Vec<Effect> },
    /// Already held (same hash).
    Duplicate,
    /// Its author's chain here ends at `have`; the record is `got`: wait for the gap.
    Gap { have: u64 },
    /// Its author is not (yet) known here: wait for the record that registers it.
    UnknownAuthor,
    /// Validly signed by a node, under a law version not (yet) known here:
    /// wait for the record that publishes it (decisions/0027, session 25).
    UnknownLaw(Hash),
    /// Validly signed by a node, but dated more than [`MAX_RECORD_AHEAD_SECS`]
    /// ahead of this node's clock: wait until it is not (decisions/0027).
    TooEarly(Timestamp),
    /// Validly signed by a node, about an owned object (a delegation tree,
    /// a lease, an account) not known here yet: wait for the record that
    /// creates it (decisions/0027, session 25).
    UnknownObject(Owned),
    /// Validly signed by a node, carrying a request whose signer is not
    /// registered here yet: wait for the record that registers it
    /// (decisions/0028).
    UnknownSigner(LctId),
    /// Invalid: never applied; the reason names the check that failed.
    Rejected(String),
}

impl Foreign {
    /// Applied without effect ([`voided`]).
    pub fn voided(&self) -> bool {
        matches!(self, Foreign::Applied { effects, .. } if effects.contains(&Effect::Voided))
    }
}

/// A record received from a peer, parsed and hashed once.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub record: Record,
    /// `sha256(JCS(payload))`, shared by the hash and the signature check.
    pub payload_hash: Hash,
    pub hash: Hash,
    /// The wire form, stored as received.
    pub text: String,
    /// The typed payload, once a check has read it (a pure function of the
    /// record, so the writer's re-check reuses the pre-check's).
    pub event: Option<std::sync::Arc<Event>>,
}

impl Inbound {
    /// A checked record without its payload's JSON tree, which nothing reads
    /// once the typed event is there (except a genesis: its checks read the
    /// tree), so that the tree is freed by the task that parsed it and not
    /// on the writer (about 10 % of a federation node's writer was freeing
    /// received payloads, `perf record`, session 14).
    pub fn without_payload_tree(mut self) -> Inbound {
        if self.event.is_some() && self.record.kind != kind::SOCIETY_GENESIS {
            self.record.payload = serde_json::Value::Null;
        }
        self
    }
}

/// Parse and hash a received record; `Err` says why it is not one.
pub fn parse_inbound(text: String) -> Result<Inbound, String> {
    let record: Record = serde_json::from_str(&text).map_err(|e| format!("not a record: {e}"))?;
    let payload_hash =
        web4_core::ledger::payload_hash(&record.payload).map_err(|e| format!("record cannot be hashed: {e}"))?;
    let hash = record.hash_with(&payload_hash).map_err(|e| format!("record cannot be hashed: {e}"))?;
    if record.seq == 0 {
        return Err("seq 0".into());
    }
    Ok(Inbound { record, payload_hash, hash, text, event: None })
}

/// What the checks of a received record found (nothing written).
#[derive(Debug)]
pub enum Check {
    /// Valid and the next link after `head`: apply it.
    Next(std::sync::Arc<Event>),
    Duplicate,
    /// Validly signed, but the chain already holds `held` at that seq.
    Equivocation {
        held: String,
    },
    Gap {
        have: u64,
    },
    UnknownAuthor,
    UnknownLaw(Hash),
    UnknownObject(Owned),
    /// The signer of the request the record carries is not registered here
    /// yet (decisions/0028).
    UnknownSigner(LctId),
    TooEarly(Timestamp),
    Rejected(String),
    /// Refused: the record changes an object another node owns. Depends on
    /// the author's earlier records (a registration of its that did not stand
    /// turns such a record into one kept without effect, decisions/0025), so
    /// the federation's pre-check does not take it as final while those are
    /// in flight.
    NotTheOwner(String),
}

/// The checks of the inbound road (architecture doc), read-only: chain link
/// against `head`, signature (unless the caller already verified it with the
/// same key lookup), author status, law hash, payload, object ownership.
pub fn check_inbound(
    conn: &Connection,
    m: &Inbound,
    head: crate::store::writer::Head,
    signature_checked: bool,
    now: Timestamp,
) -> Result<Check, StoreError> {
    let r = &m.record;
    if r.seq <= head.seq {
        let held: Option<String> = conn
            .prepare_cached("SELECT hash FROM ledger WHERE author = ?1 AND seq = ?2")?
            .query_row(rusqlite::params![r.author.as_str(), i64::try_from(r.seq).unwrap_or(i64::MAX)], |row| row.get(0))
            .optional()?;
        return Ok(match held {
            Some(h) if h == m.hash.to_string() => Check::Duplicate,
            Some(h) => {
                // Only a signed record is evidence of equivocation.
                if author_key(conn, r)?.is_some_and(|pk| r.verify_signature_with(&pk, &m.payload_hash).is_ok()) {
                    Check::Equivocation { held: h }
                } else {
                    Check::Rejected(BAD_SIGNATURE.into())
                }
            }
            None => Check::Rejected(format!("{} seq {} is missing below the chain head", r.author, r.seq)),
        });
    }
    // The author's key and status in one row read (no document parse).
    let signer = load_signer(conn, r.author.as_str())?;
    if r.seq > head.seq + 1 {
        // A known author's record waits for its gap only when its signature
        // verifies: forged records do not fill the escrow (decisions/0027).
        if let Some(row) = &signer {
            if !signature_checked && r.verify_signature_with(&row.public_key, &m.payload_hash).is_err() {
                return Ok(Check::Rejected(BAD_SIGNATURE.into()));
            }
            if row.entity_type != EntityType::Infrastructure {
                return Ok(not_a_node(r, row.entity_type));
            }
        }
        return Ok(Check::Gap { have: head.seq });
    }
    let (pk, author_type) = match &signer {
        Some(row) => (row.public_key, row.entity_type),
        None => match genesis_author(r)? {
            Some(author) => author,
            None => return Ok(Check::UnknownAuthor),
        },
    };
    // The record's signature is verified below, in one batch with the other
    // signatures it carries; where the record would wait (escrow) before
    // that, on its own, so that forged records do not fill the escrow.
    let bad_signature = || Check::Rejected(BAD_SIGNATURE.into());
    let unsigned = || !signature_checked && r.verify_signature_with(&pk, &m.payload_hash).is_err();
    // Only nodes write ledger records (a node's LCT is an infrastructure
    // LCT); a member's key signs requests, never records (decisions/0027).
    if author_type != EntityType::Infrastructure {
        return Ok(not_a_node(r, author_type));
    }
    if r.prev_hash != head.hash {
        return Ok(Check::Rejected(format!("prev_hash does not link to {} seq {}", r.author, head.seq)));
    }
    // A revoked or suspended node signs nothing dated from its revocation or
    // suspension on. Its earlier records stand: they were its to write, and
    // refusing them where the revocation happened to arrive first would
    // stall its chain, and every chain whose records build on it, on those
    // nodes only (decisions/0027, session 25).
    if let Some(row) = &signer
        && matches!(row.status, LctStatus::Revoked | LctStatus::Suspended)
        && r.timestamp >= row.since
    {
        return Ok(Check::Rejected(format!(
            "author {} is {} since {}; this record is dated {}",
            r.author,
            row.status.as_str(),
            row.since,
            r.timestamp
        )));
    }
    // A rotated node key signs nothing dated after its overlap (decisions/0027).
    if let Some(row) = &signer
        && row.status == LctStatus::Superseded
        && web4_core::lct::may_sign(row.status, row.overlap_until, r.timestamp).is_err()
    {
        return Ok(Check::Rejected(format!(
            "author {} is superseded and its overlap ended before this record's time",
            r.author
        )));
    }
    // A record dated far ahead of this clock waits: applied now, it would sort
    // after every honest change in the last-writer-wins registers (status,
    // roles) until that date (decisions/0027).
    if r.timestamp.secs() > now.secs().saturating_add(MAX_RECORD_AHEAD_SECS) {
        return Ok(if unsigned() { bad_signature() } else { Check::TooEarly(r.timestamp) });
    }
    let law_known = if r.kind == kind::SOCIETY_GENESIS {
        let g: Genesis = payload(r)?;
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM societies)")?
            .query_row([], |row| row.get(0))
            .optional()?
            .unwrap_or(false);
        if exists {
            return Ok(Check::Rejected("a second society genesis".into()));
        }
        g.law.law_hash() == r.law_hash
    } else {
        law_known(conn, &r.law_hash)?
    };
    if !law_known {
        if r.kind == kind::SOCIETY_GENESIS {
            return Ok(Check::Rejected(format!("law_hash {} is not the genesis law", r.law_hash)));
        }
        // Perhaps a law version published meanwhile whose record is still on
        // its way (gossip reorders records of different authors): the record
        // waits, bounded, like one of an unknown author, rather than being
        // refused and its honest relay scored down (decisions/0027).
        return Ok(if unsigned() { bad_signature() } else { Check::UnknownLaw(r.law_hash) });
    }
    let event = match &m.event {
        Some(e) => std::sync::Arc::clone(e),
        None => match Event::from_record(r) {
            Ok(e) => std::sync::Arc::new(e),
            Err(e) => return Ok(Check::Rejected(format!("{} payload: {e}", r.kind))),
        },
    };
    // The law it was written under (held: checked above; none before the
    // genesis applied), and the witness attestations it counts toward that
    // law's quorum, if any.
    let law = law_by_hash(conn, &r.law_hash)?;
    let witnessed = law.as_deref().and_then(|law| witnessed(law, &event, r));
    if !signature_checked {
        // What the author filled in from its society and the law it wrote
        // under (decisions/0029). Stateless, so checked once, like the signatures;
        // before them, as it needs none.
        let society = match (&*event, held_society(conn)?) {
            (Event::Genesis(_), _) => None,
            (_, Some(society)) => Some(society),
            (_, None) => return Ok(Check::Rejected("no society is held here yet".into())),
        };
        if let Some(society) = &society {
            let law = if crate::evidence::needs_law(&event) { law.as_deref() } else { None };
            if let Err(why) = crate::evidence::filled_in(&event, &r.author, r.timestamp, &r.law_hash, society, law) {
                return Ok(Check::Rejected(why));
            }
        }
        // Every signature the record holds, verified in one batch
        // (decisions/0021): its own, the proofs of possession of the LCTs it
        // registers and the client's request it carries. One batch of three
        // costs about what two single checks do.
        // A header that cannot be canonicalised cannot have been signed.
        let Ok(record_bytes) = r.signed_bytes(&m.payload_hash) else { return Ok(bad_signature()) };
        let mut batch = vec![(record_bytes, &r.signature, pk, BAD_SIGNATURE.to_owned())];
        // An LCT a record registers must be bound to its key: the id derived
        // from the key and the proof of possession valid. Without this a node
        // could register a victim's id with its own key, and the nodes that
        // kept that registration (decisions/0025) would take requests signed
        // with that key as the victim's. Stateless, so the same everywhere.
        // Checked once, with the record's signature: the writer's second pass
        // over a pre-checked record (`signature_checked`) does not repeat it.
        for doc in registered(&event) {
            if let Err(e) = doc.binding.check_id(&doc.lct_id) {
                return Ok(Check::Rejected(format!("the binding of {} does not verify: {e}", doc.lct_id)));
            }
            batch.push((
                doc.binding.proof_message(&doc.lct_id),
                &doc.binding.binding_proof,
                doc.binding.public_key,
                format!("the binding of {} does not verify: {}", doc.lct_id, web4_core::lct::BindingError::ProofFail),
            ));
        }
        // The client's request the record carries: to the route of its kind,
        // asking for what the record holds, dated near it, signed by its
        // signer for this society (decisions/0028).
        if event.evidence().is_some() {
            // (A record with a request is never a genesis: the society was read above.)
            let Some(society) = &society else {
                return Ok(Check::Rejected("no society is held here yet".into()));
            };
            let key_of = |id: &LctId| load_signer(conn, id.as_str()).map(|row| row.map(|row| row.public_key));
            match crate::evidence::prepare(&event, &r.author, r.timestamp, society, key_of)? {
                crate::evidence::Prepared::Nothing => {}
                crate::evidence::Prepared::Signature(u) => {
                    let why = u.refusal();
                    let u = *u;
                    batch.push((u.message, u.signature, u.key, why));
                }
                crate::evidence::Prepared::UnknownSigner(id) => {
                    return Ok(if unsigned() { bad_signature() } else { Check::UnknownSigner(id) });
                }
                crate::evidence::Prepared::Invalid(why) => return Ok(Check::Rejected(why)),
            }
        }
        // The witness attestations the record counts toward its law's quorum
        // (a mint's birth witnesses, a witnessed authorization's): each by an
        // LCT registered here, for the record's event, fresh, and signed
        // (verified in this batch). The owner put in only those it counted,
        // so one that does not verify is a forgery. Counted below.
        if let Some(w) = &witnessed {
            for a in w.attestations {
                // The owner never counts the subject: a record that does is
                // refused rather than left waiting for its own registration.
                if &a.witness == w.subject {
                    return Ok(Check::Rejected(format!(
                        "this {} record counts an attestation by its own subject {}",
                        r.kind, a.witness
                    )));
                }
                let Some(row) = load_signer(conn, a.witness.as_str())? else {
                    return Ok(if unsigned() { bad_signature() } else { Check::UnknownSigner(a.witness.clone()) });
                };
                let refusal = |e: &dyn std::fmt::Display| {
                    format!("the attestation by {} in this {} record does not count: {e}", a.witness, r.kind)
                };
                if let Err(e) = a.check_unsigned(&w.event, w.at, w.max_skew) {
                    return Ok(Check::Rejected(refusal(&e)));
                }
                match a.signed_message() {
                    Ok(msg) => batch.push((msg, &a.sig, row.public_key, refusal(&"its signature does not verify"))),
                    Err(e) => return Ok(Check::Rejected(refusal(&e))),
                }
            }
        }
        let items: Vec<(&[u8], &web4_core::Signature, &PublicKey)> =
            batch.iter().map(|(msg, sig, key, _)| (msg.as_slice(), *sig, key)).collect();
        if let Some(failed) = web4_core::crypto::verify_each(&items).iter().position(Result::is_err) {
            return Ok(Check::Rejected(batch.swap_remove(failed).3));
        }
    }
    // What a losing home of a registration recorded about that LCT's account
    // or reputation applies without effect: refusing it would stall its
    // author's chain here, and the state it would change is not its author's
    // to decide here (decisions/0025, session-30 addendum).
    if voided(conn, &r.author, &event)? {
        return Ok(Check::Next(event));
    }
    // A record about an owned object not known here yet (the root of its
    // delegation tree, its lease, its LCT still on the way) waits for it:
    // without the object its owner cannot be checked, and a node that has
    // the object would refuse what this one applied (decisions/0027).
    // (A grant void for this author, in an expiry that ends others too, is
    // skipped here and by the apply.)
    for obj in Owned::of_event(&event) {
        if !object_known(conn, &obj)? && !void_for(conn, &obj, &r.author)? {
            return Ok(Check::UnknownObject(obj));
        }
    }
    // A lease is priced at a rates version, which never changes once
    // recorded: it waits for that version, then opens as it prices.
    if let Event::Allocate(a) = event.as_ref() {
        let rates = Owned::Rates(a.rates_version.clone());
        if !object_known(conn, &rates)? {
            return Ok(Check::UnknownObject(rates));
        }
        if let Some(why) = lease_off_rates(conn, law.as_deref(), a, r)? {
            return Ok(Check::Rejected(why));
        }
    }
    // A decision that pairs a role and does not deny waits until the actor
    // is known here to have held it. Whether it still held it when its
    // decision was taken depends on other chains' records, in any order,
    // and is not checked (decisions/0029, session-31 addendum).
    if let Event::AuthDecision(d) = event.as_ref()
        && d.decision != "denied"
        && let Some(role) = paired_role(d)
    {
        let held = Owned::Role(d.actor.to_string(), vec![role]);
        if !object_known(conn, &held)? {
            return Ok(Check::UnknownObject(held));
        }
    }
    // The witnesses a record counts, recounted: distinct, not its subject,
    // each known here to have held the witness role (waiting until it is, as
    // for a role a decision pairs). Whether each was active and still a
    // witness when the owner counted it depends on other chains' records and
    // is not checked (decisions/0029, session-31 addendum).
    if let Some(w) = &witnessed {
        let (mut seen, mut nonces, mut valid) =
            (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), 0u32);
        for a in w.attestations {
            if &a.witness == w.subject || !nonces.insert(&a.nonce) || !seen.insert(&a.witness) {
                continue;
            }
            let held = Owned::Role(a.witness.to_string(), vec!["witness".into()]);
            if !object_known(conn, &held)? {
                return Ok(Check::UnknownObject(held));
            }
            valid = valid.saturating_add(1);
        }
        if !w.rule.met(valid) {
            return Ok(Check::Rejected(format!(
                "this {} record counts {valid} valid witness attestations; the law it was written under requires {}",
                r.kind,
                w.rule.required()
            )));
        }
    }
    // The request's signer must have held a role the law asks of it (the
    // handlers' `require_role`): waits until it is known here to have held
    // one. Whether it still held it when the author decided depends on other
    // chains' records and is not checked (decisions/0029, session-31
    // addendum).
    if let Some(ev) = event.evidence() {
        let Some(law) = law.as_deref() else { return Ok(Check::UnknownLaw(r.law_hash)) };
        match required_roles(&event, law) {
            Required::Nothing => {}
            Required::Refused(why) => return Ok(Check::Rejected(why)),
            Required::OneOf(roles) => {
                let held = Owned::Role(ev.signer.to_string(), roles);
                if !object_known(conn, &held)? {
                    return Ok(Check::UnknownObject(held));
                }
            }
        }
    }
    // Every object's owner, but a grant void for this author (in an expiry
    // that ends others too), which the apply skips.
    for obj in Owned::of_event(&event) {
        if let Some(owner) = owner_of(conn, &obj)?
            && owner != r.author.as_str()
            && !void_for(conn, &obj, &r.author)?
        {
            return Ok(Check::NotTheOwner(format!(
                "{obj} is owned by {owner}; {} may not record changes to it",
                r.author
            )));
        }
    }
    Ok(Check::Next(event))
}

/// The society this store holds, once its genesis applied.
fn held_society(conn: &Connection) -> Result<Option<LctId>, StoreError> {
    let id: Option<String> =
        conn.prepare_cached("SELECT society_id FROM societies LIMIT 1")?.query_row([], |row| row.get(0)).optional()?;
    id.map(|s| LctId::parse(&s).map_err(|_| StoreError::Corrupt("societies.society_id".into()))).transpose()
}

/// A law version held here, by its hash; parsed once per process, since a
/// version never changes (its hash names its content).
fn law_by_hash(
    conn: &Connection,
    hash: &Hash,
) -> Result<Option<std::sync::Arc<web4_core::law::LawDataset>>, StoreError> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    static LAWS: LazyLock<Mutex<HashMap<Hash, Arc<web4_core::law::LawDataset>>>> = LazyLock::new(Default::default);
    let lock = || LAWS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(law) = lock().get(hash) {
        return Ok(Some(Arc::clone(law)));
    }
    let text: Option<String> = conn
        .prepare_cached("SELECT law FROM law_versions WHERE law_hash = ?1 LIMIT 1")?
        .query_row([hash.to_string()], |row| row.get(0))
        .optional()?;
    let Some(text) = text else { return Ok(None) };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("law_versions.law: {e}")))?;
    let law = Arc::new(
        web4_core::law::LawDataset::try_from(doc).map_err(|e| StoreError::Corrupt(format!("law_versions.law: {e}")))?,
    );
    let mut laws = lock();
    // A handful of versions in a node's life; bounded all the same.
    if laws.len() >= 64 {
        laws.clear();
    }
    laws.insert(*hash, Arc::clone(&law));
    Ok(Some(law))
}

/// Why a received record does not fit the state it applies to, for the
/// kinds whose state only their own author's chain changes (so that the
/// state is the same on every node when the record applies): an outcome's
/// pair (ADR 0017), a decision's grant tree (its owner records its grants,
/// spends, approvals, revocations and expiries), a lease's metering and
/// settlement (its owner writes its usage, release and expiry; a lease paid
/// from a grant is allocated, hence owned, by the grant tree's owner, so its
/// release returning budget to the grant is that owner's record too). Refused before anything is written, rather
/// than failing the store's transaction, which would fail the whole batch
/// it came in and have sync fetch it again and again.
fn off_state(conn: &Connection, event: &Event, r: &Record) -> Result<Option<String>, StoreError> {
    match event {
        Event::Outcome(o) => outcome_off_law(conn, o, &r.law_hash),
        Event::AuthDecision(d) => decision_off_law(conn, d, r),
        Event::Delegate(d) => redelegation_off_tree(conn, d, r),
        Event::Interpretation(i) => interpretation_off_chain(conn, i),
        Event::Rates(x) => rates_off_chain(conn, x, r),
        Event::Usage(u) => Ok(match load_allocation(conn, &u.allocation_id)? {
            None => Some(format!("this resource.usage record reports on {}, not held here", u.allocation_id)),
            Some(lease) => meters(&lease, u, r.timestamp).err(),
        }),
        Event::Release(x) => Ok(settles(load_allocation(conn, &x.allocation_id)?.as_ref(), x).err()),
        _ => Ok(None),
    }
}

/// Why received record `r` is refused when an earlier record of its author
/// and kind carries the same signed request: a node that recorded one
/// genuine request twice (two transfers from one signed transfer, say). Its
/// author's chain orders the two alike on every node, so every node keeps
/// the first and refuses the second. Two records of different kinds may
/// carry one request (a release with its final usage report); two authors
/// may too (0026's window), and neither is refused here.
fn carried_before(conn: &Connection, event: &Event, r: &Record) -> Result<Option<String>, StoreError> {
    let Some(ev) = event.evidence() else { return Ok(None) };
    let earlier: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM carried_requests WHERE ts = ?1 AND signer = ?2 AND nonce = ?3 AND author = ?4 AND kind = ?5",
        )?
        .query_row(params![ev.timestamp.secs(), ev.signer.as_str(), ev.nonce, r.author.as_str(), r.kind], |row| row.get(0))
        .optional()?;
    Ok(earlier.map(|seq| {
        format!(
            "this {} record carries the request (signer {}, nonce {:?}) that record {seq} of {} carries already: one request is recorded once",
            r.kind, ev.signer, ev.nonce, r.author
        )
    }))
}

/// How the open lease `lease` meters usage report `u` dated `at`, or why it
/// does not as recorded: on receipt a refusal, on replay a corrupt store.
fn meters(lease: &AllocationRow, u: &ResourceUsage, at: Timestamp) -> Result<web4_core::resources::Metered, String> {
    if lease.released_at.is_some() {
        return Err(format!("this resource.usage record reports on {}, already released", u.allocation_id));
    }
    let m = lease
        .lease
        .meter(u.seq, u.used, at.secs())
        .map_err(|e| format!("this resource.usage record does not meter on {}: {e}", u.allocation_id))?;
    if m.charge != u.charge {
        return Err(format!(
            "this resource.usage record charges {} ATP; {} meters {}",
            u.charge, u.allocation_id, m.charge
        ));
    }
    Ok(m)
}

/// The open lease release `x` settles as recorded, or why it does not.
fn settles<'a>(lease: Option<&'a AllocationRow>, x: &ResourceRelease) -> Result<&'a AllocationRow, String> {
    let Some(lease) = lease else {
        return Err(format!("this resource.release record closes {}, not held here", x.allocation_id));
    };
    if lease.released_at.is_some() {
        return Err(format!("this resource.release record closes {}, already released", x.allocation_id));
    }
    if lease.lease.charged != x.charged || lease.lease.returned() != x.returned {
        return Err(format!(
            "this resource.release record settles {} as charged {} and returned {}; the lease holds {} and {}",
            x.allocation_id,
            x.charged,
            x.returned,
            lease.lease.charged,
            lease.lease.returned()
        ));
    }
    Ok(lease)
}

/// Why a received re-delegation is not one its parent allows here, if it is
/// not (decisions/0029, session-31 addendum): the parent must be held,
/// neither revoked nor awaiting approval, and the grant must narrow it
/// (`authz::check_grant`: its agent's, delegatable, scope, the budget it has
/// left, validity, funding, one level deeper) within the depth the record's
/// law allows. The parent's tree (its grants, what each has spent or
/// reserved, revocations, approvals and expiries) changes only by its
/// owner's records, and the owner records its re-delegations (ADR 0017), so
/// here it is what the owner read. Not checked: that the agent was an
/// active LCT (its status changes by other chains' records).
fn redelegation_off_tree(conn: &Connection, d: &Delegate, r: &Record) -> Result<Option<String>, StoreError> {
    let g = &d.delegation;
    let Some(parent) = &g.parent else { return Ok(None) };
    let Some(law) = law_by_hash(conn, &r.law_hash)? else {
        return Ok(Some(format!(
            "the law {} this auth.delegate record was written under is not held here",
            r.law_hash
        )));
    };
    let Some(row) = load_delegation(conn, parent)? else {
        return Ok(Some(format!("this auth.delegate record re-delegates {parent}, not held here")));
    };
    if row.revoked_at.is_some() {
        return Ok(Some(format!("this auth.delegate record re-delegates {parent}, which is revoked here")));
    }
    if row.pending {
        return Ok(Some(format!("this auth.delegate record re-delegates {parent}, which awaits approval here")));
    }
    let remaining = row.delegation.atp_budget.saturating_sub(row.spent);
    let max = crate::services::authorization::max_depth(&law);
    Ok(web4_core::authz::check_grant(g, Some((&row.delegation, remaining)), max).err().map(|why| {
        format!("this auth.delegate record re-delegates {parent} ({remaining} ATP left here) as its law does not allow: {why}")
    }))
}

/// Why a received interpretation's version is not the one the
/// interpretations held here give, if it is not (decisions/0029, session-31
/// addendum): 1 for a first one; for one that replaces another, that one
/// must be held, of the same norm and not replaced yet, and this one's
/// version is its + 1. Interpretations are the founding node's records
/// (`Owned::Society`), applied in its chain's order, so here they are what
/// the founder read.
fn interpretation_off_chain(
    conn: &Connection,
    i: &web4_core::payload::Interpretation,
) -> Result<Option<String>, StoreError> {
    let expected = match &i.replaces {
        None => 1,
        Some(old) => match load_interpretation(conn, i.society_id.as_str(), old)? {
            None => return Ok(Some(format!("this law.interpretation record replaces {old}, not held here"))),
            Some((norm, _, _)) if norm != i.norm_id => {
                return Ok(Some(format!(
                    "this law.interpretation record of norm {:?} replaces {old}, of norm {norm:?}",
                    i.norm_id
                )));
            }
            Some((_, _, Some(by))) => {
                return Ok(Some(format!("this law.interpretation record replaces {old}, already replaced by {by}")));
            }
            Some((_, v, None)) => v.saturating_add(1),
        },
    };
    Ok((i.version != expected).then(|| {
        format!(
            "this law.interpretation record holds version {}; the interpretations held here give {expected}",
            i.version
        )
    }))
}

/// Why a received rates update's version is not the next one under the law
/// it was written under, if it is not (decisions/0029, session-31
/// addendum): `<law version>#<n>`, n one more than the updates held under
/// that law. Rates are the founding node's records (`Owned::Society`), so
/// here they are what the founder counted; a version held twice would fail
/// the store's key instead.
fn rates_off_chain(conn: &Connection, x: &ResourceRates, r: &Record) -> Result<Option<String>, StoreError> {
    let Some(law) = law_by_hash(conn, &r.law_hash)? else {
        return Ok(Some(format!(
            "the law {} this resource.rates record was written under is not held here",
            r.law_hash
        )));
    };
    let held: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM resource_rates WHERE society_id = ?1 AND law_hash = ?2")?
        .query_row(params![x.society_id.as_str(), r.law_hash.to_string()], |row| row.get(0))?;
    let expected = format!("{}#{}", law.version(), held.saturating_add(1));
    Ok((x.version != expected).then(|| {
        format!("this resource.rates record holds version {}; the updates held here give {expected}", x.version)
    }))
}

/// The role a decision's request pairs, if it names one (and parses).
fn paired_role(d: &AuthDecision) -> Option<String> {
    serde_json::from_str::<web4_core::api::AuthorizeRequest>(&d.evidence.body).ok()?.role
}

/// Why a received decision on a grant is not the one the law it was written
/// under gives on the grant's chain as it stands here, if it is not
/// (decisions/0029, session-28 addendum). The chain (the grants, their
/// spending, revocations and approvals) changes only by the records of the
/// tree's owner, the only node that records decisions on it (ADR 0017), so
/// here it is what the owner read; the law is the record's; the time the
/// record's. Two things the peer cannot decide are left as recorded: whether
/// the actor held the role a decision pairs when the owner decided (roles
/// change by any authority's records, in any order), so such a decision is
/// checked as if it held it ([`check_inbound`] waits until the actor is
/// known to have held it), and a denial of one is not checked; and a granted
/// one the law wants witnessed may have been deferred for want of witnesses.
fn decision_off_law(conn: &Connection, d: &AuthDecision, r: &Record) -> Result<Option<String>, StoreError> {
    let Some(grant) = &d.grant_id else { return Ok(None) };
    let Ok(asked) = serde_json::from_str::<web4_core::api::AuthorizeRequest>(&d.evidence.body) else {
        return Ok(Some("the request in this auth.decision record does not parse".into()));
    };
    // The owner may have found the actor without the role: a denial spends
    // nothing, and the peer cannot tell (decisions/0029, session-31 addendum).
    if asked.role.is_some() && d.decision == "denied" {
        return Ok(None);
    }
    let Some(law) = law_by_hash(conn, &r.law_hash)? else {
        return Ok(Some(format!(
            "the law {} this auth.decision record was written under is not held here",
            r.law_hash
        )));
    };
    let (chain, remaining) = match delegation_chain(conn, grant)? {
        Ok(c) => c,
        Err(why) => {
            return Ok(Some(format!("this auth.decision record spends from grant {grant}, which here is {why:?}")));
        }
    };
    // Role pairing passed, for a grant that pairs one: the law's norms may
    // read the role.
    let paired: Vec<String> = asked.role.iter().cloned().collect();
    let verdict = web4_core::authz::decide(
        &law,
        &web4_core::authz::Request {
            actor: &d.actor,
            actor_roles: &paired,
            role: asked.role.as_deref(),
            action: &d.action,
            resource: &d.resource,
            atp_cost: d.atp_cost,
            chain: &chain,
            atp_remaining: remaining,
            now: r.timestamp,
        },
        crate::services::authorization::max_depth(&law),
    );
    let reason = verdict.denial.as_ref().map(ToString::to_string);
    // The decision, and whether it gives a reason; not the reason's wording,
    // which a later release may change without changing what is decided.
    let agrees = (d.decision == verdict.decision && d.reason.is_some() == reason.is_some())
        || (verdict.granted && d.decision == "deferred" && d.reason.is_none() && law.quorum_for(&d.action).is_some());
    Ok((!agrees).then(|| {
        format!(
            "this auth.decision record holds {:?} ({:?}) on grant {grant}; its law {} gives {:?} ({:?}) on the chain held here",
            d.decision, d.reason, r.law_hash, verdict.decision, reason
        )
    }))
}

/// Why a received outcome's delta is not the one the law it was written
/// under gives on the pair's tensors as they stand here, if it is not
/// (decisions/0029, session-28 addendum). The pair's tensors and streak are
/// changed by outcomes alone, and those only by the entity's home (ADR 0017),
/// whose chain applies in order: here they are what the home read when it
/// wrote the record. The gains may have been taken away for self-dealing or a
/// witness cycle, which depend on other chains' records, so either form of
/// the law's delta is accepted. Up to 1e-9 per number, for the platform's
/// floating point.
fn outcome_off_law(conn: &Connection, o: &ReputationOutcome, law_hash: &Hash) -> Result<Option<String>, StoreError> {
    use web4_core::reputation::{Outcome, deltas_agree, outcome_delta};
    let Some(law) = law_by_hash(conn, law_hash)? else {
        return Ok(Some(format!(
            "the law {law_hash} this reputation.outcome record was written under is not held here"
        )));
    };
    let (t3, v3, run, poor_before) = pair_before(conn, o.entity.as_str(), &o.role, &o.action)?;
    if o.same_action_run != run {
        return Ok(Some(format!(
            "this reputation.outcome record counts {} outcomes of {:?} in a row for {}/{}; this ledger gives {run}",
            o.same_action_run, o.action, o.entity, o.role
        )));
    }
    let outcome =
        Outcome { action: &o.action, result_status: &o.result_status, quality: o.quality, factors: &o.factors };
    let rep = law.reputation();
    let expected = outcome_delta(&rep, &outcome, t3, v3, run);
    // Which form of the law's delta the record holds: with the gains, or
    // without them (self-dealing or a witness cycle), or either when the
    // two are the same (no gains to take).
    let (full, without) = match (&expected, &o.delta) {
        (None, None) => (true, true),
        (Some(e), Some(d)) => (deltas_agree(e, d, 1e-9), deltas_agree(&e.clone().without_gains(), d, 1e-9)),
        _ => (false, false),
    };
    if !full && !without {
        return Ok(Some(format!(
            "this reputation.outcome record sets {}/{} to {:?}; its law {law_hash} gives {:?} on the tensors held here",
            o.entity,
            o.role,
            o.delta.as_ref().map(|d| (d.t3, d.v3)),
            expected.as_ref().map(|d| (d.t3, d.v3))
        )));
    }
    // Burst growth is judged on the law's delta before any gains are taken
    // away, as the home judged it.
    let after = expected.as_ref().map_or(t3, |d| d.t3);
    outcome_flags_off_law(conn, o, (&rep.gaming, t3, after, run, poor_before), (full, without))
}

/// Why a received outcome's gaming flags or witness-poor streak are not what
/// the pair's own history gives, if they are not (decisions/0029, session-31
/// addendum). Farming follows the same-action streak, burst growth the pair's
/// recent events and the record's delta, the witness-poor streak the pair's
/// previous one: all changed by the entity's home's outcomes alone, so the
/// same here as where it was recorded. Self-dealing, a witness cycle, and
/// whether a witness was independent depend on delegations and witnessing
/// other chains record, so they are checked only for what the record itself
/// shows: such a flag needs witnesses; gains taken away need one of the two
/// flags, and such a flag needs the gains taken away where there were gains;
/// an outcome with fewer witnesses than the law asks to be independent
/// extends the witness-poor streak.
fn outcome_flags_off_law(
    conn: &Connection,
    o: &ReputationOutcome,
    (gaming, t3, after, run, poor_before): (
        &web4_core::reputation::GamingLaw,
        web4_core::tensor::T3,
        web4_core::tensor::T3,
        u32,
        u32,
    ),
    (full, without): (bool, bool),
) -> Result<Option<String>, StoreError> {
    use web4_core::reputation::{Pattern, streak_flagged};
    let has = |p: Pattern| o.flags.iter().any(|f| f.pattern == p);
    let off = |why: String| Ok(Some(format!("this reputation.outcome record for {}/{} {why}", o.entity, o.role)));
    let flagged = |p: Pattern, expected: bool| has(p) != expected;
    if flagged(Pattern::ActionFarming, streak_flagged(run, gaming.farming_repeats)) {
        return off(format!("flags action farming as {} at a streak of {run}", has(Pattern::ActionFarming)));
    }
    // The burst window: this outcome and the pair's events before it.
    let window = gaming.burst_window.max(1);
    let (in_window, start) = crate::services::reputation::burst_window(conn, o.entity.as_str(), &o.role, window - 1)?;
    let growth = after.composite() - start.unwrap_or(t3.composite());
    let long_enough = u32::try_from(in_window).unwrap_or(u32::MAX).saturating_add(1) >= gaming.burst_window;
    let burst = long_enough && growth > gaming.burst_threshold;
    // At the threshold itself another platform's floating point may differ.
    let at_threshold = long_enough && (growth - gaming.burst_threshold).abs() <= 1e-9;
    if flagged(Pattern::BurstGrowth, burst) && !at_threshold {
        return off(format!("flags burst growth as {} at a growth of {growth}", has(Pattern::BurstGrowth)));
    }
    let poor_run = o.witness_poor_run;
    if poor_run != 0 && poor_run != poor_before.saturating_add(1) {
        return off(format!("holds a witness-poor streak of {poor_run} after {poor_before}"));
    }
    let too_few = o.witnesses.len() < usize::try_from(gaming.min_independent_witnesses).unwrap_or(usize::MAX);
    if too_few && poor_run == 0 {
        return off(format!("ends the witness-poor streak with {} witnesses", o.witnesses.len()));
    }
    if flagged(Pattern::WitnessPoor, poor_run > 0 && streak_flagged(poor_run, gaming.witness_poor_streak)) {
        return off(format!("flags witness-poor as {} at a streak of {poor_run}", has(Pattern::WitnessPoor)));
    }
    let dealt = has(Pattern::SelfDealing) || has(Pattern::WitnessCycle);
    if dealt && o.witnesses.is_empty() {
        return off("flags self-dealing or a witness cycle without witnesses".into());
    }
    if dealt && !without {
        return off("flags self-dealing or a witness cycle but keeps the gains".into());
    }
    if !dealt && !full {
        return off("takes the gains away without flagging self-dealing or a witness cycle".into());
    }
    Ok(None)
}

/// The refusal of a record whose signature does not verify with its
/// author's key.
pub const BAD_SIGNATURE: &str = "signature does not verify with the author's key";

/// How far ahead of this node's clock a received record may be dated and
/// still apply (twice the default request skew).
pub const MAX_RECORD_AHEAD_SECS: i64 = 600;

/// The LCTs that `event` registers, each to be bound to its key.
fn registered(event: &Event) -> Vec<&LctDocument> {
    match event {
        Event::Mint(m) => vec![&m.lct],
        Event::Transition(t) => vec![&t.lct],
        Event::Genesis(g) => g.members.iter().map(|m| &m.lct).collect(),
        _ => Vec::new(),
    }
}

/// The witness attestations a record counts toward a quorum its law asks
/// for, and what they are checked against.
struct Witnessed<'a> {
    attestations: &'a [web4_core::witness::Attestation],
    /// Who may not attest (the LCT born, the actor).
    subject: &'a LctId,
    event: Hash,
    rule: web4_core::witness::QuorumRule,
    /// The time the owner counted them at, and how far from it they may be.
    at: Timestamp,
    max_skew: i64,
}

/// How long an honest owner may take from counting an authorization's
/// witnesses to dating its record (the writer's queue), on top of the law's
/// freshness bound. The owner checks it again when it dates the record
/// ([`witnesses_still_fresh`]) and defers the decision past it.
pub const WITNESS_QUEUE_SECS: i64 = 60;

/// Whether the attestations an authorization counted for `event` are still
/// within what peers accept at `at`, the record's time: the law's freshness
/// bound `max_skew` and [`WITNESS_QUEUE_SECS`] (decisions/0029, session 31).
pub fn witnesses_still_fresh(
    attestations: &[web4_core::witness::Attestation],
    event: &Hash,
    at: Timestamp,
    max_skew: i64,
) -> Result<(), web4_core::witness::WitnessError> {
    let bound = max_skew.saturating_add(WITNESS_QUEUE_SECS);
    attestations.iter().try_for_each(|a| a.check_unsigned(event, at, bound))
}

/// The attestations received record `r` counts toward its law's witness
/// quorum: a mint's birth witnesses (counted at the birth time, which the
/// certificate holds), a granted authorization's when the law wants
/// witnesses for its action, and a law publication's under the law it
/// replaces (both counted when the request was decided, just before the
/// record's time). `None` for other records.
fn witnessed<'a>(law: &web4_core::law::LawDataset, event: &'a Event, r: &Record) -> Option<Witnessed<'a>> {
    match event {
        Event::Mint(m) => m.lct.birth_certificate.as_ref().map(|cert| {
            let identity = law.identity();
            Witnessed {
                attestations: &cert.birth_witnesses,
                subject: &m.lct.lct_id,
                event: m.lct.binding.event_hash(&cert.issuing_society),
                rule: identity.birth_quorum,
                at: cert.birth_timestamp,
                max_skew: identity.witness_max_skew_seconds,
            }
        }),
        Event::AuthDecision(d) if d.decision == "granted" => law.quorum_for(&d.action).map(|rule| Witnessed {
            attestations: &d.witnesses,
            subject: &d.actor,
            event: web4_core::payload::authorize_event(&d.actor, &d.action, &d.resource, d.atp_cost, &d.evidence.nonce),
            rule,
            at: r.timestamp,
            max_skew: law.identity().witness_max_skew_seconds.saturating_add(WITNESS_QUEUE_SECS),
        }),
        // Counted under the law it replaces (the record's), when the
        // publication was asked, just before the record's time.
        Event::LawPublish(p) => Some(Witnessed {
            attestations: &p.witnesses,
            subject: &p.evidence.signer,
            event: web4_core::payload::law_publish_event(&p.society_id, &p.law.law_hash(), &p.previous),
            rule: law.quorum_for("law.publish").unwrap_or(web4_core::witness::QuorumRule::Threshold { n: 0 }),
            at: r.timestamp,
            max_skew: law.identity().witness_max_skew_seconds.saturating_add(WITNESS_QUEUE_SECS),
        }),
        _ => None,
    }
}

/// What the law a record was written under asks of the signer of the
/// request it carries.
enum Required {
    Nothing,
    /// One of these roles (never none).
    OneOf(Vec<String>),
    /// The law allows no one.
    Refused(String),
}

/// The roles, one of which the signer of the request `event` carries had to
/// hold under `law` (the law the record was written under): what each
/// handler asks with `require_role` (and the graph's curators). A
/// self-revocation asks none; a self-mint none, under open admission only; a
/// re-delegation asks its parent's agent (checked against the parent); a root
/// delegation asks the law's `delegation.allowed_roles` if it names any; a
/// triple about its signer none (decisions/0029, session-31 addendum).
fn required_roles(event: &Event, law: &web4_core::law::LawDataset) -> Required {
    // A law that lists no role for a request allows it to no one.
    let one_of = |roles: Vec<String>| {
        if roles.is_empty() {
            Required::Refused(format!(
                "this {} record was written under a law that allows its request to no role",
                event.kind()
            ))
        } else {
            Required::OneOf(roles)
        }
    };
    match event {
        Event::Mint(m) if m.evidence.signer != m.lct.lct_id => one_of(law.identity().mint_roles),
        Event::Mint(_) if !law.identity().open_admission => {
            Required::Refused("this lct.mint record registers a self-mint under a law whose admission is closed".into())
        }
        Event::Suspend(_) | Event::Reinstate(_) | Event::AtpSlash(_) => one_of(law.identity().status_roles),
        Event::Revoke(v) if v.evidence.signer != v.lct_id => one_of(law.identity().status_roles),
        Event::RoleGrant(_) | Event::RoleRevoke(_) | Event::ApproveDelegation(_) => one_of(law.identity().role_roles),
        Event::Delegate(d) if d.delegation.parent.is_none() => {
            match law.as_json()["delegation"]["allowed_roles"].as_array() {
                Some(a) => one_of(a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect()),
                None => Required::Nothing,
            }
        }
        Event::AtpMint(_) | Event::AtpCharge(_) => one_of(vec![law.atp().mint_authority]),
        Event::Rates(_) => match law.resources().rates_authority {
            Some(a) => one_of(vec![a]),
            None => Required::Refused(
                "this resource.rates record was written under a law that names no resources.rates_authority".into(),
            ),
        },
        Event::LawPublish(_) | Event::Interpretation(_) => {
            one_of(crate::services::governance::PUBLISH_ROLES.iter().map(|r| (*r).to_owned()).collect())
        }
        // A triple about another subject than its signer: a curator's.
        Event::GraphTriple(t) if t.subject != t.evidence.signer.as_str() => {
            one_of(crate::services::knowledge::CURATOR_ROLES.iter().map(|r| (*r).to_owned()).collect())
        }
        _ => Required::Nothing,
    }
}

/// The refusal of a record whose author is no node (decisions/0027).
fn not_a_node(r: &Record, author_type: EntityType) -> Check {
    Check::Rejected(format!(
        "author {} is a {} LCT: only nodes (infrastructure LCTs) author ledger records",
        r.author,
        author_type.as_str()
    ))
}

/// Keep a validly signed second record for a held (author, seq) as evidence.
pub fn keep_equivocation(conn: &Connection, m: &Inbound, held: &str, now: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO equivocations (author, seq, kept_hash, other_hash, other_record, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![
        m.record.author.as_str(),
        i64::try_from(m.record.seq).unwrap_or(i64::MAX),
        held,
        m.hash.to_string(),
        m.text,
        now.secs()
    ])?;
    Ok(())
}

/// Check a received record against the store's chain head and, when it is the
/// next link, append and apply it. `signature_checked`: the caller verified
/// the signature already (the federation's pre-check before forwarding).
pub fn apply_inbound(
    conn: &Connection,
    m: &Inbound,
    now: Timestamp,
    signature_checked: bool,
) -> Result<Foreign, StoreError> {
    use crate::store::writer::{load_head, save_head};
    let r = &m.record;
    let head = load_head(conn, &r.author)?;
    let event = match check_inbound(conn, m, head, signature_checked, now)? {
        Check::Next(e) => e,
        Check::Duplicate => return Ok(Foreign::Duplicate),
        Check::Gap { have } => return Ok(Foreign::Gap { have }),
        Check::UnknownAuthor => return Ok(Foreign::UnknownAuthor),
        Check::UnknownLaw(h) => return Ok(Foreign::UnknownLaw(h)),
        Check::UnknownObject(o) => return Ok(Foreign::UnknownObject(o)),
        Check::UnknownSigner(id) => return Ok(Foreign::UnknownSigner(id)),
        Check::TooEarly(t) => return Ok(Foreign::TooEarly(t)),
        Check::Rejected(why) | Check::NotTheOwner(why) => return Ok(Foreign::Rejected(why)),
        Check::Equivocation { held } => {
            keep_equivocation(conn, m, &held, now)?;
            return Ok(Foreign::Rejected(format!("equivocation: {} already has seq {} ({held})", r.author, r.seq)));
        }
    };
    // One request, one record of each kind by one author (decisions/0028,
    // session-29 addendum): checked on the writer, since the earlier record
    // may be in the same batch.
    if let Some(why) = carried_before(conn, &event, r)? {
        return Ok(Foreign::Rejected(why));
    }
    // Checked here, on the writer, against the state this record applies to
    // (a voided record applies to none).
    let void = !matches!(*event, Event::Expire(_)) && voided(conn, &r.author, &event)?;
    if !void && let Some(why) = off_state(conn, &event, r)? {
        return Ok(Foreign::Rejected(why));
    }
    let row = crate::store::writer::insert_record(conn, &m.hash, &r.author, r.seq, &r.kind, &m.text)?;
    if let Some(ev) = event.evidence() {
        // What `carried_before` looks for in this author's later records.
        conn.prepare_cached(
            "INSERT OR IGNORE INTO carried_requests (ts, signer, nonce, author, kind, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![ev.timestamp.secs(), ev.signer.as_str(), ev.nonce, r.author.as_str(), r.kind, to_i64(r.seq)])?;
    }
    let effects = apply_event_as(conn, &event, (&r.author, r.seq, row), r.timestamp, (&m.hash, r.law_hash), void)?;
    save_head(conn, &r.author, crate::store::writer::Head { seq: r.seq, hash: m.hash })?;
    Ok(Foreign::Applied { hash: m.hash, effects })
}

/// Verify a record received from a peer and, when it is the next link of its
/// author's chain, append and apply it: the same road as a local write
/// (architecture doc): signature, chain link, author status, law hash, apply.
/// A second, different record for a held (author, seq) is equivocation: kept
/// as evidence in `equivocations`, refused.
pub fn accept_foreign(conn: &Connection, text: &str, now: Timestamp) -> Result<Foreign, StoreError> {
    match parse_inbound(text.to_owned()) {
        Ok(m) => apply_inbound(conn, &m, now, false),
        Err(why) => Ok(Foreign::Rejected(why)),
    }
}

/// What a piece of equivocation evidence from a peer turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Two valid records of one author with one seq, not known before: kept.
    New,
    /// Already held.
    Known,
    /// Not evidence (unsigned, different slots, identical, unknown author).
    Invalid(String),
}

/// Check and keep evidence that an author signed two different records with
/// the same seq (decisions/0016): both must verify with the author's key.
pub fn accept_evidence(conn: &Connection, a: &str, b: &str, now: Timestamp) -> Result<Evidence, StoreError> {
    let parse = |t: &str| serde_json::from_str::<Record>(t).ok().and_then(|r| r.hash().ok().map(|h| (r, h)));
    let (Some((ra, ha)), Some((rb, hb))) = (parse(a), parse(b)) else {
        return Ok(Evidence::Invalid("not two records".into()));
    };
    if ra.author != rb.author || ra.seq != rb.seq {
        return Ok(Evidence::Invalid("the records are not for the same author and seq".into()));
    }
    if ha == hb {
        return Ok(Evidence::Invalid("the records are the same".into()));
    }
    let Some(pk) = author_key(conn, &ra)? else {
        return Ok(Evidence::Invalid(format!("author {} is unknown here", ra.author)));
    };
    if ra.verify_signature(&pk).is_err() || rb.verify_signature(&pk).is_err() {
        return Ok(Evidence::Invalid("a record does not verify with the author's key".into()));
    }
    let held: Option<String> = conn
        .prepare_cached("SELECT hash FROM ledger WHERE author = ?1 AND seq = ?2")?
        .query_row(rusqlite::params![ra.author.as_str(), i64::try_from(ra.seq).unwrap_or(i64::MAX)], |row| row.get(0))
        .optional()?;
    let (ha, hb) = (ha.to_string(), hb.to_string());
    let pairs: Vec<(&str, &str, &str)> = match held.as_deref() {
        Some(k) if k == ha => vec![(k, &hb, b)],
        Some(k) if k == hb => vec![(k, &ha, a)],
        Some(k) => vec![(k, &ha, a), (k, &hb, b)],
        None => vec![(&ha, &hb, b)],
    };
    let mut added = 0;
    for (kept, other_hash, other) in pairs {
        added += conn.prepare_cached("INSERT OR IGNORE INTO equivocations (author, seq, kept_hash, other_hash, other_record, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(rusqlite::params![ra.author.as_str(), i64::try_from(ra.seq).unwrap_or(i64::MAX), kept, other_hash, other, now.secs()],
        )?;
    }
    Ok(if added > 0 { Evidence::New } else { Evidence::Known })
}

/// A mutable object with one writer (decisions/0017): changes to it are
/// recorded only by its owner node, so concurrent requests through several
/// nodes are serialised on one writer and never overdraw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// A delegation tree, by one of its grant ids: owned by the node that
    /// recorded the root.
    Grant(String),
    /// An LCT's ATP account: owned by the LCT's home node (the node that
    /// recorded its genesis, mint or transition).
    Account(String),
    /// An entity's reputation tensors (every role): owned by the LCT's home
    /// node, like its account. Outcomes set the new tensors from the current
    /// ones, so two nodes recording outcomes for one pair would each lose the
    /// other's and end with different tensors.
    Reputation(String),
    /// The society pool, its law and rates: owned by the founding node.
    Society,
    /// A resource lease: owned by the node that opened it.
    Lease(String),
    /// A version of the resource rates (`<law version>#<n>`), which a lease
    /// is priced at: published by the founding node, like the pool's law.
    /// Never among what [`Owned::of_event`] lists: a lease waits for it
    /// (its price is checked against it) but does not change it.
    Rates(String),
    /// One of the roles (second field) an LCT (first) was given: held here
    /// once a record shows that LCT, or one it succeeds by the rotation that
    /// registered it, with one of them (decisions/0029, session-31
    /// addendum). A decision that pairs a role, a witness's attestation and
    /// a request the law allows only to some roles wait for it. Owned by no
    /// node (roles are society-wide) and never among what
    /// [`Owned::of_event`] lists.
    Role(String, Vec<String>),
}

impl std::fmt::Display for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owned::Grant(g) => write!(f, "delegation {g}"),
            Owned::Account(a) => write!(f, "the ATP account of {a}"),
            Owned::Reputation(e) => write!(f, "the reputation of {e}"),
            Owned::Society => write!(f, "the society's pool, law and rates"),
            Owned::Lease(l) => write!(f, "allocation {l}"),
            Owned::Rates(v) => write!(f, "rates version {v}"),
            Owned::Role(l, r) if r.len() == 1 => write!(f, "role {} of {l}", r[0]),
            Owned::Role(l, r) => write!(f, "one of the roles {r:?} of {l}"),
        }
    }
}

impl Owned {
    /// The objects a record changes in a way only their owner may decide.
    pub fn of_event(event: &Event) -> Vec<Owned> {
        use Owned::*;
        match event {
            Event::AuthDecision(p) => match &p.grant_id {
                Some(g) => vec![Grant(g.clone())],
                None if p.decision == "granted" && p.atp_cost > 0 => vec![Account(p.actor.to_string())],
                None => vec![],
            },
            Event::Delegate(p) => match &p.delegation.parent {
                Some(g) => vec![Grant(g.clone())],
                None if p.delegation.funded => vec![Account(p.delegation.client.to_string())],
                None => vec![],
            },
            Event::RevokeDelegation(p) => vec![Grant(p.grant_id.clone())],
            Event::ApproveDelegation(p) => vec![Grant(p.grant_id.clone())],
            Event::Expire(p) => p.grant_ids.iter().cloned().map(Grant).collect(),
            Event::Allocate(p) => match &p.grant_id {
                Some(g) => vec![Grant(g.clone())],
                None => vec![Account(p.holder.to_string())],
            },
            Event::Usage(u) => vec![Lease(u.allocation_id.clone())],
            Event::Release(r) => vec![Lease(r.allocation_id.clone())],
            Event::AtpTransfer(t) => vec![Account(t.from.to_string())],
            Event::AtpSlash(x) => vec![Account(x.account.to_string())],
            Event::Outcome(o) => vec![Reputation(o.entity.to_string())],
            Event::AtpMint(_)
            | Event::AtpCharge(_)
            | Event::Rates(_)
            | Event::LawPublish(_)
            | Event::Interpretation(_) => {
                vec![Society]
            }
            _ => vec![],
        }
    }
}

/// The node that owns `obj` now: the recorded owner, or the LCT that owner's
/// key rotations made its successor. `None` while the object is unknown here.
pub fn owner_of(conn: &Connection, obj: &Owned) -> Result<Option<String>, StoreError> {
    let one = |sql: &str, key: &str| -> Result<Option<String>, StoreError> {
        Ok(conn.prepare_cached(sql)?.query_row([key], |row| row.get::<_, Option<String>>(0)).optional()?.flatten())
    };
    let owner = match obj {
        Owned::Grant(g) => one("SELECT owner FROM delegations WHERE grant_id = ?1", g)?,
        Owned::Account(a) | Owned::Reputation(a) => one("SELECT home FROM lcts WHERE lct_id = ?1", a)?,
        // A store holds one society (foreign societies have their own stores).
        Owned::Society | Owned::Rates(_) => conn
            .prepare_cached("SELECT founder FROM societies LIMIT 1")?
            .query_row([], |row| row.get::<_, Option<String>>(0))
            .optional()?
            .flatten(),
        Owned::Lease(l) => one("SELECT owner FROM resource_allocations WHERE allocation_id = ?1", l)?,
        Owned::Role(..) => None,
    };
    let Some(owner) = owner else { return Ok(None) };
    Ok(Some(successors(conn, &owner)?.pop().unwrap_or(owner)))
}

/// Whether `obj` is held here (its owner may still be unrecorded).
pub fn object_known(conn: &Connection, obj: &Owned) -> Result<bool, StoreError> {
    let exists = |sql: &str, key: &str| -> Result<bool, StoreError> { Ok(conn.prepare_cached(sql)?.exists([key])?) };
    match obj {
        Owned::Grant(g) => exists("SELECT 1 FROM delegations WHERE grant_id = ?1", g),
        Owned::Account(a) | Owned::Reputation(a) => exists("SELECT 1 FROM lcts WHERE lct_id = ?1", a),
        Owned::Society => Ok(conn.prepare_cached("SELECT 1 FROM societies")?.exists([])?),
        Owned::Lease(l) => exists("SELECT 1 FROM resource_allocations WHERE allocation_id = ?1", l),
        Owned::Rates(v) => Ok(rates_version(conn, v)?.is_some()),
        Owned::Role(l, roles) => role_ever_held(conn, l, roles),
    }
}

/// Whether `lct`, or an LCT it succeeds by a rotation that registered it,
/// has held one of `roles`: holds it now, or a role record names it with that role
/// (a grant, or a revocation), or a registration of it gave it (its mint's
/// citizen role). Registrations that do not stand here count too
/// (`lost_registrations`): the decision's owner may have kept one of them
/// (decisions/0025). Once true it stays true as records apply: a role record
/// is never deleted, an LCT's registrations never change, and a role row
/// goes only by a role record naming it or by a rotation being displaced,
/// which leaves the old LCT its rows (decisions/0029, session-31 addendum).
fn role_ever_held(conn: &Connection, lct: &str, roles: &[String]) -> Result<bool, StoreError> {
    let Some(society) = held_society(conn)? else { return Ok(false) };
    let society = society.as_str();
    let mut todo = vec![lct.to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    // Each LCT's registrations, lost ones too; bounded like `successors`.
    while let Some(cur) = todo.pop() {
        if seen.len() > 16 || !seen.insert(cur.clone()) {
            continue;
        }
        for role in roles {
            if conn
                .prepare_cached("SELECT 1 FROM roles WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3")?
                .exists([society, &cur, role])?
                || conn
                    .prepare_cached("SELECT 1 FROM role_records WHERE society_id = ?1 AND lct_id = ?2 AND role = ?3")?
                    .exists([society, &cur, role])?
                || conn
                    .prepare_cached("SELECT 1 FROM lost_registrations WHERE lct_id = ?1 AND citizen_role = ?2")?
                    .exists([&cur, role])?
            {
                return Ok(true);
            }
        }
        // The LCTs whose rotations registered `cur`: the one that made its
        // row, and any whose registration of it did not stand.
        let standing: Option<String> = conn
            .prepare_cached(
                "SELECT json_extract(l.record, '$.payload.old') FROM lcts c JOIN ledger l ON l.id = c.doc_record
                  WHERE c.lct_id = ?1 AND l.kind = 'lct.transition'",
            )?
            .query_row([&cur], |r| r.get(0))
            .optional()?
            .flatten();
        todo.extend(standing);
        let lost: Vec<String> = conn
            .prepare_cached("SELECT old FROM lost_registrations WHERE lct_id = ?1 AND old IS NOT NULL")?
            .query_map([&cur], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        todo.extend(lost);
    }
    Ok(false)
}

/// The rates a version names: `<law version>#0` is the law's own (`None`
/// here: the caller reads them from the law), `#n` the n-th update recorded
/// under that law version. `Ok(None)` also when that update is not held.
fn rates_version(conn: &Connection, version: &str) -> Result<Option<RatesAt>, StoreError> {
    let Some((law_version, n)) = version.rsplit_once('#') else { return Ok(Some(RatesAt::Malformed)) };
    if n == "0" {
        return Ok(Some(RatesAt::Law(law_version.to_owned())));
    }
    let society: Option<String> =
        conn.prepare_cached("SELECT society_id FROM societies LIMIT 1")?.query_row([], |r| r.get(0)).optional()?;
    let Some(society) = society else { return Ok(None) };
    Ok(rates_update(conn, &society, version)?.map(|rates| RatesAt::Updated(law_version.to_owned(), rates)))
}

/// Every pool's rate after the rates update `version` of `society` recorded
/// (a `resource.rates` record), if it is held here.
pub fn rates_update(
    conn: &Connection,
    society: &str,
    version: &str,
) -> Result<Option<std::collections::BTreeMap<String, f64>>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT rates FROM resource_rates WHERE society_id = ?1 AND version = ?2")?
        .query_row([society, version], |r| r.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("rates {version}: {e}")))).transpose()
}

/// What a rates version resolves to (see [`rates_version`]).
enum RatesAt {
    /// Not `<law version>#<n>`.
    Malformed,
    /// The law's own rates, under this law version.
    Law(String),
    /// The law's rates, overridden by this update, under this law version.
    Updated(String, std::collections::BTreeMap<String, f64>),
}

/// Why received allocation `a` (record `r`) is refused: its lease is not the
/// one `Lease::open` gives for the asked quantity and seconds at the rate of
/// the rates version it names, under the record's law, at the record's time
/// (decisions/0029, session-29 addendum). `Ok(None)`: it is. The caller has
/// made sure the rates version is held here (a lease waits for it).
fn lease_off_rates(
    conn: &Connection,
    law: Option<&web4_core::law::LawDataset>,
    a: &ResourceAllocate,
    r: &Record,
) -> Result<Option<String>, StoreError> {
    let Some(law) = law else { return Ok(None) };
    let rlaw = law.resources();
    let (named_law, updates) = match rates_version(conn, &a.rates_version)? {
        Some(RatesAt::Law(v)) => (v, None),
        Some(RatesAt::Updated(v, rates)) => (v, Some(rates)),
        Some(RatesAt::Malformed) | None => {
            return Ok(Some(format!(
                "this resource.allocate record names rates version {:?}, not held",
                a.rates_version
            )));
        }
    };
    if named_law != law.version() {
        return Ok(Some(format!(
            "this resource.allocate record is priced at rates version {} of law version {named_law}; its law is version {}",
            a.rates_version,
            law.version()
        )));
    }
    let Some(pool) = rlaw.pools.get(&a.resource_type) else {
        return Ok(Some(format!("the law has no {} pool", a.resource_type)));
    };
    let mut rates = rlaw.rates();
    rates.extend(updates.unwrap_or_default());
    let rate = rates.get(&a.resource_type).copied().unwrap_or(pool.rate);
    let want = web4_core::resources::Lease::open(
        a.lease.quantity,
        a.lease.seconds,
        rate,
        rlaw.burst_seconds,
        r.timestamp.secs(),
    );
    Ok(match want {
        Ok(want) if want == a.lease => None,
        Ok(want) => Some(format!(
            "this resource.allocate record opens {:?}; rates version {} under its law opens {:?}",
            a.lease, a.rates_version, want
        )),
        Err(e) => Some(format!("this resource.allocate record opens a lease its law refuses: {e}")),
    })
}

/// Whether `node` decides `obj`: it owns it, or it has no owner recorded.
pub fn owned_here(conn: &Connection, obj: &Owned, node: &str) -> Result<bool, StoreError> {
    Ok(owner_of(conn, obj)?.is_none_or(|o| o == node))
}

/// One writer per mutable object (decisions/0017): a record that spends from
/// an account, a delegation tree, a lease or the society pool, or changes the
/// law or rates, is valid only from the object's owner. Anything else could
/// overdraw what the owner is deciding on concurrently — and a record that can
/// never apply on the owner's peers would stall its author's chain there.
/// Checked on every received record and before the node records its own.
pub fn not_the_owner(conn: &Connection, author: &LctId, event: &Event) -> Result<Option<(Owned, String)>, StoreError> {
    for obj in Owned::of_event(event) {
        if let Some(o) = owner_of(conn, &obj)?
            && o != author.as_str()
        {
            return Ok(Some((obj, o)));
        }
    }
    Ok(None)
}

/// The key and entity type of a genesis record's author, from its members.
fn genesis_author(r: &Record) -> Result<Option<(PublicKey, EntityType)>, StoreError> {
    if r.kind != kind::SOCIETY_GENESIS {
        return Ok(None);
    }
    let g: Genesis = payload(r)?;
    Ok(g.members
        .iter()
        .find(|m| m.lct.lct_id == r.author)
        .map(|m| (m.lct.binding.public_key, m.lct.binding.entity_type)))
}

fn author_key(scratch: &Connection, r: &Record) -> Result<Option<PublicKey>, StoreError> {
    if let Some(row) = load_signer(scratch, r.author.as_str())? {
        return Ok(Some(row.public_key));
    }
    Ok(genesis_author(r)?.map(|(pk, _)| pk))
}

/// Migration 23's second step (decisions/0013, session 26): the graph's rows
/// as rebuilding the projections from the ledger gives them, with the stamp
/// of the newest record that set each. Before, a row kept the first record
/// that set its current weight, so an upgraded store would differ from its
/// own rebuild (`ledger verify`) wherever two records asserted one triple,
/// as every outcome with the same witness does. The records are applied in
/// ledger order into a scratch store on disk, as `verify` does, without
/// checking signatures again (the store accepted them). A record that does
/// not apply leaves the rows as the SQL step stamped them, with a warning.
/// Under systemd the start timeout is extended as it goes.
pub fn restamp_graph(live: &Connection) -> Result<(), StoreError> {
    let total: i64 = live.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))?;
    if total == 0 {
        return Ok(());
    }
    tracing::info!(
        service = "ledger",
        event = "graph_restamp",
        records = total,
        "stamping the graph's triples from the ledger (a one-time upgrade, migration 23)"
    );
    let started = std::time::Instant::now();
    // An empty path is a temporary database on disk, deleted on close.
    let mut scratch = Connection::open("")?;
    migrate(&mut scratch)?;
    let tx = scratch.transaction()?;
    let mut stmt = live.prepare("SELECT hash, record, id FROM ledger ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut n: u64 = 0;
    while let Some(row) = rows.next()? {
        let (hash, text, id): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let applied = serde_json::from_str::<Record>(&text)
            .map_err(|e| StoreError::Corrupt(format!("unreadable: {e}")))
            .and_then(|r| Ok((r, Hash::parse(&hash).map_err(|e| StoreError::Corrupt(format!("hash: {e}")))?)))
            .and_then(|(r, h)| apply(&tx, &r, &h, id));
        if let Err(e) = applied {
            tracing::warn!(
                service = "ledger",
                event = "graph_restamp_skipped",
                ledger_ref = %hash,
                error = %e,
                "a record does not apply: the graph keeps the stamps of the records its rows name"
            );
            return Ok(());
        }
        n += 1;
        if n.is_multiple_of(20_000) {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(60_000_000)]);
        }
    }
    drop(rows);
    drop(stmt);
    live.execute("DELETE FROM graph_triples", [])?;
    let mut insert = live.prepare(
        "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref, at, author, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut select = tx.prepare("SELECT s, p, o, kind, weight, ledger_ref, at, author, seq FROM graph_triples")?;
    let mut rebuilt = select.query([])?;
    let mut triples: u64 = 0;
    while let Some(r) = rebuilt.next()? {
        let values: [rusqlite::types::Value; 9] =
            [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
        insert.execute(rusqlite::params_from_iter(values))?;
        triples += 1;
    }
    tracing::info!(
        service = "ledger",
        event = "graph_restamped",
        records = n,
        triples,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "the graph's triples carry the stamps of the records that set them"
    );
    Ok(())
}

/// Verify every chain and rebuild the projections into a scratch database,
/// then compare them with the live ones.
pub fn verify(live: &Connection) -> Result<VerifyOutcome, StoreError> {
    let mut scratch = Connection::open_in_memory()?;
    migrate(&mut scratch)?;
    let mut verifiers: std::collections::HashMap<LctId, ChainVerifier> = std::collections::HashMap::new();
    let mut out = VerifyOutcome { records: 0, authors: 0, chain_errors: vec![], projection_differences: vec![] };
    let mut stmt = live.prepare("SELECT hash, record, id FROM ledger ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let tx = scratch.transaction()?;
    while let Some(row) = rows.next()? {
        let (stored_hash, text, id): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        out.records += 1;
        let r: Record = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                out.chain_errors.push(format!("record {stored_hash}: unreadable: {e}"));
                continue;
            }
        };
        if !verifiers.contains_key(&r.author) {
            match author_key(&tx, &r)? {
                Some(pk) => {
                    verifiers.insert(r.author.clone(), ChainVerifier::new(r.author.clone(), pk));
                }
                None => {
                    out.chain_errors.push(format!("{} seq {}: author unknown", r.author, r.seq));
                    continue;
                }
            }
        }
        let Some(v) = verifiers.get_mut(&r.author) else { continue };
        match v.push(&r) {
            Ok(h) if h.to_string() == stored_hash => {
                // The scratch store has no ledger rows: documents are found
                // through the live row ids, as in the live projection.
                apply(&tx, &r, &h, id)?;
            }
            Ok(h) => out
                .chain_errors
                .push(format!("{} seq {}: stored hash {stored_hash} but record hashes to {h}", r.author, r.seq)),
            Err(e) => out.chain_errors.push(format!("{}: {e}", r.author)),
        }
    }
    tx.commit()?;
    out.authors = verifiers.len();
    // Conservation: every pool's supply is its ADP plus its accounts' ATP.
    let societies: Vec<String> =
        live.prepare("SELECT society_id FROM atp_pools")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for sid in societies {
        let p = load_pool(live, &sid)?;
        if p.total_supply != p.adp + p.atp {
            out.projection_differences.push(format!(
                "atp conservation broken for {sid}: total_supply {} != pool adp {} + account atp {}",
                p.total_supply, p.adp, p.atp
            ));
        }
    }
    for (table, key) in PROJECTION_TABLES {
        let dump = |c: &Connection| -> Result<Vec<String>, StoreError> {
            let sql = format!("SELECT * FROM {table} ORDER BY {key}");
            let mut st = c.prepare(&sql)?;
            let n = st.column_count();
            let rows = st.query_map([], |r| {
                let mut cols = Vec::with_capacity(n);
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cols.push(format!("{v:?}"));
                }
                Ok(cols.join("|"))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        };
        let (a, b) = (dump(live)?, dump(&scratch)?);
        if a != b {
            let (sa, sb): (std::collections::HashSet<&String>, std::collections::HashSet<&String>) =
                (a.iter().collect(), b.iter().collect());
            let only_live = sa.difference(&sb).count();
            let only_rebuilt = sb.difference(&sa).count();
            out.projection_differences.push(format!(
                "{table}: {} live rows, {} rebuilt; {only_live} rows only live, {only_rebuilt} only rebuilt",
                a.len(),
                b.len()
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An authorization's witnesses stay good for peers for the law's
    /// freshness bound plus the writer's queue allowance, measured from the
    /// record's time, and no longer: past it the owner defers the decision.
    #[test]
    fn witnesses_are_fresh_for_the_bound_and_the_queue_allowance() {
        use web4_core::witness::{Attestation, WitnessClass, WitnessError};
        let key = web4_core::SecretKey::from_seed(&[9; 32]);
        let (counted, event) = (Timestamp(1_800_000_000), web4_core::sha256(b"authorize"));
        let a = Attestation::sign(
            &key,
            LctId::from_public_key(&key.public_key()),
            WitnessClass::Action,
            event,
            counted,
            "n".into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let fresh = |after: i64| witnesses_still_fresh(std::slice::from_ref(&a), &event, counted.plus(after), 300);
        assert_eq!(fresh(300 + WITNESS_QUEUE_SECS), Ok(()));
        assert!(matches!(fresh(301 + WITNESS_QUEUE_SECS), Err(WitnessError::Stale { .. })));
        let other = web4_core::sha256(b"another");
        assert_eq!(
            witnesses_still_fresh(std::slice::from_ref(&a), &other, counted, 300),
            Err(WitnessError::WrongEvent)
        );
    }

    /// Evidence canonicalised before the writer gives the same payload (text
    /// and hash) as canonicalising the whole event, for every event that
    /// takes that path; other evidence, or an event without any, is
    /// prepared the plain way.
    #[test]
    fn evidence_canonicalised_before_gives_the_same_payload() {
        let sk = web4_core::SecretKey::from_seed(&[3; 32]);
        let signer = LctId::from_public_key(&sk.public_key());
        let body = r#"{"action":"read","resource":"doc:é/1","atp_cost":5,"context":{"note":"\u0001\"q\""}}"#;
        let ev = SignedRequest::sign(
            &sk,
            &signer,
            signer.clone(),
            "POST",
            "/v1/auth/authorize",
            body.into(),
            "n-1".into(),
            Timestamp(1_700_000_000),
        );
        let other = SignedRequest::sign(
            &sk,
            &signer,
            signer.clone(),
            "POST",
            "/v1/auth/authorize",
            body.into(),
            "n-2".into(),
            Timestamp(1_700_000_000),
        );
        let decision = Event::AuthDecision(web4_core::payload::AuthDecision {
            evidence: ev.clone(),
            actor: signer.clone(),
            grant_id: Some("g-1".into()),
            action: "read".into(),
            resource: "doc:é/1".into(),
            atp_cost: 5,
            decision: "granted".into(),
            reason: None,
            witnesses: Vec::new(),
        });
        let outcome = Event::Outcome(web4_core::payload::ReputationOutcome {
            evidence: ev.clone(),
            society_id: signer.clone(),
            entity: signer.clone(),
            role: "analyst".into(),
            action: "report".into(),
            result_status: "success".into(),
            quality: Some(0.85),
            factors: vec!["timely".into()],
            witnesses: Vec::new(),
            delta: None,
            same_action_run: 3,
            witness_poor_run: 1,
            flags: vec![web4_core::payload::GamingFlag {
                pattern: web4_core::reputation::Pattern::WitnessPoor,
                evidence: serde_json::json!({"run": 1, "évidence": "x"}),
            }],
        });
        // The same outcome with ASCII member names only: the typed path
        // (the one above, with "évidence", goes through a `Value`).
        let mut ascii_outcome = outcome.clone();
        if let Event::Outcome(o) = &mut ascii_outcome {
            o.flags[0].evidence = serde_json::json!({"run": 1, "evidence": "x", "rate": 0.1});
        }
        let pre = EvidenceJcs::new(&ev).unwrap();
        for event in [decision, outcome, ascii_outcome] {
            let plain = Prepared::new(event.clone()).unwrap();
            let through_value =
                web4_core::ledger::CanonicalPayload::new(serde_json::to_value(PayloadOf(&event)).unwrap()).unwrap();
            assert_eq!(plain.payload, through_value);
            let spliced = Prepared::with_evidence(event.clone(), &pre).unwrap();
            assert_eq!(spliced.payload, plain.payload);
            assert_eq!(format!("{:?}", spliced.event), format!("{event:?}"), "the event keeps its evidence");
            let mismatched = Prepared::with_evidence(event, &EvidenceJcs::new(&other).unwrap()).unwrap();
            assert_eq!(mismatched.payload, plain.payload, "other evidence is not spliced in");
        }
        let expire = Event::Expire(web4_core::payload::ExpireDelegations { grant_ids: vec!["g".into()] });
        assert_eq!(
            Prepared::with_evidence(expire.clone(), &pre).unwrap().payload,
            Prepared::new(expire).unwrap().payload
        );
    }

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, document, ledger_ref, created_at, updated_at)
             VALUES ('lct:web4:x', 'lct:web4:s', 'k', 'ai', 'active', '{}', 'r', 0, 0)",
            [],
        )
        .unwrap();
        conn
    }

    /// (role, held, at, ledger_ref) of the newest change per role.
    type Change = (String, i64, i64, String);

    fn roles(conn: &Connection) -> (Vec<String>, Vec<Change>) {
        let changes = conn
            .prepare("SELECT role, held, at, ledger_ref FROM role_changes ORDER BY role")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (roles_of(conn, "lct:web4:s", "lct:web4:x").unwrap(), changes)
    }

    /// Suspensions and reinstatements by different authors converge in any
    /// arrival order: the newest by (time, author, seq) decides the status; a
    /// revoked or superseded LCT keeps its status while its register still
    /// follows the newest stamp (decisions/0016, session-25 addendum).
    #[test]
    fn status_changes_converge_whatever_order_they_arrive_in() {
        let id = LctId::parse("lct:web4:x").unwrap();
        let st = |at: i64, author: &'static str, seq: u64| ChangeStamp { at: Timestamp(at), author, seq };
        let h = |b: u8| Hash([b; 32]);
        let changes = [
            (LctStatus::Suspended, st(10, "lct:web4:a", 1), h(1)),
            (LctStatus::Active, st(12, "lct:web4:b", 7), h(2)),
            (LctStatus::Suspended, st(12, "lct:web4:c", 2), h(3)), // same second as B's: C sorts last
            (LctStatus::Active, st(11, "lct:web4:a", 2), h(4)),
        ];
        let row = |conn: &Connection| -> (String, Option<String>, String, i64, Option<i64>, Option<String>) {
            conn.query_row(
                "SELECT status, status_reason, ledger_ref, updated_at, status_at, status_author FROM lcts WHERE lct_id = 'lct:web4:x'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .unwrap()
        };
        let mut outcomes = Vec::new();
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
            let conn = store();
            for i in order {
                let (to, stamp, r) = changes[i];
                let reason = (to == LctStatus::Suspended).then_some("why");
                apply_status_change(&conn, &id, to, reason, stamp, &r).unwrap();
            }
            outcomes.push(row(&conn));
        }
        assert_eq!(outcomes[0].0, "suspended");
        assert_eq!(outcomes[0].2, h(3).to_string());
        assert_eq!((outcomes[0].4, outcomes[0].5.as_deref()), (Some(12), Some("lct:web4:c")));
        assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");

        // An older change arriving late changes nothing and reports no change.
        let conn = store();
        let eff =
            apply_status_change(&conn, &id, LctStatus::Suspended, Some("why"), st(20, "lct:web4:a", 9), &h(5)).unwrap();
        assert!(matches!(eff, Effect::Status { from: LctStatus::Active, to: LctStatus::Suspended, .. }));
        let eff = apply_status_change(&conn, &id, LctStatus::Active, None, st(19, "lct:web4:z", 1), &h(6)).unwrap();
        assert!(matches!(eff, Effect::Status { from: LctStatus::Suspended, to: LctStatus::Suspended, .. }));
        assert_eq!(row(&conn).0, "suspended");
        // Same second, same author: chain order, so the reinstatement wins.
        apply_status_change(&conn, &id, LctStatus::Active, None, st(20, "lct:web4:a", 10), &h(7)).unwrap();
        assert_eq!(row(&conn).0, "active");
        assert_eq!(status_stamp(&conn, "lct:web4:x").unwrap(), Some((Timestamp(20), "lct:web4:a".into(), 10)));

        // A superseded (or revoked) LCT stays so; its register still moves.
        for dominant in ["superseded", "revoked"] {
            let conn = store();
            conn.execute("UPDATE lcts SET status = ?1 WHERE lct_id = 'lct:web4:x'", [dominant]).unwrap();
            apply_status_change(&conn, &id, LctStatus::Suspended, Some("why"), st(30, "lct:web4:b", 1), &h(8)).unwrap();
            let r = row(&conn);
            assert_eq!((r.0.as_str(), r.4), (dominant, Some(30)), "{r:?}");
        }
        // A change of an LCT not registered yet waits (sync retries it).
        let other = LctId::parse("lct:web4:y").unwrap();
        assert!(apply_status_change(&conn, &other, LctStatus::Active, None, st(1, "lct:web4:a", 11), &h(9)).is_err());
    }

    /// A key stops signing records from the earliest of what stopped it: the
    /// record that set a revoked or suspended status, a suspension its
    /// register holds (also under a later revocation), the end of its
    /// rotation overlap (also when revoked later).
    #[test]
    fn a_key_stops_signing_at_the_earliest_of_its_stops() {
        let conn = store();
        let set = |sql: &str| conn.execute(sql, []).unwrap();
        let since = || load_signer(&conn, "lct:web4:x").unwrap().unwrap().since.secs();
        set(
            "UPDATE lcts SET public_key = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', status = 'revoked', updated_at = 300",
        );
        assert_eq!(since(), 300, "the revocation");
        set("UPDATE lcts SET status_at = 100, status_register = 'suspended'");
        assert_eq!(since(), 100, "suspended before it was revoked");
        set("UPDATE lcts SET status_register = 'active'");
        assert_eq!(since(), 300, "reinstated before it was revoked");
        set("UPDATE lcts SET overlap_until = 200");
        assert_eq!(since(), 200, "rotated before it was revoked: the overlap's end");
    }

    /// Role changes by different authors converge in any arrival order: the
    /// newest by (timestamp, record hash) decides (decisions/0019).
    #[test]
    fn role_changes_converge_whatever_order_they_arrive_in() {
        let key = ("lct:web4:s", "lct:web4:x", "witness");
        let st = |at: i64, author: &'static str, seq: u64| ChangeStamp { at: Timestamp(at), author, seq };
        let changes = [
            (true, st(10, "lct:web4:a", 1), "sha256:aa"),
            (false, st(12, "lct:web4:b", 7), "sha256:bb"),
            (true, st(12, "lct:web4:c", 2), "sha256:cc"), // same second as B's revocation: C sorts last
            (false, st(11, "lct:web4:a", 2), "sha256:dd"),
            (false, st(12, "lct:web4:c", 3), "sha256:00"), // C's next record, same second: chain order
            (true, st(12, "lct:web4:c", 4), "sha256:ee"),
        ];
        let mut outcomes = Vec::new();
        for order in [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [1, 3, 5, 0, 2, 4], [2, 0, 4, 3, 5, 1]] {
            let conn = store();
            for i in order {
                let (held, stamp, r) = changes[i];
                apply_role(&conn, key, held, stamp, r).unwrap();
            }
            outcomes.push(roles(&conn));
        }
        assert_eq!(outcomes[0].0, vec!["witness".to_owned()]);
        assert_eq!(outcomes[0].1, vec![("witness".to_owned(), 1, 12, "sha256:ee".to_owned())]);
        assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");

        // An older change arriving late changes nothing and reports no effect.
        let conn = store();
        assert_eq!(apply_role(&conn, key, true, st(20, "lct:web4:a", 9), "sha256:01").unwrap().len(), 1);
        assert!(apply_role(&conn, key, false, st(19, "lct:web4:z", 1), "sha256:ff").unwrap().is_empty());
        assert_eq!(roles(&conn).0, vec!["witness".to_owned()]);
        // A grant then a revocation by one author in the same second: the revocation wins.
        assert_eq!(apply_role(&conn, key, false, st(20, "lct:web4:a", 10), "sha256:00").unwrap().len(), 1);
        assert!(roles(&conn).0.is_empty());
        // A role change of an LCT not registered yet waits (sync retries it).
        let other = ("lct:web4:s", "lct:web4:y", "witness");
        assert!(apply_role(&conn, other, true, st(1, "lct:web4:a", 11), "sha256:02").is_err());
    }

    /// Records that assert one graph triple with different weights (or object
    /// kinds) converge in any arrival order: the newest by (time, author,
    /// seq) decides, also when an older record arrives after two newer ones
    /// that agree (decisions/0013, session 26).
    #[test]
    fn graph_triple_weights_converge_whatever_order_they_arrive_in() {
        use crate::graph::{self, IRI, LITERAL, Source, Triple};
        let t = |kind: u8, weight: Option<f64>| Triple {
            s: "lct:web4:x".into(),
            p: "https://web4.io/ontology#pairedWith".into(),
            o: "lct:web4:y".into(),
            kind,
            weight,
        };
        let src = |lref: &'static str, at: i64, author: &'static str, seq: u64| Source { lref, at, author, seq };
        let asserted = [
            (t(IRI, Some(1.0)), src("r1", 10, "lct:web4:a", 1)),
            (t(IRI, Some(1.0)), src("r2", 20, "lct:web4:b", 4)),
            (t(IRI, Some(0.5)), src("r3", 15, "lct:web4:c", 2)),
            (t(IRI, Some(0.25)), src("r4", 20, "lct:web4:a", 9)), // same second as B's: B sorts last
            (t(LITERAL, None), src("r5", 12, "lct:web4:d", 1)),
        ];
        type Row = (u8, Option<f64>, String, i64, String, i64);
        let row = |conn: &Connection| -> Row {
            conn.query_row("SELECT kind, weight, ledger_ref, at, author, seq FROM graph_triples", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
        };
        let mut outcomes = Vec::new();
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [0, 1, 3, 4, 2], [2, 4, 1, 0, 3], [1, 0, 2, 3, 4]] {
            let conn = store();
            // The live graph, fed the effects in the same order.
            let k = graph::Knowledge::load(&conn, std::path::Path::new(".")).unwrap();
            for i in order {
                let (triple, source) = asserted[i].clone();
                let effects = graph::add(&conn, triple, source).unwrap();
                k.on_commit(&effects);
            }
            let trust = k.adj.read().unwrap().path_trust("lct:web4:x", "lct:web4:y", 1, 10).0;
            let objects: Vec<String> = k
                .store
                .iter()
                .map(|q| q.unwrap())
                .filter(|q| q.predicate.as_str().ends_with("#pairedWith"))
                .map(|q| q.object.to_string())
                .collect();
            outcomes.push((row(&conn), trust, objects));
        }
        assert_eq!(outcomes[0].0, (IRI, Some(1.0), "r2".to_owned(), 20, "lct:web4:b".to_owned(), 4));
        assert_eq!(outcomes[0].2, ["<lct:web4:y>"], "one pairing quad, the IRI");
        assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:#?}");

        // An older assertion arriving late changes nothing and reports nothing;
        // a newer one with another weight reports the old triple gone and the new one.
        let conn = store();
        assert_eq!(graph::add(&conn, t(IRI, Some(0.5)), src("r6", 30, "lct:web4:a", 1)).unwrap().len(), 1);
        assert!(graph::add(&conn, t(IRI, Some(0.75)), src("r7", 29, "lct:web4:z", 1)).unwrap().is_empty());
        assert!(graph::add(&conn, t(IRI, Some(0.5)), src("r8", 31, "lct:web4:a", 2)).unwrap().is_empty());
        let replaced = graph::add(&conn, t(IRI, Some(0.75)), src("r9", 32, "lct:web4:a", 3)).unwrap();
        assert!(
            matches!(replaced.as_slice(), [Effect::Triple { add: false, triple: old }, Effect::Triple { add: true, triple: new }]
                if old.weight == Some(0.5) && new.weight == Some(0.75)),
            "{replaced:?}"
        );
        assert_eq!(row(&conn).1, Some(0.75));
    }
}
