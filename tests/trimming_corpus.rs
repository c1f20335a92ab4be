//! Scores reply trimming on `../shared/corpus/reply-trimming/` (beside the checkout) when it is
//! there: each email's trimmed text must equal the reply the person actually wrote.

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;

#[test]
fn reply_trimming_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/reply-trimming");
    let Ok(entries) = std::fs::read_dir(corpus.join("emails")) else {
        skip::no_corpus(
            "the trimming corpus",
            &format!("not found at {}", corpus.display()),
        );
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut failed = Vec::new();
    for name in &names {
        let email = std::fs::read(corpus.join("emails").join(name)).unwrap();
        let expected = std::fs::read(corpus.join("trimmed").join(name)).unwrap();
        let got = replyrelay::reply::reply_text(&String::from_utf8_lossy(&email), &[]).text;
        if got.trim() != String::from_utf8_lossy(&expected).trim() {
            failed.push(name.clone());
        }
    }
    println!(
        "reply trimming: {} passed, {} failed",
        names.len() - failed.len(),
        failed.len()
    );
    for name in &failed {
        println!("  failed: {name}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} corpus cases failed: {failed:?}",
        failed.len(),
        names.len()
    );
}
