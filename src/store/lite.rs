//! A small query API over rusqlite, shaped like sqlx's, so the SQL in `sql.rs` serves SQLite
//! too without going through sqlx's SQLite driver.
//!
//! Why not sqlx here: its SQLite driver runs every statement on a worker thread and awaits the
//! answer, two context switches per statement. Measured on this machine, six statements per
//! transaction: ~49 µs a statement through sqlx against ~1.3 µs called directly. A daemon that
//! runs six to ten statements per email spent most of its time handing work over.
//!
//! So: a transaction holds one connection and runs its statements on the caller's thread (they
//! touch pages in memory and take microseconds). What can wait goes to tokio's blocking pool,
//! one hand-off each: the commit of a write (its fsync), a write lock another process holds,
//! and statements outside a transaction. A deferred write ([`Tx::begin_write_deferred`])
//! commits without the sync, inline. Checkpoints (copying the WAL back into the database
//! file) run on a thread of their own, so no commit waits for one.
//!
//! Every write of the process goes through one connection of its own (see [`Pool::writer`]).

use anyhow::Result;
use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a statement outside the daemon's own turn may wait for another process's lock
/// (a `replyrelay ingest` run beside the daemon).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; more callers wait their turn.
const MAX_CONNECTIONS: usize = 16;
/// Distinct statements kept prepared per connection (the daemon has about forty).
const STATEMENT_CACHE: usize = 128;
/// Statements whose column names a thread keeps (see `column_names`).
const COLUMN_NAMES_KEPT: usize = 128;
/// Rows written between checkpoints. A row costs a page or two in the WAL (its table and index
/// pages), so this keeps the WAL near SQLite's own default of 1,000 pages.
const CHECKPOINT_ROWS: u64 = 500;
/// Past this many frames the WAL is started over from its beginning (see `checkpoints`).
const RESTART_FRAMES: i64 = 4000;
/// How many times (a millisecond apart) the checkpointer, holding the write turn, tries to
/// copy the last frames before it lets writers go on and tries again after later writes.
const RESTART_TRIES: usize = 10;

