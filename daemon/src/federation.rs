//! Federation: the daemon's side of `web4-p2p` (docs/decisions/0016).
//!
//! Outbound, every record this node authors is gossiped on its society's
//! ledger topic once its group committed. Inbound, a record takes the same
//! road as a local write: signature, chain link, author status, law hash,
//! ownership (`ledger::check_inbound`, on a read connection, against the
//! newest record already validated for its author: the gossip verdict), then
//! apply on the writer in batches (`ledger::apply_inbound`, which checks the
//! chain link, status, law and ownership again against the store). Records that arrive before
//! their predecessor, or before the record registering their author, wait in a
//! bounded escrow while sync fetches the gap. Sync runs on every new
//! connection and every `p2p_sync_interval_secs` (anti-entropy): compare chain
//! heads, fetch what is missing, in bounded pages.

use crate::config::Config;
use crate::ledger::Foreign;
use crate::services::Node;
use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use web4_p2p::{Event, Handle, MAX_SYNC_RECORDS, SyncRequest, SyncResponse, Verdict};

/// Most records held in escrow; beyond it new records are not parked (sync
/// fetches them again).
pub const ESCROW_MAX: usize = 4096;

/// Records waiting for a gap to fill, by author then seq, each with the
/// gossip message that brought it (its verdict is given once it can be
/// checked, so that a record that arrived ahead of its predecessor is still
/// forwarded).
#[derive(Debug, Default)]
struct Escrow {
    by_author: HashMap<String, BTreeMap<u64, Inbound>>,
    /// Records whose author is not known yet.
    unknown: Vec<Unknown>,
    /// How many of `unknown` each sender has waiting.
    unknown_by_sender: HashMap<Option<PeerId>, usize>,
    len: usize,
}

/// Most records of authors not known yet that one sender (a gossip peer, or
/// sync as a whole) may have waiting: one peer cannot fill the escrow.
const UNKNOWN_PER_SENDER: usize = 256;

/// How long a record of an author not known yet waits for the record that
/// registers its author; sync fetches it again if it is real.
const UNKNOWN_TTL: Duration = Duration::from_secs(60);

/// A record that cannot be checked yet, with what it waits for, who sent it
/// and since when.
#[derive(Debug)]
struct Unknown {
    text: String,
    /// Its author and seq, read when it was parked (for `GET /v1/p2p/chains`).
    id: Option<(String, u64)>,
    waits: Wait,
    sender: Option<PeerId>,
    since: std::time::Instant,
}

/// What a record not yet checkable waits for.
#[derive(Debug, Clone)]
enum Wait {
    /// The record that registers its author, or the signer of the request
    /// it carries.
    Author(web4_core::LctId),
    /// The publication of the law version it is bound to.
    Law(web4_core::Hash),
    /// The record that creates the owned object it changes, or (for the
    /// record's author, the second field) makes it void (decisions/0025).
    Object(crate::ledger::Owned, web4_core::LctId),
    /// This node's clock, to come within reach of the record's date.
    Until(web4_core::Timestamp),
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::Author(a) => write!(f, "the registration of {a}"),
            Wait::Law(h) => write!(f, "the publication of law {h}"),
            Wait::Object(o, _) => write!(f, "{o}"),
            Wait::Until(t) => write!(f, "this node's clock to come within reach of {t}"),
        }
    }
}

impl Wait {
    /// Whether what it waits for is here now.
    fn over(&self, c: &rusqlite::Connection, now: web4_core::Timestamp) -> Result<bool, crate::store::StoreError> {
        match self {
            Wait::Until(t) => Ok(now.secs().saturating_add(crate::ledger::MAX_RECORD_AHEAD_SECS) >= t.secs()),
            Wait::Author(a) => crate::ledger::lct_exists(c, a),
            Wait::Law(h) => crate::ledger::law_known(c, h),
            Wait::Object(o, author) => Ok(crate::ledger::object_known(c, o)? || crate::ledger::void_for(c, o, author)?),
        }
    }
}

impl Escrow {
    /// Park `item`; given back when it is not parked: the escrow is full,
    /// or a record for that (author, seq) waits already (the first one stays).
    fn put(&mut self, author: &str, seq: u64, item: Inbound) -> Option<Inbound> {
        if self.len >= ESCROW_MAX {
            return Some(item);
        }
        match self.by_author.entry(author.to_owned()).or_default().entry(seq) {
            std::collections::btree_map::Entry::Occupied(_) => Some(item),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(item);
                self.len += 1;
                None
            }
        }
    }

    /// Park a record of an author not known yet, unless the escrow is full
    /// or its sender has [`UNKNOWN_PER_SENDER`] waiting already.
    fn put_unknown(&mut self, text: String, waits: Wait, sender: Option<PeerId>, now: std::time::Instant) {
        let id = author_seq(&text);
        self.restore_unknown(vec![Unknown { text, id, waits, sender, since: now }]);
    }

    /// Park records of unknown authors again (keeping when they came), within
    /// the same bounds as [`Escrow::put_unknown`].
    fn restore_unknown(&mut self, items: Vec<Unknown>) {
        for u in items {
            let from_sender = self.unknown_by_sender.entry(u.sender).or_default();
            if self.len < ESCROW_MAX && *from_sender < UNKNOWN_PER_SENDER {
                *from_sender += 1;
                self.unknown.push(u);
                self.len += 1;
            }
        }
    }

    /// The next record of `author` after `seq`, if waiting.
    fn take_next(&mut self, author: &str, seq: u64) -> Option<Inbound> {
        let chain = self.by_author.get_mut(author)?;
        // Anything at or below `seq` is now a duplicate.
        let stale: Vec<u64> = chain.range(..=seq).map(|(s, _)| *s).collect();
        for s in stale {
            chain.remove(&s);
            self.len -= 1;
        }
        let t = chain.remove(&(seq + 1));
        if t.is_some() {
            self.len -= 1;
        }
        if chain.is_empty() {
            self.by_author.remove(author);
        }
        t
    }

    /// The first parked record of `author` beyond `seq + 1` (a gap is open before it).
    fn first_after(&self, author: &str, seq: u64) -> Option<u64> {
        self.by_author.get(author).and_then(|c| c.range(seq + 2..).next().map(|(s, _)| *s))
    }

    /// Every record of an unknown author, less those that waited longer
    /// than [`UNKNOWN_TTL`] (dropped).
    fn take_unknown(&mut self, now: std::time::Instant) -> Vec<Unknown> {
        self.len -= self.unknown.len();
        self.unknown_by_sender.clear();
        let mut all = std::mem::take(&mut self.unknown);
        all.retain(|u| now.saturating_duration_since(u.since) <= UNKNOWN_TTL);
        all
    }
}

