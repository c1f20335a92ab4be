//! Our "reply above this line" marker, and what stands around it in a reply.
//!
//! Where the visitor wrote above the marker, that is the reply, and the rest is our email
//! quoted back, except what they typed between its lines (inline answers), which knowing the
//! text we sent tells apart. Where nothing of theirs stands above it, the marker is only the
//! first line of our quoted email: the visitor wrote below it or between its lines, and the
//! whole body is read, our copy cut by its words.

use super::own::{answers_within_copy, with_html, Sent};
use super::{reply_text, Reply};
use std::cell::OnceCell;

/// The visitor's words in a reply that may quote one of our emails: `sent` are the emails it
/// may quote, `markers` our marker's words in every language.
pub fn reply_to_ours(body: &str, sent: &[Sent], markers: &[&str]) -> Reply {
    // Our HTML parts as text, rendered once at most, and only where they are needed.
    let rendered = OnceCell::new();
    let rich = || rendered.get_or_init(|| with_html(sent)).as_slice();
    let lines: Vec<&str> = body.lines().collect();
    let Some(at) = lines.iter().position(|l| is_marker(l, markers)) else {
        return without_ours(body, sent, rich);
    };
    let above = lines[..at].join("\n");
    let mut reply = without_ours(&above, sent, rich);
    if !reply.trimmed || reply.text.is_empty() {
        // Nothing the rules find of the visitor's above it. Our email below is known by its
        // words, or, not knowing them, by its quote marks, when the rules leave none of the
        // quote.
        let whole = without_ours(body, sent, rich);
        let found = whole.own_copy
            || (lines[at].trim_start().starts_with('>')
                && !whole.text.lines().any(|l| l.trim_start().starts_with('>')));
        // A body kept as it came (`trimmed: false`) would be our own email, unrecognised.
        if found && whole.trimmed && !whole.text.is_empty() {
            return whole;
        }
    }
    if let Some(answers) = answers_within_copy(&lines[at..], sent, rich) {
        if !reply.text.is_empty() {
            reply.text.push_str("\n\n");
        }
        reply.text.push_str(&answers);
        reply.own_copy = true;
    }
    reply
}

/// [`reply_text`], with the words of our HTML parts too (`rich`: `sent` with them) where a copy
/// of ours is found: a client may quote our HTML rather than our text, and the two say the same
/// in other orders (an attachment's name before its link, a heading the text has not).
fn without_ours<'a>(body: &str, sent: &[Sent], rich: impl FnOnce() -> &'a [Sent]) -> Reply {
    let reply = reply_text(body, sent);
    if reply.own_copy && sent.iter().any(|s| s.html.is_some()) {
        return reply_text(body, rich());
    }
    reply
}

