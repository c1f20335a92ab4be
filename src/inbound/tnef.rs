//! Outlook's TNEF (`application/ms-tnef`, the `winmail.dat` file; [MS-OXTNEF]). Outlook and
//! Exchange send it when a message is written in rich text, or when the sender's server is set
//! to: the visitor's files, and sometimes their words, are inside it, and what arrives is one
//! file no one can open. Zammad (#2403), Nextcloud Mail (#2687) and tine20 (#5034) were all
//! asked for this.
//!
//! The file is read here for what a chat needs: the files inside (their long names, types and
//! bytes) and the message's own text (its plain body or its HTML one), never its formatting.
//! What cannot be read (an embedded Outlook item, an OLE object, a broken file) leaves the
//! `winmail.dat` attached as it came, so nothing the visitor sent is lost.
//!
//! Our own reader, not the `tnef` crate (0.1.1, 2019): that one rejects a whole file when one
//! attachment lacks a date, and reads neither the long file names nor the body, which live in
//! MAPI property lists. The format is a flat list of attributes, each with a checksum.

use encoding_rs::Encoding;

/// What a `winmail.dat` holds that a chat shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Tnef {
    /// The message's words: its plain text, or failing that its HTML (as HTML).
    pub body: Option<Body>,
    /// The files, in their order.
    pub files: Vec<File>,
    /// Something in it could not be turned into a file (an embedded item, an OLE object):
    /// the `winmail.dat` is then kept beside the files, so that nothing is lost.
    pub unread: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Body {
    Text(String),
    Html(String),
    /// Compressed RTF (`PR_RTF_COMPRESSED`), what Outlook writes most often.
    Rtf(Vec<u8>),
}

/// A file from inside a `winmail.dat`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct File {
    /// The long name where Outlook gave one (it also writes an 8.3 one for old readers).
    pub name: Option<String>,
    /// The MIME type Outlook recorded, where it did.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// The file's signature, its first four bytes (little-endian `0x223E9F78`).
const SIGNATURE: [u8; 4] = [0x78, 0x9f, 0x3e, 0x22];

/// Attribute ids (the low 16 bits; the high ones give a type this reader does not need).
mod att {
    pub const OEM_CODEPAGE: u16 = 0x9007;
    pub const BODY: u16 = 0x800C;
    pub const MSG_PROPS: u16 = 0x9003;
    pub const ATTACH_REND_DATA: u16 = 0x9002;
    pub const ATTACH_TITLE: u16 = 0x8010;
    pub const ATTACH_DATA: u16 = 0x800F;
    pub const ATTACHMENT: u16 = 0x9005;
}

/// MAPI property ids ([MS-OXPROPS]) this reader uses.
mod prop {
    pub const BODY: u16 = 0x1000;
    pub const BODY_HTML: u16 = 0x1013;
    pub const RTF_COMPRESSED: u16 = 0x1009;
    pub const INTERNET_CPID: u16 = 0x3FDE;
    pub const ATTACH_DATA: u16 = 0x3701;
    pub const ATTACH_FILENAME: u16 = 0x3704;
    pub const ATTACH_METHOD: u16 = 0x3705;
    pub const ATTACH_LONG_FILENAME: u16 = 0x3707;
    pub const ATTACH_MIME_TAG: u16 = 0x370E;
    pub const DISPLAY_NAME: u16 = 0x3001;
}

/// `PR_ATTACH_METHOD`: the bytes are the file (`ATTACH_BY_VALUE`).
const BY_VALUE: u32 = 1;

