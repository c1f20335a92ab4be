//! Attribution lines ("On `<date>`, `<someone>` wrote:") over up to five lines, in many languages.

use super::lines::is_delimiter;
use super::unquote;

/// Words that start an attribution: "On", "Le", "Am", "Op", "El", "Em", "Il", "Den", …
pub(super) const ON_WORDS: &[&str] = &[
    "on",
    "le",
    "am",
    "op",
    "el",
    "em",
    "il",
    "den",
    "dnia",
    "dne",
    "w dniu",
    "в",
    "во",
    "у",
    "на",
    "el día",
    "el dia",
    "in",
    "på",
    "pe",
    "vào",
    "pada",
    "tanggal",
    "在",
    "于",
    "於",
    // Hebrew's and Persian's "on the date" (Gmail's openings in both).
    "בתאריך",
    "در تاریخ",
];

/// Verbs of "wrote" in the languages we know.
pub(super) const WROTE: &[&str] = &[
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
    "pisze",
    "schreibt",
    "escribe",
    "escreve",
    "scrive",
    "пишет",
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
    "نوشت",
    "لکھا",
    "เขียนว่า",
];

/// Openings of the attributions that name the writer after the verb, with no date: Horde's
/// "Quoting Ana <ana@x.org>:" in English, German, Spanish and Portuguese, French, Italian and
/// Dutch.
const QUOTING: &[&str] = &[
    "quoting ",
    "zitat von ",
    "citando ",
    "citation de ",
    "citazione di ",
    "citaat van ",
];

/// An attribution starting at line `i`, and how many lines it spans.
pub(super) fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    attribution_from(lines, i, DateFirst::Checked)
}

/// Whether a line that opens with a date and holds a time or a year may run on over several
/// lines: Gmail writes "mån 2 mars 2026 kl 10:06 skrev Ana <ana@x.org>:" in many languages,
/// with no opening word, and wraps it where it is long.
#[derive(Clone, Copy, PartialEq)]
enum DateFirst {
    /// It may, unless a later line of its run starts an attribution with a date of its own.
    Checked,
    /// It may (that later line's own reading, one level deep).
    Unchecked,
}

/// [`attribution_at`], with date-first openings run on as `date_first` says.
fn attribution_from(lines: &[&str], i: usize, date_first: DateFirst) -> Option<usize> {
    let first = trim_marks(lines[i]);
    if first.len() > 1200 {
        return None;
    }
    // Every attribution we know has a date or an address in its first line, ends it with the
    // `<` of an address wrapped to the next, or is wrapped in dashes: most lines are ruled out
    // without more work. (Digits of other scripts, Persian's, are looked for only in a line
    // that has characters outside ASCII.)
    let digit_or_at = first.bytes().any(|b| b.is_ascii_digit() || b == b'@')
        || !first.is_ascii() && first.chars().any(char::is_numeric);
    if !digit_or_at && !first.ends_with('<') && !first.starts_with("--") {
        return None;
    }
    // Up to five lines, allowing empty ones in between (some clients wrap the address alone).
    let mut joined = String::new();
    // Whether the run was let on by its opening date alone (see below).
    let mut date_first_run = false;
    for (n, line) in lines[i..].iter().take(6).enumerate() {
        let t = trim_marks(line);
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
        if is_attribution_block(&joined) {
            // A line of the visitor's that happens to open with a date ("Monday 3 at 10:30
            // works.") must not run on into the attribution below it: a run whose later line is
            // an attribution with a date of its own starts there, not here. (The name, address
            // and verb a long one wraps onto its second line are one by themselves too, with no
            // date.) Asked only of a run found, since most never are.
            let later = date_first_run
                && date_first == DateFirst::Checked
                && (i + 1..=i + n).any(|j| {
                    let l = lines[j].trim();
                    (has_time(l) || has_year(l))
                        && attribution_from(lines, j, DateFirst::Unchecked).is_some()
                });
            return (!later).then_some(n + 1);
        }
        // Only an opening that looks like one may run on over several lines.
        if n == 0 && !looks_like_attribution_start(t) {
            if !opens_with_date(t) {
                return None;
            }
            date_first_run = true;
        }
    }
    None
}

/// Whether a line opens as Gmail's date-first attributions do: a day's number, or a date,
/// among its first three words ("mån 2 mars", "po 2. 3. 2026", "Στις Δευ 2", "2026年3月2日"),
/// and a time of day or a year in it.
fn opens_with_date(t: &str) -> bool {
    let day = |w: &str| {
        let w = w.trim_end_matches(['.', ',', '،']);
        let digits = w.chars().take_while(|c| c.is_numeric()).count();
        (1..=2).contains(&digits) && w.chars().count() == digits
            || has_numeric_date(w)
            || w.starts_with(|c: char| c.is_ascii_digit()) && w.chars().any(is_cjk)
            || w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit())
    };
    t.split_whitespace().take(3).any(day) && (has_time(t) || has_year(t))
}

