//! What the pipeline finds out about a message and what becomes of it: plain data, no I/O.

use serde::Serialize;

/// Who the mail system says the message is from and for (SMTP `MAIL FROM` / `RCPT TO`).
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    /// `None` for the null sender `<>` (bounces) or when unknown.
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
}

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A visitor's answer.
    Reply,
    /// An out-of-office or other automatic answer: never posted.
    AutoReply,
    /// A delivery-status report about an email we sent.
    Bounce,
    /// Mail from replyrelay itself coming back: never posted.
    Loop,
    /// No conversation could be found for it.
    Unroutable,
}

/// How the conversation was found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Routing {
    /// `token`, `in_reply_to`, or `none`.
    pub via: &'static str,
    /// The address that carried the token.
    pub address: Option<String>,
    pub site: Option<String>,
    pub conversation: Option<String>,
    #[serde(skip)]
    pub conversation_pk: Option<i64>,
    /// Why routing failed, when it did.
    pub error: Option<String>,
}

/// Whether the reply may be posted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    /// `valid`, `forged` or `none` (routed by `In-Reply-To`, or not at all).
    pub token: &'static str,
    /// `match`, `mismatch` or `unknown`.
    pub sender: &'static str,
    /// The site's policy for a sender that does not match.
    pub sender_policy: Option<&'static str>,
    /// The reach-back window was open when the reply came.
    pub window_open: bool,
    /// `accept`, `quarantine` or `reject`.
    pub decision: &'static str,
    pub reason: Option<String>,
}

/// A delivery-status report, read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bounce {
    /// The `Message-ID` of the email that bounced, if the report carries it.
    pub original_message_id: Option<String>,
    pub recipient: Option<String>,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// 5.x.x: the address does not work.
    pub permanent: bool,
}

/// Everything the pipeline found out about one message, before acting on it.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub kind: Kind,
    /// Why it is an auto-reply or a loop.
    pub reason: Option<String>,
    /// The trimmed reply.
    pub text: String,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// The Message-IDs it answers (`In-Reply-To`, then `References`, newest first; at most
    /// [`MAX_REFERENCES`]).
    pub references: Vec<String>,
    pub routing: Routing,
    pub verification: Verification,
    pub bounce: Option<Bounce>,
    /// Attachments: name, type, size.
    pub attachments: Vec<AttachmentInfo>,
    #[serde(skip)]
    pub(super) attachment_data: Vec<Vec<u8>>,
}

impl Analysis {
    /// No conversation was found: a reply is then unroutable; an auto-reply stays what it is.
    pub(super) fn not_routed(&mut self) {
        if self.kind == Kind::Reply {
            self.kind = Kind::Unroutable;
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentInfo {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Posted into the conversation as a visitor message.
    Stored {
        conversation: String,
        message: String,
    },
    /// Stored, but held for review (a sender that does not match, under `quarantine`).
    Quarantined { conversation: String },
    /// The same `Message-ID` was stored before.
    Duplicate,
    /// Accepted and dropped on purpose: an auto-reply, a loop, an empty reply.
    Dropped(String),
    /// A bounce, recorded against its email.
    BounceRecorded,
    /// Refused; the sender should hear of it.
    Rejected(Rejection),
}

/// How an outcome reads in the log line: the conversation and Message-ID are the line's span.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Stored { .. } => f.write_str("stored"),
            Outcome::Quarantined { .. } => f.write_str("quarantined"),
            Outcome::Duplicate => f.write_str("duplicate"),
            Outcome::Dropped(why) => write!(f, "dropped: {why}"),
            Outcome::BounceRecorded => f.write_str("bounce recorded"),
            Outcome::Rejected(r) => {
                let (code, text) = r.smtp_reply();
                write!(f, "rejected: {code} {text}")
            }
        }
    }
}

/// Why a message was refused; each maps to one SMTP reply and one `ingest` exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No conversation for this recipient (unknown or forged token).
    UnknownRecipient(String),
    /// The sender is not the visitor, under the `strict` policy.
    Sender(String),
    /// The conversation's reach-back window has closed.
    WindowClosed,
    /// Not a message we can read, or over the limits.
    BadMessage(String),
    TooLarge,
}

impl Rejection {
    pub fn smtp_reply(&self) -> (u16, String) {
        match self {
            Rejection::UnknownRecipient(why) => (550, format!("5.1.1 {why}")),
            Rejection::Sender(why) => (550, format!("5.7.1 {why}")),
            Rejection::WindowClosed => (
                550,
                "5.7.1 this conversation no longer takes replies".into(),
            ),
            Rejection::BadMessage(why) => (554, format!("5.6.0 {why}")),
            Rejection::TooLarge => (552, "5.3.4 message too big".into()),
        }
    }

    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::UnknownRecipient(_) => "token",
            Rejection::Sender(_) => "sender",
            Rejection::WindowClosed => "window",
            Rejection::BadMessage(_) => "malformed",
            Rejection::TooLarge => "size",
        }
    }
}
