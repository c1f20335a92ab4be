//! The service manager's side of the daemon: READY and STOPPING, the watchdog, what a reload
//! (SIGHUP) may change, and how long a stop waits for work in flight.
//!
//! The decisions are plain functions ([`reload_policy`], [`watchdog_ping_due`]) and
//! [`with_grace`] takes its clock from tokio, so each is tested without a service manager.

use crate::config::{self, Config, Shared};
use crate::store::Store;
use crate::telemetry;
use crate::token::TokenKeys;
use crate::worker::Worker;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown waits for in-flight sends and sessions.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Tells systemd the daemon is ready (migrations ran, every listener is bound).
pub fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// The watchdog period systemd asked for (`WatchdogSec=`), if any.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Whether the watchdog may be pinged: only while the worker loop has gone round within the
/// period, so a stuck loop gets the daemon restarted.
pub fn watchdog_ping_due(since_last_beat: Duration, period: Duration) -> bool {
    since_last_beat < period
}

/// Pings systemd's watchdog at half its period, but only while the worker loop is going round.
pub async fn watchdog(period: Duration, worker: Worker) {
    let mut tick = tokio::time::interval(period / 2);
    loop {
        tick.tick().await;
        let since = worker.since_last_beat();
        if watchdog_ping_due(since, period) {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                ?since,
                "the worker loop has not moved; not pinging the watchdog"
            );
        }
    }
}

/// What a reload keeps of the running config: what is bound or built at start (the database,
/// the listeners, the relay connection and its trust store, the IMAP poller) stays as it is,
/// and each such change is named in the notes returned, so none is kept silently; a public URL
/// that the new file leaves unset stays the one the daemon worked out when it bound the API.
pub fn reload_policy(old: &Config, mut new: Config) -> (Config, Vec<&'static str>) {
    let mut notes = Vec::new();
    if new.database.url != old.database.url {
        notes.push("database.url changed: that takes a restart; keeping the old one");
        new.database = old.database.clone();
    }
    if new.api.listen != old.api.listen {
        notes.push("api.listen changed: that takes a restart; keeping the old one");
        new.api.listen = old.api.listen;
    }
    if new.metrics_listen != old.metrics_listen {
        notes.push("metrics.listen changed: that takes a restart; keeping the old one");
        new.metrics_listen = old.metrics_listen;
    }
    if new.listener != old.listener {
        notes.push("[inbound.smtp] changed: that takes a restart; keeping the old one");
        new.listener = old.listener.clone();
    }
    if new.imap != old.imap {
        notes.push("[inbound.imap] changed: that takes a restart; keeping the old one");
        new.imap = old.imap.clone();
    }
    if new.delivery.transport != old.delivery.transport {
        notes.push("the delivery transport ([delivery.smtp]) changed: that takes a restart; keeping the old one");
        new.delivery.transport = old.delivery.transport.clone();
    }
    if new.extra_roots != old.extra_roots {
        notes.push("[tls] ca_file changed: that takes a restart; keeping the old one");
        new.extra_roots = old.extra_roots.clone();
    }
    if new.api.public_url.is_none() {
        new.api.public_url = old.api.public_url.clone();
    }
    (new, notes)
}

/// SIGHUP: read the config file again; a valid one replaces the running one (sites, modes,
/// delays, strings, tokens), an invalid one is refused with its errors and the old one stays.
/// Listener addresses and the database are bound at start and need a restart to change.
pub async fn reload_on_sighup(
    path: PathBuf,
    shared: Shared,
    keys: TokenKeys,
    store: Arc<dyn Store>,
    mut hup: tokio::signal::unix::Signal,
) {
    while hup.recv().await.is_some() {
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Reloading,
            sd_notify::NotifyState::monotonic_usec_now()
                .unwrap_or(sd_notify::NotifyState::Reloading),
        ]);
        reload(&path, &shared, &keys, store.as_ref()).await;
        telemetry::flush();
        notify_ready();
    }
}