/// The running federation.
pub struct Federation {
    pub handle: Handle,
    pub topic: String,
    /// Where equivocation evidence travels.
    pub evidence_topic: String,
    escrow: Mutex<Escrow>,
    peers: Mutex<HashSet<PeerId>>,
    /// Highest chain head seen at any peer, by author (for the sync lag).
    remote_heads: Mutex<HashMap<String, u64>>,
    /// Received records waiting for the pre-check (gossip, and retries).
    inbound: mpsc::Sender<Inbound>,
    /// Pre-checked records waiting for the writer.
    apply: mpsc::UnboundedSender<crate::ledger::Inbound>,
    /// Newest record validated (forwarded) per author, possibly not applied yet.
    validated: Mutex<HashMap<String, crate::store::writer::Head>>,
    /// Each peer's heads at the previous anti-entropy round.
    previous_heads: Mutex<HashMap<PeerId, HashMap<String, u64>>>,
    /// The node's HTTP router, for requests peers forward to us as owner
    /// (set once serving starts).
    pub router: Mutex<Option<axum::Router>>,
    /// The long-running tasks, stopped by [`Federation::stop`].
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Gaps to fetch: (peer, author, from seq, to seq), served by one task.
    gaps: mpsc::UnboundedSender<(PeerId, String, u64, u64)>,
    /// The last refusal of a record its author really signed, per author
    /// (`GET /v1/p2p/chains`): what stops that chain here, until a later
    /// record of it applies.
    refusals: Mutex<HashMap<String, Refusal>>,
}

/// A validly signed record this node refused (or could not apply).
#[derive(Debug, Clone)]
struct Refusal {
    seq: u64,
    /// The refused record's own date.
    dated: web4_core::Timestamp,
    kind: String,
    reason: String,
    at: web4_core::Timestamp,
}

/// Most authors whose last refusal is kept.
const REFUSALS_MAX: usize = 4096;

impl Federation {
    /// Keep why node `author`'s record `seq` was refused, its chain here
    /// ending at `head`: per author the lowest seq beyond the head (the
    /// record that stops the chain); bounded, the oldest note giving way.
    fn note_refusal(
        &self,
        (author, head): (&str, u64),
        (seq, dated, kind): (u64, web4_core::Timestamp, &str),
        reason: String,
        at: web4_core::Timestamp,
    ) {
        let note = Refusal { seq, dated, kind: kind.to_owned(), reason, at };
        keep_refusal_within(&mut lock(&self.refusals), (author, head), note, REFUSALS_MAX);
    }
}

/// [`Federation::note_refusal`] on `r`, bounded by `max` authors.
fn keep_refusal_within(r: &mut HashMap<String, Refusal>, (author, head): (&str, u64), new: Refusal, max: usize) {
    // A record at or below the head (a duplicate, an equivocation) stops
    // nothing.
    if new.seq <= head {
        return;
    }
    if let Some(old) = r.get(author)
        && old.seq > head
        && old.seq < new.seq
    {
        return;
    }
    if r.len() >= max && !r.contains_key(author) {
        let oldest = r.iter().min_by_key(|(_, x)| x.at).map(|(a, _)| a.clone());
        if let Some(a) = oldest {
            r.remove(&a);
        }
    }
    r.insert(author.to_owned(), new);
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").field("peer_id", &self.handle.peer_id).field("topic", &self.topic).finish()
    }
}

fn addrs(list: &[String]) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter().map(|a| a.parse::<Multiaddr>().map_err(|e| anyhow::anyhow!("{a:?}: {e}"))).collect()
}

/// Start the network when `p2p_listen` is set: subscribe to the society's
/// ledger topic, publish what the writer commits, ingest what peers send.
pub fn start(
    node: &Arc<Node>,
    cfg: &Config,
    outbox: mpsc::UnboundedReceiver<String>,
) -> anyhow::Result<Option<Arc<Federation>>> {
    if cfg.p2p_listen.is_empty() {
        return Ok(None);
    }
    let (handle, events) = web4_p2p::start(
        node.key.seed(),
        web4_p2p::Config {
            listen: addrs(&cfg.p2p_listen)?,
            bootstrap: addrs(&cfg.p2p_bootstrap)?,
            mdns: cfg.p2p_mdns,
            max_message_bytes: web4_p2p::DEFAULT_MAX_MESSAGE_BYTES,
            max_topics_per_peer: 64,
            mesh_degree: cfg.p2p_mesh_degree,
        },
    )?;
    let topic = web4_p2p::ledger_topic(&node.society().id);
    let (gaps, mut gap_rx) = mpsc::unbounded_channel();
    let (inbound_tx, inbound_rx) = mpsc::channel(INGEST_QUEUE);
    let (apply_tx, apply_rx) = mpsc::unbounded_channel();
    let fed = Arc::new(Federation {
        handle,
        topic: topic.clone(),
        evidence_topic: web4_p2p::evidence_topic(&node.society().id),
        escrow: Mutex::new(Escrow::default()),
        peers: Mutex::new(HashSet::new()),
        remote_heads: Mutex::new(HashMap::new()),
        previous_heads: Mutex::new(HashMap::new()),
        validated: Mutex::new(HashMap::new()),
        inbound: inbound_tx,
        apply: apply_tx,
        router: Mutex::new(None),
        tasks: Mutex::new(Vec::new()),
        gaps,
        refusals: Mutex::new(HashMap::new()),
    });
    let gap_task = {
        let (fed, node) = (Arc::clone(&fed), Arc::clone(node));
        tokio::spawn(async move {
            while let Some((peer, author, from, to)) = gap_rx.recv().await {
                fetch_chain(&fed, &node, peer, &author, from, to).await;
            }
        })
    };
    {
        let fed = Arc::clone(&fed);
        tokio::spawn(async move {
            for t in [fed.topic.clone(), fed.evidence_topic.clone()] {
                if let Err(e) = fed.handle.subscribe(t).await {
                    tracing::error!(service = "p2p", event = "subscribe_failed", error = %e);
                }
            }
        });
    }
    let tasks = [
        gap_task,
        tokio::spawn(publish_loop(Arc::clone(&fed), Arc::clone(node), outbox)),
        tokio::spawn(event_loop(Arc::clone(&fed), Arc::clone(node), events)),
        tokio::spawn(anti_entropy(Arc::clone(&fed), Arc::clone(node), Duration::from_secs(cfg.p2p_sync_interval_secs))),
        tokio::spawn(ingest_loop(Arc::clone(&fed), Arc::clone(node), inbound_rx)),
        tokio::spawn(apply_loop(Arc::clone(&fed), Arc::clone(node), apply_rx)),
    ];
    lock(&fed.tasks).extend(tasks.iter().map(tokio::task::JoinHandle::abort_handle));
    tracing::info!(service = "p2p", event = "p2p_started", peer_id = %fed.handle.peer_id, topic = %topic);
    Ok(Some(fed))
}

