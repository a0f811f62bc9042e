//! Federation over libp2p, real processes and sockets on loopback: nodes join
//! a society, gossip replicates records, a revocation on one node is enforced
//! on another, a late joiner catches up by sync.

use crate::harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use web4_core::lct::EntityType;

/// Config of a federating test node: loopback TCP on a free port, no mDNS
/// (other tests' nodes are on the same machine), fast anti-entropy.
fn p2p_config(bootstrap: &[String]) -> String {
    format!(
        "p2p_listen = [\"/ip4/127.0.0.1/tcp/0\"]\np2p_mdns = false\np2p_sync_interval_secs = 1\np2p_bootstrap = {}\n",
        serde_json::to_string(bootstrap).unwrap()
    )
}

/// `n`'s dialable address: its TCP listener and peer id.
/// A founding node with p2p on, and `joined` nodes that bootstrap from it.
async fn founder_and_peers(joined: usize) -> (TestNode, Vec<TestNode>) {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let mut peers = Vec::with_capacity(joined);
    for _ in 0..joined {
        peers.push(TestNode::join(&a, &p2p_config(&boot)).await);
    }
    (a, peers)
}

async fn p2p_addr(n: &TestNode) -> String {
    let r = n.get("/ready").await.body;
    let p2p = &r["p2p"];
    assert_eq!(p2p["enabled"], json!(true), "{r}");
    let listen = p2p["listen"].as_array().unwrap();
    let tcp = listen.iter().filter_map(Value::as_str).find(|a| a.contains("/tcp/")).unwrap();
    format!("{tcp}/p2p/{}", p2p["peer_id"].as_str().unwrap())
}

/// Wait until `cond` holds, polling; panic with `what` after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn has_lct(n: &TestNode, id: &str) -> bool {
    n.get(&format!("/v1/lct/{id}")).await.status == 200
}

