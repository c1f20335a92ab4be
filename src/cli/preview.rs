//! `replyrelay preview`: the email a stored conversation would get now, or a built-in sample,
//! written as files to open in a browser or a mail client.

use super::pick_site;
use crate::app::{open_store, Opened};
use crate::compose;
use crate::config::{Config, Site};
use crate::token::TokenKeys;
use crate::triggers::EmailKind;
use std::path::Path;

pub async fn preview(
    c: Config,
    site: Option<String>,
    conversation: Option<String>,
    locale: Option<String>,
    out: &Path,
) -> anyhow::Result<()> {
    let site = pick_site(&c, site)?;
    let now = chrono::Utc::now();
    let public_url = c.api.public_url_or_listen();
    let made = match conversation {
        Some(id) => {
            let Opened { store, keys } = open_store(&c).await?;
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
    screenshots(out);
    Ok(())
}

/// Where Chromium is installed: the email at a phone's width, and in dark mode at a desktop's,
/// as PNGs beside it, so template work is seen as visitors see it.
fn screenshots(out: &Path) {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return;
    };
    let Ok(page) = std::fs::canonicalize(out.join("email.html")) else {
        return;
    };
    let profile = out.join(".chromium-profile");
    let shots = [
        ("email-phone.png", "375,1200", false),
        ("email-dark.png", "1200,1200", true),
    ];
    for (name, size, dark) in shots {
        let path = out.join(name);
        let mut command = std::process::Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={size}"))
            .arg(format!("--screenshot={}", path.display()));
        if dark {
            command.arg("--force-dark-mode");
        }
        let made = command
            .arg(format!("file://{}", page.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if made && path.exists() {
            println!("{}", path.display());
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
}

/// The built-in sample conversation's email, with throw-away tokens (not valid anywhere).
pub fn sample_email(
    site: &Site,
    public_url: &str,
    to: &str,
    locale: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<compose::Made> {
    let keys = TokenKeys::new(vec![b"sample-only-key-not-for-real-tokens".to_vec()]);
    let (conv, messages) = compose::sample(site, to, locale, now);
    Ok(compose::make(
        site,
        &keys,
        public_url,
        EmailKind::Replies,
        &conv,
        &messages,
        now,
    )?)
}
