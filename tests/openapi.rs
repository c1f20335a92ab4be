//! `openapi.json` in the repository is the document the code derives (`GET /v1/openapi.json`
//! serves the same): a change to a handler or a response type that is not committed there
//! fails here. `REPLYRELAY_WRITE_OPENAPI=1 cargo test --test openapi` writes it anew.

#[test]
fn the_committed_openapi_document_is_the_one_the_code_derives() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let derived = replyrelay::api::openapi::document();
    if std::env::var_os("REPLYRELAY_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &derived).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == derived,
        "openapi.json differs from what the code derives; \
         REPLYRELAY_WRITE_OPENAPI=1 cargo test --test openapi writes it"
    );
    let doc: serde_json::Value = serde_json::from_str(&derived).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}
