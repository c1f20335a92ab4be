//! Bounces written as prose, without delivery-status fields: qmail, Exchange, Lotus Notes,
//! Yahoo, and every MTA's "Mail Delivery System" message. What they share is who sends them
//! (a mailer daemon, to the null sender), a subject that says so, an explanation naming the
//! address and what its server said, and then a copy of the message.

use crate::inbound::RecipientStatus;
use mail_parser::{Message, MimeHeaders};

/// The local parts mail systems send reports from.
const DAEMONS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "maildaemon",
    "postmaster",
    "post_master",
    "mmdf",
    "mdaemon",
    "bounce",
    "bounces",
];

/// Subjects of failure and delay notices.
const SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery status notification",
    "delivery notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failure notice",
    "failed delivery",
    "returned mail",
    "returned to sender",
    "mail delivery failed",
    "non-delivery",
    "nondeliverable",
    "not delivered",
    "could not be delivered",
    "delivery problem",
    "delayed mail",
    "delivery delayed",
    "warning: could not send",
    "mail system error",
];

/// Where the explanation ends and the copy of the message begins.
const COPY_MARKERS: &[&str] = &[
    "below this line is a copy",
    "this is a copy of the",
    "original message follows",
    "original message",
    "returned message",
    "the original message",
    "a copy of the original",
    "unsent message below",
    "content-type: message/rfc822",
    "headers of the original",
];

/// Whether the message is written by a mail system about a delivery: sent from a mailer
/// daemon's address or name, or under a delivery notice's subject.
pub(super) fn from_a_mail_system(message: &Message<'_>) -> bool {
    let address = super::from_address(message);
    let local = address.split('@').next().unwrap_or_default();
    let name = (message.from().and_then(|a| a.first()))
        .and_then(|a| a.name())
        .unwrap_or_default()
        .to_lowercase();
    let subject = message.subject().unwrap_or_default().to_lowercase();
    DAEMONS.contains(&local)
        || name.contains("mail delivery")
        || name.contains("mailer-daemon")
        || name.contains("mail system")
        || (SUBJECTS.iter().any(|s| subject.contains(s)) && !subject.starts_with("re:"))
}

/// What a notice says when it returns a message that failed.
const FAILURE_WORDS: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "undeliverable",
    "delivery failed",
    "delivery has failed",
    "failed to deliver",
    "unable to deliver",
    "was not delivered",
    "not be delivered",
    "permanent error",
];

/// Whether the message returns a copy of a message (a `message/rfc822` part or its headers)
/// and says that delivery failed: what every report does, whoever it comes from and however
/// its subject is worded (au's `no-reply@` under a Japanese subject). Only from the null
/// sender (`shape`): a person forwarding an email attaches it too.
pub(super) fn returns_a_failed_message(message: &Message<'_>) -> bool {
    let returned = message.parts.iter().any(|p| {
        p.content_type().is_some_and(|c| {
            let (ty, sub) = (c.ctype(), c.subtype().unwrap_or_default());
            (ty.eq_ignore_ascii_case("message") && sub.eq_ignore_ascii_case("rfc822"))
                || sub.eq_ignore_ascii_case("rfc822-headers")
        })
    });
    returned
        && message.body_text(0).is_some_and(|body| {
            let text = explanation(&body).to_lowercase();
            FAILURE_WORDS.iter().any(|w| text.contains(w))
        })
}

/// Headers only list managers write: fml, Mailman, Sympa, ezmlm, Majordomo, and RFC 2369's.
const LIST_HEADERS: &[&str] = &[
    "x-mlserver",
    "x-ml-server",
    "x-ml-name",
    "x-mailman-version",
    "x-sympa-to",
    "mailing-list",
    "list-id",
    "list-help",
    "list-post",
];

