//! Bounces written as prose, without delivery-status fields: qmail, Exchange, Lotus Notes,
//! Yahoo, and every MTA's "Mail Delivery System" message. What they share is who sends them
//! (a mailer daemon, to the null sender), a subject that says so, an explanation naming the
//! address and what its server said, and then a copy of the message.

use crate::inbound::RecipientStatus;
use mail_parser::Message;

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
    let from = message.from().and_then(|a| a.first());
    let address = from
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let local = address.split('@').next().unwrap_or_default();
    let name = from
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
        if header || COPY_MARKERS.iter().any(|m| lower.starts_with(m)) {
            break;
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

/// The address the explanation names first (in angle brackets, or bare on a line of its own),
/// with the explanation as its diagnostic.
pub(super) fn recipients(explanation: &str) -> Vec<RecipientStatus> {
    let address = explanation.split_whitespace().find_map(|word| {
        let w = word.trim_matches(|c: char| "<>:;,.()[]\"'".contains(c));
        let (local, domain) = w.split_once('@')?;
        (!local.is_empty() && domain.contains('.') && !w.contains('/'))
            .then(|| w.to_ascii_lowercase())
    });
    match address {
        Some(a) => vec![RecipientStatus {
            recipient: Some(a),
            diagnostic: diagnostic(explanation),
            ..RecipientStatus::default()
        }],
        None => Vec::new(),
    }
}

/// A notice that delivery is delayed and still being tried, not that it failed.
pub(super) fn is_delay(subject: &str, explanation: &str) -> bool {
    let subject = subject.to_lowercase();
    let text = explanation.to_lowercase();
    subject.contains("delayed")
        || subject.contains("delay notification")
        || text.contains("will continue to try")
        || text.contains("will keep trying")
        || text.contains("no action is required on your part")
        || text.contains("this is only a warning")
}

/// The notification's words about `address`: the line naming it and the one after.
pub(super) fn said_about(explanation: &str, address: &str) -> Option<String> {
    let lines: Vec<&str> = explanation.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().contains(address))?;
    let said: Vec<&str> = lines[at..(at + 2).min(lines.len())]
        .iter()
        .map(|l| l.trim())
        .collect();
    Some(said.join(" "))
}