/// Connections to one database file.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    /// Idle connections, most recently used last: reusing it finds its statements prepared.
    idle: Mutex<Vec<Connection>>,
    /// The connection writes go through, when no write holds it. SQLite drops a connection's
    /// page cache whenever another connection has committed since it last read; with all
    /// writes on this one, its cache survives from one write transaction to the next, and a
    /// write finds the pages it changes (an index's last leaf, the table's) in memory instead
    /// of reading them back from the WAL. Measured on the inbound path: those reads were a
    /// quarter of storing a reply.
    writer: Mutex<Option<Connection>>,
    /// Bounds the connections in use, so a burst of API reads cannot open hundreds.
    permits: Arc<Semaphore>,
    /// Rows written since the checkpointer was last asked to run.
    unchecked: std::sync::atomic::AtomicU64,
    /// Asks the checkpointer to run (a full queue means it has been asked already).
    checkpoint: std::sync::mpsc::SyncSender<()>,
    /// Whose turn it is to write, in this process. SQLite has one writer at a time; a second
    /// `BEGIN IMMEDIATE` would wait in SQLite's busy handler, which polls with sleeps of up to
    /// 100 ms. Waiting here instead hands the lock over the moment the writer before commits.
    /// The checkpointer takes a turn too, to start the WAL over.
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// A connection taken from the pool; it goes back when dropped.
pub struct Pooled {
    /// `None` only while being returned.
    conn: Option<Connection>,
    pool: Arc<PoolInner>,
    /// Whether it is the writer connection, which goes back to its own place.
    writer: bool,
    /// Whether its commits skip the disk sync (a deferred transaction's, until put back). Such
    /// a connection is never returned to the pool: every other write counts on the sync.
    relaxed: bool,
    /// A place among [`MAX_CONNECTIONS`]; the writer connection needs none.
    _permit: Option<OwnedSemaphorePermit>,
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
                checkpoint,
                turn: Arc::default(),
            }),
        };
        // Fail now, at start-up, if the file cannot be opened.
        let first = pool.inner.connect()?;
        *pool.inner.writer.lock().expect("pool lock") = Some(first);
        let conn = pool.inner.connect()?;
        let turn = pool.turn();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(conn, wanted, turn))?;
        Ok(pool)
    }

    /// This process's turn to write: held for a write transaction, or a statement that writes.
    pub fn turn(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.inner.turn.clone()
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
    fn wrote(&self, rows: u64) {
        use std::sync::atomic::Ordering;
        let total = self.unchecked.fetch_add(rows, Ordering::Relaxed) + rows;
        if total >= CHECKPOINT_ROWS {
            self.unchecked.store(0, Ordering::Relaxed);
            let _ = self.checkpoint.try_send(());
        }
    }

    fn connect(&self) -> Result<Connection> {
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

/// Copies committed pages from the WAL into the database file every [`CHECKPOINT_ROWS`]
/// rows, until the pool is gone. SQLite would do it inside the commit that fills the WAL past
/// 1,000 pages, and that commit would wait for it: a batch of 256 emails spent 5 ms of its
/// 13 ms commit there. A passive checkpoint never blocks readers or the writer.
///
/// But a passive checkpoint alone lets the WAL grow for as long as writes keep coming: SQLite
/// starts the WAL over only when a write begins with every frame already copied, which a
/// steady stream of commits never allows (measured: 350,000 frames, 1.4 GB, during the inbound
/// benchmark, and every page read searching them all). So once the WAL passes
/// [`RESTART_FRAMES`], the checkpointer takes the write turn and copies the few frames written
/// since; with every frame copied, the next writer starts at the beginning of the file.
/// Writers wait for that (a few milliseconds at most), not for the bulk of the copying.
fn checkpoints(
    conn: Connection,
    wanted: std::sync::mpsc::Receiver<()>,
    turn: Arc<tokio::sync::Mutex<()>>,
) {
    // (frames in the WAL, frames copied into the database file)
    let passive = || -> rusqlite::Result<(i64, i64)> {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
    };
    while wanted.recv().is_ok() {
        let done = passive().and_then(|(frames, _)| {
            if frames < RESTART_FRAMES {
                return Ok(());
            }
            // No frame is added while the turn is held. A reader of older pages holds back
            // their copy for a moment; once all are copied, the next writer starts the WAL over.
            // (SQLite's RESTART mode waits for readers with the busy handler, and a stream of
            // readers kept it waiting for seconds.)
            let _turn = turn.blocking_lock();
            for _ in 0..RESTART_TRIES {
                let (frames, copied) = passive()?;
                if copied >= frames {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "WAL checkpoint failed; trying again after the next write");
        }
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
fn restore_durability(conn: &mut Pooled) {
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
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// Where a statement runs: on the caller's thread, on a connection inside a transaction, or on
/// a pooled connection (the writer connection, for [`Writes`]) on a blocking thread.
pub enum Exec<'a> {
    Conn(&'a mut Connection),
    Pool(&'a Pool),
    Writer(&'a Pool),
}

/// A statement that writes outside a transaction, run on the writer connection by a caller
/// holding the write turn (see [`Pool::writer`]).
pub struct Writes<'a>(pub &'a Pool);

impl<'a> From<Writes<'a>> for Exec<'a> {
    fn from(writes: Writes<'a>) -> Self {
        Exec::Writer(writes.0)
    }
}

impl<'a> From<&'a mut Connection> for Exec<'a> {
    fn from(conn: &'a mut Connection) -> Self {
        Exec::Conn(conn)
    }
}

impl<'a> From<&'a Pool> for Exec<'a> {
    fn from(pool: &'a Pool) -> Self {
        Exec::Pool(pool)
    }
}

impl Exec<'_> {
    async fn run<R: Send + 'static>(
        self,
        job: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let conn = match self {
            Exec::Conn(conn) => return job(conn),
            Exec::Pool(pool) => pool.take().await?,
            Exec::Writer(pool) => pool.writer().await?,
        };
        tokio::task::spawn_blocking(move || {
            let before = conn.total_changes();
            let done = job(&conn);
            // It may have written (a claim, an outcome).
            conn.pool.wrote(conn.total_changes() - before);
            done
        })
        .await?
    }
}

/// A statement and its arguments, for `$1`, `$2`… placeholders.
struct Statement {
    /// The SQL with `$N` spelled `?N`, SQLite's own name for the N-th argument.
    sql: String,
    args: Vec<Value>,
    /// A value that could not be turned into an SQLite one; reported when run.
    error: Option<rusqlite::Error>,
}

impl Statement {
    fn new(sql: &str) -> Self {
        Self {
            // Our SQL has no `$` but in placeholders (no dollar-quoting, no `$` in literals).
            sql: sql.replace('$', "?"),
            args: Vec::new(),
            error: None,
        }
    }

    fn bind(&mut self, value: impl ToSql) {
        match value.to_sql() {
            Ok(ToSqlOutput::Borrowed(v)) => self.args.push(v.into()),
            Ok(ToSqlOutput::Owned(v)) => self.args.push(v),
            Ok(_) => self.args.push(Value::Null),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    fn prepare<'c>(&self, conn: &'c Connection) -> Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = conn.prepare_cached(&self.sql)?;
        // `?N` is the N-th argument wherever it appears, as `$N` is in PostgreSQL.
        for (i, value) in self.args.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, value)?;
        }
        Ok(stmt)
    }

    async fn rows(self, exec: Exec<'_>) -> Result<Vec<Row>> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        exec.run(move |conn| {
            let mut stmt = self.prepare(conn)?;
            let columns = column_names(&self.sql, &stmt);
            let width = columns.len();
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let values = (0..width)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<_>>()?;
                out.push(Row {
                    columns: columns.clone(),
                    values,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn execute(self, exec: Exec<'_>) -> Result<Done> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        exec.run(move |conn| Ok(Done(self.prepare(conn)?.raw_execute()? as u64)))
            .await
    }
}

/// The column names of `stmt` (whose SQL is `sql`), shared by its rows. Kept per thread from
/// one run of a statement to the next: a conversation's row has 22 columns, and copying their
/// names for every row cost more than SQLite took to find it.
fn column_names(sql: &str, stmt: &rusqlite::Statement<'_>) -> Arc<[String]> {
    thread_local! {
        static NAMES: std::cell::RefCell<std::collections::HashMap<String, Arc<[String]>>> =
            Default::default();
    }
    let names = stmt.column_names();
    NAMES.with_borrow_mut(|known| {
        // Checked each time, not trusted: the same SQL can name other columns in another
        // database (`SELECT *` before and after a migration).
        if let Some(columns) = known.get(sql) {
            if columns.iter().map(String::as_str).eq(names.iter().copied()) {
                return columns.clone();
            }
        }
        let columns: Arc<[String]> = names.into_iter().map(String::from).collect();
        // Built lists (`IN ($2, $3, …)`) make many statements: the map stays small.
        if known.len() >= COLUMN_NAMES_KEPT {
            known.clear();
        }
        known.insert(sql.to_owned(), columns.clone());
        columns
    })
}

/// A statement whose rows are read as [`Row`]s.
pub struct Query(Statement);

/// A statement whose rows are read as their first column.
pub struct Scalar<T>(Statement, PhantomData<fn() -> T>);

pub fn query(sql: &str) -> Query {
    Query(Statement::new(sql))
}

pub fn query_scalar<T>(sql: &str) -> Scalar<T> {
    Scalar(Statement::new(sql), PhantomData)
}

impl Query {
    pub fn bind(mut self, value: impl ToSql) -> Self {
        self.0.bind(value);
        self
    }

    pub async fn execute<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Done> {
        self.0.execute(exec.into()).await
    }

    pub async fn fetch_all<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Vec<Row>> {
        self.0.rows(exec.into()).await
    }

    pub async fn fetch_optional<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Option<Row>> {
        Ok(self.0.rows(exec.into()).await?.into_iter().next())
    }

    pub async fn fetch_one<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Row> {
        self.fetch_optional(exec)
            .await?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }
}

impl<T: FromSql> Scalar<T> {
    pub fn bind(mut self, value: impl ToSql) -> Self {
        self.0.bind(value);
        self
    }

    pub async fn fetch_all<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Vec<T>> {
        self.0
            .rows(exec.into())
            .await?
            .iter()
            .map(|row| row.try_get(0usize))
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    pub async fn fetch_optional<'a>(self, exec: impl Into<Exec<'a>>) -> Result<Option<T>> {
        Ok(self.fetch_all(exec).await?.into_iter().next())
    }

    pub async fn fetch_one<'a>(self, exec: impl Into<Exec<'a>>) -> Result<T> {
        self.fetch_optional(exec)
            .await?
            .ok_or_else(|| rusqlite::Error::QueryReturnedNoRows.into())
    }
}

/// What a statement without rows did.
pub struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// One row, its values copied out of SQLite.
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

/// A column by position or by name.
pub trait ColumnIndex {
    fn position(&self, columns: &[String]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Row {
    pub fn try_get<T: FromSql, I: ColumnIndex>(&self, index: I) -> rusqlite::Result<T> {
        let i = index
            .position(&self.columns)
            .ok_or(rusqlite::Error::InvalidColumnIndex(self.values.len()))?;
        T::column_result(ValueRef::from(&self.values[i]))
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, self.type_of(i), e.into()))
    }

    /// Like [`Row::try_get`], for columns the query itself guarantees.
    pub fn get<T: FromSql, I: ColumnIndex>(&self, index: I) -> T {
        self.try_get(index).expect("column of the expected type")
    }

    fn type_of(&self, i: usize) -> rusqlite::types::Type {
        ValueRef::from(&self.values[i]).data_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open(&dir.path().join("t.db")).unwrap();
        query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, b BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        (dir, pool)
    }

    #[tokio::test]
    async fn placeholders_are_numbered_like_postgres() {
        let (_dir, pool) = pool().await;
        // $2 appears before $1 and twice: each name binds its own argument.
        query("INSERT INTO t (v, k) VALUES ($2 || $2, $1)")
            .bind(7i64)
            .bind("ab")
            .execute(&pool)
            .await
            .unwrap();
        let v: String = query_scalar("SELECT v FROM t WHERE k = $1")
            .bind(7i64)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(v, "abab");
    }

    #[tokio::test]
    async fn a_dropped_transaction_keeps_nothing_and_a_committed_one_everything() {
        let (_dir, pool) = pool().await;
        let mut tx = Tx::begin_write(&pool).await.unwrap();
        query("INSERT INTO t (k) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        let mut tx = Tx::begin_write(&pool).await.unwrap();
        query("INSERT INTO t (k, b) VALUES (2, $1)")
            .bind(vec![0u8, 1, 2])
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows = query("SELECT k, b FROM t").fetch_all(&pool).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<i64, _>("k"), 2);
        assert_eq!(rows[0].get::<Vec<u8>, _>("b"), vec![0, 1, 2]);
        assert!(rows[0].try_get::<i64, _>("nope").is_err());
        assert!(rows[0].try_get::<i64, _>("b").is_err());
    }

    /// `PRAGMA synchronous` of the connection the next write gets: 2 is FULL.
    async fn writer_sync(pool: &Pool) -> i64 {
        let tx = Tx::begin_write(pool).await.unwrap();
        let level: i64 = tx
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        tx.commit().await.unwrap();
        level
    }

    #[tokio::test]
    async fn a_deferred_transaction_keeps_its_writes_and_leaves_commits_synced_after_it() {
        let (_dir, pool) = pool().await;
        let mut tx = Tx::begin_write_deferred(&pool).await.unwrap();
        let inside: i64 = tx
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(inside, 1, "NORMAL inside the deferred transaction");
        query("INSERT INTO t (k) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(writer_sync(&pool).await, 2);
        // Rolled back (dropped) as well.
        let tx = Tx::begin_write_deferred(&pool).await.unwrap();
        drop(tx);
        assert_eq!(writer_sync(&pool).await, 2);
        let n: i64 = query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_started_over_while_writes_keep_coming() {
        let (dir, pool) = pool().await;
        // Short readers all along, as the daemon has (inbound routing, the API).
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = tokio::spawn({
            let (pool, stop) = (pool.clone(), stop.clone());
            async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut tx = Tx::begin_read(&pool).await.unwrap();
                    query("SELECT k FROM t WHERE k = 1")
                        .fetch_optional(&mut *tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        // ~100 MB of rows, a page each, in back-to-back transactions taking turns as the
        // store's writers do.
        let (transactions, rows, size) = (250, 100, 3000);
        for i in 0..transactions {
            let _turn = pool.turn().lock_owned().await;
            let mut tx = Tx::begin_write(&pool).await.unwrap();
            for j in 0..rows {
                query("INSERT INTO t (k, b) VALUES ($1, $2)")
                    .bind((i * rows + j) as i64)
                    .bind(vec![7u8; size])
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.await.unwrap();
        let written = (transactions * rows * size) as u64;
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        // Left to grow, the WAL would hold every page written (more than `written`); started
        // over, it stays near `RESTART_FRAMES` pages plus what came in while checkpointing.
        assert!(
            wal < written / 3,
            "WAL of {wal} bytes after {written} bytes written"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_lock_held_by_another_process_is_waited_for() {
        let (dir, pool) = pool().await;
        // Another process's writer: a plain connection holding the lock until told.
        let other = Connection::open(dir.path().join("t.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            released.recv().unwrap();
            other.execute_batch("COMMIT").unwrap();
        });
        let waiting = tokio::spawn(async move {
            let mut tx = Tx::begin_write(&pool).await?;
            query("INSERT INTO t (k) VALUES (3)")
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        });
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        // Busy at first, it waits instead of failing.
        waiting.await.unwrap().unwrap();
        holder.join().unwrap();
    }
}
