#!/usr/bin/env python3
"""Writes the TNEF files (winmail.dat) of this folder, as [MS-OXTNEF] lays them out and as
Outlook fills them: an 8.3 title and the long name in the attachment's MAPI properties, the
body as compressed RTF ([MS-OXRTFCP], compressed here by PyPI's `compressed_rtf`, not by the
crate the daemon reads it with) wrapping HTML ([MS-OXRTFEX]). Checked with Debian's `tnef`
(see README.md). Run from this folder: `pip install compressed_rtf && python3 make.py`."""

import struct
import zlib

import compressed_rtf


def attribute(level, attr_id, data):
    return struct.pack("<BII", level, attr_id, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def padded(data):
    return data + b"\0" * (-len(data) % 4)


def variable(kind, prop_id, value):
    return struct.pack("<HHII", kind, prop_id, 1, len(value)) + padded(value)


def unicode(prop_id, text):
    return variable(0x001F, prop_id, (text + "\0").encode("utf-16-le"))


def binary(prop_id, data):
    return variable(0x0102, prop_id, data)


def long(prop_id, value):
    return struct.pack("<HHI", 0x0003, prop_id, value)


def named_string(guid, name, text):
    """A named property (PSETID_Common's), to be read past."""
    label = (name + "\0").encode("utf-16-le")
    head = struct.pack("<HH", 0x001F, 0x8000) + guid + struct.pack("<II", 1, len(label)) + padded(label)
    value = (text + "\0").encode("utf-16-le")
    return head + struct.pack("<II", 1, len(value)) + padded(value)


def props(*items):
    return struct.pack("<I", len(items)) + b"".join(items)


PSETID_COMMON = bytes.fromhex("0820060000000000c000000000000046")


def tnef(message_props, attachments):
    out = struct.pack("<IH", 0x223E9F78, 0x2A51)
    out += attribute(1, 0x00089006, b"\0\0\1\0")  # attTnefVersion
    out += attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += attribute(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    out += attribute(1, 0x00069003, message_props)  # attMsgProps
    for title, data, attach_props in attachments:
        out += attribute(2, 0x00069002, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))  # attAttachRendData
        out += attribute(2, 0x00018010, title.encode("cp1252") + b"\0")  # attAttachTitle
        if data is not None:
            out += attribute(2, 0x0006800F, data)  # attAttachData
        out += attribute(2, 0x00069005, attach_props)  # attAttachment
    return out


def rtf_body(html_rtf):
    """Outlook's RTF wrapping of an HTML body, compressed."""
    rtf = (
        b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl\r\n"
        b"{\\f0\\fswiss\\fcharset0 Calibri;}}\r\n"
        b"{\\colortbl\\red0\\green0\\blue0;\\red5\\green99\\blue193;}\r\n"
        b"\\uc1\\pard\\plain\\deftab360 \\f0\\fs22 \r\n"
        b"{\\*\\htmltag19 <html>}\r\n{\\*\\htmltag34 <head>}\r\n"
        b"{\\*\\htmltag241 <style type=\"text/css\">}\r\n"
        b"{\\*\\htmltag241 p \\{ margin: 0; \\} }\r\n{\\*\\htmltag249 </style>}\r\n"
        b"{\\*\\htmltag41 </head>}\r\n{\\*\\htmltag50 <body lang=\"EN-GB\">}\\htmlrtf \\lang2057 \\htmlrtf0 \r\n"
        + html_rtf
        + b"{\\*\\htmltag58 </body>}\r\n{\\*\\htmltag27 </html>}}\r\n"
    )
    return compressed_rtf.compress(rtf, compressed=True)


# The words as Outlook wraps them: each HTML tag in a `\*\htmltag` group, what only the RTF
# rendering shows between `\htmlrtf` and `\htmlrtf0`, a non-ASCII letter as `\'xx` in the code
# page and a character beyond it as `\u` with its one-byte stand-in.
WORDS = (
    b"{\\*\\htmltag96 <div>}\\htmlrtf {\\htmlrtf0 {\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 "
    b"Yes, Tuesday works \\u8212\\'97 I'll bring the order to the caf\\'e9.\r\n"
    b"{\\*\\htmltag72 </p>}\\htmlrtf \\par }\\htmlrtf0 \r\n"
    b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Ana{\\*\\htmltag72 </p>}\\htmlrtf \\par }\\htmlrtf0 \r\n"
    b"{\\*\\htmltag104 </div>}\\htmlrtf }\\htmlrtf0 \r\n"
)