/// Whether the message is a list manager's notice about a post (not a member, held, a loop):
/// a list's header, from one of the administrative addresses list managers keep beside the
/// list (`list-admin`, `list-owner`, `list-request`, `list-bounces`, `owner-list`). Such a
/// notice comes from that address rather than from the null sender. A member's reply through
/// a list comes from the member, and is a reply.
pub(super) fn from_a_list_manager(message: &Message<'_>) -> bool {
    let address = super::from_address(message);
    let local = address.split('@').next().unwrap_or_default();
    let administrative = ["-admin", "-owner", "-request", "-bounces"]
        .iter()
        .any(|s| local.ends_with(s))
        || local.starts_with("owner-");
    administrative
        && message
            .headers_raw()
            .any(|(name, _)| LIST_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
}

/// Whether a (trimmed, lowercased) line says the copy of the message begins. Sendmail opens
/// its notice with "The original message was received at …": that sentence tells when the
/// message came, and the explanation goes on below it.
fn copy_begins(line: &str) -> bool {
    COPY_MARKERS.iter().any(|m| line.starts_with(m)) && !line.contains(" was received")
}

/// The explanation: the body before the copy of the message. The functions below take it,
/// worked out once per report (the body may carry a whole returned message).
pub(super) fn explanation(body: &str) -> String {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    for line in body.lines() {
        let lower = line
            .trim()
            .trim_start_matches(['-', ' ', '='])
            .to_lowercase();
        let header = ["received:", "return-path:", "dkim-signature:"]
            .iter()
            .any(|h| lower.starts_with(h));
        if header || copy_begins(&lower) {
            break;
        }
        // The failed message's subject, echoed ("Your message … Subject: …"): its author's
        // words, not the server's ("virus" in it is no virus found).
        if lower.starts_with("subject:") {
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// The server's words for the failure: the explanation, trimmed to a readable length.
pub(super) fn diagnostic(explanation: &str) -> Option<String> {
    let text = explanation.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then(|| text.chars().take(2000).collect())
}

/// The address a word is, if it is one (`<a@b.example>:` and the like).
fn address_in(word: &str) -> Option<String> {
    let w = word.trim_matches(|c: char| "<>:;,.()[]\"'".contains(c));
    // Exchange and MailEnable write an address with its type: `[SMTP:ana@example.com]`.
    let w = match w.split_once(':') {
        Some((kind, rest)) if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphabetic()) => {
            rest
        }
        _ => w,
    };
    let (local, domain) = w.rsplit_once('@')?;
    // What RFC 5321 lets an address hold: a host name's letters, digits, hyphens and dots,
    // and a local part of printable ASCII (not the escapes of ISO-2022-JP text around it).
    let host = domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:@\"/".contains(c));
    (host && local_ok).then(|| w.to_ascii_lowercase())
}

/// The recipients the explanation lists. Where addresses lead lines (qmail's `<a@b>:`
/// blocks, OpenSMTPD's and Exchange's lists), each is a recipient and its diagnostic is the
/// explanation's opening with its own block, up to the next address that leads a line: one
/// recipient's "mailbox full" is not another's. Otherwise, every address named: one alone
/// with the whole explanation, each of several with the lines that name it. The addresses in
/// `senders` (those the notice is sent to: the sender of
/// the failed message, whom notices name as "your message" or "an email from") are no
/// recipient.
pub(super) fn recipients(explanation: &str, senders: &[String]) -> Vec<RecipientStatus> {
    let recipient = |word: &str| address_in(word).filter(|a| !senders.contains(a));
    let lines: Vec<&str> = explanation.lines().collect();
    let leads: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i, recipient(l.split_whitespace().next()?)?)))
        .collect();
    let Some(&(first, _)) = leads.first() else {
        // Every address the prose names: the recipient need not come first ("contact
        // postmaster@… about your message to ana@…"). One alone has the whole explanation;
        // each of several, the lines that name it.
        let mut named: Vec<String> = Vec::new();
        for a in explanation.split_whitespace().filter_map(recipient) {
            if !named.contains(&a) {
                named.push(a);
            }
        }
        let alone = named.len() == 1;
        return (named.into_iter())
            .map(|a| RecipientStatus {
                diagnostic: match alone {
                    true => diagnostic(explanation),
                    false => said_about(explanation, &a),
                },
                recipient: Some(a),
                ..RecipientStatus::default()
            })
            .collect();
    };
    let opening = lines[..first].join("\n");
    let mut out: Vec<RecipientStatus> = Vec::new();
    for (n, (at, address)) in leads.iter().enumerate() {
        if out.iter().any(|r| r.recipient.as_deref() == Some(address)) {
            continue;
        }
        // The block runs to the next line led by a different address.
        let end = leads[n + 1..]
            .iter()
            .find(|(_, a)| a != address)
            .map_or(lines.len(), |(i, _)| *i);
        let own = lines[*at..end].join("\n");
        out.push(RecipientStatus {
            recipient: Some(address.clone()),
            original_recipient: expanded_from(&own),
            diagnostic: diagnostic(&format!("{opening}\n{own}")),
            ..RecipientStatus::default()
        });
    }
    out
}

