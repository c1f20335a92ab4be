//! A real SMTP server on loopback that records what it receives and answers as told (faults
//! included).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
    /// It came after STARTTLS.
    pub tls: bool,
}

/// A connection, plain or after STARTTLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

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

    /// The one-click unsubscribe link: the `https` entry of `List-Unsubscribe`.
    pub fn unsubscribe_url(&self) -> String {
        let header = self.header("List-Unsubscribe").expect("List-Unsubscribe");
        (header.split(','))
            .map(|e| e.trim().trim_matches(['<', '>']))
            .find(|e| e.starts_with("https://"))
            .expect("an https entry")
            .to_string()
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
    faults: Arc<Mutex<Option<Faults>>>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    /// Offers STARTTLS with this certificate when set.
    tls: Option<replyrelay::listener::TlsAcceptor>,
    /// Connections accepted so far.
    connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Offers PIPELINING (RFC 2920) in its EHLO answer.
    pipelining: bool,
    /// Commands that came before the answer to the one sent ahead of them (pipelined).
    pipelined: Arc<std::sync::atomic::AtomicUsize>,
    /// Answers for the next `RCPT TO` commands, in order (default `250 2.1.5 OK`).
    rcpt_script: Arc<Mutex<VecDeque<String>>>,
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
        Self::start_with(None, true).await
    }

    /// A sink that does not offer PIPELINING (and counts commands pipelined all the same).
    pub async fn start_without_pipelining() -> Self {
        Self::start_with(None, false).await
    }

    /// A sink that offers STARTTLS with this certificate and key.
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let tls = replyrelay::listener::tls_acceptor(cert, key).unwrap();
        Self::start_with(Some(tls), true).await
    }

    async fn start_with(tls: Option<replyrelay::listener::TlsAcceptor>, pipelining: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            received: Default::default(),
            script: Default::default(),
            arrived: Arc::new(Notify::new()),
            faults: Default::default(),
            attempts: Default::default(),
            tls,
            connections: Default::default(),
            pipelining,
            pipelined: Default::default(),
            rcpt_script: Default::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                s.connections
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(s.clone().session(socket));
            }
        });
        sink
    }

    /// How many connections the sink has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The next transactions are answered with these replies, in order (`DROP` closes the
    /// connection instead of answering; `LOSE_ANSWER` keeps the message, then does so).
    pub fn answer_next(&self, replies: &[&str]) {
        self.script
            .lock()
            .unwrap()
            .extend(replies.iter().map(|r| r.to_string()));
    }

    /// The next `RCPT TO` commands are answered with these replies, in order.
    pub fn answer_rcpt_next(&self, replies: &[&str]) {
        (self.rcpt_script.lock().unwrap()).extend(replies.iter().map(|r| r.to_string()));
    }

    /// How many commands came pipelined: sent before the answer to the command ahead of them.
    pub fn pipelined_commands(&self) -> usize {
        self.pipelined.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts what has been received, from any thread, for as long as the caller keeps it.
    #[allow(dead_code)] // tests/crash.rs's killer, on a thread of its own
    pub fn received_count(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let received = self.received.clone();
        move || received.lock().unwrap().len()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// From now on, misbehave as `faults` say.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = Some(faults);
    }

    /// Every transaction that reached the data, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// The fault for a transaction to `rcpts`, drawn from the seed, the recipients and how many
    /// transactions to them came before: the same seed replays the same faults per message,
    /// whatever order the connections arrive in.
    fn draw_fault(&self, rcpts: &[String]) -> Fault {
        use std::hash::{Hash, Hasher};
        let guard = self.faults.lock().unwrap();
        let Some(f) = guard.as_ref() else {
            return Fault::None;
        };
        let tries = {
            let attempts = self.attempts.lock().unwrap();
            (attempts.iter())
                .filter(|a| rcpts.contains(&a.rcpt_to))
                .count()
        };
        // SipHash with fixed keys: the same input gives the same draw in every run.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (f.seed, rcpts, tries).hash(&mut h);
        let x = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
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

    /// One connection: the SMTP dialogue, begun again over TLS after STARTTLS.
    async fn session(self, socket: tokio::net::TcpStream) {
        let mut stream: Box<dyn Io> = Box::new(socket);
        let mut tls = false;
        while let Some(plain) = self.clone().dialogue(stream, tls).await {
            let acceptor = self
                .tls
                .clone()
                .expect("STARTTLS is offered only with a certificate");
            let Ok(secured) = acceptor.accept(plain).await else {
                return;
            };
            stream = Box::new(secured);
            tls = true;
        }
    }

    /// Speaks SMTP on `socket` until it closes (`None`), or until the client asks for STARTTLS
    /// (the socket handed back, to be secured).
    async fn dialogue(self, mut socket: Box<dyn Io>, tls: bool) -> Option<Box<dyn Io>> {
        use smtp_proto::request::receiver::DataReceiver;
        use smtp_proto::{Error, Request};
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut helo = String::new();
        let mut from = String::new();
        let mut rcpts: Vec<String> = Vec::new();
        let mut data: Option<(DataReceiver, Vec<u8>)> = None;
        let mut fault = Fault::None;
        // After STARTTLS the client speaks first (EHLO again): no second greeting.
        if !tls && socket.write_all(b"220 sink ESMTP\r\n").await.is_err() {
            return None;
        }
        loop {
            let n = match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut iter = buf.iter();
            let mut out = String::new();
            loop {
                if let Some((receiver, body)) = data.as_mut() {
                    if fault == Fault::Drop && iter.len() > 0 {
                        self.record(&rcpts, "dropped");
                        return None;
                    }
                    if !receiver.ingest(&mut iter, body) {
                        break;
                    }
                    let body = std::mem::take(body);
                    data = None;
                    let refuse = self.faults.lock().unwrap().as_ref().and_then(|f| {
                        let prefix = f.refuse_prefix.as_deref()?;
                        rcpts.iter().any(|r| r.starts_with(prefix)).then_some(())
                    });
                    let reply = match fault {
                        Fault::Stall => {
                            self.record(&rcpts, "stalled");
                            let stall_for = self.faults.lock().unwrap().as_ref().unwrap().stall_for;
                            tokio::time::sleep(stall_for).await;
                            return None;
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
                        return None;
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
                            tls,
                        });
                        self.arrived.notify_waiters();
                    }
                    if lose_answer {
                        return None;
                    }
                    out.push_str(&reply);
                    out.push_str("\r\n");
                    continue;
                }
                let before = iter.clone();
                let request = Request::parse(&mut iter);
                // A command read while an answer is still to be written came pipelined.
                if request.is_ok() && !out.is_empty() {
                    (self.pipelined).fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                match request {
                    Ok(Request::Ehlo { host }) => {
                        helo = host.to_string();
                        out.push_str("250-sink\r\n250-AUTH PLAIN\r\n");
                        if self.pipelining {
                            out.push_str("250-PIPELINING\r\n");
                        }
                        if self.tls.is_some() && !tls {
                            out.push_str("250-STARTTLS\r\n");
                        }
                        out.push_str("250 8BITMIME\r\n");
                    }
                    Ok(Request::Mail { from: f }) => {
                        from = f.address.to_string();
                        rcpts.clear();
                        out.push_str("250 2.1.0 OK\r\n");
                    }
                    Ok(Request::Rcpt { to }) => {
                        let reply = (self.rcpt_script.lock().unwrap().pop_front())
                            .unwrap_or_else(|| "250 2.1.5 OK".into());
                        if reply.starts_with('2') {
                            rcpts.push(to.address.to_string());
                        }
                        out.push_str(&reply);
                        out.push_str("\r\n");
                    }
                    // As Postfix answers a pipelined DATA whose recipients were all refused.
                    Ok(Request::Data) if rcpts.is_empty() => {
                        out.push_str("554 5.5.1 Error: no valid recipients\r\n");
                    }
                    Ok(Request::Data) => {
                        fault = self.draw_fault(&rcpts);
                        data = Some((DataReceiver::new(), Vec::new()));
                        out.push_str("354 go ahead\r\n");
                    }
                    Ok(Request::StartTls) if self.tls.is_some() && !tls => {
                        out.push_str("220 2.0.0 ready for TLS\r\n");
                        if socket.write_all(out.as_bytes()).await.is_err() {
                            return None;
                        }
                        return Some(socket);
                    }
                    // Any credentials will do: the sink is not what is being tested.
                    Ok(Request::Auth { .. }) => out.push_str("235 2.7.0 accepted\r\n"),
                    Ok(Request::Quit) => {
                        let _ = socket
                            .write_all(format!("{out}221 bye\r\n").as_bytes())
                            .await;
                        return None;
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
                return None;
            }
        }
    }
}
