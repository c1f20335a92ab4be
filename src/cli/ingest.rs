//! `replyrelay ingest`: one email on standard input, as an MTA's pipe transport delivers it;
//! the outcome as a sysexits(3) status the MTA acts on.

use super::{open_inbound, EX_DATAERR, EX_NOPERM, EX_NOUSER, EX_TEMPFAIL};
use crate::config::Config;
use crate::inbound::{Envelope, Outcome, Rejection};
use std::process::ExitCode;

/// The exit status that tells the MTA what to do with a refused message.
pub fn exit_code(rejection: &Rejection) -> u8 {
    match rejection {
        Rejection::UnknownRecipient(_) => EX_NOUSER,
        Rejection::BadMessage(_) | Rejection::TooLarge => EX_DATAERR,
        Rejection::Sender(_) | Rejection::WindowClosed => EX_NOPERM,
    }
}

pub async fn ingest(c: Config, sender: Option<String>, recipients: Vec<String>) -> ExitCode {
    use std::io::Read;
    let max = c.inbound.max_message_size;
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(max as u64 + 1).read_to_end(&mut raw) {
        eprintln!("ingest: cannot read standard input: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    let inbound = match open_inbound(c).await {
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
        Ok(outcome) => {
            eprintln!("ingest: {}", said(&outcome));
            match &outcome {
                Outcome::Rejected(r) => ExitCode::from(exit_code(r)),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("ingest: could not store the message, try later: {e:#}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

/// The one line an MTA shows as the delivery's status.
fn said(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Stored {
            conversation,
            message,
            trimmed,
            ..
        } => format!(
            "stored as message {message} in conversation {conversation}{}",
            if *trimmed { "" } else { " (kept untrimmed)" }
        ),
        Outcome::Quarantined { conversation } => {
            format!("held for review in conversation {conversation}")
        }
        Outcome::Duplicate => "already stored (the same Message-ID)".into(),
        Outcome::Dropped(why) => format!("dropped: {why}"),
        Outcome::BounceRecorded => "delivery report recorded".into(),
        Outcome::Unsubscribed => "unsubscribed".into(),
        Outcome::Unbelieved => {
            "report not believed (it names no email of ours and none of its recipients)".into()
        }
        Outcome::Rejected(r) => {
            let (code, text) = r.smtp_reply();
            format!("refused: {code} {text}")
        }
    }
}
