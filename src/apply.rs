//! How each event changes what is stored, and how a conversation's due time follows from it.
//!
//! A batch is applied in one transaction: every event or none. After the events, each touched
//! conversation's due time is computed again by [`triggers::due`] and stored, which is what lets
//! the scheduler look only at due conversations.

use crate::config::Site;
use crate::domain::MessageSource;
use crate::events::{Event, EventKind, FieldError, PresenceState};
use crate::store::{Conversation, NewMessage, SiteState, Store, Tx};
use crate::triggers::{self, Facts};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

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

/// Applies a batch of events for `site`, all or nothing.
pub async fn apply_batch(
    store: &dyn Store,
    site: &Site,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let mut tx = store.begin().await?;
    // Every conversation the batch touches is read once, changed in memory by all its events,
    // and written once at the end with its new due time.
    let mut batch = Batch {
        touched: HashMap::new(),
        stale: HashSet::new(),
        suppressed: HashMap::new(),
        state: tx.site_state(&site.id).await?,
        owing_read: false,
    };
    let mut by_id: HashMap<&str, i64> = HashMap::new();
    let mut presence_changed = false;
    let mut outcome = Applied::default();
    // The stored ones among them, in one query rather than one per conversation.
    let mut named: Vec<&str> = events
        .iter()
        .filter_map(|e| e.kind.conversation())
        .collect();
    named.sort_unstable();
    named.dedup();
    for c in tx.conversations(&site.id, &named).await? {
        let id = named[named.binary_search(&c.id.as_str()).expect("asked for")];
        by_id.insert(id, c.pk);
        batch.touched.insert(c.pk, c);
    }
    for event in events {
        // An event may describe the past; one from the future (clock skew) happened now.
        let at = event.at.map_or(now, |t| t.min(now));
        if let Some(id) = &event.id {
            if tx.event_seen(&site.id, id, now).await? {
                outcome.replayed += 1;
                continue;
            }
        }
        let conv_id = match (&event.kind, event.kind.conversation()) {
            (EventKind::Agents { online }, _) => {
                batch.agents(tx.as_mut(), site, *online, at).await?;
                presence_changed = true;
                outcome.applied += 1;
                continue;
            }
            (_, Some(id)) => id,
            (_, None) => continue,
        };
        let pk = match by_id.get(conv_id) {
            Some(pk) => *pk,
            None => {
                let c = start_conversation(tx.as_mut(), site, event, conv_id, at).await?;
                let pk = c.pk;
                batch.touched.insert(pk, c);
                by_id.insert(conv_id, pk);
                pk
            }
        };
        batch.keep_fell_due(tx.as_mut(), site, pk, at).await?;
        let c = batch.touched.get_mut(&pk).expect("just inserted");
        match apply_one(tx.as_mut(), site, event, at, c).await? {
            Unread::Followed => {}
            Unread::Recount => {
                batch.stale.insert(pk);
            }
            // A message id already stored, earlier in this batch or before: not applied.
            Unread::Replayed => {
                outcome.replayed += 1;
                continue;
            }
        }
        outcome.applied += 1;
    }
    if presence_changed {
        tx.save_site_state(&site.id, &batch.state).await?;
    }
    batch.finish(tx.as_mut(), site).await?;
    tx.notify_work().await?;
    tx.commit().await?;
    Ok(outcome)
}

/// What a batch holds in memory between its events.
struct Batch {
    /// Every conversation the batch touched, by pk: read once, written once at the end.
    touched: HashMap<i64, Conversation>,
    /// Those whose `pending_since` a read or a deletion may have changed: asked of the
    /// database again only when it matters.
    stale: HashSet<i64>,
    /// Whether a conversation's address is suppressed, asked once per batch (events do not
    /// change it).
    suppressed: HashMap<i64, bool>,
    /// The site's presence as the batch has changed it so far, written once at the end.
    state: SiteState,
    /// Whether every conversation owing email is in `touched` (an `agents` event needs them).
    owing_read: bool,
}

impl Batch {
    /// An `agents` event: presence changes what every conversation owing email is due on, so
    /// each first keeps the instant its email fell due before the change.
    async fn agents(
        &mut self,
        tx: &mut dyn Tx,
        site: &Site,
        online: u32,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.read_owing(tx, site).await?;
        let pks: Vec<i64> = self.touched.keys().copied().collect();
        for pk in pks {
            self.keep_fell_due(tx, site, pk, at).await?;
        }
        self.state.agents_online = Some(online);
        self.state.agents_offline_since = match online {
            0 => self.state.agents_offline_since.or(Some(at)),
            _ => None,
        };
        Ok(())
    }

