//! Web4 federation over libp2p: the network half of a node.
//!
//! One swarm per node, identified by the node's Ed25519 key: TCP and QUIC
//! transports with Noise and Yamux, identify, ping, Kademlia (bootstrap peers
//! from the configuration), optional mDNS, gossipsub with unsigned envelopes
//! (every record carries its author's signature; decisions/0022) and
//! per-society topics, and a bounded request-response sync protocol for
//! catch-up and anti-entropy ([`SyncRequest`]).
//!
//! This crate knows nothing of SQLite or of what a valid record is: inbound
//! messages come out as [`Event`]s, and the daemon reports each gossip
//! message's validation result back ([`Handle::report`]) so gossipsub
//! forwards only what the daemon accepted and scores down peers that send
//! invalid records.
#![forbid(unsafe_code)]

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify, mdns, noise, ping, tcp, yamux};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Protocol of the record sync (request-response, JSON).
pub const SYNC_PROTOCOL: &str = "/web4/sync/1";
/// Largest gossip message (one ledger record).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most records in one sync answer.
pub const MAX_SYNC_RECORDS: u32 = 512;

/// Gossipsub topic carrying a society's ledger records. Version 2: unsigned
/// gossipsub envelopes (version 1 carried a libp2p signature on every
/// message; nodes of the two versions do not share a topic and meet only
/// through sync, decisions/0022).
pub fn ledger_topic(society: &web4_core::LctId) -> String {
    format!("web4/{society}/ledger/2")
}

/// The society's evidence topic: pairs of records proving equivocation.
pub fn evidence_topic(society: &web4_core::LctId) -> String {
    format!("web4/{society}/evidence/2")
}

