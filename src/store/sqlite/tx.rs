//! One transaction on a connection of its own: statements on the caller's thread, the commit
//! (its fsync) on a blocking one.

use super::pool::{Pool, Pooled, BUSY_TIMEOUT};
use anyhow::Result;
use rusqlite::{Connection, ErrorCode};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// One transaction on a connection of its own; rolled back if dropped before `commit`.
pub struct Tx {
    conn: Pooled,
    /// Whether it writes: its commit then waits for the disk, off the async threads, unless
    /// the connection is relaxed for a deferred write (see [`Tx::begin_write_deferred`]).
    write: bool,
    /// Still to be committed or rolled back.
    open: bool,
    /// The connection's count of changed rows when the transaction began.
    changes_before: u64,
}

impl Tx {
    /// Begins a write transaction. `BEGIN IMMEDIATE` takes the write lock at once, so a
    /// transaction that reads then writes cannot fail half-way on a lock upgrade.
    pub async fn begin_write(pool: &Pool) -> Result<Self> {
        Self::begin_writing(pool, false).await
    }

    /// Begins a write transaction whose commit returns once its pages are in the log, before
    /// they are on the disk: they are with the next ordinary commit, whose sync covers the
    /// whole log file. A process crash loses nothing (the log is written); a power cut may
    /// lose the transaction, so it is for writes that nobody acts on before a later ordinary
    /// commit. The connection's durability is put back when the transaction ends.
    pub async fn begin_write_deferred(pool: &Pool) -> Result<Self> {
        Self::begin_writing(pool, true).await
    }

    async fn begin_writing(pool: &Pool, deferred: bool) -> Result<Self> {
        let mut conn = pool.writer().await?;
        if deferred {
            // Only outside a transaction may it change. Until it is put back, the connection
            // is not returned to the pool (see `Pooled::relaxed`).
            run_cached(&conn, "PRAGMA synchronous = NORMAL")?;
            conn.relaxed = true;
        }
        // The daemon's writers queue on their own turn first, so the lock is normally free:
        // try without waiting, and wait on a blocking thread only if another process has it.
        conn.busy_timeout(Duration::ZERO)?;
        let began = run_cached(&conn, "BEGIN IMMEDIATE");
        conn.busy_timeout(BUSY_TIMEOUT)?;
        match began {
            Ok(()) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                (pool.inner.lock_waits).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conn = tokio::task::spawn_blocking(move || {
                    conn.execute_batch("BEGIN IMMEDIATE").map(|()| conn)
                })
                .await??;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            changes_before: conn.total_changes(),
            conn,
            write: true,
            open: true,
        })
    }

    /// Begins a read-only transaction: one consistent snapshot, no lock on writers (WAL).
    pub async fn begin_read(pool: &Pool) -> Result<Self> {
        let conn = pool.take().await?;
        run_cached(&conn, "BEGIN")?;
        Ok(Self {
            changes_before: conn.total_changes(),
            conn,
            write: false,
            open: true,
        })
    }

    pub async fn commit(mut self) -> Result<()> {
        self.open = false;
        if self.conn.relaxed {
            // A deferred write: writing the log takes no disk wait, so done here, no hand-off.
            let committed = run_cached(&self.conn, "COMMIT");
            let rows = self.conn.total_changes() - self.changes_before;
            self.conn.pool.wrote(rows);
            if let Err(e) = committed {
                self.open = true;
                return Err(e.into());
            }
            restore_durability(&mut self.conn);
        } else if self.write {
            let Some(conn) = self.conn.conn.take() else {
                anyhow::bail!("transaction without a connection");
            };
            let (conn, committed) = tokio::task::spawn_blocking(move || {
                let committed = run_cached(&conn, "COMMIT");
                (conn, committed)
            })
            .await?;
            let rows = conn.total_changes() - self.changes_before;
            self.conn.pool.wrote(rows);
            self.conn.conn = Some(conn);
            if let Err(e) = committed {
                // Still open: dropping rolls it back.
                self.open = true;
                return Err(e.into());
            }
        } else {
            run_cached(&self.conn, "COMMIT")?;
        }
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            if let Some(conn) = self.conn.conn.as_ref() {
                // Undoing writes in WAL mode only forgets pages: no disk wait.
                if let Err(e) = run_cached(conn, "ROLLBACK") {
                    tracing::warn!(error = %e, "rollback failed");
                }
            }
            if self.conn.relaxed {
                restore_durability(&mut self.conn);
            }
        }
    }
}

/// Puts back the durability every other write counts on (a commit synced before it returns).
/// Where that fails the connection stays marked relaxed, so it is dropped, not reused.
pub(super) fn restore_durability(conn: &mut Pooled) {
    match run_cached(conn, "PRAGMA synchronous = FULL") {
        Ok(()) => conn.relaxed = false,
        Err(e) => {
            tracing::warn!(error = %e, "could not restore synchronous commits; the connection will be reopened")
        }
    }
}

impl Deref for Tx {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Runs a statement without arguments or rows (`BEGIN`, `COMMIT`), prepared once per connection.
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}
