//! Reply and unsubscribe tokens: a conversation's number and a MAC, so they cannot be guessed
//! or forged.
//!
//! A token is the lowercase base32 of `conversation number (8 bytes) || HMAC-SHA256 truncated
//! to 128 bits`, 39 characters, short enough for an address local part (`reply+…@`) and safe
//! for MTAs that lowercase local parts. The MAC covers a purpose label, the site and the number,
//! so a reply token is no unsubscribe token, and a token of one site is worthless on another.
//! Several keys may be configured: the first signs, all verify, so keys rotate without breaking
//! the tokens already sent.

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC kept: 128 bits, above the 96 that is the least a token standing for a
/// conversation should carry.
const MAC_LEN: usize = 16;

/// What a token may be used for; part of what the MAC covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Reply,
    Unsubscribe,
    /// One email's own bounce address (VERP).
    Bounce,
    /// A page's widget token (minted by the widget module).
    Widget,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Reply => b"replyrelay/reply/v1",
            Purpose::Unsubscribe => b"replyrelay/unsubscribe/v1",
            Purpose::Bounce => b"replyrelay/bounce/v1",
            Purpose::Widget => b"replyrelay/widget/v1",
        }
    }
}

/// The signing keys, newest first. Clones share them: a reload that [`TokenKeys::adopt`]s new
/// keys changes them for every holder at once (the worker, the API, the inbound pipeline), so
/// a key removed because it leaked stops verifying everywhere, and nothing signs with it.
#[derive(Clone)]
pub struct TokenKeys(Arc<ArcSwap<Vec<Vec<u8>>>>);

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} keys)", self.0.load().len())
    }
}

impl TokenKeys {
    pub fn new(keys: Vec<Vec<u8>>) -> Self {
        assert!(!keys.is_empty(), "at least one token key");
        Self(Arc::new(ArcSwap::from_pointee(keys)))
    }

    /// Takes `other`'s keys, for every clone of this handle.
    pub fn adopt(&self, other: &TokenKeys) {
        self.0.store(other.0.load_full());
    }

    fn mac(key: &[u8], purpose: Purpose, site: &str, number: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(site.as_bytes());
        mac.update(&[0]);
        mac.update(&number.to_be_bytes());
        mac
    }

    /// The token for conversation `number` of `site`.
    pub fn sign(&self, purpose: Purpose, site: &str, number: i64) -> String {
        let tag = Self::mac(&self.0.load()[0], purpose, site, number)
            .finalize()
            .into_bytes();
        let mut raw = number.to_be_bytes().to_vec();
        raw.extend_from_slice(&tag[..MAC_LEN]);
        data_encoding::BASE32_NOPAD
            .encode(&raw)
            .to_ascii_lowercase()
    }

    /// The token for one email of `site` (its id, 16 bytes): the unsubscribe link names the
    /// email, and through it the address the email went to. Twice the length of a number's
    /// token (52 characters), so the two kinds cannot be taken for each other.
    pub fn sign_email(&self, purpose: Purpose, site: &str, id: &[u8; 16]) -> String {
        let tag = Self::email_mac(&self.0.load()[0], purpose, site, id)
            .finalize()
            .into_bytes();
        let mut raw = id.to_vec();
        raw.extend_from_slice(&tag[..MAC_LEN]);
        data_encoding::BASE32_NOPAD
            .encode(&raw)
            .to_ascii_lowercase()
    }

    /// The email id an email token names, before checking it: needed to find the site.
    pub fn email_id(token: &str) -> Option<[u8; 16]> {
        let raw = data_encoding::BASE32_NOPAD
            .decode(token.trim().to_ascii_uppercase().as_bytes())
            .ok()?;
        (raw.len() == 16 + MAC_LEN).then(|| raw[..16].try_into().ok())?
    }

    /// Whether an email token was signed by one of our keys for this purpose and site.
    pub fn verify_email(&self, purpose: Purpose, site: &str, token: &str) -> Option<[u8; 16]> {
        let raw = data_encoding::BASE32_NOPAD
            .decode(token.trim().to_ascii_uppercase().as_bytes())
            .ok()?;
        if raw.len() != 16 + MAC_LEN {
            return None;
        }
        let id: [u8; 16] = raw[..16].try_into().ok()?;
        let tag = &raw[16..];
        (self.0.load().iter())
            .any(|k| {
                Self::email_mac(k, purpose, site, &id)
                    .verify_truncated_left(tag)
                    .is_ok()
            })
            .then_some(id)
    }

    fn email_mac(key: &[u8], purpose: Purpose, site: &str, id: &[u8; 16]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(purpose.label());
        mac.update(b"/email");
        mac.update(&[0]);
        mac.update(site.as_bytes());
        mac.update(&[0]);
        mac.update(id);
        mac
    }

    /// The MAC of `bytes` for this purpose (truncated to 128 bits), with the signing key: for
    /// tokens whose payload is laid out by their own module.
    pub fn tag(&self, purpose: Purpose, bytes: &[u8]) -> [u8; MAC_LEN] {
        let tag = Self::bytes_mac(&self.0.load()[0], purpose, bytes)
            .finalize()
            .into_bytes();
        tag[..MAC_LEN].try_into().expect("MAC_LEN bytes")
    }

