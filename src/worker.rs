//! The scheduler and the sender: turns due conversations into outbox emails, and outbox emails
//! into deliveries.
//!
//! Work is claimed with a lease, one item at a time. [`Worker::try_execute_task`] does one item
//! and says what it did, so tests drive the worker step by step; [`Worker::run`] is the daemon's
//! loop around it, sleeping until the next due time or until an event wakes it.

mod retention;

use crate::apply;
use crate::clock::Clock;
use crate::compose;
use crate::config::Shared;
use crate::outbound::{SendError, Transport};
use crate::store::{
    EmailOutcome, EmailStatus, NewWebhook, OutboxEmail, Store, WebhookEvent, WebhookStatus,
};
use crate::token::TokenKeys;
use crate::triggers::{self, NotDue};
use crate::webhooks::{self, Poster};
use chrono::TimeDelta;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A due conversation became an outbox email.
    Composed,
    /// A due conversation turned out not to owe an email (yet); its due time was updated.
    Rescheduled,
    /// An email was accepted by the transport.
    Sent,
    /// An email failed for now and will be tried again.
    Retried,
    /// An email failed for good.
    Failed,
    /// An email was withdrawn before delivery: no longer wanted.
    Cancelled,
    /// A webhook was accepted by the platform.
    WebhookPosted,
    /// A webhook failed for now and will be tried again.
    WebhookRetried,
    /// A webhook failed for good.
    WebhookFailed,
    /// A batch of what is kept past its retention was dropped.
    Expired,
    /// Nothing was due.
    Idle,
}

/// What a relay's refusal says about the address an email went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressFault {
    None,
    /// It is dead: suppressed at once.
    Dead,
    /// A failure about it that does not prove it dead (a full mailbox): one more soft bounce.
    Soft,
}

