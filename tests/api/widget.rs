//! The widget's routes through HTTP, on the test clock: a page's token minted with the site
//! token, its presence and reads applied, and everything else a leaked token might try refused.
//! (`tests/widget_browser.rs` drives `widget.js` itself in Chromium.)

use crate::helpers::*;
use serde_json::{json, Value};

const ORIGIN: &str = "https://shop.example";
const SITE: &str = r#"allowed_origins = ["https://shop.example"]"#;
const APPLIED: &str = "replyrelay_widget_reports_total{outcome=\"applied\"}";
const UNAUTHORIZED: &str = "replyrelay_widget_reports_total{outcome=\"unauthorized\"}";
const LIMITED: &str = "replyrelay_widget_reports_total{outcome=\"limited\"}";

/// A widget token for `conversation`, minted as the platform's backend does.
async fn mint(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/widget-tokens", app.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn token(app: &TestApp, conversation: &str) -> String {
    let r = mint(app, json!({ "conversation": conversation })).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// A report as `widget.js` sends it: JSON labelled `text/plain`, with the page's origin.
async fn report(app: &TestApp, origin: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = app
        .client
        .post(format!("{}/v1/widget/events", app.base))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string());
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.send().await.unwrap()
}

async fn error(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap()["error"].clone())
}

#[tokio::test]
async fn a_page_that_is_closed_starts_the_departure_clock_and_the_email_follows() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(asked_and_answered("c1")).await;
    let t = token(&app, "c1").await;
    // Tests share the process's counters under `cargo test`: each reads its own increase.
    let applied = app.metric(APPLIED).await;
    let active = json!({"token": t, "conversation": "c1", "type": "presence", "state": "active",
        "locale": "es-ES", "timezone": "Europe/Madrid"});
    let r = report(&app, Some(ORIGIN), active).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        ORIGIN,
        "the page may read the answer"
    );
    let c = app.conversation("c1").await;
    assert_eq!(c["visitor"]["locale"], "es-ES", "{c:#}");
    assert_eq!(c["visitor"]["timezone"], "Europe/Madrid");

    // The tab is closed at minute 2: five minutes later the email goes.
    app.at_minute(2.0).await;
    let left = json!({"token": t, "conversation": "c1", "type": "presence", "state": "left"});
    assert_eq!(report(&app, Some(ORIGIN), left).await.status(), 200);
    app.at_minute(6.9).await;
    assert!(app.sent().is_empty(), "not before after_departure");
    app.at_minute(7.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    // In the browser's language, since the platform never said.
    assert!(
        sent[0].html().contains(r#"<html lang="es" dir="ltr">"#),
        "{}",
        sent[0].html()
    );
    assert!(app.metric(APPLIED).await >= applied + 2.0);
}

#[tokio::test]
async fn a_read_reported_by_the_page_withdraws_what_it_read() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(answered_and_gone("c1")).await;
    let t = token(&app, "c1").await;
    let read =
        |id: &str| json!({"token": t, "conversation": "c1", "type": "read", "message_id": id});
    let (status, e) = error(report(&app, Some(ORIGIN), read("nope")).await).await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("message_id")),
        "{e}"
    );
    assert_eq!(report(&app, Some(ORIGIN), read("a1")).await.status(), 200);
    app.at_minute(10.0).await;
    assert!(app.sent().is_empty(), "the reply was read: nothing is owed");
}

#[tokio::test]
async fn the_platforms_word_on_language_and_zone_stands_over_the_browsers() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    let mut who = visitor("c1", Some("ana@visitor.example"), 0.0);
    who["visitor"]["locale"] = "pt-BR".into();
    app.events(vec![who]).await;
    let t = token(&app, "c1").await;
    let active = json!({"token": t, "conversation": "c1", "type": "presence", "state": "active",
        "locale": "es-ES", "timezone": "Europe/Madrid"});
    assert_eq!(report(&app, Some(ORIGIN), active).await.status(), 200);
    let c = app.conversation("c1").await;
    assert_eq!(c["visitor"]["locale"], "pt-BR", "the platform's");
    assert_eq!(
        c["visitor"]["timezone"], "Europe/Madrid",
        "unsaid: the browser's"
    );
}