/// The address a recipient's block says it was an alias of: Sendmail writes
/// `(expanded from: <ana@visitor.example>)` under the address the alias led to, the prose
/// form of `Original-Recipient`.
fn expanded_from(block: &str) -> Option<String> {
    let at = block.to_ascii_lowercase().find("expanded from")?;
    block[at..].split_whitespace().skip(2).find_map(address_in)
}

/// How delay notices say delivery goes on: the mail system will try again, the sender need
/// do nothing, the notice is only a warning, the message is not delivered *yet*. A failure
/// notice says none of these (a queue that gave up "will not retry").
const STILL_TRYING: &[&str] = &[
    "will continue to try",
    "will continue to attempt",
    "attempts will continue",
    "will keep trying",
    "will retry",
    "will be retried",
    "still being retried",
    "will try again",
    // In the present: a queue that gave up says the message "was kept in the queue" too long.
    "is kept in the queue",
    "remains in the queue",
    "no action is required",
    "do not need to take any action",
    "do not need to resend",
    "do not need to re-send",
    "don't need to resend",
    "only a warning",
    "just a warning",
    "warning message only",
    "warning only",
    "not yet been delivered",
    "not been delivered yet",
];

/// A notice that delivery is delayed and still being tried, not that it failed: its subject
/// says so, or its explanation says one of [`STILL_TRYING`] (looked for across line breaks).
pub(super) fn is_delay(subject: &str, explanation: &str) -> bool {
    let subject = subject.to_lowercase();
    let text = (explanation.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    [
        "delayed",
        "delay notification",
        "(delay)",
        "delivery warning",
    ]
    .iter()
    .any(|s| subject.contains(s))
        || STILL_TRYING.iter().any(|s| text.contains(s))
}

/// The notification's words about `address`: the line naming it, the one after, and the
/// indented lines that go on from there (Exim and Postfix indent a recipient's details and
/// fold the server's answer over several lines), up to a blank line or another recipient.
pub(super) fn said_about(explanation: &str, address: &str) -> Option<String> {
    let lines: Vec<&str> = explanation.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().contains(address))?;
    // A line continues it unless it names another recipient of its own.
    let own = |l: &str| {
        l.split_whitespace()
            .next()
            .and_then(address_in)
            .is_none_or(|a| a == address)
    };
    let next = lines.get(at + 1).filter(|l| own(l));
    let rest = if next.is_some() {
        &lines[at + 2..]
    } else {
        &[]
    };
    let indented = rest
        .iter()
        .take_while(|l| l.starts_with([' ', '\t']) && !l.trim().is_empty() && own(l));
    let said: Vec<&str> = std::iter::once(lines[at])
        .chain(next.copied())
        .chain(indented.copied())
        .map(str::trim)
        .collect();
    Some(said.join(" "))
}
