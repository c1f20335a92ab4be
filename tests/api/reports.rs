//! Delivery reports and complaints, end to end: each does to the email and the visitor what it
//! says, and no more. Only a dead address is suppressed; a full mailbox, a block, a delay, a
//! success notice or a report about someone else leave the visitor reachable.

use crate::helpers::*;
use replyrelay::inbound::{Envelope, Outcome};
use rstest::rstest;
use rstest_reuse::apply;

/// A `multipart/report` about the email with Message-ID `id`, with these recipient fields.
fn dsn(id: &str, fields: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.visitor.example>\r\nTo: support@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.visitor.example\r\n\r\n{fields}\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {id}\r\nSubject: Your conversation with Acme\r\n--r--\r\n"
    )
}

/// A report written as prose about the email with Message-ID `id`, as a mailer daemon sends
/// one without delivery-status fields: its explanation, then the returned headers.
fn prose(id: &str, subject: &str, explanation: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.visitor.example>\r\nTo: support@acme.example\r\nSubject: {subject}\r\n\r\n{explanation}\r\n\r\n------ This is a copy of the message's headers.\r\n\r\nMessage-ID: {id}\r\nSubject: Your conversation with Acme\r\n"
    )
}

async fn report(app: &TestApp, raw: &str) -> Outcome {
    let null_sender = Envelope {
        mail_from: Some(String::new()),
        rcpt_to: vec![],
    };
    app.inbound
        .deliver(raw.as_bytes(), &null_sender)
        .await
        .unwrap()
}

/// The visitor's first email bounces for good: `ana@visitor.example` is suppressed.
async fn hard_bounced(app: &TestApp) {
    let email = emailed(app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    let raw = dsn(
        &id,
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
    );
    assert_eq!(report(app, &raw).await, Outcome::BounceRecorded);
}

/// Whether the visitor still gets email: a new reply, and time for it to be due.
async fn still_reachable(app: &TestApp) -> bool {
    let before = app.sent().len();
    app.events(vec![message("c1", "a2", "agent", "Hello?", 6.0)])
        .await;
    app.at_minute(60.0).await;
    app.sent().len() > before
}

/// A report with these recipient fields about the visitor's first email fails it and keeps
/// the visitor: one `delivery.failed`, no suppression, still emailed.
async fn fails_the_email_but_keeps_the_visitor(app: &TestApp, fields: &str) {
    let email = emailed(app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    assert_eq!(
        report(app, &dsn(&id, fields)).await,
        Outcome::BounceRecorded
    );
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][1]["forwarded"]["status"], "failed");
    assert!(still_reachable(app).await, "{fields}");
    // Webhooks are posted by the worker, which the time moved on above has run.
    assert_eq!(app.hooks.of_type("delivery.failed").len(), 1);
    assert!(app.hooks.of_type("visitor.suppressed").is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_full_mailbox_fails_the_email_but_keeps_the_visitor(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    // A full mailbox is no dead address.
    fails_the_email_but_keeps_the_visitor(
        &app,
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full",
    )
    .await;
}

#[apply(backends)]
#[tokio::test]
async fn a_delay_or_a_success_notice_changes_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    for fields in [
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: delayed\r\nStatus: 4.4.7\r\nDiagnostic-Code: smtp; 451 4.4.7 still trying",
        "Final-Recipient: rfc822; ana@visitor.example\r\nAction: delivered\r\nStatus: 2.1.5",
    ] {
        let outcome = report(&app, &dsn(&id, fields)).await;
        assert!(matches!(outcome, Outcome::Dropped(_)), "{outcome:?}");
    }
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][1]["forwarded"]["status"], "sent");
    assert!(still_reachable(&app).await);
    assert!(app.hooks.of_type("delivery.failed").is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_report_about_another_address_is_ignored(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    // Forged, or about another message: it names an address the email never went to, and
    // came to the shared bounce address, which vouches for nothing.
    let raw = dsn(
        &id,
        "Final-Recipient: rfc822; someone-else@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
    );
    let outcome = report(&app, &raw).await;
    assert_eq!(outcome, Outcome::Unbelieved);
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][1]["forwarded"]["status"], "sent");
    assert!(still_reachable(&app).await);
}

