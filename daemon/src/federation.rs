//! Federation: the daemon's side of `web4-p2p` (docs/decisions/0016).
//!
//! Outbound, every record this node authors is gossiped on its society's
//! ledger topic once its group committed. Inbound, a record takes the same
//! road as a local write (`ledger::accept_foreign` on the writer): signature,
//! chain link, author status, law hash, apply. Records that arrive before
//! their predecessor, or before the record registering their author, wait in a
//! bounded escrow while sync fetches the gap. Sync runs on every new
//! connection and every `p2p_sync_interval_secs` (anti-entropy): compare chain
//! heads, fetch what is missing, in bounded pages.

use crate::config::Config;
use crate::ledger::Foreign;
use crate::services::Node;
use libp2p::{Multiaddr, PeerId};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use web4_p2p::{Event, Handle, MAX_SYNC_RECORDS, SyncRequest, SyncResponse, Verdict};

/// Most records held in escrow; beyond it the oldest author's are dropped
/// (sync fetches them again).
pub const ESCROW_MAX: usize = 4096;

/// Records waiting for a gap to fill, by author then seq.
#[derive(Debug, Default)]
struct Escrow {
    by_author: HashMap<String, BTreeMap<u64, String>>,
    /// Records whose author is not known yet.
    unknown: Vec<String>,
    len: usize,
}

impl Escrow {
    fn put(&mut self, author: &str, seq: u64, text: String) {
        if self.len >= ESCROW_MAX {
            return;
        }
        if self.by_author.entry(author.to_owned()).or_default().insert(seq, text).is_none() {
            self.len += 1;
        }
    }

    fn put_unknown(&mut self, text: String) {
        if self.len < ESCROW_MAX {
            self.unknown.push(text);
            self.len += 1;
        }
    }

    /// The next record of `author` after `seq`, if waiting.
    fn take_next(&mut self, author: &str, seq: u64) -> Option<String> {
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

    fn take_unknown(&mut self) -> Vec<String> {
        self.len -= self.unknown.len();
        std::mem::take(&mut self.unknown)
    }
}

/// The running federation.
pub struct Federation {
    pub handle: Handle,
    pub topic: String,
    escrow: Mutex<Escrow>,
    peers: Mutex<HashSet<PeerId>>,
    /// Highest chain head seen at any peer, by author (for the sync lag).
    remote_heads: Mutex<HashMap<String, u64>>,
    /// Gaps to fetch: (peer, author, from seq), served by one task.
    gaps: mpsc::UnboundedSender<(PeerId, String, u64)>,
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
        },
    )?;
    let topic = web4_p2p::ledger_topic(&node.society().id);
    let (gaps, mut gap_rx) = mpsc::unbounded_channel();
    let fed = Arc::new(Federation {
        handle,
        topic: topic.clone(),
        escrow: Mutex::new(Escrow::default()),
        peers: Mutex::new(HashSet::new()),
        remote_heads: Mutex::new(HashMap::new()),
        gaps,
    });
    {
        let (fed, node) = (Arc::clone(&fed), Arc::clone(node));
        tokio::spawn(async move {
            while let Some((peer, author, from)) = gap_rx.recv().await {
                fetch_chain(&fed, &node, peer, &author, from).await;
            }
        });
    }
    {
        let fed = Arc::clone(&fed);
        tokio::spawn(async move {
            if let Err(e) = fed.handle.subscribe(fed.topic.clone()).await {
                tracing::error!(service = "p2p", event = "subscribe_failed", error = %e);
            }
        });
    }
    tokio::spawn(publish_loop(Arc::clone(&fed), Arc::clone(node), outbox));
    tokio::spawn(event_loop(Arc::clone(&fed), Arc::clone(node), events));
    tokio::spawn(anti_entropy(Arc::clone(&fed), Arc::clone(node), Duration::from_secs(cfg.p2p_sync_interval_secs)));
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
                let verdict = if topic != fed.topic {
                    Verdict::Reject
                } else {
                    match String::from_utf8(data) {
                        Ok(text) => ingest(&fed, &node, text, Some(source)).await,
                        Err(_) => Verdict::Reject,
                    }
                };
                if verdict == Verdict::Reject {
                    node.metrics.gossip_rejected.inc();
                }
                let _ = fed.handle.report(id, source, verdict).await;
            }
            Event::SyncRequest { peer: _, request, channel } => {
                let response = answer(&node, request);
                let _ = fed.handle.respond(channel, response).await;
            }
            Event::PeerConnected(p) => {
                lock(&fed.peers).insert(p);
                node.metrics.p2p_peers.set(i64::try_from(lock(&fed.peers).len()).unwrap_or(i64::MAX));
                let (fed, node) = (Arc::clone(&fed), Arc::clone(&node));
                tokio::spawn(async move { catch_up(&fed, &node, p).await });
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

/// Verify and apply one record on the writer; park it when it cannot apply
/// yet; then apply whatever it unblocked.
async fn ingest(fed: &Arc<Federation>, node: &Arc<Node>, text: String, source: Option<PeerId>) -> Verdict {
    let first = apply_one(node, &text).await;
    let verdict = match &first {
        Ok(Foreign::Applied { .. }) => Verdict::Accept,
        Ok(Foreign::Duplicate) => Verdict::Ignore,
        Ok(Foreign::Gap { have }) => {
            if let Some((author, seq)) = author_seq(&text) {
                lock(&fed.escrow).put(&author, seq, text.clone());
                if let Some(peer) = source {
                    let _ = fed.gaps.send((peer, author, have + 1));
                }
            }
            Verdict::Ignore
        }
        Ok(Foreign::UnknownAuthor) => {
            lock(&fed.escrow).put_unknown(text.clone());
            Verdict::Ignore
        }
        Ok(Foreign::Rejected(why)) => {
            tracing::warn!(service = "p2p", event = "record_rejected", peer = ?source.map(|p| p.to_string()), reason = %why);
            Verdict::Reject
        }
        Err(e) => {
            tracing::warn!(service = "p2p", event = "record_not_applied", error = %e);
            Verdict::Ignore
        }
    };
    if verdict == Verdict::Accept
        && let Some((author, seq)) = author_seq(&text)
    {
        drain(fed, node, author, seq).await;
    }
    node.metrics.escrow_size.set(i64::try_from(lock(&fed.escrow).len).unwrap_or(i64::MAX));
    verdict
}

/// Apply escrowed successors of (author, seq) and retry unknown-author records.
async fn drain(fed: &Arc<Federation>, node: &Arc<Node>, author: String, seq: u64) {
    let mut work = vec![(author, seq)];
    while let Some((a, s)) = work.pop() {
        let next = lock(&fed.escrow).take_next(&a, s);
        if let Some(t) = next
            && let Ok(Foreign::Applied { .. }) = apply_one(node, &t).await
        {
            work.push((a, s + 1));
        }
        let waiting = lock(&fed.escrow).take_unknown();
        for t in waiting {
            match apply_one(node, &t).await {
                Ok(Foreign::Applied { .. }) => {
                    if let Some(x) = author_seq(&t) {
                        work.push(x);
                    }
                }
                Ok(Foreign::UnknownAuthor) => lock(&fed.escrow).put_unknown(t),
                Ok(Foreign::Gap { .. }) => {
                    if let Some((a2, s2)) = author_seq(&t) {
                        lock(&fed.escrow).put(&a2, s2, t);
                    }
                }
                _ => {}
            }
        }
    }
}

fn author_seq(text: &str) -> Option<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some((v["author"].as_str()?.to_owned(), v["seq"].as_u64()?))
}

