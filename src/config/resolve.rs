//! Turning the raw file into a [`Config`]: defaults filled in, every problem reported.

use super::defaults as D;
use super::locate::{key, Seg};
use super::model::*;
use super::raw;
use super::secrets::read_secret;
use super::site::{dev_site, site_settings};
use chrono::TimeDelta;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Turns the raw file into a [`Config`], reporting every problem through `err`.
pub(super) fn resolve(
    raw: raw::Config,
    empty_file: bool,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Config {
    let api = resolve_api(raw.api, err);
    let metrics_listen = resolve_metrics(raw.metrics, err);
    let retention = resolve_retention(raw.retention, err);
    let database = resolve_database(raw.database, base, err);
    let delivery = resolve_delivery(raw.delivery, base, err);
    let token_keys = resolve_token_keys(raw.secrets, base, err);
    let sites = resolve_sites(&raw.sites, &raw.defaults, empty_file, base, err);
    let (inbound, listener, imap) = resolve_inbound(raw.inbound.unwrap_or_default(), base, err);
    let extra_roots = resolve_tls(raw.tls, base, err);
    Config {
        source: None,
        api,
        metrics_listen,
        retention,
        database,
        delivery,
        token_keys,
        sites,
        inbound,
        listener,
        imap,
        extra_roots,
    }
}

/// `[tls]`: the `ca_file` read now, so a bad one is a config error with its line.
fn resolve_tls(
    raw: Option<raw::Tls>,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let Some(path) = raw.and_then(|t| t.ca_file) else {
        return Vec::new();
    };
    crate::trust::read_ca_file(&base.join(path)).unwrap_or_else(|e| {
        err(&[key("tls"), key("ca_file")], e);
        Vec::new()
    })
}

/// `[retention]`: each key a duration or `"off"`.
fn resolve_retention(
    raw: Option<raw::Retention>,
    err: &mut dyn FnMut(&[Seg], String),
) -> RetentionConfig {
    let r = raw.unwrap_or_default();
    let mut period = |name: &'static str, value: Option<String>, default: Option<Duration>| {
        let Some(text) = value else { return default };
        if text.trim().eq_ignore_ascii_case("off") {
            return None;
        }
        match humantime::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => {
                err(
                    &[key("retention"), key(name)],
                    format!("`{text}` is neither a duration such as \"30d\" nor \"off\""),
                );
                default
            }
        }
    };
    RetentionConfig {
        email_bodies: period("email_bodies", r.email_bodies, D::RETENTION_EMAIL_BODIES),
        conversations: period("conversations", r.conversations, D::RETENTION_CONVERSATIONS),
    }
}

/// A `listen` key: the address given, else `default`; one that does not parse is an error at
/// `at`, and the default stands in so the other checks go on.
fn listen_address(
    given: Option<String>,
    default: &str,
    at: &[Seg],
    err: &mut dyn FnMut(&[Seg], String),
) -> SocketAddr {
    let text = given.unwrap_or_else(|| default.into());
    text.parse().unwrap_or_else(|_| {
        err(at, format!("`{text}` is not an address such as {default}"));
        default.parse().expect("a valid default")
    })
}

/// `[metrics]`.
fn resolve_metrics(raw: Option<raw::Metrics>, err: &mut dyn FnMut(&[Seg], String)) -> SocketAddr {
    let given = raw.and_then(|m| m.listen);
    listen_address(
        given,
        D::METRICS_LISTEN,
        &[key("metrics"), key("listen")],
        err,
    )
}

/// `[api]`.
fn resolve_api(raw: Option<raw::Api>, err: &mut dyn FnMut(&[Seg], String)) -> ApiConfig {
    let api = raw.unwrap_or_default();
    let listen = listen_address(api.listen, D::API_LISTEN, &[key("api"), key("listen")], err);
    let public_url = api.public_url.map(|u| u.trim_end_matches('/').to_string());
    let max_connections = api.max_connections.unwrap_or(D::API_MAX_CONNECTIONS).max(1);
    let idle_timeout = api.idle_timeout.unwrap_or(D::API_IDLE_TIMEOUT);
    let request_timeout = api.request_timeout.unwrap_or(D::API_REQUEST_TIMEOUT);
    if public_url
        .as_ref()
        .is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        err(
            &[key("api"), key("public_url")],
            "must start with http:// or https://".into(),
        );
    }

    ApiConfig {
        listen,
        public_url,
        max_connections,
        idle_timeout,
        request_timeout,
    }
}

/// A SQLite URL whose relative path is taken from `base` (the config file's folder), as every
/// other path in the file is; other URLs as they are.
pub(super) fn anchored_sqlite(url: &str, base: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_string();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (rest, String::new()),
    };
    if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() {
        return url.to_string();
    }
    format!("sqlite://{}{query}", base.join(path).display())
}

