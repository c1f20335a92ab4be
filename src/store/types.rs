//! What the store keeps and hands out: plain data, no I/O.

use crate::domain::{Attachment, AuthorKind, MessageSource};
use chrono::{DateTime, Utc};

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
    /// An email fell due at this instant by the events' own clock and has not gone yet. Kept
    /// through later events except the visitor's own reasons (a read, a return, a deleted
    /// message, a suppression), so how events are batched and when the worker wakes do not
    /// change what is sent.
    pub fell_due_at: Option<DateTime<Utc>>,
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
    pub source: MessageSource,
    pub at: DateTime<Utc>,
    /// `false` for an email reply the trimming rules would have emptied, kept as it came.
    pub trimmed: bool,
    pub deleted: bool,
    /// The outbox email that forwarded this message, if any (its forwarding marker).
    pub email_id: Option<String>,
}

impl Message {
    /// Not part of the conversation as the visitor sees it: deleted, or a quarantined reply
    /// from an address that is not the visitor's.
    pub fn is_hidden(&self) -> bool {
        self.deleted || self.source == MessageSource::EmailQuarantined
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
    pub source: MessageSource,
    pub at: DateTime<Utc>,
    /// `false` for an email reply kept as it came (see [`Message::trimmed`]).
    pub trimmed: bool,
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
    pub const ALL: [EmailStatus; 4] = [
        EmailStatus::Pending,
        EmailStatus::Sent,
        EmailStatus::Failed,
        EmailStatus::Cancelled,
    ];

    /// The status of this name, for what a person asks for (a query, a flag); `None` for
    /// any other word. [`Self::parse`] is for what the database holds.
    pub fn named(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Every name, for an error that lists them.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

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

/// What asking for an email to be tried again did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Pending again, its next attempt now.
    Queued,
    /// No such email on the site.
    NotFound,
    /// The relay took it already.
    AlreadySent,
    /// Its bytes were dropped under `[retention] email_bodies`: there is nothing to send.
    BytesGone,
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

/// The reasons an address is suppressed for, as stored and shown.
pub const SUPPRESSION_REASONS: &[&str] = &[
    "unsubscribed",
    "hard_bounce",
    "complained",
    "invalid_address",
    "soft_bounced",
];

/// An address that gets no email, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppression {
    /// Lowercased.
    pub email: String,
    /// One of [`SUPPRESSION_REASONS`].
    pub reason: String,
    pub at: DateTime<Utc>,
    /// What caused it: the email whose link was used, the report and the email it was about,
    /// the relay's refusal. `None` for suppressions from before causes were kept.
    pub cause: Option<String>,
}

/// What a webhook reports: its body's `type`, one spelling each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A visitor's email answer was posted into the conversation.
    MessageCreated,
    /// An email carrying chat messages was delivered (or its answer proved it arrived).
    MessageForwarded,
    /// An email could not be delivered.
    DeliveryFailed,
    /// An address gets no more email (unsubscribe, hard bounce, complaint).
    VisitorSuppressed,
    /// A suppression was lifted by the operator: the address gets email again.
    VisitorUnsuppressed,
    /// Everything of a visitor was deleted at the platform's request.
    VisitorErased,
    /// A visitor's email answer, to post into the Chatwoot conversation (`[site.chatwoot]`):
    /// queued and retried as webhooks are, but posted to Chatwoot's API.
    ChatwootMessage,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::MessageCreated => "message.created",
            WebhookEvent::MessageForwarded => "message.forwarded",
            WebhookEvent::DeliveryFailed => "delivery.failed",
            WebhookEvent::VisitorSuppressed => "visitor.suppressed",
            WebhookEvent::VisitorUnsuppressed => "visitor.unsuppressed",
            WebhookEvent::VisitorErased => "visitor.erased",
            WebhookEvent::ChatwootMessage => "chatwoot.message",
        }
    }
}

/// Where a queued webhook stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookStatus {
    /// To be posted (again) at its next attempt time.
    Pending,
    Delivered,
    /// Given up on.
    Failed,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Pending => "pending",
            WebhookStatus::Delivered => "delivered",
            WebhookStatus::Failed => "failed",
        }
    }
}

/// A webhook to post to the site's platform.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    /// Sent in the body, so the platform can ignore a retry it already took.
    pub id: String,
    pub site_id: String,
    pub event: WebhookEvent,
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

/// What an erasure removed (the API answers with it as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// The platform's ids of the conversations deleted.
    pub conversations: Vec<String>,
    pub messages: u64,
    pub attachments: u64,
    pub emails: u64,
    /// Queued or sent webhooks that carried the visitor's data.
    pub webhooks: u64,
    /// Suppressions kept, now as keyed hashes.
    pub suppressions_kept: u64,
}
