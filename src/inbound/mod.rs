//! Visitor replies: one pipeline for every way mail comes in (the SMTP/LMTP listener, the IMAP
//! poller, `replyrelay ingest`).
//!
//! [`Inbound::read`] parses, classifies, extracts and routes by reply token (a MAC, no
//! database); `Inbound::resolve` does the reads: the conversation, `In-Reply-To`, the sender
//! and reach-window checks. [`Inbound::analyze`] runs both without changing anything (it is all
//! `replyrelay inspect` runs). [`Inbound::deliver`] acts on a message: a reply is resolved and
//! stored in one transaction shared with the replies arriving beside it (the group commit) and
//! announced by webhook, a bounce marks its email failed (and suppresses the address when
//! permanent), an auto-reply or a loop is dropped and counted. The classification and
//! extraction steps are plain functions of the message.
//!
//! The files: [`types`] (what is found out, what becomes of it), [`classify`] (pure: auto-replies,
//! loops, the reply's words, references), [`dsn`] (pure: delivery-status reports read),
//! `route` (reply tokens and `In-Reply-To`, sender and window checks), `commit` (the group
//! commit that stores replies), `bounce` (a report recorded against its email), `count`
//! (metrics).

mod bounce;
pub mod classify;
mod commit;
mod count;
pub mod dsn;
mod route;
pub mod types;

pub use classify::{auto_reply_reason, extract_text, MAX_REFERENCES};
pub use count::received;
pub use dsn::read_bounce;
pub use types::*;

use crate::clock::Clock;
use crate::config::{InboundLimits, Shared, SiteRef};
use crate::domain::{clean_name, plain_text};
use crate::store::Store;
use crate::token::TokenKeys;
use classify::{loop_reason, referenced_ids};
use commit::unroutable;
use commit::Job;
use count::count;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The inbound pipeline, shared by every entry point.
#[derive(Clone)]
pub struct Inbound {
    /// `None` for `replyrelay inspect` without a database: nothing can be routed then.
    store: Option<Arc<dyn Store>>,
    config: Shared,
    keys: Option<TokenKeys>,
    clock: Clock,
    /// The queue of replies waiting to be committed, started on first use (see
    /// [`Inbound::commit_group`]).
    committer: Arc<std::sync::OnceLock<mpsc::Sender<Job>>>,
}

