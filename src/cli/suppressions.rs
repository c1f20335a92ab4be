//! `replyrelay suppressions list|lift`: the operator's view of who gets no email and why, and
//! the way to give an address back — the API's `GET` and `DELETE /v1/suppressions` on the
//! daemon's database, for a shell with the config file and no API token at hand.

use super::pick_site;
use crate::app::open_store;
use crate::config::Config;
use crate::store::SUPPRESSION_REASONS;

/// Prints a site's suppressions whose address contains `q`, newest first: one line each
/// (address, reason, since, cause), or one JSON object per line with `json`.
pub async fn list(
    c: Config,
    site: Option<String>,
    q: String,
    reason: Option<String>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    if let Some(r) = reason
        .as_deref()
        .filter(|r| !SUPPRESSION_REASONS.contains(r))
    {
        anyhow::bail!(
            "--reason `{r}` is not one of {}",
            SUPPRESSION_REASONS.join(", ")
        );
    }
    let store = open_store(&c).await?.store;
    let mut tx = store.begin_read().await?;
    let found = (tx.suppressions(&site.id, q.trim(), reason.as_deref(), limit.max(1))).await?;
    for s in &found {
        if json {
            let at = s.at.to_rfc3339();
            let row = serde_json::json!({"email": s.email, "reason": s.reason, "at": at, "cause": s.cause});
            println!("{row}");
        } else {
            let cause = s.cause.as_deref().unwrap_or("-");
            println!("{}\t{}\t{}\t{cause}", s.email, s.reason, s.at.to_rfc3339());
        }
    }
    if !json {
        eprintln!("{} suppressed on site `{}`", found.len(), site.id);
    }
    Ok(())
}

/// Lifts the suppression of `address` on a site: it is emailed again, and the platform hears
/// of it (`visitor.unsuppressed`).
pub async fn lift(c: Config, site: Option<String>, address: String) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let store = open_store(&c).await?.store;
    let now = chrono::Utc::now();
    if !crate::apply::lift(store.as_ref(), &site, &address, now).await? {
        anyhow::bail!("`{address}` is not suppressed on site `{}`", site.id);
    }
    println!("lifted {} on site `{}`", address.to_lowercase(), site.id);
    Ok(())
}
