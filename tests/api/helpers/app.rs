//! A daemon for one test (`spawn_app` and its variants) and what a test asks of it.

use super::*;
use chrono::TimeDelta;
use replyrelay::app::Application;
use replyrelay::clock::Clock;
use replyrelay::worker::{Step, Worker};
use serde_json::Value;

/// A running daemon for one test.
pub struct TestApp {
    pub base: String,
    /// The base URL of the metrics listener.
    pub metrics_base: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub worker: Worker,
    pub sink: SmtpSink,
    /// The database URL the daemon uses.
    pub db: String,
    /// The platform's webhook endpoint.
    pub hooks: WebhookSink,
    /// The inbound pipeline, for tests that hand it messages directly.
    pub inbound: replyrelay::inbound::Inbound,
    /// Where the SMTP listener for replies listens.
    pub smtp: std::net::SocketAddr,
    /// Sent to stop the daemon as SIGTERM would.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Holds the database until the test ends.
    pub _dir: tempfile::TempDir,
}

/// Starts a daemon on a fresh database, sending to a fresh SMTP sink. `extra` is TOML put
/// inside the `acme` site (so tests can change its mode and delays). `None` when the backend
/// is not available (PostgreSQL without `REPLYRELAY_TEST_POSTGRES_URL`).
pub async fn spawn_app(backend: Backend, extra: &str) -> Option<TestApp> {
    spawn_app_with(backend, extra, Clock::manual(t0()), false).await
}

/// Like [`spawn_app`], with the clock and whether the worker runs in the background (as under
/// `replyrelay serve`) rather than being driven by the test.
pub async fn spawn_app_with(
    backend: Backend,
    extra: &str,
    clock: Clock,
    background_worker: bool,
) -> Option<TestApp> {
    spawn_custom(backend, "", extra, clock, background_worker).await
}

/// The value after `# name ` on a line of `top`.
fn marker<'a>(top: &'a str, name: &str) -> Option<&'a str> {
    top.lines()
        .find_map(|l| l.strip_prefix(&format!("# {name} ")))
}

/// The most general start: `top` is TOML added to the top of the config (before any table
/// but the ones it opens itself), `extra` goes into the `acme` site.
pub async fn spawn_custom(
    backend: Backend,
    top: &str,
    extra: &str,
    clock: Clock,
    background_worker: bool,
) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let db = database_url(backend, dir.path()).await?;
    Some(spawn_on(dir, db, top, extra, clock, background_worker).await)
}

/// Like [`spawn_custom`], on a database made beforehand (`dir` holds it, or nothing for
/// PostgreSQL): for tests of what the daemon does with what an earlier version stored.
pub async fn spawn_on(
    dir: tempfile::TempDir,
    db: String,
    top: &str,
    extra: &str,
    clock: Clock,
    background_worker: bool,
) -> TestApp {
    // Logs go to the test's captured output: shown only when it fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,replyrelay=info".into()),
        )
        .try_init();
    // "# relay_starttls CERT KEY" in `top`: the relay offers STARTTLS with that certificate,
    // and the daemon is told to require it.
    let starttls = marker(top, "relay_starttls").and_then(|rest| rest.split_once(' '));
    // "# relay_without_pipelining" in `top`: the relay does not offer PIPELINING.
    let sink = match starttls {
        Some((cert, key)) => SmtpSink::start_tls(cert.as_ref(), key.as_ref()).await,
        None if top.contains("# relay_without_pipelining") => {
            SmtpSink::start_without_pipelining().await
        }
        None => SmtpSink::start().await,
    };
    let hooks = WebhookSink::start().await;
    // "# tls_relay CERT KEY" and "# tls_webhooks CERT KEY" in `top` put TLS with that
    // certificate in front of the relay (implicit TLS) and of the webhook endpoint (https).
    let front_of = |name: &str| marker(top, name).and_then(|rest| rest.split_once(' '));
    let plain_relay: std::net::SocketAddr = ([127, 0, 0, 1], sink.port).into();
    let relay = match front_of("tls_relay") {
        Some((cert, key)) => tls_front(plain_relay, cert.as_ref(), key.as_ref()).await,
        None => plain_relay,
    };
    let hook_url = match front_of("tls_webhooks") {
        Some((cert, key)) => {
            let plain = hooks.url["http://".len()..].split('/').next().unwrap();
            let front = tls_front(plain.parse().unwrap(), cert.as_ref(), key.as_ref()).await;
            format!("https://{front}/hooks")
        }
        None => hooks.url.clone(),
    };
    let config = format!(
        r#"
{top}

[api]
listen = "127.0.0.1:0"
public_url = "https://relay.example.net"

[metrics]
listen = "127.0.0.1:0"

[database]
url = "{db}"

[delivery]
retry_initial = "30s"
give_up_after = "1h"
{delivery_lines}

[delivery.smtp]
host = "127.0.0.1"
port = {port}
security = "{security}"
{smtp_lines}

[secrets]
token_keys = ["{TEST_TOKEN_KEY}"]

[inbound.smtp]
listen = "127.0.0.1:0"
protocol = "{protocol}"
hostname = "mx.test"
max_connections = {max_connections}
idle_timeout = "{idle_timeout}"
{tls}

[[site]]
id = "other"
name = "Other Co"
api_tokens = ["{OTHER_TOKEN}"]
sender = "help@other.example"
reply_domain = "reply.other.example"

[[site]]
id = "acme"
name = "Acme"
api_tokens = ["{TOKEN}"]
sender = "support@acme.example"
reply_domain = "reply.acme.example"
chat_url = "https://acme.example/chat/{{conversation}}"
webhook_url = "{hook_url}"
webhook_secret = "{WEBHOOK_SECRET}"
{extra}
"#,
        port = relay.port(),
        security = match (
            starttls.is_some() || top.contains("# require_starttls"),
            relay == plain_relay
        ) {
            (true, _) => "starttls",
            (false, true) => "none",
            (false, false) => "tls",
        },
        hook_url = hook_url,
        // "# smtp KEY = VALUE" lines in `top` go into `[delivery.smtp]`.
        // "# delivery KEY = VALUE" lines in `top` go into `[delivery]`.
        delivery_lines = top
            .lines()
            .filter_map(|l| l.strip_prefix("# delivery "))
            .collect::<Vec<_>>()
            .join("\n"),
        smtp_lines = top
            .lines()
            .filter_map(|l| l.strip_prefix("# smtp "))
            .collect::<Vec<_>>()
            .join("\n"),
        // "# max_connections N" and "# idle_timeout T" in `top` set those listener limits.
        max_connections = marker(top, "max_connections").unwrap_or("20"),
        idle_timeout = marker(top, "idle_timeout").unwrap_or("30s"),
        // "# tls CERT KEY" in `top` turns STARTTLS on.
        tls = top
            .lines()
            .find_map(|l| l.strip_prefix("# tls "))
            .and_then(|rest| rest.split_once(' '))
            .map(|(c, k)| format!("tls_certificate = \"{c}\"\ntls_key = \"{k}\""))
            .unwrap_or_default(),
        protocol = if top.contains("# lmtp") {
            "lmtp"
        } else {
            "smtp"
        },
    );
    let config = replyrelay::config::parse(&config, "test.toml", dir.path())
        .unwrap_or_else(|e| panic!("test config: {e}"));
    let app = Application::build(config, clock.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let metrics_base = format!("http://{}", app.metrics_addr());
    let worker = app.worker();
    let inbound = app.inbound();
    let smtp = app.smtp_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(background_worker, async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        metrics_base,
        client: reqwest::Client::new(),
        clock,
        worker,
        sink,
        db,
        hooks,
        inbound,
        smtp,
        stop: Some(stop),
        _dir: dir,
    }
}

