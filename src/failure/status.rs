//! Enhanced status codes (RFC 3463): found in text, and what they say alone.

use super::Reason;

/// Whether an enhanced status code is one RFC 3463 registers for a recipient's address being
/// bad (X.1.1 mailbox, X.1.2 system, X.1.3 syntax, X.1.6 moved, X.1.10 null MX). A vendor's
/// own detail under X.1 (Microsoft's 5.1.351, "unknown recipient or mailbox unavailable") is
/// not that proof.
pub(super) fn names_the_mailbox(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    parts.next() == Some("1") && matches!(parts.next(), Some("1" | "2" | "3" | "6" | "10"))
}

/// Whether an enhanced status code is one of RFC 3463's security or policy codes (X.7.x).
pub(super) fn is_policy(status: &str) -> bool {
    status.split('.').nth(1) == Some("7")
}

/// What an enhanced status code (RFC 3463) alone says; the generic ones (`x.0.0`, `x.5.x`,
/// `x.7.1`) say too little to name a reason.
pub(super) fn from_status(status: &str) -> Option<Reason> {
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

/// A recipient's status: its `Status:` field, unless the server's own answer carries a code of
/// the same class that says more. The field is the reporting MTA's mapping: it writes `5.0.0`
/// over a `550 5.1.1` it was given, or a `5.1.1` of its own over a `552 5.2.2` (over quota).
/// Only a code the server gave with its reply counts against a specific field; a generic field
/// gives way to any code in the answer. The class stays the field's: a failure is not made
/// temporary, nor a delay final, by a code quoted in its text. The one exception is a recipient
/// that `failed` for good under a temporary field, where the server refused it for good in so
/// many words (`550 5.5.0`): the MTA gave up on a permanent answer, and its field only says
/// what it had hoped.
pub fn recipient_status(
    field: Option<&str>,
    diagnostic: Option<&str>,
    failed: bool,
) -> Option<String> {
    let said = diagnostic.and_then(server_status_in);
    match (field, said) {
        (Some(field), Some((said, with_reply)))
            if !said.ends_with(".0.0")
                && (with_reply || field.ends_with(".0.0"))
                && (said.starts_with(&field[..1])
                    || (failed
                        && with_reply
                        && field.starts_with('4')
                        && said.starts_with('5'))) =>
        {
            Some(said)
        }
        (Some(field), _) => Some(field.to_string()),
        // A failed recipient's status is no success code: a `2.0.12` in its words is a
        // version number or a subject, not the server's answer.
        (None, said) => said
            .map(|(code, _)| code)
            .filter(|code| !(failed && code.starts_with('2'))),
    }
}

/// The first enhanced status code (`5.1.1`) in a text.
pub fn status_in(text: &str) -> Option<String> {
    statuses_in(text).next().map(|(_, code)| code.to_string())
}

/// The enhanced status code the server that refused gave with its reply (`550 5.7.1`,
/// `550-'5.2.2`), and `true`; else the first code in the text, and `false`. Where relays nest
/// the answers they were given, the last is the refusing server's: Amazon SES writes "5.1.0 -
/// Unknown address error 550-'5.7.1 …'", a relay "554 4.4.7 Message expired … <421 4.4.2
/// Connection timed out>". A failure's code, where the text has one: the `250 2.0.0` of a
/// session transcript are the steps that went well before it.
fn server_status_in(text: &str) -> Option<(String, bool)> {
    let with_reply = |&(at, code): &(usize, &str)| {
        let before = text[..at]
            .trim_end_matches([' ', '-', '\'', '"'])
            .as_bytes();
        let Some(reply) = before.len().checked_sub(3).map(|start| &before[start..]) else {
            return false;
        };
        // The reply code stands alone: at the start of the text or after a non-alphanumeric.
        let alone = before.len() == 3 || !before[before.len() - 4].is_ascii_alphanumeric();
        // Of the code's class, as RFC 3463 has it: a `554 4.4.7` is no one reply.
        alone && reply[0] == code.as_bytes()[0] && reply[1..].iter().all(u8::is_ascii_digit)
    };
    let failures = || statuses_in(text).filter(|(_, code)| !code.starts_with('2'));
    let (best, with_reply) = match failures().filter(with_reply).last() {
        Some(best) => (Some(best), true),
        None => (
            failures().next().or_else(|| statuses_in(text).next()),
            false,
        ),
    };
    best.map(|(_, code)| (code.to_string(), with_reply))
}

/// Every enhanced status code in a text, with where it starts.
fn statuses_in(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    (0..bytes.len()).filter_map(move |i| {
        let b = bytes[i];
        if !matches!(b, b'2' | b'4' | b'5') || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            return None;
        }
        if i > 0 && bytes[i - 1] == b'.' {
            return None;
        }
        let rest = &text[i..];
        let len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let code = rest[..len].trim_end_matches('.');
        let fields: Vec<&str> = code.split('.').collect();
        let ok = fields.len() == 3
            && fields[0].len() == 1
            && (1..=3).contains(&fields[1].len())
            && (1..=3).contains(&fields[2].len());
        ok.then_some((i, code))
    })
}
