//! Delivery through the relay: retries on 4xx, failure on 5xx, and what the marker shows.

use crate::helpers::*;
use replyrelay::clock::Clock;
use replyrelay::worker::Step;
use rstest::rstest;
use rstest_reuse::apply;
use std::collections::HashMap;

#[apply(backends)]
#[tokio::test]
async fn a_temporary_failure_is_retried_with_the_same_message_id(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink
        .answer_next(&["451 4.3.0 mailbox busy", "421 4.7.0 try again later"]);
    one_due_email(&app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![Step::Composed, Step::Retried]
    );
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "pending");
    assert!(
        marker["error"].as_str().unwrap().contains("451"),
        "{marker}"
    );
    let message_id = marker["message_id"].as_str().unwrap().to_string();

    // The first retry waits 30 s, the next 60 s.
    assert_eq!(app.at_minute(5.99).await, vec![]);
    assert_eq!(app.at_minute(6.0).await, vec![Step::Retried]);
    assert_eq!(app.at_minute(6.99).await, vec![]);
    assert_eq!(
        app.at_minute(7.0).await,
        vec![Step::Sent, Step::WebhookPosted]
    );
    assert_eq!(app.hooks.of_type("message.forwarded").len(), 1);
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("Message-ID").unwrap(), message_id);
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "sent");
    assert!(marker["error"].is_null());
}

#[apply(backends)]
#[tokio::test]
async fn a_temporary_failure_gives_up_after_give_up_after(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["450 4.2.0 busy"; 20]);
    one_due_email(&app, "c1").await;
    app.at_minute(5.5).await;
    // give_up_after is one hour in the test config; step through the backoff.
    let mut minute = 5.5;
    while minute < 70.0 {
        minute += 1.0;
        app.at_minute(minute).await;
    }
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed");
    assert!(
        marker["error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after"),
        "{marker}"
    );
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_permanent_failure_fails_at_once_and_suppresses_a_bad_address(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["550 5.1.1 no such user"]);
    one_due_email(&app, "c1").await;
    // The failure and the suppression are both announced by webhook.
    assert_eq!(
        app.at_minute(5.5).await,
        vec![
            Step::Composed,
            Step::Failed,
            Step::WebhookPosted,
            Step::WebhookPosted
        ]
    );
    let failed = app.hooks.of_type("delivery.failed");
    assert_eq!(failed[0]["data"]["messages"], serde_json::json!(["a1"]));
    assert!(failed[0]["data"]["error"]
        .as_str()
        .unwrap()
        .contains("5.1.1"));
    assert_eq!(
        app.hooks.of_type("visitor.suppressed")[0]["data"]["email"],
        "ana@visitor.example"
    );
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed");
    assert!(
        marker["error"].as_str().unwrap().contains("5.1.1"),
        "{marker}"
    );

    // The address is suppressed: a new reply is not even composed.
    app.events(vec![message("c1", "a2", "agent", "Hello?", 5.5)])
        .await;
    assert_eq!(app.at_minute(60.0).await, vec![]);
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_permanent_refusal_of_the_content_does_not_suppress_the_visitor(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["554 5.7.1 message refused"]);
    one_due_email(&app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![Step::Composed, Step::Failed, Step::WebhookPosted]
    );
    app.events(vec![message("c1", "a2", "agent", "Trying again", 5.5)])
        .await;
    assert_eq!(
        app.at_minute(7.0).await,
        vec![Step::Composed, Step::Sent, Step::WebhookPosted]
    );
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn a_retry_is_withdrawn_when_the_visitor_read_the_replies_meanwhile(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["451 4.3.0 mailbox busy"]);
    one_due_email(&app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![Step::Composed, Step::Retried]
    );
    app.events(vec![read("c1", "a1", 5.7)]).await;
    assert_eq!(app.at_minute(6.0).await, vec![Step::Cancelled]);
    assert!(app.sent().is_empty());
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "cancelled");
}

