//! Wiring: `init` (node key and dev society), `run` (start-up order, readiness,
//! graceful shutdown) and `ledger verify`.

use crate::config::Config;
use crate::keystore;
use crate::ledger::{self, Event, Prepared, VerifyOutcome};
use crate::metrics::Metrics;
use crate::services::{Node, system_clock};
use crate::store::migrations::migrate;
use crate::store::writer::{NodeSigner, Writer, WriterConfig, append_record, load_head, save_head};
use crate::store::{ReadPool, StoreError, node_value, open_connection};
use anyhow::{Context, anyhow, bail};
use rusqlite::params;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use web4_core::law::LawDataset;
use web4_core::lct::{Binding, EntityType, LctDocument, LctStatus};
use web4_core::payload::{Genesis, Member};
use web4_core::{LctId, SecretKey};

/// Genesis law of a single-node development society: open admission, one
/// birth witness (the node itself), one-hour rotation overlap.
pub fn dev_genesis_law() -> serde_json::Value {
    json!({
        "version": "1.0.0",
        "norms": [{
            "id": "DEFAULT-ALLOW", "selector": "r6.request.action", "operator": "!=",
            "value": "__never_matches__", "decision": "allow", "priority": 0,
            "description": "Development society: allow by default"
        }],
        "procedures": [{
            "id": "LCT-BIRTH-WITNESS", "requires_witnesses": 1, "applies_to": "lct.mint",
            "description": "A single-node society: the node is the only birth witness"
        }],
        "identity": {
            "admission": "open",
            "mint_roles": ["authority"],
            "status_roles": ["authority"],
            "rotation_overlap_seconds": 3600,
            "witness_max_skew_seconds": 300,
            "citizen_role": "citizen",
            "rights": ["hold-lct", "request-services"],
            "obligations": ["abide-by-law"]
        },
        "atp_issuance": {
            "mint_authority": "authority",
            "max_mint_per_cycle": 1_000_000,
            "cycle_seconds": 86_400,
            "charge_rate": 1.0,
            "transfer_fee_rate": 0.01,
            "description": "Development society: the authority mints and charges; 1 % transfer fee"
        },
        "resources": {
            "rates_authority": "authority",
            "max_rate_change": 0.5,
            "burst_seconds": 60,
            "max_lease_seconds": 86_400,
            "release_grace_seconds": 300,
            "pools": {
                "cpu": {"capacity": 4000, "rate": 1.0},
                "memory": {"capacity": 8192, "rate": 0.01},
                "storage": {"capacity": 102_400, "rate": 0.001},
                "network": {"capacity": 100_000, "rate": 0.0001},
                "gpu": {"capacity": 1, "rate": 50.0}
            },
            "description": "Development node: ATP per unit-hour; CPU 1 per millicore-hour (1,000 per core-hour)"
        }
    })
}

/// What `init` created.
#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    pub node_lct: LctId,
    /// The dev society's admin (absent when the node joined a society).
    pub admin_lct: Option<LctId>,
    pub society: LctId,
    pub law_hash: String,
    pub node_key: String,
    /// 5 when the node key is anchored in a TPM.
    pub capability_level: u8,
    pub admin_key: Option<String>,
    pub database: String,
}

fn key_or_new(path: &Path) -> anyhow::Result<SecretKey> {
    if path.exists() {
        Ok(keystore::read_key(path)?)
    } else {
        let k = keystore::generate()?;
        keystore::write_key(path, &k)?;
        Ok(k)
    }
}