async fn publish_loop(fed: Arc<Federation>, node: Arc<Node>, mut outbox: mpsc::UnboundedReceiver<String>) {
    while let Some(text) = outbox.recv().await {
        match fed.handle.publish(fed.topic.clone(), text.into_bytes()).await {
            Ok(()) => {
                node.metrics.gossip_out.inc();
            }
            Err(e) => tracing::warn!(service = "p2p", event = "publish_failed", error = %e),
        }
    }
}

async fn event_loop(fed: Arc<Federation>, node: Arc<Node>, mut events: mpsc::Receiver<Event>) {
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Gossip { source, id, topic, data } => {
                node.metrics.gossip_in.inc();
                if topic == fed.evidence_topic {
                    tokio::spawn(evidence_in(Arc::clone(&fed), Arc::clone(&node), source, id, data));
                    continue;
                }
                let text = match String::from_utf8(data) {
                    Ok(text) if topic == fed.topic => text,
                    _ => {
                        node.metrics.gossip_rejected.inc();
                        let _ = fed.handle.report(id, source, Verdict::Reject).await;
                        continue;
                    }
                };
                if let Err(mpsc::error::TrySendError::Full((_, Some((peer, id))))) =
                    fed.inbound.try_send((text, Some((source, id))))
                {
                    // Overloaded: neither apply nor forward; sync catches up.
                    let _ = fed.handle.report(id, peer, Verdict::Ignore).await;
                }
            }
            Event::SyncRequest { peer, request: SyncRequest::Forward(exchange), channel } => {
                // Decided by our own router as the owner; off the event loop,
                // since it waits for a commit.
                let fed = Arc::clone(&fed);
                tokio::spawn(async move {
                    let router = lock(&fed.router).clone();
                    let response = match router {
                        Some(router) => crate::http::forward::serve(router, exchange).await,
                        None => SyncResponse::Error("not serving yet".into()),
                    };
                    tracing::debug!(service = "p2p", event = "forward_answered", peer = %peer);
                    let _ = fed.handle.respond(channel, response).await;
                });
            }
            Event::SyncRequest { peer, request: SyncRequest::Attest { society, binding }, channel } => {
                let response = attest(&node, &society, &binding);
                if let SyncResponse::Error(e) = &response {
                    tracing::info!(service = "p2p", event = "attestation_refused", peer = %peer, reason = %e);
                }
                let _ = fed.handle.respond(channel, response).await;
            }
            Event::SyncRequest { peer: _, request, channel } => {
                let response = answer(&node, request);
                let _ = fed.handle.respond(channel, response).await;
            }
            Event::PeerConnected(p) => {
                lock(&fed.peers).insert(p);
                node.metrics.p2p_peers.set(i64::try_from(lock(&fed.peers).len()).unwrap_or(i64::MAX));
                let (fed, node) = (Arc::clone(&fed), Arc::clone(&node));
                tokio::spawn(async move { catch_up(&fed, &node, p, false).await });
            }
            Event::PeerDisconnected(p) => {
                lock(&fed.peers).remove(&p);
                node.metrics.p2p_peers.set(i64::try_from(lock(&fed.peers).len()).unwrap_or(i64::MAX));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Most received records applied in one writer job.
const INGEST_BATCH: usize = 512;
/// Received gossip waiting for the ingest task; beyond it messages are
/// ignored (not forwarded; sync fetches them later).
const INGEST_QUEUE: usize = 8192;

/// A received record and, for gossip, who sent it under which message id.
type Inbound = (String, Option<(PeerId, MessageId)>);

/// The ingest task: pre-check every message waiting, in arrival order, and
/// report the verdicts at once (they gate gossipsub's forwarding, so a record
/// crosses each hop in the time of a read-only check, not a commit; a record
/// parked for a gap gets its verdict when the gap fills); valid records go to
/// the apply task, which commits them in batches.
async fn ingest_loop(fed: Arc<Federation>, node: Arc<Node>, mut rx: mpsc::Receiver<Inbound>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < INGEST_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        ingest(&fed, &node, batch).await;
    }
}

/// Where a received record stands after the pre-check.
enum Pre {
    /// Valid next link: forward (Accept) and apply.
    Next(crate::ledger::Inbound),
    Duplicate,
    Equivocation(crate::ledger::Inbound, String),
    Gap(String, u64),
    /// Its author, the law version it is bound to, or the object it changes
    /// is not known here yet.
    Waiting(Wait),
    Rejected(String),
}

/// Check a received record on a read connection before it is applied, so
/// that gossipsub can forward it at once (validation gates forwarding; each
/// hop waiting for a commit would add a commit per hop). The chain link is
/// checked against the newest record already validated for its author, which
/// may still be on its way through the writer; the writer checks again
/// against the store before applying (only the signature is not verified
/// twice).
fn precheck(fed: &Federation, node: &Node, text: String) -> Pre {
    use crate::ledger::Check;
    let m = match crate::ledger::parse_inbound(text) {
        Ok(m) => m,
        Err(why) => return Pre::Rejected(why),
    };
    let author = m.record.author.to_string();
    let checked = node.reads.with(|c| {
        let stored = crate::store::writer::load_head(c, &m.record.author)?;
        let pending = lock(&fed.validated).get(&author).copied().filter(|v| v.seq > stored.seq);
        let head = match pending {
            // Between the store's head and the newest validated: in flight.
            Some(v) if m.record.seq <= v.seq && m.record.seq > stored.seq => return Ok(Check::Duplicate),
            Some(v) => v,
            None => stored,
        };
        let check = crate::ledger::check_inbound(c, &m, head, false, node.now())?;
        // Checked against a store that lacks the author's records still in
        // flight: an ownership refusal depends on them (a registration that
        // did not stand turns such a record into one kept without effect,
        // decisions/0025), so it is not final then. Ignored, not scored; sync
        // brings it again once they applied, and it is checked then.
        Ok(match check {
            Check::NotTheOwner(why) if pending.is_some() => {
                tracing::debug!(service = "p2p", event = "record_checked_early", author = %m.record.author, seq = m.record.seq, reason = %why);
                Check::Duplicate
            }
            other => other,
        })
    });
    match checked {
        Ok(Check::Next(event)) => {
            lock(&fed.validated).insert(author, crate::store::writer::Head { seq: m.record.seq, hash: m.hash });
            Pre::Next(crate::ledger::Inbound { event: Some(event), ..m }.without_payload_tree())
        }
        Ok(Check::Duplicate) => Pre::Duplicate,
        Ok(Check::Equivocation { held }) => Pre::Equivocation(m, held),
        Ok(Check::Gap { .. }) => Pre::Gap(author, m.record.seq),
        Ok(Check::UnknownAuthor) => Pre::Waiting(Wait::Author(m.record.author)),
        Ok(Check::UnknownLaw(h)) => Pre::Waiting(Wait::Law(h)),
        Ok(Check::UnknownObject(o)) => Pre::Waiting(Wait::Object(o, m.record.author.clone())),
        Ok(Check::UnknownSigner(id)) => Pre::Waiting(Wait::Author(id)),
        Ok(Check::TooEarly(t)) => Pre::Waiting(Wait::Until(t)),
        Ok(Check::Rejected(why) | Check::NotTheOwner(why)) => {
            // Kept for `GET /v1/p2p/chains` only when a node really signed
            // it: a forgery stops no chain, and a member authors none.
            if !why.starts_with(crate::ledger::BAD_SIGNATURE) {
                let row = node.reads.with(|c| {
                    Ok((
                        crate::ledger::load_signer(c, m.record.author.as_str())?,
                        crate::store::writer::load_head(c, &m.record.author)?.seq,
                    ))
                });
                if let Ok((Some(row), head)) = row
                    && row.entity_type == web4_core::lct::EntityType::Infrastructure
                    && m.record.verify_signature_with(&row.public_key, &m.payload_hash).is_ok()
                {
                    let what = (m.record.seq, m.record.timestamp, m.record.kind.as_str());
                    fed.note_refusal((&author, head), what, why.clone(), node.now());
                }
            }
            Pre::Rejected(why)
        }
        Err(e) => {
            tracing::warn!(service = "p2p", event = "record_not_checked", error = %e);
            Pre::Duplicate
        }
    }
}

/// Pre-check records in order and report gossip verdicts at once; apply the
/// valid ones in one writer job; park what cannot apply yet (a parked gossip
/// message gets its verdict when it is checked); then apply whatever the
/// batch unblocked and fetch the gaps that are still open.
async fn ingest(fed: &Arc<Federation>, node: &Arc<Node>, items: Vec<Inbound>) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(items.len());
    let mut gaps: HashMap<String, PeerId> = HashMap::new();
    // Items, then parked successors that a validated record unblocks (with
    // the gossip message that brought them, still waiting for its verdict).
    let mut queue: std::collections::VecDeque<Inbound> = items.into();
    let mut unblocked: std::collections::VecDeque<Inbound> = std::collections::VecDeque::new();
    while let Some((text, mut gossip)) = unblocked.pop_front().or_else(|| queue.pop_front()) {
        if gossip.is_none() && already_have(fed, node, &text) {
            verdicts.push(Verdict::Ignore);
            continue;
        }
        let verdict = match precheck(fed, node, text.clone()) {
            Pre::Next(m) => {
                if let Some(next) = lock(&fed.escrow).take_next(m.record.author.as_str(), m.record.seq) {
                    unblocked.push_back(next);
                }
                let _ = fed.apply.send(m);
                Verdict::Accept
            }
            Pre::Duplicate => Verdict::Ignore,
            Pre::Gap(author, seq) => {
                let sender = gossip.as_ref().map(|(peer, _)| *peer);
                // Parked with its gossip message: the verdict waits until the
                // record can be checked, so that once its predecessor arrives
                // it is forwarded like any valid record. Gossipsub keeps a
                // message waiting for its verdict for a few heartbeats; a gap
                // that takes longer is filled by sync, as before.
                if let Some((_, back)) = lock(&fed.escrow).put(&author, seq, (text, gossip.take())) {
                    // Not parked: its verdict is given now.
                    gossip = back;
                }
                if let Some(peer) = sender {
                    gaps.insert(author, peer);
                }
                Verdict::Ignore
            }
            Pre::Waiting(waits) => {
                let sender = gossip.as_ref().map(|(peer, _)| *peer);
                lock(&fed.escrow).put_unknown(text, waits, sender, std::time::Instant::now());
                Verdict::Ignore
            }
            Pre::Equivocation(m, held) => {
                tracing::warn!(service = "p2p", event = "record_rejected", peer = ?gossip.as_ref().map(|(p, _)| p.to_string()), reason = "equivocation", author = %m.record.author, seq = m.record.seq);
                node.metrics.equivocations.inc();
                tokio::spawn(equivocation(Arc::clone(fed), Arc::clone(node), m, held));
                Verdict::Reject
            }
            Pre::Rejected(why) => {
                tracing::warn!(service = "p2p", event = "record_rejected", peer = ?gossip.as_ref().map(|(p, _)| p.to_string()), reason = %why);
                Verdict::Reject
            }
        };
        if let Some((peer, id)) = gossip {
            if verdict == Verdict::Reject {
                node.metrics.gossip_rejected.inc();
            }
            let _ = fed.handle.report(id, peer, verdict).await;
        }
        verdicts.push(verdict);
    }
    if !gaps.is_empty() {
        // Gossip reorders: the missing record is usually a few milliseconds
        // behind. Fetch only gaps still open after a grace period.
        let (fed, node) = (Arc::clone(fed), Arc::clone(node));
        tokio::spawn(async move {
            tokio::time::sleep(GAP_GRACE).await;
            let heads = local_heads(&node);
            for (author, peer) in gaps {
                let in_flight = lock(&fed.validated).get(&author).map_or(0, |h| h.seq);
                let have = heads.get(&author).copied().unwrap_or(0).max(in_flight);
                // Fetch exactly the missing run, up to the first parked record.
                if let Some(first) = lock(&fed.escrow).first_after(&author, have) {
                    let _ = fed.gaps.send((peer, author, have + 1, first.saturating_sub(1)));
                }
            }
        });
    }
    node.metrics.escrow_size.set(i64::try_from(lock(&fed.escrow).len).unwrap_or(i64::MAX));
    verdicts
}