/// Whether a line holds our marker, quoted with `>` or not (`> ## Reply above this line ##`).
/// Elsewhere (in a table cell a client drew, behind another quote mark) it is part of a copy
/// of ours, which its words find.
fn is_marker(line: &str, markers: &[&str]) -> bool {
    let core = (line.trim().trim_start_matches('>').trim())
        .trim_matches('#')
        .trim();
    !core.is_empty() && markers.contains(&core)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "Reply above this line to answer";

    /// Ours as the pipeline reads it back: marker first, then the chat, then the footer.
    const OURS: &str = "## Reply above this line to answer ##\n\nYou have new replies in your conversation with Acme.\n\nSam · today, 3:19 PM\nWhich colour would you like, the blue one or the green one?\n\nSam · today, 3:20 PM\nAnd which size should we send you, medium or large?\n\nAnswer by replying to this email: your reply goes straight into the conversation.\n\n--\nYou are receiving this because you chatted with Acme and left before the reply arrived.\nUnsubscribe: https://relay.example/v1/unsubscribe/abc";

    /// What our HTML part reads as, where it says more than the text: the site's name as a
    /// heading, "New" as a label.
    const OURS_HTML: &str = "<p>## Reply above this line to answer ##</p><h1>Acme</h1><p>You have new replies in your conversation with Acme.</p><p>New</p><p>Sam · today, 3:19 PM</p><p>Which colour would you like, the blue one or the green one?</p><p>Sam · today, 3:20 PM</p><p>And which size should we send you, medium or large?</p><p>Answer by replying to this email: your reply goes straight into the conversation.</p><p>You are receiving this because you chatted with Acme and left before the reply arrived. <a href=\"https://relay.example/v1/unsubscribe/abc\">Unsubscribe</a></p>";

    fn sent() -> Vec<Sent> {
        vec![Sent {
            text: OURS.into(),
            from_address: "support@acme.example".into(),
            from_name: Some("Acme".into()),
            html: Some(OURS_HTML.into()),
        }]
    }

    /// Ours with `answer` written under the line that starts with `after`, each line of ours
    /// quoted with `mark`.
    fn ours_answered(mark: &str, answers: &[(&str, &str)]) -> String {
        let mut out = Vec::new();
        for line in OURS.lines() {
            out.push(format!("{mark}{line}"));
            for (after, answer) in answers {
                if line.starts_with(after) {
                    out.push(answer.to_string());
                }
            }
        }
        out.join("\n")
    }

    #[test]
    fn words_around_our_quoted_email_are_the_visitors() {
        let outlook = "From: Acme <support@acme.example>\nSent: Monday, March 2, 2026 3:21 PM\nTo: Ana <ana@visitor.example>\nCc: Bob <bob@visitor.example>\nSubject: New replies from Acme\n\n";
        let gmail = "On Mon, 2 Mar 2026 at 15:21, Acme <support@acme.example> wrote:\n";
        let cases = [
            // Above the marker: the reply; our email below it goes.
            (
                format!("Blue, medium.\n\n{gmail}{}", ours_answered("> ", &[])),
                "Blue, medium.",
            ),
            // Outlook's inline comments, marked with the visitor's name, under a line above.
            (
                format!(
                    "My answers are below.\n\n{outlook}{}",
                    ours_answered(
                        "",
                        &[
                            ("Which", "[Ana] Blue, please."),
                            ("And which", "[Ana] Medium.")
                        ]
                    )
                ),
                "My answers are below.\n\n[Ana] Blue, please.\n\n[Ana] Medium.",
            ),
            // Answers between the quoted lines, nothing above.
            (
                format!(
                    "{gmail}{}",
                    ours_answered(
                        "> ",
                        &[("Which", "\nBlue.\n"), ("And which", "\nMedium.\n")]
                    )
                ),
                "Blue.\n\nMedium.",
            ),
            // Written under our whole email (a bottom-post).
            (
                format!("{gmail}{}\n\nBlue, medium.\nAna", ours_answered("> ", &[])),
                "Blue, medium.\nAna",
            ),
            // What a client shows of our HTML between the lines, and its placeholders for a
            // picture or a link, are not the visitor's.
            (
                format!(
                    "Blue.\n\n{outlook}{}",
                    ours_answered(
                        "",
                        &[
                            ("## Reply", "Acme"),
                            ("You have", "[cid:image001.png@01DC6F1A.2B3C4D50]"),
                            ("Sam · today, 3:19", "<https://acme.example/chat>"),
                        ]
                    )
                ),
                "Blue.",
            ),
            // Under our HTML as a client wrote it as text: the marker in a table cell, the
            // heading and the label only the HTML has, rules drawn for its borders.
            (
                format!(
                    "| ## Reply above this line to answer ## |\n{rule}\nAcme\nYou have new replies in your conversation with Acme.\nNew\nSam · today, 3:19 PM\nWhich colour would you like, the blue one or the green one?\nSam · today, 3:20 PM\nAnd which size should we send you, medium or large?\nAnswer by replying to this email: your reply goes straight into the conversation.\nYou are receiving this because you chatted with Acme and left before the reply arrived. Unsubscribe (https://relay.example/v1/unsubscribe/abc)\n{rule}\n\nBlue, medium.",
                    rule = "─".repeat(40)
                ),
                "Blue, medium.",
            ),
        ];
        for (body, want) in cases {
            let got = reply_to_ours(&body, &sent(), &[MARKER]);
            assert_eq!(got.text, want, "{body}");
            assert!(got.trimmed, "{body}");
        }
    }

    /// Without knowing what we sent, the marker still ends the reply where words stand above
    /// it, and a reply written below our quoted email is found by the quote's shape.
    #[test]
    fn the_marker_ends_the_reply_when_what_was_sent_is_unknown() {
        let gmail = "On Mon, 2 Mar 2026 at 15:21, Acme <support@acme.example> wrote:\n";
        let cases = [
            (
                format!("Blue.\n{}\nBlue again", ours_answered("", &[])),
                "Blue.",
            ),
            (
                format!("{gmail}{}\n\nBlue, medium.", ours_answered("> ", &[])),
                "Blue, medium.",
            ),
            // Our email unquoted and nothing above it: not taken for the visitor's words.
            (ours_answered("", &[]), ""),
        ];
        for (body, want) in cases {
            assert_eq!(reply_to_ours(&body, &[], &[MARKER]).text, want, "{body}");
        }
    }
}
