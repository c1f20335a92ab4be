//! A line's kind: quote, delimiter, forward marker, signature, or where an embedded email starts.

use super::attribution::{attribution_at, has_time, has_year, words_before};
use super::headers::is_header_block;
use super::signature::is_signature;
use super::{HeaderKind, Kind};

pub(super) fn classify(lines: &[&str]) -> Vec<Kind> {
    let mut kinds = Vec::with_capacity(lines.len());
    let mut in_code = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") && !t.chars().all(|c| c == '~') {
            in_code = !in_code;
            kinds.push(Kind::Text);
            i += 1;
            continue;
        }
        let kind = if in_code {
            Kind::Text
        } else if t.is_empty() {
            Kind::Empty
        } else if is_quote(line) {
            Kind::Quote
        } else if is_delimiter(t) {
            Kind::Delimiter
        } else if is_forward_marker(t) {
            Kind::Header(1, HeaderKind::Forward)
        } else if let Some(n) = attribution_at(lines, i) {
            Kind::Header(n, HeaderKind::Attribution)
        } else if is_header_block(lines, i) {
            Kind::Header(1, HeaderKind::Forward)
        } else if is_signature(t) {
            Kind::Signature
        } else {
            Kind::Text
        };
        kinds.push(kind);
        // The rest of a multi-line attribution is part of it.
        if let Kind::Header(n, _) = kind {
            for _ in 1..n {
                kinds.push(Kind::Empty);
            }
            i += n;
        } else {
            i += 1;
        }
    }
    kinds.truncate(lines.len());
    rejoin_wrapped_quote_lines(lines, &mut kinds);
    keep_the_writers_own_rules(lines, &mut kinds);
    take_titled_rules_into_blocks(lines, &mut kinds);
    keep_device_lines_with_text_below(&mut kinds);
    take_run_on_openings(lines, &mut kinds);
    kinds
}

/// An attribution whose opening a client ran onto the end of the line above, after the
/// writer's words ("Thanks! On Wed, Jun 5, 2024 at 10:00 AM", then "Ana <ana@x.org> wrote:"),
/// starts on that line: its opening goes with it, and the words before it stay. The opening
/// must carry the year or the time every client writes there: "I'll call you on Monday" above
/// an attribution is the writer's.
fn take_run_on_openings(lines: &[&str], kinds: &mut [Kind]) {
    for i in 1..lines.len() {
        let Kind::Header(n, HeaderKind::Attribution) = kinds[i] else {
            continue;
        };
        if kinds[i - 1] != Kind::Text {
            continue;
        }
        let line = lines[i - 1];
        let opening = words_before(lines, i - 1, n + 1).map(|end| &line[end..]);
        if opening.is_some_and(|o| has_year(o) || has_time(o)) {
            kinds[i - 1] = Kind::Header(n + 1, HeaderKind::Attribution);
            kinds[i] = Kind::Empty;
        }
    }
}

/// A mail app writes its device line ("Sent from my iPhone") under everything the writer typed:
/// below it come only the quote, the history and the end. A line like it with the writer's own
/// text under it is theirs ("Sent from the warehouse yesterday.", then the next sentence), and
/// cutting there would lose that text.
fn keep_device_lines_with_text_below(kinds: &mut [Kind]) {
    for i in 0..kinds.len() {
        if kinds[i] != Kind::Signature {
            continue;
        }
        let below = (i + 1..kinds.len()).find(|&j| kinds[j] != Kind::Empty);
        if below.is_some_and(|j| kinds[j] == Kind::Text) {
            kinds[i] = Kind::Text;
        }
    }
}

/// A rule with a title in it ("---------- Původní e-mail ----------", QQ's
/// "------------------&nbsp;原始邮件&nbsp;------------------") right above a block of quoted
/// headers opens that block, in whatever language its title is: the headers prove it a
/// separator, where a list of titles knows only the languages in it.
fn take_titled_rules_into_blocks(lines: &[&str], kinds: &mut [Kind]) {
    for i in 1..lines.len() {
        if kinds[i] != Kind::Header(1, HeaderKind::Forward) {
            continue;
        }
        let Some(above) = (0..i).rev().find(|&j| kinds[j] != Kind::Empty) else {
            continue;
        };
        let titled = kinds[above] == Kind::Text && is_titled_rule(lines[above].trim());
        if titled && is_header_block(lines, i) {
            kinds[above] = Kind::Header(1, HeaderKind::Forward);
        }
    }
}

