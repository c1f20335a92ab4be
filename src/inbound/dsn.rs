//! Pure reading of delivery-status reports (RFC 3464) and classic mailer-daemon bounces.

use super::{Bounce, Envelope};
use mail_parser::{Message, MimeHeaders, PartType};

/// A delivery-status report (RFC 3464), or a classic bounce from a mailer daemon.
pub fn read_bounce(message: &Message<'_>, envelope: &Envelope) -> Option<Bounce> {
    let is_report = message.parts.iter().any(|p| {
        p.content_type().is_some_and(|c| {
            let sub = c.subtype().unwrap_or_default().to_ascii_lowercase();
            c.ctype().eq_ignore_ascii_case("message")
                && (sub == "delivery-status" || sub == "global-delivery-status")
        })
    });
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let daemon = from.starts_with("mailer-daemon@") || from.starts_with("postmaster@");
    let null_sender = envelope
        .mail_from
        .as_deref()
        .is_some_and(|f| f.is_empty() || f == "<>");
    if !is_report && !(daemon && (null_sender || envelope.mail_from.is_none())) {
        return None;
    }
    let mut bounce = Bounce::default();
    for part in &message.parts {
        let ctype = part.content_type();
        let sub = ctype
            .and_then(|c| c.subtype())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match &part.body {
            PartType::Message(original) => {
                bounce.original_message_id = bounce
                    .original_message_id
                    .or_else(|| original.message_id().map(|id| format!("<{id}>")));
            }
            _ if sub.ends_with("delivery-status") => {
                let text = String::from_utf8_lossy(part.contents()).to_string();
                for line in text.lines() {
                    let Some((k, v)) = line.split_once(':') else {
                        continue;
                    };
                    let v = v.trim();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "status" => bounce.status = Some(v.to_string()),
                        "final-recipient" | "original-recipient" if bounce.recipient.is_none() => {
                            bounce.recipient =
                                Some(v.rsplit(';').next().unwrap_or(v).trim().to_string())
                        }
                        _ => {}
                    }
                }
            }
            _ if sub == "rfc822-headers" || bounce.original_message_id.is_none() => {
                // The returned headers, or a classic bounce quoting them in its text.
                let text = String::from_utf8_lossy(part.contents()).to_string();
                bounce.original_message_id = bounce
                    .original_message_id
                    .or_else(|| quoted_message_id(&text));
            }
            _ => {}
        }
    }
    bounce.permanent = bounce.status.as_deref().is_none_or(|s| s.starts_with('5'));
    Some(bounce)
}

/// The value of a `Message-ID:` header line quoted inside a text.
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
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn parse(raw: &str) -> Message<'_> {
        MessageParser::default().parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_dsn_is_read() {
        let raw = "From: MAILER-DAEMON@mx.example\r\nTo: support@acme.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <abc@reply.acme.example>\r\nSubject: Your conversation\r\n--b--\r\n";
        let b = read_bounce(&parse(raw), &Envelope::default()).unwrap();
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("<abc@reply.acme.example>")
        );
        assert_eq!(b.recipient.as_deref(), Some("ana@visitor.example"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
    }
}
