//! Tokens select the site: no token, a wrong one, or another site's one gets nothing.

use crate::helpers::*;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::Value;

#[apply(backends)]
#[tokio::test]
async fn requests_without_a_valid_token_are_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let url = format!("{}/v1/events", app.base);
    let body = message("c1", "m1", "visitor", "hi", 0.0);
    let none = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = app.post_as("acme-token-0123456780", body).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    // Every other route that acts for a site, without a token and with a wrong one.
    app.events(asked_and_answered("c1")).await;
    let routes = [
        (reqwest::Method::GET, "/v1/conversations/c1"),
        (reqwest::Method::GET, "/v1/contacts?q=ana"),
        (reqwest::Method::GET, "/v1/suppressions"),
        (
            reqwest::Method::DELETE,
            "/v1/suppressions/ana@visitor.example",
        ),
        (
            reqwest::Method::GET,
            "/v1/attachments/00000000000000000000000000000000",
        ),
    ];
    for (method, path) in routes {
        let url = format!("{}{path}", app.base);
        let none = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), 401, "{method} {path} without a token");
        let wrong = (app.client.request(method.clone(), &url))
            .bearer_auth("acme-token-0123456780")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
    }
}

#[apply(backends)]
#[tokio::test]
async fn a_site_never_sees_another_sites_conversations(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.events(vec![message("c1", "m1", "visitor", "acme secret", 0.0)])
        .await;
    let r = app
        .client
        .get(format!("{}/v1/conversations/c1", app.base))
        .bearer_auth(OTHER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The same conversation id on the other site is a different conversation.
    let r = app
        .post_as(
            OTHER_TOKEN,
            message("c1", "m1", "visitor", "other text", 0.0),
        )
        .await;
    assert_eq!(r.status(), 200);
    let acme = app.conversation("c1").await;
    assert_eq!(acme["messages"].as_array().unwrap().len(), 1);
    assert_eq!(acme["messages"][0]["text"], "acme secret");
}

#[apply(backends)]
#[tokio::test]
async fn unsubscribe_links_cannot_be_forged(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(6.0).await;
    let url = app.sent()[0].unsubscribe_url();
    let token = url.rsplit('/').next().unwrap().to_string();

    // The page behind the link only asks; it does not unsubscribe by itself.
    let page = app
        .client
        .get(format!("{}/v1/unsubscribe/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\">"));

    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "aaaaaaaaaaaac", "nothing-here"] {
        let r = app
            .client
            .post(format!("{}/v1/unsubscribe/{bad}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    // Still subscribed: the next reply goes out.
    app.events(vec![message("c1", "a2", "agent", "More news", 6.0)])
        .await;
    app.at_minute(8.0).await;
    assert_eq!(app.sent().len(), 2);
}

/// The link in an email stops mail to the address that email went to, not to whatever address
/// the conversation's visitor has now; a link from before emails had their own token (the
/// conversation's) still works, for the conversation's address.
#[apply(backends)]
#[tokio::test]
async fn the_unsubscribe_link_stops_the_address_the_email_went_to(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let link = (email.unsubscribe_url()).replace("https://relay.example.net", &app.base);
    // The visitor gives another address in the chat.
    app.events(vec![visitor("c1", Some("ana.new@visitor.example"), 7.0)])
        .await;
    let r = app.client.post(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.suppressions().await,
        [(
            "ana@visitor.example".to_string(),
            "unsubscribed".to_string()
        )]
    );

    // A conversation token, as links made before this release carry.
    let (pk,): (i64,) = app
        .stored("SELECT pk FROM conversations WHERE id = 'c1'")
        .await[0];
    let keys = replyrelay::token::TokenKeys::new(vec![TEST_TOKEN_KEY.as_bytes().to_vec()]);
    let old = keys.sign(replyrelay::token::Purpose::Unsubscribe, "acme", pk);
    let r = (app
        .client
        .post(format!("{}/v1/unsubscribe/{old}", app.base)))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let mut suppressed: Vec<(String,)> = app.stored("SELECT email FROM suppressions").await;
    suppressed.sort();
    assert_eq!(
        suppressed,
        [
            ("ana.new@visitor.example".to_string(),),
            ("ana@visitor.example".to_string(),)
        ]
    );
}

/// A mail client that unsubscribes by mail (Apple Mail writes `X-Apple-Unsubscribe` and
/// `Auto-Submitted` on it) stops the emails as the link does; a made-up address of that shape
/// is refused at `RCPT TO`.
#[apply(backends)]
#[tokio::test]
async fn the_mailto_unsubscribe_address_stops_the_emails(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    let header = email.header("List-Unsubscribe").unwrap();
    let mailto = header
        .split("<mailto:")
        .nth(1)
        .and_then(|m| m.split(['?', '>']).next())
        .unwrap()
        .to_string();
    assert!(mailto.starts_with("unsub+") && mailto.ends_with("@reply.acme.example"));
    let raw = format!(
        "From: ana@visitor.example\r\nTo: {mailto}\r\nSubject: unsubscribe\r\nMessage-ID: <u1@icloud.example>\r\nAuto-Submitted: auto-replied\r\nX-Apple-Unsubscribe: true\r\nContent-Type: text/plain\r\n\r\nApple Mail sent this email to unsubscribe from the message \"Your conversation\".\r\n"
    )
    .into_bytes();
    let forged = format!("unsub+{}@reply.acme.example", "a".repeat(52));
    let addr = app.smtp;
    // Apple's message sent to the reply address instead: known for an unsubscribe by its
    // marker, so never posted as the visitor's words, but it names no email to stop.
    let reply_address = email.header("Reply-To").unwrap();
    let messages = vec![
        (vec![reply_address], raw.clone()),
        (vec![forged], raw.clone()),
        (vec![mailto], raw),
    ];
    let answers = tokio::task::spawn_blocking(move || {
        smtplib_send_all(addr, "ana@visitor.example", &messages)
    })
    .await
    .unwrap();
    assert_eq!(answers[0], "OK {}");
    let texts = app.conversation("c1").await["messages"].to_string();
    assert!(!texts.contains("Apple Mail sent this"), "{texts}");
    assert!(
        answers[1].starts_with("REFUSED") && answers[1].contains("550"),
        "{}",
        answers[1]
    );
    assert_eq!(answers[2], "OK {}");
    assert_eq!(
        app.suppressions().await,
        [(
            "ana@visitor.example".to_string(),
            "unsubscribed".to_string()
        )]
    );
}
