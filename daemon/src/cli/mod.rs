//! `web4`, the command-line client: keys, one command per identity route,
//! every request signed, `--json` for scripts, and a load tool (`bench`).

pub mod bench;
pub mod client;
pub mod fedbench;

use crate::keystore;
use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use client::{Client, Failure};
use serde_json::{Value, json};
use std::path::PathBuf;
use web4_core::LctId;
use web4_core::api::{MintRequest, RevokeRequest, RoleGrantRequest, StatusChangeRequest, TransitionRequest};
use web4_core::lct::{Binding, EntityType, RevocationReason};

/// web4 — client for a web4d node.
#[derive(Debug, Parser)]
#[command(name = "web4", version, about)]
pub struct Cli {
    /// Node URL.
    #[arg(long, env = "WEB4_NODE", default_value = "http://127.0.0.1:8000", global = true)]
    pub node: String,
    /// Key file that signs requests (hex Ed25519 seed, mode 0600).
    #[arg(long, env = "WEB4_KEY", global = true)]
    pub key: Option<PathBuf>,
    /// Print the full JSON response.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Generate a key file and print its LCT id.
    Keygen {
        /// Where to write the key (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the LCT id of a key file.
    Id,
    /// Mint the LCT of --key (self-admission) or of --subject signed by --key (sponsor).
    Mint {
        /// Entity type (human, ai, device, service, …).
        #[arg(long, default_value = "ai")]
        entity_type: String,
        /// Key of the LCT to mint, when --key is a sponsor's.
        #[arg(long)]
        subject: Option<PathBuf>,
        /// Free-text birth context.
        #[arg(long)]
        context: Option<String>,
    },
    /// Show an LCT.
    Get { lct_id: String },
    /// Verify an LCT (binding, birth certificate, witnesses, status).
    Verify { lct_id: String },
    /// Suspend an LCT.
    Suspend {
        lct_id: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate {
        lct_id: String,
        #[arg(long)]
        reason: String,
    },
    /// Grant a role to an LCT (signed by a holder of the law's role_roles).
    GrantRole {
        lct_id: String,
        /// witness, citizen, law-oracle, treasurer, … (concepts §5).
        #[arg(long)]
        role: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take a role back from an LCT.
    RevokeRole {
        lct_id: String,
        #[arg(long)]
        role: String,
    },
    /// Revoke an LCT (terminal).
    Revoke {
        lct_id: String,
        /// compromise, superseded, expired or violation.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Rotate the LCT of --key to the key in --new-key.
    Transition {
        #[arg(long)]
        new_key: PathBuf,
    },
    /// Law files (offline).
    Law {
        #[command(subcommand)]
        cmd: LawCmd,
    },
    /// ATP accounts and the society pool.
    Atp {
        #[command(subcommand)]
        cmd: AtpCmd,
    },
    /// Resource pools and leases.
    Resources {
        #[command(subcommand)]
        cmd: ResourcesCmd,
    },
    /// The node's federation: peers, chains not whole here, equivocations.
    P2p {
        #[command(subcommand)]
        cmd: P2pCmd,
    },
    /// Load tool: signed requests against a node.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
}

/// ATP commands (docs/api.md §15).
#[derive(Debug, Subcommand)]
pub enum AtpCmd {
    /// Mint ADP into the society pool (law's mint authority).
    Mint { amount: u64 },
    /// Charge pool ADP to ATP in ACCOUNT against a value proof.
    Charge {
        account: String,
        /// What kind of value (outcome, contribution, …).
        #[arg(long)]
        kind: String,
        /// Unique reference of the evidence (a sha256: ledger ref or an external id).
        #[arg(long)]
        reference: String,
        /// Units of value; ATP = floor(value · the law's charge_rate).
        #[arg(long)]
        value: f64,
    },
    /// Transfer ATP from --key's account to TO (the law's fee is added).
    Transfer { to: String, amount: u64 },
    /// Destroy ATP from ACCOUNT as a penalty (status roles).
    Slash {
        account: String,
        amount: u64,
        #[arg(long)]
        reason: String,
    },
    /// Show an account.
    Account { lct_id: String },
    /// Show the society pool.
    Pool,
}

/// Resource commands (docs/api.md §17).
#[derive(Debug, Subcommand)]
pub enum ResourcesCmd {
    /// Lease QUANTITY units of TYPE (cpu millicores, memory MiB, storage MiB,
    /// network kbit/s, gpu devices) for --duration seconds.
    Allocate {
        resource_type: String,
        quantity: u64,
        #[arg(long)]
        duration: u64,
        /// A local process to enforce the lease on (cpu and memory, when the node allows).
        #[arg(long)]
        pid: Option<u32>,
        /// Refuse a price above this many ATP.
        #[arg(long)]
        max_atp: Option<u64>,
        /// Pay from this grant instead of --key's account.
        #[arg(long)]
        delegation: Option<String>,
    },
    /// Report USED unit-seconds on a lease as report SEQ.
    Usage { allocation_id: String, seq: u64, used: u64 },
    /// Release a lease, optionally with a final report.
    Release {
        allocation_id: String,
        #[arg(long, requires = "used")]
        seq: Option<u64>,
        #[arg(long, requires = "seq")]
        used: Option<u64>,
    },
    /// Update rates: TYPE=ATP_PER_UNIT_HOUR … (the law's rates_authority).
    Rates {
        #[arg(required = true)]
        rates: Vec<String>,
    },
    /// Pools: capacity, allocated, rates, enforcement.
    Stats,
    /// Show one lease.
    Show { allocation_id: String },
}

fn lease_summary(d: &Value) -> String {
    format!(
        "{} {} {} {} for {} s at {} ATP/unit-hour ({}): locked {}, charged {}, used {}/{}{}",
        d["allocation_id"].as_str().unwrap_or("?"),
        d["quantity"],
        d["unit"].as_str().unwrap_or(""),
        d["resource_type"].as_str().unwrap_or("?"),
        d["duration_seconds"],
        d["rate"],
        d["rates_version"].as_str().unwrap_or("?"),
        d["atp_locked"],
        d["atp_charged"],
        d["used"],
        d["allowance"],
        if d["released"] == true {
            format!(", {}", d["release_reason"].as_str().unwrap_or("released"))
        } else {
            String::new()
        }
    )
}

async fn resources(cli: &Cli, client: &Client, cmd: &ResourcesCmd) -> anyhow::Result<()> {
    use web4_core::api::{AllocateContext, AllocateRequest, FinalUsage, RatesRequest, ReleaseRequest, UsageRequest};
    match cmd {
        ResourcesCmd::Allocate { resource_type, quantity, duration, pid, max_atp, delegation } => {
            let req = AllocateRequest {
                resource_type: resource_type.clone(),
                quantity: *quantity,
                duration_seconds: *duration,
                pid: *pid,
                max_atp: *max_atp,
                context: AllocateContext { delegation_id: delegation.clone() },
            };
            let env = client.post(&need_key(cli)?, "/v1/resources/allocate", &req).await?;
            print_ok(cli, &env, lease_summary);
        }
        ResourcesCmd::Usage { allocation_id, seq, used } => {
            let req = UsageRequest { allocation_id: allocation_id.clone(), seq: *seq, used: *used };
            let env = client.post(&need_key(cli)?, "/v1/resources/usage", &req).await?;
            print_ok(cli, &env, |d| format!("charged {} ATP: {}", d["charged"], lease_summary(d)));
        }
        ResourcesCmd::Release { allocation_id, seq, used } => {
            let final_usage = match (seq, used) {
                (Some(seq), Some(used)) => Some(FinalUsage { seq: *seq, used: *used }),
                _ => None,
            };
            let req = ReleaseRequest { allocation_id: allocation_id.clone(), final_usage };
            let env = client.post(&need_key(cli)?, "/v1/resources/release", &req).await?;
            print_ok(cli, &env, |d| format!("returned {} ATP: {}", d["returned"], lease_summary(d)));
        }
        ResourcesCmd::Rates { rates } => {
            let mut map = std::collections::BTreeMap::new();
            for r in rates {
                let (t, v) = r.split_once('=').ok_or_else(|| anyhow!("{r:?}: expected TYPE=RATE, e.g. cpu=1.5"))?;
                let v: f64 = v.parse().map_err(|_| anyhow!("{r:?}: {v:?} is not a number"))?;
                map.insert(t.to_owned(), v);
            }
            let env = client.post(&need_key(cli)?, "/v1/resources/rates", &RatesRequest { rates: map }).await?;
            print_ok(cli, &env, |d| format!("rates {}: {}", d["rates_version"].as_str().unwrap_or("?"), d["rates"]));
        }
        ResourcesCmd::Stats => {
            let env = client.get("/v1/resources/pool/stats").await?;
            print_ok(cli, &env, |d| {
                let mut out = format!(
                    "rates {} (enforcement: {})",
                    d["rates_version"].as_str().unwrap_or("?"),
                    d["enforcement"]["mode"].as_str().unwrap_or("?")
                );
                if let Some(pools) = d["pools"].as_object() {
                    for (t, p) in pools {
                        out.push_str(&format!(
                            "\n{t:8} {}/{} {} allocated ({:.0} %), {} leases, {} ATP/unit-hour",
                            p["allocated"],
                            p["capacity"],
                            p["unit"].as_str().unwrap_or(""),
                            p["utilization"].as_f64().unwrap_or(0.0) * 100.0,
                            p["open_leases"],
                            p["rate"]
                        ));
                    }
                }
                out
            });
        }
        ResourcesCmd::Show { allocation_id } => {
            let env = client.get(&format!("/v1/resources/allocation/{allocation_id}")).await?;
            print_ok(cli, &env, lease_summary);
        }
    }
    Ok(())
}

/// Federation commands (docs/api.md, "Federation").
#[derive(Debug, Subcommand)]
pub enum P2pCmd {
    /// Connected peers with their gossipsub scores.
    Peers,
    /// Chains not whole on this node: behind, parked, waiting (for what), or
    /// stopped by a refused record.
    Chains,
    /// Authors caught signing two records with one seq.
    Equivocations,
}

/// What a node without p2p answers, said once.
fn p2p_off(d: &Value) -> Option<String> {
    (d["enabled"] != true).then(|| "p2p is off on this node (p2p_listen is empty)".to_owned())
}

async fn p2p(cli: &Cli, client: &Client, cmd: &P2pCmd) -> anyhow::Result<()> {
    match cmd {
        P2pCmd::Peers => {
            let env = client.get("/v1/p2p/peers").await?;
            print_ok(cli, &env, |d| {
                if let Some(off) = p2p_off(d) {
                    return off;
                }
                let peers = d["peers"].as_array().cloned().unwrap_or_default();
                let mut out = format!("{} peers, escrow {}", peers.len(), d["escrow"]);
                for p in peers {
                    out.push_str(&format!("\n{} score {}", p["peer_id"].as_str().unwrap_or("?"), p["score"]));
                }
                out
            });
        }
        P2pCmd::Chains => {
            let env = client.get("/v1/p2p/chains").await?;
            print_ok(cli, &env, |d| {
                if let Some(off) = p2p_off(d) {
                    return off;
                }
                let chains = d["chains"].as_array().cloned().unwrap_or_default();
                let mut out =
                    format!("{} chains not whole here, {} stopped by a refused record", d["total"], d["refused"]);
                for c in chains {
                    out.push_str(&format!(
                        "\n{} head {} of {} seen",
                        c["author"].as_str().unwrap_or("?"),
                        c["head"],
                        c["seen"]
                    ));
                    if let Some(p) = c["parked"].as_array().filter(|p| !p.is_empty()) {
                        out.push_str(&format!(", parked {}", Value::Array(p.clone())));
                    }
                    for w in c["waiting"].as_array().into_iter().flatten() {
                        out.push_str(&format!(", seq {} waits for {}", w["seq"], w["for"].as_str().unwrap_or("?")));
                    }
                    if c["refused"].is_object() {
                        let r = &c["refused"];
                        out.push_str(&format!(
                            "\n  REFUSED seq {} ({}): {}",
                            r["seq"],
                            r["kind"].as_str().unwrap_or("?"),
                            r["reason"].as_str().unwrap_or("?")
                        ));
                    }
                }
                out
            });
        }
        P2pCmd::Equivocations => {
            let env = client.get("/v1/p2p/equivocations").await?;
            print_ok(cli, &env, |d| {
                let flagged = d["flagged_authors"].as_array().cloned().unwrap_or_default();
                let mut out = format!("{} authors flagged", flagged.len());
                for e in d["evidence"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n{} seq {}: kept {}, other {}",
                        e["author"].as_str().unwrap_or("?"),
                        e["seq"],
                        e["kept_hash"].as_str().unwrap_or("?"),
                        e["other_hash"].as_str().unwrap_or("?")
                    ));
                }
                out
            });
        }
    }
    Ok(())
}

/// Law commands.
#[derive(Debug, Subcommand)]
pub enum LawCmd {
    /// Validate a law file like a linter: exit 0 when valid, 1 when not.
    Check {
        /// YAML or JSON law file.
        file: PathBuf,
    },
}

/// A law file that does not validate (exit code 1).
#[derive(Debug)]
struct LawInvalid(String);
impl std::fmt::Display for LawInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LawInvalid {}

fn law_check(file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match web4_core::law::LawDataset::from_text(&text) {
        Ok(law) => {
            let norms = law.as_json()["norms"].as_array().map(Vec::len).unwrap_or(0);
            if json {
                println!(
                    "{}",
                    json!({"file": file, "valid": true, "version": law.version(), "norms": norms, "law_hash": law.law_hash()})
                );
            } else {
                println!(
                    "{}: valid law version {} ({norms} norms), law_hash {}",
                    file.display(),
                    law.version(),
                    law.law_hash()
                );
            }
            Ok(())
        }
        Err(e) => {
            let lines: Vec<String> = e.to_string().lines().map(|l| format!("{}: {l}", file.display())).collect();
            if json {
                println!("{}", json!({"file": file, "valid": false, "problems": lines}));
            }
            Err(LawInvalid(lines.join("\n")).into())
        }
    }
}

fn need_key(cli: &Cli) -> anyhow::Result<web4_core::SecretKey> {
    let p = cli.key.as_ref().ok_or_else(|| anyhow!("this command signs a request: give --key FILE (or WEB4_KEY)"))?;
    keystore::read_key(p).with_context(|| format!("reading key {}", p.display()))
}

fn print_ok(cli: &Cli, env: &Value, summary: impl FnOnce(&Value) -> String) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(env).unwrap_or_default());
    } else {
        println!("{}", summary(&env["data"]));
    }
}

