//! Chatwoot's documented payloads (`tests/data/chatwoot`) read as events; its signature.

use super::*;
use crate::domain::AuthorKind;
use crate::events::{EventKind, PresenceState};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/chatwoot/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn events(name: &str, inboxes: &[u64]) -> Vec<EventKind> {
    match translate(&fixture(name), inboxes).unwrap() {
        Translated::Events(e) => e.into_iter().map(|e| e.kind).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn an_incoming_message_is_the_identified_visitors() {
    let got = events("message_created_incoming", &[]);
    let EventKind::Visitor {
        conversation,
        visitor,
    } = &got[0]
    else {
        panic!("{got:?}")
    };
    assert_eq!(conversation, "10");
    assert_eq!(visitor.id, "14");
    assert_eq!(
        visitor.email.as_ref().map(|e| e.as_str()),
        Some("ana@visitor.example")
    );
    let EventKind::Message { message, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (message.id.as_str(), message.author, message.text.as_str()),
        ("118", AuthorKind::Visitor, "Do you ship to Spain?")
    );
}

#[test]
fn an_outgoing_message_is_the_agents_under_their_name() {
    let got = events("message_created_outgoing", &[]);
    let EventKind::Message { message, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(message.author, AuthorKind::Agent);
    assert_eq!(message.name.as_deref(), Some("John"));
}

#[test]
fn what_no_visitor_reads_is_ignored_with_its_reason() {
    let table = [
        ("message_created_private", &[][..], "private note"),
        ("message_created_incoming", &[7][..], "inbox"),
    ];
    for (name, inboxes, why) in table {
        match translate(&fixture(name), inboxes).unwrap() {
            Translated::Ignored(reason) => assert!(reason.contains(why), "{name}: {reason}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let unknown = serde_json::json!({"event": "conversation_typing_on"});
    assert!(matches!(
        translate(&unknown, &[]).unwrap(),
        Translated::Ignored(_)
    ));
    let nameless = serde_json::json!({"id": 1});
    assert_eq!(translate(&nameless, &[]).unwrap_err().field, "event");
}

#[test]
fn the_address_typed_into_the_widgets_prompt_identifies_the_visitor() {
    // A template message (the prompt itself) is no reply: only the visitor is taken.
    let got = events("message_updated_submitted_email", &[1]);
    assert_eq!(got.len(), 1, "{got:?}");
    let EventKind::Visitor { visitor, .. } = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(
        visitor.email.as_ref().map(|e| e.as_str()),
        Some("ana@visitor.example")
    );
}

#[test]
fn resolved_closes_and_open_reopens() {
    let got = events("conversation_status_changed_resolved", &[]);
    assert!(matches!(&got[1], EventKind::Closed { conversation } if conversation == "10"));
    let mut open = fixture("conversation_status_changed_resolved");
    open["status"] = "open".into();
    let Translated::Events(got) = translate(&open, &[]).unwrap() else {
        panic!()
    };
    assert!(matches!(&got[1].kind, EventKind::Reopened { .. }));
}

#[test]
fn a_contact_update_and_the_widget_opening_are_read() {
    match translate(&fixture("contact_updated"), &[]).unwrap() {
        Translated::Contact(v) => {
            assert_eq!(v.id, "14");
            assert_eq!(v.name.as_deref(), Some("Ana Ruiz"));
        }
        other => panic!("{other:?}"),
    }
    let got = events("webwidget_triggered", &[]);
    assert!(matches!(
        &got[0],
        EventKind::Presence { conversation, state: PresenceState::Active } if conversation == "10"
    ));
    let EventKind::Browser { locale, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(locale.as_ref().map(|l| l.as_str()), Some("es-ES"));
}

#[test]
fn a_webhook_is_believed_only_with_its_secrets_signature() {
    let secret = "chatwoot-secret-0123456789";
    let body = br#"{"event":"message_created"}"#;
    let t = 1_700_000_000;
    let good = sign(secret, t, body);
    assert!(good.starts_with("sha256="));
    let ts = t.to_string();
    let table = [
        (Some(good.as_str()), Some(ts.as_str()), None, t + 10, Ok(())),
        (
            Some(good.as_str()),
            Some(ts.as_str()),
            None,
            t + 301,
            Err(Unverified::Stale(301)),
        ),
        (
            Some("sha256=00"),
            Some(ts.as_str()),
            None,
            t,
            Err(Unverified::Forged),
        ),
        (Some(good.as_str()), None, None, t, Err(Unverified::NoTime)),
        (None, None, None, t, Err(Unverified::Unsigned)),
        (None, None, Some(secret), t, Ok(())),
        (None, None, Some("guess"), t, Err(Unverified::Forged)),
    ];
    for (signature, timestamp, url_secret, now, want) in table {
        assert_eq!(
            verify(secret, signature, timestamp, url_secret, body, now),
            want,
            "{signature:?} {timestamp:?} {url_secret:?}"
        );
    }
    // The body signed is the body received: a changed byte is a forgery.
    assert_eq!(
        verify(secret, Some(&good), Some(&ts), None, b"{}", t),
        Err(Unverified::Forged)
    );
}

#[test]
fn the_answer_goes_to_a_numeric_conversations_messages() {
    assert_eq!(
        messages_url("https://cw.example", 3, "10").as_deref(),
        Some("https://cw.example/api/v1/accounts/3/conversations/10/messages")
    );
    assert_eq!(messages_url("https://cw.example", 3, "../x"), None);
    let a = answer("10", "m-1", "Yes please");
    assert_eq!(a["body"]["message_type"], "incoming");
    assert_eq!(a["body"]["private"], false);
}