#[apply(backends)]
#[tokio::test]
async fn a_report_about_the_address_the_visitors_forwards_to_fails_the_email_only(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    // The visitor's address forwards to another, which is dead. The report names the
    // visitor's as the original recipient: the email failed, and the visitor may mend the
    // forward, so is not suppressed.
    fails_the_email_but_keeps_the_visitor(
        &app,
        "Original-Recipient: rfc822;ana@visitor.example\r\nFinal-Recipient: rfc822;ana.old@elsewhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown",
    )
    .await;
}

#[apply(backends)]
#[tokio::test]
async fn a_prose_report_naming_its_postmaster_first_is_about_the_visitor(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    let raw = prose(
        &id,
        "Undeliverable",
        "This notice comes from mx.visitor.example; for help, write to postmaster@mx.visitor.example.\r\n\r\nYour message to ana@visitor.example could not be delivered:\r\nthe mailbox is full.",
    );
    assert_eq!(report(&app, &raw).await, Outcome::BounceRecorded);
    let marker = app.conversation("c1").await["messages"][1]["forwarded"].clone();
    assert_eq!(marker["status"], "failed", "{marker}");
    let error = marker["error"].as_str().unwrap_or_default();
    assert!(error.ends_with("for ana@visitor.example"), "{marker}");
    assert!(still_reachable(&app).await);
}

#[apply(backends)]
#[tokio::test]
async fn a_prose_notice_that_delivery_goes_on_changes_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    // A warning written as prose, without delivery-status fields or "delayed" in its subject.
    let raw = prose(
        &id,
        "Warning: message has not yet been delivered",
        "This is an automated message created by mail delivery software.\r\n\r\nYour message to:\r\n\tana@visitor.example\r\n\r\nhas not yet been delivered because the recipient server did not respond.\r\n\r\nThis is just a warning, you do not need to take any action. We will continue to\r\nattempt delivery of this message for 5 days.",
    );
    let outcome = report(&app, &raw).await;
    assert!(matches!(outcome, Outcome::Dropped(_)), "{outcome:?}");
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][1]["forwarded"]["status"], "sent");
    assert!(app.hooks.of_type("delivery.failed").is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_complaint_stops_the_emails(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    let raw = format!(
        "From: abuse@isp.example\r\nTo: support@acme.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nA complaint about a message.\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp/1\r\nVersion: 1\r\nOriginal-Rcpt-To: <ana@visitor.example>\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {id}\r\nSubject: Your conversation with Acme\r\n\r\nHello\r\n--b--\r\n"
    );
    assert_eq!(report(&app, &raw).await, Outcome::BounceRecorded);
    assert!(
        !still_reachable(&app).await,
        "a complaint is the visitor's own stop"
    );
    let suppressed = app.hooks.of_type("visitor.suppressed");
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["data"]["reason"], "complained");
}

