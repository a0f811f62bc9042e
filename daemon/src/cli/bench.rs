//! `web4 bench`: closed-loop load over signed HTTP, reporting throughput and
//! latency percentiles. Each request is a real, freshly signed mint of a new
//! key (self-admission), so every acknowledged request is a durable write.

use super::client::sign_headers;
use crate::keystore::random_bytes;
use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use web4_core::SecretKey;
use web4_core::api::MintRequest;
use web4_core::lct::{Binding, EntityType};

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

fn mint_body(key: &SecretKey) -> anyhow::Result<Vec<u8>> {
    let b = Binding::create(key, EntityType::Ai, crate::services::system_clock());
    let req = MintRequest {
        entity_type: b.entity_type,
        public_key: b.public_key,
        created_at: b.created_at,
        binding_proof: b.binding_proof,
        lct_id: None,
        birth_context: Some("bench".into()),
        witnesses: vec![],
        policy: None,
        hardware_anchor: None,
    };
    Ok(serde_json::to_vec(&req)?)
}

type Signed = (Vec<u8>, super::client::SignedHeaders);

fn sign_one() -> anyhow::Result<Signed> {
    let key = SecretKey::from_seed(&random_bytes::<32>()?);
    let body = mint_body(&key)?;
    let h = sign_headers(&key, "POST", "/v1/lct/mint", &body)?;
    Ok((body, h))
}

async fn presign_requests(n: usize) -> anyhow::Result<Vec<Signed>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let per = n.div_ceil(threads);
    let mut tasks = Vec::new();
    for _ in 0..threads {
        tasks.push(tokio::task::spawn_blocking(move || {
            (0..per).map(|_| sign_one()).collect::<anyhow::Result<Vec<_>>>()
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.extend(t.await.map_err(|e| anyhow!("presign: {e}"))??);
    }
    out.truncate(n);
    Ok(out)
}

/// Run a benchmark and print its figures.
pub async fn run(node: &str, cmd: &BenchCmd, as_json: bool) -> anyhow::Result<()> {
    let BenchCmd::Mint { concurrency, duration, presign } = cmd;
    let duration = parse_duration(duration)?;
    let concurrency = (*concurrency).clamp(1, 4096);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building HTTP client")?;
    let url = format!("{}/v1/lct/mint", node.trim_end_matches('/'));
    let errors = Arc::new(AtomicU64::new(0));
    let pool: Option<Arc<std::sync::Mutex<Vec<Signed>>>> = match presign {
        Some(n) => {
            let t = Instant::now();
            let reqs = presign_requests(*n).await?;
            if !as_json {
                println!("pre-signed {} requests in {:.1}s", reqs.len(), t.elapsed().as_secs_f64());
            }
            Some(Arc::new(std::sync::Mutex::new(reqs)))
        }
        None => None,
    };
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (http, url, errors, pool) = (http.clone(), url.clone(), Arc::clone(&errors), pool.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("{e}"))?;
            let mut first_error: Option<String> = None;
            while Instant::now() < deadline {
                let (body, h) = match &pool {
                    Some(p) => match p.lock().map_err(|_| anyhow!("pool poisoned"))?.pop() {
                        Some(r) => r,
                        None => break,
                    },
                    None => sign_one()?,
                };
                let t = Instant::now();
                let resp = h.apply(http.post(&url)).body(body).send().await;
                let ok = match resp {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if status.as_u16() == 201 {
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
                    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                    hist.saturating_record(us);
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
    let ok = total.len();
    let errs = errors.load(Ordering::Relaxed);
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let report = json!({
        "benchmark": "mint",
        "presigned": presign.is_some(),
        "concurrency": concurrency,
        "duration_s": elapsed,
        "ok": ok,
        "errors": errs,
        "throughput_per_s": ok as f64 / elapsed,
        "latency_ms": {"p50": ms(0.50), "p95": ms(0.95), "p99": ms(0.99), "max": total.max() as f64 / 1000.0},
        "first_error": first_error,
    });
    if as_json {
        println!("{report}");
    } else {
        println!(
            "mint: {ok} ok, {errs} errors in {elapsed:.1}s at concurrency {concurrency}\nthroughput {:.0}/s\nlatency p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ok as f64 / elapsed,
            ms(0.5),
            ms(0.95),
            ms(0.99),
            total.max() as f64 / 1000.0
        );
        if let Some(e) = report["first_error"].as_str() {
            println!("first error: {e}");
        }
    }
    Ok(())
}
