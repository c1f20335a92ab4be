//! The `mailto:` half of an email's `List-Unsubscribe` header: an address in the reply domain
//! naming the email under a MAC (`unsub+TOKEN@reply domain`). Mail clients that unsubscribe by
//! sending a message (Apple Mail, many webmails without one-click support) send it there, and
//! it stops mail to the address that email went to — as the link does.

use crate::config::{Config, Site};
use crate::token::{Purpose, TokenKeys};

/// The local part's prefix: short, so prefix and token (52) stay within the 64 octets a local
/// part may have.
const PREFIX: &str = "unsub+";

/// The unsubscribe token of the email with this id: the one-click link and this address both
/// carry it, so an email signs it once (the same MAC [`recognise`] checks).
pub fn token(site: &Site, keys: &TokenKeys, email_id: &uuid::Uuid) -> String {
    keys.sign_email(Purpose::Unsubscribe, &site.id, email_id.as_bytes())
}

/// The address for the email whose unsubscribe [`token`] this is.
pub fn address(site: &Site, token: &str) -> String {
    format!("{PREFIX}{token}@{}", site.reply_domain)
}

/// What an address is, as an unsubscribe address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recognised {
    /// The email it names, its MAC verified: the site and the email's id.
    Email { site: String, email_id: uuid::Uuid },
    /// Shaped as one of a site's, but its MAC does not verify.
    Forged,
}

/// Whether `address` is an unsubscribe address of ours, and which.
pub fn recognise(config: &Config, keys: &TokenKeys, address: &str) -> Option<Recognised> {
    let address = address.trim().trim_matches(['<', '>']).to_lowercase();
    let (local, domain) = address.rsplit_once('@')?;
    let token = local.strip_prefix(PREFIX)?;
    let site = (config.sites.iter()).find(|s| s.reply_domain.eq_ignore_ascii_case(domain))?;
    Some(
        match keys.verify_email(Purpose::Unsubscribe, &site.id, token) {
            Some(id) => Recognised::Email {
                site: site.id.clone(),
                email_id: uuid::Uuid::from_bytes(id),
            },
            None => Recognised::Forged,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_one_email_and_cannot_be_forged() {
        let text = format!(
            "[secrets]\ntoken_keys = [\"{}\"]\n\n[[site]]\nid = \"acme\"\nname = \"Acme\"\napi_tokens = [\"acme-token-0123456789\"]\nsender = \"support@acme.example\"\nreply_domain = \"reply.acme.example\"\n",
            "k".repeat(40)
        );
        let config = crate::config::parse(&text, "t.toml", std::path::Path::new(".")).unwrap();
        let keys = TokenKeys::new(vec![b"k".repeat(40)]);
        let id = uuid::Uuid::now_v7();
        let a = address(&config.sites[0], &token(&config.sites[0], &keys, &id));
        assert!(a.split('@').next().unwrap().len() <= 64, "{a}");
        assert_eq!(
            recognise(&config, &keys, &format!("<{}>", a.to_uppercase())),
            Some(Recognised::Email {
                site: "acme".into(),
                email_id: id
            })
        );
        let other = TokenKeys::new(vec![b"x".repeat(40)]);
        assert_eq!(recognise(&config, &other, &a), Some(Recognised::Forged));
        assert_eq!(
            recognise(&config, &keys, "reply+abc@reply.acme.example"),
            None
        );
        assert_eq!(
            recognise(&config, &keys, "unsub+abc@elsewhere.example"),
            None
        );
    }
}
