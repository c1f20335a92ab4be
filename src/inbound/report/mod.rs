//! Delivery reports and complaints, read as RFC 3464 and RFC 5965 say and as real MTAs write
//! them. Pure: a function of the parsed message and its envelope.
//!
//! The files: this one (is it a report at all, and of which kind), `fields` (the
//! per-recipient fields of a `message/delivery-status` part), `text` (the bounces written as
//! prose by qmail, Exchange, Lotus, Yahoo and the like), `ses` (Amazon SES notifications).
//! Why a failure happened, and whether the address is dead, is `crate::failure`.

mod fields;
mod ses;
mod text;

pub use crate::failure::{severity, Reason};

use super::{Bounce, Envelope, FeedbackType, RecipientStatus, ReportKind};
use mail_parser::{Message, MimeHeaders, PartType};

/// A delivery report, a delivery notice or an abuse complaint about an email we sent, if the
/// message is one.
pub fn read_report(message: &Message<'_>, envelope: &Envelope) -> Option<Bounce> {
    if let Some(mut report) = ses::from_ses(message)
        .then(|| message.body_text(0))
        .flatten()
        .and_then(|b| ses::read(&b))
    {
        summarise(&mut report, "");
        return Some(report);
    }
    let shape = shape(message, envelope)?;
    if shape == Shape::Text {
        // A mail system that passes on another's report (a gateway, a forwarder) writes a
        // line of its own around it: the report inside says what happened.
        if let Some(inner) = wrapped_report(message).and_then(|m| read_report(m, envelope)) {
            return Some(inner);
        }
        if let Some(inner) = pasted_report(message, envelope) {
            return Some(inner);
        }
    }
    let mut report = Bounce {
        kind: ReportKind::Failed,
        ..Bounce::default()
    };
    let returned_to = read_parts(message, &mut report);
    if report.original_message_id.is_none() {
        // A boundary that matches nothing leaves the returned headers inside another part, or
        // in none; an MTA that wrote a blank line before them made them a body: they are still
        // lines below the report's own header.
        report.original_message_id = quoted_message_id(&String::from_utf8_lossy(&body(message)));
    }
    if shape == Shape::Complaint {
        report.kind = ReportKind::Complaint;
        // Feedback loops often leave out `Original-Rcpt-To`: the complaint is then about the
        // address the returned email was sent to.
        if report.recipients.is_empty() {
            if let Some(to) = microsoft_complaint(message).or(returned_to) {
                report.recipients.push(RecipientStatus {
                    recipient: Some(to),
                    ..RecipientStatus::default()
                });
            }
        }
        return Some(report);
    }
    // Decoded by its charset: a notification in ISO-2022-JP or KOI8-R is words, not escapes.
    let body = message
        .body_text(0)
        .map(|b| b.into_owned())
        .unwrap_or_default();
    let notice = text::explanation(&body);
    if report.recipients.is_empty() && shape == Shape::Dsn {
        // A report whose MIME structure is broken (a boundary that matches nothing): its
        // fields are still there in the text.
        report.recipients = fields::recipients(&String::from_utf8_lossy(&message.raw_message));
    }
    for r in &mut report.recipients {
        // Fields without the server's words: the notification's line about the address.
        if r.diagnostic.is_none() {
            r.diagnostic = r
                .recipient
                .as_deref()
                .and_then(|a| text::said_about(&notice, a));
        }
    }
    if report.recipients.is_empty() {
        // No machine-readable fields: what the prose says.
        let subject = message.subject().unwrap_or_default();
        // The addresses the notice is sent to are the failed message's sender's.
        let senders: Vec<String> = (envelope.addressed(message).iter())
            .map(|a| a.to_ascii_lowercase())
            .collect();
        report.recipients = text::recipients(&notice, &senders);
        if report.recipients.is_empty() {
            report.recipients.push(RecipientStatus {
                diagnostic: text::diagnostic(&notice),
                ..RecipientStatus::default()
            });
        }
        // Prose says failed unless it says delayed (a code quoted in it is no action).
        let action = if text::is_delay(subject, &notice) {
            "delayed"
        } else {
            "failed"
        };
        for r in &mut report.recipients {
            r.action.get_or_insert_with(|| action.into());
        }
    }
    summarise(&mut report, &body);
    Some(report)
}

