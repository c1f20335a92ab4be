//! Plain text sent as `format=flowed` (RFC 3676), joined back into its paragraphs.
//!
//! Thunderbird, Roundcube, K-9 and other clients send plain text wrapped at about 72 columns,
//! with a space at the end of each line the reader may join to the next. Read as it comes, a
//! visitor's paragraph would reach the chat broken mid-sentence every 72 characters. Joining
//! follows the RFC: a line that ends in a space flows into the next one of the same quote
//! depth; the signature delimiter (`-- `) never flows; a leading space that the sender added
//! (space-stuffing) is removed; with `DelSp=yes` the space at the joint is the sender's, and is
//! dropped too. Quoted lines come out with their `>` marks, one line per quoted paragraph, so
//! the trimming rules see the same quote they would have seen.

/// `text` (a `format=flowed` body) with its flowed lines joined. `delsp`: the part's
/// `DelSp=yes`.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    // The paragraph being joined: its quote depth and its text so far.
    let mut open: Option<(usize, String)> = None;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = raw.bytes().take_while(|b| *b == b'>').count();
        let content = &raw[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        let flows = content.ends_with(' ') && content != "-- ";
        let mut paragraph = match open.take() {
            Some((d, p)) if d == depth => p,
            // A flowed line followed by one of another depth ends there (RFC 3676, 4.5).
            Some((d, p)) => {
                out.push(with_marks(d, &p));
                String::new()
            }
            None => String::new(),
        };
        let piece = if flows && delsp {
            &content[..content.len() - 1]
        } else {
            content
        };
        paragraph.push_str(piece);
        if flows {
            open = Some((depth, paragraph));
        } else {
            out.push(with_marks(depth, &paragraph));
        }
    }
    if let Some((d, p)) = open {
        out.push(with_marks(d, &p));
    }
    out.join("\n")
}

/// A line of quote depth `depth` as a reader shows it.
fn with_marks(depth: usize, text: &str) -> String {
    match depth {
        0 => text.to_string(),
        _ => format!("{} {text}", ">".repeat(depth)),
    }
}

#[cfg(test)]
mod tests {
    use super::unflow;

    #[test]
    fn flowed_lines_join_into_their_paragraphs() {
        let table: &[(&str, bool, &str)] = &[
            // A paragraph wrapped by the client, and a fixed line after a blank one.
            (
                "Could you send the invoice \nagain, please?\n\nThanks",
                false,
                "Could you send the invoice again, please?\n\nThanks",
            ),
            // CRLF line ends, as a message part may keep them.
            ("one \r\ntwo\r\n", false, "one two\n"),
            // DelSp=yes: the space at the joint is the sender's, not a word break.
            ("Donaudampf\nschiff", true, "Donaudampf\nschiff"),
            ("Donaudampf \nschiff", true, "Donaudampfschiff"),
            // Quoted paragraphs join within their depth and keep their marks.
            (
                "Yes.\n\n> Shall we ship \n> it today?\n>> Older \n>> words",
                false,
                "Yes.\n\n> Shall we ship it today?\n>> Older words",
            ),
            // A flowed line followed by one of another depth ends its paragraph.
            ("> quoted \nmine", false, "> quoted \nmine"),
            // Space-stuffing removed: the sender added it before "From" and ">".
            (
                " From the start\n >not a quote",
                false,
                "From the start\n>not a quote",
            ),
            // The signature delimiter never flows into the signature.
            ("Thanks\n-- \nAna", false, "Thanks\n-- \nAna"),
            // A flowed last line keeps its words.
            ("last words ", false, "last words "),
        ];
        for (text, delsp, want) in table {
            assert_eq!(unflow(text, *delsp), *want, "{text:?}");
        }
    }
}
