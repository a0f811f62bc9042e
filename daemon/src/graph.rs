//! The MRH knowledge graph (docs/decisions/0013).
//!
//! Ledger records project into triples of the `web4:` vocabulary. Like every
//! projection they are rows in SQLite (`graph_triples`), written by the apply
//! path in the record's transaction and rebuilt by `web4d ledger verify`. The
//! queryable graph is an in-memory oxigraph store plus an adjacency list of
//! the relationship edges, both loaded from that table at start and kept
//! current from the commit hook. Two kinds of triples are not stored as rows:
//! tensors, derived from the `reputation` projection, and an LCT's
//! [`DERIVED`] attributes (type, membership, status, roles), derived from the
//! `lcts` and `roles` projections.

use crate::ledger::Effect;
use crate::store::StoreError;
use oxigraph::model::{GraphNameRef, Literal, NamedNode, NamedNodeRef, Quad, Term};
use oxigraph::store::Store;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::hash_map::Entry;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use web4_core::mrh::{self, Category, WEB4};
use web4_core::tensor::{T3, V3};

/// `rdf:type`.
pub const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
const XSD_DOUBLE: &str = "http://www.w3.org/2001/XMLSchema#double";

/// What the object of a triple is.
pub const IRI: u8 = 0;
/// A plain string literal.
pub const LITERAL: u8 = 1;
/// An `xsd:double` literal.
pub const DOUBLE: u8 = 2;

/// One stored triple.
#[derive(Debug, Clone, PartialEq)]
pub struct Triple {
    pub s: String,
    pub p: String,
    pub o: String,
    pub kind: u8,
    /// Edge weight of a relationship triple (used by traversal and trust).
    pub weight: Option<f64>,
}

/// A `web4:` term.
pub fn w4(local: &str) -> String {
    format!("{WEB4}{local}")
}

impl Triple {
    /// An IRI-object triple.
    pub fn iri(s: &str, p: &str, o: &str) -> Triple {
        Triple { s: s.to_owned(), p: p.to_owned(), o: o.to_owned(), kind: IRI, weight: None }
    }
    /// A relationship edge (`web4:<relation>`) with a weight.
    pub fn edge(s: &str, relation: &str, o: &str, weight: f64) -> Triple {
        Triple { s: s.to_owned(), p: w4(relation), o: o.to_owned(), kind: IRI, weight: Some(weight) }
    }
    /// A string-literal triple.
    pub fn literal(s: &str, p: &str, o: &str) -> Triple {
        Triple { s: s.to_owned(), p: p.to_owned(), o: o.to_owned(), kind: LITERAL, weight: None }
    }

    /// The quad of a triple. Its IRIs were checked when written: ids and
    /// `urn:` names the projection makes, or IRIs the triple route validated.
    fn into_quad(self) -> Quad {
        let o: Term = match self.kind {
            IRI => NamedNode::new_unchecked(self.o).into(),
            DOUBLE => Literal::new_typed_literal(self.o, NamedNodeRef::new_unchecked(XSD_DOUBLE)).into(),
            _ => Literal::new_simple_literal(self.o).into(),
        };
        Quad::new(NamedNode::new_unchecked(self.s), NamedNode::new_unchecked(self.p), o, GraphNameRef::DefaultGraph)
    }

    /// The relationship edge this triple is, if its predicate is a relation:
    /// `(source, relation local name, target, weight)`.
    fn as_edge(&self) -> Option<(&str, &str, &str, f64)> {
        let local = self.p.strip_prefix(WEB4)?;
        (self.kind == IRI && mrh::category(local).is_some())
            .then(|| (self.s.as_str(), local, self.o.as_str(), self.weight.unwrap_or(1.0)))
    }
}

// ---- projection (on the writer, inside the record's transaction) ----

/// The `web4:` predicates of an LCT's own attributes. They are derived from
/// the `lcts` row (`entityType`, `memberOf`, `status`) and the `roles` rows
/// (`hasRole`), which the same records write, so they are never stored as
/// `graph_triples` rows (a minted LCT would otherwise add four rows under a
/// random key; docs/decisions/0013, session 20). Nobody can assert them.
pub const DERIVED: [&str; 4] = ["entityType", "memberOf", "status", "hasRole"];

/// Whether a predicate is one of the [`DERIVED`] attributes.
pub fn is_derived(p: &str) -> bool {
    p.strip_prefix(WEB4).is_some_and(|local| DERIVED.contains(&local))
}

