//! Handing finished emails to the mail system: an SMTP relay through lettre, or a maildir
//! folder for development. Both get the exact bytes composed before the first attempt.

use crate::config::{SmtpConfig, SmtpSecurity, Transport as TransportConfig};
use crate::trust::Trust;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

mod pipelined;

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: a 4xx answer, a timeout, a network error.
    #[error("temporary failure, to be retried: {0}")]
    Transient(String),
    /// Do not try again: a 5xx answer. `bad_address` when it proves the address dead (see
    /// `crate::failure`), which suppresses it.
    #[error("refused: {reply}")]
    Permanent {
        reply: String,
        bad_address: bool,
        /// The failure is about the address, though it does not prove it dead (a full
        /// mailbox): it counts toward `soft_bounce_limit`.
        soft_bounce: bool,
    },
}

/// Where emails go.
#[derive(Clone)]
pub enum Transport {
    Maildir(PathBuf),
    Smtp(Arc<SmtpPool>),
}

impl Transport {
    pub fn from_config(config: &TransportConfig, trust: &Trust) -> anyhow::Result<Self> {
        Ok(match config {
            TransportConfig::Maildir(dir) => {
                for sub in ["tmp", "new", "cur"] {
                    std::fs::create_dir_all(dir.join(sub))?;
                }
                Transport::Maildir(dir.clone())
            }
            TransportConfig::Smtp(smtp) => {
                Transport::Smtp(Arc::new(SmtpPool::new(smtp.clone(), trust)?))
            }
        })
    }

    /// How many messages may be in flight at once.
    pub fn concurrency(&self) -> usize {
        match self {
            Transport::Maildir(_) => 4,
            Transport::Smtp(pool) => pool.config.pool_size as usize,
        }
    }

    /// Sends one message; on success returns the relay's answer.
    pub async fn send(
        &self,
        mail_from: &str,
        rcpt_to: &str,
        raw: &[u8],
    ) -> Result<String, SendError> {
        match self {
            Transport::Maildir(dir) => {
                let dir = dir.clone();
                let raw = raw.to_vec();
                tokio::task::spawn_blocking(move || write_maildir(&dir, &raw))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map_err(|e| SendError::Transient(format!("maildir: {e}")))
            }
            Transport::Smtp(pool) => {
                let envelope = Envelope::new(
                    Some(
                        mail_from
                            .parse()
                            .map_err(|e| permanent(format!("sender: {e}")))?,
                    ),
                    vec![rcpt_to.parse().map_err(|e| SendError::Permanent {
                        reply: format!("recipient: {e}"),
                        bad_address: true,
                        soft_bounce: false,
                    })?],
                )
                .map_err(|e| permanent(e.to_string()))?;
                pool.send(&envelope, raw).await
            }
        }
    }
}

fn permanent(reply: String) -> SendError {
    SendError::Permanent {
        reply,
        bad_address: false,
        soft_bounce: false,
    }
}

/// A pool of SMTP connections to the relay, built on lettre's connection type.
///
/// lettre's own pooled transport leaves Nagle's algorithm on, and against a relay that answers
/// at once each transaction then stalls on delayed ACKs (~40 ms on Linux loopback). Here every
/// socket is opened by us with `TCP_NODELAY` and handed to lettre, which still speaks the
/// protocol (EHLO, STARTTLS, AUTH, the message); MAIL, RCPT and DATA go pipelined where the
/// relay offers it (see `pipelined.rs`).
pub struct SmtpPool {
    config: SmtpConfig,
    /// How the relay's certificate is checked (the daemon's one trust store), made once: the
    /// platform verifier reads the system's roots as it is built.
    tls: TlsParameters,
    /// Connections ready for another transaction, with when they were last used.
    idle: Mutex<Vec<(Connection, Instant)>>,
    /// At most `pool_size` transactions (and so connections) at once.
    permits: Semaphore,
}

/// A connection to the relay, with what it offers that lettre does not keep.
struct Connection {
    smtp: AsyncSmtpConnection,
    /// The relay offered PIPELINING: a transaction's commands go in one write.
    pipelining: bool,
}

/// A connection idle longer than this is checked with NOOP before it is reused.
const IDLE_CHECK: Duration = Duration::from_secs(10);

