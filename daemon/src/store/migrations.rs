//! Numbered schema migrations, applied in order inside one transaction each.

use super::StoreError;
use rusqlite::Connection;

/// `(version, sql)`; append only, never edit a released step.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE ledger (
    id      INTEGER PRIMARY KEY,          -- apply order
    hash    TEXT NOT NULL,                -- sha256 of the record (ledger_ref)
    author  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    record  TEXT NOT NULL,                -- the record as JSON
    UNIQUE (author, seq)
);
CREATE TABLE chain_heads (
    author  TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    hash    TEXT NOT NULL
);
CREATE TABLE node (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
CREATE TABLE nonces (
    signer  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (signer, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_ts ON nonces (ts);

-- Projections: rebuilt from the ledger by `web4d ledger verify`.
CREATE TABLE societies (
    society_id   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    law          TEXT NOT NULL,
    law_hash     TEXT NOT NULL,
    law_version  TEXT NOT NULL,
    genesis_ref  TEXT NOT NULL
);
CREATE TABLE lcts (
    lct_id        TEXT PRIMARY KEY,
    society_id    TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    entity_type   TEXT NOT NULL,
    status        TEXT NOT NULL,
    document      TEXT NOT NULL,
    status_reason TEXT,
    revocation    TEXT,
    superseded_by TEXT,
    overlap_until INTEGER,
    ledger_ref    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX lcts_status ON lcts (status, entity_type);
CREATE TABLE roles (
    society_id  TEXT NOT NULL,
    lct_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (society_id, lct_id, role)
) WITHOUT ROWID;
"#,
    ),
    (
        2,
        r#"
-- Projection: every published law version of a society (immutable).
CREATE TABLE law_versions (
    society_id   TEXT NOT NULL,
    version      TEXT NOT NULL,
    law_hash     TEXT NOT NULL,
    law          TEXT NOT NULL,
    ledger_ref   TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (society_id, version)
) WITHOUT ROWID;
INSERT INTO law_versions (society_id, version, law_hash, law, ledger_ref, published_at)
    SELECT s.society_id, s.law_version, s.law_hash, s.law, s.genesis_ref,
           COALESCE((SELECT json_extract(l.record, '$.timestamp') FROM ledger l WHERE l.hash = s.genesis_ref), '')
    FROM societies s;
"#,
    ),
    (
        3,
        r#"
-- Projection: interpretations of norms, versioned by a `replaces` chain.
CREATE TABLE interpretations (
    ref           TEXT PRIMARY KEY,      -- ledger_ref of the record
    society_id    TEXT NOT NULL,
    law_version   TEXT NOT NULL,
    norm_id       TEXT,
    text          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    replaces      TEXT,
    superseded_by TEXT,
    created_at    TEXT NOT NULL,
    author        TEXT NOT NULL
);
CREATE INDEX interpretations_law ON interpretations (society_id, law_version);
"#,
    ),
    (
        4,
        r#"
-- Projection: delegations (agency grants) with their spent budget. Decisions
-- themselves live only in the ledger (auth.decision records).
CREATE TABLE delegations (
    grant_id    TEXT PRIMARY KEY,
    society_id  TEXT NOT NULL,
    client      TEXT NOT NULL,
    agent       TEXT NOT NULL,
    delegation  TEXT NOT NULL,           -- the Delegation as JSON
    atp_budget  INTEGER NOT NULL,
    spent       INTEGER NOT NULL,        -- spent by decisions + reserved by sub-grants
    parent      TEXT,
    expires_at  INTEGER NOT NULL,
    revoked_at  TEXT,
    revoked_by  TEXT,
    ledger_ref  TEXT NOT NULL
);
"#,
    ),
    (
        5,
        r#"
-- Projection: ATP/ADP (concepts §4). ATP lives in accounts (available or
-- locked), ADP in the society pool. Invariant, checked by `ledger verify`:
-- total_supply = pool adp + sum(available + locked) over the society's accounts.
CREATE TABLE atp_pools (
    society_id      TEXT PRIMARY KEY,
    total_supply    INTEGER NOT NULL CHECK (total_supply >= 0),
    adp             INTEGER NOT NULL CHECK (adp >= 0),
    cycle           INTEGER NOT NULL,   -- minting cycle of minted_in_cycle
    minted_in_cycle INTEGER NOT NULL
);
CREATE TABLE atp_accounts (
    lct_id     TEXT PRIMARY KEY,
    society_id TEXT NOT NULL,
    available  INTEGER NOT NULL CHECK (available >= 0),
    locked     INTEGER NOT NULL CHECK (locked >= 0),
    adp        INTEGER NOT NULL CHECK (adp >= 0)  -- ATP this account has discharged (lifetime)
);
-- Each value proof is charged once.
CREATE TABLE atp_value_proofs (
    reference  TEXT PRIMARY KEY,
    society_id TEXT NOT NULL,
    account    TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    ledger_ref TEXT NOT NULL
);
-- A funded delegation's budget is locked in the root client's account.
ALTER TABLE delegations ADD COLUMN funder TEXT;
-- Unspent budget returned (to the parent or the funder) on revocation.
ALTER TABLE delegations ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
"#,
    ),
    (
        6,
        r#"
-- Projection: reputation, always per (entity, role); there is no global score.
CREATE TABLE reputation (
    entity           TEXT NOT NULL,
    role             TEXT NOT NULL,
    society_id       TEXT NOT NULL,
    t3               TEXT NOT NULL,      -- JSON {talent, training, temperament}
    v3               TEXT NOT NULL,      -- JSON {valuation, veracity, validity}
    outcomes         INTEGER NOT NULL,
    last_action      TEXT NOT NULL,
    last_action_at   INTEGER NOT NULL,
    same_action_run  INTEGER NOT NULL,
    witness_poor_run INTEGER NOT NULL,
    PRIMARY KEY (entity, role)
) WITHOUT ROWID;
-- One row per outcome, for recency aggregation and burst detection.
CREATE TABLE reputation_events (
    ledger_ref       TEXT PRIMARY KEY,
    entity           TEXT NOT NULL,
    role             TEXT NOT NULL,
    at               INTEGER NOT NULL,
    action           TEXT NOT NULL,
    result_status    TEXT NOT NULL,
    composite_before REAL NOT NULL,
    composite_after  REAL NOT NULL,
    changes          TEXT NOT NULL       -- JSON {dimension: change}
);
CREATE INDEX reputation_events_pair ON reputation_events (entity, role, at);
-- Who witnessed whose outcomes (latest time), for witness-cycle detection.
CREATE TABLE reputation_witnessing (
    witness TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (witness, actor)
) WITHOUT ROWID;
CREATE TABLE gaming_flags (
    ledger_ref TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    entity     TEXT NOT NULL,
    role       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    evidence   TEXT NOT NULL,
    PRIMARY KEY (ledger_ref, pattern)
);
CREATE INDEX gaming_flags_pair ON gaming_flags (entity, role);
"#,
    ),
    (
        7,
        r#"
-- Lookups by client (independence of outcome witnesses) and by parent
-- (revocation cascades) were full scans.
CREATE INDEX delegations_client ON delegations (client) WHERE revoked_at IS NULL;
CREATE INDEX delegations_parent ON delegations (parent);
-- Leases on resource pools (docs/decisions/0012). `payer` is the account
-- whose ATP is locked: the holder, or a funded grant's funder; NULL for an
-- unfunded grant (its budget is reserved, no ATP moves).
CREATE TABLE resource_allocations (
    allocation_id  TEXT PRIMARY KEY,
    society_id     TEXT NOT NULL,
    holder         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    grant_id       TEXT,
    payer          TEXT,
    rates_version  TEXT NOT NULL,
    lease          TEXT NOT NULL,      -- JSON web4_core::resources::Lease
    locked         INTEGER NOT NULL CHECK (locked >= 0),
    charged        INTEGER NOT NULL CHECK (charged >= 0 AND charged <= locked),
    opened_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    pid            INTEGER,
    released_at    INTEGER,
    release_reason TEXT,
    returned       INTEGER,
    ledger_ref     TEXT NOT NULL
);
CREATE INDEX resource_allocations_open ON resource_allocations (society_id, resource_type, quantity) WHERE released_at IS NULL;
CREATE INDEX resource_allocations_grant ON resource_allocations (grant_id) WHERE released_at IS NULL;
CREATE INDEX resource_allocations_expiry ON resource_allocations (expires_at) WHERE released_at IS NULL;
CREATE TABLE resource_usage (
    allocation_id TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    used          INTEGER NOT NULL,
    charge        INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    ledger_ref    TEXT NOT NULL,
    PRIMARY KEY (allocation_id, seq)
) WITHOUT ROWID;
-- Open leases per pool: units allocated, lease count, ATP still held.
CREATE TABLE resource_pools (
    society_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    allocated     INTEGER NOT NULL CHECK (allocated >= 0),
    open_leases   INTEGER NOT NULL CHECK (open_leases >= 0),
    atp_held      INTEGER NOT NULL CHECK (atp_held >= 0),
    PRIMARY KEY (society_id, resource_type)
) WITHOUT ROWID;
-- Rate updates; version `<law version>#<n>`, counted per law hash.
CREATE TABLE resource_rates (
    society_id TEXT NOT NULL,
    version    TEXT NOT NULL,
    law_hash   TEXT NOT NULL,
    rates      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    ledger_ref TEXT NOT NULL,
    PRIMARY KEY (society_id, version)
);
"#,
    ),
    (
        8,
        r#"
-- The MRH graph's triples (docs/decisions/0013); `kind` 0 IRI, 1 string
-- literal, 2 xsd:double; `weight` for relationship edges.
CREATE TABLE graph_triples (
    s          TEXT NOT NULL,
    p          TEXT NOT NULL,
    o          TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    weight     REAL,
    ledger_ref TEXT NOT NULL,
    PRIMARY KEY (s, p, o)
) WITHOUT ROWID;
"#,
    ),
    (
        9,
        r#"
-- Federation (docs/decisions/0016): two different records with the same
-- (author, seq) are equivocation. The first stays in the ledger; the other is
-- kept here as evidence and refused. Not a projection: ledger verify ignores it.
CREATE TABLE equivocations (
    author       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kept_hash    TEXT NOT NULL,
    other_hash   TEXT NOT NULL,
    other_record TEXT NOT NULL,
    seen_at      INTEGER NOT NULL,
    PRIMARY KEY (author, seq, other_hash)
);
"#,
    ),
    (
        10,
        r#"
-- One writer per mutable object (docs/decisions/0017): a delegation tree is
-- owned by the node that recorded its root; only that node records spends,
-- sub-grants, revocations and expiry under it. Existing trees get the root
-- record's author.
ALTER TABLE delegations ADD COLUMN owner TEXT;
WITH RECURSIVE tree(grant_id, owner) AS (
    SELECT d.grant_id, l.author FROM delegations d JOIN ledger l ON l.hash = d.ledger_ref WHERE d.parent IS NULL
    UNION ALL
    SELECT d.grant_id, t.owner FROM delegations d JOIN tree t ON d.parent = t.grant_id
)
UPDATE delegations SET owner = (SELECT owner FROM tree WHERE tree.grant_id = delegations.grant_id);
"#,
    ),
    (
        11,
        r#"
-- Projection: the newest role change per (society, LCT, role), so that role
-- grants and revocations recorded by different nodes converge whatever order
-- they arrive in (last writer wins by timestamp, author, seq;
-- docs/decisions/0019).
CREATE TABLE role_changes (
    society_id  TEXT NOT NULL,
    lct_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    held        INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    author      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ledger_ref  TEXT NOT NULL,
    PRIMARY KEY (society_id, lct_id, role)
) WITHOUT ROWID;
"#,
    ),
    (
        12,
        r#"
-- One writer per mutable object, for every object a spend can overdraw
-- (docs/decisions/0017): an LCT's ATP account is decided by its home node (the
-- node that recorded the LCT: genesis, mint or transition), society-wide
-- objects (pool, law, rates) by the founding node, a lease by the node that
-- opened it.
ALTER TABLE lcts ADD COLUMN home TEXT;
ALTER TABLE societies ADD COLUMN founder TEXT;
ALTER TABLE resource_allocations ADD COLUMN owner TEXT;
UPDATE lcts SET home = m.author
  FROM (SELECT json_extract(record, '$.payload.lct.lct_id') AS id, author FROM ledger
        WHERE kind IN ('lct.mint', 'lct.transition')) AS m
 WHERE m.id = lcts.lct_id;
UPDATE lcts SET home = (SELECT author FROM ledger WHERE kind = 'society.genesis' ORDER BY id LIMIT 1)
 WHERE home IS NULL;
UPDATE societies SET founder = (SELECT l.author FROM ledger l WHERE l.hash = societies.genesis_ref);
UPDATE resource_allocations SET owner = l.author FROM ledger l WHERE l.hash = resource_allocations.ledger_ref;
"#,
    ),
    (
        13,
        // Spent nonces ordered by request time: a group's inserts share pages
        // (the replay check itself runs in memory, decisions/0020).
        r#"
CREATE TABLE nonces_by_time (
    ts      INTEGER NOT NULL,
    signer  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    PRIMARY KEY (ts, signer, nonce)
) WITHOUT ROWID;
INSERT OR IGNORE INTO nonces_by_time (ts, signer, nonce) SELECT ts, signer, nonce FROM nonces;
DROP TABLE nonces;
ALTER TABLE nonces_by_time RENAME TO nonces;
"#,
    ),
    (
        14,
        // No unique index on the ledger_ref of reputation events and gaming
        // flags: nothing looks them up by it, the ledger already applies each
        // record once, and the random key cost a random-page insert per outcome.
        // Row order (the burst window's tie-break) is kept.
        r#"
CREATE TABLE reputation_events_new (
    ledger_ref       TEXT NOT NULL,
    entity           TEXT NOT NULL,
    role             TEXT NOT NULL,
    at               INTEGER NOT NULL,
    action           TEXT NOT NULL,
    result_status    TEXT NOT NULL,
    composite_before REAL NOT NULL,
    composite_after  REAL NOT NULL,
    changes          TEXT NOT NULL
);
INSERT INTO reputation_events_new (ledger_ref, entity, role, at, action, result_status, composite_before, composite_after, changes)
  SELECT ledger_ref, entity, role, at, action, result_status, composite_before, composite_after, changes
  FROM reputation_events ORDER BY rowid;
DROP TABLE reputation_events;
ALTER TABLE reputation_events_new RENAME TO reputation_events;
CREATE INDEX reputation_events_pair ON reputation_events (entity, role, at);
CREATE TABLE gaming_flags_new (
    ledger_ref TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    entity     TEXT NOT NULL,
    role       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    evidence   TEXT NOT NULL
);
INSERT INTO gaming_flags_new (ledger_ref, pattern, entity, role, at, evidence)
  SELECT ledger_ref, pattern, entity, role, at, evidence FROM gaming_flags ORDER BY rowid;
DROP TABLE gaming_flags;
ALTER TABLE gaming_flags_new RENAME TO gaming_flags;
CREATE INDEX gaming_flags_pair ON gaming_flags (entity, role);
"#,
    ),
    (
        15,
        r#"
-- When this node appended each record (ms since the Unix epoch, its own
-- clock; NULL for records appended before this migration). Not part of the
-- record, so it differs between nodes: the replication delay of a record is
-- the spread of its `applied_at` over the nodes (`web4 bench federation`).
ALTER TABLE ledger ADD COLUMN applied_at INTEGER;
"#,
    ),
    (
        16,
        // An LCT's document is read from the record that registered it
        // (genesis, mint or transition; documents never change), not kept
        // as a copy: `doc_record` is that record's row in the ledger
        // (docs/decisions/0024). `document` stays only for a row whose
        // record cannot be found, so that nothing is lost.
        r#"
CREATE TEMP TABLE lct_doc_records AS
  SELECT json_extract(record, '$.payload.lct.lct_id') AS lct_id, id FROM ledger
   WHERE kind IN ('lct.mint', 'lct.transition')
  UNION ALL
  SELECT json_extract(m.value, '$.lct.lct_id'), l.id FROM ledger l, json_each(l.record, '$.payload.members') m
   WHERE l.kind = 'society.genesis';
CREATE INDEX temp.lct_doc_records_id ON lct_doc_records (lct_id, id);
CREATE TABLE lcts_new (
    lct_id        TEXT PRIMARY KEY,
    society_id    TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    entity_type   TEXT NOT NULL,
    status        TEXT NOT NULL,
    doc_record    INTEGER,
    document      TEXT,
    status_reason TEXT,
    revocation    TEXT,
    superseded_by TEXT,
    overlap_until INTEGER,
    ledger_ref    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    home          TEXT,
    CHECK (doc_record IS NOT NULL OR document IS NOT NULL)
);
INSERT INTO lcts_new (lct_id, society_id, public_key, entity_type, status, doc_record, document, status_reason,
                      revocation, superseded_by, overlap_until, ledger_ref, created_at, updated_at, home)
  SELECT c.lct_id, c.society_id, c.public_key, c.entity_type, c.status, d.id,
         CASE WHEN d.id IS NULL THEN c.document END,
         c.status_reason, c.revocation, c.superseded_by, c.overlap_until, c.ledger_ref, c.created_at, c.updated_at, c.home
    FROM lcts c LEFT JOIN (SELECT lct_id, MIN(id) AS id FROM lct_doc_records GROUP BY lct_id) d ON d.lct_id = c.lct_id
   ORDER BY c.rowid;
DROP TABLE lcts;
ALTER TABLE lcts_new RENAME TO lcts;
CREATE INDEX lcts_status ON lcts (status, entity_type);
DROP TABLE temp.lct_doc_records;
"#,
    ),
    (
        17,
        // Spent nonces appended in the order the writer spends them, with an
        // index on the request time for pruning (decisions/0020 addendum,
        // session 19). Keyed by (ts, signer, nonce), the rows of one second
        // were spread over that second's pages by signer and nonce, so a
        // group of requests dirtied about one page each; now a group's rows
        // and index entries land on the last page or two. The replay check
        // runs in memory, so the table needs no uniqueness of its own.
        r#"
CREATE TABLE nonces_log (
    ts      INTEGER NOT NULL,
    signer  TEXT NOT NULL,
    nonce   TEXT NOT NULL
);
INSERT INTO nonces_log (ts, signer, nonce) SELECT ts, signer, nonce FROM nonces ORDER BY ts;
DROP TABLE nonces;
ALTER TABLE nonces_log RENAME TO nonces;
CREATE INDEX nonces_ts ON nonces (ts);
"#,
    ),
    (
        18,
        // An LCT's type, membership, status and roles are derived from the
        // `lcts` and `roles` rows instead of being stored as triples too
        // (docs/decisions/0013, session 20): a mint wrote four of its five
        // triple rows under its random id for them.
        r#"
DELETE FROM graph_triples WHERE p IN (
    'https://web4.io/ontology#entityType',
    'https://web4.io/ontology#memberOf',
    'https://web4.io/ontology#status',
    'https://web4.io/ontology#hasRole'
);
"#,
    ),
    (
        19,
        // Root delegations recorded under a law with `delegation.requires_approval`
        // wait for an `auth.approve` record (decisions/0009, session 24). Grants
        // recorded before, under such a law, wait too: the projection is what
        // rebuilding it from the ledger gives.
        r#"
ALTER TABLE delegations ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE delegations ADD COLUMN approved_by TEXT;
UPDATE delegations SET pending = 1
 WHERE parent IS NULL
   AND EXISTS (SELECT 1 FROM ledger l
                 JOIN law_versions v ON v.society_id = delegations.society_id
                                    AND v.law_hash = json_extract(l.record, '$.law_hash')
                WHERE l.hash = delegations.ledger_ref
                  AND json_extract(v.law, '$.delegation.requires_approval') = 1);
"#,
    ),
    (
        20,
        // Suspensions and reinstatements are a last-writer-wins register per
        // LCT, ordered by (record time, author, seq), as role changes are
        // (decisions/0016, session 25): the stamp of the newest one applied.
        // Filled from the ledger as rebuilding the projection fills it.
        r#"
ALTER TABLE lcts ADD COLUMN status_at INTEGER;
ALTER TABLE lcts ADD COLUMN status_author TEXT;
ALTER TABLE lcts ADD COLUMN status_seq INTEGER;
UPDATE lcts SET (status_at, status_author, status_seq) = (
    SELECT CAST(strftime('%s', json_extract(l.record, '$.timestamp')) AS INTEGER), l.author, l.seq
      FROM ledger l
     WHERE l.kind IN ('lct.suspend', 'lct.reinstate')
       AND json_extract(l.record, '$.payload.lct_id') = lcts.lct_id
     ORDER BY 1 DESC, 2 DESC, 3 DESC
     LIMIT 1);
"#,
    ),
    (
        21,
        // The value of that register (`suspended` or `active`), kept when a
        // revocation or rotation dominates it: a node's key stops signing
        // records from the earliest of its suspension, revocation and
        // rotation overlap (decisions/0027, session 25).
        r#"
ALTER TABLE lcts ADD COLUMN status_register TEXT;
UPDATE lcts SET status_register = (
    SELECT CASE l.kind WHEN 'lct.suspend' THEN 'suspended' ELSE 'active' END
      FROM ledger l
     WHERE l.kind IN ('lct.suspend', 'lct.reinstate')
       AND json_extract(l.record, '$.payload.lct_id') = lcts.lct_id
     ORDER BY CAST(strftime('%s', json_extract(l.record, '$.timestamp')) AS INTEGER) DESC, l.author DESC, l.seq DESC
     LIMIT 1)
 WHERE status_at IS NOT NULL;
"#,
    ),
    (
        22,
        // An LCT neither revoked nor superseded takes the status its register
        // names, with the reason, record and time of the winning change, as
        // rebuilding the projection gives: a store whose status came from
        // arrival order in a past conflict agrees with its peers again.
        r#"
UPDATE lcts SET
    status = status_register,
    status_reason = CASE WHEN status_register = 'suspended' THEN (
        SELECT json_extract(l.record, '$.payload.reason') FROM ledger l
         WHERE l.author = lcts.status_author AND l.seq = lcts.status_seq) END,
    ledger_ref = (SELECT l.hash FROM ledger l WHERE l.author = lcts.status_author AND l.seq = lcts.status_seq),
    updated_at = status_at
 WHERE status IN ('active', 'suspended')
   AND status_register IS NOT NULL
   AND EXISTS (SELECT 1 FROM ledger l WHERE l.author = lcts.status_author AND l.seq = lcts.status_seq);
"#,
    ),
    (
        23,
        // Of the records that assert one graph triple, the newest by (record
        // time, author, seq) decides its kind and weight (decisions/0013,
        // session 26). Each row takes the stamp of the record it names; a
        // store whose weight came from arrival order in a past conflict keeps
        // that weight until a newer record sets it.
        r#"
ALTER TABLE graph_triples ADD COLUMN at INTEGER;
ALTER TABLE graph_triples ADD COLUMN author TEXT;
ALTER TABLE graph_triples ADD COLUMN seq INTEGER;
UPDATE graph_triples SET (at, author, seq) = (
    CAST(strftime('%s', json_extract(l.record, '$.timestamp')) AS INTEGER), l.author, l.seq)
  FROM ledger l
 WHERE l.hash = graph_triples.ledger_ref;
"#,
    ),
    (
        24,
        // Every role record, kept by the LCT it names: the roles given to an
        // LCT, apart from those it took from the LCT it succeeds. A rotation
        // that does not stand leaves its new LCT with these alone, in any
        // arrival order (decisions/0016, session 29).
        r#"
CREATE TABLE role_records (
    society_id  TEXT NOT NULL,
    lct_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    held        INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    author      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ledger_ref  TEXT NOT NULL,
    PRIMARY KEY (society_id, lct_id, author, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO role_records (society_id, lct_id, role, held, at, author, seq, ledger_ref)
SELECT json_extract(l.record, '$.payload.society_id'), json_extract(l.record, '$.payload.lct_id'),
       json_extract(l.record, '$.payload.role'), l.kind = 'role.grant',
       CAST(strftime('%s', json_extract(l.record, '$.timestamp')) AS INTEGER), l.author, l.seq, l.hash
  FROM ledger l
 WHERE l.kind IN ('role.grant', 'role.revoke')
   AND EXISTS (SELECT 1 FROM lcts WHERE lct_id = json_extract(l.record, '$.payload.lct_id'));
-- A role-granting role's graph edge takes the stamp of the record that decided
-- the role's register, where one did.
UPDATE graph_triples SET (ledger_ref, at, author, seq) = (
    SELECT rc.ledger_ref, rc.at, rc.author, rc.seq FROM role_changes rc
     WHERE rc.society_id = graph_triples.s AND rc.lct_id = graph_triples.o
       AND rc.role = CASE graph_triples.p WHEN 'https://web4.io/ontology#hasAuthority' THEN 'authority'
                                          ELSE 'law-oracle' END)
 WHERE p IN ('https://web4.io/ontology#hasAuthority', 'https://web4.io/ontology#hasLawOracle')
   AND EXISTS (SELECT 1 FROM role_changes rc
                WHERE rc.society_id = graph_triples.s AND rc.lct_id = graph_triples.o
                  AND rc.role = CASE graph_triples.p WHEN 'https://web4.io/ontology#hasAuthority' THEN 'authority'
                                                     ELSE 'law-oracle' END);
"#,
    ),
    (
        25,
        // Every signed request a received record carries, by the record's
        // author and kind (the first record's seq): a peer refuses a second
        // record of one author and kind carrying the same request
        // (decisions/0028, session 29). Rows are appended in about
        // request-time order. Filled here from every record; the node adds
        // rows only for the records it receives (its own are never checked).
        r#"
CREATE TABLE carried_requests (
    ts      INTEGER NOT NULL,
    signer  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    author  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (ts, signer, nonce, author, kind)
) WITHOUT ROWID;
INSERT OR IGNORE INTO carried_requests (ts, signer, nonce, author, kind, seq)
SELECT CAST(strftime('%s', json_extract(record, '$.payload.evidence.timestamp')) AS INTEGER),
       json_extract(record, '$.payload.evidence.signer'), json_extract(record, '$.payload.evidence.nonce'),
       author, kind, seq
  FROM ledger
 WHERE json_extract(record, '$.payload.evidence.nonce') IS NOT NULL
 ORDER BY id;
"#,
    ),
    (
        26,
        // Code only (below): a role-granting role that changes made on
        // different nodes left without an active holder is kept by the active
        // LCT that gave it up last (decisions/0019, session 29).
        "-- ledger::keep_granting_role_holders",
    ),
    (
        27,
        // The registrations of an LCT id that do not stand here (another
        // registered it first), whose homes' records about that LCT's account
        // and reputation are kept without effect instead of refused, and what
        // such records opened (decisions/0025, session-30 addendum).
        r#"
CREATE TABLE IF NOT EXISTS lost_registrations (
    lct_id     TEXT NOT NULL,
    ledger_ref TEXT NOT NULL,
    author     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (lct_id, ledger_ref)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS void_objects (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    author TEXT NOT NULL,
    PRIMARY KEY (kind, id, author)
) WITHOUT ROWID;
-- Every record that registers an LCT id (a genesis's members, a mint's, a
-- rotation's new LCT) other than the one the LCT's row was made from. Older
-- code refused the losing homes' records, so none is in the ledger to void.
INSERT OR IGNORE INTO lost_registrations (lct_id, ledger_ref, author, at)
SELECT r.lct, r.hash, r.author, CAST(strftime('%s', json_extract(r.record, '$.timestamp')) AS INTEGER)
  FROM (SELECT l.id, l.hash, l.author, l.record,
               COALESCE(json_extract(l.record, '$.payload.lct.lct_id'), json_extract(m.value, '$.lct.lct_id')) AS lct
          FROM ledger l LEFT JOIN json_each(l.record, '$.payload.members') m ON l.kind = 'society.genesis'
         WHERE l.kind IN ('lct.mint', 'lct.transition', 'society.genesis')) r
  JOIN lcts c ON c.lct_id = r.lct
 WHERE c.doc_record <> r.id;
"#,
    ),
    (
        28,
        // What a registration that does not stand here would have given its
        // LCT: a rotation's old LCT (whose roles it would have taken), a
        // mint's citizen role. A decision that pairs a role waits until its
        // actor is known to have held it, and the owner may have kept the
        // other registration (decisions/0029, session-31 addendum).
        r#"
ALTER TABLE lost_registrations ADD COLUMN old TEXT;
ALTER TABLE lost_registrations ADD COLUMN citizen_role TEXT;
UPDATE lost_registrations
   SET old = (SELECT json_extract(l.record, '$.payload.old') FROM ledger l
               WHERE l.hash = lost_registrations.ledger_ref AND l.kind = 'lct.transition'),
       citizen_role = (SELECT json_extract(l.record, '$.payload.lct.birth_certificate.citizen_role') FROM ledger l
                        WHERE l.hash = lost_registrations.ledger_ref AND l.kind = 'lct.mint');
"#,
    ),
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Apply pending migrations; refuse a database from a newer build.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::TooNew { found: current, known: latest() });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // Migration 23's second step is code: the graph's stamps as a
        // rebuild from the ledger gives them (a store created at this version
        // has no records to replay).
        if *version == 23 && current > 0 {
            crate::ledger::restamp_graph(&tx)?;
        }
        // Migration 24's second step is code too: the roles of new LCTs whose
        // rotation did not stand, made again from the records that name them.
        if *version == 24 && current > 0 {
            crate::ledger::rebuild_losing_successors(&tx)?;
        }
        if *version == 26 && current > 0 {
            crate::ledger::keep_granting_role_holders(&tx)?;
        }
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))", [version])?;
        tx.commit()?;
    }
    Ok(latest())
}

/// The projection tables, compared by `web4d ledger verify`.
pub const PROJECTION_TABLES: &[(&str, &str)] = &[
    ("societies", "society_id"),
    ("lcts", "lct_id"),
    ("roles", "society_id, lct_id, role"),
    ("role_changes", "society_id, lct_id, role"),
    ("role_records", "society_id, lct_id, author, seq"),
    ("law_versions", "society_id, version"),
    ("interpretations", "ref"),
    ("delegations", "grant_id"),
    ("atp_pools", "society_id"),
    ("atp_accounts", "lct_id"),
    ("atp_value_proofs", "reference"),
    ("reputation", "entity, role"),
    ("reputation_events", "ledger_ref"),
    ("reputation_witnessing", "witness, actor"),
    ("gaming_flags", "ledger_ref, pattern"),
    ("resource_allocations", "allocation_id"),
    ("resource_usage", "allocation_id, seq"),
    ("resource_pools", "society_id, resource_type"),
    ("resource_rates", "society_id, version"),
    ("graph_triples", "s, p, o"),
    ("lost_registrations", "lct_id, ledger_ref"),
    ("void_objects", "kind, id, author"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory store with the migrations up to `version` applied.
    fn store_at(version: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .unwrap();
        for (v, sql) in MIGRATIONS.iter().filter(|m| m.0 <= version) {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [v]).unwrap();
        }
        conn
    }

    /// Migration 16: each LCT row points at the ledger record that carries
    /// its document (genesis member, mint, transition); a row whose record
    /// is not in the ledger keeps its copy; nothing else changes.
    #[test]
    fn lct_rows_point_at_their_records_and_keep_orphan_documents() {
        let mut conn = store_at(15);
        let record = |kind: &str, payload: &str| format!(r#"{{"kind":"{kind}","payload":{payload}}}"#);
        let rows = [
            (
                7,
                "society.genesis",
                record("society.genesis", r#"{"members":[{"lct":{"lct_id":"a"}},{"lct":{"lct_id":"b"}}]}"#),
            ),
            (8, "lct.mint", record("lct.mint", r#"{"lct":{"lct_id":"c"}}"#)),
            (9, "lct.suspend", record("lct.suspend", r#"{"lct_id":"c"}"#)),
            (12, "lct.transition", record("lct.transition", r#"{"old":"c","lct":{"lct_id":"d"}}"#)),
        ];
        for (id, kind, text) in &rows {
            conn.execute(
                "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, 'x', ?1, ?3, ?4)",
                rusqlite::params![id, format!("h{id}"), kind, text],
            )
            .unwrap();
        }
        for (lct, status) in [("a", "active"), ("b", "active"), ("c", "superseded"), ("d", "active"), ("e", "active")] {
            conn.execute(
                "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, document, ledger_ref, created_at, updated_at, home)
                 VALUES (?1, 's', 'k', 'ai', ?2, ?3, 'r', 1, 2, 'x')",
                rusqlite::params![lct, status, format!("{{\"doc\":\"{lct}\"}}")],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let got: Vec<(String, String, Option<i64>, Option<String>)> = conn
            .prepare("SELECT lct_id, status, doc_record, document FROM lcts ORDER BY lct_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want = [
            ("a", "active", Some(7), None),
            ("b", "active", Some(7), None),
            ("c", "superseded", Some(8), None),
            ("d", "active", Some(12), None),
            ("e", "active", None, Some(r#"{"doc":"e"}"#)),
        ];
        assert_eq!(got, want.map(|(l, s, r, d)| (l.to_owned(), s.to_owned(), r, d.map(str::to_owned))).to_vec());
        let indexed: i64 =
            conn.query_row("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'lcts_status'", [], |r| r.get(0)).unwrap();
        assert_eq!(indexed, 1);
        assert!(
            conn.execute("INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, ledger_ref, created_at, updated_at) VALUES ('f', 's', 'k', 'ai', 'active', 'r', 1, 1)", []).is_err(),
            "a row needs its record or its document"
        );
    }

    /// Migration 19: a root grant recorded under a law version that required
    /// approval waits for it; sub-grants and grants under other laws do not.
    #[test]
    fn root_grants_recorded_under_a_law_requiring_approval_become_pending() {
        let mut conn = store_at(18);
        for (version, hash, law) in [
            ("1.0.0", "sha256:plain", r#"{"delegation":{"max_depth":3}}"#),
            ("1.1.0", "sha256:approve", r#"{"delegation":{"requires_approval":true}}"#),
        ] {
            conn.execute(
                "INSERT INTO law_versions (society_id, version, law_hash, law, ledger_ref, published_at)
                 VALUES ('s', ?1, ?2, ?3, 'r', '')",
                rusqlite::params![version, hash, law],
            )
            .unwrap();
        }
        for (id, law_hash) in [(1, "sha256:plain"), (2, "sha256:approve"), (3, "sha256:approve")] {
            conn.execute(
                "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, 'x', ?1, 'auth.delegate', ?3)",
                rusqlite::params![id, format!("h{id}"), format!(r#"{{"law_hash":"{law_hash}"}}"#)],
            )
            .unwrap();
        }
        for (grant, parent, lref) in [("before", None, "h1"), ("root", None, "h2"), ("child", Some("root"), "h3")] {
            conn.execute(
                "INSERT INTO delegations (grant_id, society_id, client, agent, delegation, atp_budget, spent, parent,
                                          expires_at, ledger_ref)
                 VALUES (?1, 's', 'c', 'a', '{}', 10, 0, ?2, 9, ?3)",
                rusqlite::params![grant, parent, lref],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let pending: Vec<(String, bool)> = conn
            .prepare("SELECT grant_id, pending FROM delegations ORDER BY grant_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(pending, [("before".into(), false), ("child".into(), false), ("root".into(), true)]);
    }

    /// Migration 20: each LCT's status register takes the stamp of its newest
    /// suspension or reinstatement in the ledger, by (time, author, seq);
    /// other records and other LCTs leave it empty.
    #[test]
    fn status_registers_take_the_newest_suspension_or_reinstatement() {
        let mut conn = store_at(19);
        let records = [
            (1, "n1", 1, "lct.suspend", "a", "2026-12-01T10:00:00Z"),
            (2, "n1", 2, "lct.reinstate", "a", "2026-12-01T10:00:05Z"),
            // Applied later, recorded earlier by another node: not the newest.
            (3, "n2", 1, "lct.suspend", "a", "2026-12-01T10:00:03Z"),
            // Same second, chain order decides.
            (4, "n2", 2, "lct.suspend", "b", "2026-12-01T11:00:00Z"),
            (5, "n2", 3, "lct.reinstate", "b", "2026-12-01T11:00:00Z"),
            (7, "n1", 4, "lct.suspend", "d", "2026-12-01T13:00:00Z"),
            // A conflict applied in arrival order: the older reinstatement came last.
            (8, "n2", 4, "lct.suspend", "e", "2026-12-01T14:00:09Z"),
            (9, "n1", 5, "lct.reinstate", "e", "2026-12-01T14:00:05Z"),
            (6, "n1", 3, "lct.revoke", "c", "2026-12-01T12:00:00Z"),
        ];
        for (id, author, seq, kind, lct, at) in records {
            let text =
                format!(r#"{{"kind":"{kind}","payload":{{"lct_id":"{lct}","reason":"why {id}"}},"timestamp":"{at}"}}"#);
            conn.execute(
                "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, format!("h{id}"), author, seq, kind, text],
            )
            .unwrap();
        }
        for (lct, status) in [("a", "active"), ("b", "active"), ("c", "revoked"), ("d", "suspended"), ("e", "active")] {
            conn.execute(
                "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, document, ledger_ref, created_at, updated_at, home)
                 VALUES (?1, 's', 'k', 'ai', ?2, '{}', 'r', 1, 2, 'x')",
                [lct, status],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        type Register = (String, Option<i64>, Option<String>, Option<i64>, Option<String>);
        let got: Vec<Register> = conn
            .prepare("SELECT lct_id, status_at, status_author, status_seq, status_register FROM lcts ORDER BY lct_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let secs = |t: &str| web4_core::Timestamp::parse(t).unwrap().secs();
        assert_eq!(
            got,
            [
                ("a".into(), Some(secs("2026-12-01T10:00:05Z")), Some("n1".into()), Some(2), Some("active".into())),
                ("b".into(), Some(secs("2026-12-01T11:00:00Z")), Some("n2".into()), Some(3), Some("active".into())),
                ("c".into(), None, None, None, None),
                ("d".into(), Some(secs("2026-12-01T13:00:00Z")), Some("n1".into()), Some(4), Some("suspended".into())),
                ("e".into(), Some(secs("2026-12-01T14:00:09Z")), Some("n2".into()), Some(4), Some("suspended".into())),
            ]
        );
        // Migration 22: the status follows the register, with the winning
        // change's reason, record and time; revoked rows are left alone.
        type Status = (String, String, Option<String>, String, i64);
        let status: Vec<Status> = conn
            .prepare("SELECT lct_id, status, status_reason, ledger_ref, updated_at FROM lcts ORDER BY lct_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            status[3],
            ("d".into(), "suspended".into(), Some("why 7".into()), "h7".into(), secs("2026-12-01T13:00:00Z"))
        );
        assert_eq!(
            status[4],
            ("e".into(), "suspended".into(), Some("why 8".into()), "h8".into(), secs("2026-12-01T14:00:09Z"))
        );
        assert_eq!(status[0].1, "active");
        assert_eq!((status[2].1.as_str(), status[2].3.as_str()), ("revoked", "r"), "revoked rows keep theirs");
    }

    /// Migration 23: each graph triple takes the stamp (time, author, seq) of
    /// the record its `ledger_ref` names; a row naming no record keeps none,
    /// so any record that sets it later wins.
    #[test]
    fn graph_triples_take_the_stamp_of_their_record() {
        let conn = {
            let mut conn = store_at(22);
            for (id, author, seq, at) in [(1, "n1", 3, "2026-12-01T10:00:05Z"), (2, "n2", 9, "2026-12-01T11:00:00Z")] {
                let text = format!(r#"{{"kind":"graph.triple","payload":{{}},"timestamp":"{at}"}}"#);
                conn.execute(
                    "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, ?3, ?4, 'graph.triple', ?5)",
                    rusqlite::params![id, format!("h{id}"), author, seq, text],
                )
                .unwrap();
            }
            for (o, lref) in [("x", "h2"), ("y", "h1"), ("z", "gone")] {
                conn.execute(
                    "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref) VALUES ('a', 'p', ?1, 0, 0.5, ?2)",
                    [o, lref],
                )
                .unwrap();
            }
            assert_eq!(migrate(&mut conn).unwrap(), latest());
            conn
        };
        type Stamp = (String, Option<i64>, Option<String>, Option<i64>);
        let got: Vec<Stamp> = conn
            .prepare("SELECT o, at, author, seq FROM graph_triples ORDER BY o")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let secs = |t: &str| web4_core::Timestamp::parse(t).unwrap().secs();
        assert_eq!(
            got,
            [
                ("x".into(), Some(secs("2026-12-01T11:00:00Z")), Some("n2".into()), Some(9)),
                ("y".into(), Some(secs("2026-12-01T10:00:05Z")), Some("n1".into()), Some(3)),
                ("z".into(), None, None, None),
            ]
        );
    }

    /// Migration 24: every role record is kept by the LCT it names (one for
    /// an LCT never registered is not), a role-granting edge takes the stamp
    /// of its register, and the new LCT of a rotation that does not stand
    /// loses the roles it took from the old LCT in arrival order, with their
    /// graph edge; the successor that stands keeps them.
    #[test]
    fn a_losing_successor_keeps_only_the_roles_its_records_give() {
        let mut conn = store_at(23);
        let records = [
            (1, "n1", 1, "lct.transition", r#"{"old":"y","lct":{"lct_id":"y1"}}"#, "2026-12-01T10:00:00Z"),
            (2, "n2", 1, "lct.transition", r#"{"old":"y","lct":{"lct_id":"y2"}}"#, "2026-12-01T10:00:01Z"),
            (
                3,
                "n2",
                2,
                "role.grant",
                r#"{"society_id":"s","lct_id":"y2","role":"archivist"}"#,
                "2026-12-01T10:00:05Z",
            ),
            (
                4,
                "n1",
                2,
                "role.revoke",
                r#"{"society_id":"s","lct_id":"ghost","role":"witness"}"#,
                "2026-12-01T10:00:06Z",
            ),
        ];
        for (id, author, seq, kind, payload, at) in records {
            let text = format!(r#"{{"kind":"{kind}","payload":{payload},"timestamp":"{at}"}}"#);
            conn.execute(
                "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, format!("h{id}"), author, seq, kind, text],
            )
            .unwrap();
        }
        for (lct, doc, successor) in [("y", 0, Some("y1")), ("y1", 1, None), ("y2", 2, None)] {
            conn.execute(
                "INSERT INTO lcts (lct_id, society_id, public_key, entity_type, status, doc_record, superseded_by, ledger_ref,
                                   created_at, updated_at, home)
                 VALUES (?1, 's', 'k', 'human', 'active', ?2, ?3, 'r', 1, 2, 'x')",
                rusqlite::params![lct, doc, successor],
            )
            .unwrap();
        }
        // In arrival order y2 applied first and took y's roles and register.
        for lct in ["y", "y1", "y2"] {
            for role in ["authority", "citizen"] {
                conn.execute("INSERT INTO roles VALUES ('s', ?1, ?2)", [lct, role]).unwrap();
            }
            conn.execute("INSERT INTO role_changes VALUES ('s', ?1, 'authority', 1, 100, 'n0', 7, 'h0')", [lct])
                .unwrap();
            conn.execute(
                "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref) VALUES ('s', ?1, ?2, 0, 1.0, 'h0')",
                [crate::graph::w4("hasAuthority").as_str(), lct],
            )
            .unwrap();
        }
        // y1's edge kept the stamp of a newer record that asserted it.
        conn.execute("UPDATE graph_triples SET ledger_ref = 'newer', at = 150 WHERE o = 'y1'", []).unwrap();
        conn.execute("INSERT INTO roles VALUES ('s', 'y2', 'archivist')", []).unwrap();
        conn.execute("INSERT INTO role_changes VALUES ('s', 'y2', 'archivist', 1, 5, 'n2', 2, 'h3')", []).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let kept: Vec<(String, String, bool, String, i64)> = conn
            .prepare("SELECT lct_id, role, held, author, seq FROM role_records ORDER BY lct_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, [("y2".into(), "archivist".into(), true, "n2".into(), 2)]);
        let roles = |lct: &str| -> Vec<String> {
            conn.prepare("SELECT role FROM roles WHERE lct_id = ?1 ORDER BY role")
                .unwrap()
                .query_map([lct], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(roles("y1"), ["authority", "citizen"]);
        assert_eq!(roles("y2"), ["archivist"]);
        let registers: i64 =
            conn.query_row("SELECT COUNT(*) FROM role_changes WHERE lct_id = 'y2'", [], |r| r.get(0)).unwrap();
        assert_eq!(registers, 1, "only the archivist register, at the record's stamp");
        let edges: Vec<String> = conn
            .prepare("SELECT o FROM graph_triples WHERE p LIKE '%hasAuthority' ORDER BY o")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(edges, ["y", "y1"]);
        let stamp: (String, i64, String, i64) = conn
            .query_row("SELECT ledger_ref, at, author, seq FROM graph_triples WHERE o = 'y1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(stamp, ("h0".into(), 100, "n0".into(), 7), "the edge takes its register's stamp");
    }

    /// Migration 25: each request a record carries, once per author and
    /// kind with the first record's seq; records without a request add none.
    #[test]
    fn carried_requests_are_kept_once_per_author_and_kind() {
        let mut conn = store_at(24);
        let ev = |nonce: &str| {
            format!(r#"{{"signer":"alice","nonce":"{nonce}","timestamp":"2026-12-01T10:00:00Z","signature":"s"}}"#)
        };
        let records = [
            (1, "n1", 1, "atp.transfer", format!(r#"{{"evidence":{}}}"#, ev("x"))),
            (2, "n1", 2, "atp.transfer", format!(r#"{{"evidence":{}}}"#, ev("x"))),
            (3, "n1", 3, "resource.release", format!(r#"{{"evidence":{}}}"#, ev("x"))),
            (4, "n2", 1, "atp.transfer", format!(r#"{{"evidence":{}}}"#, ev("x"))),
            (5, "n2", 2, "resource.release", r#"{"evidence":null}"#.to_owned()),
        ];
        for (id, author, seq, kind, payload) in records {
            let text = format!(r#"{{"kind":"{kind}","payload":{payload},"timestamp":"2026-12-01T10:00:01Z"}}"#);
            conn.execute(
                "INSERT INTO ledger (id, hash, author, seq, kind, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, format!("h{id}"), author, seq, kind, text],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let rows: Vec<(i64, String, String, String, String, i64)> = conn
            .prepare("SELECT ts, signer, nonce, author, kind, seq FROM carried_requests ORDER BY author, kind")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let ts = web4_core::Timestamp::parse("2026-12-01T10:00:00Z").unwrap().secs();
        let row = |author: &str, kind: &str, seq| (ts, "alice".into(), "x".into(), author.into(), kind.into(), seq);
        assert_eq!(
            rows,
            [row("n1", "atp.transfer", 1), row("n1", "resource.release", 3), row("n2", "atp.transfer", 1)]
        );
    }

    /// Migrations 13 and 14 rebuild tables: nothing is lost and the order of
    /// reputation events (the burst window's tie-break) is kept.
    #[test]
    fn rebuilt_tables_keep_their_rows() {
        let mut conn = store_at(12);
        conn.execute_batch(
            "INSERT INTO nonces (signer, nonce, ts) VALUES ('a', 'n1', 5), ('b', 'n1', 3), ('a', 'n2', 4);
             INSERT INTO reputation_events VALUES ('sha256:ff', 'e', 'r', 7, 'x', 'success', 0.5, 0.6, '{}');
             INSERT INTO reputation_events VALUES ('sha256:00', 'e', 'r', 7, 'x', 'failure', 0.6, 0.4, '{}');
             INSERT INTO gaming_flags VALUES ('sha256:00', 'burst', 'e', 'r', 7, '{}');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let nonces: Vec<(i64, String, String)> = conn
            .prepare("SELECT ts, signer, nonce FROM nonces")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want = [(3, "b", "n1"), (4, "a", "n2"), (5, "a", "n1")];
        assert_eq!(nonces, want.map(|(t, s, n)| (t, s.to_owned(), n.to_owned())));
        let latest_first: Vec<String> = conn
            .prepare(
                "SELECT result_status FROM reputation_events WHERE entity = 'e' AND role = 'r' ORDER BY at DESC, rowid DESC",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(latest_first, ["failure", "success"]);
        let flags: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM gaming_flags WHERE entity = 'e' AND role = 'r' AND pattern = 'burst'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(flags, 1);
    }

    /// Migration 18 drops the stored copies of the derived LCT attributes and
    /// keeps every other triple.
    #[test]
    fn derived_lct_triples_leave_the_table() {
        let mut conn = store_at(17);
        let w4 = web4_core::mrh::WEB4;
        for (s, local, o) in [
            ("a", "entityType", "human"),
            ("a", "memberOf", "soc"),
            ("a", "status", "active"),
            ("a", "hasRole", "citizen"),
            ("a", "witnessedBy", "w"),
            ("soc", "lawHash", "h"),
        ] {
            conn.execute(
                "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref) VALUES (?1, ?2, ?3, 0, NULL, 'r')",
                rusqlite::params![s, format!("{w4}{local}"), o],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO graph_triples (s, p, o, kind, weight, ledger_ref) VALUES ('a', 'https://schema.org/status', 'x', 1, NULL, 'r')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let left: Vec<(String, String)> = conn
            .prepare("SELECT s, p FROM graph_triples ORDER BY s, p")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want = [
            ("a", "https://schema.org/status".to_owned()),
            ("a", format!("{w4}witnessedBy")),
            ("soc", format!("{w4}lawHash")),
        ];
        assert_eq!(left, want.map(|(s, p)| (s.to_owned(), p)));
    }
}
