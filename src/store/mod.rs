//! Storage: what the daemon keeps, behind two traits so that a backend is a matter of SQL.
//!
//! [`Store`] is the database; [`Tx`] one transaction in it. The domain code (`apply`, `worker`)
//! only speaks these traits and the plain structs below, so adding a backend never touches it.
//! [`sqlite`] is the embedded default, [`postgres`] the one for production and for several
//! daemons sharing the work; both are built from the same SQL in `sql.rs`, PostgreSQL's through
//! sqlx and SQLite's through `lite.rs`, a sqlx-shaped layer over rusqlite that runs a
//! transaction's statements without a thread hand-off each.

pub mod postgres;
mod sql;
pub mod sqlite;

use crate::domain::{Attachment, AuthorKind};
use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One conversation and its visitor, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    /// Internal number; reply and unsubscribe tokens name it.
    pub pk: i64,
    pub site_id: String,
    /// The platform's id, unique within the site.
    pub id: String,
    pub open: bool,
    pub visitor: Visitor,
    pub created_at: DateTime<Utc>,
    /// The visitor's last sign of life (trigger b).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// When the visitor left, if they have not come back since (trigger a).
    pub left_at: Option<DateTime<Utc>>,
    /// Opens the reach-back window.
    pub last_visitor_message_at: Option<DateTime<Utc>>,
    /// For the quiet period that batches a burst of replies.
    pub last_agent_message_at: Option<DateTime<Utc>>,
    /// The visitor has seen every message up to this sequence number.
    pub read_seq: i64,
    /// Emails sent since the visitor last wrote.
    pub unanswered_emails: u32,
    /// The visitor answered one of our emails: later emails carry only the new replies.
    pub replied_by_email: bool,
    pub closed_at: Option<DateTime<Utc>>,
    /// A transcript-on-close is owed since this time.
    pub close_transcript_at: Option<DateTime<Utc>>,
    /// The oldest reply the visitor has neither read nor been emailed (derived, kept for the
    /// triggers so they need not read messages).
    pub pending_since: Option<DateTime<Utc>>,
    /// Message-IDs of the emails of this conversation, oldest first, for threading.
    pub thread: Vec<String>,
    /// When the next email is due; indexed, it is all the scheduler looks at.
    pub due_at: Option<DateTime<Utc>>,
}

/// The person on the other side of the chat.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Visitor {
    pub id: Option<String>,
    /// Set once the visitor is identified.
    pub email: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
}

/// A chat message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Arrival order within the daemon; the read cursor compares against it.
    pub seq: i64,
    pub id: String,
    pub author: AuthorKind,
    pub author_name: Option<String>,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// `chat` or `email`.
    pub source: String,
    pub at: DateTime<Utc>,
    pub deleted: bool,
    /// The outbox email that forwarded this message, if any (its forwarding marker).
    pub email_id: Option<String>,
}

impl Message {
    /// Not part of the conversation as the visitor sees it: deleted, or a quarantined reply
    /// from an address that is not the visitor's.
    pub fn is_hidden(&self) -> bool {
        self.deleted || self.source == "email_quarantined"
    }
}

/// A message to add.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: String,
    pub author: AuthorKind,
    pub author_name: Option<String>,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub source: &'static str,
    pub at: DateTime<Utc>,
}

/// Per-site presence of agents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SiteState {
    /// `None` until the platform has said.
    pub agents_online: Option<u32>,
    /// While no agent is online: since when.
    pub agents_offline_since: Option<DateTime<Utc>>,
}

/// Delivery state of an outbox email, shown in forwarding markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailStatus {
    Pending,
    Sent,
    Failed,
    /// Withdrawn before delivery: the visitor read the replies or unsubscribed meanwhile.
    Cancelled,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Pending => "pending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
            EmailStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "sent" => EmailStatus::Sent,
            "failed" => EmailStatus::Failed,
            "cancelled" => EmailStatus::Cancelled,
            _ => EmailStatus::Pending,
        }
    }
}

/// One email in the outbox. The message is composed once, before the first attempt, so every
/// retry sends the same bytes with the same Message-ID; those bytes are stored apart (see
/// [`Claimed`]) and read only to send them.
#[derive(Clone, Debug)]
pub struct OutboxEmail {
    pub id: String,
    pub conversation_pk: i64,
    /// The platform's id of the conversation.
    pub conversation_id: String,
    pub site_id: String,
    /// The `Message-ID` header.
    pub message_id: String,
    pub mail_from: String,
    pub rcpt_to: String,
    pub status: EmailStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The relay's last answer, for the forwarding marker.
    pub last_error: Option<String>,
}

/// An email leased for one attempt, with what the attempt needs.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub email: OutboxEmail,
    /// The message as composed, byte for byte.
    pub raw: Vec<u8>,
    /// Whether it is still worth sending: its visitor is not suppressed, and it forwards no
    /// message (a close transcript) or at least one the visitor has not read since. Checked in
    /// the claiming transaction, so at every attempt, a batch's worth of sends before it goes.
    pub wanted: bool,
}

/// How one delivery attempt went.
#[derive(Clone, Debug)]
pub enum EmailOutcome {
    Sent {
        at: DateTime<Utc>,
    },
    Retry {
        next: DateTime<Utc>,
        error: String,
    },
    Failed {
        error: String,
    },
    /// Withdrawn before delivery: the visitor read the replies or unsubscribed meanwhile.
    Cancelled {
        reason: String,
    },
}

