//! The IMAP poller: replies that land in a mailbox (a catch-all for the reply domain, say) are
//! fetched, run through the inbound pipeline, and moved out of the way.
//!
//! The poller remembers the mailbox's UIDVALIDITY and the last UID it handled (in the
//! database), so a restart never handles a message twice; if UIDVALIDITY changes, it starts
//! over and relies on Message-ID de-duplication. Handled mail moves to `processed_folder`,
//! refused mail to `rejected_folder`; mail that could not be stored (database down) stays and
//! is tried again. It waits with IDLE where the server has it, else polls every
//! `poll_interval`; a lost connection is re-opened with backoff.

use crate::config::{ImapConfig, SmtpSecurity};
use crate::inbound::{Envelope, Inbound, Outcome};
use crate::stop::stopped;
use crate::store::Store;
use crate::trust::Trust;
use futures_util::TryStreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// Runs until `shutdown` turns true.
pub async fn run(
    config: ImapConfig,
    trust: Trust,
    inbound: Inbound,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let result = tokio::select! {
            r = connect_and_poll(&config, &trust, &inbound, store.as_ref(), shutdown.clone()) => r,
            _ = stopped(&mut shutdown) => return,
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, host = %config.host, "IMAP poller failed; reconnecting in {backoff:?}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(&mut shutdown) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

async fn connect_and_poll(
    config: &ImapConfig,
    trust: &Trust,
    inbound: &Inbound,
    store: &dyn Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect((config.host.as_str(), config.port)).await?;
    tcp.set_nodelay(true)?;
    match config.security {
        SmtpSecurity::None => {
            poll(
                async_imap::Client::new(tcp),
                config,
                inbound,
                store,
                shutdown,
            )
            .await
        }
        SmtpSecurity::Tls => {
            let tls = tls_connector(trust)
                .connect(server_name(&config.host)?, tcp)
                .await?;
            poll(
                async_imap::Client::new(tls),
                config,
                inbound,
                store,
                shutdown,
            )
            .await
        }
        SmtpSecurity::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            let tcp = client.into_inner();
            let tls = tls_connector(trust)
                .connect(server_name(&config.host)?, tcp)
                .await?;
            let client = async_imap::Client::new(tls);
            poll_after_greeting(client, config, inbound, store, shutdown).await
        }
    }
}

fn tls_connector(trust: &Trust) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(trust.client_config())
}

fn server_name(host: &str) -> anyhow::Result<rustls::pki_types::ServerName<'static>> {
    Ok(rustls::pki_types::ServerName::try_from(host.to_string())?)
}

async fn poll<T>(
    mut client: async_imap::Client<T>,
    config: &ImapConfig,
    inbound: &Inbound,
    store: &dyn Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    client
        .read_response()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the IMAP server closed before its greeting"))?;
    poll_after_greeting(client, config, inbound, store, shutdown).await
}

async fn poll_after_greeting<T>(
    client: async_imap::Client<T>,
    config: &ImapConfig,
    inbound: &Inbound,
    store: &dyn Store,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut session = client
        .login(&config.username, &config.password)
        .await
        .map_err(|(e, _)| anyhow::anyhow!("IMAP login as {}: {e}", config.username))?;
    let capabilities = session.capabilities().await?;
    let can_move = capabilities.has_str("MOVE");
    let can_idle = config.idle && capabilities.has_str("IDLE");
    for folder in [&config.processed_folder, &config.rejected_folder] {
        // Already there is fine.
        let _ = session.create(folder).await;
    }
    let state_key = format!(
        "imap:{}@{}:{}/{}",
        config.username, config.host, config.port, config.mailbox
    );
    tracing::info!(mailbox = %config.mailbox, idle = can_idle, "IMAP poller connected");
    loop {
        let mailbox = session.select(&config.mailbox).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let (known_validity, mut last_uid) = match store.meta(&state_key).await? {
            Some(v) => parse_state(&v),
            None => (validity, 0),
        };
        if known_validity != validity {
            tracing::warn!(
                old = known_validity,
                new = validity,
                "UIDVALIDITY changed; rescanning the mailbox"
            );
            last_uid = 0;
        }
        let mut uids: Vec<u32> = session
            .uid_search(format!("UID {}:*", last_uid + 1))
            .await?
            .into_iter()
            .filter(|&u| u > last_uid)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            let raw = {
                let fetches: Vec<_> = session
                    .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                    .await?
                    .try_collect()
                    .await?;
                fetches.first().and_then(|f| f.body().map(<[u8]>::to_vec))
            };
            let Some(raw) = raw else { continue };
            crate::inbound::received("imap");
            let folder = match inbound.deliver(&raw, &Envelope::default()).await {
                Ok(Outcome::Rejected(r)) => {
                    tracing::info!(uid, reason = r.label(), "IMAP message refused");
                    &config.rejected_folder
                }
                Ok(_) => &config.processed_folder,
                // Not stored: leave it where it is and try again on the next round.
                Err(e) => return Err(e),
            };
            file_away(&mut session, uid, folder, can_move).await?;
            last_uid = uid;
            store
                .meta_set(&state_key, &format!("{validity}:{last_uid}"))
                .await?;
        }
        // Wait for news.
        if can_idle {
            let mut idle = session.idle();
            idle.init().await?;
            let (wait, _stop) = idle.wait_with_timeout(config.poll_interval);
            tokio::select! {
                r = wait => { r?; }
                _ = stopped(&mut shutdown) => return Ok(()),
            }
            session = idle.done().await?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = stopped(&mut shutdown) => return Ok(()),
            }
        }
    }
}

/// Moves a handled message to `folder`: `MOVE` where the server has it, else copy, flag
/// deleted and expunge that one message.
async fn file_away<T>(
    session: &mut async_imap::Session<T>,
    uid: u32,
    folder: &str,
    can_move: bool,
) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    if can_move {
        session.uid_mv(uid.to_string(), folder).await?;
    } else {
        session.uid_copy(uid.to_string(), folder).await?;
        let _: Vec<_> = session
            .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
            .await?
            .try_collect()
            .await?;
        let _: Vec<_> = session
            .uid_expunge(uid.to_string())
            .await?
            .try_collect()
            .await?;
    }
    Ok(())
}

fn parse_state(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once(':').unwrap_or(("0", "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}
