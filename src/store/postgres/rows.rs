//! A batch's rows written as arrays: one statement of a few parameters (`UNNEST($1::bigint[],
//! …)`) whatever the number of rows.
//!
//! Why not the multi-row `VALUES` SQLite uses: bound with 20 parameters a row, such a statement
//! took PostgreSQL longer to bind than to run. A batch of 1,000 message events saving its 500 conversations as two 256-row
//! `VALUES` lists spent 5.4 ms binding and 3.1 ms executing; as one array statement, 0.2 ms
//! and 3.3 ms. Its 1,000 messages: 8.4 ms in four statements, 2.9 ms in one (PostgreSQL's
//! statement log, `log_min_duration_statement = 0`, the events row of `bench/run.sh`).

use crate::store::sql::{ms, opt_ms};
use crate::store::{Conversation, NewMessage, OutboxEmail};
use anyhow::Result;
use sqlx::{Postgres, Transaction};

type Txn = Transaction<'static, Postgres>;

/// Messages with the sequence numbers taken for them: `(conversation pk, seq, message)`.
pub async fn insert_messages(tx: &mut Txn, rows: &[(i64, i64, &NewMessage)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let attachments = (rows.iter())
        .map(|(_, _, m)| serde_json::to_string(&m.attachments))
        .collect::<serde_json::Result<Vec<String>>>()?;
    sqlx::query(
        "INSERT INTO messages (conversation_pk, seq, id, author, author_name, text, attachments,
                               source, at, trimmed)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bool[])",
    )
    .bind(column(rows, |r| r.0))
    .bind(column(rows, |r| r.1))
    .bind(column(rows, |r| r.2.id.as_str()))
    .bind(column(rows, |r| r.2.author.as_str()))
    .bind(column(rows, |r| r.2.author_name.as_deref()))
    .bind(column(rows, |r| r.2.text.as_str()))
    .bind(attachments)
    .bind(column(rows, |r| r.2.source.as_str()))
    .bind(column(rows, |r| ms(r.2.at)))
    .bind(column(rows, |r| r.2.trimmed))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Conversations written back whole (all but their identity and creation).
