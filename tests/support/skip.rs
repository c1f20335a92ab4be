//! Skips that say so. A test whose server or tool is missing here returns early; before it
//! does, it says so on standard error (past the harness's capture) and adds a line to
//! `skipped-tests` in cargo's test scratch folder, which `.ci/run` counts in its closing line
//! (and fails on: in CI everything a test needs is installed).

use std::io::Write;

/// Records that a test was skipped, and why.
pub fn skipped(what: &str, why: &str) {
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
