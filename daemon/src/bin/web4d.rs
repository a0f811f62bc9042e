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
    /// Create the node key, an admin key and a dev society (single-node law).
    Init,
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
        Some(Cmd::Init) => match web4_daemon::node::init(&cfg) {
            Ok(r) => {
                println!(
                    "initialised {}\n  node LCT   {}\n  admin LCT  {}\n  society    {}\n  law_hash   {}\n  admin key  {} (use with: web4 --key {} …)",
                    r.database, r.node_lct, r.admin_lct, r.society, r.law_hash, r.admin_key, r.admin_key
                );
                0
            }
            Err(e) => {
                eprintln!("web4d init: {e:#}");
                1
            }
        },
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
