//! The SMTP/LMTP listener the mail system hands `reply+…@` mail to.
//!
//! Each connection is a `Session`: an explicit state machine fed by a read buffer that is
//! parsed with `smtp-proto` and refilled only when a command or the message is incomplete. A
//! bad reply token is refused at `RCPT TO`, so the sender's own server bounces it; a message is
//! answered `250` only once the pipeline has stored it (`451` if it could not be). Limits:
//! message size (an oversize message is drained to its end, then refused), connections at once,
//! idle time. On shutdown every session answers `421` at its next command.
//!
//! The files, one per phase as in an MTA: this one (accepting connections, TLS), `session`
//! (the state machine, the read loop, the dispatch of each command), `ehlo` (greetings and
//! STARTTLS), `mail` (`MAIL FROM`), `rcpt` (`RCPT TO`, where reply tokens are checked), `data`
//! (the message, handed to the pipeline).

mod data;
mod ehlo;
mod mail;
mod rcpt;
mod session;

use crate::config::ListenerConfig;
use crate::inbound::{Inbound, Rejection};
use crate::stop::stopped;
use session::Session;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

/// Most recipients in one transaction.
pub(super) const MAX_RECIPIENTS: usize = 50;
/// Longest command line we wait for before calling it garbage.
pub(super) const MAX_LINE: usize = 4096;

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

/// How a rejection reads, for logs.
pub fn describe(r: &Rejection) -> String {
    r.to_string()
}
