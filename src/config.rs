//! The one config file: parsing, defaults, and errors that name the file, line and key.
//!
//! Loading happens in two layers. [`raw`] mirrors the TOML exactly (every key optional) so that
//! serde can read it; [`load`] then resolves it into [`Config`], where every value is present,
//! checked and typed. Site settings are written once at the top level as defaults and may be
//! overridden in each `[[site]]`.
//!
//! A key that no struct takes is unknown and refused. serde's `deny_unknown_fields` would stop
//! at the first one, so instead the parsed config is written back out and compared with the file:
//! whatever the file has and the round trip lost is a key nobody reads.

use crate::domain::{Locale, Mode, VisitorEmail};
use crate::triggers::TriggerSettings;
use chrono::TimeDelta;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The resolved configuration: everything the daemon needs, with defaults filled in.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file this came from; `None` when running on built-in defaults.
    pub source: Option<PathBuf>,
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub delivery: DeliveryConfig,
    /// Keys for reply and unsubscribe tokens, newest first: the first signs, all verify (so keys
    /// can be rotated). Empty means "generate one and keep it in the database".
    pub token_keys: Vec<Vec<u8>>,
    pub sites: Vec<Site>,
    /// Limits on inbound mail.
    pub inbound: crate::inbound::Limits,
    /// The SMTP/LMTP listener for replies, if enabled.
    pub listener: Option<ListenerConfig>,
    /// The IMAP mailbox polled for replies, if enabled.
    pub imap: Option<ImapConfig>,
}

/// The SMTP/LMTP listener that the MTA routes `reply+…@` mail to.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    pub listen: SocketAddr,
    /// LMTP (one answer per recipient after DATA) rather than SMTP.
    pub lmtp: bool,
    /// The name in the greeting and EHLO answer.
    pub hostname: String,
    /// Connections served at once; more are answered 421 and closed.
    pub max_connections: usize,
    /// A client silent this long is disconnected.
    pub idle_timeout: Duration,
    /// A connection older than this is closed (`421`), however busy: a client that trickles
    /// bytes to stay under `idle_timeout` cannot hold its place for ever.
    pub session_timeout: Duration,
    /// PEM certificate chain and key for STARTTLS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// An IMAP mailbox to poll for replies.
#[derive(Clone, Debug)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: String,
    pub mailbox: String,
    /// Where handled mail is moved.
    pub processed_folder: String,
    /// Where refused mail is moved.
    pub rejected_folder: String,
    /// How often to look when IDLE is not available (or as a safety net with it).
    pub poll_interval: Duration,
    pub idle: bool,
}

/// What to do with a reply whose sender is not the visitor's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SenderPolicy {
    /// Refuse it.
    Strict,
    /// Keep it aside, marked, without posting it as the visitor's.
    #[default]
    Quarantine,
    /// Post it anyway.
    Accept,
}

impl SenderPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderPolicy::Strict => "strict",
            SenderPolicy::Quarantine => "quarantine",
            SenderPolicy::Accept => "accept",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The base URL visitors reach the API at, for unsubscribe links; `None` means the address
    /// the API is bound to (right for a machine's own tests, not for production).
    pub public_url: Option<String>,
    /// Connections served at once; more are answered `503` and closed at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, and may sit idle between
    /// requests: slow and idle clients are closed after this.
    pub idle_timeout: Duration,
    /// How long a request (reading its body included) may take before `408`.
    pub request_timeout: Duration,
}

impl ApiConfig {
    /// The public URL, or the configured listen address when none is given (right only for
    /// this machine: used by one-shot commands that bind nothing).
    pub fn public_url_or_listen(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created if missing) or `postgres://user@host/database`.
    pub url: String,
}

#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub transport: Transport,
    /// First retry delay after a temporary failure; it doubles with each attempt.
    pub retry_initial: TimeDelta,
    /// The longest delay between two attempts.
    pub retry_max: TimeDelta,
    /// A temporary failure becomes permanent once the email is this old.
    pub give_up_after: TimeDelta,
    /// How long a worker owns a claimed conversation or email before another may take it.
    pub lease: TimeDelta,
}

