//! An HTML-only reply as text, so the plain-text rules apply to it.
//!
//! Structure first: mail clients mark the history they quote (Gmail's `gmail_quote`, Apple Mail
//! and Thunderbird's `<blockquote type="cite">`, Outlook's `divRplyFwdMsg` and `appendonsend`,
//! Yahoo's `yahoo_quoted`, …), and that markup is removed from the document before it becomes
//! text, so no footnote, wrapped link or signature below it can make the trimmer keep it. What
//! is left is written as plain text: links inline as `text (url)`, no emphasis marks, no hard
//! wrapping.

use html2text::render::{TaggedLine, TextDecorator};
use html2text::{Element, Handle, RcDom};
use std::collections::BTreeSet;

/// Classes whose element is the quoted history (or its attribution line), and nothing else:
/// a visitor may write after it.
const QUOTE_CLASSES: &[&str] = &[
    "gmail_quote",
    "gmail_attr",
    "yahoo_quoted",
    "moz-cite-prefix",
    "protonmail_quote",
    "zmail_extra",
    "fastmail_quote",
    "qt",
];

/// Ids after which everything is quoted: Outlook's, which lets nobody write below them
/// (`x_` is the prefix Exchange gives ids in mail it passes on).
const CUT_IDS: &[&str] = &[
    "divrplyfwdmsg",
    "appendonsend",
    "x_divrplyfwdmsg",
    "stopspelling",
    "mail-editor-reference-message-container",
    "x_mail-editor-reference-message-container",
];

/// Classes after which everything is quoted: Outlook for iOS and Android's reference message.
const CUT_CLASSES: &[&str] = &[
    "ms-outlook-mobile-reference-message",
    "x_ms-outlook-mobile-reference-message",
];

/// HTML to readable text, the quoted history removed by its markup: paragraphs and line breaks
/// kept, any other `<blockquote>` as `>` lines (so the quote rules apply), links as `text
/// (url)`, images, scripts and styles dropped, a table's cells one after another (most tables
/// in mail are layout: a signature, a template).
pub fn html_to_text(html: &str) -> String {
    let config = html2text::config::with_decorator(Plain::default())
        .link_footnotes(false)
        .no_link_wrapping()
        .raw_mode(true)
        .unicode_strikeout(false);
    let html = with_blocks_as_divs(html);
    let Ok(dom) = config.parse_html(html.as_bytes()) else {
        return String::new();
    };
    remove_history(&dom);
    // Wide enough that no paragraph is wrapped: line breaks are the writer's, not ours.
    let text = config
        .dom_to_render_tree(&dom)
        .and_then(|tree| config.render_to_string(tree, 10_000))
        .unwrap_or_default();
    // Spacers (`<p>&nbsp;</p>`, `<div><br></div>`, Outlook's empty `MsoNormal` paragraphs)
    // render as blank lines: one blank line between paragraphs is all a chat message shows.
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.dedup_by(|line, before| line.is_empty() && before.is_empty());
    without_repeated_urls(&lines.join("\n"))
}

/// The content ids of the pictures only the quoted history shows (`cid:` addresses, as
/// `Content-ID` names its part, lowercase). Outlook, Apple Mail and Thunderbird embed a quoted
/// HTML email's pictures (our logo, an agent's signature) in the reply as parts of their own;
/// they are the quote's, not attachments of the visitor's. A picture the reply itself shows (a
/// pasted screenshot, the visitor's own signature) is not among them, even if the quote shows
/// it too.
pub fn quoted_content_ids(html: &str) -> BTreeSet<String> {
    let Ok(dom) = html2text::config::plain().parse_html(html.as_bytes()) else {
        return BTreeSet::new();
    };
    let mut everywhere = BTreeSet::new();
    content_ids(&dom.document, &mut everywhere);
    remove_history(&dom);
    let mut kept = BTreeSet::new();
    content_ids(&dom.document, &mut kept);
    everywhere.retain(|id| !kept.contains(id));
    everywhere
}