impl Inbound {
    pub fn new(
        store: Option<Arc<dyn Store>>,
        config: Shared,
        keys: Option<TokenKeys>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            config,
            keys,
            clock,
            committer: Arc::default(),
        }
    }

    pub fn limits(&self) -> InboundLimits {
        self.config.current().inbound.clone()
    }

    /// Whether mail for `rcpt` would be taken: an address with a genuine reply token, checked
    /// at `RCPT TO` so a bad one is refused before the message is sent. Genuine means its MAC
    /// verifies, which needs no database: that its conversation exists is checked where the
    /// reply is stored (a genuine token naming no conversation is refused after `DATA`).
    pub fn check_recipient(&self, rcpt: &str) -> Result<(), Rejection> {
        let wanted = rcpt.trim().trim_matches(['<', '>']).to_lowercase();
        let is_bounce_address = self.config.current().sites.iter().any(|s| {
            s.bounce_address
                .as_ref()
                .is_some_and(|b| b.as_str().to_lowercase() == wanted)
        });
        if is_bounce_address {
            return Ok(());
        }
        match self.route_token(&[rcpt.to_string()]) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Rejection::UnknownRecipient("no such reply address".into())),
            Err(e) => Err(Rejection::UnknownRecipient(e)),
        }
    }

    /// Reads a message and decides what it is, without changing anything (`replyrelay
    /// inspect`): [`Inbound::read`], then `Inbound::resolve` in a read transaction.
    pub async fn analyze(&self, raw: &[u8], envelope: &Envelope) -> Result<Analysis, Rejection> {
        let mut analysis = self.read(raw, envelope)?;
        // Bounces, loops and forged tokens are what they are without a look-up; an
        // auto-reply is routed too, to show where it would have gone.
        if !matches!(analysis.kind, Kind::Reply | Kind::AutoReply) {
            return Ok(analysis);
        }
        let Some(store) = &self.store else {
            analysis.routing = Routing {
                via: "none",
                error: Some("no database: no site matched".into()),
                ..Routing::default()
            };
            analysis.not_routed();
            return Ok(analysis);
        };
        let resolved = match store.begin_read().await {
            Ok(mut tx) => self.resolve(&mut analysis, tx.as_mut()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = resolved {
            analysis.routing.error = Some(format!("database: {e:#}"));
            analysis.not_routed();
            return Ok(analysis);
        }
        Ok(analysis)
    }

    /// Parses, classifies, extracts and routes by reply token: all that needs no database.
    /// A reply routed by token still has its conversation looked up, and one without a token
    /// its `In-Reply-To` (see `Inbound::resolve`).
    pub fn read(&self, raw: &[u8], envelope: &Envelope) -> Result<Analysis, Rejection> {
        let limits = self.limits();
        if raw.len() > limits.max_message_size {
            return Err(Rejection::TooLarge);
        }
        // mail-parser panics on some malformed MIME (found by fuzzing): a message that breaks
        // the parser is refused like any other unreadable one, and the session goes on.
        let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
        let message = parsed
            .map_err(|_| Rejection::BadMessage("MIME structure the parser cannot read".into()))?
            .ok_or_else(|| Rejection::BadMessage("not a MIME message".into()))?;
        if message.parts.len() > limits.max_parts {
            return Err(Rejection::BadMessage(format!(
                "more than {} MIME parts",
                limits.max_parts
            )));
        }
        let from = message.from().and_then(|a| a.first());
        let mut analysis = Analysis {
            kind: Kind::Reply,
            reason: None,
            text: String::new(),
            from: from.and_then(|a| a.address()).map(|a| plain_text(a.trim())),
            from_name: from.and_then(|a| a.name()).map(clean_name),
            subject: message.subject().map(plain_text),
            // An id with control characters is no id we can keep (nor a real one).
            message_id: message
                .message_id()
                .filter(|id| !id.chars().any(char::is_control))
                .map(|id| format!("<{id}>")),
            references: referenced_ids(&message),
            routing: Routing {
                via: "none",
                ..Routing::default()
            },
            verification: Verification {
                token: "none",
                sender: "unknown",
                decision: "reject",
                ..Verification::default()
            },
            bounce: None,
            attachments: Vec::new(),
            attachment_data: Vec::new(),
        };

        if let Some(bounce) = read_bounce(&message, envelope) {
            analysis.kind = Kind::Bounce;
            analysis.bounce = Some(bounce);
            return Ok(analysis);
        }
        if let Some(why) = loop_reason(&message, &self.config.current().sites) {
            analysis.kind = Kind::Loop;
            analysis.reason = Some(why);
            return Ok(analysis);
        }
        if let Some(why) = auto_reply_reason(&message) {
            analysis.kind = Kind::AutoReply;
            analysis.reason = Some(why);
        }
        analysis.text = extract_text(&message);
        for part in message.attachments() {
            let data = part.contents();
            if data.len() > limits.max_attachment_size || matches!(part.body, PartType::Message(_))
            {
                continue;
            }
            let content_type = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_string(),
                })
                .map(|t| plain_text(&t))
                .unwrap_or_else(|| "application/octet-stream".into());
            analysis.attachments.push(AttachmentInfo {
                name: part
                    .attachment_name()
                    .map(clean_name)
                    .unwrap_or_else(|| "attachment".into()),
                content_type,
                size: data.len(),
            });
            analysis.attachment_data.push(data.to_vec());
        }

        self.route(&message, envelope, &mut analysis);
        if analysis.routing.error.is_some() {
            analysis.not_routed();
        }
        Ok(analysis)
    }

    /// Runs the whole pipeline on one message and acts on it.
    #[tracing::instrument(name = "inbound", skip_all, fields(message_id, conversation))]
    pub async fn deliver(&self, raw: &[u8], envelope: &Envelope) -> anyhow::Result<Outcome> {
        let analysis = match self.read(raw, envelope) {
            Ok(a) => a,
            Err(rejection) => {
                let outcome = Outcome::Rejected(rejection);
                count(&outcome, Kind::Reply);
                return Ok(outcome);
            }
        };
        let span = tracing::Span::current();
        span.record("message_id", analysis.message_id.as_deref().unwrap_or("-"));
        let kind = analysis.kind;
        let outcome = match kind {
            Kind::AutoReply | Kind::Loop => Outcome::Dropped(
                analysis
                    .reason
                    .clone()
                    .unwrap_or_else(|| "automatic".into()),
            ),
            Kind::Unroutable => Outcome::Rejected(unroutable(&analysis)),
            Kind::Bounce => self.record_bounce(&analysis).await?,
            Kind::Reply if self.store.is_none() => Outcome::Rejected(Rejection::UnknownRecipient(
                "no database: no site matched".into(),
            )),
            Kind::Reply => self.store_reply(analysis).await?,
        };
        tracing::info!(kind = ?kind, %outcome, "inbound message handled");
        count(&outcome, kind);
        Ok(outcome)
    }

    fn site(&self, id: &str) -> Option<SiteRef> {
        SiteRef::by_id(self.config.current(), id)
    }
}
