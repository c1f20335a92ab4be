//! Visitor replies through the inbound pipeline: routed, verified, trimmed, stored, announced.

use crate::helpers::*;
use replyrelay::inbound::{Envelope, Outcome, Rejection};
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::{json, Value};

/// A conversation whose first email (minute 5.5) went out; returns that email.
async fn deliver(app: &TestApp, raw: &[u8]) -> Outcome {
    app.inbound
        .deliver(raw, &Envelope::default())
        .await
        .unwrap()
}

fn visitor_messages(conv: &Value) -> Vec<Value> {
    conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "email")
        .cloned()
        .collect()
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_lands_in_the_thread_trimmed_and_signed_webhook_goes_out(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    app.at_minute(20.0).await;
    let outcome = deliver(
        &app,
        &reply_to(&email, "ana@visitor.example", "Great, please ship it!"),
    )
    .await;
    assert!(matches!(outcome, Outcome::Stored { .. }), "{outcome:?}");

    let conv = app.conversation("c1").await;
    let replies = visitor_messages(&conv);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["text"], "Great, please ship it!");
    assert_eq!(replies[0]["author"], "visitor");
    assert_eq!(replies[0]["name"], "Ana Souza");
    assert_eq!(conv["replied_by_email"], true);

    app.worker.run_until_idle().await.unwrap();
    let created = app.hooks.of_type("message.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["site"], "acme");
    assert_eq!(created[0]["data"]["conversation"], "c1");
    assert_eq!(
        created[0]["data"]["message"]["text"],
        "Great, please ship it!"
    );
    assert_eq!(created[0]["data"]["message"]["source"], "email");
    assert!(
        app.hooks.received().iter().all(signature_is_valid),
        "every webhook is signed"
    );
    assert_eq!(
        app.hooks.of_type("message.forwarded").len(),
        1,
        "the first email's webhook"
    );
}

