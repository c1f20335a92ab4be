//! The Chatwoot bridge, for sites whose chats live in Chatwoot: its webhooks become
//! replyrelay's events (`translate`), each checked against the webhook's secret (`verify`),
//! and a visitor's email answer goes back into the Chatwoot conversation as an incoming
//! message (`answer`, queued with the reply and posted by the worker, retried like webhooks).
//! Pure; the route is `api::chatwoot`.

mod translate;

pub use translate::{translate, Translated};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The headers Chatwoot signs its webhooks with: `sha256=<hex HMAC-SHA256 of "<t>.<body>">`
/// under the webhook's secret, and the Unix time `t` it signed at.
pub const SIGNATURE_HEADER: &str = "X-Chatwoot-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Chatwoot-Timestamp";

/// How far a signature's time may be from ours: a captured webhook cannot be replayed later.
pub const SIGNATURE_WINDOW_SECONDS: i64 = 300;

/// Why a webhook is not believed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("no X-Chatwoot-Signature (nor the secret in the URL)")]
    Unsigned,
    #[error("X-Chatwoot-Timestamp is missing or not a Unix time")]
    NoTime,
    #[error("signed {0} s away from now: outside the 300 s window")]
    Stale(i64),
    #[error("the signature does not match the webhook's secret")]
    Forged,
}

/// The signature Chatwoot sends for `body` signed at `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

/// Whether a webhook comes from the Chatwoot that holds `secret`: its signature, made within
/// the window around `now`; or, from a Chatwoot that does not sign, the secret itself in the
/// URL (`?secret=`).
pub fn verify(
    secret: &str,
    signature: Option<&str>,
    timestamp: Option<&str>,
    url_secret: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Unverified> {
    let Some(signature) = signature else {
        return match url_secret {
            Some(s) if bool::from(s.as_bytes().ct_eq(secret.as_bytes())) => Ok(()),
            Some(_) => Err(Unverified::Forged),
            None => Err(Unverified::Unsigned),
        };
    };
    let t: i64 = timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(Unverified::NoTime)?;
    if (now - t).abs() > SIGNATURE_WINDOW_SECONDS {
        return Err(Unverified::Stale(now - t));
    }
    let want = sign(secret, t, body);
    match bool::from(want.as_bytes().ct_eq(signature.trim().as_bytes())) {
        true => Ok(()),
        false => Err(Unverified::Forged),
    }
}

/// What is queued to post a visitor's email answer into the Chatwoot conversation: the
/// conversation, and the body of Chatwoot's "create a message" call (an incoming message,
/// public). `message` is our id for it, by which its echo is known.
pub fn answer(conversation: &str, message: &str, text: &str) -> Value {
    json!({
        "conversation": conversation,
        "message": message,
        "body": {
            "content": text,
            "message_type": "incoming",
            "private": false,
            "content_attributes": {"replyrelay_message": message},
        },
    })
}

/// Chatwoot's API address for a conversation's messages; `None` for an id that is not one of
/// Chatwoot's (they are numbers), which no path may carry.
pub fn messages_url(base: &str, account: u64, conversation: &str) -> Option<String> {
    let ours = !conversation.is_empty() && conversation.bytes().all(|b| b.is_ascii_digit());
    ours.then(|| format!("{base}/api/v1/accounts/{account}/conversations/{conversation}/messages"))
}

#[cfg(test)]
mod tests;
