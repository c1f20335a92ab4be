//! What the email holds under each mode, and how emails of one conversation thread.

use crate::helpers::*;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::{json, Value};

/// A conversation of 12 messages the visitor has read, then two new agent replies.
fn long_conversation() -> Vec<Value> {
    let mut events = vec![visitor("c1", Some("ana@visitor.example"), 0.0)];
    for i in 0..12 {
        let author = if i % 2 == 0 { "visitor" } else { "agent" };
        events.push(message(
            "c1",
            &format!("m{i}"),
            author,
            &format!("Message number {i}."),
            i as f64 * 0.1,
        ));
    }
    events.push(read("c1", "m11", 1.2));
    events.push(presence("c1", "left", 1.3));
    events.push(message("c1", "n1", "agent", "First new reply.", 2.0));
    events.push(message("c1", "n2", "agent", "Second new reply.", 2.1));
    events
}

#[apply(backends)]
#[tokio::test]
async fn unread_mode_shows_new_replies_with_some_context(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(2.1).await;
    app.events(long_conversation()).await;
    app.at_minute(7.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    let text = sent[0].text();
    // Three messages of context, then the divider, then the new replies.
    for shown in [
        "Message number 9.",
        "Message number 10.",
        "Message number 11.",
        "First new reply.",
        "Second new reply.",
    ] {
        assert!(text.contains(shown), "{shown} missing from\n{text}");
    }
    assert!(!text.contains("Message number 8."), "{text}");
    let divider = text
        .find("--- New ---")
        .expect("a divider before the new replies");
    assert!(divider > text.find("Message number 11.").unwrap());
    assert!(divider < text.find("First new reply.").unwrap());
    assert!(sent[0].html().contains(">New</p>"));
}

#[apply(backends)]
#[tokio::test]
async fn transcript_mode_sends_everything_every_time(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, r#"mode = "transcript""#).await else {
        return;
    };
    app.at_minute(2.1).await;
    app.events(long_conversation()).await;
    app.at_minute(7.0).await;
    app.events(vec![message("c1", "n3", "agent", "Third new reply.", 7.0)])
        .await;
    app.at_minute(9.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 2);
    for email in &sent {
        let text = email.text();
        assert!(text.contains("Message number 0."), "{text}");
        assert!(
            text.contains("Here is your conversation with Acme."),
            "{text}"
        );
    }
    assert!(sent[1].text().contains("First new reply."));
    assert!(sent[1].text().contains("Third new reply."));
}

#[apply(backends)]
#[tokio::test]
async fn off_mode_sends_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, r#"mode = "off""#).await else {
        return;
    };
    app.at_minute(2.1).await;
    app.events(long_conversation()).await;
    app.at_minute(24.0 * 60.0).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn transcript_on_close_sends_the_whole_conversation_when_closed(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "transcript_on_close = true").await else {
        return;
    };
    app.at_minute(2.0).await;
    let mut events = asked_and_answered("c1");
    events.push(read("c1", "a1", 1.5));
    events.push(json!({"type": "closed", "conversation": "c1", "at": at(2.0)}));
    app.events(events).await;
    app.at_minute(2.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1, "sent at once, though every reply was read");
    let text = sent[0].text();
    assert!(
        text.contains("Your conversation with Acme has been closed."),
        "{text}"
    );
    assert!(
        text.contains("Do you ship to Spain?") && text.contains("Yes, in 3 days."),
        "{text}"
    );
    assert_eq!(app.conversation("c1").await["status"], "closed");
    app.at_minute(600.0).await;
    assert_eq!(app.sent().len(), 1, "one transcript per close");
}

#[apply(backends)]
#[tokio::test]
async fn without_transcript_on_close_closing_sends_nothing_by_itself(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(2.0).await;
    let mut events = asked_and_answered("c1");
    events.push(read("c1", "a1", 1.5));
    events.push(json!({"type": "closed", "conversation": "c1", "at": at(2.0)}));
    app.events(events).await;
    app.at_minute(600.0).await;
    assert!(app.sent().is_empty());
}

