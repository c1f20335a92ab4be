//! What goes into an email, and the email itself.
//!
//! [`select`] is the rule of the modes (which messages, which are new) over plain data; [`render`]
//! fills the askama templates in `templates/`; [`build`] wraps the result in a MIME message with
//! the threading, reply and unsubscribe headers. Chat text is escaped on the way into HTML and
//! names are stripped of line breaks before they reach a header. `markdown` turns a chat
//! message's light Markdown into the email's HTML, its text part and its preview line;
//! `transfer` encodes the two bodies for the wire (7bit, quoted-printable or base64).

use crate::config::Site;
use crate::domain::{AuthorKind, MessageSource, Mode};
use crate::i18n::{self, Strings};
use crate::store::{Conversation, Message};
use crate::token::{Purpose, TokenKeys};
use crate::triggers::EmailKind;
use askama::Template;
use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

mod markdown;
mod transfer;
mod when;

pub use markdown::{markdown_to_html, markdown_to_plain, markdown_to_text};

/// Which messages an email shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Indexes into the conversation's messages, in order.
    pub shown: Vec<usize>,
    /// The replies this email forwards (their sequence numbers); they get its marker.
    pub forward: Vec<i64>,
    /// Whether the whole conversation is shown (a transcript).
    pub whole: bool,
}

/// The replies owed: agent or bot messages after the read cursor, neither deleted nor forwarded.
pub fn pending(messages: &[Message], read_seq: i64) -> impl Iterator<Item = (usize, &Message)> {
    messages.iter().enumerate().filter(move |(_, m)| {
        m.author.is_reply() && m.seq > read_seq && !m.deleted && m.email_id.is_none()
    })
}

/// Picks the messages for an email under the site's mode.
pub fn select(
    site: &Site,
    kind: EmailKind,
    conv: &Conversation,
    messages: &[Message],
) -> Selection {
    let forward: Vec<i64> = pending(messages, conv.read_seq)
        .map(|(_, m)| m.seq)
        .collect();
    // Neither deleted nor a quarantined reply from another address: those are never shown
    // to the visitor, in context or in a transcript.
    let visible: Vec<usize> = (0..messages.len())
        .filter(|&i| !messages[i].is_hidden())
        .collect();
    let whole = kind == EmailKind::CloseTranscript
        || site.triggers.mode == Mode::Transcript
        || (!conv.replied_by_email && visible.len() <= site.content.short_conversation);
    if whole {
        return Selection {
            shown: visible,
            forward,
            whole,
        };
    }
    let Some((first_new, _)) = pending(messages, conv.read_seq).next() else {
        return Selection {
            shown: vec![],
            forward,
            whole,
        };
    };
    // From the first new reply on, everything (the visitor may have written in between);
    // before it, a little context, unless the visitor already answered by email and so has it.
    let context = if conv.replied_by_email {
        0
    } else {
        site.content.context_messages
    };
    let before: Vec<usize> = visible.iter().copied().filter(|&i| i < first_new).collect();
    let shown = before[before.len().saturating_sub(context)..]
        .iter()
        .copied()
        .chain(visible.iter().copied().filter(|&i| i >= first_new))
        .collect();
    Selection {
        shown,
        forward,
        whole,
    }
}

/// One message as the templates see it.
#[derive(serde::Serialize)]
pub struct ViewMessage {
    pub author: String,
    pub time: String,
    pub text: String,
    /// Sanitised HTML of the light Markdown in `text`.
    pub html: String,
    pub attachments: Vec<ViewAttachment>,
    pub is_visitor: bool,
    /// Not seen by the visitor before this email.
    pub new: bool,
    /// The first new message, where the "New" divider goes.
    pub first_new: bool,
}

#[derive(serde::Serialize)]
pub struct ViewAttachment {
    pub name: String,
    pub url: String,
    pub size: Option<String>,
}