#[apply(backends)]
#[tokio::test]
async fn a_connection_dropped_after_the_data_is_retried_and_delivered_once(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["DROP"]);
    one_due_email(&app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![Step::Composed, Step::Retried]
    );
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "pending", "{marker}");
    assert_eq!(
        app.at_minute(6.0).await,
        vec![Step::Sent, Step::WebhookPosted]
    );
    assert_eq!(app.sent().len(), 1);
    assert_eq!(
        app.sent()[0].header("Message-ID").unwrap(),
        marker["message_id"].as_str().unwrap()
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_relay_is_greeted_with_the_configured_helo_name(#[case] backend: Backend) {
    let top = "# smtp helo_name = \"relay.acme.example\"";
    let Some(app) = spawn_custom(backend, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(5.5).await;
    assert_eq!(app.sent()[0].helo, "relay.acme.example");
}

/// A relay that fails a share of transactions in every way it can: `451` at the end of the
/// data, the connection dropped during the data, no answer at all (stalls past the timeout),
/// and `554` for some recipients. Every transient failure is retried after its backoff and
/// delivered once; every refusal is failed once; the markers show the relay's words.
#[apply(backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_relay_loses_nothing_and_is_not_stormed(#[case] backend: Backend) {
    let top = "# smtp timeout = \"1s\"";
    let Some(app) = spawn_custom(backend, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    let n = 400;
    let seed = 7;
    app.sink.set_faults(Faults {
        seed,
        temporary: 0.15,
        drop_mid_data: 0.05,
        stall: 0.01,
        stall_for: std::time::Duration::from_secs(3),
        refuse_prefix: Some("refused".into()),
    });
    let address = |i: usize| match i % 25 {
        0 => format!("refused{i}@visitor.example"),
        _ => format!("visitor{i}@visitor.example"),
    };
    app.at_minute(1.0).await;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let events = chunk
            .iter()
            .flat_map(|&i| {
                let c = format!("c{i}");
                vec![
                    visitor(&c, Some(&address(i)), 0.0),
                    message(&c, "q1", "visitor", "Do you ship to Spain?", 0.0),
                    message(&c, "a1", "agent", "Yes.", 1.0),
                    presence(&c, "left", 0.5),
                ]
            })
            .collect();
        app.events(events).await;
    }

    // Step the clock through the backoff. Within one step nothing may be tried twice: a
    // failure waits for its backoff, whatever the relay did.
    let mut minute = 5.5;
    let mut seen = 0;
    let mut first_round = None;
    while minute < 40.0 {
        app.at_minute(minute).await;
        let attempts = app.sink.attempts();
        let mut in_step: HashMap<&str, usize> = HashMap::new();
        for a in &attempts[seen..] {
            *in_step.entry(&a.rcpt_to).or_default() += 1;
        }
        let storm: Vec<_> = in_step.iter().filter(|(_, &k)| k > 1).collect();
        assert!(
            storm.is_empty(),
            "tried twice in one step (seed {seed}): {storm:?}"
        );
        if first_round.is_none() {
            // While an email waits for its retry, its marker shows what the relay said.
            let a = attempts.iter().find(|a| a.outcome == "451").unwrap();
            let i: usize = a
                .rcpt_to
                .trim_start_matches(char::is_alphabetic)
                .split('@')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let marker =
                app.conversation(&format!("c{i}")).await["messages"][1]["forwarded"].clone();
            assert_eq!(marker["status"], "pending", "{marker}");
            assert_eq!(marker["error"], "451 4.3.0 try again later", "{marker}");
            first_round = Some(attempts.clone());
        }
        seen = attempts.len();
        minute += 0.5;
    }

    // A 451 of the first round shows in that email's marker while it waited; by now it is sent.
    let attempts = app.sink.attempts();
    let mut by_rcpt: HashMap<String, Vec<String>> = HashMap::new();
    for a in &attempts {
        by_rcpt
            .entry(a.rcpt_to.clone())
            .or_default()
            .push(a.outcome.clone());
    }
    let delivered: HashMap<String, usize> = app.sent().iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.rcpt_to[0].clone()).or_default() += 1;
        m
    });
    let mut retried = 0;
    for i in 0..n {
        let rcpt = address(i);
        let outcomes = &by_rcpt[&rcpt];
        let marker = app.conversation(&format!("c{i}")).await["messages"][1]["forwarded"].clone();
        let transient = |o: &String| ["451", "dropped", "stalled"].contains(&o.as_str());
        if rcpt.starts_with("refused") {
            // The relay may fail it for now first; once it refuses, that is final.
            assert_eq!(outcomes.last().unwrap(), "554", "{rcpt}: {outcomes:?}");
            assert!(
                outcomes[..outcomes.len() - 1].iter().all(transient),
                "{rcpt} refused once, never retried: {outcomes:?}"
            );
            assert_eq!(marker["status"], "failed", "{marker}");
            let error = marker["error"].as_str().unwrap();
            assert!(error.contains("554 5.7.1 refused by policy"), "{marker}");
            assert!(!delivered.contains_key(&rcpt));
            continue;
        }
        // Tried until the relay took it, then never again.
        assert_eq!(
            outcomes.last().unwrap(),
            "250",
            "{rcpt}: {outcomes:?} (seed {seed})"
        );
        assert!(
            outcomes[..outcomes.len() - 1].iter().all(transient),
            "{rcpt} delivered twice: {outcomes:?}"
        );
        assert_eq!(delivered.get(&rcpt), Some(&1), "{rcpt}");
        assert_eq!(marker["status"], "sent", "{marker}");
        retried += usize::from(outcomes.len() > 1);
    }
    // Every kind of fault happened, so each was seen through.
    let first: Vec<&str> = first_round
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    for kind in ["451", "dropped", "stalled", "554", "250"] {
        assert!(
            attempts.iter().any(|a| a.outcome == kind),
            "no {kind} in this run (seed {seed}): {first:?}"
        );
    }
    assert!(retried > n / 10, "only {retried} retried");
}

