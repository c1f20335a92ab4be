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