#[derive(Clone, Debug)]
pub enum Transport {
    /// Each email written as a file into a maildir (`tmp/`, `new/`, `cur/`): for development.
    Maildir(PathBuf),
    Smtp(SmtpConfig),
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connections kept open to the relay.
    pub pool_size: u32,
    pub timeout: Duration,
    /// The name said in `EHLO`; relays that check it want the host's public name, which the
    /// machine's own host name often is not. `None`: the machine's host name.
    pub helo_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain text; only for a relay on the same host.
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// One website (tenant) and its settings.
#[derive(Clone, Debug)]
pub struct Site {
    /// Stable identifier, used in storage; never shown to visitors.
    pub id: String,
    /// The name visitors know, used in From and subjects.
    pub name: String,
    /// Bearer tokens that act for this site on the API.
    pub api_tokens: Vec<String>,
    /// The address emails come from.
    pub sender: VisitorEmail,
    /// The envelope sender (Return-Path) emails use, so bounces come back to replyrelay: best an
    /// address in the reply domain, which the MTA already routes here. `None`: the sender.
    pub bounce_address: Option<VisitorEmail>,
    /// Domain of the `reply+token@` addresses; the MTA routes it back to replyrelay.
    pub reply_domain: String,
    /// Whether From reads "{agent} from {site}" (true) or just "{site}".
    pub from_agent: bool,
    /// Link back into the chat; `{conversation}` is replaced by the conversation id.
    pub chat_url: Option<String>,
    /// Where webhooks go.
    pub webhook_url: Option<String>,
    /// The key webhooks are signed with (required with `webhook_url`).
    pub webhook_secret: Option<String>,
    /// What to do with a reply from an address other than the visitor's.
    pub sender_policy: SenderPolicy,
    /// The site's own email templates, replacing the built-in ones.
    pub templates: OwnTemplates,
    /// Per-language replacements for the built-in strings (`[site.strings.es] subject = "…"`).
    pub strings: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
    /// Language of emails when the visitor's is unknown.
    pub locale: Locale,
    pub triggers: TriggerSettings,
    pub content: ContentSettings,
}

/// A site's own `email.html` / `email.txt` (Jinja syntax), read from its `templates` folder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnTemplates {
    pub html: Option<String>,
    pub text: Option<String>,
}

/// What goes into an email, per site.
#[derive(Clone, Debug, PartialEq)]
pub struct ContentSettings {
    /// Earlier messages shown before the unread replies.
    pub context_messages: usize,
    /// A conversation this short is sent whole.
    pub short_conversation: usize,
    /// Also send the full transcript when the conversation is closed.
    pub transcript_on_close: bool,
}

/// The running configuration. A reload (SIGHUP) replaces it whole; whoever holds an
/// `Arc<Config>` from [`Shared::current`] keeps a consistent view until done with it.
#[derive(Clone)]
pub struct Shared(Arc<arc_swap::ArcSwap<Config>>);

impl Shared {
    pub fn new(config: Config) -> Self {
        Self(Arc::new(arc_swap::ArcSwap::from_pointee(config)))
    }

    pub fn current(&self) -> Arc<Config> {
        self.0.load_full()
    }

    pub fn replace(&self, config: Config) {
        self.0.store(Arc::new(config));
    }
}

/// A site of a configuration, kept alive with it.
#[derive(Clone)]
pub struct SiteRef {
    config: Arc<Config>,
    index: usize,
}

impl SiteRef {
    /// The site whose API token this is.
    pub fn by_token(config: Arc<Config>, token: &str) -> Option<Self> {
        let site = config.site_by_token(token)?;
        let index = config.sites.iter().position(|s| std::ptr::eq(s, site))?;
        Some(Self { config, index })
    }

