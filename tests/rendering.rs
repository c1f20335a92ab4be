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
        let html = rendered_html(site, &conv, &messages);
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
/// against the frame's, the lowest WCAG contrast of any visible text against the ground it is
/// drawn on (the nearest box with a background: bubble, card, button or page), the card's
/// writing direction, the height of what was drawn, and the logo as drawn.
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
function ground(w, el) {
  for (let x = el; x; x = x.parentElement) {
    const bg = w.getComputedStyle(x).backgroundColor;
    if (bg !== 'transparent' && !/^rgba\(.*,\s*0\)$/.test(bg)) return bg;
  }
  return 'rgb(255, 255, 255)';
}
function measure(frame) {
  const d = frame.contentDocument, w = frame.contentWindow;
  let least = 99, worst = '';
  for (const el of d.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.getClientRects().length === 0 || w.getComputedStyle(el).display === 'none') continue;
    const c = contrast(w.getComputedStyle(el).color, ground(w, el));
    if (c < least) { least = c; worst = el.textContent.trim().slice(0, 40); }
  }
  const card = d.querySelector('.rr-card');
  const logo = d.querySelector('img.rr-logo');
  return {
    scroll: d.documentElement.scrollWidth, client: d.documentElement.clientWidth,
    contrast: least, worst: worst, dir: w.getComputedStyle(card).direction,
    height: card.getBoundingClientRect().height, bubbles: d.querySelectorAll('.rr-visitor, .rr-agent').length,
    logo: logo && { drawn: logo.complete && logo.naturalWidth > 0, height: parseFloat(w.getComputedStyle(logo).height), alt: logo.alt },
  };
}
window.addEventListener('load', () => {
  const out = {};
  for (const f of document.querySelectorAll('iframe')) out[f.dataset.lang] = measure(f);
  document.body.setAttribute('data-out', JSON.stringify(out));
});
"#;

/// Serves one PNG, the site's logo, on loopback to every request: the emails load it as a mail
/// client would.
fn serve_logo() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, 120, 40);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[0x33; 120 * 40 * 3]).unwrap();
    }
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                png_bytes.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&png_bytes);
        }
    });
    format!("http://127.0.0.1:{port}/logo.png")
}

/// The email of `site` for the built-in sample in `lang`.
fn email_html(site: &replyrelay::config::Site, lang: &str) -> String {
    let (conv, messages) = compose::sample(site, "ana@example.com", Some(lang), Utc::now());
    rendered_html(site, &conv, &messages)
}

/// The HTML part of the replies email `site` makes for `conv` now.
fn rendered_html(
    site: &replyrelay::config::Site,
    conv: &replyrelay::store::Conversation,
    messages: &[replyrelay::store::Message],
) -> String {
    let keys = TokenKeys::new(vec![b"rendering-test-key-0123456789".to_vec()]);
    compose::make(
        site,
        &keys,
        "https://relay.example.com",
        EmailKind::Replies,
        conv,
        messages,
        Utc::now(),
    )
    .unwrap()
    .rendered
    .html
}

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
    // A branded site too: its colour (an orange, which needs a lighter shade in dark mode) on
    // the name, the divider, links and the button, and its logo.
    let logo = serve_logo();
    let branded = replyrelay::config::parse(
        &format!(
            r##"
[[site]]
id = "acme"
name = "Acme"
api_tokens = ["0123456789abcdef"]
brand_color = "#c2410c"
logo_url = "{logo}"
"##
        ),
        "branded.toml",
        Path::new("."),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    // One page holds every language's email, each in a frame of the width under test.
    let mut emails: Vec<(String, String)> = replyrelay::i18n::languages()
        .map(|lang| (lang.to_string(), email_html(&config.sites[0], lang)))
        .collect();
    for lang in ["en", "ar"] {
        emails.push((
            format!("{lang}-branded"),
            email_html(&branded.sites[0], lang),
        ));
    }
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
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            let measured: serde_json::Value = serde_json::from_str(&json).unwrap();
            for (name, _) in &emails {
                let m = &measured[name.as_str()];
                let at = format!("{name}, {width} px, {scheme}");
                assert!(m["bubbles"].as_u64().unwrap() >= 2, "{at}: {m}");
                assert!(m["height"].as_f64().unwrap() > 200.0, "{at}: blank? {m}");
                assert!(
                    m["scroll"].as_u64() <= m["client"].as_u64(),
                    "{at}: wider than the screen: {m}"
                );
                // Every visible text: the messages, the site's name and colour, the button, the
                // footer.
                let contrast = m["contrast"].as_f64().unwrap();
                assert!(
                    contrast >= 4.5,
                    "{at}: text contrast {contrast:.2} < 4.5 ({})",
                    m["worst"]
                );
                let lang = name.split('-').next().unwrap();
                let direction = if replyrelay::i18n::is_rtl(lang) {
                    "rtl"
                } else {
                    "ltr"
                };
                assert_eq!(m["dir"], direction, "{at}");
                if name.ends_with("-branded") {
                    assert_eq!(m["logo"]["drawn"], true, "{at}: the logo is drawn: {m}");
                    assert_eq!(m["logo"]["height"], 40.0, "{at}: {m}");
                    assert_eq!(m["logo"]["alt"], "Acme", "{at}: {m}");
                } else {
                    assert!(m["logo"].is_null(), "{at}: no logo unless the site has one");
                }
            }
        }
    }
}
