//! Any bytes, as a message that reached the SMTP listener, IMAP or `replyrelay ingest`: the
//! pipeline reads and classifies it (bounce, loop, auto-reply, reply), trims and converts its
//! text and picks out its attachments. It must answer with an outcome, never panic, and stay
//! within libFuzzer's memory limit (`fuzz/run.sh` sets it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use replyrelay::config::{builtin, Config};
use replyrelay::inbound::{read::read, Envelope};
use replyrelay::token::TokenKeys;
use std::sync::OnceLock;

struct Harness {
    config: Config,
    keys: TokenKeys,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // libfuzzer-sys aborts in its panic hook, before `catch_unwind` could see the panic;
        // the pipeline catches mail-parser's own panics on purpose, so put the default hook
        // back. A panic that escapes the pipeline still fails the run.
        let _ = std::panic::take_hook();
        // No database: everything but the conversation's look-up and the write, which the
        // API tests cover.
        Harness {
            config: builtin(),
            keys: TokenKeys::new(vec![b"fuzz-key-0123456789-0123456789-0123".to_vec()]),
        }
    })
}

fuzz_target!(|raw: &[u8]| {
    let h = harness();
    let envelope = Envelope {
        mail_from: Some("ana@visitor.example".into()),
        rcpt_to: vec!["reply+abc@reply.example".into()],
    };
    let _ = read(raw, &envelope, &h.config, Some(&h.keys));
});
