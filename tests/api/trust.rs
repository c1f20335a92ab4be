//! One trust store for every TLS client: a relay (implicit TLS or STARTTLS) and a webhook
//! endpoint behind an internal CA are reached once `[tls] ca_file` names it, and refused
//! (retried, never sent in the clear) while it does not. The IMAP side is in `imap.rs`.

use crate::helpers::*;
use replyrelay::clock::Clock;
use replyrelay::worker::Step;

/// A daemon whose relay and webhook endpoint (as `fronted` names them) are behind an internal
/// CA, which it trusts or not.
async fn behind_an_internal_ca(
    fronted: &[&str],
    trusted: bool,
) -> Option<(TestApp, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::create(dir.path());
    let mut top = String::new();
    for name in fronted {
        top.push_str(&format!(
            "# {name} {} {}\n",
            ca.cert.display(),
            ca.key.display()
        ));
    }
    if trusted {
        top.push_str(&format!("[tls]\nca_file = \"{}\"\n", ca.ca_file.display()));
    }
    let app = spawn_custom(Backend::Sqlite, &top, "", Clock::manual(t0()), false).await?;
    Some((app, dir))
}

#[tokio::test]
async fn the_relay_and_the_webhooks_trust_the_ca_file() {
    let fronted = ["tls_relay", "tls_webhooks"];
    let Some((app, _dir)) = behind_an_internal_ca(&fronted, true).await else {
        return;
    };
    let email = emailed(&app, "c1").await;
    assert_eq!(email.rcpt_to, vec!["ana@visitor.example"]);
    let hooks = app.hooks.of_type("message.forwarded");
    assert_eq!(
        hooks.len(),
        1,
        "posted over https: {:?}",
        app.hooks.received()
    );
}

#[tokio::test]
async fn without_the_ca_file_the_relay_is_not_trusted() {
    let Some((app, _dir)) = behind_an_internal_ca(&["tls_relay"], false).await else {
        return;
    };
    one_due_email(&app, "c1").await;
    let steps = app.at_minute(5.5).await;
    assert!(steps.contains(&Step::Retried), "{steps:?}");
    assert!(app.sent().is_empty(), "nothing reached the relay");
    let (error,): (String,) = app
        .stored("SELECT last_error FROM emails")
        .await
        .pop()
        .unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn without_the_ca_file_the_webhook_endpoint_is_not_trusted() {
    let Some((app, _dir)) = behind_an_internal_ca(&["tls_webhooks"], false).await else {
        return;
    };
    emailed(&app, "c1").await;
    assert!(app.hooks.received().is_empty(), "no webhook got through");
    let (attempts, error): (i64, Option<String>) = app
        .stored("SELECT attempts, last_error FROM webhooks")
        .await
        .pop()
        .expect("the webhook is kept for a retry");
    assert!(attempts >= 1);
    let error = error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn starttls_to_the_relay_is_verified_and_required() {
    for trusted in [true, false] {
        let Some((app, _dir)) = behind_an_internal_ca(&["relay_starttls"], trusted).await else {
            return;
        };
        one_due_email(&app, "c1").await;
        let steps = app.at_minute(5.5).await;
        if trusted {
            let sent = app.sent();
            assert_eq!(sent.len(), 1, "{steps:?}");
            assert!(sent[0].tls, "the email went over the secured connection");
        } else {
            assert!(steps.contains(&Step::Retried), "{steps:?}");
            assert!(app.sent().is_empty(), "never sent in the clear");
        }
    }
}

#[tokio::test]
async fn a_relay_that_does_not_offer_starttls_gets_nothing() {
    let top = "# require_starttls\n";
    let Some(app) = spawn_custom(Backend::Sqlite, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    one_due_email(&app, "c1").await;
    let steps = app.at_minute(5.5).await;
    assert!(steps.contains(&Step::Retried), "{steps:?}");
    assert!(app.sent().is_empty());
    let (error,): (String,) = app
        .stored("SELECT last_error FROM emails")
        .await
        .pop()
        .unwrap();
    assert!(error.contains("STARTTLS"), "{error}");
}