pub async fn save_conversations(tx: &mut Txn, cs: &[Conversation]) -> Result<()> {
    if cs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE conversations SET open = v.open, visitor_id = v.visitor_id,
             visitor_email = v.visitor_email, visitor_name = v.visitor_name,
             visitor_locale = v.visitor_locale, visitor_timezone = v.visitor_timezone,
             last_activity_at = v.last_activity_at, left_at = v.left_at,
             last_visitor_message_at = v.last_visitor_message_at,
             last_agent_message_at = v.last_agent_message_at, read_seq = v.read_seq,
             unanswered_emails = v.unanswered_emails, replied_by_email = v.replied_by_email,
             closed_at = v.closed_at, close_transcript_at = v.close_transcript_at,
             pending_since = v.pending_since, thread = v.thread, due_at = v.due_at,
             fell_due_at = v.fell_due_at, lease_until = NULL
         FROM UNNEST($1::bigint[], $2::bool[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                     $12::bigint[], $13::bigint[], $14::bool[], $15::bigint[], $16::bigint[],
                     $17::bigint[], $18::text[], $19::bigint[], $20::bigint[])
              AS v(pk, open, visitor_id, visitor_email, visitor_name, visitor_locale,
                   visitor_timezone, last_activity_at, left_at, last_visitor_message_at,
                   last_agent_message_at, read_seq, unanswered_emails, replied_by_email,
                   closed_at, close_transcript_at, pending_since, thread, due_at, fell_due_at)
         WHERE conversations.pk = v.pk",
    )
    .bind(column(cs, |c| c.pk))
    .bind(column(cs, |c| c.open))
    .bind(column(cs, |c| c.visitor.id.as_deref()))
    .bind(column(cs, |c| c.visitor.email.as_deref()))
    .bind(column(cs, |c| c.visitor.name.as_deref()))
    .bind(column(cs, |c| c.visitor.locale.as_deref()))
    .bind(column(cs, |c| c.visitor.timezone.as_deref()))
    .bind(column(cs, |c| opt_ms(c.last_activity_at)))
    .bind(column(cs, |c| opt_ms(c.left_at)))
    .bind(column(cs, |c| opt_ms(c.last_visitor_message_at)))
    .bind(column(cs, |c| opt_ms(c.last_agent_message_at)))
    .bind(column(cs, |c| c.read_seq))
    .bind(column(cs, |c| i64::from(c.unanswered_emails)))
    .bind(column(cs, |c| c.replied_by_email))
    .bind(column(cs, |c| opt_ms(c.closed_at)))
    .bind(column(cs, |c| opt_ms(c.close_transcript_at)))
    .bind(column(cs, |c| opt_ms(c.pending_since)))
    .bind(column(cs, |c| c.thread.join(" ")))
    .bind(column(cs, |c| opt_ms(c.due_at)))
    .bind(column(cs, |c| opt_ms(c.fell_due_at)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Only what composing changes: the schedule and the thread.
pub async fn save_schedules(tx: &mut Txn, cs: &[Conversation]) -> Result<()> {
    if cs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE conversations SET unanswered_emails = v.unanswered_emails,
             close_transcript_at = v.close_transcript_at, pending_since = v.pending_since,
             thread = v.thread, due_at = v.due_at, fell_due_at = v.fell_due_at,
             lease_until = NULL
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                     $6::bigint[], $7::bigint[])
              AS v(pk, unanswered_emails, close_transcript_at, pending_since, thread, due_at,
                   fell_due_at)
         WHERE conversations.pk = v.pk",
    )
    .bind(column(cs, |c| c.pk))
    .bind(column(cs, |c| i64::from(c.unanswered_emails)))
    .bind(column(cs, |c| opt_ms(c.close_transcript_at)))
    .bind(column(cs, |c| opt_ms(c.pending_since)))
    .bind(column(cs, |c| c.thread.join(" ")))
    .bind(column(cs, |c| opt_ms(c.due_at)))
    .bind(column(cs, |c| opt_ms(c.fell_due_at)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks messages as forwarded by an email: `(conversation pk, seq, email id)`.
pub async fn mark_forwarded(tx: &mut Txn, rows: &[(i64, i64, String)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE messages SET email_id = v.email_id
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS v(conversation_pk, seq, email_id)
         WHERE messages.conversation_pk = v.conversation_pk AND messages.seq = v.seq",
    )
    .bind(column(rows, |r| r.0))
    .bind(column(rows, |r| r.1))
    .bind(column(rows, |r| r.2.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// New emails and their bytes.
pub async fn insert_emails(tx: &mut Txn, emails: &[(OutboxEmail, Vec<u8>)]) -> Result<()> {
    if emails.is_empty() {
        return Ok(());
    }
    let ids = column(emails, |(e, _)| e.id.as_str());
    let created = column(emails, |(e, _)| ms(e.created_at));
    sqlx::query(
        "INSERT INTO emails (id, conversation_pk, conversation_id, site_id, message_id, mail_from,
                             rcpt_to, status, attempts, created_at, next_attempt_at)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[],
                              $11::bigint[])",
    )
    .bind(&ids)
    .bind(column(emails, |(e, _)| e.conversation_pk))
    .bind(column(emails, |(e, _)| e.conversation_id.as_str()))
    .bind(column(emails, |(e, _)| e.site_id.as_str()))
    .bind(column(emails, |(e, _)| e.message_id.as_str()))
    .bind(column(emails, |(e, _)| e.mail_from.as_str()))
    .bind(column(emails, |(e, _)| e.rcpt_to.as_str()))
    .bind(column(emails, |(e, _)| e.status.as_str()))
    .bind(column(emails, |(e, _)| i64::from(e.attempts)))
    .bind(&created)
    .bind(column(emails, |(e, _)| ms(e.next_attempt_at)))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO email_bodies (email_id, raw, created_at)
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[])",
    )
    .bind(&ids)
    .bind(column(emails, |(_, raw)| raw.as_slice()))
    .bind(&created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One array parameter: a value of each row, in the rows' order.
fn column<'r, R, T>(rows: &'r [R], value: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}
