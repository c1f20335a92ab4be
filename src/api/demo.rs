//! `GET /demo`: the product in a browser, for a newcomer on the config-less development run.
//! Two panes: a visitor's chat (an iframe with `widget.js`, as a site would have it) and an
//! agent's console. Close the visitor's pane, let the agents go offline or wait out
//! `after_departure`, and the email appears from `./outbox`; answer it in the form and the
//! reply lands in the thread, through the same inbound pipeline mail takes.
//!
//! Served only without a config file: the page carries the development site's token.

use super::AppState;
use crate::config::{self, Transport};
use crate::inbound::{Envelope, Inbound, Outcome};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;

const PAGE: &str = include_str!("demo/demo.html");
const VISITOR: &str = include_str!("demo/visitor.html");

/// What the demo's routes share: the API's state, and the inbound pipeline the form's
/// replies go through.
#[derive(Clone)]
struct Demo {
    app: AppState,
    inbound: Inbound,
}

/// The demo's routes, merged into the API's on a config-less run.
pub fn router(app: AppState, inbound: Inbound) -> Router {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/visitor", get(visitor))
        .route("/demo/widget-token", post(widget_token))
        .route("/demo/outbox", get(outbox))
        .route("/demo/reply", post(reply))
        .with_state(Demo { app, inbound })
}

async fn page() -> Html<String> {
    Html(PAGE.replace("{{TOKEN}}", config::DEV_TOKEN))
}

async fn visitor() -> Html<String> {
    Html(VISITOR.replace("{{TOKEN}}", config::DEV_TOKEN))
}

/// A widget token for the visitor's pane, as a site's backend would mint it.
async fn widget_token(
    State(demo): State<Demo>,
    Json(body): Json<HashMap<String, String>>,
) -> Response {
    let Some(conversation) = body.get("conversation").filter(|c| !c.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "conversation is required").into_response();
    };
    let config = demo.app.config.current();
    let Some(site) = config.sites.first() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = demo.app.clock.now();
    let claim = crate::widget::token::WidgetClaim {
        site: site.id.clone(),
        conversation: conversation.clone(),
        expires_at: crate::widget::token::expiry(now, None).expect("the default ttl is good"),
    };
    Json(serde_json::json!({
        "token": crate::widget::token::mint(&demo.app.keys, &claim),
    }))
    .into_response()
}

/// One email in `./outbox`, as the page shows it.
#[derive(serde::Serialize)]
struct Shown {
    file: String,
    to: String,
    subject: String,
    message_id: String,
    reply_to: String,
    html: String,
}

/// The emails in the maildir, newest first (the page picks its conversation's by the
/// Message-IDs `GET /v1/emails` gives).
async fn outbox(State(demo): State<Demo>) -> Response {
    let config = demo.app.config.current();
    let Transport::Maildir(dir) = &config.delivery.transport else {
        return (StatusCode::NOT_FOUND, "emails do not go to a maildir").into_response();
    };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut shown = Vec::new();
    for (_, path) in files.into_iter().take(20) {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let Some(mail) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        let header = |name: &str| {
            mail.header_raw(name)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let message_id = header("Message-ID");
        shown.push(Shown {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            to: header("To"),
            subject: mail.subject().unwrap_or_default().to_string(),
            message_id,
            reply_to: header("Reply-To"),
            html: mail
                .body_html(0)
                .map(|h| h.into_owned())
                .unwrap_or_default(),
        });
    }
    Json(shown).into_response()
}

/// The visitor's answer to an email, as their mail client would send it: to its Reply-To,
/// in reply to its Message-ID, through the inbound pipeline.
#[derive(serde::Deserialize)]
struct Reply {
    from: String,
    reply_to: String,
    message_id: String,
    text: String,
}

async fn reply(State(demo): State<Demo>, Json(r): Json<Reply>) -> Response {
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: your chat\r\nMessage-ID: <demo-{id}@visitor.example>\r\n\
         In-Reply-To: {mid}\r\nReferences: {mid}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n",
        from = clean(&r.from),
        to = clean(&r.reply_to),
        mid = clean(&r.message_id),
        id = demo.app.clock.now().timestamp_millis(),
        date = demo.app.clock.now().to_rfc2822(),
        text = r.text.replace("\r\n", "\n").replace('\n', "\r\n"),
    );
    match demo
        .inbound
        .deliver(raw.as_bytes(), &Envelope::default())
        .await
    {
        Ok(Outcome::Stored { conversation, .. }) => {
            Json(serde_json::json!({ "stored": conversation })).into_response()
        }
        Ok(other) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not posted: {other:?}"),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("refused: {e:#}")).into_response(),
    }
}
