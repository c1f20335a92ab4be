//! What the pipeline finds out about a message and what becomes of it: plain data, no I/O.

use crate::config::SenderPolicy;
use crate::failure::Reason;
use serde::Serialize;

/// Who the mail system says the message is from and for (SMTP `MAIL FROM` / `RCPT TO`).
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    /// `None` for the null sender `<>` (bounces) or when unknown.
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
}

impl Envelope {
    /// The addresses `message` was sent to: the envelope's recipients, then its `To:` (all a
    /// file has, as `inspect` reads one).
    pub fn addressed(&self, message: &mail_parser::Message<'_>) -> Vec<String> {
        let to = (message.to().into_iter().flat_map(|a| a.iter())).filter_map(|a| a.address());
        (self.rcpt_to.iter().map(String::as_str))
            .chain(to)
            .map(str::to_string)
            .collect()
    }
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
    /// Sent to an email's `mailto:` unsubscribe address: the visitor asks for no more email.
    Unsubscribe,
    /// No conversation could be found for it.
    Unroutable,
}

/// A vocabulary of the analysis: snake_case in JSON (`inspect --json`), the same words in text.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            #[default]
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// How the conversation was found (the first is the default: not yet).
    Via {
        /// Not found (yet).
        None => "none",
        /// By the reply token in a recipient address.
        Token => "token",
        /// By our Message-ID in `In-Reply-To` / `References`.
        InReplyTo => "in_reply_to",
    }
}

words! {
    /// What the reply token said.
    TokenCheck {
        /// No token (routed by `In-Reply-To`, or not at all).
        None => "none",
        /// Its MAC verified.
        Valid => "valid",
        /// Its MAC did not verify, or it names another site's conversation.
        Forged => "forged",
    }
}

words! {
    /// Whether the sender is the visitor.
    SenderCheck {
        /// The visitor has no address, or the message no sender.
        Unknown => "unknown",
        Match => "match",
        Mismatch => "mismatch",
        /// The visitor's address, but the operator's MTA says DMARC fails for its domain:
        /// someone else wrote it.
        DmarcFail => "dmarc_fail",
    }
}

words! {
    /// What is done with a reply that was routed.
    Decision {
        /// Refused (the default until the checks have run).
        Reject => "reject",
        /// Posted as the visitor's.
        Accept => "accept",
        /// Stored, held for review.
        Quarantine => "quarantine",
    }
}

/// How the conversation was found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Routing {
    pub via: Via,
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
    pub token: TokenCheck,
    pub sender: SenderCheck,
    /// The trusted MTA (authserv-id) that says DMARC fails for the From domain, if one does.
    pub dmarc_fail_by: Option<String>,
    /// The site's policy for a sender that does not match; `None` when the checks did not run
    /// (the conversation's site is no longer configured).
    pub sender_policy: Option<SenderPolicy>,
    /// The reach-back window was open when the reply came.
    pub window_open: bool,
    pub decision: Decision,
    pub reason: Option<String>,
}

/// What a report about an email of ours says happened to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Delivery failed (`Action: failed`, or a mailer daemon's failure notice).
    #[default]
    Failed,
    /// Delivery is delayed and still being tried (`Action: delayed`): not a failure.
    Delayed,
    /// Delivered, relayed or expanded: a success notice.
    Delivered,
    /// A feedback report (ARF, an SES complaint): what it says is in its [`FeedbackType`].
    Complaint,
}

/// What a feedback report says happened (RFC 5965's `Feedback-Type`, SES's
/// `complaintFeedbackType`; the same IANA vocabulary). Only the first three are the recipient's
/// own act; the others are machines' reports about the email or our sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackType {
    /// The recipient marked the email as spam.
    Abuse,
    /// The recipient reported it as fraud or phishing.
    Fraud,
    /// The recipient asked to be sent no more.
    OptOut,
    /// A receiver's report that our SPF, DKIM or DMARC failed (RFC 6591): about our sending.
    AuthFailure,
    /// The recipient marked it as not spam: the opposite of a complaint.
    NotSpam,
    /// A scanner found a virus in it.
    Virus,
    /// A type this list does not name.
    Other,
}

