//! One client connection: where it stands, the read loop that feeds the parser, and the
//! dispatch of each command to its phase.

use super::{TlsAcceptor, MAX_LINE};
use crate::config::ListenerConfig;
use crate::inbound::Inbound;
use crate::stop::stopped;
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ProtoError, Request};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// Where a session stands.
pub(super) enum State {
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
pub(super) struct Session {
    pub(super) config: Arc<ListenerConfig>,
    pub(super) inbound: Inbound,
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) state: State,
    /// Set once STARTTLS is done; it is not offered twice.
    pub(super) secure: bool,
    /// When the session must end, busy or not (`session_timeout` after the connection).
    pub(super) deadline: tokio::time::Instant,
}

/// What a command asks of the connection besides its reply.
pub(super) enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    pub(super) fn new(
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

    pub(super) async fn run(mut self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
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
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } | Request::Lhlo { .. } => {
                self.hello(request)
            }
            Request::StartTls => self.starttls(),
            Request::Mail { from } => self.mail_from(from),
            Request::Rcpt { to } => self.rcpt_to(to),
            Request::Data => self.data(),
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
}

/// A one-line reply, and the session goes on.
pub(super) fn reply(s: &str) -> (String, Next) {
    (format!("{s}\r\n"), Next::Continue)
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
