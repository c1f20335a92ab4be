//! The events the chat platform posts to `POST /v1/events`, parsed from JSON into values the rest
//! of the daemon can trust. Every refusal names the field at fault (`events[2].message.author`).

use crate::domain::{parse_timezone, Attachment, AuthorKind, Locale, VisitorEmail};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Longest id, name or similar short string we accept.
const MAX_SHORT: usize = 256;
/// Longest message text: generous for chat, bounded for memory.
const MAX_TEXT: usize = 64 * 1024;
/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;
const MAX_ATTACHMENTS: usize = 50;

/// One event, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The platform's id for the event; a replay with the same id is ignored.
    pub id: Option<String>,
    /// When it happened; `None` means now.
    pub at: Option<DateTime<Utc>>,
    pub kind: EventKind,
    /// Where in the request it was (`events[3]` or the empty string), for errors found later.
    pub field: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Visitor {
        conversation: String,
        visitor: VisitorInfo,
    },
    Message {
        conversation: String,
        message: ChatMessage,
    },
    MessageDeleted {
        conversation: String,
        message_id: String,
    },
    Read {
        conversation: String,
        message_id: String,
    },
    Presence {
        conversation: String,
        state: PresenceState,
    },
    Agents {
        online: u32,
    },
    Closed {
        conversation: String,
    },
    Reopened {
        conversation: String,
    },
    /// What the visitor's browser says of their language and time zone (`widget.js`), used
    /// only where the platform has not said: never posted to `/v1/events`.
    Browser {
        conversation: String,
        locale: Option<Locale>,
        timezone: Option<chrono_tz::Tz>,
    },
}

