//! `replyrelay queue list|retry`: the outbox from a shell, in the spirit of `mailq` and
//! `postqueue -f` — the API's `GET /v1/emails` and `POST /v1/emails/{id}/retry` on the
//! daemon's database.

use super::pick_site;
use crate::app::open_store;
use crate::config::Config;
use crate::store::{EmailStatus, RetryOutcome};

/// Prints a site's emails, newest first: id, status, attempts, recipient, next attempt (or
/// when sent), the relay's last answer; or one JSON object per line with `json`.
pub async fn list(
    c: Config,
    site: Option<String>,
    status: Option<String>,
    conversation: Option<String>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let status = match status.as_deref() {
        None => None,
        Some(s) => Some(EmailStatus::named(s).ok_or_else(|| {
            anyhow::anyhow!("--status `{s}` is not one of {}", EmailStatus::names())
        })?),
    };
    let store = open_store(&c).await?.store;
    let mut tx = store.begin_read().await?;
    let emails = tx
        .list_emails(&site.id, status, conversation.as_deref(), limit.max(1))
        .await?;
    for e in &emails {
        if json {
            println!(
                "{}",
                serde_json::to_string(&crate::api::views::EmailView::from(e))?
            );
            continue;
        }
        let when = match (e.status, e.sent_at) {
            (EmailStatus::Pending, _) => format!("next {}", e.next_attempt_at.to_rfc3339()),
            (_, Some(sent)) => format!("sent {}", sent.to_rfc3339()),
            _ => "-".into(),
        };
        let answer = e.last_error.as_deref().unwrap_or("-");
        println!(
            "{}\t{}\t{}\t{}\t{when}\t{answer}",
            e.id,
            e.status.as_str(),
            e.attempts,
            e.rcpt_to
        );
    }
    if !json {
        eprintln!("{} emails on site `{}`", emails.len(), site.id);
    }
    Ok(())
}

/// Puts an email back in the queue to be tried now; a running daemon sends it.
pub async fn retry(c: Config, site: Option<String>, id: String) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let store = open_store(&c).await?.store;
    let now = chrono::Utc::now();
    match crate::apply::retry_email(store.as_ref(), &site, &id, now).await? {
        RetryOutcome::Queued => println!("queued {id} to be tried now"),
        RetryOutcome::NotFound => anyhow::bail!("no email `{id}` on site `{}`", site.id),
        RetryOutcome::AlreadySent => anyhow::bail!("`{id}` was sent already"),
        RetryOutcome::BytesGone => {
            anyhow::bail!("`{id}`'s bytes were dropped under [retention] email_bodies")
        }
    }
    Ok(())
}