/// How long a gap may stay open before it is fetched by sync.
const GAP_GRACE: Duration = Duration::from_millis(500);

/// Whether a record fetched by sync is already held or on its way to the
/// writer: skipped without canonicalising it (gossip is what catches
/// equivocation; a sync answer mostly repeats what gossip brought).
fn already_have(fed: &Federation, node: &Node, text: &str) -> bool {
    let Some((author, seq)) = author_seq(text) else { return false };
    let validated = lock(&fed.validated).get(&author).map_or(0, |h| h.seq);
    if seq <= validated {
        return true;
    }
    let Ok(id) = web4_core::LctId::parse(&author) else { return false };
    node.reads.with(|c| crate::store::writer::load_head(c, &id)).is_ok_and(|h| seq <= h.seq)
}

/// The apply task: pre-checked records, in the order they were validated,
/// applied in batches (one writer job and commit per batch). A record that
/// does not apply after all (the store moved under the pre-check) makes the
/// author's validated head forgotten, so that the next record is checked
/// against the store again; sync repairs the rest. After each batch, records
/// whose author was unknown are retried (the batch may have registered it).
async fn apply_loop(fed: Arc<Federation>, node: Arc<Node>, mut rx: mpsc::UnboundedReceiver<crate::ledger::Inbound>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < INGEST_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        // The records move into the writer job; only who and which seq
        // are kept to report what did not apply.
        let ids: Vec<(web4_core::LctId, u64, web4_core::Timestamp, String)> = batch
            .iter()
            .map(|m| (m.record.author.clone(), m.record.seq, m.record.timestamp, m.record.kind.clone()))
            .collect();
        let outcomes = apply_checked(&node, batch).await;
        let mut any = false;
        for ((author, seq, dated, kind), outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                Ok(Foreign::Applied { .. }) => any = true,
                Ok(Foreign::Duplicate) => {}
                other => {
                    // A refusal on the writer (the store moved under the
                    // pre-check) stops the chain; a wait or a failed commit
                    // does not, and is fetched again by sync.
                    if let Ok(Foreign::Rejected(why)) = &other {
                        let head =
                            node.reads.with(|c| crate::store::writer::load_head(c, &author)).map_or(0, |h| h.seq);
                        fed.note_refusal((author.as_str(), head), (seq, dated, &kind), why.clone(), node.now());
                    }
                    let author = author.to_string();
                    tracing::warn!(service = "p2p", event = "record_not_applied", author = %author, seq, outcome = ?other.map(|f| format!("{f:?}")));
                    lock(&fed.validated).remove(&author);
                }
            }
        }
        if any {
            // Only records whose author, law or object is here now go back
            // to the pre-check; the others keep waiting (not parsed again).
            let waiting = lock(&fed.escrow).take_unknown(std::time::Instant::now());
            let mut still = Vec::new();
            for u in waiting {
                if !node.reads.with(|c| u.waits.over(c, node.now())).unwrap_or(false) {
                    still.push(u);
                } else if let Err(mpsc::error::TrySendError::Full((text, _))) = fed.inbound.try_send((u.text, None)) {
                    still.push(Unknown { text, ..u });
                }
            }
            lock(&fed.escrow).restore_unknown(still);
        }
        node.metrics.escrow_size.set(i64::try_from(lock(&fed.escrow).len).unwrap_or(i64::MAX));
    }
}