    /// Writes every touched conversation back with its new due time.
    async fn finish(self, tx: &mut dyn Tx, site: &Site) -> anyhow::Result<()> {
        let Batch {
            mut touched,
            stale,
            suppressed,
            state,
            ..
        } = self;
        for c in touched.values_mut() {
            let recount = stale.contains(&c.pk);
            let known = suppressed.get(&c.pk).copied();
            finish(tx, site, c, &state, recount, known).await?;
        }
        Ok(())
    }

    async fn read_owing(&mut self, tx: &mut dyn Tx, site: &Site) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.owing_read, true) {
            return Ok(());
        }
        for pk in tx.owing_conversations(&site.id).await? {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.touched.entry(pk) {
                if let Some(c) = tx.conversation_by_pk(pk).await? {
                    slot.insert(c);
                }
            }
        }
        Ok(())
    }

    /// Before an event that happened at `at` is applied to conversation `pk`: if its email
    /// had fallen due by then, the instant is kept (see [`triggers::fell_due_before`]).
    async fn keep_fell_due(
        &mut self,
        tx: &mut dyn Tx,
        site: &Site,
        pk: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Some(c) = self.touched.get_mut(&pk) else {
            return Ok(());
        };
        let owes = c.pending_since.is_some() || c.close_transcript_at.is_some();
        let Some(email) = c.visitor.email.as_deref().filter(|_| owes) else {
            return Ok(());
        };
        let suppressed = match self.suppressed.get(&pk) {
            Some(known) => *known,
            None => {
                let known = tx.is_suppressed(&site.id, email).await?;
                self.suppressed.insert(pk, known);
                known
            }
        };
        let fell = |c: &Conversation| {
            triggers::fell_due_before(&facts(c, &self.state, suppressed), &site.triggers, at)
        };
        // A stale `pending_since` is no later than the exact one, and a later one only puts the
        // email off: when the stale one says "not due yet", so would the exact one.
        if fell(c).is_some() && self.stale.remove(&pk) {
            c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
        }
        if let Some(at) = fell(c) {
            c.fell_due_at = Some(at);
        }
        Ok(())
    }
}

/// Starts the conversation an event names that is not stored (the batch read every stored
/// one up front), if the event is one that can start it.
async fn start_conversation(
    tx: &mut dyn Tx,
    site: &Site,
    event: &Event,
    conv_id: &str,
    at: DateTime<Utc>,
) -> Result<Conversation, ApplyError> {
    match &event.kind {
        // These make sense for a conversation we have not heard of: they start it.
        EventKind::Visitor { .. } | EventKind::Message { .. } | EventKind::Presence { .. } => {
            Ok(tx.create_conversation(&site.id, conv_id, at).await?)
        }
        _ => Err(ApplyError::Invalid(FieldError::new(
            field_of(event, "conversation"),
            format!("unknown conversation `{conv_id}`"),
        ))),
    }
}

/// `events[2].message_id` for an event at `events[2]`.
fn field_of(event: &Event, name: &str) -> String {
    if event.field.is_empty() {
        name.to_string()
    } else {
        format!("{}.{name}", event.field)
    }
}

/// Whether `pending_since` (the oldest unread, unforwarded reply) is still right after an
/// event. It is kept exact in the row, so new messages only move it forward in memory; a read
/// or a deletion can uncover an older reply, and it is asked of the database again.
#[derive(Debug, PartialEq, Eq)]
enum Unread {
    Followed,
    Recount,
    /// The event was a message whose id is already stored: the first copy stands.
    Replayed,
}

