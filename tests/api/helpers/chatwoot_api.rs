//! A stand-in for Chatwoot's API on loopback: records every "create a message" call (path,
//! `api_access_token`, body) and fails the first `fail_first` with a 500, as a Chatwoot that
//! is restarting would.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One call as Chatwoot got it.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub path: String,
    pub token: String,
    pub body: Value,
}

#[derive(Clone)]
pub struct ChatwootApi {
    /// The installation's base URL, for `[site.chatwoot] url`.
    pub url: String,
    calls: Arc<Mutex<Vec<ApiCall>>>,
    failures_left: Arc<Mutex<usize>>,
}

impl ChatwootApi {
    pub async fn start() -> Self {
        use axum::extract::OriginalUri;
        use axum::http::{HeaderMap, StatusCode};
        use axum::{routing::post, Json, Router};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = ChatwootApi {
            url: format!("http://{}", listener.local_addr().unwrap()),
            calls: Default::default(),
            failures_left: Default::default(),
        };
        let a = api.clone();
        let route = "/api/v1/accounts/{account}/conversations/{conversation}/messages";
        let app = Router::new().route(
            route,
            post(
                move |uri: OriginalUri, headers: HeaderMap, Json(body): Json<Value>| {
                    let a = a.clone();
                    async move {
                        let mut left = a.failures_left.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            return (StatusCode::INTERNAL_SERVER_ERROR, Json(Value::Null));
                        }
                        let mut calls = a.calls.lock().unwrap();
                        calls.push(ApiCall {
                            path: uri.path().to_string(),
                            token: (headers.get("api_access_token"))
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default(),
                            body: body.clone(),
                        });
                        // Chatwoot answers with the message it made.
                        let made = serde_json::json!({
                            "id": 500 + calls.len(),
                            "content": body["content"],
                            "message_type": "incoming",
                            "private": false,
                        });
                        (StatusCode::OK, Json(made))
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        api
    }

    pub fn fail_first(&self, n: usize) {
        *self.failures_left.lock().unwrap() = n;
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().unwrap().clone()
    }
}
