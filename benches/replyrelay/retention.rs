//! Row 6 of the table, retention under load: a million emails' bytes past
//! `[retention] email_bodies` are dropped while 10,000 due conversations are emailed. The
//! reference is the same drain, from a copy of the same database, with retention off: the same
//! rows, the same due emails, the same sink.

use super::{metric, post, smtp_sink, start_daemon_on, Row};
use chrono::{TimeDelta, Utc};
use std::path::Path;
use std::time::{Duration, Instant};

const STORED: i64 = 1_000_000;
const DUE: i64 = 10_000;
/// Bytes per stored email: small, so that a million fit the disk twice; the expiry's cost is
/// per row (the index and the table's pages), the bytes are freed pages.
const BODY: i64 = 512;

/// Fills `db` (migrated) with a million conversations, each with an old sent email and its
/// bytes, and messages for the `DUE` that will be due.
async fn fill(db: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(db).await.unwrap();
    let old = (Utc::now() - TimeDelta::days(90)).timestamp_millis();
    for sql in [
        "PRAGMA journal_mode = WAL",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO conversations (pk, site_id, id, visitor_id, visitor_email, created_at,
             last_activity_at, left_at, last_visitor_message_at)
         SELECT x, 'acme', 'c' || x, 'v' || x, 'visitor' || x || '@example.com', $2, $2, $2, $2
         FROM n",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO emails (id, conversation_pk, conversation_id, site_id, message_id, mail_from,
             rcpt_to, status, attempts, created_at, next_attempt_at, sent_at)
         SELECT 'e' || x, x, 'c' || x, 'acme', '<e' || x || '@bench.example>',
             'bounce@acme.example', 'visitor' || x || '@example.com', 'sent', 1, $2, $2, $2
         FROM n",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO email_bodies (email_id, raw, created_at)
         SELECT 'e' || x, randomblob($3), $2 FROM n",
    ] {
        sqlx::query(sql)
            .bind(STORED)
            .bind(old)
            .bind(BODY)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
         INSERT INTO messages (conversation_pk, id, author, author_name, text, at)
         SELECT x, 'a', 'agent', 'Sam', 'Yes, in 3 days.', 0 FROM n",
    )
    .bind(DUE)
    .execute(&mut conn)
    .await
    .unwrap();
}

/// Makes the `DUE` conversations of `db` due at `due` (answered a minute before, the visitor
/// gone before that).
async fn make_due(db: &str, due: chrono::DateTime<Utc>) {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    // The daemon is expiring bodies meanwhile, a synced commit at a time: this write waits its
    // turn. sqlx's default wait (5 s) ran out on a slower machine (stop 47: "database is
    // locked"), failing the bench.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(db)
        .unwrap()
        .busy_timeout(Duration::from_secs(120))
        .connect()
        .await
        .unwrap();
    let t = |back: i64| due.timestamp_millis() - back;
    // One transaction: the daemon sees the conversations due and their messages at once.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(
        "UPDATE conversations SET last_activity_at = $2, left_at = $2,
             last_visitor_message_at = $3, last_agent_message_at = $4, pending_since = $4,
             due_at = $5
         WHERE pk <= $1",
    )
    .bind(DUE)
    .bind(t(6 * 60_000))
    .bind(t(8 * 60_000))
    .bind(t(60_000))
    .bind(t(0))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET at = $1")
        .bind(t(60_000))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// What one run measured.
struct Run {
    drain: f64,
    p50: f64,
    p99: f64,
    /// Bytes dropped per second, and how many were by the end of the drain.
    expired_rate: f64,
    expired_by_drain: f64,
}

