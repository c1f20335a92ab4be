//! The PostgreSQL backend, for production and for several daemons sharing one database.
//!
//! Claims take `FOR UPDATE SKIP LOCKED` plus a lease, so two daemons never take the same item
//! and an item whose daemon died is taken over when its lease ends. Event transactions lock the
//! conversation row they change. `NOTIFY replyrelay_wake` after new events wakes every daemon's
//! worker at once instead of at its next timer.

mod rows;

use super::backend::Backend;
use super::sql::{
    ms, numbered, opt_ms, placeholders, sql_backend, CONVERSATION_COLUMNS, ROWS_PER_STATEMENT,
};
use super::*;
use crate::domain::{from_millis, AuthorKind, MessageSource};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The channel daemons wake each other on.
const CHANNEL: &str = "replyrelay_wake";

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("replyrelay");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl Backend for PgStore {
    type Txn = Transaction<'static, Postgres>;
    type Reads<'a> = &'a PgPool;
    type Writes<'a> = &'a PgPool;

    async fn run_migrations(&self) -> Result<()> {
        // sqlx takes an advisory lock, so daemons starting together migrate once.
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<(Transaction<'static, Postgres>, WriteTurn)> {
        Ok((self.pool.begin().await?, None))
    }

    /// A write whose commit does not wait for the WAL flush; the next synchronous commit
    /// flushes the WAL past it (see `Store::begin_deferred`).
    async fn begin_write_deferred(&self) -> Result<(Transaction<'static, Postgres>, WriteTurn)> {
        // One simple query, one round trip, for both.
        let tx = (self.pool)
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await?;
        Ok((tx, None))
    }

    async fn begin_reading(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Writers need no turn here: row locks order them.
    async fn write_turn(&self) -> WriteTurn {
        None
    }

    fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// Any pooled connection writes.
    fn writes(&self) -> &PgPool {
        &self.pool
    }

    /// Each transaction on a connection of its own; row locks order those that meet.
    const PARALLEL_WRITES: bool = true;

    /// Listens on [`CHANNEL`] for as long as the process runs; `PgListener` reconnects by
    /// itself when the connection drops, and we wake the worker then too, in case a
    /// notification was lost meanwhile.
    fn listen_for_work(&self, wake: Arc<tokio::sync::Notify>) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot LISTEN; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "cannot LISTEN; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => wake.notify_one(),
                        // The connection was lost and is being re-established.
                        Ok(None) => wake.notify_one(),
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN connection failed; reconnecting");
                            wake.notify_one();
                            break;
                        }
                    }
                }
            }
        });
    }
}

sql_backend! {
    store: PgStore,
    tx: PgTx,
    q: sqlx,
    txn: Transaction<'static, Postgres>,
    row: PgRow,
    row_lock: "FOR UPDATE",
    claim_lock: "FOR UPDATE SKIP LOCKED",
    notify: Some("SELECT pg_notify('replyrelay_wake', '')"),
    // The identity's own sequence, which counts in blocks of 1,000 (migration 0014): one
    // `nextval` per thousand numbers, each block ours alone. Taking each number with its own
    // `nextval` cost 2.9 ms for a batch of 1,000 message events (statement log, stop 36).
    reserve_seqs: "SELECT b.first + k
                   FROM (SELECT nextval(pg_get_serial_sequence('messages', 'seq')) AS first
                         FROM generate_series(1, ($1::bigint + 999) / 1000)) b
                   CROSS JOIN generate_series(0, 999) k
                   ORDER BY 1 LIMIT $1",
    rows: rows,
}
