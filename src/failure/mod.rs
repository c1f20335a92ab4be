//! Why a delivery failed, and whether that means the address is dead: for the reports that
//! come back (`inbound::report`) and the relay's own refusals (`outbound`) alike.
//!
//! Only a dead address may silence a visitor: no such user, no such domain, an address that
//! has moved, a domain that takes no mail. Everything else — a full mailbox, a block, a spam or
//! policy rejection, a delay that expired, a broken server — is soft: the email failed, the
//! visitor did not. This is sisimai's split, and like sisimai the reason is read from what the
//! server said first and from the status code second, because servers put a generic code
//! (`5.0.0`, `5.5.0`, `5.7.1`) on very different failures.

use serde::Serialize;

/// Why a delivery failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The mailbox does not exist.
    UserUnknown,
    /// The domain does not exist or has no mail server.
    HostUnknown,
    /// The address has moved, and mail to it is no longer delivered.
    HasMoved,
    /// The domain takes no mail at all (a null MX).
    NotAccept,
    MailboxFull,
    /// Disabled, suspended or inactive: it may come back.
    Suspended,
    /// Refused for the sender, its host or its reputation (blocklists, rate limits, PTR).
    Blocked,
    /// Refused as spam, a virus or for the content's policy, or for the sender's address.
    Rejected,
    /// A "no such user" given to the message after `DATA`, when the server had taken the
    /// recipient at `RCPT TO`, or a refusal the recipient's own filter or preferences made: a
    /// filter's answer, not a dead address.
    Filtered,
    /// Sender authentication (SPF, DKIM, DMARC) failed.
    AuthFailure,
    TooBig,
    /// Delivery was retried until the queue gave up, or is still being retried.
    Expired,
    /// A server or network error along the way.
    SystemError,
    /// No reason could be read.
    #[default]
    Undefined,
}

impl Reason {
    /// Whether a soft failure for this reason is about the address (a full mailbox, a
    /// suspended account, mail refused or undelivered there for days), so that enough of them
    /// in a row suppress it. A block, a policy or an authentication refusal is about our side,
    /// and a relay on a blocklist must not, a week later, silence everyone.
    pub fn counts_as_soft_bounce(self) -> bool {
        matches!(
            self,
            Reason::MailboxFull | Reason::Suspended | Reason::Filtered | Reason::Expired
        )
    }

    /// Whether the address itself is dead.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved | Reason::NotAccept
        )
    }
}

impl Reason {
    /// A sending MTA's category for a failure (PowerMTA's `X-PowerMTA-BounceCategory`, whose
    /// names Port25 documents), where it names one of ours.
    pub fn from_category(category: &str) -> Option<Reason> {
        Some(match category.trim().to_ascii_lowercase().as_str() {
            "bad-mailbox" => Reason::UserUnknown,
            "bad-domain" => Reason::HostUnknown,
            "inactive-mailbox" => Reason::Suspended,
            "quota-issues" => Reason::MailboxFull,
            "message-expired" | "no-answer-from-host" => Reason::Expired,
            "spam-related" | "content-related" | "virus-related" | "policy-related" => {
                Reason::Rejected
            }
            "invalid-sender" => Reason::Rejected,
            "relaying-issues" => Reason::Blocked,
            "bad-connection" | "routing-errors" | "protocol-errors" | "bad-configuration" => {
                Reason::SystemError
            }
            _ => return None,
        })
    }
}

/// The reason once the sending MTA's own category is weighed with what the words gave. The
/// MTA read the whole SMTP session, so its "bad mailbox" is the proof a bare "user unknown"
/// lacks; its soft category makes soft what the words alone would call dead. A temporary
/// status is never a dead address.
pub fn weighed(said: Reason, category: Reason, status: Option<&str>) -> (Reason, bool) {
    let temporary = status.is_some_and(|s| s.starts_with('4'));
    let unread = matches!(said, Reason::Undefined | Reason::Filtered);
    let reason = if category.is_hard() && !(unread || said.is_hard()) {
        // The words name another reason (a full mailbox, a block): they are kept.
        said
    } else {
        category
    };
    (reason, reason.is_hard() && !temporary)
}

