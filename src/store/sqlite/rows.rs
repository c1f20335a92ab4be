//! A batch's rows written as multi-row `VALUES` lists, 256 rows a statement: SQLite has no
//! arrays to bind, and runs each statement on the caller's thread in microseconds, so a
//! statement per few hundred rows costs nothing a round trip would.

use super::lite;
use crate::store::sql::messages::bind_message;
use crate::store::sql::{ms, opt_ms, placeholders, ROWS_PER_STATEMENT};
use crate::store::{Conversation, NewMessage, OutboxEmail};
use anyhow::Result;

/// Messages with the sequence numbers taken for them: `(conversation pk, seq, message)`.
pub async fn insert_messages(tx: &mut lite::Tx, rows: &[(i64, i64, &NewMessage)]) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO messages (conversation_pk, seq, id, author, author_name, text,
                                   attachments, source, at, trimmed)
             VALUES {}",
            placeholders(chunk.len(), 10)
        );
        let mut query = lite::query(&sql);
        for (pk, seq, m) in chunk {
            query = bind_message!(query.bind(*pk).bind(*seq), m);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Conversations written back whole (all but their identity and creation).
pub async fn save_conversations(tx: &mut lite::Tx, cs: &[Conversation]) -> Result<()> {
    for chunk in cs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "WITH v(pk, open, visitor_id, visitor_email, visitor_name, visitor_locale,
                    visitor_timezone, last_activity_at, left_at, last_visitor_message_at,
                    last_agent_message_at, read_seq, unanswered_emails, replied_by_email,
                    closed_at, close_transcript_at, pending_since, thread, due_at, fell_due_at)
                  AS (VALUES {})
             UPDATE conversations SET open = v.open, visitor_id = v.visitor_id,
                 visitor_email = v.visitor_email, visitor_name = v.visitor_name,
                 visitor_locale = v.visitor_locale, visitor_timezone = v.visitor_timezone,
                 last_activity_at = v.last_activity_at, left_at = v.left_at,
                 last_visitor_message_at = v.last_visitor_message_at,
                 last_agent_message_at = v.last_agent_message_at,
                 read_seq = v.read_seq, unanswered_emails = v.unanswered_emails,
                 replied_by_email = v.replied_by_email, closed_at = v.closed_at,
                 close_transcript_at = v.close_transcript_at,
                 pending_since = v.pending_since, thread = v.thread,
                 due_at = v.due_at, fell_due_at = v.fell_due_at, lease_until = NULL
             FROM v WHERE conversations.pk = v.pk",
            placeholders(chunk.len(), 20)
        );
        let mut query = lite::query(&sql);
        for c in chunk {
            query = query
                .bind(c.pk)
                .bind(c.open)
                .bind(&c.visitor.id)
                .bind(&c.visitor.email)
                .bind(&c.visitor.name)
                .bind(&c.visitor.locale)
                .bind(&c.visitor.timezone)
                .bind(opt_ms(c.last_activity_at))
                .bind(opt_ms(c.left_at))
                .bind(opt_ms(c.last_visitor_message_at))
                .bind(opt_ms(c.last_agent_message_at))
                .bind(c.read_seq)
                .bind(c.unanswered_emails as i64)
                .bind(c.replied_by_email)
                .bind(opt_ms(c.closed_at))
                .bind(opt_ms(c.close_transcript_at))
                .bind(opt_ms(c.pending_since))
                .bind(c.thread.join(" "))
                .bind(opt_ms(c.due_at))
                .bind(opt_ms(c.fell_due_at));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Only what composing changes: the schedule and the thread.
pub async fn save_schedules(tx: &mut lite::Tx, cs: &[Conversation]) -> Result<()> {
    for chunk in cs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "WITH v(pk, unanswered_emails, close_transcript_at, pending_since, thread,
                    due_at, fell_due_at) AS (VALUES {})
             UPDATE conversations SET unanswered_emails = v.unanswered_emails,
                 close_transcript_at = v.close_transcript_at,
                 pending_since = v.pending_since, thread = v.thread, due_at = v.due_at,
                 fell_due_at = v.fell_due_at, lease_until = NULL
             FROM v WHERE conversations.pk = v.pk",
            placeholders(chunk.len(), 7)
        );
        let mut query = lite::query(&sql);
        for c in chunk {
            query = query
                .bind(c.pk)
                .bind(c.unanswered_emails as i64)
                .bind(opt_ms(c.close_transcript_at))
                .bind(opt_ms(c.pending_since))
                .bind(c.thread.join(" "))
                .bind(opt_ms(c.due_at))
                .bind(opt_ms(c.fell_due_at));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Marks messages as forwarded by an email: `(conversation pk, seq, email id)`.
pub async fn mark_forwarded(tx: &mut lite::Tx, rows: &[(i64, i64, String)]) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "WITH v(conversation_pk, seq, email_id) AS (VALUES {})
             UPDATE messages SET email_id = v.email_id FROM v
             WHERE messages.conversation_pk = v.conversation_pk AND messages.seq = v.seq",
            placeholders(chunk.len(), 3)
        );
        let mut query = lite::query(&sql);
        for (pk, seq, email_id) in chunk {
            query = query.bind(*pk).bind(*seq).bind(email_id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// New emails and their bytes.
pub async fn insert_emails(tx: &mut lite::Tx, emails: &[(OutboxEmail, Vec<u8>)]) -> Result<()> {
    for chunk in emails.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO emails (id, conversation_pk, conversation_id, site_id, message_id,
                                 mail_from, rcpt_to, status, attempts, created_at,
                                 next_attempt_at)
             VALUES {}",
            placeholders(chunk.len(), 11)
        );
        let mut query = lite::query(&sql);
        for (e, _) in chunk {
            query = query
                .bind(&e.id)
                .bind(e.conversation_pk)
                .bind(&e.conversation_id)
                .bind(&e.site_id)
                .bind(&e.message_id)
                .bind(&e.mail_from)
                .bind(&e.rcpt_to)
                .bind(e.status.as_str())
                .bind(e.attempts as i64)
                .bind(ms(e.created_at))
                .bind(ms(e.next_attempt_at));
        }
        query.execute(&mut **tx).await?;
        let sql = format!(
            "INSERT INTO email_bodies (email_id, raw, created_at) VALUES {}",
            placeholders(chunk.len(), 3)
        );
        let mut query = lite::query(&sql);
        for (e, raw) in chunk {
            query = query
                .bind(&e.id)
                .bind(raw.as_slice())
                .bind(ms(e.created_at));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
