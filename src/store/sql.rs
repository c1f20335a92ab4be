//! SQL shared by the backends, and the Store/Tx implementation built from it.
//!
//! The statements are written once, in the SQL that SQLite and PostgreSQL both speak (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`), and [`sql_backend!`] instantiates them for one
//! query module: sqlx for PostgreSQL, `lite` (the same calls over rusqlite) for SQLite. What
//! truly differs is a parameter of the macro: how a transaction begins, how a row is locked
//! (`FOR UPDATE` where the database has it), how a claim skips rows that another daemon holds
//! (`FOR UPDATE SKIP LOCKED`), and how other daemons are woken (`NOTIFY`).

use crate::domain::to_millis;
use chrono::{DateTime, Utc};

/// The columns of a [`super::Conversation`], in the order the mapping reads them.
pub const CONVERSATION_COLUMNS: &str = "pk, site_id, id, open, visitor_id, visitor_email, \
    visitor_name, visitor_locale, visitor_timezone, created_at, last_activity_at, left_at, \
    last_visitor_message_at, last_agent_message_at, read_seq, unanswered_emails, \
    replied_by_email, closed_at, close_transcript_at, pending_since, thread, due_at";

pub fn ms(t: DateTime<Utc>) -> i64 {
    to_millis(t)
}

pub fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_millis)
}

