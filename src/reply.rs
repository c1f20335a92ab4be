//! What the visitor actually wrote: an email reply with the quoted history, "On … wrote:"
//! lines, forwarded blocks, delimiters and signatures taken away.
//!
//! The rules are about the *shape* of a reply, not about any one mail client:
//!
//! 1. Every line gets a kind: empty, text, quote (`>`, `Name>`), delimiter (`--`, `_____`,
//!    `-----`), mobile signature ("Sent from my iPhone" in many languages), or the start of an
//!    embedded email: an attribution ("On <date>, <someone> wrote:", over up to five lines, in
//!    many languages), a forward marker ("---------- Forwarded message ----------",
//!    "-----Original Message-----"), or a block of headers ("From: … / Sent: … / To: …").
//!    Lines inside a fenced code block are always text.
//! 2. An email that *starts* with an embedded email is a forward or a bottom-post: its header
//!    and the quote under it go, and what follows is the reply.
//! 3. Otherwise the reply ends at the first delimiter, signature or embedded email — except an
//!    attribution followed by a quote and then more text: that is an inline reply, so only the
//!    attribution goes and the quote stays for context.
//! 4. A quote left at the very end, after text, is the history: it goes.
//!
//! [`trim`] works on plain text; [`html_to_text`] turns an HTML-only reply into text with
//! `<blockquote>` as `>` lines, so the same rules apply.

/// What a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Empty,
    Text,
    Quote,
    Delimiter,
    Signature,
    /// The first line of an embedded email, spanning this many lines.
    Header(usize, HeaderKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderKind {
    /// "On … wrote:"
    Attribution,
    /// A forward marker or a block of "From:/To:/Subject:" headers; the block ends at the
    /// first empty line.
    Forward,
}

/// The reply without its history. Leading and trailing blank lines are removed; everything in
/// between is kept as written.
pub fn trim(body: &str) -> String {
    // Most bodies have LF line ends already: no copy for those.
    let normalized: std::borrow::Cow<str> = if body.contains('\r') {
        body.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        body.into()
    };
    let lines: Vec<&str> = normalized.split('\n').collect();
    let kept = trim_lines(&lines);
    strip_blank_edges(&kept).join("\n")
}

fn trim_lines<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let kinds = classify(lines);
    let Some(first) = kinds.iter().position(|k| *k != Kind::Empty) else {
        return Vec::new();
    };

    // Rule 2: the email opens with an embedded one.
    let opening = match kinds[first] {
        Kind::Header(n, kind) => Some((n, kind)),
        Kind::Quote if is_attribution_block(&unquote_block(lines, first)) => {
            Some((1, HeaderKind::Attribution))
        }
        _ => None,
    };
    if let Some((n, kind)) = opening {
        let mut i = first + n;
        if kind == HeaderKind::Forward {
            i = end_of_header_block(lines, i);
        }
        i = skip_quote(&kinds, skip_empty(&kinds, i));
        return trim_lines(&lines[i.min(lines.len())..]);
    }

    // Rule 3: cut at the first delimiter, signature or embedded email.
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match kinds[i] {
            Kind::Delimiter | Kind::Signature => break,
            Kind::Header(n, HeaderKind::Attribution) => {
                let start = skip_empty(&kinds, i + n);
                let after_quote = skip_quote(&kinds, start);
                let next = skip_empty(&kinds, after_quote);
                // `>` quotes only: a Supercite `Name>` block after an attribution is the
                // quoted email itself far more often than a conversation.
                let quoted = after_quote > start && lines[start].trim_start().starts_with('>');
                if quoted && next < lines.len() && kinds[next] == Kind::Text {
                    // An inline reply: drop the attribution, keep the quote it answers.
                    i += n;
                    continue;
                }
                break;
            }
            Kind::Header(_, HeaderKind::Forward) => break,
            _ => {
                out.push(lines[i]);
                i += 1;
            }
        }
    }

    // Rule 4: the quote at the end is history, when the visitor wrote something above it.
    let mut end = out.len();
    while end > 0 && (out[end - 1].trim().is_empty() || is_quote(out[end - 1])) {
        end -= 1;
    }
    if end > 0 {
        out.truncate(end);
    }
    out
}

