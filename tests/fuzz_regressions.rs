//! Replays the fuzz seeds and every input a fuzz run ever failed on (`fuzz/seeds/`,
//! `fuzz/regressions/`) through the same entry points as the fuzz targets, on the stable
//! toolchain: the inbound pipeline must give an outcome and the event parser a result or an
//! error naming a field, never a panic.

use replyrelay::config::{builtin, Config};
use replyrelay::events::parse_body;
use replyrelay::inbound::{read::read, Envelope};
use replyrelay::token::TokenKeys;
use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

#[test]
fn inbound_inputs_give_an_outcome() {
    // Everything but the database's part: the pure read, as the fuzz target runs it.
    let config: Config = builtin();
    let keys = TokenKeys::new(vec![b"fuzz-key-0123456789-0123456789-0123".to_vec()]);
    let envelope = Envelope {
        mail_from: Some("ana@visitor.example".into()),
        rcpt_to: vec!["reply+abc@reply.example".into()],
    };
    let inputs = inputs("inbound");
    assert!(inputs.len() >= 4, "the seeds are there");
    for (name, raw) in inputs {
        // Refused with a reason the sender is told, or read into what it is: never a panic.
        match read(&raw, &envelope, &config, Some(&keys)) {
            Ok(analysis) => assert!(
                analysis.text.len() <= raw.len() * 4 + 64,
                "{name}: the text comes from the message"
            ),
            Err(rejection) => {
                let (code, text) = rejection.smtp_reply();
                assert!(
                    (500..600).contains(&code) && !text.is_empty(),
                    "{name}: {code} {text}"
                );
            }
        }
        eprintln!("ok: {name}");
    }
}

#[test]
fn event_inputs_parse_or_name_a_field() {
    let inputs = inputs("events");
    assert!(inputs.len() >= 2, "the seeds are there");
    for (name, body) in inputs {
        match parse_body(&body) {
            // The seeds are valid bodies, so the fuzzer starts from what the API accepts.
            Err(e) if name.contains("/seeds/") => panic!("{name}: {e:?}"),
            Err(e) => assert!(!e.field.is_empty(), "{name}: {e:?}"),
            Ok(_) => {}
        }
    }
}
