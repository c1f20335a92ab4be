//! Skips that say so. A test whose server or tool is missing here returns early; before it
//! does, it says so on standard error (past the harness's capture) and adds a line to
//! `skipped-tests` in cargo's test scratch folder, which `.ci/run` counts in its closing line.
//! `.ci/run` installs every server and tool, so it fails on those; a corpus is data kept beside
//! the checkout (`../shared/corpus`), which a clone elsewhere does not have, and is only counted.

use std::io::Write;

/// Records that a test was skipped because a server or tool is missing, and why.
#[allow(dead_code)]
pub fn skipped(what: &str, why: &str) {
    record(what, why);
}

/// Records that a corpus test was skipped: its data is not beside this checkout.
#[allow(dead_code)]
pub fn no_corpus(what: &str, why: &str) {
    record(&format!("corpus: {what}"), why);
}

fn record(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {what}: {why}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{what}: {why}");
    }
}
