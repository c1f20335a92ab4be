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

use crate::apply;
use crate::clock::Clock;
use crate::config::{InboundLimits, SenderPolicy, Shared, SiteRef};
use crate::domain::{clean_name, plain_text, Attachment, AuthorKind};
use crate::reply;
use crate::store::{Conversation, NewAttachment, NewMessage, SiteState, Store, Tx};
use crate::token::{Purpose, TokenKeys};
use crate::webhooks;
use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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
    attachment_data: Vec<Vec<u8>>,
}

impl Analysis {
    /// No conversation was found: a reply is then unroutable; an auto-reply stays what it is.
    fn not_routed(&mut self) {
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

/// A reply waiting for the group commit, and where its outcome goes.
struct Job {
    analysis: Analysis,
    done: oneshot::Sender<anyhow::Result<Outcome>>,
    /// The message's `inbound` span: the committer names the conversation in it once found.
    span: tracing::Span,
}

impl Job {
    /// Answers the session waiting for this reply.
    fn answer(self, result: anyhow::Result<Outcome>) {
        if let Some(conversation) = &self.analysis.routing.conversation {
            self.span.record("conversation", conversation.as_str());
        }
        let _ = self.done.send(result);
    }
}

/// At most this many replies share one transaction.
const MAX_GROUP: usize = 64;

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
        if let Some(why) = self.loop_reason(&message) {
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

    /// Mail sent by replyrelay itself (a reply address or a site sender as the author).
    fn loop_reason(&self, message: &Message<'_>) -> Option<String> {
        let from = message.from()?.first()?.address()?.to_lowercase();
        for site in &self.config.current().sites {
            if from == site.sender.as_str().to_lowercase() {
                return Some(format!("sent by {from}, a replyrelay sender"));
            }
            if from.ends_with(&format!("@{}", site.reply_domain)) && from.starts_with("reply+") {
                return Some(format!("sent by {from}, a replyrelay reply address"));
            }
        }
        None
    }

    /// The first reply token among `addresses` whose MAC verifies for a configured site: the
    /// address that carried it, the site and the conversation number. `Err` says why a token
    /// that was there did not do.
    fn route_token(&self, addresses: &[String]) -> Result<Option<Token>, String> {
        let mut error = None;
        for address in addresses {
            let Some(token) = reply_token(address) else {
                continue;
            };
            let Some(keys) = &self.keys else {
                return Err("no database: no site matched".into());
            };
            if TokenKeys::number(&token).is_none() {
                error = Some("malformed reply token".to_string());
                continue;
            }
            // The site is under the MAC, not in the token: try each (a MAC costs a
            // microsecond, and a daemon serves a handful of sites).
            let config = self.config.current();
            let verified = config.sites.iter().find_map(|site| {
                let pk = keys.verify(Purpose::Reply, &site.id, &token)?;
                Some((site.id.clone(), pk))
            });
            match verified {
                Some((site, pk)) => {
                    return Ok(Some(Token {
                        address: address.clone(),
                        site,
                        pk,
                    }))
                }
                None => error = Some(FORGED.to_string()),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Routes by reply token: a reply token in the recipients, the envelope's first (it is
    /// what the MTA says this copy is for; LMTP delivers one copy per recipient), then the
    /// headers a reply address can be in. A token that does not verify is refused, even if
    /// `In-Reply-To` would route.
    fn route(&self, message: &Message<'_>, envelope: &Envelope, analysis: &mut Analysis) {
        let mut addresses: Vec<String> = envelope.rcpt_to.clone();
        for list in [message.to(), message.cc()].into_iter().flatten() {
            addresses.extend(list.iter().filter_map(|a| a.address()).map(String::from));
        }
        for (name, value) in message.headers_raw() {
            if name.eq_ignore_ascii_case("Delivered-To")
                || name.eq_ignore_ascii_case("X-Original-To")
            {
                addresses.push(value.trim().trim_matches(['<', '>']).to_string());
            }
        }
        match self.route_token(&addresses) {
            Ok(Some(token)) => {
                analysis.routing.via = "token";
                analysis.routing.address = Some(token.address);
                analysis.routing.site = Some(token.site);
                analysis.routing.conversation_pk = Some(token.pk);
                analysis.verification.token = "valid";
            }
            Ok(None) => {}
            Err(e) => {
                analysis.verification.token = if e == FORGED { "forged" } else { "none" };
                analysis.routing.error = Some(e);
            }
        }
    }

    /// The reads of routing and verification, inside `tx`: the conversation a token names
    /// (it must exist and be of the token's site), else the one whose email our Message-ID in
    /// `In-Reply-To`/`References` names; then, for a reply, the sender and reach-window checks.
    /// Run where the reply is stored, in the same transaction, so the conversation is read
    /// once and what was checked is what is written. Returns the conversation, if routed.
    ///
    /// Running it again on the same analysis gives the same answer (a group commit that
    /// failed is retried reply by reply).
    async fn resolve(
        &self,
        analysis: &mut Analysis,
        tx: &mut dyn Tx,
    ) -> anyhow::Result<Option<Conversation>> {
        let mut conv = None;
        if let Some(pk) = analysis.routing.conversation_pk {
            let site = analysis.routing.site.as_deref().unwrap_or_default();
            match tx.conversation_by_pk(pk).await? {
                Some(c) if c.site_id == site => conv = Some(c),
                found => {
                    // A genuine MAC on a number that is no conversation of that site's.
                    let error = if found.is_some() {
                        FORGED
                    } else {
                        "unknown reply token"
                    };
                    analysis.verification.token = if found.is_some() { "forged" } else { "none" };
                    analysis.routing = Routing {
                        via: "none",
                        error: Some(error.into()),
                        ..Routing::default()
                    };
                }
            }
        } else if analysis.routing.error.is_none() {
            let config = self.config.current();
            let any_site = |id: &&String| (config.sites.iter()).any(|s| ours(id, &s.reply_domain));
            for id in analysis.references.iter().filter(any_site) {
                let Some(email) = tx.email_by_message_id(id).await? else {
                    continue;
                };
                let Some(c) = tx.conversation_by_pk(email.conversation_pk).await? else {
                    continue;
                };
                analysis.routing.via = "in_reply_to";
                analysis.routing.site = Some(c.site_id.clone());
                analysis.routing.conversation_pk = Some(c.pk);
                conv = Some(c);
                break;
            }
            if conv.is_none() {
                analysis.routing.error = Some("no reply token and no Message-ID of ours".into());
            }
        }
        let Some(conv) = conv else {
            analysis.not_routed();
            return Ok(None);
        };
        analysis.routing.conversation = Some(conv.id.clone());
        if analysis.kind == Kind::Reply {
            let last_email = tx.last_email_at(conv.pk).await?;
            self.verify(analysis, &conv, last_email);
        }
        Ok(Some(conv))
    }

    /// Sender and reach-window checks, under the site's policy: `last_email` is when the
    /// conversation's newest email was made.
    fn verify(
        &self,
        analysis: &mut Analysis,
        conv: &Conversation,
        last_email: Option<DateTime<Utc>>,
    ) {
        let Some(site) = self.site(&conv.site_id) else {
            analysis.verification.reason = Some("site no longer configured".into());
            return;
        };
        let visitor = conv.visitor.email.as_deref().map(str::to_lowercase);
        let from = analysis.from.as_deref().map(str::to_lowercase);
        analysis.verification.sender = match (&visitor, &from) {
            (Some(v), Some(f)) if v == f => "match",
            (Some(_), Some(_)) => "mismatch",
            _ => "unknown",
        };
        let now = self.clock.now();
        analysis.verification.window_open =
            last_email.is_some_and(|t| now < t + site.triggers.reach_window);
        let policy = site.sender_policy;
        analysis.verification.sender_policy = Some(policy.as_str());
        let (decision, reason) = if !analysis.verification.window_open {
            (
                "reject",
                Some("the reach-back window has closed".to_string()),
            )
        } else if analysis.verification.sender == "match" {
            ("accept", None)
        } else {
            let why = format!(
                "sender {} is not the visitor's address",
                analysis.from.as_deref().unwrap_or("(none)")
            );
            match policy {
                SenderPolicy::Strict => ("reject", Some(why)),
                SenderPolicy::Quarantine => ("quarantine", Some(why)),
                SenderPolicy::Accept => ("accept", Some(why)),
            }
        };
        analysis.verification.decision = decision;
        analysis.verification.reason = reason;
    }

    /// Hands the reply to the group commit (moved, not copied: its attachments may be large),
    /// where it is resolved, checked and stored, and waits for its outcome.
    async fn store_reply(&self, analysis: Analysis) -> anyhow::Result<Outcome> {
        let committer = self.committer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_GROUP * 4);
            // The task's copy has no committer of its own: no cycle keeps the queue open.
            let worker = Inbound {
                committer: Arc::default(),
                ..self.clone()
            };
            tokio::spawn(worker.commit_groups(rx));
            tx
        });
        let (done, outcome) = oneshot::channel();
        let job = Job {
            analysis,
            done,
            span: tracing::Span::current(),
        };
        committer
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the committer stopped"))?;
        outcome
            .await
            .map_err(|_| anyhow::anyhow!("the committer dropped a reply"))?
    }

    /// Group commit: the replies that arrive while a transaction commits wait for the next
    /// one, and share it. Each is still answered (`250`) only after the commit that holds it,
    /// but many sessions' replies cost one fsync, not one each.
    async fn commit_groups(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_GROUP);
        while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
            let mut group: Vec<&mut Analysis> = jobs.iter_mut().map(|j| &mut j.analysis).collect();
            match self.commit_group(&mut group).await {
                Ok(outcomes) => {
                    for (job, outcome) in jobs.drain(..).zip(outcomes) {
                        job.answer(Ok(outcome));
                    }
                }
                // One bad reply must not fail the others: each on its own, then.
                Err(_) if jobs.len() > 1 => {
                    for mut job in jobs.drain(..) {
                        let result = self
                            .commit_group(&mut [&mut job.analysis])
                            .await
                            .map(|mut o| o.remove(0));
                        job.answer(result);
                    }
                }
                Err(e) => {
                    for job in jobs.drain(..) {
                        job.answer(Err(anyhow::anyhow!("{e:#}")));
                    }
                }
            }
        }
    }

