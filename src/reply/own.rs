//! Our own email, quoted back. A reply to one of our emails carries a copy of it in whatever
//! form the visitor's client quotes: `>` marks, `|` bars, indentation, re-wrapped at another
//! width, or no marks at all. Knowing the text we sent, the copy is found by its words, not by
//! its marks, and cut; the generic rules then see only what is left.
//!
//! A line is part of the copy when every word on it belongs to a run of at least [`MIN_RUN`]
//! words that also stand in that order in our email: shorter runs are phrases a visitor may
//! well repeat ("thank you for your help"). The lines just above a copy that name our sender
//! (the address, or the name beside a date) are its attribution and go with it.

use super::lines::classify;
use super::Kind;
use std::collections::HashSet;

/// An email we sent, as the reply may quote it.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// Its text part, as composed.
    pub text: String,
    /// The From address, as the attribution above a copy usually names it.
    pub from_address: String,
    /// The From display name ("Acme Support"), which some clients write instead.
    pub from_name: Option<String>,
    /// Its HTML part, which a client may have quoted instead of the text: read only to confirm
    /// that a line inside a copy is the visitor's, not a word of our HTML's.
    pub html: Option<String>,
}

/// Words in a row, in our order, that prove a copy.
pub const MIN_RUN: usize = 8;

/// Words per shingle: runs are found as overlapping shingles of our text.
const SHINGLE: usize = 4;

/// At most this many lines above a copy are looked at for its attribution.
const ATTRIBUTION_LINES: usize = 4;

/// `body` without the copies of `sent` it quotes, or `None` when it quotes none of them.
pub fn cut_own_copy(body: &str, sent: &[Sent]) -> Option<String> {
    let lines: Vec<&str> = body.lines().collect();
    let cut = copy_lines(&lines, sent)?;
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    // Where lines were cut, the blank lines on either side of them are one gap, not two.
    let mut gap = false;
    for (line, cut) in lines.iter().zip(&cut) {
        if *cut {
            gap = true;
            continue;
        }
        let blank = line.trim().is_empty();
        if !(blank && gap && kept.last().is_some_and(|l| l.trim().is_empty())) {
            kept.push(line);
        }
        gap &= blank;
    }
    Some(kept.join("\n"))
}

/// Which of `lines` are a copy of one of `sent` or its attribution; `None` when none are.
fn copy_lines(lines: &[&str], sent: &[Sent]) -> Option<Vec<bool>> {
    let shingles = shingles(sent);
    if shingles.is_empty() {
        return None;
    }
    let words: Vec<(usize, u64)> = (lines.iter().enumerate())
        .flat_map(|(i, l)| word_hashes(strip_marks(l)).map(move |w| (i, w)))
        .collect();

    let mut covered = vec![false; words.len()];
    for (start, window) in words.windows(SHINGLE).enumerate() {
        if shingles.contains(&key(window.iter().map(|(_, w)| *w))) {
            covered[start..start + SHINGLE].fill(true);
        }
    }
    keep_long_runs(&mut covered);
    if !covered.contains(&true) {
        return None;
    }

    // A line is ours when it has words and all of them are covered.
    let mut ours: Vec<Option<bool>> = vec![None; lines.len()];
    for ((line, _), c) in words.iter().zip(&covered) {
        let slot = &mut ours[*line];
        *slot = Some(slot.unwrap_or(true) && *c);
    }
    let mut cut = vec![false; lines.len()];
    for (i, o) in ours.iter().enumerate() {
        cut[i] = *o == Some(true);
    }
    fill_wordless(lines, &ours, &mut cut);
    for i in 0..lines.len() {
        if cut[i] && (i == 0 || !cut[i - 1]) {
            cut_attribution(lines, &mut cut, i, sent);
        }
    }
    Some(cut)
}

