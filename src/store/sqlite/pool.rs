//! Connections to one SQLite file: idle ones kept with their prepared statements, one writer
//! connection all writes go through, and the process's turn to write.

use super::checkpoint::checkpoints;
use anyhow::Result;
use rusqlite::{Connection, OpenFlags};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a statement outside the daemon's own turn may wait for another process's lock
/// (a `replyrelay ingest` run beside the daemon).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; more callers wait their turn.
pub(super) const MAX_CONNECTIONS: usize = 16;
/// Distinct statements kept prepared per connection (the daemon has about forty).
pub(super) const STATEMENT_CACHE: usize = 128;
/// Statements whose column names a thread keeps (see `column_names`).
pub(super) const COLUMN_NAMES_KEPT: usize = 128;
/// Rows written between checkpoints. A row costs a page or two in the WAL (its table and index
/// pages), so this keeps the WAL near SQLite's own default of 1,000 pages.
pub(super) const CHECKPOINT_ROWS: u64 = 500;
/// Past this many frames the WAL is started over from its beginning (see `checkpoints`).
pub(super) const RESTART_FRAMES: i64 = 4000;
/// How many times (a millisecond apart) the checkpointer, holding the write turn, tries to
/// copy the last frames before it lets writers go on and tries again after later writes.
pub(super) const RESTART_TRIES: usize = 10;

/// Connections to one database file.
#[derive(Clone)]
pub struct Pool {
    pub(super) inner: Arc<PoolInner>,
}

pub(super) struct PoolInner {
    pub(super) path: PathBuf,
    /// Idle connections, most recently used last: reusing it finds its statements prepared.
    pub(super) idle: Mutex<Vec<Connection>>,
    /// The connection writes go through, when no write holds it. SQLite drops a connection's
    /// page cache whenever another connection has committed since it last read; with all
    /// writes on this one, its cache survives from one write transaction to the next, and a
    /// write finds the pages it changes (an index's last leaf, the table's) in memory instead
    /// of reading them back from the WAL. Measured on the inbound path: those reads were a
    /// quarter of storing a reply.
    pub(super) writer: Mutex<Option<Connection>>,
    /// Bounds the connections in use, so a burst of API reads cannot open hundreds.
    pub(super) permits: Arc<Semaphore>,
    /// Rows written since the checkpointer was last asked to run.
    pub(super) unchecked: std::sync::atomic::AtomicU64,
    /// Write transactions that found another process holding the lock and waited for it.
    pub(super) lock_waits: std::sync::atomic::AtomicU64,
    /// Asks the checkpointer to run (a full queue means it has been asked already).
    pub(super) checkpoint: std::sync::mpsc::SyncSender<()>,
    /// Rounds the checkpointer was asked for, and rounds it has begun: a test waits for them to
    /// meet, so what it shows does not hang on when the thread is scheduled.
    pub(super) checkpoints_asked: std::sync::atomic::AtomicU64,
    pub(super) checkpoints_begun: Arc<std::sync::atomic::AtomicU64>,
    /// Whose turn it is to write, in this process. SQLite has one writer at a time; a second
    /// `BEGIN IMMEDIATE` would wait in SQLite's busy handler, which polls with sleeps of up to
    /// 100 ms. Waiting here instead hands the lock over the moment the writer before commits.
    /// The checkpointer takes a turn too, to start the WAL over.
    pub(super) turn: Arc<tokio::sync::Mutex<()>>,
}

/// A connection taken from the pool; it goes back when dropped.
pub struct Pooled {
    /// `None` only while being returned.
    pub(super) conn: Option<Connection>,
    pub(super) pool: Arc<PoolInner>,
    /// Whether it is the writer connection, which goes back to its own place.
    pub(super) writer: bool,
    /// Whether its commits skip the disk sync (a deferred transaction's, until put back). Such
    /// a connection is never returned to the pool: every other write counts on the sync.
    pub(super) relaxed: bool,
    /// A place among [`MAX_CONNECTIONS`]; the writer connection needs none.
    pub(super) _permit: Option<OwnedSemaphorePermit>,
}