/// The effect of a derived triple appearing (`add`) or going away. The live
/// store ignores adding a triple it holds and removing one it does not.
fn derived(add: bool, t: Triple) -> Effect {
    Effect::Triple { add, triple: Box::new(t) }
}

/// An LCT's status moved to `status`: the effects that replace its
/// `web4:status` triple (removing each other status is a no-op for the ones
/// it did not have).
pub fn status_effects(id: &str, status: web4_core::lct::LctStatus) -> Vec<Effect> {
    let p = w4("status");
    let mut out: Vec<Effect> = web4_core::lct::LctStatus::ALL
        .into_iter()
        .filter(|&other| other != status)
        .map(|other| derived(false, Triple::literal(id, &p, other.as_str())))
        .collect();
    out.push(derived(true, Triple::literal(id, &p, status.as_str())));
    out
}

/// An LCT holds `role` now (`held`) or no longer.
pub fn role_effect(id: &str, role: &str, held: bool) -> Effect {
    derived(held, Triple::literal(id, &w4("hasRole"), role))
}

/// The record a triple is projected from: its ledger reference and its
/// stamp (record time in seconds, author, seq). Of the records that assert
/// one (s, p, o), the newest by stamp decides its kind and weight, so every
/// node ends with the same graph whatever order they arrived in
/// (decisions/0013, session 26), as roles do (decisions/0019).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub lref: &'a str,
    pub at: i64,
    pub author: &'a str,
    pub seq: u64,
}

/// Add (or re-weight) a triple; an effect only when something changed. A
/// record older than the one that last set the triple changes nothing; a
/// newer one takes over its stamp even when its weight is the same, so a
/// record that arrives later but is older than both cannot win.
pub fn add(conn: &Connection, t: Triple, src: Source<'_>) -> Result<Vec<Effect>, StoreError> {
    stamp(conn, t, src, true)
}

/// Set a triple with exactly `src`'s stamp, older or newer than the one it
/// held: for a triple whose stamp the caller derives from state (a role's
/// register), not from the records that asserted it. An effect only when the
/// triple was not there or its kind or weight changed.
pub fn put(conn: &Connection, t: Triple, src: Source<'_>) -> Result<Vec<Effect>, StoreError> {
    stamp(conn, t, src, false)
}