/// A year of this era as a word of its own: `2026`, `2026.`, `2026,`.
pub(super) fn has_year(t: &str) -> bool {
    t.split(|c: char| !c.is_ascii_digit())
        .any(|w| w.len() == 4 && (w.starts_with("19") || w.starts_with("20")))
}

/// The visitor's words before an attribution that a client ran onto the same line ("Thanks!
/// On 5 Jun 2024 at 10:00, Ana wrote:"), when line `i` starts an attribution of `n` lines: the
/// text up to the opening word after which the rest still is one. `None` when the line opens
/// with the attribution itself.
pub(super) fn words_before(lines: &[&str], i: usize, n: usize) -> Option<usize> {
    let line = lines[i];
    let lower = line.to_lowercase();
    // Lowercasing keeps byte offsets for the ASCII opening words looked for here; and a line
    // that opens as an attribution does ("On Mon, 1 Feb 2016 at 4:58 AM, …") is one whole.
    if lower.len() != line.len()
        || starts_with_on_word(lower.trim_start())
        || starts_with_date(line.trim_start())
    {
        return None;
    }
    let rest: Vec<&str> = lines[i + 1..(i + n).min(lines.len())]
        .iter()
        .map(|l| unquote(l.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    let starts = (1..line.len()).filter(|&p| {
        line.is_char_boundary(p)
            && line[..p].ends_with(' ')
            && ON_WORDS.iter().any(|w| {
                w.is_ascii()
                    && lower[p..].starts_with(w)
                    && lower[p + w.len()..].starts_with([' ', ','])
            })
    });
    for p in starts {
        if line[..p].trim().is_empty() {
            return None;
        }
        let mut joined = line[p..].trim().to_string();
        for l in &rest {
            joined.push(' ');
            joined.push_str(l);
        }
        if is_attribution_block(&joined) {
            // The dashes some clients put before the attribution ("reply--- On …") are its.
            let words = line[..p]
                .trim_end()
                .trim_end_matches(['-', '–', '—'])
                .trim_end();
            // A quote marker of a client that quotes with another ("| On … wrote:") is no
            // words: anything but punctuation is (an emoji answers too).
            let said = words
                .chars()
                .any(|c| !c.is_ascii_punctuation() && !c.is_whitespace());
            return said.then_some(words.len());
        }
    }
    None
}

/// Whether lowercased text opens with one of [`ON_WORDS`] ("on 3 mar", "-- on …").
fn starts_with_on_word(lower: &str) -> bool {
    // The first byte first: most lines share it with no opening word, and pay no comparison.
    let first = lower.as_bytes().first();
    ON_WORDS.iter().any(|w| {
        w.as_bytes().first() == first
            && lower.starts_with(w)
            && lower[w.len()..].starts_with(|c: char| c.is_whitespace() || c == ',')
    }) || lower.trim_start_matches(['-', ' ']).starts_with("on ")
}

/// Whether a text's first letter is one some word of [`ON_WORDS`] starts with (any letter
/// outside ASCII may be): the cheap test before its opening is lowercased.
fn first_letter_opens(t: &str) -> bool {
    t.chars().next().is_some_and(|c| {
        !c.is_ascii()
            || ON_WORDS
                .iter()
                .any(|w| w.as_bytes().first() == Some(&(c.to_ascii_lowercase() as u8)))
    })
}

/// The first characters of a line, lowercased: enough for [`ON_WORDS`] and the dashes before
/// them, without lowercasing (and copying) the whole line.
pub(super) fn opening_lowercased(t: &str) -> String {
    let end = t.char_indices().nth(32).map_or(t.len(), |(i, _)| i);
    t[..end].to_lowercase()
}

pub(super) fn looks_like_attribution_start(t: &str) -> bool {
    // Persian and Arabic clients write dates in their own digits.
    let has_digit = t.chars().any(char::is_numeric);
    let starts_with_on = starts_with_on_word(&opening_lowercased(t));
    (starts_with_on && has_digit) || has_email(t) || t.ends_with('<') || starts_with_date(t)
}

/// Whether the text holds something like an address (`ana@example.com`, `<ana@example.com>`),
/// not just an `@mention`.
pub(super) fn has_email(t: &str) -> bool {
    let parts = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | '[' | ']' | '"' | '\'' | ',' | ';'
            )
    };
    // Only the words around an `@` are looked at (splitting every line into words was most
    // of this test's cost).
    t.match_indices('@').any(|(at, _)| {
        let local = t[..at].rsplit(parts).next().unwrap_or_default();
        let domain = t[at + 1..].split(parts).next().unwrap_or_default();
        // The word's first `@` splits it: a later one is part of its domain.
        !local.is_empty()
            && !local.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
    })
}

/// All of [`WROTE`] looked for in one pass over the text, instead of one search per verb (those
/// searches were a fifth of trimming's time).
pub(super) static WROTE_SEARCH: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| aho_corasick::AhoCorasick::new(WROTE).expect("plain strings"));