/// Everything the email templates read (the built-in askama ones, and a site's own).
#[derive(serde::Serialize)]
pub struct View {
    pub lang: &'static str,
    /// `rtl` for a language written right to left, else `ltr`.
    pub dir: &'static str,
    /// The site's name, shown at the head of the email.
    pub site_name: String,
    /// The site's logo, above its name.
    pub logo_url: Option<String>,
    /// The site's colour (`#rrggbb`), legible on the light grounds.
    pub brand: String,
    /// Its shade for dark mode, legible on the dark grounds.
    pub brand_dark: String,
    pub subject: String,
    pub preheader: String,
    pub reply_marker: String,
    pub intro: String,
    pub has_earlier: bool,
    pub new_label: String,
    pub messages: Vec<ViewMessage>,
    /// The zone the times are in, named once: "Times are in Central European Time."
    pub zone_note: String,
    pub attachment_label: String,
    pub reply_hint: String,
    pub chat_url: Option<String>,
    pub continue_label: String,
    pub why: String,
    pub unsubscribe_url: String,
    pub unsubscribe_label: String,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextTemplate<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlTemplate<'a> {
    v: &'a View,
}

/// The parts of a rendered email.
pub struct Rendered {
    pub subject: String,
    pub from_name: String,
    pub text: String,
    pub html: String,
}

/// The inputs of one email besides the conversation.
pub struct Context<'a> {
    pub site: &'a Site,
    pub kind: EmailKind,
    pub unsubscribe_url: String,
    /// When the email is made: what "today" and "yesterday" are to the visitor.
    pub now: DateTime<Utc>,
}

/// Renders the selected messages into the subject, From name and both bodies.
pub fn render(
    ctx: &Context<'_>,
    conv: &Conversation,
    messages: &[Message],
    sel: &Selection,
) -> anyhow::Result<Rendered> {
    let site = ctx.site;
    let (lang, t, clock) = visitor_language(site, conv, ctx.now);
    let site_name = site.name.as_str();
    let forwarded: std::collections::HashSet<i64> = sel.forward.iter().copied().collect();
    let mut seen_new = false;
    let view_messages: Vec<ViewMessage> = sel
        .shown
        .iter()
        .map(|&i| {
            let m = &messages[i];
            let new = forwarded.contains(&m.seq);
            let first_new = new && !seen_new;
            seen_new |= new;
            view_message(m, &t, site_name, &clock, new, first_new)
        })
        .collect();
    let has_earlier = view_messages.first().is_some_and(|m| !m.new);
    // The agent who wrote last signs the email.
    let agent = sel
        .shown
        .iter()
        .rev()
        .map(|&i| &messages[i])
        .find(|m| m.author == AuthorKind::Agent && m.author_name.is_some())
        .and_then(|m| m.author_name.clone());
    let from_name = match (site.from_agent, agent) {
        (true, Some(agent)) => i18n::fill(&t.from_agent, &[("agent", &agent), ("site", site_name)]),
        _ => site_name.to_string(),
    };
    let intro = match (
        ctx.kind,
        sel.whole && site.triggers.mode == Mode::Transcript,
    ) {
        (EmailKind::CloseTranscript, _) => &t.intro_closed,
        (_, true) => &t.intro_transcript,
        _ => &t.intro_unread,
    };
    let view = View {
        lang,
        dir: if i18n::is_rtl(lang) { "rtl" } else { "ltr" },
        site_name: site_name.to_string(),
        logo_url: site.logo_url.clone(),
        brand: site.brand.light.to_string(),
        brand_dark: site.brand.dark.to_string(),
        subject: i18n::fill(&t.subject, &[("site", site_name)]),
        preheader: view_messages
            .iter()
            .find(|m| m.new)
            .map(|m| markdown_to_plain(&m.text).chars().take(120).collect())
            .unwrap_or_default(),
        reply_marker: t.reply_marker.clone(),
        intro: i18n::fill(intro, &[("site", site_name)]),
        has_earlier,
        new_label: t.new_label.clone(),
        messages: view_messages,
        zone_note: i18n::fill(&t.times_in, &[("zone", &clock.zone_name())]),
        attachment_label: t.attachment.clone(),
        reply_hint: t.reply_hint.clone(),
        chat_url: site
            .chat_url
            .as_ref()
            .map(|u| u.replace("{conversation}", &url_escape(&conv.id))),
        continue_label: t.continue_in_chat.clone(),
        why: i18n::fill(&t.why, &[("site", site_name)]),
        unsubscribe_url: ctx.unsubscribe_url.clone(),
        unsubscribe_label: t.unsubscribe.clone(),
    };
    let own = &site.templates;
    Ok(Rendered {
        subject: view.subject.clone(),
        from_name,
        text: match &own.text {
            Some(t) => crate::own_templates::render(t, "email.txt", &view)?,
            None => TextTemplate { v: &view }.render()?,
        },
        html: match &own.html {
            Some(t) => crate::own_templates::render(t, "email.html", &view)?,
            None => HtmlTemplate { v: &view }.render()?,
        },
    })
}

