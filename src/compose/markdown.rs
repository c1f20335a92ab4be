//! A chat message's light Markdown, three ways: safe HTML for the email's HTML part (plain URLs
//! linked), text for its text part (no markup: emphasis without marks, links as `text <url>`,
//! lists kept, lines wrapped without breaking a URL), and one line of words for the inbox
//! preview. All three read pulldown-cmark's events; none lets the sender's markup through.

use pulldown_cmark::{CowStr, Event, LinkType, Parser, Tag, TagEnd};

/// Where the text part's lines are wrapped: RFC 5322's recommended 78, less a margin for
/// clients that quote with `> `.
const TEXT_WIDTH: usize = 76;

/// Whether a link may be followed from an email: the web and mail, nothing that runs.
fn safe(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

/// Light Markdown to HTML that cannot carry markup of its own: raw HTML in the text is shown as
/// text, only http(s) and mailto links survive, images become links (no remote loads), and a
/// URL written plainly in the text is a link too.
pub fn markdown_to_html(text: &str) -> String {
    // For each open link or image, whether we kept it (so its end is kept or dropped alike).
    let mut kept: Vec<bool> = Vec::new();
    let mut events: Vec<Event<'_>> = Vec::new();
    for event in Parser::new(text) {
        match event {
            Event::Html(s) | Event::InlineHtml(s) => events.push(Event::Text(s)),
            Event::SoftBreak => events.push(Event::HardBreak),
            Event::Start(Tag::Link {
                dest_url,
                title,
                id,
                link_type,
            })
            | Event::Start(Tag::Image {
                dest_url,
                title,
                id,
                link_type,
            }) => {
                let ok = safe(&dest_url);
                kept.push(ok);
                if ok {
                    events.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
                if kept.pop().unwrap_or(false) {
                    events.push(Event::End(TagEnd::Link));
                }
            }
            Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => {}
            // Inside a link its text is already the link's.
            Event::Text(t) if kept.is_empty() => linked(t, &mut events),
            other => events.push(other),
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// `text` as events, each plain web address in it a link to itself (`linkify` finds them, and
/// leaves out the punctuation that ends a sentence after one).
fn linked<'a>(text: CowStr<'a>, events: &mut Vec<Event<'a>>) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    let mut rest = 0;
    for link in finder.links(&text).filter(|l| safe(l.as_str())) {
        if link.start() > rest {
            events.push(Event::Text(text[rest..link.start()].to_string().into()));
        }
        let url: CowStr<'a> = link.as_str().to_string().into();
        events.push(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: url.clone(),
            title: "".into(),
            id: "".into(),
        }));
        events.push(Event::Text(url));
        events.push(Event::End(TagEnd::Link));
        rest = link.end();
    }
    match rest {
        0 => events.push(Event::Text(text)),
        _ if rest < text.len() => events.push(Event::Text(text[rest..].to_string().into())),
        _ => {}
    }
}

/// The words of light Markdown without its markup, on one line, for the inbox preview: block
/// ends are spaces, inline markup is nothing ("**3 days**." stays "3 days.").
pub fn markdown_to_plain(text: &str) -> String {
    let mut out = String::new();
    for event in Parser::new(text) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(end) if is_block(end) => out.push(' '),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_block(end: TagEnd) -> bool {
    matches!(
        end,
        TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::Item
            | TagEnd::List(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::TableCell
            | TagEnd::TableRow
    )
}

/// Light Markdown written for reading as plain text: emphasis without its marks, a link as its
/// text and `<url>` (the URL alone where it is its own text), list items on lines of their own
/// with `-` or their number, paragraphs apart, and lines wrapped at 76 columns without breaking
/// a word or a URL (a longer one stands on a line of its own).
pub fn markdown_to_text(text: &str) -> String {
    let mut out = String::new();
    // Each open list's next number (`None`: bullets).
    let mut lists: Vec<Option<u64>> = Vec::new();
    // Each open link's address and where its text began in `out`.
    let mut links: Vec<(String, usize)> = Vec::new();
    for event in Parser::new(text) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Start(Tag::List(first)) => {
                end_line(&mut out);
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    end_line(&mut out);
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                end_line(&mut out);
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push((dest_url.to_string(), out.len()));
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if let Some((url, from)) = links.pop() {
                    let shown = out[from..].trim();
                    let bare = url.strip_prefix("mailto:").unwrap_or(&url);
                    if safe(&url) && shown != url && shown != bare {
                        out.push_str(&format!(" <{url}>"));
                    }
                }
            }
            Event::Rule => {
                end_line(&mut out);
                out.push_str("---\n\n");
            }
            Event::End(end) if is_block(end) && lists.is_empty() => {
                end_line(&mut out);
                out.push('\n');
            }
            Event::End(TagEnd::Paragraph) => end_line(&mut out),
            _ => {}
        }
    }
    wrap(out.trim_end())
}

fn end_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Each line wrapped at [`TEXT_WIDTH`] at spaces only, a list item's continuation indented
/// under its text; blank lines kept, never more than one in a row.
fn wrap(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(String::new());
            }
            continue;
        }
        let marker = line.len() - line.trim_start().len()
            + line
                .trim_start()
                .split_once(' ')
                .filter(|(m, _)| *m == "-" || m.strip_suffix('.').is_some_and(is_number))
                .map_or(0, |(m, _)| m.len() + 1);
        let indent = " ".repeat(marker);
        let options = textwrap::Options::new(TEXT_WIDTH)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation)
            .subsequent_indent(&indent);
        lines.extend(
            textwrap::wrap(line, options)
                .into_iter()
                .map(|l| l.into_owned()),
        );
    }
    lines.join("\n")
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped_and_links_filtered() {
        let html = markdown_to_html("**hi** <script>alert(1)</script> [x](javascript:alert(1)) [y](https://e.com) ![i](https://e.com/p.png)");
        assert!(html.contains("<strong>hi</strong>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains(r#"<a href="https://e.com">y</a>"#), "{html}");
        assert!(!html.contains("<img"), "{html}");
        let block = markdown_to_html("<div onclick=x>\nhello\n</div>");
        assert!(!block.contains("<div"), "{block}");
    }

    #[test]
    fn a_plain_url_is_a_link_without_the_sentences_full_stop() {
        let html = markdown_to_html("Track it at https://shop.example/t/42?x=1. Thanks!");
        assert!(
            html.contains(r#"<a href="https://shop.example/t/42?x=1">https://shop.example/t/42?x=1</a>. Thanks!"#),
            "{html}"
        );
        // Not inside a link of the writer's own, and nothing that runs.
        let inside =
            markdown_to_html("[see https://a.example](https://b.example) javascript:alert(1)");
        assert_eq!(inside.matches("<a ").count(), 1, "{inside}");
        assert!(!inside.contains(r#"href="javascript"#), "{inside}");
    }

    #[test]
    fn the_text_part_reads_without_markdown() {
        let table = [
            (
                "Standard delivery takes **3–5 working days**; _express_ is next day.",
                "Standard delivery takes 3–5 working days; express is next day.",
            ),
            (
                "See [our shipping page](https://shop.example/shipping) or https://shop.example/faq",
                // 82 columns: wrapped at the space before the URL, not inside it.
                "See our shipping page <https://shop.example/shipping> or\nhttps://shop.example/faq",
            ),
            (
                "You can:\n\n* return it\n* swap it\n\nThen:\n\n1. pack it\n2. post it",
                "You can:\n\n- return it\n- swap it\n\nThen:\n\n1. pack it\n2. post it",
            ),
            ("Line one\nline two", "Line one\nline two"),
            ("Write to [us](mailto:help@shop.example).", "Write to us <mailto:help@shop.example>."),
        ];
        for (markdown, text) in table {
            assert_eq!(markdown_to_text(markdown), text, "{markdown}");
        }
    }

    #[test]
    fn long_lines_wrap_but_a_url_is_never_broken() {
        let url = format!("https://shop.example/{}", "a".repeat(90));
        let text = markdown_to_text(&format!(
            "{} then {url} and more words after it to wrap",
            "word ".repeat(20)
        ));
        assert!(
            text.lines().all(|l| l.chars().count() <= 76 || l == url),
            "{text}"
        );
        assert!(text.lines().any(|l| l == url), "{text}");
        let item = markdown_to_text(&format!("* {}", "long item words ".repeat(8)));
        let lines: Vec<&str> = item.lines().collect();
        assert!(
            lines.len() > 1 && lines[1].starts_with("  ") && !lines[1].starts_with("   "),
            "{item}"
        );
    }

    #[test]
    fn the_preview_has_no_space_before_punctuation() {
        assert_eq!(
            markdown_to_plain("Yes, in **3–5 working days**. [Track](https://e.com) it!"),
            "Yes, in 3–5 working days. Track it!"
        );
        assert_eq!(markdown_to_plain("one\n\ntwo"), "one two");
    }
}