    /// The site with this id.
    pub fn by_id(config: Arc<Config>, id: &str) -> Option<Self> {
        let index = config.sites.iter().position(|s| s.id == id)?;
        Some(Self { config, index })
    }
}

impl std::ops::Deref for SiteRef {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.config.sites[self.index]
    }
}

/// The token of the built-in development site, used only when there is no config file.
pub const DEV_TOKEN: &str = "dev-token";

/// One problem in the config file.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; `None` when the problem is not at one place (a missing key, say).
    pub line: Option<usize>,
    /// Dotted path of the key, e.g. `site[1].sender`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.key, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.key, self.message),
        }
    }
}

/// All the problems found in one file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The file read when `--config` is not given.
pub const DEFAULT_PATH: &str = "replyrelay.toml";

/// Loads the config: the given file, else `./replyrelay.toml` if present, else built-in
/// defaults that run with no file at all.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    match path {
        Some(p) => load_file(p),
        None if Path::new(DEFAULT_PATH).exists() => load_file(Path::new(DEFAULT_PATH)),
        None => Ok(builtin()),
    }
}

/// Loads and checks one file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: None,
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, &file, base)
}

/// The configuration used when there is no file: SQLite in the working directory, emails into
/// `./outbox`, the API on loopback, and one development site whose token is [`DEV_TOKEN`].
pub fn builtin() -> Config {
    parse("", "(built-in defaults)", Path::new(".")).expect("built-in defaults are valid")
}

/// Parses config text; `file` names it in errors and `base` anchors relative secret files.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigErrors> {
    let located = Located::new(text, file);
    let doc = toml_edit::ImDocument::parse(text.to_owned()).map_err(|e| {
        let line = e.span().map(|s| located.line_at(s.start));
        ConfigErrors(vec![ConfigError {
            file: file.into(),
            line,
            key: "(syntax)".into(),
            message: e.message().trim().to_string(),
        }])
    })?;
    let raw: raw::Config = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            // Find every bad value, one key at a time; serde alone stops at the first and, inside
            // flattened settings, loses its place.
            let table: toml::Table = toml::from_str(text).unwrap_or_default();
            let mut errors: Vec<ConfigError> = probe_types(&table)
                .into_iter()
                .map(|(path, message)| located.error(&doc, &path, message))
                .collect();
            if errors.is_empty() {
                errors.push(ConfigError {
                    file: file.into(),
                    line: e.span().map(|s| located.line_at(s.start)),
                    key: "(value)".into(),
                    message: e.message().trim().to_string(),
                });
            }
            return Err(ConfigErrors(errors));
        }
    };

    let mut errors = Vec::new();
    let echoed = toml::Table::try_from(&raw).expect("a parsed config serializes");
    unknown_keys(doc.as_table(), &echoed, &mut Vec::new(), &mut |path| {
        errors.push(located.error(&doc, path, "unknown key".into()));
    });

    let config = resolve(
        raw,
        file.is_empty() || text.trim().is_empty(),
        base,
        &mut |path, msg| {
            errors.push(located.error(&doc, path, msg));
        },
    );
    if errors.is_empty() {
        let mut config = config;
        config.source = (file != "(built-in defaults)").then(|| PathBuf::from(file));
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A step in a key path: a table key or an array index.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Config text with its line starts, to turn byte offsets into line numbers.
struct Located<'a> {
    file: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Located<'a> {
    fn new(text: &str, file: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { file, line_starts }
    }

    fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    fn error(
        &self,
        doc: &toml_edit::ImDocument<String>,
        path: &[Seg],
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.into(),
            line: span_of(doc, path).map(|o| self.line_at(o)),
            key: path_string(path),
            message,
        }
    }
}

