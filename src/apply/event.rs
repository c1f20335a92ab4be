//! What one event does to its conversation, in memory; the batch (`batch.rs`) reads and writes
//! the rows around it.

use super::batch::NewMessages;
use super::{later, visitor_wrote, ApplyError};
use crate::config::Site;
use crate::domain::{AuthorKind, MessageSource};
use crate::events::{ChatMessage, Event, EventKind, FieldError, PresenceState};
use crate::store::{Conversation, NewMessage, Tx};
use chrono::{DateTime, Utc};

/// Whether `pending_since` (the oldest unread, unforwarded reply) is still right after an
/// event. It is kept exact in the row, so new messages only move it forward in memory; a read
/// or a deletion can uncover an older reply, and it is asked of the database again.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unread {
    Followed,
    Recount,
    /// The event was a message whose id is already stored: the first copy stands.
    Replayed,
}

/// Whether an event can start a conversation we have not heard of.
pub(super) fn starts(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Visitor { .. } | EventKind::Message { .. } | EventKind::Presence { .. }
    )
}

/// Whether an event reads the conversation's stored messages, so that the batch's new ones
/// must be written first.
pub(super) fn reads_messages(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Read { .. } | EventKind::MessageDeleted { .. } | EventKind::Closed { .. }
    )
}

/// The error for an event naming a conversation that is not stored and that it cannot start.
pub(super) fn unknown_conversation(event: &Event, conv_id: &str) -> ApplyError {
    ApplyError::Invalid(FieldError::new(
        field_of(event, "conversation"),
        format!("unknown conversation `{conv_id}`"),
    ))
}

/// `events[2].message_id` for an event at `events[2]`.
fn field_of(event: &Event, name: &str) -> String {
    if event.field.is_empty() {
        name.to_string()
    } else {
        format!("{}.{name}", event.field)
    }
}

/// Applies one conversation event to `c`. A new message goes to `messages`, to be written
/// with the batch's others; `c` is written by the caller.
pub(super) async fn apply_one(
    tx: &mut dyn Tx,
    site: &Site,
    event: &Event,
    at: DateTime<Utc>,
    c: &mut Conversation,
    messages: &mut NewMessages,
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
            if !chat_message(c, message, at, messages) {
                return Ok(Unread::Replayed);
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

/// A chat message, added to `messages` and followed in `c`; `false` if its id is taken (a
/// replay: the first copy stands).
fn chat_message(
    c: &mut Conversation,
    message: &ChatMessage,
    at: DateTime<Utc>,
    messages: &mut NewMessages,
) -> bool {
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
    let Some(seq) = messages.add(c.pk, new) else {
        return false;
    };
    if message.author == AuthorKind::Visitor {
        // Everything before the newest message is read: nothing is unread.
        visitor_wrote(c, seq, at);
        c.pending_since = None;
    } else if message.author.is_reply() {
        c.last_agent_message_at = later(c.last_agent_message_at, at);
        c.pending_since = Some(c.pending_since.map_or(at, |p| p.min(at)));
    }
    true
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