/// The `winmail.dat` read, or `None` when it is no TNEF or is cut short.
pub(super) fn read(data: &[u8]) -> Option<Tnef> {
    if data.get(..4)? != SIGNATURE {
        return None;
    }
    let mut input = Input(data.get(6..)?);
    let mut codepage = encoding_rs::WINDOWS_1252;
    let mut tnef = Tnef::default();
    let mut html = None;
    let mut rtf = None;
    let mut current: Option<Attachment> = None;
    while !input.0.is_empty() {
        let _level = input.u8()?;
        let id = input.u32()? as u16;
        let len = input.u32()? as usize;
        let value = input.take(len)?;
        // The checksum is not checked: readers of the format ignore a wrong one, and the
        // lengths alone say where each attribute ends.
        input.take(2)?;
        match id {
            att::OEM_CODEPAGE => {
                let cp = u32::from_le_bytes(value.get(..4)?.try_into().ok()?);
                codepage = encoding(cp).unwrap_or(codepage);
            }
            att::BODY if tnef.body.is_none() => {
                tnef.body = Some(Body::Text(string8(value, codepage)));
            }
            att::MSG_PROPS => {
                let props = properties(value)?;
                let cp = (props.iter())
                    .find(|p| p.id == prop::INTERNET_CPID)
                    .and_then(|p| p.long())
                    .and_then(encoding)
                    .unwrap_or(codepage);
                if let Some(text) = (props.iter().find(|p| p.id == prop::BODY))
                    .and_then(|p| p.text(cp))
                    .filter(|t| !t.trim().is_empty())
                {
                    tnef.body = Some(Body::Text(text));
                }
                html = (props.iter().find(|p| p.id == prop::BODY_HTML)).and_then(|p| p.text(cp));
                rtf = (props.iter().find(|p| p.id == prop::RTF_COMPRESSED))
                    .filter(|p| p.kind == PT_BINARY)
                    .and_then(|p| p.values.first().map(|v| v.to_vec()));
            }
            att::ATTACH_REND_DATA => {
                if let Some(done) = current.take() {
                    done.finish(&mut tnef);
                }
                current = Some(Attachment::default());
            }
            att::ATTACH_TITLE => {
                let file = current.get_or_insert_with(Attachment::default);
                file.title = Some(string8(value, codepage)).filter(|t| !t.is_empty());
            }
            att::ATTACH_DATA => {
                current.get_or_insert_with(Attachment::default).data = Some(value.to_vec());
            }
            att::ATTACHMENT => {
                let file = current.get_or_insert_with(Attachment::default);
                file.read_properties(properties(value)?, codepage);
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        done.finish(&mut tnef);
    }
    if tnef.body.is_none() {
        tnef.body = (html.filter(|h| !h.trim().is_empty()).map(Body::Html)).or(rtf.map(Body::Rtf));
    }
    Some(tnef)
}

/// An attachment as its attributes arrive.
#[derive(Default)]
struct Attachment {
    /// `attAttachTitle`, or the MAPI file or display name: often the 8.3 name.
    title: Option<String>,
    /// `PR_ATTACH_LONG_FILENAME`: the name the visitor's file has, preferred where given.
    long_name: Option<String>,
    /// `PR_ATTACH_MIME_TAG`.
    content_type: Option<String>,
    /// `attAttachData`, or `PR_ATTACH_DATA_BIN` where only the properties carry the bytes.
    data: Option<Vec<u8>>,
    /// `PR_ATTACH_METHOD`, where given.
    method: Option<u32>,
}

impl Attachment {
    fn read_properties(&mut self, props: Vec<Property<'_>>, codepage: &'static Encoding) {
        for p in props {
            match p.id {
                prop::ATTACH_LONG_FILENAME => self.long_name = p.text(codepage),
                prop::ATTACH_FILENAME | prop::DISPLAY_NAME if self.title.is_none() => {
                    self.title = p.text(codepage)
                }
                prop::ATTACH_MIME_TAG => self.content_type = p.text(codepage),
                prop::ATTACH_METHOD => self.method = p.long(),
                prop::ATTACH_DATA if self.data.is_none() && p.kind == PT_BINARY => {
                    self.data = p.values.first().map(|v| v.to_vec())
                }
                _ => {}
            }
        }
    }

    fn finish(self, tnef: &mut Tnef) {
        match (self.data, self.method.unwrap_or(BY_VALUE)) {
            (Some(data), BY_VALUE) => tnef.files.push(File {
                name: (self.long_name.or(self.title)).filter(|n| !n.trim().is_empty()),
                content_type: self.content_type.filter(|t| t.contains('/')),
                data,
            }),
            _ => tnef.unread = true,
        }
    }
}

const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

/// One MAPI property from a TNEF property list.
struct Property<'a> {
    /// The property id (`PR_…`'s high half).
    id: u16,
    /// Its type (`PT_…`), without the multi-value flag.
    kind: u16,
    /// Its values as they are stored: one, unless it is a multi-value property.
    values: Vec<&'a [u8]>,
}

impl Property<'_> {
    fn long(&self) -> Option<u32> {
        let v = self.values.first()?;
        Some(u32::from_le_bytes(v.get(..4)?.try_into().ok()?))
    }

    /// The value as text: UTF-16 for `PT_UNICODE`, the code page for 8-bit strings and for
    /// HTML kept as bytes.
    fn text(&self, codepage: &'static Encoding) -> Option<String> {
        let v = self.values.first()?;
        match self.kind {
            PT_UNICODE => {
                let units: Vec<u16> = (v.chunks_exact(2))
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                Some(String::from_utf16_lossy(&units))
            }
            PT_STRING8 | PT_BINARY => Some(string8(v, codepage)),
            _ => None,
        }
    }
}