/// [`add`] (`keep_newer`: a newer stamp held stays) or [`put`].
fn stamp(conn: &Connection, t: Triple, src: Source<'_>, keep_newer: bool) -> Result<Vec<Effect>, StoreError> {
    if is_derived(&t.p) {
        return Err(StoreError::Corrupt(format!("{} is derived, not stored", t.p)));
    }
    let seq = i64::try_from(src.seq).unwrap_or(i64::MAX);
    let held: Option<(u8, Option<f64>, Option<bool>)> = conn
        .prepare_cached(
            "SELECT kind, weight, (at, author, seq) >= (?4, ?5, ?6) FROM graph_triples
             WHERE s = ?1 AND p = ?2 AND o = ?3",
        )?
        .query_row(params![t.s, t.p, t.o, src.at, src.author, seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match held {
        // A stamp that is newer or the same (the same record projecting the
        // triple twice) stays.
        Some((_, _, Some(true))) if keep_newer => Ok(vec![]),
        Some((kind, weight, _)) => {
            conn.prepare_cached(
                "UPDATE graph_triples SET kind = ?4, weight = ?5, ledger_ref = ?6, at = ?7, author = ?8, seq = ?9
                 WHERE s = ?1 AND p = ?2 AND o = ?3",
            )?
            .execute(params![t.s, t.p, t.o, t.kind, t.weight, src.lref, src.at, src.author, seq])?;
            if kind == t.kind && weight == t.weight {
                return Ok(vec![]);
            }
            let old = Triple { s: t.s.clone(), p: t.p.clone(), o: t.o.clone(), kind, weight };
            Ok(vec![
                Effect::Triple { add: false, triple: Box::new(old) },
                Effect::Triple { add: true, triple: Box::new(t) },
            ])
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref, at, author, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![t.s, t.p, t.o, t.kind, t.weight, src.lref, src.at, src.author, seq])?;
            Ok(vec![Effect::Triple { add: true, triple: Box::new(t) }])
        }
    }
}

/// Remove a triple; an effect only when it existed.
pub fn remove(conn: &Connection, s: &str, p: &str, o: &str) -> Result<Option<Effect>, StoreError> {
    let row: Option<u8> = conn
        .prepare_cached("DELETE FROM graph_triples WHERE s = ?1 AND p = ?2 AND o = ?3 RETURNING kind")?
        .query_row(params![s, p, o], |r| r.get(0))
        .optional()?;
    Ok(row.map(|kind| Effect::Triple {
        add: false,
        triple: Box::new(Triple { s: s.into(), p: p.into(), o: o.into(), kind, weight: None }),
    }))
}

/// Replace the single value of a functional property (e.g. `web4:status`).
pub fn set_literal(
    conn: &Connection,
    s: &str,
    p: &str,
    value: &str,
    src: Source<'_>,
) -> Result<Vec<Effect>, StoreError> {
    let old: Vec<String> = conn
        .prepare_cached("SELECT o FROM graph_triples WHERE s = ?1 AND p = ?2")?
        .query_map(params![s, p], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut effects = Vec::new();
    for o in old.iter().filter(|o| o.as_str() != value) {
        effects.extend(remove(conn, s, p, o)?);
    }
    effects.extend(add(conn, Triple::literal(s, p, value), src)?);
    Ok(effects)
}

/// The witness relation of a witness class.
pub fn witness_relation(class: web4_core::witness::WitnessClass) -> &'static str {
    use web4_core::witness::WitnessClass as W;
    match class {
        W::Time => "timeWitness",
        W::Audit | W::AuditMinimal => "auditWitness",
        W::Oracle => "oracleWitness",
        _ => "witnessedBy",
    }
}

/// The derived triples of a registered LCT's row (`lcts`): type,
/// membership and status.
fn lct_row_triples(id: &str, entity_type: &str, society: &str, status: &str) -> [Triple; 3] {
    [
        Triple::literal(id, &w4("entityType"), entity_type),
        Triple::edge(id, "memberOf", society, 1.0),
        Triple::literal(id, &w4("status"), status),
    ]
}

/// Triples of a newly registered LCT: its derived attributes (effects only)
/// and its stored relationship edges.
pub fn lct_triples(
    conn: &Connection,
    society: &str,
    lct: &web4_core::lct::LctDocument,
    src: Source<'_>,
) -> Result<Vec<Effect>, StoreError> {
    let id = lct.lct_id.as_str();
    let mut out: Vec<Effect> = lct_row_triples(id, lct.binding.entity_type.as_str(), society, "active")
        .into_iter()
        .map(|t| derived(true, t))
        .collect();
    let mut push = |t: Triple| -> Result<(), StoreError> {
        out.extend(add(conn, t, src)?);
        Ok(())
    };
    for b in &lct.mrh.bound {
        push(Triple::edge(id, "boundTo", b.as_str(), 1.0))?;
    }
    for p in &lct.mrh.paired {
        push(Triple::edge(id, "pairedWith", p.as_str(), 1.0))?;
    }
    if let Some(bc) = &lct.birth_certificate {
        for w in &bc.birth_witnesses {
            push(Triple::edge(id, witness_relation(w.class), w.witness.as_str(), 1.0))?;
        }
    }
    Ok(out)
}

/// The IRI of a law version.
pub fn law_iri(hash: &web4_core::Hash) -> String {
    format!("urn:web4:law:{}", hash.hex())
}

/// Triples of a law in force.
pub fn law_triples(
    conn: &Connection,
    society: &str,
    law: &web4_core::law::LawDataset,
    src: Source<'_>,
) -> Result<Vec<Effect>, StoreError> {
    let h = law.law_hash();
    let iri = law_iri(&h);
    let mut out = Vec::new();
    out.extend(add(conn, Triple::iri(society, &w4("publishes"), &iri), src)?);
    out.extend(add(conn, Triple::literal(&iri, &w4("hash"), &h.to_string()), src)?);
    out.extend(add(conn, Triple::literal(&iri, &w4("version"), law.version()), src)?);
    out.extend(set_literal(conn, society, &w4("lawHash"), &h.to_string(), src)?);
    Ok(out)
}

/// Percent-encode a role for use inside an IRI.
fn iri_part(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// The tensor node of an (entity, role) pair.
pub fn tensor_iri(kind: &str, entity: &str, role: &str) -> String {
    format!("urn:web4:{kind}:{}:{}", iri_part(entity), iri_part(role))
}

fn double(v: f64) -> Term {
    Literal::new_typed_literal(format!("{v:?}"), NamedNodeRef::new_unchecked(XSD_DOUBLE)).into()
}

/// The scores of a pair's tensors in the order of their quads: T3's three
/// dimensions and composite, then V3's.
fn scores(t3: &T3, v3: &V3) -> [f64; 8] {
    [t3.talent, t3.training, t3.temperament, t3.composite(), v3.valuation, v3.veracity, v3.validity, v3.composite()]
}

/// Where each of [`scores`] sits in [`tensor_quads`]: each tensor is its
/// link, its role, three dimensions and its composite.
const SCORE_QUADS: [usize; 8] = [2, 3, 4, 5, 8, 9, 10, 11];

/// The triples of a pair's tensors (derived from the reputation projection),
/// laid out as [`SCORE_QUADS`] says; empty when the entity is not an IRI.
fn tensor_quads(entity: &str, role: &str, t3: &T3, v3: &V3) -> Vec<Quad> {
    let Ok(e) = NamedNode::new(entity) else { return vec![] };
    let values = scores(t3, v3);
    let mut out = Vec::with_capacity(12);
    let tensors = [
        ("t3", "hasT3Tensor", ["talent", "training", "temperament", "composite"]),
        ("v3", "hasV3Tensor", ["valuation", "veracity", "validity", "composite"]),
    ];
    for ((kind, link, dims), values) in tensors.into_iter().zip(values.chunks_exact(4)) {
        // Every character outside the unreserved set is percent-encoded
        // (`iri_part`), so the node is a valid IRI by construction.
        let node = NamedNode::new_unchecked(tensor_iri(kind, entity, role));
        let q =
            |p: &str, o: Term| Quad::new(node.clone(), NamedNode::new_unchecked(w4(p)), o, GraphNameRef::DefaultGraph);
        out.push(Quad::new(e.clone(), NamedNode::new_unchecked(w4(link)), node.clone(), GraphNameRef::DefaultGraph));
        out.push(q("role", Literal::new_simple_literal(role).into()));
        for (d, v) in dims.into_iter().zip(values) {
            out.push(q(d, double(*v)));
        }
    }
    out
}

/// A pair's tensor quads in the store, with the scores they were made from.
struct PairTensors {
    scores: [f64; 8],
    quads: Vec<Quad>,
}

impl PairTensors {
    fn new(entity: &str, role: &str, t3: &T3, v3: &V3) -> PairTensors {
        PairTensors { scores: scores(t3, v3), quads: tensor_quads(entity, role, t3, v3) }
    }

    /// Take the new scores: `swap(old, new)` for the quad of each score that
    /// moved (it keeps its subject and predicate and gets the new value);
    /// the other quads stay as they are.
    fn update(&mut self, t3: &T3, v3: &V3, mut swap: impl FnMut(&Quad, &Quad)) {
        for ((old, new), at) in self.scores.iter_mut().zip(scores(t3, v3)).zip(SCORE_QUADS) {
            if old.to_bits() == new.to_bits() {
                continue;
            }
            *old = new;
            // No quads at all when the entity is not an IRI.
            let Some(q) = self.quads.get_mut(at) else { continue };
            let moved = Quad::new(q.subject.clone(), q.predicate.clone(), double(new), q.graph_name.clone());
            swap(q, &moved);
            *q = moved;
        }
    }
}

// ---- the live graph ----

/// The in-memory store (the default build).
#[cfg(not(feature = "rocksdb"))]
fn open_store(_data_dir: &std::path::Path) -> Result<Store, StoreError> {
    Store::new().map_err(|e| StoreError::Corrupt(format!("graph store: {e}")))
}

/// The on-disk store (feature `rocksdb`): emptied and reloaded from the
/// projection at start like the in-memory one, so it can never disagree with
/// the ledger; what it saves is memory, not start time.
#[cfg(feature = "rocksdb")]
fn open_store(data_dir: &std::path::Path) -> Result<Store, StoreError> {
    let store = Store::open(data_dir.join("graph")).map_err(|e| StoreError::Corrupt(format!("graph store: {e}")))?;
    store.clear().map_err(|e| StoreError::Corrupt(format!("graph store: {e}")))?;
    Ok(store)
}

/// The queryable graph: oxigraph (SPARQL) and the relationship adjacency.
pub struct Knowledge {
    pub store: Store,
    pub adj: RwLock<mrh::Graph>,
    triples: AtomicU64,
    /// The tensor quads of each (entity, role) in the store, so an update
    /// removes exactly those instead of scanning the store by subject.
    tensors: std::sync::Mutex<std::collections::HashMap<(String, String), PairTensors>>,
}

impl Knowledge {
    /// Load everything from the projections.
    pub fn load(conn: &Connection, data_dir: &std::path::Path) -> Result<Knowledge, StoreError> {
        let store = open_store(data_dir)?;
        let mut rows: Vec<Triple> = conn
            .prepare("SELECT s, p, o, kind, weight FROM graph_triples")?
            .query_map([], |r| {
                Ok(Triple { s: r.get(0)?, p: r.get(1)?, o: r.get(2)?, kind: r.get(3)?, weight: r.get(4)? })
            })?
            .collect::<Result<_, _>>()?;
        rows.extend(derived_triples(conn)?);
        let mut tensors = Vec::new();
        let mut tensor_index = std::collections::HashMap::new();
        {
            let mut stmt = conn.prepare("SELECT entity, role, t3, v3 FROM reputation")?;
            let pairs = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })?;
            for row in pairs {
                let (e, role, t3, v3) = row?;
                let (Ok(t3), Ok(v3)) = (serde_json::from_str::<T3>(&t3), serde_json::from_str::<V3>(&v3)) else {
                    continue;
                };
                let pair = PairTensors::new(&e, &role, &t3, &v3);
                tensors.extend(pair.quads.iter().cloned());
                tensor_index.insert((e, role), pair);
            }
        }
        // The adjacency and the SPARQL store are built side by side.
        let (adj, loaded) = std::thread::scope(|scope| {
            let adjacency = scope.spawn(|| {
                let mut adj = mrh::Graph::new();
                for (s, relation, o, weight) in rows.iter().filter_map(Triple::as_edge) {
                    adj.add_ref(s, relation, o, weight);
                }
                adj
            });
            let mut loader = store.bulk_loader();
            let loaded = loader
                .load_quads(rows.iter().map(|t| t.clone().into_quad()).chain(tensors))
                .and_then(|()| loader.commit());
            (adjacency.join(), loaded)
        });
        loaded.map_err(|e| StoreError::Corrupt(format!("graph bulk load: {e}")))?;
        let adj = adj.map_err(|_| StoreError::Corrupt("graph adjacency build failed".into()))?;
        let n = store.len().map_err(|e| StoreError::Corrupt(format!("graph store: {e}")))?;
        Ok(Knowledge {
            store,
            adj: RwLock::new(adj),
            triples: AtomicU64::new(n as u64),
            tensors: std::sync::Mutex::new(tensor_index),
        })
    }

    /// Triples in the store.
    pub fn triples(&self) -> u64 {
        self.triples.load(Ordering::Relaxed)
    }

    /// Follow a committed group's changes in one store transaction (one
    /// lock and one commit per group instead of one per quad; the triple
    /// count is kept as it goes: counting the store is a scan).
    pub fn on_commit(&self, effects: &[Effect]) {
        let mut tx = match self.store.start_transaction() {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(event = "graph_update_failed", error = %e);
                return;
            }
        };
        let mut delta: i64 = 0;
        let mut insert = |tx: &mut oxigraph::store::Transaction<'_>, q: &Quad| {
            if !tx.contains(q).unwrap_or(true) {
                tx.insert(q);
                delta += 1;
            }
        };
        let mut removed: i64 = 0;
        let mut remove = |tx: &mut oxigraph::store::Transaction<'_>, q: &Quad| {
            if tx.contains(q).unwrap_or(false) {
                tx.remove(q);
                removed += 1;
            }
        };
        for e in effects {
            match e {
                Effect::Triple { add, triple } => {
                    let q = (**triple).clone().into_quad();
                    if *add {
                        insert(&mut tx, &q)
                    } else {
                        remove(&mut tx, &q)
                    }
                    if let Some((s, relation, o, weight)) = triple.as_edge()
                        && let Ok(mut g) = self.adj.write()
                    {
                        if *add {
                            g.add_ref(s, relation, o, weight);
                        } else {
                            g.remove(s, relation, o);
                        }
                    }
                }
                Effect::Tensor { entity, role, t3, v3 } => {
                    let Ok(mut index) = self.tensors.lock() else {
                        for q in &tensor_quads(entity, role, t3, v3) {
                            insert(&mut tx, q);
                        }
                        continue;
                    };
                    match index.entry((entity.clone(), role.clone())) {
                        Entry::Occupied(mut slot) => slot.get_mut().update(t3, v3, |old, new| {
                            remove(&mut tx, old);
                            insert(&mut tx, new);
                        }),
                        Entry::Vacant(slot) => {
                            for q in &slot.insert(PairTensors::new(entity, role, t3, v3)).quads {
                                insert(&mut tx, q);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        match tx.commit() {
            Ok(()) => {
                let (added, removed) = (delta.unsigned_abs(), removed.unsigned_abs());
                self.triples.fetch_add(added, Ordering::Relaxed);
                self.triples.fetch_sub(removed, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(event = "graph_update_failed", error = %e),
        }
    }
}

/// Every [`DERIVED`] triple of the projections: each LCT's type, membership
/// and status, and each role it holds.
fn derived_triples(conn: &Connection) -> Result<Vec<Triple>, StoreError> {
    let mut out = Vec::new();
    let mut st = conn.prepare("SELECT lct_id, entity_type, society_id, status FROM lcts")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (id, ty, soc, status): (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        out.extend(lct_row_triples(&id, &ty, &soc, &status));
    }
    let mut st = conn.prepare("SELECT lct_id, role FROM roles")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (id, role): (String, String) = (r.get(0)?, r.get(1)?);
        out.push(Triple::literal(&id, &w4("hasRole"), &role));
    }
    Ok(out)
}

/// The local name of a `web4:` predicate that only the records establishing
/// it write: every term of the namespace but the [`assertable`] relations.
pub fn reserved(p: &str) -> Option<&str> {
    p.strip_prefix(WEB4).filter(|local| !mrh::category(local).is_some_and(assertable))
}

/// Relationship categories a `POST /v1/graph/triple` may assert (the others
/// come only from the records that establish them: membership from genesis
/// and minting, delegation from grants).
pub fn assertable(category: Category) -> bool {
    matches!(category, Category::Binding | Category::Pairing | Category::Witness)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Loaded = (Knowledge, Connection, tempfile::TempDir);

    /// The graph loaded from projections holding the rows `rows` inserts.
    fn loaded(rows: &str) -> Result<Loaded, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let c = Connection::open_in_memory()?;
        c.execute_batch(
            "CREATE TABLE graph_triples (s TEXT, p TEXT, o TEXT, kind TEXT, weight REAL);
             CREATE TABLE reputation (entity TEXT, role TEXT, t3 TEXT, v3 TEXT);
             CREATE TABLE lcts (lct_id TEXT, society_id TEXT, entity_type TEXT, status TEXT);
             CREATE TABLE roles (society_id TEXT, lct_id TEXT, role TEXT);",
        )?;
        c.execute_batch(rows)?;
        Ok((Knowledge::load(&c, dir.path())?, c, dir))
    }

    fn empty() -> Result<(Knowledge, tempfile::TempDir), Box<dyn std::error::Error>> {
        let (k, _, dir) = loaded("")?;
        Ok((k, dir))
    }

    fn objects(k: &Knowledge, s: &str, local: &str) -> Vec<String> {
        let (s, p) = (NamedNode::new_unchecked(s), NamedNode::new_unchecked(w4(local)));
        let mut out: Vec<String> = k
            .store
            .quads_for_pattern(Some(s.as_ref().into()), Some(p.as_ref()), None, None)
            .filter_map(Result::ok)
            .map(|q| q.object.to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn derived_attributes_come_from_the_lct_and_role_rows() -> Result<(), Box<dyn std::error::Error>> {
        let (k, c, _dir) = loaded(
            "INSERT INTO lcts VALUES ('lct:web4:a', 'lct:web4:soc', 'human', 'suspended'), ('lct:web4:b', 'lct:web4:soc', 'ai', 'active');
             INSERT INTO roles VALUES ('lct:web4:soc', 'lct:web4:a', 'citizen'), ('lct:web4:soc', 'lct:web4:a', 'witness');",
        )?;
        assert_eq!((k.triples(), k.store.len()?), (8, 8));
        assert_eq!(objects(&k, "lct:web4:a", "status"), ["\"suspended\""]);
        assert_eq!(objects(&k, "lct:web4:a", "entityType"), ["\"human\""]);
        assert_eq!(objects(&k, "lct:web4:a", "hasRole"), ["\"citizen\"", "\"witness\""]);
        assert_eq!(objects(&k, "lct:web4:b", "memberOf"), ["<lct:web4:soc>"]);
        let adj = k.adj.read().map_err(|_| "poisoned")?;
        assert_eq!(adj.distance("lct:web4:a", "lct:web4:b", 2), Some(2), "membership edges are in the adjacency");
        drop(adj);

        // A status change replaces the one status triple; a role comes and goes.
        k.on_commit(&status_effects("lct:web4:a", web4_core::lct::LctStatus::Revoked));
        assert_eq!(objects(&k, "lct:web4:a", "status"), ["\"revoked\""]);
        k.on_commit(&[role_effect("lct:web4:a", "witness", false), role_effect("lct:web4:b", "auditor", true)]);
        assert_eq!(objects(&k, "lct:web4:a", "hasRole"), ["\"citizen\""]);
        assert_eq!(objects(&k, "lct:web4:b", "hasRole"), ["\"auditor\""]);
        assert_eq!((k.triples(), k.store.len()?), (8, 8));

        // They are never stored as rows.
        let src = Source { lref: "r", at: 0, author: "lct:web4:a", seq: 1 };
        assert!(add(&c, Triple::literal("lct:web4:a", &w4("status"), "active"), src).is_err());
        assert!(add(&c, Triple::edge("lct:web4:a", "memberOf", "lct:web4:x", 1.0), src).is_err());
        Ok(())
    }

    fn tensor(entity: &str, role: &str, t3: T3, v3: V3) -> Effect {
        Effect::Tensor { entity: entity.into(), role: role.into(), t3, v3 }
    }

    fn score(k: &Knowledge, entity: &str, role: &str, dim: &str) -> Vec<String> {
        let node = NamedNode::new_unchecked(tensor_iri("t3", entity, role));
        k.store
            .quads_for_pattern(Some(node.as_ref().into()), Some(NamedNode::new_unchecked(w4(dim)).as_ref()), None, None)
            .filter_map(Result::ok)
            .map(|q| q.object.to_string())
            .collect()
    }

    #[test]
    fn a_tensor_update_replaces_exactly_the_scores_that_changed() -> Result<(), Box<dyn std::error::Error>> {
        let (k, _dir) = empty()?;
        let (e, role) = ("lct:web4:alice", "data analyst");
        let t3 = T3 { talent: 0.5, training: 0.5, temperament: 0.5 };
        let v3 = V3 { valuation: 0.5, veracity: 0.5, validity: 0.5 };
        k.on_commit(&[tensor(e, role, t3, v3)]);
        assert_eq!((k.triples(), k.store.len()?), (12, 12));
        assert_eq!(score(&k, e, role, "talent"), vec![double(0.5).to_string()]);

        // One score moves: its quad and the composite are replaced, the rest stay.
        let moved = T3 { talent: 0.75, ..t3 };
        k.on_commit(&[tensor(e, role, moved, v3)]);
        assert_eq!((k.triples(), k.store.len()?), (12, 12));
        assert_eq!(score(&k, e, role, "talent"), vec![double(0.75).to_string()]);
        assert_eq!(score(&k, e, role, "training"), vec![double(0.5).to_string()]);
        assert_eq!(score(&k, e, role, "composite"), vec![double(moved.composite()).to_string()]);

        // The same scores again change nothing; a second role adds its own quads;
        // two updates of one pair in one group leave the last.
        k.on_commit(&[tensor(e, role, moved, v3)]);
        assert_eq!((k.triples(), k.store.len()?), (12, 12));
        let last = T3 { temperament: 0.1, ..moved };
        k.on_commit(&[tensor(e, "auditor", t3, v3), tensor(e, role, t3, v3), tensor(e, role, last, v3)]);
        assert_eq!((k.triples(), k.store.len()?), (24, 24));
        assert_eq!(score(&k, e, role, "temperament"), vec![double(0.1).to_string()]);
        assert_eq!(score(&k, e, role, "talent"), vec![double(0.75).to_string()]);
        assert_eq!(score(&k, e, "auditor", "talent"), vec![double(0.5).to_string()]);
        Ok(())
    }

    #[test]
    fn iri_parts_are_percent_encoded() {
        assert_eq!(iri_part("data analyst/ü~"), "data%20analyst%2F%C3%BC~");
        assert_eq!(tensor_iri("t3", "lct:web4:x", "r"), "urn:web4:t3:lct%3Aweb4%3Ax:r");
    }
}
