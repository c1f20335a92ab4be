//! The events' own clock decides what is sent, not how the platform batched them nor when the
//! worker woke: an email that fell due by the events' `at` stays due until one of the
//! visitor's reasons (a read, a return, a deleted message, a suppression) withdraws it.

use crate::helpers::*;
use rand::{Rng, SeedableRng};
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn agents(online: u32, at_min: f64) -> Value {
    json!({"type": "agents", "online": online, "at": at(at_min)})
}

/// What was emailed: per conversation, each email in the order made, as the ids of the replies
/// it forwarded. Every email made was also received by the SMTP sink.
async fn emailed_replies(app: &TestApp) -> BTreeMap<String, Vec<Vec<String>>> {
    let rows: Vec<(String, String, String)> = app
        .stored(
            "SELECT c.id, e.id, m.id FROM messages m
             JOIN conversations c ON c.pk = m.conversation_pk
             JOIN emails e ON e.id = m.email_id
             ORDER BY c.id, e.created_at, e.id, m.seq",
        )
        .await;
    let mut emails: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for (conv, email, message) in rows {
        let list = emails.entry(conv).or_default();
        match list.last_mut() {
            Some((id, messages)) if *id == email => messages.push(message),
            _ => list.push((email, vec![message])),
        }
    }
    let made: usize = emails.values().map(Vec::len).sum();
    assert_eq!(app.sent().len(), made, "every email made was delivered");
    (emails.into_iter())
        .map(|(c, list)| (c, list.into_iter().map(|(_, m)| m).collect()))
        .collect()
}

/// Six visitors asked at 6.5 and were answered at 7; every agent went offline at 8 (the emails
/// fell due then, the reply being quiet) and came back at 9:59, a second before the platform
/// posted. Ways of posting that, and of the worker waking, that must all send six emails.
#[derive(Clone, Copy, Debug)]
enum Posting {
    OneBatch,
    TwoRequests,
    TwoRequestsWorkerBetween,
}

#[apply(backends)]
#[tokio::test]
async fn agents_back_a_second_after_the_emails_fell_due_do_not_withdraw_them(
    #[case] backend: Backend,
) {
    for posting in [
        Posting::OneBatch,
        Posting::TwoRequests,
        Posting::TwoRequestsWorkerBetween,
    ] {
        let Some(app) = spawn_app(backend, "").await else {
            return;
        };
        app.at_minute(10.0).await;
        let mut first = Vec::new();
        for i in 1..=6 {
            let c = format!("c{i}");
            first.push(visitor(&c, Some(&format!("v{i}@visitor.example")), 6.5));
            first.push(message(&c, "q1", "visitor", "Is it in stock?", 6.5));
            first.push(message(&c, "a1", "agent", "Yes, two left.", 7.0));
        }
        first.push(agents(0, 8.0));
        let back = agents(1, 9.0 + 59.0 / 60.0);
        match posting {
            Posting::OneBatch => {
                first.push(back);
                app.events(first).await;
            }
            Posting::TwoRequests => {
                app.events(first).await;
                app.events(vec![back]).await;
            }
            Posting::TwoRequestsWorkerBetween => {
                app.events(first).await;
                app.at_minute(10.0).await;
                app.events(vec![back]).await;
            }
        }
        app.at_minute(10.0).await;
        let emailed = emailed_replies(&app).await;
        assert_eq!(emailed.len(), 6, "{posting:?}: {emailed:?}");
        assert!(
            emailed.values().all(|e| *e == [vec!["a1".to_string()]]),
            "{posting:?}: {emailed:?}"
        );
    }
}

