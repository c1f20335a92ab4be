//! Webhooks to the chat platform: what each says, how it is signed, and how it is posted.
//!
//! Every webhook is queued in the same transaction as the change it reports, then posted by the
//! worker with retries, so the platform hears of everything once the database has it. The body
//! is fixed when queued: `{"id", "type", "site", "at", "data"}`. The signature header is
//! `X-Replyrelay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

use crate::store::{Conversation, NewMessage, NewWebhook, OutboxEmail, WebhookEvent};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "X-Replyrelay-Signature";

/// `t=<unix>,v1=<hex>` for a body posted at `t`.
pub fn sign(secret: &[u8], t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    format!("t={t},v1={hex}")
}

/// `message.forwarded` or `delivery.failed`: what became of an email, and which chat messages
/// it carried.
pub fn about_email(
    email: &OutboxEmail,
    messages: Vec<String>,
    event: WebhookEvent,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> NewWebhook {
    new(
        &email.site_id,
        event,
        json!({
            "conversation": email.conversation_id,
            "messages": messages,
            "email": {"message_id": email.message_id, "to": email.rcpt_to},
            "error": error,
        }),
        at,
    )
}

/// `message.created`: a visitor's email answer, posted into its conversation.
pub fn message_created(conv: &Conversation, message: &NewMessage, at: DateTime<Utc>) -> NewWebhook {
    let data = json!({
        "conversation": conv.id,
        "visitor": {"id": conv.visitor.id, "email": conv.visitor.email, "name": conv.visitor.name},
        "message": {
            "id": message.id,
            "author": message.author.as_str(),
            "name": message.author_name,
            "text": message.text,
            "attachments": message.attachments,
            "source": message.source.channel(),
            "trimmed": message.trimmed,
            "at": at.to_rfc3339(),
        },
    });
    new(&conv.site_id, WebhookEvent::MessageCreated, data, at)
}

/// A visitor's email answer, to post into its Chatwoot conversation: not a webhook of ours,
/// but queued beside them so it is posted once the reply is stored, and retried alike.
pub fn to_chatwoot(conv: &Conversation, message: &NewMessage, at: DateTime<Utc>) -> NewWebhook {
    NewWebhook {
        id: uuid::Uuid::now_v7().to_string(),
        site_id: conv.site_id.clone(),
        event: WebhookEvent::ChatwootMessage,
        payload: crate::chatwoot::answer(&conv.id, &message.id, &message.text).to_string(),
        at,
    }
}

/// `delivery.failed` for an email a delivery report came back for.
pub fn bounced(email: &OutboxEmail, reason: &str, at: DateTime<Utc>) -> NewWebhook {
    let data = json!({
        "email": {"message_id": email.message_id, "to": email.rcpt_to},
        "error": reason,
    });
    new(&email.site_id, WebhookEvent::DeliveryFailed, data, at)
}

/// `visitor.suppressed`: an address of a site gets no more email, why, and what caused it.
pub fn suppressed(
    site: &str,
    email: &str,
    reason: &str,
    cause: &str,
    at: DateTime<Utc>,
) -> NewWebhook {
    let data = json!({"email": email, "reason": reason, "cause": cause});
    new(site, WebhookEvent::VisitorSuppressed, data, at)
}

/// `visitor.unsuppressed`: the operator lifted an address's suppression.
pub fn unsuppressed(site: &str, email: &str, at: DateTime<Utc>) -> NewWebhook {
    new(
        site,
        WebhookEvent::VisitorUnsuppressed,
        json!({"email": email}),
        at,
    )
}

/// `visitor.erased`: everything of a visitor was deleted at the platform's request; what was.
pub fn erased(
    site: &str,
    visitor: &str,
    erased: &crate::store::Erased,
    at: DateTime<Utc>,
) -> NewWebhook {
    new(
        site,
        WebhookEvent::VisitorErased,
        json!({"visitor": visitor, "erased": erased}),
        at,
    )
}

/// A webhook of `event` about `data`.
pub fn new(site: &str, event: WebhookEvent, data: Value, at: DateTime<Utc>) -> NewWebhook {
    // Time-ordered, like outbox ids: the table's primary key grows at its end.
    let id = uuid::Uuid::now_v7().to_string();
    let payload = json!({
        "id": id,
        "type": event.as_str(),
        "site": site,
        "at": at.to_rfc3339(),
        "data": data,
    });
    NewWebhook {
        id,
        site_id: site.to_string(),
        event,
        payload: payload.to_string(),
        at,
    }
}

/// Posts webhooks over HTTP(S).
#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
}