/// Keep the evidence of an equivocation and tell the society.
async fn equivocation(fed: Arc<Federation>, node: Arc<Node>, m: crate::ledger::Inbound, held: String) {
    let other = m.text.clone();
    let job: crate::store::writer::Job = Box::new(move |ctx| {
        crate::ledger::keep_equivocation(ctx.conn, &m, &held, ctx.now)
            .map_err(|e| crate::error::ApiError::internal("federation", e))?;
        Ok(json!(null))
    });
    if let Err(e) = node.writer.submit(job).await {
        tracing::warn!(service = "p2p", event = "evidence_not_kept", error = %e);
    }
    evidence_out(fed, node, other).await;
}

/// Apply pre-checked records in order in one writer job. When the store
/// refuses one of them half way, the whole job is undone; the records then
/// go through a second job one savepoint each, so one record that cannot
/// apply does not hold back the others of its batch.
async fn apply_checked(
    node: &Arc<Node>,
    records: Vec<crate::ledger::Inbound>,
) -> Vec<Result<Foreign, crate::error::ApiError>> {
    use crate::store::writer::Durability;
    let n = records.len();
    let failed = |e: crate::error::ApiError| (0..n).map(|_| Err(e.clone())).collect();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: crate::store::writer::Job = Box::new(move |ctx| {
        // The records go back with the outcomes: freeing them (typed events,
        // wire text) is this task's work, not the writer's.
        match ctx.apply_inbound_batch(&records) {
            Ok(outcomes) => {
                let _ = tx.send((Ok(outcomes), records));
                Ok(json!(null))
            }
            Err(e) => {
                let _ = tx.send((Err(e.clone()), records));
                Err(e)
            }
        }
    });
    let submitted = node.writer.submit_with(job, Durability::Relaxed).await;
    let (outcome, records) = match rx.await {
        Ok(x) => x,
        Err(_) => {
            return failed(
                submitted
                    .err()
                    .unwrap_or_else(|| crate::error::ApiError::internal("federation", "writer dropped the outcome")),
            );
        }
    };
    match (submitted, outcome) {
        (Ok(_), Ok(outcomes)) => return outcomes.into_iter().map(Ok).collect(),
        // The group failed to commit: nothing of it is stored.
        (Err(e), Ok(_)) => return failed(e),
        (_, Err(e)) if n == 1 => return failed(e),
        (_, Err(e)) => {
            tracing::warn!(service = "p2p", event = "batch_retried_one_by_one", records = n, error = %e);
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: crate::store::writer::Job = Box::new(move |ctx| {
        let outcomes: Vec<_> = records.iter().map(|m| ctx.apply_inbound(m, true)).collect();
        let _ = tx.send((outcomes, records));
        Ok(json!(null))
    });
    match node.writer.submit_with(job, Durability::Relaxed).await {
        Ok(_) => rx.await.map_or_else(
            |_| failed(crate::error::ApiError::internal("federation", "writer dropped the outcome")),
            |(outcomes, records)| {
                drop(records);
                outcomes
            },
        ),
        Err(e) => failed(e),
    }
}

/// Whether the author of a record (wire text) is registered here now.
fn author_seq(text: &str) -> Option<(String, u64)> {
    #[derive(serde::Deserialize)]
    struct Id {
        author: String,
        seq: u64,
    }
    let id: Id = serde_json::from_str(text).ok()?;
    Some((id.author, id.seq))
}

/// Evidence of equivocation as gossiped: the record we hold and the other one.
#[derive(serde::Serialize, serde::Deserialize)]
struct EvidenceMsg {
    kept: String,
    other: String,
}

/// Tell the society that `other`'s author signed two records for one seq
/// (the one we hold and `other`), so every node keeps the evidence and flags
/// the author, not only those that happened to receive both.
async fn evidence_out(fed: Arc<Federation>, node: Arc<Node>, other: String) {
    let Some((author, seq)) = author_seq(&other) else { return };
    let kept: Option<String> = node
        .reads
        .with(|c| {
            Ok(c.query_row(
                "SELECT record FROM ledger WHERE author = ?1 AND seq = ?2",
                rusqlite::params![author, i64::try_from(seq).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .ok())
        })
        .ok()
        .flatten();
    let Some(kept) = kept else { return };
    let Ok(data) = serde_json::to_vec(&EvidenceMsg { kept, other }) else { return };
    if let Err(e) = fed.handle.publish(fed.evidence_topic.clone(), data).await {
        tracing::warn!(service = "p2p", event = "evidence_publish_failed", error = %e);
    }
    tracing::warn!(service = "p2p", event = "equivocation_detected", lct_id = %author, seq, "{author} signed two records with seq {seq}; evidence kept and gossiped");
}

/// Evidence from a peer: verified and kept on the writer, forwarded if new.
async fn evidence_in(fed: Arc<Federation>, node: Arc<Node>, source: PeerId, id: MessageId, data: Vec<u8>) {
    use crate::ledger::Evidence;
    let verdict = match serde_json::from_slice::<EvidenceMsg>(&data) {
        Err(_) => Verdict::Reject,
        Ok(m) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job: crate::store::writer::Job = Box::new(move |ctx| {
                let r = crate::ledger::accept_evidence(ctx.conn, &m.kept, &m.other, ctx.now)
                    .map_err(|e| crate::error::ApiError::internal("federation", e.to_string()))?;
                let _ = tx.send(r);
                Ok(json!(null))
            });
            match node.writer.submit(job).await.ok().and(rx.await.ok()) {
                Some(Evidence::New) => {
                    node.metrics.equivocations.inc();
                    tracing::warn!(service = "p2p", event = "equivocation_evidence", peer = %source, "equivocation evidence received and kept");
                    Verdict::Accept
                }
                Some(Evidence::Known) | None => Verdict::Ignore,
                Some(Evidence::Invalid(why)) => {
                    tracing::warn!(service = "p2p", event = "evidence_rejected", peer = %source, reason = %why);
                    Verdict::Reject
                }
            }
        }
    };
    if verdict == Verdict::Reject {
        node.metrics.gossip_rejected.inc();
    }
    let _ = fed.handle.report(id, source, verdict).await;
}

/// Answer a peer's sync question from the store.
fn answer(node: &Node, request: SyncRequest) -> SyncResponse {
    let r = node.reads.with(|c| match &request {
        SyncRequest::Heads => {
            let mut st = c.prepare_cached("SELECT author, seq FROM chain_heads ORDER BY author")?;
            let heads = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SyncResponse::Heads(heads))
        }
        SyncRequest::Records { author, from_seq, limit } => {
            let limit = (*limit).min(MAX_SYNC_RECORDS);
            let mut st =
                c.prepare_cached("SELECT record FROM ledger WHERE author = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")?;
            let recs = st
                .query_map(rusqlite::params![author, i64::try_from(*from_seq).unwrap_or(i64::MAX), limit], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SyncResponse::Records(recs))
        }
        SyncRequest::Forward(_) | SyncRequest::Attest { .. } => Ok(SyncResponse::Error("answered elsewhere".into())),
    });
    r.unwrap_or_else(|e| SyncResponse::Error(e.to_string()))
}

fn local_heads(node: &Node) -> HashMap<String, u64> {
    node.reads
        .with(|c| {
            let mut st = c.prepare_cached("SELECT author, seq FROM chain_heads")?;
            let v = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))?
                .collect::<Result<HashMap<_, _>, _>>()?;
            Ok(v)
        })
        .unwrap_or_default()
}

