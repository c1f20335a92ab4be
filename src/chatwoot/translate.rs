//! Chatwoot's webhook payloads read as replyrelay's events. Pure: a function of the JSON.
//!
//! Chatwoot's objects, as its webhook documentation shows them: a message event carries the
//! message (`id`, `content`, `message_type`, `private`, `sender`) with its `conversation` and
//! `inbox`; a conversation event is the conversation itself (`id`, `inbox_id`, `status`,
//! `meta.sender` the contact); `contact_updated` is the contact; `webwidget_triggered` names
//! the contact, the inbox and the `current_conversation` the visitor opened the widget on.
//! Ids are numbers in some payloads and strings in others: both are read.

use crate::domain::{AuthorKind, Locale, VisitorEmail};
use crate::events::{ChatMessage, Event, EventKind, FieldError, PresenceState, VisitorInfo};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// What one webhook means for replyrelay.
#[derive(Debug, PartialEq)]
pub enum Translated {
    /// Events to apply, in order.
    Events(Vec<Event>),
    /// `contact_updated`: who the visitor is, for every conversation of theirs.
    Contact(VisitorInfo),
    /// Nothing replyrelay follows (a private note, another inbox, an event it has no use
    /// for): answered 200 so that Chatwoot does not retry it, with the reason.
    Ignored(String),
}

/// Longest message text taken, as `/v1/events` takes.
const MAX_TEXT: usize = 64 * 1024;

/// Reads one webhook. `inboxes` are the inboxes followed (empty: all).
pub fn translate(payload: &Value, inboxes: &[u64]) -> Result<Translated, FieldError> {
    let event = payload
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| FieldError::new("event", "missing: Chatwoot names every webhook's event"))?;
    let ignored = |why: &str| Ok(Translated::Ignored(why.to_string()));
    match event {
        "message_created" | "message_updated" => {
            let conversation = payload.get("conversation").unwrap_or(&Value::Null);
            let inbox = number(payload.pointer("/inbox/id"))
                .or_else(|| number(conversation.get("inbox_id")));
            if !followed(inbox, inboxes) {
                return ignored("an inbox not in inbox_ids");
            }
            let conv = conversation_id(conversation, "conversation.id")?;
            let mut events = vec![visitor_event(&conv, conversation, payload)];
            if let Some(message) = message(payload)? {
                events.push(Event {
                    id: None,
                    at: time(payload.get("created_at")),
                    kind: EventKind::Message {
                        conversation: conv,
                        message,
                    },
                    field: String::new(),
                });
            } else if event == "message_created" {
                return ignored(why_not_a_message(payload));
            }
            Ok(Translated::Events(events))
        }
        "conversation_created"
        | "conversation_updated"
        | "conversation_status_changed"
        | "conversation_resolved"
        | "conversation_opened" => {
            if !followed(number(payload.get("inbox_id")), inboxes) {
                return ignored("an inbox not in inbox_ids");
            }
            let conv = conversation_id(payload, "id")?;
            let mut events = vec![visitor_event(&conv, payload, &Value::Null)];
            let status = payload.get("status").and_then(Value::as_str);
            let kind = match status {
                Some("resolved") => Some(EventKind::Closed {
                    conversation: conv.clone(),
                }),
                // Open again after it was resolved (a no-op on an open conversation).
                Some("open") if event != "conversation_created" => Some(EventKind::Reopened {
                    conversation: conv.clone(),
                }),
                _ => None,
            };
            events.extend(kind.map(|kind| Event {
                id: None,
                at: None,
                kind,
                field: String::new(),
            }));
            Ok(Translated::Events(events))
        }
        "contact_created" | "contact_updated" => match visitor(payload) {
            Some(v) => Ok(Translated::Contact(v)),
            None => ignored("a contact without an id"),
        },
        "webwidget_triggered" => {
            if !followed(number(payload.pointer("/inbox/id")), inboxes) {
                return ignored("an inbox not in inbox_ids");
            }
            let Some(current) = payload.get("current_conversation").filter(|c| !c.is_null()) else {
                return ignored("the widget was opened before any conversation");
            };
            let conv = conversation_id(current, "current_conversation.id")?;
            let locale = (payload.pointer("/event_info/browser_language"))
                .and_then(Value::as_str)
                .and_then(|l| Locale::parse(l).ok());
            let at_now = |kind| Event {
                id: None,
                at: None,
                kind,
                field: String::new(),
            };
            Ok(Translated::Events(vec![
                at_now(EventKind::Presence {
                    conversation: conv.clone(),
                    state: PresenceState::Active,
                }),
                at_now(EventKind::Browser {
                    conversation: conv,
                    locale,
                    timezone: None,
                }),
            ]))
        }
        other => ignored(&format!("`{other}` is not an event replyrelay follows")),
    }
}

/// Whether a conversation of `inbox` is followed.
fn followed(inbox: Option<u64>, inboxes: &[u64]) -> bool {
    inboxes.is_empty() || inbox.is_some_and(|i| inboxes.contains(&i))
}

