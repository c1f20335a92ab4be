//! Domain values that parse rather than validate: once a value of these types exists, it is
//! known to be well-formed, so the rest of the code never re-checks it.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Text without control characters but line breaks and tabs, the only ones a chat message
/// needs. (A NUL byte is valid in JSON and in a MIME body, never in a PostgreSQL string.)
pub fn plain_text(text: &str) -> String {
    // Most text has none: one byte scan and a copy. C1 controls (U+0080..U+009F) all start
    // with the byte 0xC2, so any text that might hold one takes the careful path.
    let suspect = |b: &u8| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7F || *b == 0xC2;
    if !text.as_bytes().iter().any(suspect) {
        return text.to_owned();
    }
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// A display name on one line: control characters (a header-injection vector) become spaces
/// and runs of white space one space.
pub fn clean_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Milliseconds since the Unix epoch: how every instant is stored.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`].
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A visitor's email address: one `@`, a non-empty local part, a dotted domain, no spaces or
/// control characters (which would allow header injection), at most 254 bytes (RFC 5321).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct VisitorEmail(String);

impl VisitorEmail {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>(),;:\\\"[]".contains(c))
        {
            return Err("contains a character not allowed in an address".into());
        }
        let (local, domain) = s.rsplit_once('@').ok_or("has no @")?;
        if local.is_empty() || local.len() > 64 {
            return Err("has an empty or over-long local part".into());
        }
        if local.contains('@') {
            return Err("has more than one @".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(format!("has an invalid domain `{domain}`"));
        }
        // Domains are case-insensitive; local parts are not (RFC 5321 §2.4), so keep them.
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VisitorEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Visitor,
    Agent,
    Bot,
    System,
}

impl AuthorKind {
    /// Agent and bot messages are the replies a visitor may miss.
    pub fn is_reply(self) -> bool {
        matches!(self, AuthorKind::Agent | AuthorKind::Bot)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Visitor => "visitor",
            AuthorKind::Agent => "agent",
            AuthorKind::Bot => "bot",
            AuthorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "visitor" => AuthorKind::Visitor,
            "agent" => AuthorKind::Agent,
            "bot" => AuthorKind::Bot,
            "system" => AuthorKind::System,
            _ => return None,
        })
    }
}

/// How a chat message reached replyrelay, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageSource {
    /// Posted by the platform as an event.
    Chat,
    /// The visitor's answer to one of our emails.
    Email,
    /// An email answer from an address that is not the visitor's, held for review.
    EmailQuarantined,
}

impl MessageSource {
    /// How it is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageSource::Chat => "chat",
            MessageSource::Email => "email",
            MessageSource::EmailQuarantined => "email_quarantined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "chat" => MessageSource::Chat,
            "email" => MessageSource::Email,
            "email_quarantined" => MessageSource::EmailQuarantined,
            _ => return None,
        })
    }

    /// The channel the API names (`chat` or `email`; a quarantined reply came by email too).
    pub fn channel(self) -> &'static str {
        match self {
            MessageSource::Chat => "chat",
            MessageSource::Email | MessageSource::EmailQuarantined => "email",
        }
    }
}

/// What a site emails to a visitor who has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nothing: the visitor sees replies only if they come back to the widget.
    Off,
    /// The unread replies with a little context (recommended).
    #[default]
    Unread,
    /// The whole conversation every time.
    Transcript,
}

/// A file attached to a chat message; emails link to it rather than carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A language tag such as `en`, `pt-BR`: letters, digits and hyphens, at most 35 characters
/// (the BCP 47 practical limit). Only its primary subtag picks the email's language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Locale(String);

impl Locale {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().replace('_', "-");
        let ok = !s.is_empty()
            && s.len() <= 35
            && s.split('-').all(|p| {
                !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric())
            })
            && s.split('-')
                .next()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic()));
        if ok {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{s}` is not a language tag such as `en` or `pt-BR`"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `pt-BR` → `pt`.
    pub fn language(&self) -> String {
        self.0
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// An IANA time zone name such as `Europe/Madrid`.
pub fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| format!("`{s}` is not an IANA time zone such as `Europe/Madrid`"))
}

/// A size as people read it: `512 B`, `14 KB`, `2.5 MB`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{} KB", b.div_ceil(1 << 10)),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_parse() {
        assert_eq!(
            VisitorEmail::parse(" Ana@Example.COM ").unwrap().as_str(),
            "Ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@exa mple.com",
            "ana@example.com\r\nBcc: x@y.z",
            "a@b@example.com",
            "ana@-x.com",
        ] {
            assert!(VisitorEmail::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn plain_text_keeps_lines_and_tabs_and_drops_other_controls() {
        assert_eq!(plain_text("ça va?\n\tbien"), "ça va?\n\tbien");
        assert_eq!(plain_text("a\0b\r\nc\u{7f}d\u{85}e\u{9f}f"), "ab\ncdef");
        // Starts with 0xC2 but is no control: kept, on the careful path.
        assert_eq!(plain_text("\u{a0}5 \u{a3}"), "\u{a0}5 \u{a3}");
    }

    #[test]
    fn locales_parse() {
        assert_eq!(Locale::parse("pt_BR").unwrap().language(), "pt");
        assert!(Locale::parse("en\n").is_ok());
        assert!(Locale::parse("1en").is_err());
        assert!(Locale::parse("en--US").is_err());
    }
}
