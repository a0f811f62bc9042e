//! `web4d`: the Web4 edge trust daemon.
use clap::{Parser, Subcommand};
use web4_daemon::config::{Config, Flags};

/// web4d — Web4 edge trust daemon.
#[derive(Debug, Parser)]
#[command(name = "web4d", version, about)]
struct Args {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create the node key, an admin key and a dev society (single-node law);
    /// or, with --join, become a node of an existing society.
    Init {
        /// Join the society of the node at this URL instead of founding one.
        #[arg(long)]
        join: Option<String>,
    },
    /// Validate the configuration and print the effective settings.
    CheckConfig {
        /// Only validate (exit status 0 or 2), print nothing.
        #[arg(long)]
        quiet: bool,
    },
    /// Ledger maintenance.
    Ledger {
        #[command(subcommand)]
        cmd: LedgerCmd,
    },
    /// Rotate the node key (node stopped): a new key in the configured keystore
    /// (sealed and anchored with tpm2) and a transition record signed by the old one.
    RotateKey {
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register this node's LCT in a peer society (its mint route), with a
    /// fresh hardware anchor when the key is in a TPM.
    Introduce {
        /// Base URL of a node of the peer society.
        #[arg(long)]
        peer: String,
    },
    /// Give a role to an LCT with a request signed by this node's key
    /// (software or TPM keystore), sent to this node's own API, which must be
    /// running. The node LCT must hold or keep a role that grants roles: the
    /// founding node keeps `authority` when the authorities took each other
    /// out of service (decisions/0019).
    GrantRole {
        /// The LCT to give the role to (active, a citizen).
        #[arg(long)]
        lct: String,
        /// The role.
        #[arg(long, default_value = "authority")]
        role: String,
        /// Why, recorded with the grant.
        #[arg(long)]
        reason: Option<String>,
        /// The node's API (default: this node's bind address and port;
        /// loopback when it binds every address).
        #[arg(long)]
        url: Option<String>,
    },
    /// TPM 2.0: status, a fresh hardware anchor, latency benchmark.
    Tpm {
        #[command(subcommand)]
        cmd: TpmCmd,
    },
}

#[derive(Debug, Subcommand)]
enum TpmCmd {
    /// Manufacturer, firmware, algorithms, PCR banks, lockout state, EK
    /// certificate, and whether this node's sealed keys load in this TPM.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh hardware anchor (TPM quote) endorsing the node key.
    Anchor,
    /// Time TPM unseal, sign and quote (and what the anchor costs to verify).
    Bench {
        /// Rounds of each operation.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// Verify every chain and rebuild the projections into a scratch store to compare.
    Verify {
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let args = Args::parse();
    let env = |k: &str| std::env::var(k).ok();
    let cfg = match Config::load(&args.flags, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("web4d: configuration error: {e}");
            std::process::exit(2);
        }
    };
    let code = match args.cmd {
        Some(Cmd::CheckConfig { quiet: true }) => 0,
        Some(Cmd::CheckConfig { quiet: false }) => match toml::to_string(&cfg) {
            Ok(t) => {
                println!("# effective configuration (defaults < file < env < flags)\n{t}");
                0
            }
            Err(e) => {
                eprintln!("web4d: {e}");
                1
            }
        },
        Some(Cmd::Init { join }) => {
            let r = match join {
                None => web4_daemon::node::init(&cfg),
                Some(peer) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(web4_daemon::node::join(&cfg, &peer)),
                    Err(e) => Err(e.into()),
                },
            };
            match r {
                Ok(r) => {
                    println!(
                        "initialised {}\n  node LCT   {} (capability level {})\n  node key   {}\n  society    {}\n  law_hash   {}",
                        r.database, r.node_lct, r.capability_level, r.node_key, r.society, r.law_hash
                    );
                    if let (Some(id), Some(key)) = (&r.admin_lct, &r.admin_key) {
                        println!("  admin LCT  {id}\n  admin key  {key} (use with: web4 --key {key} …)");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("web4d init: {e:#}");
                    1
                }
            }
        }
        Some(Cmd::Ledger { cmd: LedgerCmd::Verify { json } }) => match web4_daemon::node::verify_ledger(&cfg) {
            Ok(o) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&o).unwrap_or_default());
                } else {
                    println!("{} records by {} authors", o.records, o.authors);
                    for e in o.chain_errors.iter().chain(&o.projection_differences) {
                        println!("  FAIL {e}");
                    }
                    println!(
                        "{}",
                        if o.ok() { "ledger OK: chains verify, projections match a rebuild" } else { "ledger FAILED" }
                    );
                }
                if o.ok() { 0 } else { 1 }
            }
            Err(e) => {
                eprintln!("web4d ledger verify: {e:#}");
                1
            }
        },
        Some(Cmd::RotateKey { json }) => {
            match web4_daemon::nodekey::rotate(&cfg, web4_daemon::services::system_clock()) {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    } else {
                        println!(
                            "rotated the node key\n  old LCT    {} (superseded; signs until {})\n  new LCT    {} (capability level {})\n  key        {}\n  ledger_ref {}",
                            r.old, r.overlap_until, r.new, r.capability_level, r.key, r.ledger_ref
                        );
                    }
                    0
                }
                Err(e) => {
                    eprintln!("web4d rotate-key: {e:#}");
                    1
                }
            }
        }
        Some(Cmd::Introduce { peer }) => run_async(
            async {
                let v = web4_daemon::nodekey::introduce(&cfg, &peer, web4_daemon::services::system_clock()).await?;
                println!("{}", serde_json::to_string_pretty(&v["data"])?);
                Ok(())
            },
            "web4d introduce",
        ),
        Some(Cmd::GrantRole { lct, role, reason, url }) => run_async(
            async {
                let url = url.unwrap_or_else(|| {
                    // Loopback when the node binds every address.
                    let ip = match cfg.bind {
                        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
                        ip => ip,
                    };
                    format!("http://{}", std::net::SocketAddr::new(ip, cfg.port))
                });
                let v = web4_daemon::nodekey::grant_role(&cfg, &url, &lct, &role, reason).await?;
                println!("{}", serde_json::to_string_pretty(&v["data"])?);
                Ok(())
            },
            "web4d grant-role",
        ),
        Some(Cmd::Tpm { cmd }) => tpm(&cfg, cmd),
        None => {
            if let Err(e) = web4_daemon::telemetry::init(&cfg.log_level, cfg.log_format) {
                eprintln!("web4d: {e}");
                std::process::exit(2);
            }
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if cfg.workers > 0 {
                b.worker_threads(cfg.workers);
            }
            match b.enable_all().build() {
                Ok(rt) => match rt.block_on(web4_daemon::node::run(cfg, args.flags.clone())) {
                    Ok(()) => 0,
                    Err(e) => {
                        tracing::error!(service = "node", event = "fatal", error = %format!("{e:#}"));
                        eprintln!("web4d: {e:#}");
                        1
                    }
                },
                Err(e) => {
                    eprintln!("web4d: cannot start runtime: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

fn run_async(f: impl std::future::Future<Output = anyhow::Result<()>>, what: &str) -> i32 {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => match rt.block_on(f) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{what}: {e:#}");
                1
            }
        },
        Err(e) => {
            eprintln!("{what}: cannot start runtime: {e}");
            1
        }
    }
}

fn node_id(cfg: &Config) -> anyhow::Result<web4_core::LctId> {
    let conn = web4_daemon::store::open_connection(&cfg.db_path(), true)?;
    let id = web4_daemon::store::node_value(&conn, "node_lct")?
        .ok_or_else(|| anyhow::anyhow!("{} is not initialised: run `web4d init`", cfg.data_dir.display()))?;
    web4_core::LctId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))
}

