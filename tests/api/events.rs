//! `POST /v1/events`: errors that name the field, all-or-nothing batches, idempotent replays.

use crate::helpers::*;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::{json, Value};

async fn error_of(app: &TestApp, body: Value) -> Value {
    let r = app.post(body).await;
    assert_eq!(r.status(), 400);
    r.json::<Value>().await.unwrap()["error"].clone()
}

#[apply(backends)]
#[tokio::test]
async fn a_bad_event_gets_400_naming_the_field(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let cases = [
        (
            json!({"type": "message", "conversation": "c", "message": {"id": "m", "author": "boss", "text": "x"}}),
            "message.author",
        ),
        (
            json!({"type": "message", "conversation": "c", "message": {"id": "m", "author": "agent"}}),
            "message.text",
        ),
        (
            json!({"type": "visitor", "conversation": "c", "visitor": {"id": "v", "email": "not-an-address"}}),
            "visitor.email",
        ),
        (
            json!({"type": "presence", "conversation": "c", "state": "left", "at": "last tuesday"}),
            "at",
        ),
        (json!({"type": "agents", "online": -1}), "online"),
        (json!({"type": "teleport", "conversation": "c"}), "type"),
        (json!({"conversation": "c"}), "type"),
        (
            json!({"events": [{"type": "closed", "conversation": "c"}, {"type": "read", "conversation": "c"}]}),
            "events[1].message_id",
        ),
    ];
    for (body, field) in cases {
        let error = error_of(&app, body.clone()).await;
        assert_eq!(error["field"], field, "{body} → {error}");
        assert_eq!(error["code"], "invalid_event");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    let r = app
        .client
        .post(format!("{}/v1/events", app.base))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "body");
}

