//! Prometheus metrics, served at `GET /metrics`.
//!
//! One process-wide set of counters (a daemon is one process); the due backlog is read from the
//! database when scraped, so it is always current.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

type Labels = Vec<(&'static str, String)>;

/// Every metric replyrelay keeps.
pub struct Metrics {
    registry: Registry,
    pub emails_queued: Counter,
    pub emails_sent: Counter,
    pub emails_retried: Counter,
    /// By reason: `refused` (5xx), `gave_up`, `bounce`, `invalid_address`.
    pub emails_failed: Family<Labels, Counter>,
    pub emails_cancelled: Counter,
    /// By entry point: `smtp`, `lmtp`, `imap`, `ingest`.
    pub replies_received: Family<Labels, Counter>,
    pub replies_stored: Counter,
    /// Attachments of inbound mail over `max_attachment_size`, not kept (the message says so).
    pub attachments_too_large: Counter,
    /// Stored replies the trimming rules would have emptied, kept as they came.
    pub replies_untrimmed: Counter,
    /// Stored replies in which the copy of an email we sent was found by its text and cut.
    pub replies_own_copy_cut: Counter,
    /// By reason: `token`, `sender`, `window`, `malformed`, `size`, `auto_reply`, `loop`,
    /// `bounce`, `duplicate`, `quarantine`, `empty`.
    pub replies_rejected: Family<Labels, Counter>,
    /// How late emails went out behind their due time, in seconds.
    pub send_lateness: Histogram,
    /// By result: `delivered`, `retried`, `failed`.
    pub webhooks: Family<Labels, Counter>,
    /// Addresses suppressed, by reason (`unsubscribed`, `hard_bounce`, `soft_bounced`, …).
    pub suppressions: Family<Labels, Counter>,
    /// Soft failures counted against an address (a full mailbox, a suspended account).
    pub soft_bounces: Counter,
    /// Emails whose bytes were dropped past `[retention] email_bodies`.
    pub expired_email_bodies: Counter,
    /// Closed conversations deleted past `[retention] conversations`.
    pub expired_conversations: Counter,
    /// Reports from pages (`widget.js`), by outcome: `applied`, `invalid`, `unauthorized`,
    /// `forbidden`, `limited`, `error`.
    pub widget_reports: Family<Labels, Counter>,
    /// Conversations due now and not yet handled; set just before each scrape.
    pub due_backlog: Gauge,
}

/// The metrics of this process.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("replyrelay");
        let m = Metrics {
            emails_queued: Counter::default(),
            emails_sent: Counter::default(),
            emails_retried: Counter::default(),
            emails_failed: Family::default(),
            emails_cancelled: Counter::default(),
            replies_received: Family::default(),
            replies_stored: Counter::default(),
            attachments_too_large: Counter::default(),
            replies_untrimmed: Counter::default(),
            replies_own_copy_cut: Counter::default(),
            replies_rejected: Family::default(),
            send_lateness: Histogram::new([0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
            webhooks: Family::default(),
            suppressions: Family::default(),
            soft_bounces: Counter::default(),
            expired_email_bodies: Counter::default(),
            expired_conversations: Counter::default(),
            widget_reports: Family::default(),
            due_backlog: Gauge::default(),
            registry: Registry::default(),
        };
        register(&mut registry, &m);
        let info = Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string())]);
        registry.register("build", "Build information", info);
        Metrics { registry, ..m }
    })
}

/// Every metric of `m` in `registry`, with its help text.
fn register(registry: &mut Registry, m: &Metrics) {
    registry.register(
        "emails_queued",
        "Emails written to the outbox",
        m.emails_queued.clone(),
    );
    registry.register(
        "emails_sent",
        "Emails accepted by the relay",
        m.emails_sent.clone(),
    );
    registry.register(
        "emails_retried",
        "Delivery attempts deferred after a temporary failure",
        m.emails_retried.clone(),
    );
    registry.register(
        "emails_failed",
        "Emails that failed for good, by reason",
        m.emails_failed.clone(),
    );
    registry.register(
        "emails_cancelled",
        "Emails withdrawn before delivery",
        m.emails_cancelled.clone(),
    );
    registry.register(
        "replies_received",
        "Inbound messages received, by entry point",
        m.replies_received.clone(),
    );
    registry.register(
        "replies_stored",
        "Visitor replies posted into their conversation",
        m.replies_stored.clone(),
    );
    registry.register(
        "attachments_too_large",
        "Attachments of inbound mail over max_attachment_size, not kept; the message names them",
        m.attachments_too_large.clone(),
    );
    registry.register(
        "replies_untrimmed",
        "Stored replies kept as they came: the trimming rules would have left nothing",
        m.replies_untrimmed.clone(),
    );
    registry.register(
        "replies_own_copy_cut",
        "Stored replies in which the quoted copy of our email was found by its text and cut",
        m.replies_own_copy_cut.clone(),
    );
    registry.register(
        "replies_rejected",
        "Inbound messages not posted, by reason",
        m.replies_rejected.clone(),
    );
    registry.register(
        "send_lateness_seconds",
        "Time from an email's due time to its composition",
        m.send_lateness.clone(),
    );
    registry.register(
        "webhooks",
        "Webhook deliveries, by result",
        m.webhooks.clone(),
    );
    registry.register(
        "suppressions",
        "Addresses suppressed, by reason",
        m.suppressions.clone(),
    );
    registry.register(
        "soft_bounces",
        "Soft failures counted against an address (suppressed after soft_bounce_limit in a row)",
        m.soft_bounces.clone(),
    );
    registry.register(
        "expired_email_bodies",
        "Emails whose bytes were dropped past [retention] email_bodies",
        m.expired_email_bodies.clone(),
    );
    registry.register(
        "expired_conversations",
        "Closed conversations deleted past [retention] conversations",
        m.expired_conversations.clone(),
    );
    registry.register(
        "widget_reports",
        "Presence and read reports from pages (widget.js), by outcome",
        m.widget_reports.clone(),
    );
    registry.register(
        "due_backlog",
        "Conversations due and not yet emailed",
        m.due_backlog.clone(),
    );
}

/// One label.
pub fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_string())]
}

impl Metrics {
    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Counts an address suppressed for `reason`.
pub fn suppressed(reason: &str) {
    get()
        .suppressions
        .get_or_create(&label("reason", reason))
        .inc();
}