/// `[database]`.
fn resolve_database(
    raw: Option<raw::Database>,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> DatabaseConfig {
    let url = raw
        .and_then(|d| d.url)
        .unwrap_or_else(|| D::DATABASE_URL.into());
    let database = DatabaseConfig {
        url: anchored_sqlite(&url, base),
    };
    if !["sqlite:", "postgres:", "postgresql:"]
        .iter()
        .any(|p| database.url.starts_with(p))
    {
        err(
            &[key("database"), key("url")],
            "expected sqlite://PATH or postgres://USER@HOST/DATABASE".into(),
        );
    }

    database
}

/// `[delivery]` and `[delivery.smtp]`.
fn resolve_delivery(
    raw: Option<raw::Delivery>,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> DeliveryConfig {
    let d = raw.unwrap_or_default();
    let transport_name = d
        .transport
        .clone()
        .unwrap_or_else(|| if d.smtp.is_some() { "smtp" } else { "maildir" }.into());
    let transport = match transport_name.as_str() {
        "maildir" => Transport::Maildir(base.join(d.maildir.unwrap_or_else(|| D::MAILDIR.into()))),
        "smtp" => {
            let s = d.smtp.unwrap_or_default();
            let p = |k: &str| [key("delivery"), key("smtp"), key(k)];
            let host = s.host.unwrap_or_else(|| {
                err(&p("host"), "is required when the transport is smtp".into());
                String::new()
            });
            let security = s.security.unwrap_or(D::SMTP_SECURITY);
            let password = s.password.as_ref().and_then(|sec| {
                read_secret(sec, base)
                    .map_err(|e| err(&p("password"), e))
                    .ok()
            });
            if password.is_some() != s.username.is_some() {
                err(&p("username"), "username and password go together".into());
            }
            let helo_ok = |n: &str| {
                !n.is_empty()
                    && n.len() <= 253
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
            };
            if let Some(name) = s.helo_name.as_deref().filter(|n| !helo_ok(n)) {
                err(
                    &p("helo_name"),
                    format!("`{name}` is not a host name such as mail.example.com"),
                );
            }
            Transport::Smtp(SmtpConfig {
                host,
                port: s.port.unwrap_or(D::smtp_port(security)),
                security,
                username: s.username,
                password,
                pool_size: s.pool_size.unwrap_or(D::SMTP_POOL_SIZE).max(1),
                timeout: s.timeout.unwrap_or(D::SMTP_TIMEOUT),
                helo_name: s.helo_name,
            })
        }
        other => {
            err(
                &[key("delivery"), key("transport")],
                format!("`{other}` is not a transport: use `maildir` or `smtp`"),
            );
            Transport::Maildir(PathBuf::from(D::MAILDIR))
        }
    };
    let positive = |v: Option<Duration>,
                    default: Duration,
                    name: &str,
                    err: &mut dyn FnMut(&[Seg], String)| {
        let v = v.unwrap_or(default);
        if v.is_zero() {
            err(
                &[key("delivery"), key(name)],
                "must be longer than zero".into(),
            );
        }
        delta(v)
    };

    DeliveryConfig {
        transport,
        retry_initial: positive(d.retry_initial, D::RETRY_INITIAL, "retry_initial", err),
        retry_max: positive(d.retry_max, D::RETRY_MAX, "retry_max", err),
        give_up_after: positive(d.give_up_after, D::GIVE_UP_AFTER, "give_up_after", err),
        soft_bounce_limit: d.soft_bounce_limit.unwrap_or(D::SOFT_BOUNCE_LIMIT),
        soft_bounce_span: positive(
            d.soft_bounce_span,
            D::SOFT_BOUNCE_SPAN,
            "soft_bounce_span",
            err,
        ),
        lease: positive(d.lease, D::LEASE, "lease", err),
    }
}

/// `[secrets] token_keys`.
fn resolve_token_keys(
    raw: Option<raw::Secrets>,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Vec<Vec<u8>> {
    let mut token_keys = Vec::new();
    if let Some(keys) = raw.and_then(|s| s.token_keys) {
        for (i, k) in keys.iter().enumerate() {
            let path = [key("secrets"), key("token_keys"), Seg::Index(i)];
            match read_secret(k, base) {
                Ok(v) if v.len() >= 32 => token_keys.push(v.into_bytes()),
                Ok(_) => err(&path, "a token key needs at least 32 characters".into()),
                Err(e) => err(&path, e),
            }
        }
    }

    token_keys
}

/// Every `[[site]]` over the top-level defaults; with no file at all, the development site.
fn resolve_sites(
    raw: &[raw::Site],
    defaults: &raw::SiteSettings,
    empty_file: bool,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Vec<Site> {
    let mut sites = Vec::new();
    if raw.is_empty() {
        if empty_file {
            sites.push(dev_site(defaults, base, err));
        } else {
            err(&[key("site")], "at least one [[site]] is required".into());
        }
    }
    for (i, s) in raw.iter().enumerate() {
        let at = |k: &str| vec![key("site"), Seg::Index(i), key(k)];
        let id = s.id.clone().unwrap_or_else(|| {
            err(&[key("site"), Seg::Index(i)], "`id` is required".into());
            format!("site{i}")
        });
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            err(&at("id"), "use letters, digits, '-', '_' or '.'".into());
        }
        if sites.iter().any(|other: &Site| other.id == id) {
            err(&at("id"), format!("site `{id}` is defined twice"));
        }
        let mut api_tokens = Vec::new();
        for (j, t) in s.api_tokens.iter().enumerate() {
            let mut p = at("api_tokens");
            p.push(Seg::Index(j));
            match read_secret(t, base) {
                Ok(v) if v.len() >= 16 => {
                    if sites.iter().any(|o: &Site| o.api_tokens.contains(&v)) {
                        err(&p, "this token is already used by another site".into());
                    }
                    api_tokens.push(v);
                }
                Ok(_) => err(&p, "an API token needs at least 16 characters".into()),
                Err(e) => err(&p, e),
            }
        }
        if api_tokens.is_empty() && s.api_tokens.is_empty() {
            err(
                &at("api_tokens"),
                "a site needs at least one API token".into(),
            );
        }
        let name = s.name.clone().unwrap_or_else(|| id.clone());
        let site = site_settings(
            id,
            name,
            api_tokens,
            &s.settings,
            defaults,
            base,
            &mut |k, m| err(&at(k), m),
        );
        let chatwoot = s.chatwoot.as_ref().map(|c| {
            super::chatwoot::resolve(c, base, &mut |k, m| {
                err(&[key("site"), Seg::Index(i), key("chatwoot"), key(k)], m)
            })
        });
        sites.push(Site { chatwoot, ..site });
    }

    sites
}

/// The `[inbound]` section: limits, the listener, the IMAP mailbox.
pub(super) fn resolve_inbound(
    raw: raw::Inbound,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> (InboundLimits, Option<ListenerConfig>, Option<ImapConfig>) {
    let limits = InboundLimits {
        max_message_size: raw.max_message_size.unwrap_or(D::MAX_MESSAGE_SIZE),
        max_parts: raw.max_parts.unwrap_or(D::MAX_PARTS),
        max_attachment_size: raw.max_attachment_size.unwrap_or(D::MAX_ATTACHMENT_SIZE),
    };
    let listener = raw.smtp.map(|l| {
        let at = |k: &str| [key("inbound"), key("smtp"), key(k)];
        let listen = listen_address(l.listen, D::LISTENER_LISTEN, &at("listen"), err);
        let lmtp = match l.protocol.as_deref().unwrap_or("smtp") {
            "smtp" => false,
            "lmtp" => true,
            other => {
                err(
                    &at("protocol"),
                    format!("`{other}` is not `smtp` or `lmtp`"),
                );
                false
            }
        };
        let tls = match (l.tls_certificate, l.tls_key) {
            (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
            (None, None) => None,
            _ => {
                err(
                    &at("tls_key"),
                    "tls_certificate and tls_key go together".into(),
                );
                None
            }
        };
        ListenerConfig {
            listen,
            lmtp,
            hostname: l.hostname.unwrap_or_else(|| D::LISTENER_HOSTNAME.into()),
            max_connections: l
                .max_connections
                .unwrap_or(D::LISTENER_MAX_CONNECTIONS)
                .max(1),
            idle_timeout: l.idle_timeout.unwrap_or(D::LISTENER_IDLE_TIMEOUT),
            session_timeout: l.session_timeout.unwrap_or(D::LISTENER_SESSION_TIMEOUT),
            tls,
        }
    });
    let imap = raw.imap.map(|i| {
        let at = |k: &str| [key("inbound"), key("imap"), key(k)];
        let security = i.security.unwrap_or(D::IMAP_SECURITY);
        let password = i
            .password
            .as_ref()
            .and_then(|p| {
                read_secret(p, base)
                    .map_err(|e| err(&at("password"), e))
                    .ok()
            })
            .unwrap_or_default();
        ImapConfig {
            host: i.host.unwrap_or_else(|| {
                err(&at("host"), "is required".into());
                String::new()
            }),
            port: i.port.unwrap_or(D::imap_port(security)),
            security,
            username: i.username.unwrap_or_else(|| {
                err(&at("username"), "is required".into());
                String::new()
            }),
            password,
            mailbox: i.mailbox.unwrap_or_else(|| D::IMAP_MAILBOX.into()),
            processed_folder: i
                .processed_folder
                .unwrap_or_else(|| D::IMAP_PROCESSED_FOLDER.into()),
            rejected_folder: i
                .rejected_folder
                .unwrap_or_else(|| D::IMAP_REJECTED_FOLDER.into()),
            poll_interval: i.poll_interval.unwrap_or(D::IMAP_POLL_INTERVAL),
            idle: i.idle.unwrap_or(D::IMAP_IDLE),
        }
    });
    (limits, listener, imap)
}