fn tpm(cfg: &Config, cmd: TpmCmd) -> i32 {
    let r = (|| -> anyhow::Result<()> {
        match cmd {
            TpmCmd::Status { json } => {
                let s = web4_daemon::nodekey::tpm_status(cfg)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    println!("TPM at {}", s.tcti);
                    println!("  manufacturer  {} ({})", s.manufacturer, s.vendor);
                    println!("  firmware      {}", s.firmware);
                    println!("  spec          {}", s.spec);
                    println!("  PCR banks     {}", s.pcr_banks.join(", "));
                    println!("  algorithms    {}", s.algorithms.join(" "));
                    println!(
                        "  EK cert       {}",
                        s.ek_certificate.map_or("none (see tpm_require_ek_cert)".into(), |n| format!("{n} bytes"))
                    );
                    println!(
                        "  lockout       {} ({} of {} failures, interval {} s)",
                        if s.lockout.in_lockout { "LOCKED OUT" } else { "no" },
                        s.lockout.failures,
                        s.lockout.max_failures,
                        s.lockout.interval_secs
                    );
                    if s.keys.is_empty() {
                        println!("  keys          none sealed in {}", cfg.key_dir().display());
                    }
                    for k in &s.keys {
                        println!(
                            "  key           {} {} {}",
                            k.lct_id,
                            if k.loads { "loads" } else { "DOES NOT LOAD" },
                            k.detail.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            TpmCmd::Anchor => {
                let id = node_id(cfg)?;
                let (_, a) = web4_daemon::nodekey::fresh_anchor(cfg, &id, web4_daemon::services::system_clock())?;
                println!("{}", serde_json::to_string_pretty(&a)?);
            }
            TpmCmd::Bench { rounds, json } => {
                let id = node_id(cfg)?;
                let ops = web4_daemon::nodekey::tpm_bench(cfg, &id, rounds.max(1))?;
                let (sealed, a) = web4_daemon::nodekey::fresh_anchor(cfg, &id, web4_daemon::services::system_clock())?;
                let n = 200;
                let t = std::time::Instant::now();
                for _ in 0..n {
                    a.verify(&sealed.lct_id, &sealed.public_key).map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                let verify_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(n);
                let stats = |v: &[f64]| {
                    let mut v = v.to_vec();
                    v.sort_by(f64::total_cmp);
                    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
                    (at(0.5), at(0.99), v.len())
                };
                if json {
                    let mut out = serde_json::Map::new();
                    for (op, v) in &ops {
                        let (p50, p99, n) = stats(v);
                        out.insert((*op).into(), serde_json::json!({"p50_ms": p50, "p99_ms": p99, "n": n}));
                    }
                    out.insert("anchor_verify".into(), serde_json::json!({"mean_ms": verify_ms, "n": n}));
                    println!("{}", serde_json::to_string_pretty(&out)?);
                } else {
                    println!("{:<16} {:>10} {:>10} {:>6}", "operation", "p50 ms", "p99 ms", "n");
                    for (op, v) in &ops {
                        let (p50, p99, n) = stats(v);
                        println!("{op:<16} {p50:>10.2} {p99:>10.2} {n:>6}");
                    }
                    println!("{:<16} {:>10.3} {:>10} {:>6}   (software, no TPM)", "anchor verify", verify_ms, "-", n);
                }
            }
        }
        Ok(())
    })();
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("web4d tpm: {e:#}");
            1
        }
    }
}
