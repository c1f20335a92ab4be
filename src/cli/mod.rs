//! The one-shot commands beside `serve`: each a function from the loaded config (and its
//! arguments) to an exit status, so `main.rs` only parses and dispatches.
//!
//! [`ingest`] (one email from an MTA's pipe), [`inspect`] (what the pipeline would do with a
//! file), [`preview`] and [`send_test`] (the email as a visitor would get it), [`suppressions`]
//! (who gets no email, and lifting it).

pub mod ingest;
pub mod inspect;
pub mod preview;
pub mod queue;
pub mod send_test;
pub mod suppressions;

use crate::config::{self, Config};
use std::path::Path;
use std::process::ExitCode;

/// sysexits(3) codes.
pub const EX_DATAERR: u8 = 65;
pub const EX_NOINPUT: u8 = 66;
pub const EX_NOUSER: u8 = 67;
pub const EX_TEMPFAIL: u8 = 75;
pub const EX_NOPERM: u8 = 77;
pub const EX_CONFIG: u8 = 78;

/// Loads the config, or prints every problem and gives the exit status to stop with.
pub fn load(path: Option<&Path>) -> Result<Config, ExitCode> {
    config::load(path).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        ExitCode::from(EX_CONFIG)
    })
}

/// Whether every site's own templates render (see `compose::check_templates`), else each
/// failure printed and the exit status to stop with. Run by the commands that start from the
/// config (`check-config`, `serve`), not by `ingest`, which an MTA runs once per message.
pub fn templates_render(config: &Config) -> Result<(), ExitCode> {
    let problems = crate::compose::check_templates(config);
    if problems.is_empty() {
        return Ok(());
    }
    let file =
        (config.source.as_ref()).map_or("(built-in defaults)".into(), |p| p.display().to_string());
    for p in &problems {
        eprintln!("{file}: {p}");
    }
    Err(ExitCode::from(EX_CONFIG))
}

/// `replyrelay check-config`: the file is loaded (every problem printed by [`load`]).
pub fn check_config(c: &Config) -> ExitCode {
    let source = c
        .source
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    println!("{source}: OK ({} site(s))", c.sites.len());
    ExitCode::SUCCESS
}

/// `replyrelay migrate`.
pub async fn migrate(c: &Config) -> ExitCode {
    match crate::app::open::migrate(c).await {
        Ok(_) => {
            println!("migrations applied to {}", c.database.url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrate failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Success, or the error's chain on standard error.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The site named, or the first one.
pub fn pick_site(c: &Config, site: Option<String>) -> anyhow::Result<config::Site> {
    match site {
        Some(id) => c
            .site(&id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no site `{id}` in the config")),
        None => Ok(c.sites[0].clone()),
    }
}

/// The inbound pipeline on the configured database, for the commands that take mail.
async fn open_inbound(mut c: Config) -> anyhow::Result<crate::inbound::Inbound> {
    c.api.public_url = Some(c.api.public_url_or_listen());
    let opened = crate::app::open_store(&c).await?;
    Ok(crate::inbound::Inbound::new(
        opened.store,
        config::Shared::new(c),
        opened.keys,
        crate::clock::Clock::System,
    ))
}
