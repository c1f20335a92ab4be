//! The `replyrelay` command.

//!
//! Parsing and dispatch only: each command is a function of `replyrelay::cli` (or
//! `replyrelay::app::serve`) that takes the loaded config.

use clap::{Parser, Subcommand};
use replyrelay::cli::{self, load};
use replyrelay::telemetry;
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
        /// Serve `/metrics` on this address instead of the config's `metrics.listen`.
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
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
    /// See the outbox (pending, failed, cancelled emails and why), or retry an email.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// See who gets no email and why, or lift a suppression.
    Suppressions {
        #[command(subcommand)]
        action: SuppressionsAction,
    },
    /// Show what the inbound pipeline would do with an email file, without storing anything.
    Inspect {
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), as the package installs it.
    #[command(hide = true)]
    Man,
}

#[derive(Subcommand)]
enum QueueAction {
    /// Print a site's emails, newest first: id, status, attempts, recipient, next attempt or
    /// sent time, the relay's last answer.
    List {
        /// Only emails of this status: pending, sent, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only the emails of this conversation (the platform's id).
        #[arg(long)]
        conversation: Option<String>,
        /// The site (default: the first one).
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Try a failed, cancelled or pending email again now.
    Retry {
        id: String,
        /// The site (default: the first one).
        #[arg(long)]
        site: Option<String>,
    },
}

#[derive(Subcommand)]
enum SuppressionsAction {
    /// Print a site's suppressed addresses, newest first: address, reason, since, cause.
    List {
        /// Only addresses containing this.
        #[arg(default_value = "")]
        query: String,
        /// The site (default: the first one).
        #[arg(long)]
        site: Option<String>,
        /// Only this reason: unsubscribed, hard_bounce, complaint, invalid_address.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Email an address again (the platform gets `visitor.unsuppressed`).
    Lift {
        address: String,
        /// The site (default: the first one).
        #[arg(long)]
        site: Option<String>,
    },
}

/// What needs no config: the shell's completions and the manual page, made from the parser.
fn without_config(command: &Command) -> Option<ExitCode> {
    match command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "replyrelay", &mut std::io::stdout());
            Some(ExitCode::SUCCESS)
        }
        Command::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            Some(match page.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("replyrelay man: {e}");
                    ExitCode::FAILURE
                }
            })
        }
        _ => None,
    }
}

/// A command's output piped into `head` or a pager that stops reading: the command ends there,
/// as Unix tools do, instead of panicking on its next `println!` (Rust ignores `SIGPIPE`,
/// so the write fails with `EPIPE`). Not for `serve`, which must outlive a client that hangs
/// up.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default action of one signal; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    // Sockets handed over by systemd are taken before any thread starts: taking them unsets
    // LISTEN_FDS, which must not race another thread reading the environment.
    let inherited = replyrelay::app::Inherited::from_env();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(run(inherited))
}

async fn run(
    inherited: Result<replyrelay::app::Inherited, replyrelay::app::sockets::SocketError>,
) -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        end_quietly_on_a_closed_pipe();
    }
    if let Some(code) = without_config(&cli.command) {
        return code;
    }
    // Commands that log set the log writer up before the config is read, so a config error
    // is written there too.
    let logs = !matches!(
        cli.command,
        Command::CheckConfig
            | Command::Inspect { .. }
            | Command::Preview { .. }
            | Command::Completions { .. }
            | Command::Man
    );
    if matches!(cli.command, Command::Serve { .. }) {
        telemetry::init_daemon(cli.log_json);
    } else if matches!(cli.command, Command::Ingest { .. }) {
        telemetry::init_quiet(cli.log_json);
    } else if logs {
        telemetry::init(cli.log_json);
    }
    let c = match load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if matches!(cli.command, Command::CheckConfig | Command::Serve { .. }) {
        if let Err(code) = cli::templates_render(&c) {
            return code;
        }
    }
    match cli.command {
        Command::Completions { .. } | Command::Man => unreachable!("answered before the config"),
        Command::CheckConfig => cli::check_config(&c),
        Command::Ingest { sender, recipients } => cli::ingest::ingest(c, sender, recipients).await,
        Command::Inspect { file, json } => cli::inspect::inspect(c, &file, json).await,
        Command::Preview {
            site,
            conversation,
            locale,
            out,
        } => cli::report(cli::preview::preview(c, site, conversation, locale, &out).await),
        Command::SendTest { to, site, locale } => {
            cli::report(cli::send_test::send_test(c, &to, site, locale).await)
        }
        Command::Migrate => cli::migrate(&c).await,
        Command::Queue { action } => cli::report(match action {
            QueueAction::List {
                status,
                conversation,
                site,
                limit,
                json,
            } => cli::queue::list(c, site, status, conversation, limit, json).await,
            QueueAction::Retry { id, site } => cli::queue::retry(c, site, id).await,
        }),
        Command::Suppressions { action } => cli::report(match action {
            SuppressionsAction::List {
                query,
                site,
                reason,
                limit,
                json,
            } => cli::suppressions::list(c, site, query, reason, limit, json).await,
            SuppressionsAction::Lift { address, site } => {
                cli::suppressions::lift(c, site, address).await
            }
        }),
        Command::Serve {
            listen,
            metrics_listen,
        } => serve(c, listen, metrics_listen, inherited).await,
    }
}

/// `replyrelay serve`, on the addresses given instead of the config's, and the sockets handed
/// over instead of either.
async fn serve(
    mut c: replyrelay::config::Config,
    listen: Option<std::net::SocketAddr>,
    metrics_listen: Option<std::net::SocketAddr>,
    inherited: Result<replyrelay::app::Inherited, replyrelay::app::sockets::SocketError>,
) -> ExitCode {
    if let Some(addr) = listen {
        c.api.listen = addr;
    }
    if let Some(addr) = metrics_listen {
        c.metrics_listen = addr;
    }
    let code = match inherited {
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
        Ok(inherited) => match replyrelay::app::serve::serve(c, inherited).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        },
    };
    telemetry::flush();
    code
}
