//! Spent request nonces (decisions/0020).
//!
//! The replay check runs on the writer against an in-memory set of keyed
//! 64-bit fingerprints of `(signer, nonce)`; the durable copy is the `nonces`
//! table. Its rows are appended in the order they are spent and indexed by
//! the request's timestamp (for pruning), so that a group's inserts land on
//! the last page or two of the table and of the index instead of one page per
//! request. At start the set is rebuilt from the table's retention window.

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::hash::BuildHasher;

/// The writer's set of spent nonces.
pub struct SpentNonces {
    hasher: std::collections::hash_map::RandomState,
    /// Fingerprint → request timestamp (seconds).
    seen: HashMap<u64, i64>,
    /// Fingerprints added since the current group began (undone if it fails).
    added: Vec<u64>,
    /// Requests older than this (seconds) are not kept: they fail the clock
    /// check anyway.
    since: i64,
    /// How far ahead of the clock a peer's carried request may be dated and
    /// still be kept (seconds; the retention window): later ones are no
    /// honest peer's, and would grow the set forever (pruning goes by age).
    ahead: i64,
}

impl SpentNonces {
    /// Load the nonces spent at or after `since` (seconds).
    /// The boundary of an earlier prune, if later, wins: after a restart with
    /// the clock stepped back, requests from the pruned range stay refused.
    pub fn load(conn: &Connection, since: i64) -> rusqlite::Result<SpentNonces> {
        let pruned: Option<String> =
            conn.query_row("SELECT value FROM node WHERE key = 'nonces_pruned_before'", [], |r| r.get(0)).optional()?;
        let since = pruned.and_then(|v| v.parse::<i64>().ok()).map_or(since, |p| p.max(since));
        let mut s = SpentNonces {
            hasher: std::collections::hash_map::RandomState::new(),
            seen: HashMap::new(),
            added: Vec::new(),
            since,
            ahead: i64::MAX / 4,
        };
        let mut st = conn.prepare("SELECT signer, nonce, ts FROM nonces WHERE ts >= ?1")?;
        let mut rows = st.query([since])?;
        while let Some(r) = rows.next()? {
            let (signer, nonce, ts): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let fp = s.fingerprint(&signer, &nonce);
            s.seen.insert(fp, ts);
        }
        Ok(s)
    }

    fn fingerprint(&self, signer: &str, nonce: &str) -> u64 {
        self.hasher.hash_one((signer, nonce))
    }

    /// Spend `nonce` of `signer` (request time `ts`): false when it was spent
    /// before (a replay). The row is written in the caller's transaction.
    pub fn spend(&mut self, conn: &Connection, signer: &str, nonce: &str, ts: i64) -> rusqlite::Result<bool> {
        if !self.mark(signer, nonce, ts) {
            return Ok(false);
        }
        record(conn, signer, nonce, ts)?;
        Ok(true)
    }

    /// Spend `nonce` of `signer` in memory only: false when it was spent
    /// before. The caller writes its row ([`record`]) in the same group; the
    /// writer does so after the job, whether the job was refused or not, so
    /// a job that is refused by its checks has written nothing.
    pub fn mark(&mut self, signer: &str, nonce: &str, ts: i64) -> bool {
        let fp = self.fingerprint(signer, nonce);
        if self.seen.contains_key(&fp) {
            return false;
        }
        self.seen.insert(fp, ts);
        self.added.push(fp);
        true
    }

