//! Reading one message: parse, classify, extract the reply's words and attachments, route by
//! reply token. Pure: a function of the bytes, the envelope, the config and the token keys.

use super::classify::{auto_reply_reason, extract_body, loop_reason, referenced_ids};
use super::report::read_report;
use super::route::route;
use super::tnef;
use super::{Analysis, AttachmentInfo, Envelope, Kind, Rejection, Routing, Verification};
use crate::config::{Config, InboundLimits};
use crate::domain::{clean_name, plain_text};
use crate::list_unsubscribe;
use crate::reply;
use crate::token::TokenKeys;
use crate::verp::{self, BounceAddress};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use std::collections::BTreeSet;

/// Parses, classifies, extracts and routes by reply token: all that needs no database.
/// A reply routed by token still has its conversation looked up, and one without a token
/// its `In-Reply-To` (see `Inbound::resolve`). `keys` is `None` only for `inspect` on a
/// machine without the database: no token can be checked then, and none routes.
pub fn read(
    raw: &[u8],
    envelope: &Envelope,
    config: &Config,
    keys: Option<&TokenKeys>,
) -> Result<Analysis, Rejection> {
    let limits = &config.inbound;
    if raw.len() > limits.max_message_size {
        return Err(Rejection::TooLarge);
    }
    let crlf;
    let raw = match ends_lines_with_bare_cr(raw) {
        true => {
            crlf = bare_cr_to_crlf(raw);
            &crlf[..]
        }
        false => raw,
    };
    let message = parse(raw)?;
    // An opaquely signed reply is read as the message it signs (see `smime`).
    let unwrapped = super::smime::unwrapped(&message);
    let message = match &unwrapped {
        Some(inner) => parse(inner)?,
        None => message,
    };
    if message.parts.len() > limits.max_parts {
        return Err(Rejection::BadMessage(format!(
            "more than {} MIME parts",
            limits.max_parts
        )));
    }
    let from = message.from().and_then(|a| a.first());
    let mut analysis = Analysis {
        kind: Kind::Reply,
        reason: None,
        text: String::new(),
        trimmed: true,
        own_copy: false,
        body: String::new(),
        sent_checked: false,
        auth_results: (message.headers_raw())
            .filter(|(name, _)| name.eq_ignore_ascii_case("authentication-results"))
            .map(|(_, value)| value.trim().to_string())
            .collect(),
        from: from.and_then(|a| a.address()).map(|a| plain_text(a.trim())),
        from_name: from.and_then(|a| a.name()).map(clean_name),
        subject: message.subject().map(plain_text),
        // An id with control characters is no id we can keep (nor a real one).
        message_id: message
            .message_id()
            .filter(|id| !id.chars().any(char::is_control))
            .map(|id| format!("<{id}>")),
        references: referenced_ids(&message),
        routing: Routing::default(),
        verification: Verification::default(),
        bounce: None,
        unsubscribe: None,
        attachments: Vec::new(),
        too_large: Vec::new(),
        attachment_data: Vec::new(),
    };

    if let Some(mut bounce) = read_report(&message, envelope) {
        bounce.bounce_address = keys.and_then(|keys| email_bounce_address(config, keys, envelope));
        analysis.kind = Kind::Bounce;
        analysis.bounce = Some(bounce);
        return Ok(analysis);
    }
    // Before the automatic answers: a client's unsubscribe message says it is one, by the
    // address it went to (an email's `mailto:` unsubscribe address) or by Apple Mail's marker
    // (`X-Apple-Unsubscribe: true`). Only the address names an email to act on.
    let target = keys.and_then(|keys| unsubscribe_target(&message, envelope, config, keys));
    let apple = (message.header_raw("X-Apple-Unsubscribe"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if target.is_some() || apple {
        analysis.kind = Kind::Unsubscribe;
        analysis.unsubscribe = target;
        return Ok(analysis);
    }
    if let Some(why) = loop_reason(&message, &config.sites) {
        analysis.kind = Kind::Loop;
        analysis.reason = Some(why);
        return Ok(analysis);
    }
    if let Some(why) = auto_reply_reason(&message) {
        analysis.kind = Kind::AutoReply;
        analysis.reason = Some(why);
    }
    let tnef_body = read_attachments(&message, limits, &mut analysis);
    analysis.body = words(&message, tnef_body);
    analysis.set_text(&[]);

    route(&message, envelope, config, keys, &mut analysis);
    if analysis.routing.error.is_some() {
        analysis.not_routed();
    }
    Ok(analysis)
}

/// The message as mail-parser reads it. It panics on some malformed MIME (found by fuzzing): a
/// message that breaks the parser is refused like any other unreadable one, and the session
/// goes on.
fn parse(raw: &[u8]) -> Result<mail_parser::Message<'_>, Rejection> {
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let message = parsed
        .map_err(|_| Rejection::BadMessage("MIME structure the parser cannot read".into()))?
        .ok_or_else(|| Rejection::BadMessage("not a MIME message".into()))?;
    // The parser reads anything as a body: a file that is no email (an Outlook `.msg`, a
    // zip) has no header field, only binary before its first line break, where every email
    // has at least its `From` and `Date`. A field's name is printable ASCII (RFC 5322 §3.6.8).
    let named = |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
    match message.headers().iter().any(|h| named(h.name.as_str())) {
        true => Ok(message),
        false => Err(Rejection::BadMessage(
            "no header fields: not an email".into(),
        )),
    }
}

/// The message's attachments into `analysis`: each kept, or named in `too_large` when over
/// the limit. The email the reply answers attached whole, the pictures of the quoted history
/// (`reply::quoted_content_ids`), the parts of the signing and encryption protocols (a
/// signature, headers repeated for display) and the words of a message cut short (read as its
/// body) are no attachments of the visitor's. Returns the
/// body of the first `winmail.dat`, for a reply with no words of its own (see `words`).
fn read_attachments(
    message: &mail_parser::Message<'_>,
    limits: &InboundLimits,
    analysis: &mut Analysis,
) -> Option<tnef::Body> {
    let quoted = quoted_pictures(message);
    let body = super::classify::cut_short_body(message);
    let mut tnef_body = None;
    for part in message.attachments() {
        // The words of a message cut short, read as its body (`extract_body`).
        if body.is_some_and(|b| std::ptr::eq(b, part)) {
            continue;
        }
        let data = part.contents();
        if let PartType::Message(inner) = &part.body {
            attached_message(part, inner, limits, analysis);
            continue;
        }
        if (part.content_id()).is_some_and(|id| quoted.contains(&reply::content_id(id))) {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_string(),
            })
            .map(|t| plain_text(&t))
            .unwrap_or_else(|| "application/octet-stream".into());
        if PROTOCOL_PARTS
            .iter()
            .any(|s| content_type.eq_ignore_ascii_case(s))
        {
            continue;
        }
        if let Some(mut tnef) = is_tnef(&content_type, part)
            .then(|| tnef::read(data))
            .flatten()
        {
            // The winmail.dat itself stays only where something in it could not be read.
            let read_whole = !tnef.unread && (!tnef.files.is_empty() || tnef.body.is_some());
            tnef_body = tnef_body.or(tnef.body.take());
            for file in tnef.files {
                let content_type = (file.content_type.as_deref()).map(plain_text);
                let name = file.name.as_deref().map(clean_name);
                keep(analysis, limits, name, content_type, file.data);
            }
            if read_whole {
                continue;
            }
        }
        let name = part.attachment_name().map(clean_name);
        keep(analysis, limits, name, Some(content_type), data.to_vec());
    }
    tnef_body
}

