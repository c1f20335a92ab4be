//! The file as written: every key optional, so that defaults can be told apart from values.

use super::SmtpSecurity;
use crate::domain::Mode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Secrets>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<Inbound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Site defaults, written at the top level.
    #[serde(flatten)]
    pub defaults: SiteSettings,
    #[serde(default, rename = "site", skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<Site>,
}

/// `[retention]`: how long what is kept is kept; each a duration or `"off"`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Retention {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_bodies: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations: Option<String>,
}

/// `[metrics]`: the Prometheus endpoint's own listener.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Metrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Api {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
}

/// `[tls]`: what the daemon's TLS clients trust besides the system's roots.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Tls {
    /// PEM certificates of an internal CA (relative to the config file's folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Database {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Delivery {
    /// `maildir` or `smtp`; defaults to `smtp` when `[delivery.smtp]` is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maildir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_initial: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_max: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub give_up_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_bounce_limit: Option<u32>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub soft_bounce_span: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Smtp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<SmtpSecurity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helo_name: Option<String>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Inbound {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parts: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attachment_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Listener>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap: Option<Imap>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Listener {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `smtp` or `lmtp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Imap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<SmtpSecurity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processed_folder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_folder: Option<String>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_keys: Option<Vec<Secret>>,
}

/// A secret given inline, or read from a file, an environment variable or a systemd
/// credential, so that it need not sit in the config file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Secret {
    Literal(String),
    File { file: PathBuf },
    Env { env: String },
    Credential { credential: String },
}

/// The settings a site may override; at the top level they are the defaults.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SiteSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub after_departure: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub after_idle: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_quiet: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub reach_window: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unanswered: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_messages: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_conversation: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript_on_close: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_agent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_url: Option<String>,
    /// The site's colour (`#rrggbb`) in its emails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_color: Option<String>,
    /// The site's logo at the head of its emails (an https or http image URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_policy: Option<super::SenderPolicy>,
    /// The authserv-ids of the operator's MTAs, whose `Authentication-Results` are believed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_authserv_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The pages' origins (`https://shop.example`) whose `widget.js` may report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// A folder with the site's own `email.html` and/or `email.txt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<PathBuf>,
    /// Language → string key → replacement text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strings:
        Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Site {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_tokens: Vec<Secret>,
    /// The site's chats come from Chatwoot (`[site.chatwoot]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chatwoot: Option<Chatwoot>,
    #[serde(flatten)]
    pub settings: SiteSettings,
}

/// `[site.chatwoot]`: the Chatwoot account whose webhooks come to
/// `/v1/bridges/chatwoot/{site}`, and whose API takes the visitors' email answers.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Chatwoot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_access_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}
