//! `replyrelay serve`: the daemon as systemd runs it. The application is built and bound, the
//! signal handlers set, READY sent; then it runs until SIGTERM, within the shutdown grace.

use super::systemd::{self, SHUTDOWN_GRACE};
use super::Application;
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::telemetry;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Runs the daemon until SIGINT or SIGTERM, on the sockets handed over where there are.
pub async fn serve(c: Config, inherited: super::Inherited) -> anyhow::Result<()> {
    let builtin = c.source.is_none();
    let transport = match &c.delivery.transport {
        config::Transport::Maildir(dir) => format!("maildir {}", dir.display()),
        config::Transport::Smtp(s) => format!("SMTP relay {}:{}", s.host, s.port),
    };
    let db = c.database.url.clone();
    let handed_over = !inherited.is_empty();
    let app = Application::build_inheriting(c, Clock::System, inherited).await?;
    let addr = app.local_addr();
    let smtp = app.smtp_addr().map_or("-".to_string(), |a| a.to_string());
    let metrics = app.metrics_addr();
    tracing::info!(%addr, %smtp, %metrics, database = %db, handed_over, "replyrelay listening");
    // The banner and READY follow the lines logged so far, in that order.
    telemetry::flush();
    if builtin {
        eprintln!(
            "{}",
            banner(&addr.to_string(), &metrics.to_string(), &db, &transport)
        );
    }
    let worker = app.worker();
    let shared = app.config();
    // Signal handlers are in place before READY, so a reload or stop that follows at once is
    // never met by the default action (which, for SIGHUP, is to die).
    let hangups = signal(SignalKind::hangup())?;
    let terms = signal(SignalKind::terminate())?;
    if let Some(path) = shared.current().source.clone() {
        tokio::spawn(systemd::reload_on_sighup(
            path,
            shared,
            app.keys(),
            app.store(),
            hangups,
        ));
    }
    // Ready only now: migrations ran and every listener is bound.
    telemetry::flush();
    systemd::notify_ready();
    if let Some(period) = systemd::watchdog_period() {
        tokio::spawn(systemd::watchdog(period, worker));
    }
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown_signal(terms).await;
        systemd::notify_stopping();
        let _ = stopping_tx.send(());
    };
    // Stop taking work at SIGTERM, finish what is in flight, but never hang for ever.
    let stopping = async {
        let _ = stopping_rx.await;
    };
    systemd::with_grace(app.run(true, shutdown), stopping, SHUTDOWN_GRACE).await
}

/// What a config-less run prints: where things are, and a first event to post.
fn banner(addr: &str, metrics: &str, db: &str, transport: &str) -> String {
    format!(
        "\nreplyrelay is running on built-in defaults (no replyrelay.toml):\n  \
         demo      http://{addr}/demo   (a visitor, an agent, the email: try it in a browser)\n  \
         API       http://{addr}\n  metrics   http://{metrics}/metrics\n  database  {db}\n  emails    {transport}\n\n\
         Post a first event: a visitor who left 10 minutes ago, and an agent's reply:\n\n\
         curl -s http://{addr}/v1/events -H 'Authorization: Bearer {token}' --json @- <<EOF\n\
         {{\"events\": [\n  \
         {{\"type\": \"visitor\", \"conversation\": \"c1\", \"visitor\": {{\"id\": \"v1\", \"email\": \"ana@example.com\", \"name\": \"Ana\"}}}},\n  \
         {{\"type\": \"message\", \"conversation\": \"c1\", \"message\": {{\"id\": \"m1\", \"author\": \"visitor\", \"text\": \"Do you ship to Spain?\"}}, \"at\": \"$(date -u -d '-12 min' +%FT%TZ)\"}},\n  \
         {{\"type\": \"presence\", \"conversation\": \"c1\", \"state\": \"left\", \"at\": \"$(date -u -d '-10 min' +%FT%TZ)\"}},\n  \
         {{\"type\": \"message\", \"conversation\": \"c1\", \"message\": {{\"id\": \"m2\", \"author\": \"agent\", \"name\": \"Sam\", \"text\": \"Yes, in 3 days!\"}}, \"at\": \"$(date -u -d '-2 min' +%FT%TZ)\"}}\n\
         ]}}\n\
         EOF\n\n\
         then look in ./outbox/new/.\n",
        token = config::DEV_TOKEN
    )
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal(mut term: Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