#[apply(backends)]
#[tokio::test]
async fn later_emails_thread_under_the_first(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    one_due_email(&app, "c1").await;
    app.at_minute(6.0).await;
    app.events(vec![message(
        "c1",
        "a2",
        "agent",
        "Also: free returns.",
        6.0,
    )])
    .await;
    app.at_minute(8.0).await;
    app.events(vec![message("c1", "a3", "agent", "And gift wrap.", 8.0)])
        .await;
    app.at_minute(10.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 3);
    let ids: Vec<String> = sent
        .iter()
        .map(|e| e.header("Message-ID").unwrap())
        .collect();
    assert_eq!(sent[1].header("In-Reply-To").unwrap(), ids[0]);
    assert_eq!(sent[1].header("References").unwrap(), ids[0]);
    assert_eq!(sent[2].header("In-Reply-To").unwrap(), ids[1]);
    assert_eq!(
        sent[2].header("References").unwrap(),
        format!("{} {}", ids[0], ids[1])
    );
    let subjects: Vec<String> = sent.iter().map(|e| e.header("Subject").unwrap()).collect();
    assert!(
        subjects.iter().all(|s| s == &subjects[0]),
        "a stable subject: {subjects:?}"
    );
    // Every email forwards only what was not forwarded before: each reply's forwarding marker
    // names the one email that carried it as new.
    let conv = app.conversation("c1").await;
    let forwarded_by = |id: &str| -> String {
        let m = conv["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("message {id}"));
        m["forwarded"]["message_id"].as_str().unwrap().to_string()
    };
    assert_eq!(forwarded_by("a1"), ids[0]);
    assert_eq!(forwarded_by("a2"), ids[1]);
    assert_eq!(forwarded_by("a3"), ids[2]);
    assert!(sent[1].text().contains("Also: free returns."));
    assert!(sent[2].text().contains("And gift wrap."));
}

#[apply(backends)]
#[tokio::test]
async fn chat_text_cannot_inject_html_or_headers(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(vec![
        json!({"type": "visitor", "conversation": "c1", "at": at(0.0), "visitor": {
            "id": "v", "email": "ana@visitor.example", "name": "Ana <b>\r\nBcc: evil@x.example"}}),
        message("c1", "q1", "visitor", "<script>alert(1)</script>", 0.0),
        presence("c1", "left", 0.5),
        json!({"type": "message", "conversation": "c1", "at": at(1.0), "message": {
            "id": "a1", "author": "agent", "name": "Sam\r\nX-Evil: 1",
            "text": "<img src=x onerror=alert(1)> [click](javascript:alert(1))"}}),
    ])
    .await;
    app.at_minute(6.0).await;
    let sent = app.sent();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(
        email.rcpt_to,
        vec!["ana@visitor.example"],
        "no extra recipient"
    );
    assert!(email.header("Bcc").is_none() && email.header("X-Evil").is_none());
    let html = email.html();
    assert!(
        !html.contains("<script>") && !html.contains("<img") && !html.contains("javascript:"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");

    // An address cannot carry a header either: it is refused, by field, before anything.
    for bad in [
        "ana@visitor.example\r\nBcc: evil@x.example",
        "ana@visitor.example>, <evil@x.example",
    ] {
        let r = app
            .post(json!({"type": "visitor", "conversation": "c2", "visitor": {"id": "v2", "email": bad}}))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "visitor.email", "{bad}");
    }
}

#[apply(backends)]
#[tokio::test]
async fn a_site_can_bring_its_own_templates(#[case] backend: Backend) {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("email.txt"),
        "ACME TEXT\n{% for m in v.messages %}{{ m.author }}: {{ m.text }}\n{% endfor %}{{ v.unsubscribe_url }}\n",
    )
    .unwrap();
    std::fs::write(
        templates.path().join("email.html"),
        "<html><body><h1>ACME</h1>{% for m in v.messages %}<p>{{ m.text }}</p>{% endfor %}</body></html>",
    )
    .unwrap();
    let extra = format!("templates = \"{}\"", templates.path().display());
    let Some(app) = spawn_app(backend, &extra).await else {
        return;
    };
    app.at_minute(1.0).await;
    let mut events = asked_and_answered("c1");
    events[1] = message("c1", "q1", "visitor", "Is <b>this</b> escaped?", 0.0);
    events.push(presence("c1", "left", 0.5));
    app.events(events).await;
    app.at_minute(6.0).await;
    let email = &app.sent()[0];
    let text = email.text();
    assert!(
        text.starts_with("ACME TEXT\nYou: Is <b>this</b> escaped?\nSam: Yes, in 3 days."),
        "{text}"
    );
    let html = email.html();
    assert!(
        html.contains("<h1>ACME</h1>") && html.contains("Is &lt;b&gt;this&lt;"),
        "{html}"
    );
    assert!(
        !html.contains("<b>this"),
        "chat text is escaped in a site's own HTML too: {html}"
    );
}

#[apply(backends)]
#[tokio::test]
async fn a_template_that_fails_as_it_renders_silences_no_one(#[case] backend: Backend) {
    let templates = tempfile::tempdir().unwrap();
    // Compiles (so the config loads), fails when rendered: the filter does not exist.
    std::fs::write(
        templates.path().join("email.txt"),
        "{% if v.messages %}{{ v.intro | no_such_filter }}{% endif %}",
    )
    .unwrap();
    let extra = format!("templates = \"{}\"", templates.path().display());
    let Some(app) = spawn_app(backend, &extra).await else {
        return;
    };
    let events = answered_and_gone("c1");
    app.events(events).await;
    app.at_minute(6.0).await;
    app.at_minute(7.0).await;
    assert!(app.sent().is_empty(), "the email cannot be made");
    let suppressed: Vec<(String,)> = app.stored("SELECT email FROM suppressions").await;
    assert!(
        suppressed.is_empty(),
        "our template's fault is not the visitor's: {suppressed:?}"
    );
    assert!(app.hooks.of_type("visitor.suppressed").is_empty());
    let due: Vec<(Option<i64>,)> = app
        .stored("SELECT due_at FROM conversations WHERE id = 'c1'")
        .await;
    assert!(
        due[0].0.is_some(),
        "still owed, to be made once the template is fixed"
    );
}

/// A `system` message ("Sam joined the chat") is no reply: it alone makes no email, and in an
/// email it is shown under the system's name, never as the visitor's words or an agent's.
#[apply(backends)]
#[tokio::test]
async fn system_messages_are_context_not_replies(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend, "").await else {
        return;
    };
    app.at_minute(1.0).await;
    app.events(vec![
        visitor("c1", Some("ana@visitor.example"), 0.0),
        message("c1", "q1", "visitor", "Anyone there?", 0.0),
        message("c1", "s1", "system", "Sam joined the chat.", 0.5),
        presence("c1", "left", 0.5),
    ])
    .await;
    app.at_minute(60.0).await;
    assert!(
        app.sent().is_empty(),
        "a system message is nothing to tell the visitor"
    );
    app.events(vec![message("c1", "a1", "agent", "Hi, Sam here.", 60.0)])
        .await;
    app.at_minute(70.0).await;
    let text = app
        .sent()
        .pop()
        .expect("the agent's reply is emailed")
        .text();
    assert!(text.contains("Sam joined the chat."), "{text}");
    assert!(
        !text.contains("You · today, 10:00\u{202f}AM\nSam joined"),
        "{text}"
    );
    let system_line = text
        .lines()
        .take_while(|l| !l.contains("Sam joined the chat."))
        .last()
        .unwrap_or_default();
    assert!(
        !system_line.starts_with("You") && !system_line.starts_with("Sam ·"),
        "shown under the system's name: {system_line:?}\n{text}"
    );
}

