//! What every API test needs: a daemon on a fresh database and port 0, a manual clock, and a
//! real SMTP server on loopback that records what it receives and answers as told.
//!
//! The files: `app` (a daemon on a fresh database and port 0: `spawn_app`), `db` (the
//! backends, fresh PostgreSQL databases, raw SQL), `smtp_sink` (the relay), `webhook_sink`
//! (the platform's endpoint), `chatwoot_api` (a stand-in for Chatwoot's API), `smtp_client` (Python's smtplib as the sending client), `tls_front` (an internal CA and TLS
//! in front of a test server); this one
//! holds the test data: events, replies, instants.

mod app;
mod chatwoot_api;
mod db;
#[path = "../../support/pg_database.rs"]
mod pg_database;
#[path = "../../support/skip.rs"]
pub mod skip;
mod smtp_client;
mod smtp_sink;
mod tls_front;
mod webhook_sink;

pub use app::*;
#[allow(unused_imports)]
pub use chatwoot_api::*;
pub use db::*;
// The other test binaries that share these helpers send no mail through the listener.
#[allow(unused_imports)]
pub use smtp_client::*;
pub use smtp_sink::*;
#[allow(unused_imports)]
pub use tls_front::*;
pub use webhook_sink::*;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;

/// A visitor's email answer to `email`: Gmail-shaped, quoting it under an attribution line.
pub fn reply_to(email: &Received, from: &str, text: &str) -> Vec<u8> {
    reply_with(email, from, &format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nOn Mon, 2 Mar 2026 at 10:06, Acme <support@acme.example> wrote:\r\n\r\n> ## Reply above this line to answer ##\r\n> Yes, in 3 days.\r\n"))
}

/// A reply to `email` with the given MIME headers-and-body (after the envelope headers).
pub fn reply_with(email: &Received, from: &str, mime: &str) -> Vec<u8> {
    let to = email.header("Reply-To").unwrap();
    let id = email.header("Message-ID").unwrap();
    format!(
        "From: Ana Souza <{from}>\r\nTo: {to}\r\nSubject: Re: {}\r\nDate: Mon, 2 Mar 2026 10:30:00 +0000\r\nMessage-ID: <{}@mail.visitor.example>\r\nIn-Reply-To: {id}\r\nReferences: {id}\r\nMIME-Version: 1.0\r\n{mime}",
        email.header("Subject").unwrap(),
        uuid::Uuid::new_v4().simple(),
    )
    .into_bytes()
}

/// The instant tests start at; events name times relative to it.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// RFC 3339 for `t0 + minutes`.
pub fn at(minutes: f64) -> String {
    (t0() + TimeDelta::milliseconds((minutes * 60_000.0) as i64)).to_rfc3339()
}

pub const TOKEN: &str = "acme-token-0123456789";
pub const OTHER_TOKEN: &str = "other-token-0123456789";
/// The key the test daemon signs reply tokens with (`[secrets] token_keys`).
pub const TEST_TOKEN_KEY: &str = "test-key-0123456789-0123456789-0123456789";

pub fn visitor(conv: &str, email: Option<&str>, at_min: f64) -> Value {
    let mut v = serde_json::json!({"id": format!("v-{conv}"), "name": "Ana Souza"});
    if let Some(e) = email {
        v["email"] = e.into();
    }
    serde_json::json!({"type": "visitor", "conversation": conv, "visitor": v, "at": at(at_min)})
}

pub fn message(conv: &str, id: &str, author: &str, text: &str, at_min: f64) -> Value {
    let mut m = serde_json::json!({"id": id, "author": author, "text": text});
    if author == "agent" {
        m["name"] = "Sam".into();
    }
    serde_json::json!({"type": "message", "conversation": conv, "message": m, "at": at(at_min)})
}

pub fn presence(conv: &str, state: &str, at_min: f64) -> Value {
    serde_json::json!({"type": "presence", "conversation": conv, "state": state, "at": at(at_min)})
}

pub fn read(conv: &str, message_id: &str, at_min: f64) -> Value {
    serde_json::json!({"type": "read", "conversation": conv, "message_id": message_id, "at": at(at_min)})
}

/// Conversation `conv` as many tests start it: asked at minute 0, the visitor gone at 0.5,
/// answered at 1; the clock is at minute 1 and the email is due at 5.5.
pub async fn one_due_email(app: &TestApp, conv: &str) {
    app.at_minute(1.0).await;
    app.events(answered_and_gone(conv)).await;
}

/// [`asked_and_answered`], with the visitor gone at 0.5: the email is due at 5.5.
pub fn answered_and_gone(conv: &str) -> Vec<Value> {
    let mut events = asked_and_answered(conv);
    events.push(presence(conv, "left", 0.5));
    events
}

/// [`one_due_email`], then minute 5.5: the email that went out for `conv`.
pub async fn emailed(app: &TestApp, conv: &str) -> Received {
    one_due_email(app, conv).await;
    app.at_minute(5.5).await;
    app.sent()
        .into_iter()
        .rev()
        .find(|e| e.text().contains("Do you ship to Spain?"))
        .expect("an email went out")
}

/// A visitor who asked a question at minute 0 and was answered at minute 1.
pub fn asked_and_answered(conv: &str) -> Vec<Value> {
    vec![
        visitor(conv, Some("ana@visitor.example"), 0.0),
        message(conv, "q1", "visitor", "Do you ship to Spain?", 0.0),
        message(conv, "a1", "agent", "Yes, in **3 days**.", 1.0),
    ]
}
