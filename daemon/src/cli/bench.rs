//! `web4 bench`: closed-loop load over signed HTTP, reporting throughput and
//! latency percentiles.
//!
//! - `mint`: each request is a real, freshly signed mint of a new key
//!   (self-admission), so every acknowledged request is a durable write.
//! - `authorize`: signed `POST /v1/auth/authorize` against one delegation;
//! - `outcome`: signed `POST /v1/reputation/outcome` about 64 entities;
//! - `allocate`: signed `POST /v1/resources/allocate` of one storage unit each,
//!   paid from an account the authority (`--key`) funds first.
//!
//! Each signed phase runs in the same run as the ceiling: a bare axum endpoint
//! in this process that only verifies one Ed25519 request signature.

use super::client::{SignedHeaders, sign_headers};
use crate::keystore::random_bytes;
use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use web4_core::api::MintRequest;
use web4_core::lct::{Binding, EntityType};
use web4_core::{LctId, SecretKey};

/// What to load.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Durable mints of fresh LCTs.
    Mint {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How long to run, e.g. 10s, 500ms, 1m.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Sign N requests before the clock starts, so the load tool's own
        /// signing does not compete with the node for CPU on the same machine.
        /// The run ends early when they are used up.
        #[arg(long)]
        presign: Option<usize>,
    },
    /// Signed authorizations against one delegation, and the signature-verify ceiling.
    Authorize {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How long each phase runs.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Skip the ceiling phase.
        #[arg(long)]
        no_ceiling: bool,
    },
    /// Signed reputation outcomes about 64 entities, and the ceiling.
    Outcome {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How long each phase runs.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Skip the ceiling phase.
        #[arg(long)]
        no_ceiling: bool,
    },
    /// The MRH graph: ingest a generated society graph as signed triples
    /// (needs --key of a curator, e.g. the authority), then SPARQL SELECTs
    /// with one join and trust queries over it.
    Graph {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Triples to ingest; 0 reuses the graph already on the node.
        #[arg(long, default_value_t = 100_000)]
        triples: u64,
        /// Nodes of the generated graph.
        #[arg(long, default_value_t = 20_000)]
        nodes: u64,
        /// How long each query phase runs.
        #[arg(long, default_value = "10s")]
        duration: String,
    },
    /// Federation: N web4d processes on loopback in a sparse mesh, mints
    /// published on one of them at each rate; time until every node applied
    /// each record, highest rate without a backlog, memory per node; and bare
    /// gossipsub (same topology and rates) as the reference. Starts its own
    /// nodes (the web4d next to this binary, or --web4d).
    Federation {
        /// Nodes to start.
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        /// Earlier nodes each new node dials (connections are two-way, so
        /// about twice as many peers per node).
        #[arg(long, default_value_t = 3)]
        degree: usize,
        /// Gossipsub mesh degree of every node (web4d and bare alike).
        #[arg(long, default_value_t = web4_p2p::DEFAULT_MESH_DEGREE)]
        mesh_degree: usize,
        /// Publishing rates to try, records per second, in order; stops at
        /// the first that builds a backlog.
        #[arg(long, value_delimiter = ',', default_value = "100,200,400,800")]
        rates: Vec<u32>,
        /// How long each rate runs.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// The web4d binary.
        #[arg(long)]
        web4d: Option<std::path::PathBuf>,
    },
    /// Signed resource allocations (one storage unit for 60 s each), and the
    /// ceiling. Needs --key of the society's ATP mint authority to fund the
    /// bench account.
    Allocate {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How long each phase runs.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// Skip the ceiling phase.
        #[arg(long)]
        no_ceiling: bool,
    },
}

/// Parse `10s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| anyhow!("duration {s:?}: expected e.g. 10s, 500ms, 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(anyhow!("duration {s:?}: unit must be ms, s or m")),
    }
}

type Signed = (Vec<u8>, SignedHeaders);
type Source = Arc<dyn Fn() -> anyhow::Result<Signed> + Send + Sync>;

/// A self-admission mint request for `key`.
pub(crate) fn mint_request(key: &SecretKey) -> MintRequest {
    let b = Binding::create(key, EntityType::Ai, crate::services::system_clock());
    MintRequest {
        entity_type: b.entity_type,
        public_key: b.public_key,
        created_at: b.created_at,
        binding_proof: b.binding_proof,
        lct_id: None,
        birth_context: Some("bench".into()),
        witnesses: vec![],
        policy: None,
        hardware_anchor: None,
    }
}

