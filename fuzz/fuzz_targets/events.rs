//! Any bytes as the body of `POST /v1/events`: parsed into events or refused with the field at
//! fault (the 400 names it), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replyrelay::events::parse_body;

fuzz_target!(|body: &[u8]| {
    match parse_body(body) {
        Ok(_) => {}
        Err(e) => assert!(!e.field.is_empty(), "an error names a field: {e:?}"),
    }
});