/// An email attached whole. The one the reply answers (Outlook's "attach original message") is
/// its quoted history. Any other is the visitor's, forwarded as an attachment (the courier's
/// notice, an order confirmation), and kept as a `.eml` file named by its subject.
fn attached_message(
    part: &mail_parser::MessagePart<'_>,
    inner: &mail_parser::Message<'_>,
    limits: &InboundLimits,
    analysis: &mut Analysis,
) {
    let answered =
        (inner.message_id()).is_some_and(|id| analysis.references.contains(&format!("<{id}>")));
    if answered {
        return;
    }
    let name = (part.attachment_name().map(clean_name))
        .or_else(|| inner.subject().map(|s| format!("{}.eml", clean_name(s))))
        .filter(|n| !n.is_empty());
    let name = name.unwrap_or_else(|| "message.eml".into());
    let content_type = "message/rfc822".to_string();
    keep(
        analysis,
        limits,
        Some(name),
        Some(content_type),
        part.contents().to_vec(),
    );
}

/// One file into `analysis`: kept, or named in `too_large` when over the limit.
fn keep(
    analysis: &mut Analysis,
    limits: &InboundLimits,
    name: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
) {
    let name = name.unwrap_or_else(|| "attachment".into());
    // A type that says nothing (none, or `application/octet-stream`, what some phones' and
    // webmails' uploads and old Outlooks' TNEF carry) is read from the name's extension, so
    // that a photo shows as one.
    let content_type = content_type
        .filter(|t| !t.eq_ignore_ascii_case("application/octet-stream"))
        .or_else(|| mime_guess::from_path(&name).first_raw().map(str::to_string))
        .unwrap_or_else(|| "application/octet-stream".into());
    let info = AttachmentInfo {
        name,
        content_type,
        size: data.len(),
    };
    // Not kept, but not dropped silently either: the message says so (see `notes`).
    if data.len() > limits.max_attachment_size {
        analysis.too_large.push(info);
        return;
    }
    analysis.attachments.push(info);
    analysis.attachment_data.push(data);
}

