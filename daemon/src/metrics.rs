//! Prometheus metrics, with the seed's names. Label sets are bounded: entity
//! types are a fixed enum, routes are matched route templates, statuses are
//! HTTP codes.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use web4_core::lct::{EntityType, LctStatus};

use crate::ledger::Effect;

/// `{entity_type}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EntityLabel {
    pub entity_type: String,
}

/// `{route, method, status}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabel {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// `{route}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

/// `{decision}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: String,
}

/// `{delegation_id}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DelegationLabel {
    pub delegation_id: String,
}

/// `{outcome_type}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome_type: String,
}

/// `{pattern}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PatternLabel {
    pub pattern: String,
}

/// `{entity, role}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PairLabel {
    pub entity: String,
    pub role: String,
}

/// `{resource_type}` (one of the five fixed types).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabel {
    pub resource_type: String,
}

/// `{op}`: a TPM operation (create_primary, seal, unseal, create_ak, quote, sign).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: String,
}

/// Most (entity, role) pairs given their own T3/V3 score series.
pub const MAX_PAIR_SERIES: usize = 1000;

type F64Gauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Most delegations given their own `web4_atp_budget_remaining` series.
pub const MAX_BUDGET_SERIES: usize = 1000;

/// `{code}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// All metrics of the node.
pub struct Metrics {
    registry: Registry,
    pub lct_minted: Family<EntityLabel, Counter>,
    pub lct_active: Family<EntityLabel, Gauge>,
    pub signature_verification: Histogram,
    pub birth_certificate_ledger_write: Histogram,
    pub http_requests: Family<HttpLabel, Counter>,
    pub http_duration: Family<RouteLabel, Histogram>,
    pub errors: Family<CodeLabel, Counter>,
    pub commit_group_size: Histogram,
    pub signature_batch_size: Histogram,
    pub commit_duration: Histogram,
    pub authorization_requests: Family<DecisionLabel, Counter>,
    pub authorization_duration: Histogram,
    pub delegation_active: Gauge,
    pub atp_budget_remaining: Family<DelegationLabel, Gauge>,
    pub reputation_updates: Family<OutcomeLabel, Counter>,
    pub gaming_detected: Family<PatternLabel, Counter>,
    pub t3_score: Family<PairLabel, F64Gauge>,
    pub v3_score: Family<PairLabel, F64Gauge>,
    pair_series: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    pub atp_pool_supply: Gauge,
    pub atp_pool_adp: Gauge,
    budget_series: std::sync::Mutex<std::collections::HashSet<String>>,
    pub resource_allocations: Family<ResourceLabel, Counter>,
    pub resource_utilization: Family<ResourceLabel, F64Gauge>,
    pub conversion_rate: Family<ResourceLabel, F64Gauge>,
    pub graph_triples: Gauge,
    pub sparql_duration: Histogram,
    pub traversal_depth: Histogram,
    pub tpm_operation: Family<OpLabel, Histogram>,
    pub anchor_verification: Histogram,
    pub forward_duration: Histogram,
    pub equivocations: Counter,
    pub registration_conflicts: Counter,
    pub voided_records: Counter,
    pub network_attestations: Counter,
    pub p2p_peers: Gauge,
    pub gossip_in: Counter,
    pub gossip_out: Counter,
    pub gossip_rejected: Counter,
    pub escrow_size: Gauge,
    pub sync_lag: Gauge,
    pub refused_chains: Gauge,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_025, 2.0, 18)
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let lct_minted = Family::<EntityLabel, Counter>::default();
        let lct_active = Family::<EntityLabel, Gauge>::default();
        let signature_verification = Histogram::new(latency_buckets());
        let birth_certificate_ledger_write = Histogram::new(latency_buckets());
        let http_requests = Family::<HttpLabel, Counter>::default();
        let http_duration = Family::<RouteLabel, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        let errors = Family::<CodeLabel, Counter>::default();
        let commit_group_size = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        let signature_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let commit_duration = Histogram::new(latency_buckets());
        let authorization_requests = Family::<DecisionLabel, Counter>::default();
        let authorization_duration = Histogram::new(latency_buckets());
        let delegation_active = Gauge::default();
        let atp_budget_remaining = Family::<DelegationLabel, Gauge>::default();
        let atp_pool_supply = Gauge::default();
        let reputation_updates = Family::<OutcomeLabel, Counter>::default();
        let gaming_detected = Family::<PatternLabel, Counter>::default();
        let t3_score = Family::<PairLabel, F64Gauge>::default();
        let v3_score = Family::<PairLabel, F64Gauge>::default();
        registry.register(
            "web4_reputation_updates",
            "Reputation outcomes recorded, by outcome type (success, failure, partial)",
            reputation_updates.clone(),
        );
        registry.register(
            "web4_gaming_detected",
            "Gaming patterns detected in recorded outcomes, by pattern",
            gaming_detected.clone(),
        );
        registry.register(
            "web4_reputation_t3_score",
            "T3 composite per (entity, role) (first 1000 pairs seen by this process)",
            t3_score.clone(),
        );
        registry.register(
            "web4_reputation_v3_score",
            "V3 composite per (entity, role) (first 1000 pairs seen by this process)",
            v3_score.clone(),
        );
        let atp_pool_adp = Gauge::default();
        registry.register(
            "web4_atp_pool_total_supply",
            "ATP + ADP in the society pool (changes only by mint and slash)",
            atp_pool_supply.clone(),
        );
        registry.register(
            "web4_atp_pool_adp",
            "Discharged ADP in the society pool, available to charge",
            atp_pool_adp.clone(),
        );
        registry.register(
            "web4_authorization_requests",
            "Authorization decisions, by decision",
            authorization_requests.clone(),
        );
        registry.register(
            "web4_authorization_duration_seconds",
            "Time to decide and durably record an authorization",
            authorization_duration.clone(),
        );
        registry.register(
            "web4_delegation_active_count",
            "Delegations created and not revoked",
            delegation_active.clone(),
        );
        registry.register(
            "web4_atp_budget_remaining",
            "ATP left in a delegation's budget (first 1000 delegations seen by this process)",
            atp_budget_remaining.clone(),
        );
        registry.register("web4_lct_minted", "LCTs minted, by entity type", lct_minted.clone());
        registry.register("web4_lct_active_count", "Active LCTs, by entity type", lct_active.clone());
        registry.register(
            "web4_signature_verification_duration_seconds",
            "Time to verify a request signature (of a batch: its time divided by its size)",
            signature_verification.clone(),
        );
        registry.register(
            "web4_birth_certificate_ledger_write_duration_seconds",
            "Time from submitting a mint to its durable ledger commit",
            birth_certificate_ledger_write.clone(),
        );
        registry.register(
            "web4_http_requests",
            "HTTP requests, by route template, method and status",
            http_requests.clone(),
        );
        registry.register(
            "web4_http_request_duration_seconds",
            "HTTP request latency, by route template",
            http_duration.clone(),
        );
        registry.register("web4_errors", "Errors answered, by W4 code", errors.clone());
        registry.register("web4_ledger_commit_group_size", "Jobs per group commit", commit_group_size.clone());
        registry.register(
            "web4_signature_batch_size",
            "Request signatures verified together in one batch",
            signature_batch_size.clone(),
        );
        registry.register(
            "web4_ledger_commit_duration_seconds",
            "Duration of a group commit, fsync included",
            commit_duration.clone(),
        );
        let resource_allocations = Family::<ResourceLabel, Counter>::default();
        let resource_utilization = Family::<ResourceLabel, F64Gauge>::default();
        let conversion_rate = Family::<ResourceLabel, F64Gauge>::default();
        registry.register(
            "web4_resource_allocations",
            "Resource leases opened, by resource type",
            resource_allocations.clone(),
        );
        registry.register(
            "web4_resource_pool_utilization",
            "Allocated share of each resource pool's capacity (0 to 1), refreshed at scrape",
            resource_utilization.clone(),
        );
        registry.register(
            "web4_atp_conversion_rate",
            "ATP per unit-hour of each resource type in force, refreshed at scrape",
            conversion_rate.clone(),
        );
        let graph_triples = Gauge::default();
        let sparql_duration = Histogram::new(latency_buckets());
        let traversal_depth = Histogram::new([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        registry.register(
            "web4_graph_triples_total",
            "Triples in the MRH graph (refreshed at scrape)",
            graph_triples.clone(),
        );
        registry.register(
            "web4_sparql_query_duration_seconds",
            "SPARQL query evaluation and serialisation time",
            sparql_duration.clone(),
        );
        registry.register(
            "web4_graph_traversal_depth",
            "Deepest hop reached by a traversal, path or trust query",
            traversal_depth.clone(),
        );
        let tpm_operation = Family::<OpLabel, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "web4_tpm_operation_duration_seconds",
            "TPM 2.0 operation latency (at start, init and rotation; the TPM is not used per request)",
            tpm_operation.clone(),
        );
        let anchor_verification = Histogram::new(latency_buckets());
        registry.register(
            "web4_hardware_anchor_verification_duration_seconds",
            "Time to verify an LCT's hardware anchor (TPM quote and attestation key)",
            anchor_verification.clone(),
        );
        let forward_duration = Histogram::new(latency_buckets());
        registry.register(
            "web4_forward_duration_seconds",
            "Round trip of a request forwarded to the node that owns its delegation (decisions/0017)",
            forward_duration.clone(),
        );
        let equivocations = Counter::default();
        registry.register(
            "web4_equivocations_detected",
            "Equivocations detected here or learned from peers' evidence (two records of one author with one seq)",
            equivocations.clone(),
        );
        let registration_conflicts = Counter::default();
        registry.register(
            "web4_lct_registration_conflicts",
            "Records that registered an LCT id already registered here; kept in the ledger without effect (decisions/0025)",
            registration_conflicts.clone(),
        );
        let voided_records = Counter::default();
        registry.register(
            "web4_ledger_voided_records",
            "Received records kept without effect: a losing home's records about the account or reputation of the LCT whose registration did not stand here (decisions/0025)",
            voided_records.clone(),
        );
        let network_attestations = Counter::default();
        registry.register(
            "web4_network_witness_attestations",
            "Birth attestations received from peer witnesses (before recounting)",
            network_attestations.clone(),
        );
        let p2p_peers = Gauge::default();
        registry.register("web4_p2p_connected_peers", "Peers connected over libp2p", p2p_peers.clone());
        let gossip_in = Counter::default();
        registry.register("web4_gossip_in", "Gossip messages received (ledger records)", gossip_in.clone());
        let gossip_out = Counter::default();
        registry.register("web4_gossip_out", "Records this node published by gossip", gossip_out.clone());
        let gossip_rejected = Counter::default();
        registry.register(
            "web4_gossip_rejected",
            "Gossip messages refused as invalid (the sender's score drops)",
            gossip_rejected.clone(),
        );
        let escrow_size = Gauge::default();
        registry.register(
            "web4_p2p_escrow_size",
            "Records waiting for a missing predecessor or author",
            escrow_size.clone(),
        );
        let sync_lag = Gauge::default();
        registry.register(
            "web4_p2p_sync_lag_records",
            "Records peers hold that this node has not applied yet (at the last sync)",
            sync_lag.clone(),
        );
        let refused_chains = Gauge::default();
        registry.register(
            "web4_p2p_refused_chains",
            "Authors whose next record, validly signed, this node refused (GET /v1/p2p/chains; at the last sync)",
            refused_chains.clone(),
        );
        for t in web4_core::resources::RESOURCE_TYPES {
            let _ = resource_allocations.get_or_create(&ResourceLabel { resource_type: t.into() });
        }
        // Every outcome type and pattern has a series from the start (both sets are fixed).
        for t in crate::ledger::OUTCOME_TYPES {
            let _ = reputation_updates.get_or_create(&OutcomeLabel { outcome_type: t.into() });
        }
        for p in web4_core::reputation::Pattern::ALL {
            let _ = gaming_detected.get_or_create(&PatternLabel { pattern: p.as_str().into() });
        }
        Metrics {
            registry,
            lct_minted,
            lct_active,
            signature_verification,
            birth_certificate_ledger_write,
            http_requests,
            http_duration,
            errors,
            commit_group_size,
            signature_batch_size,
            commit_duration,
            authorization_requests,
            authorization_duration,
            delegation_active,
            atp_budget_remaining,
            atp_pool_supply,
            atp_pool_adp,
            reputation_updates,
            gaming_detected,
            t3_score,
            v3_score,
            pair_series: std::sync::Mutex::new(std::collections::HashSet::new()),
            budget_series: std::sync::Mutex::new(std::collections::HashSet::new()),
            resource_allocations,
            resource_utilization,
            conversion_rate,
            graph_triples,
            sparql_duration,
            traversal_depth,
            tpm_operation,
            anchor_verification,
            forward_duration,
            equivocations,
            registration_conflicts,
            voided_records,
            network_attestations,
            p2p_peers,
            gossip_in,
            gossip_out,
            gossip_rejected,
            escrow_size,
            sync_lag,
            refused_chains,
        }
    }

    /// Record TPM operation latencies.
    pub fn observe_tpm(&self, timings: &crate::tpm::Timings) {
        for (op, d) in &timings.ops {
            self.tpm_operation.get_or_create(&OpLabel { op: (*op).into() }).observe(d.as_secs_f64());
        }
    }

    /// Record a delegation's remaining budget, keeping the label set bounded.
    pub fn set_budget(&self, grant_id: &str, remaining: u64) {
        let admitted = match self.budget_series.lock() {
            Ok(mut set) => set.contains(grant_id) || (set.len() < MAX_BUDGET_SERIES && set.insert(grant_id.to_owned())),
            Err(_) => false,
        };
        if admitted {
            self.atp_budget_remaining
                .get_or_create(&DelegationLabel { delegation_id: grant_id.to_owned() })
                .set(i64::try_from(remaining).unwrap_or(i64::MAX));
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Set the T3/V3 composite gauges of a pair (bounded to `MAX_PAIR_SERIES` pairs).
    pub fn set_pair_scores(&self, entity: &str, role: &str, t3: f64, v3: f64) {
        let key = (entity.to_owned(), role.to_owned());
        if let Ok(mut seen) = self.pair_series.lock()
            && !seen.contains(&key)
        {
            if seen.len() >= MAX_PAIR_SERIES {
                return;
            }
            seen.insert(key.clone());
        }
        let l = PairLabel { entity: key.0, role: key.1 };
        self.t3_score.get_or_create(&l).set(t3);
        self.v3_score.get_or_create(&l).set(v3);
    }

    /// Set the active gauge of one entity type (used at start-up).
    pub fn set_active(&self, et: EntityType, n: i64) {
        self.lct_active.get_or_create(&EntityLabel { entity_type: et.as_str().into() }).set(n);
    }

    /// Account for a committed group.
    pub fn on_commit(&self, effects: &[Effect], jobs: usize, took: std::time::Duration) {
        self.commit_group_size.observe(jobs as f64);
        self.commit_duration.observe(took.as_secs_f64());
        for e in effects {
            match e {
                Effect::Minted(et) => {
                    let l = EntityLabel { entity_type: et.as_str().into() };
                    self.lct_minted.get_or_create(&l).inc();
                    self.lct_active.get_or_create(&l).inc();
                }
                Effect::Delegation(n) => {
                    self.delegation_active.inc_by(*n);
                }
                Effect::Decision => {}
                Effect::Allocated(t) => {
                    let t = web4_core::resources::RESOURCE_TYPES.get(usize::from(*t)).copied().unwrap_or("cpu");
                    self.resource_allocations.get_or_create(&ResourceLabel { resource_type: t.into() }).inc();
                }
                Effect::Outcome(t) => {
                    let outcome_type = crate::ledger::OUTCOME_TYPES.get(usize::from(*t)).copied().unwrap_or("partial");
                    self.reputation_updates.get_or_create(&OutcomeLabel { outcome_type: outcome_type.into() }).inc();
                }
                Effect::Gaming(p) => {
                    self.gaming_detected.get_or_create(&PatternLabel { pattern: p.as_str().into() }).inc();
                }
                Effect::Pool { total_supply, adp } => {
                    self.atp_pool_supply.set(*total_supply);
                    self.atp_pool_adp.set(*adp);
                }
                Effect::Status { entity_type, from, to } => {
                    let l = EntityLabel { entity_type: entity_type.as_str().into() };
                    let g = self.lct_active.get_or_create(&l);
                    if *from == LctStatus::Active && *to != LctStatus::Active {
                        g.dec();
                    } else if *from != LctStatus::Active && *to == LctStatus::Active {
                        g.inc();
                    }
                }
                Effect::Budget { grant_id, remaining } => self.set_budget(grant_id, *remaining),
                Effect::RegistrationConflict => {
                    self.registration_conflicts.inc();
                }
                Effect::Voided => {
                    self.voided_records.inc();
                }
                Effect::Triple { .. } | Effect::Tensor { .. } | Effect::Role { .. } | Effect::Law(_) => {}
            }
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