#[apply(backends)]
#[tokio::test]
async fn a_feedback_report_that_is_no_complaint_keeps_the_visitor(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    // A receiver's DMARC failure report (RFC 6591) is about our sending, not Ana's wish.
    let raw = format!(
        "From: dmarc@isp.example\r\nTo: support@acme.example\r\nSubject: auth failure\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAn authentication failure report.\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\nUser-Agent: isp/1\r\nVersion: 1\r\nAuth-Failure: dmarc\r\nOriginal-Rcpt-To: <ana@visitor.example>\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {id}\r\nSubject: Your conversation with Acme\r\n--b--\r\n"
    );
    assert!(matches!(report(&app, &raw).await, Outcome::Dropped(_)));
    assert!(still_reachable(&app).await);
    assert!(app.hooks.of_type("visitor.suppressed").is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_suppressed_address_is_suppressed_in_any_case(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    hard_bounced(&app).await;
    // The same mailbox, written otherwise, in another conversation.
    let mut events = asked_and_answered("c2");
    events[0] = visitor("c2", Some("ANA@Visitor.Example"), 0.0);
    events.push(presence("c2", "left", 1.5));
    app.events(events).await;
    app.at_minute(60.0).await;
    assert_eq!(app.sent().len(), 1, "only the email that bounced");
}

/// Suppressions written before addresses were kept lowercased are folded in by migration 5.
#[apply(backends)]
#[tokio::test]
async fn suppressions_from_before_the_upgrade_hold_in_any_case(#[case] backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database_url(backend, dir.path()).await else {
        return;
    };
    migrate_to(&db, 4).await;
    let t = t0().timestamp_millis();
    execute(
        &db,
        &format!(
            "INSERT INTO suppressions (site_id, email, reason, at)
             VALUES ('acme', 'Ana@Visitor.example', 'unsubscribed', {t}),
                    ('acme', 'ana@VISITOR.example', 'hard_bounce', {})",
            t + 1
        ),
    )
    .await;
    let app = spawn_on(
        dir,
        db,
        "",
        "",
        replyrelay::clock::Clock::manual(t0()),
        false,
    )
    .await;
    assert_eq!(
        app.suppressions().await,
        vec![(
            "ana@visitor.example".to_string(),
            "unsubscribed".to_string()
        )],
        "one row, lowercased, the earliest reason"
    );
    let mut events = asked_and_answered("c1");
    events.push(presence("c1", "left", 1.5));
    app.events(events).await;
    app.at_minute(60.0).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_suppression_is_listed_and_can_be_lifted(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    hard_bounced(&app).await;
    let get = |query: &str| {
        app.client
            .get(format!("{}/v1/suppressions{query}", app.base))
            .bearer_auth(TOKEN)
            .send()
    };
    let listed: serde_json::Value = get("?q=ANA@").await.unwrap().json().await.unwrap();
    assert_eq!(listed["suppressions"][0]["email"], "ana@visitor.example");
    assert_eq!(listed["suppressions"][0]["reason"], "hard_bounce");
    // What caused it: the report, and the email it was about.
    let cause = listed["suppressions"][0]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("report ") && cause.contains("@reply.acme.example>"),
        "{cause}"
    );
    let none: serde_json::Value = get("?reason=complained")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["suppressions"].as_array().unwrap().len(), 0);
    assert_eq!(get("?reason=maybe").await.unwrap().status(), 400);
    let other_site = app
        .client
        .get(format!("{}/v1/suppressions", app.base))
        .bearer_auth(OTHER_TOKEN)
        .send()
        .await
        .unwrap();
    let other: serde_json::Value = other_site.json().await.unwrap();
    assert_eq!(
        other["suppressions"].as_array().unwrap().len(),
        0,
        "per site"
    );

    let lift = |who: &str| {
        app.client
            .delete(format!("{}/v1/suppressions/{who}", app.base))
            .bearer_auth(TOKEN)
            .send()
    };
    assert_eq!(lift("Ana@Visitor.example").await.unwrap().status(), 200);
    assert_eq!(
        lift("ana@visitor.example").await.unwrap().status(),
        404,
        "lifted already"
    );
    assert!(still_reachable(&app).await, "the visitor gets email again");
    let hooks = app.hooks.of_type("visitor.unsuppressed");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["data"]["email"], "ana@visitor.example");
}

/// A conversation `conv` of Ana's from `minute` on: she asks, an agent answers, she has
/// left; then the worker runs until the email to her is due and has been tried.
async fn ana_asks(app: &TestApp, conv: &str, minute: f64) {
    app.at_minute(minute + 1.0).await;
    app.events(vec![
        visitor(conv, Some("ana@visitor.example"), minute),
        message(conv, "q1", "visitor", "Do you ship to Spain?", minute),
        presence(conv, "left", minute + 0.5),
        message(conv, "a1", "agent", "Yes, in 3 days.", minute + 1.0),
    ])
    .await;
    app.at_minute(minute + 6.0).await;
}

