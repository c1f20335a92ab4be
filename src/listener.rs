//! The SMTP/LMTP listener the mail system hands `reply+…@` mail to.
//!
//! Each connection is a [`Session`]: an explicit state machine fed by a read buffer that is
//! parsed with `smtp-proto` and refilled only when a command or the message is incomplete. A
//! bad reply token is refused at `RCPT TO`, so the sender's own server bounces it; a message is
//! answered `250` only once the pipeline has stored it (`451` if it could not be). Limits:
//! message size (an oversize message is drained to its end, then refused), connections at once,
//! idle time. On shutdown every session answers `421` at its next command.

use crate::config::ListenerConfig;
use crate::inbound::{Envelope, Inbound, Outcome, Rejection};
use crate::stop::stopped;
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ProtoError, Request};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

/// Most recipients in one transaction.
const MAX_RECIPIENTS: usize = 50;
/// Longest command line we wait for before calling it garbage.
const MAX_LINE: usize = 4096;

/// What TLS the listener can offer.
pub type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// Loads the STARTTLS certificate and key.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    config: ListenerConfig,
    inbound: Inbound,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let config = Arc::new(config);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut shutdown) => return,
        };
        let (mut socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let _ = socket
                .write_all(b"421 4.3.2 too many connections, try later\r\n")
                .await;
            continue;
        };
        let session = Session::new(
            config.clone(),
            inbound.clone(),
            tls.clone(),
            shutdown.clone(),
        );
        let span = tracing::info_span!("smtp", %peer);
        tokio::spawn(
            async move {
                if let Err(e) = session.run(socket).await {
                    tracing::debug!(error = %e, "session ended");
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
}

/// Where a session stands.
enum State {
    /// Connected; waiting for EHLO/HELO (LHLO for LMTP).
    Connected,
    /// Greeted; no transaction.
    Ready,
    /// `MAIL FROM` given.
    Mail { from: String },
    /// At least one recipient accepted.
    Rcpt { from: String, rcpts: Vec<String> },
    /// Receiving the message.
    Data {
        from: String,
        rcpts: Vec<String>,
        receiver: DataReceiver,
        body: Vec<u8>,
    },
    /// Receiving a message that is already too big, to refuse it once it ends.
    Draining(DummyDataReceiver),
}

/// One client connection.
struct Session {
    config: Arc<ListenerConfig>,
    inbound: Inbound,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
    state: State,
    /// Set once STARTTLS is done; it is not offered twice.
    secure: bool,
    /// When the session must end, busy or not (`session_timeout` after the connection).
    deadline: tokio::time::Instant,
}

/// What a command asks of the connection besides its reply.
enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    fn new(
        config: Arc<ListenerConfig>,
        inbound: Inbound,
        tls: Option<TlsAcceptor>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            inbound,
            tls,
            shutdown,
            state: State::Connected,
            secure: false,
            deadline: tokio::time::Instant::now() + config.session_timeout,
            config,
        }
    }

    async fn run(mut self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut socket = socket;
        let greeting = format!("220 {} ESMTP replyrelay\r\n", self.config.hostname);
        socket.write_all(greeting.as_bytes()).await?;
        match self.converse(&mut socket).await? {
            Next::StartTls => {
                let acceptor = self.tls.clone().expect("offered only with TLS");
                let mut tls = acceptor.accept(socket).await?;
                self.secure = true;
                self.state = State::Connected;
                self.converse(&mut tls).await?;
                let _ = tls.shutdown().await;
            }
            _ => {
                let _ = socket.shutdown().await;
            }
        }
        Ok(())
    }

    /// Reads, parses and answers until the client quits, the connection fails, or STARTTLS.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
    ) -> std::io::Result<Next> {
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16384];
        loop {
            let idle_until = tokio::time::Instant::now() + self.config.idle_timeout;
            let read = tokio::select! {
                r = tokio::time::timeout_at(idle_until.min(self.deadline), io.read(&mut chunk)) => r,
                _ = stopped(&mut self.shutdown) => {
                    io.write_all(b"421 4.3.2 shutting down\r\n").await?;
                    return Ok(Next::Close);
                }
            };
            let n = match read {
                Err(_) if tokio::time::Instant::now() >= self.deadline => {
                    io.write_all(b"421 4.4.2 session too long, closing\r\n")
                        .await?;
                    return Ok(Next::Close);
                }
                Err(_) => {
                    io.write_all(b"421 4.4.2 idle too long, closing\r\n")
                        .await?;
                    return Ok(Next::Close);
                }
                Ok(r) => r?,
            };
            if n == 0 {
                return Ok(Next::Close);
            }
            buf.extend_from_slice(&chunk[..n]);
            // Answer everything complete in the buffer (pipelining), then read more.
            let mut replies = String::new();
            let mut consumed = 0;
            let mut next = Next::Continue;
            while consumed < buf.len() {
                let (used, reply, after) = self.step(&buf[consumed..]).await;
                consumed += used;
                replies.push_str(&reply);
                match after {
                    Next::Continue if used == 0 => break,
                    Next::Continue => {}
                    other => {
                        next = other;
                        break;
                    }
                }
            }
            buf.drain(..consumed);
            if !matches!(self.state, State::Data { .. } | State::Draining(_))
                && buf.len() > MAX_LINE
            {
                replies.push_str("500 5.5.2 line too long\r\n");
                buf.clear();
            }
            if !replies.is_empty() {
                // A client that pipelines commands but never reads the answers would block
                // this write for ever once the socket's buffer is full: it gets idle_timeout.
                let write = async {
                    io.write_all(replies.as_bytes()).await?;
                    io.flush().await
                };
                match tokio::time::timeout(self.config.idle_timeout, write).await {
                    Ok(r) => r?,
                    Err(_) => return Ok(Next::Close),
                }
            }
            match next {
                Next::Continue => {}
                Next::StartTls if !buf.is_empty() => {
                    // Commands pipelined after STARTTLS could be injected in clear: refuse.
                    io.write_all(b"421 4.7.0 no pipelining over STARTTLS\r\n")
                        .await?;
                    return Ok(Next::Close);
                }
                other => return Ok(other),
            }
        }
    }

    /// Handles what `input` starts with; returns the bytes used, the reply, and what follows.
    async fn step(&mut self, input: &[u8]) -> (usize, String, Next) {
        let max = self.inbound.limits().max_message_size;
        match &mut self.state {
            State::Data { receiver, body, .. } => {
                let mut iter = input.iter();
                let done = receiver.ingest(&mut iter, body);
                let used = input.len() - iter.as_slice().len();
                if body.len() > max {
                    let dummy = DummyDataReceiver::new_data(receiver);
                    self.state = State::Draining(dummy);
                    return (used, String::new(), Next::Continue);
                }
                if !done {
                    return (used, String::new(), Next::Continue);
                }
                let State::Data {
                    from, rcpts, body, ..
                } = std::mem::replace(&mut self.state, State::Ready)
                else {
                    unreachable!()
                };
                let reply = self.deliver(from, rcpts, body).await;
                (used, reply, Next::Continue)
            }
            State::Draining(dummy) => {
                let mut iter = input.iter();
                let done = dummy.ingest(&mut iter);
                let used = input.len() - iter.as_slice().len();
                if done {
                    self.state = State::Ready;
                    crate::inbound::received(if self.config.lmtp { "lmtp" } else { "smtp" });
                    crate::metrics::get()
                        .replies_rejected
                        .get_or_create(&crate::metrics::label("reason", "size"))
                        .inc();
                    (used, "552 5.3.4 message too big\r\n".into(), Next::Continue)
                } else {
                    (used, String::new(), Next::Continue)
                }
            }
            _ => {
                let mut iter = input.iter();
                let parsed = Request::parse(&mut iter);
                let used = input.len() - iter.as_slice().len();
                match parsed {
                    Err(ProtoError::NeedsMoreData { .. }) => (0, String::new(), Next::Continue),
                    Err(e) => (used.max(line_len(input)), error_reply(&e), Next::Continue),
                    Ok(request) => {
                        let request = request.into_owned();
                        let (reply, next) = self.command(request).await;
                        (used, reply, next)
                    }
                }
            }
        }
    }

    async fn command(&mut self, request: Request<String>) -> (String, Next) {
        let lmtp = self.config.lmtp;
        let reply = |s: &str| (format!("{s}\r\n"), Next::Continue);
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } if lmtp => {
                reply("500 5.5.1 this is LMTP: use LHLO")
            }
            Request::Lhlo { .. } if !lmtp => reply("500 5.5.1 this is SMTP: use EHLO"),
            Request::Helo { .. } => {
                self.state = State::Ready;
                reply(&format!("250 {}", self.config.hostname))
            }
            Request::Ehlo { .. } | Request::Lhlo { .. } => {
                self.state = State::Ready;
                let mut caps = vec![
                    self.config.hostname.clone(),
                    "PIPELINING".into(),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    format!("SIZE {}", self.inbound.limits().max_message_size),
                ];
                if self.tls.is_some() && !self.secure {
                    caps.push("STARTTLS".into());
                }
                let last = caps.len() - 1;
                let text: String = caps
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("250{}{c}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                (text, Next::Continue)
            }
            Request::StartTls if self.tls.is_some() && !self.secure => {
                ("220 2.0.0 ready to start TLS\r\n".into(), Next::StartTls)
            }
            Request::StartTls => reply("502 5.5.1 STARTTLS not available"),
            Request::Mail { from } => match &self.state {
                State::Connected => reply("503 5.5.1 say hello first"),
                State::Ready => {
                    if from.size > self.inbound.limits().max_message_size {
                        return reply("552 5.3.4 message too big");
                    }
                    self.state = State::Mail { from: from.address };
                    reply("250 2.1.0 sender OK")
                }
                _ => reply("503 5.5.1 sender already given"),
            },
            Request::Rcpt { to } => {
                let (from, mut rcpts) = match std::mem::replace(&mut self.state, State::Ready) {
                    State::Mail { from } => (from, Vec::new()),
                    State::Rcpt { from, rcpts } => (from, rcpts),
                    other => {
                        self.state = other;
                        return reply("503 5.5.1 need MAIL FROM first");
                    }
                };
                let answer = if rcpts.len() >= MAX_RECIPIENTS {
                    "452 4.5.3 too many recipients".to_string()
                } else {
                    match self.inbound.check_recipient(&to.address) {
                        Ok(()) => {
                            rcpts.push(to.address);
                            "250 2.1.5 recipient OK".into()
                        }
                        Err(rejection) => {
                            let (code, text) = rejection.smtp_reply();
                            format!("{code} {text}")
                        }
                    }
                };
                self.state = if rcpts.is_empty() {
                    State::Mail { from }
                } else {
                    State::Rcpt { from, rcpts }
                };
                reply(&answer)
            }
            Request::Data => match std::mem::replace(&mut self.state, State::Ready) {
                State::Rcpt { from, rcpts } => {
                    self.state = State::Data {
                        from,
                        rcpts,
                        receiver: DataReceiver::new(),
                        body: Vec::new(),
                    };
                    reply("354 end data with <CR><LF>.<CR><LF>")
                }
                other => {
                    self.state = other;
                    reply("503 5.5.1 need RCPT TO first")
                }
            },
            Request::Bdat { .. } => reply("502 5.5.1 CHUNKING not offered"),
            Request::Rset => {
                if !matches!(self.state, State::Connected) {
                    self.state = State::Ready;
                }
                reply("250 2.0.0 reset")
            }
            Request::Noop { .. } => reply("250 2.0.0 OK"),
            Request::Vrfy { .. } | Request::Expn { .. } => reply("252 2.1.5 cannot verify"),
            Request::Quit => ("221 2.0.0 bye\r\n".into(), Next::Close),
            Request::Auth { .. } => reply("502 5.5.1 no authentication here"),
            _ => reply("502 5.5.1 command not implemented"),
        }
    }

    /// Hands a complete message to the pipeline; the reply says whether it was stored.
    async fn deliver(&self, from: String, rcpts: Vec<String>, body: Vec<u8>) -> String {
        crate::inbound::received(if self.config.lmtp { "lmtp" } else { "smtp" });
        let mail_from = Some(from);
        let answer = |outcome: anyhow::Result<Outcome>| match outcome {
            Ok(Outcome::Rejected(r)) => {
                let (code, text) = r.smtp_reply();
                format!("{code} {text}\r\n")
            }
            Ok(_) => "250 2.0.0 message accepted\r\n".to_string(),
            Err(e) => {
                tracing::error!(error = %e, "could not store an inbound message");
                "451 4.3.0 could not store the message, try again later\r\n".to_string()
            }
        };
        if self.config.lmtp {
            // LMTP: one answer per recipient, in order.
            let mut replies = String::new();
            for rcpt in rcpts {
                let envelope = Envelope {
                    mail_from: mail_from.clone(),
                    rcpt_to: vec![rcpt],
                };
                replies.push_str(&answer(self.inbound.deliver(&body, &envelope).await));
            }
            replies
        } else {
            let envelope = Envelope {
                mail_from,
                rcpt_to: rcpts,
            };
            answer(self.inbound.deliver(&body, &envelope).await)
        }
    }
}

/// Length of the first line of `input` (to skip past a command that does not parse).
fn line_len(input: &[u8]) -> usize {
    input
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |p| p + 1)
}

fn error_reply(e: &ProtoError) -> String {
    match e {
        ProtoError::UnknownCommand => "500 5.5.1 command not recognised\r\n".into(),
        ProtoError::InvalidSenderAddress => "501 5.1.7 bad sender address\r\n".into(),
        ProtoError::InvalidRecipientAddress => "501 5.1.3 bad recipient address\r\n".into(),
        ProtoError::ResponseTooLong => "500 5.5.2 line too long\r\n".into(),
        _ => "501 5.5.4 syntax error\r\n".into(),
    }
}

/// How a rejection reads, for logs.
pub fn describe(r: &Rejection) -> String {
    let (code, text) = r.smtp_reply();
    format!("{code} {text}")
}
