//! Every built-in value, named once: what a key is when the file does not set it. README's
//! configuration reference states the same values (a test in `tests.rs` checks the two agree).

use super::{SenderPolicy, SmtpSecurity};
use crate::domain::Mode;
use std::time::Duration;

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

// [api]
pub const API_LISTEN: &str = "127.0.0.1:8470";
pub const API_MAX_CONNECTIONS: usize = 1024;
pub const API_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const API_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

// [retention]
pub const RETENTION_EMAIL_BODIES: Option<Duration> = Some(Duration::from_secs(30 * DAY));
pub const RETENTION_CONVERSATIONS: Option<Duration> = None;

// [metrics]
pub const METRICS_LISTEN: &str = "127.0.0.1:9470";

// [database]
pub const DATABASE_URL: &str = "sqlite://replyrelay.db";

// [delivery]
pub const MAILDIR: &str = "outbox";
pub const RETRY_INITIAL: Duration = Duration::from_secs(30);
pub const RETRY_MAX: Duration = Duration::from_secs(60 * MINUTE);
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(2 * DAY);
pub const SOFT_BOUNCE_LIMIT: u32 = 5;
pub const SOFT_BOUNCE_SPAN: Duration = Duration::from_secs(7 * DAY);
pub const LEASE: Duration = Duration::from_secs(MINUTE);

// [delivery.smtp]
pub const SMTP_SECURITY: SmtpSecurity = SmtpSecurity::Starttls;
pub const SMTP_POOL_SIZE: u32 = 4;
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The port of each kind of connection, SMTP's submission ports and IMAP's.
pub fn smtp_port(security: SmtpSecurity) -> u16 {
    match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::None => 25,
    }
}

// [inbound]
pub const MAX_MESSAGE_SIZE: usize = 25 << 20;
pub const MAX_PARTS: usize = 100;
pub const MAX_ATTACHMENT_SIZE: usize = 10 << 20;

// [inbound.smtp]
pub const LISTENER_LISTEN: &str = "127.0.0.1:2525";
pub const LISTENER_HOSTNAME: &str = "replyrelay";
pub const LISTENER_MAX_CONNECTIONS: usize = 100;
pub const LISTENER_IDLE_TIMEOUT: Duration = Duration::from_secs(MINUTE);
pub const LISTENER_SESSION_TIMEOUT: Duration = Duration::from_secs(10 * MINUTE);

// [inbound.imap]
pub const IMAP_SECURITY: SmtpSecurity = SmtpSecurity::Tls;
pub const IMAP_MAILBOX: &str = "INBOX";
pub const IMAP_PROCESSED_FOLDER: &str = "Processed";
pub const IMAP_REJECTED_FOLDER: &str = "Rejected";
pub const IMAP_POLL_INTERVAL: Duration = Duration::from_secs(MINUTE);
pub const IMAP_IDLE: bool = true;

pub fn imap_port(security: SmtpSecurity) -> u16 {
    match security {
        SmtpSecurity::Tls => 993,
        _ => 143,
    }
}

// Site settings (top level, or per [[site]])
pub const MODE: Mode = Mode::Unread;
pub const AFTER_DEPARTURE: Duration = Duration::from_secs(5 * MINUTE);
pub const AFTER_IDLE: Duration = Duration::from_secs(30 * MINUTE);
pub const BATCH_QUIET: Duration = Duration::from_secs(MINUTE);
/// The config-less run's: its demo shows the email a moment after the agent's answer, not a
/// minute later (a burst typed there is still one email).
pub const DEV_BATCH_QUIET: Duration = Duration::from_secs(5);
pub const REACH_WINDOW: Duration = Duration::from_secs(30 * DAY);
pub const MAX_UNANSWERED: u32 = 5;
pub const CONTEXT_MESSAGES: usize = 3;
pub const SHORT_CONVERSATION: usize = 10;
pub const TRANSCRIPT_ON_CLOSE: bool = false;
pub const SENDER: &str = "support@example.com";
pub const REPLY_DOMAIN: &str = "reply.example.com";
pub const FROM_AGENT: bool = true;
pub const SENDER_POLICY: SenderPolicy = SenderPolicy::Quarantine;
pub const LOCALE: &str = "en";

// The development site of a config-less run.
pub const DEV_SITE_ID: &str = "default";
pub const DEV_SITE_NAME: &str = "Example Site";