    /// Whether `tag` is the MAC of `bytes` under any of our keys (constant-time).
    pub fn verify_tag(&self, purpose: Purpose, bytes: &[u8], tag: &[u8]) -> bool {
        tag.len() == MAC_LEN
            && self.0.load().iter().any(|k| {
                Self::bytes_mac(k, purpose, bytes)
                    .verify_truncated_left(tag)
                    .is_ok()
            })
    }

    fn bytes_mac(key: &[u8], purpose: Purpose, bytes: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(bytes);
        mac
    }

    /// The conversation number a token names, before checking it: needed to find the site.
    pub fn number(token: &str) -> Option<i64> {
        let raw = data_encoding::BASE32_NOPAD
            .decode(token.trim().to_ascii_uppercase().as_bytes())
            .ok()?;
        if raw.len() != 8 + MAC_LEN {
            return None;
        }
        Some(i64::from_be_bytes(raw[..8].try_into().ok()?))
    }

    /// Whether `token` was signed by one of our keys for this purpose, site and number. The
    /// comparison is constant-time (`verify_truncated_left`).
    pub fn verify(&self, purpose: Purpose, site: &str, token: &str) -> Option<i64> {
        let raw = data_encoding::BASE32_NOPAD
            .decode(token.trim().to_ascii_uppercase().as_bytes())
            .ok()?;
        if raw.len() != 8 + MAC_LEN {
            return None;
        }
        let number = i64::from_be_bytes(raw[..8].try_into().ok()?);
        let tag = &raw[8..];
        self.0
            .load()
            .iter()
            .any(|k| {
                Self::mac(k, purpose, site, number)
                    .verify_truncated_left(tag)
                    .is_ok()
            })
            .then_some(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(vec![b"k1-0123456789abcdef0123456789abcdef".to_vec()])
    }

    #[test]
    fn round_trip_and_case_insensitive() {
        let t = keys().sign(Purpose::Reply, "acme", 42);
        assert_eq!(t.len(), 39);
        assert_eq!(keys().verify(Purpose::Reply, "acme", &t), Some(42));
        assert_eq!(
            keys().verify(Purpose::Reply, "acme", &t.to_uppercase()),
            Some(42)
        );
        assert_eq!(TokenKeys::number(&t), Some(42));
    }

    #[test]
    fn forged_or_misused_tokens_fail() {
        let k = keys();
        let t = k.sign(Purpose::Reply, "acme", 42);
        assert_eq!(k.verify(Purpose::Unsubscribe, "acme", &t), None);
        assert_eq!(k.verify(Purpose::Reply, "other", &t), None);
        // Change the number, keep the MAC.
        let mut raw = data_encoding::BASE32_NOPAD
            .decode(t.to_uppercase().as_bytes())
            .unwrap();
        raw[7] ^= 1;
        let forged = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
        assert_eq!(k.verify(Purpose::Reply, "acme", &forged), None);
        assert_eq!(k.verify(Purpose::Reply, "acme", &t[..30]), None);
        assert_eq!(k.verify(Purpose::Reply, "acme", "not a token"), None);
    }

    #[test]
    fn email_tokens_name_one_email_of_one_site() {
        let keys = keys();
        let id = *uuid::Uuid::now_v7().as_bytes();
        let t = keys.sign_email(Purpose::Unsubscribe, "acme", &id);
        assert_eq!(t.len(), 52);
        assert_eq!(TokenKeys::email_id(&t), Some(id));
        assert_eq!(
            keys.verify_email(Purpose::Unsubscribe, "acme", &t.to_uppercase()),
            Some(id)
        );
        assert_eq!(keys.verify_email(Purpose::Unsubscribe, "other", &t), None);
        assert_eq!(keys.verify_email(Purpose::Reply, "acme", &t), None);
        // A conversation's token is no email's, and the other way round.
        let conv = keys.sign(Purpose::Unsubscribe, "acme", 7);
        assert_eq!(TokenKeys::email_id(&conv), None);
        assert_eq!(TokenKeys::number(&t), None);
    }

    #[test]
    fn rotated_keys_still_verify() {
        let old = keys();
        let t = old.sign(Purpose::Reply, "acme", 7);
        let rotated = TokenKeys::new(vec![
            b"k2-new-key-0123456789abcdef012345".to_vec(),
            old.0.load()[0].clone(),
        ]);
        assert_eq!(rotated.verify(Purpose::Reply, "acme", &t), Some(7));
        assert_ne!(rotated.sign(Purpose::Reply, "acme", 7), t);
    }

    #[test]
    fn adopted_keys_apply_to_every_clone() {
        let keys = keys();
        let held_elsewhere = keys.clone();
        let old = keys.sign(Purpose::Reply, "acme", 9);
        keys.adopt(&TokenKeys::new(vec![
            b"k3-after-a-leak-0123456789abcdef".to_vec()
        ]));
        assert_eq!(
            held_elsewhere.verify(Purpose::Reply, "acme", &old),
            None,
            "the old key is gone"
        );
        let new = held_elsewhere.sign(Purpose::Reply, "acme", 9);
        assert_ne!(new, old);
        assert_eq!(keys.verify(Purpose::Reply, "acme", &new), Some(9));
    }
}
