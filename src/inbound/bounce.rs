//! A delivery report recorded against the email it is about.

use super::{Analysis, Inbound, Outcome};
use crate::apply;
use crate::webhooks;

impl Inbound {
    pub(super) async fn record_bounce(&self, analysis: &Analysis) -> anyhow::Result<Outcome> {
        let bounce = analysis.bounce.as_ref().expect("a bounce");
        let Some(id) = &bounce.original_message_id else {
            return Ok(Outcome::Dropped("bounce for no email of ours".into()));
        };
        let mut tx = self.store.begin().await?;
        let Some(email) = tx.email_by_message_id(id).await? else {
            return Ok(Outcome::Dropped("bounce for no email of ours".into()));
        };
        let Some(site) = self.site(&email.site_id) else {
            return Ok(Outcome::Dropped(
                "bounce for a site no longer configured".into(),
            ));
        };
        let now = self.clock.now();
        let reason = format!(
            "bounced{}{}",
            bounce
                .status
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default(),
            bounce
                .recipient
                .as_deref()
                .map(|r| format!(" for {r}"))
                .unwrap_or_default(),
        );
        tx.set_email_failed(&email.id, &reason).await?;
        if site.webhook_url.is_some() {
            tx.enqueue_webhook(&webhooks::bounced(&email, &reason, now))
                .await?;
        }
        tx.commit().await?;
        if bounce.permanent {
            apply::suppress(
                self.store.as_ref(),
                &site,
                &email.rcpt_to,
                "hard_bounce",
                now,
            )
            .await?;
        }
        Ok(Outcome::BounceRecorded)
    }
}