/// The `cid:` addresses any attribute under `node` holds (`<img src>`, `background`, …),
/// URL-decoded as RFC 2392 writes them.
fn content_ids(node: &Handle, into: &mut BTreeSet<String>) {
    if let Element { attrs, .. } = &node.data {
        for attr in attrs.borrow().iter() {
            let value = attr.value.trim();
            // `get`, not an index: the value's fourth byte may fall inside a character.
            let cid = value
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("cid:"));
            if cid && value.len() > 4 {
                let id = percent_encoding::percent_decode_str(&value[4..]).decode_utf8_lossy();
                into.insert(content_id(&id));
            }
        }
    }
    for child in node.children.borrow().iter() {
        content_ids(child, into);
    }
}

/// A content id as compared: without its angle brackets, lowercase.
pub fn content_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase()
}

/// Removes the quote containers of `dom`, and everything after an Outlook header.
fn remove_history(dom: &RcDom) {
    fn walk(node: &Handle) -> bool {
        let mut cut = false;
        let mut keep = Vec::new();
        for child in node.children.borrow().iter() {
            if cut {
                continue;
            }
            match verdict(child) {
                Verdict::Keep => {
                    cut = walk(child);
                    keep.push(child.clone());
                }
                Verdict::Drop => {}
                Verdict::CutFromHere => cut = true,
            }
        }
        *node.children.borrow_mut() = keep;
        cut
    }
    // A cut inside an element ends its parents too: the rest of the document is the quote.
    walk(&dom.document);
}

enum Verdict {
    Keep,
    /// The element is quoted history.
    Drop,
    /// The element and everything after it in the document are.
    CutFromHere,
}

fn verdict(node: &Handle) -> Verdict {
    let Element { name, attrs, .. } = &node.data else {
        return Verdict::Keep;
    };
    let attrs = attrs.borrow();
    let attr = |key: &str| {
        attrs
            .iter()
            .find(|a| {
                let name: &str = &a.name.local;
                name.eq_ignore_ascii_case(key)
            })
            .map(|a| a.value.to_ascii_lowercase())
    };
    let tag: &str = &name.local;
    if let Some(id) = attr("id") {
        if CUT_IDS.contains(&id.as_str()) {
            return Verdict::CutFromHere;
        }
    }
    // Outlook for Windows: the "From: … Sent: …" block is a div with a rule along its top.
    let style = attr("style").unwrap_or_default().replace(' ', "");
    if tag == "div" && style.contains("border-top:solid") && style.contains("padding:3") {
        return Verdict::CutFromHere;
    }
    if tag == "blockquote" && attr("type").as_deref() == Some("cite") {
        return Verdict::Drop;
    }
    let classes = attr("class").unwrap_or_default();
    if classes.split_whitespace().any(|c| CUT_CLASSES.contains(&c)) {
        return Verdict::CutFromHere;
    }
    if classes
        .split_whitespace()
        .any(|c| QUOTE_CLASSES.contains(&c))
    {
        return Verdict::Drop;
    }
    Verdict::Keep
}

/// `https://x.example (https://x.example)` where a link's text is its own address (clients
/// turn typed URLs into such links): once is enough.
fn without_repeated_urls(text: &str) -> String {
    let mut out = text.to_string();
    let mut from = 0;
    while let Some(open) = out[from..].find(" (http").map(|i| i + from) {
        let Some(close) = out[open..].find(')').map(|i| i + open) else {
            break;
        };
        let url = &out[open + 2..close];
        let before = &out[..open];
        if before.ends_with(url) || before.ends_with(url.trim_end_matches('/')) {
            out.replace_range(open..=close, "");
            from = open;
        } else {
            from = close;
        }
    }
    out
}

/// Block elements html2text writes inline, as if their words ran on from the element before
/// (`<center>Ana</center><center>Lisbon</center>` as "AnaLisbon"): an old editor's centred
/// signature, a page's `<section>`s pasted into a reply.
const BLOCKS_READ_INLINE: &[&str] = &[
    "address",
    "article",
    "aside",
    "center",
    "details",
    "dialog",
    "dir",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hgroup",
    "legend",
    "main",
    "menu",
    "nav",
    "section",
    "summary",
];

