//! The resolved configuration: every value present, checked and typed.

use crate::domain::{Locale, VisitorEmail};
use crate::triggers::TriggerSettings;
use chrono::TimeDelta;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The resolved configuration: everything the daemon needs, with defaults filled in.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file this came from; `None` when running on built-in defaults.
    pub source: Option<PathBuf>,
    pub api: ApiConfig,
    /// Where `/metrics` is served: a listener of its own, since the API's faces the internet
    /// for unsubscribe links and the figures are for the operator only.
    pub metrics_listen: SocketAddr,
    pub retention: RetentionConfig,
    pub database: DatabaseConfig,
    pub delivery: DeliveryConfig,
    /// Keys for reply and unsubscribe tokens, newest first: the first signs, all verify (so keys
    /// can be rotated). Empty means "generate one and keep it in the database".
    pub token_keys: Vec<Vec<u8>>,
    pub sites: Vec<Site>,
    /// Limits on inbound mail.
    pub inbound: InboundLimits,
    /// The SMTP/LMTP listener for replies, if enabled.
    pub listener: Option<ListenerConfig>,
    /// The IMAP mailbox polled for replies, if enabled.
    pub imap: Option<ImapConfig>,
    /// The certificates of `[tls] ca_file` (an internal CA), trusted by every TLS client
    /// (relay, webhooks, IMAP) besides the system's roots; read at load, so a bad file is a
    /// config error.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// Limits on what inbound mail is read at all: past them a message is refused, not parsed.
#[derive(Clone, Debug)]
pub struct InboundLimits {
    /// Bytes of a whole message.
    pub max_message_size: usize,
    /// MIME parts, each of which costs a parse.
    pub max_parts: usize,
    /// Bytes of one attachment; larger ones are left out, the reply kept.
    pub max_attachment_size: usize,
}

/// The SMTP/LMTP listener that the MTA routes `reply+…@` mail to.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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

/// How long what the daemon keeps is kept; `None` is for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// The bytes of a sent, failed or cancelled email (10–30 KB each), this long after it was
    /// made; the email's row and the messages' markers stay.
    pub email_bodies: Option<Duration>,
    /// A closed conversation with no activity for this long, with everything of it.
    pub conversations: Option<Duration>,
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
    /// This many soft failures in a row for an address (a full mailbox, a suspended account),
    /// the first at least `soft_bounce_span` ago, suppress it as `soft_bounced`: mail that has
    /// not reached it for that long will not. 0: never.
    pub soft_bounce_limit: u32,
    pub soft_bounce_span: TimeDelta,
    /// How long a worker owns a claimed conversation or email before another may take it.
    pub lease: TimeDelta,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// Each email written as a file into a maildir (`tmp/`, `new/`, `cur/`): for development.
    Maildir(PathBuf),
    Smtp(SmtpConfig),
}

#[derive(Clone, Debug, PartialEq)]
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
    /// The site's colour in its emails (name, divider, links, button), with its dark-mode
    /// shade; checked for contrast at load so no visitor gets an email they cannot read.
    pub brand: crate::brand::Brand,
    /// The site's logo, shown above its name; `None`: the name alone.
    pub logo_url: Option<String>,
    /// Where webhooks go.
    pub webhook_url: Option<String>,
    /// The key webhooks are signed with (required with `webhook_url`).
    pub webhook_secret: Option<String>,
    /// What to do with a reply from an address other than the visitor's.
    pub sender_policy: SenderPolicy,
    /// The authserv-ids of the operator's MTAs: a reply whose `Authentication-Results` from
    /// one of them says DMARC failed for its From domain is treated as from another sender.
    pub trusted_authserv_ids: Vec<String>,
    /// The site's own email templates, replacing the built-in ones.
    pub templates: OwnTemplates,
    /// Per-language replacements for the built-in strings (`[site.strings.es] subject = "…"`).
    pub strings: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
    /// Language of emails when the visitor's is unknown.
    pub locale: Locale,
    /// Origins (`scheme://host[:port]`) of the pages whose `widget.js` may report presence and
    /// reads; none, and no page may.
    pub allowed_origins: Vec<String>,
    /// Where the site's chats come from when it uses Chatwoot; `None` for the events API alone.
    pub chatwoot: Option<Chatwoot>,
    pub triggers: TriggerSettings,
    pub content: ContentSettings,
}

/// A Chatwoot account bridged to a site (`[site.chatwoot]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Chatwoot {
    /// The installation's base URL (`https://app.chatwoot.com`), for its API.
    pub url: String,
    /// The account whose conversations these are: the API's paths name it.
    pub account_id: u64,
    /// An agent's or bot's access token, sent as `api_access_token` to post the visitors'
    /// email answers.
    pub api_access_token: String,
    /// The inboxes whose conversations replyrelay follows; empty, every inbox of the account.
    pub inbox_ids: Vec<u64>,
    /// The webhook's secret: a webhook must carry Chatwoot's signature made with it (or, from a
    /// Chatwoot that does not sign, the secret as `?secret=` in the URL it was given).
    pub webhook_secret: String,
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
