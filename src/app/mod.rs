//! Putting the parts together: open the store, bind the API and the SMTP/LMTP listener, start
//! the worker and the IMAP poller.
//!
//! The files: this one ([`Application`], built and run; tests drive it), [`open`] (the store,
//! migrated, and its token keys: what `serve` and every command start from), [`serve`] (the
//! daemon as `replyrelay serve` runs it: banner, signals, READY), [`sockets`] (listeners the
//! service manager hands over) and [`systemd`] (the service-manager side: reload policy,
//! watchdog, shutdown grace).

pub mod open;
pub mod serve;
pub mod sockets;
pub mod systemd;

pub use open::{open_store, token_keys, Opened};
pub use sockets::Inherited;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::inbound::Inbound;
use crate::outbound::Transport;
use crate::store::Store;
use crate::worker::Worker;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A built, bound, not yet running daemon.
pub struct Application {
    listener: TcpListener,
    /// `/metrics`, on a listener of its own (`[metrics] listen`).
    metrics: TcpListener,
    /// The bound SMTP/LMTP listener for replies, if configured.
    smtp: Option<(TcpListener, Option<crate::listener::TlsAcceptor>)>,
    state: AppState,
    worker: Worker,
    inbound: Inbound,
    /// What the IMAP poller trusts: the same store as the relay and the webhooks.
    trust: crate::trust::Trust,
}

impl Application {
    /// Opens and migrates the store, loads the token keys and binds the API listener.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Self> {
        Self::build_inheriting(config, clock, Inherited::default()).await
    }

    /// [`Application::build`], listening on the sockets given (socket activation) where there
    /// are, and binding the config's addresses for the rest.
    pub async fn build_inheriting(
        mut config: Config,
        clock: Clock,
        inherited: Inherited,
    ) -> anyhow::Result<Self> {
        if inherited.smtp.is_some() && config.listener.is_none() {
            anyhow::bail!(
                "a socket named smtp was handed over, but the config has no [inbound.smtp]"
            );
        }
        let listener = take_or_bind(inherited.api, config.api.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.api.listen))?;
        let metrics = take_or_bind(inherited.metrics, config.metrics_listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot serve metrics on {}: {e}", config.metrics_listen)
            })?;
        if config.api.public_url.is_none() {
            config.api.public_url = Some(format!("http://{}", listener.local_addr()?));
        }
        if config.source.is_none() {
            // The config-less run's demo pages are served from the API's own origin, and
            // their widget.js reports to it.
            let port = listener.local_addr()?.port();
            let own = [
                format!("http://{}", listener.local_addr()?),
                format!("http://localhost:{port}"),
            ];
            for site in &mut config.sites {
                site.allowed_origins.extend(own.iter().cloned());
            }
        }
        let shared = crate::config::Shared::new(config);
        let config = shared.current();
        let Opened { store, keys } = open_store(&config).await?;
        let trust = crate::trust::Trust::new(config.extra_roots.clone())?;
        let transport = Transport::from_config(&config.delivery.transport, &trust)?;
        let worker = Worker::new(
            store.clone(),
            shared.clone(),
            keys.clone(),
            transport,
            &trust,
            clock.clone(),
        );
        let inbound = Inbound::new(store.clone(), shared.clone(), keys.clone(), clock.clone());
        let smtp = match &config.listener {
            Some(l) => {
                let bound = take_or_bind(inherited.smtp, l.listen)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen for mail on {}: {e}", l.listen))?;
                let tls = match &l.tls {
                    Some((cert, key)) => Some(crate::listener::tls_acceptor(cert, key)?),
                    None => None,
                };
                Some((bound, tls))
            }
            None => None,
        };
        let state = AppState {
            store,
            config: shared,
            keys,
            clock,
            wake: Arc::new(Notify::new()),
            widget_limits: Arc::default(),
        };

        Ok(Self {
            listener,
            metrics,
            smtp,
            state,
            worker,
            inbound,
            trust,
        })
    }

    /// Where the API really listens (the config may have asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Where `/metrics` really is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The worker, for tests that drive it step by step.
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// The running configuration, to replace on reload.
    pub fn config(&self) -> crate::config::Shared {
        self.state.config.clone()
    }

    /// The token keys every part signs and checks with; a reload adopts new ones into them.
    pub fn keys(&self) -> crate::token::TokenKeys {
        self.state.keys.clone()
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// The inbound pipeline, for tests and `replyrelay ingest`.
    pub fn inbound(&self) -> Inbound {
        self.inbound.clone()
    }

    /// Where the SMTP/LMTP listener really listens, if there is one.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves the API until `shutdown` completes; with `background_worker`, also runs the
    /// worker loop (tests leave it off and drive the worker themselves).
    pub async fn run(
        self,
        background_worker: bool,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker_task = background_worker.then(|| {
            // Other daemons on the same database wake this worker when they take events.
            self.state.store.listen(self.state.wake.clone());
            let mut rx = stop_rx.clone();
            let wake = self.state.wake.clone();
            tokio::spawn(self.worker.run(wake, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }))
        });
        let smtp_task = self.smtp.map(|(listener, tls)| {
            // Listener settings are read once: changing them needs a restart, as the socket does.
            let config = self
                .state
                .config
                .current()
                .listener
                .clone()
                .expect("bound only when configured");
            tokio::spawn(crate::listener::serve(
                listener,
                config,
                self.inbound.clone(),
                tls,
                stop_rx.clone(),
            ))
        });
        let imap_task = self.state.config.current().imap.clone().map(|config| {
            tokio::spawn(crate::imap::run(
                config,
                self.trust.clone(),
                self.inbound.clone(),
                self.state.store.clone(),
                stop_rx.clone(),
            ))
        });
        let api_config = self.state.config.current().api.clone();
        let mut metrics_stop = stop_rx.clone();
        let metrics_task = tokio::spawn({
            let router = api::metrics_router(self.state.clone());
            let api_config = api_config.clone();
            async move {
                api::serve(self.metrics, router, &api_config, async move {
                    let _ = metrics_stop.wait_for(|stop| *stop).await;
                })
                .await
            }
        });
        let mut rx = stop_rx;
        let mut router = api::router(self.state.clone());
        // The demo carries the development site's token: only on a config-less run.
        if self.state.config.current().source.is_none() {
            router = router.merge(api::demo::router(self.state, self.inbound.clone()));
        }
        let server = api::serve(self.listener, router, &api_config, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        server.await;
        metrics_task.await?;
        for task in [worker_task, smtp_task, imap_task].into_iter().flatten() {
            task.await?;
        }
        Ok(())
    }
}

/// The socket handed over, or else one bound to `addr`.
async fn take_or_bind(
    inherited: Option<std::net::TcpListener>,
    addr: SocketAddr,
) -> std::io::Result<TcpListener> {
    match inherited {
        Some(listener) => TcpListener::from_std(listener),
        None => bind(addr).await,
    }
}

/// Binds a listening socket with a deep accept queue. Tokio's default (128) overflows under a
/// burst of connections, and Linux then drops the surplus without a word: a client that waits
/// for a greeting waits for ever. The kernel caps this at `net.core.somaxconn`.
async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // Restarted at once (as systemd does), the port must be ours again straight away.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
