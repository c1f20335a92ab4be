//! One transaction, as the traits of the aggregates it touches. [`Tx`] is all of them plus the
//! commit; code that holds a `&mut dyn Tx` calls the methods of whichever aggregate it needs
//! (import that trait, or all of them through `store::tx::*`).

use super::*;
use std::collections::{HashMap, HashSet};

/// Conversations: read, locked for the transaction where the database locks rows; created; saved.
#[async_trait]
pub trait ConversationsTx: Send {
    /// The stored ones among a site's conversations `ids`, in one query (locked in `pk`
    /// order, so two batches never wait on each other in a circle).
    async fn conversations(&mut self, site: &str, ids: &[&str]) -> Result<Vec<Conversation>>;
    /// Up to `limit` due conversations, earliest due first, taken for this transaction: on
    /// PostgreSQL locked until it ends (other daemons skip them), on SQLite under its write
    /// lock. Nothing is written: the transaction that claims them writes their new schedule
    /// before it commits, so a lease would never be seen by anyone.
    async fn claim_due(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Conversation>>;
    async fn conversation_by_pk(&mut self, pk: i64) -> Result<Option<Conversation>> {
        Ok(self.conversations_by_pks(&[pk]).await?.pop())
    }
    /// The stored ones among conversations `pks`, in one query per few hundred, locked in
    /// `pk` order as [`Self::conversations`] locks them.
    async fn conversations_by_pks(&mut self, pks: &[i64]) -> Result<Vec<Conversation>>;
    /// [`Self::conversations_by_pks`], each with when its last email was made
    /// ([`OutboxTx::last_email_at`]): one statement where those would be two, for the inbound
    /// group commit, which reads both before anything else.
    async fn conversations_with_last_email(
        &mut self,
        pks: &[i64],
    ) -> Result<Vec<(Conversation, Option<DateTime<Utc>>)>>;
    /// Starts a site's conversations, each `(id, started at)`, in one statement per few
    /// hundred; one that another transaction started meanwhile is returned as stored. In no
    /// particular order.
    async fn create_conversations(
        &mut self,
        site: &str,
        rows: &[(&str, DateTime<Utc>)],
    ) -> Result<Vec<Conversation>>;
    /// Writes every field back and releases the worker's lease.
    async fn save_conversation(&mut self, c: &Conversation) -> Result<()>;
    /// [`Self::save_conversation`] for many, one statement per few hundred.
    async fn save_conversations(&mut self, cs: &[Conversation]) -> Result<()>;
    /// Writes back only what the scheduler changes (emails owed, thread, due time) and releases
    /// the lease: the visitor's columns, and the indexes over them, are left alone.
    /// (Many at once: one statement per few hundred.)
    async fn save_schedules(&mut self, cs: &[Conversation]) -> Result<()>;
    /// Conversations of a site that may owe an email: their due time depends on site presence.
    async fn owing_conversations(&mut self, site: &str) -> Result<Vec<i64>>;
    /// Conversations of a site whose visitor has this address.
    async fn conversations_of(&mut self, site: &str, email: &str) -> Result<Vec<i64>>;
}

/// Chat messages of a conversation, their forwarding markers, and a reply's attachments.
#[async_trait]
pub trait MessagesTx: Send {
    /// Adds a message; `None` if the conversation already has one with this id.
    async fn insert_message(&mut self, pk: i64, m: &NewMessage) -> Result<Option<i64>> {
        let mut seqs = self.insert_new_messages(&[(pk, m)]).await?;
        Ok(seqs.remove(&(pk, m.id.clone())))
    }
    /// Adds messages, each `(conversation pk, message)`, one statement per few hundred,
    /// skipping those the conversation already has (stored meanwhile by another transaction
    /// too). Returns the seq of each added one by `(conversation pk, message id)`.
    async fn insert_new_messages(
        &mut self,
        rows: &[(i64, &NewMessage)],
    ) -> Result<HashMap<(i64, String), i64>>;
    /// `n` message sequence numbers, ascending, for [`Self::insert_messages`]: each above every
    /// stored one, and taken by no other transaction.
    async fn reserve_seqs(&mut self, n: usize) -> Result<Vec<i64>>;
    /// Adds messages, each `(conversation pk, seq, message)` with a seq from
    /// [`Self::reserve_seqs`], one statement per few hundred. The caller has checked that none
    /// is stored (see [`Self::stored_message_ids`]): a duplicate is an error.
    async fn insert_messages(&mut self, rows: &[(i64, i64, &NewMessage)]) -> Result<()>;
    /// Which of `(conversation pk, message id)` are stored, deleted or not.
    async fn stored_message_ids(&mut self, pairs: &[(i64, &str)])
        -> Result<HashSet<(i64, String)>>;
    async fn message_seq(&mut self, pk: i64, message_id: &str) -> Result<Option<i64>>;
    /// Marks a message deleted; `false` if there is no such message.
    async fn delete_message(&mut self, pk: i64, message_id: &str) -> Result<bool>;
    async fn messages(&mut self, pk: i64) -> Result<Vec<Message>>;
    /// The messages of many conversations (by pk, each in order), in one statement.
    async fn messages_of(&mut self, pks: &[i64]) -> Result<HashMap<i64, Vec<Message>>>;
    /// The oldest agent/bot message after `read_seq`, neither deleted nor forwarded.
    async fn pending_since(&mut self, pk: i64, read_seq: i64) -> Result<Option<DateTime<Utc>>>;
    /// Sets the forwarding marker of messages: (conversation pk, seq, email id) each.
    async fn mark_forwarded_many(&mut self, rows: &[(i64, i64, String)]) -> Result<()>;
    async fn insert_attachment(&mut self, a: &NewAttachment) -> Result<()>;
}

/// Outbox emails, as a transaction sees them: added with their bytes, found, confirmed or failed.
#[async_trait]
pub trait OutboxTx: Send {
    /// Adds emails to the outbox with their bytes, one statement per table and few hundred.
    async fn insert_emails(&mut self, emails: &[(OutboxEmail, Vec<u8>)]) -> Result<()>;
    /// Marks still-pending emails of conversation `pk` with these `Message-ID`s sent: the
    /// visitor answered them, so they arrived (the daemon that sent one may have died before
    /// it could record so). Returns them, with the messages each forwarded.
    async fn confirm_delivered(
        &mut self,
        pk: i64,
        message_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<(OutboxEmail, Vec<String>)>>;
    /// The email with this id.
    async fn email_by_id(&mut self, id: &str) -> Result<Option<OutboxEmail>>;
    /// The email we sent with this `Message-ID` (with angle brackets).
    async fn email_by_message_id(&mut self, message_id: &str) -> Result<Option<OutboxEmail>>;
    /// The email sent from this envelope sender: its own bounce address (see `crate::verp`).
    async fn email_by_mail_from(&mut self, mail_from: &str) -> Result<Option<OutboxEmail>>;
    /// The ids of the chat messages an email forwarded.
    async fn forwarded_messages(&mut self, email_id: &str) -> Result<Vec<String>>;
    /// The bytes of the emails of conversation `pk` a reply answers: those with these
    /// `Message-ID`s, else (a reply that names none) the conversation's newest email.
    async fn answered_emails(&mut self, pk: i64, message_ids: &[String]) -> Result<Vec<Vec<u8>>>;
    /// When the conversation's last email was made (of many at once:
    /// [`ConversationsTx::conversations_with_last_email`]).
    async fn last_email_at(&mut self, pk: i64) -> Result<Option<DateTime<Utc>>>;
    /// Marks an email failed (a bounce came back for it).
    async fn set_email_failed(&mut self, id: &str, error: &str) -> Result<()>;
    /// A site's emails, newest first: of `status` if given, of the conversation with the
    /// platform's id `conversation` if given; at most `limit`.
    async fn list_emails(
        &mut self,
        site: &str,
        status: Option<EmailStatus>,
        conversation: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEmail>>;
    /// Puts a failed, cancelled or pending email of the site back in the queue, its next
    /// attempt at `now`, its attempts counted from nought.
    async fn retry_email(
        &mut self,
        site: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<RetryOutcome>;
}

/// A site's agent presence, and the events it has sent already.
#[async_trait]
pub trait SitesTx: Send {
    /// Records event ids; returns those not seen before (the others are replays). One
    /// statement per few hundred.
    async fn events_seen(
        &mut self,
        site: &str,
        event_ids: &[&str],
        at: DateTime<Utc>,
    ) -> Result<HashSet<String>>;
    async fn site_state(&mut self, site: &str) -> Result<SiteState>;
    async fn save_site_state(&mut self, site: &str, s: &SiteState) -> Result<()>;
}

/// Addresses that get no email.
#[async_trait]
pub trait SuppressionsTx: Send {
    async fn is_suppressed(&mut self, site: &str, email: &str) -> Result<bool>;
    /// Which of `emails` (any case) are suppressed for `site`, lowercased; one statement.
    async fn suppressed_among(&mut self, site: &str, emails: &[&str]) -> Result<HashSet<String>>;
    async fn suppress(
        &mut self,
        site: &str,
        email: &str,
        reason: &str,
        cause: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// A site's suppressions whose address contains `q` (case-insensitive), of `reason` if
    /// given; newest first, at most `limit`.
    async fn suppressions(
        &mut self,
        site: &str,
        q: &str,
        reason: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Suppression>>;
    /// Lifts a suppression; `false` if the address was not suppressed.
    async fn lift_suppression(&mut self, site: &str, email: &str) -> Result<bool>;
    /// Counts one more soft failure in a row for an address (as its emails were addressed);
    /// a reply from it since the last one starts the count again. Returns how many there are
    /// now, and when the first was.
    async fn soft_bounce(
        &mut self,
        site: &str,
        email: &str,
        at: DateTime<Utc>,
    ) -> Result<(u32, DateTime<Utc>)>;
    /// Forgets an address's soft failures (its suppression was lifted).
    async fn clear_soft_bounces(&mut self, site: &str, email: &str) -> Result<()>;
}

/// A visitor's data erased on request, and data past its retention.
#[async_trait]
pub trait LifecycleTx: Send {
    /// Deletes every conversation of the visitor `visitor_id` on `site`, with its messages,
    /// attachments, emails and the webhooks that carry them; their addresses' soft-failure
    /// counts go, their suppressions stay as keyed hashes (`crate::erasure`).
    async fn erase_visitor(&mut self, site: &str, visitor_id: &str) -> Result<Erased>;
    /// Drops the bytes of up to `limit` emails made before `before` that are no longer
    /// pending (their rows and the messages' markers stay). Returns how many.
    async fn expire_email_bodies(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` conversations closed, with no activity, since before `before`,
    /// with their messages, attachments and emails. Returns how many.
    async fn expire_conversations(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
}

/// Webhooks, queued with the change they report.
#[async_trait]
pub trait WebhooksTx: Send {
    async fn enqueue_webhook(&mut self, w: &NewWebhook) -> Result<()>;
}

/// One transaction: all of it or none of it is kept.
#[async_trait]
pub trait Tx:
    ConversationsTx + LifecycleTx + MessagesTx + OutboxTx + SitesTx + SuppressionsTx + WebhooksTx + Send
{
    /// Tells the other daemons, once this transaction commits, that there may be work.
    async fn notify_work(&mut self) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
}