fn lct_summary(d: &Value) -> String {
    let v = if d.get("lct").and_then(|l| l.get("lct")).is_some() { &d["lct"] } else { d };
    format!(
        "{}  {}  {}  roles={}",
        v["lct"]["lct_id"].as_str().unwrap_or("?"),
        v["lct"]["binding"]["entity_type"].as_str().unwrap_or("?"),
        v["status"].as_str().unwrap_or("?"),
        v["roles"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    )
}

/// Run the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(&cli).await {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<LawInvalid>().is_some() => {
            if !cli.json {
                eprintln!("{e}");
            }
            1
        }
        Err(e) => match e.downcast_ref::<Failure>() {
            Some(f) => {
                if cli.json {
                    println!("{}", serde_json::to_string_pretty(&f.body).unwrap_or_default());
                } else {
                    eprintln!("{f}");
                }
                1
            }
            None => {
                eprintln!("web4: {e:#}");
                2
            }
        },
    }
}

async fn dispatch(cli: &Cli) -> anyhow::Result<()> {
    let client = Client::new(&cli.node)?;
    let now = crate::services::system_clock();
    match &cli.cmd {
        Cmd::Keygen { out } => {
            let k = keystore::generate()?;
            keystore::write_key(out, &k)?;
            let id = LctId::from_public_key(&k.public_key());
            if cli.json {
                println!("{}", json!({"lct_id": id, "public_key": k.public_key(), "key_file": out}));
            } else {
                println!("{id}\npublic key {}\nwritten to {}", k.public_key(), out.display());
            }
        }
        Cmd::Id => {
            let k = need_key(cli)?;
            println!("{}", LctId::from_public_key(&k.public_key()));
        }
        Cmd::Mint { entity_type, subject, context } => {
            let signer = need_key(cli)?;
            let subject_key = match subject {
                Some(p) => keystore::read_key(p).with_context(|| format!("reading key {}", p.display()))?,
                None => signer.clone(),
            };
            let et = EntityType::parse(entity_type).ok_or_else(|| anyhow!("unknown entity type {entity_type:?}"))?;
            let b = Binding::create(&subject_key, et, now);
            let req = MintRequest {
                entity_type: et,
                public_key: b.public_key,
                created_at: b.created_at,
                binding_proof: b.binding_proof,
                lct_id: None,
                birth_context: context.clone(),
                witnesses: vec![],
                policy: None,
                hardware_anchor: None,
            };
            let env = client.post(&signer, "/v1/lct/mint", &req).await?;
            print_ok(cli, &env, |d| format!("minted {}", lct_summary(d)));
        }
        Cmd::Get { lct_id } => {
            let env = client.get(&format!("/v1/lct/{lct_id}")).await?;
            print_ok(cli, &env, lct_summary);
        }
        Cmd::Verify { lct_id } => {
            let env = client.get(&format!("/v1/lct/{lct_id}/verify")).await?;
            print_ok(cli, &env, |d| {
                let mut s =
                    format!("{}: {}", lct_id, if d["valid"].as_bool() == Some(true) { "valid" } else { "NOT valid" });
                for p in d["problems"].as_array().into_iter().flatten() {
                    s.push_str(&format!("\n  - {}", p.as_str().unwrap_or("")));
                }
                s
            });
        }
        Cmd::Suspend { lct_id, reason } | Cmd::Reinstate { lct_id, reason } => {
            let verb = if matches!(cli.cmd, Cmd::Suspend { .. }) { "suspend" } else { "reinstate" };
            let k = need_key(cli)?;
            let env = client
                .post(&k, &format!("/v1/lct/{lct_id}/{verb}"), &StatusChangeRequest { reason: reason.clone() })
                .await?;
            print_ok(cli, &env, lct_summary);
        }
        Cmd::GrantRole { lct_id, role, reason } => {
            let k = need_key(cli)?;
            let req = RoleGrantRequest { role: role.clone(), reason: reason.clone() };
            let env = client.post(&k, &format!("/v1/lct/{lct_id}/roles"), &req).await?;
            print_ok(cli, &env, lct_summary);
        }
        Cmd::RevokeRole { lct_id, role } => {
            let k = need_key(cli)?;
            let env = client.delete(&k, &format!("/v1/lct/{lct_id}/roles/{role}")).await?;
            print_ok(cli, &env, lct_summary);
        }
        Cmd::Revoke { lct_id, reason, note } => {
            let k = need_key(cli)?;
            let reason: RevocationReason = serde_json::from_value(json!(reason))
                .map_err(|_| anyhow!("--reason must be compromise, superseded, expired or violation"))?;
            let env = client
                .post(&k, &format!("/v1/lct/{lct_id}/revoke"), &RevokeRequest { reason, note: note.clone() })
                .await?;
            print_ok(cli, &env, lct_summary);
        }
        Cmd::Transition { new_key } => {
            let old = need_key(cli)?;
            let new = keystore::read_key(new_key).with_context(|| format!("reading key {}", new_key.display()))?;
            let old_id = LctId::from_public_key(&old.public_key());
            let current = client.get(&format!("/v1/lct/{old_id}")).await?;
            let et = current["data"]["lct"]["binding"]["entity_type"]
                .as_str()
                .and_then(EntityType::parse)
                .ok_or_else(|| anyhow!("cannot read the entity type of {old_id}"))?;
            let b = Binding::create(&new, et, now);
            let req = TransitionRequest {
                public_key: b.public_key,
                created_at: b.created_at,
                binding_proof: b.binding_proof,
                hardware_anchor: None,
            };
            let env = client.post(&old, &format!("/v1/lct/{old_id}/transition"), &req).await?;
            print_ok(cli, &env, |d| format!("new {}\nold {}", lct_summary(&d["lct"]), lct_summary(&d["previous"])));
        }
        Cmd::Bench { what } => {
            let key = cli.key.as_ref().map(|_| need_key(cli)).transpose()?;
            bench::run(&cli.node, key, what, cli.json).await?
        }
        Cmd::Law { cmd: LawCmd::Check { file } } => law_check(file, cli.json)?,
        Cmd::Atp { cmd } => atp(cli, &client, cmd).await?,
        Cmd::Resources { cmd } => resources(cli, &client, cmd).await?,
        Cmd::P2p { cmd } => p2p(cli, &client, cmd).await?,
    }
    Ok(())
}