fn strip_blank_edges<'a, 'b>(lines: &'b [&'a str]) -> &'b [&'a str] {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |e| e + 1);
    &lines[start..end]
}

fn skip_empty(kinds: &[Kind], mut i: usize) -> usize {
    while i < kinds.len() && kinds[i] == Kind::Empty {
        i += 1;
    }
    i
}

/// Past a quote block: the position after its last quote line (`i` itself if there is none).
fn skip_quote(kinds: &[Kind], i: usize) -> usize {
    let mut end = i;
    let mut j = i;
    while j < kinds.len() && matches!(kinds[j], Kind::Quote | Kind::Empty) {
        if kinds[j] == Kind::Quote {
            end = j + 1;
        }
        j += 1;
    }
    end
}

/// Past a block of header lines ("From: …", wrapped values) up to the first empty line.
fn end_of_header_block(lines: &[&str], mut i: usize) -> usize {
    // A marker line may be followed directly by the headers, or by one empty line first.
    if i < lines.len()
        && lines[i].trim().is_empty()
        && lines.get(i + 1).is_some_and(|l| header_key(l).is_some())
    {
        i += 1;
    }
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    i
}

/// The text of the quote block starting at `i`, without its `>` marks (the first few lines).
fn unquote_block(lines: &[&str], i: usize) -> Vec<String> {
    lines[i..]
        .iter()
        .take(5)
        .take_while(|l| is_quote(l))
        .map(|l| unquote(l).to_string())
        .collect()
}

fn unquote(line: &str) -> &str {
    let t = line.trim_start();
    let t = t.strip_prefix('>').unwrap_or(t);
    t.trim_start()
}

fn classify(lines: &[&str]) -> Vec<Kind> {
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
    kinds
}

/// `> text`, or the Supercite style `Name> text`.
fn is_quote(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with('>') {
        return true;
    }
    match t.find('>') {
        Some(p) if (1..=10).contains(&p) => {
            t[..p].chars().all(|c| c.is_ascii_alphabetic())
                && t[p + 1..].chars().next().is_none_or(char::is_whitespace)
        }
        _ => false,
    }
}

/// A line of nothing but one repeated separator character (`--`, `_____`, `=====`), or the
/// invisible one-character lines some clients add under the text.
fn is_delimiter(t: &str) -> bool {
    if t == "--" || t == "ᐧ" || t == "—" {
        return true;
    }
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    "-_=~*#+—–".contains(first) && t.chars().count() >= 3 && chars.all(|c| c == first)
}

/// "---------- Forwarded message ----------", "-----Original Message-----", "Begin forwarded
/// message:" and their translations.
fn is_forward_marker(t: &str) -> bool {
    if t.len() > 200 {
        return false;
    }
    const MARKERS: &[&str] = &[
        "forwarded message",
        "original message",
        "begin forwarded message",
        "ursprüngliche nachricht",
        "weitergeleitete nachricht",
        "anfang der weitergeleiteten nachricht",
        "mensaje original",
        "mensaje reenviado",
        "message d'origine",
        "message d’origine",
        "message transféré",
        "début du message réexpédié",
        "début du message transféré",
        "messaggio originale",
        "messaggio inoltrato",
        "inizio messaggio inoltrato",
        "oorspronkelijk bericht",
        "doorgestuurd bericht",
        "begin doorgestuurd bericht",
        "mensagem original",
        "mensagem encaminhada",
        "início da mensagem reencaminhada",
        "исходное сообщение",
        "пересылаемое сообщение",
        "пересланное сообщение",
        "начало переадресованного сообщения",
        "wiadomość oryginalna",
        "przekazana wiadomość",
        "originalmeddelande",
        "vidarebefordrat meddelande",
        "opprinnelig melding",
        "videresendt melding",
        "oprindelig meddelelse",
        "alkuperäinen viesti",
        "původní zpráva",
        "přeposlaná zpráva",
        "eredeti üzenet",
        "mesajul original",
        "orijinal mesaj",
        "iletilen mesaj",
        "tin nhắn gốc",
        "thư chuyển tiếp",
        "pesan asli",
        "pesan yang diteruskan",
        "原始邮件",
        "原始郵件",
        "转发的邮件",
        "轉寄的郵件",
        "元のメッセージ",
        "転送されたメッセージ",
        "원본 메시지",
        "전달된 메시지",
    ];
    let core = t.trim_matches(|c: char| "-_=*~ <>:".contains(c) || c.is_whitespace());
    if core.is_empty() || core.len() > 120 {
        return false;
    }
    let core = core.to_lowercase();
    MARKERS.iter().any(|m| core == *m)
}

