//! The transfer encoding of the email's two bodies: 7bit where the text is ASCII in short lines,
//! quoted-printable where it is mostly ASCII, base64 where quoted-printable would triple it.
//!
//! lettre chooses and encodes the same way, through the `quoted_printable` crate, which pushes
//! one `char` at a time and then makes a second pass for line ends. Counted with callgrind
//! (`valgrind --tool=callgrind` on a scratch driver making the built-in sample email 300 times,
//! 9.8 KB each): choosing, encoding and line ends took 60 % of making an email (154.6 M of
//! 252.5 M instructions). Here they take 46.2 M: a vectorised count and memchr choose, and one
//! pass over bytes writes whole runs of plain characters at once. Base64 stays lettre's.

use lettre::message::header::ContentTransferEncoding;
use lettre::message::Body;

/// The longest encoded line RFC 2045 allows for quoted-printable, and the line length below
/// which lettre (and so this module) keeps ASCII text as 7bit.
const LINE: usize = 76;

/// `text` as a MIME body, its line ends made CRLF, in the encoding that suits it.
pub fn body(text: &str) -> Body {
    let bytes = text.as_bytes();
    let scan = Scan::of(bytes);
    if scan.escapes == 0 && scan.longest < LINE {
        let mut out = Vec::with_capacity(bytes.len() + scan.lines);
        for_each_line(bytes, &mut out, |line, out| out.extend_from_slice(line));
        return Body::dangerous_pre_encoded(out, ContentTransferEncoding::SevenBit);
    }
    // lettre's rule: quoted-printable while at most a third of the bytes need escaping.
    if scan.escapes > bytes.len() / 3 {
        return Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::Base64)
            .expect("base64 carries any text");
    }
    let mut out = Vec::with_capacity(bytes.len() + 2 * scan.escapes + bytes.len() / 24 + 8);
    for_each_line(bytes, &mut out, quoted_printable_line);
    Body::dangerous_pre_encoded(out, ContentTransferEncoding::QuotedPrintable)
}

/// What choosing the encoding needs.
struct Scan {
    /// Bytes that quoted-printable must escape (non-ASCII, controls other than a line end).
    escapes: usize,
    /// The longest line, in bytes, without its line end.
    longest: usize,
    /// How many line ends: the CR each may gain is reserved up front.
    lines: usize,
}

impl Scan {
    fn of(bytes: &[u8]) -> Scan {
        // Bytes outside printable ASCII, in one compare the compiler vectorises; the tabs,
        // line ends and CRs among them are rare, and taken back out with memchr.
        // (Summed in bytes over pieces of 255: a usize per byte would widen every lane.)
        let outside: usize = (bytes.chunks(255))
            .map(|piece| {
                let n: u8 = (piece.iter())
                    .map(|&b| u8::from(b.wrapping_sub(b' ') > b'~' - b' '))
                    .sum();
                usize::from(n)
            })
            .sum();
        let tabs = memchr::memchr_iter(b'\t', bytes).count();
        // A CR is escaped unless a LF follows it; the line end leaves that one out.
        let crlfs = memchr::memmem::find_iter(bytes, b"\r\n").count();
        let (mut longest, mut lines, mut start) = (0, 0, 0);
        for i in memchr::memchr_iter(b'\n', bytes) {
            let end = if i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            longest = longest.max(end - start);
            lines += 1;
            start = i + 1;
        }
        Scan {
            escapes: outside - tabs - lines - crlfs,
            longest: longest.max(bytes.len() - start),
            lines,
        }
    }
}

/// Calls `encode` on each line of `text` (LF or CRLF ends, the end left off), writing CRLF
/// between them, so the output has CRLF ends whatever the input had.
fn for_each_line(text: &[u8], out: &mut Vec<u8>, encode: impl Fn(&[u8], &mut Vec<u8>)) {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text) {
        let line = &text[start..end];
        encode(line.strip_suffix(b"\r").unwrap_or(line), out);
        out.extend_from_slice(b"\r\n");
        start = end + 1;
    }
    // The last line has no end: a CR there is text, escaped.
    encode(&text[start..], out);
}

/// One line of text (no line end) as quoted-printable (RFC 2045, 6.7): printable ASCII but `=`
/// as it is, the rest as `=XX`, a space or tab that ends the line escaped, and soft breaks
/// (`=` CRLF) keeping each encoded line within 76 characters, never inside an escape.
fn quoted_printable_line(line: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut column = 0;
    let mut i = 0;
    while i < line.len() {
        // A run written as it is, as far as the line has room before a soft break's `=`;
        // a blank that ends the line is left to the escape below.
        let room = (LINE - 1).saturating_sub(column);
        let mut run = (line[i..].iter().take(room))
            .take_while(|&&b| plain(b))
            .count();
        if i + run == line.len() && matches!(line.last(), Some(b' ' | b'\t')) {
            run -= 1;
        }
        if run > 0 {
            out.extend_from_slice(&line[i..i + run]);
            column += run;
            i += run;
            continue;
        }
        let b = line[i];
        let last = i + 1 == line.len();
        let literal = plain(b) && !(last && matches!(b, b' ' | b'\t'));
        let width = if literal { 1 } else { 3 };
        // The line's last character may reach column 76; any other leaves room for the `=`.
        if column + width > if last { LINE } else { LINE - 1 } {
            out.extend_from_slice(b"=\r\n");
            column = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        column += width;
        i += 1;
    }
}

/// Whether quoted-printable writes `b` as it is (a blank only where it does not end a line).
fn plain(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'<' | b'>'..=b'~')
}

#[cfg(test)]
mod tests;
