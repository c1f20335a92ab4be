//! The `replyrelay` command.

use clap::{Parser, Subcommand};
use replyrelay::{app::Application, clock::Clock, config, store, telemetry};
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
            telemetry::init(cli.log_json);
            let mut c = match load(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(addr) = listen {
                c.api.listen = addr;
            }
            match serve(c).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
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
    app.run(true, shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
