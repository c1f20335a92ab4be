//! Real responses validated against the OpenAPI document the daemon serves: every documented
//! route is called, for success and for its errors, and each body must match the schema the
//! document gives for that route and status.

use crate::helpers::*;
use replyrelay::inbound::Envelope;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Checks one response against the document; returns the body.
async fn check(
    doc: &Value,
    seen: &mut BTreeSet<String>,
    method: &str,
    route: &str,
    r: reqwest::Response,
) -> Value {
    let status = r.status().as_u16().to_string();
    let operation = &doc["paths"][route][method];
    assert!(operation.is_object(), "{method} {route} is not documented");
    let declared = &operation["responses"][&status];
    assert!(
        declared.is_object(),
        "{method} {route} answered {status}, which the document does not list"
    );
    seen.insert(format!("{method} {route}"));
    let Some(schema) = declared["content"]["application/json"]["schema"].as_object() else {
        return Value::Null;
    };
    let body: Value = r.json().await.unwrap();
    let mut root = Value::Object(schema.clone());
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {route} {status}: {errors:?}\n{body:#}"
    );
    body
}

#[tokio::test]
async fn every_route_answers_as_the_document_says() {
    let Some(app) = spawn_app(
        Backend::Sqlite,
        concat!(
            r#"allowed_origins = ["https://shop.example"]"#,
            "\n[site.chatwoot]\nurl = \"http://127.0.0.1:9\"\naccount_id = 1\n",
            "api_access_token = \"chatwoot-token-0123456789\"\n",
            "webhook_secret = \"chatwoot-secret-0123456789\"\n",
        ),
    )
    .await
    else {
        return;
    };
    let doc: Value = (app.client.get(format!("{}/v1/openapi.json", app.base)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The validator does reject what the schemas rule out.
    let mut root = doc["paths"]["/v1/emails"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]
        .clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    assert!(!validator.is_valid(&json!({"emails": [{"id": 5}]})));
    assert!(validator.is_valid(&json!({"emails": []})));
    let mut seen = BTreeSet::new();
    let c = &app.client;
    let url = |p: &str| format!("{}{p}", app.base);

    // Events in, one and a batch; a bad one; no token.
    let r = c.post(url("/v1/events")).bearer_auth(TOKEN);
    let r = r
        .json(&message("c0", "m0", "visitor", "Hi", 0.0))
        .send()
        .await
        .unwrap();
    check(&doc, &mut seen, "post", "/v1/events", r).await;
    let email = emailed(&app, "c1").await;
    let bad = json!({"events": [{"type": "message", "conversation": "c", "message": {"id": "m", "author": "boss"}}]});
    let r = c
        .post(url("/v1/events"))
        .bearer_auth(TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    let body = check(&doc, &mut seen, "post", "/v1/events", r).await;
    assert_eq!(body["error"]["field"], "events[0].message.author");
    let r = c.post(url("/v1/events")).json(&bad).send().await.unwrap();
    check(&doc, &mut seen, "post", "/v1/events", r).await;

    // A reply with a file, so that messages carry markers and attachments.
    let raw = reply_with(&email, "ana@visitor.example", "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nThanks\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n\r\nfile\r\n--m--\r\n");
    app.inbound
        .deliver(&raw, &Envelope::default())
        .await
        .unwrap();
    let get = |p: String| c.get(url(&p)).bearer_auth(TOKEN).send();
    let conv = check(
        &doc,
        &mut seen,
        "get",
        "/v1/conversations/{id}",
        get("/v1/conversations/c1".into()).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/conversations/{id}",
        get("/v1/conversations/none".into()).await.unwrap(),
    )
    .await;
    let file = conv["messages"][2]["attachments"][0]["url"]
        .as_str()
        .unwrap();
    let file = file.rsplit('/').next().unwrap().to_string();
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/attachments/{id}",
        get(format!("/v1/attachments/{file}")).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/attachments/{id}",
        get("/v1/attachments/none".into()).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/contacts",
        get("/v1/contacts?q=ana".into()).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/contacts",
        get("/v1/contacts?status=gone".into()).await.unwrap(),
    )
    .await;

    // The outbox.
    let emails = check(
        &doc,
        &mut seen,
        "get",
        "/v1/emails",
        get("/v1/emails".into()).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/emails",
        get("/v1/emails?status=lost".into()).await.unwrap(),
    )
    .await;
    let id = emails["emails"][0]["id"].as_str().unwrap().to_string();
    let retry = |id: String| {
        c.post(url(&format!("/v1/emails/{id}/retry")))
            .bearer_auth(TOKEN)
            .send()
    };
    check(
        &doc,
        &mut seen,
        "post",
        "/v1/emails/{id}/retry",
        retry(id).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "post",
        "/v1/emails/{id}/retry",
        retry("none".into()).await.unwrap(),
    )
    .await;

    // Unsubscribe, suppressions, lifting, erasure.
    let link = email
        .unsubscribe_url()
        .replace("https://relay.example.net", &app.base);
    let path = "/v1/unsubscribe/{token}";
    check(
        &doc,
        &mut seen,
        "get",
        path,
        c.get(&link).send().await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "post",
        path,
        c.post(&link).send().await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/suppressions",
        get("/v1/suppressions".into()).await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "get",
        "/v1/suppressions",
        get("/v1/suppressions?reason=bored".into()).await.unwrap(),
    )
    .await;
    let lift = |a: &str| {
        c.delete(url(&format!("/v1/suppressions/{a}")))
            .bearer_auth(TOKEN)
            .send()
    };
    check(
        &doc,
        &mut seen,
        "delete",
        "/v1/suppressions/{address}",
        lift("ana@visitor.example").await.unwrap(),
    )
    .await;
    check(
        &doc,
        &mut seen,
        "delete",
        "/v1/suppressions/{address}",
        lift("ana@visitor.example").await.unwrap(),
    )
    .await;
    let erase = c
        .delete(url("/v1/visitors/v-c1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    check(&doc, &mut seen, "delete", "/v1/visitors/{id}", erase).await;
    widget_routes(&doc, &mut seen, &app).await;
    bridge_routes(&doc, &mut seen, &app).await;
    check(
        &doc,
        &mut seen,
        "get",
        "/healthz",
        c.get(url("/healthz")).send().await.unwrap(),
    )
    .await;

    // Every documented operation was called.
    let documented: BTreeSet<String> = (doc["paths"].as_object().unwrap().iter())
        .flat_map(|(route, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {route}"))
        })
        .collect();
    let missed: Vec<_> = documented.difference(&seen).collect();
    assert!(missed.is_empty(), "not called: {missed:?}");
}

/// The Chatwoot bridge: a webhook applied, ignored, refused unsigned, for a site without one.
async fn bridge_routes(doc: &Value, seen: &mut BTreeSet<String>, app: &TestApp) {
    let path = "/v1/bridges/chatwoot/{site}";
    let post = |site: &str, body: &Value, secret: Option<&str>| {
        let body = body.to_string();
        let t = app.clock.now().timestamp();
        let mut r = (app
            .client
            .post(format!("{}/v1/bridges/chatwoot/{site}", app.base)))
        .header("Content-Type", "application/json");
        if let Some(secret) = secret {
            let signature = replyrelay::chatwoot::sign(secret, t, body.as_bytes());
            r = r
                .header("X-Chatwoot-Signature", signature)
                .header("X-Chatwoot-Timestamp", t.to_string());
        }
        r.body(body).send()
    };
    let secret = Some("chatwoot-secret-0123456789");
    let message = json!({"event": "message_created", "id": 1, "content": "Hi",
        "message_type": "incoming", "private": false,
        "conversation": {"id": 77, "inbox_id": 1, "meta": {"sender": {"id": 5, "type": "contact"}}}});
    let note = json!({"event": "message_created", "id": 2, "content": "x", "private": true,
        "message_type": "outgoing", "conversation": {"id": 77}});
    for (site, body, secret) in [
        ("acme", &message, secret),
        ("acme", &note, secret),
        ("acme", &json!({"id": 3}), secret),
        ("acme", &message, None),
        ("other", &message, secret),
    ] {
        check(
            doc,
            seen,
            "post",
            path,
            post(site, body, secret).await.unwrap(),
        )
        .await;
    }
}

/// The widget's routes: a token minted, refused; a page's report applied and refused.
async fn widget_routes(doc: &Value, seen: &mut BTreeSet<String>, app: &TestApp) {
    let c = &app.client;
    let mint = |body: Value, token: Option<&str>| {
        let r = c.post(format!("{}/v1/widget-tokens", app.base)).json(&body);
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
        .send()
    };
    let path = "/v1/widget-tokens";
    let minted = mint(json!({"conversation": "c1"}), Some(TOKEN))
        .await
        .unwrap();
    let minted = check(doc, seen, "post", path, minted).await;
    let bad = mint(json!({"conversation": "c1", "ttl": -1}), Some(TOKEN));
    check(doc, seen, "post", path, bad.await.unwrap()).await;
    let anonymous = mint(json!({"conversation": "c1"}), None);
    check(doc, seen, "post", path, anonymous.await.unwrap()).await;

    let report = |body: Value, origin: &str| {
        c.post(format!("{}/v1/widget/events", app.base))
            .header("content-type", "text/plain")
            .header("origin", origin)
            .body(body.to_string())
            .send()
    };
    let token = minted["token"].as_str().unwrap();
    let path = "/v1/widget/events";
    let left = json!({"token": token, "conversation": "c1", "type": "presence", "state": "left"});
    for (body, origin) in [
        (left.clone(), "https://shop.example"),
        (json!({"token": token}), "https://shop.example"),
        (left.clone(), "https://evil.example"),
        (
            json!({"token": "w1.x.y", "conversation": "c1", "type": "presence", "state": "left"}),
            "https://shop.example",
        ),
    ] {
        check(doc, seen, "post", path, report(body, origin).await.unwrap()).await;
    }
    let script = c.get(format!("{}/v1/widget.js", app.base)).send();
    check(doc, seen, "get", "/v1/widget.js", script.await.unwrap()).await;
}