/// The language the email speaks (the visitor's if the site has it, else the site's) with its
/// strings, and the clock its times are written with: in the visitor's own locale tag (`en-GB`,
/// not just `en`) where the email speaks their language, else the site's, and in the visitor's
/// time zone (else UTC).
fn visitor_language(
    site: &Site,
    conv: &Conversation,
    now: DateTime<Utc>,
) -> (
    &'static str,
    std::borrow::Cow<'static, i18n::Strings>,
    when::Clock,
) {
    let visitor = conv
        .visitor
        .locale
        .as_deref()
        .and_then(|l| crate::domain::Locale::parse(l).ok());
    let visitor_lang = visitor.as_ref().map(|l| l.language());
    let (lang, t) = i18n::strings_for(
        &site.strings,
        visitor_lang
            .as_deref()
            .into_iter()
            .chain([site.locale.language().as_str()])
            .collect::<Vec<_>>()
            .iter()
            .copied(),
    );
    let date_locale = [visitor.as_ref(), Some(&site.locale)]
        .into_iter()
        .flatten()
        .find(|l| l.language() == lang)
        .map_or(lang, |l| l.as_str());
    let tz: chrono_tz::Tz = conv
        .visitor
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    (lang, t, when::Clock::new(date_locale, tz, now))
}