/// Applies one conversation event to `c` (messages are written at once; `c` is written by
/// the caller).
async fn apply_one(
    tx: &mut dyn Tx,
    site: &Site,
    event: &Event,
    at: DateTime<Utc>,
    c: &mut Conversation,
) -> Result<Unread, ApplyError> {
    let field = |name: &str| field_of(event, name);
    match &event.kind {
        EventKind::Visitor { visitor, .. } => {
            c.visitor.id = Some(visitor.id.clone());
            if let Some(email) = &visitor.email {
                c.visitor.email = Some(email.as_str().to_string());
            }
            if let Some(name) = &visitor.name {
                c.visitor.name = Some(name.clone());
            }
            if let Some(locale) = &visitor.locale {
                c.visitor.locale = Some(locale.as_str().to_string());
            }
            if let Some(tz) = &visitor.timezone {
                c.visitor.timezone = Some(tz.name().to_string());
            }
            // Not activity: the platform may update who the visitor is at any time.
        }
        EventKind::Message { message, .. } => {
            let new = NewMessage {
                id: message.id.clone(),
                author: message.author,
                author_name: message.name.clone(),
                text: message.text.clone(),
                attachments: message.attachments.clone(),
                source: MessageSource::Chat,
                at,
                trimmed: true,
            };
            // A message id seen before is a replay: the first copy stands.
            let Some(seq) = tx.insert_message(c.pk, &new).await? else {
                return Ok(Unread::Replayed);
            };
            if message.author == crate::domain::AuthorKind::Visitor {
                // Everything before the newest message is read: nothing is unread.
                visitor_wrote(c, seq, at);
                c.pending_since = None;
            } else if message.author.is_reply() {
                c.last_agent_message_at = later(c.last_agent_message_at, at);
                c.pending_since = Some(c.pending_since.map_or(at, |p| p.min(at)));
            }
        }
        EventKind::MessageDeleted { message_id, .. } => {
            if !tx.delete_message(c.pk, message_id).await? {
                return Err(unknown_message(field("message_id"), message_id));
            }
            // What fell due is not what is owed now: decided again from the present.
            c.fell_due_at = None;
            return Ok(Unread::Recount);
        }
        EventKind::Read { message_id, .. } => {
            let Some(seq) = tx.message_seq(c.pk, message_id).await? else {
                return Err(unknown_message(field("message_id"), message_id));
            };
            c.read_seq = c.read_seq.max(seq);
            c.last_activity_at = later(c.last_activity_at, at);
            // The visitor is here and reading: what they still owe is decided afresh.
            c.fell_due_at = None;
            return Ok(Unread::Recount);
        }
        EventKind::Presence { state, .. } => visitor_presence(c, *state, at),
        EventKind::Closed { .. } => {
            c.open = false;
            c.closed_at = Some(at);
            if site.content.transcript_on_close && !tx.messages(c.pk).await?.is_empty() {
                c.close_transcript_at = Some(at);
            }
        }
        EventKind::Reopened { .. } => {
            c.open = true;
            c.closed_at = None;
            // The transcript fell due as the conversation closed; reopening is not one of the
            // visitor's reasons to withdraw it, so only one that never fell due (the visitor
            // not yet identified, say) is dropped.
            if c.fell_due_at.is_none() {
                c.close_transcript_at = None;
            }
        }
        EventKind::Browser {
            locale, timezone, ..
        } => {
            // The platform's word stands: the browser's fills only what it left unsaid.
            if c.visitor.locale.is_none() {
                c.visitor.locale = locale.as_ref().map(|l| l.as_str().to_string());
            }
            if c.visitor.timezone.is_none() {
                c.visitor.timezone = timezone.map(|tz| tz.name().to_string());
            }
        }
        EventKind::Agents { .. } => unreachable!("handled by the caller"),
    }
    Ok(Unread::Followed)
}

/// The visitor is on the page, or left it, at `at`.
fn visitor_presence(c: &mut Conversation, state: PresenceState, at: DateTime<Utc>) {
    match state {
        PresenceState::Active => {
            if c.left_at.is_some_and(|left| at >= left) {
                c.left_at = None;
            }
            // Back on the page: they are not gone, whatever fell due while they were.
            c.fell_due_at = None;
        }
        PresenceState::Left => {
            if c.last_activity_at.is_none_or(|a| at >= a) {
                c.left_at = Some(at);
            }
        }
    }
    c.last_activity_at = later(c.last_activity_at, at);
}

fn unknown_message(field: String, id: &str) -> ApplyError {
    ApplyError::Invalid(FieldError::new(field, format!("unknown message `{id}`")))
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

/// Recomputes `c`'s due time from what `tx` holds, with the site's presence `state`, and
/// writes `c` back.
async fn finish(
    tx: &mut dyn Tx,
    site: &Site,
    c: &mut Conversation,
    state: &SiteState,
    recount: bool,
    suppressed: Option<bool>,
) -> anyhow::Result<()> {
    if recount {
        c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
    }
    let suppressed = match (suppressed, &c.visitor.email) {
        (Some(known), _) => known,
        (None, Some(email)) => tx.is_suppressed(&site.id, email).await?,
        (None, None) => false,
    };
    schedule(c, &facts(c, state, suppressed), site);
    tx.save_conversation(c).await
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

/// Recomputes the due time of a conversation changed in memory, and writes it back.
pub async fn settle(tx: &mut dyn Tx, site: &Site, c: &mut Conversation) -> anyhow::Result<()> {
    let state = tx.site_state(&site.id).await?;
    finish(tx, site, c, &state, true, None).await
}

/// [`settle`] for a conversation whose `pending_since` the caller has just set exactly, with
/// the site's presence `state` the caller already has.
pub async fn settle_counted(
    tx: &mut dyn Tx,
    site: &Site,
    c: &mut Conversation,
    state: &SiteState,
) -> anyhow::Result<()> {
    finish(tx, site, c, state, false, None).await
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
