//! SQLite store: WAL mode, numbered migrations, one writer thread with group
//! commit ([`writer`]) and a small pool of read connections.

pub mod migrations;
pub mod nonces;
pub mod writer;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A store failure (always reported to clients as an internal or ledger error).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {error}")]
    Open { path: String, error: rusqlite::Error },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this web4d understands ({known})")]
    TooNew { found: i64, known: i64 },
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Page cache per connection, KiB.
pub const PAGE_CACHE_KIB: i64 = 4_096;

/// Open a connection with the node's pragmas.
pub fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|error| StoreError::Open { path: path.display().to_string(), error })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Room for every statement a connection runs, so none is re-prepared
    // after an eviction (rusqlite's default keeps 16).
    conn.set_prepared_statement_cache_capacity(64);
    // Query planner stability: plans never depend on bound values. Otherwise
    // SQLite marks statements whose equality terms compare to a parameter as
    // "re-prepare on bind", and the statement cache's clearing of bindings
    // then expires them, so every use re-parses and re-plans the SQL (6 % of
    // the writer under `web4 bench outcome`). No query of ours needs a plan
    // chosen by a parameter's value (partial indexes use constant conditions).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if !read_only {
        // WAL + FULL: an acknowledged commit survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Savepoint journals and temporary tables stay in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoint every ~32 MiB of WAL: hot index pages are copied back once
        // per checkpoint rather than every few commits. The node's writer
        // replaces this with its own hook and threshold (`store::writer`).
        conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A small page cache (decisions/0003, session 12). SQLite's B-tree
    // balance renumbers pages through the locking page's number (page
    // 262,145 at 4 KiB), which leaves that key as the cache's largest, so
    // every commit after a page split scans the whole cache hash table to
    // drop pages "beyond the end of the file": 16 % of a federation node's
    // writer with 32 MiB (3,000 cached pages). Readers' caches are emptied
    // whenever the writer commits, so a large one buys them nothing either.
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
    Ok(conn)
}

/// Read connections, checked out one at a time.
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    /// A pool over the database at `path`.
    pub fn new(path: PathBuf, max_idle: usize) -> Self {
        ReadPool { path, idle: Mutex::new(Vec::new()), max_idle }
    }

    /// Run `f` with a read connection, in one read transaction: all of
    /// `f`'s statements see the same snapshot (a check that reads a chain
    /// head and then the author's key cannot see a commit land between the
    /// two), and the WAL read lock is taken once instead of once per
    /// statement (a quarter of a received record's pre-check went to taking
    /// and dropping it, session 15).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = match self.idle.lock().map(|mut v| v.pop()) {
            Ok(Some(c)) => c,
            _ => open_connection(&self.path, true)?,
        };
        conn.prepare_cached("BEGIN")?.execute([])?;
        let out = f(&conn);
        // A read transaction has nothing to commit; ending it cannot lose
        // anything. A connection that is somehow still inside a transaction
        // is dropped rather than pooled.
        let ended = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).is_ok() || conn.is_autocommit();
        if ended
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
        out
    }
}

/// Read a `node` table value.
pub fn node_value(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM node WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A cached statement whose WHERE compares columns to parameters is reused
    /// as compiled, not re-prepared on every use (see `open_connection`).
    #[test]
    fn cached_statements_are_not_re_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("t.db"), false).unwrap();
        conn.execute_batch(
            "CREATE TABLE ev (k TEXT PRIMARY KEY, entity TEXT, role TEXT, at INTEGER, v REAL);
             CREATE INDEX ev_pair ON ev (entity, role, at);",
        )
        .unwrap();
        let sql = "SELECT v FROM ev WHERE entity = ?1 AND role = ?2 ORDER BY at DESC LIMIT ?3";
        for i in 0..5i64 {
            conn.execute("INSERT INTO ev VALUES (?1, 'e', 'r', ?2, 0.5)", rusqlite::params![format!("k{i}"), i])
                .unwrap();
            let mut st = conn.prepare_cached(sql).unwrap();
            let n = st.query_map(rusqlite::params!["e", "r", 9], |r| r.get::<_, f64>(0)).unwrap().count();
            assert_eq!(n as i64, i + 1);
            assert_eq!(st.get_status(StatementStatus::RePrepare), 0, "use {i} re-prepared the statement");
        }
    }

    /// All statements of one `ReadPool::with` see one snapshot: a commit that
    /// lands between two of them is not visible until the next call. A
    /// failing closure still ends its transaction, so the pooled connection
    /// sees new commits afterwards.
    #[test]
    fn a_read_sees_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = open_connection(&path, false).unwrap();
        w.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);").unwrap();
        let pool = ReadPool::new(path, 1);
        let count = |c: &Connection| -> Result<i64, StoreError> {
            Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
        };
        let (before, after) = pool
            .with(|c| {
                let before = count(c)?;
                w.execute("INSERT INTO t VALUES (2)", []).unwrap();
                Ok((before, count(c)?))
            })
            .unwrap();
        assert_eq!((before, after), (1, 1));
        let failed: Result<(), StoreError> = pool.with(|c| {
            count(c)?;
            Err(StoreError::Corrupt("test".into()))
        });
        assert!(failed.is_err());
        w.execute("INSERT INTO t VALUES (3)", []).unwrap();
        assert_eq!(pool.with(count).unwrap(), 3);
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "the connection went back to the pool");
    }
}
