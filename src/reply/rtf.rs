//! The words of an Outlook rich-text body (the compressed RTF inside a `winmail.dat`), for a
//! reply that has no other. Outlook's RTF is one of three kinds, each read for its words only:
//! - plain text wrapped in RTF (`\fromtext`) and Outlook's own rich text: the text, paragraphs
//!   as lines;
//! - HTML wrapped in RTF (`\fromhtml1`, [MS-OXRTFEX]): the HTML is put back together from its
//!   `\*\htmltag` groups and the text between them, leaving out what only the RTF rendering
//!   shows (`\htmlrtf` … `\htmlrtf0`), and read as any HTML reply is (`html_to_text`).
//!
//! Our own reader: no crate reads the HTML back out of RTF, and the RTF crates do not decode
//! `\'xx` bytes in the document's code page. Groups that are not text (font and colour
//! tables, pictures, objects, the `\*` destinations) are skipped whole.

/// The body's words, or `None` when it is no RTF this reader can use.
pub fn rtf_to_text(compressed: &[u8]) -> Option<String> {
    let rtf = decompress(compressed)?;
    let (kind, out) = read(&rtf)?;
    let text = match kind {
        Wrapped::Html => super::html_to_text(&out),
        Wrapped::Text => out,
    };
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// LZFu ([MS-OXRTFCP]) undone, as the RTF's bytes. The crate's own checks come first: it
/// indexes the header and sizes its output by what the header claims.
fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    // The header is four words: sizes, kind, CRC. Without all of it the crate panics.
    let body_len = data.len().checked_sub(16)?;
    let word = |i: usize| Some(u32::from_le_bytes(data.get(i..i + 4)?.try_into().ok()?));
    let (size, raw_size, kind) = (word(0)? as usize, word(4)? as usize, word(8)?);
    // Each LZFu control byte stands for at most eight references of 17 bytes each.
    let plausible = match &kind.to_le_bytes() {
        b"MELA" => raw_size <= body_len,
        b"LZFu" => raw_size <= data.len().saturating_mul(136),
        _ => false,
    };
    if size + 4 != data.len() || !plausible {
        return None;
    }
    let text = compressed_rtf::decompress_rtf(data).ok()?;
    // The crate hands the bytes back one char each (U+0000–U+00FF).
    Some(text.chars().map(|c| c as u32 as u8).collect())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wrapped {
    Html,
    Text,
}

/// What a group inherits and may change.
#[derive(Clone, Copy)]
struct State {
    /// The group is not text: a table, a picture, a destination.
    skip: bool,
    /// Inside `\*\htmltag`: HTML source, kept even where the RTF rendering is left out.
    tag: bool,
    /// Between `\htmlrtf` and `\htmlrtf0`: what only the RTF rendering shows.
    rtf_only: bool,
    /// How many characters stand in for each `\u` (`\uc`), to be skipped after it.
    uc: usize,
}

/// Groups whose content is never the message's text.
const NOT_TEXT: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "object",
    "listtable",
    "listoverridetable",
    "revtbl",
    "rsidtbl",
    "generator",
    "header",
    "footer",
    "headerl",
    "headerr",
    "footerl",
    "footerr",
    "fldinst",
    "themedata",
    "colorschememapping",
    "latentstyles",
    "datastore",
    "xmlnstbl",
    "mmathPr",
    "pgdsctbl",
    "filetbl",
];

/// Where a group opens and closes (named, so that brace counters reading this file stay sane).
const OPEN: u8 = 0x7B;
const CLOSE: u8 = 0x7D;

/// Reads the RTF into its wrapped kind and its text (HTML source for `Wrapped::Html`).
fn read(rtf: &[u8]) -> Option<(Wrapped, String)> {
    if rtf.first() != Some(&OPEN) || !rtf[1..].starts_with(b"\\rtf") {
        return None;
    }
    let mut reader = Reader {
        rtf,
        i: 0,
        kind: Wrapped::Text,
        out: Output::new(),
        stack: Vec::new(),
        state: State {
            skip: false,
            tag: false,
            rtf_only: false,
            uc: 1,
        },
        pending_skip: 0,
    };
    while let Some(&b) = rtf.get(reader.i) {
        reader.i += 1;
        match b {
            OPEN => reader.open_group(),
            CLOSE => reader.state = reader.stack.pop().unwrap_or(reader.state),
            b'\r' | b'\n' => {}
            b'\\' => reader.escape(),
            _ if reader.skipped() => {}
            _ if reader.emits() => reader.out.byte(b),
            _ => {}
        }
    }
    Some((reader.kind, reader.out.finish()))
}

/// An RTF document being read, one token at a time.
struct Reader<'a> {
    /// The decompressed RTF.
    rtf: &'a [u8],
    /// The next byte to read.
    i: usize,
    /// What the RTF wraps, once its header says (`\fromhtml1`); plain text until then.
    kind: Wrapped,
    out: Output,
    /// The enclosing groups' states, restored as each closes.
    stack: Vec<State>,
    state: State,
    /// Characters still to skip after a `\u`: its stand-ins for readers without Unicode.
    pending_skip: usize,
}