/// What the visitor wrote between the lines of a copy of ours (answers typed into the email
/// they answer, as Outlook's inline comments are): the lines of text inside the copy that are
/// not ours, nor another quote, nor a client's placeholder for a picture or a link. Our HTML
/// part is looked at too before a line is taken for the visitor's: a client that quotes it shows
/// words (a heading, a picture's name) that the text part has not (`rich`: `sent` with the
/// words of their HTML, asked for only when a line may be an answer). `None` where there are
/// none.
pub(super) fn answers_within_copy<'a>(
    lines: &[&str],
    sent: &[Sent],
    rich: impl FnOnce() -> &'a [Sent],
) -> Option<String> {
    let answers = |sent: &[Sent]| -> Vec<bool> {
        let Some(cut) = copy_lines(lines, sent) else {
            return vec![false; lines.len()];
        };
        let (Some(first), Some(last)) = (cut.iter().position(|c| *c), cut.iter().rposition(|c| *c))
        else {
            return vec![false; lines.len()];
        };
        let mut found: Vec<bool> = (0..lines.len())
            .map(|i| first < i && i < last && !cut[i] && says_something(lines[i]))
            .collect();
        // Read for their kind only where there is something: most copies hold no answers.
        if found.contains(&true) {
            for (f, kind) in found.iter_mut().zip(classify(lines)) {
                *f &= kind == Kind::Text;
            }
        }
        found
    };
    let mut found = answers(sent);
    if !found.contains(&true) {
        return None;
    }
    for (f, again) in found.iter_mut().zip(answers(rich())) {
        *f &= again;
    }
    // Each run of answering lines as written; runs a blank line apart.
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !found[i] {
            continue;
        }
        match runs.last_mut() {
            Some(run) if i > 0 && found[i - 1] => run.push(line),
            _ => runs.push(vec![line]),
        }
    }
    (!runs.is_empty()).then(|| {
        (runs.iter().map(|run| run.join("\n")))
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

/// `sent` with the words of each one's HTML part added to its text, for the copies a client
/// made of our HTML (its heading, its labels) to be known too.
pub(super) fn with_html(sent: &[Sent]) -> Vec<Sent> {
    (sent.iter())
        .map(|s| Sent {
            text: match &s.html {
                Some(html) => format!("{}\n\n{}", s.text, super::html_to_text(html)),
                None => s.text.clone(),
            },
            ..s.clone()
        })
        .collect()
}

/// Whether a line has words outside brackets and addresses: `[cid:image001.png@01DC…]`,
/// `[Acme]` (a picture's name) and `<https://…>` are what a client writes for a picture or a
/// link it could not show; "[Ana] Medium." (Outlook's mark on an inline comment) says something.
fn says_something(line: &str) -> bool {
    let mut depth = 0usize;
    let mut outside = String::new();
    for c in line.chars() {
        match c {
            '[' | '<' => depth += 1,
            ']' | '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    (outside.split_whitespace())
        .filter(|w| !w.contains("://"))
        .any(|w| w.chars().any(char::is_alphabetic))
}

/// Keeps only the covered runs of at least [`MIN_RUN`] words.
fn keep_long_runs(covered: &mut [bool]) {
    let mut i = 0;
    while i < covered.len() {
        if !covered[i] {
            i += 1;
            continue;
        }
        let end = (i..covered.len())
            .find(|&j| !covered[j])
            .unwrap_or(covered.len());
        if end - i < MIN_RUN {
            covered[i..end].fill(false);
        }
        i = end;
    }
}

/// Lines without words inside a copy, or after the last one, go with it. One that is not blank
/// (`>`, `--`, a rule a client drew) goes on either edge of a copy too, between it and an
/// answer above or below it: a quote mark or a rule is no word of the visitor's.
fn fill_wordless(lines: &[&str], ours: &[Option<bool>], cut: &mut [bool]) {
    let mut previous = false;
    for i in 0..ours.len() {
        match ours[i] {
            Some(o) => previous = o,
            None => {
                let next = ours[i + 1..].iter().flatten().next();
                cut[i] = match lines[i].trim().is_empty() {
                    true => previous && next.is_none_or(|o| *o),
                    false => previous || next.is_some_and(|o| *o),
                };
            }
        }
    }
}

/// The lines just above the copy starting at `first` that name our sender: its attribution.
fn cut_attribution(lines: &[&str], cut: &mut [bool], first: usize, sent: &[Sent]) {
    let mut top = first;
    while top > 0 && !cut[top - 1] && strip_marks(lines[top - 1]).is_empty() {
        top -= 1;
    }
    let mut start = top;
    while start > 0
        && top - start < ATTRIBUTION_LINES
        && !cut[start - 1]
        && !strip_marks(lines[start - 1]).is_empty()
    {
        start -= 1;
    }
    // The nearest lines first: the attribution is the block's end, not its whole.
    for from in (start..top).rev() {
        let block = lines[from..top].join(" ").to_lowercase();
        if sent.iter().any(|s| names_sender(&block, s)) {
            cut[from..first].fill(true);
            return;
        }
    }
}

fn names_sender(block: &str, sent: &Sent) -> bool {
    let address = sent.from_address.to_lowercase();
    if !address.is_empty() && block.contains(&address) {
        return true;
    }
    let named = (sent.from_name.as_deref())
        .map(str::to_lowercase)
        .is_some_and(|n| n.trim().len() >= 3 && block.contains(n.trim()));
    named && block.chars().any(|c| c.is_ascii_digit()) && !ends_a_sentence(block)
}

/// A line the visitor wrote ends like one; an attribution ends in `:` or a bracket.
fn ends_a_sentence(block: &str) -> bool {
    block.trim_end().ends_with(['.', '!', '?'])
}

/// A line without its quote marks: any run of `>`, `|` and spaces at its start.
fn strip_marks(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace())
        .trim_end()
}

/// A line's words, each as a hash of its letters and digits lowercased. Punctuation and
/// markup between them do not count, so a copy re-wrapped or rendered from our HTML still
/// matches. Hashed as they are read, with no string made: this runs over every reply.
fn word_hashes(line: &str) -> impl Iterator<Item = u64> + '_ {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            // FNV-1a over the lowercased characters; bytes for an ASCII word (most are): bench
            // row 5c went from 22,600 to 47,000 msg/s with it.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let mut add = |v: u32| h = (h ^ u64::from(v)).wrapping_mul(0x0100_0000_01b3);
            if w.is_ascii() {
                w.bytes()
                    .for_each(|b| add(u32::from(b.to_ascii_lowercase())));
            } else {
                w.chars()
                    .flat_map(char::to_lowercase)
                    .for_each(|c| add(u32::from(c)));
            }
            h
        })
}

