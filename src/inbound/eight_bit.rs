//! Text parts whose bytes are not the charset they were read as. Old clients send 8-bit
//! Latin-1, Windows-1251 or Big5 with no charset, or label it `us-ascii`; `mail-parser` then
//! reads the bytes as UTF-8 and puts U+FFFD in place of every letter beyond ASCII, or as
//! Latin-1, which loses the visitor's words. Others send UTF-8 under a legacy label
//! (`iso-8859-1`, `GB2312`, `us-ascii`), which turns "café" into "cafÃ©". Here the part's own
//! bytes are read again, by what they are.

use encoding_rs::Encoding as Charset;
use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders};

/// What a part's label says of its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    /// No charset, UTF-8, or one no decoder knows.
    Utf8OrNone,
    /// US-ASCII: any byte beyond it shows the label wrong (`mail-parser` reads those bytes
    /// as Latin-1, which turns UTF-8's "café" into "cafÃ©").
    Ascii,
    /// A legacy charset of one byte a character (ISO-8859-x, Windows-125x, KOI8): it reads
    /// any bytes without error, so only the bytes can show it is wrong.
    SingleByte,
    /// A legacy charset of several bytes a character (GB2312, Shift_JIS, EUC-KR).
    MultiByte,
}

fn label(part: &MessagePart<'_>) -> Label {
    let charset = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.trim().to_ascii_lowercase());
    let Some(c) = charset else {
        return Label::Utf8OrNone;
    };
    let known = mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()).is_some();
    if ["us-ascii", "ascii", "us", "iso646-us", "ansi_x3.4-1968"].contains(&c.as_str()) {
        return Label::Ascii;
    }
    if ["utf-8", "utf8", "unknown-8bit"].contains(&c.as_str()) || !known {
        return Label::Utf8OrNone;
    }
    match Charset::for_label(c.as_bytes()).is_some_and(Charset::is_single_byte) {
        true => Label::SingleByte,
        false => Label::MultiByte,
    }
}

/// The part's text read again from its bytes, where `read` (the text as the label decoded it)
/// shows the label wrong:
/// - under no charset, or UTF-8, text read with U+FFFD: the bytes that are no UTF-8 are read in
///   the charset they are in ([`unlabelled`]);
/// - under US-ASCII, any text beyond ASCII: the bytes are read as UTF-8 where they are valid
///   UTF-8, and in the charset they are in where not;
/// - under a legacy charset, bytes that are valid UTF-8 with characters beyond ASCII are read as
///   UTF-8. Text in a legacy charset is almost never valid UTF-8: a lowercase accent or a
///   second letter of a double-byte charset breaks it. A double-byte label must also have
///   failed to read them, as a word of one or two characters could be both.
///
/// `None` where the text as read stands.
pub(super) fn reread(message: &Message<'_>, part: &MessagePart<'_>, read: &str) -> Option<String> {
    // ASCII is what every label reads alike: most replies stop here.
    if read.is_ascii() {
        return None;
    }
    let label = label(part);
    // A decoder that could not read the bytes leaves U+FFFD, or, for the user-defined codes
    // of GBK and Big5, characters of the private use area, which no one's words hold.
    let failed = || {
        read.chars()
            .any(|c| c == '\u{fffd}' || ('\u{e000}'..='\u{f8ff}').contains(&c))
    };
    let label_wrong = matches!(label, Label::SingleByte | Label::Ascii);
    if !label_wrong && !failed() {
        return None;
    }
    let bytes = body_bytes(message, part, part.encoding)?;
    match (std::str::from_utf8(&bytes), label) {
        // Valid UTF-8 was read right, U+FFFD and all, under a label that says UTF-8.
        (Ok(_), Label::Utf8OrNone) => None,
        // No byte beyond ASCII fits US-ASCII: valid UTF-8 is the better reading, whatever it holds.
        (Ok(utf8), Label::Ascii) => Some(utf8.into()),
        (Ok(utf8), _) => (!utf8.is_ascii() && !utf8.contains('\u{fffd}')).then(|| utf8.into()),
        (Err(_), Label::Utf8OrNone) => Some(match meta_charset(part, &bytes) {
            Some(charset) => charset.decode_without_bom_handling(&bytes).0.into_owned(),
            None => unlabelled(&bytes),
        }),
        (Err(_), Label::Ascii) => Some(unlabelled(&bytes)),
        (Err(_), _) => None,
    }
}

/// A part's body bytes as sent, with the transfer `encoding` undone (`None` where it cannot be:
/// base64 cut mid-group), before any charset reads them.
pub(super) fn body_bytes(
    message: &Message<'_>,
    part: &MessagePart<'_>,
    encoding: Encoding,
) -> Option<Vec<u8>> {
    let raw = message
        .raw_message
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)?;
    match encoding {
        Encoding::None => Some(raw.to_vec()),
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::Base64 => base64_decode(raw),
    }
}

