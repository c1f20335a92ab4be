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
//! The files: [`types`] (what is found out, what becomes of it), [`auth`] (pure: what the
//! operator's MTA says of the sender's DMARC), [`classify`] (pure: auto-replies, loops, the
//! reply's words, references), `flowed` (pure: `format=flowed` text joined back), `eight_bit`
//! (a text part's bytes read again where they were no UTF-8: old clients' Latin-1), [`read`]
//! (pure: one message read, classified and routed by token), [`report`] (pure: delivery
//! reports and complaints read and classified, hard or soft), `smime` (pure: a reply signed
//! opaquely with S/MIME read out of its signature), `tnef` (pure: Outlook's `winmail.dat`, its
//! files and body), `route` (reply tokens and
//! `In-Reply-To`, sender and window checks), `commit` (the group commit that stores replies),
//! `bounce` (a report recorded against its email), `count` (metrics).

pub mod auth;
mod bounce;
pub mod classify;
mod commit;
mod count;
mod eight_bit;
mod flowed;
pub mod read;
pub mod report;
mod route;
mod smime;
mod tnef;
pub mod types;

pub use classify::{auto_reply_reason, extract_text, MAX_REFERENCES};
pub use count::received;
pub use report::read_report;
pub use types::*;

use crate::clock::Clock;
use crate::config::{Config, InboundLimits, Shared, SiteRef};
use crate::store::Store;
use crate::token::TokenKeys;
use crate::verp::BounceAddress;
use commit::{unroutable, Job};
use count::count;
use route::route_token;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The inbound pipeline, shared by every entry point.
#[derive(Clone)]
pub struct Inbound {
    /// Where replies are stored and what they are routed against.
    store: Arc<dyn Store>,
    /// Read afresh for each message, so a reload applies to the next one.
    config: Shared,
    /// The keys reply tokens are checked with (reloaded with the config).
    keys: TokenKeys,
    clock: Clock,
    /// The queue of replies waiting to be committed, started on first use (see
    /// [`Inbound::commit_group`]).
    committer: Arc<std::sync::OnceLock<mpsc::Sender<Job>>>,
}

impl Inbound {
    pub fn new(store: Arc<dyn Store>, config: Shared, keys: TokenKeys, clock: Clock) -> Self {
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
        let checked = self.recipient_check(rcpt);
        if let Err(rejection) = &checked {
            // Counted like a refusal after DATA: a forged token is as much a refusal here.
            count::refused(rejection);
        }
        checked
    }

