//! The single writer: one thread owns the write connection, takes jobs from a
//! queue and commits them in groups (one fsync for many records).
//!
//! A job decides against current state inside the transaction and appends at
//! most a few records. Each job runs under a savepoint, so a refused job leaves
//! nothing behind while the rest of its group commits. Replies are sent only
//! after the group's commit returned: an acknowledged write is durable.

use crate::error::ApiError;
use crate::ledger::{Effect, Prepared, apply_event};
use crate::store::StoreError;
use crate::store::nonces::SpentNonces;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use web4_core::ledger::RecordDraft;
use web4_core::{ErrorCode, Hash, LctId, SecretKey, Timestamp};

/// The node's record-signing identity.
pub struct NodeSigner {
    pub id: LctId,
    pub key: SecretKey,
    presign: Option<Presigner>,
}

/// Signing nonces made ahead by a thread of their own (decisions/0023).
struct Presigner {
    key: Arc<web4_core::crypto::PresignKey>,
    pool: Arc<NoncePool>,
}

/// The ready nonces. The maker starts at the node's first record signature
/// (a node that only applies peers' records never signs) and refills the
/// pool only once it has fallen below [`NONCE_LOW_WATER`], so the writer
/// wakes it once per few hundred records, not once per record.
struct NoncePool {
    ready: std::sync::Mutex<Vec<web4_core::crypto::Nonce>>,
    low: std::sync::Condvar,
    wanted: std::sync::atomic::AtomicBool,
    closed: std::sync::atomic::AtomicBool,
}

/// Nonces kept ready: a few hundred milliseconds of the busiest writer.
const NONCE_POOL: usize = 1024;
/// Nonces made at a time.
const NONCE_BATCH: usize = 64;
/// The pool is refilled when it holds fewer nonces than this.
const NONCE_LOW_WATER: usize = NONCE_POOL / 2;

