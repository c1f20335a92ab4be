//! The relay's PIPELINING (RFC 2920): MAIL, RCPT and DATA go in one write where the relay
//! offers it, one at a time where it does not, and a refusal in a pipelined group is reported
//! as the relay gave it.

use crate::helpers::*;
use replyrelay::clock::Clock;
use replyrelay::worker::Step;
use rstest::rstest;
use rstest_reuse::apply;

/// One email due, composed and taken by the relay.
async fn sends_one_email(app: &TestApp) {
    one_due_email(app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![Step::Composed, Step::Sent, Step::WebhookPosted]
    );
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn commands_go_pipelined_where_the_relay_offers_it(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    sends_one_email(&app).await;
    // RCPT TO and DATA came behind MAIL FROM, before its answer.
    assert_eq!(app.sink.pipelined_commands(), 2);
}

#[apply(backends)]
#[tokio::test]
async fn commands_wait_for_their_answers_where_the_relay_does_not_offer_it(
    #[case] backend: Backend,
) {
    let top = "# relay_without_pipelining";
    let Some(app) = spawn_custom(backend, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    sends_one_email(&app).await;
    assert_eq!(app.sink.pipelined_commands(), 0);
}

#[apply(backends)]
#[tokio::test]
async fn a_recipient_refused_in_a_pipelined_group_is_the_failure_reported(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    // The relay refuses the recipient; its answer to the DATA sent behind it is "no valid
    // recipients", which says nothing of the address.
    app.sink.answer_rcpt_next(&[
        "550 5.1.1 <ana@visitor.example>: Recipient address rejected: User unknown",
    ]);
    one_due_email(&app, "c1").await;
    assert_eq!(
        app.at_minute(5.5).await,
        vec![
            Step::Composed,
            Step::Failed,
            Step::WebhookPosted,
            Step::WebhookPosted
        ]
    );
    assert!(app.sent().is_empty());
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed");
    let error = marker["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("User unknown"),
        "{error}"
    );
    // A dead address, proven by the relay's answer to RCPT TO: suppressed.
    assert_eq!(
        app.hooks.of_type("visitor.suppressed")[0]["data"]["email"],
        "ana@visitor.example"
    );
}