#[apply(backends)]
#[tokio::test]
async fn a_batch_is_all_or_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let error = error_of(
        &app,
        json!({"events": [
            visitor("c1", Some("ana@visitor.example"), 0.0),
            message("c1", "q1", "visitor", "Hi", 0.0),
            read("c1", "no-such-message", 0.0),
        ]}),
    )
    .await;
    assert_eq!(error["field"], "events[2].message_id");
    let r = app
        .client
        .get(format!("{}/v1/conversations/c1", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing of the refused batch was kept");
}

#[apply(backends)]
#[tokio::test]
async fn replays_with_the_same_id_are_ignored(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let mut event = message("c1", "q1", "visitor", "Hi", 0.0);
    event["id"] = "evt-1".into();
    let first: Value = app.post(event.clone()).await.json().await.unwrap();
    assert_eq!(first, json!({"applied": 1, "replayed": 0}));
    let again: Value = app
        .post(json!({"events": [event.clone(), event]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, json!({"applied": 0, "replayed": 2}));
    assert_eq!(
        app.conversation("c1").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_message_id_twice_in_one_batch_is_a_replay(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    // No event ids: the second copy is known for a replay by its message id alone.
    let answer: Value = app
        .post(json!({"events": [
            message("c1", "q1", "visitor", "Hi", 0.0),
            message("c1", "q1", "visitor", "Hi again, edited", 0.1),
        ]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"applied": 1, "replayed": 1}));
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"].as_array().unwrap().len(), 1);
    assert_eq!(conv["messages"][0]["text"], "Hi", "the first copy stands");
}

#[apply(backends)]
#[tokio::test]
async fn events_may_describe_the_past(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(60.0).await;
    app.events(vec![
        visitor("c1", None, 2.0),
        message("c1", "q1", "visitor", "Hi", 2.5),
    ])
    .await;
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][0]["at"], "2026-03-02T10:02:30+00:00");
    assert_eq!(
        conv["visitor"]["last_activity_at"],
        "2026-03-02T10:02:30+00:00"
    );
}

#[apply(backends)]
#[tokio::test]
async fn the_conversation_view_shows_visitor_and_messages(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.events(vec![
        json!({"type": "visitor", "conversation": "c1", "visitor": {
            "id": "v1", "email": "Ana@Visitor.EXAMPLE", "name": "Ana", "locale": "pt-BR", "timezone": "America/Sao_Paulo"}}),
        json!({"type": "message", "conversation": "c1", "message": {
            "id": "m1", "author": "agent", "name": "Sam", "text": "See attached",
            "attachments": [{"name": "price list.pdf", "url": "https://cdn.example/p.pdf", "size": 2048, "type": "application/pdf"}]}}),
    ])
    .await;
    let conv = app.conversation("c1").await;
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["visitor"]["email"], "Ana@visitor.example");
    assert_eq!(conv["visitor"]["locale"], "pt-BR");
    assert_eq!(conv["visitor"]["timezone"], "America/Sao_Paulo");
    assert_eq!(
        conv["messages"][0]["attachments"][0]["name"],
        "price list.pdf"
    );
    assert_eq!(conv["messages"][0]["source"], "chat");
    assert!(
        conv["next_email_due_at"].is_string(),
        "an identified visitor with an unread reply is owed an email"
    );
}

#[apply(backends)]
#[tokio::test]
async fn health(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
}

#[apply(backends)]
#[tokio::test]
async fn contacts_are_found_by_name_email_or_id(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.events(vec![
        json!({"type": "visitor", "conversation": "c1", "visitor": {"id": "v1", "email": "ana@visitor.example", "name": "Ana Souza"}}),
        json!({"type": "visitor", "conversation": "c2", "visitor": {"id": "v2", "email": "bo@other.example", "name": "Bo 100%"}}),
        json!({"type": "closed", "conversation": "c2"}),
    ])
    .await;
    let other = app.post_as(OTHER_TOKEN, json!({"type": "visitor", "conversation": "x", "visitor": {"id": "v9", "name": "Ana Other"}}))
        .await;
    assert_eq!(
        other.status(),
        200,
        "the other site's contact is there to be not found"
    );
    let find = |q: &str| {
        let url = format!("{}/v1/contacts?{q}", app.base);
        let client = app.client.clone();
        async move {
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["conversation"]["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        find("q=souza").await,
        vec!["c1"],
        "by name, case-insensitive, this site only"
    );
    assert_eq!(find("q=OTHER.example").await, vec!["c2"], "by email");
    assert!(
        !find("q=ana").await.contains(&"x".to_string()),
        "another site's visitor named Ana is not this site's contact"
    );
    assert_eq!(find("q=v1").await, vec!["c1"], "by visitor id");
    assert_eq!(find("q=100%25").await, vec!["c2"], "% is literal");
    assert_eq!(find("q=0%25").await, vec!["c2"]);
    assert_eq!(find("q=%25").await.len(), 1, "only the name with a % in it");
    assert_eq!(find("status=closed").await, vec!["c2"]);
    assert_eq!(find("status=open").await, vec!["c1"]);
    let r = app
        .client
        .get(format!("{}/v1/contacts?status=maybe", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// The oldest unread reply is followed in memory while a batch is applied (only reads and
/// deletions ask the database again). After random batches of messages, reads and deletions,
/// what is stored agrees with counting from the messages themselves.
#[apply(backends)]
#[tokio::test]
async fn the_oldest_unread_reply_stays_exact(#[case] backend: Backend) {
    use rand::{Rng, SeedableRng};
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(60.0).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut ids: Vec<Vec<String>> = vec![Vec::new(); 8];
    for batch in 0..40 {
        let mut events = Vec::new();
        for k in 0..10 {
            let c = rng.gen_range(0..8);
            let conv = format!("c{c}");
            let minute = rng.gen_range(0.0..59.0);
            match rng.gen_range(0..10) {
                0..=5 => {
                    let id = format!("m{batch}-{k}");
                    let author = ["agent", "bot", "visitor"][rng.gen_range(0..3)];
                    events.push(message(&conv, &id, author, "text", minute));
                    ids[c].push(id);
                }
                6..=7 if !ids[c].is_empty() => {
                    let id = &ids[c][rng.gen_range(0..ids[c].len())];
                    events.push(read(&conv, id, minute));
                }
                8 if !ids[c].is_empty() => {
                    let pick = rng.gen_range(0..ids[c].len());
                    let id = ids[c].remove(pick);
                    events.push(json!({"type": "message_deleted", "conversation": conv, "message_id": id, "at": at(minute)}));
                }
                _ => events.push(presence(&conv, "active", minute)),
            }
        }
        app.events(events).await;
    }
    let check = "SELECT c.id, c.pending_since,
                        (SELECT MIN(m.at) FROM messages m
                          WHERE m.conversation_pk = c.pk AND m.seq > c.read_seq
                            AND m.author IN ('agent', 'bot') AND m.deleted = FALSE
                            AND m.email_id IS NULL)
                   FROM conversations c";
    let rows: Vec<(String, Option<i64>, Option<i64>)> = app.stored(check).await;
    assert_eq!(rows.len(), 8);
    for (id, stored, counted) in rows {
        assert_eq!(stored, counted, "{id}");
    }
}

/// NUL and other control characters are valid JSON (`\u0000`) but no text a database or an
/// email should carry: chat text keeps only its line breaks and tabs, on both backends.
#[apply(backends)]
#[tokio::test]
async fn control_characters_in_chat_text_are_dropped(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        json!({"type": "message", "conversation": "c1", "at": at(0.5), "message": {"id": "m1", "author": "visitor", "name": "An\u{0}a", "text": "Hel\u{0}lo\u{7}\nthere\t!"}}),
    ])
    .await;
    let conv = app.conversation("c1").await;
    assert_eq!(conv["messages"][0]["text"], "Hello\nthere\t!");
    assert_eq!(conv["messages"][0]["name"], "An a");
    // Where nothing sensible can be made of it (a file name), it is refused by name.
    let e = error_of(&app, json!({"type": "message", "conversation": "c1", "message": {"id": "m2", "author": "agent", "text": "file", "attachments": [{"name": "a\u{0}.txt", "url": "https://files.example/a"}]}})).await;
    assert_eq!(e["field"], "message.attachments[0].name");
}
