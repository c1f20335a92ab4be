//! `replyrelay send-test`: a sample email through the configured transport, and the relay's
//! answer.

use super::pick_site;
use super::preview::sample_email;
use crate::config::Config;
use crate::outbound::Transport;

pub async fn send_test(
    c: Config,
    to: &str,
    site: Option<String>,
    locale: Option<String>,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let now = chrono::Utc::now();
    let public_url = c.api.public_url_or_listen();
    let made = sample_email(&site, &public_url, to, locale.as_deref(), now)?;
    let trust = crate::trust::Trust::new(c.extra_roots.clone())?;
    let transport = Transport::from_config(&c.delivery.transport, &trust)?;
    match transport.send(site.sender.as_str(), to, &made.raw).await {
        Ok(answer) => {
            println!("sent {} to {to}: {answer}", made.message_id);
            Ok(())
        }
        Err(e) => anyhow::bail!("not sent: {e}"),
    }
}