/// `html` with the tags of `BLOCKS_READ_INLINE` renamed `div`, which html2text writes as a
/// block. The rename is textual: a name in an attribute's value or a comment may change too,
/// which changes no text.
fn with_blocks_as_divs(html: &str) -> std::borrow::Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    for at in memchr::memchr_iter(b'<', bytes) {
        let start = at + 1 + usize::from(bytes.get(at + 1) == Some(&b'/'));
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let ends = bytes
            .get(start + len)
            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/');
        let name = &html[start..start + len];
        if len > 0
            && ends
            && BLOCKS_READ_INLINE
                .iter()
                .any(|b| b.eq_ignore_ascii_case(name))
        {
            out.push_str(&html[copied..start]);
            out.push_str("div");
            copied = start + len;
        }
    }
    if copied == 0 {
        return html.into();
    }
    out.push_str(&html[copied..]);
    out.into()
}

/// The emoji a picture stands for: Gmail's web composer and others send the emoji the writer
/// typed as an `<img>` whose alternative text is that emoji. Any other picture's alternative
/// text (a file name, "logo") is not the writer's words.
fn emoji(alt: &str) -> Option<&str> {
    let alt = alt.trim();
    let known = |s: &str| emojis::get(s).is_some();
    (!alt.is_empty() && (known(alt) || known(&alt.replace('\u{fe0f}', "")))).then_some(alt)
}

/// Plain text as a person would type it: no emphasis marks, headings as their words, links as
/// `text (url)` (mail addresses as themselves), images left out.
#[derive(Clone, Default)]
struct Plain {
    /// The addresses of the links being written, innermost last.
    links: Vec<String>,
}