/// Compare heads with `peer` and fetch every chain it is ahead on.
///
/// `patient` (periodic anti-entropy) fetches only what the peer already had
/// at the previous round: records younger than one interval are still
/// travelling by gossip, and fetching them too would apply everything twice
/// under steady traffic. On a new connection nothing is in flight, so it
/// fetches up to the peer's current heads.
async fn catch_up(fed: &Arc<Federation>, node: &Arc<Node>, peer: PeerId, patient: bool) {
    let Ok(SyncResponse::Heads(theirs)) = fed.handle.sync(peer, SyncRequest::Heads).await else { return };
    {
        let mut rh = lock(&fed.remote_heads);
        for (a, s) in &theirs {
            let e = rh.entry(a.clone()).or_insert(0);
            *e = (*e).max(*s);
        }
    }
    let before = {
        let mut prev = lock(&fed.previous_heads);
        prev.insert(peer, theirs.iter().cloned().collect()).unwrap_or_default()
    };
    let ours = local_heads(node);
    // Chains are fetched in the peer's order; a record whose author arrives
    // in a later chain waits in escrow and is retried after each chain.
    for (author, seq) in theirs {
        let target = if patient { seq.min(before.get(&author).copied().unwrap_or(0)) } else { seq };
        // What is on its way to the writer counts as had.
        let in_flight = lock(&fed.validated).get(&author).map_or(0, |h| h.seq);
        let have = ours.get(&author).copied().unwrap_or(0).max(in_flight);
        if target > have {
            fetch_chain(fed, node, peer, &author, have + 1, target).await;
        }
    }
    update_lag(fed, node);
}

/// Fetch `author`'s records from `from` on, page by page, applying each page
/// in one writer job.
async fn fetch_chain(fed: &Arc<Federation>, node: &Arc<Node>, peer: PeerId, author: &str, from: u64, to: u64) {
    let mut from = from;
    while from <= to {
        let limit = u32::try_from(to - from + 1).unwrap_or(MAX_SYNC_RECORDS).min(MAX_SYNC_RECORDS);
        let req = SyncRequest::Records { author: author.to_owned(), from_seq: from, limit };
        let recs = match fed.handle.sync(peer, req).await {
            Ok(SyncResponse::Records(r)) => r,
            Ok(other) => {
                tracing::debug!(service = "p2p", event = "sync_refused", ?other);
                return;
            }
            Err(e) => {
                tracing::debug!(service = "p2p", event = "sync_failed", error = %e);
                return;
            }
        };
        let n = recs.len();
        let verdicts = ingest(fed, node, recs.into_iter().map(|t| (t, None)).collect()).await;
        if verdicts.contains(&Verdict::Reject) {
            tracing::warn!(service = "p2p", event = "sync_rejected", peer = %peer, author = %author);
            return;
        }
        if n < limit as usize {
            return;
        }
        from += n as u64;
    }
}

/// Peers compared with in one anti-entropy round.
const SYNC_FANOUT: usize = 2;

