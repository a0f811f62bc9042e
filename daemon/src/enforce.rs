//! Local enforcement of resource leases with cgroup limits.
//!
//! A lease may name a local process (`pid`). When the node is configured to
//! enforce (`enforce_leases`), every such process is placed in a cgroup
//! `pid-<pid>` under the node's own directory whose limits are the sum of the
//! process's open leases: CPU in millicores (CFS quota over a 100 ms period)
//! and memory in MiB. The desired state is derived from the store, so
//! [`Enforcer::reconcile`] is idempotent: it runs after every lease change,
//! periodically, and at start. Closing a lease lifts its limits; a process
//! with no open lease is moved out and its cgroup removed.
//!
//! Both cgroup v2 (one directory, `cpu.max` and `memory.max`) and the v1
//! hierarchies (`cpu/…/cpu.cfs_quota_us`, `memory/…/memory.limit_in_bytes`)
//! are supported.

use crate::config::Config;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// CFS period used for CPU limits (100 ms).
const PERIOD_US: u64 = 100_000;

/// Limits for one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// 0 = no CPU limit.
    pub cpu_millicores: u64,
    /// 0 = no memory limit.
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Ctl {
    V2,
    V1Cpu,
    V1Memory,
}

#[derive(Debug, Clone, Serialize)]
struct Hierarchy {
    ctl: Ctl,
    /// The node's directory; lease cgroups are its children.
    base: PathBuf,
    /// Where a process goes when its last lease closes.
    home: PathBuf,
}

/// The enforcement backend detected at start.
#[derive(Debug, Serialize)]
pub struct Enforcer {
    /// `off`, `cgroup2` or `cgroup1`.
    pub mode: &'static str,
    /// Why enforcement is off when it was asked for.
    pub reason: Option<String>,
    hierarchies: Vec<Hierarchy>,
    uids: Vec<u32>,
    #[serde(skip)]
    lock: std::sync::Mutex<()>,
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
}

fn ensure_dir(path: &Path) -> Result<(), String> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl Enforcer {
    /// Enforcement turned off.
    pub fn off(reason: Option<String>) -> Enforcer {
        Enforcer { mode: "off", reason, hierarchies: vec![], uids: vec![], lock: std::sync::Mutex::new(()) }
    }

    /// Detect the cgroup layout and prepare the node's directories.
    pub fn detect(cfg: &Config) -> Enforcer {
        if !cfg.enforce_leases {
            return Enforcer::off(None);
        }
        let root = Path::new("/sys/fs/cgroup");
        let (mode, hierarchies) = if root.join("cgroup.controllers").exists() {
            let base = cfg.cgroup_v2_path.clone();
            let home = base.parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
            ("cgroup2", vec![Hierarchy { ctl: Ctl::V2, base, home }])
        } else if root.join("cpu").is_dir() && root.join("memory").is_dir() {
            let h = |c: &str, ctl| Hierarchy { ctl, base: root.join(c).join("web4"), home: root.join(c) };
            ("cgroup1", vec![h("cpu", Ctl::V1Cpu), h("memory", Ctl::V1Memory)])
        } else {
            return Enforcer::off(Some("no cgroup v2 or v1 cpu and memory hierarchy under /sys/fs/cgroup".into()));
        };
        for h in &hierarchies {
            if let Err(e) = ensure_dir(&h.base) {
                return Enforcer::off(Some(format!("cannot create the lease cgroup directory: {e}")));
            }
            if h.ctl == Ctl::V2 {
                // Controllers must be enabled down to the lease cgroups.
                let _ = write(&h.home.join("cgroup.subtree_control"), "+cpu +memory");
                if let Err(e) = write(&h.base.join("cgroup.subtree_control"), "+cpu +memory") {
                    return Enforcer::off(Some(format!("cannot enable the cpu and memory controllers: {e}")));
                }
            }
        }
        Enforcer { mode, reason: None, hierarchies, uids: cfg.enforce_uids.clone(), lock: std::sync::Mutex::new(()) }
    }

    /// Whether leases are enforced here.
    pub fn active(&self) -> bool {
        !self.hierarchies.is_empty()
    }

    /// May a lease name this process? It must exist, belong to one of the
    /// configured users, and be neither init nor the node itself.
    pub fn check_pid(&self, pid: u32) -> Result<(), String> {
        if !self.active() {
            return Err("this node does not enforce leases on local processes (enforce_leases is off)".into());
        }
        if pid <= 1 || pid == std::process::id() {
            return Err(format!("process {pid} may not be named by a lease"));
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|_| format!("no process {pid} on this machine"))?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok())
            .ok_or_else(|| format!("cannot read the owner of process {pid}"))?;
        if !self.uids.contains(&uid) {
            return Err(format!("process {pid} belongs to uid {uid}, which is not in the node's enforce_uids"));
        }
        Ok(())
    }

    fn write_limits(h: &Hierarchy, dir: &Path, l: Limits) -> Result<(), String> {
        let quota = (l.cpu_millicores.saturating_mul(PERIOD_US) / 1000).max(1000);
        let bytes = l.memory_mib.saturating_mul(1024 * 1024);
        match h.ctl {
            Ctl::V2 => {
                let cpu =
                    if l.cpu_millicores > 0 { format!("{quota} {PERIOD_US}") } else { format!("max {PERIOD_US}") };
                write(&dir.join("cpu.max"), &cpu)?;
                write(&dir.join("memory.max"), &if l.memory_mib > 0 { bytes.to_string() } else { "max".into() })
            }
            Ctl::V1Cpu => {
                write(&dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write(
                    &dir.join("cpu.cfs_quota_us"),
                    &if l.cpu_millicores > 0 { quota.to_string() } else { "-1".into() },
                )
            }
            Ctl::V1Memory => write(
                &dir.join("memory.limit_in_bytes"),
                &if l.memory_mib > 0 { bytes.to_string() } else { "-1".into() },
            ),
        }
    }

    /// Make the cgroups match `desired` (pid → limits). Returns the problems
    /// met (a process that exited is not one).
    pub fn reconcile(&self, desired: &BTreeMap<u32, Limits>) -> Vec<String> {
        let mut problems = Vec::new();
        let Ok(_guard) = self.lock.lock() else { return vec!["enforcer lock poisoned".into()] };
        for h in &self.hierarchies {
            // Remove cgroups no lease asks for any more.
            if let Ok(entries) = std::fs::read_dir(&h.base) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let Some(pid) = name.strip_prefix("pid-").and_then(|p| p.parse::<u32>().ok()) else { continue };
                    if desired.contains_key(&pid) {
                        continue;
                    }
                    let dir = e.path();
                    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                    for p in procs.split_whitespace() {
                        if let Err(err) = write(&h.home.join("cgroup.procs"), p) {
                            problems.push(err);
                        }
                    }
                    if let Err(err) = std::fs::remove_dir(&dir) {
                        problems.push(format!("{}: {err}", dir.display()));
                    }
                }
            }
            for (&pid, &limits) in desired {
                // Checked again on every pass: a pid that exited may have been
                // reused by a process the node must not cap.
                if self.check_pid(pid).is_err() {
                    continue;
                }
                let dir = h.base.join(format!("pid-{pid}"));
                let r = ensure_dir(&dir)
                    .and_then(|()| Self::write_limits(h, &dir, limits))
                    .and_then(|()| write(&dir.join("cgroup.procs"), &pid.to_string()));
                if let Err(e) = r {
                    problems.push(e);
                }
            }
        }
        problems
    }
}