/// Network settings (from the daemon's configuration).
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`, `/ip4/0.0.0.0/udp/4001/quic-v1`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to seed Kademlia; each ends in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Largest gossip message accepted or sent.
    pub max_message_bytes: usize,
    /// Most topics one peer may subscribe to (a cap on what a peer can make us track).
    pub max_topics_per_peer: usize,
    /// Gossipsub mesh degree D: how many peers each message is pushed to
    /// ([`mesh_bounds`]). Every copy a node receives is decrypted, decoded
    /// and hashed before it is recognised as a duplicate, so D trades
    /// redundancy against CPU ([`DEFAULT_MESH_DEGREE`]).
    pub mesh_degree: usize,
}

/// The mesh degree we run with: lower than gossipsub's 6 because every
/// duplicate copy costs work on receipt (docs/decisions/0016,
/// docs/benchmarks.md).
pub const DEFAULT_MESH_DEGREE: usize = 4;

/// (D_low, D, D_high, D_out) for a mesh degree D: gossipsub requires
/// D_out ≤ D_low ≤ D ≤ D_high and 2·D_out ≤ D.
pub fn mesh_bounds(d: usize) -> (usize, usize, usize, usize) {
    let d = d.clamp(1, 12);
    ((d - 1).max(1), d, 2 * d, (d / 2).min(2))
}

/// A sync question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRequest {
    /// The head (last seq) of every chain the peer holds.
    Heads,
    /// `author`'s records from `from_seq` on, at most `limit` ([`MAX_SYNC_RECORDS`]).
    Records { author: String, from_seq: u64, limit: u32 },
    /// A client's signed HTTP request for an object the peer owns, to be
    /// decided there (one writer per mutable object).
    Forward(HttpExchange),
    /// Witness the birth of the LCT whose binding (JSON) is given, in
    /// `society`: a peer holding the witness role answers with its signed
    /// attestation of the binding's existence event.
    Attest { society: String, binding: String },
}

/// An HTTP request or answer carried between nodes verbatim (the client's
/// signature covers method, path, body, nonce and timestamp, not the host, so
/// the owner verifies it as if the client had called it directly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// Method for a request; the status code as text for an answer.
    pub method: String,
    /// Path and query for a request; empty for an answer.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A sync answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResponse {
    Heads(Vec<(String, u64)>),
    /// Record texts (the ledger's wire form), in seq order.
    Records(Vec<String>),
    /// The owner's answer to a [`SyncRequest::Forward`].
    Forwarded(HttpExchange),
    /// A witness attestation (JSON), the answer to [`SyncRequest::Attest`].
    Attestation(String),
    Error(String),
}

/// What the network tells the daemon.
#[derive(Debug)]
pub enum Event {
    /// A gossip message to validate; answer with [`Handle::report`].
    Gossip {
        source: PeerId,
        id: MessageId,
        topic: String,
        data: Vec<u8>,
    },
    /// A peer asks; answer with [`Handle::respond`].
    SyncRequest {
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    },
    /// A connection to a new peer is up (a good moment to catch up).
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
}

/// How a gossip message was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and applied: forward it.
    Accept,
    /// Invalid (forged, wrong chain, wrong law…): drop and penalise the sender.
    Reject,
    /// Not applicable now (duplicate, out of order): drop without penalty.
    Ignore,
}

/// One connected peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addresses: Vec<String>,
    /// Gossipsub peer score (see docs/decisions/0016).
    pub score: Option<f64>,
    pub protocol_version: Option<String>,
}

/// Counters of the gossip traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub gossip_in: u64,
    pub gossip_out: u64,
    pub gossip_rejected: u64,
}

/// Whether a failed request may have reached the peer: only a dial failure
/// or a protocol the peer does not speak prove that it did not.
pub fn maybe_delivered(e: &request_response::OutboundFailure) -> bool {
    !matches!(
        e,
        request_response::OutboundFailure::DialFailure | request_response::OutboundFailure::UnsupportedProtocols
    )
}

/// Why the network could not start or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("p2p key: {0}")]
    Key(String),
    #[error("p2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: String },
    #[error("gossipsub: {0}")]
    Gossip(String),
    /// A request to a peer failed. `maybe_delivered`: the peer may have
    /// received it (the connection closed or timed out after sending), as
    /// opposed to a dial failure or a protocol the peer does not speak.
    #[error("sync with {peer}: {error}")]
    Sync { peer: String, error: String, maybe_delivered: bool },
    #[error("the p2p task has stopped")]
    Stopped,
}

enum Command {
    Subscribe(String),
    Publish { topic: String, data: Vec<u8>, reply: oneshot::Sender<Result<(), P2pError>> },
    Report { id: MessageId, source: PeerId, verdict: Verdict },
    Sync { peer: PeerId, request: SyncRequest, reply: oneshot::Sender<Result<SyncResponse, P2pError>> },
    Respond { channel: ResponseChannel<SyncResponse>, response: SyncResponse },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Stats(oneshot::Sender<Stats>),
    Listeners(oneshot::Sender<Vec<Multiaddr>>),
    Dial(Multiaddr),
    Block(PeerId, bool),
}

/// The daemon's side of the network task.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    pub peer_id: PeerId,
}

impl Handle {
    async fn send(&self, c: Command) -> Result<(), P2pError> {
        self.tx.send(c).await.map_err(|_| P2pError::Stopped)
    }

    /// Join a topic.
    pub async fn subscribe(&self, topic: String) -> Result<(), P2pError> {
        self.send(Command::Subscribe(topic)).await
    }

    /// Publish `data` on `topic`. Having no peers yet is not an error (sync
    /// brings them the record later).
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<(), P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { topic, data, reply }).await?;
        rx.await.map_err(|_| P2pError::Stopped)?
    }

    /// Report the validation result of a gossip message.
    pub async fn report(&self, id: MessageId, source: PeerId, verdict: Verdict) -> Result<(), P2pError> {
        self.send(Command::Report { id, source, verdict }).await
    }

    /// Ask `peer` a sync question.
    pub async fn sync(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Sync { peer, request, reply }).await?;
        rx.await.map_err(|_| P2pError::Stopped)?
    }

    /// Answer a peer's sync question.
    pub async fn respond(
        &self,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    ) -> Result<(), P2pError> {
        self.send(Command::Respond { channel, response }).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers(reply)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Gossip counters.
    pub async fn stats(&self) -> Result<Stats, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats(reply)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Addresses we listen on (with the actual ports).
    pub async fn listeners(&self) -> Result<Vec<Multiaddr>, P2pError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Listeners(reply)).await?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Dial an address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), P2pError> {
        self.send(Command::Dial(addr)).await
    }

    /// Block a peer (its connections close and it cannot reconnect) or lift the block.
    pub async fn block(&self, peer: PeerId, blocked: bool) -> Result<(), P2pError> {
        self.send(Command::Block(peer, blocked)).await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour<
        gossipsub::IdentityTransform,
        gossipsub::MaxCountSubscriptionFilter<gossipsub::AllowAllSubscriptionFilter>,
    >,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    sync: request_response::json::Behaviour<SyncRequest, SyncResponse>,
    blocked: libp2p::allow_block_list::Behaviour<libp2p::allow_block_list::BlockedPeers>,
}

/// Peer-score parameters (docs/decisions/0016): invalid records weigh heavily,
/// so a peer that sends a few forged records falls below the gossip and
/// publish thresholds and then the graylist.
fn score_params() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let params = gossipsub::PeerScoreParams {
        // Topic parameters are added per subscribed topic (topic_params).
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0, // every test peer is on loopback
        behaviour_penalty_weight: -10.0,
        behaviour_penalty_decay: 0.9,
        decay_interval: Duration::from_secs(1),
        decay_to_zero: 0.01,
        retain_score: Duration::from_secs(3600),
        ..Default::default()
    };
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

/// Score parameters of one society topic.
fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P1: time in mesh, small positive.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        // P2: first deliveries of valid records.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        // P3 (mesh delivery deficit) off: record traffic is bursty.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: every invalid record costs -20 (squared counter), decaying slowly.
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    }
}

/// Gossipsub settings. Envelopes are anonymous: no author, sequence number
/// or libp2p signature. Every message is a ledger record (or a pair of them)
/// signed by its LCT author and checked by the daemon before it is
/// forwarded, so a second signature by the publishing peer proved nothing
/// the daemon uses, and verifying it on every received copy (before
/// gossipsub can tell the copy is a duplicate) was a seventh of a node's CPU
/// under load (decisions/0022). A message that carries those fields is
/// invalid here and costs its sender score.
fn gossip_config(max: usize, mesh: (usize, usize, usize, usize)) -> Result<gossipsub::Config, String> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(max)
        .heartbeat_interval(Duration::from_millis(500))
        .mesh_n_low(mesh.0)
        .mesh_n(mesh.1)
        .mesh_n_high(mesh.2)
        .mesh_outbound_min(mesh.3)
        // The record hash is the message id: the same record from two
        // peers is one message.
        .message_id_fn(|m: &gossipsub::Message| {
            use sha2::Digest;
            MessageId::from(sha2::Sha256::digest(&m.data).to_vec())
        })
        .build()
        .map_err(|e| e.to_string())
}

fn keypair(seed: [u8; 32]) -> Result<Keypair, P2pError> {
    let mut s = seed;
    Keypair::ed25519_from_bytes(&mut s).map_err(|e| P2pError::Key(e.to_string()))
}

/// The libp2p peer id of a node key.
pub fn peer_id_of(seed: [u8; 32]) -> Result<PeerId, P2pError> {
    Ok(keypair(seed)?.public().to_peer_id())
}

/// Start the swarm with the node key `seed`. Returns the handle and the
/// stream of inbound events; the swarm runs until the handle's last clone is
/// dropped.
pub fn start(seed: [u8; 32], cfg: Config) -> Result<(Handle, mpsc::Receiver<Event>), P2pError> {
    let key = keypair(seed)?;
    let peer_id = key.public().to_peer_id();
    let max = cfg.max_message_bytes;
    let max_topics = cfg.max_topics_per_peer;
    let mdns_on = cfg.mdns;
    let mesh = mesh_bounds(cfg.mesh_degree);
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_quic()
        .with_behaviour(|key| {
            let gcfg = gossip_config(max, mesh)?;
            let filter = gossipsub::MaxCountSubscriptionFilter {
                filter: gossipsub::AllowAllSubscriptionFilter {},
                max_subscribed_topics: max_topics,
                max_subscriptions_per_request: max_topics,
            };
            let mut gs = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Anonymous,
                gcfg,
                filter,
            )
            .map_err(|e| e.to_string())?;
            let (p, t) = score_params();
            gs.with_peer_score(p, t).map_err(|e| e.to_string())?;
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())?)
            } else {
                None
            };
            let mut kad = kad::Behaviour::new(key.public().to_peer_id(), MemoryStore::new(key.public().to_peer_id()));
            kad.set_mode(Some(kad::Mode::Server));
            Ok(Behaviour {
                gossipsub: gs,
                identify: identify::Behaviour::new(identify::Config::new("/web4/1".into(), key.public())),
                ping: ping::Behaviour::new(ping::Config::new()),
                kad,
                mdns: Toggle::from(mdns),
                sync: request_response::json::Behaviour::new(
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(Duration::from_secs(15)),
                ),
                blocked: libp2p::allow_block_list::Behaviour::default(),
            })
        })
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for addr in &cfg.listen {
        swarm.listen_on(addr.clone()).map_err(|e| P2pError::Listen { addr: addr.to_string(), error: e.to_string() })?;
    }
    for addr in &cfg.bootstrap {
        if let Some(libp2p::multiaddr::Protocol::P2p(p)) = addr.iter().last() {
            swarm.behaviour_mut().kad.add_address(&p, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(service = "p2p", event = "dial_failed", addr = %addr, error = %e);
        }
    }
    let (tx, rx) = mpsc::channel(1024);
    let (etx, erx) = mpsc::channel(4096);
    let task = Task {
        swarm,
        events: etx,
        pending: HashMap::new(),
        stats: Stats::default(),
        topics: HashSet::new(),
        bootstrap: cfg.bootstrap.clone(),
    };
    tokio::spawn(task.run(rx));
    Ok((Handle { tx, peer_id }, erx))
}

struct Task {
    swarm: Swarm<Behaviour>,
    events: mpsc::Sender<Event>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, P2pError>>>,
    stats: Stats,
    topics: HashSet<TopicHash>,
    /// Re-dialled while not connected (a healed partition reconnects).
    bootstrap: Vec<Multiaddr>,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c) => self.command(c),
                    None => break,
                },
                e = self.swarm.select_next_some() => self.swarm_event(e).await,
                _ = redial.tick() => self.redial(),
            }
        }
    }

    /// Dial bootstrap peers we are not connected to.
    fn redial(&mut self) {
        for addr in self.bootstrap.clone() {
            if let Some(libp2p::multiaddr::Protocol::P2p(p)) = addr.iter().last()
                && !self.swarm.is_connected(&p)
            {
                let _ = self.swarm.dial(addr);
            }
        }
    }

    fn command(&mut self, c: Command) {
        let b = self.swarm.behaviour_mut();
        match c {
            Command::Subscribe(t) => {
                let topic = IdentTopic::new(t);
                if b.gossipsub.subscribe(&topic).is_ok() {
                    let _ = b.gossipsub.set_topic_params(topic.clone(), topic_params());
                    self.topics.insert(topic.hash());
                }
            }
            Command::Publish { topic, data, reply } => {
                let r = match b.gossipsub.publish(IdentTopic::new(topic), data) {
                    Ok(_) => {
                        self.stats.gossip_out += 1;
                        Ok(())
                    }
                    // Nobody to send to yet, or already sent: sync covers both.
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::Duplicate) => {
                        Ok(())
                    }
                    Err(e) => Err(P2pError::Gossip(e.to_string())),
                };
                let _ = reply.send(r);
            }
            Command::Report { id, source, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => {
                        self.stats.gossip_rejected += 1;
                        MessageAcceptance::Reject
                    }
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                b.gossipsub.report_message_validation_result(&id, &source, acceptance);
            }
            Command::Sync { peer, request, reply } => {
                let id = b.sync.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                let _ = b.sync.send_response(channel, response);
            }
            Command::Peers(reply) => {
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                let gs = &self.swarm.behaviour().gossipsub;
                let info = peers
                    .into_iter()
                    .map(|p| PeerInfo {
                        peer_id: p.to_string(),
                        addresses: Vec::new(),
                        score: gs.peer_score(&p),
                        protocol_version: None,
                    })
                    .collect();
                let _ = reply.send(info);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats.clone());
            }
            Command::Listeners(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Block(peer, true) => {
                b.blocked.block_peer(peer);
            }
            Command::Block(peer, false) => {
                b.blocked.unblock_peer(peer);
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(service = "p2p", event = "dial_failed", addr = %addr, error = %e);
                }
            }
        }
    }

    async fn swarm_event(&mut self, e: SwarmEvent<BehaviourEvent>) {
        match e {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                self.stats.gossip_in += 1;
                let ev = Event::Gossip {
                    source: propagation_source,
                    id: message_id,
                    topic: message.topic.to_string(),
                    data: message.data,
                };
                let _ = self.events.send(ev).await;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. })) => {
                match message {
                    request_response::Message::Request { request, channel, .. } => {
                        let _ = self.events.send(Event::SyncRequest { peer, request, channel }).await;
                    }
                    request_response::Message::Response { request_id, response } => {
                        if let Some(reply) = self.pending.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            })) => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(P2pError::Sync {
                        peer: peer.to_string(),
                        error: error.to_string(),
                        maybe_delivered: maybe_delivered(&error),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                for a in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, a);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                for (peer, addr) in list {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } if num_established.get() == 1 => {
                let _ = self.events.send(Event::PeerConnected(peer_id)).await;
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                let _ = self.events.send(Event::PeerDisconnected(peer_id)).await;
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(service = "p2p", event = "listening", addr = %address);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dial_and_protocol_failures_prove_a_request_undelivered() {
        use request_response::OutboundFailure as F;
        assert!(!maybe_delivered(&F::DialFailure));
        assert!(!maybe_delivered(&F::UnsupportedProtocols));
        assert!(maybe_delivered(&F::Timeout));
        assert!(maybe_delivered(&F::ConnectionClosed));
        assert!(maybe_delivered(&F::Io(std::io::Error::other("reset"))));
    }

    #[test]
    fn envelopes_are_anonymous_and_ids_are_content_hashes() -> Result<(), String> {
        let c = gossip_config(DEFAULT_MAX_MESSAGE_BYTES, mesh_bounds(DEFAULT_MESH_DEGREE))?;
        assert!(matches!(c.validation_mode(), gossipsub::ValidationMode::Anonymous));
        // Anonymous envelopes with signing would be refused by gossipsub
        // itself; the pair we run with is accepted.
        assert!(
            gossipsub::Behaviour::<gossipsub::IdentityTransform, gossipsub::AllowAllSubscriptionFilter>::new(
                gossipsub::MessageAuthenticity::Anonymous,
                c,
            )
            .is_ok()
        );
        Ok(())
    }

    /// Two nodes on loopback: a record published on one arrives on the
    /// other, unsigned, under the id SHA-256(data), from the publishing peer.
    #[tokio::test]
    async fn a_published_message_reaches_a_peer() -> Result<(), Box<dyn std::error::Error>> {
        let cfg = |bootstrap: Vec<Multiaddr>| Config {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}")).unwrap_or(Multiaddr::empty())],
            bootstrap,
            mdns: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_topics_per_peer: 8,
            mesh_degree: DEFAULT_MESH_DEGREE,
        };
        let (a, _a_events) = start([1; 32], cfg(vec![]))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listen = loop {
            if let Some(l) = a.listeners().await?.into_iter().next() {
                break l;
            }
            assert!(tokio::time::Instant::now() < deadline, "a never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (b, mut b_events) = start([2; 32], cfg(vec![listen.with(libp2p::multiaddr::Protocol::P2p(a.peer_id))]))?;
        let topic = "web4/test/ledger/2".to_owned();
        a.subscribe(topic.clone()).await?;
        b.subscribe(topic.clone()).await?;
        let data = b"{\"record\":\"one\"}".to_vec();
        // Nothing is sent until a knows that b subscribed.
        loop {
            a.publish(topic.clone(), data.clone()).await?;
            if a.stats().await?.gossip_out == 1 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "b's subscription never reached a");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let ev = tokio::time::timeout_at(deadline, b_events.recv()).await?.ok_or("b's events ended")?;
            if let Event::Gossip { source, id, topic: t, data: got } = ev {
                use sha2::Digest;
                assert_eq!(source, a.peer_id);
                assert_eq!(t, topic);
                assert_eq!(got, data);
                assert_eq!(id, MessageId::from(sha2::Sha256::digest(&data).to_vec()));
                b.report(id, source, Verdict::Accept).await?;
                break;
            }
        }
        assert_eq!(b.stats().await?.gossip_in, 1);
        Ok(())
    }
}
