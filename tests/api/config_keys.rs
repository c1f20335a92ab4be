//! Configuration keys that change what is sent and when, each set to a value other than its
//! default and its effect observed (`tests/config_coverage.rs` holds every key to a test).

use crate::helpers::*;
use replyrelay::clock::Clock;
use replyrelay::worker::Step;

#[tokio::test]
async fn batch_quiet_waits_for_the_agents_to_stop_writing() {
    let Some(app) = spawn_app(Backend::Sqlite, "\nbatch_quiet = \"5m\"").await else {
        return;
    };
    // Gone at 0.5 (due 5.5 by departure), but the reply at 1 is quiet only at 6.
    one_due_email(&app, "c1").await;
    app.at_minute(5.9).await;
    assert!(app.sent().is_empty(), "not before five quiet minutes");
    app.at_minute(6.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[tokio::test]
async fn reach_window_closes_on_a_visitor_who_wrote_long_ago() {
    let Some(app) = spawn_app(Backend::Sqlite, "\nreach_window = \"10m\"").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(5.5).await;
    assert_eq!(
        app.sent().len(),
        1,
        "within ten minutes of the visitor's message"
    );
    // A later answer, due at 20.5: the visitor last wrote at 0, the window closed at 10.
    app.at_minute(20.0).await;
    app.events(vec![message("c1", "a2", "agent", "Anything else?", 20.0)])
        .await;
    app.at_minute(60.0).await;
    assert_eq!(app.sent().len(), 1, "no email once the window has closed");
}

#[tokio::test]
async fn context_messages_and_short_conversation_choose_what_the_email_shows() {
    let extra = "\nshort_conversation = 2\ncontext_messages = 1";
    let Some(app) = spawn_app(Backend::Sqlite, extra).await else {
        return;
    };
    app.at_minute(3.0).await;
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        message("c1", "q1", "visitor", "First question.", 0.0),
        message("c1", "a1", "agent", "First answer.", 1.0),
        message("c1", "q2", "visitor", "Second question.", 2.0),
        message("c1", "a2", "agent", "Second answer.", 3.0),
        presence("c1", "left", 3.0),
    ])
    .await;
    app.at_minute(8.0).await;
    let text = app.sent().pop().expect("an email").text();
    // Longer than two messages: the new reply with one message of context before it.
    assert!(
        text.contains("Second question.") && text.contains("Second answer."),
        "{text}"
    );
    assert!(
        !text.contains("First question.") && !text.contains("First answer."),
        "{text}"
    );
}

#[tokio::test]
async fn from_agent_off_names_only_the_site() {
    let Some(app) = spawn_app(Backend::Sqlite, "\nfrom_agent = false").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    assert_eq!(email.header("From").unwrap(), "Acme <support@acme.example>");
}

#[tokio::test]
async fn retry_max_caps_the_doubling_wait() {
    let top = "# delivery retry_max = \"1m\"";
    let Some(app) = spawn_custom(Backend::Sqlite, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    app.sink
        .answer_next(&["451 4.3.0 later", "451 4.3.0 later", "451 4.3.0 later"]);
    one_due_email(&app, "c1").await;
    // Attempts at 5.5, then 30 s, 60 s, and 60 s again (the cap) after each: 6.0, 7.0, 8.0.
    for (minute, attempts) in [(5.5, 1), (6.0, 2), (7.0, 3), (7.9, 3), (8.0, 4)] {
        app.at_minute(minute).await;
        assert_eq!(app.sink.attempts().len(), attempts, "at minute {minute}");
    }
    assert_eq!(app.sent().len(), 1, "the fourth attempt was taken");
}

#[tokio::test]
async fn soft_bounce_limit_and_span_decide_when_soft_failures_suppress() {
    let top = "# delivery soft_bounce_limit = 2\n# delivery soft_bounce_span = \"2m\"";
    let Some(app) = spawn_custom(Backend::Sqlite, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    let full = "552 5.2.2 Mailbox full";
    app.sink.answer_next(&[full, full, full]);
    let soft_before = app.metric("replyrelay_soft_bounces_total").await;
    let series = "replyrelay_suppressions_total{reason=\"soft_bounced\"}";
    let suppressed_before = app.metric(series).await;
    one_due_email(&app, "c1").await;
    app.at_minute(5.5).await;
    // A second failure a minute later: two in a row, but not over two minutes yet.
    let second = answered_and_gone("c2");
    app.at_minute(6.5).await;
    app.events(second).await;
    app.at_minute(6.5).await;
    let suppressed = app.suppressions().await;
    assert!(
        suppressed.is_empty(),
        "two soft failures within the span: {suppressed:?}"
    );
    // A third, past the span: suppressed as soft_bounced.
    let third = answered_and_gone("c3");
    app.at_minute(8.0).await;
    app.events(third).await;
    let steps = app.at_minute(8.0).await;
    assert!(steps.contains(&Step::Failed), "{steps:?}");
    assert_eq!(
        app.suppressions().await,
        [(
            "ana@visitor.example".to_string(),
            "soft_bounced".to_string()
        )]
    );
    // Three soft failures counted, one suppression by its reason.
    assert!(app.metric("replyrelay_soft_bounces_total").await >= soft_before + 3.0);
    assert!(app.metric(series).await >= suppressed_before + 1.0);
}

#[tokio::test]
async fn pool_size_bounds_the_connections_to_the_relay() {
    for pool in [1, 3] {
        let top = format!("# smtp pool_size = {pool}");
        let Some(app) = spawn_custom(Backend::Sqlite, &top, "", Clock::manual(t0()), false).await
        else {
            return;
        };
        app.at_minute(1.0).await;
        let mut events = Vec::new();
        for c in ["c1", "c2", "c3", "c4", "c5", "c6"] {
            events.extend(answered_and_gone(c));
        }
        app.events(events).await;
        app.at_minute(5.5).await;
        assert_eq!(app.sent().len(), 6);
        let connections = app.sink.connections();
        assert!(
            connections == pool,
            "pool_size {pool}: {connections} connections"
        );
    }
}