/// Where in the file a key path is written: its key, or the nearest enclosing one.
fn span_of(doc: &toml_edit::ImDocument<String>, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, Table, Value};

    fn in_table(t: &Table, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match path.split_first() {
            Some((Seg::Key(k), rest)) => match t.get_key_value(k) {
                Some((key, v)) => in_item(v, rest, key.span().map(|s| s.start).or(found)),
                None => found,
            },
            _ => found,
        }
    }
    fn in_item(item: &Item, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match (item, path.first()) {
            (Item::Table(t), _) => in_table(t, path, found),
            (Item::ArrayOfTables(a), Some(Seg::Index(i))) => match a.get(*i) {
                Some(t) => in_table(t, &path[1..], t.span().map(|s| s.start).or(found)),
                None => found,
            },
            (Item::Value(v), _) => in_value(v, path, found),
            _ => found,
        }
    }
    fn in_value(v: &Value, path: &[Seg], found: Option<usize>) -> Option<usize> {
        match (v, path.split_first()) {
            (Value::InlineTable(t), Some((Seg::Key(k), rest))) => match t.get_key_value(k) {
                Some((key, v)) => in_item(v, rest, key.span().map(|s| s.start).or(found)),
                None => found,
            },
            (Value::Array(a), Some((Seg::Index(i), rest))) => match a.get(*i) {
                Some(x) => in_value(x, rest, x.span().map(|s| s.start).or(found)),
                None => found,
            },
            _ => found,
        }
    }
    in_table(doc.as_table(), path, None)
}

/// Deserializes each key of each table on its own into the struct that owns it, and reports
/// the keys whose values do not fit.
fn probe_types(top: &toml::Table) -> Vec<(Vec<Seg>, String)> {
    use serde::de::DeserializeOwned;
    fn each<T: DeserializeOwned>(
        table: &toml::Table,
        path: &[Seg],
        skip: &[&str],
        out: &mut Vec<(Vec<Seg>, String)>,
    ) {
        for (k, v) in table {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            if let Err(e) = toml::Value::Table(one).try_into::<T>() {
                let mut p = path.to_vec();
                p.push(Seg::Key(k.clone()));
                out.push((p, e.message().trim().to_string()));
            }
        }
    }
    fn table<'a>(t: &'a toml::Table, k: &str) -> Option<&'a toml::Table> {
        t.get(k).and_then(toml::Value::as_table)
    }
    let mut out = Vec::new();
    // Sections that are well-shaped tables are probed key by key; anything else as a whole.
    let sections = ["api", "database", "delivery", "secrets"];
    let mut whole: Vec<&str> = sections
        .iter()
        .copied()
        .filter(|k| table(top, k).is_some())
        .collect();
    let sites = top.get("site").and_then(toml::Value::as_array);
    if sites.is_some_and(|a| a.iter().all(toml::Value::is_table)) {
        whole.push("site");
    }
    each::<raw::Config>(top, &[], &whole, &mut out);
    let at = |k: &str| vec![key(k)];
    if let Some(t) = table(top, "api") {
        each::<raw::Api>(t, &at("api"), &[], &mut out);
    }
    if let Some(t) = table(top, "database") {
        each::<raw::Database>(t, &at("database"), &[], &mut out);
    }
    if let Some(t) = table(top, "delivery") {
        let smtp_ok = table(t, "smtp").is_some();
        each::<raw::Delivery>(
            t,
            &at("delivery"),
            if smtp_ok { &["smtp"] } else { &[] },
            &mut out,
        );
        if let Some(smtp) = table(t, "smtp") {
            each::<raw::Smtp>(smtp, &[key("delivery"), key("smtp")], &[], &mut out);
        }
    }
    if let Some(t) = table(top, "secrets") {
        each::<raw::Secrets>(t, &at("secrets"), &[], &mut out);
    }
    if let Some(sites) = sites {
        for (i, s) in sites.iter().enumerate() {
            if let Some(t) = s.as_table() {
                each::<raw::Site>(t, &[key("site"), Seg::Index(i)], &[], &mut out);
            }
        }
    }
    out
}

