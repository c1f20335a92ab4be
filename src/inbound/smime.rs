//! Replies signed opaquely with S/MIME (RFC 8551 §3.4.2: the whole message is one
//! `application/pkcs7-mime; smime-type=signed-data` part, what Outlook sends when "send clear
//! text signed message" is off). The visitor's MIME body is inside the signature's CMS structure
//! (RFC 5652 §5): read as it comes, the reply is one `smime.p7m` file and no words.
//!
//! The content is read out and put back under the message's own headers, so the reply is read
//! like any other. BER, not DER: OpenSSL streams indefinite lengths and chunked octet strings,
//! so `bcder` reads it. The signature is not checked (the visitor's mail client made it; a reply
//! is trusted by its token and its sender's DMARC, as every other). An encrypted reply
//! (`enveloped-data`) stays as it is: there is no key to open it with.

use bcder::decode::{Constructed, DecodeError, Source};
use bcder::{ConstOid, Mode, OctetString, Oid, Tag};
use mail_parser::{Message, MimeHeaders};

/// `id-signedData` (1.2.840.113549.1.7.2), BER-encoded.
const SIGNED_DATA: ConstOid = Oid(&[42, 134, 72, 134, 247, 13, 1, 7, 2]);

/// The message again with its opaque signature's content in place of the signature, when the
/// whole message is one such signature and its content can be read; otherwise `None`, and the
/// message is read as it is.
pub(super) fn unwrapped(message: &Message<'_>) -> Option<Vec<u8>> {
    let root = message.root_part();
    let kind = root.content_type()?;
    let pkcs7 = kind.ctype().eq_ignore_ascii_case("application")
        && (kind.subtype()).is_some_and(|s| {
            s.eq_ignore_ascii_case("pkcs7-mime") || s.eq_ignore_ascii_case("x-pkcs7-mime")
        });
    // `smime-type` is optional (old signers leave it out); the structure itself says whether
    // it is a signature.
    if !pkcs7
        || kind
            .attribute("smime-type")
            .is_some_and(|t| t != "signed-data")
    {
        return None;
    }
    let content = signed_content(root.contents())?;
    let raw = message.raw_message();
    let mut out = Vec::with_capacity(raw.len() + content.len());
    for header in root.headers() {
        // The part's own description (the signature's type, encoding and file name) gives way
        // to the content's, which opens with its own.
        if header
            .name
            .as_str()
            .to_ascii_lowercase()
            .starts_with("content-")
        {
            continue;
        }
        out.extend_from_slice(&raw[header.offset_field as usize..header.offset_end as usize]);
    }
    out.extend_from_slice(&content);
    Some(out)
}

/// The content a CMS (or PKCS #7) `SignedData` carries, as bytes: `ContentInfo` names it
/// signed data, and its `encapContentInfo` holds the content as an `OCTET STRING` (RFC 5652
/// §3, §5.1, §5.2). `None` for anything else or anything unreadable, and for a detached
/// signature (no content).
pub fn signed_content(ber: &[u8]) -> Option<Vec<u8>> {
    let content = Mode::Ber.decode(ber, |cons| {
        cons.take_sequence(|cons| {
            if Oid::take_from(cons)? != SIGNED_DATA {
                return Err(cons.content_err("not signed data"));
            }
            cons.take_constructed_if(Tag::CTX_0, |cons| cons.take_sequence(signed_data))
        })
    });
    content.ok().flatten()
}

/// `SignedData`'s content: past its version and digest algorithms, the encapsulated content;
/// the certificates and signer infos after it are not needed.
fn signed_data<S: Source>(
    cons: &mut Constructed<S>,
) -> Result<Option<Vec<u8>>, DecodeError<S::Error>> {
    cons.skip_one()?;
    cons.skip_one()?;
    let content = cons.take_sequence(|cons| {
        Oid::skip_in(cons)?;
        cons.take_opt_constructed_if(Tag::CTX_0, OctetString::take_from)
    })?;
    // Not `skip_all`: in bcder 0.7.7 it fails at the end of an indefinite-length value (its
    // `skip_one` insists on a further value where `skip_opt` finds the end).
    while cons.skip_opt(|_, _, _| Ok(()))?.is_some() {}
    Ok(content.map(|octets| octets.into_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed-data `ContentInfo` around `content`, BER-encoded with indefinite lengths and
    /// the content in two chunks, as OpenSSL streams it (`openssl cms -sign -nodetach -stream`).
    fn streamed(content: &[u8]) -> Vec<u8> {
        let (a, b) = content.split_at(content.len() / 2);
        let mut out = vec![0x30, 0x80, 0x06, 9];
        out.extend_from_slice(SIGNED_DATA.0);
        out.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80]);
        out.extend_from_slice(&[0x02, 1, 1]); // version
        out.extend_from_slice(&[0x31, 0]); // digest algorithms
        out.extend_from_slice(&[0x30, 0x80, 0x06, 9]);
        out.extend_from_slice(&[42, 134, 72, 134, 247, 13, 1, 7, 1]); // id-data
        out.extend_from_slice(&[0xa0, 0x80, 0x24, 0x80]);
        for chunk in [a, b] {
            out.extend_from_slice(&[0x04, chunk.len() as u8]);
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // the octet string, [0], the sequence
        out.extend_from_slice(&[0x31, 0]); // signer infos
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // SignedData, [0], ContentInfo
        out
    }

    /// The same, DER-encoded (definite lengths, one octet string).
    fn definite(content: &[u8]) -> Vec<u8> {
        let tlv = |tag: u8, value: &[u8]| {
            let mut out = vec![tag, value.len() as u8];
            out.extend_from_slice(value);
            out
        };
        let data = [42, 134, 72, 134, 247, 13, 1, 7, 1];
        let encap = [tlv(0x06, &data), tlv(0xa0, &tlv(0x04, content))].concat();
        let signed = [
            &[0x02, 1, 1][..],
            &[0x31, 0],
            &tlv(0x30, &encap),
            &[0x31, 0],
        ]
        .concat();
        let info = [tlv(0x06, SIGNED_DATA.0), tlv(0xa0, &tlv(0x30, &signed))].concat();
        tlv(0x30, &info)
    }

    #[test]
    fn the_content_of_a_signature_is_read_in_either_encoding() {
        let content = b"Content-Type: text/plain\r\n\r\nYes, Tuesday.\r\n";
        assert_eq!(signed_content(&streamed(content)).unwrap(), content);
        assert_eq!(signed_content(&definite(content)).unwrap(), content);
    }

    #[test]
    fn anything_else_is_no_content() {
        let content = b"Content-Type: text/plain\r\n\r\nYes.\r\n";
        let mut enveloped = definite(content);
        enveloped[12] = 3; // id-envelopedData
        for ber in [&enveloped[..], b"", b"\x30\x80", &definite(content)[..20]] {
            assert_eq!(signed_content(ber), None, "{ber:?}");
        }
    }
}
