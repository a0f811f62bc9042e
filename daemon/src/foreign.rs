//! Other societies (docs/decisions/0018).
//!
//! A node of society B can verify LCTs born in society A and show A's
//! reputation for them, per role, without trusting A's answers: B copies A's
//! ledger from one of A's nodes (`GET /v1/ledger/records`) into a separate
//! store, `foreign/<society>.db`, through the same inbound road as its own
//! peers' records (`ledger::accept_foreign`: every chain, signature, author
//! status and law hash checked, projections rebuilt by B's code). Questions
//! about A are then answered from that verified copy with A's law. Nothing of
//! A enters B's own ledger or tensors: B's law has no rule for importing
//! foreign reputation, so none is applied (the copy is shown, labelled).

use crate::store::{StoreError, migrations::migrate, open_connection};
use anyhow::{Context, anyhow, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use web4_core::{LctId, Timestamp};

/// How often every registered society is pulled again.
pub const REFRESH: Duration = Duration::from_secs(10);

/// One foreign society's verified copy.
pub struct ForeignSociety {
    pub id: LctId,
    pub url: String,
    /// Hash of A's genesis record: what an operator compares out of band.
    pub genesis_hash: String,
    conn: Mutex<Connection>,
    last_sync: Mutex<Option<Timestamp>>,
}

/// The societies this node follows.
pub struct ForeignSocieties {
    dir: PathBuf,
    societies: RwLock<BTreeMap<String, Arc<ForeignSociety>>>,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn file_name(id: &LctId) -> String {
    id.as_str().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>() + ".db"
}

fn value(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM node WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

fn set_value(conn: &Connection, key: &str, v: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO node (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
        params![key, v],
    )?;
    Ok(())
}

impl ForeignSocieties {
    /// Open the copies kept under `<data dir>/foreign`.
    pub fn open(data_dir: &std::path::Path) -> anyhow::Result<ForeignSocieties> {
        let dir = data_dir.join("foreign");
        let mut societies = BTreeMap::new();
        if dir.is_dir() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("db") {
                    continue;
                }
                let conn = open_connection(&path, false).with_context(|| format!("opening {}", path.display()))?;
                let (Some(id), Some(url), Some(genesis_hash)) =
                    (value(&conn, "society_id")?, value(&conn, "foreign_url")?, value(&conn, "genesis_hash")?)
                else {
                    tracing::warn!(event = "foreign_store_incomplete", path = %path.display());
                    continue;
                };
                let id = LctId::parse(&id).map_err(|e| anyhow!("{}: {e}", path.display()))?;
                societies.insert(
                    id.to_string(),
                    Arc::new(ForeignSociety {
                        id,
                        url,
                        genesis_hash,
                        conn: Mutex::new(conn),
                        last_sync: Mutex::new(None),
                    }),
                );
            }
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(ForeignSocieties { dir, societies: RwLock::new(societies), http })
    }

    pub fn get(&self, id: &str) -> Option<Arc<ForeignSociety>> {
        self.societies.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<ForeignSociety>> {
        self.societies.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }

    /// Follow the society served at `url`: copy and verify its ledger. With
    /// `pin`, its genesis record must have that hash.
    pub async fn add(&self, own: &LctId, url: &str, pin: Option<&str>) -> anyhow::Result<Arc<ForeignSociety>> {
        let base = url.trim_end_matches('/').to_owned();
        let ready: Value = self
            .http
            .get(format!("{base}/ready"))
            .send()
            .await
            .with_context(|| format!("GET {base}/ready"))?
            .json()
            .await
            .with_context(|| format!("{base}/ready is not a web4d answer"))?;
        let id = ready["society"].as_str().ok_or_else(|| anyhow!("{base}/ready names no society"))?;
        let id = LctId::parse(id).map_err(|e| anyhow!("{base} names society {id:?}: {e}"))?;
        if &id == own {
            bail!("{base} serves this node's own society {id}; join it with `web4d init --join` instead");
        }
        if let Some(existing) = self.get(id.as_str()) {
            return Ok(existing);
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(file_name(&id));
        let _ = std::fs::remove_file(&path);
        let mut conn = open_connection(&path, false)?;
        migrate(&mut conn)?;
        set_value(&conn, "foreign_url", &base)?;
        set_value(&conn, "next", "0")?;
        let society = Arc::new(ForeignSociety {
            id: id.clone(),
            url: base.clone(),
            genesis_hash: String::new(),
            conn: Mutex::new(conn),
            last_sync: Mutex::new(None),
        });
        let fail = |e: anyhow::Error| {
            let _ = std::fs::remove_file(&path);
            e
        };
        self.pull(&society).await.map_err(fail)?;
        // The copy must hold the society it claims, from its genesis on.
        let genesis_hash = {
            let conn = lock(&society.conn);
            let genesis: Option<String> = conn
                .query_row("SELECT hash FROM ledger WHERE kind = 'society.genesis' ORDER BY id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            let holds: bool =
                conn.query_row("SELECT EXISTS(SELECT 1 FROM societies WHERE society_id = ?1)", [id.as_str()], |r| {
                    r.get(0)
                })?;
            match genesis {
                Some(g) if holds => g,
                _ => {
                    drop(conn);
                    return Err(fail(anyhow!("the ledger served by {base} does not found society {id}")));
                }
            }
        };
        if let Some(p) = pin
            && p != genesis_hash
        {
            return Err(fail(anyhow!("{base}: genesis record is {genesis_hash}, not the pinned {p}")));
        }
        {
            let conn = lock(&society.conn);
            set_value(&conn, "society_id", id.as_str())?;
            set_value(&conn, "genesis_hash", &genesis_hash)?;
        }
        let society = Arc::new(ForeignSociety {
            id: society.id.clone(),
            url: society.url.clone(),
            genesis_hash,
            conn: Mutex::new(open_connection(&path, false)?),
            last_sync: Mutex::new(*lock(&society.last_sync)),
        });
        self.societies
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_string(), Arc::clone(&society));
        tracing::info!(service = "federation", event = "foreign_society_added", society = %id, url = %base);
        Ok(society)
    }

    /// Copy what `society`'s node recorded since the last pull, verifying
    /// every record; a page that does not verify is not kept. A record listed
    /// before what it waits for is set aside and applied once that has
    /// (`LedgerCopy`, decisions/0028); until nothing waits, the saved cursor
    /// stays where nothing did, so a pull that ends first leaves the set-aside
    /// records to be fetched again.
    pub async fn pull(&self, society: &Arc<ForeignSociety>) -> anyhow::Result<u64> {
        let mut total = 0;
        let mut after: i64 = {
            let conn = lock(&society.conn);
            value(&conn, "next")?.and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let mut copy = crate::node::LedgerCopy::default();
        loop {
            let (records, next) = crate::node::LedgerCopy::fetch(&self.http, &society.url, after).await?;
            let Some(next) = next else { break };
            let s = Arc::clone(society);
            let mut c = std::mem::take(&mut copy);
            let (c, applied) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<(crate::node::LedgerCopy, u64)> {
                    let mut conn = lock(&s.conn);
                    let tx = conn.transaction()?;
                    let before = c.applied();
                    c.page(&tx, records, crate::services::system_clock(), &s.url)?;
                    if !c.waits() {
                        set_value(&tx, "next", &next.to_string())?;
                    }
                    tx.commit()?;
                    let applied = c.applied() - before;
                    Ok((c, applied))
                })
                .await??;
            copy = c;
            after = next;
            total += applied;
        }
        copy.finish(&society.url)?;
        *lock(&society.last_sync) = Some(crate::services::system_clock());
        Ok(total)
    }

    /// Pull every society, periodically (a failure is logged, not fatal: the
    /// copy stays as verified so far).
    pub async fn refresh_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REFRESH).await;
            for s in self.all() {
                if let Err(e) = self.pull(&s).await {
                    tracing::warn!(service = "federation", event = "foreign_pull_failed", society = %s.id, error = %e);
                }
            }
        }
    }
}

impl ForeignSociety {
    /// Run `f` on the verified copy.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&lock(&self.conn))
    }

    /// What `GET /v1/federation/societies` shows of it.
    pub fn summary(&self) -> Value {
        let (records, law_hash) = self.with(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0)).unwrap_or(0);
            let law = crate::services::governance::load_society(c, self.id.as_str()).ok().map(|s| s.law.law_hash());
            (n, law)
        });
        json!({
            "society_id": self.id, "url": self.url, "genesis_hash": self.genesis_hash,
            "records": records, "law_hash": law_hash, "last_sync": *lock(&self.last_sync),
        })
    }
}
