//! The HTML email of every language, rendered by a real browser (Debian's headless Chromium):
//! at a phone's width it must draw something and must not scroll sideways; at a phone's and a
//! desktop's width, in light and in dark mode (`prefers-color-scheme: dark`), the text of every
//! message bubble must keep WCAG AA contrast (4.5:1) against it, and Arabic must run right to
//! left. Skipped where Chromium is not installed; `.ci/run` installs it.

#[path = "support/skip.rs"]
mod skip;

use chrono::Utc;
use replyrelay::compose;
use replyrelay::domain::AuthorKind;
use replyrelay::token::TokenKeys;
use replyrelay::triggers::EmailKind;
use std::path::Path;
use std::process::Command;

const PHONE_WIDTH: u32 = 375;

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn run_chromium(binary: &str, profile: &Path, args: &[&str], page: &Path) -> std::process::Output {
    Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// Escapes for an HTML attribute value.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn every_language_renders_on_a_phone_without_overflow() {
    let Some(binary) = chromium() else {
        skip::skipped(
            "the rendering test",
            "chromium is not installed (apt-get install chromium)",
        );
        return;
    };
    let config = replyrelay::config::builtin();
    let site = &config.sites[0];
    let keys = TokenKeys::new(vec![b"rendering-test-key-0123456789".to_vec()]);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    for lang in replyrelay::i18n::languages() {
        let (conv, mut messages) = compose::sample(site, "ana@example.com", Some(lang), Utc::now());
        // A long unbroken line, as pasted links and order numbers are.
        let mut long = messages[3].clone();
        long.seq = 5;
        long.id = "long".into();
        long.author = AuthorKind::Agent;
        long.text = format!(
            "Tracking: https://example.com/track/{}",
            "A1B2C3D4".repeat(20)
        );
        messages.push(long);
        let made = compose::make(
            site,
            &keys,
            "https://relay.example.com",
            EmailKind::Replies,
            &conv,
            &messages,
            Utc::now(),
        )
        .unwrap();
        let html = made.rendered.html;
        let (_, strings) = replyrelay::i18n::strings([lang]);
        assert!(html.contains(&format!("lang=\"{lang}\"")), "{lang}");
        assert!(
            html.contains(&strings.continue_in_chat) || html.contains(&strings.reply_hint),
            "{lang}: not in its language"
        );

        // Sideways overflow: the email in a 375 px frame, measured by the browser itself.
        let email = dir.path().join(format!("email-{lang}.html"));
        std::fs::write(&email, &html).unwrap();
        let wrapper = dir.path().join(format!("measure-{lang}.html"));
        std::fs::write(
            &wrapper,
            format!(
                r#"<html><body style="margin:0"><iframe style="width:{PHONE_WIDTH}px;height:4000px;border:0" onload="document.body.setAttribute('data-width', this.contentDocument.documentElement.scrollWidth + '/' + this.contentDocument.documentElement.clientWidth)" srcdoc="{}"></iframe></body></html>"#,
                attr(&html)
            ),
        )
        .unwrap();
        let out = run_chromium(
            binary,
            &profile,
            &["--virtual-time-budget=5000", "--dump-dom"],
            &wrapper,
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        let measured = dom
            .split("data-width=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{lang}: no measurement in {dom}"));
        let (scroll, client) = measured.split_once('/').unwrap();
        let (scroll, client): (u32, u32) = (scroll.parse().unwrap(), client.parse().unwrap());
        assert_eq!(client, PHONE_WIDTH, "{lang}: the frame is a phone's width");
        assert!(
            scroll <= client,
            "{lang}: {scroll} px wide content in a {client} px screen"
        );

        // Not blank: a screenshot at phone size has plenty of non-background pixels.
        let shot = dir.path().join(format!("shot-{lang}.png"));
        let out = run_chromium(
            binary,
            &profile,
            &[
                &format!("--window-size={PHONE_WIDTH},900"),
                &format!("--screenshot={}", shot.display()),
            ],
            &email,
        );
        assert!(
            shot.exists(),
            "{lang}: no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.width, PHONE_WIDTH, "{lang}");
        let channels = info.color_type.samples();
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
        let background = pixels[0];
        let drawn = pixels.iter().filter(|p| p[..3] != background[..3]).count();
        assert!(
            drawn * 10 > pixels.len(),
            "{lang}: only {drawn} of {} pixels drawn: blank?",
            pixels.len()
        );
    }
}

/// What the wrapper page measures in each email once its frame has loaded: the content's width
/// against the frame's, the lowest WCAG contrast of any text in a message bubble against the
/// bubble, the card's writing direction, and the height of what was drawn.
const MEASURE: &str = r#"
function lum(c) {
  const v = c.match(/[\d.]+/g).slice(0, 3).map(Number).map(x => {
    x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function contrast(a, b) {
  const x = lum(a), y = lum(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}
function measure(frame) {
  const d = frame.contentDocument, w = frame.contentWindow;
  let least = 99;
  for (const bubble of d.querySelectorAll('.rr-visitor, .rr-agent')) {
    const bg = w.getComputedStyle(bubble).backgroundColor;
    for (const el of [bubble, ...bubble.querySelectorAll('*')]) {
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (own) least = Math.min(least, contrast(w.getComputedStyle(el).color, bg));
    }
  }
  const card = d.querySelector('.rr-card');
  return {
    scroll: d.documentElement.scrollWidth, client: d.documentElement.clientWidth,
    contrast: least, dir: w.getComputedStyle(card).direction,
    height: card.getBoundingClientRect().height, bubbles: d.querySelectorAll('.rr-visitor, .rr-agent').length,
  };
}
window.addEventListener('load', () => {
  const out = {};
  for (const f of document.querySelectorAll('iframe')) out[f.dataset.lang] = measure(f);
  document.body.setAttribute('data-out', JSON.stringify(out));
});
"#;

#[test]
fn every_language_reads_in_light_and_dark_at_phone_and_desktop_width() {
    let Some(binary) = chromium() else {
        skip::skipped(
            "the light and dark rendering test",
            "chromium is not installed (apt-get install chromium)",
        );
        return;
    };
    let config = replyrelay::config::builtin();
    let site = &config.sites[0];
    let keys = TokenKeys::new(vec![b"rendering-test-key-0123456789".to_vec()]);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    // One page holds every language's email, each in a frame of the width under test.
    let emails: Vec<(&str, String)> = replyrelay::i18n::languages()
        .map(|lang| {
            let (conv, messages) = compose::sample(site, "ana@example.com", Some(lang), Utc::now());
            let made = compose::make(
                site,
                &keys,
                "https://relay.example.com",
                EmailKind::Replies,
                &conv,
                &messages,
                Utc::now(),
            )
            .unwrap();
            (lang, made.rendered.html)
        })
        .collect();
    for width in [PHONE_WIDTH, 1200] {
        let frames: String = (emails.iter())
            .map(|(lang, html)| {
                format!(
                    r#"<iframe data-lang="{lang}" style="width:{width}px;height:3000px;border:0;display:block" srcdoc="{}"></iframe>"#,
                    attr(html)
                )
            })
            .collect();
        let page = dir.path().join(format!("measure-{width}.html"));
        std::fs::write(
            &page,
            format!(
                "<html><body style=\"margin:0\">{frames}<script>{MEASURE}</script></body></html>"
            ),
        )
        .unwrap();
        for dark in [false, true] {
            let scheme = if dark { "dark" } else { "light" };
            let mut args = vec!["--virtual-time-budget=10000", "--dump-dom"];
            if dark {
                // prefers-color-scheme: dark, as a phone in dark mode reports it.
                args.push("--force-dark-mode");
            }
            let out = run_chromium(binary, &profile, &args, &page);
            let dom = String::from_utf8_lossy(&out.stdout);
            let json = dom
                .split("data-out=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{width} px {scheme}: no measurement"))
                .replace("&quot;", "\"");
            let measured: serde_json::Value = serde_json::from_str(&json).unwrap();
            for (lang, _) in &emails {
                let m = &measured[*lang];
                let at = format!("{lang}, {width} px, {scheme}");
                assert!(m["bubbles"].as_u64().unwrap() >= 2, "{at}: {m}");
                assert!(m["height"].as_f64().unwrap() > 200.0, "{at}: blank? {m}");
                assert!(
                    m["scroll"].as_u64() <= m["client"].as_u64(),
                    "{at}: wider than the screen: {m}"
                );
                let contrast = m["contrast"].as_f64().unwrap();
                assert!(
                    contrast >= 4.5,
                    "{at}: bubble text contrast {contrast:.2} < 4.5"
                );
                let direction = if replyrelay::i18n::is_rtl(lang) {
                    "rtl"
                } else {
                    "ltr"
                };
                assert_eq!(m["dir"], direction, "{at}");
            }
        }
    }
}