impl Reader<'_> {
    fn emits(&self) -> bool {
        !self.state.skip && (self.state.tag || !self.state.rtf_only)
    }

    /// Whether this character is a `\u`'s stand-in, and so skipped.
    fn skipped(&mut self) -> bool {
        let skip = self.pending_skip > 0;
        self.pending_skip = self.pending_skip.saturating_sub(1);
        skip
    }

    /// A group opens: a `\*` destination nobody reads is left out whole, unless it is HTML.
    fn open_group(&mut self) {
        self.stack.push(self.state);
        let rest = &self.rtf[self.i..];
        if let Some(word) = rest.strip_prefix(b"\\*\\") {
            match control_word(word).map(|(w, _, _)| w) {
                Some("htmltag") if self.kind == Wrapped::Html => self.state.tag = true,
                _ => self.state.skip = true,
            }
        }
    }

    /// What follows a backslash: a control word, a byte in hex, or an escaped symbol.
    fn escape(&mut self) {
        let Some(&next) = self.rtf.get(self.i) else {
            return;
        };
        if next.is_ascii_alphabetic() {
            let Some((word, param, used)) = control_word(&self.rtf[self.i..]) else {
                return;
            };
            self.i += used;
            if word == "u" || !self.skipped() {
                self.control(word, param);
            }
            return;
        }
        self.i += 1;
        if next == b'\'' {
            let hex = self.rtf.get(self.i..self.i + 2);
            let byte = hex
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            self.i += 2;
            if !self.skipped() && self.emits() {
                byte.into_iter().for_each(|b| self.out.byte(b));
            }
            return;
        }
        if self.skipped() || !self.emits() {
            return;
        }
        match next {
            b'\\' | OPEN | CLOSE => self.out.byte(next),
            b'~' => self.out.char('\u{a0}'),
            b'_' => self.out.char('\u{2011}'),
            b'\r' | b'\n' => self.out.char('\n'),
            _ => {} // `\-` (an optional hyphen), `\*`, `\:`: nothing to write
        }
    }

    fn control(&mut self, word: &str, param: Option<i32>) {
        match word {
            // Raw bytes follow (a picture's, an object's), as many as it says: never text,
            // and they may hold braces that are no groups.
            "bin" => self.i += param.unwrap_or(0).max(0) as usize,
            "fromhtml" => self.kind = Wrapped::Html,
            "htmlrtf" => self.state.rtf_only = param != Some(0),
            "ansicpg" => self.out.codepage = param.and_then(encoding).unwrap_or(self.out.codepage),
            "uc" => self.state.uc = param.unwrap_or(1).clamp(0, 8) as usize,
            "u" => {
                let code = param.unwrap_or(0);
                let code = if code < 0 { code + 65536 } else { code };
                if self.emits() {
                    let c = char::from_u32(code as u32).unwrap_or('\u{fffd}');
                    self.out.char(c);
                }
                self.pending_skip = self.state.uc;
            }
            w if NOT_TEXT.contains(&w) => self.state.skip = true,
            w => {
                if let Some(s) = symbol(w, self.kind).filter(|_| self.emits()) {
                    self.out.str(s);
                }
            }
        }
    }
}

/// A control word's name, its numeric parameter and how many bytes it took (with the space
/// that may end it).
fn control_word(s: &[u8]) -> Option<(&str, Option<i32>, usize)> {
    let name_len = s.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if name_len == 0 {
        return None;
    }
    let name = std::str::from_utf8(&s[..name_len]).ok()?;
    let mut end = name_len;
    if s.get(end) == Some(&b'-') {
        end += 1;
    }
    let digits = s[end..].iter().take_while(|b| b.is_ascii_digit()).count();
    let param = match digits {
        0 => {
            end = name_len;
            None
        }
        _ => {
            end += digits;
            std::str::from_utf8(&s[name_len..end]).ok()?.parse().ok()
        }
    };
    if s.get(end) == Some(&b' ') {
        end += 1;
    }
    Some((name, param, end))
}

/// The text a control word stands for. In wrapped HTML a paragraph mark is a line break of
/// the HTML source, not of the text; the tags say where lines break.
fn symbol(word: &str, kind: Wrapped) -> Option<&'static str> {
    Some(match word {
        "par" | "line" => "\n",
        "row" | "sect" | "page" if kind == Wrapped::Text => "\n",
        "tab" | "cell" => "\t",
        "emdash" => "—",
        "endash" => "–",
        "bullet" => "•",
        "lquote" => "‘",
        "rquote" => "’",
        "ldblquote" => "“",
        "rdblquote" => "”",
        _ => return None,
    })
}