/// `[site.strings.LANG]` replaces a built-in string for that language only: a Spanish visitor
/// gets the site's subject, an English one the built-in.
#[apply(backends)]
#[tokio::test]
async fn a_sites_own_strings_replace_the_built_in_ones(#[case] backend: Backend) {
    let extra = "[site.strings.es]\nsubject = \"Tu chat con Acme, por fin\"";
    let Some(app) = spawn_app(backend, extra).await else {
        return;
    };
    app.at_minute(1.0).await;
    let mut events = Vec::new();
    for (c, locale) in [("c1", "es-MX"), ("c2", "en")] {
        let mut who = visitor(c, Some(&format!("{c}@visitor.example")), 0.0);
        who["visitor"]["locale"] = locale.into();
        events.push(who);
        events.push(message(c, "q1", "visitor", "¿Envían a España?", 0.0));
        events.push(message(c, "a1", "agent", "Sí.", 1.0));
        events.push(presence(c, "left", 0.5));
    }
    app.events(events).await;
    app.at_minute(6.0).await;
    let subject_of = |to: &str| {
        (app.sent().into_iter())
            .find(|e| e.rcpt_to == [to])
            .and_then(|e| e.header("Subject"))
            .unwrap()
    };
    assert_eq!(
        subject_of("c1@visitor.example"),
        "Tu chat con Acme, por fin"
    );
    assert_eq!(
        subject_of("c2@visitor.example"),
        "Your conversation with Acme"
    );
}