async fn run(template: &Path, retention: &str) -> Run {
    use sqlx::Connection;
    let sink = smtp_sink();
    let dir = tempfile::tempdir().unwrap();
    for f in ["rr.db", "rr.db-wal", "rr.db-shm"] {
        if template.join(f).exists() {
            std::fs::copy(template.join(f), dir.path().join(f)).unwrap();
        }
    }
    let db = format!("sqlite://{}", dir.path().join("rr.db").display());
    let started = Instant::now();
    let extra = format!("[retention]\nemail_bodies = \"{retention}\"\n");
    let daemon = start_daemon_on(dir, &db, Some(sink.port), false, &extra);
    // The emails fall due once the expiry is under way (with retention off, as long after
    // the start), and it goes on while they are sent.
    if retention == "off" {
        tokio::time::sleep(Duration::from_millis(300)).await;
    } else {
        while metric(&daemon, "replyrelay_expired_email_bodies_total").await == 0.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    make_due(&db, Utc::now()).await;
    // Lateness counts from when the daemon could first see them due: the update's commit.
    let due = Utc::now();
    // An event wakes the worker, as the platform's events do (the same in both runs).
    let wake =
        serde_json::json!({"type": "visitor", "conversation": "wake", "visitor": {"id": "w"}});
    post(&reqwest::Client::new(), &daemon, &wake).await;
    let start = Instant::now();
    while metric(&daemon, "replyrelay_emails_sent_total").await < DUE as f64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = DUE as f64 / start.elapsed().as_secs_f64();
    let expired_by_drain = metric(&daemon, "replyrelay_expired_email_bodies_total").await;
    let mut expired = expired_by_drain;
    if retention != "off" {
        while expired < STORED as f64 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            expired = metric(&daemon, "replyrelay_expired_email_bodies_total").await;
        }
    }
    let expired_rate = expired / started.elapsed().as_secs_f64();
    let mut conn = sqlx::SqliteConnection::connect(&format!("{db}?mode=ro"))
        .await
        .unwrap();
    let mut late: Vec<i64> =
        sqlx::query_scalar("SELECT created_at - $1 FROM emails WHERE created_at >= $2")
            .bind(due.timestamp_millis())
            .bind(due.timestamp_millis() - 10_000)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    late.sort_unstable();
    let pct = |p: f64| late[((late.len() as f64 * p) as usize).min(late.len() - 1)] as f64 / 1000.0;
    Run {
        drain,
        p50: pct(0.5),
        p99: pct(0.99),
        expired_rate,
        expired_by_drain,
    }
}

pub async fn retention() -> Vec<Row> {
    let template = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", template.path().join("rr.db").display());
    let sink = smtp_sink();
    // Migrated by a first start, then filled directly, as a year of mail would leave it.
    drop(start_daemon_on(
        tempfile::tempdir().unwrap(),
        &db,
        Some(sink.port),
        false,
        "[retention]\nemail_bodies = \"off\"\n",
    ));
    let filling = Instant::now();
    fill(&db).await;
    eprintln!(
        "(retention set-up: {STORED} emails of {BODY} bytes written in {:?})",
        filling.elapsed()
    );
    let off = run(template.path(), "off").await;
    let on = run(template.path(), "30d").await;
    let bound = "the drain's emails come first in every worker round; expiry only between them";
    vec![
        Row {
            what: format!("6. retention: drain {DUE} due while {STORED} old emails' bytes expire"),
            figure: on.drain,
            unit: "emails/s",
            reference: Some(("the same drain, retention off".into(), off.drain)),
            bound,
        },
        Row {
            what: "6. retention: lateness p50, expiring / not".into(),
            figure: on.p50,
            unit: "s",
            reference: Some(("retention off".into(), off.p50)),
            bound,
        },
        Row {
            what: "6. retention: lateness p99, expiring / not".into(),
            figure: on.p99,
            unit: "s",
            reference: Some(("retention off".into(), off.p99)),
            bound,
        },
        Row {
            what:
                "6. retention: bodies dropped when the drain ended (less than all: they overlapped)"
                    .into(),
            figure: on.expired_by_drain,
            unit: "rows",
            reference: None,
            bound: "the expiry runs between the drain's rounds",
        },
        Row {
            what: format!("6. retention: email bodies dropped, {STORED} to go"),
            figure: on.expired_rate,
            unit: "rows/s",
            reference: None,
            bound: "500 rows per transaction, each a synced commit, when the worker is idle",
        },
    ]
}