impl NoncePool {
    fn new() -> Self {
        NoncePool {
            // Never grown past this, so the nonces are never copied by a
            // reallocation and left behind in freed memory.
            ready: std::sync::Mutex::new(Vec::with_capacity(NONCE_POOL)),
            low: std::sync::Condvar::new(),
            wanted: std::sync::atomic::AtomicBool::new(false),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<web4_core::crypto::Nonce>> {
        self.ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take a ready nonce, waking the maker when the pool runs low. The slot
    /// it leaves holds an empty nonce, not a copy of the one taken.
    fn take(&self) -> Option<web4_core::crypto::Nonce> {
        let mut ready = self.lock();
        let nonce = ready.last_mut().map(|slot| std::mem::replace(slot, web4_core::crypto::Nonce::empty()));
        ready.pop();
        if ready.len() + 1 == NONCE_LOW_WATER || !self.wanted.swap(true, Ordering::Relaxed) {
            self.low.notify_one();
        }
        nonce
    }

    /// The maker's loop: fill the pool to [`NONCE_POOL`], sleep until it
    /// runs low, until the signer is dropped.
    fn make(&self, key: &web4_core::crypto::PresignKey) {
        let mut entropy = [[0u8; 32]; NONCE_BATCH];
        loop {
            {
                let mut ready = self.lock();
                while (ready.len() >= NONCE_LOW_WATER || !self.wanted.load(Ordering::Relaxed))
                    && !self.closed.load(Ordering::Relaxed)
                {
                    ready = self.low.wait(ready).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
            // In batches of up to 64 (one field inversion compresses a whole
            // batch: about 12 instead of 16 µs a nonce), never past the pool.
            loop {
                if self.closed.load(Ordering::Relaxed) {
                    zeroize::Zeroize::zeroize(&mut entropy);
                    return;
                }
                let room = NONCE_POOL.saturating_sub(self.lock().len()).min(NONCE_BATCH);
                if room == 0 {
                    break;
                }
                if let Err(e) = getrandom::fill(entropy.as_flattened_mut()) {
                    tracing::warn!(event = "nonce_entropy_failed", error = %e);
                    zeroize::Zeroize::zeroize(&mut entropy);
                    return;
                }
                let made = key.nonces(&entropy[..room]);
                // Only this thread adds, so the room counted above is there.
                self.lock().extend(made);
            }
            zeroize::Zeroize::zeroize(&mut entropy);
        }
    }
}

impl Drop for Presigner {
    fn drop(&mut self) {
        self.pool.closed.store(true, Ordering::Relaxed);
        let _guard = self.pool.lock();
        self.pool.low.notify_one();
    }
}

/// A value of this process start for the nonces (decisions/0023): the pid,
/// the wall clock in ns and OS entropy, hashed.
fn session_value() -> [u8; 32] {
    let mut random = [0u8; 32];
    // Without entropy the pid and the clock still differ between starts.
    let _ = getrandom::fill(&mut random);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut input = Vec::with_capacity(64);
    input.extend_from_slice(&std::process::id().to_le_bytes());
    input.extend_from_slice(&nanos.to_le_bytes());
    input.extend_from_slice(&random);
    web4_core::crypto::sha256(&input).0
}

impl NodeSigner {
    /// A signer that signs the standard (deterministic) way.
    pub fn new(id: LctId, key: SecretKey) -> Self {
        NodeSigner { id, key, presign: None }
    }

    /// Make signing nonces ahead on a thread of their own, so that the
    /// writer's record signature costs a hash and a scalar multiply-add
    /// instead of a base-point multiplication (decisions/0023). The thread
    /// ends when this signer is dropped; without a ready nonce (the thread
    /// behind, or no entropy) a record is signed the standard way.
    pub fn start_presigning(&mut self) {
        let pool = Arc::new(NoncePool::new());
        let key = Arc::new(self.key.presign_key(session_value()));
        let (for_maker, maker) = (Arc::clone(&pool), Arc::clone(&key));
        match std::thread::Builder::new().name("web4-nonces".into()).spawn(move || for_maker.make(&maker)) {
            Ok(_) => self.presign = Some(Presigner { key, pool }),
            Err(e) => tracing::warn!(event = "nonce_thread_not_started", error = %e),
        }
    }

    /// Sign `msg` (a record header), with a ready nonce when there is one.
    fn sign(&self, msg: &[u8]) -> web4_core::Signature {
        match &self.presign {
            Some(p) => match p.pool.take() {
                Some(nonce) => p.key.sign(nonce, msg),
                None => p.key.sign_deterministic(msg),
            },
            None => self.key.sign(msg),
        }
    }
}

/// Head of the node's own chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

/// Read the head of `author`'s chain.
pub fn load_head(conn: &Connection, author: &LctId) -> Result<Head, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM chain_heads WHERE author = ?1")?
        .query_row([author.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok(Head { seq: 0, hash: Hash::ZERO }),
        Some((seq, h)) => Ok(Head {
            seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt("negative seq".into()))?,
            hash: Hash::parse(&h).map_err(|_| StoreError::Corrupt("chain head hash".into()))?,
        }),
    }
}
/// Sign the next record of the node's chain, append it and apply it. The
/// payload was canonicalised by the caller (outside the writer), so the writer
/// only signs a small header. Returns the record's hash, its effects and its
/// wire form (what peers receive).
pub fn append_record(
    conn: &Connection,
    node: &NodeSigner,
    head: &mut Head,
    prepared: &Prepared,
    law_hash: Hash,
    now: Timestamp,
) -> Result<(Hash, Vec<Effect>, String), StoreError> {
    let kind = prepared.event.kind();
    let seq = head.seq + 1;
    let (record, hash) = RecordDraft {
        author: node.id.clone(),
        seq,
        prev_hash: head.hash,
        kind: kind.to_owned(),
        payload: Value::Null,
        law_hash,
        timestamp: now,
    }
    .sign_with_payload_hash_by(|m| node.sign(m), &prepared.payload.hash)
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // The stored record is the wire form; its payload is the canonical text.
    let text = format!(
        r#"{{"author":{},"kind":{},"law_hash":{},"payload":{},"prev_hash":{},"seq":{seq},"signature":{},"timestamp":{}}}"#,
        j(&record.author),
        j(kind),
        j(&record.law_hash),
        prepared.payload.jcs,
        j(&record.prev_hash),
        j(&record.signature),
        j(&record.timestamp),
    );
    let row = insert_record(conn, &hash, &record.author, seq, kind, &text)?;
    let effects = apply_event(conn, &prepared.event, (&node.id, seq, row), now, &hash, law_hash)?;
    *head = Head { seq, hash };
    Ok((hash, effects, text))
}

/// Append a record (wire form `text`) to the ledger, stamped with this
/// node's clock; its row id, which the projections use to find it again.
pub fn insert_record(
    conn: &Connection,
    hash: &Hash,
    author: &LctId,
    seq: u64,
    kind: &str,
    text: &str,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO ledger (hash, author, seq, kind, record, applied_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        hash.to_string(),
        author.as_str(),
        i64::try_from(seq).unwrap_or(i64::MAX),
        kind,
        text,
        unix_ms()
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The wall clock in ms since the Unix epoch (a ledger row's `applied_at`).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// JSON text of a small value (ids, hashes, timestamps); these cannot fail.
fn j<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Persist the node's chain head.
pub fn save_head(conn: &Connection, author: &LctId, head: Head) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO chain_heads (author, seq, hash) VALUES (?1, ?2, ?3) ON CONFLICT(author) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")?
        .execute(params![author.as_str(), i64::try_from(head.seq).unwrap_or(i64::MAX), head.hash.to_string()])?;
    Ok(())
}

/// What a job sees: the open transaction and the node's chain.
pub struct WriteCtx<'a> {
    /// The write transaction (read your own writes here).
    pub conn: &'a Connection,
    node: &'a NodeSigner,
    head: &'a mut Head,
    nonces: &'a mut SpentNonces,
    /// Commit-time clock for records.
    pub now: Timestamp,
    effects: Vec<Effect>,
    last_ref: Option<Hash>,
    /// Nonces the job spent in memory; the writer stores their rows after
    /// the job, refused or not.
    spent: Vec<(LctId, String, Timestamp)>,
    published: Vec<String>,
}

impl WriteCtx<'_> {
    /// The node's LCT id (author of the records it writes).
    pub fn node_id(&self) -> &LctId {
        &self.node.id
    }

    /// Append a record on the node's chain and apply it.
    pub fn append(&mut self, prepared: &Prepared, law_hash: Hash) -> Result<Hash, ApiError> {
        // Never record what peers would refuse (decisions/0017): the forwarding
        // layer sends such requests to the owner; this catches what it could not.
        if let Some((obj, owner)) = crate::ledger::not_the_owner(self.conn, &self.node.id, &prepared.event)
            .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, format!("could not record: {e}")))?
        {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("{obj} is decided by its owner {owner}; send the request to that node"),
            )
            .details(serde_json::json!({ "owner": owner })));
        }
        let (hash, effects, text) = append_record(self.conn, self.node, self.head, prepared, law_hash, self.now)
            .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, format!("could not record: {e}")))?;
        self.effects.extend(effects);
        self.last_ref = Some(hash);
        self.published.push(text);
        Ok(hash)
    }

    /// An effect that only takes hold if the job succeeds and its group
    /// commits (a metric of what the job changed).
    pub fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Verify and apply a record received from a peer (`ledger::accept_foreign`).
    ///
    /// The record runs in its own savepoint: when the store fails half way
    /// through it, nothing of it stays and the job's other records are kept,
    /// so one job can apply a whole batch of received records.
    pub fn apply_foreign(&mut self, text: &str) -> Result<crate::ledger::Foreign, ApiError> {
        match crate::ledger::parse_inbound(text.to_owned()) {
            Ok(m) => self.apply_inbound(&m, false),
            Err(why) => Ok(crate::ledger::Foreign::Rejected(why)),
        }
    }

    /// Apply pre-checked received records in order (`ledger::apply_inbound`),
    /// all in the job's own undo unit: a store error half way fails the
    /// whole job, and nothing of it stays (the federation forgets those
    /// records and sync fetches them again). No savepoint per record: each
    /// would copy every page the record touches into SQLite's statement
    /// journal (a ninth of a federation node's writer).
    pub fn apply_inbound_batch(
        &mut self,
        records: &[crate::ledger::Inbound],
    ) -> Result<Vec<crate::ledger::Foreign>, ApiError> {
        let mut out = Vec::with_capacity(records.len());
        for m in records {
            let mut outcome = crate::ledger::apply_inbound(self.conn, m, self.now, true)
                .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, format!("could not apply: {e}")))?;
            if let crate::ledger::Foreign::Applied { effects, .. } = &mut outcome {
                let voided = effects.contains(&crate::ledger::Effect::Voided);
                self.effects.append(effects);
                if !voided {
                    self.spend_carried(m)?;
                }
            }
            out.push(outcome);
        }
        Ok(out)
    }

    /// Spend the nonce of the signed request a peer's applied record
    /// carries (decisions/0026), in the record's transaction. Not for a
    /// voided record (decisions/0025, session-30 addendum): it did nothing
    /// with the request, whose owner may still record it.
    fn spend_carried(&mut self, m: &crate::ledger::Inbound) -> Result<(), ApiError> {
        let parsed;
        let event = match &m.event {
            Some(e) => e.as_ref(),
            None => match crate::ledger::Event::from_record(&m.record) {
                Ok(e) => {
                    parsed = e;
                    &parsed
                }
                // Applied records parse; nothing to spend otherwise.
                Err(_) => return Ok(()),
            },
        };
        if let Some(ev) = event.evidence() {
            self.nonces
                .spent_by_peer(self.conn, ev.signer.as_str(), &ev.nonce, ev.timestamp.secs(), self.now.secs())
                .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, format!("nonce store: {e}")))?;
        }
        Ok(())
    }

    /// Apply a parsed received record (`ledger::apply_inbound`).
    pub fn apply_inbound(
        &mut self,
        m: &crate::ledger::Inbound,
        signature_checked: bool,
    ) -> Result<crate::ledger::Foreign, ApiError> {
        let store = |e: rusqlite::Error| ApiError::new(ErrorCode::LedgerWrite, format!("could not apply: {e}"));
        if self.conn.is_autocommit() {
            // SQLite rolled the group's transaction back (a full disk, I/O):
            // a savepoint now would open a transaction of its own, and its
            // release would commit this record outside the group.
            return Err(ApiError::new(ErrorCode::LedgerWrite, "the store rolled the group's transaction back"));
        }
        self.conn.prepare_cached("SAVEPOINT inbound").and_then(|mut st| st.execute([])).map_err(store)?;
        let applied =
            crate::ledger::apply_inbound(self.conn, m, self.now, signature_checked).map_err(|e| e.to_string());
        let applied = match applied {
            Ok(outcome @ crate::ledger::Foreign::Applied { .. }) if !outcome.voided() => {
                self.spend_carried(m).map(|()| outcome).map_err(|e| e.message.clone())
            }
            other => other,
        };
        match applied {
            Ok(mut outcome) => {
                self.conn.prepare_cached("RELEASE inbound").and_then(|mut st| st.execute([])).map_err(store)?;
                if let crate::ledger::Foreign::Applied { effects, .. } = &mut outcome {
                    self.effects.append(effects);
                }
                Ok(outcome)
            }
            Err(e) => {
                let undone = self
                    .conn
                    .prepare_cached("ROLLBACK TO inbound")
                    .and_then(|mut st| st.execute([]))
                    .and_then(|_| self.conn.prepare_cached("RELEASE inbound").and_then(|mut st| st.execute([])));
                if undone.is_err() && !self.conn.is_autocommit() {
                    // Its writes could not be undone alone: undo the group
                    // (the writer then fails it; nothing of it commits).
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(ApiError::new(ErrorCode::LedgerWrite, format!("could not apply: {e}")))
            }
        }
    }

    /// Spend a request nonce; a second use by the same signer is a replay.
    /// Only the in-memory set changes here: the writer stores the row once
    /// the job is done, so checks that refuse a request leave no writes.
    pub fn use_nonce(&mut self, signer: &LctId, nonce: &str, ts: Timestamp) -> Result<(), ApiError> {
        if ts.secs() < self.nonces.forgotten_before() {
            // Only after the clock stepped back: nonces this old were pruned,
            // so a replay of such a request could not be told.
            return Err(ApiError::new(
                ErrorCode::AuthzExpired,
                format!("X-Timestamp {ts} is older than the requests this node still remembers; sign anew"),
            ));
        }
        if !self.nonces.mark(signer.as_str(), nonce, ts.secs()) {
            return Err(ApiError::new(ErrorCode::ProtoReplay, format!("nonce {nonce:?} was already used by {signer}")));
        }
        self.spent.push((signer.clone(), nonce.to_owned(), ts));
        Ok(())
    }
}

