//! Node configuration: defaults < `/etc/web4/web4d.toml` < environment < flags.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Default configuration file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/web4/web4d.toml";

/// Which keystore holds the node key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HsmType {
    /// Ed25519 key file (mode 0600) in the state directory.
    Software,
    /// Ed25519 key sealed by the TPM 2.0 and endorsed by a TPM quote
    /// (docs/decisions/0015).
    Tpm2,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald when `JOURNAL_STREAM` says we run under systemd, JSON otherwise.
    Auto,
    /// One JSON object per line on stdout.
    Json,
    /// Native journald fields.
    Journald,
    /// Human-readable lines (development).
    Text,
}

/// Every setting of `web4d`. File keys use these field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub bind: IpAddr,
    /// HTTP port (env `PORT`).
    pub port: u16,
    /// State directory: database and software keys (env `DATA_DIR`).
    pub data_dir: PathBuf,
    /// Log level or tracing filter, e.g. `info` or `web4=debug` (env `LOG_LEVEL`).
    pub log_level: String,
    /// Log output format.
    pub log_format: LogFormat,
    /// Keystore backend (env `HSM_TYPE`).
    pub hsm_type: HsmType,
    /// Runtime worker threads; 0 = one per CPU (env `WORKERS`).
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests taking longer are answered with `W4_ERR_TIMEOUT`.
    pub request_timeout_ms: u64,
    /// Allowed distance between a request's `X-Timestamp` and the node clock.
    pub max_clock_skew_secs: i64,
    /// How long in-flight requests may drain after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Most records committed in one transaction (one fsync).
    pub group_commit_max: usize,
    /// Sign the node's records with Ed25519 nonces made ahead on a thread
    /// of their own (decisions/0023). Turn off where the process may be
    /// cloned while running (VM snapshots restored more than once, CRIU):
    /// two clones would sign different records with the same nonces.
    pub record_nonces_ahead: bool,
    /// Read connections to the store.
    pub read_pool: usize,
    /// How large the SQLite WAL may grow (MiB) before the writer checkpoints
    /// it and lets it start again; the file keeps that size while the node
    /// runs. Smaller means less disk but more frequent stalls under
    /// sustained writes (decisions/0003, session 18).
    pub wal_max_mib: u64,
    /// Enforce resource leases that name a local process with cgroup limits
    /// (CPU and memory); off by default (docs/operations.md, "Resource leases").
    pub enforce_leases: bool,
    /// Only processes of these user ids may be named by a lease (enforcement
    /// caps a process, so a remote holder must not be able to cap any process).
    pub enforce_uids: Vec<u32>,
    /// Directory the node creates lease cgroups under on a cgroup v2 host;
    /// under systemd, a subtree delegated to the unit (`Delegate=yes`).
    pub cgroup_v2_path: PathBuf,
    /// How often expired leases are closed and enforcement is reconciled.
    pub sweep_interval_secs: u64,
    /// SPARQL queries running longer are cancelled (`W4_ERR_TIMEOUT`).
    pub sparql_timeout_ms: u64,
    /// SPARQL answers with more results are refused (`W4_ERR_PROTO_FORMAT`).
    pub sparql_max_results: usize,
    /// TPM transport (env `TPM_TCTI`): `device:/dev/tpmrm0`, or
    /// `swtpm:host=127.0.0.1,port=2321` for the simulator.
    pub tpm_tcti: String,
    /// PCRs (SHA-256 bank) the node key is sealed to; empty = not bound to
    /// the boot state. Sealing to PCRs means a firmware or kernel update
    /// needs a key rotation before it (docs/operations.md, "TPM").
    pub tpm_seal_pcrs: Vec<u8>,
    /// PCRs (SHA-256 bank) quoted in the node LCT's hardware anchor.
    pub tpm_quote_pcrs: Vec<u8>,
    /// File holding the owner hierarchy's authorization value, if the owner set one.
    pub tpm_owner_auth_file: Option<PathBuf>,
    /// Refuse to anchor the node key without an EK certificate in the TPM.
    pub tpm_require_ek_cert: bool,
    /// libp2p listen addresses, e.g. `/ip4/0.0.0.0/tcp/4001` and
    /// `/ip4/0.0.0.0/udp/4001/quic-v1`; empty = federation off.
    pub p2p_listen: Vec<String>,
    /// Peers to dial at start (multiaddrs ending in `/p2p/<peer id>`).
    pub p2p_bootstrap: Vec<String>,
    /// Discover peers on the LAN with mDNS.
    pub p2p_mdns: bool,
    /// How often the node compares chain heads with the next two of its peers
    /// in turn (anti-entropy; a new connection is compared at once).
    pub p2p_sync_interval_secs: u64,
    /// Gossipsub mesh degree (peers each record is pushed to), 1–12.
    pub p2p_mesh_degree: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            data_dir: PathBuf::from("/var/lib/web4"),
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            hsm_type: HsmType::Software,
            workers: 0,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            max_clock_skew_secs: 300,
            shutdown_grace_secs: 30,
            group_commit_max: 1024,
            record_nonces_ahead: true,
            read_pool: 8,
            wal_max_mib: 256,
            enforce_leases: false,
            enforce_uids: Vec::new(),
            cgroup_v2_path: PathBuf::from("/sys/fs/cgroup/web4.slice"),
            sweep_interval_secs: 10,
            sparql_timeout_ms: 5_000,
            sparql_max_results: 100_000,
            tpm_tcti: crate::tpm::DEFAULT_TCTI.into(),
            tpm_seal_pcrs: Vec::new(),
            tpm_quote_pcrs: vec![0, 1, 2, 3, 4, 5, 6, 7],
            tpm_owner_auth_file: None,
            tpm_require_ek_cert: true,
            p2p_listen: Vec::new(),
            p2p_bootstrap: Vec::new(),
            p2p_mdns: true,
            p2p_sync_interval_secs: 5,
            p2p_mesh_degree: web4_p2p::DEFAULT_MESH_DEGREE,
        }
    }
}