    /// Resolves, checks and stores these replies in one transaction; their outcomes, in order.
    async fn commit_group(&self, group: &mut [&mut Analysis]) -> anyhow::Result<Vec<Outcome>> {
        let store = self.store.as_ref().expect("checked by deliver");
        let mut tx = store.begin().await?;
        let mut outcomes = Vec::with_capacity(group.len());
        // Presence is per site: read once per site for the whole group.
        let mut states = HashMap::new();
        for analysis in group.iter_mut() {
            let conv = self.resolve(analysis, tx.as_mut()).await?;
            let outcome = match (refusal(analysis), conv) {
                (Some(outcome), _) => outcome,
                (None, Some(conv)) => {
                    self.store_in(tx.as_mut(), &mut states, analysis, conv)
                        .await?
                }
                (None, None) => Outcome::Rejected(unroutable(analysis)),
            };
            outcomes.push(outcome);
        }
        tx.notify_work().await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Writes one reply into its conversation `conv` (read by `Inbound::resolve` in `tx`).
    async fn store_in(
        &self,
        tx: &mut dyn Tx,
        states: &mut HashMap<String, SiteState>,
        analysis: &Analysis,
        mut conv: Conversation,
    ) -> anyhow::Result<Outcome> {
        let v = &analysis.verification;
        let pk = conv.pk;
        let site = self
            .site(&conv.site_id)
            .ok_or_else(|| anyhow::anyhow!("site no longer configured"))?;
        let now = self.clock.now();
        let quarantined = v.decision == "quarantine";
        let config = self.config.current();
        let public_url = config.api.public_url.as_deref().unwrap_or_default();

        // The Message-ID is the message id: a second copy (SMTP and IMAP both) is a duplicate.
        let message_id = analysis
            .message_id
            .clone()
            .unwrap_or_else(|| format!("<{}@replyrelay.invalid>", content_hash(&analysis.text)));
        let ids: Vec<String> = analysis
            .attachments
            .iter()
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        let attachments: Vec<Attachment> = analysis
            .attachments
            .iter()
            .zip(&ids)
            .map(|(info, id)| Attachment {
                name: info.name.clone(),
                url: format!("{public_url}/v1/attachments/{id}"),
                size: Some(info.size as u64),
                content_type: Some(info.content_type.clone()),
            })
            .collect();
        let new = NewMessage {
            id: format!("email:{message_id}"),
            author: AuthorKind::Visitor,
            author_name: analysis
                .from_name
                .clone()
                .or_else(|| conv.visitor.name.clone()),
            text: analysis.text.clone(),
            attachments: attachments.clone(),
            source: if quarantined {
                "email_quarantined"
            } else {
                "email"
            },
            at: now,
        };
        let Some(seq) = tx.insert_message(pk, &new).await? else {
            return Ok(Outcome::Duplicate);
        };
        // Only now, so a duplicate leaves no attachments behind in a shared transaction.
        let parts = analysis.attachments.iter().zip(&analysis.attachment_data);
        for ((info, data), id) in parts.zip(ids) {
            tx.insert_attachment(&NewAttachment {
                id,
                site_id: site.id.clone(),
                conversation_pk: pk,
                name: info.name.clone(),
                content_type: info.content_type.clone(),
                data: data.clone(),
                at: now,
            })
            .await?;
        }
        if quarantined {
            // Held for the platform to review: not the visitor's word until someone says so.
            return Ok(Outcome::Quarantined {
                conversation: conv.id,
            });
        }
        // An answer proves its email arrived, whatever the outbox says: the daemon that sent
        // it may have died before it could record so, and a retry would only be withdrawn.
        // Only our own Message-IDs can name an email of ours: the rest cost no query.
        let references: Vec<String> = (analysis.references.iter())
            .filter(|id| ours(id, &site.reply_domain))
            .cloned()
            .collect();
        for (email, messages) in tx.confirm_delivered(pk, &references, now).await? {
            if site.webhook_url.is_some() {
                let hook = webhooks::about_email(&email, messages, "message.forwarded", None, now);
                tx.enqueue_webhook(&hook).await?;
            }
        }
        apply::visitor_wrote(&mut conv, seq, now);
        conv.replied_by_email = true;
        if !conv.open {
            conv.open = true;
            conv.closed_at = None;
            conv.close_transcript_at = None;
        }
        // Written once, with its new due time (not saved, then read back and saved again).
        // The reply is the newest message and the visitor has read all before it: nothing
        // is unread, without asking the database.
        conv.pending_since = None;
        let state = apply::presence(tx, states, &site.id).await?;
        apply::settle_counted(tx, &site, &mut conv, &state).await?;
        if site.webhook_url.is_some() {
            let data = serde_json::json!({
                "conversation": conv.id,
                "visitor": {"id": conv.visitor.id, "email": conv.visitor.email, "name": conv.visitor.name},
                "message": {
                    "id": new.id,
                    "author": "visitor",
                    "name": new.author_name,
                    "text": new.text,
                    "attachments": attachments,
                    "source": "email",
                    "at": now.to_rfc3339(),
                },
            });
            tx.enqueue_webhook(&webhooks::new(&site.id, "message.created", data, now))
                .await?;
        }
        Ok(Outcome::Stored {
            conversation: conv.id,
            message: new.id,
        })
    }

    async fn record_bounce(&self, analysis: &Analysis) -> anyhow::Result<Outcome> {
        let bounce = analysis.bounce.as_ref().expect("a bounce");
        let Some(store) = &self.store else {
            return Ok(Outcome::Dropped("bounce with no database".into()));
        };
        let Some(id) = &bounce.original_message_id else {
            return Ok(Outcome::Dropped("bounce for no email of ours".into()));
        };
        let mut tx = store.begin().await?;
        let Some(email) = tx.email_by_message_id(id).await? else {
            return Ok(Outcome::Dropped("bounce for no email of ours".into()));
        };
        let Some(site) = self.site(&email.site_id) else {
            return Ok(Outcome::Dropped(
                "bounce for a site no longer configured".into(),
            ));
        };
        let now = self.clock.now();
        let reason = format!(
            "bounced{}{}",
            bounce
                .status
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default(),
            bounce
                .recipient
                .as_deref()
                .map(|r| format!(" for {r}"))
                .unwrap_or_default(),
        );
        tx.set_email_failed(&email.id, &reason).await?;
        if site.webhook_url.is_some() {
            let data = serde_json::json!({
                "email": {"message_id": email.message_id, "to": email.rcpt_to},
                "error": reason,
            });
            tx.enqueue_webhook(&webhooks::new(&site.id, "delivery.failed", data, now))
                .await?;
        }
        tx.commit().await?;
        if bounce.permanent {
            apply::suppress(store.as_ref(), &site, &email.rcpt_to, "hard_bounce", now).await?;
        }
        Ok(Outcome::BounceRecorded)
    }
}

/// What a resolved reply is refused or dropped for, if anything.
fn refusal(analysis: &Analysis) -> Option<Outcome> {
    if analysis.kind == Kind::Unroutable {
        return Some(Outcome::Rejected(unroutable(analysis)));
    }
    let v = &analysis.verification;
    if v.decision == "reject" {
        let why = v.reason.clone().unwrap_or_default();
        return Some(Outcome::Rejected(if v.sender_policy.is_none() {
            // The checks did not run: the conversation's site is no longer configured.
            Rejection::UnknownRecipient(why)
        } else if !v.window_open {
            Rejection::WindowClosed
        } else {
            Rejection::Sender(why)
        }));
    }
    if analysis.text.is_empty() && analysis.attachments.is_empty() {
        return Some(Outcome::Dropped("empty reply".into()));
    }
    None
}

/// The refusal of a message no conversation was found for.
fn unroutable(analysis: &Analysis) -> Rejection {
    Rejection::UnknownRecipient(
        (analysis.routing.error.clone())
            .unwrap_or_else(|| "no conversation for this message".into()),
    )
}

/// A reply token whose MAC verified.
struct Token {
    /// The address that carried it.
    address: String,
    /// The site whose MAC it is.
    site: String,
    /// The conversation it names (its primary key).
    pk: i64,
}

/// Why a token whose MAC does not verify is refused.
const FORGED: &str = "forged reply token";

/// Counts what became of an inbound message.
fn count(outcome: &Outcome, kind: Kind) {
    let m = crate::metrics::get();
    let reason = match (outcome, kind) {
        (Outcome::Stored { .. }, _) => {
            m.replies_stored.inc();
            return;
        }
        (Outcome::Rejected(r), _) => r.label(),
        (_, Kind::AutoReply) => "auto_reply",
        (_, Kind::Loop) => "loop",
        (_, Kind::Bounce) | (Outcome::BounceRecorded, _) => "bounce",
        (Outcome::Duplicate, _) => "duplicate",
        (Outcome::Quarantined { .. }, _) => "quarantine",
        (Outcome::Dropped(_), _) => "empty",
    };
    m.replies_rejected
        .get_or_create(&crate::metrics::label("reason", reason))
        .inc();
}

/// Counts a message arriving through `entry` (`smtp`, `lmtp`, `imap`, `ingest`).
pub fn received(entry: &str) {
    crate::metrics::get()
        .replies_received
        .get_or_create(&crate::metrics::label("via", entry))
        .inc();
}

/// The token of a `reply+TOKEN@domain` address.
fn reply_token(address: &str) -> Option<String> {
    let address = address.trim().trim_matches(['<', '>']);
    let (local, _) = address.rsplit_once('@')?;
    let lower = local.to_ascii_lowercase();
    lower.strip_prefix("reply+").map(String::from)
}

/// How many of a reply's referenced Message-IDs are looked up: a real thread's newest few
/// carry ours, and a hostile `References` of thousands must not cost thousands of queries.
pub const MAX_REFERENCES: usize = 20;

/// Whether a Message-ID (with angle brackets) is one we made: ours end in a site's reply
/// domain. Any other names no email of ours and costs no query.
fn ours(message_id: &str, reply_domain: &str) -> bool {
    message_id
        .strip_suffix('>')
        .and_then(|id| id.strip_suffix(reply_domain))
        .is_some_and(|id| id.ends_with('@'))
}

/// Message-IDs a reply refers to, newest first, with angle brackets.
fn referenced_ids(message: &Message<'_>) -> Vec<String> {
    let mut ids = Vec::new();
    for value in [message.in_reply_to(), message.references()] {
        match value {
            mail_parser::HeaderValue::Text(t) => ids.push(format!("<{t}>")),
            mail_parser::HeaderValue::TextList(list) => {
                ids.extend(list.iter().rev().map(|t| format!("<{t}>")))
            }
            _ => {}
        }
    }
    ids.dedup();
    ids.truncate(MAX_REFERENCES);
    ids
}

fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a message is an automatic answer, if it is one (RFC 3834 and the headers and subjects
/// that mail systems use in practice).
pub fn auto_reply_reason(message: &Message<'_>) -> Option<String> {
    for (name, value) in message.headers_raw() {
        let value = value.trim().to_ascii_lowercase();
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "auto-submitted" if value != "no" => return Some(format!("Auto-Submitted: {value}")),
            "precedence" if ["bulk", "junk", "list", "auto_reply"].contains(&value.as_str()) => {
                return Some(format!("Precedence: {value}"))
            }
            "x-autoreply"
            | "x-autorespond"
            | "x-autoresponder"
            | "x-auto-response-suppress"
            | "x-autogenerated" => return Some(format!("{name} header")),
            _ => {}
        }
    }
    let subject = message.subject()?.trim().to_lowercase();
    const SUBJECTS: &[&str] = &[
        "auto:",
        "automatic reply",
        "autoreply",
        "auto-reply",
        "auto reply",
        "out of office",
        "out of the office",
        "away from the office",
        "réponse automatique",
        "absence",
        "automatische antwort",
        "abwesenheitsnotiz",
        "abwesend",
        "respuesta automática",
        "fuera de la oficina",
        "resposta automática",
        "ausente",
        "fora do escritório",
        "risposta automatica",
        "fuori sede",
        "automatisch antwoord",
        "afwezig",
        "автоматический ответ",
        "автоответ",
        "нет на месте",
        "trả lời tự động",
        "vắng mặt",
        "balasan otomatis",
        "di luar kantor",
        "自动回复",
        "自動回覆",
        "自動応答",
        "不在",
        "automatyczna odpowiedź",
        "poza biurem",
        "automatiskt svar",
        "frånvaro",
    ];
    SUBJECTS
        .iter()
        .find(|s| subject.starts_with(*s))
        .map(|s| format!("subject starts with \"{s}\""))
}

/// A delivery-status report (RFC 3464), or a classic bounce from a mailer daemon.
pub fn read_bounce(message: &Message<'_>, envelope: &Envelope) -> Option<Bounce> {
    let is_report = message.parts.iter().any(|p| {
        p.content_type().is_some_and(|c| {
            let sub = c.subtype().unwrap_or_default().to_ascii_lowercase();
            c.ctype().eq_ignore_ascii_case("message")
                && (sub == "delivery-status" || sub == "global-delivery-status")
        })
    });
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let daemon = from.starts_with("mailer-daemon@") || from.starts_with("postmaster@");
    let null_sender = envelope
        .mail_from
        .as_deref()
        .is_some_and(|f| f.is_empty() || f == "<>");
    if !is_report && !(daemon && (null_sender || envelope.mail_from.is_none())) {
        return None;
    }
    let mut bounce = Bounce::default();
    for part in &message.parts {
        let ctype = part.content_type();
        let sub = ctype
            .and_then(|c| c.subtype())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match &part.body {
            PartType::Message(original) => {
                bounce.original_message_id = bounce
                    .original_message_id
                    .or_else(|| original.message_id().map(|id| format!("<{id}>")));
            }
            _ if sub.ends_with("delivery-status") => {
                let text = String::from_utf8_lossy(part.contents()).to_string();
                for line in text.lines() {
                    let Some((k, v)) = line.split_once(':') else {
                        continue;
                    };
                    let v = v.trim();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "status" => bounce.status = Some(v.to_string()),
                        "final-recipient" | "original-recipient" if bounce.recipient.is_none() => {
                            bounce.recipient =
                                Some(v.rsplit(';').next().unwrap_or(v).trim().to_string())
                        }
                        _ => {}
                    }
                }
            }
            _ if sub == "rfc822-headers" || bounce.original_message_id.is_none() => {
                // The returned headers, or a classic bounce quoting them in its text.
                let text = String::from_utf8_lossy(part.contents()).to_string();
                bounce.original_message_id = bounce
                    .original_message_id
                    .or_else(|| quoted_message_id(&text));
            }
            _ => {}
        }
    }
    bounce.permanent = bounce.status.as_deref().is_none_or(|s| s.starts_with('5'));
    Some(bounce)
}