/// A line of three or more dashes (or underscores, equals signs, asterisks) on each side of a
/// short title: `----- Title -----`.
fn is_titled_rule(t: &str) -> bool {
    let rule = |c: &char| matches!(c, '-' | '_' | '=' | '*');
    let lead = t.chars().take_while(rule).count();
    let trail = t.chars().rev().take_while(rule).count();
    let len = t.chars().count();
    lead >= 3 && trail >= 3 && len <= 100 && len > lead + trail
}

/// Lines of dashes or equals signs that are the visitor's own formatting, not the start of a
/// signature: one right under a line of text (Markdown's heading underline, "Key Points" then
/// "----"), and rules that part several paragraphs of text (two or more, each with text after
/// it). The signature dashes (`--`) always start a signature.
fn keep_the_writers_own_rules(lines: &[&str], kinds: &mut [Kind]) {
    let mut parting = Vec::new();
    for i in 0..lines.len() {
        if kinds[i] != Kind::Delimiter {
            continue;
        }
        let t = lines[i].trim();
        if matches!(t, "--" | "—") {
            continue;
        }
        let underline =
            i > 0 && kinds[i - 1] == Kind::Text && t.chars().all(|c| c == '-' || c == '=');
        if underline {
            kinds[i] = Kind::Text;
        } else if kinds[i + 1..].iter().find(|k| **k != Kind::Empty) == Some(&Kind::Text) {
            parting.push(i);
        }
    }
    if parting.len() >= 2 {
        for i in parting {
            kinds[i] = Kind::Text;
        }
    }
}

/// Quoted lines that reach the wrap width: a client that re-wrapped the quote can leave the
/// overflow of such a line on a line of its own, without `>`.
const WRAP_WIDTH: usize = 60;

/// An unquoted line between two quoted ones is part of the quote when it is the overflow of a
/// wrapped quoted line: after a line as long as a wrapped one, or the rest of a link the line
/// above left open, or a link with the `>` its wrapping pushed behind it. A visitor's
/// interleaved answer has a line of its own (or a blank one) around it and is left alone.
fn rejoin_wrapped_quote_lines(lines: &[&str], kinds: &mut [Kind]) {
    for i in 1..lines.len().saturating_sub(1) {
        let sandwiched =
            kinds[i] == Kind::Text && kinds[i - 1] == Kind::Quote && kinds[i + 1] == Kind::Quote;
        if sandwiched
            && (lines[i - 1].trim_end().chars().count() >= WRAP_WIDTH
                || rest_of_open_link(lines[i - 1], lines[i])
                || link_before_quote_mark(lines[i]))
        {
            kinds[i] = Kind::Quote;
        }
    }
}

/// Whether `line` closes a bracketed link that `above` opened and did not close ("> View
/// ticket (http://example.com/action" then "_nonce=3dd518)"): the rest of a URL, one word.
fn rest_of_open_link(above: &str, line: &str) -> bool {
    let open = above.rfind(['(', '<']).filter(|&p| {
        let link = &above[p + 1..];
        link.contains("://") && !link.contains([')', '>', ' '])
    });
    let t = line.trim();
    open.is_some() && !t.contains(char::is_whitespace) && t.ends_with([')', '>'])
}

/// Whether a line is a bracketed link followed by a quote mark (" (http://x.test/c/YzO) >"):
/// a quoted line whose `>` the client's wrapping moved to the end.
fn link_before_quote_mark(line: &str) -> bool {
    let Some(rest) = line.trim().strip_suffix('>') else {
        return false;
    };
    let link = rest.trim_end();
    link.starts_with(['(', '<'])
        && link.ends_with([')', '>'])
        && link.contains("://")
        && !link.contains(char::is_whitespace)
}

