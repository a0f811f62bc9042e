//! `web4 bench federation`: N web4d processes on loopback in a sparse mesh,
//! records published on one node at fixed rates; the time until every node
//! has applied each record, the highest rate without a growing backlog, and
//! memory per node. In the same run, bare gossipsub (the same swarm code, same
//! topology and rates, no validation or storage) as the reference.
//!
//! Timing: every node stamps each record with its own clock when it appends
//! it (`applied_at`, ms; all nodes run on this machine, so they share the
//! clock). After each rate the tool reads every node's ledger: a record's start
//! is its origin's stamp (its commit there), and it is applied everywhere at
//! the latest stamp among the nodes. Nothing polls the nodes while a rate
//! runs, so the measurement takes no CPU from the federation it measures
//! (until session 11 a long poll followed every node: about 8 % of the
//! box's CPU at 100 records/s, `perf record -a`).

use super::bench::{mint_request, mint_signed};
use super::client::sign_headers;
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use web4_core::SecretKey;

struct Proc {
    child: Child,
    base: String,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn config(bootstrap: &[String], mesh_degree: usize) -> String {
    format!(
        "p2p_listen = [\"/ip4/127.0.0.1/tcp/0\"]\np2p_mdns = false\np2p_sync_interval_secs = 2\nlog_level = \"warn\"\np2p_mesh_degree = {mesh_degree}\np2p_bootstrap = {}\n",
        serde_json::to_string(bootstrap).unwrap_or_else(|_| "[]".into())
    )
}

async fn start_node(
    web4d: &Path,
    dir: &Path,
    join: Option<&str>,
    bootstrap: &[String],
    mesh_degree: usize,
) -> anyhow::Result<Proc> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("web4d.toml"), config(bootstrap, mesh_degree))?;
    let port = free_port()?;
    let env = |c: &mut Command| {
        c.env("DATA_DIR", dir.join("data")).env("PORT", port.to_string()).env("WEB4_CONFIG", dir.join("web4d.toml"));
    };
    let mut init = Command::new(web4d);
    init.arg("init");
    if let Some(j) = join {
        init.args(["--join", j]);
    }
    env(&mut init);
    let out = init.output().with_context(|| format!("running {}", web4d.display()))?;
    if !out.status.success() {
        bail!("web4d init: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut run = Command::new(web4d);
    env(&mut run);
    run.env_remove("JOURNAL_STREAM").stdout(Stdio::null()).stderr(Stdio::null());
    let child = run.spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status().is_success()
        {
            let v: Value = r.json().await?;
            let tcp = v["p2p"]["listen"]
                .as_array()
                .and_then(|l| l.iter().filter_map(Value::as_str).find(|a| a.contains("/tcp/")))
                .ok_or_else(|| anyhow!("{base}: no p2p listener"))?
                .to_owned();
            let addr = format!("{tcp}/p2p/{}", v["p2p"]["peer_id"].as_str().unwrap_or_default());
            return Ok(Proc { child, base, addr });
        }
        if Instant::now() > deadline {
            bail!("{base} not ready in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pseudo-random choice of `k` distinct earlier nodes (deterministic per run).
fn pick(i: usize, k: usize, state: &mut u64) -> Vec<usize> {
    let mut out = Vec::new();
    while out.len() < k.min(i) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let j = usize::try_from(*state % i as u64).unwrap_or(0);
        if !out.contains(&j) {
            out.push(j);
        }
    }
    out
}

/// When each record reached each node, ms on a clock shared by all nodes.
type Seen = Arc<Mutex<HashMap<[u8; 32], Vec<Option<f64>>>>>;

fn key_of(text: &[u8]) -> [u8; 32] {
    web4_core::sha256(text).0
}

fn mark(seen: &Seen, n: usize, idx: usize, key: [u8; 32], at_ms: f64) {
    let mut s = match seen.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let v = s.entry(key).or_insert_with(|| vec![None; n]);
    if v[idx].is_none() {
        v[idx] = Some(at_ms);
    }
}

/// Monotonic ms since the first call (the in-process bare swarms' clock).
fn mono_ms() -> f64 {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Read what every node appended since its last read (`after[i]`), marking
/// each record with the node's `applied_at`.
async fn collect(http: &reqwest::Client, procs: &[Proc], after: &mut [i64], seen: &Seen) -> anyhow::Result<()> {
    let n = procs.len();
    for (idx, p) in procs.iter().enumerate() {
        loop {
            let url = format!("{}/v1/ledger/records?after={}&limit=1000", p.base, after[idx]);
            let v: Value = http.get(&url).send().await?.json().await?;
            let recs = v["data"]["records"].as_array().cloned().unwrap_or_default();
            let stamps = v["data"]["applied_at"].as_array().cloned().unwrap_or_default();
            for (t, at) in recs.iter().zip(&stamps) {
                if let (Some(t), Some(at)) = (t.as_str(), at.as_f64()) {
                    mark(seen, n, idx, key_of(t.as_bytes()), at);
                }
            }
            match v["data"]["next"].as_i64() {
                Some(next) if !recs.is_empty() => after[idx] = next,
                _ => break,
            }
        }
    }
    Ok(())
}

/// One rate's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RateResult {
    pub rate: u32,
    pub published: usize,
    /// Records that had not reached every node 5 s after publishing stopped.
    pub missing: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub sustained: bool,
    /// CPU time (user + system) of all nodes per record and node, µs.
    pub cpu_us_per_record_node: Option<f64>,
}

impl RateResult {
    fn print(&self, who: &str, what: &str) {
        let cpu = self.cpu_us_per_record_node.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.0} µs"));
        println!(
            "{who:<7} {:>5}/s  {:>6} {what}: p50 {:>7.1} ms  p99 {:>7.1} ms  missing {}  CPU {cpu}/record/node",
            self.rate, self.published, self.p50_ms, self.p99_ms, self.missing
        );
    }
}

fn summarise(rate: u32, seen: &Seen, origin: usize, keys: &[[u8; 32]]) -> RateResult {
    let s = match seen.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let mut lat = Vec::new();
    let mut missing = 0;
    for k in keys {
        let Some(v) = s.get(k) else {
            missing += 1;
            continue;
        };
        match (v[origin], v.iter().all(Option::is_some)) {
            (Some(t0), true) => {
                let last = v.iter().flatten().copied().fold(t0, f64::max);
                lat.push(last - t0);
            }
            _ => missing += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| if lat.is_empty() { f64::NAN } else { lat[((lat.len() - 1) as f64 * p).round() as usize] };
    let (p50, p99) = (q(0.5), q(0.99));
    RateResult {
        rate,
        published: keys.len(),
        missing,
        p50_ms: p50,
        p99_ms: p99,
        sustained: missing == 0 && p99 < 1000.0,
        cpu_us_per_record_node: None,
    }
}

/// CPU time (user + system) of a process so far, in µs (`/proc/<pid>/stat`);
/// `None` when it cannot be read.
fn cpu_us(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is 3rd, utime 14th, stime 15th.
    let rest = s.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // The kernel reports clock ticks of 1/100 s (USER_HZ) on Linux.
    Some(ticks * 10_000)
}

fn cpu_per_record(before: Option<u64>, after: Option<u64>, records: usize, nodes: usize) -> Option<f64> {
    let n = records.checked_mul(nodes).filter(|n| *n > 0)?;
    Some(after?.saturating_sub(before?) as f64 / n as f64)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Run the benchmark.
pub async fn run(
    nodes: usize,
    (degree, mesh_degree): (usize, usize),
    rates: &[u32],
    duration: Duration,
    web4d: Option<PathBuf>,
    as_json: bool,
) -> anyhow::Result<()> {
    let nodes = nodes.clamp(2, 64);
    let web4d = match web4d {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("web4d"),
    };
    let root = std::env::temp_dir().join(format!("web4-fedbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut topology: Vec<Vec<usize>> = vec![Vec::new()];
    let mut procs: Vec<Proc> = vec![start_node(&web4d, &root.join("n0"), None, &[], mesh_degree).await?];
    let founder = procs[0].base.clone();
    for i in 1..nodes {
        let peers = pick(i, degree, &mut rng);
        let boot: Vec<String> = peers.iter().map(|&j| procs[j].addr.clone()).collect();
        procs.push(start_node(&web4d, &root.join(format!("n{i}")), Some(&founder), &boot, mesh_degree).await?);
        topology.push(peers);
    }
    if !as_json {
        println!("{nodes} web4d nodes up; each dialled {degree} earlier nodes; gossipsub mesh degree {mesh_degree}");
    }
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let mut after = vec![0i64; procs.len()];
    let http = reqwest::Client::new();
    let society = super::client::society_of(&http, &founder).await?;
    // Warm-up: one record must reach everyone (the mesh has formed).
    let warm = Instant::now();
    loop {
        let before: Vec<[u8; 32]> = lock_keys(&seen);
        publish_one(&http, &founder, &society).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        collect(&http, &procs, &mut after, &seen).await?;
        let s = summarise(0, &seen, 0, &new_keys(&seen, &before));
        if s.missing == 0 && s.published > 0 {
            break;
        }
        if warm.elapsed() > Duration::from_secs(60) {
            bail!("the federation did not converge in 60 s");
        }
    }
    let mut results = Vec::new();
    let pids: Vec<String> = procs.iter().map(|p| p.child.id().to_string()).collect();
    let cpu_all = || pids.iter().map(|p| cpu_us(p)).sum::<Option<u64>>();
    for &rate in rates {
        let before = lock_keys(&seen);
        let cpu0 = cpu_all();
        pace(rate, duration, |_| {
            let (http, founder, society) = (http.clone(), founder.clone(), society.clone());
            tokio::spawn(async move {
                let _ = publish_one(&http, &founder, &society).await;
            });
        })
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let cpu1 = cpu_all();
        collect(&http, &procs, &mut after, &seen).await?;
        let mut r = summarise(rate, &seen, 0, &new_keys(&seen, &before));
        r.cpu_us_per_record_node = cpu_per_record(cpu0, cpu1, r.published, nodes);
        if !as_json {
            r.print("web4d", "records  all nodes applied");
        }
        let stop_here = !r.sustained;
        results.push(r);
        if stop_here {
            break;
        }
    }
    let rss: Vec<u64> = procs.iter().map(|p| rss_kib(p.child.id())).collect();
    let fwd = match procs.get(1) {
        Some(other) => Some(forwarding(&http, &founder, &other.base).await?),
        None => None,
    };
    if let (Some(f), false) = (&fwd, as_json) {
        println!(
            "forwarding: {} sequential authorizations of a delegation owned by node 0: sent to the owner p50 {:.2} ms p99 {:.2} ms; sent to node 1 (forwarded) p50 {:.2} ms p99 {:.2} ms",
            f["requests"],
            f["direct_p50_ms"].as_f64().unwrap_or(f64::NAN),
            f["direct_p99_ms"].as_f64().unwrap_or(f64::NAN),
            f["forwarded_p50_ms"].as_f64().unwrap_or(f64::NAN),
            f["forwarded_p99_ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    drop(procs);
    let _ = std::fs::remove_dir_all(&root);
    let bare = bare_gossipsub(nodes, &topology, (rates, mesh_degree), duration, as_json).await?;
    let best = |v: &[RateResult]| v.iter().filter(|r| r.sustained).map(|r| r.rate).max().unwrap_or(0);
    let mean_rss = rss.iter().sum::<u64>() as f64 / rss.len().max(1) as f64 / 1024.0;
    let max_rss = rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
    let out = json!({
        "nodes": nodes, "degree": degree, "mesh_degree": mesh_degree, "duration_s": duration.as_secs_f64(),
        "web4d": results, "bare_gossipsub": bare,
        "web4d_highest_sustained_rate": best(&results), "bare_highest_sustained_rate": best(&bare),
        "rss_mib_mean": mean_rss, "rss_mib_max": max_rss, "forwarding": fwd,
    });
    if as_json {
        println!("{out}");
    } else {
        println!(
            "highest sustained rate: web4d {}/s, bare gossipsub {}/s (of the rates tried); RSS per node: mean {mean_rss:.1} MiB, max {max_rss:.1} MiB",
            best(&results),
            best(&bare)
        );
    }
    Ok(())
}

fn lock_keys(seen: &Seen) -> Vec<[u8; 32]> {
    match seen.lock() {
        Ok(g) => g.keys().copied().collect(),
        Err(p) => p.into_inner().keys().copied().collect(),
    }
}

fn new_keys(seen: &Seen, before: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let old: std::collections::HashSet<&[u8; 32]> = before.iter().collect();
    lock_keys(seen).into_iter().filter(|k| !old.contains(k)).collect()
}

async fn publish_one(http: &reqwest::Client, base: &str, society: &web4_core::LctId) -> anyhow::Result<()> {
    let (body, h) = mint_signed(society)?;
    let r = h.apply(http.post(format!("{base}/v1/lct/mint"))).body(body).send().await?;
    if r.status().as_u16() != 201 {
        bail!("mint answered {}", r.status());
    }
    Ok(())
}

/// A signed JSON POST; the answer's status and body.
async fn post_signed(
    http: &reqwest::Client,
    (base, society): (&str, &web4_core::LctId),
    key: &SecretKey,
    path: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let bytes = serde_json::to_vec(body)?;
    let h = sign_headers(key, society, "POST", path, &bytes)?;
    let r = h.apply(http.post(format!("{base}{path}"))).body(bytes).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// The cost of one writer per delegation (decisions/0017): the same
/// authorization, one at a time, sent to the delegation's owner and to another
/// node that forwards it over libp2p.
async fn forwarding(http: &reqwest::Client, owner: &str, other: &str) -> anyhow::Result<Value> {
    const N: usize = 200;
    let (client, agent) = (
        SecretKey::from_seed(&crate::keystore::random_bytes::<32>()?),
        SecretKey::from_seed(&crate::keystore::random_bytes::<32>()?),
    );
    // Asked once: the timed requests below are one POST each.
    let society = super::client::society_of(http, owner).await?;
    for k in [&client, &agent] {
        let (s, v) =
            post_signed(http, (owner, &society), k, "/v1/lct/mint", &serde_json::to_value(mint_request(k))?).await?;
        if s != 201 {
            bail!("forwarding setup: mint answered {s}: {v}");
        }
    }
    let agent_id = web4_core::LctId::from_public_key(&agent.public_key()).to_string();
    let expires = web4_core::Timestamp(crate::services::system_clock().0 + 3600).to_string();
    let grant = json!({"agent": agent_id, "atp_budget": 1_000_000, "expires_at": expires,
        "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 10}});
    let (s, v) = post_signed(http, (owner, &society), &client, "/v1/auth/delegate", &grant).await?;
    let gid = v["data"]["delegation"]["grant_id"].as_str().map(str::to_owned);
    let Some(gid) = gid.filter(|_| s == 201) else { bail!("forwarding setup: delegate answered {s}: {v}") };
    let started = Instant::now();
    while http.get(format!("{other}/v1/auth/delegation/{gid}")).send().await?.status().as_u16() != 200 {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the delegation did not reach node 1 in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut out = json!({"requests": N});
    for (label, base) in [("direct", owner), ("forwarded", other)] {
        let mut lat = Vec::with_capacity(N);
        for i in 0..N {
            let body = json!({"action": "compute", "resource": format!("job:{label}:{i}"), "atp_cost": 1,
                "context": {"delegation_id": gid}});
            let t0 = Instant::now();
            let (s, v) = post_signed(http, (base, &society), &agent, "/v1/auth/authorize", &body).await?;
            if s != 200 {
                bail!("authorize via {label} answered {s}: {v}");
            }
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        out[format!("{label}_p50_ms")] = json!(lat[N / 2]);
        out[format!("{label}_p99_ms")] = json!(lat[N * 99 / 100]);
    }
    Ok(out)
}

/// Call `f(i)` `rate` times a second for `duration`.
async fn pace(rate: u32, duration: Duration, mut f: impl FnMut(u64)) {
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + duration;
    let mut i = 0;
    while Instant::now() < end {
        tick.tick().await;
        f(i);
        i += 1;
    }
}

/// The same swarm code in-process, same topology and rates, every message
/// accepted without validation or storage.
async fn bare_gossipsub(
    nodes: usize,
    topology: &[Vec<usize>],
    (rates, mesh_degree): (&[u32], usize),
    duration: Duration,
    as_json: bool,
) -> anyhow::Result<Vec<RateResult>> {
    let topic = "web4/bench/bare/1".to_owned();
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let mut handles = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for (i, peers) in topology.iter().enumerate().take(nodes) {
        let seed = crate::keystore::random_bytes::<32>()?;
        let boot: Vec<libp2p::Multiaddr> = peers.iter().filter_map(|&j| addrs[j].parse().ok()).collect();
        let (h, mut ev) = web4_p2p::start(
            seed,
            web4_p2p::Config {
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
                bootstrap: boot,
                mdns: false,
                max_message_bytes: web4_p2p::DEFAULT_MAX_MESSAGE_BYTES,
                max_topics_per_peer: 64,
                mesh_degree,
            },
        )?;
        h.subscribe(topic.clone()).await?;
        let mut listen = Vec::new();
        for _ in 0..100 {
            listen = h.listeners().await?;
            if !listen.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let a = listen.first().ok_or_else(|| anyhow!("bare node {i} does not listen"))?;
        addrs.push(format!("{a}/p2p/{}", h.peer_id));
        let (hh, s) = (h.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                if let web4_p2p::Event::Gossip { source, id, data, .. } = e {
                    mark(&s, nodes, i, key_of(&data), mono_ms());
                    let _ = hh.report(id, source, web4_p2p::Verdict::Accept).await;
                }
            }
        });
        handles.push(h);
    }
    let origin = handles[0].clone();
    // A record-sized payload (mint records are ~1.5 KB).
    let payload = |i: u64| format!("{{\"bench\":{i},\"pad\":\"{}\"}}", "x".repeat(1500)).into_bytes();
    let send = |i: u64| {
        let (o, t, s) = (origin.clone(), topic.clone(), Arc::clone(&seen));
        let data = payload(i);
        tokio::spawn(async move {
            mark(&s, nodes, 0, key_of(&data), mono_ms());
            let _ = o.publish(t, data).await;
        });
    };
    let warm = Instant::now();
    let mut i = 1u64 << 40;
    loop {
        let before = lock_keys(&seen);
        send(i);
        i += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = summarise(0, &seen, 0, &new_keys(&seen, &before));
        if s.missing == 0 && s.published > 0 {
            break;
        }
        if warm.elapsed() > Duration::from_secs(60) {
            bail!("bare gossipsub did not converge in 60 s");
        }
    }
    let mut out = Vec::new();
    for &rate in rates {
        let before = lock_keys(&seen);
        let base = u64::from(rate) << 32;
        let cpu0 = cpu_us("self");
        pace(rate, duration, |k| send(base + k)).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut r = summarise(rate, &seen, 0, &new_keys(&seen, &before));
        r.cpu_us_per_record_node = cpu_per_record(cpu0, cpu_us("self"), r.published, nodes);
        if !as_json {
            r.print("bare", "messages all nodes received");
        }
        let stop_here = !r.sustained;
        out.push(r);
        if stop_here {
            break;
        }
    }
    Ok(out)
}
