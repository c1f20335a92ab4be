//! Secrets never reach the log: a daemon logging at `trace` (everything) while it sends an
//! email through a relay that takes its password, posts a signed webhook, cannot reach
//! its IMAP server and answers API calls with good and bad tokens. Its whole log holds none of
//! the secrets from its config.

#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use chrono::Utc;
use daemon::{due_conversation, refusing_port, Daemon};
use helpers::{SmtpSink, WebhookSink};
use serde_json::json;
use std::time::Duration;

const API_TOKEN: &str = "api-token-SECRET-0123456789";
const TOKEN_KEY: &str = "token-key-SECRET-0123456789-0123456789";
const SMTP_PASSWORD: &str = "smtp-password-SECRET-42";
const IMAP_PASSWORD: &str = "imap-password-SECRET-43";
const WEBHOOK_SECRET: &str = "webhook-secret-SECRET-44";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_ever_logged() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start().await;
    let hooks = WebhookSink::start().await;
    let (_refusing, imap_port) = refusing_port().await;
    let config = dir.path().join("replyrelay.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[metrics]
listen = "127.0.0.1:0"

[database]
url = "sqlite://{db}"

[delivery.smtp]
host = "127.0.0.1"
port = {smtp}
security = "none"
username = "replyrelay"
password = "{SMTP_PASSWORD}"

[secrets]
token_keys = ["{TOKEN_KEY}"]

[inbound.imap]
host = "127.0.0.1"
port = {imap}
security = "none"
username = "replies"
password = {{ env = "RR_TEST_IMAP_PASSWORD" }}
poll_interval = "1s"

[[site]]
id = "acme"
api_tokens = ["{API_TOKEN}"]
sender = "support@acme.example"
reply_domain = "reply.acme.example"
webhook_url = "{hook}"
webhook_secret = "{WEBHOOK_SECRET}"
"#,
            db = dir.path().join("rr.db").display(),
            smtp = sink.port,
            // Nothing listens there: the poller fails to log in, again and again.
            imap = imap_port,
            hook = hooks.url,
        ),
    )
    .unwrap();
    let mut daemon = Daemon::start_with_env(
        &config,
        "127.0.0.1:0",
        &[
            ("RUST_LOG", "trace"),
            ("RR_TEST_IMAP_PASSWORD", IMAP_PASSWORD),
        ],
    );
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/v1/events", daemon.api))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "events": due_conversation(1, Utc::now()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for token in ["wrong-token-0123456789", API_TOKEN] {
        client
            .get(format!("{}/v1/conversations/c1", daemon.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    let email = sink.wait_for(1, 60).await.remove(0);
    // The unsubscribe link carries a token made with the key: use it too.
    let unsubscribe = email.header("List-Unsubscribe").unwrap();
    let url = unsubscribe
        .split(['<', '>'])
        .find(|p| p.starts_with("http"))
        .unwrap()
        .to_string();
    let url = url.replace(
        url.split("/v1/").next().unwrap(),
        daemon.api.trim_end_matches('/'),
    );
    client.get(&url).send().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while hooks.of_type("message.forwarded").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no webhook");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The IMAP poller has tried its password and failed, and the send is in the log: the
    // daemon's writer thread writes every few milliseconds, and a SIGKILL loses what it has
    // not written yet, so the kill waits for the lines the test reads.
    let written = |log: &str| {
        ["IMAP poller failed", "email sent", r#""level":"TRACE""#]
            .iter()
            .all(|line| log.contains(line))
    };
    while !written(&daemon.log()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poller never ran, or the send or a trace line was never logged: {}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.kill();

    let log = daemon.log();
    assert!(
        log.contains("email sent"),
        "the log is the real thing: {log}"
    );
    assert!(
        log.contains(r#""level":"TRACE""#),
        "trace logging is on: {log}"
    );
    for secret in [
        API_TOKEN,
        TOKEN_KEY,
        SMTP_PASSWORD,
        IMAP_PASSWORD,
        WEBHOOK_SECRET,
    ] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} logged: {leaks:#?}");
    }
}
