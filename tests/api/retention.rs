//! `[retention]`: emails' bytes dropped once old (their rows and markers kept), closed quiet
//! conversations deleted with everything of them, by the worker in small batches.

use crate::helpers::*;
use replyrelay::clock::Clock;
use rstest::rstest;
use rstest_reuse::apply;
use serde_json::json;

#[apply(backends)]
#[tokio::test]
async fn what_is_kept_goes_when_its_retention_says(#[case] backend: Backend) {
    let top = "[retention]\nemail_bodies = \"30d\"\nconversations = \"365d\"\n";
    let Some(app) = spawn_custom(backend, top, "", Clock::manual(t0()), false).await else {
        return;
    };
    emailed(&app, "c1").await;
    app.events(vec![
        json!({"type": "closed", "conversation": "c1", "at": at(10.0)}),
    ])
    .await;
    let count = |sql: &'static str| {
        let app = &app;
        async move { app.stored::<(i64,)>(sql).await[0].0 }
    };
    assert_eq!(count("SELECT COUNT(*) FROM email_bodies").await, 1);
    let bodies_before = app.metric("replyrelay_expired_email_bodies_total").await;

    // A month on, a second visitor is emailed; the first email's bytes go, the new one's stay.
    let day = 24.0 * 60.0;
    app.at_minute(31.0 * day).await;
    app.events(vec![
        visitor("c9", Some("bo@visitor.example"), 31.0 * day),
        message("c9", "q9", "visitor", "Bo asks", 31.0 * day),
        message("c9", "a9", "agent", "Sam answers", 31.0 * day + 1.0),
        presence("c9", "left", 31.0 * day + 0.5),
    ])
    .await;
    app.at_minute(31.0 * day + 10.0).await;
    assert_eq!(count("SELECT COUNT(*) FROM emails").await, 2, "rows stay");
    assert_eq!(
        count("SELECT COUNT(*) FROM email_bodies").await,
        1,
        "only the new one's bytes"
    );
    let marker = &app.conversation("c1").await["messages"][1];
    assert_eq!(marker["forwarded"]["status"], "sent", "{marker}");
    assert!(app.metric("replyrelay_expired_email_bodies_total").await >= bodies_before + 1.0);

    // A year after it closed, c1 goes with everything of it; c9, active since, stays.
    let conversations_before = app.metric("replyrelay_expired_conversations_total").await;
    app.at_minute(366.0 * day).await;
    let gone = (app.client.get(format!("{}/v1/conversations/c1", app.base)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(app.conversation("c9").await["id"], "c9");
    assert_eq!(count("SELECT COUNT(*) FROM emails").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM messages").await, 2);
    assert!(
        app.metric("replyrelay_expired_conversations_total").await >= conversations_before + 1.0
    );
}