async fn apply_one(node: &Arc<Node>, text: &str) -> Result<Foreign, crate::error::ApiError> {
    let text = text.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: crate::store::writer::Job = Box::new(move |ctx| {
        let outcome = ctx.apply_foreign(&text)?;
        let _ = tx.send(outcome);
        Ok(json!(null))
    });
    node.writer.submit(job).await?;
    rx.await.map_err(|_| crate::error::ApiError::internal("federation", "writer dropped the outcome"))
}

/// Answer a peer's sync question from the store.
fn answer(node: &Node, request: SyncRequest) -> SyncResponse {
    let r = node.reads.with(|c| match &request {
        SyncRequest::Heads => {
            let mut st = c.prepare("SELECT author, seq FROM chain_heads ORDER BY author")?;
            let heads = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SyncResponse::Heads(heads))
        }
        SyncRequest::Records { author, from_seq, limit } => {
            let limit = (*limit).min(MAX_SYNC_RECORDS);
            let mut st =
                c.prepare("SELECT record FROM ledger WHERE author = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")?;
            let recs = st
                .query_map(rusqlite::params![author, i64::try_from(*from_seq).unwrap_or(i64::MAX), limit], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SyncResponse::Records(recs))
        }
    });
    r.unwrap_or_else(|e| SyncResponse::Error(e.to_string()))
}

fn local_heads(node: &Node) -> HashMap<String, u64> {
    node.reads
        .with(|c| {
            let mut st = c.prepare("SELECT author, seq FROM chain_heads")?;
            let v = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))?
                .collect::<Result<HashMap<_, _>, _>>()?;
            Ok(v)
        })
        .unwrap_or_default()
}

/// Compare heads with `peer` and fetch every chain it is ahead on.
async fn catch_up(fed: &Arc<Federation>, node: &Arc<Node>, peer: PeerId) {
    let Ok(SyncResponse::Heads(theirs)) = fed.handle.sync(peer, SyncRequest::Heads).await else { return };
    {
        let mut rh = lock(&fed.remote_heads);
        for (a, s) in &theirs {
            let e = rh.entry(a.clone()).or_insert(0);
            *e = (*e).max(*s);
        }
    }
    let ours = local_heads(node);
    // Chains are fetched in the peer's order; a record whose author arrives
    // in a later chain waits in escrow and is retried after each chain.
    for (author, seq) in theirs {
        let have = ours.get(&author).copied().unwrap_or(0);
        if seq > have {
            fetch_chain(fed, node, peer, &author, have + 1).await;
        }
    }
    update_lag(fed, node);
}

/// Fetch `author`'s records from `from` on, page by page, applying each.
async fn fetch_chain(fed: &Arc<Federation>, node: &Arc<Node>, peer: PeerId, author: &str, mut from: u64) {
    loop {
        let req = SyncRequest::Records { author: author.to_owned(), from_seq: from, limit: MAX_SYNC_RECORDS };
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
        for text in recs {
            match ingest(fed, node, text, None).await {
                Verdict::Reject => return,
                Verdict::Accept | Verdict::Ignore => {}
            }
            from += 1;
        }
        if n < MAX_SYNC_RECORDS as usize {
            return;
        }
    }
}

/// Anti-entropy: catch up with every connected peer periodically (this is
/// what heals a partition once connections return).
async fn anti_entropy(fed: Arc<Federation>, node: Arc<Node>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let peers: Vec<PeerId> = lock(&fed.peers).iter().copied().collect();
        for p in peers {
            catch_up(&fed, &node, p).await;
        }
    }
}

fn update_lag(fed: &Federation, node: &Node) {
    let ours = local_heads(node);
    let lag: u64 =
        lock(&fed.remote_heads).iter().map(|(a, s)| s.saturating_sub(ours.get(a).copied().unwrap_or(0))).sum();
    node.metrics.sync_lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
}

impl Federation {
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