/// Words that start an attribution: "On", "Le", "Am", "Op", "El", "Em", "Il", "Den", …
const ON_WORDS: &[&str] = &[
    "on", "le", "am", "op", "el", "em", "il", "den", "dnia", "dne", "w dniu", "в", "во", "у", "на",
    "el día", "el dia", "in", "den", "på", "pe", "vào", "pada", "tanggal", "在", "于", "於",
];

/// Verbs of "wrote" in the languages we know.
const WROTE: &[&str] = &[
    "wrote",
    "writes",
    "a écrit",
    "écrit",
    "schrieb",
    "geschrieben",
    "schreef",
    "geschreven",
    "escribió",
    "escribio",
    "escreveu",
    "ha scritto",
    "scrisse",
    "napisał",
    "napisała",
    "napisal",
    "написал",
    "написала",
    "написав",
    "написала",
    "пише",
    "писал",
    "skrev",
    "skriver",
    "kirjoitti",
    "napsal",
    "napsala",
    "írta",
    "a scris",
    "yazdı",
    "đã viết",
    "viết",
    "menulis",
    "写道",
    "寫道",
    "寫了",
    "のメッセージ",
    "が書きました",
    "작성",
    "έγραψε",
    "כתב",
    "كتب",
];

/// An attribution starting at line `i`, and how many lines it spans.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    if first.len() > 1200 {
        return None;
    }
    // Every attribution we know has a date or an address in its first line, or ends it with
    // the `<` of an address wrapped to the next: most lines are ruled out without more work.
    if !first.bytes().any(|b| b.is_ascii_digit() || b == b'@') && !first.ends_with('<') {
        return None;
    }
    // Up to five lines, allowing empty ones in between (some clients wrap the address alone).
    let mut joined = String::new();
    for (n, line) in lines[i..].iter().take(6).enumerate() {
        let t = line.trim();
        if n > 0 && !t.is_empty() && (is_delimiter(t) || t.chars().count() > 200) {
            return None;
        }
        if !t.is_empty() {
            if !joined.is_empty() {
                joined.push(' ');
            }
            // A wrapped "> wrote:" line is still the attribution, not a quote.
            joined.push_str(if n > 0 { unquote(t) } else { t });
        }
        if is_attribution_block(std::slice::from_ref(&joined)) {
            return Some(n + 1);
        }
        // Only an opening that looks like one may run on over several lines.
        if n == 0 && !looks_like_attribution_start(t) {
            return None;
        }
    }
    None
}

fn looks_like_attribution_start(t: &str) -> bool {
    let lower = t.to_lowercase();
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    let starts_with_on = ON_WORDS.iter().any(|w| {
        lower.starts_with(w)
            && lower[w.len()..].starts_with(|c: char| c.is_whitespace() || c == ',')
    }) || lower.trim_start_matches(['-', ' ']).starts_with("on ");
    (starts_with_on && has_digit) || has_email(t) || t.ends_with('<') || starts_with_date(t)
}

/// Whether the text holds something like an address (`ana@example.com`, `<ana@example.com>`),
/// not just an `@mention`.
fn has_email(t: &str) -> bool {
    if !t.contains('@') {
        return false;
    }
    t.split(|c: char| c.is_whitespace() || "<>()[]\"',;".contains(c))
        .any(|w| {
            w.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            })
        })
}

/// All of [`WROTE`] looked for in one pass over the text, instead of one search per verb (those
/// searches were a fifth of trimming's time).
static WROTE_SEARCH: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| aho_corasick::AhoCorasick::new(WROTE).expect("plain strings"));

/// The first verb of [`WROTE`] (in the list's order) that `text` holds as a word of its own,
/// at its first such place.
fn find_verb(text: &str) -> Option<(usize, &'static str)> {
    WROTE_SEARCH
        .find_overlapping_iter(text)
        .filter(|m| stands_alone(text, m.start(), m.end()))
        .min_by_key(|m| (m.pattern(), m.start()))
        .map(|m| (m.start(), WROTE[m.pattern().as_usize()]))
}

