//! A reply signed inline with OpenPGP (RFC 4880's cleartext signature, as Enigmail, Mailvelope
//! and `gpg --clearsign` write it): the signed text is the visitor's words; the armor around it
//! (the `BEGIN PGP SIGNED MESSAGE` line with its `Hash:` headers, and the signature block) is
//! not, and no agent can use it in a chat.

const SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const SIGNATURE_END: &str = "-----END PGP SIGNATURE-----";

/// `body` without the armor of the cleartext signatures in it, their signed text kept as it
/// was before signing (dash-escaped lines, `- -- `, back to `-- `). Quoted lines are left
/// alone: a quoted signature is part of the quote, which the trimming rules cut whole. A
/// signature block with no end, or armor with no blank line after its headers, is not armor
/// anyone wrote: the body is returned unchanged.
pub fn without_armor(body: &str) -> String {
    if !body.contains(SIGNED) {
        return body.to_string();
    }
    let lines: Vec<&str> = body.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    let mut signed = false;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line == SIGNED {
            // The armor headers ("Hash: SHA256") end at the first blank line.
            let Some(blank) = (i + 1..lines.len()).find(|&j| lines[j].trim().is_empty()) else {
                return body.to_string();
            };
            if !(i + 1..blank).all(|j| is_armor_header(lines[j])) {
                return body.to_string();
            }
            signed = true;
            i = blank + 1;
            continue;
        }
        if signed && line == SIGNATURE {
            let Some(end) = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == SIGNATURE_END)
            else {
                return body.to_string();
            };
            signed = false;
            i = end + 1;
            continue;
        }
        let kept = match lines[i].strip_prefix("- ") {
            Some(escaped) if signed => escaped,
            _ => lines[i],
        };
        out.push(kept.to_string());
        i += 1;
    }
    out.join("\n")
}

/// `Hash: SHA256`, `Charset: UTF-8`: a key, a colon and a value, as armor headers are.
fn is_armor_header(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::without_armor;

    #[test]
    fn the_armor_of_a_cleartext_signature_goes_and_the_signed_text_stays() {
        let cases = [
            // gpg --clearsign, as Enigmail sends it.
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nYes, Tuesday works.\n- -- \nAna\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=x1Yz\n-----END PGP SIGNATURE-----\n\nOn Mon, Acme wrote:\n> When?",
                "Yes, Tuesday works.\n-- \nAna\n\nOn Mon, Acme wrote:\n> When?",
            ),
            // Two hash headers and a charset, as Mailvelope writes them.
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\nCharset: UTF-8\n\nDanke!\n-----BEGIN PGP SIGNATURE-----\nVersion: Mailvelope v5\n\nwsFzBAEBCgAG\n-----END PGP SIGNATURE-----",
                "Danke!",
            ),
            // Quoted armor is the quote's: left for the trimming rules.
            (
                "Thanks.\n\n> -----BEGIN PGP SIGNED MESSAGE-----\n> Hash: SHA256\n>\n> Hello",
                "Thanks.\n\n> -----BEGIN PGP SIGNED MESSAGE-----\n> Hash: SHA256\n>\n> Hello",
            ),
            // Words about armor, not armor: no headers, then a blank line.
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nis what my mail app adds, sorry\n\nBest",
                "-----BEGIN PGP SIGNED MESSAGE-----\nis what my mail app adds, sorry\n\nBest",
            ),
            // A signature that never ends: nothing is taken.
            (
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nHi\n-----BEGIN PGP SIGNATURE-----\nabc",
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nHi\n-----BEGIN PGP SIGNATURE-----\nabc",
            ),
            // Outside the signed text a leading "- " is the visitor's own.
            ("- one\n- two", "- one\n- two"),
        ];
        for (body, want) in cases {
            assert_eq!(without_armor(body), want, "{body}");
        }
    }
}
