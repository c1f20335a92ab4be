//! How each event changes what is stored, and how a conversation's due time follows from it.
//!
//! A batch is applied in one transaction: every event or none. After the events, each touched
//! conversation's due time is computed again by [`triggers::due`] and stored, which is what lets
//! the scheduler look only at due conversations.

use crate::config::Site;
use crate::events::{Event, EventKind, FieldError, PresenceState};
use crate::store::{Conversation, NewMessage, SiteState, Store, Tx};
use crate::triggers::{self, Facts};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// Why a batch was refused.
#[derive(Debug)]
pub enum ApplyError {
    /// The request is at fault (it names a message that does not exist, say): a 400.
    Invalid(FieldError),
    /// The database is: a 500, and the platform should retry.
    Store(anyhow::Error),
}

impl From<anyhow::Error> for ApplyError {
    fn from(e: anyhow::Error) -> Self {
        ApplyError::Store(e)
    }
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
    let mut touched = BTreeSet::new();
    let mut presence_changed = false;
    let mut outcome = Applied::default();
    for event in events {
        // An event may describe the past; one from the future (clock skew) happened now.
        let at = event.at.map_or(now, |t| t.min(now));
        if let Some(id) = &event.id {
            if tx.event_seen(&site.id, id, now).await? {
                outcome.replayed += 1;
                continue;
            }
        }
        outcome.applied += 1;
        if let EventKind::Agents { online } = event.kind {
            let mut state = tx.site_state(&site.id).await?;
            state.agents_online = Some(online);
            state.agents_offline_since = match online {
                0 => state.agents_offline_since.or(Some(at)),
                _ => None,
            };
            tx.save_site_state(&site.id, &state).await?;
            presence_changed = true;
            continue;
        }
        let conv = apply_one(tx.as_mut(), site, event, at).await?;
        touched.insert(conv);
    }
    if presence_changed {
        touched.extend(tx.owing_conversations(&site.id).await?);
    }
    for pk in touched {
        refresh(tx.as_mut(), site, pk).await?;
    }
    tx.notify_work().await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Applies one conversation event; returns the conversation's number.
async fn apply_one(
    tx: &mut dyn Tx,
    site: &Site,
    event: &Event,
    at: DateTime<Utc>,
) -> Result<i64, ApplyError> {
    let conv_id = event
        .kind
        .conversation()
        .expect("site-wide events handled by the caller");
    let field = |name: &str| {
        if event.field.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", event.field)
        }
    };
    let existing = tx.conversation(&site.id, conv_id).await?;
    let mut c = match (existing, &event.kind) {
        (Some(c), _) => c,
        // These make sense for a conversation we have not heard of: they start it.
        (
            None,
            EventKind::Visitor { .. } | EventKind::Message { .. } | EventKind::Presence { .. },
        ) => tx.create_conversation(&site.id, conv_id, at).await?,
        (None, _) => {
            return Err(ApplyError::Invalid(FieldError::new(
                field("conversation"),
                format!("unknown conversation `{conv_id}`"),
            )))
        }
    };
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
                source: "chat",
                at,
            };
            // A message id seen before is a replay: the first copy stands.
            if let Some(seq) = tx.insert_message(c.pk, &new).await? {
                if message.author == crate::domain::AuthorKind::Visitor {
                    visitor_wrote(&mut c, seq, at);
                } else if message.author.is_reply() {
                    c.last_agent_message_at = later(c.last_agent_message_at, at);
                }
            }
        }
        EventKind::MessageDeleted { message_id, .. } => {
            if !tx.delete_message(c.pk, message_id).await? {
                return Err(unknown_message(field("message_id"), message_id));
            }
        }
        EventKind::Read { message_id, .. } => {
            let Some(seq) = tx.message_seq(c.pk, message_id).await? else {
                return Err(unknown_message(field("message_id"), message_id));
            };
            c.read_seq = c.read_seq.max(seq);
            c.last_activity_at = later(c.last_activity_at, at);
        }
        EventKind::Presence { state, .. } => {
            match state {
                PresenceState::Active => {
                    if c.left_at.is_some_and(|left| at >= left) {
                        c.left_at = None;
                    }
                }
                PresenceState::Left => {
                    if c.last_activity_at.is_none_or(|a| at >= a) {
                        c.left_at = Some(at);
                    }
                }
            }
            c.last_activity_at = later(c.last_activity_at, at);
        }
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
            // Reopened before the transcript went: the conversation is not over after all.
            c.close_transcript_at = None;
        }
        EventKind::Agents { .. } => unreachable!("handled by the caller"),
    }
    tx.save_conversation(&c).await?;
    Ok(c.pk)
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
    }
}

/// Loads what the triggers need for `c` inside `tx`.
pub async fn load_facts(
    tx: &mut dyn Tx,
    site: &Site,
    c: &mut Conversation,
) -> anyhow::Result<Facts> {
    c.pending_since = tx.pending_since(c.pk, c.read_seq).await?;
    let state = tx.site_state(&site.id).await?;
    let suppressed = match &c.visitor.email {
        Some(email) => tx.is_suppressed(&site.id, email).await?,
        None => false,
    };
    Ok(facts(c, &state, suppressed))
}

/// Recomputes and stores a conversation's due time.
pub async fn refresh(tx: &mut dyn Tx, site: &Site, pk: i64) -> anyhow::Result<()> {
    let Some(mut c) = tx.conversation_by_pk(pk).await? else {
        return Ok(());
    };
    let facts = load_facts(tx, site, &mut c).await?;
    c.due_at = triggers::due(&facts, &site.triggers).ok().map(|d| d.at);
    tx.save_conversation(&c).await
}

/// Stops all email to an address of a site (unsubscribe, hard bounce, complaint).
pub async fn suppress(
    store: &dyn Store,
    site: &Site,
    email: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    if tx.is_suppressed(&site.id, email).await? {
        return Ok(());
    }
    tx.suppress(&site.id, email, reason, now).await?;
    for pk in tx.conversations_of(&site.id, email).await? {
        refresh(tx.as_mut(), site, pk).await?;
    }
    if site.webhook_url.is_some() {
        let data = serde_json::json!({"email": email, "reason": reason});
        tx.enqueue_webhook(&crate::webhooks::new(
            &site.id,
            "visitor.suppressed",
            data,
            now,
        ))
        .await?;
    }
    tx.commit().await
}