    /// A request that a peer accepted and recorded (its record carries the
    /// signed request) is spent here too, so it cannot be replayed to this
    /// node once the record arrived (decisions/0026). Requests older than
    /// the retention window are skipped: the clock check refuses them. So
    /// are requests dated more than the retention ahead of `now` (see
    /// [`SpentNonces::limit_ahead`]): no honest peer's, and kept they would
    /// never be pruned.
    pub fn spent_by_peer(
        &mut self,
        conn: &Connection,
        signer: &str,
        nonce: &str,
        ts: i64,
        now: i64,
    ) -> rusqlite::Result<()> {
        if ts < self.since || self.too_far_ahead(ts, now) {
            return Ok(());
        }
        if self.mark(signer, nonce, ts) {
            return record(conn, signer, nonce, ts);
        }
        // Marked already, but perhaps by a job whose writes were rolled back
        // (a peer's batch that failed half way is applied again record by
        // record): the row must exist, or a restart would forget the nonce.
        let stored: bool = conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM nonces WHERE ts = ?1 AND signer = ?2 AND nonce = ?3)")?
            .query_row(params![ts, signer, nonce], |r| r.get(0))?;
        if !stored {
            record(conn, signer, nonce, ts)?;
        }
        Ok(())
    }

    /// Keep carried requests dated at most `secs` ahead of the clock.
    pub fn limit_ahead(&mut self, secs: i64) {
        self.ahead = secs;
    }

    /// Requests dated before this were forgotten (pruned): they cannot be
    /// checked for replay any more.
    pub fn forgotten_before(&self) -> i64 {
        self.since
    }

    /// Whether a carried request dated `ts` is too far ahead of `now` to keep.
    fn too_far_ahead(&self, ts: i64, now: i64) -> bool {
        ts > now.saturating_add(self.ahead)
    }

    /// A new group begins: what it adds is undone if its commit fails.
    pub fn begin_group(&mut self) {
        self.added.clear();
    }

    /// The group's commit failed: its nonces were not stored, so they are not spent.
    pub fn undo_group(&mut self) {
        for fp in self.added.drain(..) {
            self.seen.remove(&fp);
        }
    }

    /// Forget nonces older than `before` (requests that old fail the clock
    /// check anyway) in memory and in the store.
    pub fn prune(&mut self, conn: &Connection, before: i64) -> rusqlite::Result<()> {
        self.seen.retain(|_, ts| *ts >= before);
        self.since = self.since.max(before);
        conn.prepare_cached("DELETE FROM nonces WHERE ts < ?1")?.execute([before])?;
        conn.prepare_cached("INSERT OR REPLACE INTO node (key, value) VALUES ('nonces_pruned_before', ?1)")?
            .execute([self.since.to_string()])?;
        Ok(())
    }
}

