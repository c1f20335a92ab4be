//! The worker as `replyrelay serve` runs it: in the background, on the wall clock. Events with
//! past times stand in for waiting, so nothing here sleeps.

use crate::helpers::*;
use chrono::{TimeDelta, Utc};
use replyrelay::clock::Clock;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::json;

#[apply(backends)]
#[tokio::test]
async fn the_background_worker_sends_what_is_due_within_seconds(#[case] backend: Backend) {
    let Some(app) = spawn_app_with(backend, "", Clock::System, true).await else {
        return;
    };
    let ago = |min: i64| (Utc::now() - TimeDelta::minutes(min)).to_rfc3339();
    app.events(vec![
        json!({"type": "visitor", "conversation": "c1", "visitor": {"id": "v", "email": "ana@visitor.example"}}),
        json!({"type": "message", "conversation": "c1", "at": ago(12), "message": {"id": "q", "author": "visitor", "text": "Hello?"}}),
        json!({"type": "presence", "conversation": "c1", "state": "left", "at": ago(10)}),
        json!({"type": "message", "conversation": "c1", "at": ago(2), "message": {"id": "a", "author": "agent", "text": "Hi Ana!"}}),
    ])
    .await;
    let sent = app.sink.wait_for(1, 20).await;
    assert_eq!(sent[0].rcpt_to, vec!["ana@visitor.example"]);
    assert!(sent[0].text().contains("Hi Ana!"));
}

/// PostgreSQL only: every connection the daemon has is cut (as in a database restart); it
/// reconnects by itself and carries on.
#[tokio::test]
async fn the_daemon_carries_on_after_its_database_connections_are_cut() {
    use sqlx::Connection;
    let Some(app) = spawn_app_with(Backend::Postgres, "", Clock::System, true).await else {
        return;
    };
    let ago = |min: i64| (Utc::now() - TimeDelta::minutes(min)).to_rfc3339();
    let conversation = |c: &str| {
        vec![
            json!({"type": "visitor", "conversation": c, "visitor": {"id": c, "email": format!("{c}@visitor.example")}}),
            json!({"type": "presence", "conversation": c, "state": "left", "at": ago(10)}),
            json!({"type": "message", "conversation": c, "at": ago(2), "message": {"id": "a", "author": "agent", "text": "Hi!"}}),
        ]
    };
    app.events(conversation("c1")).await;
    app.sink.wait_for(1, 20).await;

    let mut admin = sqlx::PgConnection::connect(&app.db).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!cut.is_empty(), "the daemon had connections to cut");

    app.events(conversation("c2")).await;
    let sent = app.sink.wait_for(2, 30).await;
    assert_eq!(sent[1].rcpt_to, vec!["c2@visitor.example"]);
}

/// SECURITY.md's HTTP bounds: a body over 16 MiB is refused before it is read whole (413), one
/// at the limit is read (and refused for what it says), and the API's accept queue is 4,096 deep
/// (or the kernel's `somaxconn`, if lower), so a burst of connections is queued, not dropped.
#[tokio::test]
async fn the_http_body_limit_and_accept_queue_are_as_documented() {
    let Some(app) = spawn_app(Backend::Sqlite, "").await else {
        return;
    };
    let url = format!("{}/v1/events", app.base);
    let post = |len: usize| {
        (app.client.post(&url))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(vec![b' '; len])
            .send()
    };
    let over = post(16 * 1024 * 1024 + 1).await.unwrap();
    assert_eq!(over.status(), 413);
    let at = post(16 * 1024 * 1024).await.unwrap();
    assert_eq!(at.status(), 400, "read, and refused as no event");

    let port = app.base.rsplit(':').next().unwrap();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2)");
    let listing = String::from_utf8_lossy(&out.stdout);
    // For a listening socket, Send-Q is the accept queue's length.
    let backlog: u32 = listing
        .split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listener in {listing:?}"));
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(backlog, 4096.min(somaxconn), "{listing}");
}
