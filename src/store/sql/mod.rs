//! SQL shared by the backends, and the Store/Tx implementation built from it.
//!
//! The statements are written once, in the SQL that SQLite and PostgreSQL both speak (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`), and [`sql_backend!`] instantiates them for one
//! query module: sqlx for PostgreSQL, `lite` (the same calls over rusqlite) for SQLite. What
//! truly differs is a parameter of the macro: how a transaction begins, how a row is locked
//! (`FOR UPDATE` where the database has it), how a claim skips rows that another daemon holds
//! (`FOR UPDATE SKIP LOCKED`), and how other daemons are woken (`NOTIFY`).

pub mod conversations;
pub mod lifecycle;
pub mod messages;
pub mod outbox;
pub mod sites;
pub mod store;
pub mod suppressions;
pub mod webhooks;

use crate::domain::to_millis;
use chrono::{DateTime, Utc};

/// The columns of a [`super::Conversation`], in the order the mapping reads them.
pub const CONVERSATION_COLUMNS: &str = "pk, site_id, id, open, visitor_id, visitor_email, \
    visitor_name, visitor_locale, visitor_timezone, created_at, last_activity_at, left_at, \
    last_visitor_message_at, last_agent_message_at, read_seq, unanswered_emails, \
    replied_by_email, closed_at, close_transcript_at, pending_since, thread, due_at, fell_due_at";

pub fn ms(t: DateTime<Utc>) -> i64 {
    to_millis(t)
}

