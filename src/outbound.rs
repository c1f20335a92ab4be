//! Handing finished emails to the mail system: an SMTP relay through lettre, or a maildir
//! folder for development. Both get the exact bytes composed before the first attempt.

use crate::config::{SmtpConfig, SmtpSecurity, Transport as TransportConfig};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later: a 4xx answer, a timeout, a network error.
    Transient(String),
    /// Do not try again: a 5xx answer. `bad_address` when it says the mailbox does not exist
    /// (enhanced status 5.1.x), which suppresses the address.
    Permanent { reply: String, bad_address: bool },
}

/// Where emails go.
#[derive(Clone)]
pub enum Transport {
    Maildir(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    pub fn from_config(config: &TransportConfig) -> anyhow::Result<Self> {
        Ok(match config {
            TransportConfig::Maildir(dir) => {
                for sub in ["tmp", "new", "cur"] {
                    std::fs::create_dir_all(dir.join(sub))?;
                }
                Transport::Maildir(dir.clone())
            }
            TransportConfig::Smtp(smtp) => Transport::Smtp(smtp_transport(smtp)?),
        })
    }

    /// A human description for logs and start-up messages.
    pub fn describe(&self) -> String {
        match self {
            Transport::Maildir(dir) => format!("maildir {}", dir.display()),
            Transport::Smtp(_) => "SMTP relay".to_string(),
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
            Transport::Smtp(smtp) => {
                let envelope = Envelope::new(
                    Some(
                        mail_from
                            .parse()
                            .map_err(|e| permanent(format!("sender: {e}")))?,
                    ),
                    vec![rcpt_to.parse().map_err(|e| SendError::Permanent {
                        reply: format!("recipient: {e}"),
                        bad_address: true,
                    })?],
                )
                .map_err(|e| permanent(e.to_string()))?;
                match smtp.send_raw(&envelope, raw).await {
                    Ok(response) => Ok(format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    )),
                    Err(e) if e.is_permanent() => {
                        let reply = e.to_string();
                        let bad_address = reply.contains("5.1.");
                        Err(SendError::Permanent { reply, bad_address })
                    }
                    Err(e) => Err(SendError::Transient(e.to_string())),
                }
            }
        }
    }
}

fn permanent(reply: String) -> SendError {
    SendError::Permanent {
        reply,
        bad_address: false,
    }
}

fn smtp_transport(c: &SmtpConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls = match c.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(TlsParameters::new(c.host.clone())?),
        SmtpSecurity::Tls => Tls::Wrapper(TlsParameters::new(c.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
        .port(c.port)
        .tls(tls)
        .timeout(Some(c.timeout))
        .pool_config(PoolConfig::new().max_size(c.pool_size));
    if let (Some(user), Some(pass)) = (&c.username, &c.password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(builder.build())
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