/// A signed self-mint of a fresh key (body and headers) for a node of `society`.
pub(crate) fn mint_signed(society: &LctId) -> anyhow::Result<Signed> {
    let key = SecretKey::from_seed(&random_bytes::<32>()?);
    let body = serde_json::to_vec(&mint_request(&key))?;
    let h = sign_headers(&key, society, "POST", "/v1/lct/mint", &body)?;
    Ok((body, h))
}

/// The society every signed request of a ceiling run names (the ceiling
/// server checks the same canonical string as a node, society line included).
fn ceiling_society() -> anyhow::Result<LctId> {
    LctId::parse("lct:web4:bench-ceiling").map_err(|e| anyhow!("ceiling society: {e}"))
}

async fn presign(source: Source, n: usize) -> anyhow::Result<Vec<Signed>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let per = n.div_ceil(threads);
    let mut tasks = Vec::new();
    for _ in 0..threads {
        let s = Arc::clone(&source);
        tasks.push(tokio::task::spawn_blocking(move || (0..per).map(|_| s()).collect::<anyhow::Result<Vec<_>>>()));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.extend(t.await.map_err(|e| anyhow!("presign: {e}"))??);
    }
    out.truncate(n);
    Ok(out)
}

/// Makes the next request of a client, or `None` when there are no more.
type Next = Arc<dyn Fn(&reqwest::Client) -> anyhow::Result<Option<reqwest::RequestBuilder>> + Send + Sync>;

/// Signed POSTs to `url` from `source`, or from a pre-signed pool when given.
fn signed_posts(url: String, source: Source, pool: Option<Vec<Signed>>) -> Next {
    match pool {
        Some(p) => {
            let p = std::sync::Mutex::new(p);
            Arc::new(move |http: &reqwest::Client| {
                let next = p.lock().map_err(|_| anyhow!("pool poisoned"))?.pop();
                Ok(next.map(|(body, h)| h.apply(http.post(&url)).body(body)))
            })
        }
        None => Arc::new(move |http: &reqwest::Client| {
            let (body, h) = source()?;
            Ok(Some(h.apply(http.post(&url)).body(body)))
        }),
    }
}

/// One load phase: `concurrency` clients send requests made by `next` for
/// `duration`; `expect` is the success status.
async fn load(
    name: &str,
    expect: u16,
    concurrency: usize,
    duration: Duration,
    next: Next,
    presigned: bool,
) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building HTTP client")?;
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (http, errors, next) = (http.clone(), Arc::clone(&errors), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("{e}"))?;
            let mut first_error: Option<String> = None;
            while Instant::now() < deadline {
                let Some(rb) = next(&http)? else { break };
                let t = Instant::now();
                let ok = match rb.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        if status == expect {
                            true
                        } else {
                            first_error.get_or_insert(format!(
                                "HTTP {status}: {}",
                                text.chars().take(200).collect::<String>()
                            ));
                            false
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e.to_string());
                        false
                    }
                };
                if ok {
                    hist.saturating_record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, anyhow::Error>((hist, first_error))
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("{e}"))?;
    let mut first_error = None;
    for t in tasks {
        let (h, fe) = t.await.map_err(|e| anyhow!("bench task: {e}"))??;
        total.add(&h).map_err(|e| anyhow!("{e}"))?;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "benchmark": name,
        "presigned": presigned,
        "concurrency": concurrency,
        "duration_s": elapsed,
        "ok": total.len(),
        "errors": errors.load(Ordering::Relaxed),
        "throughput_per_s": total.len() as f64 / elapsed,
        "latency_ms": {"p50": ms(0.50), "p95": ms(0.95), "p99": ms(0.99), "max": total.max() as f64 / 1000.0},
        "first_error": first_error,
    }))
}