/// The shingles of every email sent: [`SHINGLE`] words in a row, as one key.
fn shingles(sent: &[Sent]) -> HashSet<u64, BuildNoHash> {
    let mut set = HashSet::with_hasher(BuildNoHash);
    for s in sent {
        let words: Vec<u64> = s.text.lines().flat_map(word_hashes).collect();
        for w in words.windows(SHINGLE) {
            set.insert(key(w.iter().copied()));
        }
    }
    set
}

/// Word hashes in order, as one key.
fn key(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0u64, |k, w| {
        k.rotate_left(17) ^ w.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    })
}

/// The keys are hashes already: hashing them again (SipHash) would only cost time.
#[derive(Clone, Copy, Default)]
struct BuildNoHash;

impl std::hash::BuildHasher for BuildNoHash {
    type Hasher = NoHash;
    fn build_hasher(&self) -> NoHash {
        NoHash(0)
    }
}

struct NoHash(u64);

impl std::hash::Hasher for NoHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "Hello Ana,\n\nMaria from Acme replied to your chat:\n\nMaria · 10:02\nYes, we ship to Portugal. Delivery takes three to five working days.\n\nReply to this email to answer; it goes straight into the chat.\n\n--\nYou get this because you chatted with Acme.\nUnsubscribe: https://acme.example/u/abc";

    fn sent() -> Vec<Sent> {
        vec![Sent {
            text: OURS.into(),
            from_address: "support@acme.example".into(),
            from_name: Some("Acme Support".into()),
            html: None,
        }]
    }

    fn quoted(prefix: &str) -> String {
        OURS.lines()
            .map(|l| format!("{prefix}{l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn copies_in_any_quoting_are_cut() {
        let cases = [
            // Bars and an attribution no rule knows.
            format!(
                "Great, thanks!\n\n=== Acme Support (support@acme.example) schrieb am 1.12. ===\n{}",
                quoted("| ")
            ),
            // No marks at all, the name and a time as the attribution.
            format!(
                "Great, thanks!\n\nAcme Support, 1 Dec 10:05\n\n{}",
                quoted("")
            ),
            // Indented and re-wrapped at another width.
            format!(
                "Great, thanks!\n\n    {}",
                textwrap_words(OURS, 30).join("\n    ")
            ),
        ];
        for body in cases {
            let got = cut_own_copy(&body, &sent()).expect("a copy");
            assert_eq!(got.trim(), "Great, thanks!", "{body}");
        }
    }

    #[test]
    fn the_visitors_words_stay() {
        let cases = [
            // A reply that repeats a short phrase of ours.
            ("Yes, we ship to Portugal? Great.", None),
            // Interleaved answers between parts of the copy.
            (
                "> Maria · 10:02\n> Yes, we ship to Portugal. Delivery takes three to five working days.\n\nCan it be faster?\n\n> Reply to this email to answer; it goes straight into the chat.",
                Some("\nCan it be faster?\n"),
            ),
            // A sentence above the copy that names us is no attribution.
            (
                "I wrote to Acme Support on 1 Dec.\n\n> Maria · 10:02\n> Yes, we ship to Portugal. Delivery takes three to five working days.",
                Some("I wrote to Acme Support on 1 Dec.\n"),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(cut_own_copy(body, &sent()).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn nothing_sent_cuts_nothing() {
        assert_eq!(cut_own_copy("Hi\n> old", &[]), None);
    }

    fn textwrap_words(text: &str, width: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        for w in text.split_whitespace() {
            let line = out.last_mut().unwrap();
            if !line.is_empty() && line.len() + w.len() + 1 > width {
                out.push(w.to_string());
            } else {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(w);
            }
        }
        out
    }
}