/// The message's From address, lowercased; empty where it has none.
fn from_address(message: &Message<'_>) -> String {
    message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Reads a report's parts into `report`: the returned email's Message-ID, the per-recipient
/// fields, a complaint's type and recipient. Returns the address the returned email was sent
/// to, as its own `To:` says.
fn read_parts(message: &Message<'_>, report: &mut Bounce) -> Option<String> {
    let mut returned_to = None;
    for part in &message.parts {
        let sub = part
            .content_type()
            .and_then(|c| c.subtype())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match &part.body {
            PartType::Message(original) => {
                if report.original_message_id.is_none() {
                    report.original_message_id = original.message_id().map(|id| format!("<{id}>"));
                }
                returned_to = returned_to.or_else(|| {
                    let to = original.to()?.first()?.address()?;
                    Some(fields::address(to))
                });
            }
            _ if sub.ends_with("delivery-status") => {
                let text = String::from_utf8_lossy(part.contents());
                report.recipients.extend(fields::recipients(&text));
            }
            _ if sub == "feedback-report" => {
                let text = String::from_utf8_lossy(part.contents());
                report.feedback_type =
                    fields::value(&text, "feedback-type").map(|t| FeedbackType::parse(&t));
                if let Some(rcpt) = fields::value(&text, "original-rcpt-to") {
                    report.recipients.push(RecipientStatus {
                        recipient: Some(fields::address(&rcpt)),
                        ..RecipientStatus::default()
                    });
                }
            }
            _ => {
                // The returned headers, or a text bounce quoting them.
                let text = String::from_utf8_lossy(part.contents());
                if report.original_message_id.is_none() {
                    report.original_message_id = quoted_message_id(&text);
                }
            }
        }
    }
    returned_to
}

/// What the whole report says: its kind from the recipients' actions (a complaint stays one),
/// and the first failed recipient's address, status, diagnostic and reason.
fn summarise(report: &mut Bounce, notification: &str) {
    let alone = report.recipients.len() == 1;
    for r in &mut report.recipients {
        // Said in so many words: a report without an `Action:` is not read as giving up.
        let failed = (r.action.as_deref()).is_some_and(|a| a.eq_ignore_ascii_case("failed"));
        r.status =
            crate::failure::recipient_status(r.status.as_deref(), r.diagnostic.as_deref(), failed);
        let (why, hard) = severity(r.status.as_deref(), r.diagnostic.as_deref(), notification);
        let (why, hard) = match r.category {
            Some(category) => crate::failure::weighed(why, category, r.status.as_deref()),
            None => (why, hard),
        };
        let (why, hard) = match alone {
            true => crate::failure::contradicted(why, hard, notification),
            false => (why, hard),
        };
        r.reason = why;
        r.hard = hard && action(r) == ReportKind::Failed;
    }
    let first = |kind: ReportKind| report.recipients.iter().position(|r| action(r) == kind);
    let chosen = first(ReportKind::Failed)
        .or_else(|| first(ReportKind::Delayed))
        .or_else(|| first(ReportKind::Delivered))
        .unwrap_or(0);
    if let Some(r) = report.recipients.get(chosen) {
        if report.kind != ReportKind::Complaint {
            report.kind = action(r);
        }
        report.recipient = r.recipient.clone();
        report.status = r.status.clone();
        report.diagnostic = r.diagnostic.clone();
        report.action = r.action.clone();
        report.reason = Some(r.reason);
        report.hard = r.hard;
    }
    report.permanent = report.status.as_deref().is_some_and(|s| s.starts_with('5'));
}

/// What one recipient's `Action:` (or, without one, its status) says happened. Only `failed`
/// is a failure (RFC 3464 §2.3.3); `delayed` is a note that delivery goes on; `delivered`,
/// `relayed` and `expanded` are successes.
fn action(r: &RecipientStatus) -> ReportKind {
    match r.action.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("failed") => ReportKind::Failed,
        Some("delayed") => ReportKind::Delayed,
        Some("delivered" | "relayed" | "expanded") => ReportKind::Delivered,
        _ => match r.status.as_deref().and_then(|s| s.chars().next()) {
            Some('2') => ReportKind::Delivered,
            _ => ReportKind::Failed,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A `multipart/report` or a part of delivery-status fields.
    Dsn,
    /// An abuse feedback report (ARF).
    Complaint,
    /// Prose from a mailer daemon.
    Text,
}

/// Whether the message is a report at all, and how it is written.
fn shape(message: &Message<'_>, envelope: &Envelope) -> Option<Shape> {
    let report_type = report_type(message);
    let part_sub = |want: &[&str]| {
        message.parts.iter().any(|p| {
            p.content_type().is_some_and(|c| {
                let sub = c.subtype().unwrap_or_default().to_ascii_lowercase();
                c.ctype().eq_ignore_ascii_case("message") && want.contains(&sub.as_str())
            })
        })
    };
    if report_type.as_deref() == Some("feedback-report")
        || part_sub(&["feedback-report"])
        || microsoft_complaint(message).is_some()
    {
        return Some(Shape::Complaint);
    }
    if report_type.as_deref() == Some("delivery-status")
        || part_sub(&["delivery-status", "global-delivery-status"])
    {
        return Some(Shape::Dsn);
    }
    let null_sender = envelope
        .mail_from
        .as_deref()
        .is_none_or(|f| f.is_empty() || f == "<>");
    // Only for the null sender: a person's reply never pays for reading its attachments.
    let from_a_mail_system = null_sender
        && (text::from_a_mail_system(message) || text::returns_a_failed_message(message));
    (from_a_mail_system || text::from_a_list_manager(message)).then_some(Shape::Text)
}

/// What kind of report (RFC 6522) a message says it is, lowercase: `delivery-status`,
/// `feedback-report`, `disposition-notification`; `None` for a message that is no report.
pub(super) fn report_type(message: &Message<'_>) -> Option<String> {
    (message.content_type())
        .filter(|c| {
            c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|c| c.attribute("report-type"))
        .map(str::to_ascii_lowercase)
}

/// A delivery report carried whole inside the message (`message/rfc822`).
fn wrapped_report<'a>(message: &'a Message<'a>) -> Option<&'a Message<'a>> {
    message.parts.iter().find_map(|p| match &p.body {
        PartType::Message(inner) => {
            (report_type(inner).as_deref() == Some("delivery-status")).then_some(inner)
        }
        _ => None,
    })
}

/// A report pasted whole into a text body (a mailbox's notice that quotes the report it got,
/// after an mbox `From ` line or a blank line): read from its own header block, the one that
/// says `multipart/report`.
fn pasted_report(message: &Message<'_>, envelope: &Envelope) -> Option<Bounce> {
    let body = body(message);
    // Searched as bytes: a notice in a legacy charset is no UTF-8, and offsets must be the body's.
    let lower = body.to_ascii_lowercase();
    let at = memchr::memmem::find_iter(&lower, b"content-type: multipart/report")
        .find(|&at| at == 0 || lower[at - 1] == b'\n')?;
    // The header block starts after the blank line (or the mbox `From ` line) above it.
    let start = memchr::memrchr_iter(b'\n', &lower[..at])
        .map(|i| i + 1)
        .take_while(|&i| !lower[i..].starts_with(b"\n") && !lower[i..].starts_with(b"\r\n"))
        .last()
        .unwrap_or(at);
    let start = match lower[start..].starts_with(b"from ") {
        true => start + memchr::memchr(b'\n', &lower[start..])? + 1,
        false => start,
    };
    // Guarded as the outer parse is (`read`): mail-parser panics on some malformed MIME.
    let parse = || mail_parser::MessageParser::default().parse(&body[start..]);
    let inner = std::panic::catch_unwind(parse).ok().flatten()?;
    read_report(&inner, envelope).filter(|r| !r.recipients.is_empty())
}

/// The message's body as lines of text: as sent where it has no transfer encoding (its bytes,
/// whatever their charset), decoded where it is base64 or quoted-printable, as a notice in a
/// legacy charset often is.
fn body<'a>(message: &'a Message<'a>) -> std::borrow::Cow<'a, [u8]> {
    let root = message.root_part();
    match root.encoding {
        mail_parser::Encoding::None => {
            let raw = message.raw_message.get(root.raw_body_offset() as usize..);
            raw.unwrap_or_default().into()
        }
        _ => root.contents().into(),
    }
}

/// Microsoft's junk-mail reports (JMRP) are no ARF: the reported email comes back whole, its
/// headers marked with the address it was delivered to (`X-HmXmrOriginalRecipient`).
fn microsoft_complaint(message: &Message<'_>) -> Option<String> {
    message.parts.iter().find_map(|p| match &p.body {
        PartType::Message(original) => original
            .header_raw("X-HmXmrOriginalRecipient")
            .map(|v| fields::address(v.trim())),
        _ => None,
    })
}

/// The value of a `Message-ID:` header line quoted inside a text (returned headers).
fn quoted_message_id(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| v.trim().to_string())
            .filter(|v| v.starts_with('<') && v.ends_with('>'))
    })
}

#[cfg(test)]
mod tests;
