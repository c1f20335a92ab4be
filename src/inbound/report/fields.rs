//! The fields of a `message/delivery-status` part (RFC 3464 §2): one block for the message,
//! then one per recipient, each `Name: value` with folded continuation lines.

use crate::inbound::RecipientStatus;

/// The blocks of `Name: value` fields, folded lines unfolded, names lowercased; any line
/// ending (CRLF, LF or CR alone).
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut blocks: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !blocks.last().is_some_and(Vec::is_empty) {
                blocks.push(Vec::new());
            }
            continue;
        }
        let current = blocks.last_mut().expect("never empty");
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                // A value may start on the folded line (`Final-Recipient:` alone, then it).
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

/// One recipient per block that names one (`Final-Recipient` or `Original-Recipient`).
pub(super) fn recipients(text: &str) -> Vec<RecipientStatus> {
    let mut out = Vec::new();
    for block in blocks(text) {
        let get = |name: &str| {
            block
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let internet = |name: &str| get(name).map(|v| address(&v)).filter(|a| is_internet(a));
        let original = internet("original-recipient");
        let Some(recipient) = (internet("final-recipient").or_else(|| original.clone()))
            .or_else(|| get("final-recipient").map(|v| address(&v)))
        else {
            continue;
        };
        out.push(RecipientStatus {
            recipient: Some(recipient),
            original_recipient: original,
            action: get("action").map(|a| first_word(&a)),
            status: get("status").and_then(|s| crate::failure::status_in(&s)),
            diagnostic: get("diagnostic-code").map(|d| without_type(&d)),
            category: get("x-powermta-bouncecategory")
                .and_then(|c| crate::failure::Reason::from_category(&c))
                .or_else(|| get("diagnostic-code").and_then(|d| program_output(&d))),
            ..RecipientStatus::default()
        });
    }
    out
}

/// A `Diagnostic-Code` of type `X-Unix` is what a local delivery program (procmail, a pipe)
/// printed, not a server's answer: its "no such user" is about the program's own lookups, so
/// the failure is the mailer's, never proof the address is dead.
fn program_output(diagnostic: &str) -> Option<crate::failure::Reason> {
    let (kind, _) = diagnostic.split_once(';')?;
    kind.trim()
        .eq_ignore_ascii_case("x-unix")
        .then_some(crate::failure::Reason::SystemError)
}

/// The value of the first field called `name` (lowercase) anywhere in the fields.
pub(super) fn value(text: &str, name: &str) -> Option<String> {
    blocks(text)
        .into_iter()
        .flatten()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The address of `rfc822; ana@example.com` (or of a bare `<ana@example.com>`), lowercased.
/// An internationalised one written as RFC 6533's `utf-8-addr-xtext` (`jos\x{E9}@…`, for a
/// report that is no `message/global-delivery-status`) is decoded.
pub(super) fn address(value: &str) -> String {
    unescape_unicode(without_type(value).trim_matches(['<', '>', ' '])).to_ascii_lowercase()
}

/// RFC 6533's `\x{HEX}` escapes, each the character it names; text without one unchanged.
fn unescape_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\x{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let decoded = (after.find('}'))
            .and_then(|end| Some((u32::from_str_radix(&after[..end], 16).ok()?, end)))
            .and_then(|(code, end)| Some((char::from_u32(code)?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[at..at + 3]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether an address is an internet one (`ana@example.com`), not X.400's
/// `/S=ana/PRMD=…/C=GB/` that gateways put in `Final-Recipient`.
fn is_internet(address: &str) -> bool {
    address.contains('@') && !address.starts_with('/')
}

/// A typed value without its type: `smtp; 550 …` → `550 …`.
fn without_type(value: &str) -> String {
    match value.trim().split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') && kind.len() < 20 => rest.trim().to_string(),
        _ => value.trim().to_string(),
    }
}

fn first_word(value: &str) -> String {
    value
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_read_from_its_typed_forms() {
        let table = [
            ("rfc822; Ana@Visitor.example", "ana@visitor.example"),
            ("<ana@visitor.example>", "ana@visitor.example"),
            ("utf-8; josé@exámple.com", "josé@exámple.com"),
            ("utf-8; jos\\x{E9}@ex\\x{e1}mple.com", "josé@exámple.com"),
            // Not an escape: kept as written.
            ("rfc822; a\\x{zz}b@example.com", "a\\x{zz}b@example.com"),
            ("rfc822; a\\x{41", "a\\x{41"),
        ];
        for (value, want) in table {
            assert_eq!(address(value), want, "{value}");
        }
    }

    /// A field's value may start on its folded line; the unfolded value is the same.
    #[test]
    fn a_value_folded_from_its_first_line_is_read() {
        let block = "Final-Recipient:\n rfc822;ana@visitor.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp;\n 550 5.1.1 user unknown";
        let r = &recipients(block)[0];
        assert_eq!(r.recipient.as_deref(), Some("ana@visitor.example"));
        assert_eq!(r.diagnostic.as_deref(), Some("550 5.1.1 user unknown"));
    }
}
