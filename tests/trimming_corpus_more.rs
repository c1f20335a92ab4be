//! Scores reply trimming on `../shared/corpus/reply-trimming-more/` (beside the checkout) when
//! it is there: 41 cases from three other parsers' suites, each with the policy its
//! expectation follows. A chat thread wants the `reply` policy; `no-trim` cases must lose no
//! character; `drops-signoff` cases count as right with the short sign-off kept or dropped.
//! The other policies are those projects' own choices (a signature or quote kept) and are
//! reported, not held. No case may come back empty where the expectation has words.

#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    policy: String,
}

/// Whether `got` is `want` with at most a short sign-off after it ("Thanks,\nAna").
fn with_signoff(got: &str, want: &str) -> bool {
    let Some(rest) = got.strip_prefix(want) else {
        return false;
    };
    let lines: Vec<&str> = rest.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.len() <= 2 && lines.iter().all(|l| l.chars().count() <= 40)
}

#[test]
fn reply_trimming_more_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/reply-trimming-more");
    let Ok(index) = std::fs::read_to_string(corpus.join("index.json")) else {
        skip::no_corpus(
            "a trimming corpus",
            &format!("not found at {}", corpus.display()),
        );
        return;
    };
    let cases: Vec<Case> = serde_json::from_str(&index).unwrap();
    let mut scores: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut emptied, mut failed) = (Vec::new(), Vec::new());
    for case in &cases {
        let read = |dir: &str| {
            let bytes = std::fs::read(corpus.join(dir).join(&case.file)).unwrap();
            // Trailing spaces are invisible and the projects' expectations drop them.
            let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
            text.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (email, want) = (read("emails"), read("trimmed"));
        // What the pipeline keeps when it knows of no email of ours in the reply.
        let got = replyrelay::reply::reply_text(&email, &[]).text;
        let got = got
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        let (got, want) = (got.trim(), want.trim());
        let right = match case.policy.as_str() {
            "drops-signoff" => got == want || with_signoff(got, want),
            _ => got == want,
        };
        let score = scores.entry(case.policy.as_str()).or_default();
        score.1 += 1;
        if right {
            score.0 += 1;
        } else {
            failed.push(format!("{} ({})", case.file, case.policy));
        }
        if got.is_empty() && !want.is_empty() {
            emptied.push(case.file.clone());
        }
    }
    for (policy, (right, all)) in &scores {
        println!("reply trimming, {policy}: {right}/{all}");
    }
    for f in &failed {
        println!("  failed: {f}");
    }
    assert!(emptied.is_empty(), "the visitor's words lost: {emptied:?}");
    // Held where a chat thread's policy is the case's: they may rise, never fall.
    let held = |policy: &str| scores.get(policy).map_or(0, |s| s.0);
    assert!(held("reply") >= REPLY_FLOOR, "reply: {}", held("reply"));
    assert!(
        held("no-trim") >= NO_TRIM_FLOOR,
        "no-trim: {}",
        held("no-trim")
    );
    assert!(
        held("drops-signoff") >= DROPS_SIGNOFF_FLOOR,
        "drops-signoff: {}",
        held("drops-signoff")
    );
}

// Measured on 2026-12-01 (`cargo test --test trimming_corpus_more -- --nocapture`).
const REPLY_FLOOR: usize = 19;
const NO_TRIM_FLOOR: usize = 6;
const DROPS_SIGNOFF_FLOOR: usize = 10;