/// Whether `text[start..end]` stands as a word of its own (scripts written without spaces
/// match anywhere).
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let spaced = text[start..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c.is_alphabetic() && !is_cjk(c));
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    !spaced
        || (!text[..start].chars().next_back().is_some_and(word_char)
            && !text[end..].chars().next().is_some_and(word_char))
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Whether some text (one or more joined lines) is an attribution.
fn is_attribution_block(text: &[String]) -> bool {
    let joined = text.join(" ");
    let t = joined
        .trim()
        .trim_matches(|c: char| c == '-' || c == '*' || c.is_whitespace());
    let ends_with_colon = t.ends_with(':') || t.ends_with('：');
    let dashed = joined.trim_start().starts_with('-');
    // Every form below ends with a colon, is wrapped in dashes, or starts with an ISO date:
    // anything else is ruled out before the (costlier) search for a verb.
    if !ends_with_colon && !dashed && !starts_with_date(t) {
        return false;
    }
    let lower = t.to_lowercase();
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    let has_address = has_email(t);
    if let Some((at, verb)) = find_verb(&lower) {
        let after_verb = &lower[at + verb.len()..];
        let verb_at_end = after_verb
            .trim_matches(|c: char| c.is_whitespace() || ":：-()a".contains(c))
            .is_empty()
            || after_verb.trim_start().starts_with("(a)");
        // "On 2 May 2016, Ana wrote:", "Ana <ana@x.org> wrote:", "---- On … wrote ----",
        // "Am 3.2.2016 schrieb Ana <ana@x.org>:", "Ana <ana@x.org> schrieb am Fr., 28. Apr.:"
        return (ends_with_colon && (has_digit || has_address))
            || (verb_at_end && (has_digit || has_address) && dashed);
    }
    // Without a verb: a time and an address, as Gmail writes in some locales
    // ("пн, 3 мар. 2025 г. в 10:15, Ana <ana@x.org>:"), or an ISO date
    // ("2016-10-24 15:36 GMT+02:00 Ana <ana@x.org>:", even with no address).
    let bracketed_address = lower.contains('<') && has_address;
    (has_time(t) && bracketed_address && ends_with_colon)
        || starts_with_date(t)
            && (lower.contains("gmt") || (has_address && (ends_with_colon || t.ends_with('>'))))
}

/// `10:15`, `9:05`
fn has_time(t: &str) -> bool {
    let b = t.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// `2016-03-03 …`, `2013/7/20 …`
fn starts_with_date(t: &str) -> bool {
    if !t.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = t.splitn(4, ['-', '/']);
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    year.len() == 4
        && digits(year)
        && (1..=2).contains(&month.len())
        && digits(month)
        && day.starts_with(|c: char| c.is_ascii_digit())
}

/// The key of a "Key: value" header line, lowercased, without `*` emphasis.
fn header_key(line: &str) -> Option<String> {
    let t = line.trim().trim_start_matches('*');
    // The first character a key cannot hold (nor lose to trimming) must be its colon: found
    // without scanning a line of prose to its end.
    let colon =
        t.find(|c: char| !(c.is_alphabetic() || c == '-' || c == '*' || c.is_whitespace()))?;
    let rest = t[colon..].strip_prefix([':', '：'])?;
    let key = &t[..colon];
    let key = key.trim().trim_end_matches('*').trim();
    let rest = rest.trim_start_matches('*');
    (!key.is_empty()
        && key.chars().count() <= 20
        && key.split_whitespace().count() <= 3
        && key
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == ' ')
        && !rest.trim().is_empty())
    .then(|| key.to_lowercase())
}

/// Header names that open a quoted email: "From" in many languages.
const FROM_KEYS: &[&str] = &[
    "from",
    "von",
    "de",
    "van",
    "da",
    "od",
    "от",
    "från",
    "fra",
    "lähettäjä",
    "feladó",
    "kimden",
    "từ",
    "dari",
    "发件人",
    "寄件者",
    "差出人",
    "보낸 사람",
    "expéditeur",
    "remitente",
    "mittente",
    "afzender",
    "nadawca",
    "отправитель",
    "odesílatel",
    "avsändare",
    "afsender",
    "avsender",
];

