//! A visitor's right to erasure, and what survives it: their suppression, as a keyed hash of
//! the address, so that an unsubscribe is still honoured when nothing else of them is kept.
//! Pure: the hash of an address under a key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a suppressed address is stored as once its visitor is erased.
pub const ERASED_PREFIX: &str = "erased:";

/// The meta key the hashing key is kept under (one per database, generated at the first
/// erasure, never rotated: a new key would forget every erased suppression).
pub const KEY_NAME: &str = "erasure_key";

/// The form an erased visitor's address is kept in: `erased:` and the hex HMAC-SHA256 of the
/// site and the lowercased address. Without the key, which stays in the database, it names
/// nobody; with it, the same address on the same site gives the same value.
pub fn erased_address(key: &[u8], site: &str, email: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(site.as_bytes());
    mac.update(b"\0");
    mac.update(email.to_lowercase().as_bytes());
    let hex = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    format!("{ERASED_PREFIX}{hex}")
}

/// The key kept as hex in the meta table, as bytes.
pub fn key_bytes(hex: &str) -> anyhow::Result<Vec<u8>> {
    data_encoding::HEXLOWER
        .decode(hex.as_bytes())
        .map_err(|e| anyhow::anyhow!("the stored erasure key is not hex: {e}"))
}

/// A fresh key, as hex.
pub fn new_key() -> String {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    data_encoding::HEXLOWER.encode(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_address_on_the_same_site_gives_the_same_hash_and_nothing_else_does() {
        let key = b"k";
        let a = erased_address(key, "acme", "Ana@Visitor.example");
        assert_eq!(a, erased_address(key, "acme", "ana@visitor.example"));
        assert!(a.starts_with(ERASED_PREFIX) && !a.contains("ana"));
        assert_ne!(a, erased_address(key, "other", "ana@visitor.example"));
        assert_ne!(a, erased_address(b"k2", "acme", "ana@visitor.example"));
        assert_ne!(a, erased_address(key, "acme", "bo@visitor.example"));
    }
}
