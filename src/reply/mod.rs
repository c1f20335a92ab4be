//! What the visitor actually wrote: an email reply with the quoted history, "On … wrote:"
//! lines, forwarded blocks, delimiters and signatures taken away.
//!
//! The rules are about the *shape* of a reply, not about any one mail client:
//!
//! 1. Every line gets a kind: empty, text, quote (`>`, `Name>`), delimiter (`--`, `_____`,
//!    `-----`), mobile signature ("Sent from my iPhone" in many languages), or the start of an
//!    embedded email: an attribution ("On `<date>`, `<someone>` wrote:", over up to five lines, in
//!    many languages), a forward marker ("---------- Forwarded message ----------",
//!    "-----Original Message-----"), or a block of headers ("From: … / Sent: … / To: …").
//!    Lines inside a fenced code block are always text.
//! 2. An email that *starts* with an embedded email is a forward or a bottom-post: its header
//!    and the quote under it go, and what follows is the reply.
//! 3. Otherwise the reply ends at the first delimiter, signature or embedded email — except an
//!    attribution followed by a quote and then more text: that is an inline reply, so only the
//!    attribution goes and the quote stays for context. Where that text is only a sign-off
//!    ("Regards, Ana"), the quote is history and goes; the sign-off stays.
//! 4. A quote left at the very end, after text, is the history: it goes.
//!
//! [`trim`] works on plain text; [`html_to_text`] turns an HTML-only reply into text with
//! `<blockquote>` as `>` lines, so the same rules apply. [`reply_text`] is what the pipeline
//! runs: first the copies of our own emails are cut by their words ([`cut_own_copy`], whatever
//! the client's quoting), then [`trim`]; and where the rules would leave nothing of a body
//! that has words of the visitor's or forwards a message, the body is kept whole and marked
//! untrimmed.
//! [`reply_to_ours`] does that around our "reply above this line" marker.
//!
//! The files: this one (the kinds of line and the rules over them), `lines` (a line's kind),
//! `attribution` ("On … wrote:" in its many forms), `headers` (forwarded header blocks),
//! `signature` (mobile sign-offs), `html` (an HTML reply as text), `own` (our own email
//! quoted back), `armor` (an inline OpenPGP signature's armor around the words), `rtf` (the
//! words of Outlook's compressed RTF body, for a `winmail.dat` with no other), `marker` (our
//! "reply above this line" marker, and the visitor's words above, between and below our email).

mod armor;
mod attribution;
mod headers;
mod html;
mod lines;
mod marker;
mod own;
mod rtf;
mod signature;
#[cfg(test)]
mod tests;

pub use armor::without_armor;
use attribution::is_attribution_block;
use headers::header_key;
pub use html::{content_id, html_to_text, quoted_content_ids};
use lines::{classify, is_quote};
pub use marker::reply_to_ours;
pub use own::{cut_own_copy, Sent};
pub use rtf::rtf_to_text;

/// What a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Empty,
    Text,
    Quote,
    Delimiter,
    Signature,
    /// The first line of an embedded email, spanning this many lines.
    Header(usize, HeaderKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HeaderKind {
    /// "On … wrote:"
    Attribution,
    /// A forward marker or a block of "From:/To:/Subject:" headers; the block ends at the
    /// first empty line.
    Forward,
}

/// What is kept of a reply, and how it was found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// `false` when the rules would have left nothing of a body with words of the visitor's
    /// in it, and the body was kept as it came (better a reply with its quote than none).
    pub trimmed: bool,
    /// A copy of an email we sent was found in it and cut.
    pub own_copy: bool,
}

/// The visitor's words in `body`: the copies of `sent` it quotes cut, then [`trim`]. Where
/// that leaves nothing though the body has text above any signature delimiter, or forwards a
/// message, the body is kept (without the copies) and `trimmed` is `false`.
pub fn reply_text(body: &str, sent: &[Sent]) -> Reply {
    let own = cut_own_copy(body, sent);
    let own_copy = own.is_some();
    let body = own.as_deref().unwrap_or(body);
    let text = trim(body);
    if !text.is_empty() || !(has_words_of_its_own(body) || forwards_a_message(body)) {
        return Reply {
            text,
            trimmed: true,
            own_copy,
        };
    }
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    Reply {
        text: strip_blank_edges(&lines).join("\n"),
        trimmed: false,
        own_copy,
    }
}

/// Whether a body forwards a message (a forward's title line, quoted or not): sent with no word
/// of the visitor's, the forward is what they sent us, and cutting it would leave nothing.
fn forwards_a_message(body: &str) -> bool {
    body.lines().any(|l| {
        lines::titles_a_forward(l.trim_start_matches(|c: char| c == '>' || c.is_whitespace()))
    })
}