/// Other header names of a quoted email.
const OTHER_KEYS: &[&str] = &[
    "sent",
    "date",
    "to",
    "subject",
    "cc",
    "reply-to",
    "gesendet",
    "datum",
    "an",
    "betreff",
    "envoyé",
    "à",
    "objet",
    "enviado",
    "fecha",
    "para",
    "asunto",
    "data",
    "a",
    "oggetto",
    "inviato",
    "risposta",
    "verzonden",
    "aan",
    "onderwerp",
    "wysłano",
    "do",
    "temat",
    "отправлено",
    "дата",
    "кому",
    "тема",
    "skickat",
    "till",
    "ämne",
    "sendt",
    "til",
    "emne",
    "lähetetty",
    "vastaanottaja",
    "aihe",
    "elküldve",
    "címzett",
    "tárgy",
    "gönderildi",
    "kime",
    "konu",
    "đã gửi",
    "đến",
    "chủ đề",
    "dikirim",
    "kepada",
    "perihal",
    "subjek",
    "发送时间",
    "收件人",
    "主题",
    "日期",
    "寄件日期",
    "收件者",
    "主旨",
    "送信日時",
    "宛先",
    "件名",
    "보낸 날짜",
    "받는 사람",
    "제목",
    "odesláno",
    "komu",
    "předmět",
    "enviada",
    "assunto",
];

/// "From: … / Sent: … / To: …": a From-like header followed by other known headers.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let Some(key) = header_key(lines[i]) else {
        return false;
    };
    if !FROM_KEYS.contains(&key.as_str()) {
        return false;
    }
    let mut others = 0;
    for line in lines[i + 1..].iter().take(6) {
        match header_key(line) {
            Some(k) if OTHER_KEYS.contains(&k.as_str()) || FROM_KEYS.contains(&k.as_str()) => {
                others += 1
            }
            Some(_) => {}
            // A wrapped value ("Subject: a long\n  subject") continues the block.
            None if !line.trim().is_empty() => {}
            None => break,
        }
    }
    others >= 2
}

/// "Sent from my iPhone" and the like, in the languages we know.
fn is_signature(t: &str) -> bool {
    let core = t.trim_matches(|c: char| "()<>[]*_".contains(c) || c.is_whitespace());
    if core.len() > 300 {
        return false;
    }
    // A line of more than five words and 40 bytes can only be one that opens with one of
    // STARTS or reads "von … gesendet": only its opening is lowercased (most lines are prose).
    let long = core.len() >= 40 && core.split_whitespace().nth(5).is_some();
    let lower = if long {
        let mut end = core.len().min(96);
        while !core.is_char_boundary(end) {
            end -= 1;
        }
        core[..end].to_lowercase()
    } else {
        core.to_lowercase()
    };
    const STARTS: &[&str] = &[
        "sent from my",
        "sent from ",
        "sent via ",
        "sent with ",
        "sent by ",
        "sent using ",
        "get outlook for",
        "get [outlook for",
        "envoyé de mon",
        "envoyé depuis",
        "envoyé avec",
        "von meinem",
        "gesendet von",
        "gesendet mit",
        "diese nachricht wurde von meinem",
        "verzonden met",
        "verzonden vanaf",
        "verstuurd vanaf",
        "verstuurd met",
        "enviado desde",
        "enviado do meu",
        "enviado de meu",
        "enviado de mi",
        "enviado com",
        "inviato da",
        "inviato dal mio",
        "sendt fra min",
        "sendt fra",
        "skickat från",
        "lähetetty",
        "wysłane z",
        "wysłano z",
        "отправлено с",
        "отправлено из",
        "надіслано з",
        "odesláno z",
        "küldve",
        "iphone'umdan gönderildi",
        "gửi từ",
        "dikirim dari",
        "发自我的",
        "从我的",
        "從我的",
        "iphoneから送信",
        "나의 iphone에서",
    ];
    if STARTS.iter().any(|s| lower.starts_with(s)) {
        return true;
    }
    if long {
        let tail = core.len() - "gesendet".len();
        return core.is_char_boundary(tail)
            && core[tail..].eq_ignore_ascii_case("gesendet")
            && lower.starts_with("von ");
    }
    (lower.contains("sent from") && lower.len() < 40)
        || lower.ends_with("gesendet") && lower.starts_with("von ")
        || (lower.contains("iphone") || lower.contains("android") || lower.contains("mobile"))
            && lower.split_whitespace().count() <= 5
            && (lower.contains("from") || lower.contains("sent") || lower.contains("发送"))
}

