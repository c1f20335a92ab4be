//! `widget.js` in a real browser: headless Chromium, driven over WebDriver (Debian's
//! `chromium-driver`), loads a page from another loopback origin with the script beside a
//! pretend chat. The page reports `active` on load with the browser's language and zone,
//! `read` when called, and `left` when its tab is closed (the beacon arrives although the page
//! is gone); then, after `after_departure` on the test clock, the email goes out, in the
//! browser's language. A token for another conversation, an expired token and an origin the
//! site does not allow are refused.
//!
//! And the demo a newcomer clicks through on the config-less run (`/demo`): ask as the
//! visitor, close their page, answer as the agent, the email appears from `./outbox`, its
//! answer lands in the thread.

#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "api/helpers/mod.rs"]
#[allow(dead_code)]
mod helpers;

use axum::extract::Query;
use axum::response::Html;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{at, message, skip, visitor, Backend, TestApp};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// `chromedriver`, killed when dropped, and the URL it listens on.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a port it picks and says, with the browser's zone set to Madrid.
fn chromedriver() -> Option<Driver> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("chromedriver")
        .arg("--port=0")
        .env("TZ", "Europe/Madrid")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("chromedriver exited without saying its port");
        }
        // The first line says the port asked for (0); this one, the port it took.
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            break rest
                .trim()
                .trim_end_matches('.')
                .parse::<u16>()
                .expect("a port");
        }
    };
    // Keep reading what it says, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    // The WebDriver client is built with rustls, which needs its crypto chosen once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--lang=es-ES"],
            "prefs": {"intl.accept_languages": "es-ES,es"}
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

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
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        skip::skipped(
            "the widget browser test",
            "chromium is not installed (apt-get install chromium chromium-driver)",
        );
        return;
    }
    let Some(driver) = chromedriver() else {
        skip::skipped(
            "the widget browser test",
            "chromedriver is not installed (apt-get install chromium-driver)",
        );
        return;
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
    assert!(sent[0].html().contains(r#"<html lang="es">"#));

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

/// Polls `check` until it holds, for 30 s at most.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the element with this id, or nothing.
async fn text_of(browser: &Client, id: &str) -> String {
    match browser.find(Locator::Id(id)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_sees_the_email_go_out_and_its_answer_come_back_in_the_demo() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        skip::skipped(
            "the demo browser test",
            "chromium is not installed (apt-get install chromium chromium-driver)",
        );
        return;
    }
    let Some(driver) = chromedriver() else {
        skip::skipped(
            "the demo browser test",
            "chromedriver is not installed (apt-get install chromium-driver)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon::Daemon::start_without_config(dir.path());
    let browser = browser(&driver).await;
    browser.goto(&format!("{}/demo", daemon.api)).await.unwrap();

    // As the visitor, in their page (the frame).
    let frame = browser
        .wait()
        .for_element(Locator::Id("visitor-frame"))
        .await
        .unwrap();
    frame.enter_frame().await.unwrap();
    let input = browser
        .wait()
        .for_element(Locator::Id("text"))
        .await
        .unwrap();
    input.send_keys("Do you ship to Spain?").await.unwrap();
    browser
        .find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.enter_parent_frame().await.unwrap();
    until("the question in the agent's thread", || async {
        text_of(&browser, "thread")
            .await
            .contains("Ana: Do you ship to Spain?")
    })
    .await;

    // The visitor closes their page; the agent answers; the agents go offline.
    let conversation = browser
        .execute("return conversation;", vec![])
        .await
        .unwrap();
    let conversation = conversation.as_str().unwrap().to_string();
    browser
        .find(Locator::Id("close-visitor"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let api = daemon.api.clone();
    let conv = conversation.clone();
    until(
        "the visitor's leaving, reported from the closing page",
        || {
            let (client, api, conv) = (client.clone(), api.clone(), conv.clone());
            async move {
                let c: Value = client
                    .get(format!("{api}/v1/conversations/{conv}"))
                    .bearer_auth(replyrelay::config::DEV_TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                !c["visitor"]["left_at"].is_null()
            }
        },
    )
    .await;
    let answer = browser.find(Locator::Id("agent-text")).await.unwrap();
    answer.send_keys("Yes, in 3 days!").await.unwrap();
    browser
        .find(Locator::Id("agent-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until("the answer in the thread", || async {
        text_of(&browser, "thread")
            .await
            .contains("Sam: Yes, in 3 days!")
    })
    .await;
    browser
        .find(Locator::Id("agents-offline"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The email, shown from ./outbox, as the visitor gets it.
    until("the email in the page", || async {
        text_of(&browser, "email-subject").await.starts_with("To ")
    })
    .await;
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox/new"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1, "one email in ./outbox/new");
    let raw = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(raw.contains("ana@example.com"));
    let shown = text_of(&browser, "email-subject").await;
    let name = files[0].file_name().to_string_lossy().into_owned();
    assert!(shown.contains(&name), "{shown} names {name}");

    // The visitor answers the email; the reply lands in the thread, marked as by email.
    let reply = browser.find(Locator::Id("reply-text")).await.unwrap();
    reply.send_keys("Great, I will order today.").await.unwrap();
    browser
        .find(Locator::Id("reply-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until("the email reply in the thread", || async {
        text_of(&browser, "thread")
            .await
            .contains("Ana (by email): Great, I will order today.")
    })
    .await;
    browser.close().await.unwrap();
    drop(daemon);
}
