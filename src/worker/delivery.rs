//! Delivery: a claimed batch of emails sent in groups, as many at once as the transport has
//! connections, each group's outcomes recorded before the next group goes. A crash at any
//! instant resends at most one email per connection: the group sent and not yet recorded.

use super::{backoff, AddressFault, Step, Worker};
use crate::apply;
use crate::outbound::SendError;
use crate::store::{EmailOutcome, NewWebhook, OutboxEmail, WebhookEvent};
use crate::webhooks;
use chrono::{DateTime, Utc};

/// How many emails one delivery round takes on.
const BATCH: u32 = 64;

impl Worker {
    /// Claims a batch of ready emails, sends them over as many connections as the transport
    /// allows at once, and records the outcomes (and their webhooks) of each group of sends in
    /// one transaction.
    pub(super) async fn deliver_batch(&self) -> anyhow::Result<Vec<Step>> {
        let now = self.clock.now();
        let delivery = &self.config.current().delivery;
        let claimed = (self.store)
            .claim_emails(now, now + delivery.lease, BATCH)
            .await?;
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
            for (c, result) in chunk.iter().zip(results) {
                let (step, outcome, fault) = result?;
                steps.push(step);
                outcomes.push((&c.email, outcome, fault));
            }
            self.record_outcomes(outcomes, now).await?;
        }
        Ok(steps)
    }

    /// Records outcomes with their webhooks in one transaction, then suppresses the addresses
    /// the relay's answers proved dead and counts the soft bounces.
    async fn record_outcomes(
        &self,
        outcomes: Vec<(&OutboxEmail, EmailOutcome, AddressFault)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let config = self.config.current();
        let faults: Vec<(&OutboxEmail, AddressFault)> = (outcomes.iter())
            .filter(|(_, _, fault)| *fault != AddressFault::None)
            .map(|(email, _, fault)| (*email, *fault))
            .collect();
        let outcomes = outcomes.into_iter().map(|(e, o, _)| (e, o)).collect();
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
        Ok(())
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
                failed("gave_up", error, AddressFault::None)
            }
            Err(SendError::Permanent {
                reply,
                bad_address,
                soft_bounce,
            }) => {
                tracing::warn!(%reply, "email refused");
                let fault = match (bad_address, soft_bounce) {
                    (true, _) => AddressFault::Dead,
                    (false, true) => AddressFault::Soft,
                    (false, false) => AddressFault::None,
                };
                failed("refused", reply, fault)
            }
        })
    }
}

/// An email failed for good: counted under `reason` in the metrics, recorded with `error`.
fn failed(reason: &str, error: String, fault: AddressFault) -> (Step, EmailOutcome, AddressFault) {
    (crate::metrics::get().emails_failed)
        .get_or_create(&crate::metrics::label("reason", reason))
        .inc();
    (Step::Failed, EmailOutcome::Failed { error }, fault)
}
