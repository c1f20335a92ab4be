//! The Chatwoot bridge end to end: Chatwoot's documented webhooks (`tests/data/chatwoot`),
//! signed as Chatwoot signs them, in; the email to the visitor; their email answer posted
//! into the Chatwoot conversation through a stand-in of its API, once, across restarts.

use crate::helpers::*;
use replyrelay::clock::Clock;
use replyrelay::inbound::{Envelope, Outcome};
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::Value;

const SECRET: &str = "chatwoot-webhook-secret-0123";
const API_TOKEN: &str = "chatwoot-agent-token-0123456";

fn bridge(api: &ChatwootApi) -> String {
    format!(
        "\n[site.chatwoot]\nurl = \"{}\"\naccount_id = 3\napi_access_token = \"{API_TOKEN}\"\ninbox_ids = [1]\nwebhook_secret = \"{SECRET}\"\n",
        api.url
    )
}

/// A documented payload, its message's time moved to `t0 + minutes`.
fn payload(name: &str, minutes: f64) -> Value {
    let path = format!(
        "{}/tests/data/chatwoot/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if v.get("created_at").is_some() {
        v["created_at"] = at(minutes).into();
    }
    v
}

/// Posts `body` to the bridge, signed with `secret` at the daemon's present.
async fn post_signed(app: &TestApp, body: &Value, secret: &str) -> reqwest::Response {
    let body = body.to_string();
    let t = app.clock.now().timestamp();
    app.client
        .post(format!("{}/v1/bridges/chatwoot/acme", app.base))
        .header("Content-Type", "application/json")
        .header(
            "X-Chatwoot-Signature",
            replyrelay::chatwoot::sign(secret, t, body.as_bytes()),
        )
        .header("X-Chatwoot-Timestamp", t.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, body: &Value) -> Value {
    let r = post_signed(app, body, SECRET).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn texts(conv: &Value) -> Vec<(String, String)> {
    (conv["messages"].as_array().unwrap().iter())
        .map(|m| {
            (
                m["author"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[apply(backends)]
#[tokio::test]
async fn a_chatwoot_conversation_round_trips_through_email(#[case] backend: Backend) {
    let api = ChatwootApi::start().await;
    let Some(app) = spawn_app(backend, &bridge(&api)).await else {
        return;
    };
    // The visitor writes, an agent answers, another agent leaves a private note.
    assert_eq!(
        post(&app, &payload("message_created_incoming", 0.0)).await["applied"],
        2
    );
    app.at_minute(1.0).await;
    assert_eq!(
        post(&app, &payload("message_created_outgoing", 1.0)).await["applied"],
        2
    );
    let note = post(&app, &payload("message_created_private", 1.0)).await;
    assert!(
        note["ignored"].as_str().unwrap().contains("private"),
        "{note}"
    );
    let conv = app.conversation("10").await;
    assert_eq!(conv["visitor"]["email"], "ana@visitor.example");
    assert_eq!(
        texts(&conv),
        vec![
            ("visitor".into(), "Do you ship to Spain?".into()),
            ("agent".into(), "Yes, in 3–5 working days.".into()),
        ]
    );

    // Chatwoot says nothing of the visitor leaving: the idle trigger emails them.
    app.at_minute(40.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert!(email.text().contains("Yes, in 3–5 working days."));
    assert!(
        !email.text().contains("she asked last week"),
        "no note emailed"
    );

    // Their answer by email goes into the Chatwoot conversation; Chatwoot is down at first.
    api.fail_first(1);
    let answer = reply_to(email, "ana@visitor.example", "Great, please ship it!");
    let outcome = app
        .inbound
        .deliver(&answer, &Envelope::default())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Stored { .. }), "{outcome:?}");
    app.at_minute(41.0).await;
    assert!(api.calls().is_empty(), "the first post failed");

    // A restart between the failure and the retry, then another after the post.
    let app = restart(app, &api).await;
    app.at_minute(45.0).await;
    let app = restart(app, &api).await;
    app.at_minute(120.0).await;
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "posted once: {calls:?}");
    assert_eq!(
        calls[0].path,
        "/api/v1/accounts/3/conversations/10/messages"
    );
    assert_eq!(calls[0].token, API_TOKEN);
    assert_eq!(calls[0].body["content"], "Great, please ship it!");
    assert_eq!(calls[0].body["message_type"], "incoming");
    assert_eq!(calls[0].body["private"], false);

    // Chatwoot then reports that message as a new incoming one: its echo, as posted and with
    // our mark stripped, adds nothing to the thread.
    let mut echo = payload("message_created_incoming", 120.0);
    echo["id"] = 501.into();
    echo["content"] = "Great, please ship it!".into();
    echo["content_attributes"] = calls[0].body["content_attributes"].clone();
    let answered = post(&app, &echo).await;
    assert!(answered["ignored"].is_string(), "{answered}");
    echo["id"] = 502.into();
    echo["content_attributes"] = serde_json::json!({});
    post(&app, &echo).await;
    let said: Vec<_> = texts(&app.conversation("10").await)
        .into_iter()
        .filter(|(_, t)| t == "Great, please ship it!")
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");

    // Resolved in Chatwoot: closed here.
    post(&app, &payload("conversation_status_changed_resolved", 0.0)).await;
    assert_eq!(app.conversation("10").await["status"], "closed");
}

/// The daemon stopped and started again on the same database and Chatwoot.
async fn restart(mut app: TestApp, api: &ChatwootApi) -> TestApp {
    let _ = app.stop.take().unwrap().send(());
    let now = app.clock.now();
    let minutes = (now - t0()).num_milliseconds() as f64 / 60_000.0;
    let TestApp { _dir, db, .. } = app;
    let app = spawn_on(_dir, db, "", &bridge(api), Clock::manual(t0()), false).await;
    app.at_minute(minutes).await;
    app
}

#[apply(backends)]
#[tokio::test]
async fn only_webhooks_signed_with_the_sites_secret_are_taken(#[case] backend: Backend) {
    let api = ChatwootApi::start().await;
    let Some(app) = spawn_app(backend, &bridge(&api)).await else {
        return;
    };
    let body = payload("message_created_incoming", 0.0);
    let forged = post_signed(&app, &body, "another-secret-0123456789").await;
    assert_eq!(forged.status(), 401);
    let unsigned = (app
        .client
        .post(format!("{}/v1/bridges/chatwoot/acme", app.base)))
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_eq!(unsigned.status(), 401);
    let error: Value = unsigned.json().await.unwrap();
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("X-Chatwoot-Signature"));
    let other_site = (app
        .client
        .post(format!("{}/v1/bridges/chatwoot/other", app.base)))
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_eq!(other_site.status(), 404, "a site without [site.chatwoot]");
    let r = app.client.get(format!("{}/v1/conversations/10", app.base));
    let r = r.bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 404, "nothing refused was applied");

    // A Chatwoot that does not sign: the secret in the URL it was given.
    let by_url = app
        .client
        .post(format!(
            "{}/v1/bridges/chatwoot/acme?secret={SECRET}",
            app.base
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(by_url.status(), 200);
    // A payload that is not Chatwoot's names the field.
    let r = post_signed(&app, &serde_json::json!({"id": 1}), SECRET).await;
    assert_eq!(r.status(), 400);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["field"], "event");
}

#[apply(backends)]
#[tokio::test]
async fn a_contact_update_and_the_widget_reach_every_conversation(#[case] backend: Backend) {
    let api = ChatwootApi::start().await;
    let Some(app) = spawn_app(backend, &bridge(&api)).await else {
        return;
    };
    post(&app, &payload("message_created_incoming", 0.0)).await;
    let updated = post(&app, &payload("contact_updated", 0.0)).await;
    assert_eq!(updated["applied"], 1, "{updated}");
    let conv = app.conversation("10").await;
    assert_eq!(conv["visitor"]["email"], "ana.ruiz@visitor.example");
    assert_eq!(conv["visitor"]["name"], "Ana Ruiz");
    let opened = post(&app, &payload("webwidget_triggered", 0.0)).await;
    assert_eq!(opened["applied"], 2, "{opened}");
    assert_eq!(app.conversation("10").await["visitor"]["locale"], "es-ES");
}
