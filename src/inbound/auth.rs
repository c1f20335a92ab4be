//! What the operator's own MTA says of a message's sender authentication, read from its
//! `Authentication-Results` header (RFC 8601). Pure.
//!
//! Only headers whose authserv-id is one the operator trusts count: anyone can write an
//! `Authentication-Results` header into a message, and the operator's MTA is the one that
//! checked this copy (a well-run MTA also removes headers claiming its id from incoming mail).

/// The authserv-id of the first trusted header that says DMARC failed for `from_domain`, if
/// one does. A result for another domain says nothing of this From.
pub fn dmarc_failure<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted: &[String],
    from_domain: &str,
) -> Option<String> {
    for header in headers {
        let header = without_comments(header);
        let mut parts = header.split(';');
        let authserv = parts
            .next()?
            .split_whitespace()
            .next()?
            .to_ascii_lowercase();
        if !trusted.iter().any(|t| t.eq_ignore_ascii_case(&authserv)) {
            continue;
        }
        for resinfo in parts {
            let mut words = resinfo.split_whitespace();
            let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
                continue;
            };
            if !method.eq_ignore_ascii_case("dmarc") {
                continue;
            }
            let domain = words
                .filter_map(|w| w.split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("header.from"))
                .map(|(_, v)| v.trim_matches('"'));
            let ours = domain.is_none_or(|d| d.eq_ignore_ascii_case(from_domain));
            if ours && result.eq_ignore_ascii_case("fail") {
                return Some(authserv);
            }
        }
        // The first trusted header is the operator's own verdict on this copy.
        return None;
    }
    None
}

/// The header without its `(comments)`, which may nest and may hold `;` or `=`.
fn without_comments(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in header.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_trusted_verdict_on_the_from_domain_counts() {
        let trusted = vec!["mx.acme.example".to_string()];
        let table = [
            (vec!["mx.acme.example; spf=pass smtp.mailfrom=visitor.example; dmarc=fail (p=reject dis=none) header.from=visitor.example"], true),
            (vec!["MX.ACME.EXAMPLE 1; dkim=none; dmarc=FAIL header.from=Visitor.example"], true),
            (vec!["mx.acme.example; dmarc=pass header.from=visitor.example"], false),
            // Someone else's header, however it reads.
            (vec!["evil.example; dmarc=fail header.from=visitor.example"], false),
            // A failure for another domain says nothing of this From.
            (vec!["mx.acme.example; dmarc=fail header.from=other.example"], false),
            // A comment holding what looks like a result.
            (vec!["mx.acme.example; dmarc=pass (was dmarc=fail; header.from=visitor.example) header.from=visitor.example"], false),
            // The first trusted header is the verdict; an older one below it is not.
            (vec!["mx.acme.example; dmarc=pass header.from=visitor.example", "mx.acme.example; dmarc=fail header.from=visitor.example"], false),
            (vec!["mx.acme.example; none"], false),
        ];
        for (headers, fails) in table {
            let got = dmarc_failure(headers.iter().copied(), &trusted, "visitor.example");
            assert_eq!(got.is_some(), fails, "{headers:?}");
        }
        let none: Vec<String> = Vec::new();
        assert_eq!(
            dmarc_failure(["mx.acme.example; dmarc=fail"], &none, "visitor.example"),
            None,
            "nothing trusted, nothing read"
        );
    }
}