/// Anti-entropy: every interval, compare chain heads with the next
/// [`SYNC_FANOUT`] connected peers in turn, so each peer is compared with
/// every `peers / SYNC_FANOUT` intervals and a record that gossip did not
/// bring spreads from node to node like gossip itself. A new connection is
/// compared at once (`PeerConnected`), which is what heals a partition. One
/// round with every peer cost a libp2p stream per peer per interval: about a
/// quarter of an idle node's CPU (decisions/0016, session 12).
async fn anti_entropy(fed: Arc<Federation>, node: Arc<Node>, every: Duration) {
    let mut next = 0usize;
    loop {
        tokio::time::sleep(every).await;
        let mut peers: Vec<PeerId> = lock(&fed.peers).iter().copied().collect();
        peers.sort_unstable();
        lock(&fed.previous_heads).retain(|p, _| peers.contains(p));
        for p in rotation(&peers, &mut next, SYNC_FANOUT) {
            catch_up(&fed, &node, p, true).await;
        }
    }
}

/// The next `n` of `peers` after `next` (wrapping), and `next` moved past them.
fn rotation(peers: &[PeerId], next: &mut usize, n: usize) -> Vec<PeerId> {
    if peers.is_empty() {
        return Vec::new();
    }
    let start = *next % peers.len();
    let take = n.min(peers.len());
    *next = start + take;
    (0..take).map(|i| peers[(start + i) % peers.len()]).collect()
}

/// Witness, as this node, the birth a peer is minting: only when this node
/// holds the witness role in that society now, and only for a binding whose
/// proof verifies (a witness attests what it checked, not a bare hash).
fn attest(node: &Node, society: &str, binding: &str) -> SyncResponse {
    use web4_core::witness::{Attestation, WitnessClass};
    let soc = node.society();
    if society != soc.id.as_str() {
        return SyncResponse::Error(format!("not a node of {society}"));
    }
    let now = node.now();
    let is_witness = node.reads.with(|c| Ok(crate::services::checks::witness_key(c, &soc.id, &node.id, now).is_some()));
    if !matches!(is_witness, Ok(true)) {
        return SyncResponse::Error("this node is not a witness of the society".into());
    }
    let binding: web4_core::lct::Binding = match serde_json::from_str(binding) {
        Ok(b) => b,
        Err(e) => return SyncResponse::Error(format!("binding: {e}")),
    };
    let id = binding.lct_id();
    if let Err(e) = binding.verify(&id) {
        return SyncResponse::Error(format!("binding of {id} does not verify: {e}"));
    }
    if binding.created_at > now.plus(node.max_skew) {
        return SyncResponse::Error("binding created in the future".into());
    }
    let nonce = match crate::keystore::random_bytes::<16>() {
        Ok(b) => data_encoding::BASE64URL_NOPAD.encode(&b),
        Err(e) => return SyncResponse::Error(format!("rng: {e}")),
    };
    match Attestation::sign(
        &node.key,
        node.id.clone(),
        WitnessClass::Existence,
        binding.event_hash(&soc.id),
        now,
        nonce,
    )
    .ok()
    .and_then(|a| serde_json::to_string(&a).ok())
    {
        Some(a) => SyncResponse::Attestation(a),
        None => SyncResponse::Error("cannot sign the attestation".into()),
    }
}

impl Federation {
    /// Ask every connected peer to witness the birth of `binding` (at most
    /// 3 s); the attestations are returned for the caller to recount — none is
    /// trusted here.
    pub async fn gather_witnesses(
        &self,
        society: &web4_core::LctId,
        binding: &web4_core::lct::Binding,
    ) -> Vec<web4_core::witness::Attestation> {
        let Ok(text) = serde_json::to_string(binding) else { return Vec::new() };
        let peers: Vec<PeerId> = lock(&self.peers).iter().copied().collect();
        let mut asks = tokio::task::JoinSet::new();
        for p in peers {
            let (handle, req) =
                (self.handle.clone(), SyncRequest::Attest { society: society.to_string(), binding: text.clone() });
            asks.spawn(async move { tokio::time::timeout(Duration::from_secs(3), handle.sync(p, req)).await });
        }
        let mut out = Vec::new();
        while let Some(r) = asks.join_next().await {
            if let Ok(Ok(Ok(SyncResponse::Attestation(a)))) = r
                && let Ok(a) = serde_json::from_str(&a)
            {
                out.push(a);
            }
        }
        out
    }
}

/// The libp2p peer id of a node LCT: its Ed25519 key is the node's libp2p
/// identity (decisions/0016).
pub fn peer_of(node: &Node, lct: &str) -> Option<PeerId> {
    let row = node.reads.with(|c| crate::ledger::load_signer(c, lct)).ok()??;
    let pk = libp2p::identity::ed25519::PublicKey::try_from_bytes(&row.public_key.to_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(pk).to_peer_id())
}

fn update_lag(fed: &Federation, node: &Node) {
    let ours = local_heads(node);
    let lag: u64 =
        lock(&fed.remote_heads).iter().map(|(a, s)| s.saturating_sub(ours.get(a).copied().unwrap_or(0))).sum();
    node.metrics.sync_lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
    // Refusals a later record of their author passed are over, and so are
    // those of records dated after the node's key stopped signing (revoked
    // or rotated since: such records never apply, and its chain ends there;
    // decisions/0027).
    let stops: HashMap<String, web4_core::Timestamp> = {
        let authors: Vec<String> = lock(&fed.refusals).keys().cloned().collect();
        authors
            .into_iter()
            .filter_map(|a| {
                let row = node.reads.with(|c| crate::ledger::load_signer(c, &a)).ok().flatten()?;
                let ended =
                    matches!(row.status, web4_core::lct::LctStatus::Revoked | web4_core::lct::LctStatus::Superseded);
                ended.then_some((a, row.since))
            })
            .collect()
    };
    let mut refusals = lock(&fed.refusals);
    refusals.retain(|a, r| r.seq > ours.get(a).copied().unwrap_or(0) && stops.get(a).is_none_or(|s| r.dated < *s));
    node.metrics.refused_chains.set(i64::try_from(refusals.len()).unwrap_or(i64::MAX));
}

impl Federation {
    /// Stop the tasks and drop the router (which holds the node), so that
    /// the node, and with it the writer, can close at shutdown.
    pub fn stop(&self) {
        lock(&self.router).take();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }

