//! Scores the reading of delivery reports on `../shared/corpus/bounces/` (beside the checkout)
//! when it is there: 358 real reports, complaints and automatic answers from many MTAs, with
//! sisimai's verdicts. Each must be recognised as what it is; a failure must be judged hard
//! (the address is dead) or soft exactly as sisimai judges it, since only a hard one may
//! silence a visitor; and it should name the email it reports on. Stored with CRLF or with
//! classic Mac CR line ends instead of LF, or with its notice's text base64-encoded, each must
//! read the same.

#[path = "support/skip.rs"]
mod skip;

use replyrelay::config::builtin;
use replyrelay::inbound::read::read;
use replyrelay::inbound::{Envelope, Kind, ReportKind};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Expected {
    kind: String,
    hard_bounce: bool,
    status: String,
}

#[test]
fn bounce_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/bounces");
    let Ok(text) = std::fs::read_to_string(corpus.join("expected.json")) else {
        skip::no_corpus(
            "the bounce corpus",
            &format!("not found at {}", corpus.display()),
        );
        return;
    };
    let expected: BTreeMap<String, Expected> = serde_json::from_str(&text).unwrap();
    let config = builtin();
    let (mut kind_ok, mut severity_ok, mut severity_n, mut tied, mut status_ok, mut status_n) =
        (0, 0, 0, 0, 0, 0);
    // Judged hard where sisimai says soft: a live visitor who would be silenced.
    let mut wrongly_hard = 0;
    let mut wrong = Vec::new();
    let mut endings_differ = Vec::new();
    let mut encodings_differ = Vec::new();
    for (name, want) in &expected {
        let raw = std::fs::read(corpus.join("emails").join(format!("{name}.eml"))).unwrap();
        // As a file: no envelope, as `replyrelay inspect` reads one.
        let analysis = read(&raw, &Envelope::default(), &config, None);
        // The same report stored with CRLF or with classic Mac CR line ends reads the same.
        let reading = |raw: &[u8]| {
            read(raw, &Envelope::default(), &config, None)
                .ok()
                .map(|a| {
                    (
                        a.kind,
                        a.bounce.map(|b| (b.kind, b.hard, b.original_message_id)),
                    )
                })
        };
        let lf = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
        for ending in ["\r\n", "\r"] {
            let other = lf.replace('\n', ending);
            if reading(other.as_bytes()) != reading(&raw) {
                endings_differ.push(format!("{name} with {ending:?}"));
            }
        }
        if let Some(encoded) = base64_text_parts(&raw) {
            if reading(&encoded) != reading(&raw) {
                encodings_differ.push(name.clone());
            }
        }
        let (kind, report) = match &analysis {
            Ok(a) => (a.kind, a.bounce.as_ref()),
            Err(_) => (Kind::Unroutable, None),
        };
        let got = match (kind, report.map(|r| r.kind)) {
            (Kind::AutoReply, _) => "auto_reply",
            // sisimai files a mail client's unsubscribe message under feedback, as complaints.
            (Kind::Unsubscribe, _) => "complaint",
            (Kind::Bounce, Some(ReportKind::Failed | ReportKind::Delayed)) => "bounce",
            (Kind::Bounce, Some(ReportKind::Complaint)) => "complaint",
            (Kind::Bounce, Some(ReportKind::Delivered)) => "delivered",
            _ => "other",
        };
        if got == want.kind {
            kind_ok += 1;
        } else {
            wrong.push(format!("{name}: {got}, expected {}", want.kind));
        }
        let Some(report) = report else { continue };
        if report.original_message_id.is_some() {
            tied += 1;
        }
        if want.kind == "bounce" {
            severity_n += 1;
            if report.hard == want.hard_bounce {
                severity_ok += 1;
            } else {
                wrongly_hard += usize::from(report.hard);
                wrong.push(format!(
                    "{name}: hard {} expected {} ({:?} {:?}) {}",
                    report.hard,
                    want.hard_bounce,
                    report.status,
                    report.reason,
                    report
                        .diagnostic
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(260)
                        .collect::<String>()
                ));
            }
            if !want.status.is_empty() {
                status_n += 1;
                if report.status.as_deref() == Some(want.status.as_str()) {
                    status_ok += 1;
                }
            }
        }
    }
    let n = expected.len();
    println!("bounce corpus: {kind_ok}/{n} recognised as sisimai says");
    println!("  hard/soft as sisimai: {severity_ok}/{severity_n} failures");
    println!("  judged hard where sisimai says soft: {wrongly_hard}");
    println!("  status as sisimai: {status_ok}/{status_n} failures that have one");
    println!("  tied to the email they report on (its Message-ID found): {tied}/{n}");
    for w in &wrong {
        println!("  {w}");
    }
    // The figures reached; they may rise, never fall.
    assert!(kind_ok >= KIND_FLOOR, "recognised {kind_ok}/{n}");
    assert!(
        severity_ok >= SEVERITY_FLOOR,
        "hard/soft {severity_ok}/{severity_n}"
    );
    // No live visitor is judged dead: none may be.
    assert_eq!(
        wrongly_hard, 0,
        "{wrongly_hard} judged hard where sisimai says soft"
    );
    assert!(tied >= TIED_FLOOR, "tied {tied}/{n}");
    assert!(status_ok >= STATUS_FLOOR, "status {status_ok}/{status_n}");
    println!(
        "  read differently with CRLF or CR line ends: {}",
        endings_differ.len()
    );
    assert!(endings_differ.is_empty(), "{endings_differ:?}");
    println!(
        "  read differently with their text parts base64-encoded: {}",
        encodings_differ.len()
    );
    assert!(encodings_differ.is_empty(), "{encodings_differ:?}");
}