/// The relay took the email but its `250` never came back: the email waits for a retry. The
/// visitor's answer proves it arrived, so it is marked sent (and announced), not sent again and
/// not withdrawn as "read meanwhile".
#[apply(backends)]
#[tokio::test]
async fn an_answer_proves_an_email_arrived_whose_250_was_lost(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink.answer_next(&["LOSE_ANSWER"]);
    let email = emailed(&app, "c1").await;
    let marker = |conv: &Value| conv["messages"][1]["forwarded"].clone();
    assert_eq!(marker(&app.conversation("c1").await)["status"], "pending");
    assert!(app.hooks.of_type("message.forwarded").is_empty());

    let outcome = deliver(&app, &reply_to(&email, "ana@visitor.example", "Thanks!")).await;
    assert!(matches!(outcome, Outcome::Stored { .. }), "{outcome:?}");
    let conv = app.conversation("c1").await;
    assert_eq!(marker(&conv)["status"], "sent", "{conv}");
    assert!(marker(&conv)["error"].is_null(), "{conv}");

    // The retry's time comes and goes: nothing is sent again, the platform hears once.
    app.at_minute(30.0).await;
    assert_eq!(app.sent().len(), 1);
    assert_eq!(marker(&app.conversation("c1").await)["status"], "sent");
    let forwarded = app.hooks.of_type("message.forwarded");
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    assert_eq!(forwarded[0]["data"]["messages"], serde_json::json!(["a1"]));
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_reopens_resets_and_later_emails_carry_only_new_replies(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    app.events(vec![
        serde_json::json!({"type": "closed", "conversation": "c1", "at": at(6.0)}),
    ])
    .await;
    app.at_minute(10.0).await;
    deliver(
        &app,
        &reply_to(
            &email,
            "ana@visitor.example",
            "One more question: gift wrap?",
        ),
    )
    .await;
    let conv = app.conversation("c1").await;
    assert_eq!(conv["status"], "open", "a reply reopens the conversation");
    assert_eq!(conv["unanswered_emails"], 0);

    // The agent answers in the chat; the visitor is away: the next email has only that answer.
    app.events(vec![message(
        "c1",
        "a2",
        "agent",
        "Gift wrap is free.",
        10.0,
    )])
    .await;
    app.at_minute(41.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 2);
    let text = sent[1].text();
    assert!(text.contains("Gift wrap is free."), "{text}");
    assert!(
        !text.contains("Do you ship to Spain?"),
        "no old context once they answered by email: {text}"
    );
    assert_eq!(
        sent[1].header("In-Reply-To").unwrap(),
        email.header("Message-ID").unwrap()
    );
}

#[apply(backends)]
#[tokio::test]
async fn replies_from_common_clients_are_trimmed(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "Outlook, Spanish",
            "Content-Type: text/plain; charset=utf-8\r\n\r\n¿Y a Canarias también?\r\n\r\n________________________________\r\nDe: Acme <support@acme.example>\r\nEnviado: lunes, 2 de marzo de 2026 10:06\r\nPara: Ana Souza\r\nAsunto: Your conversation with Acme\r\n\r\nYes, in 3 days.\r\n".into(),
            "¿Y a Canarias también?",
        ),
        (
            "Apple Mail, German",
            "Content-Type: text/plain; charset=utf-8\r\n\r\nDanke!\r\n\r\nVon meinem iPhone gesendet\r\n\r\n> Am 02.03.2026 um 10:06 schrieb Acme <support@acme.example>:\r\n>\r\n> Yes, in 3 days.\r\n".into(),
            "Danke!",
        ),
        (
            "Gmail HTML only, Portuguese",
            "Content-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">Obrigada, <b>perfeito</b>!</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">Em seg., 2 de mar. de 2026 às 10:06, Acme &lt;support@acme.example&gt; escreveu:<br></div><blockquote class=\"gmail_quote\">## Reply above this line to answer ##<br>Yes, in 3 days.</blockquote></div>\r\n".into(),
            "Obrigada, perfeito!",
        ),
        (
            "Gmail multipart, French",
            "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nParfait, merci.\r\n\r\nLe lun. 2 mars 2026 à 10:06, Acme <support@acme.example> a écrit :\r\n\r\n> Yes, in 3 days.\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Parfait, merci.</div>\r\n--b--\r\n".into(),
            "Parfait, merci.",
        ),
        (
            "Outlook on the web, HTML only, a link in the reply and in the quote",
            "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><div>Please use <a href=\"https://visitor.example/addr\">my new address</a>.</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\" dir=\"ltr\"><b>From:</b> Acme &lt;support@acme.example&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:06 AM</div><div>## Reply above this line to answer ##<br>Yes, in <a href=\"https://acme.example/shipping\">3 days</a>.</div></body></html>\r\n".into(),
            "Please use my new address (https://visitor.example/addr).",
        ),
        (
            "Apple Mail, HTML only, a link in the quote",
            "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body dir=\"auto\">Great, thank you!<br><br><div dir=\"ltr\">On 2 Mar 2026, at 10:06, Acme &lt;support@acme.example&gt; wrote:<br><br></div><blockquote type=\"cite\"><div dir=\"ltr\">Yes, in <a href=\"https://acme.example/shipping\">3 days</a>.</div></blockquote></body></html>\r\n".into(),
            "Great, thank you!",
        ),
        (
            "Thunderbird, HTML only",
            "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Friday works.</p><div class=\"moz-cite-prefix\">On 02/03/2026 10:06, Acme wrote:<br></div><blockquote type=\"cite\">Yes, in <a href=\"https://acme.example/shipping\">3 days</a>.</blockquote></body></html>\r\n".into(),
            "Friday works.",
        ),
    ];
    for (i, (client, mime, expected)) in cases.into_iter().enumerate() {
        let outcome = deliver(&app, &reply_with(&email, "ana@visitor.example", &mime)).await;
        assert!(
            matches!(outcome, Outcome::Stored { .. }),
            "{client}: {outcome:?}"
        );
        let conv = app.conversation("c1").await;
        let text = visitor_messages(&conv)[i]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(text, expected, "{client}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn forged_and_modified_tokens_are_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let reply_to_header = email.header("Reply-To").unwrap();
    let token = reply_to_header
        .trim_start_matches("reply+")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    // Change one character of the MAC; then make one up entirely.
    let mut modified = token.clone().into_bytes();
    let last = modified.len() - 1;
    modified[last] = if modified[last] == b'a' { b'b' } else { b'a' };
    let modified = String::from_utf8(modified).unwrap();
    // Cut short.
    let truncated = &token[..token.len() - 4];
    // The unsubscribe token of the same email, used as a reply token (an email's: no
    // conversation number in it at all).
    let unsubscribe = email.header("List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe
        .split("/v1/unsubscribe/")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_string();
    // Acme's MAC on the number of another site's conversation (made next, so the next pk).
    app.post_as(OTHER_TOKEN, json!({"events": asked_and_answered("o1")}))
        .await;
    let mut raw = data_encoding::BASE32_NOPAD
        .decode(token.to_uppercase().as_bytes())
        .unwrap();
    let pk = i64::from_be_bytes(raw[..8].try_into().unwrap());
    raw[..8].copy_from_slice(&(pk + 1).to_be_bytes());
    let other_site = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
    // A genuine MAC (the daemon's key) on a number that is no conversation.
    let keys = replyrelay::token::TokenKeys::new(vec![TEST_TOKEN_KEY.as_bytes().to_vec()]);
    let no_conversation = keys.sign(replyrelay::token::Purpose::Reply, "acme", 999_999);
    // The same conversation's number under the daemon's key, for the other purpose: the
    // unsubscribe token of links made before emails had their own.
    let pk = replyrelay::token::TokenKeys::number(&token).unwrap();
    let conversation_unsubscribe = keys.sign(replyrelay::token::Purpose::Unsubscribe, "acme", pk);
    for bad in [
        modified.as_str(),
        truncated,
        "aaaaaaaaaaaacaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "not-a-token",
        unsubscribe.as_str(),
        conversation_unsubscribe.as_str(),
        other_site.as_str(),
        no_conversation.as_str(),
    ] {
        let genuine = format!("{token}@reply.acme.example");
        let bad_address = format!("{bad}@reply.acme.example");
        let raw = String::from_utf8(reply_to(&email, "ana@visitor.example", "let me in"))
            .unwrap()
            .replace(&genuine, &bad_address);
        let outcome = deliver(&app, raw.as_bytes()).await;
        let Outcome::Rejected(Rejection::UnknownRecipient(why)) = &outcome else {
            panic!("{bad}: {outcome:?}");
        };
        // Tokens that name a real conversation fail on their MAC, whatever else is right.
        let real = [
            conversation_unsubscribe.as_str(),
            other_site.as_str(),
            modified.as_str(),
        ];
        if real.contains(&bad) {
            assert_eq!(why, "forged reply token", "{bad}");
        }
        if bad == no_conversation {
            assert_eq!(why, "unknown reply token");
        }
    }
    assert!(visitor_messages(&app.conversation("c1").await).is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn a_wrong_sender_under_each_policy(#[case] backend: Backend) {
    for (policy, stored, quarantined) in [
        ("strict", false, false),
        ("quarantine", false, true),
        ("accept", true, false),
    ] {
        let Some(app) = spawn_app(backend, &format!("sender_policy = \"{policy}\"")).await else {
            return;
        };
        let email = emailed(&app, "c1").await;
        let outcome = deliver(
            &app,
            &reply_to(&email, "mallory@elsewhere.example", "I am Ana, honest"),
        )
        .await;
        match policy {
            "strict" => assert!(
                matches!(outcome, Outcome::Rejected(Rejection::Sender(_))),
                "{outcome:?}"
            ),
            "quarantine" => assert!(
                matches!(outcome, Outcome::Quarantined { .. }),
                "{outcome:?}"
            ),
            _ => assert!(matches!(outcome, Outcome::Stored { .. }), "{outcome:?}"),
        }
        let conv = app.conversation("c1").await;
        let replies = visitor_messages(&conv);
        assert_eq!(
            replies.iter().any(|m| m["quarantined"] == false),
            stored,
            "{policy}"
        );
        assert_eq!(
            replies.iter().any(|m| m["quarantined"] == true),
            quarantined,
            "{policy}"
        );
        app.worker.run_until_idle().await.unwrap();
        assert_eq!(
            app.hooks.of_type("message.created").len(),
            stored as usize,
            "{policy}"
        );
        if quarantined {
            // The next email, whole conversation or context, never shows the held reply.
            app.events(vec![message("c1", "a2", "agent", "Anything else?", 6.0)])
                .await;
            app.at_minute(40.0).await;
            let sent = app.sent();
            assert_eq!(sent.len(), 2, "a second email went");
            let next = &sent[1];
            assert!(next.text().contains("Anything else?"), "{}", next.text());
            assert!(!next.text().contains("I am Ana, honest"), "{}", next.text());
            assert!(!next.html().contains("I am Ana, honest"));
        }
    }
}

#[apply(backends)]
#[tokio::test]
async fn duplicates_auto_replies_and_loops_are_not_posted(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let raw = reply_to(&email, "ana@visitor.example", "Once only");
    assert!(matches!(deliver(&app, &raw).await, Outcome::Stored { .. }));
    assert_eq!(deliver(&app, &raw).await, Outcome::Duplicate);

    let ooo = String::from_utf8(reply_to(
        &email,
        "ana@visitor.example",
        "I am away until Monday.",
    ))
    .unwrap()
    .replacen(
        "Subject: Re:",
        "Auto-Submitted: auto-replied\r\nSubject: Out of office Re:",
        1,
    );
    assert!(matches!(
        deliver(&app, ooo.as_bytes()).await,
        Outcome::Dropped(_)
    ));
    let our_own = String::from_utf8_lossy(&email.data).to_string();
    assert!(
        matches!(deliver(&app, our_own.as_bytes()).await, Outcome::Dropped(_)),
        "a loop"
    );
    assert_eq!(visitor_messages(&app.conversation("c1").await).len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_asking_for_no_automatic_answer_is_a_persons_a_read_receipt_is_none(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    // Exchange and Microsoft 365 ask that nothing answer a person's mail automatically; the
    // same header on an out-of-office is beside the rule's mark (Exchange's own pair).
    let with = |body: &str, headers: &str| {
        String::from_utf8(reply_to(&email, "ana@visitor.example", body))
            .unwrap()
            .replacen("Subject: Re:", &format!("{headers}\r\nSubject: Re:"), 1)
    };
    let person = with("Tuesday, please.", "X-Auto-Response-Suppress: All");
    assert!(matches!(
        deliver(&app, person.as_bytes()).await,
        Outcome::Stored { .. }
    ));
    let rule = with(
        "I am away until Monday.",
        "X-Auto-Response-Suppress: All\r\nX-MS-Exchange-Inbox-Rules-Loop: ana@visitor.example",
    );
    assert!(matches!(
        deliver(&app, rule.as_bytes()).await,
        Outcome::Dropped(_)
    ));
    // Outlook's read receipt says nothing of being automatic but its type.
    let receipt = reply_with(
        &email,
        "ana@visitor.example",
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message was read on Monday, March 2, 2026 10:20 AM.\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;ana@visitor.example\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--r--\r\n",
    );
    assert!(matches!(deliver(&app, &receipt).await, Outcome::Dropped(_)));
    let stored = visitor_messages(&app.conversation("c1").await);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["text"], "Tuesday, please.");
}

#[apply(backends)]
#[tokio::test]
async fn a_bounce_fails_the_email_and_suppresses_the_address(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let id = email.header("Message-ID").unwrap();
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.visitor.example>\r\nTo: support@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.visitor.example\r\n\r\nFinal-Recipient: rfc822; ana@visitor.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {id}\r\nSubject: Your conversation with Acme\r\n--r--\r\n"
    );
    let outcome = app
        .inbound
        .deliver(
            dsn.as_bytes(),
            &Envelope {
                mail_from: Some(String::new()),
                rcpt_to: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::BounceRecorded);
    let conv = app.conversation("c1").await;
    let marker = &conv["messages"][1]["forwarded"];
    assert_eq!(marker["status"], "failed");
    assert!(
        marker["error"].as_str().unwrap().contains("5.1.1"),
        "{marker}"
    );
    app.events(vec![message("c1", "a2", "agent", "Hello?", 6.0)])
        .await;
    app.at_minute(60.0).await;
    assert_eq!(
        app.sent().len(),
        1,
        "a hard-bounced address gets nothing more"
    );
    let suppressed = app.hooks.of_type("visitor.suppressed");
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["data"]["reason"], "hard_bounce");
    assert_eq!(app.hooks.of_type("delivery.failed").len(), 1);
}

#[apply(backends)]
#[tokio::test]
async fn a_webhook_whose_receiver_fails_at_first_is_retried(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.hooks.fail_first(2);
    let email = emailed(&app, "c1").await;
    assert!(
        app.hooks.received().is_empty(),
        "the first two posts failed"
    );
    deliver(
        &app,
        &reply_to(&email, "ana@visitor.example", "Still there?"),
    )
    .await;
    // Retries after 30 s, then 60 s.
    app.at_minute(6.0).await;
    app.at_minute(7.0).await;
    let hooks = app.hooks.received();
    let types: Vec<Value> = hooks.iter().map(|h| h.json()["type"].clone()).collect();
    assert!(types.contains(&"message.forwarded".into()), "{types:?}");
    assert!(types.contains(&"message.created".into()), "{types:?}");
    let ids: std::collections::HashSet<String> = hooks
        .iter()
        .map(|h| h.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), hooks.len(), "each webhook arrived once");
}

/// Replies that arrive together share a commit (group commit): every one is stored once, a
/// copy of a message in the same group is a duplicate, and the duplicate leaves no attachment.
#[apply(backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_arriving_together_are_each_stored_once(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let mime = |i: usize| {
        format!("Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nAnswer {i}\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a{i}.txt\"\r\n\r\nfile {i}\r\n--m--\r\n")
    };
    let mut raws: Vec<Vec<u8>> = (0..30)
        .map(|i| reply_with(&email, "ana@visitor.example", &mime(i)))
        .collect();
    // Two copies of the first: one is a duplicate.
    raws.push(raws[0].clone());
    let outcomes = futures_util::future::join_all(raws.iter().map(|raw| deliver(&app, raw))).await;
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Duplicate))
        .count();
    assert_eq!((stored, duplicates), (30, 1), "{outcomes:?}");
    let replies = visitor_messages(&app.conversation("c1").await);
    assert_eq!(replies.len(), 30);
    let attachments: usize = replies
        .iter()
        .map(|r| r["attachments"].as_array().unwrap().len())
        .sum();
    assert_eq!(attachments, 30);
    let count: Vec<(i64,)> = app.stored("SELECT COUNT(*) FROM attachments").await;
    assert_eq!(count[0].0, 30, "the duplicate's attachment was not kept");
}

