//! What the API answers, as types: the handlers build these, serde writes them, and the
//! OpenAPI document (`openapi.rs`) is derived from the same types, so it cannot drift from
//! what is sent. Times are RFC 3339 strings.

use crate::domain::{Attachment, MessageSource};
use crate::store::{Conversation, EmailStatus, Erased, MarkedMessage, OutboxEmail, Suppression};
use serde::Serialize;
use utoipa::ToSchema;

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

/// Every error: a stable `code`, the `field` at fault where there is one, and a message.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_event`, `invalid_query`, `unauthorized`, `forbidden`, `not_found`,
    /// `already_sent`, `retention`, `rate_limited`, `internal`.
    pub code: String,
    /// Where the fault is (`events[2].message.author`, `status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// `POST /v1/events`: how many events were applied, and how many were seen before.
#[derive(Serialize, ToSchema)]
pub struct EventsApplied {
    pub applied: usize,
    pub replayed: usize,
}

/// `POST /v1/bridges/chatwoot/{site}`: what the webhook became.
#[derive(Serialize, ToSchema)]
pub struct BridgeApplied {
    pub applied: usize,
    pub replayed: usize,
    /// Why nothing was applied, for a webhook replyrelay has no use for (a private note,
    /// another inbox, an event it does not follow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// `POST /v1/widget-tokens`: the token for the page, and when it stops being good.
#[derive(Serialize, ToSchema)]
pub struct WidgetToken {
    pub token: String,
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn as_rfc3339<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// A conversation's state.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Closed,
}

impl ConversationStatus {
    fn of(c: &Conversation) -> Self {
        if c.open {
            Self::Open
        } else {
            Self::Closed
        }
    }
}

/// `GET /v1/conversations/{id}`.
#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub status: ConversationStatus,
    pub created_at: String,
    pub closed_at: Option<String>,
    pub visitor: VisitorView,
    /// When the next email is due, if one is.
    pub next_email_due_at: Option<String>,
    pub unanswered_emails: u32,
    pub replied_by_email: bool,
    pub messages: Vec<MessageView>,
}

#[derive(Serialize, ToSchema)]
pub struct VisitorView {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub last_activity_at: Option<String>,
    pub left_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// `visitor`, `agent`, `bot` or `system`.
    pub author: String,
    pub name: Option<String>,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// `chat` or `email`.
    pub source: String,
    /// An email reply held for review (its sender did not match).
    pub quarantined: bool,
    pub at: String,
    pub deleted: bool,
    /// `false` when an email reply was kept as it came.
    pub trimmed: bool,
    /// The email that carried it, once emailed.
    pub forwarded: Option<Forwarded>,
}

#[derive(Serialize, ToSchema)]
pub struct Forwarded {
    pub to: String,
    pub at: String,
    pub message_id: String,
    /// `pending`, `sent`, `failed`, `cancelled`.
    pub status: String,
    pub error: Option<String>,
}

impl ConversationView {
    pub fn new(c: &Conversation, messages: &[MarkedMessage]) -> Self {
        Self {
            id: c.id.clone(),
            status: ConversationStatus::of(c),
            created_at: rfc3339(c.created_at),
            closed_at: c.closed_at.map(rfc3339),
            visitor: VisitorView {
                id: c.visitor.id.clone(),
                email: c.visitor.email.clone(),
                name: c.visitor.name.clone(),
                locale: c.visitor.locale.clone(),
                timezone: c.visitor.timezone.clone(),
                last_activity_at: c.last_activity_at.map(rfc3339),
                left_at: c.left_at.map(rfc3339),
            },
            next_email_due_at: c.due_at.map(rfc3339),
            unanswered_emails: c.unanswered_emails,
            replied_by_email: c.replied_by_email,
            messages: messages.iter().map(MessageView::from).collect(),
        }
    }
}

