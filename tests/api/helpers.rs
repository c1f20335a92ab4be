//! What every API test needs: a daemon on a fresh database and port 0, a manual clock, and a
//! real SMTP server on loopback that records what it receives and answers as told.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use replyrelay::app::Application;
use replyrelay::clock::Clock;
use replyrelay::worker::{Step, Worker};
use rstest_reuse::template;
use serde_json::Value;
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One message as the SMTP server got it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The name the client gave in `EHLO`.
    pub helo: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .expect("a text part")
            .replace("\r\n", "\n")
    }

    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .expect("an HTML part")
            .replace("\r\n", "\n")
    }
}

/// A misbehaving relay: each transaction meets at most one fault, drawn at random (from a
/// seed, so a failing run can be replayed) with these shares.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub seed: u64,
    /// Share answered `451 4.3.0` at the end of the data.
    pub temporary: f64,
    /// Share whose connection is closed during the data, before any answer.
    pub drop_mid_data: f64,
    /// Share never answered after the data; the connection is closed after `stall_for`.
    pub stall: f64,
    pub stall_for: std::time::Duration,
    /// Recipients starting with this are always refused, `554 5.7.1`, at the end of the data.
    pub refuse_prefix: Option<String>,
}

/// One transaction the sink saw the data of, and how it ended.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub rcpt_to: String,
    /// `250`, `451`, `554`, `dropped`, `stalled` or a scripted reply.
    pub outcome: String,
}

/// A small SMTP server built on smtp-proto: it records every message and answers the end of
/// DATA with the next scripted reply (default `250 2.0.0 OK`), or as its [`Faults`] say.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<String>>>,
    arrived: Arc<Notify>,
    faults: Arc<Mutex<Option<(Faults, rand::rngs::StdRng)>>>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
}

