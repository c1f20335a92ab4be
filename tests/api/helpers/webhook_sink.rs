//! The platform's webhook endpoint: records each post and checks its signature.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One webhook as the platform got it.
#[derive(Clone, Debug)]
pub struct Hook {
    pub signature: String,
    pub body: String,
}

impl Hook {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// The chat platform's webhook endpoint: records what it gets, and fails the first
/// `fail_first` requests with a 500.
#[derive(Clone)]
pub struct WebhookSink {
    pub url: String,
    received: Arc<Mutex<Vec<Hook>>>,
    failures_left: Arc<Mutex<usize>>,
}

impl WebhookSink {
    pub async fn start() -> Self {
        use axum::{body::Bytes, http::HeaderMap, http::StatusCode, routing::post, Router};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = WebhookSink {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            received: Default::default(),
            failures_left: Default::default(),
        };
        let s = sink.clone();
        let app = Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let mut left = s.failures_left.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    s.received.lock().unwrap().push(Hook {
                        signature: headers
                            .get("x-replyrelay-signature")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default(),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sink
    }

    pub fn fail_first(&self, n: usize) {
        *self.failures_left.lock().unwrap() = n;
    }

    pub fn received(&self) -> Vec<Hook> {
        self.received.lock().unwrap().clone()
    }

    /// The webhooks of one type.
    pub fn of_type(&self, event: &str) -> Vec<Value> {
        self.received()
            .iter()
            .map(Hook::json)
            .filter(|v| v["type"] == event)
            .collect()
    }
}

/// The secret the test site signs webhooks with.
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

/// Checks a webhook signature the way a platform would, with its own HMAC code.
pub fn signature_is_valid(hook: &Hook) -> bool {
    use hmac::{Hmac, Mac};
    let Some((t, v1)) = hook.signature.split_once(",v1=") else {
        return false;
    };
    let t = t.trim_start_matches("t=");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hook.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}