/// A conversation's id (its `display_id`, which Chatwoot's API paths take), as a string.
fn conversation_id(conversation: &Value, field: &str) -> Result<String, FieldError> {
    id(conversation.get("display_id"))
        .or_else(|| id(conversation.get("id")))
        .ok_or_else(|| FieldError::new(field, "missing: the conversation's id"))
}

/// The visitor of a conversation as an event: the contact in `meta.sender`, or the message's
/// sender when it is the contact.
fn visitor_event(conv: &str, conversation: &Value, message: &Value) -> Event {
    let contact = (conversation.pointer("/meta/sender"))
        .filter(|s| s.get("type").and_then(Value::as_str) != Some("user"))
        .or_else(|| {
            message
                .get("sender")
                .filter(|s| s.get("type").and_then(Value::as_str) == Some("contact"))
        });
    let mut info = contact.and_then(visitor).unwrap_or_else(|| VisitorInfo {
        id: number(conversation.pointer("/contact_inbox/contact_id"))
            .map(|i| i.to_string())
            .unwrap_or_else(|| format!("conversation-{conv}")),
        email: None,
        name: None,
        locale: None,
        timezone: None,
    });
    // The address the visitor typed into the widget's "get notified by email" prompt.
    if info.email.is_none() {
        info.email = (message.pointer("/content_attributes/submitted_email"))
            .and_then(Value::as_str)
            .and_then(|e| VisitorEmail::parse(e).ok());
    }
    Event {
        id: None,
        at: None,
        kind: EventKind::Visitor {
            conversation: conv.to_string(),
            visitor: info,
        },
        field: String::new(),
    }
}

/// A contact as the visitor: its id, and its email and name where they are usable (an address
/// that does not parse is left out rather than refusing the webhook).
fn visitor(contact: &Value) -> Option<VisitorInfo> {
    let text = |k: &str| {
        (contact.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    Some(VisitorInfo {
        id: id(contact.get("id"))?,
        email: text("email").and_then(|e| VisitorEmail::parse(e).ok()),
        name: text("name").map(|n| n.chars().take(256).collect()),
        locale: None,
        timezone: None,
    })
}

/// The chat message a message event carries, if it is one replyrelay keeps: an incoming one
/// is the visitor's, an outgoing one an agent's (or a bot's); private notes, activity lines
/// ("Conversation was resolved") and the widget's forms are not messages the visitor reads.
fn message(payload: &Value) -> Result<Option<ChatMessage>, FieldError> {
    if why_not_a_message(payload).is_empty() {
        let id = id(payload.get("id")).ok_or_else(|| FieldError::new("id", "missing"))?;
        let text = payload
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if text.len() > MAX_TEXT {
            return Err(FieldError::new("content", "longer than 64 KiB"));
        }
        let sender = payload.get("sender").unwrap_or(&Value::Null);
        let author = match (
            message_type(payload),
            sender.get("type").and_then(Value::as_str),
        ) {
            (Some(MessageType::Incoming), _) => AuthorKind::Visitor,
            (_, Some("agent_bot" | "captain_assistant")) => AuthorKind::Bot,
            _ => AuthorKind::Agent,
        };
        let name = (author != AuthorKind::Visitor)
            .then(|| sender.get("available_name").or_else(|| sender.get("name")))
            .flatten()
            .and_then(Value::as_str)
            .map(str::to_string);
        return Ok(Some(ChatMessage {
            id,
            author,
            name,
            text: text.to_string(),
            attachments: Vec::new(),
        }));
    }
    Ok(None)
}

/// Why a message event carries no message to keep; empty when it does.
fn why_not_a_message(payload: &Value) -> &'static str {
    if payload.get("private").and_then(Value::as_bool) == Some(true) {
        return "a private note: never emailed";
    }
    if (payload.pointer("/content_attributes/replyrelay_message")).is_some() {
        return "a visitor's email answer replyrelay posted: in the thread already";
    }
    match message_type(payload) {
        Some(MessageType::Incoming | MessageType::Outgoing) => {}
        Some(MessageType::Other) => return "an activity or template message",
        None => return "a message without a message_type",
    }
    let text = payload.get("content").and_then(Value::as_str);
    if text.is_none_or(|t| t.trim().is_empty()) {
        return "a message without text";
    }
    ""
}

enum MessageType {
    Incoming,
    Outgoing,
    /// Activity (2) and template (3): written by Chatwoot, not by either side.
    Other,
}

/// `message_type` as a word (`incoming`) or, inside a conversation's `messages`, a number (0).
fn message_type(payload: &Value) -> Option<MessageType> {
    Some(match payload.get("message_type")? {
        Value::String(s) if s == "incoming" => MessageType::Incoming,
        Value::String(s) if s == "outgoing" => MessageType::Outgoing,
        Value::Number(n) if n.as_u64() == Some(0) => MessageType::Incoming,
        Value::Number(n) if n.as_u64() == Some(1) => MessageType::Outgoing,
        _ => MessageType::Other,
    })
}

/// An id written as a number or a string.
fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `created_at` as Chatwoot writes it: RFC 3339, `2020-03-03 13:05:57 UTC`, or Unix seconds.
fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => DateTime::from_timestamp(n.as_i64()?, 0),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S UTC")
                    .ok()
                    .map(|t| t.and_utc())
            }),
        _ => None,
    }
}