/// Every record a stopped node's store holds, in its ledger order.
fn stored_records(n: &TestNode) -> Vec<String> {
    let live = web4_daemon::store::open_connection(&n.data_dir().join("web4.db"), true).unwrap();
    live.prepare("SELECT record FROM ledger ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// An empty store (migrated) in a temporary directory, kept while the
/// directory is.
fn fresh_store() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = web4_daemon::store::open_connection(&dir.path().join("copy.db"), false).unwrap();
    web4_daemon::store::migrations::migrate(&mut c).unwrap();
    (dir, c)
}

/// A stopped node's ledger, its last records held back from a fresh store,
/// to be sent there as they are or rewritten and signed again with the
/// node's own valid key, as a dishonest node could (decisions/0028, 0029).
/// `honest` with its payload changed by `edit`, dated `timestamp`, signed
/// again with `key` (its node's).
fn resigned(
    honest: &web4_core::ledger::Record,
    key: &web4_core::SecretKey,
    timestamp: web4_core::Timestamp,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut payload = honest.payload.clone();
    edit(&mut payload);
    let draft = web4_core::ledger::RecordDraft {
        author: honest.author.clone(),
        seq: honest.seq,
        prev_hash: honest.prev_hash,
        kind: honest.kind.clone(),
        payload,
        law_hash: honest.law_hash,
        timestamp,
    };
    serde_json::to_string(&draft.sign(key).unwrap()).unwrap()
}

struct Tampered {
    texts: Vec<String>,
    held_back: usize,
    key: web4_core::SecretKey,
    copy: rusqlite::Connection,
    at: web4_core::Timestamp,
    _dir: tempfile::TempDir,
}

impl Tampered {
    /// `node` (stopped): every record but the last `held_back` applied to a
    /// fresh store.
    fn of(node: &TestNode, held_back: usize) -> Tampered {
        use web4_daemon::ledger::{Foreign, accept_foreign};
        let key = web4_daemon::keystore::read_key(&node.data_dir().join("keys/node.key")).unwrap();
        let texts = stored_records(node);
        let (dir, copy) = fresh_store();
        let at = now();
        for text in &texts[..texts.len() - held_back] {
            assert!(matches!(accept_foreign(&copy, text, at).unwrap(), Foreign::Applied { .. }));
        }
        Tampered { texts, held_back, key, copy, at, _dir: dir }
    }

    /// The `i`-th held-back record (0 is the first).
    fn held(&self, i: usize) -> web4_core::ledger::Record {
        serde_json::from_str(&self.texts[self.texts.len() - self.held_back + i]).unwrap()
    }

    /// `honest` with its payload changed by `edit`, dated `timestamp`, signed
    /// again by its node.
    fn rewritten(
        &self,
        honest: &web4_core::ledger::Record,
        timestamp: web4_core::Timestamp,
        edit: impl FnOnce(&mut Value),
    ) -> String {
        resigned(honest, &self.key, timestamp, edit)
    }

    /// What the copy makes of `text` when its clock reads `at`.
    fn verdict(&self, text: &str, at: web4_core::Timestamp) -> web4_daemon::ledger::Foreign {
        web4_daemon::ledger::accept_foreign(&self.copy, text, at).unwrap()
    }

    /// Why the copy refuses `text`.
    fn refusal(&self, text: &str, at: web4_core::Timestamp) -> String {
        match self.verdict(text, at) {
            web4_daemon::ledger::Foreign::Rejected(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Why the copy refuses the `i`-th held-back record changed by `edit`.
    fn refused(&self, i: usize, edit: impl FnOnce(&mut Value)) -> String {
        let honest = self.held(i);
        self.refusal(&self.rewritten(&honest, honest.timestamp, edit), self.at)
    }

    /// The `i`-th held-back record, as its node wrote it, applies.
    fn applies(&self, i: usize) {
        let text = &self.texts[self.texts.len() - self.held_back + i];
        let got = self.verdict(text, self.at);
        assert!(matches!(got, web4_daemon::ledger::Foreign::Applied { .. }), "{got:?}");
    }
}

/// The record `text` (wire form) re-signed by `key` as the first record of
/// its own chain: the same change, recorded by another author.
fn twin_by(key: &web4_core::SecretKey, text: &str) -> String {
    let d: web4_core::ledger::Record = serde_json::from_str(text).unwrap();
    let twin = web4_core::ledger::RecordDraft {
        author: id_of(key),
        seq: 1,
        prev_hash: web4_core::Hash::ZERO,
        kind: d.kind,
        payload: d.payload,
        law_hash: d.law_hash,
        timestamp: d.timestamp,
    }
    .sign(key)
    .unwrap();
    serde_json::to_string(&twin).unwrap()
}

async fn roles_on(n: &TestNode, id: &str) -> Value {
    n.get(&format!("/v1/lct/{id}")).await.body["data"]["roles"].clone()
}

async fn t3_of(n: &TestNode, entity: &str, role: &str) -> Value {
    n.get(&format!("/v1/reputation/{entity}/{role}")).await.body["data"]["t3"].clone()
}

async fn available(n: &TestNode, id: &str) -> Option<u64> {
    n.get(&format!("/v1/atp/account/{id}")).await.body["data"]["available"].as_u64()
}

async fn peers(n: &TestNode) -> usize {
    n.get("/v1/p2p/peers").await.body["data"]["peers"].as_array().map_or(0, Vec::len)
}

/// A triple about oneself: any active LCT may assert it (a signed request).
async fn say(n: &TestNode, k: &web4_core::SecretKey, text: &str) -> Resp {
    let me = id_of(k).to_string();
    n.post(
        k,
        "/v1/graph/triple",
        &json!({"subject": me, "predicate": "https://example.org/says", "object": text, "object_type": "literal"}),
    )
    .await
}

#[tokio::test]
async fn three_nodes_replicate_mints_and_enforce_a_revocation_made_elsewhere() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let c = TestNode::join(&a, &p2p_config(&boot)).await;
    let (b_id, c_id) = (b.get("/ready").await.body["node"].clone(), c.get("/ready").await.body["node"].clone());
    assert_eq!(b.get("/ready").await.body["society"], a.get("/ready").await.body["society"]);
    // B and C were admitted by A; A knows them.
    assert!(has_lct(&a, b_id.as_str().unwrap()).await && has_lct(&a, c_id.as_str().unwrap()).await);
    eventually(15, "B and C connected to A", || async { peers(&b).await >= 1 && peers(&c).await >= 1 }).await;

    // An LCT minted on A is fetched and verified on B and C.
    let k = random_key();
    let t0 = unix_ms();
    let r = a.mint(&k, EntityType::Ai).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let kid = id_of(&k).to_string();
    eventually(10, "the mint reached B and C", || async { has_lct(&b, &kid).await && has_lct(&c, &kid).await }).await;
    // Each node stamps the record when it appends it: A (its author) first.
    let stamp_a = applied_at(&a, &kid).await;
    for n in [&b, &c] {
        let stamp = applied_at(n, &kid).await;
        assert!(stamp_a <= stamp && stamp <= unix_ms(), "A {stamp_a}, peer {stamp}");
    }
    assert!(t0 <= stamp_a, "stamped {stamp_a} before the request at {t0}");
    for n in [&b, &c] {
        let v = n.get(&format!("/v1/lct/{kid}/verify")).await.body;
        assert_eq!(v["data"]["valid"], json!(true), "{v}");
        assert_eq!(v["data"]["birth_certificate"]["ok"], json!(true), "{v}");
    }
    // C serves k while it is active…
    let r = say(&c, &k, "hello").await;
    assert_eq!(r.status, 201, "{}", r.body);
    // …and refuses k's next signed request once A's revocation arrives.
    let r = a.post(&a.admin, &format!("/v1/lct/{kid}/revoke"), &json!({"reason": "compromise"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(10, "the revocation reached C", || async {
        c.get(&format!("/v1/lct/{kid}")).await.body["data"]["status"] == json!("revoked")
    })
    .await;
    let r = say(&c, &k, "still me?").await;
    assert_eq!(r.code(), "W4_ERR_BINDING_REVOKED", "{}", r.body);

    // C's own record (the triple) reached A and B too; all ledgers converge.
    eventually(10, "identical ledgers", || async {
        let n = a.ledger_records();
        n == b.ledger_records() && n == c.ledger_records()
    })
    .await;
    for n in [&a, &b, &c] {
        let v = n.ledger_verify();
        assert_eq!(v["chain_errors"], json!([]), "{v}");
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
    let m = c.get("/metrics").await.body.as_str().unwrap_or_default().to_owned();
    assert!(m.contains("web4_p2p_connected_peers"), "{m}");
    let p = c.get("/v1/p2p/peers").await.body;
    assert!(p["data"]["peers"][0]["score"].is_number(), "{p}");
}

#[tokio::test]
async fn a_late_joiner_and_a_restarted_node_catch_up_by_sync() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let mut minted = Vec::new();
    for _ in 0..15 {
        let k = random_key();
        assert_eq!(a.mint(&k, EntityType::Ai).await.status, 201);
        minted.push(id_of(&k).to_string());
    }
    let mut b = TestNode::join(&a, &p2p_config(&boot)).await;
    for id in &minted {
        assert!(has_lct(&b, id).await, "{id} copied at join");
    }
    // B goes offline; A keeps writing; B comes back and syncs the gap.
    assert!(b.sigterm().success());
    for _ in 0..15 {
        let k = random_key();
        assert_eq!(a.mint(&k, EntityType::Ai).await.status, 201);
        minted.push(id_of(&k).to_string());
    }
    b.spawn(&[]).await;
    eventually(15, "B caught up after restart", || async {
        for id in &minted {
            if !has_lct(&b, id).await {
                return false;
            }
        }
        true
    })
    .await;
    eventually(10, "equal ledgers", || async { a.ledger_records() == b.ledger_records() }).await;
    let r = b.get("/ready").await.body;
    assert_eq!(r["p2p"]["escrow"], json!(0), "{r}");
}

/// The checks an inbound record goes through, on a real node's ledger copied
/// into a fresh store: duplicates are ignored, equivocation is kept as
/// evidence and refused, forged / unlinked / foreign-law records and records
/// authored by a member rather than a node are refused, gaps and unknown
/// authors wait.
/// A real node's ledger (and its society) where a member's graph triple is
/// listed before the member's mint, as a store written before the inbound
/// checks of sessions 25 and 27 could list them.
async fn a_triple_listed_before_its_authors_mint() -> (String, Vec<String>) {
    let mut a = TestNode::start().await;
    let society = a.society().await.to_string();
    let alice = random_key();
    assert_eq!(a.mint(&alice, EntityType::Human).await.status, 201);
    let triple = json!({"subject": id_of(&alice).to_string(), "predicate": "https://schema.org/name",
        "object": "Alice", "object_type": "literal"});
    let r = a.post(&alice, "/v1/graph/triple", &triple).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(a.sigterm().success());
    let mut texts = stored_records(&a);
    let n = texts.len();
    assert!(texts[n - 1].contains("graph.triple") && texts[n - 2].contains("lct.mint"));
    texts.swap(n - 1, n - 2);
    (society, texts)
}

/// A store written before the inbound checks of sessions 25 and 27 may list
/// a record before the one it waits for (here a member's graph triple before
/// the member's mint). `init --join` sets such a record aside and applies it
/// once what it waits for has applied; one whose wait never ends fails the
/// join.
#[tokio::test]
async fn a_joining_node_applies_records_listed_before_what_they_wait_for() {
    use web4_daemon::node::LedgerCopy;
    let (_, texts) = a_triple_listed_before_its_authors_mint().await;
    let n = texts.len();
    let t = now();
    let (_dir, copy) = fresh_store();
    let mut c = LedgerCopy::default();
    c.page(&copy, texts[..n - 1].to_vec(), t, "test").unwrap();
    c.page(&copy, texts[n - 1..].to_vec(), t, "test").unwrap();
    assert_eq!(c.finish("test").unwrap(), n as u64);
    let held: i64 = copy.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!(held, n as i64);
    // Without the mint, the triple waits to the end and the copy fails.
    let (_dir, copy) = fresh_store();
    let mut c = LedgerCopy::default();
    c.page(&copy, texts[..n - 1].to_vec(), t, "test").unwrap();
    let err = c.finish("test").unwrap_err().to_string();
    assert!(err.contains("1 record(s) wait"), "{err}");
    // A record the copy refuses fails the join, which names it.
    let mut forged: web4_core::ledger::Record = serde_json::from_str(&texts[n - 1]).unwrap();
    forged.timestamp = forged.timestamp.plus(1);
    let (_dir, copy) = fresh_store();
    let mut c = LedgerCopy::default();
    let mut served = texts[..n - 1].to_vec();
    served.push(serde_json::to_string(&forged).unwrap());
    let err = c.page(&copy, served, t, "test").unwrap_err().to_string();
    let named = format!("a record claiming {} seq {} ({:?})", forged.author, forged.seq, forged.kind);
    assert!(err.contains(&named) && err.contains("signature"), "{err}");
}

/// Serve `pages` of ledger records as a web4d node of `society` does
/// (`/ready`, `/v1/ledger/records`), page `after` at a time.
async fn serve_ledger(society: String, pages: Vec<Vec<String>>) -> String {
    use axum::{Json, Router, extract::Query, routing::get};
    let pages = std::sync::Arc::new(pages);
    let app = Router::new()
        .route("/ready", get(move || async move { Json(json!({"status": "ready", "society": society})) }))
        .route(
            "/v1/ledger/records",
            get(move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let after: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                Json(match pages.get(after) {
                    Some(p) => json!({"data": {"records": p, "next": after + 1}}),
                    None => json!({"data": {"records": [], "next": null}}),
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Following a society whose node lists a record before what it waits for
/// (a member's triple before the member's mint, in another page): the record
/// is set aside and applied once the mint has; a copy that ends with it still
/// waiting fails and keeps nothing (decisions/0028).
#[tokio::test]
async fn a_followed_society_listing_a_record_before_what_it_waits_for_is_copied_whole() {
    let (society, texts) = a_triple_listed_before_its_authors_mint().await;
    let n = texts.len();
    let own = id_of(&random_key());

    let url = serve_ledger(society.clone(), vec![texts[..n - 1].to_vec(), texts[n - 1..].to_vec()]).await;
    let dir = tempfile::tempdir().unwrap();
    let follow = web4_daemon::foreign::ForeignSocieties::open(dir.path()).unwrap();
    let copy = follow.add(&own, &url, None).await.unwrap();
    let held: i64 = copy.with(|c| c.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))).unwrap();
    assert_eq!(held, n as i64);

    let url = serve_ledger(society, vec![texts[..n - 1].to_vec()]).await;
    let dir = tempfile::tempdir().unwrap();
    let follow = web4_daemon::foreign::ForeignSocieties::open(dir.path()).unwrap();
    let err = follow.add(&own, &url, None).await.map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("1 record(s) wait"), "{err}");
}

/// A node cannot record in a member's name what the member never asked
/// for: a peer checks the signed request each record carries against what
/// the record holds (decisions/0028). The dishonest node here signs its
/// records with its own valid key; only the requests inside are wrong.
#[tokio::test]
async fn a_record_a_member_never_asked_for_is_refused() {
    let mut a = TestNode::start().await;
    let (alice, bob) = (random_key(), random_key());
    for k in [&alice, &bob] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let r = a.post(&a.admin, &format!("/v1/lct/{}/suspend", id_of(&bob)), &json!({"reason": "test"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 1);
    let honest = tampered.held(0);
    assert_eq!(honest.kind, "lct.suspend");
    // Alice suspended on the admin's request to suspend Bob.
    let why = tampered.refused(0, |p| p["lct_id"] = json!(id_of(&alice)));
    assert!(why.contains("the path's LCT") && why.contains("lct.suspend"), "{why}");
    // Another reason, the request's body rewritten to match.
    let why = tampered.refused(0, |p| {
        p["reason"] = json!("another");
        p["evidence"]["body"] = json!(r#"{"reason":"another"}"#);
    });
    assert!(why.contains("does not verify with the key of its signer"), "{why}");
    // Recorded three hours after it was asked.
    let later = honest.timestamp.plus(3 * 3600);
    let why = tampered.refusal(&tampered.rewritten(&honest, later, |_| {}), later);
    assert!(why.contains("s from the record"), "{why}");
    // In the name of a member not registered here: waits for its mint.
    let stranger = id_of(&random_key());
    let text = tampered.rewritten(&honest, honest.timestamp, |p| p["evidence"]["signer"] = json!(stranger));
    let got = tampered.verdict(&text, tampered.at);
    assert!(matches!(&got, web4_daemon::ledger::Foreign::UnknownSigner(id) if *id == stranger), "{got:?}");
    // Nothing of these was applied; the honest record is.
    tampered.applies(0);
    let status: String = tampered
        .copy
        .query_row("SELECT status FROM lcts WHERE lct_id = ?1", [id_of(&alice).as_str()], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "active");
}

/// What a node fills in from its society and law, not from the request
/// (decisions/0029): a mint's birth certificate rewritten by its own node,
/// signed again with that node's valid key, is refused by a fresh store.
#[tokio::test]
async fn a_birth_the_law_did_not_give_is_refused() {
    let mut a = TestNode::start().await;
    let bob = random_key();
    assert_eq!(a.mint(&bob, EntityType::Human).await.status, 201);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 1);
    let honest = tampered.held(0);
    assert_eq!(honest.kind, "lct.mint");
    let citizen = honest.payload.pointer("/lct/birth_certificate/citizen_role").cloned().unwrap();
    assert_eq!(citizen, json!("citizen"), "the dev law's citizen role");
    let cert = |field: &'static str, v: Value| move |p: &mut Value| p["lct"]["birth_certificate"][field] = v;
    // The citizen role is granted with the birth: `authority` here would make
    // the newborn an authority on every node that applied it.
    let why = tampered.refused(0, cert("citizen_role", json!("authority")));
    assert!(why.contains("birth_certificate.citizen_role") && why.contains("\"authority\""), "{why}");
    let why = tampered.refused(0, cert("rights", json!(["everything"])));
    assert!(why.contains("birth_certificate.rights"), "{why}");
    // Issued by someone other than the node that records it.
    let bob_id = id_of(&bob);
    let why = tampered.refused(0, cert("issuer", json!(bob_id)));
    assert!(why.contains("birth_certificate.issuer"), "{why}");
    let why = tampered.refused(0, cert("law_version", json!("9.9.9")));
    assert!(why.contains("birth_certificate.law_version"), "{why}");
    // Registered in another society.
    let other = id_of(&random_key());
    let why = tampered.refused(0, |p| p["society_id"] = json!(other));
    assert!(why.contains(&format!("names society {other}")), "{why}");
    // Nothing of these was applied; the honest record is, with its role.
    tampered.applies(0);
    let roles: Vec<String> = tampered
        .copy
        .prepare("SELECT role FROM roles WHERE lct_id = ?1")
        .unwrap()
        .query_map([bob_id.as_str()], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(roles, ["citizen"]);
}

/// On `a`, alice grants bob 100 ATP to `read` anything for ten minutes
/// (re-delegatable if `delegatable`): the grant id and its expiry.
async fn read_grant(
    a: &TestNode,
    alice: &web4_core::SecretKey,
    bob: &web4_core::SecretKey,
    delegatable: bool,
) -> (String, String) {
    let expires = web4_core::Timestamp(now().0 + 600).to_string();
    let grant = json!({"agent": id_of(bob), "atp_budget": 100, "expires_at": expires, "delegatable": delegatable,
        "scope": {"actions": ["read"], "resources": ["*"], "max_atp": 100}});
    let g = a.post(alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(g.status, 201, "{}", g.body);
    (g.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned(), expires)
}

/// A node (stopped) that recorded `n` unwitnessed successes of quality 0.9
/// of one action by a new LCT, bob, as an analyst; and bob.
async fn outcomes_recorded(n: usize) -> (TestNode, web4_core::SecretKey) {
    let mut a = TestNode::start().await;
    let bob = random_key();
    assert_eq!(a.mint(&bob, EntityType::Human).await.status, 201);
    let body = json!({"entity": id_of(&bob), "role": "analyst", "action": "report", "result_status": "success", "quality": 0.9});
    for _ in 0..n {
        let r = a.post(&a.admin, "/v1/reputation/outcome", &body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert!(a.sigterm().success());
    (a, bob)
}

/// An outcome's delta is the one its law gives on the pair's tensors
/// (decisions/0029, session-28 addendum): the entity's home could otherwise
/// record any trust it liked, signed with its own valid key.
#[tokio::test]
async fn an_outcome_the_law_did_not_give_is_refused() {
    let (a, bob) = outcomes_recorded(1).await;
    let tampered = Tampered::of(&a, 1);
    let honest = tampered.held(0);
    assert_eq!(honest.kind, "reputation.outcome");
    let talent = honest.payload.pointer("/delta/t3/talent").and_then(Value::as_f64).unwrap();
    assert!(talent > 0.5 && talent < 1.0, "a success of quality 0.9 raises talent a little: {talent}");
    // Full trust from one outcome.
    let why = tampered.refused(0, |p| p["delta"]["t3"]["talent"] = json!(1.0));
    assert!(why.contains("reputation.outcome record sets") && why.contains("gives"), "{why}");
    // No change recorded where the law gives one.
    let why = tampered.refused(0, |p| p["delta"] = Value::Null);
    assert!(why.contains("reputation.outcome record sets"), "{why}");
    // A streak that did not happen (diminishing returns start over).
    let why = tampered.refused(0, |p| p["same_action_run"] = json!(7));
    assert!(why.contains("in a row"), "{why}");
    // Nothing of these was applied; the honest record is.
    tampered.applies(0);
    let t3: String = tampered
        .copy
        .query_row("SELECT t3 FROM reputation WHERE entity = ?1 AND role = 'analyst'", [id_of(&bob).as_str()], |r| {
            r.get(0)
        })
        .unwrap();
    let held: Value = serde_json::from_str(&t3).unwrap();
    assert_eq!(held["talent"].as_f64(), Some(talent));
}

/// A member minted on `a` with ATP of its own: the pool minted, then a
/// contribution of `value` charged to the member's account.
async fn funded_member(a: &TestNode, value: f64) -> web4_core::SecretKey {
    let member = random_key();
    assert_eq!(a.mint(&member, EntityType::Human).await.status, 201);
    let r = a.post(&a.admin, "/v1/atp/mint", &json!({"amount": 500_000})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let proof = json!({"kind": "contribution", "reference": random_nonce(), "value": value});
    let r = a.post(&a.admin, "/v1/atp/charge", &json!({"account": id_of(&member), "proof": proof})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    member
}

/// A lease opens as the rates version it names prices it under the record's
/// law, at the record's time (decisions/0029, session-29 addendum): a lease
/// at a lower rate, with less ATP locked, or priced at another law's rates
/// is refused; one priced at a rates update not held here waits for it.
#[tokio::test]
async fn a_lease_its_rates_do_not_price_is_refused() {
    let mut a = TestNode::start().await;
    let alice = funded_member(&a, 20_000.0).await;
    let body = json!({"resource_type": "cpu", "quantity": 1000, "duration_seconds": 3600});
    let r = a.post(&alice, "/v1/resources/allocate", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 1);
    let lease = tampered.held(0);
    assert_eq!(lease.kind, "resource.allocate");
    let (rate, locked) =
        (lease.payload["lease"]["rate"].as_f64().unwrap(), lease.payload["lease"]["locked"].as_u64().unwrap());
    assert!(locked > 0, "{}", lease.payload);
    let version = lease.payload["rates_version"].as_str().unwrap().to_owned();
    assert!(version.ends_with("#0"), "the law's own rates: {version}");
    // Half the rate, and half the ATP locked for it.
    let why = tampered.refused(0, |p| {
        p["lease"]["rate"] = json!(rate / 2.0);
        p["lease"]["locked"] = json!(locked / 2);
    });
    assert!(why.contains("rates version") && why.contains("opens"), "{why}");
    // The rate as priced, less locked.
    let why = tampered.refused(0, |p| p["lease"]["locked"] = json!(locked - 1));
    assert!(why.contains("opens"), "{why}");
    // Priced at another law version's rates.
    let why = tampered.refused(0, |p| p["rates_version"] = json!("0.0.1#0"));
    assert!(why.contains("law version 0.0.1"), "{why}");
    // Priced at a rates update this node does not hold (yet): it waits.
    let later = format!("{}#7", version.trim_end_matches("#0"));
    let text = tampered.rewritten(&lease, lease.timestamp, |p| p["rates_version"] = json!(later.clone()));
    match tampered.verdict(&text, tampered.at) {
        web4_daemon::ledger::Foreign::UnknownObject(o) => assert_eq!(o.to_string(), format!("rates version {later}")),
        other => panic!("expected to wait for the rates, got {other:?}"),
    }
    tampered.applies(0);
}

/// A lease's usage and settlement are what the lease meters where the record
/// applies (its owner's chain changes it alone): a usage report that charges
/// otherwise, or a release that settles otherwise, is refused before anything
/// is written, rather than failing the store's transaction.
#[tokio::test]
async fn a_usage_or_release_the_lease_does_not_meter_is_refused() {
    let mut a = TestNode::start().await;
    let alice = funded_member(&a, 20_000.0).await;
    let body = json!({"resource_type": "cpu", "quantity": 1000, "duration_seconds": 600});
    let r = a.post(&alice, "/v1/resources/allocate", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["data"]["allocation_id"].as_str().unwrap().to_owned();
    let final_usage = json!({"seq": 1, "used": 30_000});
    let r = a.post(&alice, "/v1/resources/release", &json!({"allocation_id": id, "final_usage": final_usage})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 2);
    let (usage, release) = (tampered.held(0), tampered.held(1));
    assert_eq!((usage.kind.as_str(), release.kind.as_str()), ("resource.usage", "resource.release"));
    assert_eq!(usage.payload["charge"], 9, "30,000 millicore-seconds at 1 ATP per core-hour, rounded up");
    // Nothing charged for what was used.
    let why = tampered.refused(0, |p| p["charge"] = json!(0));
    assert!(why.contains("charges 0 ATP") && why.contains("meters 9"), "{why}");
    tampered.applies(0);
    // The whole lock returned.
    let why = tampered.refused(1, |p| {
        p["charged"] = json!(0);
        p["returned"] = json!(167);
    });
    assert!(why.contains("settles") && why.contains("the lease holds 9 and 158"), "{why}");
    tampered.applies(1);
}

/// A node that records one genuine request twice (two transfers from one
/// signed transfer) has the second record refused by every peer, however
/// long after the first it comes: its chain orders the two alike everywhere
/// (decisions/0028, session-29 addendum). The first applies.
#[tokio::test]
async fn one_request_recorded_twice_by_its_node_is_refused_the_second_time() {
    let mut a = TestNode::start().await;
    let (alice, bob) = (funded_member(&a, 100.0).await, random_key());
    assert_eq!(a.mint(&bob, EntityType::Human).await.status, 201);
    let r = a.post(&alice, "/v1/atp/transfer", &json!({"to": id_of(&bob), "amount": 10})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 1);
    let transfer = tampered.held(0);
    assert_eq!(transfer.kind, "atp.transfer");
    tampered.applies(0);
    // The same transfer again as the node's next record, 20 minutes on (past
    // the nonces' retention, within the 2 h a request may precede its record).
    let later = web4_core::Timestamp(transfer.timestamp.0 + 1200);
    let again = web4_core::ledger::RecordDraft {
        author: transfer.author.clone(),
        seq: transfer.seq + 1,
        prev_hash: transfer.hash().unwrap(),
        kind: transfer.kind.clone(),
        payload: transfer.payload.clone(),
        law_hash: transfer.law_hash,
        timestamp: later,
    };
    let again = serde_json::to_string(&again.sign(&tampered.key).unwrap()).unwrap();
    let why = tampered.refusal(&again, later);
    assert!(why.contains("carries the request") && why.contains(&format!("record {} of", transfer.seq)), "{why}");
    let balance: i64 = tampered
        .copy
        .query_row("SELECT available FROM atp_accounts WHERE lct_id = ?1", [id_of(&alice).as_str()], |r| r.get(0))
        .unwrap();
    assert_eq!(balance, 100 - 10 - 1, "one transfer and its fee");
    let held: i64 = tampered
        .copy
        .query_row(
            "SELECT COUNT(*) FROM ledger WHERE author = ?1 AND seq > ?2",
            rusqlite::params![transfer.author.as_str(), transfer.seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(held, 0, "nothing of the second record written");
}

/// A decision on a grant is the one the law gives on the grant's chain, which
/// only the tree's owner changes (decisions/0029): a granted spend beyond the
/// budget, or a denial turned into a grant, signed again by the owner, is
/// refused.
#[tokio::test]
async fn a_decision_the_grant_does_not_allow_is_refused() {
    let mut a = TestNode::start().await;
    let (alice, bob) = (random_key(), random_key());
    for k in [&alice, &bob] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let (gid, _) = read_grant(&a, &alice, &bob, false).await;
    let spend = json!({"action": "read", "resource": "doc:1", "atp_cost": 60, "context": {"delegation_id": gid}});
    let r = a.post(&bob, "/v1/auth/authorize", &spend).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    // Denied (and recorded): 60 more of the 40 left.
    let r = a.post(&bob, "/v1/auth/authorize", &spend).await;
    assert_eq!(r.body["error"]["details"]["decision"], "denied", "{}", r.body);
    // In a role bob holds (his citizenship): denied for the budget all the
    // same. In one he does not hold: denied for the role.
    let paired = json!({"action": "read", "resource": "doc:1", "atp_cost": 60, "role": "citizen",
        "context": {"delegation_id": gid}});
    let r = a.post(&bob, "/v1/auth/authorize", &paired).await;
    assert_eq!((r.status, r.body["error"]["details"]["decision"].as_str()), (402, Some("denied")), "{}", r.body);
    let unpaired = json!({"action": "read", "resource": "doc:1", "atp_cost": 10, "role": "treasurer",
        "context": {"delegation_id": gid}});
    let r = a.post(&bob, "/v1/auth/authorize", &unpaired).await;
    assert_eq!(r.body["error"]["details"]["decision"], "denied", "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("role treasurer"), "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 4);
    let (granted, denied) = (tampered.held(0), tampered.held(1));
    assert_eq!(
        (granted.payload["decision"].as_str(), denied.payload["decision"].as_str()),
        (Some("granted"), Some("denied"))
    );
    // Deferred, as if the law wanted witnesses for `read`: it does not.
    let why = tampered.refused(0, |p| p["decision"] = json!("deferred"));
    assert!(why.contains("auth.decision record holds \"deferred\"") && why.contains("gives \"granted\""), "{why}");
    tampered.applies(0);
    // The second spend granted: 120 of a budget of 100.
    let why = tampered.refused(1, |p| {
        p["decision"] = json!("granted");
        p["reason"] = Value::Null;
    });
    assert!(why.contains("gives \"denied\""), "{why}");
    tampered.applies(1);
    // A decision that pairs a role is checked as if the actor held it: 120
    // of 100 granted in bob's citizen role is refused all the same.
    let why = tampered.refused(2, |p| {
        p["decision"] = json!("granted");
        p["reason"] = Value::Null;
    });
    assert!(why.contains("gives \"denied\""), "{why}");
    tampered.applies(2);
    // The denial for a role the peer cannot check applies as recorded.
    tampered.applies(3);
    let spent: i64 =
        tampered.copy.query_row("SELECT spent FROM delegations WHERE grant_id = ?1", [&gid], |r| r.get(0)).unwrap();
    assert_eq!(spent, 60);
}

/// The witnesses a record counts toward its law's quorum are recounted by a
/// peer (decisions/0029, session-31 addendum): a mint's birth witnesses and a
/// granted authorization's, when the law wants witnesses for its action. A
/// record whose attestations do not meet the quorum, or hold one that does
/// not verify or is stale, is refused; one by an LCT not registered here
/// waits for its registration.
#[tokio::test]
async fn the_witnesses_a_record_counts_are_recounted_by_a_peer() {
    use web4_core::witness::{Attestation, WitnessClass};
    let mut a = TestNode::start().await;
    let actor = random_key();
    assert_eq!(a.mint(&actor, EntityType::Ai).await.status, 201);
    let mut law = dev_law_with(
        "1.1.0",
        &[
            json!({"id": "SIGN-1", "requires_witnesses": 1, "applies_to": "sign"}),
            json!({"id": "LAW-PUBLISH", "requires_witnesses": 1, "applies_to": "law.publish"}),
        ],
    );
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a.authorize(&actor, json!({"action": "sign", "resource": "x", "atp_cost": 0})).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    // The next law, published with the node's witness its predecessor asks.
    law["version"] = json!("1.2.0");
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 4);
    let (mint, decision) = (tampered.held(0), tampered.held(2));
    assert_eq!((mint.kind.as_str(), decision.kind.as_str()), ("lct.mint", "auth.decision"));
    let witnesses = |p: &mut Value, edit: &dyn Fn(&mut Vec<Value>)| {
        let list = if p["lct"].is_object() {
            &mut p["lct"]["birth_certificate"]["birth_witnesses"]
        } else {
            &mut p["witnesses"]
        };
        edit(list.as_array_mut().unwrap());
    };
    // The birth without its witness: 0 of the 1 the law requires.
    let why = tampered.refused(0, |p| witnesses(p, &|w| w.clear()));
    assert!(why.contains("counts 0 valid witness attestations") && why.contains("requires 1"), "{why}");
    // Its witness's signature broken.
    let why = tampered.refused(0, |p| witnesses(p, &|w| w[0]["sig"] = json!(web4_core::Signature([7; 64]))));
    assert!(why.contains("attestation by") && why.contains("does not verify"), "{why}");
    // Witnessed by an LCT not registered here: waits for its registration.
    let honest: Attestation =
        serde_json::from_value(mint.payload["lct"]["birth_certificate"]["birth_witnesses"][0].clone()).unwrap();
    let stranger = random_key();
    let theirs = Attestation::sign(
        &stranger,
        id_of(&stranger),
        WitnessClass::Existence,
        honest.event().unwrap(),
        honest.ts,
        "s".into(),
    )
    .unwrap();
    let text =
        tampered.rewritten(&mint, mint.timestamp, |p| witnesses(p, &|w| w[0] = serde_json::to_value(&theirs).unwrap()));
    let got = tampered.verdict(&text, tampered.at);
    assert!(matches!(&got, web4_daemon::ledger::Foreign::UnknownSigner(id) if *id == id_of(&stranger)), "{got:?}");
    tampered.applies(0);
    tampered.applies(1);
    // The authorization without its witness, and with it stale (the node's
    // own attestation: the only one it may add to what the request brought).
    let why = tampered.refused(2, |p| witnesses(p, &|w| w.clear()));
    assert!(why.contains("counts 0 valid witness attestations"), "{why}");
    let why = tampered.refused(2, |p| witnesses(p, &|w| w[0]["ts"] = json!("2020-01-01T00:00:00Z")));
    assert!(why.contains("does not count") && why.contains("more than"), "{why}");
    tampered.applies(2);
    // The publication without the witness the law it replaces asks.
    assert_eq!(tampered.held(3).kind, "law.publish");
    let why = tampered.refused(3, |p| witnesses(p, &|w| w.clear()));
    assert!(why.contains("law.publish record counts 0 valid witness attestations"), "{why}");
    tampered.applies(3);
}

/// A request the law allows only to some roles, recorded by a node for a
/// signer that never held one, never applies on a peer (decisions/0029,
/// session-31 addendum): a member asking to be made an authority, which its
/// honest node refuses, recorded anyway by a dishonest one, waits there until
/// the member is known to have held a role that grants roles.
#[tokio::test]
async fn a_request_the_law_allows_only_to_some_roles_waits_for_its_signers_role() {
    use web4_daemon::ledger::{Foreign, Owned};
    let mut a = TestNode::start().await;
    let (bob, carol, dave) = (random_key(), random_key(), random_key());
    let (bob_id, carol_id) = (id_of(&bob).to_string(), id_of(&carol).to_string());
    for k in [&bob, &carol] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let path = format!("/v1/lct/{bob_id}/roles");
    let r = a.post(&bob, &path, &json!({"role": "authority"})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let r = a.post(&a.admin, &path, &json!({"role": "archivist"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Carol (no role) may assert triples about herself only.
    let about = |subject: &str| json!({"subject": subject, "predicate": "https://example.org/says", "object": "hi", "object_type": "literal"});
    let r = a.post(&carol, "/v1/graph/triple", &about(&bob_id)).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let r = a.post(&carol, "/v1/graph/triple", &about(&carol_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A law that closes admission; the admin mints dave under it.
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    law["identity"]["admission"] = json!("closed");
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let dave_body = mint_body(&dave, EntityType::Human);
    let r = a.post(&a.admin, "/v1/lct/mint", &dave_body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(a.mint(&random_key(), EntityType::Human).await.status, 401, "no self-mint under it");
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 4);
    let kinds: Vec<String> = (0..4).map(|i| tampered.held(i).kind).collect();
    assert_eq!(kinds, ["role.grant", "graph.triple", "law.publish", "lct.mint"]);
    let society = web4_core::LctId::parse(tampered.held(0).payload["society_id"].as_str().unwrap()).unwrap();
    // `body` asked of `path` by `key`, in place of the i-th held-back
    // record's request (signed again by a's key).
    let asked = |i: usize, key: &web4_core::SecretKey, path: &str, body: &Value, edit: &dyn Fn(&mut Value)| {
        let honest = tampered.held(i);
        let ev = web4_core::signing::SignedRequest::sign(
            key,
            &society,
            id_of(key),
            "POST",
            path,
            body.to_string(),
            "00112233445566778899aabbccddeeff".into(),
            honest.timestamp,
        );
        tampered.rewritten(&honest, honest.timestamp, |p| {
            p["evidence"] = serde_json::to_value(&ev).unwrap();
            edit(p);
        })
    };
    let waits_for = |text: &str, who: &str, roles: &[&str]| match tampered.verdict(text, tampered.at) {
        Foreign::UnknownObject(Owned::Role(l, r)) => {
            assert_eq!((l.as_str(), r.iter().map(String::as_str).collect::<Vec<_>>()), (who, roles.to_vec()))
        }
        other => panic!("expected to wait for {who}'s role, got {other:?}"),
    };
    // Bob's own request to be made an authority, recorded anyway: waits for
    // bob's authority instead of applying.
    let text = asked(0, &bob, &path, &json!({"role": "authority"}), &|p| p["role"] = json!("authority"));
    waits_for(&text, &bob_id, &["authority"]);
    assert_eq!(
        Owned::Role(bob_id.clone(), vec!["authority".into()]).to_string(),
        format!("role authority of {bob_id}")
    );
    tampered.applies(0);
    // Carol's triple about bob: waits for carol to be a curator.
    let text = asked(1, &carol, "/v1/graph/triple", &about(&bob_id), &|p| p["subject"] = json!(bob_id));
    waits_for(&text, &carol_id, &["authority", "archivist"]);
    tampered.applies(1);
    tampered.applies(2);
    // Dave's mint as a self-mint under the closed law: refused.
    let text = asked(3, &dave, "/v1/lct/mint", &dave_body, &|_| {});
    let why = tampered.refusal(&text, tampered.at);
    assert!(why.contains("admission is closed"), "{why}");
    tampered.applies(3);
}

/// An outcome's gaming flags and witness-poor streak other than what the
/// pair's own history gives are refused by a peer (decisions/0029, session-31
/// addendum): the entity's home could otherwise hide its entities' farming,
/// bursts and witness-poor streaks from every other node, or flag honest ones.
#[tokio::test]
async fn an_outcomes_gaming_flags_the_pairs_history_does_not_give_are_refused() {
    // Ten unwitnessed outcomes of one action: the tenth is a farming streak
    // and the second five of a witness-poor one.
    let (a, _bob) = outcomes_recorded(10).await;
    let tampered = Tampered::of(&a, 2);
    let (ninth, tenth) = (tampered.held(0), tampered.held(1));
    assert_eq!((ninth.payload["witness_poor_run"].as_u64(), ninth.payload.get("flags")), (Some(9), None));
    let flags = tenth.payload["flags"].as_array().unwrap().clone();
    let flag = |pattern: &str| flags.iter().find(|f| f["pattern"] == pattern).cloned();
    let (farming, poor) = (flag("action_farming").unwrap(), flag("witness_poor").unwrap());
    let with = |f: Value| move |p: &mut Value| p["flags"] = json!([f]);
    // The ninth flagged as farming, as witness-poor, as a burst (its window
    // is one short), or as self-dealing (it has no witnesses).
    let why = tampered.refused(0, with(farming.clone()));
    assert!(why.contains("flags action farming as true at a streak of 9"), "{why}");
    let why = tampered.refused(0, with(poor.clone()));
    assert!(why.contains("flags witness-poor as true"), "{why}");
    let why = tampered.refused(0, with(json!({"pattern": "burst_growth", "evidence": {}})));
    assert!(why.contains("flags burst growth as true"), "{why}");
    let why = tampered.refused(0, with(json!({"pattern": "self_dealing", "evidence": {}})));
    assert!(why.contains("without witnesses"), "{why}");
    // Its witness-poor streak ended, or restarted elsewhere.
    let why = tampered.refused(0, |p| p["witness_poor_run"] = json!(0));
    assert!(why.contains("ends the witness-poor streak with 0 witnesses"), "{why}");
    let why = tampered.refused(0, |p| p["witness_poor_run"] = json!(3));
    assert!(why.contains("witness-poor streak of 3 after 8"), "{why}");
    // Its gains taken away with no self-dealing or witness cycle flagged.
    let delta: web4_core::reputation::Delta = serde_json::from_value(ninth.payload["delta"].clone()).unwrap();
    let gainless = serde_json::to_value(delta.without_gains()).unwrap();
    let why = tampered.refused(0, |p| p["delta"] = gainless.clone());
    assert!(why.contains("takes the gains away without flagging"), "{why}");
    tampered.applies(0);
    // The tenth with its flags hidden.
    let why = tampered.refused(1, |p| p["flags"] = json!([]));
    assert!(why.contains("flags action farming as false at a streak of 10"), "{why}");
    let why = tampered.refused(1, |p| p["flags"] = json!([farming.clone()]));
    assert!(why.contains("witness-poor as false") || why.contains("burst growth as false"), "{why}");
    tampered.applies(1);
}

/// An interpretation's or a rates update's version other than the one the
/// founding node's chain gives is refused by a peer (decisions/0029,
/// session-31 addendum): a rates version held twice failed the store's key,
/// and with it every record of its batch, again at every sync.
#[tokio::test]
async fn a_version_the_founders_chain_does_not_give_is_refused() {
    let mut a = TestNode::start().await;
    let first = json!({"norm_id": "DEFAULT-ALLOW", "text": "Reads are low stakes."});
    let r = a.post(&a.admin, "/v1/law/interpretation", &first).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first_ref = r.body["data"]["ref"].as_str().unwrap().to_owned();
    let r = a.post(&a.admin, "/v1/resources/rates", &json!({"rates": {"cpu": 1.44}})).await;
    assert_eq!((r.status, r.body["data"]["rates_version"].as_str()), (200, Some("1.0.0#1")), "{}", r.body);
    let second = json!({"norm_id": "DEFAULT-ALLOW", "text": "Reads are very low stakes.", "replaces": first_ref});
    let r = a.post(&a.admin, "/v1/law/interpretation", &second).await;
    assert_eq!((r.status, r.body["data"]["version"].as_u64()), (201, Some(2)), "{}", r.body);
    let r = a.post(&a.admin, "/v1/resources/rates", &json!({"rates": {"cpu": 1.2}})).await;
    assert_eq!((r.status, r.body["data"]["rates_version"].as_str()), (200, Some("1.0.0#2")), "{}", r.body);
    // Under a law published next, updates count from 1 again.
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a.post(&a.admin, "/v1/resources/rates", &json!({"rates": {"cpu": 1.5}})).await;
    assert_eq!((r.status, r.body["data"]["rates_version"].as_str()), (200, Some("1.1.0#1")), "{}", r.body);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 6);
    let kinds: Vec<String> = (0..6).map(|i| tampered.held(i).kind).collect();
    assert_eq!(
        kinds,
        [
            "law.interpretation",
            "resource.rates",
            "law.interpretation",
            "resource.rates",
            "law.publish",
            "resource.rates"
        ]
    );
    // A first interpretation at version 2.
    let why = tampered.refused(0, |p| p["version"] = json!(2));
    assert!(why.contains("holds version 2") && why.contains("give 1"), "{why}");
    tampered.applies(0);
    // The first update as the second.
    let why = tampered.refused(1, |p| p["version"] = json!("1.0.0#2"));
    assert!(why.contains("holds version 1.0.0#2") && why.contains("give 1.0.0#1"), "{why}");
    tampered.applies(1);
    // The replacement at version 3.
    let why = tampered.refused(2, |p| p["version"] = json!(3));
    assert!(why.contains("give 2"), "{why}");
    tampered.applies(2);
    // The second update holding the first's version again (the store's key
    // would fail), and one under another law version.
    let why = tampered.refused(3, |p| p["version"] = json!("1.0.0#1"));
    assert!(why.contains("give 1.0.0#2"), "{why}");
    let why = tampered.refused(3, |p| p["version"] = json!("9.9.9#2"));
    assert!(why.contains("give 1.0.0#2"), "{why}");
    tampered.applies(3);
    tampered.applies(4);
    // The first update under the new law, counted on from the old one's.
    let why = tampered.refused(5, |p| p["version"] = json!("1.1.0#3"));
    assert!(why.contains("give 1.1.0#1"), "{why}");
    tampered.applies(5);
}

/// A re-delegation its parent does not allow is refused by a peer
/// (decisions/0029, session-31 addendum): recorded by the node that owns the
/// tree, from a genuine request of the parent's agent that widens the
/// parent, or re-delegates it after its revocation.
#[tokio::test]
async fn a_re_delegation_its_parent_does_not_allow_is_refused() {
    use web4_core::ledger::{Record, RecordDraft};
    let mut a = TestNode::start().await;
    let (alice, bob, carol, dave) = (random_key(), random_key(), random_key(), random_key());
    for k in [&alice, &bob, &carol] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let (gid, expires) = read_grant(&a, &alice, &bob, true).await;
    // Bob spends 30, re-delegates 20 and takes it back: 70 left.
    let spend = json!({"action": "read", "resource": "doc:1", "atp_cost": 30, "context": {"delegation_id": gid}});
    let r = a.post(&bob, "/v1/auth/authorize", &spend).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    let sub_of = |budget: u64| {
        json!({"agent": id_of(&carol), "atp_budget": budget, "expires_at": expires, "parent": gid,
            "scope": {"actions": ["read"], "resources": ["*"], "max_atp": 50}})
    };
    let r = a.post(&bob, "/v1/auth/delegate", &sub_of(20)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sibling = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let r = a.delete(&bob, &format!("/v1/auth/delegate/{sibling}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Then all 70 (checked below against the parent as a peer holds it).
    let sub = sub_of(70);
    let r = a.post(&bob, "/v1/auth/delegate", &sub).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a.delete(&alice, &format!("/v1/auth/delegate/{gid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.mint(&dave, EntityType::Human).await.status, 201);
    assert!(a.sigterm().success());
    let tampered = Tampered::of(&a, 3);
    let honest = tampered.held(0);
    assert_eq!((honest.kind.as_str(), tampered.held(1).kind.as_str()), ("auth.delegate", "auth.revoke"));
    // The sub-grant bob would have got for `body`, recorded in place of the
    // i-th held-back record and signed again by a's node.
    let forged = |i: usize, body: Value, nonce: &str| -> String {
        let at: Record = tampered.held(i);
        let society = web4_core::LctId::parse(honest.payload["delegation"]["society"].as_str().unwrap()).unwrap();
        let ev = web4_core::signing::SignedRequest::sign(
            &bob,
            &society,
            id_of(&bob),
            "POST",
            "/v1/auth/delegate",
            body.to_string(),
            nonce.into(),
            honest.timestamp,
        );
        let mut payload = honest.payload.clone();
        payload["delegation"]["atp_budget"] = body["atp_budget"].clone();
        payload["delegation"]["scope"] = body["scope"].clone();
        payload["delegation"]["grant_id"] = json!(ev.derived_id("deleg"));
        payload["evidence"] = serde_json::to_value(&ev).unwrap();
        let draft = RecordDraft {
            author: at.author.clone(),
            seq: at.seq,
            prev_hash: at.prev_hash,
            kind: honest.kind.clone(),
            payload,
            law_hash: at.law_hash,
            timestamp: honest.timestamp,
        };
        serde_json::to_string(&draft.sign(&tampered.key).unwrap()).unwrap()
    };
    // 71 of the 70 the parent has left.
    let why = tampered.refusal(&forged(0, sub_of(71), "00112233445566778899aabbccddeeff"), tampered.at);
    assert!(why.contains("re-delegates") && why.contains("70 ATP left") && why.contains("widen"), "{why}");
    // An action the parent does not allow.
    let mut wider = sub.clone();
    wider["scope"]["actions"] = json!(["read", "write"]);
    let why = tampered.refusal(&forged(0, wider, "00112233445566778899aabbccddeefe"), tampered.at);
    assert!(why.contains("widen"), "{why}");
    tampered.applies(0);
    tampered.applies(1);
    // After its parent's revocation: 10 of what is left.
    let mut late = sub.clone();
    late["atp_budget"] = json!(10);
    let why = tampered.refusal(&forged(2, late, "00112233445566778899aabbccddeefd"), tampered.at);
    assert!(why.contains("which is revoked here"), "{why}");
    tampered.applies(2);
}

/// A decision that pairs a role waits on a peer until a record shows the
/// actor held that role (decisions/0029, session-31 addendum): the grant of
/// the role, recorded on another node, may arrive after it; a decision that
/// pairs a role the actor never held never applies.
#[tokio::test]
async fn a_decision_pairing_a_role_waits_until_the_actor_is_known_to_have_held_it() {
    use web4_daemon::ledger::{Foreign, Owned, accept_foreign};
    let (mut a, peers) = founder_and_peers(1).await;
    let b = &peers[0];
    let (alice, bob) = (random_key(), random_key());
    let bob_id = id_of(&bob).to_string();
    for k in [&alice, &bob] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let expires = web4_core::Timestamp(now().0 + 600).to_string();
    let grant = json!({"agent": bob_id, "atp_budget": 100, "expires_at": expires,
        "scope": {"actions": ["read"], "resources": ["*"], "max_atp": 100}});
    let g = a.post(&alice, "/v1/auth/delegate", &grant).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    // Bob's archivist role is given on b, and reaches a.
    eventually(30, "b holds bob", || has_lct(b, &bob_id)).await;
    let r = b.post(&b.admin, &format!("/v1/lct/{bob_id}/roles"), &json!({"role": "archivist"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(30, "a sees bob's archivist role", || async {
        roles(&a, &bob_id).await.as_array().is_some_and(|r| r.contains(&json!("archivist")))
    })
    .await;
    let spend = |role: &str| {
        json!({"action": "read", "resource": "doc:1", "atp_cost": 10, "role": role,
            "context": {"delegation_id": gid}})
    };
    let r = a.post(&bob, "/v1/auth/authorize", &spend("archivist")).await;
    assert_eq!(r.body["data"]["decision"], "granted", "{}", r.body);
    let r = a.post(&bob, "/v1/auth/authorize", &spend("treasurer")).await;
    assert_eq!(r.body["error"]["details"]["decision"], "denied", "{}", r.body);
    assert!(a.sigterm().success());
    let texts = stored_records(&a);
    let grant_at = texts.iter().position(|t| t.contains("\"role.grant\"") && t.contains(&bob_id)).unwrap();
    let (decision, denial) = (&texts[texts.len() - 2], &texts[texts.len() - 1]);
    assert!(decision.contains("\"auth.decision\"") && grant_at < texts.len() - 2);
    // A peer that has not received b's records from the grant on yet: the
    // decision waits for the grant, then applies.
    let b_node: web4_core::ledger::Record = serde_json::from_str(&texts[grant_at]).unwrap();
    let by_b = |t: &String| serde_json::from_str::<web4_core::ledger::Record>(t).unwrap().author == b_node.author;
    let held_back = |i: usize, t: &String| i >= grant_at && by_b(t);
    let early = texts[..texts.len() - 2].iter().enumerate().filter(|(i, t)| !held_back(*i, t));
    let later_by_b: Vec<&String> =
        texts[..texts.len() - 2].iter().enumerate().filter(|(i, t)| held_back(*i, t)).map(|(_, t)| t).collect();
    let (_dir, copy) = fresh_store();
    let t = now();
    for (_, text) in early {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    let got = accept_foreign(&copy, decision, t).unwrap();
    assert!(
        matches!(&got, Foreign::UnknownObject(Owned::Role(l, r)) if *l == bob_id && *r == ["archivist"]),
        "{got:?}"
    );
    for text in later_by_b {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    assert!(matches!(accept_foreign(&copy, decision, t).unwrap(), Foreign::Applied { .. }));
    // The denial for a role bob never held, recorded as granted and signed
    // again by a's key: it waits for a role bob never held.
    let honest: web4_core::ledger::Record = serde_json::from_str(denial).unwrap();
    let key = web4_daemon::keystore::read_key(&a.data_dir().join("keys/node.key")).unwrap();
    let forged = resigned(&honest, &key, honest.timestamp, |p| {
        p["decision"] = json!("granted");
        p["reason"] = Value::Null;
    });
    let got = accept_foreign(&copy, &forged, t).unwrap();
    assert!(matches!(&got, Foreign::UnknownObject(Owned::Role(_, r)) if *r == ["treasurer"]), "{got:?}");
    assert!(matches!(accept_foreign(&copy, denial, t).unwrap(), Foreign::Applied { .. }));
}

#[tokio::test]
async fn inbound_records_take_the_road_of_local_writes() {
    use web4_core::ledger::{Record, RecordDraft};
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let mut a = TestNode::start().await;
    let minter = random_key();
    assert_eq!(a.mint(&minter, EntityType::Ai).await.status, 201);
    assert!(a.sigterm().success());
    let node_key = web4_daemon::keystore::read_key(&a.data_dir().join("keys/node.key")).unwrap();
    let texts = stored_records(&a);
    assert_eq!(texts.len(), 2);
    let (_dir, copy) = fresh_store();
    let t = now();
    for text in &texts {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    assert!(matches!(accept_foreign(&copy, &texts[1], t).unwrap(), Foreign::Duplicate));
    let second: Record = serde_json::from_str(&texts[1]).unwrap();
    let head = second.hash().unwrap();
    let draft = |seq: u64, prev, law| RecordDraft {
        author: second.author.clone(),
        seq,
        prev_hash: prev,
        kind: second.kind.clone(),
        payload: second.payload.clone(),
        law_hash: law,
        timestamp: second.timestamp,
    };
    let text = |r: Record| serde_json::to_string(&r).unwrap();
    let verdict = |r: Record| match accept_foreign(&copy, &text(r), t).unwrap() {
        Foreign::Rejected(why) => why,
        other => panic!("expected a rejection, got {other:?}"),
    };
    // Equivocation: another record signed for seq 2.
    let mut other = draft(2, second.prev_hash, second.law_hash);
    other.timestamp = other.timestamp.plus(1);
    assert!(verdict(other.sign(&node_key).unwrap()).contains("equivocation"));
    let evidence: i64 = copy.query_row("SELECT COUNT(*) FROM equivocations", [], |r| r.get(0)).unwrap();
    assert_eq!(evidence, 1);
    // Forged: signed by someone else.
    assert!(verdict(draft(3, head, second.law_hash).sign(&random_key()).unwrap()).contains("signature"));
    // Not linked to the chain head.
    assert!(verdict(draft(3, web4_core::Hash::ZERO, second.law_hash).sign(&node_key).unwrap()).contains("prev_hash"));
    // Bound to a law this society never had: never applied. It waits like a
    // record under a law published meanwhile would (and is dropped after the
    // escrow's time limit).
    let foreign_law = web4_core::sha256(b"another society's law");
    let r = accept_foreign(&copy, &text(draft(3, head, foreign_law).sign(&node_key).unwrap()), t).unwrap();
    assert!(matches!(r, Foreign::UnknownLaw(h) if h == foreign_law), "{r:?}");
    // Dated a day ahead of this node's clock: waits rather than applies (it
    // would sort after every honest change until then).
    let mut early = draft(3, head, second.law_hash);
    early.timestamp = t.plus(86_400);
    let got = accept_foreign(&copy, &text(early.sign(&node_key).unwrap()), t).unwrap();
    assert!(matches!(got, Foreign::TooEarly(ts) if ts == t.plus(86_400)), "{got:?}");
    // A mint that binds its LCT id to another key than the one it derives
    // from (a victim's id with the author's key) is refused.
    let mut stolen = draft(3, head, second.law_hash);
    stolen.payload["lct"]["binding"]["public_key"] = serde_json::to_value(random_key().public_key()).unwrap();
    let why = verdict(stolen.sign(&node_key).unwrap());
    assert!(why.contains("binding") && why.contains("does not verify"), "{why}");
    // A mint that gives its LCT a policy, or a birth context, its request did
    // not ask for (decisions/0028).
    let mut policy = draft(3, head, second.law_hash);
    policy.payload["lct"]["policy"]["capabilities"] = json!(["admin"]);
    let why = verdict(policy.sign(&node_key).unwrap());
    assert!(why.contains("asks for policy"), "{why}");
    let mut context = draft(3, head, second.law_hash);
    context.payload["lct"]["birth_certificate"]["birth_context"] = json!("sponsored by the founder");
    let why = verdict(context.sign(&node_key).unwrap());
    assert!(why.contains("asks for birth_context"), "{why}");
    // A binding proof that does not verify (the request rewritten to ask for
    // it): the record's signatures are checked in one batch, and the refusal
    // names the one that failed.
    let mut bad_proof = draft(3, head, second.law_hash);
    let proof = serde_json::to_value(web4_core::Signature([7; 64])).unwrap();
    bad_proof.payload["lct"]["binding"]["binding_proof"] = proof.clone();
    let mut body: Value = serde_json::from_str(bad_proof.payload["evidence"]["body"].as_str().unwrap()).unwrap();
    body["binding_proof"] = proof;
    bad_proof.payload["evidence"]["body"] = json!(body.to_string());
    let why = verdict(bad_proof.sign(&node_key).unwrap());
    assert!(why.starts_with("the binding of") && why.contains("does not verify"), "{why}");
    // A gap waits; so does a record whose author is not known here.
    let gap = draft(5, head, second.law_hash).sign(&node_key).unwrap();
    assert!(matches!(accept_foreign(&copy, &text(gap), t).unwrap(), Foreign::Gap { have: 2 }));
    // A known author's record beyond a gap must still carry its signature
    // (a forged one would only fill the escrow).
    assert!(verdict(draft(5, head, second.law_hash).sign(&random_key()).unwrap()).contains("signature"));
    let stranger = random_key();
    let mut s = draft(1, web4_core::Hash::ZERO, second.law_hash);
    s.author = id_of(&stranger);
    assert!(matches!(accept_foreign(&copy, &text(s.sign(&stranger).unwrap()), t).unwrap(), Foreign::UnknownAuthor));
    // A member's key signs requests, never records: the society admin (a
    // known, active human LCT) authoring a valid record of its own chain.
    let mut by_member = draft(1, web4_core::Hash::ZERO, second.law_hash);
    by_member.author = id_of(&a.admin);
    assert!(verdict(by_member.sign(&a.admin).unwrap()).contains("only nodes"));
    let mut ahead = draft(4, web4_core::Hash::ZERO, second.law_hash);
    ahead.author = id_of(&a.admin);
    assert!(verdict(ahead.sign(&a.admin).unwrap()).contains("only nodes"), "not parked for a gap either");
    // Nothing of that was applied.
    let n: i64 = copy.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
    let v = web4_daemon::ledger::verify(&copy).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
    // A second valid record registering the same LCT id (one key minted on
    // two nodes before either heard of the other): kept, so the author's
    // chain stays whole, without effect; the first registration stands
    // (decisions/0025).
    let lct_of = |text: &str| -> String {
        let r: Record = serde_json::from_str(text).unwrap();
        r.payload["lct"]["lct_id"].as_str().unwrap().to_owned()
    };
    let minted = lct_of(&texts[1]);
    let registered_by = |c: &rusqlite::Connection| -> String {
        c.query_row(
            "SELECT l.hash FROM lcts JOIN ledger l ON l.id = lcts.doc_record WHERE lct_id = ?1",
            [&minted],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(registered_by(&copy), head.to_string());
    let mut again = draft(3, head, second.law_hash);
    again.timestamp = again.timestamp.plus(5);
    // The mint asked again with a new nonce (a client retrying a timed-out
    // mint): another request. The same request recorded twice by one node is
    // refused instead (decisions/0028, session-29 addendum).
    let twice = verdict(again.clone().sign(&node_key).unwrap());
    assert!(twice.contains("carries the request") && twice.contains("record 2 of"), "{twice}");
    let asked: web4_core::signing::SignedRequest = serde_json::from_value(again.payload["evidence"].clone()).unwrap();
    let society = web4_core::LctId::parse(again.payload["society_id"].as_str().unwrap()).unwrap();
    let retried = web4_core::signing::SignedRequest::sign(
        &minter,
        &society,
        asked.signer.clone(),
        &asked.method,
        &asked.path,
        asked.body.clone(),
        random_nonce(),
        asked.timestamp,
    );
    again.payload["evidence"] = serde_json::to_value(&retried).unwrap();
    let again = text(again.sign(&node_key).unwrap());
    match accept_foreign(&copy, &again, t).unwrap() {
        Foreign::Applied { effects, .. } => assert!(
            effects.iter().any(|e| matches!(e, web4_daemon::ledger::Effect::RegistrationConflict)),
            "{effects:?}"
        ),
        other => panic!("expected the record to be kept, got {other:?}"),
    }
    let n: i64 = copy.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
    assert_eq!(registered_by(&copy), head.to_string(), "the first registration stands");
    // A record about a delegation tree not known here (its root not arrived,
    // or never recorded) waits: its owner cannot be checked without it
    // (decisions/0027, session 25).
    let after: Record = serde_json::from_str(&again).unwrap();
    let mut expire = draft(4, after.hash().unwrap(), second.law_hash);
    expire.kind = "auth.expire".into();
    expire.payload = json!({"grant_ids": ["grant-not-here"]});
    match accept_foreign(&copy, &text(expire.sign(&node_key).unwrap()), t).unwrap() {
        Foreign::UnknownObject(o) => assert_eq!(o.to_string(), "delegation grant-not-here"),
        other => panic!("expected it to wait for the grant, got {other:?}"),
    }
    let v = web4_daemon::ledger::verify(&copy).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
}

/// A rotated node key's records are accepted up to the end of its overlap,
/// not after (decisions/0027).
#[tokio::test]
async fn a_superseded_author_signs_no_records_after_its_overlap() {
    use web4_core::ledger::{Record, RecordDraft};
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let mut a = TestNode::start().await;
    let old_key = random_key();
    let old_id = id_of(&old_key);
    assert_eq!(a.mint(&old_key, EntityType::Infrastructure).await.status, 201);
    let b = web4_core::lct::Binding::create(&random_key(), EntityType::Infrastructure, now());
    let r = a
        .post(
            &old_key,
            &format!("/v1/lct/{old_id}/transition"),
            &json!({"public_key": b.public_key, "created_at": b.created_at, "binding_proof": b.binding_proof}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(a.sigterm().success());
    let texts = stored_records(&a);
    let (_dir, copy) = fresh_store();
    let t = now();
    for text in &texts {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    let overlap_until: i64 =
        copy.query_row("SELECT overlap_until FROM lcts WHERE lct_id = ?1", [old_id.as_str()], |r| r.get(0)).unwrap();
    // The old key's first record (a copy of the mint's payload, kept without
    // effect; the node that records a birth issues its certificate), dated
    // after and then within the overlap.
    let mint: Record = serde_json::from_str(&texts[1]).unwrap();
    let mut payload = mint.payload.clone();
    payload["lct"]["birth_certificate"]["issuer"] = json!(old_id);
    let at = |secs: i64| {
        RecordDraft {
            author: old_id.clone(),
            seq: 1,
            prev_hash: web4_core::Hash::ZERO,
            kind: mint.kind.clone(),
            payload: payload.clone(),
            law_hash: mint.law_hash,
            timestamp: web4_core::Timestamp(secs),
        }
        .sign(&old_key)
        .unwrap()
    };
    let late = serde_json::to_string(&at(overlap_until + 1)).unwrap();
    match accept_foreign(&copy, &late, t).unwrap() {
        Foreign::Rejected(why) => assert!(why.contains("superseded"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // (Received when this node's clock reached its date: a record dated far
    // ahead of the clock waits, decisions/0027.)
    let within = serde_json::to_string(&at(overlap_until - 1)).unwrap();
    let got = accept_foreign(&copy, &within, web4_core::Timestamp(overlap_until - 1)).unwrap();
    assert!(matches!(got, Foreign::Applied { .. }), "{got:?}");
}

/// Every record text a node holds, in its ledger order.
async fn ledger_list(n: &TestNode) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let p = n.get(&format!("/v1/ledger/records?after={after}&limit=1000")).await.body;
        let recs = p["data"]["records"].as_array().unwrap().clone();
        if recs.is_empty() {
            return out;
        }
        out.extend(recs.iter().map(|r| r.as_str().unwrap().to_owned()));
        after = p["data"]["next"].as_i64().unwrap();
    }
}

/// A fresh store into which `texts` were applied in that order, each
/// accepted (`Foreign::Applied`).
fn applied_in_order<'a>(texts: impl IntoIterator<Item = &'a String>) -> (tempfile::TempDir, rusqlite::Connection) {
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let (dir, c) = fresh_store();
    for text in texts {
        let got = accept_foreign(&c, text, now()).unwrap();
        assert!(matches!(got, Foreign::Applied { .. }), "{got:?}");
    }
    (dir, c)
}

/// A revocation is terminal whichever order peers apply records in
/// (decisions/0016): a suspension recorded concurrently on another node
/// changes nothing where the revocation applied first, two revocations of one
/// LCT leave the same one in force in either order, and every order gives the
/// same LCT row.
#[tokio::test]
async fn a_revocation_is_terminal_in_whichever_order_records_apply() {
    let a = TestNode::start().await;
    let x = random_key();
    let x_id = id_of(&x).to_string();
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let revoke = |note: &str| json!({"reason": "compromise", "note": note});
    let r = a.post(&a.admin, &format!("/v1/lct/{x_id}/revoke"), &revoke("on a")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.post(&b.admin, &format!("/v1/lct/{x_id}/suspend"), &json!({"reason": "investigation"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.post(&b.admin, &format!("/v1/lct/{x_id}/revoke"), &revoke("on b")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let on_a = ledger_list(&a).await;
    let held: std::collections::HashSet<&String> = on_a.iter().collect();
    let only_b: Vec<String> = ledger_list(&b).await.into_iter().filter(|t| !held.contains(t)).collect();
    assert_eq!(only_b.len(), 2, "b's suspension and revocation");
    let (revoke_a, shared) = on_a.split_last().unwrap();
    assert!(revoke_a.contains("\"lct.revoke\""), "{revoke_a}");
    let one = |t: &String| vec![t.clone()];
    let orders = [
        [shared.to_vec(), one(revoke_a), one(&only_b[0])].concat(),
        [shared.to_vec(), one(revoke_a), only_b.clone()].concat(),
        [shared.to_vec(), only_b.clone(), one(revoke_a)].concat(),
    ];
    let mut rows = Vec::new();
    for order in &orders {
        let (_dir, c) = applied_in_order(order);
        let row: (String, Option<String>, Option<String>, String, i64) = c
            .query_row(
                "SELECT status, status_reason, revocation, ledger_ref, updated_at FROM lcts WHERE lct_id = ?1",
                [&x_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row.0, "revoked", "a suspension applied after the revocation: {row:?}");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        rows.push(row);
    }
    assert_eq!(rows[1], rows[2], "both revocations applied, in either order: the same one stands");
}

/// Two nodes assert one relationship edge with different weights: every
/// order of applying their records leaves the newer weight, with its record
/// and stamp, and a store that verifies (decisions/0013, session 26). Before,
/// the last record to arrive set the weight.
#[tokio::test]
async fn a_triple_asserted_on_two_nodes_has_the_same_weight_in_either_order() {
    let a = TestNode::start().await;
    let (x, y) = (random_key(), random_key());
    let (x_id, y_id) = (id_of(&x).to_string(), id_of(&y).to_string());
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    assert_eq!(a.mint(&y, EntityType::Human).await.status, 201);
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let edge = |w: f64| json!({"subject": x_id, "predicate": "https://web4.io/ontology#pairedWith", "object": y_id, "weight": w});
    let r = b.post(&x, "/v1/graph/triple", &edge(0.25)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    next_second().await;
    let r = a.post(&x, "/v1/graph/triple", &edge(0.75)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let on_a = ledger_list(&a).await;
    let held: std::collections::HashSet<&String> = on_a.iter().collect();
    let only_b: Vec<String> = ledger_list(&b).await.into_iter().filter(|t| !held.contains(t)).collect();
    assert_eq!(only_b.len(), 1, "b's assertion");
    let (newer, shared) = on_a.split_last().unwrap();
    assert!(newer.contains("\"graph.triple\""), "{newer}");
    let mut rows = Vec::new();
    for order in
        [[shared.to_vec(), vec![newer.clone()], only_b.clone()], [shared.to_vec(), only_b.clone(), vec![newer.clone()]]]
    {
        let (_dir, c) = applied_in_order(&order.concat());
        let row: (Option<f64>, String, Option<i64>, Option<String>) = c
            .query_row(
                "SELECT weight, ledger_ref, at, author FROM graph_triples WHERE s = ?1 AND o = ?2",
                [&x_id, &y_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row.0, Some(0.75), "the newer assertion's weight: {row:?}");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        rows.push(row);
    }
    assert_eq!(rows[0], rows[1]);
    assert_eq!(rows[0].3.as_deref(), a.get("/ready").await.body["node"].as_str(), "a recorded the newer one");
}

/// A store written before migration 23 kept, for a triple two records
/// asserted with the same weight, the first record's `ledger_ref`. Upgrading
/// it stamps every row from a replay of the ledger: the newest record's
/// reference and stamp, and a store that verifies against its own rebuild
/// (decisions/0013, session 26).
#[tokio::test]
async fn an_upgraded_store_stamps_its_triples_as_a_rebuild_does() {
    let a = TestNode::start().await;
    let (x, y) = (random_key(), random_key());
    let (x_id, y_id) = (id_of(&x).to_string(), id_of(&y).to_string());
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    assert_eq!(a.mint(&y, EntityType::Human).await.status, 201);
    let edge =
        json!({"subject": x_id, "predicate": "https://web4.io/ontology#pairedWith", "object": y_id, "weight": 0.5});
    let first = a.post(&x, "/v1/graph/triple", &edge).await;
    assert_eq!(first.status, 201, "{}", first.body);
    next_second().await;
    let second = a.post(&x, "/v1/graph/triple", &edge).await;
    assert_eq!(second.status, 201, "{}", second.body);
    let ledger_ref = |r: &Resp| r.body["metadata"]["ledger_ref"].as_str().unwrap().to_owned();
    let (first_ref, second_ref) = (ledger_ref(&first), ledger_ref(&second));
    let (_dir, mut c) = applied_in_order(&ledger_list(&a).await);
    let row = |c: &rusqlite::Connection| -> (String, Option<i64>) {
        c.query_row("SELECT ledger_ref, seq FROM graph_triples WHERE s = ?1 AND o = ?2", [&x_id, &y_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    let now_row = row(&c);
    assert_eq!(now_row.0, second_ref, "the newer record stamps the row");
    // The store as the code before migration 23 left it (nor the tables of 24 and 25).
    c.execute_batch(&format!(
        "ALTER TABLE graph_triples DROP COLUMN at; ALTER TABLE graph_triples DROP COLUMN author;
         ALTER TABLE graph_triples DROP COLUMN seq; DROP TABLE role_records; DROP TABLE carried_requests;
         DROP TABLE lost_registrations; DROP TABLE void_objects;
         DELETE FROM schema_migrations WHERE version >= 23;
         UPDATE graph_triples SET ledger_ref = '{first_ref}' WHERE s = '{x_id}' AND o = '{y_id}';"
    ))
    .unwrap();
    web4_daemon::store::migrations::migrate(&mut c).unwrap();
    assert_eq!(row(&c), now_row, "the newest record's reference and stamp");
    let v = web4_daemon::ledger::verify(&c).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
}

/// Wait until the clock's second changes: records written after it sort
/// after every record written before it (record times are in seconds).
async fn next_second() {
    let s = now().secs();
    while now().secs() == s {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A revoked node's records dated before its revocation apply wherever the
/// revocation arrived first; those dated from it on are refused in any order
/// (decisions/0027, session 25).
#[tokio::test]
async fn a_revoked_nodes_earlier_records_apply_in_either_order() {
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let a = TestNode::start().await;
    let (x, y) = (random_key(), random_key());
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    assert_eq!(a.mint(&y, EntityType::Human).await.status, 201);
    // n holds a copy of a's ledger (its registration included) but does not federate.
    let n = TestNode::join(&a, "").await;
    let n_id = n.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let shared = ledger_list(&a).await;
    let suspend = json!({"reason": "investigation"});
    let r = n.post(&n.admin, &format!("/v1/lct/{}/suspend", id_of(&x)), &suspend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    next_second().await;
    let r = a.post(&a.admin, &format!("/v1/lct/{n_id}/revoke"), &json!({"reason": "compromise"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    next_second().await;
    // n has not heard of it and records on.
    let r = n.post(&n.admin, &format!("/v1/lct/{}/suspend", id_of(&y)), &suspend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = |list: Vec<String>| list.into_iter().skip(shared.len()).collect::<Vec<_>>();
    let (revocation, on_n) = (fresh(ledger_list(&a).await), fresh(ledger_list(&n).await));
    assert_eq!((revocation.len(), on_n.len()), (1, 2), "{revocation:?} {on_n:?}");
    let mut rows = Vec::new();
    for order in [
        [revocation.clone(), on_n.clone()].concat(),
        [on_n[..1].to_vec(), revocation.clone(), on_n[1..].to_vec()].concat(),
    ] {
        let (_dir, c) = fresh_store();
        for text in &shared {
            assert!(matches!(accept_foreign(&c, text, now()).unwrap(), Foreign::Applied { .. }));
        }
        for text in &order {
            let got = accept_foreign(&c, text, now()).unwrap();
            if *text == on_n[1] {
                match got {
                    Foreign::Rejected(why) => assert!(why.contains("is revoked since"), "{why}"),
                    other => panic!("n's record after its revocation: {other:?}"),
                }
            } else {
                assert!(matches!(got, Foreign::Applied { .. }), "{got:?}");
            }
        }
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        let count: i64 = c.query_row("SELECT COUNT(*) FROM lcts", [], |r| r.get(0)).unwrap();
        let status: String = c.query_row("SELECT status FROM lcts WHERE lct_id = ?1", [&n_id], |r| r.get(0)).unwrap();
        rows.push((v.records, count, status));
    }
    assert_eq!(rows[0], rows[1], "the same records apply in either order");
    assert_eq!(rows[0].2, "revoked");
}

/// A node's record bound to a law version whose publication has not arrived
/// yet waits for it and then applies, rather than being refused (which
/// scored down the honest peer that relayed it); a record bound to a law
/// the society never had is never applied (decisions/0027, session 25).
#[tokio::test]
async fn a_record_under_a_law_not_yet_received_waits_for_it() {
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let a = TestNode::start().await;
    let x = random_key();
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    let mut b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let publish = ledger_list(&a).await[shared.len()..].to_vec();
    assert_eq!(publish.len(), 1);
    // b learns the new law (as gossip would bring it), then records under it.
    assert!(b.sigterm().success());
    {
        let live = web4_daemon::store::open_connection(&b.data_dir().join("web4.db"), false).unwrap();
        assert!(matches!(accept_foreign(&live, &publish[0], now()).unwrap(), Foreign::Applied { .. }));
    }
    b.spawn(&[]).await;
    let r = b.post(&b.admin, &format!("/v1/lct/{}/suspend", id_of(&x)), &json!({"reason": "investigation"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let on_b = ledger_list(&b).await;
    let by_b = on_b.last().unwrap().clone();
    let bound: web4_core::ledger::Record = serde_json::from_str(&by_b).unwrap();
    assert_eq!(bound.law_hash.to_string(), r.body["metadata"]["law_hash"].as_str().unwrap());

    // A third node gets b's record before the publication.
    let (_dir, c) = fresh_store();
    for text in &shared {
        assert!(matches!(accept_foreign(&c, text, now()).unwrap(), Foreign::Applied { .. }));
    }
    match accept_foreign(&c, &by_b, now()).unwrap() {
        Foreign::UnknownLaw(h) => assert_eq!(h, bound.law_hash),
        other => panic!("expected it to wait for the law, got {other:?}"),
    }
    let status = || -> String {
        c.query_row("SELECT status FROM lcts WHERE lct_id = ?1", [id_of(&x).as_str()], |r| r.get(0)).unwrap()
    };
    assert_eq!(status(), "active", "nothing applied while it waits");
    assert!(matches!(accept_foreign(&c, &publish[0], now()).unwrap(), Foreign::Applied { .. }));
    assert!(matches!(accept_foreign(&c, &by_b, now()).unwrap(), Foreign::Applied { .. }));
    assert_eq!(status(), "suspended");
    let v = web4_daemon::ledger::verify(&c).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
}

/// Two authorities on two nodes each take a role-granting role away at once
/// (each node only refuses taking it from the last holder it knows of): the
/// society is not left without one. The LCT whose register took it last
/// keeps it while no other holds it, and loses it once another LCT is given
/// it, in any arrival order (decisions/0019, session-29 addendum).
#[tokio::test]
async fn concurrent_revocations_never_leave_a_society_without_an_authority() {
    let a = TestNode::start().await;
    let node_a = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let admin = id_of(&a.admin).to_string();
    let z = random_key();
    let z_id = id_of(&z).to_string();
    assert_eq!(a.mint(&z, EntityType::Human).await.status, 201);
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    let b_before = ledger_list(&b).await.len();
    // On a, the admin takes the authority from a's node; a second later on b
    // it gives up its own (b still sees a's node holding it).
    let r = a.delete(&a.admin, &format!("/v1/lct/{node_a}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    next_second().await;
    let r = b.delete(&b.admin, &format!("/v1/lct/{admin}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Later, on a (which still sees the admin holding it), z is given it.
    next_second().await;
    let r = a.post(&a.admin, &format!("/v1/lct/{z_id}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let on_a: Vec<String> = ledger_list(&a).await.into_iter().skip(shared.len()).collect();
    let on_b: Vec<String> = ledger_list(&b).await.into_iter().skip(b_before).collect();
    assert_eq!((on_a.len(), on_b.len()), (2, 1));
    let (a1, a2, b1) = (on_a[0].clone(), on_a[1].clone(), on_b[0].clone());
    type Edge = (String, String, i64, String, i64);
    let state = |c: &rusqlite::Connection| -> (Vec<String>, Vec<Edge>) {
        let holders = c
            .prepare("SELECT lct_id FROM roles WHERE role = 'authority' ORDER BY lct_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let edges = c
            .prepare("SELECT o, ledger_ref, at, author, seq FROM graph_triples WHERE p LIKE '%hasAuthority' ORDER BY o")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (holders, edges)
    };
    // Both revocations: the admin, whose register took the role last, keeps it.
    let mut seen = Vec::new();
    for order in [[a1.clone(), b1.clone()], [b1.clone(), a1.clone()]] {
        let (_dir, c) = applied_in_order(shared.iter().chain(order.iter()));
        let (holders, edges) = state(&c);
        assert_eq!(holders, std::slice::from_ref(&admin), "one authority is left");
        assert_eq!(edges.iter().map(|e| &e.0).collect::<Vec<_>>(), [&admin]);
        let register: bool = c
            .query_row("SELECT held FROM role_changes WHERE lct_id = ?1 AND role = 'authority'", [&admin], |r| r.get(0))
            .unwrap();
        assert!(!register, "its register still says it gave the role up");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        seen.push(state(&c));
    }
    assert_eq!(seen[0], seen[1]);
    // A store from before migration 26 (no keeper) gets the keeper on upgrade.
    let (_dir, mut c) = applied_in_order(shared.iter().chain([a1.clone(), b1.clone()].iter()));
    c.execute_batch(&format!(
        "DELETE FROM roles WHERE lct_id = '{admin}' AND role = 'authority';
         DELETE FROM graph_triples WHERE o = '{admin}' AND p LIKE '%hasAuthority';
         DROP TABLE lost_registrations; DROP TABLE void_objects;
         DELETE FROM schema_migrations WHERE version >= 26;"
    ))
    .unwrap();
    assert!(state(&c).0.is_empty(), "no authority before the upgrade");
    web4_daemon::store::migrations::migrate(&mut c).unwrap();
    assert_eq!(state(&c), seen[0], "the keeper and its edge, as the nodes hold them");
    let v = web4_daemon::ledger::verify(&c).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
    // Once z is given the role, the admin no longer keeps it.
    let mut seen = Vec::new();
    for order in [
        [a1.clone(), a2.clone(), b1.clone()],
        [a1.clone(), b1.clone(), a2.clone()],
        [b1.clone(), a1.clone(), a2.clone()],
    ] {
        let (_dir, c) = applied_in_order(shared.iter().chain(order.iter()));
        let (holders, _) = state(&c);
        assert_eq!(holders, std::slice::from_ref(&z_id), "z holds it, and no one keeps it besides");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        seen.push(state(&c));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

/// The same on live nodes: an authority's role taken on one node while, on
/// another that has not heard of it, the other authority's LCT is suspended.
/// Both nodes then show the one active LCT that gave the role up last
/// keeping it; it can confirm the role with a grant of its own, and as the
/// last active holder it cannot lose it (decisions/0019, session-29 addendum).
#[tokio::test]
async fn a_lock_out_made_on_two_live_nodes_leaves_a_keeper_who_can_confirm_the_role() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let mut b = TestNode::join(&a, &p2p_config(&boot)).await;
    let node_a = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let admin = id_of(&a.admin).to_string();
    let bob = random_key();
    let bob_id = id_of(&bob).to_string();
    assert_eq!(a.mint(&bob, EntityType::Human).await.status, 201);
    let r = a.post(&a.admin, &format!("/v1/lct/{bob_id}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.delete(&a.admin, &format!("/v1/lct/{node_a}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(30, "b sees bob and the admin as the authorities", || async {
        roles(&b, &bob_id).await.as_array().is_some_and(|r| r.contains(&json!("authority")))
            && !roles(&b, &node_a).await.as_array().is_some_and(|r| r.contains(&json!("authority")))
    })
    .await;
    // b goes offline; on a the admin takes bob's authority.
    let config = b.data_dir().parent().unwrap().join("web4d.toml");
    assert!(b.sigterm().success());
    let r = a.delete(&a.admin, &format!("/v1/lct/{bob_id}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // b, alone, has not heard of it: bob suspends the admin's LCT there.
    std::fs::write(&config, p2p_config(&[])).unwrap();
    b.spawn(&[]).await;
    let r = b.post(&bob, &format!("/v1/lct/{admin}/suspend"), &json!({"reason": "lost laptop"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // b rejoins: each node applies the other's change.
    assert!(b.sigterm().success());
    std::fs::write(&config, p2p_config(&boot)).unwrap();
    b.spawn(&[]).await;
    for n in [&a, &b] {
        eventually(30, "both changes applied: bob keeps the authority, the admin is suspended", || async {
            roles(n, &bob_id).await.as_array().is_some_and(|r| r.contains(&json!("authority")))
                && n.get(&format!("/v1/lct/{admin}")).await.body["data"]["status"] == "suspended"
        })
        .await;
    }
    assert!(
        std::fs::read_to_string(a.log_path()).unwrap().contains("granting_role_kept"),
        "the node says so in its log"
    );
    // Bob confirms the role (it is kept, not granted: a grant is in order).
    let r = a.post(&bob, &format!("/v1/lct/{bob_id}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.delete(&bob, &format!("/v1/lct/{bob_id}/roles/authority")).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_LAW_CONFLICT"), "{}", r.body);
}

/// A role change of an LCT recorded on one node while another node records
/// its rotation reaches the new LCT in either order: the new LCT takes the
/// old one's role registers, and later changes of the old one reach it too
/// (decisions/0019, session-25 addendum).
#[tokio::test]
async fn a_role_change_concurrent_with_a_rotation_reaches_the_new_lct_in_either_order() {
    let a = TestNode::start().await;
    let (x, x_id) = member_with_roles(&a, &["witness", "archivist"]).await;
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    let rotated = web4_core::lct::Binding::create(&random_key(), EntityType::Human, now());
    let new_id = rotated.lct_id().to_string();
    let r = a
        .post(
            &x,
            &format!("/v1/lct/{x_id}/transition"),
            &json!({"public_key": rotated.public_key, "created_at": rotated.created_at, "binding_proof": rotated.binding_proof}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // b's changes sort after a's grants (same-second changes are refused when
    // they would sort first; that is the status test's subject).
    next_second().await;
    let r = b.delete(&b.admin, &format!("/v1/lct/{x_id}/roles/witness")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.post(&b.admin, &format!("/v1/lct/{x_id}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = |list: Vec<String>| list.into_iter().skip(shared.len()).collect::<Vec<_>>();
    let (on_a, on_b) = (fresh(ledger_list(&a).await), fresh(ledger_list(&b).await));
    assert_eq!((on_a.len(), on_b.len()), (1, 2));
    let mut seen = Vec::new();
    for order in [
        [shared.clone(), on_a.clone(), on_b.clone()].concat(),
        [shared.clone(), on_b.clone(), on_a.clone()].concat(),
        [shared.clone(), on_b[..1].to_vec(), on_a.clone(), on_b[1..].to_vec()].concat(),
    ] {
        let (_dir, c) = applied_in_order(&order);
        let strings = |sql: &str| -> Vec<String> {
            c.prepare(sql).unwrap().query_map([&new_id], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        let roles = strings("SELECT role FROM roles WHERE lct_id = ?1 ORDER BY role");
        let registers = strings(
            "SELECT role || ':' || held || ':' || at || ':' || author || ':' || seq FROM role_changes WHERE lct_id = ?1 ORDER BY role",
        );
        let edges = strings("SELECT p FROM graph_triples WHERE o = ?1 ORDER BY p");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        seen.push((roles, registers, edges));
    }
    assert!(seen[0].0.contains(&"authority".to_owned()) && seen[0].0.contains(&"archivist".to_owned()), "{seen:?}");
    assert!(!seen[0].0.contains(&"witness".to_owned()), "{seen:?}");
    assert!(seen[0].2.iter().any(|p| p.ends_with("hasAuthority")), "{seen:?}");
    assert!(seen.iter().all(|x| *x == seen[0]), "every order gives the new LCT the same roles: {seen:?}");
}

/// A law published on the founding node is in force on its peers as soon as
/// they applied the record: they answer and record under it without a
/// restart (they refused every signed write as a downgrade until then).
#[tokio::test]
async fn a_law_published_elsewhere_is_in_force_here_once_applied() {
    let (a, mut joined) = founder_and_peers(1).await;
    let b = joined.remove(0);
    eventually(15, "A and B connected", || async { peers(&b).await >= 1 }).await;
    let x = random_key();
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    let x_id = id_of(&x).to_string();
    eventually(10, "the mint reached B", || async { has_lct(&b, &x_id).await }).await;
    let mut law = web4_daemon::node::dev_genesis_law();
    law["version"] = json!("1.1.0");
    let r = a.post(&a.admin, "/v1/law/publish", &json!({"law": law})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new_hash = r.body["data"]["law_hash"].clone();
    assert_eq!(a.get("/ready").await.body["law_hash"], new_hash, "in force on the founder");
    eventually(10, "B applied the publication", || async { b.get("/ready").await.body["law_hash"] == new_hash }).await;
    let r = b.post(&b.admin, &format!("/v1/lct/{x_id}/suspend"), &json!({"reason": "investigation"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["law_hash"], new_hash);
    eventually(10, "B's record under the new law reached A", || async {
        a.get(&format!("/v1/lct/{x_id}")).await.body["data"]["status"] == "suspended"
    })
    .await;
}

/// An LCT rotated on two nodes at once (its key used on both): every node
/// keeps the rotation that sorts first by (record time, new LCT id), in
/// either order; both new LCTs stay registered (decisions/0016).
#[tokio::test]
async fn two_rotations_of_one_lct_leave_the_same_successor_in_either_order() {
    use web4_core::ledger::Record;
    let a = TestNode::start().await;
    let y = random_key();
    let y_id = id_of(&y).to_string();
    assert_eq!(a.mint(&y, EntityType::Human).await.status, 201);
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    let mut new_ids = Vec::new();
    for n in [&a, &b] {
        let next = web4_core::lct::Binding::create(&random_key(), EntityType::Human, now());
        let body =
            json!({"public_key": next.public_key, "created_at": next.created_at, "binding_proof": next.binding_proof});
        let r = n.post(&y, &format!("/v1/lct/{y_id}/transition"), &body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        new_ids.push(next.lct_id().to_string());
    }
    let (y1, y2) = (new_ids[0].clone(), new_ids[1].clone());
    let fresh = |list: Vec<String>| list.into_iter().skip(shared.len()).collect::<Vec<_>>();
    let (on_a, on_b) = (fresh(ledger_list(&a).await), fresh(ledger_list(&b).await));
    assert_eq!((on_a.len(), on_b.len()), (1, 1));
    let key = |t: &String, new: &String| {
        let r: Record = serde_json::from_str(t).unwrap();
        (r.timestamp.secs(), new.clone())
    };
    let winner = if key(&on_a[0], &y1) < key(&on_b[0], &y2) { &y1 } else { &y2 };
    let mut rows = Vec::new();
    for order in [[on_a[0].clone(), on_b[0].clone()], [on_b[0].clone(), on_a[0].clone()]] {
        let (_dir, c) = applied_in_order(shared.iter().chain(order.iter()));
        let row: Vec<Option<String>> = c
            .query_row(
                "SELECT status, status_reason, ledger_ref, CAST(updated_at AS TEXT), superseded_by,
                        CAST(overlap_until AS TEXT) FROM lcts WHERE lct_id = ?1",
                [&y_id],
                |r| (0..6).map(|i| r.get(i)).collect(),
            )
            .unwrap();
        let edges: Vec<String> = c
            .prepare("SELECT o FROM graph_triples WHERE s = ?1 AND p LIKE '%supersededBy' ORDER BY o")
            .unwrap()
            .query_map([&y_id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let registered: i64 =
            c.query_row("SELECT COUNT(*) FROM lcts WHERE lct_id IN (?1, ?2)", [&y1, &y2], |r| r.get(0)).unwrap();
        assert_eq!(row[4].as_ref(), Some(winner), "{row:?}");
        assert_eq!(edges, vec![winner.clone()]);
        assert_eq!(registered, 2, "both new LCTs stay registered");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        rows.push(row);
    }
    assert_eq!(rows[0], rows[1], "the same row in either order");
}

/// A member minted on `a` and given `roles` by the admin: its key and id.
async fn member_with_roles(a: &TestNode, roles: &[&str]) -> (web4_core::SecretKey, String) {
    let key = random_key();
    let id = id_of(&key).to_string();
    assert_eq!(a.mint(&key, EntityType::Human).await.status, 201);
    for role in roles {
        let r = a.post(&a.admin, &format!("/v1/lct/{id}/roles"), &json!({"role": role})).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    (key, id)
}

/// The roles `n` shows for LCT `id`.
async fn roles(n: &TestNode, id: &str) -> Value {
    n.get(&format!("/v1/lct/{id}")).await.body["data"]["roles"].clone()
}

/// Rotate `old` (whose key is `key`) on node `n` to a new key: the new key
/// and LCT id.
async fn rotate(n: &TestNode, key: &web4_core::SecretKey, old: &str) -> (web4_core::SecretKey, String) {
    let next = random_key();
    let binding = web4_core::lct::Binding::create(&next, EntityType::Human, now());
    let body = json!({"public_key": binding.public_key, "created_at": binding.created_at, "binding_proof": binding.binding_proof});
    let r = n.post(key, &format!("/v1/lct/{old}/transition"), &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    (next, binding.lct_id().to_string())
}

/// A rotation that does not stand leaves its new LCT the roles given to it
/// and none of the old LCT's, in either arrival order: where the winning
/// rotation arrives second, the displaced successor's roles (and those of
/// its own successor) are made again from the role records that name them,
/// and the authority edges follow the registers (decisions/0016, session-29
/// addendum). The old LCT is an authority whose role a third node takes back
/// concurrently, after the losing successor was given it on its own.
#[tokio::test]
async fn a_rotation_that_does_not_stand_keeps_only_the_roles_given_to_its_lct() {
    let a = TestNode::start().await;
    let (y, y_id) = member_with_roles(&a, &["witness", "authority"]).await;
    // b and c hold a copy of a's ledger but do not federate: all write alone.
    let b = TestNode::join(&a, "").await;
    let c = TestNode::join(&a, "").await;
    // a's ledger holds c's registration too (a joining node registers there).
    let shared = ledger_list(&a).await;
    let before = [shared.len(), ledger_list(&b).await.len(), ledger_list(&c).await.len()];
    // a's rotation sorts first (an earlier second): y1 stands.
    let (_k1, y1) = rotate(&a, &y, &y_id).await;
    next_second().await;
    let (k2, y2) = rotate(&b, &y, &y_id).await;
    // On b, y2 holds y's roles; it is given one of its own, loses the
    // authority and is given it again, then rotates to y3.
    let r = b.post(&b.admin, &format!("/v1/lct/{y2}/roles"), &json!({"role": "archivist"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["roles"], json!(["archivist", "authority", "citizen", "witness"]), "{}", r.body);
    let r = b.delete(&b.admin, &format!("/v1/lct/{y2}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = b.post(&b.admin, &format!("/v1/lct/{y2}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_k3, y3) = rotate(&b, &k2, &y2).await;
    let r = a.post(&a.admin, &format!("/v1/lct/{y1}/roles"), &json!({"role": "archivist"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Later, c (which saw neither rotation) takes y's authority back.
    next_second().await;
    let r = c.delete(&c.admin, &format!("/v1/lct/{y_id}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = |list: Vec<String>, n: usize| list.into_iter().skip(before[n]).collect::<Vec<_>>();
    let on_a = fresh(ledger_list(&a).await, 0);
    let on_b = fresh(ledger_list(&b).await, 1);
    let on_c = fresh(ledger_list(&c).await, 2);
    assert_eq!((on_a.len(), on_b.len(), on_c.len()), (2, 5, 1));
    let mut seen = Vec::new();
    for order in [
        [shared.clone(), on_a.clone(), on_b.clone(), on_c.clone()].concat(),
        [shared.clone(), on_b.clone(), on_c.clone(), on_a.clone()].concat(),
        [shared.clone(), on_c.clone(), on_b.clone(), on_a.clone()].concat(),
    ] {
        let (_dir, c) = applied_in_order(order.iter());
        let roles = |id: &str| -> Vec<String> {
            c.prepare("SELECT role FROM roles WHERE lct_id = ?1 ORDER BY role")
                .unwrap()
                .query_map([id], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(roles(&y1), ["archivist", "citizen", "witness"], "the successor that stands, without y's authority");
        assert_eq!(roles(&y2), ["archivist", "authority"], "the displaced successor keeps what was given to it");
        assert_eq!(roles(&y3), ["archivist", "authority"], "its successor takes only that");
        // A decision pairing y's witness role for y2 or y3 (recorded on b,
        // where y2 stood and took it) waits for nothing here: they succeed y
        // by the rotations that registered them (decisions/0029, session 31).
        let held = |l: &str, r: &str| {
            web4_daemon::ledger::object_known(&c, &web4_daemon::ledger::Owned::Role(l.into(), vec![r.into()])).unwrap()
        };
        assert!(held(&y2, "witness") && held(&y3, "witness") && held(&y1, "witness"));
        assert!(!held(&y3, "treasurer") && !held(&y1, "treasurer"));
        let registers: Vec<(String, String, bool, i64, String, i64)> = c
            .prepare(
                "SELECT lct_id, role, held, at, author, seq FROM role_changes WHERE lct_id IN (?1, ?2, ?3)
                 ORDER BY lct_id, role",
            )
            .unwrap()
            .query_map([&y1, &y2, &y3], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let edges: Vec<(String, String, i64, String, i64)> = c
            .prepare("SELECT o, ledger_ref, at, author, seq FROM graph_triples WHERE p LIKE '%hasAuthority' ORDER BY o")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let holders: Vec<&String> = edges.iter().map(|e| &e.0).filter(|o| [&y_id, &y1, &y2, &y3].contains(o)).collect();
        assert_eq!(
            holders,
            {
                let mut h = vec![&y2, &y3];
                h.sort();
                h
            },
            "y2 and y3 are the authorities of the graph"
        );
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        seen.push((registers, edges));
    }
    assert_eq!(seen[0], seen[1], "the same role registers and edges in either order");
    assert_eq!(seen[0], seen[2], "the same role registers and edges in either order");
}

/// One new key registered by a rotation on one node and by a mint on another
/// (decisions/0025): whichever stands, the LCT is known to have held what
/// either registration gave it (the roles of the LCT rotated, the mint's
/// citizen role), so a decision pairing one of them, recorded where the other
/// stands, does not wait for ever (decisions/0029, session 31). Migration 28
/// fills the same from the ledger.
#[tokio::test]
async fn a_rotation_and_a_mint_of_one_key_both_count_for_its_roles() {
    use web4_daemon::ledger::{Owned, object_known};
    let a = TestNode::start().await;
    let (y, y_id) = member_with_roles(&a, &["archivist"]).await;
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    let before_b = ledger_list(&b).await.len();
    // b witnesses the birth it records alone.
    let b_id = b.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let r = b.post(&b.admin, &format!("/v1/lct/{b_id}/roles"), &json!({"role": "witness"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (k, k_id) = rotate(&a, &y, &y_id).await;
    let r = b.mint(&k, EntityType::Human).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let on_a: Vec<String> = ledger_list(&a).await.into_iter().skip(shared.len()).collect();
    let on_b: Vec<String> = ledger_list(&b).await.into_iter().skip(before_b).collect();
    assert_eq!((on_a.len(), on_b.len()), (1, 2));
    for (order, lost_old) in [
        ([shared.clone(), on_b.clone(), on_a.clone()].concat(), Some(y_id.clone())),
        ([shared.clone(), on_a.clone(), on_b.clone()].concat(), None),
    ] {
        let (_dir, mut c) = applied_in_order(order.iter());
        let held = |c: &rusqlite::Connection, role: &str| {
            object_known(c, &Owned::Role(k_id.clone(), vec![role.into()])).unwrap()
        };
        assert!(held(&c, "archivist") && held(&c, "citizen") && !held(&c, "treasurer"));
        let lost: (Option<String>, Option<String>) = c
            .query_row("SELECT old, citizen_role FROM lost_registrations WHERE lct_id = ?1", [&k_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let expected = match &lost_old {
            Some(old) => (Some(old.clone()), None),
            None => (None, Some("citizen".to_owned())),
        };
        assert_eq!(lost, expected, "the registration that did not stand");
        // Migration 28 on a store from before it finds the same.
        c.execute_batch(
            "ALTER TABLE lost_registrations DROP COLUMN old; ALTER TABLE lost_registrations DROP COLUMN citizen_role;
             DELETE FROM schema_migrations WHERE version >= 28;",
        )
        .unwrap();
        web4_daemon::store::migrations::migrate(&mut c).unwrap();
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        assert!(held(&c, "archivist") && held(&c, "citizen"));
    }
}

/// Suspensions and reinstatements recorded concurrently on two nodes end the
/// same on every node whatever order their records apply in: the newest by
/// (record time, author, seq) decides, and a rotation recorded concurrently
/// with a suspension leaves the LCT superseded in either order
/// (decisions/0016, session-25 addendum).
#[tokio::test]
async fn suspensions_and_reinstatements_converge_whatever_order_records_apply() {
    let a = TestNode::start().await;
    let (x, y) = (random_key(), random_key());
    let (x_id, y_id) = (id_of(&x).to_string(), id_of(&y).to_string());
    assert_eq!(a.mint(&x, EntityType::Human).await.status, 201);
    assert_eq!(a.mint(&y, EntityType::Human).await.status, 201);
    let suspend = json!({"reason": "investigation"});
    let r = a.post(&a.admin, &format!("/v1/lct/{x_id}/suspend"), &suspend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // b holds a copy of a's ledger but does not federate: both write alone.
    let b = TestNode::join(&a, "").await;
    let shared = ledger_list(&a).await;
    for (path, body) in [
        (format!("/v1/lct/{x_id}/reinstate"), json!({"reason": "cleared"})),
        (format!("/v1/lct/{x_id}/suspend"), json!({"reason": "second look"})),
        (format!("/v1/lct/{y_id}/suspend"), suspend.clone()),
    ] {
        let r = a.post(&a.admin, &path, &body).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // B holds A's first suspension of X. Recorded in the same second, B's
    // reinstatement sorts before it when B's id does: the register would
    // ignore it everywhere, so B refuses it, records nothing, and it is
    // accepted a second later.
    let reinstate = json!({"reason": "cleared on b"});
    let records_before = b.ledger_records();
    let mut r = b.post(&b.admin, &format!("/v1/lct/{x_id}/reinstate"), &reinstate).await;
    if r.status != 200 {
        assert_eq!(r.body["error"]["code"], "W4_ERR_PROTO_SEQUENCE", "{}", r.body);
        assert_eq!(r.body["error"]["details"]["in_force"]["author"], a.get("/ready").await.body["node"], "{}", r.body);
        assert_eq!(b.ledger_records(), records_before, "nothing recorded");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        r = b.post(&b.admin, &format!("/v1/lct/{x_id}/reinstate"), &reinstate).await;
    }
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = web4_core::lct::Binding::create(&random_key(), EntityType::Human, now());
    let r = b
        .post(
            &y,
            &format!("/v1/lct/{y_id}/transition"),
            &json!({"public_key": rotated.public_key, "created_at": rotated.created_at, "binding_proof": rotated.binding_proof}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let fresh = |list: Vec<String>| list.into_iter().skip(shared.len()).collect::<Vec<_>>();
    let (on_a, on_b) = (fresh(ledger_list(&a).await), fresh(ledger_list(&b).await));
    assert_eq!((on_a.len(), on_b.len()), (3, 2), "{on_a:?} {on_b:?}");
    // The newest of X's changes by (time, author, seq) decides X.
    let stamp = |t: &String| {
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        let at = web4_core::Timestamp::parse(v["timestamp"].as_str().unwrap()).unwrap().secs();
        (
            at,
            v["author"].as_str().unwrap().to_owned(),
            v["seq"].as_u64().unwrap(),
            v["kind"].as_str().unwrap().to_owned(),
        )
    };
    let newest = [&on_a[0], &on_a[1], &on_b[0]].into_iter().map(stamp).max().unwrap();
    let want_x = if newest.3 == "lct.suspend" { "suspended" } else { "active" };
    let (a_, b_) = (|i: usize| on_a[i].clone(), |i: usize| on_b[i].clone());
    let orders = [
        [shared.clone(), on_a.clone(), on_b.clone()].concat(),
        [shared.clone(), on_b.clone(), on_a.clone()].concat(),
        [shared.clone(), vec![a_(0), b_(0), a_(1), b_(1), a_(2)]].concat(),
        [shared.clone(), vec![b_(0), a_(0), b_(1), a_(1), a_(2)]].concat(),
    ];
    let mut rows = Vec::new();
    for order in &orders {
        let (_dir, c) = applied_in_order(order);
        let row = |id: &str| -> Vec<Option<String>> {
            c.query_row(
                "SELECT status, status_reason, ledger_ref, CAST(updated_at AS TEXT), superseded_by,
                        CAST(status_at AS TEXT), status_author, CAST(status_seq AS TEXT) FROM lcts WHERE lct_id = ?1",
                [id],
                |r| (0..8).map(|i| r.get(i)).collect(),
            )
            .unwrap()
        };
        let (rx, ry) = (row(&x_id), row(&y_id));
        assert_eq!(rx[0].as_deref(), Some(want_x), "X: {rx:?}");
        assert_eq!(ry[0].as_deref(), Some("superseded"), "Y: {ry:?}");
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
        rows.push((rx, ry));
    }
    assert!(rows.iter().all(|r| *r == rows[0]), "every order gives the same rows: {rows:?}");
}

/// A hostile peer joins the society's topic and sends forged, replayed,
/// oversized, wrong-law and out-of-order records: nothing invalid is applied,
/// its gossipsub score drops, and honest traffic still flows.
#[tokio::test]
async fn a_hostile_peer_is_refused_and_scored_down_while_honest_traffic_flows() {
    use web4_core::ledger::{Record, RecordDraft};
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let ready = a.get("/ready").await.body;
    let society = web4_core::LctId::parse(ready["society"].as_str().unwrap()).unwrap();
    let topic = web4_p2p::ledger_topic(&society);
    // It sends more than honest nodes accept, and answers no sync requests.
    let (evil, _) = raw_peer(&topic, &boot[0], 1024 * 1024).await;
    let evil_id = evil.peer_id.to_string();
    let score = || async {
        let p = a.get("/v1/p2p/peers").await.body;
        p["data"]["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["peer_id"] == json!(evil_id))
            .map(|x| x["score"].as_f64())
    };
    eventually(15, "the hostile peer is connected to A", || async { score().await.is_some() }).await;
    // Let the gossipsub mesh form (heartbeat 0.5 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records_before = a.ledger_records();

    // Material: a real record of A's chain, and the society admin's key (a known member, no node).
    let live = a.get("/v1/ledger/records?after=0&limit=1000").await.body;
    let texts: Vec<String> =
        live["data"]["records"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    let genesis: Record = serde_json::from_str(&texts[0]).unwrap();
    let admin = id_of(&a.admin);
    let draft = |author: web4_core::LctId, seq: u64, prev, law| RecordDraft {
        author,
        seq,
        prev_hash: prev,
        kind: "graph.triple".into(),
        payload: json!({"note": "not a real triple"}),
        law_hash: law,
        timestamp: now(),
    };
    let send = |text: String| {
        let (evil, topic) = (evil.clone(), topic.clone());
        async move { evil.publish(topic, text.into_bytes()).await }
    };
    // A's next record as a thief of A's node key signs it, with a payload
    // no triple has (sent first: once the peer's score is low enough, A
    // ignores what it sends).
    let node_key = web4_daemon::keystore::read_key(&a.data_dir().join("keys/node.key")).unwrap();
    let a_head: Record =
        texts.iter().map(|t| serde_json::from_str::<Record>(t).unwrap()).rfind(|r| r.author == genesis.author).unwrap();
    let stolen = draft(genesis.author.clone(), a_head.seq + 1, a_head.hash().unwrap(), genesis.law_hash)
        .sign(&node_key)
        .unwrap();
    send(serde_json::to_string(&stolen).unwrap()).await.unwrap();
    // Out of order (no penalty): seq 7 of an author not known here
    // (perhaps a node whose registration is still on its way): waits in
    // escrow, never applied.
    let stranger = random_key();
    let gap = draft(id_of(&stranger), 7, web4_core::Hash::ZERO, genesis.law_hash).sign(&stranger).unwrap();
    send(serde_json::to_string(&gap).unwrap()).await.unwrap();
    // A member's record ahead of a gap: a member authors no records, so it is
    // refused at once rather than parked.
    let member_gap = draft(admin.clone(), 7, web4_core::Hash::ZERO, genesis.law_hash).sign(&a.admin).unwrap();
    send(serde_json::to_string(&member_gap).unwrap()).await.unwrap();
    // Replayed: a record A already holds (ignored, no penalty).
    let _ = send(texts[0].clone()).await;
    // Forged: the next record of A's chain, signed by a stranger.
    let a_chain: Vec<Record> = texts
        .iter()
        .map(|t| serde_json::from_str::<Record>(t).unwrap())
        .filter(|r| r.author == genesis.author)
        .collect();
    assert_eq!(a_chain.last(), Some(&a_head));
    let forged = draft(genesis.author.clone(), a_head.seq + 1, a_head.hash().unwrap(), genesis.law_hash)
        .sign(&random_key())
        .unwrap();
    // Equivocation: A's own node key (read from its data dir, as a thief
    // would) signs a second record for a seq A's chain already has. A keeps
    // it as evidence, refuses it, flags A's LCT, and gossips the evidence.
    let twin = draft(genesis.author.clone(), a_head.seq, a_head.prev_hash, genesis.law_hash).sign(&node_key).unwrap();
    send(serde_json::to_string(&twin).unwrap()).await.unwrap();
    // Bogus evidence: the "other" record is not signed by the author.
    let bogus = json!({"kept": texts[texts.len() - 1], "other": serde_json::to_string(&forged).unwrap()});
    evil.publish(web4_p2p::evidence_topic(&society), bogus.to_string().into_bytes()).await.unwrap();
    send(serde_json::to_string(&forged).unwrap()).await.unwrap();
    // A known LCT that is no node (the admin) signing against another society's law.
    let wrong_law =
        draft(admin.clone(), 1, web4_core::Hash::ZERO, web4_core::sha256(b"other law")).sign(&a.admin).unwrap();
    send(serde_json::to_string(&wrong_law).unwrap()).await.unwrap();
    // Not a record at all.
    send("{\"author\": \"lct:web4:nobody\"".into()).await.unwrap();
    // Oversized: 300 KiB (honest nodes take at most 256 KiB).
    let _ = send(format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024))).await;

    eventually(15, "A rejected the invalid records and scored the peer down", || async {
        let m = a.get("/metrics").await.body.as_str().unwrap_or_default().to_owned();
        let rejected = m
            .lines()
            .find(|l| l.starts_with("web4_gossip_rejected_total "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        rejected >= 3.0 && score().await.flatten().is_some_and(|s| s < 0.0)
    })
    .await;
    let flagged = |n: &TestNode| {
        let (http, base) = (n.http.clone(), n.base.clone());
        async move {
            let v: Value = http.get(format!("{base}/v1/p2p/equivocations")).send().await.unwrap().json().await.unwrap();
            v["data"]["flagged_authors"].clone()
        }
    };
    let a_node = json!([genesis.author.to_string()]);
    eventually(10, "A and B flag A's node for equivocation", || async {
        flagged(&a).await == a_node && flagged(&b).await == a_node
    })
    .await;
    let ev = a.get("/v1/p2p/equivocations").await.body;
    assert_eq!(ev["data"]["evidence"][0]["seq"], json!(a_head.seq), "{ev}");
    assert_eq!(ev["data"]["evidence"][0]["kept_hash"], json!(a_head.hash().unwrap().to_string()), "{ev}");

    // Nothing invalid was applied; the out-of-order record waits in escrow.
    assert_eq!(a.ledger_records(), records_before);
    assert_eq!(a.get("/ready").await.body["p2p"]["escrow"], json!(1));
    // The thief's record (sent above) was validly signed, so `GET
    // /v1/p2p/chains` shows it as what stops A's chain here (the stranger's
    // forgery of the same seq showed nothing).
    let chain_of = |n: &TestNode, author: String| {
        let (http, base) = (n.http.clone(), n.base.clone());
        async move {
            let v: Value = http.get(format!("{base}/v1/p2p/chains")).send().await.unwrap().json().await.unwrap();
            v["data"]["chains"].as_array().unwrap().iter().find(|c| c["author"] == json!(author)).cloned()
        }
    };
    let a_author = genesis.author.to_string();
    eventually(10, "A lists its chain's refused next record", || async {
        chain_of(&a, a_author.clone()).await.is_some_and(|c| c["refused"]["seq"] == json!(a_head.seq + 1))
    })
    .await;
    let mine = chain_of(&a, a_author.clone()).await.unwrap();
    assert_eq!(mine["refused"]["kind"], "graph.triple", "{mine}");
    assert!(mine["refused"]["reason"].as_str().unwrap().contains("payload"), "{mine}");
    // A member's refused record stops no chain (members author none): only
    // A's is listed as stopped.
    assert!(chain_of(&a, admin.to_string()).await.is_none());
    assert_eq!(a.get("/v1/p2p/chains").await.body["data"]["refused"], 1);
    // The stranger's seq 7 is parked after a gap (seqs 1 to 6 not here).
    let theirs = chain_of(&a, id_of(&stranger).to_string()).await.unwrap();
    assert_eq!((theirs["parked"].clone(), theirs["head"].clone()), (json!([7]), json!(0)), "{theirs}");
    // The same from the CLI.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_web4"))
        .args(["--node", &a.base, "p2p", "chains"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("REFUSED seq {} (graph.triple)", a_head.seq + 1)), "{text}");
    for bad in ["x", "0", "1001"] {
        let r = a.get(&format!("/v1/p2p/chains?limit={bad}")).await;
        assert_eq!((r.status, r.code()), (400, "W4_ERR_PROTO_FORMAT"), "limit={bad}");
    }
    // Honest traffic still flows from A to B.
    let k = random_key();
    assert_eq!(a.mint(&k, EntityType::Ai).await.status, 201);
    let kid = id_of(&k).to_string();
    eventually(10, "an honest mint reaches B", || async { has_lct(&b, &kid).await }).await;
    // A's own record at that seq applied: its refusal no longer stops the chain.
    assert!(chain_of(&a, a_author.clone()).await.is_none_or(|c| c["refused"].is_null()));
    let v = a.ledger_verify();
    assert_eq!(v["chain_errors"], json!([]), "{v}");
}

/// Gossip messages a [`raw_peer`] received: (the peer that sent it, data).
type Heard = tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>;

/// A raw libp2p peer on the society's ledger topic, dialling `boot`: what
/// it receives by gossip goes to the returned channel with the peer that
/// sent it (it answers no sync request and validates nothing, so it
/// forwards nothing).
async fn raw_peer(topic: &str, boot: &str, max_message_bytes: usize) -> (web4_p2p::Handle, Heard) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let (peer, mut inbox) = web4_p2p::start(
        seed,
        web4_p2p::Config {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootstrap: vec![boot.parse().unwrap()],
            mdns: false,
            max_message_bytes,
            max_topics_per_peer: 64,
            mesh_degree: web4_p2p::DEFAULT_MESH_DEGREE,
        },
    )
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = inbox.recv().await {
            if let web4_p2p::Event::Gossip { source, data, .. } = e {
                let _ = tx.send((source.to_string(), data));
            }
        }
    });
    peer.subscribe(topic.to_owned()).await.unwrap();
    (peer, rx)
}

/// A record that arrives ahead of its predecessor waits in escrow with its
/// gossip message, and once the predecessor arrives it is checked and
/// forwarded like any valid record (decisions/0016 §4, session 22). Node C
/// is not connected to A; a relay hands C A's chain with the last two
/// records swapped, and a listener connected only to C must receive both
/// by gossip.
#[tokio::test]
async fn a_record_that_arrived_before_its_predecessor_is_forwarded_once_it_applies() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let c = TestNode::join(&a, &p2p_config(&[])).await;
    let ready = a.get("/ready").await.body;
    let society = web4_core::LctId::parse(ready["society"].as_str().unwrap()).unwrap();
    let topic = web4_p2p::ledger_topic(&society);
    for _ in 0..2 {
        assert_eq!(a.mint(&random_key(), EntityType::Ai).await.status, 201);
    }
    let live = a.get("/v1/ledger/records?after=0&limit=1000").await.body;
    let mut texts: Vec<String> =
        live["data"]["records"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    let n = texts.len();
    assert!(n >= 3, "{live}");
    texts.swap(n - 2, n - 1);
    let (last, before_last) = (texts[n - 2].clone(), texts[n - 1].clone());

    let boot = p2p_addr(&c).await;
    let c_peer = peer_id(&c).await;
    let (relay, _) = raw_peer(&topic, &boot, 256 * 1024).await;
    let (listener, mut heard) = raw_peer(&topic, &boot, 256 * 1024).await;
    // They could find each other through C's Kademlia table; the listener
    // must hear only what C forwards.
    relay.block(listener.peer_id, true).await.unwrap();
    listener.block(relay.peer_id, true).await.unwrap();
    eventually(15, "C sees the relay and the listener", || async { peers(&c).await >= 2 }).await;
    // Let the gossipsub mesh form (heartbeat 0.5 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for t in &texts {
        relay.publish(topic.clone(), t.clone().into_bytes()).await.unwrap();
    }
    let mut got = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(got.contains(last.as_bytes()) && got.contains(before_last.as_bytes())) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, heard.recv()).await {
            Ok(Some((source, data))) => {
                if source == c_peer {
                    got.insert(data);
                }
            }
            _ => break,
        }
    }
    assert!(got.contains(before_last.as_bytes()), "C forwarded the record that came in order");
    assert!(got.contains(last.as_bytes()), "C forwarded the record that came ahead of its predecessor");
    // And applied both: C holds A's whole chain.
    eventually(10, "C applied A's chain", || async {
        let r = c.get("/v1/ledger/records?after=0&limit=1000").await.body;
        r["data"]["records"].as_array().is_some_and(|rs| {
            rs.iter().filter_map(Value::as_str).any(|t| t == last)
                && rs.iter().filter_map(Value::as_str).any(|t| t == before_last)
        })
    })
    .await;
    let v = c.ledger_verify();
    assert_eq!(v["chain_errors"], json!([]), "{v}");
}

fn unix_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// When `n` appended the record that minted `lct` (`applied_at`, ms).
async fn applied_at(n: &TestNode, lct: &str) -> i64 {
    let p = n.get("/v1/ledger/records?after=0&limit=1000").await.body;
    let recs = p["data"]["records"].as_array().unwrap();
    let stamps = p["data"]["applied_at"].as_array().unwrap();
    assert_eq!(recs.len(), stamps.len(), "{p}");
    let i = recs
        .iter()
        .position(|r| {
            let r: Value = serde_json::from_str(r.as_str().unwrap()).unwrap();
            r["kind"] == json!("lct.mint") && r["payload"]["lct"]["lct_id"] == json!(lct)
        })
        .unwrap_or_else(|| panic!("no mint of {lct} in {p}"));
    stamps[i].as_i64().unwrap()
}

/// Every record text a node holds.
async fn ledger_set(n: &TestNode) -> std::collections::BTreeSet<String> {
    ledger_list(n).await.into_iter().collect()
}

async fn peer_id(n: &TestNode) -> String {
    n.get("/ready").await.body["p2p"]["peer_id"].as_str().unwrap().to_owned()
}

/// Five nodes split into two groups that both write, then heal: identical
/// ledgers (and projections, by ledger verify) within 10 s of healing.
#[tokio::test]
async fn a_partition_where_both_sides_write_heals_to_identical_ledgers() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let mut nodes = vec![a];
    for _ in 0..4 {
        let n = TestNode::join(&nodes[0], &p2p_config(&boot)).await;
        nodes.push(n);
    }
    for n in &nodes[1..] {
        eventually(15, "everyone connected", || async { peers(n).await >= 1 }).await;
    }
    let ids: Vec<String> = futures_join(&nodes).await;
    let (left, right) = nodes.split_at(3); // {A, B, C} | {D, E}
    // Partition: each side blocks the other.
    for (i, n) in left.iter().enumerate() {
        for (j, _) in right.iter().enumerate() {
            block(n, &ids[3 + j], true).await;
            block(&right[j], &ids[i], true).await;
        }
    }
    for n in right {
        eventually(10, "right side cut off from the left", || async {
            let p = n.get("/v1/p2p/peers").await.body;
            p["data"]["peers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| !ids[..3].contains(&x["peer_id"].as_str().unwrap().to_owned()))
        })
        .await;
    }
    // Both sides write: the left mints (A witnesses), the right records triples.
    for _ in 0..5 {
        assert_eq!(left[0].mint(&random_key(), EntityType::Ai).await.status, 201);
    }
    let k = random_key();
    assert_eq!(left[0].mint(&k, EntityType::Ai).await.status, 201);
    // k was minted on the left; the right has not seen it, so it refuses k…
    assert_eq!(say(&right[0], &k, "x").await.code(), "W4_ERR_AUTHZ_DENIED");
    // …while the admin (known everywhere) writes on the right.
    for (i, n) in right.iter().enumerate() {
        for j in 0..3 {
            let r = say(n, &nodes[0].admin, &format!("right {i} {j}")).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }
    assert_ne!(ledger_set(&left[0]).await, ledger_set(&right[0]).await);
    // Heal.
    for (i, n) in left.iter().enumerate() {
        for (j, _) in right.iter().enumerate() {
            block(n, &ids[3 + j], false).await;
            block(&right[j], &ids[i], false).await;
        }
    }
    let healed = Instant::now();
    eventually(10, "identical ledgers within 10 s of healing", || async {
        let first = ledger_set(&nodes[0]).await;
        for n in &nodes[1..] {
            if ledger_set(n).await != first {
                return false;
            }
        }
        true
    })
    .await;
    eprintln!("partition healed: ledgers identical after {:?}", healed.elapsed());
    for n in &nodes {
        let v = n.ledger_verify();
        assert_eq!(v["chain_errors"], json!([]), "{v}");
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
    // k is now known on the right too.
    assert!(has_lct(&nodes[4], id_of(&k).as_str()).await);
}

/// An authority blocks or unblocks `peer` on `n`.
async fn block(n: &TestNode, peer: &str, blocked: bool) {
    let node = n.get("/ready").await.body["node"].clone();
    let r = n.post(&n.admin, "/v1/p2p/block", &json!({"node": node, "peer_id": peer, "blocked": blocked})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn futures_join(nodes: &[TestNode]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(peer_id(n).await);
    }
    out
}

/// A root delegation to `agent` of `compute` on every resource for an hour:
/// its budget, the most one spend may cost, and whether the client's account
/// funds it.
fn compute_grant(agent: &web4_core::SecretKey, budget: u64, max_atp: u64, funded: bool) -> Value {
    json!({"agent": id_of(agent), "atp_budget": budget, "funded": funded, "expires_at": future(3600),
        "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": max_atp}})
}

fn future(secs: i64) -> String {
    web4_core::Timestamp(now().0 + secs).to_string()
}

/// One writer per mutable object (decisions/0017): a delegation recorded on A
/// is spent concurrently through A, B and C. B and C forward every request to
/// A, so the total granted never exceeds the budget; a revocation sent to C is
/// decided by A and refuses the very next spend through B.
#[tokio::test]
async fn one_budget_spent_concurrently_through_three_nodes_is_never_overdrawn() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let c = TestNode::join(&a, &p2p_config(&boot)).await;
    let a_id = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    eventually(15, "B and C connected to A", || async { peers(&b).await >= 1 && peers(&c).await >= 1 }).await;
    let (client, agent) = (random_key(), random_key());
    for k in [&client, &agent] {
        assert_eq!(a.mint(k, EntityType::Ai).await.status, 201);
    }
    let budget = 1000u64;
    let r = a
        .post(
            &client,
            "/v1/auth/delegate",
            &json!({"agent": id_of(&agent), "atp_budget": budget, "expires_at": future(3600),
            "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 100}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/auth/delegation/{grant}");
    eventually(10, "the delegation reached B and C", || async {
        b.get(&path).await.status == 200 && c.get(&path).await.status == 200
    })
    .await;

    let mut tasks = Vec::new();
    for (n, node) in [&a, &b, &c].into_iter().enumerate() {
        for i in 0..8 {
            let (http, base, agent, grant) = (node.http.clone(), node.base.clone(), agent.clone(), grant.clone());
            tasks.push(tokio::spawn(async move {
                let (mut granted, mut decided_by) = (0u64, std::collections::BTreeSet::new());
                for j in 0..10 {
                    let cost = 7 + (n + i + j) % 5; // 7..=11
                    let body = serde_json::to_vec(&json!({"action": "compute", "resource": format!("job:{n}:{i}:{j}"),
                        "atp_cost": cost, "context": {"delegation_id": grant}}))
                    .unwrap();
                    let r = post_signed(&http, &base, &agent, "/v1/auth/authorize", body).await.unwrap();
                    let status = r.status().as_u16();
                    if let Some(v) = r.headers().get("x-web4-decided-by") {
                        decided_by.insert(v.to_str().unwrap().to_owned());
                    }
                    let v: Value = r.json().await.unwrap();
                    match status {
                        200 => {
                            assert_eq!(v["data"]["decision"], "granted", "{v}");
                            granted += cost as u64;
                        }
                        402 => assert_eq!(v["error"]["code"], "INSUFFICIENT_ATP", "{v}"),
                        other => panic!("unexpected {other}: {v}"),
                    }
                }
                (n, granted, decided_by)
            }));
        }
    }
    let mut total = 0;
    let mut through = [0u64; 3];
    for t in tasks {
        let (n, granted, decided_by) = t.await.unwrap();
        total += granted;
        through[n] += granted;
        // A decides its own; B's and C's answers say A decided them.
        if n == 0 {
            assert!(decided_by.is_empty(), "{decided_by:?}");
        } else {
            assert_eq!(decided_by.into_iter().collect::<Vec<_>>(), vec![a_id.clone()]);
        }
    }
    assert!(total <= budget, "granted {total} of a budget of {budget}");
    assert!(total > budget - 11, "the budget was used up: {total}");
    assert!(through[1] > 0 && through[2] > 0, "spent through B and C too: {through:?}");
    // Every node ends with the owner's figure.
    for n in [&a, &b, &c] {
        eventually(10, "the spends replicated", || async {
            n.get(&path).await.body["data"]["spent"].as_u64() == Some(total)
        })
        .await;
    }

    // A revocation sent to C is decided by A; the very next spend via B is refused.
    let r = c.delete(&client, &format!("/v1/auth/delegate/{grant}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers.get("x-web4-decided-by").map(|v| v.to_str().unwrap()), Some(a_id.as_str()));
    let r = b
        .authorize(
            &agent,
            json!({"action": "compute", "resource": "job:after", "atp_cost": 1, "context": {"delegation_id": grant}}),
        )
        .await;
    assert_eq!(r.code(), "W4_ERR_AUTHZ_DENIED", "{}", r.body);
    eventually(10, "identical ledgers", || async {
        let n = a.ledger_records();
        n == b.ledger_records() && n == c.ledger_records()
    })
    .await;
    for n in [&a, &b, &c] {
        let v = n.ledger_verify();
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
}

/// One writer per mutable object, enforced on the inbound road: a spend of a
/// delegation recorded by a node that does not own it is refused, even when
/// validly signed by a known author.
#[tokio::test]
async fn a_spend_recorded_by_a_node_that_does_not_own_the_budget_is_refused() {
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let mut a = TestNode::start().await;
    let (client, agent) = (random_key(), random_key());
    for k in [&client, &agent] {
        assert_eq!(a.mint(k, EntityType::Ai).await.status, 201);
    }
    // Another node of the society (an infrastructure LCT) that owns nothing here.
    let other_node = random_key();
    assert_eq!(a.mint(&other_node, EntityType::Infrastructure).await.status, 201);
    let r = a
        .post(
            &client,
            "/v1/auth/delegate",
            &json!({"agent": id_of(&agent), "atp_budget": 100, "expires_at": future(3600),
            "scope": {"actions": ["compute"], "resources": ["*"], "max_atp": 100}}),
        )
        .await;
    let grant = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let r = a
        .authorize(
            &agent,
            json!({"action": "compute", "resource": "job:1", "atp_cost": 5, "context": {"delegation_id": grant}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.sigterm().success());
    let texts = stored_records(&a);
    let (_dir, copy) = fresh_store();
    let t = now();
    let decision = texts.last().unwrap().clone();
    for text in &texts[..texts.len() - 1] {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    // The same spend, recorded by another node (a known, active author that
    // does not own the delegation): refused, nothing applied.
    match accept_foreign(&copy, &twin_by(&other_node, &decision), t).unwrap() {
        Foreign::Rejected(why) => assert!(why.contains("is owned by"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let spent: i64 =
        copy.query_row("SELECT spent FROM delegations WHERE grant_id = ?1", [&grant], |r| r.get(0)).unwrap();
    assert_eq!(spent, 0);
    // The owner's own record applies.
    assert!(matches!(accept_foreign(&copy, &decision, t).unwrap(), Foreign::Applied { .. }));
    let spent: i64 =
        copy.query_row("SELECT spent FROM delegations WHERE grant_id = ?1", [&grant], |r| r.get(0)).unwrap();
    assert_eq!(spent, 5);
}

/// The same rule for accounts and the society pool (decisions/0017 extension):
/// a transfer from Alice's account or a pool mint recorded by a node other than
/// the owner (Alice's home node; the founder) is refused inbound, validly
/// signed or not; the owner's own records apply.
#[tokio::test]
async fn account_and_pool_changes_recorded_by_a_node_that_does_not_own_them_are_refused() {
    use web4_daemon::ledger::{Foreign, accept_foreign};
    let mut a = TestNode::start().await;
    let (alice, bob) = (random_key(), random_key());
    for k in [&alice, &bob] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let other_node = random_key();
    assert_eq!(a.mint(&other_node, EntityType::Infrastructure).await.status, 201);
    assert_eq!(a.post(&a.admin, "/v1/atp/mint", &json!({"amount": 1000})).await.status, 201);
    let proof = json!({"kind": "contribution", "reference": "pr-9", "value": 100.0});
    assert_eq!(
        a.post(&a.admin, "/v1/atp/charge", &json!({"account": id_of(&alice), "proof": proof})).await.status,
        201
    );
    let r = a.post(&alice, "/v1/atp/transfer", &json!({"to": id_of(&bob), "amount": 10})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(a.sigterm().success());
    let rows: Vec<(String, String)> = stored_records(&a)
        .into_iter()
        .map(|t| (serde_json::from_str::<Value>(&t).unwrap()["kind"].as_str().unwrap().to_owned(), t))
        .collect();
    let (_dir, copy) = fresh_store();
    let t = now();
    let (last_kind, transfer) = rows.last().unwrap().clone();
    assert_eq!(last_kind, "atp.transfer");
    for (_, text) in &rows[..rows.len() - 1] {
        assert!(matches!(accept_foreign(&copy, text, t).unwrap(), Foreign::Applied { .. }));
    }
    let mint = rows.iter().find(|(k, _)| k == "atp.mint").unwrap().1.clone();
    // Twins signed by another node: a known, active author that owns neither.
    for (text, owner_of) in [(&transfer, "the ATP account of"), (&mint, "the society's pool")] {
        match accept_foreign(&copy, &twin_by(&other_node, text), t).unwrap() {
            Foreign::Rejected(why) => assert!(why.contains(owner_of) && why.contains("is owned by"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    let balance = |c: &rusqlite::Connection| -> i64 {
        c.query_row("SELECT available FROM atp_accounts WHERE lct_id = ?1", [id_of(&alice).as_str()], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(balance(&copy), 100, "nothing of the twins applied");
    // The home node's own transfer applies.
    assert!(matches!(accept_foreign(&copy, &transfer, t).unwrap(), Foreign::Applied { .. }));
    assert_eq!(balance(&copy), 100 - 10 - 1);
}

/// Two societies: a node of B verifies an LCT born in A (birth certificate,
/// A's witnesses, A's law hash) and shows A's reputation for it per role,
/// from its own verified copy of A's ledger; B's own tensors stay untouched.
#[tokio::test]
async fn a_node_of_another_society_verifies_an_lct_born_here_and_shows_its_reputation() {
    use web4_core::witness::{Attestation, WitnessClass};
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let (a_soc, b_soc) = (a.get("/ready").await.body["society"].clone(), b.get("/ready").await.body["society"].clone());
    assert_ne!(a_soc, b_soc);
    let ks: Vec<_> = (0..4).map(|_| random_key()).collect();
    for k in &ks {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let (alice, reporter, w1, w2) = (&ks[0], &ks[1], &ks[2], &ks[3]);
    for (action, q) in [("review", 0.9), ("analyze", 0.8)] {
        let nonce = random_nonce();
        let event = web4_core::payload::outcome_event(&id_of(alice), "analyst", action, "success", Some(q), &nonce);
        let atts: Vec<Attestation> = [w1, w2]
            .iter()
            .map(|w| Attestation::sign(w, id_of(w), WitnessClass::Quality, event, now(), random_nonce()).unwrap())
            .collect();
        let body = json!({"entity": id_of(alice), "role": "analyst", "action": action, "result_status": "success",
            "quality": q, "witnesses": atts});
        let r = a
            .post_raw(
                reporter,
                "/v1/reputation/outcome",
                serde_json::to_vec(&body).unwrap(),
                &Sign { nonce: Some(nonce), ..Sign::default() },
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let alice_id = id_of(alice).to_string();

    // Only an authority of B may make B follow A.
    let b_node = b.get("/ready").await.body["node"].clone();
    let r = b.post(&random_key(), "/v1/federation/societies", &json!({"node": b_node, "url": a.base})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // A wrong genesis pin is refused and nothing is kept.
    let r = b
        .post(
            &b.admin,
            "/v1/federation/societies",
            &json!({"node": b_node, "url": a.base, "genesis_hash": "sha256:00"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(b.get("/v1/federation/societies").await.body["data"]["societies"], json!([]));
    // Meant for another node: refused here (it would otherwise be replayable
    // to every node of the society, being recorded nowhere).
    let other = a.get("/ready").await.body["node"].clone();
    let r = b.post(&b.admin, "/v1/federation/societies", &json!({"node": other, "url": a.base})).await;
    assert_eq!((r.status, r.code()), (401, "W4_ERR_AUTHZ_DENIED"), "{}", r.body);
    let r = b.post(&b.admin, "/v1/federation/societies", &json!({"node": b_node, "url": a.base})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["society_id"], a_soc);
    assert_eq!(r.body["data"]["law_hash"], a.get("/ready").await.body["law_hash"]);
    // Following one's own society is refused.
    let r = b.post(&b.admin, "/v1/federation/societies", &json!({"node": b_node, "url": b.base})).await;
    assert_eq!(r.status, 422, "{}", r.body);

    // B verifies alice with A's law and witnesses.
    let soc = a_soc.as_str().unwrap();
    let v = b.get(&format!("/v1/federation/societies/{soc}/lct/{alice_id}/verify")).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let d = &v.body["data"];
    assert_eq!(d["valid"], json!(true), "{d}");
    assert_eq!(d["birth_certificate"]["ok"], json!(true), "{d}");
    assert_eq!(d["society_law_hash"], a.get("/ready").await.body["law_hash"]);
    // Alice is not an LCT of B.
    assert_eq!(b.get(&format!("/v1/lct/{alice_id}")).await.status, 404);

    // A's reputation for alice as analyst, as A computes it, shown on B.
    let theirs = a.get(&format!("/v1/reputation/{alice_id}/analyst")).await.body["data"].clone();
    let shown = b.get(&format!("/v1/federation/societies/{soc}/reputation/{alice_id}/analyst")).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["data"]["outcomes"], json!(2));
    assert_eq!(shown.body["data"]["t3"], theirs["t3"]);
    assert_eq!(shown.body["data"]["merged"], json!(false));
    // Not merged into B.
    assert_eq!(b.get(&format!("/v1/reputation/{alice_id}/analyst")).await.status, 404);

    // A keeps writing; B sees it after a pull (on a miss, or the periodic one).
    let late = random_key();
    assert_eq!(a.mint(&late, EntityType::Ai).await.status, 201);
    let v = b.get(&format!("/v1/federation/societies/{soc}/lct/{}/verify", id_of(&late))).await;
    assert_eq!(v.body["data"]["valid"], json!(true), "{}", v.body);
    // Unknown society, unknown LCT.
    assert_eq!(
        b.get(&format!("/v1/federation/societies/lct:web4:society:nope/lct/{alice_id}/verify")).await.status,
        404
    );
    let ghost = id_of(&random_key());
    assert_eq!(b.get(&format!("/v1/federation/societies/{soc}/lct/{ghost}/verify")).await.status, 404);
    // The copy survives a restart of B.
    let mut b = b;
    assert!(b.sigterm().success());
    b.spawn(&[]).await;
    let list = b.get("/v1/federation/societies").await.body;
    assert_eq!(list["data"]["societies"][0]["society_id"], a_soc, "{list}");
}

/// Witnessing over the network: C holds no witness role, so a mint on C can
/// only meet the law's birth quorum with attestations it collects from peer
/// witnesses (A, the founder); B is no witness and refuses to attest.
#[tokio::test]
async fn a_mint_on_a_node_that_is_no_witness_collects_attestations_from_peer_witnesses() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let c = TestNode::join(&a, &p2p_config(&boot)).await;
    let a_id = a.get("/ready").await.body["node"].clone();
    let c_id = c.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let r = c.get(&format!("/v1/lct/{c_id}")).await;
    assert!(!r.body["data"]["roles"].as_array().unwrap().contains(&json!("witness")), "{}", r.body);
    eventually(15, "C connected to A and B", || async { peers(&c).await >= 2 }).await;

    let k = random_key();
    let r = c.mint(&k, EntityType::Ai).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cert = &r.body["data"]["lct"]["birth_certificate"];
    let witnesses: Vec<Value> = cert["birth_witnesses"]
        .as_array()
        .map(|w| w.iter().map(|a| a["witness"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(witnesses, vec![a_id.clone()], "{cert}");
    let kid = id_of(&k).to_string();
    // Every node verifies the certificate, A's attestation included.
    for n in [&a, &b, &c] {
        eventually(10, "the mint replicated", || async { has_lct(n, &kid).await }).await;
        let v = n.get(&format!("/v1/lct/{kid}/verify")).await.body;
        assert_eq!(v["data"]["birth_certificate"]["ok"], json!(true), "{v}");
    }
    let m = c.get("/metrics").await.body.as_str().unwrap_or_default().to_owned();
    assert!(m.contains("web4_network_witness_attestations_total 1"), "{m}");
    drop(b);
}

/// A role grant is a record like any other (decisions/0019): the founder's
/// admin makes the joined node B a witness on A; B learns it by gossip and
/// witnesses its own mints from then on, and A counts B's attestations; after
/// the role is taken back B asks the network again.
#[tokio::test]
async fn a_witness_role_granted_on_one_node_makes_a_joined_node_a_witness() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let a_id = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let b_id = b.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    eventually(15, "A and B connected", || async { peers(&b).await >= 1 }).await;

    // B is no witness: its mint carries A's attestation.
    let r = b.mint(&random_key(), EntityType::Ai).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(birth_witnesses(&r), vec![a_id.clone()]);

    // A's admin grants B the witness role; B applies the record from gossip.
    // (The request is kept, with its nonce and timestamp, to replay it below.)
    let grant_path = format!("/v1/lct/{b_id}/roles");
    let grant_body = serde_json::to_vec(&json!({"role": "witness"})).unwrap();
    let grant_sign = Sign { nonce: Some(random_nonce()), ts: Some(now()), ..Sign::default() };
    let r = a.post_raw(&a.admin, &grant_path, grant_body.clone(), &grant_sign).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(10, "B holds the witness role on B", || async {
        roles_on(&b, &b_id).await.as_array().is_some_and(|r| r.contains(&json!("witness")))
    })
    .await;
    let kid = mint_witnessed_by(&b, &b_id).await;
    eventually(10, "the mint replicated to A", || async { has_lct(&a, &kid).await }).await;
    let v = a.get(&format!("/v1/lct/{kid}/verify")).await.body;
    assert_eq!(v["data"]["birth_certificate"]["ok"], json!(true), "A counts B as a witness: {v}");

    // Taken back: B asks the network again.
    let r = a.delete(&a.admin, &format!("/v1/lct/{b_id}/roles/witness")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(10, "B lost the witness role on B", || async {
        roles_on(&b, &b_id).await.as_array().is_some_and(|r| !r.contains(&json!("witness")))
    })
    .await;
    mint_witnessed_by(&b, &a_id).await;
    // The grant, copied from A's public ledger and replayed to B while its
    // timestamp is still valid, is refused: B spent its nonce when it applied
    // A's record (decisions/0026).
    let r = b.post_raw(&a.admin, &grant_path, grant_body, &grant_sign).await;
    assert_eq!((r.status, r.code()), (409, "W4_ERR_PROTO_REPLAY"), "{}", r.body);
    assert!(roles_on(&b, &b_id).await.as_array().is_some_and(|r| !r.contains(&json!("witness"))));
    for n in [&a, &b] {
        let v = n.ledger_verify();
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
}

/// The witnesses of a mint's birth certificate.
fn birth_witnesses(r: &Resp) -> Vec<String> {
    r.body["data"]["lct"]["birth_certificate"]["birth_witnesses"]
        .as_array()
        .map(|w| w.iter().filter_map(|a| a["witness"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Mint on `n` until the birth is witnessed by `witness` alone; the new LCT's
/// id. A role record applied from gossip shows in the node's store a moment
/// before the node's own witness flag follows (the finishing thread sets it
/// after the commit), so the first mint after the role shows may still be
/// witnessed the old way.
async fn mint_witnessed_by(n: &TestNode, witness: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let k = random_key();
        let r = n.mint(&k, EntityType::Ai).await;
        if r.status == 201 && birth_witnesses(&r) == vec![witness.to_owned()] {
            return id_of(&k).to_string();
        }
        assert!(Instant::now() < deadline, "no birth witnessed by {witness} alone: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One writer per ATP account (decisions/0017): Alice's account lives on A,
/// where she was minted. Transfers from it sent concurrently to A, B and C are
/// all decided by A and never overdraw it; Bob, minted on B, has his spends
/// decided by B; the pool (a society object) by the founder A.
#[tokio::test]
async fn an_account_spent_concurrently_through_three_nodes_is_never_overdrawn() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    let c = TestNode::join(&a, &p2p_config(&boot)).await;
    let a_id = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let b_id = b.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    eventually(15, "B and C connected to A", || async { peers(&b).await >= 1 && peers(&c).await >= 1 }).await;
    let (alice, bob) = (random_key(), random_key());
    assert_eq!(a.mint(&alice, EntityType::Human).await.status, 201);
    assert_eq!(b.mint(&bob, EntityType::Human).await.status, 201);
    let (alice_id, bob_id) = (id_of(&alice).to_string(), id_of(&bob).to_string());
    for n in [&a, &b, &c] {
        for id in [&alice_id, &bob_id] {
            eventually(10, "the mints replicated", || async { has_lct(n, id).await }).await;
        }
    }
    let decided_by = |r: &Resp| r.headers.get("x-web4-decided-by").map(|v| v.to_str().unwrap().to_owned());

    // Pool operations sent to C are decided by the founder A.
    let r = c.post(&a.admin, "/v1/atp/mint", &json!({"amount": 10_000})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(decided_by(&r), Some(a_id.clone()));
    let proof = json!({"kind": "contribution", "reference": "pr-7", "value": 300.0});
    let r = c.post(&a.admin, "/v1/atp/charge", &json!({"account": alice_id, "proof": proof})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(decided_by(&r), Some(a_id.clone()));

    // Concurrent transfers of 20 (+1 fee) from Alice's 300 through A, B and C.
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b, &c].into_iter().enumerate() {
        for _ in 0..4 {
            let (http, base, alice, bob_id) = (node.http.clone(), node.base.clone(), alice.clone(), bob_id.clone());
            tasks.push(tokio::spawn(async move {
                let (mut sent, mut deciders) = (0u64, std::collections::BTreeSet::new());
                for _ in 0..5 {
                    let body = serde_json::to_vec(&json!({"to": bob_id, "amount": 20})).unwrap();
                    let r = post_signed(&http, &base, &alice, "/v1/atp/transfer", body).await.unwrap();
                    let status = r.status().as_u16();
                    if let Some(v) = r.headers().get("x-web4-decided-by") {
                        deciders.insert(v.to_str().unwrap().to_owned());
                    }
                    let v: Value = r.json().await.unwrap();
                    match status {
                        200 => sent += 21,
                        402 => assert_eq!(v["error"]["code"], "INSUFFICIENT_ATP", "{v}"),
                        other => panic!("unexpected {other}: {v}"),
                    }
                }
                (n, sent, deciders)
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        let (n, sent, deciders) = t.await.unwrap();
        total += sent;
        if n == 0 {
            assert!(deciders.is_empty(), "{deciders:?}");
        } else {
            assert!(deciders.iter().all(|d| *d == a_id), "{deciders:?}");
        }
    }
    assert!(total <= 300, "debited {total} of 300");
    assert!(total > 300 - 21, "the balance was used up: {total}");
    for n in [&a, &b, &c] {
        eventually(10, "every node shows the owner's balances", || async {
            available(n, &alice_id).await == Some(300 - total) && available(n, &bob_id).await == Some(total / 21 * 20)
        })
        .await;
    }

    // Alice's reputation lives on A too: an outcome about her sent to C is
    // decided by A, and every node ends with A's tensors.
    let outcome =
        json!({"entity": alice_id, "role": "analyst", "action": "report", "result_status": "success", "quality": 0.9});
    let r = c.post(&bob, "/v1/reputation/outcome", &outcome).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(decided_by(&r), Some(a_id.clone()));
    let on_a = t3_of(&a, &alice_id, "analyst").await;
    assert!(on_a.is_object(), "{on_a}");
    for n in [&b, &c] {
        eventually(10, "the outcome replicated", || async { t3_of(n, &alice_id, "analyst").await == on_a }).await;
    }

    // Bob's account lives on B: his transfer sent to A is decided by B.
    let r = a.post(&bob, "/v1/atp/transfer", &json!({"to": alice_id, "amount": 10})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(decided_by(&r), Some(b_id.clone()));
    eventually(10, "identical ledgers", || async {
        let n = a.ledger_records();
        n == b.ledger_records() && n == c.ledger_records()
    })
    .await;
    for n in [&a, &b, &c] {
        let v = n.ledger_verify();
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
}

/// Every row of the projection tables of `n`'s store, the ledger row an LCT's
/// document is read from left out (it numbers rows in that node's order).
fn projections(n: &TestNode) -> Vec<(String, Vec<String>)> {
    let c = web4_daemon::store::open_connection(&n.data_dir().join("web4.db"), true).unwrap();
    let mut out = Vec::new();
    for (table, key) in web4_daemon::store::migrations::PROJECTION_TABLES {
        let mut st = c.prepare(&format!("SELECT * FROM {table} ORDER BY {key}")).unwrap();
        let names: Vec<String> = st.column_names().map(str::to_owned).collect();
        let rows = st
            .query_map([], |r| {
                let mut cols = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    if name != "doc_record" {
                        let v: rusqlite::types::Value = r.get(i)?;
                        cols.push(format!("{name}={v:?}"));
                    }
                }
                Ok(cols.join("|"))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.push((table.to_string(), rows));
    }
    out
}

/// One key minted on two nodes at once, the client retrying on another node
/// (decisions/0025, session-30 addendum): each node keeps the mint it applied
/// first, and what the other mint's home recorded about that LCT's account and
/// reputation (a transfer, an outcome, a funded delegation and its spend) is
/// kept there without effect instead of refused. Before, the refusal stopped
/// that home's chain on the other node for good: none of its later records
/// applied there. Now both chains go on and the ledgers become identical.
#[tokio::test]
async fn one_key_minted_on_two_nodes_at_once_stops_neither_node() {
    let mut a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let mut b = TestNode::join(&a, &p2p_config(&boot)).await;
    eventually(15, "b connected to a", || async { peers(&b).await >= 1 }).await;
    let a_id = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let b_id = b.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let (m, agent) = (random_key(), random_key());
    let m_id = id_of(&m).to_string();
    for k in [&m, &agent] {
        assert_eq!(a.mint(k, EntityType::Human).await.status, 201);
    }
    let r = a.post(&a.admin, "/v1/atp/mint", &json!({"amount": 500_000})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // b witnesses the births it records alone.
    let r = a.post(&a.admin, &format!("/v1/lct/{b_id}/roles"), &json!({"role": "witness"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(15, "b holds a's records", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    let (pa, pb) = (peer_id(&a).await, peer_id(&b).await);
    block(&a, &pb, true).await;
    block(&b, &pa, true).await;
    eventually(10, "a and b apart", || async { peers(&a).await == 0 && peers(&b).await == 0 }).await;

    // The client mints on b; a second later it retries on a.
    let k = random_key();
    let l = id_of(&k).to_string();
    let r = b.mint(&k, EntityType::Human).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let on_b = r.body["data"]["ledger_ref"].clone();
    next_second().await;
    let r = a.mint(&k, EntityType::Human).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let on_a = r.body["data"]["ledger_ref"].clone();
    assert_ne!(on_a, on_b);
    // On a, its home there: funded by the founder, it pays m, is rated, and
    // funds a delegation that is spent.
    let proof = json!({"kind": "contribution", "reference": random_nonce(), "value": 2_000.0});
    let r = a.post(&a.admin, "/v1/atp/charge", &json!({"account": l, "proof": proof})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let charged = available(&a, &l).await.unwrap();
    assert!(charged > 300, "{charged}");
    let r = a.post(&k, "/v1/atp/transfer", &json!({"to": m_id, "amount": 100})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let outcome = |action: &str, status: &str, quality: f64| json!({"entity": l, "role": "analyst", "action": action, "result_status": status, "quality": quality});
    let r = a.post(&a.admin, "/v1/reputation/outcome", &outcome("report", "success", 0.9)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a.post(&k, "/v1/auth/delegate", &compute_grant(&agent, 100, 50, true)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant_id = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    let spend =
        json!({"action": "compute", "resource": "job:1", "atp_cost": 10, "context": {"delegation_id": grant_id}});
    let r = a.authorize(&agent, spend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rated_on_a = a.get(&format!("/v1/reputation/{l}/analyst")).await.body["data"].clone();
    let left_on_a = available(&a, &l).await;
    assert!(left_on_a < Some(charged - 200), "{left_on_a:?}");
    // The client sends one signed delegation (no budget from its account) to
    // both nodes: each, its home there, records it, with the same grant id.
    let same = Sign { nonce: Some(random_nonce()), ts: Some(now()), ..Sign::default() };
    let unfunded = serde_json::to_vec(&compute_grant(&agent, 5, 5, false)).unwrap();
    let mut twice = Vec::new();
    for n in [&a, &b] {
        let r = n.post_raw(&k, "/v1/auth/delegate", unfunded.clone(), &same).await;
        assert_eq!(r.status, 201, "{}", r.body);
        twice.push(r.body["data"]["delegation"]["grant_id"].clone());
    }
    assert_eq!(twice[0], twice[1]);
    // On b, its home there: rated once.
    let r = b.post(&b.admin, "/v1/reputation/outcome", &outcome("review", "failure", 0.2)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rated_on_b = b.get(&format!("/v1/reputation/{l}/analyst")).await.body["data"].clone();
    assert_ne!(rated_on_a["t3"], rated_on_b["t3"]);

    // Heal: each node receives the other's mint and its home's records.
    block(&a, &pb, false).await;
    block(&b, &pa, false).await;
    eventually(20, "identical ledgers", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    // Both chains go on: a's next payment from l (kept without effect on b)
    // and the mint after it reach b.
    let r = a.post(&k, "/v1/atp/transfer", &json!({"to": m_id, "amount": 5})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let later = random_key();
    assert_eq!(a.mint(&later, EntityType::Ai).await.status, 201);
    eventually(20, "a's later records on b", || async { has_lct(&b, id_of(&later).as_str()).await }).await;
    eventually(20, "identical ledgers", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    // Each node keeps the registration it applied first, with its home's
    // records about the LCT; the founder's charge (not the home's to decide)
    // applies on both.
    assert_eq!(a.get(&format!("/v1/lct/{l}")).await.body["data"]["ledger_ref"], on_a);
    assert_eq!(b.get(&format!("/v1/lct/{l}")).await.body["data"]["ledger_ref"], on_b);
    assert_eq!(available(&b, &l).await, Some(charged), "a's spends from l change nothing on b");
    assert_eq!(available(&b, &m_id).await.unwrap_or(0), 0, "nor credit m there");
    assert_eq!(b.get(&format!("/v1/auth/delegation/{grant_id}")).await.status, 404);
    assert_eq!(b.get(&format!("/v1/reputation/{l}/analyst")).await.body["data"]["t3"], rated_on_b["t3"]);
    assert!(available(&a, &l).await < left_on_a, "a's later payment applied on a");
    assert_eq!(a.get(&format!("/v1/auth/delegation/{grant_id}")).await.status, 200);
    assert_eq!(a.get(&format!("/v1/reputation/{l}/analyst")).await.body["data"]["t3"], rated_on_a["t3"]);
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let voided = |n: &TestNode| {
        let (http, url) = (n.http.clone(), format!("{}/metrics", n.base));
        async move { metric(&http.get(url).send().await.unwrap().text().await.unwrap(), "web4_ledger_voided_records_total") }
    };
    assert_eq!(voided(&a).await, 2, "b's delegation and outcome");
    assert_eq!(voided(&b).await, 6, "a's transfers, outcome, delegations and spend");
    for n in [&a, &b] {
        let v = n.ledger_verify();
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
    let lost = |p: &[(String, Vec<String>)]| {
        p.iter().find(|(t, _)| t == "lost_registrations").map(|(_, rows)| rows.clone()).unwrap_or_default()
    };
    let on_a_now = projections(&a);
    assert_eq!(lost(&on_a_now).len(), 1);
    assert!(lost(&on_a_now)[0].contains(&b_id), "b's mint did not stand on a: {:?}", lost(&on_a_now));
    // With the citizen role it would have given: a decision b records in that
    // role for l does not wait for it on a (decisions/0029, session 31).
    assert!(lost(&on_a_now)[0].contains("\"citizen\""), "{:?}", lost(&on_a_now));
    assert!(lost(&projections(&b))[0].contains(&a_id));
    // An expiry by a that ends the grant void for a on b and a real one: on
    // b the real one ends, the void one is skipped; one that ends only the
    // void grant is kept without effect.
    let r = a.post(&m, "/v1/auth/delegate", &compute_grant(&agent, 10, 5, false)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let real = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    eventually(20, "the real grant on b", || async {
        b.get(&format!("/v1/auth/delegation/{real}")).await.status == 200
    })
    .await;
    // And a grant b records: its client's home is b.
    let client_on_b = random_key();
    assert_eq!(b.mint(&client_on_b, EntityType::Human).await.status, 201);
    let r = b.post(&client_on_b, "/v1/auth/delegate", &compute_grant(&agent, 10, 5, false)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.headers.get("x-web4-decided-by"), None, "b recorded it");
    let bs = r.body["data"]["delegation"]["grant_id"].as_str().unwrap().to_owned();
    assert!(a.sigterm().success());
    assert!(b.sigterm().success());
    {
        use web4_daemon::ledger::{Foreign, accept_foreign};
        let a_key = web4_daemon::keystore::read_key(&a.data_dir().join("keys/node.key")).unwrap();
        let c = web4_daemon::store::open_connection(&b.data_dir().join("web4.db"), false).unwrap();
        let mut head: web4_core::ledger::Record = serde_json::from_str(
            &c.query_row("SELECT record FROM ledger WHERE author = ?1 ORDER BY seq DESC LIMIT 1", [&a_id], |r| {
                r.get::<_, String>(0)
            })
            .unwrap(),
        )
        .unwrap();
        // a's next record, an expiry of `ends`.
        let expiry = |head: &web4_core::ledger::Record, ends: &[&String]| {
            web4_core::ledger::RecordDraft {
                author: head.author.clone(),
                seq: head.seq + 1,
                prev_hash: head.hash().unwrap(),
                kind: "auth.expire".into(),
                payload: json!({ "grant_ids": ends }),
                law_hash: head.law_hash,
                timestamp: now(),
            }
            .sign(&a_key)
            .unwrap()
        };
        // A grant void for a does not let a end b's.
        let text = serde_json::to_string(&expiry(&head, &[&grant_id, &bs])).unwrap();
        match accept_foreign(&c, &text, now()).unwrap() {
            Foreign::Rejected(why) => assert!(why.contains("is owned by"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        for (ends, voided) in [(vec![&grant_id], true), (vec![&grant_id, &real], false)] {
            head = expiry(&head, &ends);
            match accept_foreign(&c, &serde_json::to_string(&head).unwrap(), now()).unwrap() {
                f @ Foreign::Applied { .. } => assert_eq!(f.voided(), voided, "{f:?}"),
                other => panic!("expected the expiry to apply, got {other:?}"),
            }
        }
        let ended: Option<String> =
            c.query_row("SELECT revoked_at FROM delegations WHERE grant_id = ?1", [&real], |r| r.get(0)).unwrap();
        assert!(ended.is_some(), "the real grant ended");
        let held: i64 =
            c.query_row("SELECT COUNT(*) FROM delegations WHERE grant_id = ?1", [&grant_id], |r| r.get(0)).unwrap();
        assert_eq!(held, 0);
        let v = web4_daemon::ledger::verify(&c).unwrap();
        assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
    }
    // A registration that did not stand counts for what its LCT was given
    // (decisions/0029, session 31): on a copy of b whose l held no role from
    // its standing mint (as if a rotation of an LCT without it had made its
    // row), a's lost mint still gave it the citizen role.
    {
        let (_dir, copy) = applied_in_order(stored_records(&b).iter());
        copy.execute("DELETE FROM roles WHERE lct_id = ?1", [&l]).unwrap();
        let held = |role: &str| {
            web4_daemon::ledger::object_known(&copy, &web4_daemon::ledger::Owned::Role(l.clone(), vec![role.into()]))
                .unwrap()
        };
        assert!(held("citizen") && !held("treasurer"));
    }
    // A store from before migration 27: the registrations that did not stand
    // are found in its ledger. (Such a store holds no voided record: older
    // code refused them. This one does, so its void grants are kept.)
    let before = projections(&a);
    let mut c = web4_daemon::store::open_connection(&a.data_dir().join("web4.db"), false).unwrap();
    c.execute_batch("DROP TABLE lost_registrations; DELETE FROM schema_migrations WHERE version >= 27;").unwrap();
    web4_daemon::store::migrations::migrate(&mut c).unwrap();
    let v = web4_daemon::ledger::verify(&c).unwrap();
    assert!(v.chain_errors.is_empty() && v.projection_differences.is_empty(), "{v:?}");
    drop(c);
    assert_eq!(projections(&a), before, "filled on upgrade");
}

/// `web4d grant-role` on node `n` (the authority to `lct`): its outcome
/// (success, stdout + stderr).
fn grant_role(n: &TestNode, lct: &str) -> (bool, String) {
    let out = std::process::Command::new(WEB4D)
        .args(["grant-role", "--lct", lct, "--role", "authority", "--reason", "both authorities suspended"])
        .env("DATA_DIR", n.data_dir())
        .env("WEB4_CONFIG", n.dir.path().join("web4d.toml"))
        .env("PORT", n.port.to_string())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Two authorities suspend each other on two nodes apart (each node allows
/// it: the other authority is still active there). No active LCT then holds
/// `authority` by its register, but the founding node, which gave up the
/// authority its genesis gave it, keeps it (decisions/0019, the keeper rule):
/// its operator gives the role to a member with `web4d grant-role` (the node
/// key signs), and the member reinstates the admin. Another node, which never
/// held the role, may not.
#[tokio::test]
async fn the_founding_node_keeps_the_authority_two_suspensions_left_no_one() {
    let a = TestNode::start_with_config(&p2p_config(&[]), &[]).await;
    let boot = vec![p2p_addr(&a).await];
    let b = TestNode::join(&a, &p2p_config(&boot)).await;
    eventually(15, "b connected to a", || async { peers(&b).await >= 1 }).await;
    let admin = id_of(&a.admin).to_string();
    let (y, y_id) = member_with_roles(&a, &["authority"]).await;
    let (z, z_id) = member_with_roles(&a, &[]).await;
    let a_node = a.get("/ready").await.body["node"].as_str().unwrap().to_owned();
    let r = a.delete(&a.admin, &format!("/v1/lct/{a_node}/roles/authority")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(15, "b holds a's records", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    // While the admin and y are active, the node (no longer an authority) may not.
    let (ok, out) = grant_role(&a, &z_id);
    assert!(!ok && out.contains("may not grant or revoke roles"), "{out}");
    let (pa, pb) = (peer_id(&a).await, peer_id(&b).await);
    block(&a, &pb, true).await;
    block(&b, &pa, true).await;
    eventually(10, "a and b apart", || async { peers(&a).await == 0 && peers(&b).await == 0 }).await;
    let suspend = json!({"reason": "investigation"});
    let r = a.post(&a.admin, &format!("/v1/lct/{y_id}/suspend"), &suspend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // (Unblocking takes an authority: b's side first, while a still blocks.)
    block(&b, &pa, false).await;
    let r = b.post(&y, &format!("/v1/lct/{admin}/suspend"), &suspend).await;
    assert_eq!(r.status, 200, "{}", r.body);
    block(&a, &pb, false).await;
    eventually(20, "identical ledgers", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    // Neither authority can act now; the founding node keeps the role on both nodes.
    let r = a.post(&a.admin, &format!("/v1/lct/{z_id}/roles"), &json!({"role": "authority"})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = b.post(&y, &format!("/v1/lct/{admin}/reinstate"), &json!({"reason": "cleared"})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    for n in [&a, &b] {
        eventually(10, "the founding node keeps the authority", || async {
            roles(n, &a_node).await.as_array().is_some_and(|r| r.contains(&json!("authority")))
        })
        .await;
    }
    let (ok, out) = grant_role(&b, &z_id);
    assert!(!ok && out.contains("may not grant or revoke roles"), "b's node never held it: {out}");
    let (ok, out) = grant_role(&a, &z_id);
    assert!(ok, "{out}");
    eventually(10, "z an authority on b", || async {
        roles(&b, &z_id).await.as_array().is_some_and(|r| r.contains(&json!("authority")))
    })
    .await;
    // z reinstates the admin through b; the node's kept role ends there.
    let r = b.post(&z, &format!("/v1/lct/{admin}/reinstate"), &json!({"reason": "cleared"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(10, "the admin active on a", || async {
        a.get(&format!("/v1/lct/{admin}")).await.body["data"]["status"] == "active"
    })
    .await;
    eventually(20, "identical ledgers", || async { ledger_set(&a).await == ledger_set(&b).await }).await;
    assert!(!roles(&a, &a_node).await.as_array().is_some_and(|r| r.contains(&json!("authority"))));
    for n in [&a, &b] {
        let v = n.ledger_verify();
        assert_eq!(v["projection_differences"], json!([]), "{v}");
    }
}