/// A configuration problem, naming the source and the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}={value:?}: {message}")]
    Env { var: &'static str, value: String, message: String },
    #[error("{setting}: {message}")]
    Invalid { setting: &'static str, message: String },
}

/// Overrides given on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Configuration file (default /etc/web4/web4d.toml; env WEB4_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// HTTP port.
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// Listen address.
    #[arg(long, global = true)]
    pub bind: Option<IpAddr>,
    /// State directory.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log level or filter.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Keystore: software or tpm2.
    #[arg(long, global = true, visible_alias = "hsm")]
    pub hsm_type: Option<String>,
    /// Worker threads.
    #[arg(long, global = true)]
    pub workers: Option<usize>,
}

fn parse_hsm(s: &str) -> Option<HsmType> {
    match s {
        "software" => Some(HsmType::Software),
        "tpm2" => Some(HsmType::Tpm2),
        _ => None,
    }
}

impl Config {
    /// Load with precedence defaults < file < `env` < `flags`.
    pub fn load(flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let explicit = flags.config.clone().or_else(|| env("WEB4_CONFIG").map(PathBuf::from));
        let path = explicit.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let mut cfg = if path.exists() || explicit.is_some() { Self::from_file(&path)? } else { Config::default() };
        cfg.apply_env(env)?;
        cfg.apply_flags(flags)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: p.clone(), error })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: p, message: e.to_string() })
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Env {
                var,
                value: v.into(),
                message: "not a valid number".into(),
            })
        }
        if let Some(v) = env("PORT") {
            self.port = num("PORT", &v)?;
        }
        if let Some(v) = env("BIND") {
            self.bind = v.trim().parse().map_err(|_| ConfigError::Env {
                var: "BIND",
                value: v.clone(),
                message: "not an IP address".into(),
            })?;
        }
        if let Some(v) = env("DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("LOG_LEVEL") {
            self.log_level = v;
        }
        if let Some(v) = env("HSM_TYPE") {
            self.hsm_type = parse_hsm(v.trim()).ok_or(ConfigError::Env {
                var: "HSM_TYPE",
                value: v.clone(),
                message: "expected software or tpm2".into(),
            })?;
        }
        if let Some(v) = env("WORKERS") {
            self.workers = num("WORKERS", &v)?;
        }
        if let Some(v) = env("TPM_TCTI") {
            self.tpm_tcti = v.trim().to_owned();
        }
        Ok(())
    }

    fn apply_flags(&mut self, f: &Flags) -> Result<(), ConfigError> {
        if let Some(p) = f.port {
            self.port = p;
        }
        if let Some(b) = f.bind {
            self.bind = b;
        }
        if let Some(d) = &f.data_dir {
            self.data_dir = d.clone();
        }
        if let Some(l) = &f.log_level {
            self.log_level = l.clone();
        }
        if let Some(h) = &f.hsm_type {
            self.hsm_type = parse_hsm(h).ok_or(ConfigError::Invalid {
                setting: "--hsm-type",
                message: format!("{h:?}: expected software or tpm2"),
            })?;
        }
        if let Some(w) = f.workers {
            self.workers = w;
        }
        Ok(())
    }

    /// Check values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting, message: &str| Err(ConfigError::Invalid { setting, message: message.into() });
        if self.max_body_bytes < 1024 || self.max_body_bytes > 16 * 1024 * 1024 {
            return bad("max_body_bytes", "must be between 1024 and 16777216");
        }
        if self.request_timeout_ms < 100 {
            return bad("request_timeout_ms", "must be at least 100");
        }
        if !(1..=3600).contains(&self.max_clock_skew_secs) {
            return bad("max_clock_skew_secs", "must be between 1 and 3600");
        }
        if self.group_commit_max == 0 || self.read_pool == 0 {
            return bad("group_commit_max/read_pool", "must be at least 1");
        }
        if !(4..=4096).contains(&self.wal_max_mib) {
            return bad("wal_max_mib", "must be between 4 and 4096");
        }
        if self.workers > 1024 {
            return bad("workers", "must be at most 1024");
        }
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty");
        }
        if self.tpm_tcti.trim().is_empty() {
            return bad("tpm_tcti", "must not be empty (default device:/dev/tpmrm0)");
        }
        if self.tpm_seal_pcrs.iter().chain(&self.tpm_quote_pcrs).any(|&p| p > 23) {
            return bad("tpm_seal_pcrs/tpm_quote_pcrs", "PCR indices are 0 to 23");
        }
        for a in self.p2p_listen.iter().chain(&self.p2p_bootstrap) {
            if a.parse::<libp2p::Multiaddr>().is_err() {
                return Err(ConfigError::Invalid {
                    setting: "p2p_listen/p2p_bootstrap",
                    message: format!("{a:?} is not a multiaddr (e.g. /ip4/0.0.0.0/tcp/4001)"),
                });
            }
        }
        if !(1..=12).contains(&self.p2p_mesh_degree) {
            return bad("p2p_mesh_degree", "must be between 1 and 12");
        }
        if !(1..=3600).contains(&self.p2p_sync_interval_secs) {
            return bad("p2p_sync_interval_secs", "must be between 1 and 3600");
        }
        if self.tpm_quote_pcrs.is_empty() {
            return bad("tpm_quote_pcrs", "quote at least one PCR");
        }
        if !(10..=600_000).contains(&self.sparql_timeout_ms) || self.sparql_max_results == 0 {
            return bad("sparql_timeout_ms/sparql_max_results", "timeout 10 to 600000 ms, at least 1 result");
        }
        if !(1..=3600).contains(&self.sweep_interval_secs) {
            return bad("sweep_interval_secs", "must be between 1 and 3600");
        }
        if self.log_level.trim().is_empty() {
            return bad("log_level", "must not be empty");
        }
        Ok(())
    }

    /// Path of the SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("web4.db")
    }

    /// Directory of software keys and sealed TPM blobs.
    pub fn key_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// The TPM settings, reading the owner authorization file if one is set.
    pub fn tpm_settings(&self) -> Result<crate::tpm::TpmSettings, ConfigError> {
        let owner_auth = match &self.tpm_owner_auth_file {
            None => None,
            Some(p) => {
                let text =
                    std::fs::read(p).map_err(|error| ConfigError::Read { path: p.display().to_string(), error })?;
                let trimmed = text.strip_suffix(b"\n").unwrap_or(&text).to_vec();
                Some(trimmed)
            }
        };
        let sorted = |v: &[u8]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        Ok(crate::tpm::TpmSettings {
            tcti: self.tpm_tcti.clone(),
            seal_pcrs: sorted(&self.tpm_seal_pcrs),
            quote_pcrs: sorted(&self.tpm_quote_pcrs),
            owner_auth,
            require_ek_cert: self.tpm_require_ek_cert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn tpm_settings_are_checked_and_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("web4d.toml");
        let load = |text: &str, env: &[(&str, &str)]| {
            std::fs::write(&f, text).unwrap();
            Config::load(&Flags { config: Some(f.clone()), ..Flags::default() }, &env_of(env))
        };
        let c = load("hsm_type = \"tpm2\"\ntpm_quote_pcrs = [7, 0, 7]\n", &[("TPM_TCTI", "swtpm:port=2321")]).unwrap();
        assert_eq!((c.hsm_type, c.tpm_tcti.as_str()), (HsmType::Tpm2, "swtpm:port=2321"));
        let t = c.tpm_settings().unwrap();
        assert_eq!((t.quote_pcrs, t.seal_pcrs, t.owner_auth), (vec![0, 7], vec![], None));
        assert!(load("tpm_quote_pcrs = []\n", &[]).unwrap_err().to_string().contains("tpm_quote_pcrs"));
        assert!(load("tpm_seal_pcrs = [24]\n", &[]).unwrap_err().to_string().contains("0 to 23"));
        let auth = dir.path().join("owner");
        std::fs::write(&auth, "pw\n").unwrap();
        let c = load(&format!("tpm_owner_auth_file = \"{}\"\n", auth.display()), &[]).unwrap();
        assert_eq!(c.tpm_settings().unwrap().owner_auth, Some(b"pw".to_vec()));
        let c = load("tpm_owner_auth_file = \"/nonexistent/owner\"\n", &[]).unwrap();
        assert!(c.tpm_settings().unwrap_err().to_string().contains("/nonexistent/owner"));
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web4d.toml");
        std::fs::write(&file, "port = 9001\nlog_level = \"debug\"\nworkers = 3\n").unwrap();
        let flags = Flags { config: Some(file.clone()), ..Flags::default() };
        let c = Config::load(&flags, &env_of(&[])).unwrap();
        assert_eq!((c.port, c.log_level.as_str(), c.workers), (9001, "debug", 3));
        assert_eq!(c.wal_max_mib, 256);
        let c = Config::load(&flags, &env_of(&[("PORT", "9002"), ("WORKERS", "5")])).unwrap();
        assert_eq!((c.port, c.workers), (9002, 5));
        let flags = Flags { config: Some(file), port: Some(9003), ..Flags::default() };
        let c = Config::load(&flags, &env_of(&[("PORT", "9002")])).unwrap();
        assert_eq!(c.port, 9003);
        assert_eq!(c.max_clock_skew_secs, 300);
    }

    #[test]
    fn the_wal_size_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web4d.toml");
        for (text, ok) in [("wal_max_mib = 3\n", false), ("wal_max_mib = 4\n", true), ("wal_max_mib = 4097\n", false)] {
            std::fs::write(&file, text).unwrap();
            match (Config::load(&Flags { config: Some(file.clone()), ..Flags::default() }, &env_of(&[])), ok) {
                (Ok(c), true) => assert_eq!(c.wal_max_mib, 4),
                (Err(e), false) => assert!(e.to_string().contains("wal_max_mib"), "{e}"),
                (r, _) => panic!("{text}: {r:?}"),
            }
        }
    }

    #[test]
    fn errors_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web4d.toml");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let flags = Flags { config: Some(file), ..Flags::default() };
        let e = Config::load(&flags, &env_of(&[])).unwrap_err().to_string();
        assert!(e.contains("prot"), "{e}");
        let e = Config::load(&Flags::default(), &env_of(&[("WEB4_CONFIG", "/nonexistent/x.toml")])).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        let e = Config::load(
            &Flags { config: Some(dir.path().join("none.toml")), ..Flags::default() },
            &env_of(&[("PORT", "http")]),
        );
        assert!(e.is_err());
        let dir2 = tempfile::tempdir().unwrap();
        let f2 = dir2.path().join("ok.toml");
        std::fs::write(&f2, "").unwrap();
        let e = Config::load(&Flags { config: Some(f2), ..Flags::default() }, &env_of(&[("HSM_TYPE", "yubikey")]))
            .unwrap_err();
        assert!(e.to_string().contains("HSM_TYPE"), "{e}");
    }
}
