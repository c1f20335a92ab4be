//! The configuration as documented loads: every TOML block of README.md and the whole of
//! `replyrelay.example.toml` go through the config loader, so the documentation cannot drift
//! from the keys the daemon takes. A block that is a fragment (one section) is loaded with a
//! minimal site beside it.

use replyrelay::config;
use std::path::Path;

const SITE: &str = "\n[[site]]\nid = \"docs\"\napi_tokens = [\"docs-token-0123456789\"]\n";

/// The secrets the documented examples name, as the environment and systemd would give them.
fn provide_secrets(dir: &Path) {
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(
        credentials.join("token-key"),
        "docs-token-key-0123456789-0123456789\n",
    )
    .unwrap();
    std::fs::write(credentials.join("smtp-password"), "smtp-secret\n").unwrap();
    // Set once, before any loading, in this test binary's one test.
    std::env::set_var("CREDENTIALS_DIRECTORY", &credentials);
    for (name, value) in [
        ("WEBHOOK_SECRET", "webhook-secret-0123456789"),
        ("IMAP_PASSWORD", "imap-secret"),
        ("ACME_API_TOKEN", "acme-api-token-0123456789"),
    ] {
        std::env::set_var(name, value);
    }
}

fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("a closed block");
        blocks.push(body[..end].to_string());
        rest = &body[end..];
    }
    blocks
}

#[test]
fn readme_and_the_example_config_load_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    provide_secrets(dir.path());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = toml_blocks(&readme);
    assert!(blocks.len() >= 2, "README has its reference and examples");
    let mut problems = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let text = if block.contains("[[site]]") {
            block.clone()
        } else {
            format!("{block}{SITE}")
        };
        if let Err(e) = config::parse(&text, &format!("README.md toml block {i}"), dir.path()) {
            problems.push(e.to_string());
        }
    }
    let example = std::fs::read_to_string(root.join("replyrelay.example.toml")).unwrap();
    if let Err(e) = config::parse(&example, "replyrelay.example.toml", dir.path()) {
        problems.push(e.to_string());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
