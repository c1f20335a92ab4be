//! Widget tokens: what a page carries to report its visitor's presence and reads.
//!
//! The platform's backend mints one with its site token (`POST /v1/widget-tokens`) and puts it
//! in the page. It names one site and one conversation and when it stops being good, under a
//! MAC of our keys, so a token read out of a page can do nothing but report presence and reads
//! for that conversation, and only for a while. Nothing is stored: the token is checked by its
//! MAC alone, so minting one costs no write.
//!
//! Layout: `w1.` + base64url(expiry (8 bytes, Unix seconds) || site length (2 bytes) || site ||
//! conversation) + `.` + base64url(MAC of those bytes, 128 bits).

use crate::token::{Purpose, TokenKeys};
use chrono::{DateTime, TimeDelta, Utc};
use data_encoding::BASE64URL_NOPAD;

const PREFIX: &str = "w1.";
/// How long a token is good for when the platform does not say.
pub const DEFAULT_TTL: TimeDelta = TimeDelta::hours(4);
/// The longest a platform may ask for: a page left open for a day mints again.
pub const MAX_TTL: TimeDelta = TimeDelta::hours(24);

/// What a good token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetClaim {
    pub site: String,
    pub conversation: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a token is refused; each is a 401 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetTokenError {
    #[error("not a widget token")]
    Malformed,
    #[error("the widget token's signature does not verify")]
    Forged,
    #[error("the widget token expired at {0}")]
    Expired(DateTime<Utc>),
}

fn payload(site: &str, conversation: &str, expires_at: DateTime<Utc>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(10 + site.len() + conversation.len());
    bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
    let len = u16::try_from(site.len()).expect("site ids are short");
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(site.as_bytes());
    bytes.extend_from_slice(conversation.as_bytes());
    bytes
}

/// A token for `conversation` of `site`, good until `expires_at` (whole seconds).
pub fn mint(keys: &TokenKeys, claim: &WidgetClaim) -> String {
    let bytes = payload(&claim.site, &claim.conversation, claim.expires_at);
    let tag = keys.tag(Purpose::Widget, &bytes);
    format!(
        "{PREFIX}{}.{}",
        BASE64URL_NOPAD.encode(&bytes),
        BASE64URL_NOPAD.encode(&tag)
    )
}

/// What `token` stands for, if one of our keys signed it and it has not expired at `now`.
pub fn verify(
    keys: &TokenKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<WidgetClaim, WidgetTokenError> {
    let (body, tag) = token
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(WidgetTokenError::Malformed)?;
    let bytes = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| WidgetTokenError::Malformed)?;
    let tag = BASE64URL_NOPAD
        .decode(tag.as_bytes())
        .map_err(|_| WidgetTokenError::Malformed)?;
    if !keys.verify_tag(Purpose::Widget, &bytes, &tag) {
        return Err(WidgetTokenError::Forged);
    }
    // Signed by us, so laid out by `payload`; checked all the same.
    let claim = (|| {
        let expires = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let len = u16::from_be_bytes(bytes.get(8..10)?.try_into().ok()?) as usize;
        let site = std::str::from_utf8(bytes.get(10..10 + len)?).ok()?;
        let conversation = std::str::from_utf8(bytes.get(10 + len..)?).ok()?;
        Some(WidgetClaim {
            site: site.to_string(),
            conversation: conversation.to_string(),
            expires_at: DateTime::from_timestamp(expires, 0)?,
        })
    })()
    .ok_or(WidgetTokenError::Malformed)?;
    if now >= claim.expires_at {
        return Err(WidgetTokenError::Expired(claim.expires_at));
    }
    Ok(claim)
}

/// When a token asked for at `now` with `ttl` (the default when `None`) stops being good, or
/// why the ttl is refused.
pub fn expiry(now: DateTime<Utc>, ttl: Option<TimeDelta>) -> Result<DateTime<Utc>, String> {
    let ttl = ttl.unwrap_or(DEFAULT_TTL);
    if ttl <= TimeDelta::zero() || ttl > MAX_TTL {
        return Err(format!(
            "must be between 1 and {} seconds",
            MAX_TTL.num_seconds()
        ));
    }
    // Whole seconds, as the token carries them; never sooner than asked.
    let at = now + ttl;
    let whole = DateTime::from_timestamp(at.timestamp(), 0).expect("in range");
    Ok(if whole < at {
        whole + TimeDelta::seconds(1)
    } else {
        whole
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &str) -> TokenKeys {
        TokenKeys::new(vec![k.as_bytes().to_vec()])
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn claim(conversation: &str) -> WidgetClaim {
        WidgetClaim {
            site: "acme".into(),
            conversation: conversation.into(),
            expires_at: at("2026-12-01T12:00:00Z"),
        }
    }

    #[test]
    fn a_token_stands_for_its_site_and_conversation_until_it_expires() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let t = mint(&k, &claim("c/1 ü"));
        assert_eq!(
            verify(&k, &t, at("2026-12-01T11:59:59Z")),
            Ok(claim("c/1 ü"))
        );
        assert_eq!(
            verify(&k, &t, at("2026-12-01T12:00:00Z")),
            Err(WidgetTokenError::Expired(at("2026-12-01T12:00:00Z")))
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let k = keys("k1-0123456789abcdef0123456789abcdef");
        let now = at("2026-12-01T11:00:00Z");
        let t = mint(&k, &claim("c1"));
        let other = keys("k2-0123456789abcdef0123456789abcdef");
        assert_eq!(verify(&other, &t, now), Err(WidgetTokenError::Forged));
        // Another conversation under the same MAC.
        let (body, tag) = t.strip_prefix(PREFIX).unwrap().split_once('.').unwrap();
        let mut bytes = BASE64URL_NOPAD.decode(body.as_bytes()).unwrap();
        *bytes.last_mut().unwrap() = b'2';
        let swapped = format!("{PREFIX}{}.{tag}", BASE64URL_NOPAD.encode(&bytes));
        assert_eq!(verify(&k, &swapped, now), Err(WidgetTokenError::Forged));
        // A later expiry under the same MAC.
        bytes = BASE64URL_NOPAD.decode(body.as_bytes()).unwrap();
        bytes[0] = 0x7f;
        let longer = format!("{PREFIX}{}.{tag}", BASE64URL_NOPAD.encode(&bytes));
        assert_eq!(verify(&k, &longer, now), Err(WidgetTokenError::Forged));
        for junk in ["", "w1.", "w1.abc", "w1.!!.!!", "reply-token", &t[3..]] {
            assert_eq!(
                verify(&k, junk, now),
                Err(WidgetTokenError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_rotated_key_still_verifies_the_tokens_it_signed() {
        let old = keys("k1-0123456789abcdef0123456789abcdef");
        let t = mint(&old, &claim("c1"));
        let both = TokenKeys::new(vec![
            b"k2-0123456789abcdef0123456789abcdef".to_vec(),
            b"k1-0123456789abcdef0123456789abcdef".to_vec(),
        ]);
        assert!(verify(&both, &t, at("2026-12-01T11:00:00Z")).is_ok());
    }

    #[test]
    fn the_lifetime_asked_for_is_bounded_and_rounded_up() {
        let now = at("2026-12-01T10:00:00.250Z");
        assert_eq!(expiry(now, None), Ok(at("2026-12-01T14:00:01Z")));
        assert_eq!(
            expiry(now, Some(TimeDelta::seconds(60))),
            Ok(at("2026-12-01T10:01:01Z"))
        );
        assert!(expiry(now, Some(TimeDelta::zero())).is_err());
        assert!(expiry(now, Some(TimeDelta::hours(25))).is_err());
    }
}