impl From<&MarkedMessage> for MessageView {
    fn from(m: &MarkedMessage) -> Self {
        let msg = &m.message;
        Self {
            id: msg.id.clone(),
            author: msg.author.as_str().into(),
            name: msg.author_name.clone(),
            text: msg.text.clone(),
            attachments: msg.attachments.clone(),
            source: msg.source.channel().into(),
            quarantined: msg.source == MessageSource::EmailQuarantined,
            at: rfc3339(msg.at),
            deleted: msg.deleted,
            trimmed: msg.trimmed,
            forwarded: m.marker.as_ref().map(|k| Forwarded {
                to: k.to.clone(),
                at: rfc3339(k.at),
                message_id: k.message_id.clone(),
                status: k.status.as_str().into(),
                error: k.error.clone(),
            }),
        }
    }
}

/// `GET /v1/contacts`.
#[derive(Serialize, ToSchema)]
pub struct Contacts {
    pub contacts: Vec<Contact>,
}

#[derive(Serialize, ToSchema)]
pub struct Contact {
    pub visitor: ContactVisitor,
    pub conversation: ContactConversation,
}

#[derive(Serialize, ToSchema)]
pub struct ContactVisitor {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The address gets no email.
    pub suppressed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ContactConversation {
    pub id: String,
    pub status: ConversationStatus,
    pub created_at: String,
}

impl Contact {
    pub fn new(c: &Conversation, suppressed: bool) -> Self {
        Self {
            visitor: ContactVisitor {
                id: c.visitor.id.clone(),
                email: c.visitor.email.clone(),
                name: c.visitor.name.clone(),
                suppressed,
            },
            conversation: ContactConversation {
                id: c.id.clone(),
                status: ConversationStatus::of(c),
                created_at: rfc3339(c.created_at),
            },
        }
    }
}

/// `GET /v1/suppressions`.
#[derive(Serialize, ToSchema)]
pub struct Suppressions {
    pub suppressions: Vec<SuppressionView>,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    /// Lowercased; `erased:…` for a visitor erased since.
    pub email: String,
    /// `unsubscribed`, `hard_bounce`, `soft_bounced`, `complained`, `invalid_address`.
    pub reason: String,
    pub at: String,
    /// What caused it; `null` for suppressions from before causes were kept.
    pub cause: Option<String>,
}

impl From<&Suppression> for SuppressionView {
    fn from(s: &Suppression) -> Self {
        Self {
            email: s.email.clone(),
            reason: s.reason.clone(),
            at: rfc3339(s.at),
            cause: s.cause.clone(),
        }
    }
}

/// `DELETE /v1/suppressions/{address}`.
#[derive(Serialize, ToSchema)]
pub struct Lifted {
    pub lifted: String,
}

/// `GET /v1/emails`.
#[derive(Serialize, ToSchema)]
pub struct Emails {
    pub emails: Vec<EmailView>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailView {
    pub id: String,
    /// The platform's id of the conversation.
    pub conversation: String,
    pub to: String,
    pub message_id: String,
    /// `pending`, `sent`, `failed`, `cancelled`.
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    /// For a pending email.
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    /// The relay's last answer, or the bounce.
    pub last_answer: Option<String>,
}

impl From<&OutboxEmail> for EmailView {
    fn from(e: &OutboxEmail) -> Self {
        Self {
            id: e.id.clone(),
            conversation: e.conversation_id.clone(),
            to: e.rcpt_to.clone(),
            message_id: e.message_id.clone(),
            status: e.status.as_str().into(),
            attempts: e.attempts,
            created_at: rfc3339(e.created_at),
            next_attempt_at: (e.status == EmailStatus::Pending).then(|| rfc3339(e.next_attempt_at)),
            sent_at: e.sent_at.map(rfc3339),
            last_answer: e.last_error.clone(),
        }
    }
}

/// `POST /v1/emails/{id}/retry`.
#[derive(Serialize, ToSchema)]
pub struct Retried {
    pub retried: String,
    pub next_attempt_at: String,
}

/// `DELETE /v1/visitors/{id}`.
#[derive(Serialize, ToSchema)]
pub struct VisitorErased {
    pub visitor: String,
    pub erased: Erased,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` with the database's error.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
