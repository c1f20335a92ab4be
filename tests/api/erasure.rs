//! A visitor's right to erasure, `DELETE /v1/visitors/{id}`: nothing of them left in any
//! table, another visitor untouched, and their unsubscribe still honoured.

use crate::helpers::*;
use replyrelay::inbound::Envelope;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::json;

/// Ana's words and address, as they would be found anywhere they were kept.
const ANA: &[&str] = &[
    "ana@visitor.example",
    "ana souza",
    "do you ship to spain",
    "order 4711",
];

#[apply(backends)]
#[tokio::test]
async fn an_erased_visitor_leaves_nothing_and_their_unsubscribe_holds(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    // Ana: emailed, answered by email with a file, unsubscribed, and in a second chat.
    let email = emailed(&app, "c1").await;
    let raw = reply_with(
        &email,
        "ana@visitor.example",
        "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nThanks, my order 4711 is attached\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"order.txt\"\r\n\r\norder 4711 for Ana Souza\r\n--m--\r\n",
    );
    app.inbound
        .deliver(&raw, &Envelope::default())
        .await
        .unwrap();
    let link = (email.unsubscribe_url()).replace("https://relay.example.net", &app.base);
    assert_eq!(app.client.post(&link).send().await.unwrap().status(), 200);
    app.events(vec![
        json!({"type": "visitor", "conversation": "c2", "at": at(7.0),
               "visitor": {"id": "v-c1", "email": "Ana@Visitor.example", "name": "Ana Souza"}}),
        message("c2", "q2", "visitor", "Where is order 4711?", 7.0),
        // Bo, another visitor, stays.
        json!({"type": "visitor", "conversation": "c9", "at": at(7.0),
               "visitor": {"id": "v-bo", "email": "bo@visitor.example", "name": "Bo"}}),
        message("c9", "q9", "visitor", "Bo's question", 7.0),
    ])
    .await;
    app.worker.run_until_idle().await.unwrap();
    let held = app.every_row().await.join("\n").to_lowercase();
    for words in ANA {
        assert!(
            held.contains(words),
            "{words} was never stored: the test proves nothing"
        );
    }

    let erase = || async {
        let r = (app.client.delete(format!("{}/v1/visitors/v-c1", app.base)))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()
    };
    let answer = erase().await;
    let erased = &answer["erased"];
    assert_eq!(erased["conversations"], json!(["c1", "c2"]), "{answer}");
    assert_eq!(erased["attachments"], 1, "{answer}");
    assert_eq!(erased["suppressions_kept"], 1, "{answer}");
    assert!(erased["emails"].as_u64().unwrap() >= 1, "{answer}");
    assert!(erased["webhooks"].as_u64().unwrap() >= 1, "{answer}");

    let left = app.every_row().await;
    for row in &left {
        let row = row.to_lowercase();
        for words in ANA {
            assert!(!row.contains(words), "{words} left in {row}");
        }
    }
    assert!(
        left.iter().any(|r| r.contains("Bo's question")),
        "Bo's chat stays"
    );
    let suppressed = app.suppressions().await;
    assert!(
        suppressed.len() == 1 && suppressed[0].0.starts_with("erased:"),
        "{suppressed:?}"
    );

    // The platform hears of it.
    app.worker.run_until_idle().await.unwrap();
    let hooks = app.hooks.of_type("visitor.erased");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["data"]["visitor"], "v-c1");

    // Ana comes back to chat with the same address: she unsubscribed, so no email.
    let sent = app.sent().len();
    app.events(vec![
        visitor("c3", Some("ANA@visitor.example"), 10.0),
        message("c3", "q3", "visitor", "Hello again", 10.0),
        message("c3", "a3", "agent", "Welcome back", 11.0),
        presence("c3", "left", 10.5),
    ])
    .await;
    app.at_minute(30.0).await;
    assert!(
        app.sent()[sent..]
            .iter()
            .all(|e| !e.rcpt_to[0].to_lowercase().contains("ana")),
        "an erased visitor's unsubscribe holds"
    );

    // Erasing again is no error, and erases nothing more than the new chat.
    let again = erase().await;
    assert_eq!(again["erased"]["conversations"], json!([]), "{again}");
}
