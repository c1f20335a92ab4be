//! `replyrelay inspect`: what the inbound pipeline would do with an email file, without
//! storing anything: routed against the database where there is one, read alone where not.

use super::{open_inbound, EX_DATAERR, EX_NOINPUT};
use crate::config::Config;
use crate::inbound::{analyze_detached, Analysis, Envelope, Kind};
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

pub async fn inspect(c: Config, file: &Path, json: bool) -> ExitCode {
    let raw = match std::fs::read(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("inspect: {}: {e}", file.display());
            return ExitCode::from(EX_NOINPUT);
        }
    };
    // Without a config file there is no database to route against, and none is created.
    let database_exists = c.source.is_some()
        && c.database.url.strip_prefix("sqlite://").is_none_or(|path| {
            std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
        });
    let analyzed = if database_exists {
        match open_inbound(c).await {
            Ok(inbound) => inbound.analyze(&raw, &Envelope::default()).await,
            Err(e) => {
                eprintln!("inspect: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        analyze_detached(&raw, &Envelope::default(), &c)
    };
    let analysis = match analyzed {
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
        print!("{}", as_text(&analysis));
    }
    ExitCode::SUCCESS
}

/// The analysis as `inspect` prints it without `--json`: one line per finding, then the text.
pub fn as_text(analysis: &Analysis) -> String {
    let mut out = String::new();
    write_text(analysis, &mut out).expect("writing to a String cannot fail");
    out
}

fn write_text(analysis: &Analysis, out: &mut String) -> std::fmt::Result {
    let r = &analysis.routing;
    let v = &analysis.verification;
    writeln!(
        out,
        "kind:          {:?}{}",
        analysis.kind,
        analysis
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "from:          {}",
        analysis.from.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "message-id:    {}",
        analysis.message_id.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "routing:       via {}; site {}; conversation {}{}",
        r.via,
        r.site.as_deref().unwrap_or("-"),
        r.conversation.as_deref().unwrap_or("-"),
        r.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "verification:  token {}; sender {}; window {}; decision {}{}",
        v.token,
        v.sender,
        if v.window_open { "open" } else { "closed" },
        v.decision,
        v.reason
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )?;
    if let Some(b) = &analysis.bounce {
        writeln!(out, "bounce:        {:?}", b)?;
    }
    for a in &analysis.attachments {
        writeln!(
            out,
            "attachment:    {} ({}, {} bytes)",
            a.name, a.content_type, a.size
        )?;
    }
    if matches!(
        analysis.kind,
        Kind::Reply | Kind::Unroutable | Kind::AutoReply
    ) {
        let trimming = match (analysis.trimmed, analysis.own_copy) {
            (false, _) => "none: the rules would have left nothing, kept as it came",
            (true, true) => "the copy of our email cut by its text, then the quote rules",
            (true, false) => "the quote rules",
        };
        writeln!(out, "trimmed:       {trimming}")?;
    }
    writeln!(out, "text:\n{}", analysis.text)?;
    Ok(())
}
