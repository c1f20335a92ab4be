//! Several `replyrelay serve` processes on one PostgreSQL database: every due email is delivered
//! once, also when one of the daemons is killed half-way. Skipped without
//! `REPLYRELAY_TEST_POSTGRES_URL`.

#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use chrono::{DateTime, TimeDelta, Utc};
use daemon::{due_conversation, Daemon, Setup};
use helpers::{fresh_postgres_database, SmtpSink};
use serde_json::{json, Value};
use std::collections::HashMap;

const TOKEN: &str = "shared-token-0123456789";

fn write_config(dir: &std::path::Path, db: &str, smtp_port: u16) -> std::path::PathBuf {
    Setup {
        db,
        smtp_port,
        token: TOKEN,
        ..Setup::default()
    }
    .write(dir)
}

fn start_daemon(config: &std::path::Path) -> Daemon {
    Daemon::start(config, "127.0.0.1:0")
}

async fn post_all(client: &reqwest::Client, daemons: &[&Daemon], n: usize, due: DateTime<Utc>) {
    let events: Vec<Value> = (0..n).flat_map(|i| due_conversation(i, due)).collect();
    for (k, batch) in events.chunks(1000).enumerate() {
        // Spread the batches over the daemons, as a load balancer would.
        let daemon = daemons[k % daemons.len()];
        let r = client
            .post(format!("{}/v1/events", daemon.api))
            .bearer_auth(TOKEN)
            .json(&json!({ "events": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// Recipient → Message-IDs received.
fn by_recipient(sink: &SmtpSink) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for m in sink.received() {
        map.entry(m.rcpt_to[0].clone())
            .or_default()
            .push(m.header("Message-ID").unwrap());
    }
    map
}

async fn pending_emails(db: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    let (due, pending): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM conversations WHERE due_at IS NOT NULL),
                (SELECT COUNT(*) FROM emails WHERE status = 'pending')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    due + pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_deliver_every_due_email_exactly_once() {
    let Some(db) = fresh_postgres_database().await else {
        return;
    };
    let n = 2000;
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &db, sink.port);
    let a = start_daemon(&config);
    let b = start_daemon(&config);
    let client = reqwest::Client::new();
    post_all(&client, &[&a, &b], n, Utc::now() + TimeDelta::seconds(8)).await;

    sink.wait_for(n, 180).await;
    settled(&db).await;
    let received = by_recipient(&sink);
    assert_eq!(received.len(), n, "every visitor got an email");
    let twice: Vec<_> = received.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "emails delivered twice: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemons_work_is_taken_over() {
    let Some(db) = fresh_postgres_database().await else {
        return;
    };
    let n = 2000;
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &db, sink.port);
    let a = start_daemon(&config);
    let mut b = start_daemon(&config);
    let client = reqwest::Client::new();
    post_all(&client, &[&a, &b], n, Utc::now() + TimeDelta::seconds(8)).await;

    // Half-way through, SIGKILL one daemon: whatever it held is leased, and the lease runs out.
    sink.wait_for(n / 3, 180).await;
    b.kill();

    sink.wait_for(n, 180).await;
    settled(&db).await;
    let received = by_recipient(&sink);
    assert_eq!(received.len(), n, "every visitor got an email");
    // At-least-once towards the relay: only emails in flight at the kill (at most one per SMTP
    // connection of the killed daemon: pool_size, 4 here) may arrive twice, and then with the
    // same Message-ID.
    let twice: Vec<_> = received.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        twice.len() <= 4,
        "more than the emails in flight delivered twice: {twice:?}"
    );
    for (_, ids) in twice {
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "a resend keeps its Message-ID: {ids:?}"
        );
    }
}

/// Waits until no email is left pending (the daemons record the last outcomes after the sink
/// has the messages), or fails after two minutes saying how many are.
async fn settled(db: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let pending = pending_emails(db).await;
        if pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} emails still pending after two minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