/// Does the sending. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    config: Shared,
    keys: TokenKeys,
    transport: Transport,
    poster: Poster,
    clock: Clock,
    /// When the loop last went round (ms since the Unix epoch, wall clock): the watchdog pings
    /// systemd only while this keeps moving, so a wedged worker gets the daemon restarted.
    heartbeat: Arc<std::sync::atomic::AtomicI64>,
    /// When the worker next looks for data past its retention (by the worker's clock).
    retention_next: Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        config: Shared,
        keys: TokenKeys,
        transport: Transport,
        trust: &crate::trust::Trust,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            config,
            keys,
            transport,
            poster: Poster::new(trust),
            clock,
            heartbeat: Arc::new(std::sync::atomic::AtomicI64::new(
                chrono::Utc::now().timestamp_millis(),
            )),
            retention_next: Arc::new(std::sync::Mutex::new(chrono::DateTime::UNIX_EPOCH)),
        }
    }

    /// Does one round of work: composes a batch of due emails, else delivers a batch of ready
    /// ones, else posts one webhook, else drops a batch of what is past its retention. Returns
    /// what it did, one step per item; empty when idle.
    pub async fn try_execute_task(&self) -> anyhow::Result<Vec<Step>> {
        let steps = self.compose_batch().await?;
        if !steps.is_empty() {
            return Ok(steps);
        }
        let steps = self.deliver_batch().await?;
        if !steps.is_empty() {
            return Ok(steps);
        }
        match self.post_webhook_one().await? {
            Step::Idle => self.expire_batch().await,
            step => Ok(vec![step]),
        }
    }

    /// Works until nothing is due now; returns the steps taken.
    pub async fn run_until_idle(&self) -> anyhow::Result<Vec<Step>> {
        let mut steps = Vec::new();
        loop {
            let round = self.try_execute_task().await?;
            if round.is_empty() {
                return Ok(steps);
            }
            steps.extend(round);
        }
    }

    /// The daemon's loop: work while there is work, then sleep until the next due time, an
    /// event (`wake`), or `shutdown`.
    pub async fn run(self, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.beat();
            // Never idle long: leases of a dead daemon expire, and the watchdog wants a beat.
            let mut pause = std::time::Duration::from_secs(5);
            loop {
                match self.try_execute_task().await {
                    Ok(steps) if steps.is_empty() => break,
                    Ok(_) => self.beat(),
                    Err(e) => {
                        tracing::error!(error = %e, "worker step failed; retrying shortly");
                        pause = std::time::Duration::from_secs(1);
                        break;
                    }
                }
                // Stop between steps, never in the middle of one.
                if futures_now(&mut shutdown) {
                    return;
                }
            }
            if let Ok(Some(next)) = self.store.next_wakeup().await {
                let now = self.clock.now();
                // A past wake-up means the work is leased elsewhere: look again in a second.
                let until = (next - now)
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(1));
                pause = pause.min(until.max(std::time::Duration::from_millis(10)));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = wake.notified() => {}
                _ = &mut shutdown => return,
            }
        }
    }

    fn beat(&self) {
        self.heartbeat.store(
            chrono::Utc::now().timestamp_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How long ago the loop last went round.
    pub fn since_last_beat(&self) -> std::time::Duration {
        let last = self.heartbeat.load(std::sync::atomic::Ordering::Relaxed);
        let ms = (chrono::Utc::now().timestamp_millis() - last).max(0);
        std::time::Duration::from_millis(ms as u64)
    }

    /// Claims a batch of due conversations and, in one transaction, writes the emails they
    /// still owe to the outbox (one commit for the batch, not one per email).
    ///
    /// Each email is read (what the conversation owes), made (template and MIME: pure work)
    /// and written. Reading and writing need the transaction, so they happen on this task;
    /// making needs neither, so the batch goes in chunks, each made on a blocking thread while
    /// this task reads the next chunk and writes the one before: both cores busy, where three
    /// passes in a row left one idle two thirds of the time. The transaction spans it all, so
    /// nothing read can change before it is written.
    async fn compose_batch(&self) -> anyhow::Result<Vec<Step>> {
        let now = self.clock.now();
        let config = self.config.current();
        // Claimed in the transaction that composes: one commit for both. It need not wait for
        // the disk: no email of the batch leaves before the claim that takes it for sending
        // commits, and that commit's sync makes this one durable too. A power cut before then
        // loses the batch whole, and the conversations, still due, are composed again.
        let mut tx = self.store.begin_deferred().await?;
        let convs = tx.claim_due(now, COMPOSE_BATCH).await?;
        if convs.is_empty() {
            return Ok(Vec::new());
        }
        // A handful is made on this thread: handing it over would cost more than it saves.
        let inline = convs.len() < PARALLEL_MAKE;
        // Presence is per site: read once per site for the whole batch.
        let mut states = std::collections::HashMap::new();
        let mut steps = Vec::with_capacity(convs.len());
        let mut making = std::collections::VecDeque::new();
        let mut convs = convs.into_iter().peekable();
        while convs.peek().is_some() || !making.is_empty() {
            let mut owed = Vec::with_capacity(MAKE_CHUNK);
            for conv in convs.by_ref().take(MAKE_CHUNK) {
                match self
                    .plan(tx.as_mut(), &config, &mut states, conv, now)
                    .await?
                {
                    Some(email) => owed.push(email),
                    None => steps.push(Step::Rescheduled),
                }
            }
            if inline {
                making.push_back(Making::Done(make_chunk(&config, &self.keys, owed, now)));
            } else if !owed.is_empty() {
                let (config, keys) = (config.clone(), self.keys.clone());
                making.push_back(Making::Away(tokio::task::spawn_blocking(move || {
                    make_chunk(&config, &keys, owed, now)
                })));
            }
            // Written in order once the chunk after it is on its way (or there is none).
            if making.len() > MAKING_AHEAD || convs.peek().is_none() {
                let made = match making.pop_front() {
                    Some(Making::Done(made)) => made,
                    Some(Making::Away(handle)) => handle.await?,
                    None => continue,
                };
                for (owed, made) in made {
                    steps.push(self.record(tx.as_mut(), &config, owed, made, now).await?);
                }
            }
        }
        tx.commit().await?;
        Ok(steps)
    }

    /// Reads what one claimed conversation owes now, inside `tx`. `None` when it owes no
    /// email yet: its new due time is already written back.
    #[tracing::instrument(name = "compose", skip_all, fields(site = %conv.site_id, conversation = %conv.id))]
    async fn plan(
        &self,
        tx: &mut dyn crate::store::Tx,
        config: &crate::config::Config,
        states: &mut std::collections::HashMap<String, crate::store::SiteState>,
        mut conv: crate::store::Conversation,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<Owed>> {
        let pk = conv.pk;
        let Some(site) = config.site(&conv.site_id) else {
            // The site was removed from the config: nothing to send on its behalf.
            conv.due_at = None;
            tx.save_schedule(&conv).await?;
            return Ok(None);
        };
        // Everything is checked again now: the visitor may have come back and read.
        let state = apply::presence(tx, states, &site.id).await?;
        let facts = apply::load_facts(tx, site, &conv, &state).await?;
        match triggers::due(&facts, &site.triggers) {
            Ok(due) if due.at <= now => {
                let mut messages = tx.messages(pk).await?;
                // The email carries the conversation as it stood when the email fell due; a
                // reply written after that is the next email's, as it would have been had the
                // worker woken on time.
                let owed_after = compose::pending(&messages, conv.read_seq)
                    .map(|(_, m)| m.at)
                    .filter(|at| *at > due.at)
                    .min();
                messages.retain(|m| m.at <= due.at);
                Ok(Some(Owed {
                    conv,
                    messages,
                    due,
                    facts,
                    owed_after,
                }))
            }
            other => {
                if let Err(reason) = other {
                    tracing::debug!(reason = describe(reason), "no email owed");
                }
                apply::schedule(&mut conv, &facts, site);
                tx.save_schedule(&conv).await?;
                Ok(None)
            }
        }
    }

    /// Writes the email a conversation owes, made from what [`Worker::plan`] read, inside `tx`.
    #[tracing::instrument(name = "compose", skip_all, fields(site = %owed.conv.site_id, conversation = %owed.conv.id))]
    async fn record(
        &self,
        tx: &mut dyn crate::store::Tx,
        config: &crate::config::Config,
        owed: Owed,
        made: Result<compose::Made, compose::MakeError>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Step> {
        let Owed {
            mut conv,
            due,
            facts,
            owed_after,
            ..
        } = owed;
        let pk = conv.pk;
        let site = config.site(&conv.site_id).expect(PLANNED);
        let to = conv
            .visitor
            .email
            .clone()
            .expect("identified: checked by the triggers");
        let made = match made {
            Ok(made) => made,
            Err(compose::MakeError::Address(e)) => {
                // An address the mail system cannot take is as good as a hard bounce.
                tracing::warn!(error = %e, "cannot build an email for this visitor; suppressing the address");
                crate::metrics::get()
                    .emails_failed
                    .get_or_create(&crate::metrics::label("reason", "invalid_address"))
                    .inc();
                tx.suppress(&site.id, &to, "invalid_address", &e.to_string(), now)
                    .await?;
                crate::metrics::suppressed("invalid_address");
                conv.due_at = None;
                conv.fell_due_at = None;
                tx.save_schedule(&conv).await?;
                return Ok(Step::Rescheduled);
            }
            Err(compose::MakeError::Other(e)) => {
                // Our fault (a site's template failing as it renders): the visitor keeps their
                // place and gets the email once it can be made (a fixed template, reloaded).
                tracing::error!(error = %format!("{e:#}"), "cannot make this email; trying again later");
                crate::metrics::get()
                    .emails_failed
                    .get_or_create(&crate::metrics::label("reason", "compose"))
                    .inc();
                conv.due_at = Some(now + config.delivery.retry_initial);
                tx.save_schedule(&conv).await?;
                return Ok(Step::Rescheduled);
            }
        };
        let (id, message_id, raw, selection) = (made.id, made.message_id, made.raw, made.selection);
        let email = OutboxEmail {
            id: id.to_string(),
            conversation_pk: pk,
            conversation_id: conv.id.clone(),
            site_id: site.id.clone(),
            message_id: message_id.clone(),
            // Its own bounce address where the site has one in the reply domain: the report
            // that comes back is tied to this email by its envelope alone.
            mail_from: crate::verp::mail_from(site, &self.keys, crate::verp::number_of(&id)),
            rcpt_to: to,
            status: EmailStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
            last_error: None,
        };
        tx.insert_email(&email, &raw).await?;
        let metrics = crate::metrics::get();
        metrics.emails_queued.inc();
        metrics
            .send_lateness
            .observe((now - due.at).num_milliseconds().max(0) as f64 / 1000.0);
        tx.mark_forwarded(pk, &selection.forward, &email.id).await?;
        conv.unanswered_emails += 1;
        conv.thread.push(message_id);
        if due.kind == triggers::EmailKind::CloseTranscript {
            conv.close_transcript_at = None;
        }
        // Every reply owed when it fell due is now forwarded; what is left is the replies
        // written since: the next due time follows without asking the database again.
        conv.pending_since = owed_after;
        conv.fell_due_at = None;
        let after = triggers::Facts {
            pending_since: owed_after,
            unanswered_emails: conv.unanswered_emails,
            close_transcript_since: conv.close_transcript_at,
            fell_due_at: None,
            ..facts
        };
        apply::schedule(&mut conv, &after, site);
        tx.save_schedule(&conv).await?;
        tracing::info!(email = %email.id, forwarded = selection.forward.len(), "email queued");
        Ok(Step::Composed)
    }

    /// Claims a batch of ready emails, sends them over as many connections as the transport
    /// allows at once, and records the outcomes (and their webhooks) of each group of sends in
    /// one transaction.
    async fn deliver_batch(&self) -> anyhow::Result<Vec<Step>> {
        let now = self.clock.now();
        let config = self.config.current();
        let delivery = &config.delivery;
        let claimed = self
            .store
            .claim_emails(now, now + delivery.lease, BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // As many at once as the transport has connections, and each group's outcomes recorded
        // before the next group goes: a crash can then resend at most one email per connection.
        // (A loop, not stream combinators, keeps the future `Send` for the spawned worker.)
        let mut steps = Vec::with_capacity(claimed.len());
        for chunk in claimed.chunks(self.transport.concurrency().max(1)) {
            let mut attempts = Vec::with_capacity(chunk.len());
            for c in chunk {
                attempts.push(self.attempt(&c.email, &c.raw, c.wanted, now));
            }
            let results = futures_util::future::join_all(attempts).await;
            let mut outcomes = Vec::with_capacity(chunk.len());
            let mut faults = Vec::new();
            for (email, result) in chunk.iter().map(|c| &c.email).zip(results) {
                let (step, outcome, fault) = result?;
                if fault != AddressFault::None {
                    faults.push((email, fault));
                }
                steps.push(step);
                outcomes.push((email, outcome));
            }
            let outcomes = self.with_webhooks(&config, outcomes, now).await?;
            self.store.record_email_outcomes(&outcomes).await?;
            for (email, fault) in faults {
                let Some(site) = config.site(&email.site_id) else {
                    continue;
                };
                let store = self.store.as_ref();
                let to = &email.rcpt_to;
                let cause = format!("the relay's refusal of {}", email.message_id);
                if fault == AddressFault::Dead {
                    apply::suppress(store, site, to, "hard_bounce", &cause, now).await?;
                } else {
                    apply::soft_bounce(store, site, to, &cause, &config.delivery, now).await?;
                }
            }
        }
        Ok(steps)
    }

    /// The outcomes to record, each with its `message.forwarded` or `delivery.failed` webhook
    /// if the site wants them (the forwarded messages read in one transaction).
    async fn with_webhooks(
        &self,
        config: &crate::config::Config,
        outcomes: Vec<(&OutboxEmail, EmailOutcome)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Vec<(String, EmailOutcome, Option<NewWebhook>)>> {
        let mut reads = None;
        let mut out = Vec::with_capacity(outcomes.len());
        for (email, outcome) in outcomes {
            let hook = match &outcome {
                EmailOutcome::Sent { .. } => Some((WebhookEvent::MessageForwarded, None)),
                EmailOutcome::Failed { error } => {
                    Some((WebhookEvent::DeliveryFailed, Some(error.as_str())))
                }
                _ => None,
            };
            let wanted = config
                .site(&email.site_id)
                .is_some_and(|s| s.webhook_url.is_some());
            let webhook = match hook {
                Some((event, error)) if wanted => {
                    let tx = match &mut reads {
                        Some(tx) => tx,
                        None => reads.insert(self.store.begin_read().await?),
                    };
                    // The outbox row already names the conversation; only the messages are
                    // looked up.
                    let messages = tx.forwarded_messages(&email.id).await?;
                    Some(webhooks::about_email(email, messages, event, error, now))
                }
                _ => None,
            };
            out.push((email.id.clone(), outcome, webhook));
        }
        Ok(out)
    }

    /// One delivery attempt: what happened, the outcome to record, and whether the address
    /// turned out not to exist.
    #[tracing::instrument(name = "deliver", skip_all, fields(email = %email.id, conversation = %email.conversation_id, attempt = email.attempts))]
    async fn attempt(
        &self,
        email: &OutboxEmail,
        raw: &[u8],
        still_wanted: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<(Step, EmailOutcome, AddressFault)> {
        let config = self.config.current();
        let delivery = &config.delivery;
        // Checked again at every attempt: a retry may come hours later, after the visitor came
        // back and read the replies, or unsubscribed.
        if !still_wanted {
            let reason = "withdrawn: the visitor read the replies or unsubscribed".to_string();
            tracing::info!(%reason, "email cancelled");
            crate::metrics::get().emails_cancelled.inc();
            return Ok((
                Step::Cancelled,
                EmailOutcome::Cancelled { reason },
                AddressFault::None,
            ));
        }
        let sent = self
            .transport
            .send(&email.mail_from, &email.rcpt_to, raw)
            .await;
        let metrics = crate::metrics::get();
        Ok(match sent {
            Ok(answer) => {
                tracing::info!(%answer, "email sent");
                metrics.emails_sent.inc();
                (
                    Step::Sent,
                    EmailOutcome::Sent {
                        at: self.clock.now(),
                    },
                    AddressFault::None,
                )
            }
            Err(SendError::Transient(reason))
                if now - email.created_at < delivery.give_up_after =>
            {
                let next =
                    now + backoff(email.attempts, delivery.retry_initial, delivery.retry_max);
                tracing::info!(%reason, retry_at = %next, "email deferred");
                metrics.emails_retried.inc();
                (
                    Step::Retried,
                    EmailOutcome::Retry {
                        next,
                        error: reason,
                    },
                    AddressFault::None,
                )
            }
            Err(SendError::Transient(reason)) => {
                let error = format!("gave up after {} attempts: {reason}", email.attempts);
                tracing::warn!(%error, "email failed");
                metrics
                    .emails_failed
                    .get_or_create(&crate::metrics::label("reason", "gave_up"))
                    .inc();
                (
                    Step::Failed,
                    EmailOutcome::Failed { error },
                    AddressFault::None,
                )
            }
            Err(SendError::Permanent {
                reply,
                bad_address,
                soft_bounce,
            }) => {
                tracing::warn!(%reply, "email refused");
                metrics
                    .emails_failed
                    .get_or_create(&crate::metrics::label("reason", "refused"))
                    .inc();
                (
                    Step::Failed,
                    EmailOutcome::Failed { error: reply },
                    match (bad_address, soft_bounce) {
                        (true, _) => AddressFault::Dead,
                        (false, true) => AddressFault::Soft,
                        (false, false) => AddressFault::None,
                    },
                )
            }
        })
    }

    /// Claims one queued webhook and posts it.
    #[tracing::instrument(name = "webhook", skip_all, fields(webhook, event, attempt))]
    async fn post_webhook_one(&self) -> anyhow::Result<Step> {
        let now = self.clock.now();
        let config = self.config.current();
        let delivery = &config.delivery;
        let Some(hook) = self.store.claim_webhook(now, now + delivery.lease).await? else {
            return Ok(Step::Idle);
        };
        tracing::Span::current()
            .record("webhook", hook.id.as_str())
            .record("event", hook.event.as_str())
            .record("attempt", hook.attempts);
        let site = config.site(&hook.site_id);
        let posted = if hook.event == WebhookEvent::ChatwootMessage.as_str() {
            match site.and_then(|s| s.chatwoot.as_ref()) {
                Some(cw) => Some(self.poster.post_to_chatwoot(cw, &hook.payload).await),
                None => None,
            }
        } else {
            match site.and_then(|s| Some((s.webhook_url.as_deref()?, s.webhook_secret.as_deref()?)))
            {
                Some((url, secret)) => {
                    Some(self.poster.post(url, secret, &hook.payload, now).await)
                }
                None => None,
            }
        };
        let Some(posted) = posted else {
            let error = "the site has no webhook_url or [site.chatwoot] any more";
            self.store
                .record_webhook_outcome(&hook.id, WebhookStatus::Failed, None, Some(error))
                .await?;
            return Ok(Step::WebhookFailed);
        };
        match posted {
            Ok(()) => {
                self.store
                    .record_webhook_outcome(&hook.id, WebhookStatus::Delivered, None, None)
                    .await?;
                webhook_metric("delivered");
                Ok(Step::WebhookPosted)
            }
            Err(error) if now - hook.created_at < delivery.give_up_after => {
                let next = now + backoff(hook.attempts, delivery.retry_initial, delivery.retry_max);
                tracing::info!(%error, retry_at = %next, "webhook deferred");
                self.store
                    .record_webhook_outcome(
                        &hook.id,
                        WebhookStatus::Pending,
                        Some(next),
                        Some(&error),
                    )
                    .await?;
                webhook_metric("retried");
                Ok(Step::WebhookRetried)
            }
            Err(error) => {
                tracing::warn!(%error, "webhook failed");
                self.store
                    .record_webhook_outcome(&hook.id, WebhookStatus::Failed, None, Some(&error))
                    .await?;
                webhook_metric("failed");
                Ok(Step::WebhookFailed)
            }
        }
    }
}

fn webhook_metric(result: &str) {
    crate::metrics::get()
        .webhooks
        .get_or_create(&crate::metrics::label("result", result))
        .inc();
}

/// How many emails one delivery round takes on.
const BATCH: u32 = 64;

/// How many due conversations one composing transaction takes on. Its commit (a WAL write and
/// an fsync) and hand-offs are shared by the batch, and a backlog drains in fewer of them;
/// the transaction holds the write lock for a few milliseconds per 100.
const COMPOSE_BATCH: u32 = 256;

/// From this many conversations in a batch, emails are made on blocking threads: below it,
/// the hand-off costs more than it saves.
const PARALLEL_MAKE: usize = 8;

/// How many emails are made in one piece of a batch.
const MAKE_CHUNK: usize = 32;

/// Chunks being made while this task reads and writes: with two, both cores stay busy.
const MAKING_AHEAD: usize = 2;

/// A chunk of a batch's emails, made here or on a blocking thread.
enum Making {
    Done(Vec<(Owed, Result<compose::Made, compose::MakeError>)>),
    Away(tokio::task::JoinHandle<Vec<(Owed, Result<compose::Made, compose::MakeError>)>>),
}

/// Makes the emails owed, in order: pure work, no I/O.
fn make_chunk(
    config: &crate::config::Config,
    keys: &TokenKeys,
    owed: Vec<Owed>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(Owed, Result<compose::Made, compose::MakeError>)> {
    let public_url = config.api.public_url.as_deref().unwrap_or_default();
    owed.into_iter()
        .map(|o| {
            let site = config.site(&o.conv.site_id).expect(PLANNED);
            let made = compose::make(
                site,
                keys,
                public_url,
                o.due.kind,
                &o.conv,
                &o.messages,
                now,
            );
            (o, made)
        })
        .collect()
}

/// Why a batch's site look-ups after [`Worker::plan`] cannot fail: the batch is planned, made
/// and recorded under one config snapshot, and `plan` set aside conversations of unknown sites.
const PLANNED: &str = "plan found the site in this same config";

/// An email a conversation owes, with what making it needs; read by [`Worker::plan`].
struct Owed {
    conv: crate::store::Conversation,
    messages: Vec<crate::store::Message>,
    due: triggers::Due,
    /// What the triggers saw: the next due time, after this email, follows from them.
    facts: triggers::Facts,
    /// The oldest reply owed that was written after the email fell due, left for the next.
    owed_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// The wait before attempt `attempts + 1`: `initial`, doubling, at most `max`.
pub fn backoff(attempts: u32, initial: TimeDelta, max: TimeDelta) -> TimeDelta {
    let factor = 1i32
        .checked_shl(attempts.saturating_sub(1).min(30))
        .unwrap_or(i32::MAX);
    initial.checked_mul(factor).unwrap_or(max).min(max)
}

/// Whether `fut` has already completed, without waiting for it.
fn futures_now<F: Future<Output = ()> + Unpin>(fut: &mut F) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::Pin::new(fut).poll(&mut cx).is_ready()
}

/// Why a conversation owes no email, for logs and the API.
pub fn describe(reason: NotDue) -> &'static str {
    match reason {
        NotDue::ModeOff => "mode is off",
        NotDue::NotIdentified => "visitor has no email address",
        NotDue::Suppressed => "address is suppressed",
        NotDue::NothingUnread => "no unread reply",
        NotDue::ReachWindowClosed => "reach-back window closed",
        NotDue::TooManyUnanswered => "too many unanswered emails",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = TimeDelta::seconds;
        assert_eq!(backoff(1, s(30), s(3600)), s(30));
        assert_eq!(backoff(2, s(30), s(3600)), s(60));
        assert_eq!(backoff(4, s(30), s(3600)), s(240));
        assert_eq!(backoff(20, s(30), s(3600)), s(3600));
        assert_eq!(backoff(200, s(30), s(3600)), s(3600));
    }
}