/// Implements [`super::Store`] for `$store` and [`super::Tx`] for `$tx` with the query module `$q`.
///
/// `$store` must have a `pool` field (what `$q` runs statements on outside a transaction) and
/// the inherent methods `run_migrations`, `begin_write`, `begin_write_deferred`,
/// `begin_reading`, `write_turn`, `writes` (where a statement that writes runs) and
/// `listen_for_work`; `$tx` a `tx: $txn` field and a `_turn: WriteTurn` one.
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
        notify: $notify:expr $(,)?
    ) => {
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
                source: row.try_get("source")?,
                at: from_millis(row.try_get("at")?),
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

        async fn insert_webhook(
            tx: &mut $txn,
            w: &NewWebhook,
        ) -> Result<()> {
            $q::query(
                "INSERT INTO webhooks (id, site_id, event, payload, created_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&w.id)
            .bind(&w.site_id)
            .bind(&w.event)
            .bind(&w.payload)
            .bind(ms(w.at))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<()> {
                self.run_migrations().await
            }

            async fn begin(&self) -> Result<Box<dyn Tx>> {
                let (tx, turn) = self.begin_write().await?;
                Ok(Box::new($tx { tx, _turn: turn }))
            }

            async fn begin_deferred(&self) -> Result<Box<dyn Tx>> {
                let (tx, turn) = self.begin_write_deferred().await?;
                Ok(Box::new($tx { tx, _turn: turn }))
            }

            async fn begin_read(&self) -> Result<Box<dyn Tx>> {
                Ok(Box::new($tx {
                    tx: self.begin_reading().await?,
                    _turn: None,
                }))
            }

            fn listen(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
                self.listen_for_work(wake)
            }

            async fn claim_emails(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<Claimed>> {
                let (mut tx, _turn) = self.begin_write().await?;
                let rows = $q::query(&format!(
                    "UPDATE emails SET lease_until = $1, attempts = attempts + 1 WHERE id IN (
                         SELECT id FROM emails
                         WHERE status = 'pending' AND next_attempt_at <= $2
                           AND (lease_until IS NULL OR lease_until <= $2)
                         ORDER BY next_attempt_at LIMIT $3 {})
                     RETURNING *",
                    $claim_lock
                ))
                .bind(ms(lease_until))
                .bind(ms(now))
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await?;
                let mut emails: Vec<OutboxEmail> = rows.iter().map(outbox_email).collect::<Result<_>>()?;
                emails.sort_by_key(|e| e.next_attempt_at);
                let mut claimed = Vec::with_capacity(emails.len());
                for email in emails {
                    // The row just claimed gives the site and address: no need to read it again.
                    let row = $q::query(
                        "SELECT b.raw,
                             (SELECT COUNT(*) FROM suppressions s
                              WHERE s.site_id = $2 AND s.email = $3) AS suppressed,
                             (SELECT COUNT(*) FROM messages m WHERE m.email_id = $1) AS forwarded,
                             (SELECT COUNT(*) FROM messages m JOIN conversations c ON c.pk = m.conversation_pk
                              WHERE m.email_id = $1 AND m.seq > c.read_seq AND m.deleted = FALSE) AS unread
                         FROM email_bodies b WHERE b.email_id = $1",
                    )
                    .bind(&email.id)
                    .bind(&email.site_id)
                    .bind(&email.rcpt_to)
                    .fetch_one(&mut *tx)
                    .await?;
                    let (suppressed, forwarded, unread): (i64, i64, i64) =
                        (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
                    claimed.push(Claimed {
                        raw: row.try_get(0)?,
                        wanted: suppressed == 0 && (forwarded == 0 || unread > 0),
                        email,
                    });
                }
                tx.commit().await?;
                Ok(claimed)
            }

            async fn record_email_outcomes(
                &self,
                outcomes: &[(String, EmailOutcome, Option<NewWebhook>)],
            ) -> Result<()> {
                let (mut tx, _turn) = self.begin_write().await?;
                for (id, outcome, webhook) in outcomes {
                    let (status, sent_at, next, text) = match outcome {
                        EmailOutcome::Sent { at } => ("sent", Some(ms(*at)), None, None),
                        EmailOutcome::Retry { next, error } => {
                            ("pending", None, Some(ms(*next)), Some(error))
                        }
                        EmailOutcome::Failed { error } => ("failed", None, None, Some(error)),
                        EmailOutcome::Cancelled { reason } => {
                            ("cancelled", None, None, Some(reason))
                        }
                    };
                    $q::query(
                        "UPDATE emails SET status = $1, sent_at = COALESCE($2, sent_at),
                             next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4,
                             lease_until = NULL
                         WHERE id = $5 AND status = 'pending'",
                    )
                    .bind(status)
                    .bind(sent_at)
                    .bind(next)
                    .bind(text)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(w) = webhook {
                        insert_webhook(&mut tx, w).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_webhook(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> Result<Option<Webhook>> {
                let _turn = self.write_turn().await;
                let row = $q::query(&format!(
                    "UPDATE webhooks SET lease_until = $1, attempts = attempts + 1 WHERE id = (
                         SELECT id FROM webhooks
                         WHERE status = 'pending' AND next_attempt_at <= $2
                           AND (lease_until IS NULL OR lease_until <= $2)
                         ORDER BY next_attempt_at LIMIT 1 {})
                     RETURNING id, site_id, event, payload, attempts, created_at",
                    $claim_lock
                ))
                .bind(ms(lease_until))
                .bind(ms(now))
                .fetch_optional(self.writes())
                .await?;
                row.map(|r| -> Result<Webhook> {
                    Ok(Webhook {
                        id: r.try_get("id")?,
                        site_id: r.try_get("site_id")?,
                        event: r.try_get("event")?,
                        payload: r.try_get("payload")?,
                        attempts: r.try_get::<i64, _>("attempts")? as u32,
                        created_at: from_millis(r.try_get("created_at")?),
                    })
                })
                .transpose()
            }

            async fn record_webhook_outcome(
                &self,
                id: &str,
                status: &str,
                next: Option<DateTime<Utc>>,
                error: Option<&str>,
            ) -> Result<()> {
                let _turn = self.write_turn().await;
                $q::query(
                    "UPDATE webhooks SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at),
                         last_error = $3, lease_until = NULL WHERE id = $4",
                )
                .bind(status)
                .bind(opt_ms(next))
                .bind(error)
                .bind(id)
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn attachment(&self, site: &str, id: &str) -> Result<Option<StoredAttachment>> {
                let row = $q::query(
                    "SELECT name, content_type, data FROM attachments WHERE site_id = $1 AND id = $2",
                )
                .bind(site)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| -> Result<StoredAttachment> {
                    Ok(StoredAttachment {
                        name: r.try_get("name")?,
                        content_type: r.try_get("content_type")?,
                        data: r.try_get("data")?,
                    })
                })
                .transpose()
            }

            async fn due_backlog(&self, now: DateTime<Utc>) -> Result<i64> {
                Ok($q::query_scalar(
                    "SELECT COUNT(*) FROM conversations WHERE due_at IS NOT NULL AND due_at <= $1",
                )
                .bind(ms(now))
                .fetch_one(&self.pool)
                .await?)
            }

            async fn next_wakeup(&self) -> Result<Option<DateTime<Utc>>> {
                // Two index look-ups; MIN over a partial index reads one entry.
                let due: Option<i64> =
                    $q::query_scalar("SELECT MIN(due_at) FROM conversations WHERE due_at IS NOT NULL")
                        .fetch_one(&self.pool)
                        .await?;
                let retry: Option<i64> =
                    $q::query_scalar("SELECT MIN(next_attempt_at) FROM emails WHERE status = 'pending'")
                        .fetch_one(&self.pool)
                        .await?;
                let webhook: Option<i64> =
                    $q::query_scalar("SELECT MIN(next_attempt_at) FROM webhooks WHERE status = 'pending'")
                        .fetch_one(&self.pool)
                        .await?;
                Ok([due, retry, webhook].into_iter().flatten().min().map(from_millis))
            }

            async fn conversation_view(
                &self,
                site: &str,
                id: &str,
            ) -> Result<Option<(Conversation, Vec<MarkedMessage>)>> {
                let Some(row) = $q::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE site_id = $1 AND id = $2"
                ))
                .bind(site)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let conv = conversation(&row)?;
                let rows = $q::query(
                    "SELECT m.*, e.rcpt_to AS e_to, e.created_at AS e_at, e.message_id AS e_message_id,
                            e.status AS e_status, e.last_error AS e_error
                     FROM messages m LEFT JOIN emails e ON e.id = m.email_id
                     WHERE m.conversation_pk = $1 ORDER BY m.seq",
                )
                .bind(conv.pk)
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let message = message(r)?;
                    let marker = match message.email_id {
                        Some(_) => Some(Marker {
                            to: r.try_get("e_to")?,
                            at: from_millis(r.try_get("e_at")?),
                            message_id: r.try_get("e_message_id")?,
                            status: EmailStatus::parse(&r.try_get::<String, _>("e_status")?),
                            error: r.try_get("e_error")?,
                        }),
                        None => None,
                    };
                    out.push(MarkedMessage { message, marker });
                }
                Ok(Some((conv, out)))
            }

            async fn meta(&self, key: &str) -> Result<Option<String>> {
                Ok($q::query_scalar("SELECT value FROM meta WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn meta_init(&self, key: &str, value: &str) -> Result<String> {
                let _turn = self.write_turn().await;
                $q::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(self.writes())
                    .await?;
                Ok(self.meta(key).await?.expect("just stored"))
            }

            async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
                let _turn = self.write_turn().await;
                $q::query(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn find_contacts(
                &self,
                site: &str,
                q: &str,
                open: Option<bool>,
                limit: u32,
            ) -> Result<Vec<(Conversation, bool)>> {
                // LIKE wildcards typed by the caller are matched literally.
                let pattern = format!(
                    "%{}%",
                    q.to_lowercase()
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                let rows = $q::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS},
                         EXISTS (SELECT 1 FROM suppressions s
                                 WHERE s.site_id = c.site_id AND s.email = c.visitor_email) AS suppressed
                     FROM conversations c
                     WHERE site_id = $1
                       AND ($2 = '%%' OR id = $3
                            OR lower(visitor_id) LIKE $2 ESCAPE '\\'
                            OR lower(visitor_email) LIKE $2 ESCAPE '\\'
                            OR lower(visitor_name) LIKE $2 ESCAPE '\\')
                       AND ($4 IS NULL OR open = $4)
                     ORDER BY created_at DESC, pk DESC
                     LIMIT $5"
                ))
                .bind(site)
                .bind(&pattern)
                .bind(q)
                .bind(open)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((conversation(r)?, r.try_get("suppressed")?)))
                    .collect()
            }
        }


        #[async_trait]
        impl Tx for $tx {
            async fn event_seen(&mut self, site: &str, event_id: &str, at: DateTime<Utc>) -> Result<bool> {
                let inserted = $q::query(
                    "INSERT INTO processed_events (site_id, event_id, at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(site)
                .bind(event_id)
                .bind(ms(at))
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
                Ok(inserted == 0)
            }

            async fn conversations(&mut self, site: &str, ids: &[&str]) -> Result<Vec<Conversation>> {
                let mut found = Vec::with_capacity(ids.len());
                // Bounded lists: SQLite and PostgreSQL both cap a statement's parameters.
                for chunk in ids.chunks(500) {
                    let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT {CONVERSATION_COLUMNS} FROM conversations
                         WHERE site_id = $1 AND id IN ({}) ORDER BY pk {}",
                        list.join(", "),
                        $row_lock
                    );
                    let mut query = $q::query(&sql).bind(site);
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        found.push(conversation(&row)?);
                    }
                }
                Ok(found)
            }

            async fn claim_due(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Conversation>> {
                // `lease_until` is only checked: releases before this one leased conversations
                // in a transaction of their own, and a lease left by one of them is honoured.
                let rows = $q::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations
                     WHERE due_at IS NOT NULL AND due_at <= $1
                       AND (lease_until IS NULL OR lease_until <= $1)
                     ORDER BY due_at LIMIT $2 {}",
                    $claim_lock
                ))
                .bind(ms(now))
                .bind(limit as i64)
                .fetch_all(&mut *self.tx)
                .await?;
                let mut claimed: Vec<Conversation> =
                    rows.iter().map(conversation).collect::<Result<_>>()?;
                // Equal due times in a stable order.
                claimed.sort_by_key(|c| (c.due_at, c.pk));
                Ok(claimed)
            }

            async fn conversation_by_pk(&mut self, pk: i64) -> Result<Option<Conversation>> {
                let row = $q::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE pk = $1 {}",
                    $row_lock
                ))
                .bind(pk)
                .fetch_optional(&mut *self.tx)
                .await?;
                row.as_ref().map(conversation).transpose()
            }

            async fn create_conversation(
                &mut self,
                site: &str,
                id: &str,
                at: DateTime<Utc>,
            ) -> Result<Conversation> {
                let row = $q::query(&format!(
                    // Two daemons starting the same conversation at once: the second gets the
                    // first's row (locked, on PostgreSQL) instead of a unique-key error.
                    "INSERT INTO conversations (site_id, id, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (site_id, id) DO UPDATE SET site_id = excluded.site_id
                     RETURNING {CONVERSATION_COLUMNS}"
                ))
                .bind(site)
                .bind(id)
                .bind(ms(at))
                .fetch_one(&mut *self.tx)
                .await?;
                conversation(&row)
            }

            async fn save_conversation(&mut self, c: &Conversation) -> Result<()> {
                $q::query(
                    "UPDATE conversations SET open = $1, visitor_id = $2, visitor_email = $3,
                         visitor_name = $4, visitor_locale = $5, visitor_timezone = $6,
                         last_activity_at = $7, left_at = $8, last_visitor_message_at = $9,
                         last_agent_message_at = $10, read_seq = $11, unanswered_emails = $12,
                         replied_by_email = $13, closed_at = $14, close_transcript_at = $15,
                         pending_since = $16, thread = $17, due_at = $18, lease_until = NULL
                     WHERE pk = $19",
                )
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
                .bind(c.pk)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn save_schedule(&mut self, c: &Conversation) -> Result<()> {
                $q::query(
                    "UPDATE conversations SET unanswered_emails = $1, close_transcript_at = $2,
                         pending_since = $3, thread = $4, due_at = $5, lease_until = NULL
                     WHERE pk = $6",
                )
                .bind(c.unanswered_emails as i64)
                .bind(opt_ms(c.close_transcript_at))
                .bind(opt_ms(c.pending_since))
                .bind(c.thread.join(" "))
                .bind(opt_ms(c.due_at))
                .bind(c.pk)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_message(&mut self, pk: i64, m: &NewMessage) -> Result<Option<i64>> {
                let row = $q::query(
                    "INSERT INTO messages (conversation_pk, id, author, author_name, text, attachments,
                                           source, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (conversation_pk, id) DO NOTHING
                     RETURNING seq",
                )
                .bind(pk)
                .bind(&m.id)
                .bind(m.author.as_str())
                .bind(&m.author_name)
                .bind(&m.text)
                .bind(serde_json::to_string(&m.attachments)?)
                .bind(m.source)
                .bind(ms(m.at))
                .fetch_optional(&mut *self.tx)
                .await?;
                Ok(row.map(|r| r.get(0)))
            }

            async fn message_seq(&mut self, pk: i64, message_id: &str) -> Result<Option<i64>> {
                Ok(
                    $q::query_scalar("SELECT seq FROM messages WHERE conversation_pk = $1 AND id = $2")
                        .bind(pk)
                        .bind(message_id)
                        .fetch_optional(&mut *self.tx)
                        .await?,
                )
            }

            async fn delete_message(&mut self, pk: i64, message_id: &str) -> Result<bool> {
                let n = $q::query("UPDATE messages SET deleted = TRUE WHERE conversation_pk = $1 AND id = $2")
                    .bind(pk)
                    .bind(message_id)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn messages(&mut self, pk: i64) -> Result<Vec<Message>> {
                let rows = $q::query("SELECT * FROM messages WHERE conversation_pk = $1 ORDER BY seq")
                    .bind(pk)
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(message).collect()
            }

            async fn pending_since(&mut self, pk: i64, read_seq: i64) -> Result<Option<DateTime<Utc>>> {
                let at: Option<i64> = $q::query_scalar(
                    "SELECT MIN(at) FROM messages
                     WHERE conversation_pk = $1 AND seq > $2 AND author IN ('agent', 'bot')
                       AND deleted = FALSE AND email_id IS NULL",
                )
                .bind(pk)
                .bind(read_seq)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(at.map(from_millis))
            }

            async fn site_state(&mut self, site: &str) -> Result<SiteState> {
                let row = $q::query(
                    "SELECT agents_online, agents_offline_since FROM site_state WHERE site_id = $1",
                )
                .bind(site)
                .fetch_optional(&mut *self.tx)
                .await?;
                Ok(match row {
                    Some(r) => SiteState {
                        agents_online: r.try_get::<Option<i64>, _>(0)?.map(|n| n as u32),
                        agents_offline_since: time(&r, "agents_offline_since")?,
                    },
                    None => SiteState::default(),
                })
            }

            async fn save_site_state(&mut self, site: &str, s: &SiteState) -> Result<()> {
                $q::query(
                    "INSERT INTO site_state (site_id, agents_online, agents_offline_since) VALUES ($1, $2, $3)
                     ON CONFLICT (site_id) DO UPDATE SET agents_online = excluded.agents_online,
                         agents_offline_since = excluded.agents_offline_since",
                )
                .bind(site)
                .bind(s.agents_online.map(|n| n as i64))
                .bind(opt_ms(s.agents_offline_since))
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn owing_conversations(&mut self, site: &str) -> Result<Vec<i64>> {
                Ok($q::query_scalar(
                    "SELECT pk FROM conversations WHERE site_id = $1
                       AND (pending_since IS NOT NULL OR close_transcript_at IS NOT NULL)",
                )
                .bind(site)
                .fetch_all(&mut *self.tx)
                .await?)
            }

            async fn conversations_of(&mut self, site: &str, email: &str) -> Result<Vec<i64>> {
                Ok($q::query_scalar(
                    "SELECT pk FROM conversations WHERE site_id = $1 AND visitor_email = $2",
                )
                .bind(site)
                .bind(email)
                .fetch_all(&mut *self.tx)
                .await?)
            }

            async fn is_suppressed(&mut self, site: &str, email: &str) -> Result<bool> {
                let n: i64 =
                    $q::query_scalar("SELECT COUNT(*) FROM suppressions WHERE site_id = $1 AND email = $2")
                        .bind(site)
                        .bind(email)
                        .fetch_one(&mut *self.tx)
                        .await?;
                Ok(n > 0)
            }

            async fn suppress(
                &mut self,
                site: &str,
                email: &str,
                reason: &str,
                at: DateTime<Utc>,
            ) -> Result<()> {
                $q::query(
                    "INSERT INTO suppressions (site_id, email, reason, at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(site)
                .bind(email)
                .bind(reason)
                .bind(ms(at))
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_email(&mut self, e: &OutboxEmail, raw: &[u8]) -> Result<()> {
                $q::query(
                    "INSERT INTO emails (id, conversation_pk, conversation_id, site_id, message_id,
                                         mail_from, rcpt_to, status, attempts, created_at,
                                         next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
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
                .bind(ms(e.next_attempt_at))
                .execute(&mut *self.tx)
                .await?;
                $q::query("INSERT INTO email_bodies (email_id, raw) VALUES ($1, $2)")
                    .bind(&e.id)
                    .bind(raw)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn mark_forwarded(&mut self, pk: i64, seqs: &[i64], email_id: &str) -> Result<()> {
                for seq in seqs {
                    $q::query("UPDATE messages SET email_id = $1 WHERE conversation_pk = $2 AND seq = $3")
                        .bind(email_id)
                        .bind(pk)
                        .bind(seq)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(())
            }

            async fn confirm_delivered(
                &mut self,
                pk: i64,
                message_ids: &[String],
                at: DateTime<Utc>,
            ) -> Result<Vec<(OutboxEmail, Vec<String>)>> {
                let mut confirmed = Vec::new();
                for message_id in message_ids {
                    let row = $q::query(
                        "UPDATE emails SET status = 'sent', sent_at = $1, last_error = NULL,
                             lease_until = NULL
                         WHERE conversation_pk = $2 AND message_id = $3 AND status = 'pending'
                         RETURNING *",
                    )
                    .bind(ms(at))
                    .bind(pk)
                    .bind(message_id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                    let Some(email) = row.as_ref().map(outbox_email).transpose()? else {
                        continue;
                    };
                    let messages = self.forwarded_messages(&email.id).await?;
                    confirmed.push((email, messages));
                }
                Ok(confirmed)
            }

            async fn enqueue_webhook(&mut self, w: &NewWebhook) -> Result<()> {
                insert_webhook(&mut self.tx, w).await
            }

            async fn insert_attachment(&mut self, a: &NewAttachment) -> Result<()> {
                $q::query(
                    "INSERT INTO attachments (id, site_id, conversation_pk, name, content_type, size,
                                              data, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&a.id)
                .bind(&a.site_id)
                .bind(a.conversation_pk)
                .bind(&a.name)
                .bind(&a.content_type)
                .bind(a.data.len() as i64)
                .bind(&a.data)
                .bind(ms(a.at))
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn email_by_message_id(&mut self, message_id: &str) -> Result<Option<OutboxEmail>> {
                let row = $q::query("SELECT * FROM emails WHERE message_id = $1")
                    .bind(message_id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(outbox_email).transpose()
            }

            async fn forwarded_messages(&mut self, email_id: &str) -> Result<Vec<String>> {
                Ok(
                    $q::query_scalar("SELECT id FROM messages WHERE email_id = $1 ORDER BY seq")
                        .bind(email_id)
                        .fetch_all(&mut *self.tx)
                        .await?,
                )
            }

            async fn last_email_at(&mut self, pk: i64) -> Result<Option<DateTime<Utc>>> {
                let at: Option<i64> =
                    $q::query_scalar("SELECT MAX(created_at) FROM emails WHERE conversation_pk = $1")
                        .bind(pk)
                        .fetch_one(&mut *self.tx)
                        .await?;
                Ok(at.map(from_millis))
            }

            async fn set_email_failed(&mut self, id: &str, error: &str) -> Result<()> {
                $q::query(
                    "UPDATE emails SET status = 'failed', last_error = $1, lease_until = NULL WHERE id = $2",
                )
                .bind(error)
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

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
