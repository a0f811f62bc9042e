//! Start and drive a real web4d.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use web4_core::lct::{Binding, EntityType};
use web4_core::signing::canonical_request;
use web4_core::{LctId, SecretKey, Timestamp};

pub const WEB4D: &str = env!("CARGO_BIN_EXE_web4d");

pub fn now() -> Timestamp {
    Timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn random_key() -> SecretKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    SecretKey::from_seed(&seed)
}

pub fn random_nonce() -> String {
    let mut b = [0u8; 18];
    getrandom::fill(&mut b).unwrap();
    data_encoding::BASE64URL_NOPAD.encode(&b)
}

pub fn id_of(k: &SecretKey) -> LctId {
    LctId::from_public_key(&k.public_key())
}

/// A mint body for `k` (self-admission).
/// The dev genesis law as version `version`, with `procedures` added.
pub fn dev_law_with(version: &str, procedures: &[Value]) -> Value {
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = serde_json::json!(version);
    if let Some(list) = law["procedures"].as_array_mut() {
        list.extend(procedures.iter().cloned());
    }
    law
}

pub fn mint_body(k: &SecretKey, et: EntityType) -> Value {
    let b = Binding::create(k, et, now());
    json!({
        "entity_type": et,
        "public_key": b.public_key,
        "created_at": b.created_at,
        "binding_proof": b.binding_proof,
    })
}

/// How to sign (defaults: honest).
#[derive(Default, Clone)]
pub struct Sign {
    pub nonce: Option<String>,
    pub ts: Option<Timestamp>,
    pub bearer: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<&'static str>,
    pub accept: Option<&'static str>,
    /// The society the request names (default: the node's).
    pub society: Option<LctId>,
}

/// A self-mint of `k` sent with the CLI's signing code (as a real client would).
/// POST `body` to `base` + `path`, signed by `key` with the CLI's signing
/// code (as a real client would: the society asked from the node first).
pub async fn post_signed(
    http: &reqwest::Client,
    base: &str,
    key: &SecretKey,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<reqwest::Response> {
    let society = web4_daemon::cli::client::society_of(http, base).await?;
    let h = web4_daemon::cli::client::sign_headers(key, &society, "POST", path, &body)?;
    Ok(h.apply(http.post(format!("{base}{path}"))).body(body).send().await?)
}

/// Fails when the node cannot be reached (asking its society, or minting).
pub async fn raw_mint(http: &reqwest::Client, base: &str, k: &SecretKey) -> anyhow::Result<reqwest::Response> {
    post_signed(http, base, k, "/v1/lct/mint", serde_json::to_vec(&mint_body(k, EntityType::Ai))?).await
}

async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp { status, body, headers }
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().or_else(|| self.body["code"].as_str()).unwrap_or("")
    }
}

pub struct TestNode {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub admin: SecretKey,
    pub http: reqwest::Client,
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

impl TestNode {
    pub async fn start() -> TestNode {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra_env: &[(&str, &str)]) -> TestNode {
        Self::start_with_config("", extra_env).await
    }

    /// Start with `config` as the node's web4d.toml.
    pub async fn start_with_config(config: &str, extra_env: &[(&str, &str)]) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("web4d.toml"), config).unwrap();
        let out = Command::new(WEB4D)
            .arg("init")
            .env("DATA_DIR", data_dir(dir.path()))
            .env("PORT", port.to_string())
            .env("WEB4_CONFIG", dir.path().join("web4d.toml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let admin = web4_daemon::keystore::read_key(&data_dir(dir.path()).join("keys/admin.key")).unwrap();
        let mut n = TestNode {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            admin,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        };
        n.spawn(extra_env).await;
        n
    }

    /// A node that joins `peer`'s society (`web4d init --join`) with `config`.
    /// Its `admin` is the society admin's key (replicated there).
    pub async fn join(peer: &TestNode, config: &str) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("web4d.toml"), config).unwrap();
        let out = Command::new(WEB4D)
            .args(["init", "--join", &peer.base])
            .env("DATA_DIR", data_dir(dir.path()))
            .env("PORT", port.to_string())
            .env("WEB4_CONFIG", dir.path().join("web4d.toml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "init --join failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut n = TestNode {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            admin: peer.admin.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        };
        n.spawn(&[]).await;
        n
    }

    pub fn data_dir(&self) -> PathBuf {
        data_dir(self.dir.path())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("web4d.log")
    }

    pub async fn spawn(&mut self, extra_env: &[(&str, &str)]) {
        // `free_port` releases the port before web4d binds it: another test's
        // process can take it meanwhile. Then try again on another port.
        for _ in 0..3 {
            let log_before = std::fs::read_to_string(self.log_path()).map(|l| l.len()).unwrap_or(0);
            match self.try_spawn(extra_env).await {
                Ok(()) => return,
                Err(_)
                    if std::fs::read_to_string(self.log_path()).is_ok_and(|l| {
                        l.get(log_before..).is_some_and(|new| new.contains("ddress already in use"))
                    }) =>
                {
                    self.port = free_port();
                    self.base = format!("http://127.0.0.1:{}", self.port);
                }
                Err(log) => panic!("web4d exited early: {log}"),
            }
        }
        panic!("web4d found no free port in three tries");
    }

    /// Start web4d and wait until it is ready; its log if it exited first.
    async fn try_spawn(&mut self, extra_env: &[(&str, &str)]) -> Result<(), String> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut cmd = Command::new(WEB4D);
        cmd.env("DATA_DIR", self.data_dir())
            .env("PORT", self.port.to_string())
            .env("WEB4_CONFIG", self.dir.path().join("web4d.toml"))
            .env("LOG_LEVEL", "info")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/ready", self.base)).send().await
                && r.status().as_u16() == 200
            {
                return Ok(());
            }
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().unwrap()) {
                self.child = None;
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(format!("{status}: {log}"));
            }
            assert!(Instant::now() < deadline, "web4d not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Send a signal (e.g. "HUP") to the running web4d.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([&format!("-{sig}"), &pid]).status().unwrap().success());
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn sigterm(&mut self) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let st = Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "web4d did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_with(path, None).await
    }

