//! Delivery through the relay: retries on 4xx, failure on 5xx, and what the marker shows.

use crate::helpers::*;
use replyrelay::worker::Step;
use rstest::rstest;
use rstest_reuse::apply;

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