fn parse_id(s: &str) -> anyhow::Result<LctId> {
    LctId::parse(s).map_err(|e| anyhow!("{s:?} is not an LCT id: {e}"))
}

fn account_summary(d: &Value) -> String {
    format!(
        "{}: {} available, {} locked, {} discharged",
        d["lct_id"].as_str().unwrap_or("?"),
        d["available"],
        d["locked"],
        d["adp_discharged"]
    )
}

async fn atp(cli: &Cli, client: &Client, cmd: &AtpCmd) -> anyhow::Result<()> {
    use web4_core::api::{AtpChargeRequest, AtpMintRequest, AtpSlashRequest, AtpTransferRequest};
    match cmd {
        AtpCmd::Mint { amount } => {
            let env = client.post(&need_key(cli)?, "/v1/atp/mint", &AtpMintRequest { amount: *amount }).await?;
            print_ok(cli, &env, |d| {
                format!("minted {amount} ADP; pool supply {}, ADP {}", d["pool"]["total_supply"], d["pool"]["adp"])
            });
        }
        AtpCmd::Charge { account, kind, reference, value } => {
            let req = AtpChargeRequest {
                account: parse_id(account)?,
                proof: web4_core::payload::ValueProof {
                    kind: kind.clone(),
                    reference: reference.clone(),
                    value: *value,
                },
            };
            let env = client.post(&need_key(cli)?, "/v1/atp/charge", &req).await?;
            print_ok(cli, &env, |d| format!("charged {} ATP: {}", d["charged"], account_summary(&d["account"])));
        }
        AtpCmd::Transfer { to, amount } => {
            let req = AtpTransferRequest { to: parse_id(to)?, amount: *amount };
            let env = client.post(&need_key(cli)?, "/v1/atp/transfer", &req).await?;
            print_ok(cli, &env, |d| format!("sent {amount} ATP (fee {}): {}", d["fee"], account_summary(&d["from"])));
        }
        AtpCmd::Slash { account, amount, reason } => {
            let req = AtpSlashRequest { account: parse_id(account)?, amount: *amount, reason: reason.clone() };
            let env = client.post(&need_key(cli)?, "/v1/atp/slash", &req).await?;
            print_ok(cli, &env, |d| format!("slashed {amount} ATP: {}", account_summary(&d["account"])));
        }
        AtpCmd::Account { lct_id } => {
            let env = client.get(&format!("/v1/atp/account/{lct_id}")).await?;
            print_ok(cli, &env, account_summary);
        }
        AtpCmd::Pool => {
            let env = client.get("/v1/atp/pool").await?;
            print_ok(cli, &env, |d| {
                let p = &d["pool"];
                format!(
                    "supply {}: {} ADP in the pool, {} ATP in {} accounts ({})",
                    p["total_supply"],
                    p["adp"],
                    p["atp"],
                    p["accounts"],
                    if d["conserved"].as_bool() == Some(true) { "conserved" } else { "NOT CONSERVED" }
                )
            });
        }
    }
    Ok(())
}
