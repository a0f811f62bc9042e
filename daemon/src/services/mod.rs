//! Services: load state, decide with web4-core, record through the writer.

pub mod atp;
pub mod authorization;
pub mod checks;
pub mod governance;
pub mod identity;
pub mod knowledge;
pub mod reputation;
pub mod resources;

use crate::metrics::Metrics;
use crate::store::ReadPool;
use crate::store::writer::Writer;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use web4_core::law::{IdentityLaw, LawDataset};
use web4_core::{LctId, SecretKey, Timestamp};

/// The society this node serves and the law in force.
#[derive(Debug, Clone)]
pub struct Society {
    pub id: LctId,
    pub name: String,
    pub law: LawDataset,
    pub identity: IdentityLaw,
}

/// The society this node serves, shared by the request handlers and the
/// commit hook.
#[derive(Debug)]
pub struct SocietyCell(std::sync::RwLock<Arc<Society>>);

impl SocietyCell {
    pub fn new(s: Society) -> SocietyCell {
        SocietyCell(std::sync::RwLock::new(Arc::new(s)))
    }

    /// The society and the law in force now.
    pub fn get(&self) -> Arc<Society> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The law `law` is in force now (a publication committed).
    pub fn set_law(&self, law: &LawDataset) {
        let mut next = (*self.get()).clone();
        next.identity = law.identity();
        next.law = law.clone();
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(next),
            Err(p) => *p.into_inner() = Arc::new(next),
        }
    }
}

/// Everything a request handler needs.
pub struct Node {
    pub id: LctId,
    pub key: SecretKey,
    /// The society and the law in force; replaced by the commit hook when a
    /// law publication (this node's or a peer's) applied.
    pub society_cell: Arc<SocietyCell>,
    pub reads: ReadPool,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    /// Whether the node holds the `witness` role (read at start, kept current
    /// by the commit hook when a role change for the node applies).
    pub self_witness: Arc<std::sync::atomic::AtomicBool>,
    pub max_skew: i64,
    pub clock: fn() -> Timestamp,
    /// Local enforcement of resource leases (cgroups), or off.
    pub enforcer: crate::enforce::Enforcer,
    /// The queryable MRH graph.
    pub knowledge: Arc<crate::graph::Knowledge>,
    pub graph_limits: GraphLimits,
    /// The libp2p federation, when `p2p_listen` is set (started after the node).
    pub federation: std::sync::OnceLock<Arc<crate::federation::Federation>>,
    /// Verified copies of other societies' ledgers (`crate::foreign`).
    pub foreign: Arc<crate::foreign::ForeignSocieties>,
    /// Bumped after every group commit (long polls of `/v1/ledger/records` wait on it).
    pub commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// Signers' keys and batched request-signature verification.
    pub verifier: crate::verify::Verifier,
}

/// Limits of SPARQL queries.
#[derive(Debug, Clone, Copy)]
pub struct GraphLimits {
    pub timeout: std::time::Duration,
    pub max_results: usize,
}

impl Node {
    /// Whether the node holds the `witness` role now.
    pub fn is_witness(&self) -> bool {
        self.self_witness.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The society and the law in force now.
    pub fn society(&self) -> Arc<Society> {
        self.society_cell.get()
    }

    /// The node clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// Wall clock, seconds.
pub fn system_clock() -> Timestamp {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}