fn view_message(
    m: &Message,
    t: &Strings,
    site_name: &str,
    clock: &when::Clock,
    new: bool,
    first_new: bool,
) -> ViewMessage {
    let author = match m.author {
        AuthorKind::Visitor => t.you.clone(),
        AuthorKind::System => t.system.clone(),
        AuthorKind::Agent | AuthorKind::Bot => m
            .author_name
            .clone()
            .unwrap_or_else(|| site_name.to_string()),
    };
    ViewMessage {
        author,
        time: clock.time(m.at),
        text: markdown_to_text(&m.text),
        html: markdown_to_html(&m.text),
        attachments: m
            .attachments
            .iter()
            .map(|a| ViewAttachment {
                name: a.name.clone(),
                url: a.url.clone(),
                size: a.size.map(crate::domain::human_size),
            })
            .collect(),
        is_visitor: m.author == AuthorKind::Visitor,
        new,
        first_new,
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An email made for a conversation, ready for the outbox.
pub struct Made {
    pub id: uuid::Uuid,
    /// The `Message-ID`, with angle brackets.
    pub message_id: String,
    /// The envelope sender: its own bounce address where the site has one in the reply domain
    /// (see `crate::verp`), so the report that comes back is tied to this email by it alone.
    pub mail_from: String,
    pub raw: Vec<u8>,
    pub selection: Selection,
    pub rendered: Rendered,
}

/// Why an email could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// The visitor's address cannot be written into a message: as good as a dead one.
    #[error("the visitor's address cannot be used: {0}")]
    Address(String),
    /// Anything else (a site's template failing as it renders, say): the fault is ours, and
    /// the visitor must not pay for it.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Makes the whole email a conversation gets now: selection, rendering, headers, MIME.
pub fn make(
    site: &Site,
    keys: &TokenKeys,
    public_url: &str,
    kind: EmailKind,
    conv: &Conversation,
    messages: &[Message],
    now: DateTime<Utc>,
) -> Result<Made, MakeError> {
    let to = (conv.visitor.email.as_deref())
        .ok_or_else(|| MakeError::Address("the visitor has no email address".into()))?;
    to.parse::<lettre::Address>()
        .map_err(|e| MakeError::Address(format!("{to}: {e}")))?;
    let selection = select(site, kind, conv, messages);
    // Time-ordered (v7): the outbox's id and Message-ID indexes grow at their end instead of
    // touching a random page per email.
    let id = uuid::Uuid::now_v7();
    let message_id = format!("<{}@{}>", id.simple(), site.reply_domain);
    // The link names this email, so it stops mail to the address this email went to, even
    // after the conversation's visitor has given another.
    let unsubscribe = crate::list_unsubscribe::token(site, keys, &id);
    let unsubscribe_url = format!("{public_url}/v1/unsubscribe/{unsubscribe}");
    let ctx = Context {
        site,
        kind,
        unsubscribe_url: unsubscribe_url.clone(),
        now,
    };
    let rendered = render(&ctx, conv, messages, &selection)?;
    let raw = build(
        &Envelope {
            site,
            to,
            to_name: conv.visitor.name.as_deref(),
            message_id: &message_id,
            thread: &conv.thread,
            reply_to: format!(
                "reply+{}@{}",
                keys.sign(Purpose::Reply, &site.id, conv.pk),
                site.reply_domain
            ),
            unsubscribe_url: &unsubscribe_url,
            unsubscribe_address: crate::list_unsubscribe::address(site, &unsubscribe),
            date: now,
        },
        &rendered,
    )?;
    Ok(Made {
        id,
        message_id,
        // Signed here, on the thread that makes the email, not on the task that writes it.
        mail_from: crate::verp::mail_from(site, keys, crate::verp::number_of(&id)),
        raw,
        selection,
        rendered,
    })
}

/// Renders every site's email (its own templates, its strings) for the built-in sample in
/// every language, so a template that compiles but fails as it renders (an unknown filter in a
/// branch, say) is refused where the config is loaded, not found when a visitor's email is
/// due. One line per failure, naming the site, the language and why.
pub fn check_templates(config: &crate::config::Config) -> Vec<String> {
    let keys = TokenKeys::new(vec![b"template-check-key-not-for-real-tokens".to_vec()]);
    let now = Utc::now();
    let mut problems = Vec::new();
    for site in &config.sites {
        if site.templates.html.is_none() && site.templates.text.is_none() {
            continue;
        }
        for lang in i18n::languages() {
            let (conv, messages) = sample(site, "check@example.com", Some(lang), now);
            for kind in [EmailKind::Replies, EmailKind::CloseTranscript] {
                let made = make(
                    site,
                    &keys,
                    "https://check.invalid",
                    kind,
                    &conv,
                    &messages,
                    now,
                );
                if let Err(e) = made {
                    problems.push(format!(
                        "site `{}`: its templates fail to render ({lang}): {e}",
                        site.id
                    ));
                }
            }
        }
    }
    problems.dedup();
    problems
}

/// A made-up conversation for previews and test emails: a question, a reply read, and two
/// unread replies with Markdown and an attachment.
pub fn sample(
    site: &Site,
    to: &str,
    locale: Option<&str>,
    now: DateTime<Utc>,
) -> (Conversation, Vec<Message>) {
    use crate::domain::Attachment;
    let at = |min: i64| now - chrono::TimeDelta::minutes(min);
    let message =
        |seq: i64, author: AuthorKind, name: Option<&str>, text: &str, min: i64| Message {
            seq,
            id: format!("sample-{seq}"),
            author,
            author_name: name.map(String::from),
            text: text.into(),
            attachments: vec![],
            source: MessageSource::Chat,
            at: at(min),
            trimmed: true,
            deleted: false,
            email_id: None,
        };
    let mut messages = vec![
        message(
            1,
            AuthorKind::Visitor,
            None,
            "Hi! Do you ship to Spain, and how long does it take?",
            40,
        ),
        message(
            2,
            AuthorKind::Bot,
            Some("Assistant"),
            "Thanks for your message: an agent will be with you shortly.",
            39,
        ),
        message(
            3,
            AuthorKind::Agent,
            Some("Sam"),
            "Yes, we ship to Spain! Standard delivery takes **3–5 working days**.",
            12,
        ),
        message(
            4,
            AuthorKind::Agent,
            Some("Sam"),
            "Here is our price list, and you can track orders at https://example.com/track.",
            11,
        ),
    ];
    messages[3].attachments.push(Attachment {
        name: "price-list.pdf".into(),
        url: "https://example.com/files/price-list.pdf".into(),
        size: Some(184_320),
        content_type: Some("application/pdf".into()),
    });
    let conv = Conversation {
        pk: 0,
        site_id: site.id.clone(),
        id: "sample".into(),
        open: true,
        visitor: crate::store::Visitor {
            id: Some("sample-visitor".into()),
            email: Some(to.to_string()),
            name: Some("Ana Souza".into()),
            locale: locale.map(String::from),
            timezone: Some("Europe/Madrid".into()),
        },
        created_at: at(41),
        last_activity_at: Some(at(39)),
        left_at: Some(at(38)),
        last_visitor_message_at: Some(at(40)),
        last_agent_message_at: Some(at(11)),
        read_seq: 2,
        unanswered_emails: 0,
        replied_by_email: false,
        closed_at: None,
        close_transcript_at: None,
        pending_since: Some(at(12)),
        thread: vec![],
        due_at: None,
        fell_due_at: None,
    };
    (conv, messages)
}

/// The envelope and headers of one email.
pub struct Envelope<'a> {
    pub site: &'a Site,
    pub to: &'a str,
    pub to_name: Option<&'a str>,
    pub message_id: &'a str,
    /// Message-IDs of the earlier emails of the conversation, oldest first.
    pub thread: &'a [String],
    pub reply_to: String,
    pub unsubscribe_url: &'a str,
    /// The `mailto:` address that unsubscribes as the link does (see `crate::list_unsubscribe`).
    pub unsubscribe_address: String,
    pub date: DateTime<Utc>,
}

/// How many earlier Message-IDs `References` keeps: the first and the most recent ones.
const MAX_REFERENCES: usize = 10;

/// Builds the MIME message: multipart/alternative with text and HTML, threading headers,
/// `Auto-Submitted` and one-click unsubscribe.
pub fn build(env: &Envelope<'_>, r: &Rendered) -> anyhow::Result<Vec<u8>> {
    let sender: lettre::Address = env.site.sender.as_str().parse()?;
    let recipient: lettre::Address = env.to.parse()?;
    let from = Mailbox::new(Some(r.from_name.clone()), sender.clone());
    let to = Mailbox::new(env.to_name.map(String::from), recipient.clone());
    let reply_to = Mailbox::new(None, env.reply_to.parse()?);
    let mut builder = lettre::Message::builder()
        // Sending uses the outbox row's own envelope; one given here spares lettre parsing it
        // back out of the From and To headers (a fifth of building the message).
        .envelope(lettre::address::Envelope::new(
            Some(sender),
            vec![recipient],
        )?)
        .from(from)
        .reply_to(reply_to)
        .to(to)
        .subject(r.subject.clone())
        .date(env.date.into())
        .message_id(Some(env.message_id.to_string()));
    if let Some(last) = env.thread.last() {
        builder = builder.in_reply_to(last.clone());
        let refs: Vec<&String> = if env.thread.len() > MAX_REFERENCES {
            std::iter::once(&env.thread[0])
                .chain(&env.thread[env.thread.len() - (MAX_REFERENCES - 1)..])
                .collect()
        } else {
            env.thread.iter().collect()
        };
        builder = builder.references(
            refs.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let header = |name: &'static str, value: String| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
    };
    let message = builder
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .raw_header(header(
            "List-Unsubscribe",
            format!(
                "<{}>, <mailto:{}?subject=unsubscribe>",
                env.unsubscribe_url, env.unsubscribe_address
            ),
        ))
        .raw_header(header(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".into(),
        ))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(transfer::body(&r.text)))
                .singlepart(SinglePart::html(transfer::body(&r.html))),
        )?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(crate::domain::human_size(512), "512 B");
        assert_eq!(crate::domain::human_size(2048), "2 KB");
        assert_eq!(crate::domain::human_size(3 << 20), "3.0 MB");
    }
}
