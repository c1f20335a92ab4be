//! Where and how the server answered: at `RCPT TO` or after `DATA`, from its own directory or
//! a filter's, with RFC 7504's codes for a host that takes no mail.

/// Whether the server refused the message after `DATA`, having taken the recipient before.
pub(super) fn after_data(text: &str) -> bool {
    [
        "end of data",
        "after data",
        "data command",
        "after end of data",
    ]
    .iter()
    .any(|p| text.contains(p))
        && !text.contains("rcpt to:")
        && !text.contains("in reply to rcpt")
        && !no_valid_recipients(text)
}

/// Whether the server answered `DATA` that it had no valid recipient: a client that pipelines
/// its commands (RFC 2920) sends `DATA` before it reads the answers to `RCPT TO`, and so
/// reports a recipient refused there as refused at `DATA`. That answer proves the refusal came
/// at `RCPT TO`.
fn no_valid_recipients(text: &str) -> bool {
    text.contains("no valid recipients")
}

/// Whether the server refused the recipient itself, at `RCPT TO`: the command named as a word
/// (`in reply to RCPT TO command`, X3's `SMTP:RCPT host …`, `[RCPT_TO]`), Postfix's prefix for
/// a recipient restriction, or Exchange relaying the remote server's refusal of the recipient
/// (5.1.351 "Remote server returned unknown recipient"), qmail's "does not like recipient"
/// (what qmail-remote writes above the answer to `RCPT TO`, and only there), or a pipelined
/// `DATA`'s "no valid recipients".
pub(super) fn at_rcpt(text: &str) -> bool {
    text.contains("recipient address rejected")
        || text.contains("returned unknown recipient")
        || text.contains("does not like recipient")
        || no_valid_recipients(text)
        || text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "rcpt")
}

/// Whether a "User unknown" names no address at all (`550 : User unknown`, `550: : User
/// unknown`). Japan's carriers (au, as sisimai documents) answer so when the recipient's
/// reception filter refused the sender, at `RCPT TO` too, and `550 <address>: User unknown` when
/// the mailbox is missing: the empty form is a filter's answer, never a directory's.
pub(super) fn unknown_user_names_no_address(text: &str) -> bool {
    let Some(at) = text.find(": user unknown") else {
        return false;
    };
    let word = text[..at]
        .trim_end()
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .trim_matches(':');
    let reply_code = word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit());
    word.is_empty() || word == "<>" || reply_code
}

/// Whether the words are a mail store's own answer from its user directory, which only the
/// server that holds the mailboxes writes (a filter in front of it has no directory to name):
/// Exchange's "recipient name is not recognized", Domino's "not listed in public Name & Address
/// Book" (or "Domino Directory"), IMail's "invalid final delivery userid", Gmail's "the address
/// couldn't be found. Check for typos".
pub(super) fn looked_up_in_own_directory(text: &str) -> bool {
    [
        "recipient name is not recognized",
        "not listed in public name & address book",
        "not listed in the domino directory",
        "not listed in domino directory",
        "invalid final delivery userid",
        // Domino's Japanese form: "is not in the directory's list".
        "ディレクトリのリストにありません",
        // Gmail for the addresses it holds: its "or is unable to receive mail" form relays
        // another server's answer, and says which after it.
        "address couldn't be found. check for typos",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Whether the server answered with RFC 7504's codes for a host that accepts no mail at all:
/// `521` (the server says so) or `556` (its domain publishes a null MX), with the status those
/// go with (5.3.2, or RFC 7505's 5.1.10): servers put 521 on blocklist refusals too.
pub(super) fn takes_no_mail(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).any(|w| {
        let code = w[0].trim_start_matches(|c: char| !c.is_ascii_digit());
        matches!(code, "521" | "556")
            && ["5.3.2", "5.1.10"]
                .iter()
                .any(|s| w[1].trim_end_matches([',', ';', ':']) == *s)
    })
}
