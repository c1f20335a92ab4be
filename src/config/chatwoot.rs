//! `[site.chatwoot]`: a Chatwoot account bridged to a site, checked.

use super::model::Chatwoot;
use super::raw;
use super::secrets::read_secret;
use std::path::Path;

/// The section resolved; every fault reported through `err` by its key.
pub(super) fn resolve(
    raw: &raw::Chatwoot,
    base: &Path,
    err: &mut dyn FnMut(&str, String),
) -> Chatwoot {
    let url = raw.url.clone().unwrap_or_default();
    if url.is_empty() {
        err("url", "the Chatwoot installation's URL is required".into());
    } else if !url.starts_with("http://") && !url.starts_with("https://") {
        err("url", "must start with http:// or https://".into());
    }
    let account_id = raw.account_id.unwrap_or_else(|| {
        err("account_id", "the Chatwoot account's id is required".into());
        0
    });
    let mut secret = |key: &str, value: &Option<raw::Secret>, what: &str| match value {
        None => {
            err(key, format!("{what} is required"));
            String::new()
        }
        Some(s) => match read_secret(s, base) {
            Ok(v) if v.len() >= 16 => v,
            Ok(_) => {
                err(key, "needs at least 16 characters".into());
                String::new()
            }
            Err(e) => {
                err(key, e);
                String::new()
            }
        },
    };
    let api_access_token = secret(
        "api_access_token",
        &raw.api_access_token,
        "an access token to post the visitors' answers with",
    );
    // Without it, anyone who finds the URL could put words in an agent's mouth and have
    // them emailed: the bridge takes no unsigned webhook.
    let webhook_secret = secret(
        "webhook_secret",
        &raw.webhook_secret,
        "the webhook's secret, to check each webhook with,",
    );
    Chatwoot {
        url: url.trim_end_matches('/').to_string(),
        account_id,
        api_access_token,
        inbox_ids: raw.inbox_ids.clone().unwrap_or_default(),
        webhook_secret,
    }
}
