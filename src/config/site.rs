//! A site's settings: its own over the top-level defaults over the built-in ones.

use super::defaults as D;
use super::locate::{key, Seg};
use super::model::*;
use super::raw;
use super::resolve::delta;
use super::secrets::read_secret;
use super::DEV_TOKEN;
use crate::brand::{Brand, Colour};
use crate::domain::{Locale, VisitorEmail};
use crate::triggers::TriggerSettings;
use std::path::Path;
use std::time::Duration;

/// The development site of a config-less run.
pub(super) fn dev_site(
    defaults: &raw::SiteSettings,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Site {
    site_settings(
        D::DEV_SITE_ID.into(),
        D::DEV_SITE_NAME.into(),
        vec![DEV_TOKEN.into()],
        &raw::SiteSettings {
            batch_quiet: Some(D::DEV_BATCH_QUIET),
            ..raw::SiteSettings::default()
        },
        defaults,
        base,
        &mut |k, m| err(&[key(k)], m),
    )
}

/// Merges a site's own settings over the top-level defaults over the built-in ones.
pub(super) fn site_settings(
    id: String,
    name: String,
    api_tokens: Vec<String>,
    own: &raw::SiteSettings,
    defaults: &raw::SiteSettings,
    base: &Path,
    err: &mut dyn FnMut(&str, String),
) -> Site {
    macro_rules! pick {
        ($field:ident, $default:expr) => {
            own.$field
                .clone()
                .or_else(|| defaults.$field.clone())
                .unwrap_or($default)
        };
    }
    let dur = |v: Duration, k: &str, err: &mut dyn FnMut(&str, String)| {
        if v.is_zero() && k != "batch_quiet" {
            err(k, "must be longer than zero".into());
        }
        delta(v)
    };
    let sender_text = pick!(sender, D::SENDER.to_string());
    let sender = VisitorEmail::parse(&sender_text).unwrap_or_else(|e| {
        err("sender", format!("`{sender_text}` {e}"));
        VisitorEmail::parse("invalid@example.com").expect("valid")
    });
    let bounce_address = bounce_address(own, defaults, err);
    let reply_domain = pick!(reply_domain, D::REPLY_DOMAIN.to_string()).to_lowercase();
    if VisitorEmail::parse(&format!("x@{reply_domain}")).is_err() {
        err(
            "reply_domain",
            format!("`{reply_domain}` is not a domain name"),
        );
    }
    let locale_text = pick!(locale, D::LOCALE.to_string());
    let locale = Locale::parse(&locale_text).unwrap_or_else(|e| {
        err("locale", e);
        Locale::parse("en").expect("valid")
    });
    let (webhook_url, webhook_secret) = webhook(own, defaults, base, err);
    let templates = own_templates(
        own.templates.as_ref().or(defaults.templates.as_ref()),
        base,
        err,
    );
    let strings = strings([&defaults.strings, &own.strings], err);
    let (brand, logo_url) = look(own, defaults, err);
    let max_unanswered = pick!(max_unanswered, D::MAX_UNANSWERED);
    if max_unanswered == 0 {
        err(
            "max_unanswered",
            "must be at least 1 (use mode = \"off\" to send nothing)".into(),
        );
    }
    Site {
        id,
        name,
        api_tokens,
        sender,
        bounce_address,
        reply_domain,
        from_agent: pick!(from_agent, D::FROM_AGENT),
        chat_url: own.chat_url.clone().or_else(|| defaults.chat_url.clone()),
        brand,
        logo_url,
        webhook_url,
        webhook_secret,
        sender_policy: pick!(sender_policy, D::SENDER_POLICY),
        trusted_authserv_ids: pick!(trusted_authserv_ids, Vec::new()),
        templates,
        strings,
        locale,
        allowed_origins: origins(pick!(allowed_origins, Vec::new()), err),
        chatwoot: None,
        triggers: TriggerSettings {
            mode: pick!(mode, D::MODE),
            after_departure: dur(
                pick!(after_departure, D::AFTER_DEPARTURE),
                "after_departure",
                err,
            ),
            after_idle: dur(pick!(after_idle, D::AFTER_IDLE), "after_idle", err),
            batch_quiet: dur(pick!(batch_quiet, D::BATCH_QUIET), "batch_quiet", err),
            reach_window: dur(pick!(reach_window, D::REACH_WINDOW), "reach_window", err),
            max_unanswered,
        },
        content: ContentSettings {
            context_messages: pick!(context_messages, D::CONTEXT_MESSAGES),
            short_conversation: pick!(short_conversation, D::SHORT_CONVERSATION),
            transcript_on_close: pick!(transcript_on_close, D::TRANSCRIPT_ON_CLOSE),
        },
    }
}

/// The envelope sender of the site's emails, where one is set.
fn bounce_address(
    own: &raw::SiteSettings,
    defaults: &raw::SiteSettings,
    err: &mut dyn FnMut(&str, String),
) -> Option<VisitorEmail> {
    let address = own
        .bounce_address
        .as_ref()
        .or(defaults.bounce_address.as_ref())?;
    VisitorEmail::parse(address)
        .map_err(|e| err("bounce_address", format!("`{address}` {e}")))
        .ok()
}

/// The site's look in its emails: its colour and its logo.
fn look(
    own: &raw::SiteSettings,
    defaults: &raw::SiteSettings,
    err: &mut dyn FnMut(&str, String),
) -> (Brand, Option<String>) {
    let colour = own.brand_color.as_ref().or(defaults.brand_color.as_ref());
    let logo = own.logo_url.as_ref().or(defaults.logo_url.as_ref());
    (brand(colour, err), logo_url(logo, err))
}

/// The site's colour, refused where text in it would not be legible.
fn brand(text: Option<&String>, err: &mut dyn FnMut(&str, String)) -> Brand {
    let Some(text) = text else {
        return Brand::default();
    };
    Colour::parse(text)
        .and_then(Brand::new)
        .unwrap_or_else(|e| {
            err("brand_color", e);
            Brand::default()
        })
}

/// The logo's address: an absolute http(s) URL a mail client can fetch, without characters
/// that would end the attribute it is written into.
fn logo_url(url: Option<&String>, err: &mut dyn FnMut(&str, String)) -> Option<String> {
    let url = url?;
    let scheme = url.starts_with("https://") || url.starts_with("http://");
    let host = url
        .split("://")
        .nth(1)
        .is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'));
    if scheme && host && clean {
        Some(url.clone())
    } else {
        err(
            "logo_url",
            format!("`{url}` is not an http:// or https:// image address"),
        );
        None
    }
}

/// The pages' origins, each as a browser writes it in `Origin`: scheme, host, and a port only
/// where it is not the scheme's own; no path, no trailing slash.
fn origins(list: Vec<String>, err: &mut dyn FnMut(&str, String)) -> Vec<String> {
    list.into_iter()
        .filter(|o| match origin_problem(o) {
            None => true,
            Some(problem) => {
                err("allowed_origins", format!("`{o}` {problem}"));
                false
            }
        })
        .collect()
}

/// What keeps `o` from being an origin as browsers send it.
pub(crate) fn origin_problem(o: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = o.split_once("://") else {
        return Some("is not an origin such as https://shop.example");
    };
    if scheme != "http" && scheme != "https" {
        return Some("must start with http:// or https://");
    }
    // An IPv6 host is bracketed, and its colons are not the port's.
    let after_host = rest.find(']').map_or(0, |i| i + 1);
    let (host, port) = match rest[after_host..].rfind(':') {
        Some(i) => (&rest[..after_host + i], Some(&rest[after_host + i + 1..])),
        None => (rest, None),
    };
    if host.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || host
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return Some(
            "must be scheme://host[:port] in lower case, with no path (as browsers send Origin)",
        );
    }
    match port {
        Some(p) if p.parse::<u16>().is_err() => Some("has a port that is not a number"),
        Some(p) if (scheme == "http" && p == "80") || (scheme == "https" && p == "443") => {
            Some("names its scheme's own port, which browsers leave out of Origin")
        }
        _ => None,
    }
}