impl FeedbackType {
    /// The type a report names, whatever its case.
    pub fn parse(name: &str) -> FeedbackType {
        match name.trim().to_ascii_lowercase().as_str() {
            "abuse" => FeedbackType::Abuse,
            "fraud" => FeedbackType::Fraud,
            "opt-out" | "optout" => FeedbackType::OptOut,
            "auth-failure" => FeedbackType::AuthFailure,
            "not-spam" => FeedbackType::NotSpam,
            "virus" => FeedbackType::Virus,
            _ => FeedbackType::Other,
        }
    }

    /// Whether the report is the recipient asking for no more email: the only feedback that
    /// may silence them.
    pub fn is_the_recipients_stop(self) -> bool {
        matches!(
            self,
            FeedbackType::Abuse | FeedbackType::Fraud | FeedbackType::OptOut
        )
    }
}

/// One recipient of a report: what happened to the email for that address.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecipientStatus {
    /// `Final-Recipient` (else `Original-Recipient`), lowercased: the address the status is
    /// about. An X.400 final recipient gives way to an internet original.
    pub recipient: Option<String>,
    /// `Original-Recipient`, lowercased: the address as the email gave it, where a forward,
    /// an alias or a mail store's own routing (`ana@sims-ms-daemon`) turned it into another
    /// final one. It ties the report to the email; the final address's death is not its own.
    pub original_recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded`; `None` for a prose bounce.
    pub action: Option<String>,
    /// The enhanced status code (`5.1.1`), from `Status:` or found in the server's words.
    pub status: Option<String>,
    /// What the remote server said (`Diagnostic-Code`, or a prose bounce's explanation).
    pub diagnostic: Option<String>,
    /// The reporting MTA's own reading of the failure, where it writes one
    /// (`X-PowerMTA-BounceCategory: bad-mailbox`): evidence beside the server's words.
    pub category: Option<Reason>,
    pub reason: Reason,
    /// The address is dead (no such user or domain, moved, takes no mail): the one failure
    /// that may suppress it.
    pub hard: bool,
}

impl RecipientStatus {
    /// Whether this is the report's word on `address`: it is the final recipient or the
    /// original one.
    pub fn names(&self, address: &str) -> bool {
        [&self.recipient, &self.original_recipient]
            .into_iter()
            .flatten()
            .any(|a| a.eq_ignore_ascii_case(address))
    }
}

/// A delivery report, delivery notice or complaint, read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bounce {
    pub kind: ReportKind,
    /// The email's own bounce address (VERP, its MAC verified) the report came to: it names
    /// the email whatever the report carries. `None` for a report to a shared address.
    pub bounce_address: Option<String>,
    /// The `Message-ID` of the email it reports on, if the report carries it.
    pub original_message_id: Option<String>,
    /// The recipient it is about: the first failed one (else delayed, else delivered).
    pub recipient: Option<String>,
    /// That recipient's status code, e.g. `5.1.1`.
    pub status: Option<String>,
    pub action: Option<String>,
    pub diagnostic: Option<String>,
    pub reason: Option<Reason>,
    /// The address is dead: see [`RecipientStatus::hard`].
    pub hard: bool,
    /// A 5.x.x status: the server gave up (which alone does not make the address dead).
    pub permanent: bool,
    /// A feedback report's type, where it names one (a complaint without one is taken as the
    /// recipient's: feedback loops that leave it out report spam marks).
    pub feedback_type: Option<FeedbackType>,
    /// Every recipient the report names.
    pub recipients: Vec<RecipientStatus>,
}

/// Everything the pipeline found out about one message, before acting on it.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub kind: Kind,
    /// Why it is an auto-reply or a loop.
    pub reason: Option<String>,
    /// The reply: the visitor's words, trimmed (see `trimmed`).
    pub text: String,
    /// `false` when the trimming rules would have left nothing of a body with words in it,
    /// and `text` is the body as it came.
    pub trimmed: bool,
    /// A copy of the email it answers was found in it, by the text we sent, and cut.
    pub own_copy: bool,
    /// The body before trimming (the text part, or the HTML one as text): trimmed again once
    /// the emails it may quote are known.
    #[serde(skip)]
    pub(super) body: String,
    /// The emails it may quote were looked up (and `text` trimmed knowing them).
    #[serde(skip)]
    pub(super) sent_checked: bool,
    /// Its `Authentication-Results` headers, top first: read against the site's trusted MTAs.
    #[serde(skip)]
    pub(super) auth_results: Vec<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// The Message-IDs it answers (`In-Reply-To`, then `References`, newest first; at most
    /// [`MAX_REFERENCES`](super::MAX_REFERENCES)).
    pub references: Vec<String>,
    pub routing: Routing,
    pub verification: Verification,
    pub bounce: Option<Bounce>,
    /// The email whose unsubscribe address it came to (its MAC verified), as `site`, `id`.
    pub unsubscribe: Option<(String, String)>,
    /// Attachments: name, type, size.
    pub attachments: Vec<AttachmentInfo>,
    /// Attachments over `max_attachment_size`, not kept: the stored message names them.
    pub too_large: Vec<AttachmentInfo>,
    #[serde(skip)]
    pub(super) attachment_data: Vec<Vec<u8>>,
}

impl Analysis {
    /// The chat message's text: the reply, then a line for each attachment too large to keep
    /// (`limit`, bytes), so the agent knows the visitor sent it.
    pub fn message_text(&self, limit: usize) -> String {
        let mut text = self.text.clone();
        for a in &self.too_large {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&format!(
                "[Attachment \"{}\" ({}) not kept: larger than the {} limit]",
                a.name,
                crate::domain::human_size(a.size as u64),
                crate::domain::human_size(limit as u64),
            ));
        }
        text
    }

    /// The reply's text from its body, knowing that it may quote the emails `sent`.
    pub(super) fn set_text(&mut self, sent: &[crate::reply::Sent]) {
        let markers = crate::i18n::reply_markers();
        let reply = crate::reply::reply_to_ours(&self.body, sent, markers);
        self.text = crate::domain::plain_text(&reply.text);
        self.trimmed = reply.trimmed;
        self.own_copy = reply.own_copy;
    }

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
        /// As [`Analysis::trimmed`]: `false` when kept as it came.
        trimmed: bool,
        /// As [`Analysis::own_copy`].
        own_copy: bool,
    },
    /// Stored, but held for review (a sender that does not match, under `quarantine`).
    Quarantined { conversation: String },
    /// The same `Message-ID` was stored before.
    Duplicate,
    /// Accepted and dropped on purpose: an auto-reply, a loop, an empty reply.
    Dropped(String),
    /// A bounce, recorded against its email.
    BounceRecorded,
    /// An unsubscribe request by mail, carried out.
    Unsubscribed,
    /// A report or complaint not believed: it came to no email's own bounce address, and does
    /// not name the recipient of the email whose `Message-ID` it carries.
    Unbelieved,
    /// Refused; the sender should hear of it.
    Rejected(Rejection),
}

/// How an outcome reads in the log line: the conversation and Message-ID are the line's span.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Stored { trimmed: false, .. } => f.write_str("stored untrimmed"),
            Outcome::Stored { .. } => f.write_str("stored"),
            Outcome::Quarantined { .. } => f.write_str("quarantined"),
            Outcome::Duplicate => f.write_str("duplicate"),
            Outcome::Dropped(why) => write!(f, "dropped: {why}"),
            Outcome::BounceRecorded => f.write_str("bounce recorded"),
            Outcome::Unbelieved => f.write_str("report not believed"),
            Outcome::Unsubscribed => f.write_str("unsubscribed"),
            Outcome::Rejected(r) => write!(f, "rejected: {r}"),
        }
    }
}

/// Why a message was refused; each maps to one SMTP reply and one `ingest` exit code. It
/// reads as that reply (`550 5.1.1 forged reply token`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} {}", self.smtp_reply().0, self.smtp_reply().1)]
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