    pub async fn get_with(&self, path: &str, accept: Option<&str>) -> Resp {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        if let Some(a) = accept {
            rb = rb.header("accept", a);
        }
        read(rb.send().await.unwrap()).await
    }

    /// POST `body` signed by `key` (with the overrides in `s`).
    pub async fn post_raw(&self, key: &SecretKey, path: &str, body: Vec<u8>, s: &Sign) -> Resp {
        let signer = s.bearer.clone().unwrap_or_else(|| id_of(key).to_string());
        let nonce = s.nonce.clone().unwrap_or_else(random_nonce);
        let ts = s.ts.unwrap_or_else(now);
        let signer_id = LctId::parse(&signer).unwrap_or_else(|_| id_of(key));
        let society = match &s.society {
            Some(s) => s.clone(),
            None => self.society().await,
        };
        let canon = canonical_request(&society, "POST", path, &body, &nonce, ts, &signer_id);
        let sig = s.signature.clone().unwrap_or_else(|| key.sign(canon.as_bytes()).to_string());
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", s.content_type.unwrap_or("application/json"))
            .header("authorization", format!("Bearer {signer}"))
            .header("x-signature", sig)
            .header("x-nonce", nonce)
            .header("x-timestamp", ts.to_string())
            .body(body);
        if let Some(a) = s.accept {
            rb = rb.header("accept", a);
        }
        read(rb.send().await.unwrap()).await
    }

    pub async fn post(&self, key: &SecretKey, path: &str, body: &Value) -> Resp {
        self.post_raw(key, path, serde_json::to_vec(body).unwrap(), &Sign::default()).await
    }

    /// The society this node serves (every signed request names it).
    pub async fn society(&self) -> LctId {
        web4_daemon::cli::client::society_of(&self.http, &self.base).await.unwrap()
    }

    /// DELETE `path`, signed by `key`.
    pub async fn delete(&self, key: &SecretKey, path: &str) -> Resp {
        let h = web4_daemon::cli::client::sign_headers(key, &self.society().await, "DELETE", path, b"").unwrap();
        read(h.apply(self.http.delete(format!("{}{path}", self.base))).send().await.unwrap()).await
    }

    pub async fn authorize(&self, k: &SecretKey, body: Value) -> Resp {
        self.post(k, "/v1/auth/authorize", &body).await
    }

    pub async fn mint(&self, k: &SecretKey, et: EntityType) -> Resp {
        self.post(k, "/v1/lct/mint", &mint_body(k, et)).await
    }

    /// `web4d ledger verify --json` on this node's data dir.
    pub fn ledger_verify(&self) -> Value {
        let out = Command::new(WEB4D)
            .args(["ledger", "verify", "--json"])
            .env("DATA_DIR", self.data_dir())
            .env("WEB4_CONFIG", self.dir.path().join("web4d.toml"))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "ledger verify printed: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(
            out.status.success(),
            v["chain_errors"].as_array().unwrap().is_empty()
                && v["projection_differences"].as_array().unwrap().is_empty()
        );
        v
    }

    pub fn ledger_records(&self) -> u64 {
        self.ledger_verify()["records"].as_u64().unwrap()
    }

    /// A node joins this one's society (`web4d init --join`), which checks
    /// every record of this ledger as a peer does, the client's request each
    /// one carries included (decisions/0028), and refuses to join on the
    /// first it would not apply. Then both hold the same records.
    pub async fn a_joining_peer_accepts_every_record(&self) {
        let joined = TestNode::join(self, "").await;
        assert_eq!(joined.ledger_records(), self.ledger_records());
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