impl TextDecorator for Plain {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        self.links.push(url.to_string());
        (String::new(), ())
    }
    fn decorate_link_end(&mut self) -> String {
        match self.links.pop() {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                format!(" ({url})")
            }
            _ => String::new(),
        }
    }
    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_em_end(&self) -> String {
        String::new()
    }
    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_strong_end(&self) -> String {
        String::new()
    }
    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }
    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_code_end(&self) -> String {
        String::new()
    }
    fn decorate_preformat_first(&self) {}
    fn decorate_preformat_cont(&self) {}
    fn decorate_image(&mut self, _src: &str, alt: &str) -> (String, ()) {
        (emoji(alt).unwrap_or_default().to_string(), ())
    }
    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }
    fn quote_prefix(&self) -> String {
        "> ".to_string()
    }
    fn unordered_item_prefix(&self) -> String {
        "- ".to_string()
    }
    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }
    fn make_subblock_decorator(&self) -> Self {
        Plain::default()
    }
    fn decorate_superscript_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_superscript_end(&self) -> String {
        String::new()
    }
    fn finalise(&mut self, _urls: Vec<String>) -> Vec<TaggedLine<()>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{html_to_text, quoted_content_ids, with_blocks_as_divs};
    use crate::reply::trim;

    /// The reply as the pipeline keeps it: HTML to text, then the text rules.
    fn reply(html: &str) -> String {
        trim(&html_to_text(html))
    }

    #[test]
    fn quote_containers_are_removed_by_their_markup() {
        let cases = [
            // Gmail (web and Android): the attribution and quote inside div.gmail_quote.
            (
                r#"<div dir="ltr">Yes, the <b>blue</b> one. See <a href="https://shop.example/p/1">the page</a>.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 2 Mar 2026 at 10:06, Acme &lt;<a href="mailto:support@acme.example">support@acme.example</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">Which colour? See <a href="https://acme.example/c">colours</a></blockquote></div>"#,
                "Yes, the blue one. See the page (https://shop.example/p/1).",
            ),
            // Apple Mail: the attribution in a div, the quote in blockquote type=cite.
            (
                r#"<html><body dir="auto">Thanks, that works!<br><br><div dir="ltr">On 2 Mar 2026, at 10:06, Acme &lt;support@acme.example&gt; wrote:<br><br></div><blockquote type="cite"><div dir="ltr">Try <a href="https://acme.example/reset">resetting</a> it.</div></blockquote></body></html>"#,
                "Thanks, that works!",
            ),
            // Thunderbird: div.moz-cite-prefix, then blockquote type=cite.
            (
                r#"<html><body><p>Friday is fine.</p><div class="moz-cite-prefix">On 02/03/2026 10:06, Acme wrote:<br></div><blockquote type="cite" cite="mid:x@reply.acme.example">When can we call? <a href="https://acme.example/cal">calendar</a></blockquote></body></html>"#,
                "Friday is fine.",
            ),
            // Outlook on the web: appendonsend, a rule, then divRplyFwdMsg and the message.
            (
                r#"<html><body><div>Please cancel order 42.</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Acme &lt;support@acme.example&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:06 AM<br></div><div>Your order <a href="https://acme.example/o/42">42</a> ships tomorrow.</div></body></html>"#,
                "Please cancel order 42.",
            ),
            // Outlook for Windows: the header block is a div with a top border.
            (
                r#"<html><body><div class="WordSection1"><p class="MsoNormal">I will send the photos.<o:p></o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> Acme<br><b>Sent:</b> Monday</p></div><p class="MsoNormal">Could you send photos? <a href="https://acme.example/upload">upload</a></p></div></body></html>"#,
                "I will send the photos.",
            ),
            // Yahoo: div.yahoo_quoted.
            (
                r#"<html><body><div>No, thank you.</div><div id="yahoo_quoted_1" class="yahoo_quoted"><div>On Monday, March 2, 2026, Acme &lt;support@acme.example&gt; wrote:</div><div>Would you like the manual? <a href="https://acme.example/m">manual</a></div></div></body></html>"#,
                "No, thank you.",
            ),
        ];
        for (html, want) in cases {
            assert_eq!(reply(html), want, "{html}");
        }
    }

    /// Yahoo and Outlook space paragraphs with empty ones (`<p>&nbsp;</p>`, `<div><br></div>`):
    /// the text keeps one blank line between paragraphs, not one per spacer.
    #[test]
    fn spacer_paragraphs_leave_one_blank_line() {
        let html = r#"<div>I did not know.&nbsp;</div><div><br></div><div><p>&nbsp;</p><p><b>Tom</b></p></div><div><br></div><div><br></div><div class="yahoo_quoted"><div>On Monday, Acme wrote:</div><p>&nbsp;</p><p>Old words</p></div>"#;
        assert_eq!(reply(html), "I did not know.\n\nTom");
    }

    #[test]
    fn text_below_a_gmail_quote_is_kept() {
        let html = r#"<div class="gmail_quote"><div class="gmail_attr">On Mon, Acme wrote:</div><blockquote class="gmail_quote">Old words</blockquote></div><div>My answer, below.</div>"#;
        assert_eq!(reply(html), "My answer, below.");
    }

    #[test]
    fn plain_text_is_not_decorated_or_wrapped() {
        let long = "word ".repeat(60);
        let html = format!(
            "<p><strong>invoice</strong> <em>42</em>: <a href=\"https://acme.example/i/42\">https://acme.example/i/42</a></p><p>{long}</p>"
        );
        let text = html_to_text(&html);
        assert!(
            text.starts_with("invoice 42: https://acme.example/i/42\n"),
            "{text}"
        );
        assert!(!text.contains('*') && !text.contains("[1]"), "{text}");
        assert_eq!(text.lines().count(), 3, "no hard wrapping: {text}");
    }

    /// Tables are mostly layout (a signature's logo beside the name, a generator's signature,
    /// a template): their cells come out as lines of text, with no borders drawn in box
    /// characters and no padding to columns that a chat's proportional font would not keep.
    #[test]
    fn tables_become_lines_without_drawn_borders() {
        let html = r#"<p>Sizes:</p><table><tr><td>Shirt</td><td>2</td></tr></table><p>Best,</p><table cellpadding="0"><tr><td><img src="cid:logo" alt=""></td><td><b>Ana Souza</b><br>CEO, Visitor Inc.</td></tr></table>"#;
        let text = html_to_text(html);
        assert_eq!(
            text.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
            [
                "Sizes:",
                "Shirt",
                "2",
                "Best,",
                "Ana Souza",
                "CEO, Visitor Inc."
            ],
            "{text}"
        );
    }

    /// Block elements html2text would run together are blocks: each one's words on a line.
    #[test]
    fn blocks_of_every_kind_are_lines() {
        let html = r#"<center>Ana Souza</center><CENTER>Lisbon</CENTER><section><p>See</p></section><address>Rua A, 1</address><menuitem>x</menuitem><formula>y</formula><span>in</span><b>line</b>"#;
        assert_eq!(
            html_to_text(html)
                .lines()
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>(),
            ["Ana Souza", "Lisbon", "See", "Rua A, 1", "xyinline"]
        );
        assert_eq!(with_blocks_as_divs("<p>no blocks</p>"), "<p>no blocks</p>");
        assert_eq!(
            with_blocks_as_divs("<center a=1/>x</center"),
            "<div a=1/>x</div"
        );
    }

    /// An emoji sent as a picture is the emoji; other pictures are not words, and a struck-out
    /// word is the word, without combining marks drawn through it.
    #[test]
    fn pictures_of_emoji_are_the_writers_words() {
        let html = r#"<p>Thanks <img data-emoji="👍" class="an1" alt="👍" aria-label="👍" src="https://fonts.gstatic.com/s/e/notoemoji/15.0/1f44d/32.png"> <img alt="❤" src="h.png"> <img alt="👩🏽‍💻" src="w.png"> <img alt="🇵🇹" src="f.png"><img alt="Acme logo" src="cid:logo"><img alt="image.png" src="cid:ii_1"> <s>Monday</s> Tuesday</p>"#;
        assert_eq!(html_to_text(html), "Thanks 👍 ❤ 👩🏽‍💻 🇵🇹 Monday Tuesday");
    }

    /// Clients embed a quoted email's pictures as parts of the reply: those only the quote
    /// shows are the quote's. What the reply shows stays, even if the quote shows it too.
    #[test]
    fn the_pictures_only_the_quote_shows_are_known() {
        let cases: [(&str, &[&str]); 7] = [
            // Outlook for Windows: its signature above the header block, our logo below it.
            (
                r#"<div class="WordSection1"><p class="MsoNormal">Thanks!</p><p class="MsoNormal"><img width="96" height="32" id="Picture_x0020_1" src="cid:image001.png@01DC6F1A.2B3C4D50" alt="Ana's Bakery"></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> Acme</p></div><p class="MsoNormal"><img border="0" width="120" height="40" id="Picture_x0020_2" src="cid:image002.png@01DC6F1A.2B3C4D50" alt="Acme"></p></div>"#,
                &["image002.png@01dc6f1a.2b3c4d50"],
            ),
            // Apple Mail: a pasted screenshot in the reply, our logo in the cited quote.
            (
                r#"<html><body dir="auto">Here it is:<br><img apple-inline="yes" id="A1" src="cid:7B1E2F3A-0C4D-4E5F-8A9B-1C2D3E4F5A6B"><br><div><br><blockquote type="cite"><div><img src="cid:4C5D6E7F-1A2B-4C3D-9E8F-0A1B2C3D4E5F" alt="Acme"> Which colour?</div></blockquote></div></body></html>"#,
                &["4c5d6e7f-1a2b-4c3d-9e8f-0a1b2c3d4e5f"],
            ),
            // Thunderbird: the cid URL-encoded, as RFC 2392 writes it.
            (
                r#"<p>Friday is fine.</p><div class="moz-cite-prefix">On 02/03/2026 10:06, Acme wrote:</div><blockquote type="cite"><img moz-do-not-send="false" src="cid:part1.Xy7Zp2Qa%40acme.example" alt="Acme">When can we call?</blockquote>"#,
                &["part1.xy7zp2qa@acme.example"],
            ),
            // Gmail: a picture pasted into the reply is the visitor's.
            (
                r#"<div dir="ltr">The crack:<div><img src="cid:ii_m3x9k2a10" alt="image.png" width="562" height="316"></div></div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, Acme wrote:</div><blockquote class="gmail_quote">Could you send a photo?</blockquote></div>"#,
                &[],
            ),
            // The visitor's own signature picture, in the reply and again in the quote of
            // their earlier message: theirs.
            (
                r#"<p>Yes.</p><p><img src="cid:sig@ana"></p><blockquote type="cite"><p>Hello</p><p><img src="cid:sig@ana"></p></blockquote>"#,
                &[],
            ),
            // No quote: nothing is the quote's.
            (r#"<p>See <img src="cid:a@b"></p>"#, &[]),
            // An attribute whose fourth byte falls inside a character: no cid, no panic.
            (
                r#"<p title="m--é-col">Hi</p><blockquote type="cite"><img alt="日本語">x</blockquote>"#,
                &[],
            ),
        ];
        for (html, want) in cases {
            let got = quoted_content_ids(html);
            assert_eq!(
                got.iter().map(String::as_str).collect::<Vec<_>>(),
                want,
                "{html}"
            );
        }
    }
}