/// One reload: the file read again and, if valid, put in place with its token keys; if not,
/// its errors logged and the running config kept.
pub async fn reload(path: &std::path::Path, shared: &Shared, keys: &TokenKeys, store: &dyn Store) {
    match config::load_file(path) {
        Ok(new) => {
            let problems = crate::compose::check_templates(&new);
            if !problems.is_empty() {
                for problem in problems {
                    tracing::error!(error = %problem, "config reload refused; the running config stays");
                }
                return;
            }
            let (new, notes) = reload_policy(&shared.current(), new);
            for note in notes {
                tracing::warn!("{note}");
            }
            // The file's token keys (or, without any, the one kept in the database) take
            // over from the next token signed or checked.
            match super::token_keys(&new, store).await {
                Ok(fresh) => {
                    keys.adopt(&fresh);
                    shared.replace(new);
                    tracing::info!(path = %path.display(), "config reloaded");
                }
                Err(e) => tracing::error!(
                    error = %format!("{e:#}"),
                    "config reload refused: the token keys could not be read; the running config stays"
                ),
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
    }
}

/// Runs `run` to its end, but once `stopping` resolves gives it only `grace` more: a stop
/// finishes what is in flight and never hangs for ever.
pub async fn with_grace(
    run: impl Future<Output = anyhow::Result<()>>,
    stopping: impl Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => result,
        _ = async {
            stopping.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("in-flight work did not finish within {grace:?}; exiting anyway");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(db: &str) -> Config {
        let mut c = config::builtin();
        c.database.url = db.into();
        c
    }

    #[test]
    fn a_reload_keeps_the_database_and_the_bound_public_url() {
        let mut old = config("sqlite://a.db");
        old.api.public_url = Some("http://127.0.0.1:4000".into());
        let mut new = config("sqlite://b.db");
        new.sites[0].name = "Renamed".into();
        let (got, notes) = reload_policy(&old, new);
        assert_eq!(got.database.url, "sqlite://a.db");
        assert!(
            notes.len() == 1 && notes[0].contains("restart"),
            "{notes:?}"
        );
        assert_eq!(got.api.public_url.as_deref(), Some("http://127.0.0.1:4000"));
        assert_eq!(got.sites[0].name, "Renamed");

        let mut new = config("sqlite://a.db");
        new.api.public_url = Some("https://relay.example".into());
        let (got, notes) = reload_policy(&old, new);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(got.api.public_url.as_deref(), Some("https://relay.example"));
    }

    #[test]
    fn what_is_bound_at_start_is_kept_at_reload_and_named() {
        let old = config("sqlite://a.db");
        let mut new = config("sqlite://a.db");
        new.delivery.transport = config::Transport::Maildir("elsewhere".into());
        new.api.listen = "127.0.0.1:9".parse().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
        new.extra_roots = vec![ca.cert.der().clone()];
        new.sites[0].name = "Renamed".into();
        let (got, notes) = reload_policy(&old, new);
        assert_eq!(got.delivery.transport, old.delivery.transport);
        assert_eq!(got.api.listen, old.api.listen);
        assert!(got.extra_roots.is_empty());
        assert_eq!(got.sites[0].name, "Renamed", "the rest is applied");
        for part in ["delivery transport", "api.listen", "ca_file"] {
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains(part) && n.contains("restart")),
                "{part}: {notes:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_reload_changes_the_token_keys_for_every_holder() {
        use crate::token::Purpose;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replyrelay.toml");
        let file = |key: &str| {
            format!(
                "[database]\nurl = \"sqlite://{}\"\n[secrets]\ntoken_keys = [\"{key}\"]\n\
                 [[site]]\nid = \"acme\"\napi_tokens = [\"acme-token-0123456789\"]\n",
                dir.path().join("rr.db").display()
            )
        };
        let leaked = "leaked-key-0123456789-0123456789-0123";
        std::fs::write(&path, file(leaked)).unwrap();
        let config = config::load_file(&path).unwrap();
        let opened = super::super::open_store(&config).await.unwrap();
        let shared = Shared::new(config);
        // What the worker and the listener hold: clones of the one handle.
        let worker_keys = opened.keys.clone();
        let old = worker_keys.sign(Purpose::Reply, "acme", 1);

        std::fs::write(&path, file("fresh-key-0123456789-0123456789-01234")).unwrap();
        reload(&path, &shared, &opened.keys, opened.store.as_ref()).await;

        assert_eq!(
            worker_keys.verify(Purpose::Reply, "acme", &old),
            None,
            "the leaked key is out"
        );
        let new = worker_keys.sign(Purpose::Reply, "acme", 1);
        assert_ne!(new, old, "nothing is signed with the leaked key");
        assert_eq!(opened.keys.verify(Purpose::Reply, "acme", &new), Some(1));

        // An invalid file changes nothing, keys included.
        std::fs::write(&path, "mode = \"sometimes\"\n").unwrap();
        reload(&path, &shared, &opened.keys, opened.store.as_ref()).await;
        assert_eq!(worker_keys.verify(Purpose::Reply, "acme", &new), Some(1));
    }

    #[test]
    fn the_watchdog_is_pinged_only_while_the_worker_goes_round() {
        let period = Duration::from_secs(30);
        assert!(watchdog_ping_due(Duration::from_secs(1), period));
        assert!(!watchdog_ping_due(Duration::from_secs(30), period));
        assert!(!watchdog_ping_due(Duration::from_secs(300), period));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_waits_for_work_in_flight_but_only_for_the_grace() {
        let grace = Duration::from_secs(20);
        // Work that ends within the grace: its own result.
        let start = tokio::time::Instant::now();
        let run = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            anyhow::bail!("its own error")
        };
        let got = with_grace(run, async {}, grace).await;
        assert!(got.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // Work that never ends: cut off the grace after the stop.
        let start = tokio::time::Instant::now();
        let stop = tokio::time::sleep(Duration::from_secs(3));
        let got = with_grace(std::future::pending(), stop, grace).await;
        assert!(got.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(23));
        // No stop asked: no deadline.
        let start = tokio::time::Instant::now();
        let run = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        };
        with_grace(run, std::future::pending(), grace)
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
    }
}