/// Replies to several conversations, arriving together and interleaved, are each stored in
/// their own conversation: a group commit reads, locks and writes the conversations of all its
/// replies at once, and must keep each reply with its own.
#[apply(backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_many_conversations_arriving_together_are_each_stored(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let convs = ["c1", "c2", "c3", "c4", "c5", "c6"];
    app.at_minute(1.0).await;
    app.events(convs.iter().flat_map(|c| answered_and_gone(c)).collect())
        .await;
    app.at_minute(5.5).await;
    let sent = app.sent();
    let emails: Vec<_> = (convs.iter())
        .map(|c| {
            let link = format!("/chat/{c}");
            sent.iter()
                .find(|e| e.text().contains(&link))
                .expect("emailed")
        })
        .collect();
    // Four answers to each, the conversations interleaved.
    let raws: Vec<Vec<u8>> = (0..4)
        .flat_map(|i| {
            (convs.iter().zip(&emails)).map(move |(c, email)| {
                reply_to(email, "ana@visitor.example", &format!("Answer {i} in {c}"))
            })
        })
        .collect();
    let outcomes = futures_util::future::join_all(raws.iter().map(|raw| deliver(&app, raw))).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Stored { .. })),
        "{outcomes:?}"
    );
    for c in convs {
        let texts: Vec<String> = (visitor_messages(&app.conversation(c).await).iter())
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..4).map(|i| format!("Answer {i} in {c}")).collect();
        let mut got = texts.clone();
        got.sort();
        assert_eq!(got, want, "{c}: {texts:?}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn reply_attachments_are_kept_and_downloadable(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let mime = "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nHere is the photo.\r\n--m\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"box.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gcG5n\r\n--m--\r\n";
    deliver(&app, &reply_with(&email, "ana@visitor.example", mime)).await;
    let conv = app.conversation("c1").await;
    let reply = &visitor_messages(&conv)[0];
    assert_eq!(reply["text"], "Here is the photo.");
    let attachment = &reply["attachments"][0];
    assert_eq!(attachment["name"], "box.png");
    assert_eq!(attachment["type"], "image/png");
    let url = attachment["url"]
        .as_str()
        .unwrap()
        .replace("https://relay.example.net", &app.base);
    let r = app
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"box.png\""
    );
    // Never rendered in the platform's origin: a download, its type not sniffed.
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello png");
    let other = app
        .client
        .get(&url)
        .bearer_auth(OTHER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "another site cannot read it");
}