    /// `GET /v1/p2p/chains`: every author's chain that is not whole here —
    /// behind what peers hold, with records parked after a gap or waiting for
    /// something not here yet, or stopped by a refusal of its next record —
    /// stopped ones first, then the most behind (at most `limit`).
    pub fn chains(&self, node: &Node, limit: usize) -> serde_json::Value {
        #[derive(Default)]
        struct Chain {
            seen: u64,
            parked: Vec<u64>,
            waiting: Vec<serde_json::Value>,
        }
        let heads = local_heads(node);
        let mut chains: std::collections::BTreeMap<String, Chain> = std::collections::BTreeMap::new();
        for (a, s) in lock(&self.remote_heads).iter() {
            if *s > heads.get(a).copied().unwrap_or(0) {
                chains.entry(a.clone()).or_default().seen = *s;
            }
        }
        {
            let escrow = lock(&self.escrow);
            for (a, parked) in &escrow.by_author {
                chains.entry(a.clone()).or_default().parked = parked.keys().copied().collect();
            }
            for u in &escrow.unknown {
                let Some((a, seq)) = u.id.clone() else { continue };
                chains.entry(a).or_default().waiting.push(json!({
                    "seq": seq,
                    "for": u.waits.to_string(),
                    "since_secs": u.since.elapsed().as_secs(),
                }));
            }
        }
        let refusals: HashMap<String, Refusal> = lock(&self.refusals)
            .iter()
            .filter(|(a, r)| r.seq > heads.get(*a).copied().unwrap_or(0))
            .map(|(a, r)| (a.clone(), r.clone()))
            .collect();
        for a in refusals.keys() {
            chains.entry(a.clone()).or_default();
        }
        // Stopped chains first, then the most behind (the map is by author).
        let lag = |a: &String, c: &Chain| c.seen.saturating_sub(heads.get(a).copied().unwrap_or(0));
        let mut order: Vec<(String, Chain)> = chains.into_iter().collect();
        order.sort_by_key(|(a, c)| std::cmp::Reverse((refusals.contains_key(a), lag(a, c))));
        let total = order.len();
        let rows: Vec<serde_json::Value> = order
            .into_iter()
            .take(limit)
            .map(|(a, c)| {
                let head = heads.get(&a).copied().unwrap_or(0);
                let refused =
                    refusals.get(&a).map(|r| json!({"seq": r.seq, "kind": r.kind, "reason": r.reason, "at": r.at}));
                json!({
                    "author": a, "head": head, "seen": c.seen.max(head), "lag": lag(&a, &c),
                    "parked": c.parked, "waiting": c.waiting, "refused": refused,
                })
            })
            .collect();
        json!({ "chains": rows, "total": total, "refused": refusals.len(), "escrow": lock(&self.escrow).len })
    }

    /// What `GET /v1/p2p/peers` and `/ready` show.
    pub async fn status(&self) -> serde_json::Value {
        let peers = self.handle.peers().await.unwrap_or_default();
        let listen: Vec<String> =
            self.handle.listeners().await.unwrap_or_default().into_iter().map(|a| a.to_string()).collect();
        let stats = self.handle.stats().await.unwrap_or_default();
        json!({
            "peer_id": self.handle.peer_id.to_string(),
            "listen": listen,
            "topic": self.topic,
            "peers": peers,
            "gossip": stats,
            "escrow": lock(&self.escrow).len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal kept per author is the one that stops its chain: the
    /// lowest seq beyond the head; once the head passed it, a later one
    /// replaces it. When full, the oldest note gives way.
    #[test]
    fn the_refusal_kept_is_the_one_that_stops_the_chain() {
        let note = |seq: u64, at: i64| Refusal {
            seq,
            dated: web4_core::Timestamp(at),
            kind: "graph.triple".into(),
            reason: format!("seq {seq}"),
            at: web4_core::Timestamp(at),
        };
        let mut r = HashMap::new();
        keep_refusal_within(&mut r, ("a", 4), note(5, 100), 2);
        keep_refusal_within(&mut r, ("a", 4), note(6, 101), 2);
        assert_eq!(r["a"].seq, 5, "seq 6 waits behind seq 5");
        keep_refusal_within(&mut r, ("a", 4), note(5, 102), 2);
        assert_eq!(r["a"].at, web4_core::Timestamp(102), "the same seq refused again: the newer reason");
        keep_refusal_within(&mut r, ("a", 9), note(10, 103), 2);
        assert_eq!(r["a"].seq, 10, "the head passed seq 5");
        keep_refusal_within(&mut r, ("b", 0), note(1, 104), 2);
        keep_refusal_within(&mut r, ("c", 0), note(1, 105), 2);
        let mut kept: Vec<&String> = r.keys().collect();
        kept.sort();
        assert_eq!(kept, ["b", "c"], "full: the oldest note (a's) gave way");
        keep_refusal_within(&mut r, ("b", 1), note(1, 106), 2);
        assert_eq!(r["b"].at, web4_core::Timestamp(104), "a record at the head (an equivocation) stops nothing");
    }

    #[test]
    fn records_of_unknown_authors_are_bounded_per_sender_and_in_time() {
        let mut e = Escrow::default();
        let (hostile, honest) = (Some(PeerId::random()), Some(PeerId::random()));
        let t0 = std::time::Instant::now();
        let w = Wait::Law(web4_core::Hash::ZERO);
        for i in 0..UNKNOWN_PER_SENDER + 10 {
            e.put_unknown(format!("junk {i}"), w.clone(), hostile, t0);
        }
        assert_eq!(e.len, UNKNOWN_PER_SENDER, "one sender fills only its share");
        e.put_unknown("real".into(), w.clone(), honest, t0 + Duration::from_secs(30));
        e.put_unknown("from sync".into(), w, None, t0 + Duration::from_secs(30));
        assert_eq!(e.len, UNKNOWN_PER_SENDER + 2, "others still get in");
        // Past the wait, the first sender's records are gone; the later ones stay.
        let left = e.take_unknown(t0 + UNKNOWN_TTL + Duration::from_secs(1));
        assert_eq!(e.len, 0);
        let texts: Vec<&str> = left.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, ["real", "from sync"]);
        // Parked again, they keep when they came (and expire on time).
        e.restore_unknown(left);
        assert_eq!(e.len, 2);
        assert!(e.take_unknown(t0 + Duration::from_secs(30) + UNKNOWN_TTL + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn anti_entropy_rotation_visits_every_peer_in_turn() {
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let mut next = 0;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let round = rotation(&peers, &mut next, 2);
            assert_eq!(round.len(), 2);
            seen.extend(round);
        }
        // Three rounds of two over five peers: all five, then the first again.
        assert_eq!(seen[..5], peers[..]);
        assert_eq!(seen[5], peers[0]);
        // Fewer peers than the fanout: each once; none: nothing.
        assert_eq!(rotation(&peers[..1], &mut next, 2), vec![peers[0]]);
        assert!(rotation(&[], &mut next, 2).is_empty());
        // A peer set that shrank below the cursor still wraps.
        let mut far = 17;
        assert_eq!(rotation(&peers[..3], &mut far, 2), vec![peers[2], peers[0]]);
    }
}
