//! What a backend provides for the shared SQL to be instantiated on it (`sql_backend!` in
//! `sql/`): how its transactions begin, where a statement outside one runs, and how other
//! daemons sharing the database are woken. The statements themselves are the same for all.

use super::WriteTurn;
use anyhow::Result;
use std::sync::Arc;

/// A database the shared SQL runs on. Implemented by [`super::sqlite::SqliteStore`] and
/// [`super::postgres::PgStore`]; `sql_backend!` builds `Store` and every `Tx` trait on it.
///
/// Used only on the concrete types (inside the macro's expansion), never as `dyn`, so its
/// async methods need no boxing.
pub(crate) trait Backend: Send + Sync + 'static {
    /// A transaction of the backend's query module (sqlx's, or `lite`'s over rusqlite).
    type Txn: Send;
    /// Where a statement outside a transaction reads.
    type Reads<'a>
    where
        Self: 'a;
    /// Where a statement outside a transaction writes (SQLite: the one writer connection).
    type Writes<'a>
    where
        Self: 'a;

    /// Applies pending migrations.
    async fn run_migrations(&self) -> Result<()>;
    /// Begins a write transaction, with this process's turn to write held for its length.
    async fn begin_write(&self) -> Result<(Self::Txn, WriteTurn)>;
    /// [`Backend::begin_write`] for a transaction whose commit does not wait for the disk
    /// (see `Store::begin_deferred`).
    async fn begin_write_deferred(&self) -> Result<(Self::Txn, WriteTurn)>;
    /// Begins a transaction that only reads (no write lock, no turn).
    async fn begin_reading(&self) -> Result<Self::Txn>;
    /// Waits for this process's turn to write, for a statement outside a transaction.
    async fn write_turn(&self) -> WriteTurn;
    fn reads(&self) -> Self::Reads<'_>;
    fn writes(&self) -> Self::Writes<'_>;
    /// Wakes `wake` whenever another daemon has new work (nothing to do where there can be
    /// no other daemon).
    fn listen_for_work(&self, wake: Arc<tokio::sync::Notify>);
    /// Whether two write transactions make progress side by side (see
    /// `Store::parallel_writes`).
    const PARALLEL_WRITES: bool;
}
