//! The three ways a visitor is "gone", the quiet period, and the cases that must send nothing.

use crate::helpers::*;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::json;

#[apply(backends)]
#[tokio::test]
async fn departure_sends_five_minutes_after_leaving(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    let mut events = asked_and_answered("c1");
    events.insert(2, presence("c1", "left", 0.5));
    app.events(events).await;

    app.at_minute(5.49).await;
    assert!(app.sent().is_empty(), "not before 5 minutes after leaving");
    app.at_minute(5.5).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.rcpt_to, vec!["ana@visitor.example"]);
    assert_eq!(email.mail_from, "support@acme.example");
    assert_eq!(
        email.header("From").unwrap(),
        "\"Sam from Acme\" <support@acme.example>"
    );
    assert_eq!(
        email.header("To").unwrap(),
        "\"Ana Souza\" <ana@visitor.example>"
    );
    assert_eq!(
        email.header("Subject").unwrap(),
        "Your conversation with Acme"
    );
    assert_eq!(email.header("Auto-Submitted").unwrap(), "auto-generated");
    assert_eq!(
        email.header("List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    let reply_to = email.header("Reply-To").unwrap();
    assert!(
        reply_to.starts_with("reply+") && reply_to.ends_with("@reply.acme.example"),
        "{reply_to}"
    );
    assert_eq!(
        reply_to.len(),
        "reply+".len() + 39 + "@reply.acme.example".len()
    );
    let unsubscribe = email.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.starts_with("<https://relay.example.net/v1/unsubscribe/"),
        "{unsubscribe}"
    );
    assert!(
        email.header("In-Reply-To").is_none(),
        "the first email starts the thread"
    );

    // Short conversation: the whole of it, the visitor's question included.
    let text = email.text();
    assert!(
        text.starts_with("## Reply above this line to answer ##"),
        "{text}"
    );
    assert!(
        // Times as the language writes them (CLDR), the zone named once.
        text.contains("You · today, 10:00\u{202f}AM\nDo you ship to Spain?"),
        "{text}"
    );
    assert!(
        // The text part reads without Markdown's marks.
        text.contains("Sam · today, 10:01\u{202f}AM\nYes, in 3 days."),
        "{text}"
    );
    assert!(
        text.contains("Times are in Coordinated Universal Time."),
        "{text}"
    );
    assert!(
        text.contains("Continue in the chat: https://acme.example/chat/c1"),
        "{text}"
    );
    let html = email.html();
    assert!(html.contains("Yes, in <strong>3 days</strong>."), "{html}");
    assert!(
        html.contains(r#"href="https://acme.example/chat/c1""#),
        "{html}"
    );

    // The marker shows where and how the reply went.
    let conv = app.conversation("c1").await;
    let answer = &conv["messages"][1];
    assert_eq!(answer["forwarded"]["to"], "ana@visitor.example");
    assert_eq!(answer["forwarded"]["status"], "sent");
    assert_eq!(
        answer["forwarded"]["message_id"].as_str().unwrap(),
        email.header("Message-ID").unwrap()
    );
    assert!(
        conv["messages"][0]["forwarded"].is_null(),
        "the visitor's own message is not forwarded"
    );

    // Nothing more to say: no second email, ever.
    app.at_minute(120.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn idle_sends_thirty_minutes_after_last_activity(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    let mut events = asked_and_answered("c1");
    events.push(presence("c1", "active", 0.2));
    app.events(events).await;
    app.at_minute(29.9).await;
    assert!(app.sent().is_empty());
    app.at_minute(30.2).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn agents_going_offline_sends_after_the_quiet_period(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.5).await;
    let mut events = asked_and_answered("c1");
    events.push(json!({"type": "agents", "online": 0, "at": at(1.5)}));
    app.events(events).await;
    // Agents are gone, but the last reply came at 1.0: wait out the 60 s quiet period.
    app.at_minute(1.9).await;
    assert!(app.sent().is_empty());
    app.at_minute(2.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn agents_offline_event_reschedules_conversations_already_waiting(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(asked_and_answered("c1")).await;
    app.at_minute(3.0).await;
    assert!(
        app.sent().is_empty(),
        "the visitor is neither gone nor idle"
    );
    app.events(vec![json!({"type": "agents", "online": 0})])
        .await;
    app.at_minute(3.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn a_burst_of_replies_becomes_one_email(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(6.0).await;
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        message(
            "c1",
            "q1",
            "visitor",
            "Two questions: price and delivery?",
            0.0,
        ),
        presence("c1", "left", 0.1),
        message("c1", "a1", "agent", "Price: 20 EUR.", 4.5),
        message("c1", "a2", "agent", "Delivery: 3 days.", 5.2),
        message("c1", "a3", "agent", "Anything else?", 6.0),
    ])
    .await;
    // Departure made it due at 5.1, but agents were still typing: wait for 60 s of quiet.
    app.at_minute(6.9).await;
    assert!(app.sent().is_empty());
    app.at_minute(7.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    let text = sent[0].text();
    for reply in ["Price: 20 EUR.", "Delivery: 3 days.", "Anything else?"] {
        assert!(text.contains(reply), "{text}");
    }
    app.at_minute(60.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn no_email_when_the_reply_was_read_before_the_due_time(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(3.0).await;
    let mut events = answered_and_gone("c1");
    events.push(read("c1", "a1", 3.0));
    app.events(events).await;
    app.at_minute(90.0).await;
    assert!(app.sent().is_empty());
    assert!(app.conversation("c1").await["messages"][1]["forwarded"].is_null());
}

#[apply(backends)]
#[tokio::test]
async fn no_email_when_the_visitor_came_back_to_the_page(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(4.0).await;
    app.events(vec![presence("c1", "active", 4.0)]).await;
    // The departure trigger is gone; the idle one now counts from minute 4.
    app.at_minute(33.9).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_visitor_who_comes_back_between_due_and_send_gets_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    // Due at 5.5: the email is made (one step, not yet sent), then the visitor reads at 5.6,
    // after it was claimed. The check as the send takes its lease withdraws it.
    app.clock.advance(chrono::TimeDelta::seconds(270));
    let steps = app.worker.try_execute_task().await.unwrap();
    assert_eq!(steps, [replyrelay::worker::Step::Composed]);
    app.clock.advance(chrono::TimeDelta::seconds(6));
    app.events(vec![read("c1", "a1", 5.6)]).await;
    let steps = app.at_minute(10.0).await;
    assert!(
        steps.contains(&replyrelay::worker::Step::Cancelled),
        "{steps:?}"
    );
    assert!(app.sent().is_empty());
    assert!(app.sink.attempts().is_empty(), "nothing reached the relay");
}

#[apply(backends)]
#[tokio::test]
async fn no_email_for_a_visitor_without_an_address(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    let mut events = asked_and_answered("c1");
    events[0] = visitor("c1", None, 0.0);
    events.push(presence("c1", "left", 0.5));
    app.events(events).await;
    app.at_minute(60.0).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn no_email_when_the_reply_was_deleted(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(2.0).await;
    let mut events = answered_and_gone("c1");
    events.push(
        json!({"type": "message_deleted", "conversation": "c1", "message_id": "a1", "at": at(2.0)}),
    );
    app.events(events).await;
    app.at_minute(60.0).await;
    assert!(app.sent().is_empty());
    assert_eq!(app.conversation("c1").await["messages"][1]["deleted"], true);
}

#[apply(backends)]
#[tokio::test]
async fn no_email_to_a_suppressed_visitor(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(6.0).await;
    let first = app.sent();
    assert_eq!(first.len(), 1);
    // One click on the List-Unsubscribe URL (RFC 8058 POST).
    let path = (first[0].unsubscribe_url()).replace("https://relay.example.net", &app.base);
    let r = app
        .client
        .post(path)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // New replies in this and in another conversation of the same visitor: nothing goes.
    app.events(vec![
        message("c1", "a2", "agent", "One more thing", 6.0),
        visitor("c2", Some("ana@visitor.example"), 6.0),
        message("c2", "q", "visitor", "Hello again", 6.0),
        presence("c2", "left", 6.0),
        message("c2", "a", "agent", "Hi!", 6.0),
    ])
    .await;
    app.at_minute(120.0).await;
    assert_eq!(app.sent().len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn the_reach_window_closes_after_thirty_days(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let day = 24.0 * 60.0;
    app.at_minute(31.0 * day).await;
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        message("c1", "q1", "visitor", "Hello?", 0.0),
        presence("c1", "left", 1.0),
        // The agent answers a month later: the window has closed.
        message("c1", "a1", "agent", "Sorry for the delay!", 31.0 * day),
    ])
    .await;
    app.at_minute(32.0 * day).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn at_most_max_unanswered_emails_until_the_visitor_writes(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "max_unanswered = 2").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(10.0).await;
    app.events(vec![message("c1", "a2", "agent", "Second", 10.0)])
        .await;
    app.at_minute(20.0).await;
    app.events(vec![message("c1", "a3", "agent", "Third", 20.0)])
        .await;
    app.at_minute(30.0).await;
    assert_eq!(app.sent().len(), 2, "the third email is not sent");
    assert!(app.conversation("c1").await["messages"][3]["forwarded"].is_null());

    // The visitor writes again (and leaves): the count starts over.
    app.events(vec![
        message("c1", "q2", "visitor", "Still there?", 30.0),
        presence("c1", "left", 30.0),
        message("c1", "a4", "agent", "Yes!", 31.0),
    ])
    .await;
    app.at_minute(36.0).await;
    assert_eq!(app.sent().len(), 3);
}
