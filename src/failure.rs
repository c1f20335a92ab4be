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
    /// recipient at `RCPT TO`: a content filter's answer, not a dead address.
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

/// What the server's words say, checked in this order: the soft reasons first, since a block or
/// a full mailbox is often worded around "recipient" or "address" ("Recipient address rejected:
/// Access denied").
const SAID: &[(Reason, &[&str])] = &[
    // About our side, not the visitor's address, however it is worded ("Domain of sender
    // address … does not exist").
    (
        Reason::Rejected,
        &[
            "sender address",
            "domain of sender",
            "sender domain",
            "sender rejected",
            "sender verify",
            "sender is not",
            "mail from",
        ],
    ),
    // Our greeting refused (qmail's "Connected to … but my name was rejected"; an answer to
    // HELO or EHLO): about our host, whatever the server called it ("Invalid domain name").
    (Reason::Blocked, &["my name was rejected", "helo", "ehlo"]),
    // A resolver that could not answer for now (Postfix's "Host not found, try again"): no
    // proof the domain is gone.
    (
        Reason::SystemError,
        &[
            "not found, try again",
            "temporary failure in name resolution",
            "servfail",
        ],
    ),
    (
        Reason::MailboxFull,
        &[
            "mailbox full",
            "mailbox is full",
            "mailbox has exceeded",
            "over quota",
            "overquota",
            "quota exceeded",
            "exceeded storage",
            "exceeds the storage",
            "insufficient storage",
            "insufficient disk",
            "out of storage",
            "mailfolder is full",
            "mail box full",
            "too much mail",
            "user is over",
            "disk space",
        ],
    ),
    (
        Reason::Suspended,
        &[
            "suspended",
            "disabled",
            "inactive",
            "deactivated",
            "account is locked",
            "mailbox is frozen",
            "temporarily unavailable",
        ],
    ),
    (
        Reason::AuthFailure,
        &[
            "spf",
            "dkim",
            "dmarc",
            "sender authentication",
            "authentication failed",
            "authentication check",
        ],
    ),
    (
        Reason::Rejected,
        &[
            "spam",
            "virus",
            "malware",
            "content rejected",
            "message content",
            "policy",
            "not compliant",
            "unsolicited",
            "bulk mail",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "blocked",
            "blacklist",
            "blocklist",
            "block list",
            "spamhaus",
            "is listed",
            "are listed",
            "listed on",
            "listed at",
            "reputation",
            "access denied",
            "not allowed",
            "not permitted",
            "relay",
            "reverse dns",
            "ptr record",
            "too many",
            "rate limit",
            "throttl",
            "try again later",
            "refused to talk",
            "connection refused",
            "client host",
        ],
    ),
    (
        Reason::TooBig,
        &[
            "message too large",
            "message too big",
            "message size exceeds",
            "exceeds size limit",
            "message is too large",
        ],
    ),
    (
        Reason::Expired,
        &[
            "expired",
            "delivery time",
            "retry time",
            "retry timeout",
            "could not be delivered for",
            "has not been delivered",
            "was not delivered within",
            "timed out",
            "timeout",
            "delayed",
        ],
    ),
    (
        Reason::HasMoved,
        &[
            "has moved",
            "address has changed",
            "moved to",
            "no longer at",
        ],
    ),
    (
        Reason::NotAccept,
        &[
            "does not accept mail",
            "accepts no mail",
            "null mx",
            "not accept any mail",
            "indicated no smtp service",
            "couldn't find a mail exchanger",
            "could not find a mail exchanger",
            "no mail exchanger",
        ],
    ),
    (
        Reason::HostUnknown,
        &[
            "host unknown",
            "unknown host",
            "host not found",
            "domain not found",
            "no such domain",
            "domain does not exist",
            "domain name not found",
            "unrouteable mail domain",
            "unrouteable domain",
            "name or service not known",
            "nxdomain",
            "no mx",
            "mx record",
            "domain is not",
            "unknown domain",
            "host or domain name not found",
            "invalid domain",
            "dns lookup failure",
            "lookup failed",
        ],
    ),
    (
        Reason::UserUnknown,
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "no such mailbox",
            "no such recipient",
            "no such person",
            "no such address",
            "no such account",
            "user not found",
            "recipient not found",
            "mailbox not found",
            "address not found",
            "account not found",
            "does not exist",
            "doesn't exist",
            "does not have an account",
            "invalid recipient",
            "invalid mailbox",
            "invalid address",
            "unknown recipient",
            "recipient unknown",
            "unknown address",
            "unknown or illegal alias",
            // Not "recipient address rejected": Postfix's prefix for every recipient
            // restriction, policy ones included; the words after it say which.
            "not a valid mailbox",
            "is not a valid",
            "mailbox unavailable",
            "mailbox not available",
            "unrouteable address",
            "not recognized",
            "no mailbox",
            "bad destination mailbox",
            "not our customer",
            "not listed in",
            "unknown local part",
            "undeliverable address",
            "is unknown",
            "no longer valid",
            "no longer available",
            "this user doesn't have",
            "invalid final delivery",
        ],
    ),
    (
        Reason::SystemError,
        &[
            "system error",
            "internal error",
            "server error",
            "local error",
            "network",
            "connection",
            "loop",
            "hop count",
            "i/o error",
        ],
    ),
];