/// A unit of work run on the writer thread.
pub type Job = Box<dyn FnOnce(&mut WriteCtx<'_>) -> Result<Value, ApiError> + Send>;

/// A unit of work the writer may run a second time: when a job of its group
/// is refused after it wrote, the group is rolled back and run again with a
/// savepoint per job (decisions/0003, session 21). Such a job keeps all its
/// effects in the [`WriteCtx`] (no other state it changes), so running it
/// again is the same as running it once.
pub type Rerunnable = Box<dyn FnMut(&mut WriteCtx<'_>) -> Result<Value, ApiError> + Send>;

/// A job as the writer holds it.
enum Work {
    Once(Option<Job>),
    Rerun(Rerunnable),
}

impl Work {
    /// Run the job (a one-shot job only the first time it is asked).
    fn run(&mut self, ctx: &mut WriteCtx<'_>) -> Result<Value, ApiError> {
        match self {
            Work::Once(job) => match job.take() {
                Some(job) => job(ctx),
                None => Err(ApiError::new(ErrorCode::LedgerWrite, "the job already ran and cannot run again")),
            },
            Work::Rerun(job) => job(ctx),
        }
    }
}

/// A committed job's result.
#[derive(Debug)]
pub struct Committed {
    pub data: Value,
    pub ledger_ref: Option<Hash>,
}

/// Called after every group commit with the effects of the group.
pub type CommitHook = Box<dyn Fn(&[Effect], usize, Duration) + Send>;

type Reply = oneshot::Sender<Result<Committed, ApiError>>;

/// How durable a job's commit must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync'd before the reply (everything a client or this node authors).
    Full,
    /// Records received from peers: a crash may lose the last of them, which
    /// sync fetches again; the WAL keeps the store consistent either way, and
    /// the next full commit makes them durable too (decisions/0016).
    Relaxed,
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Work, Reply, Durability)>,
}

/// Writer settings.
pub struct WriterConfig {
    pub max_group: usize,
    pub nonce_retention_secs: i64,
    pub clock: fn() -> Timestamp,
    /// Receives the wire form of every record the node authored, after its
    /// group committed (for gossip).
    pub outbox: Option<mpsc::UnboundedSender<String>>,
    /// Sign records with nonces made ahead (decisions/0023).
    pub presign: bool,
    /// WAL frames at which the writer checkpoints itself
    /// ([`WRITER_CHECKPOINT_FRAMES`] by default; setting `wal_max_mib`).
    pub checkpoint_frames: u64,
}

/// WAL frames (4 KiB pages) in `mib` MiB.
pub fn frames_in_mib(mib: u64) -> u64 {
    mib.saturating_mul(1024 * 1024 / 4096)
}

/// The WAL as the writer's last commit left it (from SQLite's WAL hook).
#[derive(Default)]
struct WalFrames {
    frames: AtomicU64,
    /// Bumped whenever the WAL restarted (fewer frames than the commit before).
    restarts: AtomicU64,
}