#[tokio::test]
async fn a_token_does_nothing_but_report_presence_and_reads_for_its_own_conversation() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    app.events(asked_and_answered("c1")).await;
    let t = token(&app, "c1").await;
    let left =
        |conv: &str| json!({"token": t, "conversation": conv, "type": "presence", "state": "left"});

    let (status, e) = error(report(&app, Some(ORIGIN), left("c2")).await).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("forbidden")),
        "{e}"
    );
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("another conversation"));

    let (status, e) = error(report(&app, Some("https://evil.example"), left("c1")).await).await;
    assert_eq!(status, 403, "{e}");
    assert!(e["message"].as_str().unwrap().contains("allowed_origins"));
    let (status, _) = error(report(&app, None, left("c1")).await).await;
    assert_eq!(status, 403, "no Origin, no report");

    // Posting a message, or acting on the API with it, is refused.
    let post = json!({"token": t, "conversation": "c1", "type": "message"});
    let (status, e) = error(report(&app, Some(ORIGIN), post).await).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("type")), "{e}");
    let with_text = json!({"token": t, "conversation": "c1", "type": "presence",
        "state": "left", "text": "buy now"});
    let (status, e) = error(report(&app, Some(ORIGIN), with_text).await).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("text")), "{e}");
    let r = app
        .post_as(
            &t,
            json!({"events": [message("c1", "m9", "visitor", "hi", 2.0)]}),
        )
        .await;
    assert_eq!(r.status(), 401, "a widget token is no site token");

    // Forged: another key's token, or this one with a byte changed.
    let mut forged = t.clone().into_bytes();
    let i = forged.len() - 3;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let body = json!({"token": forged, "conversation": "c1", "type": "presence", "state": "left"});
    let (status, e) = error(report(&app, Some(ORIGIN), body).await).await;
    assert_eq!((status, e["field"].as_str()), (401, Some("token")), "{e}");

    let c = app.conversation("c1").await;
    assert!(
        c["left_at"].is_null(),
        "no refused report changed anything: {c:#}"
    );
    assert_eq!(
        app.conversation("c1").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        app.metric("replyrelay_widget_reports_total{outcome=\"forbidden\"}")
            .await
            >= 3.0
    );
}

#[tokio::test]
async fn a_token_stops_at_its_expiry() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    app.events(asked_and_answered("c1")).await;
    let r = mint(&app, json!({"conversation": "c1", "ttl": 60})).await;
    let body: Value = r.json().await.unwrap();
    let t = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["expires_at"], at(1.0));
    let active = json!({"token": t, "conversation": "c1", "type": "presence", "state": "active"});
    assert_eq!(
        report(&app, Some(ORIGIN), active.clone()).await.status(),
        200
    );
    app.at_minute(1.0).await;
    let unauthorized = app.metric(UNAUTHORIZED).await;
    let (status, e) = error(report(&app, Some(ORIGIN), active).await).await;
    assert_eq!(status, 401, "{e}");
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");
    assert!(app.metric(UNAUTHORIZED).await >= unauthorized + 1.0);

    // What a platform may ask for.
    for (body, field) in [
        (json!({"conversation": "c1", "ttl": 0}), "ttl"),
        (json!({"conversation": "c1", "ttl": 86_401}), "ttl"),
        (json!({"conversation": ""}), "conversation"),
        (json!({}), "conversation"),
    ] {
        let (status, e) = error(mint(&app, body.clone()).await).await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    let r = app
        .client
        .post(format!("{}/v1/widget-tokens", app.base))
        .json(&json!({"conversation": "c1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "only the site's backend mints");
}

#[tokio::test]
async fn a_page_reporting_in_a_loop_is_stopped_at_its_burst() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    app.events(asked_and_answered("c1")).await;
    let t = token(&app, "c1").await;
    let active = json!({"token": t, "conversation": "c1", "type": "presence", "state": "active"});
    for _ in 0..replyrelay::widget::limit::BURST {
        assert_eq!(
            report(&app, Some(ORIGIN), active.clone()).await.status(),
            200
        );
    }
    let (status, e) = error(report(&app, Some(ORIGIN), active).await).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (429, Some("rate_limited")),
        "{e}"
    );
    assert!(app.metric(LIMITED).await >= 1.0);
    // Another conversation's page is not held back by this one.
    app.events(asked_and_answered("c2")).await;
    let other = token(&app, "c2").await;
    let body = json!({"token": other, "conversation": "c2", "type": "presence", "state": "active"});
    assert_eq!(report(&app, Some(ORIGIN), body).await.status(), 200);
}

#[tokio::test]
async fn the_script_and_the_preflight_are_served_to_allowed_origins() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/v1/widget.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let script = r.text().await.unwrap();
    assert!(script.contains("sendBeacon") && script.contains("visibilitychange"));

    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/widget/events", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let r = preflight(ORIGIN).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(r.headers()["access-control-allow-methods"], "POST");
    let r = preflight("https://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_demo_is_not_served_with_a_config_file() {
    let Some(app) = spawn_app(Backend::Sqlite, SITE).await else {
        return;
    };
    for path in ["/demo", "/demo/visitor", "/demo/outbox"] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}: it carries the development token");
    }
}