/// Whether a body has a line of plain text above its first signature delimiter (`-- `): the
/// lines below one are a signature by convention, the rest may be the visitor's.
fn has_words_of_its_own(body: &str) -> bool {
    let lines: Vec<&str> = body.lines().collect();
    (classify(&lines).iter())
        .take_while(|k| **k != Kind::Delimiter)
        .any(|k| *k == Kind::Text)
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
    // Sized first: growing the vector was a tenth of trimming's work.
    let mut lines: Vec<&str> =
        Vec::with_capacity(memchr::memchr_iter(b'\n', normalized.as_bytes()).count() + 1);
    lines.extend(normalized.split('\n'));
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
        // An attribution after the visitor's words on the same line opens nothing.
        Kind::Header(n, HeaderKind::Attribution)
            if attribution::words_before(lines, first, n).is_some() =>
        {
            None
        }
        Kind::Header(n, kind) => Some((n, kind)),
        Kind::Quote if is_attribution_block(&unquote_block(lines, first).join(" ")) => {
            Some((1, HeaderKind::Attribution))
        }
        _ => None,
    };
    if let Some((n, kind)) = opening {
        let mut i = first + n;
        if kind == HeaderKind::Forward {
            i = end_of_header_block(lines, i);
        }
        let quote = quote_from(lines, &kinds, i);
        // Answers written between the parts of the quote (an inline reply) keep the quote
        // they answer, as one lower down does: only the attribution goes. One quote with
        // text below it only is a reply written under the history, which goes.
        if kind == HeaderKind::Attribution
            && quote.marked
            && answers_between_quotes(&kinds, quote.end)
        {
            return trim_lines(&lines[quote.start..]);
        }
        return trim_lines(&lines[quote.end.min(lines.len())..]);
    }

    // Rule 3: cut at the first delimiter, signature or embedded email.
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match kinds[i] {
            Kind::Delimiter | Kind::Signature => break,
            Kind::Header(n, HeaderKind::Attribution) => {
                // The visitor's words before it on the same line are theirs.
                if let Some(end) = attribution::words_before(lines, i, n) {
                    out.push(&lines[i][..end]);
                }
                let quote = quote_from(lines, &kinds, i + n);
                let next = skip_empty(&kinds, quote.end);
                let answered = quote.marked
                    && next < lines.len()
                    && kinds[next] == Kind::Text
                    && !leads_to_history(&kinds, next);
                if answered && !only_a_signoff(lines, &kinds, next) {
                    // An inline reply: drop the attribution, keep the quote it answers.
                    i += n;
                    continue;
                }
                if answered {
                    // The visitor's sign-off under the history is theirs: the history goes.
                    let end = (next..lines.len())
                        .find(|&j| matches!(kinds[j], Kind::Delimiter | Kind::Signature))
                        .unwrap_or(lines.len());
                    out.extend_from_slice(&lines[next..end]);
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

/// The quote under an attribution or a header block, the lines from `start` to `end`.
struct QuoteBelow {
    /// Its first line, past the empty ones above it.
    start: usize,
    /// Just past its last quoted line (`start` where there is none).
    end: usize,
    /// Whether it is quoted with `>`: a Supercite `Name>` block after an attribution is the
    /// quoted email itself far more often than a conversation, and never one answered inline.
    marked: bool,
}

/// The quote that starts at line `i` or after the empty lines there.
fn quote_from(lines: &[&str], kinds: &[Kind], i: usize) -> QuoteBelow {
    let start = skip_empty(kinds, i);
    let end = skip_quote(kinds, start);
    let marked = end > start && lines[start].trim_start().starts_with('>');
    QuoteBelow { start, end, marked }
}

/// Whether, from `i` (just past a quote) on, text and quotes take turns: text, then a quote,
/// then text again, before anything that ends the reply (a delimiter, a signature, another
/// embedded email).
fn answers_between_quotes(kinds: &[Kind], i: usize) -> bool {
    let mut turns = Vec::new();
    for kind in &kinds[i..] {
        match kind {
            Kind::Empty => {}
            Kind::Text | Kind::Quote if turns.last() != Some(kind) => turns.push(*kind),
            Kind::Text | Kind::Quote => {}
            _ => break,
        }
    }
    turns.starts_with(&[Kind::Text, Kind::Quote, Kind::Text])
}

/// Whether what follows a quote from `i` on is nothing but a sign-off ("Thanks,\nAna") to the
/// end of the message: that makes the quote history left above the visitor's signature, not a
/// question answered.
fn only_a_signoff(lines: &[&str], kinds: &[Kind], i: usize) -> bool {
    let rest: Vec<&str> = (i..lines.len())
        .take_while(|&j| !matches!(kinds[j], Kind::Delimiter | Kind::Signature))
        .filter(|&j| kinds[j] != Kind::Empty)
        .map(|j| lines[j])
        .collect();
    (i..lines.len()).all(|j| kinds[j] != Kind::Quote) && signature::is_signoff_block(&rest)
}

/// Whether the text from `i` on runs into another attribution or forwarded header before any
/// quoted line: deeper history pasted below the quote (a chain of forwards), not answers
/// between its parts, which an inline reply's are.
fn leads_to_history(kinds: &[Kind], i: usize) -> bool {
    kinds[i..]
        .iter()
        .find(|k| matches!(k, Kind::Quote | Kind::Header(..)))
        .is_some_and(|k| matches!(k, Kind::Header(..)))
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

pub(super) fn unquote(line: &str) -> &str {
    let t = line.trim_start();
    let t = t.strip_prefix('>').unwrap_or(t);
    t.trim_start()
}
