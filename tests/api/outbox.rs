//! The outbox for operators: `GET /v1/emails` shows what is pending, failed or cancelled and
//! why; `POST /v1/emails/{id}/retry` (and `replyrelay queue retry`) sends one again.

use crate::helpers::*;
use replyrelay::worker::Step;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::Value;

async fn emails(app: &TestApp, query: &str) -> reqwest::Response {
    (app.client.get(format!("{}/v1/emails?{query}", app.base)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let r = emails(app, query).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["emails"]
        .as_array()
        .unwrap()
        .clone()
}

async fn retry(app: &TestApp, id: &str) -> reqwest::StatusCode {
    (app.client
        .post(format!("{}/v1/emails/{id}/retry", app.base)))
    .bearer_auth(TOKEN)
    .send()
    .await
    .unwrap()
    .status()
}

/// `replyrelay queue …` on the daemon's database, as an operator's shell runs it.
fn queue(app: &TestApp, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replyrelay.toml");
    let site = "[[site]]\nid = \"acme\"\napi_tokens = [\"acme-token-0123456789\"]\n";
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n{site}", app.db)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replyrelay"))
        .arg("--config")
        .arg(&config)
        .arg("queue")
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[apply(backends)]
#[tokio::test]
async fn a_failed_email_is_shown_with_its_answer_and_sent_again(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.sink
        .answer_next(&["550 5.7.1 Message refused by policy"]);
    one_due_email(&app, "c1").await;
    assert!(app.at_minute(5.5).await.contains(&Step::Failed));

    let failed = listed(&app, "status=failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let id = failed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(failed[0]["conversation"], "c1");
    assert_eq!(failed[0]["to"], "ana@visitor.example");
    assert!(failed[0]["last_answer"]
        .as_str()
        .unwrap()
        .contains("550 5.7.1"));
    assert!(listed(&app, "status=pending").await.is_empty());
    assert_eq!(listed(&app, "conversation=c1").await.len(), 1);
    assert!(listed(&app, "conversation=c2").await.is_empty());
    let bad = emails(&app, "status=lost").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"]["field"],
        "status"
    );

    // The shell sees the same; the relay fixed, the operator sends it again.
    let (ok, text) = queue(&app, &["list", "--status", "failed"]);
    assert!(
        ok && text.contains(&id) && text.contains("550 5.7.1"),
        "{text}"
    );
    assert_eq!(retry(&app, &id).await, 200);
    let pending = listed(&app, "status=pending").await;
    assert_eq!(pending[0]["attempts"], 0);
    assert!(pending[0]["next_attempt_at"].is_string());
    let before = app.sent().len();
    assert!(app.at_minute(6.0).await.contains(&Step::Sent));
    assert_eq!(app.sent().len(), before + 1);
    assert_eq!(listed(&app, "status=sent").await[0]["id"], id.as_str());

    // What cannot be retried says why.
    assert_eq!(retry(&app, &id).await, 409, "sent already");
    assert_eq!(retry(&app, "no-such-email").await, 404);
    app.sink
        .answer_next(&["550 5.7.1 Message refused by policy"]);
    app.events(answered_and_gone("c2")).await;
    app.at_minute(12.0).await;
    let failed = listed(&app, "status=failed").await;
    let id2 = failed[0]["id"].as_str().unwrap().to_string();
    // From the shell (whose clock is the machine's: the test's worker does not send it).
    let (ok, text) = queue(&app, &["retry", &id2]);
    assert!(ok && text.contains("queued"), "{text}");
    let (ok, text) = queue(&app, &["list", "--status", "pending", "--json"]);
    assert!(ok && text.contains(&id2), "{text}");
    // Its bytes dropped, as retention does.
    execute(
        &app.db,
        &format!("DELETE FROM email_bodies WHERE email_id = '{id2}'"),
    )
    .await;
    assert_eq!(retry(&app, &id2).await, 410);
    let (ok, text) = queue(&app, &["retry", &id2]);
    assert!(!ok && text.contains("retention"), "{text}");
}
