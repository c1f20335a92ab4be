//! The embedded SQLite backend: one file, WAL, one writer at a time.

use super::sql::{ms, opt_ms, sql_backend, CONVERSATION_COLUMNS};
use super::*;
use crate::domain::from_millis;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Whose turn it is to write. SQLite has one writer at a time; a second `BEGIN IMMEDIATE`
    /// would wait in SQLite's busy handler, which polls with sleeps of up to 100 ms. Waiting
    /// here instead hands the lock over the moment the writer before commits.
    writer: Arc<tokio::sync::Mutex<()>>,
}

pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    /// This process's write turn, held until the transaction ends (`None` for reads).
    _turn: WriteTurn,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we answer, so an accepted event survives a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            writer: Arc::default(),
        })
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    /// IMMEDIATE takes the write lock at once, so a transaction that reads then writes cannot
    /// fail half-way on a lock upgrade; it also serialises writers, which is why SQLite needs
    /// no row locks.
    async fn begin_write(&self) -> Result<(Transaction<'static, Sqlite>, WriteTurn)> {
        let turn = self.write_turn().await;
        Ok((self.pool.begin_with("BEGIN IMMEDIATE").await?, turn))
    }

    /// Waits for this process's turn to write (also for single statements outside a
    /// transaction: claims and outcomes).
    async fn write_turn(&self) -> WriteTurn {
        Some(self.writer.clone().lock_owned().await)
    }

    /// One daemon per SQLite file: there is nobody else to hear from.
    fn listen_for_work(&self, _wake: Arc<tokio::sync::Notify>) {}
}

sql_backend! {
    store: SqliteStore,
    tx: SqliteTx,
    db: Sqlite,
    row: SqliteRow,
    row_lock: "",
    claim_lock: "",
    notify: None::<&str>,
}
