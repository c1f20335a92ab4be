//! Row 7: several daemons on one PostgreSQL database, as a multi-instance deployment runs them.
//! The same conversations fall due at once; 1, 2 and 3 daemons (each with its own pool of 4
//! connections to the same smtp-sink) share them through `FOR UPDATE SKIP LOCKED` claims, and
//! the rate is all their sends together. The settings run in the order 1, 2, 3, 3, 2, 1 and
//! each shows the mean of its two runs, so a drift of the machine favours none.

use super::{
    cpu_times, database, due_conversation, metric, post, smtp_sink, start_daemon_on, Daemon, Row,
};
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Conversations per run.
const N: usize = 3000;

pub async fn several_daemons() -> Vec<Row> {
    let (mut rates, mut busy) = ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
    for daemons in [1, 2, 3, 3, 2, 1] {
        let (rate, cpu) = run(daemons).await;
        rates[daemons - 1].push(rate);
        busy[daemons - 1].push(cpu);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let one = mean(&rates[0]);
    (1..=3)
        .map(|daemons| Row {
            what: format!(
                "7. outbound, {N} conversations due at once, {daemons} daemon(s) on one PostgreSQL -> smtp-sink (mean of 2; both cores {:.0} % busy)",
                100.0 * mean(&busy[daemons - 1])
            ),
            figure: mean(&rates[daemons - 1]),
            unit: "emails/s",
            reference: (daemons > 1).then(|| ("1 daemon, same run".to_string(), one)),
            bound: "the one database and the sink on the same 2 cores as the daemons",
        })
        .collect()
}

/// One setting: emails per second from `daemons` daemons sharing one database and one sink,
/// and how busy the machine's cores were meanwhile (0 to 1, from `/proc/stat`).
async fn run(daemons: usize) -> (f64, f64) {
    let sink = smtp_sink();
    let first = tempfile::tempdir().unwrap();
    let db = database("postgres", first.path()).await;
    // Started one after another: the first migrates the database, the others find it done.
    let mut all: Vec<Daemon> = vec![start_daemon_on(first, &db, Some(sink.port), false, "")];
    for _ in 1..daemons {
        let dir = tempfile::tempdir().unwrap();
        all.push(start_daemon_on(dir, &db, Some(sink.port), false, ""));
    }
    let client = reqwest::Client::new();
    // All due at one instant a little ahead, so posting does not count.
    let due = Utc::now() + TimeDelta::seconds(15);
    let events: Vec<Value> = (0..N).flat_map(|i| due_conversation(i, due)).collect();
    for chunk in events.chunks(1000) {
        post(&client, &all[0], &json!({ "events": chunk })).await;
    }
    tokio::time::sleep((due - Utc::now()).to_std().unwrap_or_default()).await;
    let start = Instant::now();
    let cpu_before = cpu_times();
    loop {
        let mut sent = 0.0;
        for daemon in &all {
            sent += metric(daemon, "replyrelay_emails_sent_total").await;
        }
        if sent >= N as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = N as f64 / start.elapsed().as_secs_f64();
    let busy = match (cpu_before, cpu_times()) {
        (Some(before), Some(after)) => {
            let d: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
            let total: u64 = d.iter().sum();
            1.0 - (d[3] + d[4]) as f64 / total.max(1) as f64
        }
        _ => f64::NAN,
    };
    (rate, busy)
}