fn encoding(codepage: i32) -> Option<&'static encoding_rs::Encoding> {
    codepage::to_encoding(u16::try_from(codepage).ok()?)
}

/// The text as it is written: bytes gathered until a character that is not one, then decoded
/// in the document's code page.
struct Output {
    /// What is decoded so far.
    text: String,
    /// Bytes not yet decoded: a multi-byte character comes as several `\'xx`.
    bytes: Vec<u8>,
    /// The document's `\ansicpg`, in which its bytes are written.
    codepage: &'static encoding_rs::Encoding,
}

impl Output {
    fn new() -> Self {
        Output {
            text: String::new(),
            bytes: Vec::new(),
            codepage: encoding_rs::WINDOWS_1252,
        }
    }
    fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }
    fn flush(&mut self) {
        if !self.bytes.is_empty() {
            let (text, _) = self.codepage.decode_without_bom_handling(&self.bytes);
            self.text.push_str(&text);
            self.bytes.clear();
        }
    }
    fn char(&mut self, c: char) {
        self.flush();
        self.text.push(c);
    }
    fn str(&mut self, s: &str) {
        self.flush();
        self.text.push_str(s);
    }
    fn finish(mut self) -> String {
        self.flush();
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::rtf_to_text;

    fn compressed(rtf: &str) -> Vec<u8> {
        compressed_rtf::compress_rtf(rtf).unwrap()
    }

    #[test]
    fn each_kind_of_outlook_rtf_reads_as_its_words() {
        let cases = [
            // Plain text wrapped in RTF; tables of fonts and colours are not text.
            (
                r"{\rtf1\ansi\ansicpg1252\fromtext \deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl\red0\green0\blue0;}\pard\plain\f0 Hi Ana,\par\par caf\'e9 at 10\par}",
                "Hi Ana,\n\ncafé at 10",
            ),
            // Outlook's own rich text, with generator, picture and `\u` with its stand-in.
            (
                r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}{\*\generator Riched20 10.0;}\uc1\pard Ol\u225?, {\b yes}\line {\pict\pngblip 89504e47}\'bfQu\'e9?\par}",
                "Olá, yes\n¿Qué?",
            ),
            // HTML wrapped in RTF: the tags put back, the RTF-only parts left out.
            (
                r"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0 Arial;}}{\*\htmltag19 <html>}{\*\htmltag50 <body>}{\*\htmltag64 <p>}\htmlrtf {\htmlrtf0 Yes \htmlrtf \'95\htmlrtf0 Tuesday \{at 10\}{\*\htmltag72 </p>}\htmlrtf \par }\htmlrtf0 {\*\htmltag64 <p>}Ana{\*\htmltag72 </p>}{\*\htmltag58 </body>}{\*\htmltag27 </html>}}",
                "Yes Tuesday {at 10}\n\nAna",
            ),
            // Binary data inside a picture, braces in it included.
            (
                r"{\rtf1\ansi\fromtext {\pict\wmetafile8\bin6 }{x}{}}See you\par}",
                "See you",
            ),
            // Another code page.
            (
                r"{\rtf1\ansi\ansicpg1251\fromtext \'cf\'f0\'e8\'e2\'e5\'f2\par}",
                "Привет",
            ),
        ];
        for (rtf, want) in cases {
            assert_eq!(
                rtf_to_text(&compressed(rtf)).as_deref(),
                Some(want),
                "{rtf}"
            );
        }
    }

    #[test]
    fn what_is_no_compressed_rtf_is_none_never_a_panic() {
        assert_eq!(rtf_to_text(b""), None);
        assert_eq!(rtf_to_text(b"LZFu"), None);
        // A header cut short after its kind: sizes that agree with the length, no CRC.
        let mut short = 10u32.to_le_bytes().to_vec();
        short.extend_from_slice(&0u32.to_le_bytes());
        short.extend_from_slice(b"MELA\0\0");
        assert_eq!(rtf_to_text(&short), None);
        // No RTF inside, or only formatting.
        assert_eq!(rtf_to_text(&compressed("plain words")), None);
        assert_eq!(
            rtf_to_text(&compressed(r"{\rtf1{\fonttbl{\f0 Arial;}}}")),
            None
        );
        // Uncompressed ("MELA") claiming more bytes than it holds.
        let mut mela = 1000u32.to_le_bytes().to_vec();
        mela.extend_from_slice(&u32::MAX.to_le_bytes());
        mela.extend_from_slice(b"MELA\0\0\0\0{\\rtf1 hi}");
        mela.splice(0..4, ((mela.len() - 4) as u32).to_le_bytes());
        assert_eq!(rtf_to_text(&mela), None);
        let good = compressed(r"{\rtf1\ansi\fromtext Hello there\par}");
        for end in 0..good.len() {
            rtf_to_text(&good[..end]);
        }
        for i in 16..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            rtf_to_text(&bad);
        }
    }
}