impl WalFrames {
    fn committed(&self, frames: u64) {
        if self.frames.swap(frames, Ordering::Relaxed) > frames {
            self.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Follow the WAL of the writer's connection after every commit, and
/// checkpoint (PASSIVE) from the writer once it holds `checkpoint_at` frames:
/// what `wal_autocheckpoint` did, which a hook replaces; that checkpoint is
/// the one that lets the next write restart the WAL. Its failure is not the
/// commit's (which has happened): logged, never returned.
fn watch_wal(conn: &mut Connection, wal: Arc<WalFrames>, checkpoint_at: u64) -> rusqlite::Result<()> {
    conn.wal_hook(Some(move |w: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
        let frames = u64::try_from(frames).unwrap_or(0);
        wal.committed(frames);
        if frames >= checkpoint_at
            && let Err(e) = w.checkpoint()
        {
            tracing::debug!(event = "writer_checkpoint_failed", error = %e);
        }
        Ok(())
    }))
}

/// By default the writer checkpoints itself (PASSIVE) once the WAL holds
/// this many frames (256 MiB at 4 KiB pages; setting `wal_max_mib`). Under
/// continuous writes that is the only checkpoint that lets the WAL restart,
/// and every queued request waits for it, so it should be rare: at 8,192
/// frames it came every ~220 ms under `web4 bench mint` and set the p99
/// (decisions/0003, session 18). The WAL file keeps its largest size until
/// the node stops.
pub const WRITER_CHECKPOINT_FRAMES: u64 = 65_536;
/// How often the background checkpointer looks at the WAL.
const CHECKPOINT_TICK: Duration = Duration::from_millis(100);
/// Frames waiting that make a background checkpoint due at once (4 MiB).
const CHECKPOINT_BATCH_FRAMES: u64 = 1024;
/// Longest a committed frame waits for a background checkpoint.
const CHECKPOINT_MAX_WAIT: Duration = Duration::from_secs(1);

/// When the background checkpointer runs: when at least
/// [`CHECKPOINT_BATCH_FRAMES`] frames are waiting to be copied, or any are
/// and the last checkpoint is [`CHECKPOINT_MAX_WAIT`] old.
#[derive(Debug, Default)]
struct CheckpointPolicy {
    /// Frames of the WAL already in the database at the last checkpoint,
    /// and which WAL that was (restart count).
    copied: u64,
    restarts: u64,
    last: Option<std::time::Instant>,
}

impl CheckpointPolicy {
    /// Whether to checkpoint now, the WAL holding `frames` frames after
    /// `restarts` restarts.
    fn due(&self, frames: u64, restarts: u64, now: std::time::Instant) -> bool {
        // After a restart every frame is new.
        let waiting = if restarts == self.restarts { frames.saturating_sub(self.copied) } else { frames };
        waiting >= CHECKPOINT_BATCH_FRAMES
            || (waiting > 0 && self.last.is_none_or(|t| now.duration_since(t) >= CHECKPOINT_MAX_WAIT))
    }

    /// A checkpoint of the WAL seen after `restarts` restarts finished with
    /// `copied` frames in the database (SQLite's answer; −1 when it could
    /// not run, which leaves every frame waiting). Whether it copied frames
    /// that the last one had not.
    fn done(&mut self, copied: i64, restarts: u64, now: std::time::Instant) -> bool {
        let copied = u64::try_from(copied).unwrap_or(0);
        let more = restarts != self.restarts || copied > self.copied;
        self.copied = copied;
        self.restarts = restarts;
        self.last = Some(now);
        more
    }
}

impl Writer {
    /// Start the writer thread on `conn`; it ends when every handle is dropped.
    pub fn start(
        mut conn: Connection,
        node: NodeSigner,
        cfg: WriterConfig,
        hook: CommitHook,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), StoreError> {
        let mut node = node;
        if cfg.presign {
            node.start_presigning();
        }
        let mut head = load_head(&conn, &node.id)?;
        let mut nonces = SpentNonces::load(&conn, (cfg.clock)().secs() - cfg.nonce_retention_secs)?;
        nonces.limit_ahead(cfg.nonce_retention_secs);
        let (tx, mut rx) = mpsc::channel::<(Work, Reply, Durability)>(cfg.max_group * 4);
        // Finishing a committed group (gossip, the commit hook — graph and
        // metrics — and the replies) runs on its own thread, in commit order,
        // while the writer goes on with the next group. Replies still wait for
        // the hook, so an answered client reads its change everywhere.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Finished>();
        let outbox = cfg.outbox.clone();
        let finisher = std::thread::Builder::new()
            .name("web4-finish".into())
            .spawn(move || {
                while let Ok(f) = done_rx.recv() {
                    if let Some(out) = &outbox {
                        for text in f.published {
                            let _ = out.send(text);
                        }
                    }
                    // Metrics first, so that anyone who saw the answer sees the counts.
                    hook(&f.effects, f.replies.len(), f.took);
                    for (reply, res) in f.replies {
                        let _ = reply.send(res);
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer's finishing thread: {e}")))?;
        // WAL checkpoints: a background connection copies committed pages back
        // into the database (PASSIVE: never blocks the writer), so the
        // writer's own checkpoint — which still resets the WAL — finds little
        // left to copy and stalls its group for less (decisions/0003: p99 of
        // authorize 22.6 → 15.7 ms, mint 70–76 → 60–61 ms). It runs when
        // enough frames are waiting, or a second after the last one: at a
        // few commits a second the same hot pages are then copied and synced
        // once, not ten times (decisions/0003, session 10).
        let wal = Arc::new(WalFrames::default());
        watch_wal(&mut conn, Arc::clone(&wal), cfg.checkpoint_frames.max(1))?;
        let (ckpt_stop, ckpt_rx) = std::sync::mpsc::channel::<()>();
        let checkpointer = match conn.path().filter(|p| !p.is_empty()).map(std::path::PathBuf::from) {
            None => None,
            Some(path) => Some(
                std::thread::Builder::new()
                    .name("web4-checkpoint".into())
                    .spawn(move || {
                        let c = match crate::store::open_connection(&path, false) {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(event = "checkpoint_thread_failed", error = %e);
                                return;
                            }
                        };
                        // SQLite syncs the database file only after a
                        // checkpoint that reached the end of the WAL, which
                        // under continuous writes is the writer's. Syncing
                        // what each background checkpoint copied keeps that
                        // one short: it then syncs only its own copy.
                        let db = std::fs::File::open(&path)
                            .inspect_err(|e| tracing::warn!(event = "checkpoint_sync_unavailable", error = %e))
                            .ok();
                        let mut policy = CheckpointPolicy::default();
                        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                            ckpt_rx.recv_timeout(CHECKPOINT_TICK)
                        {
                            let now = std::time::Instant::now();
                            let restarts = wal.restarts.load(Ordering::Relaxed);
                            if !policy.due(wal.frames.load(Ordering::Relaxed), restarts, now) {
                                continue;
                            }
                            match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                            }) {
                                Ok((_, copied)) => {
                                    // Whenever it copied something: SQLite
                                    // synced only if no commit landed while it
                                    // copied, which under load is rare, and the
                                    // returned counts cannot tell.
                                    if policy.done(copied, restarts, now)
                                        && let Some(Err(e)) = db.as_ref().map(std::fs::File::sync_data)
                                    {
                                        tracing::debug!(event = "checkpoint_sync_failed", error = %e);
                                    }
                                }
                                Err(e) => tracing::debug!(event = "background_checkpoint_failed", error = %e),
                            }
                        }
                    })
                    .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?,
            ),
        };
        let handle = std::thread::Builder::new()
            .name("web4-writer".into())
            .spawn(move || {
                let mut last_prune = Instant::now() - Duration::from_secs(3600);
                let mut synchronous = Durability::Full;
                let mut stop = false;
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < cfg.max_group {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    // fsync unless every job of the group only applies peers' records.
                    let wanted = if batch.iter().all(|(_, _, d)| *d == Durability::Relaxed) {
                        Durability::Relaxed
                    } else {
                        Durability::Full
                    };
                    if wanted != synchronous {
                        let mode = if wanted == Durability::Full { "FULL" } else { "NORMAL" };
                        match conn.pragma_update(None, "synchronous", mode) {
                            Ok(()) => synchronous = wanted,
                            Err(e) => tracing::warn!(event = "synchronous_switch_failed", error = %e),
                        }
                    }
                    if wanted == Durability::Full && synchronous != Durability::Full {
                        // A commit without fsync must not be acknowledged as durable.
                        let failed = batch
                            .into_iter()
                            .map(|(_, r, _)| {
                                (
                                    r,
                                    Err(ApiError::new(
                                        ErrorCode::LedgerWrite,
                                        "the store cannot commit durably now; nothing was written",
                                    )),
                                )
                            })
                            .collect();
                        hand_over(
                            &done_tx,
                            Finished {
                                replies: failed,
                                effects: Vec::new(),
                                published: Vec::new(),
                                took: Duration::ZERO,
                            },
                        );
                        continue;
                    }
                    let batch: Vec<(Work, Reply)> = batch.into_iter().map(|(j, r, _)| (j, r)).collect();
                    let started = Instant::now();
                    let now = (cfg.clock)();
                    let prune = last_prune.elapsed() > Duration::from_secs(60);
                    let outcome = run_group(
                        &mut conn,
                        &node,
                        &mut head,
                        &mut nonces,
                        batch,
                        now,
                        prune.then_some(now.secs() - cfg.nonce_retention_secs),
                    );
                    if prune {
                        last_prune = Instant::now();
                    }
                    let took = started.elapsed();
                    let finished = match outcome {
                        Ok((replies, effects, published)) => Finished { replies, effects, published, took },
                        Err((replies, e)) => {
                            tracing::error!(event = "group_commit_failed", error = %e);
                            // Not durable: fail every job and reload the head from disk.
                            head = load_head(&conn, &node.id).unwrap_or(head);
                            nonces.undo_group();
                            let message = e.client_message();
                            let failed = replies
                                .into_iter()
                                .map(|(r, res)| {
                                    (
                                        r,
                                        Err(res
                                            .err()
                                            .unwrap_or_else(|| ApiError::new(ErrorCode::LedgerWrite, message))),
                                    )
                                })
                                .collect();
                            stop = e.is_io();
                            Finished { replies: failed, effects: Vec::new(), published: Vec::new(), took }
                        }
                    };
                    hand_over(&done_tx, finished);
                    if stop {
                        // Fail-stop after an I/O error of the log (see
                        // `GroupError::is_io`): no more writes, `/ready`
                        // answers 503, and the operator restarts the node,
                        // whose recovery reads the log from the disk.
                        tracing::error!(
                            event = "writer_stopped_after_io_error",
                            "the store's disk failed during a commit; the node takes no more writes until restarted"
                        );
                        break;
                    }
                }
                drop(done_tx);
                if finisher.join().is_err() {
                    tracing::error!(event = "finisher_panicked");
                }
                drop(ckpt_stop);
                if checkpointer.is_some_and(|t| t.join().is_err()) {
                    tracing::error!(event = "checkpoint_thread_panicked");
                }
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                    tracing::warn!(event = "final_checkpoint_failed", error = %e);
                }
                tracing::info!(event = "writer_stopped");
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok((Writer { tx }, handle))
    }

    /// Whether the writer thread is still taking jobs.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Run `job` on the writer and wait for its durable result.
    pub async fn submit(&self, job: Job) -> Result<Committed, ApiError> {
        self.submit_with(job, Durability::Full).await
    }

    /// Run `job` with the given durability (see [`Durability`]).
    pub async fn submit_with(&self, job: Job, durability: Durability) -> Result<Committed, ApiError> {
        self.send(Work::Once(Some(job)), durability).await
    }

    /// Run `job`, which the writer may run twice (see [`Rerunnable`]), and
    /// wait for its durable result. A group of such jobs runs without a
    /// savepoint per job.
    pub async fn submit_rerunnable(&self, job: Rerunnable) -> Result<Committed, ApiError> {
        self.send(Work::Rerun(job), Durability::Full).await
    }

    async fn send(&self, work: Work, durability: Durability) -> Result<Committed, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((work, reply, durability)).await.map_err(|_| {
            ApiError::new(
                ErrorCode::Unavailable,
                "the node takes no writes: it is shutting down, or its store failed (see its log)",
            )
        })?;
        rx.await.map_err(|_| ApiError::new(ErrorCode::LedgerWrite, "the writer stopped before committing"))?
    }
}

type Replies = Vec<(Reply, Result<Committed, ApiError>)>;

/// A group the writer is done with, for the finishing thread.
struct Finished {
    replies: Replies,
    effects: Vec<Effect>,
    published: Vec<String>,
    took: Duration,
}
/// A committed group: replies, effects, and the wire form of the node's new records.
type GroupOutcome = (Replies, Vec<Effect>, Vec<String>);

fn run_group(
    conn: &mut Connection,
    node: &NodeSigner,
    head: &mut Head,
    nonces: &mut SpentNonces,
    batch: Vec<(Work, Reply)>,
    now: Timestamp,
    prune_before: Option<i64>,
) -> Result<GroupOutcome, (Replies, GroupError)> {
    let (mut works, replies): (Vec<Work>, Vec<Reply>) = batch.into_iter().unzip();
    let unavailable = |replies: Vec<Reply>| -> Replies {
        replies.into_iter().map(|r| (r, Err(ApiError::new(ErrorCode::LedgerWrite, "store unavailable")))).collect()
    };
    // Before anything can fail: the caller undoes this group's nonces on
    // failure, never the previous (committed) group's.
    nonces.begin_group();
    let tx = match conn.transaction() {
        Ok(t) => t,
        Err(e) => return Err((unavailable(replies), StoreError::from(e).into())),
    };
    let start_head = *head;
    // A group of re-runnable jobs first runs without savepoints: SQLite
    // copies every page a savepoint's writes touch into a statement journal
    // (a tenth of the writer's time per mint or outcome). A job refused by
    // its checks has written nothing, so nothing needs undoing; when a job
    // is refused after it wrote, the whole group is rolled back and runs
    // again, each job in its own savepoint (decisions/0003, session 21).
    let mut pass = if works.iter().all(|w| matches!(w, Work::Rerun(_))) {
        run_jobs(&tx, node, head, nonces, &mut works, now, false)
    } else {
        run_jobs(&tx, node, head, nonces, &mut works, now, true)
    };
    if matches!(pass, Err(Pass::Dirty)) {
        *head = start_head;
        nonces.undo_group();
        nonces.begin_group();
        pass = match tx.execute_batch("ROLLBACK; BEGIN") {
            Ok(()) => run_jobs(&tx, node, head, nonces, &mut works, now, true),
            Err(e) => Err(Pass::Store(e.into())),
        };
    }
    let (results, effects, published) = match pass {
        Ok(done) => done,
        Err(Pass::Store(e)) => {
            *head = start_head;
            return Err((unavailable(replies), e.into()));
        }
        Err(Pass::Dirty) => {
            *head = start_head;
            return Err((unavailable(replies), StoreError::Corrupt("a job could not be undone".into()).into()));
        }
    };
    let replies: Replies = replies.into_iter().zip(results).collect();
    let mut finish = || -> Result<(), StoreError> {
        if *head != start_head {
            save_head(&tx, &node.id, *head)?;
        }
        if let Some(before) = prune_before {
            nonces.prune(&tx, before)?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        *head = start_head;
        return Err((replies, e.into()));
    }
    match tx.commit() {
        Ok(()) => Ok((replies, effects, published)),
        Err(e) => {
            // The chain head is where the group began (the caller also
            // reloads it, but must not fall back to a head that names records
            // which were rolled back).
            *head = start_head;
            Err((replies, GroupError::Commit(e)))
        }
    }
}

/// Pass a finished group to the finishing thread; when it is gone (it
/// panicked), answer the group's clients here.
fn hand_over(done_tx: &std::sync::mpsc::Sender<Finished>, f: Finished) {
    if let Err(std::sync::mpsc::SendError(f)) = done_tx.send(f) {
        for (reply, res) in f.replies {
            let _ = reply.send(res);
        }
    }
}

/// Why a group did not commit.
#[derive(Debug)]
enum GroupError {
    /// Before the commit: nothing of the group was written.
    Before(StoreError),
    /// The commit itself failed (an fsync or a write of the log): SQLite
    /// rolled the group back, but frames it wrote may still be found by
    /// recovery after a crash, so the outcome is unknown to the client.
    Commit(rusqlite::Error),
}

impl GroupError {
    /// An I/O failure of the disk under the store: after a failed fsync the
    /// kernel may have dropped the pages, so the writer stops (fail-stop)
    /// rather than build on a log it cannot trust.
    fn is_io(&self) -> bool {
        matches!(self, GroupError::Commit(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::SystemIoFailure)
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::Before(e) => write!(f, "{e}"),
            GroupError::Commit(e) => write!(f, "commit: {e}"),
        }
    }
}

impl GroupError {
    /// What the clients of the failed group are told.
    fn client_message(&self) -> &'static str {
        match self {
            GroupError::Before(_) => "the change could not be committed; nothing was written",
            GroupError::Commit(_) => {
                "the store failed while committing the change (a disk error): it is not applied now, \
                 but may be found after a restart; read it back before retrying"
            }
        }
    }
}

impl std::error::Error for GroupError {}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        GroupError::Before(e)
    }
}

/// Why a pass over a group's jobs stopped.
enum Pass {
    /// A job was refused after it wrote, in a pass without savepoints.
    Dirty,
    /// The store failed: nothing of the group can commit.
    Store(StoreError),
}

/// The results of a pass over a group's jobs, in order, with the effects and
/// published records of those that succeeded.
type PassResult = (Vec<Result<Committed, ApiError>>, Vec<Effect>, Vec<String>);

/// Run every job of a group in `tx`. With `guarded`, each job but the first
/// runs in a savepoint, so a refused job leaves nothing while the rest of
/// its group commits (the first is undone by rolling the transaction back:
/// nothing precedes it). Without, the first job is undone the same way,
/// and any later job refused after it wrote stops the pass ([`Pass::Dirty`]). A spent nonce's row is stored after its job,
/// refused or not, outside the job's savepoint.
fn run_jobs(
    tx: &Connection,
    node: &NodeSigner,
    head: &mut Head,
    nonces: &mut SpentNonces,
    works: &mut [Work],
    now: Timestamp,
    guarded: bool,
) -> Result<PassResult, Pass> {
    let mut results = Vec::with_capacity(works.len());
    let mut effects = Vec::new();
    let mut published = Vec::new();
    let savepoint = |sql: &str| tx.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ());
    for (i, work) in works.iter_mut().enumerate() {
        let saved = *head;
        let isolated = guarded && i > 0;
        if isolated && let Err(e) = savepoint("SAVEPOINT job") {
            results.push(Err(ApiError::new(ErrorCode::LedgerWrite, format!("store: {e}"))));
            continue;
        }
        let changes_before = tx.total_changes();
        let mut ctx = WriteCtx {
            conn: tx,
            node,
            head,
            nonces,
            now,
            effects: Vec::new(),
            last_ref: None,
            spent: Vec::new(),
            published: Vec::new(),
        };
        let result = work.run(&mut ctx);
        let (job_effects, last_ref, spent, job_published) = (ctx.effects, ctx.last_ref, ctx.spent, ctx.published);
        match result {
            Ok(data) => {
                if isolated {
                    let _ = savepoint("RELEASE job");
                }
                effects.extend(job_effects);
                published.extend(job_published);
                results.push(Ok(Committed { data, ledger_ref: last_ref }));
            }
            Err(e) => {
                let wrote = tx.total_changes() != changes_before || *head != saved;
                if isolated {
                    if savepoint("ROLLBACK TO job").and_then(|()| savepoint("RELEASE job")).is_err() {
                        // The refused job's writes could not be undone: the
                        // group must not commit them (the check below fails it).
                        let _ = tx.execute_batch("ROLLBACK");
                    }
                } else if wrote && i > 0 {
                    // Without savepoints, later jobs' writes cannot be undone alone.
                    return Err(Pass::Dirty);
                } else if wrote {
                    // The first job: its undo is the transaction's (nothing precedes it).
                    tx.execute_batch("ROLLBACK; BEGIN").map_err(|undo| Pass::Store(undo.into()))?;
                }
                *head = saved;
                results.push(Err(e));
            }
        }
        // Some errors (a full disk, I/O, out of memory) make SQLite roll the
        // whole transaction back on its own; every later statement would then
        // commit by itself. Nothing of the group may commit after that.
        if tx.is_autocommit() {
            return Err(Pass::Store(StoreError::Corrupt("the store rolled the group's transaction back".into())));
        }
        // A refused request still spends its nonce, so it cannot be
        // replayed later when the state might let it through.
        for (signer, nonce, ts) in &spent {
            crate::store::nonces::record(tx, signer.as_str(), nonce, ts.secs()).map_err(|e| Pass::Store(e.into()))?;
        }
    }
    Ok((results, effects, published))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_checkpoints_wait_for_a_batch_or_a_second() {
        let t0 = Instant::now();
        let mut p = CheckpointPolicy::default();
        assert!(!p.due(0, 0, t0), "nothing waiting");
        assert!(p.due(3, 0, t0), "the first frames after start");
        p.done(3, 0, t0);
        assert!(!p.due(3, 0, t0 + CHECKPOINT_MAX_WAIT * 2), "all copied");
        assert!(!p.due(3 + CHECKPOINT_BATCH_FRAMES - 1, 0, t0 + CHECKPOINT_TICK), "a few frames wait");
        assert!(p.due(3 + CHECKPOINT_BATCH_FRAMES, 0, t0 + CHECKPOINT_TICK), "a batch is due at once");
        assert!(p.due(4, 0, t0 + CHECKPOINT_MAX_WAIT), "one frame waits a second at most");
        // The WAL restarted and holds fewer frames than were copied: all are new.
        assert!(p.due(2, 1, t0 + CHECKPOINT_MAX_WAIT));
        assert!(!p.due(2, 1, t0 + CHECKPOINT_TICK));
        assert!(p.due(CHECKPOINT_BATCH_FRAMES, 1, t0 + CHECKPOINT_TICK));
        // A checkpoint that could not run (−1) leaves everything waiting.
        p.done(-1, 1, t0);
        assert!(p.due(CHECKPOINT_BATCH_FRAMES, 1, t0));
    }