impl Poster {
    /// A client trusting what `trust` trusts (the system's roots and `[tls] ca_file`).
    pub fn new(trust: &crate::trust::Trust) -> Self {
        Self {
            client: reqwest::Client::builder()
                .use_preconfigured_tls((*trust.client_config()).clone())
                .timeout(Duration::from_secs(10))
                // A redirect would re-post the visitor's words, validly signed, wherever a
                // `Location` points: a 3xx is an answer like any other non-2xx (retried, then
                // failed), and the platform fixes its URL.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("replyrelay/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client"),
        }
    }
}

impl Poster {
    /// Posts `body`, signed; `Ok` only for a 2xx answer.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let signature = sign(secret.as_bytes(), now.timestamp(), body);
        let request = (self.client.post(url))
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_string());
        Self::send(url, request).await
    }

    /// Posts a visitor's email answer (queued by [`to_chatwoot`]) to Chatwoot's API, with the
    /// site's access token; `Ok` only for a 2xx answer.
    pub async fn post_to_chatwoot(
        &self,
        chatwoot: &crate::config::Chatwoot,
        queued: &str,
    ) -> Result<(), String> {
        let queued: Value = serde_json::from_str(queued).map_err(|e| e.to_string())?;
        let conversation = queued["conversation"].as_str().unwrap_or_default();
        let url = crate::chatwoot::messages_url(&chatwoot.url, chatwoot.account_id, conversation)
            .ok_or_else(|| format!("`{conversation}` is not a Chatwoot conversation id"))?;
        let request = (self.client.post(&url))
            .header("api_access_token", &chatwoot.api_access_token)
            .json(&queued["body"]);
        Self::send(&url, request).await
    }

    async fn send(url: &str, request: reqwest::RequestBuilder) -> Result<(), String> {
        let response = request
            .send()
            .await
            // With its causes: reqwest's own words ("error sending request") hide whether it was
            // a refused connection, a timeout or an untrusted certificate.
            .map_err(|e| format!("POST {url}: {:#}", anyhow::Error::new(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // A redirect is not followed: where it pointed is said, for the platform to fix its URL.
        let location = (status.is_redirection())
            .then(|| response.headers().get(reqwest::header::LOCATION))
            .flatten()
            .and_then(|l| l.to_str().ok())
            .map(|l| format!(" (not followed to {l})"))
            .unwrap_or_default();
        Err(format!("POST {url}: HTTP {status}{location}"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_value() {
        // HMAC-SHA256(key = "secret", "1700000000.{}") computed independently (Python's hmac).
        assert_eq!(
            super::sign(b"secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    /// A one-shot HTTP server on loopback: answers each request with `reply` and counts them.
    async fn server(reply: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let (elsewhere, elsewhere_hits) = server(ok.to_string()).await;
        let redirect = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (url, hits) = server(redirect).await;
        let got = super::Poster::new(&crate::trust::Trust::new(Vec::new()).unwrap())
            .post(&url, "secret-0123456789", "{}", chrono::Utc::now())
            .await;
        let error = got.expect_err("a 3xx is a failed post");
        assert!(error.contains("307"), "{error}");
        assert!(
            error.contains(&format!("not followed to {elsewhere}")),
            "where it pointed is logged: {error}"
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            elsewhere_hits.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the body went nowhere else"
        );
    }
}