/// A webhook to post to the site's platform.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    /// Sent in the body, so the platform can ignore a retry it already took.
    pub id: String,
    pub site_id: String,
    /// `message.created`, `message.forwarded`, `delivery.failed`, `visitor.suppressed`.
    pub event: String,
    /// The JSON body, fixed when queued so every retry posts the same bytes.
    pub payload: String,
    pub at: DateTime<Utc>,
}

/// A queued webhook, claimed for delivery.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub site_id: String,
    pub event: String,
    pub payload: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// A file that came with a visitor's email reply.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub id: String,
    pub site_id: String,
    pub conversation_pk: i64,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct StoredAttachment {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A message with its forwarding marker, for the API.
#[derive(Clone, Debug)]
pub struct MarkedMessage {
    pub message: Message,
    pub marker: Option<Marker>,
}

/// To which address, when, with which email, and how its delivery went.
#[derive(Clone, Debug)]
pub struct Marker {
    pub to: String,
    pub at: DateTime<Utc>,
    pub message_id: String,
    pub status: EmailStatus,
    pub error: Option<String>,
}

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
    /// `status` is `pending` (with `next`), `delivered` or `failed`.
    async fn record_webhook_outcome(
        &self,
        id: &str,
        status: &str,
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

/// One transaction: all of it or none of it is kept.
#[async_trait]
pub trait Tx: Send {
    /// Records an event id; `true` if it had been seen before (a replay).
    async fn event_seen(&mut self, site: &str, event_id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// The stored ones among a site's conversations `ids`, in one query (locked in `pk`
    /// order, so two batches never wait on each other in a circle).
    async fn conversations(&mut self, site: &str, ids: &[&str]) -> Result<Vec<Conversation>>;
    /// Up to `limit` due conversations, earliest due first, taken for this transaction: on
    /// PostgreSQL locked until it ends (other daemons skip them), on SQLite under its write
    /// lock. Nothing is written: the transaction that claims them writes their new schedule
    /// before it commits, so a lease would never be seen by anyone.
    async fn claim_due(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Conversation>>;
    async fn conversation_by_pk(&mut self, pk: i64) -> Result<Option<Conversation>>;
    async fn create_conversation(
        &mut self,
        site: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Conversation>;
    /// Writes every field back and releases the worker's lease.
    async fn save_conversation(&mut self, c: &Conversation) -> Result<()>;
    /// Writes back only what the scheduler changes (emails owed, thread, due time) and releases
    /// the lease: the visitor's columns, and the indexes over them, are left alone.
    async fn save_schedule(&mut self, c: &Conversation) -> Result<()>;
    /// Adds a message; `None` if the conversation already has one with this id.
    async fn insert_message(&mut self, pk: i64, m: &NewMessage) -> Result<Option<i64>>;
    async fn message_seq(&mut self, pk: i64, message_id: &str) -> Result<Option<i64>>;
    /// Marks a message deleted; `false` if there is no such message.
    async fn delete_message(&mut self, pk: i64, message_id: &str) -> Result<bool>;
    async fn messages(&mut self, pk: i64) -> Result<Vec<Message>>;
    /// The oldest agent/bot message after `read_seq`, neither deleted nor forwarded.
    async fn pending_since(&mut self, pk: i64, read_seq: i64) -> Result<Option<DateTime<Utc>>>;
    async fn site_state(&mut self, site: &str) -> Result<SiteState>;
    async fn save_site_state(&mut self, site: &str, s: &SiteState) -> Result<()>;
    /// Conversations of a site that may owe an email: their due time depends on site presence.
    async fn owing_conversations(&mut self, site: &str) -> Result<Vec<i64>>;
    /// Conversations of a site whose visitor has this address.
    async fn conversations_of(&mut self, site: &str, email: &str) -> Result<Vec<i64>>;
    async fn is_suppressed(&mut self, site: &str, email: &str) -> Result<bool>;
    async fn suppress(
        &mut self,
        site: &str,
        email: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Adds an email to the outbox with its bytes.
    async fn insert_email(&mut self, e: &OutboxEmail, raw: &[u8]) -> Result<()>;
    /// Sets the forwarding marker of these messages to `email_id`.
    async fn mark_forwarded(&mut self, pk: i64, seqs: &[i64], email_id: &str) -> Result<()>;
    async fn enqueue_webhook(&mut self, w: &NewWebhook) -> Result<()>;
    async fn insert_attachment(&mut self, a: &NewAttachment) -> Result<()>;
    /// The email we sent with this `Message-ID` (with angle brackets).
    async fn email_by_message_id(&mut self, message_id: &str) -> Result<Option<OutboxEmail>>;
    /// The ids of the chat messages an email forwarded.
    async fn forwarded_messages(&mut self, email_id: &str) -> Result<Vec<String>>;
    /// When the conversation's last email was made.
    async fn last_email_at(&mut self, pk: i64) -> Result<Option<DateTime<Utc>>>;
    /// Marks an email failed (a bounce came back for it).
    async fn set_email_failed(&mut self, id: &str, error: &str) -> Result<()>;
    /// Marks still-pending emails of conversation `pk` with these `Message-ID`s sent: the
    /// visitor answered them, so they arrived (the daemon that sent one may have died before
    /// it could record so). Returns them, with the messages each forwarded.
    async fn confirm_delivered(
        &mut self,
        pk: i64,
        message_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<(OutboxEmail, Vec<String>)>>;
    /// Tells the other daemons, once this transaction commits, that there may be work.
    async fn notify_work(&mut self) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// A writer's place in line, held for as long as its transaction: SQLite's in-process turn
/// (see `sqlite.rs`); always `None` for PostgreSQL.
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