/// Whether a part is Outlook's TNEF (`winmail.dat`): by its type (`content_type`, as
/// `read_attachments` reads it), or by its name where a gateway relabelled it. `tnef::read`
/// checks the file's own signature.
fn is_tnef(content_type: &str, part: &mail_parser::MessagePart<'_>) -> bool {
    ["application/ms-tnef", "application/vnd.ms-tnef"]
        .iter()
        .any(|t| content_type.eq_ignore_ascii_case(t))
        || (part.attachment_name()).is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"))
}

/// The reply's words: its text or HTML parts', or where it has none, those of the body of its
/// `winmail.dat` (Outlook's rich text, sent with no plain or HTML part beside it).
fn words(message: &mail_parser::Message<'_>, tnef_body: Option<tnef::Body>) -> String {
    let body = extract_body(message);
    if body.chars().any(char::is_alphanumeric) {
        return body;
    }
    let tnef_words = tnef_body.and_then(|tnef_body| match tnef_body {
        tnef::Body::Text(text) => Some(text),
        tnef::Body::Html(html) => Some(reply::html_to_text(&html)),
        tnef::Body::Rtf(rtf) => reply::rtf_to_text(&rtf),
    });
    tnef_words.unwrap_or(body)
}

/// The types of the parts a mail client adds for the protocol, never a file the visitor
/// attached: a signed message's signature (S/MIME's and OpenPGP's, RFC 8551 and 3156), the proof
/// of who sent it, which the mail client checks; PGP/MIME's `Version: 1` part beside an encrypted
/// body (RFC 3156 §4); and the headers Thunderbird and other OpenPGP clients repeat in the body
/// for display where they protect them (`text/rfc822-headers; protected-headers="v1"`).
const PROTOCOL_PARTS: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-encrypted",
    "text/rfc822-headers",
];