impl Pool {
    /// Opens the database at `path`, creating it if missing, in WAL mode.
    pub fn open(path: &Path) -> Result<Self> {
        let (checkpoint, wanted) = std::sync::mpsc::sync_channel(1);
        let pool = Self {
            inner: Arc::new(PoolInner {
                path: path.to_owned(),
                idle: Mutex::default(),
                writer: Mutex::default(),
                permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
                unchecked: Default::default(),
                lock_waits: Default::default(),
                checkpoint,
                checkpoints_asked: Default::default(),
                checkpoints_begun: Arc::default(),
                turn: Arc::default(),
            }),
        };
        // Fail now, at start-up, if the file cannot be opened.
        let first = pool.inner.connect()?;
        *pool.inner.writer.lock().expect("pool lock") = Some(first);
        let conn = pool.inner.connect()?;
        let turn = pool.turn();
        let begun = pool.inner.checkpoints_begun.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(conn, wanted, turn, begun))?;
        Ok(pool)
    }

    /// This process's turn to write: held for a write transaction, or a statement that writes.
    pub fn turn(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.inner.turn.clone()
    }

    /// How many write transactions found another process holding the lock, and waited.
    #[cfg(test)]
    pub fn lock_waits(&self) -> u64 {
        self.inner
            .lock_waits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until the checkpointer has begun every round it was asked for.
    #[cfg(test)]
    pub async fn checkpointer_caught_up(&self) {
        use std::sync::atomic::Ordering;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.inner.checkpoints_begun.load(Ordering::SeqCst)
            < self.inner.checkpoints_asked.load(Ordering::SeqCst)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the checkpointer took up no round for 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Takes an idle connection, or opens one.
    pub async fn take(&self) -> Result<Pooled> {
        let permit = self.inner.permits.clone().acquire_owned().await?;
        let idle = self.inner.idle.lock().expect("pool lock").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.inner.connect()?,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self.inner.clone(),
            writer: false,
            relaxed: false,
            _permit: Some(permit),
        })
    }

    /// Takes the writer connection, for a caller holding the write [`turn`](Pool::turn). Were
    /// it taken anyway (a caller without the turn), an ordinary connection does: correct,
    /// only with a colder cache.
    pub async fn writer(&self) -> Result<Pooled> {
        let writer = self.inner.writer.lock().expect("pool lock").take();
        match writer {
            Some(conn) => Ok(Pooled {
                conn: Some(conn),
                pool: self.inner.clone(),
                writer: true,
                relaxed: false,
                _permit: None,
            }),
            None => self.take().await,
        }
    }
}

impl PoolInner {
    /// Counts committed rows and wakes the checkpointer once enough have piled up.
    pub(super) fn wrote(&self, rows: u64) {
        use std::sync::atomic::Ordering;
        let total = self.unchecked.fetch_add(rows, Ordering::Relaxed) + rows;
        if total >= CHECKPOINT_ROWS {
            self.unchecked.store(0, Ordering::Relaxed);
            if self.checkpoint.try_send(()).is_ok() {
                self.checkpoints_asked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    pub(super) fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before we answer, so an accepted event survives a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Not inside commits: the checkpointer thread does it (see `checkpoints`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

impl Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("connection present until dropped")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("connection present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection left inside a transaction (a panic mid-way) or without its disk
            // syncs is not reused; the writer's place gets a new one.
            if !conn.is_autocommit() || self.relaxed {
                if self.writer {
                    *self.pool.writer.lock().expect("pool lock") = self.pool.connect().ok();
                }
                return;
            }
            if self.writer {
                *self.pool.writer.lock().expect("pool lock") = Some(conn);
            } else {
                self.pool.idle.lock().expect("pool lock").push(conn);
            }
        }
    }
}