/// [`ana_asks`], and the email that went out.
async fn emailed_from(app: &TestApp, conv: &str, minute: f64) -> Received {
    ana_asks(app, conv, minute).await;
    let conv_id = conv.to_string();
    app.sent()
        .into_iter()
        .rev()
        .find(|e| e.text().contains(&format!("/chat/{conv_id}")))
        .expect("an email went out")
}

/// The reason Ana's address is suppressed for, if it is.
async fn suppressed_for(app: &TestApp) -> Option<String> {
    let url = format!("{}/v1/suppressions?q=ana@", app.base);
    let r = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    let listed: serde_json::Value = r.json().await.unwrap();
    listed["suppressions"][0]["reason"]
        .as_str()
        .map(String::from)
}

const MAILBOX_FULL: &str = "Final-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full";

#[apply(backends)]
#[tokio::test]
async fn a_mailbox_full_for_a_week_is_suppressed_as_soft_bounced(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let day = 24.0 * 60.0;
    // Five emails two days apart, each refused for a full mailbox (the first reported twice).
    for i in 0..5 {
        let email = emailed_from(&app, &format!("c{i}"), 2.0 * day * f64::from(i)).await;
        let id = email.header("Message-ID").unwrap();
        let repeats = if i == 0 { 2 } else { 1 };
        for _ in 0..repeats {
            let outcome = report(&app, &dsn(&id, MAILBOX_FULL)).await;
            assert_eq!(outcome, Outcome::BounceRecorded);
        }
        let want = (i == 4).then(|| "soft_bounced".to_string());
        assert_eq!(suppressed_for(&app).await, want, "after report {}", i + 1);
    }
    let causes: Vec<(String,)> = app.stored("SELECT cause FROM suppressions").await;
    let cause = &causes[0].0;
    assert!(
        cause.starts_with("5 soft failures in a row since "),
        "{cause}"
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_between_soft_bounces_starts_the_count_again(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let day = 24.0 * 60.0;
    for i in 0..5 {
        let email = emailed_from(&app, &format!("c{i}"), 2.0 * day * f64::from(i)).await;
        if i == 3 {
            // She answers: her mailbox works.
            let raw = reply_to(&email, "ana@visitor.example", "Got it, thanks.");
            let outcome = app.inbound.deliver(&raw, &Envelope::default()).await;
            assert!(matches!(outcome, Ok(Outcome::Stored { .. })), "{outcome:?}");
        }
        let id = email.header("Message-ID").unwrap();
        assert_eq!(
            report(&app, &dsn(&id, MAILBOX_FULL)).await,
            Outcome::BounceRecorded
        );
    }
    assert_eq!(suppressed_for(&app).await, None);
}

#[apply(backends)]
#[tokio::test]
async fn the_relay_refusing_a_full_mailbox_for_a_week_suppresses_but_a_block_does_not(
    #[case] backend: Backend,
) {
    let day = 24.0 * 60.0;
    // (the relay's answer, the emails tried, the suppression at the end): the sixth email is
    // not tried once the fifth refusal over a week suppressed the address.
    for (answer, tried, want) in [
        (
            "552 5.2.2 <ana@visitor.example>: Mailbox full",
            5,
            Some("soft_bounced"),
        ),
        (
            "550 5.7.1 Client host [10.5.1.3] blocked using zen.spamhaus.org",
            6,
            None,
        ),
    ] {
        let Some(app) = spawn_app(backend, "").await else {
            return;
        };
        app.sink.answer_next(&[answer; 6]);
        for i in 0..6 {
            ana_asks(&app, &format!("c{i}"), 2.0 * day * f64::from(i)).await;
        }
        assert_eq!(app.sink.attempts().len(), tried, "{answer}");
        assert_eq!(suppressed_for(&app).await.as_deref(), want, "{answer}");
    }
}