/// The first verb of [`WROTE`] (in the list's order) that `text` holds as a word of its own,
/// at its first such place.
pub(super) fn find_verb(text: &str) -> Option<(usize, &'static str)> {
    WROTE_SEARCH
        .find_overlapping_iter(text)
        .filter(|m| stands_alone(text, m.start(), m.end()))
        .min_by_key(|m| (m.pattern(), m.start()))
        .map(|m| (m.start(), WROTE[m.pattern().as_usize()]))
}

/// Whether `text[start..end]` stands as a word of its own (scripts written without spaces
/// match anywhere).
pub(super) fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let spaced = text[start..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c.is_alphabetic() && !is_cjk(c));
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    !spaced
        || (!text[..start].chars().next_back().is_some_and(word_char)
            && !text[end..].chars().next().is_some_and(word_char))
}

/// A line without the spaces and the invisible marks of writing direction around it (Gmail
/// opens a Hebrew attribution with one).
fn trim_marks(line: &str) -> &str {
    let t = line.trim();
    // The marks are outside ASCII: a line whose ends are ASCII has none there.
    if t.as_bytes().first().is_none_or(u8::is_ascii) && t.as_bytes().last().is_none_or(u8::is_ascii)
    {
        return t;
    }
    t.trim_matches(|c: char| c.is_whitespace() || is_bidi_mark(c))
}

/// Unicode's invisible marks of writing direction (LRM, RLM, the embeddings and isolates).
fn is_bidi_mark(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub(super) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Whether some text (one or more joined lines) is an attribution.
pub(super) fn is_attribution_block(joined: &str) -> bool {
    // Bidirectional marks (Gmail in Hebrew ends its attribution "…>\u{202c}:\u{202c}") are
    // invisible, and no part of its form.
    let t = joined
        .trim()
        .trim_matches(|c: char| c == '-' || c == '*' || c.is_whitespace() || is_bidi_mark(c));
    let ends_with_colon = t.ends_with(':') || t.ends_with('：');
    let dashed = joined.trim_start().starts_with('-');
    // Every form below ends with a colon, is wrapped in dashes, starts with an ISO date, or
    // opens as one ("On …") and names an address: anything else is ruled out before the
    // (costlier) search for a verb. The last is looked at only for a text whose first letter
    // an opening word has, and only its opening is lowercased.
    let other_form = ends_with_colon || dashed || starts_with_date(t);
    let on_opening = !other_form
        && first_letter_opens(t)
        && t.contains('@')
        && starts_with_on_word(&opening_lowercased(t))
        && has_email(t);
    if !other_form && !on_opening {
        return false;
    }
    let lower = t.to_lowercase();
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    let has_address = has_email(t);
    if let Some((at, verb)) = find_verb(&lower) {
        let after_verb = &lower[at + verb.len()..];
        let verb_at_end = after_verb
            .trim_matches(|c: char| {
                c.is_whitespace() || matches!(c, ':' | '：' | '-' | '(' | ')' | 'a')
            })
            .is_empty()
            || after_verb.trim_start().starts_with("(a)");
        // "On 2 May 2016, Ana wrote:", "Ana <ana@x.org> wrote:", "---- On … wrote ----",
        // "Am 3.2.2016 schrieb Ana <ana@x.org>:", "Ana <ana@x.org> schrieb am Fr., 28. Apr.:"
        // "---- Ana wrote ----": wrapped in dashes on both sides, it needs no date or address.
        let wrapped = joined.trim().starts_with("--") && joined.trim().ends_with("--");
        // "On Wed, 14 Nov 2018 08:14:43 -0200 Ana <ana@x.org> wrote", its colon lost.
        return (ends_with_colon && (has_digit || has_address))
            || (verb_at_end && dashed && (has_digit || has_address || wrapped))
            || (verb_at_end && on_opening && has_digit);
    }
    // Without a verb: a time and an address, as Gmail writes in some locales
    // ("пн, 3 мар. 2025 г. в 10:15, Ana <ana@x.org>:"), or an ISO date
    // ("2016-10-24 15:36 GMT+02:00 Ana <ana@x.org>:", even with no address).
    let bracketed_address = lower.contains('<') && has_address;
    // Or webmail's form with neither date nor verb at the end: Horde's "Quoting Ana
    // <ana@x.org>:", its translations opening with the verb instead.
    let quoting = QUOTING.iter().any(|w| lower.starts_with(w));
    (bracketed_address && ends_with_colon && (quoting || has_time(t) || has_numeric_date(t)))
        || starts_with_date(t)
            && (lower.contains("gmt") || (has_address && (ends_with_colon || t.ends_with('>'))))
}

/// `10:15`, `9:05`
pub(super) fn has_time(t: &str) -> bool {
    let b = t.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// A numeric date anywhere: `30.09.2017`, `9/30/17`, `2017-09-30`.
pub(super) fn has_numeric_date(t: &str) -> bool {
    t.split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '/' | '-')))
        .any(|w| {
            let parts: Vec<&str> = w
                .trim_matches(['.', '/', '-'])
                .split(['.', '/', '-'])
                .collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
                && parts.iter().any(|p| p.len() >= 2)
        })
}

/// `2016-03-03 …`, `2013/7/20 …`
pub(super) fn starts_with_date(t: &str) -> bool {
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