/// Reports every key of `written` that the round trip through the structs did not keep.
fn unknown_keys(
    written: &toml_edit::Table,
    kept: &toml::Table,
    path: &mut Vec<Seg>,
    report: &mut dyn FnMut(&[Seg]),
) {
    for (key, item) in written.iter() {
        path.push(Seg::Key(key.to_string()));
        match (item, kept.get(key)) {
            (_, None) => report(path),
            (toml_edit::Item::Table(t), Some(toml::Value::Table(k))) => {
                unknown_keys(t, k, path, report)
            }
            (
                toml_edit::Item::Value(toml_edit::Value::InlineTable(t)),
                Some(toml::Value::Table(k)),
            ) => unknown_keys(&t.clone().into_table(), k, path, report),
            (toml_edit::Item::ArrayOfTables(a), Some(toml::Value::Array(k))) => {
                for (i, (t, kv)) in a.iter().zip(k).enumerate() {
                    if let toml::Value::Table(kt) = kv {
                        path.push(Seg::Index(i));
                        unknown_keys(t, kt, path, report);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// The file as written: every key optional, so that defaults can be told apart from values.
pub mod raw {
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
        pub database: Option<Database>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub delivery: Option<Delivery>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub secrets: Option<Secrets>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub inbound: Option<Inbound>,
        /// Site defaults, written at the top level.
        #[serde(flatten)]
        pub defaults: SiteSettings,
        #[serde(default, rename = "site", skip_serializing_if = "Vec::is_empty")]
        pub sites: Vec<Site>,
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
        #[serde(skip_serializing_if = "Option::is_none")]
        pub webhook_url: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub webhook_secret: Option<Secret>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sender_policy: Option<super::SenderPolicy>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub locale: Option<String>,
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
        #[serde(flatten)]
        pub settings: SiteSettings,
    }
}

/// Reads a secret wherever it lives.
fn read_secret(secret: &raw::Secret, base: &Path) -> Result<String, String> {
    match secret {
        raw::Secret::Literal(s) => Ok(s.clone()),
        raw::Secret::File { file } => {
            let p = base.join(file);
            std::fs::read_to_string(&p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read secret file {}: {e}", p.display()))
        }
        raw::Secret::Env { env } => {
            std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))
        }
        raw::Secret::Credential { credential } => {
            let dir = std::env::var("CREDENTIALS_DIRECTORY").map_err(|_| {
                "CREDENTIALS_DIRECTORY is not set (not run by systemd with LoadCredential=)"
                    .to_string()
            })?;
            let p = Path::new(&dir).join(credential);
            std::fs::read_to_string(&p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read credential {}: {e}", p.display()))
        }
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Turns the raw file into a [`Config`], reporting every problem through `err`.
fn resolve(
    raw: raw::Config,
    empty_file: bool,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Config {
    let api = raw.api.unwrap_or_default();
    let listen_text = api.listen.unwrap_or_else(|| "127.0.0.1:8470".into());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        err(
            &[key("api"), key("listen")],
            format!("`{listen_text}` is not an address such as 127.0.0.1:8470"),
        );
        SocketAddr::from(([127, 0, 0, 1], 8470))
    });
    let public_url = api.public_url.map(|u| u.trim_end_matches('/').to_string());
    let max_connections = api.max_connections.unwrap_or(1024).max(1);
    let idle_timeout = api.idle_timeout.unwrap_or(Duration::from_secs(30));
    let request_timeout = api.request_timeout.unwrap_or(Duration::from_secs(30));
    if public_url
        .as_ref()
        .is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        err(
            &[key("api"), key("public_url")],
            "must start with http:// or https://".into(),
        );
    }

    let database = DatabaseConfig {
        url: raw
            .database
            .and_then(|d| d.url)
            .unwrap_or_else(|| "sqlite://replyrelay.db".into()),
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

    let d = raw.delivery.unwrap_or_default();
    let transport_name = d
        .transport
        .clone()
        .unwrap_or_else(|| if d.smtp.is_some() { "smtp" } else { "maildir" }.into());
    let transport = match transport_name.as_str() {
        "maildir" => Transport::Maildir(base.join(d.maildir.unwrap_or_else(|| "outbox".into()))),
        "smtp" => {
            let s = d.smtp.unwrap_or_default();
            let p = |k: &str| [key("delivery"), key("smtp"), key(k)];
            let host = s.host.unwrap_or_else(|| {
                err(&p("host"), "is required when the transport is smtp".into());
                String::new()
            });
            let security = s.security.unwrap_or(SmtpSecurity::Starttls);
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
                port: s.port.unwrap_or(match security {
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::None => 25,
                }),
                security,
                username: s.username,
                password,
                pool_size: s.pool_size.unwrap_or(4).max(1),
                timeout: s.timeout.unwrap_or(Duration::from_secs(30)),
                helo_name: s.helo_name,
            })
        }
        other => {
            err(
                &[key("delivery"), key("transport")],
                format!("`{other}` is not a transport: use `maildir` or `smtp`"),
            );
            Transport::Maildir(PathBuf::from("outbox"))
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
    let delivery = DeliveryConfig {
        transport,
        retry_initial: positive(
            d.retry_initial,
            Duration::from_secs(30),
            "retry_initial",
            err,
        ),
        retry_max: positive(d.retry_max, Duration::from_secs(3600), "retry_max", err),
        give_up_after: positive(
            d.give_up_after,
            Duration::from_secs(2 * 86400),
            "give_up_after",
            err,
        ),
        lease: positive(d.lease, Duration::from_secs(60), "lease", err),
    };

    let mut token_keys = Vec::new();
    if let Some(keys) = raw.secrets.and_then(|s| s.token_keys) {
        for (i, k) in keys.iter().enumerate() {
            let path = [key("secrets"), key("token_keys"), Seg::Index(i)];
            match read_secret(k, base) {
                Ok(v) if v.len() >= 32 => token_keys.push(v.into_bytes()),
                Ok(_) => err(&path, "a token key needs at least 32 characters".into()),
                Err(e) => err(&path, e),
            }
        }
    }

    let mut sites = Vec::new();
    if raw.sites.is_empty() {
        if empty_file {
            sites.push(dev_site(&raw.defaults, base, err));
        } else {
            err(&[key("site")], "at least one [[site]] is required".into());
        }
    }
    for (i, s) in raw.sites.iter().enumerate() {
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
            &raw.defaults,
            base,
            &mut |k, m| err(&at(k), m),
        );
        sites.push(site);
    }

    let (inbound, listener, imap) = resolve_inbound(raw.inbound.unwrap_or_default(), base, err);
    Config {
        source: None,
        api: ApiConfig {
            listen,
            public_url,
            max_connections,
            idle_timeout,
            request_timeout,
        },
        database,
        delivery,
        token_keys,
        sites,
        inbound,
        listener,
        imap,
    }
}

/// The `[inbound]` section: limits, the listener, the IMAP mailbox.
fn resolve_inbound(
    raw: raw::Inbound,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> (
    crate::inbound::Limits,
    Option<ListenerConfig>,
    Option<ImapConfig>,
) {
    let limits = crate::inbound::Limits {
        max_message_size: raw.max_message_size.unwrap_or(25 << 20),
        max_parts: raw.max_parts.unwrap_or(100),
        max_attachment_size: raw.max_attachment_size.unwrap_or(10 << 20),
    };
    let listener = raw.smtp.map(|l| {
        let at = |k: &str| [key("inbound"), key("smtp"), key(k)];
        let text = l.listen.unwrap_or_else(|| "127.0.0.1:2525".into());
        let listen = text.parse().unwrap_or_else(|_| {
            err(
                &at("listen"),
                format!("`{text}` is not an address such as 127.0.0.1:2525"),
            );
            SocketAddr::from(([127, 0, 0, 1], 2525))
        });
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
            hostname: l.hostname.unwrap_or_else(|| "replyrelay".into()),
            max_connections: l.max_connections.unwrap_or(100).max(1),
            idle_timeout: l.idle_timeout.unwrap_or(Duration::from_secs(60)),
            session_timeout: l.session_timeout.unwrap_or(Duration::from_secs(600)),
            tls,
        }
    });
    let imap = raw.imap.map(|i| {
        let at = |k: &str| [key("inbound"), key("imap"), key(k)];
        let security = i.security.unwrap_or(SmtpSecurity::Tls);
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
            port: i.port.unwrap_or(match security {
                SmtpSecurity::Tls => 993,
                _ => 143,
            }),
            security,
            username: i.username.unwrap_or_else(|| {
                err(&at("username"), "is required".into());
                String::new()
            }),
            password,
            mailbox: i.mailbox.unwrap_or_else(|| "INBOX".into()),
            processed_folder: i.processed_folder.unwrap_or_else(|| "Processed".into()),
            rejected_folder: i.rejected_folder.unwrap_or_else(|| "Rejected".into()),
            poll_interval: i.poll_interval.unwrap_or(Duration::from_secs(60)),
            idle: i.idle.unwrap_or(true),
        }
    });
    (limits, listener, imap)
}

/// The development site of a config-less run.
fn dev_site(
    defaults: &raw::SiteSettings,
    base: &Path,
    err: &mut dyn FnMut(&[Seg], String),
) -> Site {
    site_settings(
        "default".into(),
        "Example Site".into(),
        vec![DEV_TOKEN.into()],
        &raw::SiteSettings::default(),
        defaults,
        base,
        &mut |k, m| err(&[key(k)], m),
    )
}

/// Merges a site's own settings over the top-level defaults over the built-in ones.
fn site_settings(
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
    let sender_text = pick!(sender, "support@example.com".to_string());
    let sender = VisitorEmail::parse(&sender_text).unwrap_or_else(|e| {
        err("sender", format!("`{sender_text}` {e}"));
        VisitorEmail::parse("invalid@example.com").expect("valid")
    });
    let bounce_address = own
        .bounce_address
        .as_ref()
        .or(defaults.bounce_address.as_ref())
        .and_then(|a| {
            VisitorEmail::parse(a)
                .map_err(|e| err("bounce_address", format!("`{a}` {e}")))
                .ok()
        });
    let reply_domain = pick!(reply_domain, "reply.example.com".to_string()).to_lowercase();
    if VisitorEmail::parse(&format!("x@{reply_domain}")).is_err() {
        err(
            "reply_domain",
            format!("`{reply_domain}` is not a domain name"),
        );
    }
    let locale_text = pick!(locale, "en".to_string());
    let locale = Locale::parse(&locale_text).unwrap_or_else(|e| {
        err("locale", e);
        Locale::parse("en").expect("valid")
    });
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
    let mut templates = OwnTemplates::default();
    if let Some(dir) = own.templates.as_ref().or(defaults.templates.as_ref()) {
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
                match crate::compose::check_own_template(&source, name) {
                    Ok(()) => *slot = Some(source),
                    Err(e) => err("templates", format!("{}: {e}", path.display())),
                }
            }
        }
    }
    let mut strings = std::collections::HashMap::new();
    for layer in [&defaults.strings, &own.strings].into_iter().flatten() {
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
    let max_unanswered = pick!(max_unanswered, 5);
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
        from_agent: pick!(from_agent, true),
        chat_url: own.chat_url.clone().or_else(|| defaults.chat_url.clone()),
        webhook_url,
        webhook_secret,
        sender_policy: pick!(sender_policy, SenderPolicy::Quarantine),
        templates,
        strings,
        locale,
        triggers: TriggerSettings {
            mode: pick!(mode, Mode::Unread),
            after_departure: dur(
                pick!(after_departure, Duration::from_secs(300)),
                "after_departure",
                err,
            ),
            after_idle: dur(
                pick!(after_idle, Duration::from_secs(1800)),
                "after_idle",
                err,
            ),
            batch_quiet: dur(
                pick!(batch_quiet, Duration::from_secs(60)),
                "batch_quiet",
                err,
            ),
            reach_window: dur(
                pick!(reach_window, Duration::from_secs(30 * 86400)),
                "reach_window",
                err,
            ),
            max_unanswered,
        },
        content: ContentSettings {
            context_messages: pick!(context_messages, 3),
            short_conversation: pick!(short_conversation, 10),
            transcript_on_close: pick!(transcript_on_close, false),
        },
    }
}

impl Config {
    /// The site an API token acts for.
    pub fn site_by_token(&self, token: &str) -> Option<&Site> {
        use subtle::ConstantTimeEq;
        // Compare against every token in constant time, so timing says nothing about them.
        let mut found = None;
        for site in &self.sites {
            for t in &site.api_tokens {
                if bool::from(t.as_bytes().ct_eq(token.as_bytes())) {
                    found = Some(site);
                }
            }
        }
        found
    }

    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text, "rr.toml", Path::new(".")) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    const SITE: &str = "[[site]]\nid = \"acme\"\napi_tokens = [\"0123456789abcdef\"]\n";

    #[test]
    fn builtin_defaults_work() {
        let c = builtin();
        assert_eq!(c.sites.len(), 1);
        assert_eq!(c.sites[0].api_tokens, vec![DEV_TOKEN.to_string()]);
        assert!(matches!(c.delivery.transport, Transport::Maildir(_)));
        assert_eq!(c.sites[0].triggers.after_departure, TimeDelta::minutes(5));
    }

    #[test]
    fn top_level_defaults_and_site_overrides() {
        let text =
            format!("after_departure = \"2m\"\nmode = \"transcript\"\n{SITE}mode = \"off\"\n");
        let c = parse(&text, "rr.toml", Path::new(".")).unwrap();
        assert_eq!(c.sites[0].triggers.after_departure, TimeDelta::minutes(2));
        assert_eq!(c.sites[0].triggers.mode, Mode::Off);
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_line() {
        let text = format!("aftr_idle = \"5m\"\n[api]\nlisen = \"x\"\n{SITE}sendr = \"a@b.co\"\n");
        assert_eq!(
            errors(&text),
            vec![
                "rr.toml:1: aftr_idle: unknown key",
                "rr.toml:3: api.lisen: unknown key",
                "rr.toml:7: site[0].sendr: unknown key",
            ]
        );
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let e = errors(&format!("{SITE}after_idle = \"soon\"\n"));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("rr.toml:4: site[0].after_idle:"), "{e:?}");
        let e = errors(&format!("{SITE}sender = \"nobody\"\nlocale = \"??\"\n"));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("rr.toml:4: site[0].sender:"), "{e:?}");
        assert!(e[1].starts_with("rr.toml:5: site[0].locale:"), "{e:?}");
    }

    #[test]
    fn a_helo_name_must_be_a_host_name() {
        let smtp = "[delivery.smtp]\nhost = \"127.0.0.1\"\n";
        let e = errors(&format!("{smtp}helo_name = \"a b\\r\\nMAIL\"\n{SITE}"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("rr.toml:3: delivery.smtp.helo_name:"),
            "{e:?}"
        );
        assert!(errors(&format!("{smtp}helo_name = \"mx1.example.com\"\n{SITE}")).is_empty());
    }

    #[test]
    fn secrets_from_env() {
        std::env::set_var("RR_TEST_TOKEN", "from-the-environment-1");
        let text = "[[site]]\nid = \"a\"\napi_tokens = [{ env = \"RR_TEST_TOKEN\" }]\n";
        let c = parse(text, "rr.toml", Path::new(".")).unwrap();
        assert_eq!(
            c.sites[0].api_tokens,
            vec!["from-the-environment-1".to_string()]
        );
        assert!(c.site_by_token("from-the-environment-1").is_some());
        assert!(c.site_by_token("from-the-environment-2").is_none());
    }
}