/// One afternoon on a site: the events in the order they happened (minutes after t0). The idle
/// trigger is put out of reach, so an email goes only by a departure or the agents' absence.
fn afternoon() -> Vec<Value> {
    let mut events = Vec::new();
    for i in 1..=6 {
        let c = format!("c{i}");
        // c4's visitor never gives an address.
        let email = (i != 4).then(|| format!("v{i}@visitor.example"));
        events.push(visitor(&c, email.as_deref(), 0.0));
        events.push(message(&c, "q1", "visitor", "Do you ship to Spain?", 0.0));
    }
    events.push(presence("c2", "left", 0.5));
    for i in 1..=6 {
        let c = format!("c{i}");
        events.push(message(&c, "a1", "agent", "Yes, in 3 days.", 1.0));
    }
    // c3's visitor reads the answer; c6's writes again (which reads it too).
    events.push(read("c3", "a1", 1.5));
    events.push(message("c6", "q2", "visitor", "And to Portugal?", 1.8));
    // Every agent away at 2 (the emails owed fall due), back at 2.2.
    events.push(agents(0, 2.0));
    events.push(agents(1, 2.2));
    // A second answer in c2 after its email fell due: the next email's, due 5 minutes after the
    // visitor left (0.5).
    events.push(message("c2", "a2", "agent", "Tracking number: 42.", 2.5));
    events.push(message("c6", "a2", "agent", "Portugal too.", 4.0));
    events.push(presence("c6", "left", 10.0));
    events
}

/// What [`afternoon`] must send, however it is posted and whenever the worker wakes.
fn afternoon_emails() -> BTreeMap<String, Vec<Vec<String>>> {
    let one = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    BTreeMap::from([
        ("c1".to_string(), vec![one(&["a1"])]),
        ("c2".to_string(), vec![one(&["a1"]), one(&["a2"])]),
        ("c5".to_string(), vec![one(&["a1"])]),
        ("c6".to_string(), vec![one(&["a2"])]),
    ])
}

fn minute_of(event: &Value) -> f64 {
    let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap()).unwrap();
    (at.with_timezone(&chrono::Utc) - t0()).num_milliseconds() as f64 / 60_000.0
}

/// The afternoon replayed under random batching, random posting delays and a worker stepped at
/// random moments. Two things no daemon can make independent of timing are left out of it: an
/// event posted after an email it would have put off went (the worker cannot act on what it was
/// not told), and a visitor's reason after an email fell due (it races with the email going out,
/// by nature).
#[apply(backends)]
#[tokio::test]
async fn the_same_events_send_the_same_emails_in_any_batching_and_at_any_worker_timing(
    #[case] backend: Backend,
) {
    let trials = if matches!(backend, Backend::Postgres) {
        4
    } else {
        12
    };
    let events = afternoon();
    for seed in 0..trials {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let Some(app) = spawn_app(backend, "after_idle = \"2h\"").await else {
            return;
        };
        let mut clock = 0.0f64;
        let mut rest = &events[..];
        while !rest.is_empty() {
            let take = rng.gen_range(1..=rest.len().min(8));
            let (batch, after) = rest.split_at(take);
            rest = after;
            let last = minute_of(batch.last().unwrap());
            // Posted up to 3 minutes after its last event (the batch came 2 late).
            let post = (last + rng.gen_range(0.0..3.0)).max(clock);
            // The worker wakes at random moments before the batch arrives, a few steps each.
            while clock < post && rng.gen_bool(0.6) {
                clock = rng.gen_range(clock..=post);
                app.clock.advance(
                    t0() + chrono::TimeDelta::milliseconds((clock * 60_000.0) as i64)
                        - app.clock.now(),
                );
                for _ in 0..rng.gen_range(0..4) {
                    app.worker.try_execute_task().await.unwrap();
                }
            }
            clock = post;
            app.clock.advance(
                t0() + chrono::TimeDelta::milliseconds((clock * 60_000.0) as i64) - app.clock.now(),
            );
            app.events(batch.to_vec()).await;
        }
        app.at_minute(60.0).await;
        assert_eq!(
            emailed_replies(&app).await,
            afternoon_emails(),
            "seed {seed} on {backend:?}"
        );
    }
}