#[apply(backends)]
#[tokio::test]
async fn a_reply_after_the_reach_window_is_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    app.at_minute(31.0 * 24.0 * 60.0).await;
    let outcome = deliver(
        &app,
        &reply_to(&email, "ana@visitor.example", "Sorry for the delay!"),
    )
    .await;
    assert_eq!(outcome, Outcome::Rejected(Rejection::WindowClosed));
}

/// The value of a metric line in Prometheus text (`name{labels} value`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[apply(backends)]
#[tokio::test]
async fn metrics_move_as_emails_go_out_and_replies_come_in(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let scrape = || async {
        app.client
            .get(format!("{}/metrics", app.metrics_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    let email = emailed(&app, "c1").await;
    deliver(&app, &reply_to(&email, "ana@visitor.example", "Counted.")).await;
    let after = scrape().await;
    for name in [
        "replyrelay_emails_queued_total",
        "replyrelay_emails_sent_total",
        "replyrelay_replies_stored_total",
    ] {
        assert!(
            metric(&after, name) >= metric(&before, name) + 1.0,
            "{name}:\n{after}"
        );
    }
    assert!(
        after.contains("replyrelay_build_info{version=\""),
        "{after}"
    );
    assert!(
        after.contains("replyrelay_send_lateness_seconds_bucket"),
        "{after}"
    );
    assert!(after.contains("replyrelay_due_backlog"), "{after}");
}

/// An outcome in a word, for tables of expectations.
fn kind_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Stored { .. } => "stored".into(),
        Outcome::Rejected(r) => format!("refused ({})", r.label()),
        Outcome::Dropped(why) => format!("dropped ({why})"),
        other => format!("{other:?}"),
    }
}

const EXPECTED: [&str; 9] = [
    "empty: refused (malformed)",
    // No header field: no email, whatever its recipient.
    "not mail at all: refused (malformed)",
    "NUL bytes: stored",
    "NUL bytes everywhere: stored",
    // Under max_message_size: what can be read of them is the visitor's reply.
    "a huge header: stored",
    "an endless line: stored",
    "an unknown charset: stored",
    "broken base64: stored",
    // Past max_parts before any parsing of the parts.
    "deep nesting: refused (malformed)",
];

/// Hostile and broken messages: each gets the outcome it should (refused with its reason, or
/// stored with what can be read of it), none a panic.
#[apply(backends)]
#[tokio::test]
async fn broken_and_hostile_messages_are_refused_without_a_panic(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let to = email.header("Reply-To").unwrap();
    // Each case its own Message-ID: none may pass as a duplicate of another.
    let head = |id: &str| {
        format!("From: ana@visitor.example\r\nTo: {to}\r\nMessage-ID: <{id}@hostile.example>\r\n")
    };
    let mut nested = String::from("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for i in 1..300 {
        nested.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
            i - 1
        ));
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not mail at all", b"\x00\x01\x02 binary \xff\xfe".to_vec()),
        ("NUL bytes", format!("{}\r\nHel\0lo\0\r\n", head("nul")).into_bytes()),
        (
            "NUL bytes everywhere",
            format!("From: An\0a <ana@visitor.example>\r\nTo: {to}\r\nSubject: Re\0\r\nMessage-ID: <n\0ul@x>\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nNUL\0 here\r\n--m\r\nContent-Type: text/pl\0ain\r\nContent-Disposition: attachment; filename=\"a\0.txt\"\r\n\r\nfile\0\r\n--m--\r\n").into_bytes(),
        ),
        (
            "a huge header",
            format!("{}X-Big: {}\r\n\r\nhi\r\n", head("big"), "a".repeat(2_000_000)).into_bytes(),
        ),
        (
            "an endless line",
            format!("{}\r\n{}", head("line"), "b".repeat(3_000_000)).into_bytes(),
        ),
        (
            "an unknown charset",
            format!("{}Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla'\r\n", head("charset"))
                .into_bytes(),
        ),
        (
            "broken base64",
            format!("{}Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n", head("base64"))
                .into_bytes(),
        ),
        ("deep nesting", format!("{}{nested}", head("deep")).into_bytes()),
    ];
    let mut outcomes = Vec::new();
    for (what, raw) in cases {
        let outcome = app.inbound.deliver(&raw, &Envelope::default()).await;
        let outcome = outcome.unwrap_or_else(|e| panic!("{what}: {e:#}"));
        outcomes.push(format!("{what}: {}", kind_of(&outcome)));
    }
    // What became of each: refused with a reason, or stored (none merely "not a crash").
    assert_eq!(outcomes, EXPECTED, "{outcomes:#?}");
    // The ones with a readable reply in them were stored, without their NUL bytes.
    let texts: Vec<String> = visitor_messages(&app.conversation("c1").await)
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts.contains(&"NUL here".to_string()), "{texts:?}");
    assert!(texts.iter().all(|t| !t.contains('\0')), "{texts:?}");
}