impl SmtpPool {
    pub fn new(config: SmtpConfig, trust: &Trust) -> anyhow::Result<Self> {
        let permits = Semaphore::new(config.pool_size as usize);
        Ok(Self {
            tls: trust.smtp(&config.host)?,
            config,
            idle: Mutex::new(Vec::new()),
            permits,
        })
    }

    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<String, SendError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        let mut conn = self.take().await?;
        let transaction = async {
            match conn.pipelining {
                true => pipelined::send(&mut conn.smtp, envelope, raw).await,
                false => conn.smtp.send(envelope, raw).await,
            }
        };
        let sent = tokio::time::timeout(self.config.timeout, transaction).await;
        match sent {
            Ok(Ok(response)) => {
                self.idle
                    .lock()
                    .expect("pool lock")
                    .push((conn, Instant::now()));
                Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ))
            }
            // lettre closes the connection after any error; it is not returned to the pool.
            Ok(Err(e)) if e.is_permanent() => {
                let reply = relay_answer(&e);
                // Only a reply that proves the mailbox dead (not "5.1." anywhere in it: a
                // blocked relay's "550 5.7.1 Client host 10.5.1.3" would silence everyone).
                let status = crate::failure::status_in(&reply);
                let (reason, bad_address) =
                    crate::failure::severity(status.as_deref(), Some(&reply), "");
                Err(SendError::Permanent {
                    reply,
                    bad_address,
                    soft_bounce: !bad_address && reason.counts_as_soft_bounce(),
                })
            }
            Ok(Err(e)) => Err(SendError::Transient(relay_answer(&e))),
            Err(_) => Err(SendError::Transient(format!(
                "no answer from the relay within {:?}",
                self.config.timeout
            ))),
        }
    }

    /// An idle connection that still answers, else a new one.
    async fn take(&self) -> Result<Connection, SendError> {
        loop {
            let Some((mut conn, last_used)) = self.idle.lock().expect("pool lock").pop() else {
                break;
            };
            if conn.smtp.has_broken() {
                continue;
            }
            if last_used.elapsed() < IDLE_CHECK || conn.smtp.test_connected().await {
                return Ok(conn);
            }
        }
        tokio::time::timeout(self.config.timeout, self.connect())
            .await
            .map_err(|_| SendError::Transient("timed out connecting to the relay".into()))?
    }

    async fn connect(&self) -> Result<Connection, SendError> {
        let c = &self.config;
        let transient =
            |e: &dyn std::fmt::Display| SendError::Transient(format!("{}:{}: {e}", c.host, c.port));
        let hello = match &c.helo_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        let mut conn = match c.security {
            // Implicit TLS: lettre opens the socket itself (Nagle stays on there).
            SmtpSecurity::Tls => AsyncSmtpConnection::connect_tokio1(
                (c.host.as_str(), c.port),
                Some(c.timeout),
                &hello,
                Some(self.tls.clone()),
                None,
            )
            .await
            .map_err(|e| transient(&e))?,
            SmtpSecurity::None | SmtpSecurity::Starttls => {
                let tcp = tokio::net::TcpStream::connect((c.host.as_str(), c.port))
                    .await
                    .map_err(|e| transient(&e))?;
                tcp.set_nodelay(true).map_err(|e| transient(&e))?;
                let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                    .await
                    .map_err(|e| transient(&e))?;
                if c.security == SmtpSecurity::Starttls {
                    if !conn.can_starttls() {
                        return Err(transient(&"the relay does not offer STARTTLS"));
                    }
                    conn.starttls(self.tls.clone(), &hello)
                        .await
                        .map_err(|e| transient(&e))?;
                }
                conn
            }
        };
        let pipelining = pipelined::offers_pipelining(&mut conn, &hello)
            .await
            .map_err(|e| transient(&e))?;
        if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            let credentials = Credentials::new(user.clone(), pass.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                // Even a refusal is the relay's configuration, not the email's: retry it.
                .map_err(|e| transient(&format!("authentication failed: {e}")))?;
        }
        Ok(Connection {
            smtp: conn,
            pipelining,
        })
    }
}

/// The relay's answer as it said it (`554 5.7.1 refused`), for the forwarding marker; lettre's
/// own description when there was no answer (a broken connection).
fn relay_answer(e: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    match (e.status(), e.source()) {
        (Some(code), Some(text)) => format!("{code} {text}"),
        _ => e.to_string(),
    }
}

/// Writes a message the maildir way: into `tmp/`, synced, then renamed into `new/`, so a reader
/// never sees half a file and a crash leaves no partial message in `new/`.
fn write_maildir(dir: &Path, raw: &[u8]) -> std::io::Result<String> {
    let name = format!(
        "{}.{}.replyrelay",
        chrono::Utc::now().timestamp_micros(),
        uuid::Uuid::new_v4().simple()
    );
    let tmp = dir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(raw)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join("new").join(&name))?;
    std::fs::File::open(dir.join("new"))?.sync_all()?;
    Ok(format!(
        "written to {}",
        dir.join("new").join(&name).display()
    ))
}