/// The content ids of the parts that only the quoted history of the message's HTML shows.
fn quoted_pictures(message: &mail_parser::Message<'_>) -> BTreeSet<String> {
    if !message.attachments().any(|p| p.content_id().is_some()) {
        return BTreeSet::new();
    }
    (message.html_bodies())
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(reply::quoted_content_ids(html)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The email whose unsubscribe address the message came to: an envelope recipient, else (a
/// file, as `inspect` reads one) an address in `To`.
fn unsubscribe_target(
    message: &mail_parser::Message<'_>,
    envelope: &Envelope,
    config: &Config,
    keys: &TokenKeys,
) -> Option<(String, String)> {
    (envelope.addressed(message)).iter().find_map(|a| {
        match list_unsubscribe::recognise(config, keys, a) {
            Some(list_unsubscribe::Recognised::Email { site, email_id }) => {
                Some((site, email_id.to_string()))
            }
            _ => None,
        }
    })
}

/// The envelope recipient that is one email's own bounce address, its MAC verified.
fn email_bounce_address(config: &Config, keys: &TokenKeys, envelope: &Envelope) -> Option<String> {
    envelope
        .rcpt_to
        .iter()
        .find_map(|rcpt| match verp::recognise(config, keys, rcpt) {
            Some(BounceAddress::Email { address, .. }) => Some(address),
            _ => None,
        })
}

/// Whether a message ends its lines with a lone CR (classic Mac OS, some gateways' stores): its
/// first line break says so. mail-parser reads such a message as one endless header line.
fn ends_lines_with_bare_cr(raw: &[u8]) -> bool {
    raw.iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .is_some_and(|i| raw[i] == b'\r' && raw.get(i + 1) != Some(&b'\n'))
}

/// The message with each lone CR made a CRLF (a CR already before an LF is left alone).
fn bare_cr_to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for (i, &b) in raw.iter().enumerate() {
        out.push(b);
        if b == b'\r' && raw.get(i + 1) != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_line_ending_reads_the_same() {
        let lf = "Return-Path: <>\nFrom: MAILER-DAEMON@mx4.example.jp\nSubject: failure notice\n\nHi. This is the qmail-send program.\n\n<kijitora@example.ne.jp>:\nSorry, no SMTP connection got far enough; most progress was RCPT TO response; remote host said: 550 Unknown user kijitora@example.ne.jp\n\n--- Below this line is a copy of the message.\n\nMessage-ID: <m1@reply.acme.example>\nSubject: hello\n";
        let config = crate::config::builtin();
        let read_as = |ending: &str| {
            let a = read(
                lf.replace('\n', ending).as_bytes(),
                &Envelope::default(),
                &config,
                None,
            )
            .unwrap();
            let b = a.bounce.expect("read as a report");
            (a.kind, b.hard, b.recipient, b.original_message_id)
        };
        let want = read_as("\n");
        assert_eq!(want.0, Kind::Bounce);
        assert!(want.1);
        assert_eq!(read_as("\r\n"), want);
        assert_eq!(read_as("\r"), want);
    }

    /// A message cut short (its closing boundary never came): the part it was cut in is the
    /// reply's words, read as its headers say, and no file.
    #[test]
    fn a_message_cut_short_keeps_its_words() {
        let config = crate::config::builtin();
        let cut = "From: ana@visitor.example\r\nSubject: Re: Your order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>The blue one, pl=\r\nease. Danke sch=C3=B6n!</p>\r\n<br>\r\n";
        let a = read(cut.as_bytes(), &Envelope::default(), &config, None).unwrap();
        assert_eq!(a.text, "The blue one, please. Danke schön!");
        assert!(a.attachments.is_empty(), "{:?}", a.attachments);
        // With words in a whole part, the part cut short stays what it was.
        let whole = cut.replace(
            "--B\r\nContent-Type: text/html",
            "--B\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n--B\r\nContent-Type: text/html",
        );
        let a = read(whole.as_bytes(), &Envelope::default(), &config, None).unwrap();
        assert_eq!(a.text, "See below.");
        assert_eq!(a.attachments.len(), 1);
    }

    #[test]
    fn a_file_sent_with_a_type_that_says_nothing_is_typed_by_its_name() {
        let part = |name: &str, content_type: &str| {
            format!("--b\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n")
        };
        let raw = format!(
            "From: ana@visitor.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPhotos.\r\n{}{}{}{}--b--\r\n",
            part("IMG_0042.JPG", "application/octet-stream"),
            part("scan.pdf", "application/octet-stream"),
            part("backup.rrdata", "application/octet-stream"),
            // A type given is kept, whatever the name says.
            part("notes.jpg", "text/plain"),
        );
        let config = crate::config::builtin();
        let analysis = read(raw.as_bytes(), &Envelope::default(), &config, None).unwrap();
        let types: Vec<&str> = (analysis.attachments.iter())
            .map(|a| a.content_type.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "image/jpeg",
                "application/pdf",
                "application/octet-stream",
                "text/plain"
            ]
        );
    }

    #[test]
    fn a_file_that_is_no_email_is_refused() {
        let config = crate::config::builtin();
        // An Outlook `.msg` (a compound file), and a line of text with no header.
        for raw in [
            &b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x3e\x00\x03\x00\xfe\xff"[..],
            b"just some words\r\n",
        ] {
            let got = read(raw, &Envelope::default(), &config, None);
            assert!(
                matches!(&got, Err(Rejection::BadMessage(why)) if why.contains("not a")),
                "{raw:?}: {:?}",
                got.map(|a| a.kind)
            );
        }
    }

    #[test]
    fn only_lone_crs_become_line_ends() {
        assert!(ends_lines_with_bare_cr(b"A: b\rC: d\r\rbody"));
        assert!(!ends_lines_with_bare_cr(b"A: b\r\nC: d\r\n"));
        assert!(!ends_lines_with_bare_cr(b"A: b\nC: d\r"));
        assert_eq!(bare_cr_to_crlf(b"a\rb\r\nc\r"), b"a\r\nb\r\nc\r\n");
    }
}