/// A reply reaches its thread whichever header holds the reply address — `Cc`, or the
/// `Delivered-To` / `X-Original-To` a catch-all mailbox's MTA adds (IMAP and `ingest` have no
/// envelope) — and by our Message-ID in `In-Reply-To` or `References` alone when no address
/// carries a token.
#[apply(backends)]
#[tokio::test]
async fn replies_are_routed_by_every_header_that_can_name_them(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let token = email.header("Reply-To").unwrap();
    let id = email.header("Message-ID").unwrap();
    let cases = [
        ("Cc", format!("To: team@visitor.example\r\nCc: {token}\r\n")),
        (
            "Delivered-To",
            format!("To: Acme <support@acme.example>\r\nDelivered-To: {token}\r\n"),
        ),
        (
            "X-Original-To",
            format!("To: Acme <support@acme.example>\r\nX-Original-To: {token}\r\n"),
        ),
        (
            "In-Reply-To",
            format!("To: Acme <support@acme.example>\r\nIn-Reply-To: {id}\r\n"),
        ),
        (
            "References",
            format!(
                "To: Acme <support@acme.example>\r\nReferences: <older@elsewhere.example> {id}\r\n"
            ),
        ),
    ];
    for (header, lines) in cases {
        let raw = format!(
            "From: Ana Souza <ana@visitor.example>\r\n{lines}Subject: Re: your conversation\r\nDate: Mon, 2 Mar 2026 10:30:00 +0000\r\nMessage-ID: <{}@mail.visitor.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRouted by {header}.\r\n",
            uuid::Uuid::new_v4().simple()
        );
        let outcome = app
            .inbound
            .deliver(raw.as_bytes(), &Envelope::default())
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::Stored { .. }),
            "{header}: {outcome:?}"
        );
        let texts = app.conversation("c1").await["messages"].to_string();
        assert!(
            texts.contains(&format!("Routed by {header}.")),
            "{header}: {texts}"
        );
    }
}