/// The report with each text part of its own (not those of the message it returns) sent
/// base64-encoded, as MTAs send a notice in a legacy charset; `None` when it has none to
/// encode. Built on the parser's offsets, the last part first so the earlier offsets hold.
fn base64_text_parts(raw: &[u8]) -> Option<Vec<u8>> {
    use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};
    let message = MessageParser::default().parse(raw)?;
    // A notice's text (`text/plain`, `text/html`): the parts MTAs encode.
    let notice = |p: &&mail_parser::MessagePart| {
        (p.content_type()).is_none_or(|c| {
            c.ctype().eq_ignore_ascii_case("text")
                && c.subtype()
                    .is_some_and(|s| ["plain", "html"].contains(&s.to_ascii_lowercase().as_str()))
        })
    };
    let mut parts: Vec<_> = (message.parts.iter())
        .filter(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
        .filter(notice)
        .filter(|p| p.encoding == Encoding::None && p.offset_end > p.offset_body)
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.sort_by_key(|p| std::cmp::Reverse(p.offset_header));
    let mut out = raw.to_vec();
    for part in parts {
        let (head, body, end) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        let base64 = lettre::message::header::ContentTransferEncoding::Base64;
        let encoded = lettre::message::Body::new_with_encoding(raw[body..end].to_vec(), base64)
            .ok()?
            .into_vec();
        let encoded = String::from_utf8(encoded).ok()?.replace("\r\n", "\n");
        // The part's own transfer encoding (7bit, 8bit) is renamed out of the way.
        let headers = String::from_utf8_lossy(&raw[head..body])
            .replace("Content-Transfer-Encoding:", "X-Was-Transfer-Encoding:")
            .replace("Content-transfer-encoding:", "X-Was-Transfer-Encoding:")
            .replace("content-transfer-encoding:", "X-Was-Transfer-Encoding:");
        let replaced = [
            b"Content-Transfer-Encoding: base64\n".as_slice(),
            headers.as_bytes(),
            encoded.trim_end().as_bytes(),
            b"\n",
        ]
        .concat();
        out.splice(head..end, replaced);
    }
    Some(out)
}

// Measured on 2026-12-07 (`cargo test --test bounce_corpus -- --nocapture`). Where a rule
// had to choose, it chose to judge fewer live addresses dead.
const KIND_FLOOR: usize = 358;
const SEVERITY_FLOOR: usize = 332;
/// Reports whose email is found by the Message-ID they carry (as files, they came through no
/// bounce address of ours).
const TIED_FLOOR: usize = 317;
/// Failures whose status is the one sisimai gives. Most of the others are sisimai's own
/// pseudo-codes (`5.0.911`, `5.0.947`) for reports that carry none, which no report says.
const STATUS_FLOOR: usize = 259;