/// The charset an HTML part with no label of its own names in its `<meta charset>` or
/// `<meta http-equiv="Content-Type" content="…; charset=…">`, as a browser reads it: within
/// its first 1,024 bytes (the HTML standard's prescan).
fn meta_charset(part: &MessagePart<'_>, bytes: &[u8]) -> Option<&'static Charset> {
    if !matches!(part.body, mail_parser::PartType::Html(_)) {
        return None;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let name: String = (head[at..].trim_start_matches(['"', '\'', ' ']).chars())
        .take_while(|c| c.is_ascii_alphanumeric() || "-_:.".contains(*c))
        .collect();
    Charset::for_label(name.as_bytes()).filter(|c| *c != encoding_rs::UTF_8)
}

/// Bytes beyond ASCII from which the detector's guess is taken over Windows-1252. Measured on
/// sentences cut after each such byte (a scratch run of `chardetng` 1.0): Western European
/// text was guessed right from 1–2 bytes but for blips (Portuguese "não sei. Você" as
/// Windows-1250 at 4; "naïve" alone as ISO-8859-4), Russian from 5, Chinese, Japanese and
/// Korean from 6–8; whole sentences in all 13 charsets tried were right.
const DETECT_FROM: usize = 8;

/// Bytes that are no UTF-8, under no label or a wrong one, read by the charset they are in: with
/// enough bytes beyond ASCII to tell ([`DETECT_FROM`]), the one `chardetng` (Firefox's detector)
/// guesses, else Windows-1252, mail's most common legacy charset. A double-byte one (Big5, GBK,
/// Shift_JIS, EUC-KR) reads them whole; a one-byte one reads the runs that are no UTF-8, so that
/// a reply in Latin-1 and one in UTF-8 with a pasted Latin-1 word both read whole.
fn unlabelled(bytes: &[u8]) -> String {
    use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
    let beyond_ascii = bytes.iter().filter(|b| !b.is_ascii()).count();
    let charset = if beyond_ascii >= DETECT_FROM {
        // Mail runs no scripts: ISO-2022-JP may be guessed, as the crate advises for email.
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
        detector.feed(bytes, true);
        detector.guess(None, Utf8Detection::Deny)
    } else {
        encoding_rs::WINDOWS_1252
    };
    match charset.is_single_byte() {
        true => utf8_else(charset, bytes),
        false => charset.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// The bytes as UTF-8 where they are valid UTF-8, and each byte of a run that is not as
/// `charset` (one byte a character): valid UTF-8 never changes.
fn utf8_else(charset: &'static Charset, bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        let invalid = chunk.invalid();
        if !invalid.is_empty() {
            let (decoded, _) = charset.decode_without_bom_handling(invalid);
            text.push_str(&decoded);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn bytes_that_are_no_utf8_read_as_windows_1252() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain ascii", "plain ascii"),
            ("déjà vu ✓".as_bytes(), "déjà vu ✓"),
            // Latin-1 / Windows-1252: é, à, and the curly quotes only Windows-1252 has.
            (b"d\xe9j\xe0 vu", "déjà vu"),
            (b"\x93quoted\x94 \x80 5", "\u{201c}quoted\u{201d} € 5"),
            // UTF-8 with one Latin-1 word pasted in: both read.
            (b"caf\xc3\xa9 and na\xefve", "café and naïve"),
            // A UTF-8 sequence cut short is one byte at a time.
            (b"end \xe2\x82", "end â\u{201a}"),
        ];
        for (bytes, want) in cases {
            assert_eq!(unlabelled(bytes), *want, "{bytes:?}");
        }
    }

    /// HTML with no charset in its part's header, naming one in its `<meta>`.
    fn html_cases() -> &'static [(&'static str, &'static [u8], &'static str)] {
        &[
            (
                "Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"<html><head><meta charset=\"shift_jis\"></head><body>\x82\xa0\x82\xe8\x82\xaa\x82\xc6\x82\xa4</body></html>\r\n",
                "<html><head><meta charset=\"shift_jis\"></head><body>ありがとう</body></html>",
            ),
            (
                "Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\"><p>\xf3\xd0\xc1\xd3\xc9\xc2\xcf</p>\r\n",
                "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\"><p>Спасибо</p>",
            ),
            // No meta: Windows-1252, as for text.
            (
                "Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"<p>d\xe9j\xe0 vu</p>\r\n",
                "<p>déjà vu</p>",
            ),
        ]
    }

    /// Text labelled us-ascii, or with no label, whose bytes are another charset.
    fn us_ascii_cases() -> &'static [(&'static str, &'static [u8], &'static str)] {
        &[
            // UTF-8 labelled us-ascii, 8-bit or quoted-printable: UTF-8, not "cafÃ©".
            (
                "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"Merci, le caf\xc3\xa9 est arriv\xc3\xa9.\r\n",
                "Merci, le café est arrivé.",
            ),
            (
                "Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n",
                b"Gr=C3=BC=C3=9Fe =E2=80=93 J=C3=BCrgen\r\n",
                "Grüße – Jürgen",
            ),
            // Windows-1251, Shift_JIS and Big5 with no label, or labelled us-ascii: read by the
            // charset their bytes are in.
            (
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\xd1\xef\xe0\xf1\xe8\xe1\xee, \xe2\xf1\xb8 \xef\xee\xeb\xf3\xf7\xe8\xeb.\r\n",
                "Спасибо, всё получил.",
            ),
            (
                "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\x82\xa0\x82\xe8\x82\xaa\x82\xc6\x82\xa4\x82\xb2\x82\xb4\x82\xa2\x82\xdc\x82\xb7\r\n",
                "ありがとうございます",
            ),
            // Windows-1252 labelled us-ascii, with the curly quotes Latin-1 lacks.
            (
                "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\x93Tr\xe8s bien\x94\r\n",
                "\u{201c}Très bien\u{201d}",
            ),
        ]
    }

    fn text_of(raw: &[u8]) -> String {
        let message = MessageParser::default().parse(raw).unwrap();
        // Single parts here: the message's own, as its label decoded it.
        let part = message.root_part();
        let (mail_parser::PartType::Text(read) | mail_parser::PartType::Html(read)) = &part.body
        else {
            panic!("no text: {:?}", part.body);
        };
        reread(&message, part, read).unwrap_or(read.to_string())
    }

    #[test]
    fn a_latin_1_reply_with_no_charset_or_ascii_reads_whole() {
        let head = "From: a@example.org\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\n";
        let cases: &[(&str, &[u8], &str)] = &[
            // No charset, 8-bit.
            (
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"Merci, \xe7a marche tr\xe8s bien.\r\n",
                "Merci, ça marche très bien.",
            ),
            // Labelled us-ascii, quoted-printable.
            (
                "Content-Type: text/plain; charset=us-ascii\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n",
                b"Gr=FC=DFe aus M=FCnchen\r\n",
                "Grüße aus München",
            ),
            // No charset, base64 of Latin-1.
            (
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n",
                b"U2Xxb3IgUGXxYQ==\r\n",
                "Señor Peña",
            ),
            // A charset of its own decodes it: nothing is read again.
            (
                "Content-Type: text/plain; charset=iso-8859-1\r\n\
                 Content-Transfer-Encoding: 8bit\r\n",
                b"d\xe9j\xe0\r\n",
                "déjà",
            ),
            // Valid UTF-8 under no charset: as read.
            (
                "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n",
                "Grüße \u{fffd} ok\r\n".as_bytes(),
                "Grüße \u{fffd} ok",
            ),
            // UTF-8 labelled GB2312 or Shift_JIS, which cannot read it: UTF-8.
            (
                "Content-Type: text/plain; charset=\"GB2312\"\r\nContent-Transfer-Encoding: 8bit\r\n",
                "你好！我们的价格是17%，电话：123\r\n".as_bytes(),
                "你好！我们的价格是17%，电话：123",
            ),
            (
                "Content-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: base64\r\n",
                b"44GC44KK44GM44Go44GG44CB5piO5pel6Zu76Kmx44GX44G+44GZ44CC\r\n",
                "ありがとう、明日電話します。",
            ),
            // UTF-8 labelled Latin-1 or Windows-1252: UTF-8, not "cafÃ©".
            (
                "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n",
                b"Merci, le caf=C3=A9 est arriv=C3=A9 =E2=80=93 parfait.\r\n",
                "Merci, le café est arrivé – parfait.",
            ),
            (
                "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n",
                "Grüße, Jürgen".as_bytes(),
                "Grüße, Jürgen",
            ),
            // Latin-1 and KOI8-R that are what they say: as read.
            (
                "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\xc0 bient\xf4t, \xc9lodie \xa9\r\n",
                "À bientôt, Élodie ©",
            ),
            (
                "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\xf3\xd0\xc1\xd3\xc9\xc2\xcf\r\n",
                "Спасибо",
            ),
            // GB2312 that is GB2312, with one byte it cannot read: as read.
            (
                "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n",
                b"\xc4\xe3\xba\xc3 \xff\r\n",
                "你好 \u{fffd}",
            ),
        ];
        for (headers, body, want) in cases.iter().chain(html_cases()).chain(us_ascii_cases()) {
            let mut raw = format!("{head}{headers}\r\n").into_bytes();
            raw.extend_from_slice(body);
            assert_eq!(text_of(&raw).trim_end(), *want, "{headers}");
        }
    }
}