    /// Record headers are signed with the pool's nonces once it has some
    /// (decisions/0023): valid signatures that differ from the deterministic
    /// ones, a fresh nonce each time, and the standard way when the pool is
    /// empty.
    #[test]
    fn presigned_record_signatures_verify_and_use_the_pool() -> Result<(), Box<dyn std::error::Error>> {
        let key = SecretKey::from_seed(&[9; 32]);
        let pk = key.public_key();
        let mut node = NodeSigner::new(LctId::from_public_key(&pk), key.clone());
        let msg = b"a record header";
        assert_eq!(node.sign(msg), key.sign(msg), "without a pool: RFC 8032");
        node.start_presigning();
        let pool = node.presign.as_ref().map(|p| Arc::clone(&p.pool)).ok_or("no pool")?;
        std::thread::sleep(Duration::from_millis(50));
        assert!(pool.lock().is_empty(), "no nonces before the first signature");
        assert_eq!(node.sign(msg), key.sign(msg), "the first signature: the pool is still empty");
        let t0 = Instant::now();
        while pool.lock().len() < NONCE_POOL && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.lock().len() >= NONCE_POOL, "the maker fills the pool");
        std::thread::sleep(Duration::from_millis(20));
        let full = pool.lock();
        assert_eq!((full.len(), full.capacity()), (NONCE_POOL, NONCE_POOL), "filled in batches, never past the pool");
        drop(full);
        let a = node.sign(msg);
        let b = node.sign(msg);
        assert_ne!(a, key.sign(msg), "a pool nonce, not the message-derived one");
        assert_ne!(a, b, "each signature takes its own nonce");
        assert_eq!(pk.verify(msg, &a), Ok(()));
        assert_eq!(pk.verify(msg, &b), Ok(()));
        // Draining below the low-water mark wakes the maker, which refills.
        for _ in 0..NONCE_POOL {
            let sig = node.sign(msg);
            assert_eq!(pk.verify(msg, &sig), Ok(()));
        }
        let t0 = Instant::now();
        while pool.lock().len() < NONCE_LOW_WATER && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.lock().len() >= NONCE_LOW_WATER, "refilled after running low");
        // The maker stops when the signer goes.
        drop(node);
        let t0 = Instant::now();
        while Arc::strong_count(&pool) > 1 && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(Arc::strong_count(&pool), 1, "the nonce thread ended");
        Ok(())
    }

    /// A migrated store with a scratch table `t (x)`, a node key, its chain
    /// head and its spent nonces: what `run_group` needs.
    struct Fixture {
        _dir: tempfile::TempDir,
        conn: Connection,
        node: NodeSigner,
        head: Head,
        nonces: SpentNonces,
    }

    fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
        let _dir = tempfile::tempdir()?;
        let mut conn = crate::store::open_connection(&_dir.path().join("w.db"), false)?;
        crate::store::migrations::migrate(&mut conn)?;
        conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL)")?;
        let key = SecretKey::from_seed(&[7; 32]);
        let node = NodeSigner::new(LctId::from_public_key(&key.public_key()), key);
        let head = load_head(&conn, &node.id)?;
        let nonces = SpentNonces::load(&conn, 0)?;
        Ok(Fixture { _dir, conn, node, head, nonces })
    }

    /// A refused job leaves nothing and the rest of its group commits,
    /// whether it is the first job (undone by rolling the transaction back,
    /// no savepoint) or a later one (undone to its savepoint); a refused
    /// request's nonce stays spent either way.
    #[test]
    fn refused_jobs_leave_nothing_first_or_later() -> Result<(), Box<dyn std::error::Error>> {
        let Fixture { _dir, mut conn, node, mut head, mut nonces } = fixture()?;
        let signer = node.id.clone();
        let job = |x: i64, refuse: bool, nonce: Option<&'static str>| -> Job {
            let signer = signer.clone();
            Box::new(move |ctx| {
                if let Some(n) = nonce {
                    ctx.use_nonce(&signer, n, Timestamp(1_000))?;
                }
                ctx.conn
                    .execute("INSERT INTO t (x) VALUES (?1)", [x])
                    .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, e.to_string()))?;
                if refuse { Err(ApiError::new(ErrorCode::ProtoFormat, "refused")) } else { Ok(Value::Null) }
            })
        };
        let mut receivers = Vec::new();
        let mut batch = Vec::new();
        for j in [job(1, true, Some("n1")), job(2, false, None), job(3, true, Some("n3")), job(4, false, None)] {
            let (tx, rx) = oneshot::channel();
            batch.push((Work::Once(Some(j)), tx));
            receivers.push(rx);
        }
        let (replies, _, _) =
            run_group(&mut conn, &node, &mut head, &mut nonces, batch, Timestamp(1_000), None).map_err(|(_, e)| e)?;
        let ok: Vec<bool> = replies.iter().map(|(_, r)| r.is_ok()).collect();
        assert_eq!(ok, [false, true, false, true]);
        let rows: Vec<i64> =
            conn.prepare("SELECT x FROM t ORDER BY x")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        assert_eq!(rows, [2, 4], "the refused jobs' rows are gone, the others committed");
        let spent: Vec<String> = conn
            .prepare("SELECT nonce FROM nonces ORDER BY nonce")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(spent, ["n1", "n3"], "refused requests spend their nonces");
        // A group of one refused job commits nothing but its nonce.
        let (tx, _rx) = oneshot::channel();
        let (replies, _, _) = run_group(
            &mut conn,
            &node,
            &mut head,
            &mut nonces,
            vec![(Work::Once(Some(job(5, true, Some("n5")))), tx)],
            Timestamp(1_000),
            None,
        )
        .map_err(|(_, e)| e)?;
        assert!(replies[0].1.is_err());
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM t WHERE x = 5", [], |r| r.get(0))?;
        assert_eq!(n, 0);
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM nonces WHERE nonce = 'n5'", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    /// A group of re-runnable jobs runs without savepoints. A job its checks
    /// refuse writes nothing and the group goes on; a job refused after it
    /// wrote makes the group roll back and run again with savepoints. Either
    /// way the refused jobs leave nothing but their spent nonces, and every
    /// other job commits once.
    #[test]
    fn rerunnable_groups_undo_a_job_refused_after_it_wrote() -> Result<(), Box<dyn std::error::Error>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Clone, Copy)]
        enum Fate {
            Commit,
            RefuseBeforeWriting,
            RefuseAfterWriting,
        }
        let Fixture { _dir, mut conn, node, mut head, mut nonces } = fixture()?;
        let signer = node.id.clone();
        let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
        let job = |x: i64, fate: Fate| -> Work {
            let (signer, runs) = (signer.clone(), Arc::clone(&runs));
            let x_idx = usize::try_from(x).unwrap_or(0);
            Work::Rerun(Box::new(move |ctx| {
                runs[x_idx].fetch_add(1, Ordering::SeqCst);
                ctx.use_nonce(&signer, &format!("n{x}"), Timestamp(1_000))?;
                // A metric effect only takes hold for a job that commits.
                ctx.effect(Effect::Budget { grant_id: format!("g{x}"), remaining: 0 });
                if let Fate::RefuseBeforeWriting = fate {
                    return Err(ApiError::new(ErrorCode::AuthzDenied, "refused by a check"));
                }
                ctx.conn
                    .execute("INSERT INTO t (x) VALUES (?1)", [x])
                    .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, e.to_string()))?;
                match fate {
                    Fate::RefuseAfterWriting => Err(ApiError::new(ErrorCode::ProtoFormat, "refused after writing")),
                    _ => Ok(Value::from(x)),
                }
            }))
        };
        let budgets = std::cell::RefCell::new(Vec::new());
        let mut run = |conn: &mut Connection, jobs: Vec<Work>| -> Result<Vec<bool>, GroupError> {
            let batch = jobs.into_iter().map(|j| (j, oneshot::channel().0)).collect();
            let (replies, effects, _) =
                run_group(conn, &node, &mut head, &mut nonces, batch, Timestamp(1_000), None).map_err(|(_, e)| e)?;
            *budgets.borrow_mut() = effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Budget { grant_id, .. } => Some(grant_id.clone()),
                    _ => None,
                })
                .collect();
            Ok(replies.iter().map(|(_, r)| r.is_ok()).collect())
        };
        // No job wrote before it was refused: one pass.
        let ok = run(&mut conn, vec![job(1, Fate::Commit), job(2, Fate::RefuseBeforeWriting), job(3, Fate::Commit)])?;
        assert_eq!(ok, [true, false, true]);
        assert_eq!(*budgets.borrow(), ["g1", "g3"], "the refused job's effect is dropped");
        let counts = |r: &[AtomicUsize]| -> Vec<usize> { r.iter().map(|c| c.load(Ordering::SeqCst)).collect() };
        assert_eq!(counts(&runs)[1..4], [1, 1, 1], "no job ran twice");
        // Job 6 wrote and was refused: the group ran again with savepoints
        // (jobs 4 to 6 twice, job 7 once: the first pass stopped at 6).
        let ok = run(
            &mut conn,
            vec![
                job(4, Fate::Commit),
                job(5, Fate::RefuseBeforeWriting),
                job(6, Fate::RefuseAfterWriting),
                job(7, Fate::Commit),
            ],
        )?;
        assert_eq!(ok, [true, false, false, true]);
        assert_eq!(counts(&runs)[4..8], [2, 2, 2, 1]);
        assert_eq!(*budgets.borrow(), ["g4", "g7"], "the first pass's effects are dropped with it");
        let rows: Vec<i64> =
            conn.prepare("SELECT x FROM t ORDER BY x")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        assert_eq!(rows, [1, 3, 4, 7], "refused jobs left no rows, the others committed once");
        let spent: Vec<String> = conn
            .prepare("SELECT nonce FROM nonces ORDER BY nonce")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(spent, ["n1", "n2", "n3", "n4", "n5", "n6", "n7"], "every request spent its nonce once");
        // The first job refused after it wrote is undone by the transaction's
        // rollback; nothing runs twice.
        let ok = run(&mut conn, vec![job(8, Fate::RefuseAfterWriting), job(9, Fate::Commit)])?;
        assert_eq!(ok, [false, true]);
        assert_eq!(counts(&runs)[8..10], [1, 1]);
        let rows: Vec<i64> =
            conn.prepare("SELECT x FROM t WHERE x >= 8")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        assert_eq!(rows, [9]);
        // The nonces are spent in memory too: a replay is refused.
        let ok = run(&mut conn, vec![job(6, Fate::Commit)])?;
        assert_eq!(ok, [false]);
        Ok(())
    }

    /// When the transaction is gone mid-group (SQLite rolls it back by itself
    /// on a full disk or an I/O error; here a job does it), nothing of the
    /// group commits: not the jobs before, not the jobs after, not the nonces.
    #[test]
    fn a_group_whose_transaction_vanished_commits_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let Fixture { _dir, mut conn, node, mut head, mut nonces } = fixture()?;
        let store = |e: rusqlite::Error| ApiError::new(ErrorCode::LedgerWrite, e.to_string());
        for rerunnable in [true, false] {
            let jobs: Vec<Rerunnable> = vec![
                Box::new(move |ctx| {
                    ctx.use_nonce(&ctx.node.id.clone(), "a", Timestamp(1_000))?;
                    ctx.conn.execute("INSERT INTO t (x) VALUES (1)", []).map_err(store)?;
                    Ok(Value::Null)
                }),
                Box::new(move |ctx| {
                    ctx.use_nonce(&ctx.node.id.clone(), "b", Timestamp(1_000))?;
                    ctx.conn.execute_batch("ROLLBACK").map_err(store)?;
                    Err(ApiError::new(ErrorCode::LedgerWrite, "disk full"))
                }),
                Box::new(move |ctx| {
                    ctx.conn.execute("INSERT INTO t (x) VALUES (3)", []).map_err(store)?;
                    Ok(Value::Null)
                }),
            ];
            let batch = jobs
                .into_iter()
                .map(|mut j| {
                    let work = if rerunnable { Work::Rerun(j) } else { Work::Once(Some(Box::new(move |c| j(c)))) };
                    (work, oneshot::channel().0)
                })
                .collect();
            let failed = run_group(&mut conn, &node, &mut head, &mut nonces, batch, Timestamp(1_000), None);
            assert!(failed.is_err(), "the group failed (re-runnable: {rerunnable})");
            nonces.undo_group();
            let rows: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
            let spent: i64 = conn.query_row("SELECT COUNT(*) FROM nonces", [], |r| r.get(0))?;
            assert_eq!((rows, spent), (0, 0), "nothing committed (re-runnable: {rerunnable})");
            assert!(conn.is_autocommit(), "no transaction left open");
        }
        Ok(())
    }

    /// Run one job as a group at time 1,000 (what most tests here do).
    fn one_job(f: &mut Fixture, work: Work) -> Result<GroupOutcome, (Replies, GroupError)> {
        let batch = vec![(work, oneshot::channel().0)];
        run_group(&mut f.conn, &f.node, &mut f.head, &mut f.nonces, batch, Timestamp(1_000), None)
    }

    /// A group that cannot even begin its transaction undoes no nonce of the
    /// group before it, which committed: those requests stay spent.
    #[test]
    fn a_group_that_cannot_begin_keeps_the_previous_groups_nonces() -> Result<(), Box<dyn std::error::Error>> {
        let mut f = fixture()?;
        let signer = f.node.id.clone();
        let job = |n: &'static str| -> Work {
            let signer = signer.clone();
            Work::Once(Some(Box::new(move |ctx| {
                ctx.use_nonce(&signer, n, Timestamp(1_000))?;
                Ok(Value::Null)
            })))
        };
        let (replies, _, _) = one_job(&mut f, job("n1")).map_err(|(_, e)| e)?;
        assert!(replies[0].1.is_ok());
        // The next group's BEGIN fails (here: a transaction is open already);
        // the writer then undoes "this group's" nonces, as after any failure.
        f.conn.execute_batch("BEGIN")?;
        assert!(one_job(&mut f, job("n2")).is_err());
        f.nonces.undo_group();
        f.conn.execute_batch("ROLLBACK")?;
        let (replies, _, _) = one_job(&mut f, job("n1")).map_err(|(_, e)| e)?;
        assert!(matches!(&replies[0].1, Err(e) if e.code == ErrorCode::ProtoReplay), "a replay of n1 is refused");
        Ok(())
    }

    /// After the clock stepped back past the pruned window, a request dated
    /// before it is refused: its nonce could have been spent and forgotten.
    #[test]
    fn a_request_older_than_the_remembered_window_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let Fixture { _dir, mut conn, node, mut head, mut nonces } = fixture()?;
        nonces.prune(&conn, 2_000)?;
        let signer = node.id.clone();
        let job: Job = Box::new(move |ctx| {
            ctx.use_nonce(&signer, "from-before", Timestamp(1_999))?;
            Ok(Value::Null)
        });
        let (replies, _, _) = run_group(
            &mut conn,
            &node,
            &mut head,
            &mut nonces,
            vec![(Work::Once(Some(job)), oneshot::channel().0)],
            Timestamp(1_500),
            None,
        )
        .map_err(|(_, e)| e)?;
        assert!(matches!(&replies[0].1, Err(e) if e.code == ErrorCode::AuthzExpired), "{:?}", replies[0].1);
        Ok(())
    }

    /// A peer's record applied after the store rolled the group back (the
    /// federation's one-record-at-a-time job keeps going after a failure) is
    /// refused instead of being committed in a transaction of its own.
    #[test]
    fn no_record_applies_outside_a_vanished_group() -> Result<(), Box<dyn std::error::Error>> {
        let mut f = fixture()?;
        let key = SecretKey::from_seed(&[7; 32]);
        let record = web4_core::ledger::RecordDraft {
            author: f.node.id.clone(),
            seq: 1,
            prev_hash: Hash::ZERO,
            kind: "graph.triple".into(),
            payload: serde_json::json!({"s": "a"}),
            law_hash: Hash::ZERO,
            timestamp: Timestamp(1_000),
        }
        .sign(&key)?;
        let text = serde_json::to_string(&record)?;
        let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&outcomes);
        let store = |e: rusqlite::Error| ApiError::new(ErrorCode::LedgerWrite, e.to_string());
        let job: Job = Box::new(move |ctx| {
            ctx.conn.execute("INSERT INTO t (x) VALUES (1)", []).map_err(store)?;
            ctx.conn.execute_batch("ROLLBACK").map_err(store)?;
            for _ in 0..2 {
                let r = ctx.apply_foreign(&text);
                seen.lock().map_err(|_| store(rusqlite::Error::InvalidQuery))?.push(r.map(|f| format!("{f:?}")));
            }
            Ok(Value::Null)
        });
        let failed = one_job(&mut f, Work::Once(Some(job)));
        assert!(failed.is_err(), "the group failed");
        let outcomes = outcomes.lock().map_err(|_| "poisoned")?;
        assert_eq!(outcomes.len(), 2);
        for o in outcomes.iter() {
            assert!(matches!(o, Err(e) if e.message.contains("rolled the group's transaction back")), "{o:?}");
        }
        assert!(f.conn.is_autocommit(), "no transaction left open");
        let rows: i64 = f.conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(rows, 0);
        Ok(())
    }

    /// A group whose commit fails leaves the in-memory chain head where the
    /// group began: the next record must not link to rolled-back records.
    #[test]
    fn a_failed_group_leaves_the_chain_head_where_it_was() -> Result<(), Box<dyn std::error::Error>> {
        let Fixture { _dir, mut conn, node, mut head, mut nonces } = fixture()?;
        let before = head;
        // The job advances the head as an append does, then breaks the
        // group's final step (storing the head).
        let job: Job = Box::new(|ctx| {
            ctx.head.seq += 1;
            ctx.conn
                .execute_batch("DROP TABLE chain_heads")
                .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, e.to_string()))?;
            Ok(Value::Null)
        });
        let (tx, _rx) = oneshot::channel();
        let failed = run_group(
            &mut conn,
            &node,
            &mut head,
            &mut nonces,
            vec![(Work::Once(Some(job)), tx)],
            Timestamp(1_000),
            None,
        );
        assert!(failed.is_err(), "storing the head failed, so the group failed");
        assert_eq!(head, before);
        Ok(())
    }

    /// A group whose commit itself fails (here a deferred constraint; on a
    /// real disk an fsync) reports an unknown outcome, not "nothing was
    /// written", and leaves nothing applied; only an I/O failure of the log
    /// stops the writer.
    #[test]
    fn a_failed_commit_is_reported_as_an_unknown_outcome() -> Result<(), Box<dyn std::error::Error>> {
        let mut f = fixture()?;
        f.conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )?;
        let job: Job = Box::new(|ctx| {
            ctx.conn
                .execute("INSERT INTO child (p) VALUES (7)", [])
                .map_err(|e| ApiError::new(ErrorCode::LedgerWrite, e.to_string()))?;
            Ok(Value::Null)
        });
        let failed = one_job(&mut f, Work::Once(Some(job)));
        let Err((_, e)) = failed else { return Err("the commit should have failed".into()) };
        assert!(matches!(e, GroupError::Commit(_)), "{e}");
        assert!(!e.is_io(), "a constraint is no disk failure");
        assert!(e.client_message().contains("read it back before retrying"));
        assert!(GroupError::Before(StoreError::Corrupt("x".into())).client_message().contains("nothing was written"));
        let io = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_FSYNC), None);
        assert!(GroupError::Commit(io).is_io());
        let rows: i64 = f.conn.query_row("SELECT COUNT(*) FROM child", [], |r| r.get(0))?;
        assert_eq!(rows, 0);
        assert!(f.conn.is_autocommit());
        Ok(())
    }

    #[test]
    fn the_wal_hook_counts_restarts() {
        let w = WalFrames::default();
        w.committed(10);
        w.committed(20);
        assert_eq!(w.restarts.load(Ordering::Relaxed), 0);
        w.committed(4);
        assert_eq!((w.frames.load(Ordering::Relaxed), w.restarts.load(Ordering::Relaxed)), (4, 1));
    }

    #[test]
    fn the_default_wal_size_is_the_writer_threshold() {
        assert_eq!(frames_in_mib(crate::config::Config::default().wal_max_mib), WRITER_CHECKPOINT_FRAMES);
        assert_eq!(frames_in_mib(4), 1024);
    }

    /// On a real WAL database: the hook sees every commit's frame count, and
    /// the writer's own checkpoint at the threshold lets the WAL restart (so
    /// it does not grow without bound under continuous writes).
    #[test]
    fn the_writer_checkpoints_and_the_wal_restarts() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut c = crate::store::open_connection(&dir.path().join("w.db"), false)?;
        let wal = Arc::new(WalFrames::default());
        let threshold: u64 = 64;
        watch_wal(&mut c, Arc::clone(&wal), threshold)?;
        c.execute_batch("CREATE TABLE t(x BLOB)")?;
        let mut most = 0;
        for _ in 0..200 {
            c.execute("INSERT INTO t VALUES (zeroblob(3000))", [])?;
            most = most.max(wal.frames.load(Ordering::Relaxed));
        }
        assert!(wal.restarts.load(Ordering::Relaxed) > 0, "the WAL never restarted");
        assert!(most < threshold + 8, "WAL grew to {most} frames");
        Ok(())
    }
}
