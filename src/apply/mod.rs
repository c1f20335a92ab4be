//! How each event changes what is stored, and how a conversation's due time follows from it.
//!
//! A batch is applied in one transaction: every event or none. After the events, each touched
//! conversation's due time is computed again by [`triggers::due`] and stored, which is what lets
//! the scheduler look only at due conversations.

mod batch;
mod event;

pub use batch::apply_batch;

use crate::config::Site;
use crate::events::FieldError;
use crate::store::{Conversation, SiteState, Store, Tx};
use crate::triggers::{self, Facts};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The request is at fault (it names a message that does not exist, say): a 400.
    #[error("invalid request: {0}")]
    Invalid(FieldError),
    /// The database is: a 500, and the platform should retry.
    #[error("storage failed: {0:#}")]
    Store(#[from] anyhow::Error),
}

/// What a batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub applied: usize,
    /// Events whose id had been seen before, skipped.
    pub replayed: usize,
}

fn later(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// The visitor wrote (in the chat or by email): they have seen everything so far, they are
/// active, and the reach-back window and unanswered count start again.
pub fn visitor_wrote(c: &mut Conversation, seq: i64, at: DateTime<Utc>) {
    c.read_seq = c.read_seq.max(seq);
    c.last_visitor_message_at = later(c.last_visitor_message_at, at);
    c.last_activity_at = later(c.last_activity_at, at);
    if c.left_at.is_some_and(|left| at >= left) {
        c.left_at = None;
    }
    c.unanswered_emails = 0;
    // They wrote: whatever fell due before is decided afresh from what they have now seen.
    c.fell_due_at = None;
}

/// The triggers' view of a conversation.
pub fn facts(c: &Conversation, state: &SiteState, suppressed: bool) -> Facts {
    Facts {
        identified: c.visitor.email.is_some(),
        suppressed,
        pending_since: c.pending_since,
        last_agent_message_at: c.last_agent_message_at,
        left_at: c.left_at,
        last_activity_at: c.last_activity_at,
        started_at: c.created_at,
        agents_offline_since: state.agents_offline_since,
        last_visitor_message_at: c.last_visitor_message_at,
        unanswered_emails: c.unanswered_emails,
        close_transcript_since: c.close_transcript_at,
        fell_due_at: c.fell_due_at,
    }
}

/// Sets `c`'s due time from `facts`. When nothing is owed (read, suppressed, ...), an instant
/// kept from before is moot and goes too.
pub fn schedule(c: &mut Conversation, facts: &Facts, site: &Site) {
    c.due_at = triggers::due(facts, &site.triggers).ok().map(|d| d.at);
    if c.due_at.is_none() {
        c.fell_due_at = None;
    }
}

/// Recomputes and stores a conversation's due time.
pub async fn refresh(tx: &mut dyn Tx, site: &Site, pk: i64) -> anyhow::Result<()> {
    let Some(mut c) = tx.conversation_by_pk(pk).await? else {
        return Ok(());
    };
    settle(tx, site, &mut c).await
}

/// Recomputes the due time of a conversation changed in memory from what `tx` holds (what is
/// unread, the site's presence, suppression), and writes it back.
pub async fn settle(tx: &mut dyn Tx, site: &Site, c: &mut Conversation) -> anyhow::Result<()> {
    let state = tx.site_state(&site.id).await?;
    c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
    let suppressed = match &c.visitor.email {
        Some(email) => tx.is_suppressed(&site.id, email).await?,
        None => false,
    };
    schedule(c, &facts(c, &state, suppressed), site);
    tx.save_conversation(c).await
}

/// A site's presence, read from `tx` at most once for all the conversations of a batch.
pub async fn presence(
    tx: &mut dyn Tx,
    states: &mut HashMap<String, SiteState>,
    site: &str,
) -> anyhow::Result<SiteState> {
    if let Some(state) = states.get(site) {
        return Ok(state.clone());
    }
    let state = tx.site_state(site).await?;
    states.insert(site.to_string(), state.clone());
    Ok(state)
}

/// Lifts an address's suppression (the operator's decision: a relay that misbehaved, say): its
/// conversations may owe email again. `false` if it was not suppressed.
pub async fn lift(
    store: &dyn Store,
    site: &Site,
    email: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    if !tx.lift_suppression(&site.id, email).await? {
        return Ok(false);
    }
    // Lifted, it starts afresh: the failures before do not count against it again.
    tx.clear_soft_bounces(&site.id, email).await?;
    for pk in tx.conversations_of(&site.id, email).await? {
        refresh(tx.as_mut(), site, pk).await?;
    }
    if site.webhook_url.is_some() {
        let hook = crate::webhooks::unsuppressed(&site.id, &email.to_lowercase(), now);
        tx.enqueue_webhook(&hook).await?;
    }
    tx.notify_work().await?;
    tx.commit().await?;
    Ok(true)
}

/// Puts an email of `site` back in the queue, to be tried now (an operator's retry, once the
/// relay is fixed); the other daemons are told there is work.
pub async fn retry_email(
    store: &dyn Store,
    site: &Site,
    id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<crate::store::RetryOutcome> {
    let mut tx = store.begin().await?;
    let outcome = tx.retry_email(&site.id, id, now).await?;
    if outcome == crate::store::RetryOutcome::Queued {
        tx.notify_work().await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Erases a visitor of `site` (their right to erasure): every conversation, message,
/// attachment and email of theirs, and the webhooks that carry them, in one transaction, with
/// `visitor.erased` queued in it. Their suppression stays, as a keyed hash of the address.
pub async fn erase(
    store: &dyn Store,
    site: &Site,
    visitor_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<crate::store::Erased> {
    let mut tx = store.begin().await?;
    let erased = tx.erase_visitor(&site.id, visitor_id).await?;
    if site.webhook_url.is_some() {
        tx.enqueue_webhook(&crate::webhooks::erased(&site.id, visitor_id, &erased, now))
            .await?;
    }
    tx.commit().await?;
    Ok(erased)
}

/// Counts a soft failure for an address (see [`crate::failure::soft_bounced`]) and suppresses
/// it as `soft_bounced` once there are enough in a row over long enough. Returns whether it
/// was suppressed.
pub async fn soft_bounce(
    store: &dyn Store,
    site: &Site,
    email: &str,
    failure: &str,
    delivery: &crate::config::DeliveryConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    let (count, first) = tx.soft_bounce(&site.id, email, now).await?;
    tx.commit().await?;
    crate::metrics::get().soft_bounces.inc();
    let (limit, span) = (delivery.soft_bounce_limit, delivery.soft_bounce_span);
    if !crate::failure::soft_bounced(count, first, now, limit, span) {
        return Ok(false);
    }
    crate::metrics::get()
        .emails_failed
        .get_or_create(&crate::metrics::label("reason", "soft_bounced"))
        .inc();
    let cause = format!(
        "{count} soft failures in a row since {}, the last: {failure}",
        first.to_rfc3339()
    );
    suppress(store, site, email, "soft_bounced", &cause, now).await?;
    Ok(true)
}

/// Stops all email to an address of a site (unsubscribe, hard bounce, complaint); `cause`
/// says what caused it, for the operator who may lift it.
pub async fn suppress(
    store: &dyn Store,
    site: &Site,
    email: &str,
    reason: &str,
    cause: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    if tx.is_suppressed(&site.id, email).await? {
        return Ok(());
    }
    tx.suppress(&site.id, email, reason, cause, now).await?;
    for pk in tx.conversations_of(&site.id, email).await? {
        refresh(tx.as_mut(), site, pk).await?;
    }
    if site.webhook_url.is_some() {
        let hook = crate::webhooks::suppressed(&site.id, email, reason, cause, now);
        tx.enqueue_webhook(&hook).await?;
    }
    tx.commit().await?;
    crate::metrics::suppressed(reason);
    Ok(())
}
