//! The `replyrelay` command.

use clap::{Parser, Subcommand};
use replyrelay::inbound::{Envelope, Inbound, Outcome, Rejection};
use replyrelay::outbound::Transport;
use replyrelay::token::TokenKeys;
use replyrelay::triggers::EmailKind;
use replyrelay::{app::Application, clock::Clock, compose, config, store, telemetry};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "replyrelay",
    version,
    about = "Emails chat visitors the replies they missed, and brings their answers back."
)]
struct Cli {
    /// Config file (default: ./replyrelay.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "REPLYRELAY_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: the API and the worker.
    Serve {
        /// Listen on this address instead of the config's `api.listen` (port 0 picks one).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Check the config file and print every problem with its file, line and key.
    CheckConfig,
    /// Take one email on standard input, as an MTA pipe transport delivers it. Exit status
    /// (sysexits): 0 taken, 65 unreadable, 67 unknown recipient, 75 try again later,
    /// 77 refused (sender or reach window).
    Ingest {
        /// The envelope sender (Postfix: `${sender}`).
        #[arg(long)]
        sender: Option<String>,
        /// An envelope recipient (Postfix: `${original_recipient}`); may be repeated.
        #[arg(long = "recipient")]
        recipients: Vec<String>,
    },
    /// Render the email a conversation would get now (or a built-in sample) into files.
    Preview {
        /// The site (default: the first one).
        #[arg(long)]
        site: Option<String>,
        /// A stored conversation of that site; without it, a built-in sample.
        #[arg(long)]
        conversation: Option<String>,
        /// The sample visitor's language, e.g. `es` or `pt-BR`.
        #[arg(long)]
        locale: Option<String>,
        /// Where to write email.eml, email.html and email.txt.
        #[arg(long, default_value = "preview")]
        out: PathBuf,
    },
    /// Send a sample email through the configured transport and show the relay's answer.
    SendTest {
        #[arg(long)]
        to: String,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        locale: Option<String>,
    },
    /// Show what the inbound pipeline would do with an email file, without storing anything.
    Inspect {
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn load(path: Option<&std::path::Path>) -> Result<config::Config, ExitCode> {
    config::load(path).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        ExitCode::from(78) // EX_CONFIG
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig => match load(cli.config.as_deref()) {
            Ok(c) => {
                let source = c
                    .source
                    .as_ref()
                    .map_or("built-in defaults".to_string(), |p| p.display().to_string());
                println!("{source}: OK ({} site(s))", c.sites.len());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Ingest { sender, recipients } => {
            telemetry::init(cli.log_json);
            let c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            ingest(c, sender, recipients).await
        }
        Command::Inspect { file, json } => {
            let c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            inspect(c, &file, json).await
        }
        Command::Preview {
            site,
            conversation,
            locale,
            out,
        } => {
            let c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            report(preview(c, site, conversation, locale, &out).await)
        }
        Command::SendTest { to, site, locale } => {
            telemetry::init(cli.log_json);
            let c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            report(send_test(c, &to, site, locale).await)
        }
        Command::Migrate => {
            telemetry::init(cli.log_json);
            let c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let result = async {
                let store = store::open(&c.database.url).await?;
                store.migrate().await
            }
            .await;
            match result {
                Ok(()) => {
                    println!("migrations applied to {}", c.database.url);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("migrate failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { listen } => {
            telemetry::init_daemon(cli.log_json);
            let mut c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(addr) = listen {
                c.api.listen = addr;
            }
            let code = match serve(c).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            };
            telemetry::flush();
            code
        }
    }
}

async fn serve(c: config::Config) -> anyhow::Result<()> {
    let builtin = c.source.is_none();
    let transport = match &c.delivery.transport {
        config::Transport::Maildir(dir) => format!("maildir {}", dir.display()),
        config::Transport::Smtp(s) => format!("SMTP relay {}:{}", s.host, s.port),
    };
    let db = c.database.url.clone();
    let app = Application::build(c, Clock::System).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, database = %db, "replyrelay listening");
    // The banner and READY follow the lines logged so far, in that order.
    telemetry::flush();
    if builtin {
        eprintln!(
            "\nreplyrelay is running on built-in defaults (no replyrelay.toml):\n  \
             API       http://{addr}\n  database  {db}\n  emails    {transport}\n\n\
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
        );
    }
    let worker = app.worker();
    let shared = app.config();
    // Signal handlers are in place before READY, so a reload or stop that follows at once is
    // never met by the default action (which, for SIGHUP, is to die).
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let terms = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    if let Some(path) = shared.current().source.clone() {
        tokio::spawn(reload_on_sighup(path, shared, hangups));
    }
    // Ready only now: migrations ran and every listener is bound.
    telemetry::flush();
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(period) = sd_notify::watchdog_enabled() {
        tokio::spawn(watchdog(period, worker));
    }
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown_signal(terms).await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = stopping_tx.send(());
    };
    let run = app.run(true, shutdown);
    tokio::pin!(run);
    // Stop taking work at SIGTERM, finish what is in flight, but never hang for ever.
    tokio::select! {
        result = &mut run => result,
        _ = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("in-flight work did not finish within {SHUTDOWN_GRACE:?}; exiting anyway");
            Ok(())
        }
    }
}

/// How long shutdown waits for in-flight sends and sessions.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Pings systemd's watchdog at half its period, but only while the worker loop is going round.
async fn watchdog(period: std::time::Duration, worker: replyrelay::worker::Worker) {
    let mut tick = tokio::time::interval(period / 2);
    loop {
        tick.tick().await;
        let since = worker.since_last_beat();
        if since < period {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(
                ?since,
                "the worker loop has not moved; not pinging the watchdog"
            );
        }
    }
}

/// SIGHUP: read the config file again; a valid one replaces the running one (sites, modes,
/// delays, strings, tokens), an invalid one is refused with its errors and the old one stays.
/// Listener addresses and the database are bound at start and need a restart to change.
async fn reload_on_sighup(
    path: PathBuf,
    shared: config::Shared,
    mut hup: tokio::signal::unix::Signal,
) {
    while hup.recv().await.is_some() {
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Reloading,
            sd_notify::NotifyState::monotonic_usec_now()
                .unwrap_or(sd_notify::NotifyState::Reloading),
        ]);
        match config::load_file(&path) {
            Ok(mut new) => {
                let old = shared.current();
                if new.database.url != old.database.url {
                    tracing::warn!(
                        "database.url changed: that takes a restart; keeping the old one"
                    );
                    new.database = old.database.clone();
                }
                if new.api.public_url.is_none() {
                    new.api.public_url = old.api.public_url.clone();
                }
                shared.replace(new);
                tracing::info!(path = %path.display(), "config reloaded");
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(error = %e, "config reload refused; the running config stays");
                }
            }
        }
        telemetry::flush();
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }
}