/// A site's own `email.html` / `email.txt` from its `templates` folder, each compiled now so a
/// broken one is refused at load.
fn own_templates(
    dir: Option<&std::path::PathBuf>,
    base: &Path,
    err: &mut dyn FnMut(&str, String),
) -> OwnTemplates {
    let mut templates = OwnTemplates::default();
    if let Some(dir) = dir {
        let dir = base.join(dir);
        if !dir.is_dir() {
            err("templates", format!("{} is not a folder", dir.display()));
        }
        for (name, slot) in [
            ("email.html", &mut templates.html),
            ("email.txt", &mut templates.text),
        ] {
            let path = dir.join(name);
            if let Ok(source) = std::fs::read_to_string(&path) {
                match crate::own_templates::check(&source, name) {
                    Ok(()) => *slot = Some(source),
                    Err(e) => err("templates", format!("{}: {e}", path.display())),
                }
            }
        }
    }
    templates
}

/// The string overrides, the site's over the top level's: language → key → text. Every
/// language and key must be one replyrelay has.
fn strings(
    layers: [&Option<Strings>; 2],
    err: &mut dyn FnMut(&str, String),
) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
    let mut strings = std::collections::HashMap::new();
    for layer in layers.into_iter().flatten() {
        for (lang, overrides) in layer {
            if !crate::i18n::languages().any(|l| l == lang) {
                err(
                    "strings",
                    format!(
                        "`{lang}` is not a language replyrelay has: use one of {}",
                        crate::i18n::languages().collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            }
            for (k, v) in overrides {
                if !crate::i18n::is_key(k) {
                    err(
                        "strings",
                        format!("`{k}` is not a string key (see templates/i18n/en.toml)"),
                    );
                }
                strings
                    .entry(lang.clone())
                    .or_insert_with(std::collections::HashMap::new)
                    .insert(k.clone(), v.clone());
            }
        }
    }
    strings
}

/// As written in the file: language → string key → replacement.
type Strings = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// The site's links (each must be http or https) and, with a webhook URL, the secret that
/// signs its webhooks (required, and long enough).
fn webhook(
    own: &raw::SiteSettings,
    defaults: &raw::SiteSettings,
    base: &Path,
    err: &mut dyn FnMut(&str, String),
) -> (Option<String>, Option<String>) {
    for (k, v) in [
        ("chat_url", &own.chat_url),
        ("webhook_url", &own.webhook_url),
    ] {
        if let Some(u) = v.as_ref().or(if k == "chat_url" {
            defaults.chat_url.as_ref()
        } else {
            defaults.webhook_url.as_ref()
        }) {
            if !u.starts_with("http://") && !u.starts_with("https://") {
                err(k, "must start with http:// or https://".into());
            }
        }
    }
    let webhook_url = own
        .webhook_url
        .clone()
        .or_else(|| defaults.webhook_url.clone());
    let webhook_secret = own
        .webhook_secret
        .as_ref()
        .or(defaults.webhook_secret.as_ref())
        .and_then(|s| {
            read_secret(s, base)
                .map_err(|e| err("webhook_secret", e))
                .ok()
        });
    if webhook_url.is_some() && webhook_secret.as_ref().is_none_or(|s| s.len() < 16) {
        err(
            "webhook_secret",
            "a webhook_url needs a webhook_secret of at least 16 characters to sign with".into(),
        );
    }
    (webhook_url, webhook_secret)
}