/// What the sink does with one transaction.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    Temporary,
    Drop,
    Stall,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            received: Default::default(),
            script: Default::default(),
            arrived: Arc::new(Notify::new()),
            faults: Default::default(),
            attempts: Default::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(s.clone().session(socket));
            }
        });
        sink
    }

    /// The next transactions are answered with these replies, in order (`DROP` closes the
    /// connection instead of answering; `LOSE_ANSWER` keeps the message, then does so).
    pub fn answer_next(&self, replies: &[&str]) {
        self.script
            .lock()
            .unwrap()
            .extend(replies.iter().map(|r| r.to_string()));
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// From now on, misbehave as `faults` say.
    pub fn set_faults(&self, faults: Faults) {
        use rand::SeedableRng;
        let rng = rand::rngs::StdRng::seed_from_u64(faults.seed);
        *self.faults.lock().unwrap() = Some((faults, rng));
    }

    /// Every transaction that reached the data, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    fn draw_fault(&self) -> Fault {
        use rand::Rng;
        let mut guard = self.faults.lock().unwrap();
        let Some((f, rng)) = guard.as_mut() else {
            return Fault::None;
        };
        let x: f64 = rng.gen();
        if x < f.temporary {
            Fault::Temporary
        } else if x < f.temporary + f.drop_mid_data {
            Fault::Drop
        } else if x < f.temporary + f.drop_mid_data + f.stall {
            Fault::Stall
        } else {
            Fault::None
        }
    }

    fn record(&self, rcpts: &[String], outcome: &str) {
        let mut attempts = self.attempts.lock().unwrap();
        for r in rcpts {
            attempts.push(Attempt {
                rcpt_to: r.clone(),
                outcome: outcome.to_string(),
            });
        }
    }

    /// Waits until `n` messages were accepted, or panics after `secs` seconds.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let notified = self.arrived.notified();
            if self.received().len() >= n {
                return self.received();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} messages, got {}", self.received().len());
            }
        }
    }

    async fn session(self, mut socket: tokio::net::TcpStream) {
        use smtp_proto::request::receiver::DataReceiver;
        use smtp_proto::{Error, Request};
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut helo = String::new();
        let mut from = String::new();
        let mut rcpts: Vec<String> = Vec::new();
        let mut data: Option<(DataReceiver, Vec<u8>)> = None;
        let mut fault = Fault::None;
        if socket.write_all(b"220 sink ESMTP\r\n").await.is_err() {
            return;
        }
        loop {
            let n = match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut iter = buf.iter();
            let mut out = String::new();
            loop {
                if let Some((receiver, body)) = data.as_mut() {
                    if fault == Fault::Drop && iter.len() > 0 {
                        self.record(&rcpts, "dropped");
                        return;
                    }
                    if !receiver.ingest(&mut iter, body) {
                        break;
                    }
                    let body = std::mem::take(body);
                    data = None;
                    let refuse = self.faults.lock().unwrap().as_ref().and_then(|(f, _)| {
                        let prefix = f.refuse_prefix.as_deref()?;
                        rcpts.iter().any(|r| r.starts_with(prefix)).then_some(())
                    });
                    let reply = match fault {
                        Fault::Stall => {
                            self.record(&rcpts, "stalled");
                            let stall_for =
                                self.faults.lock().unwrap().as_ref().unwrap().0.stall_for;
                            tokio::time::sleep(stall_for).await;
                            return;
                        }
                        _ if refuse.is_some() => "554 5.7.1 refused by policy".to_string(),
                        Fault::Temporary => "451 4.3.0 try again later".to_string(),
                        _ => self
                            .script
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or_else(|| "250 2.0.0 OK".into()),
                    };
                    self.record(&rcpts, reply.split(' ').next().unwrap_or_default());
                    // "DROP": the connection breaks after the data, with no answer at all.
                    if reply == "DROP" {
                        return;
                    }
                    // "LOSE_ANSWER": taken, but the connection breaks before the 250 reaches
                    // the client (which cannot know it was delivered).
                    let lose_answer = reply == "LOSE_ANSWER";
                    if reply.starts_with('2') || lose_answer {
                        self.received.lock().unwrap().push(Received {
                            helo: helo.clone(),
                            mail_from: std::mem::take(&mut from),
                            rcpt_to: std::mem::take(&mut rcpts),
                            data: body,
                        });
                        self.arrived.notify_waiters();
                    }
                    if lose_answer {
                        return;
                    }
                    out.push_str(&reply);
                    out.push_str("\r\n");
                    continue;
                }
                let before = iter.clone();
                match Request::parse(&mut iter) {
                    Ok(Request::Ehlo { host }) => {
                        helo = host.to_string();
                        out.push_str(
                            "250-sink\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                        )
                    }
                    Ok(Request::Mail { from: f }) => {
                        from = f.address.to_string();
                        rcpts.clear();
                        out.push_str("250 2.1.0 OK\r\n");
                    }
                    Ok(Request::Rcpt { to }) => {
                        rcpts.push(to.address.to_string());
                        out.push_str("250 2.1.5 OK\r\n");
                    }
                    Ok(Request::Data) => {
                        fault = self.draw_fault();
                        data = Some((DataReceiver::new(), Vec::new()));
                        out.push_str("354 go ahead\r\n");
                    }
                    // Any credentials will do: the sink is not what is being tested.
                    Ok(Request::Auth { .. }) => out.push_str("235 2.7.0 accepted\r\n"),
                    Ok(Request::Quit) => {
                        let _ = socket
                            .write_all(format!("{out}221 bye\r\n").as_bytes())
                            .await;
                        return;
                    }
                    Ok(_) => out.push_str("250 OK\r\n"),
                    Err(Error::NeedsMoreData { .. }) => {
                        iter = before;
                        break;
                    }
                    Err(_) => out.push_str("500 5.5.2 syntax error\r\n"),
                }
            }
            buf = iter.as_slice().to_vec();
            if !out.is_empty() && socket.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// One webhook as the platform got it.
#[derive(Clone, Debug)]
pub struct Hook {
    pub signature: String,
    pub body: String,
}

impl Hook {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// The chat platform's webhook endpoint: records what it gets, and fails the first
/// `fail_first` requests with a 500.
#[derive(Clone)]
pub struct WebhookSink {
    pub url: String,
    received: Arc<Mutex<Vec<Hook>>>,
    failures_left: Arc<Mutex<usize>>,
}

impl WebhookSink {
    pub async fn start() -> Self {
        use axum::{body::Bytes, http::HeaderMap, http::StatusCode, routing::post, Router};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = WebhookSink {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            received: Default::default(),
            failures_left: Default::default(),
        };
        let s = sink.clone();
        let app = Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let mut left = s.failures_left.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    s.received.lock().unwrap().push(Hook {
                        signature: headers
                            .get("x-replyrelay-signature")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default(),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        sink
    }

    pub fn fail_first(&self, n: usize) {
        *self.failures_left.lock().unwrap() = n;
    }

    pub fn received(&self) -> Vec<Hook> {
        self.received.lock().unwrap().clone()
    }

    /// The webhooks of one type.
    pub fn of_type(&self, event: &str) -> Vec<Value> {
        self.received()
            .iter()
            .map(Hook::json)
            .filter(|v| v["type"] == event)
            .collect()
    }
}

/// The secret the test site signs webhooks with.
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

/// Checks a webhook signature the way a platform would, with its own HMAC code.
pub fn signature_is_valid(hook: &Hook) -> bool {
    use hmac::{Hmac, Mac};
    let Some((t, v1)) = hook.signature.split_once(",v1=") else {
        return false;
    };
    let t = t.trim_start_matches("t=");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hook.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// A visitor's email answer to `email`: Gmail-shaped, quoting it under an attribution line.
pub fn reply_to(email: &Received, from: &str, text: &str) -> Vec<u8> {
    reply_with(email, from, &format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nOn Mon, 2 Mar 2026 at 10:06, Acme <support@acme.example> wrote:\r\n\r\n> ## Reply above this line to answer ##\r\n> Yes, in 3 days.\r\n"))
}

/// A reply to `email` with the given MIME headers-and-body (after the envelope headers).
pub fn reply_with(email: &Received, from: &str, mime: &str) -> Vec<u8> {
    let to = email.header("Reply-To").unwrap();
    let id = email.header("Message-ID").unwrap();
    format!(
        "From: Ana Souza <{from}>\r\nTo: {to}\r\nSubject: Re: {}\r\nDate: Mon, 2 Mar 2026 10:30:00 +0000\r\nMessage-ID: <{}@mail.visitor.example>\r\nIn-Reply-To: {id}\r\nReferences: {id}\r\nMIME-Version: 1.0\r\n{mime}",
        email.header("Subject").unwrap(),
        uuid::Uuid::new_v4().simple(),
    )
    .into_bytes()
}

/// The instant tests start at; events name times relative to it.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// RFC 3339 for `t0 + minutes`.
pub fn at(minutes: f64) -> String {
    (t0() + TimeDelta::milliseconds((minutes * 60_000.0) as i64)).to_rfc3339()
}

pub const TOKEN: &str = "acme-token-0123456789";
pub const OTHER_TOKEN: &str = "other-token-0123456789";
/// The key the test daemon signs reply tokens with (`[secrets] token_keys`).
pub const TEST_TOKEN_KEY: &str = "test-key-0123456789-0123456789-0123456789";

/// A running daemon for one test.
pub struct TestApp {
    pub base: String,
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

/// The storage backends every test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test once per backend: `#[apply(backends)]` on a test taking `#[case] backend`.
#[template]
#[export]
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
pub fn backends(#[case] backend: Backend) {}

/// The URL of the PostgreSQL server tests may use, if any.
pub fn postgres_server() -> Option<String> {
    match std::env::var("REPLYRELAY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written past the test harness's capture, once, so a laptop run says what it skipped.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "PostgreSQL tests skipped: REPLYRELAY_TEST_POSTGRES_URL is unset"
                );
            });
            None
        }
    }
}

/// A fresh database of its own on the test server, as a URL.
pub async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    let server = postgres_server()?;
    let name = format!("rr_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, query) = server
        .split_once('?')
        .map_or((server.as_str(), ""), |(b, q)| (b, q));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    Some(url)
}

/// The database URL for a test on `backend` (a file in `dir` for SQLite), or `None` when the
/// backend is not available here.
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("rr.db").display())),
        Backend::Postgres => fresh_postgres_database().await,
    }
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
    let sink = SmtpSink::start().await;
    let hooks = WebhookSink::start().await;
    let config = format!(
        r#"
{top}

[api]
listen = "127.0.0.1:0"
public_url = "https://relay.example.net"

[database]
url = "{db}"

[delivery]
retry_initial = "30s"
give_up_after = "1h"

[delivery.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
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
        port = sink.port,
        hook_url = hooks.url,
        // "# smtp KEY = VALUE" lines in `top` go into `[delivery.smtp]`.
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
    let worker = app.worker();
    let inbound = app.inbound();
    let smtp = app.smtp_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(background_worker, async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
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

/// Brings the database at `db` to the schema of migration `version` and no further, as an
/// earlier release of the daemon left it.
pub async fn migrate_to(db: &str, version: u32) {
    let backend = if db.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let number: u32 = name.split('_').next().unwrap().parse().unwrap();
        if number <= version {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    if backend == "sqlite" {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(db)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(db).await.unwrap();
        migrator.run(&pool).await.unwrap();
    }
}

/// Runs `sql` on the database at `db`, whichever backend it is.
pub async fn execute(db: &str, sql: &str) {
    use sqlx::Connection;
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
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

    pub fn sent(&self) -> Vec<Received> {
        self.sink.received()
    }
}

// Event builders, so tests read as a story.

pub fn visitor(conv: &str, email: Option<&str>, at_min: f64) -> Value {
    let mut v = serde_json::json!({"id": format!("v-{conv}"), "name": "Ana Souza"});
    if let Some(e) = email {
        v["email"] = e.into();
    }
    serde_json::json!({"type": "visitor", "conversation": conv, "visitor": v, "at": at(at_min)})
}

pub fn message(conv: &str, id: &str, author: &str, text: &str, at_min: f64) -> Value {
    let mut m = serde_json::json!({"id": id, "author": author, "text": text});
    if author == "agent" {
        m["name"] = "Sam".into();
    }
    serde_json::json!({"type": "message", "conversation": conv, "message": m, "at": at(at_min)})
}

pub fn presence(conv: &str, state: &str, at_min: f64) -> Value {
    serde_json::json!({"type": "presence", "conversation": conv, "state": state, "at": at(at_min)})
}

pub fn read(conv: &str, message_id: &str, at_min: f64) -> Value {
    serde_json::json!({"type": "read", "conversation": conv, "message_id": message_id, "at": at(at_min)})
}

/// Conversation `conv` as many tests start it: asked at minute 0, the visitor gone at 0.5,
/// answered at 1; the clock is at minute 1 and the email is due at 5.5.
pub async fn one_due_email(app: &TestApp, conv: &str) {
    app.at_minute(1.0).await;
    let mut events = asked_and_answered(conv);
    events.push(presence(conv, "left", 0.5));
    app.events(events).await;
}

/// [`one_due_email`], then minute 5.5: the email that went out for `conv`.
pub async fn emailed(app: &TestApp, conv: &str) -> Received {
    one_due_email(app, conv).await;
    app.at_minute(5.5).await;
    app.sent()
        .into_iter()
        .rev()
        .find(|e| e.text().contains("Do you ship to Spain?"))
        .expect("an email went out")
}

/// A visitor who asked a question at minute 0 and was answered at minute 1.
pub fn asked_and_answered(conv: &str) -> Vec<Value> {
    vec![
        visitor(conv, Some("ana@visitor.example"), 0.0),
        message(conv, "q1", "visitor", "Do you ship to Spain?", 0.0),
        message(conv, "a1", "agent", "Yes, in **3 days**.", 1.0),
    ]
}