/// `web4d init`: node key, admin key and a dev society whose genesis law allows
/// a single-node setup. Refuses to run twice.
pub fn init(cfg: &Config) -> anyhow::Result<InitReport> {
    let _lock = crate::nodekey::lock_data_dir(cfg)?;
    let mut conn = open_connection(&cfg.db_path(), false)?;
    migrate(&mut conn)?;
    if let Some(id) = node_value(&conn, "node_lct")? {
        bail!("{} is already initialised (node {id}); remove it to start over", cfg.data_dir.display());
    }
    let now = system_clock();
    let admin_key_path = cfg.key_dir().join("admin.key");
    let (node_key, node_key_path, anchor) = match cfg.hsm_type {
        crate::config::HsmType::Software => {
            let p = cfg.key_dir().join("node.key");
            (key_or_new(&p)?, p, None)
        }
        crate::config::HsmType::Tpm2 => {
            let k = crate::nodekey::create(cfg, now, true)?;
            (k.key, k.path, k.anchor)
        }
    };
    let admin_key = key_or_new(&admin_key_path)?;
    let mut node_binding = Binding::create(&node_key, EntityType::Infrastructure, now);
    node_binding.hardware_anchor = anchor.as_ref().map(serde_json::to_value).transpose()?;
    node_binding
        .verify(&node_binding.lct_id())
        .map_err(|e| anyhow!("the node binding made with this TPM does not verify: {e}"))?;
    let capability_level = node_binding.capability_level(&node_binding.lct_id());
    let node_doc = LctDocument::new(node_binding);
    let admin_doc = LctDocument::new(Binding::create(&admin_key, EntityType::Human, now));
    let node_id = node_doc.lct_id.clone();
    let suffix: String = node_id.as_str().trim_start_matches(web4_core::id::KEY_ID_PREFIX).chars().take(12).collect();
    let society_id = LctId::parse(&format!("lct:web4:society:dev-{suffix}")).map_err(|e| anyhow!("{e}"))?;
    let law = LawDataset::try_from(dev_genesis_law()).map_err(|e| anyhow!("{e}"))?;
    let genesis = Genesis {
        society_id: society_id.clone(),
        name: "Development society".into(),
        law: law.clone(),
        members: vec![
            Member { lct: node_doc, roles: vec!["authority".into(), "witness".into(), "citizen".into()] },
            Member { lct: admin_doc.clone(), roles: vec!["authority".into(), "citizen".into()] },
        ],
    };
    let signer = NodeSigner::new(node_id.clone(), node_key);
    let tx = conn.transaction()?;
    let mut head = load_head(&tx, &node_id)?;
    let prepared = Prepared::new(Event::Genesis(genesis))?;
    append_record(&tx, &signer, &mut head, &prepared, law.law_hash(), now)?;
    save_head(&tx, &node_id, head)?;
    tx.execute(
        "INSERT INTO node (key, value) VALUES ('node_lct', ?1), ('society_id', ?2)",
        params![node_id.as_str(), society_id.as_str()],
    )?;
    tx.commit()?;
    Ok(InitReport {
        node_lct: node_id,
        admin_lct: Some(admin_doc.lct_id),
        society: society_id,
        law_hash: law.law_hash().to_string(),
        node_key: node_key_path.display().to_string(),
        capability_level,
        admin_key: Some(admin_key_path.display().to_string()),
        database: cfg.db_path().display().to_string(),
    })
}