/// `> text`, or the Supercite style `Name> text`.
pub(super) fn is_quote(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with('>') {
        return true;
    }
    // Supercite's `Name>`: only the first eleven bytes can hold its `>`.
    match t.bytes().take(11).position(|b| b == b'>') {
        Some(p) if p >= 1 => {
            t[..p].chars().all(|c| c.is_ascii_alphabetic())
                && t[p + 1..].chars().next().is_none_or(char::is_whitespace)
        }
        _ => false,
    }
}

/// A line of nothing but one repeated separator character (`--`, `_____`, `=====`), or the
/// invisible one-character lines some clients add under the text.
pub(super) fn is_delimiter(t: &str) -> bool {
    if t == "--" || t == "ᐧ" || t == "—" {
        return true;
    }
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    matches!(first, '-' | '_' | '=' | '~' | '*' | '#' | '+' | '—' | '–')
        && t.chars().count() >= 3
        && chars.all(|c| c == first)
}

/// The titles of a forwarded message, and their translations: "---------- Forwarded message
/// ----------", "Begin forwarded message:".
const FORWARDED: &[&str] = &[
    "forwarded message",
    "begin forwarded message",
    "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht",
    "mensaje reenviado",
    "message transféré",
    "début du message réexpédié",
    "début du message transféré",
    "messaggio inoltrato",
    "inizio messaggio inoltrato",
    "doorgestuurd bericht",
    "begin doorgestuurd bericht",
    "mensagem encaminhada",
    "início da mensagem reencaminhada",
    "пересылаемое сообщение",
    "пересланное сообщение",
    "начало переадресованного сообщения",
    "przekazana wiadomość",
    "vidarebefordrat meddelande",
    "videresendt melding",
    "videresendt besked",
    "přeposlaná zpráva",
    "iletilen mesaj",
    "thư chuyển tiếp",
    "pesan yang diteruskan",
    "转发的邮件",
    "轉寄的郵件",
    "転送されたメッセージ",
    "전달된 메시지",
];

/// The titles of the message a reply answers, and their translations: "-----Original
/// Message-----", "-----Reply Message-----".
const ORIGINAL: &[&str] = &[
    "original message",
    "reply message",
    "antwort nachricht",
    "ursprüngliche nachricht",
    "mensaje original",
    "message d'origine",
    "message d’origine",
    "messaggio originale",
    "oorspronkelijk bericht",
    "mensagem original",
    "исходное сообщение",
    "wiadomość oryginalna",
    "originalmeddelande",
    "opprinnelig melding",
    "oprindelig meddelelse",
    "oprindelig besked",
    "alkuperäinen viesti",
    "původní zpráva",
    "eredeti üzenet",
    "mesajul original",
    "orijinal mesaj",
    "tin nhắn gốc",
    "pesan asli",
    "原始邮件",
    "原始郵件",
    "元のメッセージ",
    "원본 메시지",
];

/// A title line's words, without the rules, marks and colon around them (lowercased), where the
/// line is short enough to be one.
fn title(t: &str) -> Option<String> {
    if t.len() > 200 {
        return None;
    }
    let core = t.trim_matches(|c: char| {
        matches!(c, '-' | '_' | '=' | '*' | '~' | ' ' | '<' | '>' | ':') || c.is_whitespace()
    });
    (!core.is_empty() && core.len() <= 120).then(|| core.to_lowercase())
}

/// Whether a line titles a forwarded message or the message a reply answers (see
/// [`FORWARDED`], [`ORIGINAL`]).
pub(super) fn is_forward_marker(t: &str) -> bool {
    // Looked up once, not compared with each marker.
    static SET: std::sync::LazyLock<foldhash::HashSet<&str>> =
        std::sync::LazyLock::new(|| FORWARDED.iter().chain(ORIGINAL).copied().collect());
    title(t).is_some_and(|t| SET.contains(t.as_str()))
}

/// Whether a line titles a forwarded message (not the one a reply answers).
pub(super) fn titles_a_forward(t: &str) -> bool {
    title(t).is_some_and(|t| FORWARDED.contains(&t.as_str()))
}
