//! Every metric on `/metrics` read after the event that moves it. The counters belong to the
//! process and `cargo test` runs this binary's tests in one, so each check is "at least one
//! more than before", never an exact value.

use crate::helpers::*;
use replyrelay::worker::Step;
use std::collections::BTreeMap;

/// The value of every series, read at once.
async fn snapshot(app: &TestApp) -> BTreeMap<String, f64> {
    let text = (app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await)
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Asserts that `series` grew by at least one between `before` and now.
async fn moved(app: &TestApp, before: &BTreeMap<String, f64>, series: &str) {
    let was = before.get(series).copied().unwrap_or(0.0);
    let now = app.metric(series).await;
    assert!(now >= was + 1.0, "{series}: {was} before, {now} after");
}

/// The figures are for the operator: on `[metrics] listen`, never on the API's listener, which
/// faces the internet for unsubscribe links.
#[tokio::test]
async fn metrics_are_on_their_own_listener_only() {
    let Some(app) = spawn_app(Backend::Sqlite, "").await else {
        return;
    };
    let get = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let own = get(format!("{}/metrics", app.metrics_base)).await;
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("replyrelay_build_info"));
    assert_eq!(
        get(format!("{}/healthz", app.metrics_base)).await.status(),
        200
    );
    let api = get(format!("{}/metrics", app.base)).await;
    assert_eq!(api.status(), 404);
    // And the operator's listener serves nothing of the API.
    let events = app
        .client
        .post(format!("{}/v1/events", app.metrics_base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 404);
}

#[tokio::test]
async fn every_metric_moves_with_the_event_it_counts() {
    let Some(app) = spawn_app(Backend::Sqlite, "").await else {
        return;
    };
    let before = snapshot(&app).await;

    // A relay that defers, then takes the email: retried, then queued and sent, and the
    // message.forwarded webhook posted.
    app.sink.answer_next(&["451 4.3.0 Try again later"]);
    one_due_email(&app, "c1").await;
    let steps = app.at_minute(5.5).await;
    assert!(steps.contains(&Step::Retried), "{steps:?}");
    moved(&app, &before, "replyrelay_emails_retried_total").await;
    let steps = app.at_minute(6.0).await;
    assert!(steps.contains(&Step::Sent), "{steps:?}");
    for series in [
        "replyrelay_emails_queued_total",
        "replyrelay_emails_sent_total",
        "replyrelay_webhooks_total{result=\"delivered\"}",
        "replyrelay_send_lateness_seconds_count",
    ] {
        moved(&app, &before, series).await;
    }
    let email = app.sent().pop().unwrap();

    // A relay that refuses for good, for a reason that is not the address's.
    app.sink
        .answer_next(&["550 5.7.1 Message refused by policy"]);
    let events = answered_and_gone("c2");
    app.events(events).await;
    let steps = app.at_minute(6.0).await;
    assert!(steps.contains(&Step::Failed), "{steps:?}");
    moved(
        &app,
        &before,
        "replyrelay_emails_failed_total{reason=\"refused\"}",
    )
    .await;

    // Made, then the visitor reads before it is sent: withdrawn at the send-time check.
    let events = answered_and_gone("c3");
    app.events(events).await;
    let backlog = app.metric("replyrelay_due_backlog").await;
    assert!(backlog >= 1.0, "c3 is due and not yet emailed: {backlog}");
    let steps = app.worker.try_execute_task().await.unwrap();
    assert_eq!(steps, [Step::Composed]);
    app.events(vec![read("c3", "a1", 6.0)]).await;
    let steps = app.at_minute(6.0).await;
    assert!(steps.contains(&Step::Cancelled), "{steps:?}");
    moved(&app, &before, "replyrelay_emails_cancelled_total").await;
    assert_eq!(
        app.sink.attempts().len(),
        3,
        "c1 twice and c2 once: c3's email never reached the relay"
    );

    // Replies: one stored with our email's copy cut (quoted with bars no rule knows), one
    // refused for its forged token.
    let quoted: String = (email.text().lines())
        .map(|l| format!("| {l}\r\n"))
        .collect();
    let reply = reply_with(
        &email,
        "ana@visitor.example",
        &format!("Content-Type: text/plain; charset=utf-8\r\n\r\nGreat, thanks.\r\n\r\n{quoted}"),
    );
    let to = email.header("Reply-To").unwrap();
    let forged = to.replacen("reply+", "reply+x", 1);
    let addr = app.smtp;
    let answers = tokio::task::spawn_blocking(move || {
        smtplib_send_all(
            addr,
            "ana@visitor.example",
            &[(vec![to], reply.clone()), (vec![forged], reply)],
        )
    })
    .await
    .unwrap();
    assert_eq!(answers[0], "OK {}");
    assert!(answers[1].starts_with("REFUSED"), "{}", answers[1]);
    for series in [
        "replyrelay_replies_received_total{via=\"smtp\"}",
        "replyrelay_replies_stored_total",
        "replyrelay_replies_own_copy_cut_total",
        "replyrelay_replies_rejected_total{reason=\"token\"}",
    ] {
        moved(&app, &before, series).await;
    }
    let conv = app.conversation("c1").await;
    let last = conv["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["text"], "Great, thanks.");
}

/// Every metric the daemon registers (`src/metrics.rs`) is read by a test: this file's, or
/// the others' (`replies_untrimmed` in `trimming.rs`, `attachments_too_large` in `replies.rs`,
/// `build_info` in `serve.rs`).
#[test]
fn no_metric_goes_untested() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry = std::fs::read_to_string(root.join("src/metrics.rs")).unwrap();
    let families: Vec<String> = registry
        .split("registry.register(")
        .skip(1)
        .filter_map(|call| call.split('"').nth(1))
        .map(|name| format!("replyrelay_{name}"))
        .collect();
    assert!(families.len() >= 14, "{families:?}");
    let sources: String = std::fs::read_dir(root.join("tests/api"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    for family in families {
        // Read as a series: `"replyrelay_emails_sent_total"`, `"replyrelay_due_backlog"`.
        assert!(
            sources.contains(&format!("\"{family}")),
            "no test reads {family}"
        );
    }
}
