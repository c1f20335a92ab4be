//! `widget.js` in a real browser: headless Chromium, driven over WebDriver (Debian's
//! `chromium-driver`), loads a page from another loopback origin with the script beside a
//! pretend chat. The page reports `active` on load with the browser's language and zone,
//! `read` when called, and `left` when its tab is closed (the beacon arrives although the page
//! is gone); then, after `after_departure` on the test clock, the email goes out, in the
//! browser's language. A token for another conversation, an expired token and an origin the
//! site does not allow are refused.

#[path = "support/browser.rs"]
#[allow(dead_code)]
mod browser;
#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use axum::extract::Query;
use axum::response::Html;
use browser::browser;
use helpers::{at, message, skip, visitor, Backend, TestApp};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The site's page, with `widget.js` from the daemon (at the base `api` is given once the
/// daemon is up) and a conversation and token from the query, served from its own origin
/// (another port than the API's).
async fn page_server(api: Arc<OnceLock<String>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = move |Query(q): Query<HashMap<String, String>>| {
        let api = api.get().expect("the daemon is up").clone();
        async move {
            Html(format!(
                r#"<!doctype html><html><head><title>Shop</title>
<script src="{api}/v1/widget.js"></script></head>
<body><div id="chat">the chat widget</div>
<script>replyrelay.start({{conversation: {conversation}, token: {token}}});</script>
</body></html>"#,
                conversation = serde_json::to_string(&q["conversation"]).unwrap(),
                token = serde_json::to_string(&q["token"]).unwrap(),
            ))
        }
    };
    let router = axum::Router::new().route("/shop", axum::routing::get(page));
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    port
}

async fn mint(app: &TestApp, body: Value) -> String {
    let r = app
        .client
        .post(format!("{}/v1/widget-tokens", app.base))
        .bearer_auth(helpers::TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits (20 s at most) until the reports with this outcome reach `n`.
async fn reports(app: &TestApp, outcome: &str, n: f64) {
    let series = format!("replyrelay_widget_reports_total{{outcome=\"{outcome}\"}}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = app.metric(&series).await;
        if seen >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{outcome}: {seen} of {n} reports arrived in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const APPLIED: &str = "replyrelay_widget_reports_total{outcome=\"applied\"}";

fn page(port: u16, host: &str, conversation: &str, token: &str) -> String {
    format!("http://{host}:{port}/shop?conversation={conversation}&token={token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_reports_presence_and_reads_and_its_closing_brings_the_email() {
    let driver = match browser::driver() {
        Ok(driver) => driver,
        Err(why) => {
            skip::skipped("the widget browser test", why);
            return;
        }
    };
    // The page's origin goes into the site's config; the page learns the API's address after.
    let api = Arc::new(OnceLock::new());
    let port = page_server(api.clone()).await;
    let site = format!(r#"allowed_origins = ["http://127.0.0.1:{port}"]"#);
    let Some(app) = helpers::spawn_app(Backend::Sqlite, &site).await else {
        return;
    };
    api.set(app.base.clone()).unwrap();
    let browser = browser(&driver).await;

    // The visitor asks and opens the page: `active`, with the browser's language and zone.
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        message("c1", "q1", "visitor", "¿Enviáis a Canarias?", 0.0),
    ])
    .await;
    let token = mint(&app, json!({"conversation": "c1"})).await;
    browser
        .goto(&page(port, "127.0.0.1", "c1", &token))
        .await
        .unwrap();
    reports(&app, "applied", 1.0).await;
    let c = app.conversation("c1").await;
    assert_eq!(c["visitor"]["locale"], "es-ES", "{c:#}");
    assert_eq!(c["visitor"]["timezone"], "Europe/Madrid");
    assert_eq!(c["visitor"]["last_activity_at"], at(0.0));

    // The agent answers; the chat shows it and the page says it was read.
    app.at_minute(1.0).await;
    app.events(vec![message("c1", "a1", "agent", "Sí, en 3 días.", 1.0)])
        .await;
    browser
        .execute("replyrelay.read(arguments[0]);", vec![json!("a1")])
        .await
        .unwrap();
    reports(&app, "applied", 2.0).await;
    assert_eq!(
        app.conversation("c1").await["next_email_due_at"],
        Value::Null
    );

    // A second answer, and the visitor closes the tab: the beacon leaves the closing page.
    app.at_minute(2.0).await;
    app.events(vec![message(
        "c1",
        "a2",
        "agent",
        "Y el envío es gratis.",
        2.0,
    )])
    .await;
    let first = browser.window().await.unwrap();
    let other = browser.new_window(true).await.unwrap();
    browser.switch_to_window(first).await.unwrap();
    browser.close_window().await.unwrap();
    browser.switch_to_window(other.handle).await.unwrap();
    reports(&app, "applied", 3.0).await;
    let c = app.conversation("c1").await;
    assert_eq!(c["visitor"]["left_at"], at(2.0), "{c:#}");

    // Five minutes after leaving (after_departure), the unread answer goes, in Spanish.
    app.at_minute(6.9).await;
    assert!(app.sent().is_empty());
    app.at_minute(7.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].text().contains("Y el envío es gratis."),
        "{}",
        sent[0].text()
    );
    assert!(sent[0].html().contains(r#"<html lang="es" dir="ltr">"#));

    assert_eq!(app.metric(APPLIED).await, 3.0, "one report each");

    // Refused: a token for another conversation, an origin the site does not allow, an
    // expired token. Each page's own `left` (as the next page replaces it) is refused too,
    // and waited for on a blank page, so each count says what the page after it did.
    app.events(vec![visitor("c2", Some("bo@visitor.example"), 7.0)])
        .await;
    let for_c2 = mint(&app, json!({"conversation": "c2"})).await;
    let visits = [
        (page(port, "127.0.0.1", "c2", &token), "forbidden", 1.0),
        (page(port, "localhost", "c2", &for_c2), "forbidden", 3.0),
    ];
    for (url, outcome, n) in visits {
        browser.goto(&url).await.unwrap();
        reports(&app, outcome, n).await;
        browser.goto("about:blank").await.unwrap();
        reports(&app, outcome, n + 1.0).await;
    }
    let short = mint(&app, json!({"conversation": "c2", "ttl": 60})).await;
    app.at_minute(9.0).await;
    browser
        .goto(&page(port, "127.0.0.1", "c2", &short))
        .await
        .unwrap();
    reports(&app, "unauthorized", 1.0).await;
    let c2 = app.conversation("c2").await;
    assert_eq!(c2["visitor"]["last_activity_at"], Value::Null, "{c2:#}");
    assert_eq!(
        app.metric(APPLIED).await,
        3.0,
        "no refused report was applied"
    );
    browser.close().await.unwrap();
}
