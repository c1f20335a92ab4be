//! The shutdown signal every long-running task is handed: a `watch` that turns `true` once.
//!
//! A leaf module so that the API, the listener and the IMAP poller can wait on it without
//! importing `app`, which wires them.

use tokio::sync::watch;

/// Resolves once shutdown is asked for. The watch guard is dropped before returning, so a
/// future that waits on this in a `select!` stays `Send`.
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