# Outlook's quoted history under a reply: the rule, the header block, the quoted email.
QUOTE = (
    b"{\\*\\htmltag96 <div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">}"
    b"\\htmlrtf {\\htmlrtf0 {\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 "
    b"{\\*\\htmltag84 <b>}\\htmlrtf {\\b \\htmlrtf0 From:{\\*\\htmltag92 </b>}\\htmlrtf }\\htmlrtf0  Acme &lt;support@acme.example&gt;"
    b"{\\*\\htmltag116 <br>}\\htmlrtf \\line \\htmlrtf0 \r\n"
    b"{\\*\\htmltag84 <b>}\\htmlrtf {\\b \\htmlrtf0 Sent:{\\*\\htmltag92 </b>}\\htmlrtf }\\htmlrtf0  Monday, March 2, 2026 10:06 AM"
    b"{\\*\\htmltag116 <br>}\\htmlrtf \\line \\htmlrtf0 \r\n"
    b"{\\*\\htmltag84 <b>}\\htmlrtf {\\b \\htmlrtf0 To:{\\*\\htmltag92 </b>}\\htmlrtf }\\htmlrtf0  Ana &lt;ana@visitor.example&gt;"
    b"{\\*\\htmltag116 <br>}\\htmlrtf \\line \\htmlrtf0 \r\n"
    b"{\\*\\htmltag84 <b>}\\htmlrtf {\\b \\htmlrtf0 Subject:{\\*\\htmltag92 </b>}\\htmlrtf }\\htmlrtf0  Your conversation with Acme"
    b"{\\*\\htmltag72 </p>}\\htmlrtf \\par }\\htmlrtf0 \r\n"
    b"{\\*\\htmltag104 </div>}\\htmlrtf }\\htmlrtf0 \r\n"
    b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Hi Ana, your order ships today.{\\*\\htmltag72 </p>}\\htmlrtf \\par }\\htmlrtf0 \r\n"
)


def png(width, height):
    """A real PNG: a grey picture."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def by_value(long_name, mime):
    return props(long(0x3705, 1), unicode(0x3707, long_name), unicode(0x3001, long_name), unicode(0x370E, mime))


def main():
    message = props(
        long(0x3FDE, 1252),  # PR_INTERNET_CPID
        named_string(PSETID_COMMON, "x-replyrelay-fixture", "outlook"),
        binary(0x1009, rtf_body(WORDS + QUOTE)),  # PR_RTF_COMPRESSED
    )
    files = tnef(
        message,
        [
            ("SCREEN~1.PNG", png(24, 16), by_value("Screenshot 2026-03-02 101500.png", "image/png")),
            ("ORDER4~1.PDF", PDF, by_value("Order 4711 – invoice.pdf", "application/pdf")),
        ],
    )
    with open("outlook-files.tnef", "wb") as f:
        f.write(files)
    with open("outlook-rich-text.tnef", "wb") as f:
        f.write(tnef(message, []))
    # An Outlook item attached to the reply (PR_ATTACH_METHOD 5, ATTACH_EMBEDDED_MSG): no file
    # to give, so the winmail.dat must stay.
    embedded = props(long(0x3705, 5), unicode(0x3001, "Fwd: the order"))
    with open("outlook-embedded-item.tnef", "wb") as f:
        f.write(tnef(message, [("Fwd: the order", None, embedded)]))


main()
