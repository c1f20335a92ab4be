//! The embedded SQLite backend: one file, WAL, one writer at a time.
//!
//! Statements go through `lite` (rusqlite), not sqlx's SQLite driver: a transaction runs its
//! statements on the caller's thread and hands off only its commit (see below for why). sqlx
//! still applies the migrations, so a database keeps one migration history.
//!
//! Why not sqlx here: its SQLite driver runs every statement on a worker thread and awaits the
//! answer, two context switches per statement. Measured on this machine, six statements per
//! transaction: ~49 µs a statement through sqlx against ~1.3 µs called directly. A daemon that
//! runs six to ten statements per email spent most of its time handing work over.
//!
//! So: a transaction holds one connection and runs its statements on the caller's thread (they
//! touch pages in memory and take microseconds). What can wait goes to tokio's blocking pool,
//! one hand-off each: the commit of a write (its fsync), a write lock another process holds,
//! and statements outside a transaction. A deferred write (`Tx::begin_write_deferred` in `tx.rs`)
//! commits without the sync, inline. Checkpoints (copying the WAL back into the database
//! file) run on a thread of their own, so no commit waits for one.
//!
//! Every write of the process goes through one connection of its own (see `Pool::writer` in `pool.rs`).
//!
//! The files: this one (the store), `pool` (connections, the writer connection, the write
//! turn), `checkpoint` (the checkpointer thread), `tx` (a transaction), `query` (the
//! sqlx-shaped statements, the `lite` module the shared SQL is instantiated with).

mod checkpoint;
mod pool;
mod query;
mod rows;
#[cfg(test)]
mod tests;
mod tx;

/// The query layer the shared SQL is instantiated with: sqlx's shape over rusqlite.
pub(crate) mod lite {
    pub use super::pool::Pool;
    pub use super::query::*;
    pub use super::tx::Tx;
}

use super::backend::Backend;
use super::sql::{
    ms, numbered, opt_ms, placeholders, sql_backend, CONVERSATION_COLUMNS, ROWS_PER_STATEMENT,
};
use super::*;
use crate::domain::{from_millis, AuthorKind, MessageSource};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::ConnectOptions;
use std::str::FromStr;

pub struct SqliteStore {
    pool: lite::Pool,
    /// How sqlx reaches the same file, for migrations.
    options: SqliteConnectOptions,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`).
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .disable_statement_logging();
        let pool = lite::Pool::open(options.get_filename())?;
        Ok(Self { pool, options })
    }
}

impl Backend for SqliteStore {
    type Txn = lite::Tx;
    type Reads<'a> = &'a lite::Pool;
    type Writes<'a> = lite::Writes<'a>;

    async fn run_migrations(&self) -> Result<()> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Takes this process's turn, then the write lock (see `lite::Tx::begin_write`).
    async fn begin_write(&self) -> Result<(lite::Tx, WriteTurn)> {
        let turn = self.write_turn().await;
        Ok((lite::Tx::begin_write(&self.pool).await?, turn))
    }

    /// [`Self::begin_write`] for a transaction whose commit skips the disk sync (see
    /// `lite::Tx::begin_write_deferred`).
    async fn begin_write_deferred(&self) -> Result<(lite::Tx, WriteTurn)> {
        let turn = self.write_turn().await;
        Ok((lite::Tx::begin_write_deferred(&self.pool).await?, turn))
    }

    async fn begin_reading(&self) -> Result<lite::Tx> {
        lite::Tx::begin_read(&self.pool).await
    }

    /// Waits for this process's turn to write (also for single statements outside a
    /// transaction: claims and outcomes).
    async fn write_turn(&self) -> WriteTurn {
        Some(self.pool.turn().lock_owned().await)
    }

    /// Reads outside a transaction take any pooled connection, on a blocking thread.
    fn reads(&self) -> &lite::Pool {
        &self.pool
    }

    /// Where a statement that writes outside a transaction runs: the writer connection.
    fn writes(&self) -> lite::Writes<'_> {
        lite::Writes(&self.pool)
    }

    /// One daemon per SQLite file: there is nobody else to hear from.
    fn listen_for_work(&self, _wake: Arc<tokio::sync::Notify>) {}

    /// One writer at a time: a second write transaction waits for the write turn.
    const PARALLEL_WRITES: bool = false;
}

sql_backend! {
    store: SqliteStore,
    tx: SqliteTx,
    q: lite,
    txn: lite::Tx,
    row: lite::Row,
    row_lock: "",
    claim_lock: "",
    notify: None::<&str>,
    // The numbers after the largest stored: the write lock (`BEGIN IMMEDIATE`) keeps them ours.
    reserve_seqs: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < $1)
                   SELECT (SELECT COALESCE(MAX(seq), 0) FROM messages) + n FROM r",
    rows: rows,
}