/// HTML to readable text: paragraphs and line breaks kept, `<blockquote>` as `>` lines (so the
/// quote rules apply), links as their text, scripts and styles dropped.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain()
        .string_from_read(html.as_bytes(), 100)
        .unwrap_or_default();
    // html2text draws `─` rules for <hr>; a delimiter either way.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::trim;

    #[test]
    fn gmail_english() {
        let body = "Thanks, that works!\n\nOn Mon, 3 Mar 2025 at 10:15, Acme Support <support@acme.example> wrote:\n\n> Try turning it off and on.\n>\n";
        assert_eq!(trim(body), "Thanks, that works!");
    }

    #[test]
    fn gmail_wrapped_attribution_in_spanish() {
        let body = "Perfecto, gracias.\n\nEl lun, 3 mar 2025 a las 10:15, Acme <\nsupport@acme.example> escribió:\n\n> Hola\n";
        assert_eq!(trim(body), "Perfecto, gracias.");
    }

    #[test]
    fn outlook_header_block_in_portuguese() {
        let body = "Pode ser amanhã?\n\n________________________________\nDe: Acme <support@acme.example>\nEnviado: segunda-feira, 3 de março de 2025 10:15\nPara: Ana\nAssunto: Sua conversa\n\nOlá Ana";
        assert_eq!(trim(body), "Pode ser amanhã?");
        let no_rule = "Pode ser amanhã?\n\nDe: Acme <support@acme.example>\nEnviado: segunda-feira\nPara: Ana\nAssunto: Sua conversa\n\nOlá Ana";
        assert_eq!(trim(no_rule), "Pode ser amanhã?");
    }

    #[test]
    fn apple_mail_french_and_signature() {
        let body = "D'accord, merci !\n\nEnvoyé de mon iPhone\n\n> Le 3 mars 2025 à 10:15, Acme <support@acme.example> a écrit :\n>\n> Bonjour\n";
        assert_eq!(trim(body), "D'accord, merci !");
    }

    #[test]
    fn german_and_russian_and_vietnamese() {
        let de = "Passt.\n\nAm Mo., 3. März 2025 um 10:15 Uhr schrieb Acme <support@acme.example>:\n> Hallo";
        assert_eq!(trim(de), "Passt.");
        let ru = "Спасибо!\n\nпн, 3 мар. 2025 г. в 10:15, Acme <support@acme.example>:\n\n> Здравствуйте";
        assert_eq!(trim(ru), "Спасибо!");
        let vi = "Cảm ơn!\n\nVào Th 2, 3 thg 3, 2025 vào lúc 10:15 Acme <support@acme.example> đã viết:\n> Xin chào";
        assert_eq!(trim(vi), "Cảm ơn!");
    }

    #[test]
    fn keeps_what_the_visitor_wrote() {
        let body = "Two things:\n\n- the order number is 42\n- on Monday I wrote to you already\n\n--\nAna";
        assert_eq!(
            trim(body),
            "Two things:\n\n- the order number is 42\n- on Monday I wrote to you already"
        );
        assert_eq!(trim("> just a quote"), "> just a quote");
        assert_eq!(trim("\r\n\r\nhello\r\nworld\r\n"), "hello\nworld");
    }

    #[test]
    fn inline_reply_keeps_the_quote_it_answers() {
        let body = "See below.\nOn 3 Mar 2025, at 10:15, Acme <support@acme.example> wrote:\n> Which size?\n\nMedium, please.\n\n> And the colour?\n";
        assert_eq!(trim(body), "See below.\n> Which size?\n\nMedium, please.");
    }

    #[test]
    fn html_blockquotes_become_quotes() {
        let html = "<div dir=\"ltr\">Works now, thanks!</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, 3 Mar 2025 at 10:15, Acme &lt;support@acme.example&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Try again?</blockquote></div>";
        let text = super::html_to_text(html);
        assert_eq!(trim(&text), "Works now, thanks!", "from {text:?}");
    }
}
