//! The email as a spam filter reads it: SpamAssassin (Debian's `spamassassin`, local tests only,
//! `spamassassin -L -t`) scores the email of every language in every mode, with the built-in
//! look and with a site's colour and logo, and none may pass
//! 0.5 of the 5.0 that marks spam. Skipped, saying so, where SpamAssassin is not installed;
//! `.ci/run` installs it.
//!
//! One rule is left out: `MIXED_ES` ("too many es are not es"), which compares a count of
//! e-like letters (é, ê, Cyrillic е, and e itself, capped at 320) with a count of plain e
//! (capped at 230). On a long email the capped counts overshoot by whatever the last line read
//! held, and the order SpamAssassin reads the parts in varies between runs: the very same
//! message (an English transcript with no e-like letter in it) fires it in one run and not in
//! the next. It judges neither our wording nor our markup, so it is printed, not counted.

#[path = "support/skip.rs"]
mod skip;

use chrono::Utc;
use replyrelay::brand::{Brand, Colour};
use replyrelay::compose;
use replyrelay::domain::Mode;
use replyrelay::token::TokenKeys;
use replyrelay::triggers::EmailKind;
use std::io::Write;
use std::process::{Command, Stdio};

const MOST: f64 = 0.5;
/// `MIXED_ES`'s score in Debian's SpamAssassin 4.0.1: no score is set for it, so the default 1.0.
const MIXED_ES: f64 = 1.0;

#[test]
fn no_email_reads_as_spam_in_any_language_or_mode() {
    if Command::new("spamassassin")
        .arg("--version")
        .output()
        .is_err()
    {
        skip::skipped(
            "the SpamAssassin test",
            "spamassassin is not installed (apt-get install spamassassin)",
        );
        return;
    }
    let config = replyrelay::config::builtin();
    let keys = TokenKeys::new(vec![b"spam-test-key-0123456789-0123456789".to_vec()]);
    let kinds = [
        (Mode::Unread, EmailKind::Replies, "unread"),
        (Mode::Transcript, EmailKind::Replies, "transcript"),
        (Mode::Unread, EmailKind::CloseTranscript, "closed"),
    ];
    // One mailbox of every email, read by one run of SpamAssassin (its rules load once).
    let mut mbox = Vec::new();
    let mut names = Vec::new();
    // The built-in look, and a site's own: its colour and a logo (an image beside the text).
    let mut branded = config.sites[0].clone();
    branded.brand = Brand::new(Colour::parse("#c2410c").unwrap()).unwrap();
    branded.logo_url = Some("https://acme.example/logo.png".into());
    for (base, look) in [(&config.sites[0], ""), (&branded, ", branded")] {
        for lang in replyrelay::i18n::languages() {
            for (mode, kind, label) in kinds {
                let mut site = base.clone();
                site.triggers.mode = mode;
                let (conv, messages) =
                    compose::sample(&site, "ana@visitor.example", Some(lang), Utc::now());
                let made = compose::make(
                    &site,
                    &keys,
                    "https://relay.example.com",
                    kind,
                    &conv,
                    &messages,
                    Utc::now(),
                )
                .unwrap();
                mbox.extend_from_slice(b"From replyrelay@example.com Thu Jan  1 00:00:00 2026\n");
                let text = String::from_utf8(made.raw).unwrap().replace("\r\n", "\n");
                for line in text.lines() {
                    if line.starts_with("From ") {
                        mbox.push(b'>');
                    }
                    mbox.extend_from_slice(line.as_bytes());
                    mbox.push(b'\n');
                }
                mbox.push(b'\n');
                names.push(format!("{lang}, {label}{look}"));
            }
        }
    }
    let mut child = Command::new("spamassassin")
        .args(["-L", "-t", "--mbox"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&mbox).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Each message comes back with its verdict: `X-Spam-Status: No, score=0.0 required=5.0
    // tests=… autolearn=…`, folded over lines.
    let verdicts: Vec<String> = text
        .split("\nX-Spam-Status: ")
        .skip(1)
        .map(|rest| {
            let mut v = String::new();
            for (i, line) in rest.lines().enumerate() {
                if i > 0 && !line.starts_with([' ', '\t']) {
                    break;
                }
                v.push_str(line.trim());
                v.push(' ');
            }
            v
        })
        .collect();
    assert_eq!(verdicts.len(), names.len(), "{text}");
    let mut too_high = Vec::new();
    for (name, verdict) in names.iter().zip(&verdicts) {
        let mut score: f64 = verdict
            .split("score=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no score in {verdict}"));
        println!("{name}: {verdict}");
        if verdict.contains("MIXED_ES") {
            score -= MIXED_ES;
        }
        if score > MOST {
            too_high.push(format!("{name}: {verdict}"));
        }
    }
    assert!(
        too_high.is_empty(),
        "scored over {MOST}:\n{}",
        too_high.join("\n")
    );
}