impl TestApp {
    /// Rows of `sql` read straight from the daemon's database, whichever backend it is: for
    /// checks of what is stored that the API does not show.
    pub async fn stored<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        use sqlx::Connection;
        if self.db.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.db).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(&self.db).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
    }

    /// Every row of every table of the daemon's schema, as `table: value|value|…` (binary
    /// columns as the text they hold): for checks that something is stored nowhere.
    pub async fn every_row(&self) -> Vec<String> {
        let sqlite = self.db.starts_with("sqlite:");
        let tables: Vec<(String,)> = if sqlite {
            self.stored(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
            )
            .await
        } else {
            self.stored(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
            )
            .await
        };
        assert!(tables.len() >= 10, "{tables:?}");
        let mut rows = Vec::new();
        for (table,) in tables {
            let columns: Vec<(String, String)> = if sqlite {
                self.stored(&format!(
                    "SELECT name, type FROM pragma_table_info('{table}')"
                ))
                .await
            } else {
                self.stored(&format!(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns
                     WHERE table_schema = 'public' AND table_name = '{table}'"
                ))
                .await
            };
            let cells: Vec<String> = (columns.iter())
                .map(|(name, kind)| match (sqlite, kind.as_str()) {
                    (false, "bytea") => format!("COALESCE(encode({name}, 'escape'), '')"),
                    _ => format!("COALESCE(CAST({name} AS TEXT), '')"),
                })
                .collect();
            let sql = format!("SELECT {} FROM {table}", cells.join(" || '|' || "));
            let found: Vec<(String,)> = self.stored(&sql).await;
            rows.extend(found.into_iter().map(|(r,)| format!("{table}: {r}")));
        }
        rows
    }

    /// Every suppressed address with its reason, as stored, by address.
    pub async fn suppressions(&self) -> Vec<(String, String)> {
        self.stored("SELECT email, reason FROM suppressions ORDER BY email")
            .await
    }

    /// Posts a body to `/v1/events` with the acme token.
    pub async fn post(&self, body: Value) -> reqwest::Response {
        self.post_as(TOKEN, body).await
    }

    pub async fn post_as(&self, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Posts events that must be accepted.
    pub async fn events(&self, events: Vec<Value>) {
        let r = self.post(serde_json::json!({ "events": events })).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    pub async fn conversation(&self, id: &str) -> Value {
        let r = self
            .client
            .get(format!("{}/v1/conversations/{id}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Moves the clock to `t0 + minutes` and lets the worker do all that is due.
    pub async fn at_minute(&self, minutes: f64) -> Vec<Step> {
        let target = t0() + TimeDelta::milliseconds((minutes * 60_000.0) as i64);
        let now = self.clock.now();
        assert!(target >= now, "time only moves forward");
        self.clock.advance(target - now);
        self.worker.run_until_idle().await.unwrap()
    }

    /// The value of one series on `/metrics` (`name{labels}` exactly as printed), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let url = format!("{}/metrics", self.metrics_base);
        let text = self
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (text.lines())
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn sent(&self) -> Vec<Received> {
        self.sink.received()
    }
}

// Event builders, so tests read as a story.