/// A property list ([MS-OXTNEF] 2.1.3.4): a count, then each property's type, id, name (for
/// named properties) and values. `None` when it is cut short.
fn properties(data: &[u8]) -> Option<Vec<Property<'_>>> {
    let mut input = Input(data);
    let count = input.u32()?;
    let mut props = Vec::new();
    for _ in 0..count {
        let kind = input.u16()?;
        let id = input.u16()?;
        if id >= 0x8000 {
            input.take(16)?; // the property set's GUID
            if input.u32()? == 0 {
                input.take(4)?;
            } else {
                let len = input.u32()? as usize;
                input.take(padded(len))?;
            }
        }
        let base = kind & !MV_FLAG;
        let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
        let n = if variable || kind & MV_FLAG != 0 {
            input.u32()?
        } else {
            1
        };
        // Each value takes four bytes at least: a count beyond that is a broken list.
        if n as usize > input.0.len() / 4 {
            return None;
        }
        let mut values = Vec::new();
        for _ in 0..n {
            if variable {
                let len = input.u32()? as usize;
                values.push(input.take(len)?);
                input.take(padded(len) - len)?;
            } else {
                values.push(input.take(fixed_size(base)?)?);
            }
        }
        props.push(Property {
            id,
            kind: base,
            values,
        });
    }
    Some(props)
}

/// A fixed-size property's size in the list; `None` for a type the format does not define,
/// which leaves no way to find the next property.
fn fixed_size(kind: u16) -> Option<usize> {
    match kind {
        // PT_SHORT, PT_LONG, PT_FLOAT, PT_ERROR, PT_BOOLEAN: four bytes (shorts padded).
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
        // PT_DOUBLE, PT_CURRENCY, PT_APPTIME, PT_I8, PT_SYSTIME.
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
        0x0048 => Some(16), // PT_CLSID
        _ => None,
    }
}

fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// A Windows code page as an encoding, where `encoding_rs` has it.
fn encoding(codepage: u32) -> Option<&'static Encoding> {
    codepage::to_encoding(u16::try_from(codepage).ok()?)
}

/// An 8-bit string, without the terminating NUL Outlook writes.
fn string8(bytes: &[u8], codepage: &'static Encoding) -> String {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    codepage
        .decode_without_bom_handling(&bytes[..end])
        .0
        .into_owned()
}

/// The bytes still to read.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `tests/data/tnef/make.py` as Outlook lays the file out; Debian's `tnef`
    /// lists the same files.
    const FILES: &[u8] = include_bytes!("../../tests/data/tnef/outlook-files.tnef");
    const EMBEDDED: &[u8] = include_bytes!("../../tests/data/tnef/outlook-embedded-item.tnef");

    #[test]
    fn the_files_come_out_with_their_long_names_types_and_bytes() {
        let tnef = read(FILES).unwrap();
        let names: Vec<_> = tnef.files.iter().map(|f| f.name.as_deref()).collect();
        assert_eq!(
            names,
            [
                Some("Screenshot 2026-03-02 101500.png"),
                Some("Order 4711 – invoice.pdf")
            ]
        );
        let types: Vec<_> = tnef
            .files
            .iter()
            .map(|f| f.content_type.as_deref())
            .collect();
        assert_eq!(types, [Some("image/png"), Some("application/pdf")]);
        assert!(tnef.files[0].data.starts_with(b"\x89PNG\r\n"));
        assert!(tnef.files[1].data.starts_with(b"%PDF-1.4"));
        assert!(matches!(tnef.body, Some(Body::Rtf(_))));
        assert!(!tnef.unread);
    }

    #[test]
    fn an_attached_outlook_item_is_no_file_and_leaves_the_tnef_unread() {
        let tnef = read(EMBEDDED).unwrap();
        assert!(tnef.files.is_empty());
        assert!(tnef.unread);
    }

    #[test]
    fn a_body_in_plain_text_comes_before_the_rich_text() {
        // attBody, as old Outlooks and other TNEF writers give it.
        let mut data = FILES[..6].to_vec();
        let text = b"Thanks, see you then\0";
        data.push(1);
        data.extend_from_slice(&0x0002_800Cu32.to_le_bytes());
        data.extend_from_slice(&(text.len() as u32).to_le_bytes());
        data.extend_from_slice(text);
        data.extend_from_slice(&[0, 0]);
        let tnef = read(&data).unwrap();
        assert_eq!(tnef.body, Some(Body::Text("Thanks, see you then".into())));
    }

    #[test]
    fn no_tnef_a_cut_file_or_a_lying_count_is_none_never_a_panic() {
        assert_eq!(read(b"PK\x03\x04 a zip file"), None);
        assert_eq!(read(b""), None);
        for end in 0..FILES.len() {
            // Cut at an attribute's end, what came before is read; anywhere else, nothing.
            if let Some(tnef) = read(&FILES[..end]) {
                assert!(tnef.files.len() <= 2);
            }
        }
        // A property list that says it holds four billion properties.
        let mut props = u32::MAX.to_le_bytes().to_vec();
        props.extend_from_slice(&[0x03, 0x00, 0x05, 0x37, 1, 0, 0, 0]);
        assert!(properties(&props).is_none());
        // A value count beyond what is left.
        let mut props = 1u32.to_le_bytes().to_vec();
        props.extend_from_slice(&[0x02, 0x11, 0x01, 0x37]);
        props.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(properties(&props).is_none());
    }
}