/// Store a spent nonce: from [`SpentNonces::spend`], which checks the
/// in-memory set first, and from the writer after each job that marked one
/// ([`SpentNonces::mark`]); a refused request still spends its nonce.
pub(crate) fn record(conn: &Connection, signer: &str, nonce: &str, ts: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO nonces (ts, signer, nonce) VALUES (?1, ?2, ?3)")?
        .execute(params![ts, signer, nonce])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn a_nonce_is_spent_once_per_signer_and_survives_a_reload() {
        let c = db();
        let (a, b) = ("lct:web4:ai:a", "lct:web4:ai:b");
        let mut s = SpentNonces::load(&c, 0).unwrap();
        assert!(s.spend(&c, a, "n1", 100).unwrap());
        assert!(!s.spend(&c, a, "n1", 100).unwrap(), "replay");
        assert!(!s.spend(&c, a, "n1", 130).unwrap(), "same nonce at another time is a reuse too");
        assert!(s.spend(&c, b, "n1", 100).unwrap(), "another signer's nonce");
        // The separator between signer and nonce cannot be forged by shifting text.
        assert!(s.spend(&c, "lct:web4:ai:an", "1", 100).unwrap());
        let mut again = SpentNonces::load(&c, 0).unwrap();
        assert_eq!(again.seen.len(), 3);
        assert!(!again.spend(&c, a, "n1", 100).unwrap(), "replay after a restart");
        // Pruned ones are forgotten in memory and in the store.
        again.prune(&c, 101).unwrap();
        assert!(again.seen.is_empty());
        let n: i64 = c.query_row("SELECT COUNT(*) FROM nonces", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn requests_recorded_by_peers_are_spent_unless_outside_the_window() {
        let c = db();
        let a = "lct:web4:ai:a";
        let mut s = SpentNonces::load(&c, 100).unwrap();
        s.spent_by_peer(&c, a, "fresh", 150, 0).unwrap();
        assert!(!s.spend(&c, a, "fresh", 150).unwrap(), "replayed to this node after the peer's record arrived");
        s.spent_by_peer(&c, a, "fresh", 150, 0).unwrap();
        s.spent_by_peer(&c, a, "old", 99, 0).unwrap();
        let n: i64 = c.query_row("SELECT COUNT(*) FROM nonces", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "an old request is not stored; a second copy is not either");
        s.prune(&c, 200).unwrap();
        s.spent_by_peer(&c, a, "late", 180, 0).unwrap();
        assert!(s.spend(&c, a, "late", 180).unwrap(), "behind the pruned window: not kept");
    }

    /// What the writer needs to refuse requests it can no longer check (dated
    /// before the pruned window, after the clock stepped back) and to skip
    /// carried requests dated absurdly far ahead (no honest peer's; kept,
    /// they would never be pruned).
    #[test]
    fn the_window_is_known_on_both_sides() {
        let c = db();
        let mut s = SpentNonces::load(&c, 100).unwrap();
        assert_eq!(s.forgotten_before(), 100);
        s.prune(&c, 200).unwrap();
        assert_eq!(s.forgotten_before(), 200);
        // Kept across a restart, even when the clock stepped back meanwhile.
        assert_eq!(SpentNonces::load(&c, 150).unwrap().forgotten_before(), 200);
        assert_eq!(SpentNonces::load(&c, 250).unwrap().forgotten_before(), 250);
        assert!(!s.too_far_ahead(i64::MAX / 8, 0), "unbounded until a limit is set");
        s.limit_ahead(660);
        assert!(!s.too_far_ahead(1000 + 660, 1000));
        assert!(s.too_far_ahead(1000 + 661, 1000));
        assert!(!s.too_far_ahead(0, i64::MAX), "no overflow");
    }

    #[test]
    fn a_peer_request_marked_by_a_rolled_back_job_still_gets_its_row() {
        let mut c = db();
        let a = "lct:web4:ai:a";
        let mut s = SpentNonces::load(&c, 0).unwrap();
        let tx = c.transaction().unwrap();
        // A batch of peers' records fails half way: its writes are undone,
        // the in-memory mark stays, and the records are applied again.
        tx.execute_batch("SAVEPOINT job").unwrap();
        s.spent_by_peer(&tx, a, "carried", 150, 0).unwrap();
        tx.execute_batch("ROLLBACK TO job; RELEASE job").unwrap();
        s.spent_by_peer(&tx, a, "carried", 150, 0).unwrap();
        tx.commit().unwrap();
        let mut after_restart = SpentNonces::load(&c, 0).unwrap();
        assert!(!after_restart.spend(&c, a, "carried", 150).unwrap(), "replay after a restart");
    }

    #[test]
    fn rows_are_appended_in_spend_order_and_pruned_by_the_time_index() {
        let c = db();
        let mut s = SpentNonces::load(&c, 0).unwrap();
        for (i, signer) in ["z", "a", "m", "b"].iter().enumerate() {
            assert!(s.spend(&c, signer, &format!("n{}", 9 - i), 100).unwrap());
        }
        let order: Vec<String> = c
            .prepare("SELECT signer FROM nonces ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(order, ["z", "a", "m", "b"], "appended, not sorted by signer or nonce");
        let plan: String = c.query_row("EXPLAIN QUERY PLAN DELETE FROM nonces WHERE ts < 5", [], |r| r.get(3)).unwrap();
        assert!(plan.contains("nonces_ts"), "pruning scans the table: {plan}");
    }

    #[test]
    fn a_failed_group_does_not_spend_its_nonces() {
        let c = db();
        let a = "lct:web4:ai:a";
        let mut s = SpentNonces::load(&c, 0).unwrap();
        assert!(s.spend(&c, a, "kept", 1).unwrap());
        s.begin_group();
        assert!(s.spend(&c, a, "lost", 1).unwrap());
        s.undo_group();
        assert!(s.spend(&c, a, "lost", 1).unwrap(), "usable again");
        assert!(!s.spend(&c, a, "kept", 1).unwrap());
    }
}
