//! The demo a newcomer clicks through on the config-less run (`/demo`), in headless Chromium:
//! ask as the visitor, close their page, answer as the agent; the email appears from
//! `./outbox`, and its answer lands in the thread. A test binary of its own: the process's
//! counters are then this test's alone.

#[path = "support/browser.rs"]
#[allow(dead_code)]
mod browser;
#[path = "support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "support/skip.rs"]
mod skip;

use browser::{browser, text_of, until};
use fantoccini::Locator;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_sees_the_email_go_out_and_its_answer_come_back_in_the_demo() {
    let driver = match browser::driver() {
        Ok(driver) => driver,
        Err(why) => {
            skip::skipped("the demo browser test", why);
            return;
        }
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
    browser::click(&browser, "send").await;
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
    browser::click(&browser, "close-visitor").await;
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
    browser::click(&browser, "agent-send").await;
    until("the answer in the thread", || async {
        text_of(&browser, "thread")
            .await
            .contains("Sam: Yes, in 3 days!")
    })
    .await;
    browser::click(&browser, "agents-offline").await;

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
    browser::click(&browser, "reply-send").await;
    until("the email reply in the thread", || async {
        text_of(&browser, "thread")
            .await
            .contains("Ana (by email): Great, I will order today.")
    })
    .await;
    browser.close().await.unwrap();
    drop(daemon);
}