/// The reason a failure's words and status give, and whether it means a dead address. A
/// temporary status (4.x.x) is never a dead address, whatever the words. `context` is the rest
/// of the report (its notification text), read for the stage the server refused at.
pub fn severity(status: Option<&str>, said: Option<&str>, context: &str) -> (Reason, bool) {
    let text = said.unwrap_or_default().to_lowercase();
    let from_text = said_reason(&text);
    let mut reason = from_text
        .or_else(|| status.and_then(from_status))
        .unwrap_or_default();
    // Exchange Online answers an address its directory does not hold with 5.4.1 "Recipient
    // address rejected: Access denied" (directory-based edge blocking).
    if status == Some("5.4.1") && text.contains("recipient address rejected") {
        reason = Reason::UserUnknown;
    }
    if takes_no_mail(&text) {
        reason = Reason::NotAccept;
    }
    let context = context.to_lowercase();
    let refused_after_data = after_data(&text) || after_data(&context);
    // "No such user" with no code that names the mailbox (5.1.x) and no sign that it answered
    // the recipient (RCPT TO) is what carriers' spam filters say too: not proof enough to
    // silence anyone.
    let unproven = !status.is_some_and(names_the_mailbox)
        && !at_rcpt(&text)
        && !at_rcpt(&context)
        && !looked_up_in_own_directory(&text);
    if reason == Reason::UserUnknown && (refused_after_data || unproven) {
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

/// The first reason whose words a (lowercased) text holds.
fn said_reason(text: &str) -> Option<Reason> {
    SAID.iter()
        .find(|(_, phrases)| phrases.iter().any(|p| text.contains(p)))
        .map(|(reason, _)| *reason)
}

/// Whether an enhanced status code is one RFC 3463 registers for a recipient's address being
/// bad (X.1.1 mailbox, X.1.2 system, X.1.3 syntax, X.1.6 moved, X.1.10 null MX). A vendor's
/// own detail under X.1 (Microsoft's 5.1.351, "unknown recipient or mailbox unavailable") is
/// not that proof.
fn names_the_mailbox(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    parts.next() == Some("1") && matches!(parts.next(), Some("1" | "2" | "3" | "6" | "10"))
}

/// Whether the server refused the message after `DATA`, having taken the recipient before.
fn after_data(text: &str) -> bool {
    [
        "end of data",
        "after data",
        "data command",
        "after end of data",
    ]
    .iter()
    .any(|p| text.contains(p))
        && !text.contains("rcpt to:")
        && !text.contains("in reply to rcpt")
}

/// Whether the server refused the recipient itself, at `RCPT TO`.
fn at_rcpt(text: &str) -> bool {
    [
        "rcpt to",
        "rcpt command",
        "in reply to rcpt",
        "recipient address rejected",
        "[rcpt_to]",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Whether the words are a mail store's own answer from its user directory, which only the
/// server that holds the mailboxes writes (a filter in front of it has no directory to name):
/// Exchange's "recipient name is not recognized", Domino's "not listed in public Name & Address
/// Book" (or "Domino Directory"), IMail's "invalid final delivery userid".
fn looked_up_in_own_directory(text: &str) -> bool {
    [
        "recipient name is not recognized",
        "not listed in public name & address book",
        "not listed in the domino directory",
        "not listed in domino directory",
        "invalid final delivery userid",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Whether the server answered with RFC 7504's codes for a host that accepts no mail at all:
/// `521` (the server says so) or `556` (its domain publishes a null MX), with the status those
/// go with (5.3.2, or RFC 7505's 5.1.10): servers put 521 on blocklist refusals too.
fn takes_no_mail(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).any(|w| {
        let code = w[0].trim_start_matches(|c: char| !c.is_ascii_digit());
        matches!(code, "521" | "556")
            && ["5.3.2", "5.1.10"]
                .iter()
                .any(|s| w[1].trim_end_matches([',', ';', ':']) == *s)
    })
}

/// What an enhanced status code (RFC 3463) alone says; the generic ones (`x.0.0`, `x.5.x`,
/// `x.7.1`) say too little to name a reason.
fn from_status(status: &str) -> Option<Reason> {
    let mut parts = status.split('.');
    let (_, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    Some(match (subject, detail) {
        ("1", "1") | ("1", "3") => Reason::UserUnknown,
        ("1", "2") => Reason::HostUnknown,
        ("1", "6") => Reason::HasMoved,
        ("1", "10") => Reason::NotAccept,
        ("1", "7") | ("1", "8") => Reason::Rejected,
        ("2", "1") => Reason::Suspended,
        ("2", "2") => Reason::MailboxFull,
        ("2", "3") | ("3", "4") => Reason::TooBig,
        ("4", "7") => Reason::Expired,
        ("4", _) | ("3", _) => Reason::SystemError,
        ("7", "1") => Reason::Blocked,
        ("7", "26") | ("7", "27") | ("7", "23") => Reason::AuthFailure,
        ("7", _) => Reason::Rejected,
        _ => return None,
    })
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

/// The first enhanced status code (`5.1.1`) in a text.
pub fn status_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b'2' | b'4' | b'5') || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            continue;
        }
        if i > 0 && bytes[i - 1] == b'.' {
            continue;
        }
        let rest = &text[i..];
        let code: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let code = code.trim_end_matches('.');
        let fields: Vec<&str> = code.split('.').collect();
        let ok = fields.len() == 3
            && fields[0].len() == 1
            && (1..=3).contains(&fields[1].len())
            && (1..=3).contains(&fields[2].len());
        if ok {
            return Some(code.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_address_is_hard() {
        let table = [
            (
                Some("5.1.1"),
                "550 5.1.1 <ana@x.test>... User Unknown",
                Reason::UserUnknown,
                true,
            ),
            (
                Some("5.0.0"),
                "550 No such user here",
                Reason::Filtered,
                false,
            ),
            (
                Some("5.0.0"),
                "RCPT TO: 550 No such user here",
                Reason::UserUnknown,
                true,
            ),
            (
                Some("5.1.2"),
                "Host or domain name not found",
                Reason::HostUnknown,
                true,
            ),
            (
                Some("5.2.2"),
                "552 5.2.2 Mailbox full",
                Reason::MailboxFull,
                false,
            ),
            (
                Some("5.7.1"),
                "550 5.7.1 Client host 10.5.1.3 blocked",
                Reason::Blocked,
                false,
            ),
            (
                Some("5.7.1"),
                "554 Message rejected as spam",
                Reason::Rejected,
                false,
            ),
            (
                Some("4.2.2"),
                "452 4.2.2 Over quota",
                Reason::MailboxFull,
                false,
            ),
            (
                Some("4.1.1"),
                "450 4.1.1 User unknown, try later",
                Reason::UserUnknown,
                false,
            ),
            (
                Some("4.4.7"),
                "delivery time expired",
                Reason::Expired,
                false,
            ),
            (
                Some("5.7.1"),
                "Recipient address rejected: Access denied",
                Reason::Blocked,
                false,
            ),
            (Some("5.1.1"), "", Reason::UserUnknown, true),
            (
                Some("5.1.8"),
                "553 5.1.8 Domain of sender address x.test does not exist",
                Reason::Rejected,
                false,
            ),
            (
                Some("5.0.0"),
                "SMTP error after end of data: 550 user unknown",
                Reason::Filtered,
                false,
            ),
            (Some("5.0.0"), "", Reason::Undefined, false),
            (None, "", Reason::Undefined, false),
        ];
        for (status, said, reason, hard) in table {
            assert_eq!(
                severity(status, Some(said), ""),
                (reason, hard),
                "{status:?} {said}"
            );
        }
    }

    #[test]
    fn the_stage_and_rfc_7504s_codes_are_read() {
        let table = [
            // Yahoo names the stage in brackets.
            (
                Some("5.2.1"),
                "550 5.2.1 <a@b.test>... User Unknown [RCPT_TO]",
                Reason::UserUnknown,
                true,
            ),
            // RFC 7504: a host that takes no mail; but 521 on a blocklist refusal is a block.
            (
                Some("5.3.2"),
                "521 5.3.2 <a@b.test>: System not accepting network messages",
                Reason::NotAccept,
                true,
            ),
            (
                Some("5.7.1"),
                "521-5.7.1 client blocked using dnsbl.example",
                Reason::Blocked,
                false,
            ),
        ];
        for (status, said, reason, hard) in table {
            assert_eq!(
                severity(status, Some(said), ""),
                (reason, hard),
                "{status:?} {said}"
            );
        }
    }

    #[test]
    fn a_mail_stores_own_directory_is_proof_a_filters_words_are_not() {
        let table = [
            // The server holding the mailboxes looked the name up and it is not there.
            (None, "The recipient name is not recognized", true),
            (None, "User a@b.test not listed in Domino Directory", true),
            (None, "Invalid final delivery userid: a@b.test", true),
            // The same verdict without naming a directory is what filters say too.
            (None, "Unknown user: a@b.test", false),
            (None, "550 a@b.test... No such user", false),
            // A temporary status outweighs any words.
            (Some("4.0.0"), "The recipient name is not recognized", false),
        ];
        for (status, said, hard) in table {
            assert_eq!(
                severity(status, Some(said), "").1,
                hard,
                "{status:?} {said}"
            );
        }
    }

    #[test]
    fn what_is_not_about_the_address_is_never_hard() {
        let table = [
            // Our HELO name refused: about our host, whatever words the server chose.
            (
                Some("5.0.0"),
                "Connected to 192.0.2.1 but my name was rejected. Remote host said: 501 5.0.0 Invalid domain name",
                Reason::Blocked,
            ),
            (
                None,
                "550 Invalid domain name (in reply to EHLO command)",
                Reason::Blocked,
            ),
            // A resolver's temporary failure is no dead domain.
            (
                None,
                "Name service error for domain b.test: Host not found, try again",
                Reason::SystemError,
            ),
            // A vendor's detail under X.1 is not RFC 3463's bad mailbox.
            (
                Some("5.1.351"),
                "550 5.1.351 Remote server returned unknown recipient or mailbox unavailable",
                Reason::Filtered,
            ),
        ];
        for (status, said, reason) in table {
            assert_eq!(
                severity(status, Some(said), ""),
                (reason, false),
                "{status:?} {said}"
            );
        }
    }

    #[test]
    fn a_notification_that_says_full_outweighs_no_such_user() {
        let (reason, hard) = severity(Some("5.1.1"), Some("550 5.1.1 User Unknown"), "");
        assert!(hard);
        let notification = "Your message was automatically rejected:\nNot enough disk space";
        assert_eq!(
            contradicted(reason, hard, notification),
            (Reason::MailboxFull, false)
        );
        assert_eq!(
            contradicted(reason, hard, "Delivery failed."),
            (Reason::UserUnknown, true)
        );
    }

    #[test]
    fn postfixs_recipient_prefix_is_no_reason_of_its_own() {
        // Postfix writes it before every recipient restriction: the words after it say which.
        let on_hold = "RCPT TO: 550 5.0.0 <a@b.test>: Recipient address rejected: On hold";
        assert_eq!(
            severity(Some("5.0.0"), Some(on_hold), ""),
            (Reason::Undefined, false)
        );
        let unknown = "RCPT TO: 550 <a@b.test>: Recipient address rejected: User unknown in local recipient table";
        assert_eq!(
            severity(None, Some(unknown), ""),
            (Reason::UserUnknown, true)
        );
    }

    #[test]
    fn soft_failures_suppress_only_when_many_over_long() {
        let t0 = chrono::DateTime::from_timestamp(1_772_445_600, 0).unwrap();
        let day = chrono::TimeDelta::days(1);
        let week = day * 7;
        let table = [
            // (count, days since the first, limit, suppressed)
            (5, 7, 5, true),
            (9, 30, 5, true),
            (4, 30, 5, false),
            (50, 6, 5, false),
            (50, 30, 0, false),
        ];
        for (count, days, limit, want) in table {
            assert_eq!(
                soft_bounced(count, t0, t0 + day * days, limit, week),
                want,
                "{count} over {days} days, limit {limit}"
            );
        }
        assert!(Reason::MailboxFull.counts_as_soft_bounce());
        assert!(!Reason::Blocked.counts_as_soft_bounce());
        assert!(!Reason::Undefined.counts_as_soft_bounce());
    }

    #[test]
    fn status_codes_are_found_in_text() {
        assert_eq!(status_in("smtp; 550 5.1.1 <a@b>"), Some("5.1.1".into()));
        assert_eq!(status_in("5.0.0 (permanent failure)"), Some("5.0.0".into()));
        assert_eq!(status_in("(#5.5.0)"), Some("5.5.0".into()));
        assert_eq!(status_in("host 10.5.1.3 said 550"), None);
        assert_eq!(status_in("version 2.4.10.1"), None);
    }
}