/// sysexits(3) codes for `ingest`.
const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_TEMPFAIL: u8 = 75;
const EX_NOPERM: u8 = 77;

/// The inbound pipeline on the configured database.
async fn open_inbound(mut c: config::Config, store_wanted: bool) -> anyhow::Result<Inbound> {
    c.api.public_url = Some(c.api.public_url_or_listen());
    let (store, keys) = if store_wanted {
        let store = store::open(&c.database.url).await?;
        store.migrate().await?;
        let keys = replyrelay::app::token_keys(&c, store.as_ref()).await?;
        (Some(store), Some(keys))
    } else {
        (None, None)
    };
    Ok(Inbound::new(
        store,
        config::Shared::new(c),
        keys,
        Clock::System,
    ))
}

async fn ingest(c: config::Config, sender: Option<String>, recipients: Vec<String>) -> ExitCode {
    use std::io::Read;
    let max = c.inbound.max_message_size;
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(max as u64 + 1).read_to_end(&mut raw) {
        eprintln!("ingest: cannot read standard input: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    let inbound = match open_inbound(c, true).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ingest: {e:#}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let envelope = Envelope {
        mail_from: sender,
        rcpt_to: recipients,
    };
    match inbound.deliver(&raw, &envelope).await {
        Ok(Outcome::Rejected(r)) => {
            let (code, text) = r.smtp_reply();
            eprintln!("ingest: refused: {code} {text}");
            ExitCode::from(match r {
                Rejection::UnknownRecipient(_) => EX_NOUSER,
                Rejection::BadMessage(_) | Rejection::TooLarge => EX_DATAERR,
                Rejection::Sender(_) | Rejection::WindowClosed => EX_NOPERM,
            })
        }
        Ok(outcome) => {
            eprintln!("ingest: {outcome:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ingest: could not store the message, try later: {e:#}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

async fn inspect(c: config::Config, file: &std::path::Path, json: bool) -> ExitCode {
    let raw = match std::fs::read(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("inspect: {}: {e}", file.display());
            return ExitCode::from(66); // EX_NOINPUT
        }
    };
    // Without a config file there is no database to route against, and none is created.
    let database_exists = c.source.is_some()
        && c.database.url.strip_prefix("sqlite://").is_none_or(|path| {
            std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
        });
    let inbound = match open_inbound(c, database_exists).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("inspect: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let analysis = match inbound.analyze(&raw, &Envelope::default()).await {
        Ok(a) => a,
        Err(r) => {
            let (code, text) = r.smtp_reply();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"kind": "rejected", "error": format!("{code} {text}")})
                );
            } else {
                println!("refused: {code} {text}");
            }
            return ExitCode::from(EX_DATAERR);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&analysis).expect("serializable")
        );
    } else {
        let r = &analysis.routing;
        let v = &analysis.verification;
        println!(
            "kind:          {:?}{}",
            analysis.kind,
            analysis
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        println!("from:          {}", analysis.from.as_deref().unwrap_or("-"));
        println!(
            "message-id:    {}",
            analysis.message_id.as_deref().unwrap_or("-")
        );
        println!(
            "routing:       via {}; site {}; conversation {}{}",
            r.via,
            r.site.as_deref().unwrap_or("-"),
            r.conversation.as_deref().unwrap_or("-"),
            r.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        println!(
            "verification:  token {}; sender {}; window {}; decision {}{}",
            v.token,
            v.sender,
            if v.window_open { "open" } else { "closed" },
            v.decision,
            v.reason
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        if let Some(b) = &analysis.bounce {
            println!("bounce:        {:?}", b);
        }
        for a in &analysis.attachments {
            println!(
                "attachment:    {} ({}, {} bytes)",
                a.name, a.content_type, a.size
            );
        }
        println!("text:\n{}", analysis.text);
    }
    ExitCode::SUCCESS
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn pick_site(c: &config::Config, site: Option<String>) -> anyhow::Result<config::Site> {
    match site {
        Some(id) => c
            .site(&id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no site `{id}` in the config")),
        None => Ok(c.sites[0].clone()),
    }
}

async fn preview(
    c: config::Config,
    site: Option<String>,
    conversation: Option<String>,
    locale: Option<String>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let now = chrono::Utc::now();
    let public_url = c.api.public_url_or_listen();
    let made = match conversation {
        Some(id) => {
            let store = store::open(&c.database.url).await?;
            store.migrate().await?;
            let keys = replyrelay::app::token_keys(&c, store.as_ref()).await?;
            let (conv, marked) = store
                .conversation_view(&site.id, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no conversation `{id}` on site `{}`", site.id))?;
            let messages: Vec<_> = marked.into_iter().map(|m| m.message).collect();
            compose::make(
                &site,
                &keys,
                &public_url,
                EmailKind::Replies,
                &conv,
                &messages,
                now,
            )?
        }
        None => sample_email(
            &site,
            &public_url,
            "ana@example.com",
            locale.as_deref(),
            now,
        )?,
    };
    std::fs::create_dir_all(out)?;
    let files = [
        ("email.eml", made.raw.clone()),
        ("email.html", made.rendered.html.into_bytes()),
        ("email.txt", made.rendered.text.into_bytes()),
    ];
    for (name, bytes) in files {
        let path = out.join(name);
        std::fs::write(&path, bytes)?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The built-in sample conversation's email, with throw-away tokens (not valid anywhere).
fn sample_email(
    site: &config::Site,
    public_url: &str,
    to: &str,
    locale: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<compose::Made> {
    let keys = TokenKeys::new(vec![b"sample-only-key-not-for-real-tokens".to_vec()]);
    let (conv, messages) = compose::sample(site, to, locale, now);
    compose::make(
        site,
        &keys,
        public_url,
        EmailKind::Replies,
        &conv,
        &messages,
        now,
    )
}

async fn send_test(
    c: config::Config,
    to: &str,
    site: Option<String>,
    locale: Option<String>,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let now = chrono::Utc::now();
    let public_url = c.api.public_url_or_listen();
    let made = sample_email(&site, &public_url, to, locale.as_deref(), now)?;
    let transport = Transport::from_config(&c.delivery.transport)?;
    match transport.send(site.sender.as_str(), to, &made.raw).await {
        Ok(answer) => {
            println!("sent {} to {to}: {answer}", made.message_id);
            Ok(())
        }
        Err(e) => anyhow::bail!("not sent: {e:?}"),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
