//! Amazon SES notifications delivered by email (through SNS): a JSON document saying what
//! happened to a message SES sent — `Bounce`, `Complaint` or `Delivery` — per recipient.

use crate::inbound::{Bounce, FeedbackType, RecipientStatus, ReportKind};
use serde_json::Value;

/// Whether the message comes from Amazon's notification service (SNS, or SES itself): only
/// those bodies are worth decoding and searching for a notification.
pub(super) fn from_ses(message: &mail_parser::Message<'_>) -> bool {
    let from = super::from_address(message);
    from.ends_with(".amazonaws.com") || from.ends_with(".amazonses.com")
}

/// The notification in a message body, if the body is one: the notification itself, or the
/// SNS envelope that carries it as the JSON string `Message`.
pub(super) fn read(body: &str) -> Option<Bounce> {
    if let Some(inner) = sns_message(body) {
        return read(&inner);
    }
    let start = body.find("{\"notificationType\"")?;
    // Mail systems fold the one long line (a line break and a space); unfolded, it is JSON,
    // followed by SNS's footer, where the parser stops.
    let json = body[start..].replace("\r\n", "\n").replace("\n ", "");
    let mut values = serde_json::Deserializer::from_str(&json).into_iter::<Value>();
    let doc = values.next()?.ok()?;
    let kind = match doc.get("notificationType")?.as_str()? {
        "Bounce" => ReportKind::Failed,
        "Complaint" => ReportKind::Complaint,
        "Delivery" => ReportKind::Delivered,
        _ => return None,
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let mut report = Bounce {
        kind,
        feedback_type: doc
            .pointer("/complaint/complaintFeedbackType")
            .and_then(Value::as_str)
            .map(FeedbackType::parse),
        original_message_id: doc
            .pointer("/mail/headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|h| text(h, "name").is_some_and(|n| n.eq_ignore_ascii_case("message-id")))
            .and_then(|h| text(h, "value")),
        ..Bounce::default()
    };
    let transient = doc.pointer("/bounce/bounceType").and_then(Value::as_str) == Some("Transient");
    let listed = |pointer: &str| {
        doc.pointer(pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for r in listed("/bounce/bouncedRecipients") {
        report.recipients.push(RecipientStatus {
            recipient: text(&r, "emailAddress").map(|a| a.to_ascii_lowercase()),
            action: Some(if transient { "delayed" } else { "failed" }.into())
                .filter(|_| text(&r, "action").is_none())
                .or_else(|| text(&r, "action")),
            status: text(&r, "status"),
            diagnostic: text(&r, "diagnosticCode"),
            ..RecipientStatus::default()
        });
    }
    for r in listed("/complaint/complainedRecipients") {
        report.recipients.push(RecipientStatus {
            recipient: text(&r, "emailAddress").map(|a| a.to_ascii_lowercase()),
            ..RecipientStatus::default()
        });
    }
    for r in listed("/delivery/recipients") {
        report.recipients.push(RecipientStatus {
            recipient: r.as_str().map(str::to_ascii_lowercase),
            action: Some("delivered".into()),
            diagnostic: doc
                .pointer("/delivery/smtpResponse")
                .and_then(Value::as_str)
                .map(String::from),
            ..RecipientStatus::default()
        });
    }
    Some(report)
}

/// The `Message` of an SNS notification envelope (`"Type" : "Notification"`) in a body.
fn sns_message(body: &str) -> Option<String> {
    let start = body.find('{')?;
    let json = body[start..].replace("\r\n", "\n").replace("\n ", " ");
    let mut values = serde_json::Deserializer::from_str(&json).into_iter::<Value>();
    let envelope = values.next()?.ok()?;
    (envelope.get("Type")?.as_str()? == "Notification")
        .then(|| envelope.get("Message")?.as_str().map(String::from))
        .flatten()
        .filter(|m| m.contains("notificationType"))
}