/// An email queued by a release that kept the message inside its outbox row goes out byte for
/// byte after the upgrade that keeps it in a table of its own (migration 4).
#[apply(backends)]
#[tokio::test]
async fn an_email_queued_before_the_upgrade_is_sent_as_composed(#[case] backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database_url(backend, dir.path()).await else {
        return;
    };
    migrate_to(&db, 3).await;
    let raw = "From: Acme <support@acme.example>\r\nTo: visitor@example.com\r\n\
               Subject: Your conversation\r\nMessage-ID: <old@reply.acme.example>\r\n\r\n\
               Sam replied: yes, in 3 days.\r\n";
    let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
    let blob = match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("decode('{hex}', 'hex')"),
    };
    let t = t0().timestamp_millis();
    execute(
        &db,
        &format!(
            "INSERT INTO conversations (pk, site_id, id, visitor_id, visitor_email, created_at)
             VALUES (1, 'acme', 'c-old', 'v1', 'visitor@example.com', {t});
             INSERT INTO emails (id, conversation_pk, conversation_id, site_id, message_id,
                                 mail_from, rcpt_to, raw, status, attempts, created_at,
                                 next_attempt_at)
             VALUES ('e-old', 1, 'c-old', 'acme', '<old@reply.acme.example>',
                     'support@acme.example', 'visitor@example.com', {blob}, 'pending', 0, {t}, {t});
             INSERT INTO messages (conversation_pk, id, author, text, at, email_id)
             VALUES (1, 'm1', 'agent', 'Yes, in 3 days.', {t}, 'e-old');"
        ),
    )
    .await;

    let app = spawn_on(dir, db, "", "", Clock::manual(t0()), false).await;
    assert_eq!(
        app.at_minute(0.0).await,
        vec![Step::Sent, Step::WebhookPosted]
    );
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    // lettre ends the data with CRLF "." CRLF after the message's own last line end.
    assert_eq!(String::from_utf8_lossy(&sent[0].data), format!("{raw}\r\n"));
    let marker = app.conversation("c-old").await["messages"][0]["forwarded"].clone();
    assert_eq!(marker["status"], "sent", "{marker}");
}

/// More due than one composing batch takes: once a batch comes back full, the next round
/// composes several side by side where the database lets writers work at once (PostgreSQL),
/// one after the other where it does not (SQLite). Either way each conversation gets one email.
#[apply(backends)]
#[tokio::test]
async fn a_backlog_is_composed_in_batches_side_by_side_where_the_database_allows(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    let events: Vec<_> = (0..800)
        .flat_map(|i| {
            let c = format!("c{i}");
            vec![
                visitor(&c, Some(&format!("v{i}@visitor.example")), 0.0),
                message(&c, "q1", "visitor", "Do you ship to Spain?", 0.0),
                presence(&c, "left", 0.5),
                message(&c, "a1", "agent", "Yes, in 3 days.", 1.0),
            ]
        })
        .collect();
    for chunk in events.chunks(1000) {
        app.events(chunk.to_vec()).await;
    }
    app.clock.advance(chrono::TimeDelta::minutes(10));
    let composed = |steps: &[Step]| steps.iter().filter(|s| **s == Step::Composed).count();
    let first = app.worker.try_execute_task().await.unwrap();
    assert_eq!(composed(&first), 256, "one batch first");
    let second = composed(&app.worker.try_execute_task().await.unwrap());
    match backend {
        Backend::Postgres => assert!(second > 256, "batches side by side: {second}"),
        Backend::Sqlite => assert_eq!(second, 256, "one writer: one batch at a time"),
    }
    app.worker.run_until_idle().await.unwrap();
    let per_conversation: Vec<(String, i64)> = app
        .stored("SELECT conversation_id, COUNT(*) FROM emails GROUP BY conversation_id")
        .await;
    assert_eq!(per_conversation.len(), 800);
    assert!(per_conversation.iter().all(|(_, n)| *n == 1));
    assert_eq!(app.sent().len(), 800);
}