    fn recipient_check(&self, rcpt: &str) -> Result<(), Rejection> {
        use crate::list_unsubscribe::{recognise, Recognised};
        match recognise(&self.config.current(), &self.keys, rcpt) {
            Some(Recognised::Email { .. }) => return Ok(()),
            Some(Recognised::Forged) => {
                return Err(Rejection::UnknownRecipient(
                    "no such unsubscribe address".into(),
                ))
            }
            None => {}
        }
        match crate::verp::recognise(&self.config.current(), &self.keys, rcpt) {
            Some(BounceAddress::Email { .. } | BounceAddress::Shared) => return Ok(()),
            Some(BounceAddress::Forged) => {
                return Err(Rejection::UnknownRecipient("no such bounce address".into()))
            }
            None => {}
        }
        match route_token(
            &self.config.current(),
            Some(&self.keys),
            &[rcpt.to_string()],
        ) {
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
        let resolved = match self.store.begin_read().await {
            Ok(mut tx) => (self.resolve(&mut analysis, tx.as_mut(), &mut Default::default()))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = resolved {
            analysis.routing.error = Some(format!("database: {e:#}"));
            analysis.not_routed();
            return Ok(analysis);
        }
        Ok(analysis)
    }

    /// Parses, classifies, extracts and routes by reply token: all that needs no database
    /// (see [`read::read`]).
    pub fn read(&self, raw: &[u8], envelope: &Envelope) -> Result<Analysis, Rejection> {
        read::read(raw, envelope, &self.config.current(), Some(&self.keys))
    }

    /// Runs the whole pipeline on one message and acts on it. A message the envelope gives to
    /// several conversations (one SMTP transaction for two reply addresses, as an MTA groups
    /// recipients of one domain) is delivered once to each, as LMTP would; an error on any
    /// copy is an error for the whole, so the sender tries again and the copies already stored
    /// are duplicates then.
    pub async fn deliver(&self, raw: &[u8], envelope: &Envelope) -> anyhow::Result<Outcome> {
        let copies = self.copies(envelope);
        if copies.len() <= 1 {
            return self.deliver_one(raw, envelope).await;
        }
        let mut outcomes = Vec::with_capacity(copies.len());
        for rcpt in copies {
            let one = Envelope {
                mail_from: envelope.mail_from.clone(),
                rcpt_to: vec![rcpt],
            };
            outcomes.push(self.deliver_one(raw, &one).await?);
        }
        Ok(combined(outcomes))
    }

    /// The envelope recipients that name distinct conversations by a genuine reply token.
    fn copies(&self, envelope: &Envelope) -> Vec<String> {
        if envelope.rcpt_to.len() < 2 {
            return Vec::new();
        }
        let config = self.config.current();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for rcpt in &envelope.rcpt_to {
            let token = route_token(&config, Some(&self.keys), std::slice::from_ref(rcpt));
            if let Ok(Some(token)) = token {
                if seen.insert((token.site, token.pk)) {
                    out.push(rcpt.clone());
                }
            }
        }
        out
    }

    /// The pipeline for one copy of a message.
    #[tracing::instrument(name = "inbound", skip_all, fields(message_id, conversation))]
    async fn deliver_one(&self, raw: &[u8], envelope: &Envelope) -> anyhow::Result<Outcome> {
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
        if !analysis.too_large.is_empty() {
            (crate::metrics::get().attachments_too_large).inc_by(analysis.too_large.len() as u64);
        }
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
            Kind::Unsubscribe => self.unsubscribe_by_mail(&analysis).await?,
            Kind::Reply => self.store_reply(analysis).await?,
        };
        tracing::info!(kind = ?kind, %outcome, "inbound message handled");
        count(&outcome, kind);
        Ok(outcome)
    }

    /// A message to an email's unsubscribe address: no more email to the address that email
    /// went to, as its link would do.
    async fn unsubscribe_by_mail(&self, analysis: &Analysis) -> anyhow::Result<Outcome> {
        let Some((site_id, email_id)) = analysis.unsubscribe.clone() else {
            // Apple Mail's unsubscribe message sent somewhere that names no email of ours.
            return Ok(Outcome::Dropped(
                "unsubscribe mail naming no email of ours".into(),
            ));
        };
        let Some(site) = self.site(&site_id) else {
            return Ok(Outcome::Dropped("site no longer configured".into()));
        };
        let mut tx = self.store.begin_read().await?;
        let email = tx.email_by_id(&email_id).await?;
        drop(tx);
        let Some(email) = email.filter(|e| e.site_id == site.id) else {
            return Ok(Outcome::Dropped("unsubscribe for no email of ours".into()));
        };
        let now = self.clock.now();
        let cause = format!(
            "unsubscribe mail {} about {}",
            analysis.message_id.as_deref().unwrap_or("(no Message-ID)"),
            email.message_id
        );
        let (store, to) = (self.store.as_ref(), &email.rcpt_to);
        crate::apply::suppress(store, &site, to, "unsubscribed", &cause, now).await?;
        Ok(Outcome::Unsubscribed)
    }

    fn site(&self, id: &str) -> Option<SiteRef> {
        SiteRef::by_id(self.config.current(), id)
    }
}

/// What `inspect` shows where there is no database to route against: the message read and
/// classified; a reply (or auto-reply) is unroutable, since no token can be checked.
pub fn analyze_detached(
    raw: &[u8],
    envelope: &Envelope,
    config: &Config,
) -> Result<Analysis, Rejection> {
    let mut analysis = read::read(raw, envelope, config, None)?;
    if matches!(analysis.kind, Kind::Reply | Kind::AutoReply) {
        analysis.routing = Routing {
            via: Via::None,
            error: Some(NO_DATABASE.into()),
            ..Routing::default()
        };
        analysis.not_routed();
    }
    Ok(analysis)
}

/// Why nothing routes without a database.
const NO_DATABASE: &str = "no database: no site matched";

/// What one answer says about a message delivered to several conversations: stored if any copy
/// was (the others were refused after the recipients were accepted, and a refusal now would
/// tell the sender that the stored copies were lost), else what the first copy came to.
fn combined(outcomes: Vec<Outcome>) -> Outcome {
    let stored = outcomes
        .iter()
        .position(|o| matches!(o, Outcome::Stored { .. } | Outcome::Quarantined { .. }));
    let mut outcomes = outcomes;
    outcomes.swap_remove(stored.unwrap_or(0))
}