/// A `LIKE … ESCAPE '\'` pattern for lowercased text that contains `text` (lowercased too);
/// its own `%`, `_` and `\` are matched literally, as the caller typed them.
pub fn contains_pattern(text: &str) -> String {
    let escaped = (text.to_lowercase())
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `($1, $2), ($3, $4)`: the placeholders of `rows` rows of `cols` values, for a multi-row
/// `VALUES` both databases read. One statement for a batch instead of one per row: on
/// PostgreSQL each statement is a round trip (about 0.1 ms on loopback, more over a network).
pub fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, $first+1, …`: `n` numbered placeholders, for an `IN (…)` list.
pub fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row statement: PostgreSQL takes at most 65,535 parameters in one, SQLite
/// 32,766; 256 rows of up to 20 values stays far below both.
pub const ROWS_PER_STATEMENT: usize = 256;

pub fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_millis)
}

/// Implements [`super::Store`] for `$store` and every transaction trait (see `store/tx.rs`) for
/// `$tx`, a struct it defines, with the query module `$q`. `$store` provides the rest through
/// [`super::backend::Backend`]: transactions, where statements outside one run, migrations and
/// the wake-up of other daemons.
macro_rules! sql_backend {
    (
        store: $store:ident,
        tx: $tx:ident,
        // The query module: `sqlx` itself, or `lite`, its look-alike over rusqlite.
        q: $q:ident,
        // A transaction of that module.
        txn: $txn:ty,
        row: $row:ty,
        // Appended to a SELECT of one conversation inside a transaction.
        row_lock: $row_lock:expr,
        // Appended to the sub-select that picks the next item to claim.
        claim_lock: $claim_lock:expr,
        // A statement that wakes other daemons when run in a committed transaction.
        notify: $notify:expr,
        // A query of `$1` new message sequence numbers, taken for this transaction.
        reserve_seqs: $reserve_seqs:expr,
        // The module that writes a batch's rows (messages, conversations, emails): how many
        // rows one statement carries is the backend's choice (see each one's `rows.rs`).
        rows: $rows:ident $(,)?
    ) => {
        /// A transaction of this backend, with this process's write turn held until it ends
        /// (`None` for reads, and always on PostgreSQL, whose row locks order the writers).
        pub struct $tx {
            tx: $txn,
            _turn: WriteTurn,
        }

        fn time(row: &$row, col: &str) -> Result<Option<DateTime<Utc>>> {
            Ok(row.try_get::<Option<i64>, _>(col)?.map(from_millis))
        }

        fn conversation(row: &$row) -> Result<Conversation> {
            let thread: String = row.try_get("thread")?;
            Ok(Conversation {
                pk: row.try_get("pk")?,
                site_id: row.try_get("site_id")?,
                id: row.try_get("id")?,
                open: row.try_get("open")?,
                visitor: Visitor {
                    id: row.try_get("visitor_id")?,
                    email: row.try_get("visitor_email")?,
                    name: row.try_get("visitor_name")?,
                    locale: row.try_get("visitor_locale")?,
                    timezone: row.try_get("visitor_timezone")?,
                },
                created_at: from_millis(row.try_get("created_at")?),
                last_activity_at: time(row, "last_activity_at")?,
                left_at: time(row, "left_at")?,
                last_visitor_message_at: time(row, "last_visitor_message_at")?,
                last_agent_message_at: time(row, "last_agent_message_at")?,
                read_seq: row.try_get("read_seq")?,
                unanswered_emails: row.try_get::<i64, _>("unanswered_emails")? as u32,
                replied_by_email: row.try_get("replied_by_email")?,
                closed_at: time(row, "closed_at")?,
                close_transcript_at: time(row, "close_transcript_at")?,
                pending_since: time(row, "pending_since")?,
                thread: thread.split_whitespace().map(String::from).collect(),
                due_at: time(row, "due_at")?,
                fell_due_at: time(row, "fell_due_at")?,
            })
        }

        fn message(row: &$row) -> Result<Message> {
            let author: String = row.try_get("author")?;
            let attachments: String = row.try_get("attachments")?;
            Ok(Message {
                seq: row.try_get("seq")?,
                id: row.try_get("id")?,
                author: AuthorKind::parse(&author)
                    .ok_or_else(|| anyhow::anyhow!("unknown author kind {author}"))?,
                author_name: row.try_get("author_name")?,
                text: row.try_get("text")?,
                attachments: serde_json::from_str(&attachments)?,
                source: {
                    let source: String = row.try_get("source")?;
                    MessageSource::parse(&source)
                        .ok_or_else(|| anyhow::anyhow!("unknown message source {source}"))?
                },
                at: from_millis(row.try_get("at")?),
                trimmed: row.try_get("trimmed")?,
                deleted: row.try_get("deleted")?,
                email_id: row.try_get("email_id")?,
            })
        }

        fn outbox_email(row: &$row) -> Result<OutboxEmail> {
            Ok(OutboxEmail {
                id: row.try_get("id")?,
                conversation_pk: row.try_get("conversation_pk")?,
                conversation_id: row.try_get("conversation_id")?,
                site_id: row.try_get("site_id")?,
                message_id: row.try_get("message_id")?,
                mail_from: row.try_get("mail_from")?,
                rcpt_to: row.try_get("rcpt_to")?,
                status: EmailStatus::parse(&row.try_get::<String, _>("status")?),
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                created_at: from_millis(row.try_get("created_at")?),
                next_attempt_at: from_millis(row.try_get("next_attempt_at")?),
                sent_at: time(row, "sent_at")?,
                last_error: row.try_get("last_error")?,
            })
        }

        async fn insert_webhook(tx: &mut $txn, w: &NewWebhook) -> Result<()> {
            $q::query(
                "INSERT INTO webhooks (id, site_id, event, payload, created_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&w.id)
            .bind(&w.site_id)
            .bind(w.event.as_str())
            .bind(&w.payload)
            .bind(ms(w.at))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        $crate::store::sql::store::sql_store!($store, $tx, $q, $claim_lock, $notify);
        $crate::store::sql::conversations::sql_conversations!(
            $tx,
            $q,
            $row_lock,
            $claim_lock,
            $rows
        );
        $crate::store::sql::lifecycle::sql_lifecycle!($tx, $q, $row_lock, $claim_lock);
        $crate::store::sql::messages::sql_messages!(
            $tx,
            $q,
            $row_lock,
            $claim_lock,
            $reserve_seqs,
            $rows
        );
        $crate::store::sql::outbox::sql_outbox!($tx, $q, $row_lock, $claim_lock, $rows);
        $crate::store::sql::sites::sql_sites!($tx, $q, $row_lock, $claim_lock);
        $crate::store::sql::suppressions::sql_suppressions!($tx, $q, $row_lock, $claim_lock);
        $crate::store::sql::webhooks::sql_webhooks!($tx, $q, $row_lock, $claim_lock);

        #[async_trait]
        impl Tx for $tx {
            async fn notify_work(&mut self) -> Result<()> {
                if let Some(sql) = $notify {
                    $q::query(sql).execute(&mut *self.tx).await?;
                }
                Ok(())
            }

            async fn commit(self: Box<Self>) -> Result<()> {
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_backend;

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 1), "($1)");
    }

    #[test]
    fn numbered_lists_count_from_the_first() {
        assert_eq!(super::numbered(1, 3), "$1, $2, $3");
        assert_eq!(super::numbered(2, 1), "$2");
    }
}