fn print_report(r: &Value) {
    println!(
        "{}: {} ok, {} errors in {:.1}s at concurrency {}\nthroughput {:.0}/s\nlatency p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        r["benchmark"].as_str().unwrap_or("?"),
        r["ok"],
        r["errors"],
        r["duration_s"].as_f64().unwrap_or(0.0),
        r["concurrency"],
        r["throughput_per_s"].as_f64().unwrap_or(0.0),
        r["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        r["latency_ms"]["p95"].as_f64().unwrap_or(0.0),
        r["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        r["latency_ms"]["max"].as_f64().unwrap_or(0.0),
    );
    if let Some(e) = r["first_error"].as_str() {
        println!("first error: {e}");
    }
}

/// The ceiling: verify one Ed25519 request signature, answer a small JSON.
async fn ceiling_server(keys: Arc<std::collections::HashMap<String, web4_core::PublicKey>>) -> anyhow::Result<String> {
    use axum::http::{HeaderMap, StatusCode};
    let society = ceiling_society()?;
    let app = axum::Router::new().route(
        "/ceiling",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (keys, society) = (Arc::clone(&keys), society.clone());
            async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let signer = h("authorization").trim_start_matches("Bearer ").to_owned();
                let (Some(pk), Ok(id), Ok(sig), Ok(ts)) = (
                    keys.get(&signer),
                    LctId::parse(&signer),
                    web4_core::Signature::parse(&h("x-signature")),
                    web4_core::Timestamp::parse(&h("x-timestamp")),
                ) else {
                    return (StatusCode::UNAUTHORIZED, "{\"success\":false}");
                };
                let canon =
                    web4_core::signing::canonical_request(&society, "POST", "/ceiling", &body, &h("x-nonce"), ts, &id);
                match pk.verify(canon.as_bytes(), &sig) {
                    Ok(()) => (StatusCode::OK, "{\"success\":true,\"data\":{\"decision\":\"granted\"}}"),
                    Err(_) => (StatusCode::UNAUTHORIZED, "{\"success\":false}"),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/ceiling"))
}

/// A signed phase against the node and, first, the ceiling with the same
/// signer and body size; prints both and their ratio.
#[allow(clippy::too_many_arguments)]
async fn signed_bench(
    name: &str,
    url: String,
    expect: u16,
    signer: Arc<SecretKey>,
    source: Source,
    concurrency: usize,
    duration: Duration,
    ceiling: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    if ceiling {
        let mut keys = std::collections::HashMap::new();
        keys.insert(LctId::from_public_key(&signer.public_key()).to_string(), signer.public_key());
        let url = ceiling_server(Arc::new(keys)).await?;
        let ceiling_source = signed_source(
            Arc::clone(&signer),
            ceiling_society()?,
            "/ceiling",
            || json!({"action": "compute", "resource": "bench", "atp_cost": 1}),
        );
        reports.push(
            load(
                "ceiling (bare axum + one Ed25519 verify)",
                200,
                concurrency,
                duration,
                signed_posts(url, ceiling_source, None),
                false,
            )
            .await?,
        );
    }
    reports.push(load(name, expect, concurrency, duration, signed_posts(url, source, None), false).await?);
    let ratio = if reports.len() == 2 {
        reports[1]["throughput_per_s"].as_f64().unwrap_or(0.0)
            / reports[0]["throughput_per_s"].as_f64().unwrap_or(1.0).max(1.0)
    } else {
        f64::NAN
    };
    if as_json {
        println!(
            "{}",
            json!({"phases": reports, "ratio_to_ceiling": if ratio.is_finite() { json!(ratio) } else { Value::Null }})
        );
    } else {
        for r in &reports {
            print_report(r);
        }
        if ratio.is_finite() {
            println!("{name} / ceiling = {:.0} %", ratio * 100.0);
        }
    }
    Ok(())
}

/// Requests signed by `key` for `path`, with bodies from `body`.
fn signed_source(
    key: Arc<SecretKey>,
    society: LctId,
    path: &'static str,
    body: impl Fn() -> Value + Send + Sync + 'static,
) -> Source {
    Arc::new(move || {
        let b = serde_json::to_vec(&body())?;
        let h = sign_headers(&key, &society, "POST", path, &b)?;
        Ok((b, h))
    })
}

async fn fresh_identities(client: &super::client::Client, n: usize) -> anyhow::Result<Vec<SecretKey>> {
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let k = SecretKey::from_seed(&random_bytes::<32>()?);
        client.post(&k, "/v1/lct/mint", &mint_request(&k)).await.context("minting bench identities")?;
        keys.push(k);
    }
    Ok(keys)
}

async fn authorize_bench(
    node: &str,
    concurrency: usize,
    duration: Duration,
    ceiling: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let base = node.trim_end_matches('/');
    let client = super::client::Client::new(base)?;
    let mut keys = fresh_identities(&client, 2).await?.into_iter();
    let (Some(owner), Some(agent)) = (keys.next(), keys.next()) else { return Err(anyhow!("no bench identities")) };
    let agent_id = LctId::from_public_key(&agent.public_key());
    let expires = web4_core::Timestamp(crate::services::system_clock().0 + 3600);
    let d = client
        .post(
            &owner,
            "/v1/auth/delegate",
            &json!({"agent": agent_id, "atp_budget": 1u64 << 50, "expires_at": expires,
            "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 10}}),
        )
        .await
        .context("creating the bench delegation")?;
    let grant = d["data"]["delegation"]["grant_id"].as_str().unwrap_or_default().to_owned();
    let agent = Arc::new(agent);
    let body = json!({"action": "compute", "resource": "bench", "atp_cost": 1, "context": {"delegation_id": grant}});
    let source = signed_source(Arc::clone(&agent), client.society().await?, "/v1/auth/authorize", move || body.clone());
    let url = format!("{base}/v1/auth/authorize");
    signed_bench("authorize", url, 200, agent, source, concurrency, duration, ceiling, as_json).await
}

async fn outcome_bench(
    node: &str,
    concurrency: usize,
    duration: Duration,
    ceiling: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let base = node.trim_end_matches('/');
    let client = super::client::Client::new(base)?;
    let reporter = Arc::new(SecretKey::from_seed(&random_bytes::<32>()?));
    client.post(&reporter, "/v1/lct/mint", &mint_request(&reporter)).await.context("minting the reporter")?;
    let entities: Arc<Vec<String>> = Arc::new(
        fresh_identities(&client, 64)
            .await?
            .iter()
            .map(|k| LctId::from_public_key(&k.public_key()).to_string())
            .collect(),
    );
    let next = AtomicU64::new(0);
    let source = signed_source(Arc::clone(&reporter), client.society().await?, "/v1/reputation/outcome", move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let entity = &entities[usize::try_from(i).unwrap_or(0) % entities.len().max(1)];
        let quality = 0.5 + f64::from(u32::try_from(i % 50).unwrap_or(0)) / 100.0;
        json!({"entity": entity, "role": "worker", "action": "task", "result_status": "success", "quality": quality})
    });
    let url = format!("{base}/v1/reputation/outcome");
    signed_bench("outcome", url, 201, reporter, source, concurrency, duration, ceiling, as_json).await
}

async fn allocate_bench(
    node: &str,
    authority: Option<SecretKey>,
    concurrency: usize,
    duration: Duration,
    ceiling: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let authority =
        authority.ok_or_else(|| anyhow!("bench allocate funds its account: give --key of the ATP mint authority"))?;
    let base = node.trim_end_matches('/');
    let client = super::client::Client::new(base)?;
    let holder = Arc::new(SecretKey::from_seed(&random_bytes::<32>()?));
    client.post(&holder, "/v1/lct/mint", &mint_request(&holder)).await.context("minting the holder")?;
    let holder_id = LctId::from_public_key(&holder.public_key());
    client.post(&authority, "/v1/atp/mint", &json!({"amount": 100_000})).await.context("minting bench ATP")?;
    let proof = json!({"kind": "bench", "reference": format!("bench-{holder_id}"), "value": 100_000.0});
    client
        .post(&authority, "/v1/atp/charge", &json!({"account": holder_id, "proof": proof}))
        .await
        .context("charging the bench account")?;
    let source = signed_source(
        Arc::clone(&holder),
        client.society().await?,
        "/v1/resources/allocate",
        || json!({"resource_type": "storage", "quantity": 1, "duration_seconds": 60}),
    );
    let url = format!("{base}/v1/resources/allocate");
    signed_bench("allocate", url, 201, holder, source, concurrency, duration, ceiling, as_json).await
}

/// A cheap deterministic mix of `i` (splitmix64).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Edge `i` of the generated society graph over `nodes` nodes.
fn bench_edge(i: u64, nodes: u64) -> Value {
    let m = mix(i);
    let s = i % nodes;
    let mut t = m % nodes;
    if t == s {
        t = (t + 1) % nodes;
    }
    let relation = ["pairedWith", "witnessedBy", "boundTo"][usize::try_from((m >> 20) % 3).unwrap_or(0)];
    json!({"subject": format!("lct:bench:{s}"), "predicate": format!("{}{relation}", web4_core::mrh::WEB4),
           "object": format!("lct:bench:{t}"), "weight": 0.5 + ((m >> 32) % 50) as f64 / 100.0})
}

fn report(as_json: bool, r: &Value) {
    if as_json { println!("{r}") } else { print_report(r) }
}

async fn graph_bench(
    node: &str,
    curator: Option<SecretKey>,
    (concurrency, triples, nodes, duration): (usize, u64, u64, Duration),
    as_json: bool,
) -> anyhow::Result<()> {
    let base = node.trim_end_matches('/').to_owned();
    let nodes = nodes.max(2);
    if triples > 0 {
        let key =
            Arc::new(curator.ok_or_else(|| anyhow!("bench graph ingests as a curator: give --key (the authority)"))?);
        let counter = Arc::new(AtomicU64::new(0));
        let society = super::client::Client::new(&base)?.society().await?;
        let url = format!("{base}/v1/graph/triple");
        let next: Next = Arc::new(move |http: &reqwest::Client| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            if i >= triples {
                return Ok(None);
            }
            let body = serde_json::to_vec(&bench_edge(i, nodes))?;
            let h = sign_headers(&key, &society, "POST", "/v1/graph/triple", &body)?;
            Ok(Some(h.apply(http.post(&url)).body(body)))
        });
        let r = load("graph ingest (signed triples)", 201, concurrency, Duration::from_secs(3600), next, false).await?;
        report(as_json, &r);
    }
    let w4 = web4_core::mrh::WEB4;
    let counter = Arc::new(AtomicU64::new(1 << 40));
    let next: Next = {
        let (base, counter) = (base.clone(), Arc::clone(&counter));
        Arc::new(move |http: &reqwest::Client| {
            let x = mix(counter.fetch_add(1, Ordering::Relaxed)) % nodes;
            let q = format!("SELECT ?b WHERE {{ <lct:bench:{x}> <{w4}pairedWith> ?a . ?a ?p ?b }}");
            let qs = form_urlencoded::Serializer::new(String::new()).append_pair("query", &q).finish();
            Ok(Some(
                http.get(format!("{base}/v1/graph/query?{qs}")).header("accept", "application/sparql-results+json"),
            ))
        })
    };
    report(as_json, &load("sparql select, one join", 200, concurrency, duration, next, false).await?);
    let next: Next = {
        let base = base.clone();
        Arc::new(move |http: &reqwest::Client| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            let (s, t) = (mix(i) % nodes, mix(i ^ 0xABCD) % nodes);
            let body = json!({"source": format!("lct:bench:{s}"), "target": format!("lct:bench:{t}"), "depth": 4});
            Ok(Some(http.post(format!("{base}/v1/graph/trust")).json(&body)))
        })
    };
    report(as_json, &load("trust (zone + paths to depth 4)", 200, concurrency, duration, next, false).await?);
    Ok(())
}

/// Run a benchmark and print its figures.
pub async fn run(node: &str, key: Option<SecretKey>, cmd: &BenchCmd, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Mint { concurrency, duration, presign: n } => {
            let duration = parse_duration(duration)?;
            let concurrency = (*concurrency).clamp(1, 4096);
            let society = super::client::Client::new(node)?.society().await?;
            let source: Source = Arc::new(move || mint_signed(&society));
            let pool = match n {
                Some(n) => {
                    let t = Instant::now();
                    let reqs = presign(Arc::clone(&source), *n).await?;
                    if !as_json {
                        println!("pre-signed {} requests in {:.1}s", reqs.len(), t.elapsed().as_secs_f64());
                    }
                    Some(reqs)
                }
                None => None,
            };
            let url = format!("{}/v1/lct/mint", node.trim_end_matches('/'));
            let presigned = pool.is_some();
            let r = load("mint", 201, concurrency, duration, signed_posts(url, source, pool), presigned).await?;
            if as_json {
                println!("{r}")
            } else {
                print_report(&r)
            }
            Ok(())
        }
        BenchCmd::Authorize { concurrency, duration, no_ceiling } => {
            authorize_bench(node, (*concurrency).clamp(1, 4096), parse_duration(duration)?, !no_ceiling, as_json).await
        }
        BenchCmd::Outcome { concurrency, duration, no_ceiling } => {
            outcome_bench(node, (*concurrency).clamp(1, 4096), parse_duration(duration)?, !no_ceiling, as_json).await
        }
        BenchCmd::Graph { concurrency, triples, nodes, duration } => {
            let c = (*concurrency).clamp(1, 4096);
            graph_bench(node, key, (c, *triples, *nodes, parse_duration(duration)?), as_json).await
        }
        BenchCmd::Allocate { concurrency, duration, no_ceiling } => {
            let c = (*concurrency).clamp(1, 4096);
            allocate_bench(node, key, c, parse_duration(duration)?, !no_ceiling, as_json).await
        }
        BenchCmd::Federation { nodes, degree, mesh_degree, rates, duration, web4d } => {
            let shape = (*degree, *mesh_degree);
            super::fedbench::run(*nodes, shape, rates, parse_duration(duration)?, web4d.clone(), as_json).await
        }
    }
}
