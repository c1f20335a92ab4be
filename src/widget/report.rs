//! What a page may report through `POST /v1/widget/events`, parsed into the daemon's events
//! for the one conversation its token names. Only presence and reads: a token leaked from a
//! page cannot post messages, identify a visitor or close a conversation.
//!
//! The body is JSON however it is labelled: `widget.js` sends it as `text/plain`, which a
//! browser sends across origins without a preflight, and which `navigator.sendBeacon` sends
//! from a closing tab.

use crate::domain::{parse_timezone, Locale};
use crate::events::{Event, EventKind, FieldError, PresenceState};
use serde::Deserialize;

/// One report, as the page sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireReport {
    /// The widget token the platform minted for this page.
    pub token: String,
    /// The conversation the page shows; its token must name the same one.
    pub conversation: String,
    #[serde(rename = "type")]
    pub kind: ReportKind,
    /// With `presence`: `active` or `left`.
    pub state: Option<PresenceState>,
    /// With `read`: the newest message the visitor has seen.
    pub message_id: Option<String>,
    /// The browser's language (`navigator.language`).
    pub locale: Option<String>,
    /// The browser's time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Presence,
    Read,
}

/// The fields a report may carry.
const FIELDS: [&str; 7] = [
    "token",
    "conversation",
    "type",
    "state",
    "message_id",
    "locale",
    "timezone",
];

/// The body, or what is wrong with it and where.
pub fn parse(body: &[u8]) -> Result<WireReport, FieldError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| FieldError::new("", format!("not JSON: {e}")))?;
    let Some(map) = value.as_object() else {
        return Err(FieldError::new("", "expected a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            unknown.clone(),
            "is not a field of a widget report (a page may only report presence and reads)",
        ));
    }
    crate::events::wire(value, "")
}

/// The events a report stands for in its conversation. A browser's language or time zone that
/// is not one is dropped, not refused: a presence report must never be lost to it.
pub fn events(report: &WireReport) -> Result<Vec<Event>, FieldError> {
    let event = |kind| Event {
        id: None,
        at: None,
        kind,
        field: String::new(),
    };
    let conversation = report.conversation.clone();
    match report.kind {
        ReportKind::Presence => {
            let state = report
                .state
                .ok_or_else(|| FieldError::new("state", "is required with presence"))?;
            let mut events = vec![event(EventKind::Presence {
                conversation: conversation.clone(),
                state,
            })];
            let locale = report.locale.as_deref().and_then(|l| Locale::parse(l).ok());
            let timezone = report
                .timezone
                .as_deref()
                .and_then(|z| parse_timezone(z).ok());
            if locale.is_some() || timezone.is_some() {
                events.push(event(EventKind::Browser {
                    conversation,
                    locale,
                    timezone,
                }));
            }
            Ok(events)
        }
        ReportKind::Read => {
            let message_id = report
                .message_id
                .clone()
                .filter(|m| !m.is_empty() && m.len() <= 256)
                .ok_or_else(|| {
                    FieldError::new("message_id", "is required with read (at most 256 bytes)")
                })?;
            Ok(vec![event(EventKind::Read {
                conversation,
                message_id,
            })])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::left(
        r#"{"token":"t","conversation":"c1","type":"presence","state":"left"}"#,
        1
    )]
    #[case::active_with_browser(
        r#"{"token":"t","conversation":"c1","type":"presence","state":"active","locale":"es-ES","timezone":"Europe/Madrid"}"#,
        2
    )]
    #[case::browser_nonsense_dropped(
        r#"{"token":"t","conversation":"c1","type":"presence","state":"active","locale":"??","timezone":"Mars/Olympus"}"#,
        1
    )]
    #[case::read(
        r#"{"token":"t","conversation":"c1","type":"read","message_id":"m2"}"#,
        1
    )]
    fn a_report_becomes_the_events_it_stands_for(#[case] body: &str, #[case] count: usize) {
        let report = parse(body.as_bytes()).unwrap();
        let events = events(&report).unwrap();
        assert_eq!(events.len(), count);
        assert!(events.iter().all(|e| e.kind.conversation() == Some("c1")));
    }

    #[rstest]
    #[case::message(r#"{"token":"t","conversation":"c1","type":"message"}"#, "type")]
    #[case::closed(r#"{"token":"t","conversation":"c1","type":"closed"}"#, "type")]
    #[case::extra_field(
        r#"{"token":"t","conversation":"c1","type":"presence","state":"left","visitor":{}}"#,
        "visitor"
    )]
    #[case::no_token(r#"{"conversation":"c1","type":"presence","state":"left"}"#, "token")]
    #[case::no_conversation(r#"{"token":"t","type":"presence","state":"left"}"#, "conversation")]
    #[case::no_type(r#"{"token":"t","conversation":"c1","state":"left"}"#, "type")]
    #[case::bad_state(
        r#"{"token":"t","conversation":"c1","type":"presence","state":"gone"}"#,
        "state"
    )]
    #[case::not_json("presence left", "")]
    fn anything_but_presence_and_reads_is_refused(#[case] body: &str, #[case] field: &str) {
        let e = parse(body.as_bytes()).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    }

    #[rstest]
    #[case::presence_without_state(
        r#"{"token":"t","conversation":"c1","type":"presence"}"#,
        "state"
    )]
    #[case::read_without_message(
        r#"{"token":"t","conversation":"c1","type":"read"}"#,
        "message_id"
    )]
    fn a_report_missing_its_field_names_it(#[case] body: &str, #[case] field: &str) {
        let report = parse(body.as_bytes()).unwrap();
        assert_eq!(events(&report).unwrap_err().field, field);
    }
}
