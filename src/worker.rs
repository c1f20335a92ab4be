//! The scheduler and the sender: turns due conversations into outbox emails, and outbox emails
//! into deliveries.
//!
//! Work is claimed with a lease, one item at a time. [`Worker::try_execute_task`] does one item
//! and says what it did, so tests drive the worker step by step; [`Worker::run`] is the daemon's
//! loop around it, sleeping until the next due time or until an event wakes it.

mod composing;
mod delivery;
mod retention;

use crate::clock::Clock;
use crate::config::Shared;
use crate::outbound::Transport;
use crate::store::{Store, WebhookEvent, WebhookStatus};
use crate::token::TokenKeys;
use crate::triggers::NotDue;
use crate::webhooks::Poster;
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
    /// Whether a batch of the last composing round came back full: more is due than one batch
    /// takes, so where the database lets writers work side by side, the next round composes
    /// several (see `Worker::compose`).
    backlog: Arc<std::sync::atomic::AtomicBool>,
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
            backlog: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Does one round of work: composes a batch of due emails, else delivers a batch of ready
    /// ones, else posts one webhook, else drops a batch of what is past its retention. Returns
    /// what it did, one step per item; empty when idle.
    pub async fn try_execute_task(&self) -> anyhow::Result<Vec<Step>> {
        let steps = self.compose().await?;
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
