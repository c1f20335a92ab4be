//! Per-email bounce addresses (VERP): each email's envelope sender names that email, under a
//! MAC, so the delivery report that comes back to it is tied to the email by the envelope alone
//! — whatever the report's format, even one that quotes none of the email — and a report
//! cannot be forged for an email the forger never saw.
//!
//! A site whose `bounce_address` is in its reply domain (which the MTA already routes to
//! replyrelay) sends each email from `<local>+<token>@<reply domain>`: `bounce+k7…@reply.acme.example`
//! for `bounce_address = "bounce@reply.acme.example"`. The token is a [`Purpose::Bounce`] token
//! (see [`crate::token`]) over a number drawn from the email's id. A bounce address elsewhere
//! (a mailbox the business reads) is used as it is.

use crate::config::{Config, Site};
use crate::token::{Purpose, TokenKeys};

/// The envelope sender for an email of `site` whose id yields `number` (see [`number_of`]):
/// its VERP address where the site's bounce address is in the reply domain, else the bounce
/// address or the sender as configured.
pub fn mail_from(site: &Site, keys: &TokenKeys, number: i64) -> String {
    let configured = site
        .bounce_address
        .as_ref()
        .unwrap_or(&site.sender)
        .as_str();
    match verp_parts(site) {
        Some((local, domain)) => {
            let token = keys.sign(Purpose::Bounce, &site.id, number);
            format!("{local}+{token}@{domain}")
        }
        None => configured.to_string(),
    }
}

/// The number an email's VERP token carries: 63 bits of its id's random part, so two emails
/// made in the same millisecond still differ.
pub fn number_of(email_id: &uuid::Uuid) -> i64 {
    let bytes = email_id.as_bytes();
    let low: [u8; 8] = bytes[8..].try_into().expect("16 bytes");
    (u64::from_be_bytes(low) >> 1) as i64
}

/// What an envelope recipient is, as a bounce address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BounceAddress {
    /// One email's VERP address, its MAC verified: the email is the one sent from it.
    Email {
        site: String,
        /// The address as it is stored as the email's envelope sender (lowercased).
        address: String,
    },
    /// A site's shared bounce address: reports to it must name the email themselves.
    Shared,
    /// Shaped as a VERP address of a site, but its MAC does not verify.
    Forged,
}

/// Whether `rcpt` is one of our bounce addresses, and which. Run for every `RCPT TO`: the
/// sites' addresses are compared in place, without building strings for each.
pub fn recognise(config: &Config, keys: &TokenKeys, rcpt: &str) -> Option<BounceAddress> {
    let rcpt = rcpt.trim().trim_matches(['<', '>']).to_lowercase();
    let (rcpt_local, rcpt_domain) = rcpt.rsplit_once('@')?;
    for site in &config.sites {
        if let Some(shared) = &site.bounce_address {
            if shared.as_str().eq_ignore_ascii_case(&rcpt) {
                return Some(BounceAddress::Shared);
            }
        }
        let Some((local, domain)) = verp_parts_as_written(site) else {
            continue;
        };
        if !rcpt_domain.eq_ignore_ascii_case(domain) {
            continue;
        }
        let Some(token) = (rcpt_local.get(..local.len()))
            .filter(|l| l.eq_ignore_ascii_case(local))
            .and_then(|_| rcpt_local[local.len()..].strip_prefix('+'))
        else {
            continue;
        };
        return Some(match keys.verify(Purpose::Bounce, &site.id, token) {
            Some(_) => BounceAddress::Email {
                site: site.id.clone(),
                address: rcpt.clone(),
            },
            None => BounceAddress::Forged,
        });
    }
    None
}

/// The local part and domain of a site's VERP addresses, lowercased: its bounce address's
/// when that is in the reply domain.
fn verp_parts(site: &Site) -> Option<(String, String)> {
    let (local, domain) = verp_parts_as_written(site)?;
    Some((local.to_lowercase(), domain.to_lowercase()))
}

/// [`verp_parts`] as the config wrote them, for comparing without case.
fn verp_parts_as_written(site: &Site) -> Option<(&str, &str)> {
    let (local, domain) = site.bounce_address.as_ref()?.as_str().rsplit_once('@')?;
    (domain.eq_ignore_ascii_case(&site.reply_domain) && !local.contains('+'))
        .then_some((local, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bounce: &str) -> Config {
        let text = format!(
            "[secrets]\ntoken_keys = [\"{key}\"]\n\n[[site]]\nid = \"acme\"\nname = \"Acme\"\napi_tokens = [\"acme-token-0123456789\"]\nsender = \"support@acme.example\"\nbounce_address = \"{bounce}\"\nreply_domain = \"reply.acme.example\"\n",
            key = "k".repeat(40),
        );
        crate::config::parse(&text, "test.toml", std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn each_email_has_its_own_address_and_only_ours_verify() {
        let keys = TokenKeys::new(vec![b"k".repeat(32)]);
        let config = config("bounce@reply.acme.example");
        let site = &config.sites[0];
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let from_a = mail_from(site, &keys, number_of(&a));
        assert_ne!(from_a, mail_from(site, &keys, number_of(&b)));
        assert!(from_a.starts_with("bounce+") && from_a.ends_with("@reply.acme.example"));
        let found = recognise(&config, &keys, &format!("<{}>", from_a.to_uppercase()));
        assert_eq!(
            found,
            Some(BounceAddress::Email {
                site: "acme".into(),
                address: from_a.clone()
            })
        );
        let other = TokenKeys::new(vec![b"x".repeat(32)]);
        assert_eq!(
            recognise(&config, &other, &from_a),
            Some(BounceAddress::Forged)
        );
        assert_eq!(
            recognise(&config, &keys, "bounce@reply.acme.example"),
            Some(BounceAddress::Shared)
        );
        assert_eq!(recognise(&config, &keys, "ana@visitor.example"), None);
    }

    #[test]
    fn a_bounce_address_elsewhere_is_used_as_it_is() {
        let keys = TokenKeys::new(vec![b"k".repeat(32)]);
        let config = config("bounces@acme.example");
        assert_eq!(
            mail_from(&config.sites[0], &keys, 7),
            "bounces@acme.example"
        );
    }
}
