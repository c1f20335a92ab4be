//! The words servers use for each reason, and the first reason a text holds.

use super::Reason;

/// Postfix's refusal from its access table for a recipient: the server that holds the
/// address refuses that address, under 5.7.1 by Postfix's defaults.
pub(super) const ACCESS_TABLE_REFUSAL: &str = "recipient address rejected: access denied";

/// What the server's words say, checked in this order: the soft reasons first, since a block or
/// a full mailbox is often worded around "recipient" or "address" ("Recipient address rejected:
/// Mailbox full").
pub(super) const SAID: &[(Reason, &[&str])] = &[
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
    // Postfix's recipient prefix with its access table's own verdict after it: the server that
    // holds the address refuses that address itself (Exchange Online's directory-based edge
    // blocking answers so too, with 5.4.1). Checked before "access denied" names a block.
    (Reason::UserUnknown, &[ACCESS_TABLE_REFUSAL]),
    // The recipient's own choice refused us (Facebook's "Refused due to recipient
    // preferences", under 5.1.1): a person chose this, so the address is live, whatever the
    // code says.
    (
        Reason::Filtered,
        &[
            "recipient preferences",
            "recipient's preferences",
            "preferences of the recipient",
            "recipient has chosen",
            "recipient has blocked",
            "blocked by the recipient",
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
            "size limit exceeded",
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
            // Exim's verdict when no router (DNS included) can take the address.
            "unrouteable address",
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
            "is not a known user",
            "no account by that name",
            "not a valid recipient",
            "not a valid user",
            "there is no one at this address",
            "no longer accepts mail",
            "address couldn't be found",
            "email address could not be found",
            "address unknown",
            "mailbox is unavailable",
            "mailbox invalid",
            "user not known",
            "user not exist",
            "recipient not exist",
            "nonexistent user",
            "non-existent user",
            "non existent user",
            "unknown e-mail address",
            "unknown email address",
            "invalid or unknown virtual user",
            "user missing home directory",
            "recipnotfound",
            // qmail's lists of the recipients it refuses (badrcptto) or the only ones it takes.
            "badrcptto",
            "badrecipientto",
            "validrcptto",
            // The same in French, Italian and Spanish servers' words.
            "utilisateur inconnu",
            "nessun utente simile",
            "no existe dicha persona",
            "no existe ese usuario",
            "invalid final delivery",
            "ディレクトリのリストにありません",
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

/// The first reason whose words a (lowercased) text holds.
pub(super) fn said_reason(text: &str) -> Option<Reason> {
    SAID.iter()
        .find(|(_, phrases)| phrases.iter().any(|p| text.contains(p)))
        .map(|(reason, _)| *reason)
}