/// The value of a `Message-ID:` header line quoted inside a text.
fn quoted_message_id(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| v.trim().to_string())
            .filter(|v| v.starts_with('<') && v.ends_with('>'))
    })
}

/// The visitor's words: the text part (or the HTML one as text), cut at our "reply above this
/// line" marker, with the quoted history trimmed.
pub fn extract_text(message: &Message<'_>) -> String {
    let body = match message.text_bodies().next() {
        Some(part) => match &part.body {
            PartType::Text(t) => t.to_string(),
            PartType::Html(h) => reply::html_to_text(h),
            _ => String::new(),
        },
        None => String::new(),
    };
    let body = cut_at_marker(&body);
    plain_text(&reply::trim(&body))
}

/// Everything from the line holding our "reply above this line" marker on is our own email.
fn cut_at_marker(body: &str) -> String {
    let markers = crate::i18n::reply_markers();
    let mut out = Vec::new();
    for line in body.lines() {
        let core = line
            .trim()
            .trim_start_matches('>')
            .trim()
            .trim_matches('#')
            .trim();
        if !core.is_empty() && markers.contains(&core) {
            break;
        }
        out.push(line);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Message<'_> {
        MessageParser::default().parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn our_message_ids_end_in_a_reply_domain() {
        assert!(ours("<abc@reply.acme.example>", "reply.acme.example"));
        assert!(!ours("<abc@notreply.acme.example>", "reply.acme.example"));
        assert!(!ours("<abc@reply.acme.example.evil>", "reply.acme.example"));
        assert!(!ours("abc@reply.acme.example", "reply.acme.example"));
    }

    #[test]
    fn only_the_newest_references_are_looked_up() {
        let many: Vec<String> = (0..5000).map(|i| format!("<{i}@x.example>")).collect();
        let raw = format!(
            "From: a@b.example\r\nIn-Reply-To: <4999@x.example>\r\nReferences: {}\r\n\r\nHi\r\n",
            many.join(" ")
        );
        let ids = referenced_ids(&parse(&raw));
        assert_eq!(ids.len(), MAX_REFERENCES);
        assert_eq!(ids[0], "<4999@x.example>");
        assert_eq!(ids[1], "<4998@x.example>");
    }

    #[test]
    fn auto_replies_are_recognised() {
        let headers = [
            "Auto-Submitted: auto-replied",
            "Precedence: bulk",
            "X-Autoreply: yes",
            "Subject: Automatic reply: your question",
            "Subject: Réponse automatique : absent",
            "Subject: Automatische Antwort: Urlaub",
            "Subject: Respuesta automática: vacaciones",
        ];
        for h in headers {
            let raw = format!("From: a@b.example\r\nTo: c@d.example\r\n{h}\r\n\r\nHi\r\n");
            assert!(auto_reply_reason(&parse(&raw)).is_some(), "{h}");
        }
        let human =
            "From: a@b.example\r\nSubject: Re: your question\r\nAuto-Submitted: no\r\n\r\nHi\r\n";
        assert!(auto_reply_reason(&parse(human)).is_none());
    }

    #[test]
    fn the_marker_and_history_are_cut() {
        let raw = "From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYes please!\r\n\r\nOn Mon, 3 Mar 2025 at 10:15, Acme <support@acme.example> wrote:\r\n> ## Reply above this line to answer ##\r\n> Hello\r\n";
        assert_eq!(extract_text(&parse(raw)), "Yes please!");
        let bottom =
            "From: a@b.example\r\n\r\nThanks\r\n## Reply above this line to answer ##\r\nold";
        assert_eq!(extract_text(&parse(bottom)), "Thanks");
    }

    #[test]
    fn a_dsn_is_read() {
        let raw = "From: MAILER-DAEMON@mx.example\r\nTo: support@acme.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <abc@reply.acme.example>\r\nSubject: Your conversation\r\n--b--\r\n";
        let b = read_bounce(&parse(raw), &Envelope::default()).unwrap();
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("<abc@reply.acme.example>")
        );
        assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
    }
}