mod said;
mod stage;
mod status;
#[cfg(test)]
mod tests;

use said::said_reason;
use stage::{
    after_data, at_rcpt, looked_up_in_own_directory, takes_no_mail, unknown_user_names_no_address,
};
use status::{from_status, is_policy, names_the_mailbox};
pub use status::{recipient_status, status_in};

/// The reason a failure's words and status give, and whether it means a dead address. A
/// temporary status (4.x.x) is never a dead address, whatever the words. `context` is the rest
/// of the report (its notification text), read for the stage the server refused at.
pub fn severity(status: Option<&str>, said: Option<&str>, context: &str) -> (Reason, bool) {
    // One space between words (servers and reports fold long answers anywhere), and one
    // apostrophe (Gmail's "couldn’t" comes typographic from some of its senders). Sendmail's
    // `relay=host` names the server that answered, as its log lines do: not a refusal to relay.
    let text = said
        .unwrap_or_default()
        .split_whitespace()
        .filter(|w| !w.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("relay=")))
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\u{2019}', "'")
        .to_lowercase();
    let from_text = said_reason(&text);
    let mut reason = from_text
        .or_else(|| status.and_then(from_status))
        .unwrap_or_default();
    if takes_no_mail(&text) {
        reason = Reason::NotAccept;
    }
    // "Inactive" and "disabled" are said of an account that may come back and of one that is
    // gone; a status that names the mailbox as bad (5.1.1) says which.
    if reason == Reason::Suspended && status.and_then(from_status) == Some(Reason::UserUnknown) {
        reason = Reason::UserUnknown;
    }
    let context = context.to_lowercase();
    let refused_after_data = after_data(&text) || after_data(&context);
    // "No such user" with no code that names the mailbox (5.1.x) and no sign that it answered
    // the recipient (RCPT TO) is what carriers' spam filters say too: not proof enough to
    // silence anyone. Nor is one that names no address, wherever it was said.
    let unproven = !status.is_some_and(names_the_mailbox)
        && !at_rcpt(&text)
        && !at_rcpt(&context)
        && !looked_up_in_own_directory(&text);
    if reason == Reason::UserUnknown
        && (refused_after_data || unproven || unknown_user_names_no_address(&text))
    {
        reason = Reason::Filtered;
    }
    // "No such user" under a security or policy code (X.7.x) the server gave itself is a
    // policy's refusal (a sender it filters, a guessed address), not its directory's: Postfix
    // puts 5.1.1 on a missing mailbox. A report's `Status:` alone is the reporting MTA's own
    // mapping of a bare reply. The access table's refusal keeps the reading `said` gives it.
    if reason == Reason::UserUnknown
        && status_in(&text).is_some_and(|s| is_policy(&s))
        && !text.contains(said::ACCESS_TABLE_REFUSAL)
    {
        reason = Reason::Filtered;
    }
    let temporary = status.is_some_and(|s| s.starts_with('4'));
    (reason, reason.is_hard() && !temporary)
}

/// The reason once a report about this one recipient is read whole: where its notification
/// says the mailbox is full beside the server's "no such user", the address is not proven
/// dead, and the soft reading wins. (In a report about several recipients the notification may
/// be about another one.)
pub fn contradicted(reason: Reason, hard: bool, notification: &str) -> (Reason, bool) {
    if hard && said_reason(&notification.to_lowercase()) == Some(Reason::MailboxFull) {
        return (Reason::MailboxFull, false);
    }
    (reason, hard)
}

/// Whether an address whose soft failures, counted in a row, are now `count`, the first at
/// `first`, is to be suppressed as `soft_bounced`: at least `limit` of them over at least
/// `span`. A `limit` of 0 never suppresses.
pub fn soft_bounced(
    count: u32,
    first: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    limit: u32,
    span: chrono::TimeDelta,
) -> bool {
    limit > 0 && count >= limit && now - first >= span
}