impl EventKind {
    /// The conversation the event is about; `None` for site-wide events.
    pub fn conversation(&self) -> Option<&str> {
        match self {
            EventKind::Visitor { conversation, .. }
            | EventKind::Message { conversation, .. }
            | EventKind::MessageDeleted { conversation, .. }
            | EventKind::Read { conversation, .. }
            | EventKind::Presence { conversation, .. }
            | EventKind::Closed { conversation }
            | EventKind::Reopened { conversation }
            | EventKind::Browser { conversation, .. } => Some(conversation),
            EventKind::Agents { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VisitorInfo {
    pub id: String,
    pub email: Option<VisitorEmail>,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub timezone: Option<chrono_tz::Tz>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub id: String,
    pub author: AuthorKind,
    pub name: Option<String>,
    pub text: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Active,
    Left,
}

/// What is wrong with a request, and where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

// The JSON shapes, one per event type, without the common `type`, `id` and `at`.

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireConversation {
    conversation: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireVisitor {
    conversation: String,
    #[schema(inline)]
    visitor: WireVisitorInfo,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireVisitorInfo {
    id: String,
    email: Option<String>,
    name: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireMessage {
    conversation: String,
    #[schema(inline)]
    message: WireChatMessage,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireChatMessage {
    id: String,
    author: AuthorKind,
    name: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    #[schema(inline)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireMessageRef {
    conversation: String,
    message_id: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WirePresence {
    conversation: String,
    state: PresenceState,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WireAgents {
    online: u32,
}

/// Every event `type`, as the parser's match takes them (a test holds the two together).
pub const EVENT_TYPES: [&str; 8] = [
    "visitor",
    "message",
    "message_deleted",
    "read",
    "presence",
    "agents",
    "closed",
    "reopened",
];

/// The JSON shape of each event type (the structs the parser reads, with `type`, `id` and
/// `at` beside their fields), for the API's OpenAPI document, in [`EVENT_TYPES`]' order.
pub fn wire_schemas() -> Vec<(
    &'static str,
    utoipa::openapi::RefOr<utoipa::openapi::Schema>,
)> {
    use utoipa::PartialSchema;
    vec![
        ("visitor", WireVisitor::schema()),
        ("message", WireMessage::schema()),
        ("message_deleted", WireMessageRef::schema()),
        ("read", WireMessageRef::schema()),
        ("presence", WirePresence::schema()),
        ("agents", WireAgents::schema()),
        ("closed", WireConversation::schema()),
        ("reopened", WireConversation::schema()),
    ]
}

/// Parses a request body: one event, or `{"events": [...]}`.
pub fn parse_body(body: &[u8]) -> Result<Vec<Event>, FieldError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("body", format!("not valid JSON: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(FieldError::new("body", "expected a JSON object"));
    };
    if let Some(events) = top.remove("events") {
        if let Some(other) = top.keys().next() {
            return Err(FieldError::new(
                other.clone(),
                "unknown field beside `events`",
            ));
        }
        let Value::Array(events) = events else {
            return Err(FieldError::new("events", "expected an array of events"));
        };
        if events.is_empty() {
            return Err(FieldError::new("events", "is empty"));
        }
        if events.len() > MAX_BATCH {
            return Err(FieldError::new(
                "events",
                format!(
                    "has {} events; at most {MAX_BATCH} per request",
                    events.len()
                ),
            ));
        }
        events
            .into_iter()
            .enumerate()
            .map(|(i, e)| parse_event(e, &format!("events[{i}]")))
            .collect()
    } else {
        Ok(vec![parse_event(Value::Object(top), "")?])
    }
}

fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// Deserializes `value` into `T`, naming the failing field under `prefix`.
/// `value` as `T`, or the error with the field at fault named under `prefix`: a missing or
/// unknown field by its own name, not its parent's. For every JSON body the API reads.
pub(crate) fn wire<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing or unknown field is reported by its parent; name the field itself.
        let field = match (
            inner.strip_prefix("missing field `"),
            inner.strip_prefix("unknown field `"),
        ) {
            (Some(rest), _) | (_, Some(rest)) => {
                let name = match rest.split('`').next().unwrap_or_default() {
                    // A key that is the empty string still gets a name a reader can see.
                    "" => "\"\"",
                    name => name,
                };
                let parent = if path == "." { "" } else { path.as_str() };
                if parent == name || parent.ends_with(&format!(".{name}")) {
                    join(prefix, parent)
                } else {
                    join(&join(prefix, parent), name)
                }
            }
            _ => join(prefix, if path == "." { "" } else { &path }),
        };
        // The whole body (a single event's own value) when there is no narrower field.
        let field = if field.is_empty() {
            "body".into()
        } else {
            field
        };
        FieldError::new(field, inner)
    })
}

fn short(value: String, field: &str) -> Result<String, FieldError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(FieldError::new(field, "is empty"));
    }
    if value.len() > MAX_SHORT {
        return Err(FieldError::new(
            field,
            format!("is longer than {MAX_SHORT} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(value)
}

/// A display name: control characters (a header-injection vector) become spaces.
fn display_name(value: Option<String>, field: &str) -> Result<Option<String>, FieldError> {
    let Some(v) = value else { return Ok(None) };
    let cleaned = crate::domain::clean_name(&v);
    if cleaned.len() > MAX_SHORT {
        return Err(FieldError::new(
            field,
            format!("is longer than {MAX_SHORT} bytes"),
        ));
    }
    Ok((!cleaned.is_empty()).then_some(cleaned))
}

fn parse_event(value: Value, prefix: &str) -> Result<Event, FieldError> {
    let Value::Object(mut map) = value else {
        return Err(FieldError::new(prefix, "expected an event object"));
    };
    let f = |name: &str| join(prefix, name);
    let kind = match map.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(FieldError::new(f("type"), "expected a string")),
        None => return Err(FieldError::new(f("type"), "is required")),
    };
    let id = match map.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(short(s, &f("id"))?),
        Some(_) => return Err(FieldError::new(f("id"), "expected a string")),
    };
    let at = match map.remove("at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(&s)
                .map_err(|e| FieldError::new(f("at"), format!("not an RFC 3339 time: {e}")))?
                .with_timezone(&Utc),
        ),
        Some(_) => return Err(FieldError::new(f("at"), "expected an RFC 3339 string")),
    };
    let rest = Value::Object(map);
    let conv = |c: String| short(c, &f("conversation"));
    let kind = match kind.as_str() {
        "visitor" => visitor_event(rest, prefix)?,
        "message" => message_event(rest, prefix)?,
        "message_deleted" | "read" => {
            let w: WireMessageRef = wire(rest, prefix)?;
            let conversation = conv(w.conversation)?;
            let message_id = short(w.message_id, &f("message_id"))?;
            if kind == "read" {
                EventKind::Read {
                    conversation,
                    message_id,
                }
            } else {
                EventKind::MessageDeleted {
                    conversation,
                    message_id,
                }
            }
        }
        "presence" => {
            let w: WirePresence = wire(rest, prefix)?;
            EventKind::Presence {
                conversation: conv(w.conversation)?,
                state: w.state,
            }
        }
        "agents" => {
            let w: WireAgents = wire(rest, prefix)?;
            EventKind::Agents { online: w.online }
        }
        "closed" | "reopened" => {
            let w: WireConversation = wire(rest, prefix)?;
            let conversation = conv(w.conversation)?;
            if kind == "closed" {
                EventKind::Closed { conversation }
            } else {
                EventKind::Reopened { conversation }
            }
        }
        other => {
            return Err(FieldError::new(
                f("type"),
                format!(
                    "unknown event type `{other}`; expected one of {}",
                    EVENT_TYPES.join(", ")
                ),
            ))
        }
    };
    Ok(Event {
        id,
        at,
        kind,
        field: prefix.to_string(),
    })
}

/// A `visitor` event: who the visitor is, each field checked.
fn visitor_event(rest: Value, prefix: &str) -> Result<EventKind, FieldError> {
    let f = |name: &str| join(prefix, name);
    let conv = |c: String| short(c, &f("conversation"));
    let w: WireVisitor = wire(rest, prefix)?;
    let v = w.visitor;
    let vf = |name: &str| f(&format!("visitor.{name}"));
    Ok(EventKind::Visitor {
        conversation: conv(w.conversation)?,
        visitor: VisitorInfo {
            id: short(v.id, &vf("id"))?,
            email: v
                .email
                .map(|e| VisitorEmail::parse(&e).map_err(|m| FieldError::new(vf("email"), m)))
                .transpose()?,
            name: display_name(v.name, &vf("name"))?,
            locale: v
                .locale
                .map(|l| Locale::parse(&l).map_err(|m| FieldError::new(vf("locale"), m)))
                .transpose()?,
            timezone: v
                .timezone
                .map(|t| parse_timezone(&t).map_err(|m| FieldError::new(vf("timezone"), m)))
                .transpose()?,
        },
    })
}

/// A `message` event: its text and attachments within the limits, its names on one line.
fn message_event(rest: Value, prefix: &str) -> Result<EventKind, FieldError> {
    let f = |name: &str| join(prefix, name);
    let conv = |c: String| short(c, &f("conversation"));
    let w: WireMessage = wire(rest, prefix)?;
    let m = w.message;
    let mf = |name: &str| f(&format!("message.{name}"));
    if m.text.len() > MAX_TEXT {
        return Err(FieldError::new(
            mf("text"),
            format!("is longer than {MAX_TEXT} bytes"),
        ));
    }
    if m.text.trim().is_empty() && m.attachments.is_empty() {
        return Err(FieldError::new(
            mf("text"),
            "is empty and there are no attachments",
        ));
    }
    if m.attachments.len() > MAX_ATTACHMENTS {
        return Err(FieldError::new(
            mf("attachments"),
            format!("more than {MAX_ATTACHMENTS}"),
        ));
    }
    for (i, a) in m.attachments.iter().enumerate() {
        if !(a.url.starts_with("https://") || a.url.starts_with("http://"))
            || a.url.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(FieldError::new(
                mf(&format!("attachments[{i}].url")),
                "must be an http:// or https:// URL",
            ));
        }
        short(a.name.clone(), &mf(&format!("attachments[{i}].name")))?;
    }
    Ok(EventKind::Message {
        conversation: conv(w.conversation)?,
        message: ChatMessage {
            id: short(m.id, &mf("id"))?,
            author: m.author,
            name: display_name(m.name, &mf("name"))?,
            text: crate::domain::plain_text(&m.text),
            attachments: m.attachments,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_documented_and_parsed() {
        let documented: Vec<&str> = wire_schemas().into_iter().map(|(name, _)| name).collect();
        assert_eq!(documented, EVENT_TYPES);
        for kind in EVENT_TYPES {
            let e = parse_event(serde_json::json!({"type": kind}), "").unwrap_err();
            assert_ne!(e.field, "type", "{kind}: {e}");
        }
    }

    fn err(body: &str) -> FieldError {
        parse_body(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn single_and_batch() {
        let one = parse_body(
            br#"{"type":"agents","online":2,"id":"e1","at":"2026-01-01T10:00:00+01:00"}"#,
        )
        .unwrap();
        assert_eq!(one[0].kind, EventKind::Agents { online: 2 });
        assert_eq!(one[0].at.unwrap().to_rfc3339(), "2026-01-01T09:00:00+00:00");
        let many = parse_body(
            br#"{"events":[{"type":"closed","conversation":"c"},{"type":"presence","conversation":"c","state":"left"}]}"#,
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[1].field, "events[1]");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(err("{").field, "body");
        assert_eq!(err(r#"{"conversation":"c"}"#).field, "type");
        assert_eq!(err(r#"{"type":"nope"}"#).field, "type");
        assert_eq!(
            err(r#"{"events":[{"type":"closed","conversation":"c"},{"type":"message","conversation":"c","message":{"id":"m","author":"admin","text":"x"}}]}"#).field,
            "events[1].message.author"
        );
        assert_eq!(
            err(r#"{"type":"message","conversation":"c","message":{"author":"agent","text":"x"}}"#)
                .field,
            "message.id"
        );
        assert_eq!(
            err(r#"{"type":"visitor","conversation":"c","visitor":{"id":"v","email":"nope"}}"#)
                .field,
            "visitor.email"
        );
        assert_eq!(
            err(r#"{"type":"visitor","conversation":"c","visitor":{"id":"v","timezone":"Mars/Base"}}"#).field,
            "visitor.timezone"
        );
        assert_eq!(
            err(r#"{"type":"closed","conversation":"c","extra":1}"#).field,
            "extra"
        );
        assert_eq!(
            err(r#"{"type":"closed","conversation":"c","at":"yesterday"}"#).field,
            "at"
        );
        assert_eq!(
            err(r#"{"type":"presence","conversation":"c","state":"away"}"#).field,
            "state"
        );
    }

    #[test]
    fn names_lose_control_characters() {
        let e = parse_body(
            b"{\"type\":\"visitor\",\"conversation\":\"c\",\"visitor\":{\"id\":\"v\",\"name\":\"Eve\\r\\nBcc: x@y.z\"}}",
        )
        .unwrap();
        let EventKind::Visitor { visitor, .. } = &e[0].kind else {
            panic!()
        };
        assert_eq!(visitor.name.as_deref(), Some("Eve Bcc: x@y.z"));
    }
}
