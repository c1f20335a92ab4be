//! Row 4: the scheduler with a year of chats stored. A million conversations, of which ten
//! thousand fall due at the same instant; how late behind that instant each email is composed,
//! the daemon's CPU while nothing is due, and its peak memory. On each backend: a deployment
//! of several daemons runs on PostgreSQL, so its figures are the ones that matter there.

use super::{cpu_seconds, database, metric, peak_rss_mb, smtp_sink, start_daemon_on, Row};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Conversations stored.
const STORED: i64 = 1_000_000;
/// Of them, due at the same instant, each with one agent reply the visitor has not read.
const DUE_NOW: i64 = 10_000;

pub async fn scheduler(backend: &str) -> Vec<Row> {
    let sink = smtp_sink();
    let dir = tempfile::tempdir().unwrap();
    let db = database(backend, dir.path()).await;
    // Migrate with a first start, then fill the database directly (as a year of chats would).
    drop(start_daemon_on(
        tempfile::tempdir().unwrap(),
        &db,
        Some(sink.port),
        false,
        "",
    ));
    let due_at = Utc::now() + TimeDelta::seconds(40);
    let fill = Instant::now();
    match backend {
        "sqlite" => fill_sqlite(&db, due_at).await,
        _ => fill_postgres(&db, due_at).await,
    }
    let fill = fill.elapsed();
    let daemon = start_daemon_on(dir, &db, Some(sink.port), false, "");
    // CPU while nothing is due (the million conversations are stored, none due yet).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, wall0) = (cpu_seconds(daemon.pid()), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_cpu = (cpu_seconds(daemon.pid()) - cpu0) / wall0.elapsed().as_secs_f64() * 100.0;
    let wait = (due_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let start = Instant::now();
    while metric(&daemon, "replyrelay_emails_sent_total").await < DUE_NOW as f64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain = start.elapsed().as_secs_f64();
    let rss = peak_rss_mb(daemon.pid());
    // Lateness: when each email was composed, behind the due time.
    let query = "SELECT created_at - $1 FROM emails";
    let mut late: Vec<i64> = match backend {
        "sqlite" => {
            let ro = format!("{db}?mode=ro");
            let mut conn = sqlx::SqliteConnection::connect(&ro).await.unwrap();
            (sqlx::query_scalar(query).bind(due_at.timestamp_millis()))
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
        _ => {
            let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
            (sqlx::query_scalar(query).bind(due_at.timestamp_millis()))
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
    };
    late.sort_unstable();
    let pct = |p: f64| late[((late.len() as f64 * p) as usize).min(late.len() - 1)] as f64 / 1000.0;
    eprintln!("(scheduler set-up, {backend}: {STORED} conversations written in {fill:?})");
    let bound = if backend == "sqlite" {
        "queue position x compose cost per email (256 per transaction: reads and writes on its task, MIME on blocking threads beside them)"
    } else {
        "queue position x compose cost per email (three transactions of 256 side by side; the server's CPU per row: BENCHMARKS.md)"
    };
    vec![
        Row {
            what: format!(
                "4. scheduler, {backend}: drain {DUE_NOW} due of {STORED} stored -> smtp-sink"
            ),
            figure: DUE_NOW as f64 / drain,
            unit: "emails/s",
            reference: None,
            bound: "as outbound: composing, then sending",
        },
        Row {
            what: format!("4. scheduler, {backend}: lateness behind due time, p50"),
            figure: pct(0.5),
            unit: "s",
            reference: None,
            bound,
        },
        Row {
            what: format!("4. scheduler, {backend}: lateness behind due time, p99"),
            figure: pct(0.99),
            unit: "s",
            reference: None,
            bound,
        },
        Row {
            what: format!("4. scheduler, {backend}: CPU while nothing is due, {STORED} stored"),
            figure: idle_cpu,
            unit: "% of a core",
            reference: None,
            bound: "two index look-ups per wake-up",
        },
        Row {
            what: format!("4. scheduler, {backend}: peak RSS of the daemon"),
            figure: rss,
            unit: "MB",
            reference: None,
            bound: "page cache (SQLite), pools",
        },
    ]
}

/// The million conversations and the due ones' replies, as milliseconds before `due_at`: they
/// came 8 minutes before, left 6 minutes before, and the agent answered a minute before.
fn times(due_at: DateTime<Utc>) -> [i64; 4] {
    let t = |back: i64| due_at.timestamp_millis() - back;
    [t(8 * 60_000), t(6 * 60_000), t(60_000), t(0)]
}

async fn fill_sqlite(db: &str, due_at: DateTime<Utc>) {
    let [came, left, answered, due] = times(due_at);
    let mut conn = sqlx::SqliteConnection::connect(db).await.unwrap();
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO conversations (pk, site_id, id, visitor_id, visitor_email, created_at,
             last_activity_at, left_at, last_visitor_message_at, last_agent_message_at,
             pending_since, due_at)
         SELECT x, 'acme', 'c' || x, 'v' || x, 'visitor' || x || '@example.com', $2, $3, $3, $2,
             CASE WHEN x <= $4 THEN $5 ELSE NULL END,
             CASE WHEN x <= $4 THEN $5 ELSE NULL END,
             CASE WHEN x <= $4 THEN $6 ELSE NULL END
         FROM n",
    )
    .bind(STORED)
    .bind(came)
    .bind(left)
    .bind(DUE_NOW)
    .bind(answered)
    .bind(due)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO messages (conversation_pk, id, author, author_name, text, at)
         SELECT x, 'a', 'agent', 'Sam', 'Yes, in 3 days.', $2 FROM n",
    )
    .bind(DUE_NOW)
    .bind(answered)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn fill_postgres(db: &str, due_at: DateTime<Utc>) {
    let [came, left, answered, due] = times(due_at);
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    sqlx::query(
        "INSERT INTO conversations (pk, site_id, id, visitor_id, visitor_email, created_at,
             last_activity_at, left_at, last_visitor_message_at, last_agent_message_at,
             pending_since, due_at)
         SELECT x, 'acme', 'c' || x, 'v' || x, 'visitor' || x || '@example.com', $2, $3, $3, $2,
             CASE WHEN x <= $4 THEN $5::BIGINT END,
             CASE WHEN x <= $4 THEN $5::BIGINT END,
             CASE WHEN x <= $4 THEN $6::BIGINT END
         FROM generate_series(1::BIGINT, $1) AS x",
    )
    .bind(STORED)
    .bind(came)
    .bind(left)
    .bind(DUE_NOW)
    .bind(answered)
    .bind(due)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (conversation_pk, id, author, author_name, text, at)
         SELECT x, 'a', 'agent', 'Sam', 'Yes, in 3 days.', $2
         FROM generate_series(1::BIGINT, $1) AS x",
    )
    .bind(DUE_NOW)
    .bind(answered)
    .execute(&mut conn)
    .await
    .unwrap();
    // The rows came with their keys: the key's sequence goes on after them. And the planner
    // gets the statistics autovacuum would gather after these inserts, on the tables they
    // filled (the outbox stays as a fresh one is: never analysed).
    sqlx::query("SELECT setval(pg_get_serial_sequence('conversations', 'pk'), $1)")
        .bind(STORED)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("ANALYZE conversations, messages")
        .execute(&mut conn)
        .await
        .unwrap();
}