fn init_gauges(conn: &rusqlite::Connection, m: &Metrics) -> Result<(), StoreError> {
    for et in EntityType::ALL {
        m.set_active(et, 0);
    }
    // Delegations created and not revoked, as the commit hook counts them.
    let delegations: i64 =
        conn.query_row("SELECT COUNT(*) FROM delegations WHERE revoked_at IS NULL", [], |r| r.get(0))?;
    m.delegation_active.set(delegations);
    let (supply, adp): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT SUM(total_supply), SUM(adp) FROM atp_pools", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    m.atp_pool_supply.set(supply.unwrap_or(0));
    m.atp_pool_adp.set(adp.unwrap_or(0));
    let mut st = conn.prepare("SELECT entity_type, COUNT(*) FROM lcts WHERE status = ?1 GROUP BY entity_type")?;
    let rows = st.query_map([LctStatus::Active.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (et, n) = row?;
        if let Some(et) = EntityType::parse(&et) {
            m.set_active(et, n);
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Re-read the configuration on SIGHUP (`systemctl reload`): a valid new
/// configuration's log level applies at once; settings that need a restart
/// are named in the log; an invalid one is refused and the old one kept.
async fn reload_on_hup(cfg: Config, flags: crate::config::Flags) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    let mut current = cfg;
    while hup.recv().await.is_some() {
        let mut states = vec![sd_notify::NotifyState::Reloading];
        states.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        let _ = sd_notify::notify(&states);
        match Config::load(&flags, &|k| std::env::var(k).ok()) {
            Err(e) => {
                tracing::error!(service = "node", event = "reload_refused", error = %e, "configuration reload refused, keeping the running configuration: {e}");
            }
            Ok(new) => {
                if new.log_level != current.log_level
                    && let Err(e) = crate::telemetry::set_level(&new.log_level)
                {
                    tracing::error!(service = "node", event = "reload_refused", error = %e, "log level: {e}");
                }
                let restart: Vec<&str> = restart_needed(&current, &new);
                tracing::info!(service = "node", event = "config_reloaded", log_level = %new.log_level, needs_restart = ?restart, "configuration reloaded");
                current = new;
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }
}

/// Log what one sweep closed (nothing when there was nothing to close).
fn log_sweep(
    service: &'static str,
    done: &'static str,
    failed: &'static str,
    what: &str,
    result: Result<usize, crate::error::ApiError>,
) {
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!(service, event = done, count = n, "closed {n} {what}"),
        Err(e) => tracing::warn!(service, event = failed, "closing {what}: {}", e.message),
    }
}

/// Settings that only take effect after a restart.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, changed: bool| {
        if changed {
            out.push(name);
        }
    };
    check("bind", old.bind != new.bind);
    check("port", old.port != new.port);
    check("data_dir", old.data_dir != new.data_dir);
    check("hsm_type", old.hsm_type != new.hsm_type);
    check("workers", old.workers != new.workers);
    check("log_format", old.log_format != new.log_format);
    check("max_body_bytes", old.max_body_bytes != new.max_body_bytes);
    check("request_timeout_ms", old.request_timeout_ms != new.request_timeout_ms);
    check("group_commit_max", old.group_commit_max != new.group_commit_max);
    check("record_nonces_ahead", old.record_nonces_ahead != new.record_nonces_ahead);
    check("read_pool", old.read_pool != new.read_pool);
    check("wal_max_mib", old.wal_max_mib != new.wal_max_mib);
    check("enforce_leases", old.enforce_leases != new.enforce_leases || old.enforce_uids != new.enforce_uids);
    check(
        "sparql limits",
        old.sparql_timeout_ms != new.sparql_timeout_ms || old.sparql_max_results != new.sparql_max_results,
    );
    out
}

/// Ping systemd's watchdog at half its interval while the writer is alive, so
/// a wedged store gets the unit restarted.
async fn watchdog(node: Arc<Node>) {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    let every = interval / 2;
    tracing::info!(
        service = "node",
        event = "watchdog_enabled",
        interval_ms = interval.as_millis() as u64,
        "pinging the systemd watchdog"
    );
    loop {
        if node.writer.is_alive() {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                service = "node",
                event = "watchdog_withheld",
                "the store writer is not alive; not pinging the watchdog"
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// Run the node until SIGTERM/SIGINT, then drain and close cleanly.
pub async fn run(cfg: Config, flags: crate::config::Flags) -> anyhow::Result<()> {
    let db = cfg.db_path();
    if !db.exists() {
        bail!("no node state in {}: run `web4d init` first (with the same DATA_DIR)", cfg.data_dir.display());
    }
    let _lock = crate::nodekey::lock_data_dir(&cfg)?;
    let mut conn = open_connection(&db, false)?;
    migrate(&mut conn)?;
    let node_id = node_value(&conn, "node_lct")?
        .ok_or_else(|| anyhow!("{} is not initialised: run `web4d init`", cfg.data_dir.display()))?;
    let society_id = node_value(&conn, "society_id")?.ok_or_else(|| anyhow!("node has no society"))?;
    let node_id = LctId::parse(&node_id).map_err(|e| anyhow!("{e}"))?;
    let (key, tpm_timings) = crate::nodekey::load(&cfg, &node_id, true)?;
    let society = crate::services::governance::load_society(&conn, &society_id)?;
    let self_witness = Arc::new(std::sync::atomic::AtomicBool::new(
        ledger::roles_of(&conn, society.id.as_str(), node_id.as_str())?.iter().any(|r| r == "witness"),
    ));
    let hook_witness = (Arc::clone(&self_witness), node_id.to_string());
    let metrics = Arc::new(Metrics::new());
    metrics.observe_tpm(&tpm_timings);
    init_gauges(&conn, &metrics)?;
    let load_started = std::time::Instant::now();
    let knowledge = Arc::new(crate::graph::Knowledge::load(&conn, &cfg.data_dir)?);
    tracing::info!(
        service = "knowledge",
        event = "graph_loaded",
        triples = knowledge.triples(),
        ms = load_started.elapsed().as_millis() as u64,
        "MRH graph loaded"
    );
    let society_cell = Arc::new(crate::services::SocietyCell::new(society));
    let hook_society = Arc::clone(&society_cell);
    let hook_society_cell = society_cell;
    let hook_metrics = Arc::clone(&metrics);
    let hook_graph = Arc::clone(&knowledge);
    let (outbox_tx, outbox_rx) = tokio::sync::mpsc::unbounded_channel();
    let commits = Arc::new(tokio::sync::watch::Sender::new(0u64));
    let hook_commits = Arc::clone(&commits);
    let (writer, writer_thread) = Writer::start(
        conn,
        NodeSigner::new(node_id.clone(), key.clone()),
        WriterConfig {
            max_group: cfg.group_commit_max,
            nonce_retention_secs: 2 * cfg.max_clock_skew_secs + 60,
            clock: system_clock,
            outbox: (!cfg.p2p_listen.is_empty()).then_some(outbox_tx),
            presign: cfg.record_nonces_ahead,
            checkpoint_frames: crate::store::writer::frames_in_mib(cfg.wal_max_mib),
        },
        Box::new(move |effects, n, took| {
            hook_commits.send_modify(|c| *c += 1);
            hook_graph.on_commit(effects);
            for e in effects {
                match e {
                    ledger::Effect::Role { lct, role, held } if role == "witness" && *lct == hook_witness.1 => {
                        hook_witness.0.store(*held, std::sync::atomic::Ordering::Release);
                    }
                    ledger::Effect::Law(law) => hook_society.set_law(law),
                    _ => {}
                }
            }
            hook_metrics.on_commit(effects, n, took)
        }),
    )?;
    let foreign = Arc::new(crate::foreign::ForeignSocieties::open(&cfg.data_dir)?);
    let foreign_refresh = tokio::spawn(Arc::clone(&foreign).refresh_forever());
    let node = Arc::new(Node {
        id: node_id.clone(),
        key,
        society_cell: hook_society_cell,
        reads: ReadPool::new(db, cfg.read_pool),
        writer,
        verifier: crate::verify::Verifier::new(Arc::clone(&metrics)),
        metrics,
        ready: false.into(),
        self_witness,
        max_skew: cfg.max_clock_skew_secs,
        clock: system_clock,
        enforcer: crate::enforce::Enforcer::detect(&cfg),
        knowledge,
        graph_limits: crate::services::GraphLimits {
            timeout: Duration::from_millis(cfg.sparql_timeout_ms),
            max_results: cfg.sparql_max_results,
        },
        federation: std::sync::OnceLock::new(),
        foreign: Arc::clone(&foreign),
        commits,
    });
    if let Some(f) = crate::federation::start(&node, &cfg, outbox_rx)? {
        let _ = node.federation.set(f);
    }
    if cfg.enforce_leases && !node.enforcer.active() {
        tracing::warn!(service = "resources", event = "enforcement_unavailable", reason = ?node.enforcer.reason, "resource leases will be metered but not enforced on this machine");
    }
    // Expired leases are closed and enforcement reconciled periodically.
    let sweeper = {
        let node = Arc::clone(&node);
        let every = Duration::from_secs(cfg.sweep_interval_secs);
        tokio::spawn(async move {
            loop {
                crate::services::resources::enforce(&node).await;
                let grants = crate::services::authorization::expire(&node).await;
                log_sweep("authorization", "delegations_expired", "expiry_failed", "expired grants", grants);
                let leases = crate::services::resources::sweep(&node).await;
                log_sweep("resources", "leases_expired", "sweep_failed", "expired leases", leases);
                tokio::time::sleep(every).await;
            }
        })
    };
    let app = crate::http::router(Arc::clone(&node), cfg.max_body_bytes, Duration::from_millis(cfg.request_timeout_ms));
    if let Some(f) = node.federation.get() {
        *f.router.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(app.clone());
    }
    let addr = std::net::SocketAddr::new(cfg.bind, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    node.ready.store(true, Ordering::Release);
    tracing::info!(service = "node", event = "node_ready", lct_id = %node_id, society = %node.society().id, addr = %local, law_hash = %node.society().law.law_hash(), "web4d ready on {local}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let reloader = tokio::spawn(reload_on_hup(cfg.clone(), flags));
    let pinger = tokio::spawn(watchdog(Arc::clone(&node)));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    let mut server = tokio::spawn(async move { server.await });
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    tokio::select! {
        r = &mut server => {
            r??;
            bail!("HTTP server stopped unexpectedly");
        }
        _ = shutdown_signal() => {}
    }
    tracing::info!(
        service = "node",
        event = "shutdown_started",
        grace_secs = grace.as_secs(),
        "draining in-flight requests"
    );
    node.ready.store(false, Ordering::Release);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, &mut server).await {
        Ok(r) => {
            r??;
        }
        Err(_) => {
            tracing::warn!(
                service = "node",
                event = "drain_timeout",
                "in-flight requests did not finish within {}s; closing",
                grace.as_secs()
            );
            server.abort();
        }
    }
    for t in [sweeper, reloader, pinger, foreign_refresh] {
        t.abort();
        let _ = t.await;
    }
    if let Some(f) = node.federation.get() {
        f.stop();
        // Let the aborted tasks unwind (they hold the node).
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(node);
    // The writer ends once every handle is gone; it finishes the group it holds.
    let joined = tokio::task::spawn_blocking(move || writer_thread.join().is_ok());
    match tokio::time::timeout(Duration::from_secs(15), joined).await {
        Ok(Ok(true)) => tracing::info!(service = "node", event = "store_closed", "store closed cleanly"),
        _ => tracing::warn!(service = "node", event = "store_close_timeout", "writer did not stop in time"),
    }
    tracing::info!(service = "node", event = "shutdown_complete", "bye");
    Ok(())
}

/// `web4d ledger verify`.
pub fn verify_ledger(cfg: &Config) -> anyhow::Result<VerifyOutcome> {
    let db = cfg.db_path();
    if !db.exists() {
        bail!("no database at {}", db.display());
    }
    let conn = open_connection(&db, true)?;
    let version: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).unwrap_or(0);
    let latest = crate::store::migrations::latest();
    if version < latest {
        bail!(
            "the store at {} has schema version {version}, this web4d uses {latest}: start web4d once (it migrates on start), then verify",
            db.display()
        );
    }
    Ok(ledger::verify(&conn)?)
}

/// `web4d init --join URL`: become a node of the society that `URL` (a node
/// of it) belongs to. Creates the node key (configured keystore), registers
/// this node's LCT there by self-admission (the society's law must allow it;
/// with tpm2 the mint carries a fresh hardware anchor), then copies the peer's
/// ledger in its arrival order, verifying every chain like gossip does
/// (`ledger::accept_foreign`). From then on gossip and sync keep it current.
pub async fn join(cfg: &Config, peer: &str) -> anyhow::Result<InitReport> {
    use web4_core::api::MintRequest;
    let _lock = crate::nodekey::lock_data_dir(cfg)?;
    let mut conn = open_connection(&cfg.db_path(), false)?;
    migrate(&mut conn)?;
    if let Some(id) = node_value(&conn, "node_lct")? {
        bail!("{} is already initialised (node {id}); remove it to start over", cfg.data_dir.display());
    }
    let base = peer.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let society_id = crate::cli::client::society_of(&http, base).await?;
    let society = society_id.to_string();
    let now = system_clock();
    let (key, key_path, anchor) = match cfg.hsm_type {
        crate::config::HsmType::Software => {
            let p = cfg.key_dir().join("node.key");
            (key_or_new(&p)?, p, None)
        }
        crate::config::HsmType::Tpm2 => {
            let k = crate::nodekey::create(cfg, now, true)?;
            (k.key, k.path, k.anchor)
        }
    };
    let mut binding = Binding::create(&key, EntityType::Infrastructure, now);
    binding.hardware_anchor = anchor.as_ref().map(serde_json::to_value).transpose()?;
    let id = binding.lct_id();
    let req = MintRequest {
        entity_type: binding.entity_type,
        public_key: binding.public_key,
        created_at: binding.created_at,
        binding_proof: binding.binding_proof,
        lct_id: Some(id.clone()),
        birth_context: Some("web4d node joining the society".into()),
        witnesses: Vec::new(),
        policy: None,
        hardware_anchor: binding.hardware_anchor.clone(),
    };
    let body = serde_json::to_vec(&req)?;
    let h = crate::cli::client::sign_headers(&key, &society_id, "POST", "/v1/lct/mint", &body)?;
    let resp = h.apply(http.post(format!("{base}/v1/lct/mint"))).body(body).send().await?;
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    let code = v["error"]["code"].as_str().unwrap_or("");
    if !status.is_success() && code != "W4_ERR_BINDING_EXISTS" {
        bail!(
            "{base} did not admit this node ({status} {code}: {}); if its law does not allow self-admission, \
             ask an authority to mint {id} and run init --join again",
            v["error"]["message"].as_str().unwrap_or("")
        );
    }
    let tx = conn.transaction()?;
    let mut after = 0i64;
    let mut copy = LedgerCopy::default();
    while let (texts, Some(next)) = LedgerCopy::fetch(&http, base, after).await? {
        copy.page(&tx, texts, now, base)?;
        after = next;
    }
    let copied = copy.finish(base)?;
    let soc = crate::services::governance::load_society(&tx, &society)
        .with_context(|| format!("the ledger of {base} does not hold society {society}"))?;
    if ledger::load_signer(&tx, id.as_str())?.is_none() {
        bail!("the ledger of {base} does not hold this node's LCT {id} yet; try again");
    }
    tx.execute(
        "INSERT INTO node (key, value) VALUES ('node_lct', ?1), ('society_id', ?2)",
        params![id.as_str(), society.as_str()],
    )?;
    tx.commit()?;
    tracing::debug!(records = copied, "joined");
    Ok(InitReport {
        node_lct: id,
        admin_lct: None,
        society: soc.id.clone(),
        law_hash: soc.law.law_hash().to_string(),
        node_key: key_path.display().to_string(),
        capability_level: binding.capability_level(&binding.lct_id()),
        admin_key: None,
        database: cfg.db_path().display().to_string(),
    })
}

/// A peer's ledger applied in the order it lists it, as `init --join` and
/// following a foreign society do.
/// A store that applied records before the checks of sessions 25 and 27 may
/// list a record before the one it waits for (its author's or its request
/// signer's registration, its law, the object it changes, or an earlier
/// record of its author held back so): such a record is set aside and tried
/// again after each page. One still waiting when the copy ends is an error.
#[derive(Default)]
pub struct LedgerCopy {
    waiting: Vec<String>,
    /// Why the last record set aside waits.
    why: String,
    applied: u64,
}

/// At most this many records set aside: a peer that serves more is not
/// serving a ledger that merely lists records out of order.
const MAX_WAITING: usize = 10_000;

impl LedgerCopy {
    /// One page of the ledger `base` lists after row `after`: its records'
    /// texts and, when it held any, where the next page starts.
    pub async fn fetch(http: &reqwest::Client, base: &str, after: i64) -> anyhow::Result<(Vec<String>, Option<i64>)> {
        let url = format!("{base}/v1/ledger/records?after={after}&limit=1000");
        let mut page: serde_json::Value =
            http.get(&url).send().await.with_context(|| format!("GET {url}"))?.error_for_status()?.json().await?;
        let serde_json::Value::Array(records) = page["data"]["records"].take() else {
            bail!("{base} answered no records");
        };
        let texts = records
            .into_iter()
            .map(|r| match r {
                serde_json::Value::String(text) => Ok(text),
                _ => Err(anyhow!("{base} sent a record that is not a string")),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let next = page["data"]["next"].as_i64().filter(|_| !texts.is_empty());
        Ok((texts, next))
    }

    pub fn page(
        &mut self,
        conn: &rusqlite::Connection,
        texts: Vec<String>,
        now: web4_core::Timestamp,
        source: &str,
    ) -> anyhow::Result<()> {
        let mut before = self.applied;
        for text in texts {
            self.one(conn, text, now, source)?;
        }
        // Records set aside wait for one that applied since; each pass
        // applies at least one more or ends.
        while self.applied > before && !self.waiting.is_empty() {
            before = self.applied;
            for text in std::mem::take(&mut self.waiting) {
                self.one(conn, text, now, source)?;
            }
        }
        Ok(())
    }

    fn one(
        &mut self,
        conn: &rusqlite::Connection,
        text: String,
        now: web4_core::Timestamp,
        source: &str,
    ) -> anyhow::Result<()> {
        use ledger::Foreign;
        match ledger::accept_foreign(conn, &text, now)? {
            Foreign::Applied { .. } => self.applied += 1,
            Foreign::Duplicate => {}
            w @ (Foreign::UnknownAuthor
            | Foreign::UnknownSigner(_)
            | Foreign::UnknownLaw(_)
            | Foreign::UnknownObject(_)
            | Foreign::Gap { .. }) => {
                if self.waiting.len() >= MAX_WAITING {
                    bail!(
                        "{source} served a ledger that does not verify: more than {MAX_WAITING} records wait for others"
                    );
                }
                self.why = format!("{w:?}");
                self.waiting.push(text);
            }
            other => {
                let which = serde_json::from_str::<web4_core::ledger::Record>(&text)
                    .map(|r| format!("a record claiming {} seq {} ({:?})", r.author, r.seq, r.kind))
                    .unwrap_or_else(|_| "an unreadable record".into());
                bail!("{source} served a ledger that does not verify: {which}: {other:?}")
            }
        }
        Ok(())
    }

    /// How many records applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Whether records set aside still wait.
    pub fn waits(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The number of records applied, or why the copy is incomplete.
    pub fn finish(self, source: &str) -> anyhow::Result<u64> {
        if !self.waiting.is_empty() {
            bail!(
                "{source} served a ledger that does not verify: {} record(s) wait for records it does not hold (the last: {})",
                self.waiting.len(),
                self.why
            );
        }
        Ok(self.applied)
    }
}
