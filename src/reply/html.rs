//! An HTML-only reply as text, so the plain-text rules apply to it.

/// HTML to readable text: paragraphs and line breaks kept, `<blockquote>` as `>` lines (so the
/// quote rules apply), links as their text, scripts and styles dropped.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain()
        .string_from_read(html.as_bytes(), 100)
        .unwrap_or_default();
    // html2text draws `─` rules for <hr>; a delimiter either way.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}
