//! Storage: what the daemon keeps, behind traits so that a backend is a matter of SQL.
//!
//! [`Store`] is the database; [`Tx`] one transaction in it, made of one trait per aggregate
//! ([`tx`]: conversations, messages, outbox, sites, suppressions, webhooks). The domain code
//! (`apply`, `worker`, `inbound`) only speaks these traits and the plain data of `types.rs`
//! (re-exported here), so adding a backend never touches it. [`sqlite`] is the embedded
//! default, [`postgres`] the one for production and for several daemons sharing the work;
//! both are built from the same SQL in `sql/` (one file per aggregate), PostgreSQL's through
//! sqlx and SQLite's through `sqlite/query.rs`, a sqlx-shaped layer over rusqlite that runs a
//! transaction's statements without a thread hand-off each. What a backend must provide is
//! the `Backend` trait (`backend.rs`), and each writes a batch's rows its own way (`rows.rs`
//! in each: multi-row `VALUES` lists on SQLite, arrays through `UNNEST` on PostgreSQL).

mod backend;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod tx;
mod types;

pub use tx::*;
pub use types::*;

use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// Starts a write transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// Starts a write transaction whose commit returns before it is on the disk. It is there
    /// with the next ordinary commit (SQLite syncs the whole log, PostgreSQL flushes its WAL
    /// up to that commit); a process crash loses nothing, a power cut may lose the
    /// transaction. For writes nothing outside acts on before a later ordinary commit: the
    /// outbox emails of a compose batch, which are claimed for sending by such a commit.
    async fn begin_deferred(&self) -> Result<Box<dyn Tx>>;
    /// Starts a transaction for reading only (it takes no write lock); drop it when done.
    async fn begin_read(&self) -> Result<Box<dyn Tx>>;
    /// Wakes `wake` whenever another daemon sharing the database has new work (a no-op where
    /// only one daemon can use the database).
    fn listen(&self, wake: Arc<tokio::sync::Notify>);
    /// Whether two write transactions make progress side by side (PostgreSQL: row locks
    /// order them) rather than one after the other (SQLite: one writer at a time).
    fn parallel_writes(&self) -> bool;
    /// Takes the lease on up to `limit` emails ready to be sent, counting the attempt, and
    /// reads in the same transaction their bytes and whether each is still wanted.
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Claimed>>;
    /// Records how attempts went and, in the same transaction, queues their webhooks.
    async fn record_email_outcomes(
        &self,
        outcomes: &[(String, EmailOutcome, Option<NewWebhook>)],
    ) -> Result<()>;
    /// Takes the lease on one webhook ready to be posted, counting the attempt.
    async fn claim_webhook(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Webhook>>;
    /// Records a post: `Pending` again (with `next`), `Delivered` or `Failed`.
    async fn record_webhook_outcome(
        &self,
        id: &str,
        status: WebhookStatus,
        next: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<()>;
    /// An attachment of a visitor's email reply.
    async fn attachment(&self, site: &str, id: &str) -> Result<Option<StoredAttachment>>;
    /// How many conversations are due at `now` (what the worker has yet to do).
    async fn due_backlog(&self, now: DateTime<Utc>) -> Result<i64>;
    /// The earliest instant at which there may be work.
    async fn next_wakeup(&self) -> Result<Option<DateTime<Utc>>>;
    /// A conversation with its messages and their markers.
    async fn conversation_view(
        &self,
        site: &str,
        id: &str,
    ) -> Result<Option<(Conversation, Vec<MarkedMessage>)>>;
    /// [`OutboxTx::answered_emails`] outside a transaction: a statement on any pooled
    /// connection, where a read transaction would add its `BEGIN` and its end.
    async fn answered_emails(&self, pk: i64, message_ids: &[String]) -> Result<Vec<Vec<u8>>>;
    /// A value kept across restarts (the generated token key).
    async fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Stores `value` unless the key exists; returns what is stored.
    async fn meta_init(&self, key: &str, value: &str) -> Result<String>;
    /// Stores `value` under `key`, replacing what was there.
    async fn meta_set(&self, key: &str, value: &str) -> Result<()>;
    /// Conversations of a site whose visitor id, email or name contains `q` (case-insensitive),
    /// or whose id is `q`; newest first, at most `limit`.
    async fn find_contacts(
        &self,
        site: &str,
        q: &str,
        open: Option<bool>,
        limit: u32,
    ) -> Result<Vec<(Conversation, bool)>>;
}

/// A writer's place in line, held for as long as its transaction: SQLite's in-process turn
/// (see `sqlite/pool.rs`); always `None` for PostgreSQL.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Opens the store a database URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        anyhow::bail!("unsupported database URL `{url}`: expected sqlite://PATH or postgres://…")
    }
}
