//! The outbox inside a transaction: add an email with its bytes, find one by Message-ID, and record what a reply or a bounce proves about it.

/// `impl OutboxTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_outbox {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr, $rows:ident) => {
        #[async_trait]
        impl OutboxTx for $tx {
            async fn list_emails(
                &mut self,
                site: &str,
                status: Option<EmailStatus>,
                conversation: Option<&str>,
                limit: u32,
            ) -> Result<Vec<OutboxEmail>> {
                let rows = $q::query(
                    "SELECT * FROM emails
                     WHERE site_id = $1 AND ($2 = '' OR status = $2)
                       AND ($3 = '' OR conversation_id = $3)
                     ORDER BY created_at DESC, id DESC
                     LIMIT $4",
                )
                .bind(site)
                .bind(status.map_or("", EmailStatus::as_str))
                .bind(conversation.unwrap_or_default())
                .bind(limit as i64)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(outbox_email).collect()
            }

            async fn retry_email(
                &mut self,
                site: &str,
                id: &str,
                now: DateTime<Utc>,
            ) -> Result<RetryOutcome> {
                let status: Option<String> = $q::query_scalar(&format!(
                    "SELECT status FROM emails WHERE site_id = $1 AND id = $2 {}",
                    $row_lock
                ))
                .bind(site)
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await?;
                let Some(status) = status else {
                    return Ok(RetryOutcome::NotFound);
                };
                if EmailStatus::parse(&status) == EmailStatus::Sent {
                    return Ok(RetryOutcome::AlreadySent);
                }
                let bytes: i64 = $q::query_scalar("SELECT COUNT(*) FROM email_bodies WHERE email_id = $1")
                    .bind(id)
                    .fetch_one(&mut *self.tx)
                    .await?;
                if bytes == 0 {
                    return Ok(RetryOutcome::BytesGone);
                }
                $q::query(
                    "UPDATE emails SET status = 'pending', attempts = 0, next_attempt_at = $2,
                         lease_until = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(ms(now))
                .execute(&mut *self.tx)
                .await?;
                Ok(RetryOutcome::Queued)
            }

            async fn insert_emails(&mut self, emails: &[(OutboxEmail, Vec<u8>)]) -> Result<()> {
                $rows::insert_emails(&mut self.tx, emails).await
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

            async fn email_by_message_id(&mut self, message_id: &str) -> Result<Option<OutboxEmail>> {
                let row = $q::query("SELECT * FROM emails WHERE message_id = $1")
                    .bind(message_id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(outbox_email).transpose()
            }

            async fn email_by_id(&mut self, id: &str) -> Result<Option<OutboxEmail>> {
                let row = $q::query("SELECT * FROM emails WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(outbox_email).transpose()
            }

            async fn email_by_mail_from(&mut self, mail_from: &str) -> Result<Option<OutboxEmail>> {
                let row = $q::query("SELECT * FROM emails WHERE mail_from = $1")
                    .bind(mail_from)
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

            async fn answered_emails(&mut self, pk: i64, message_ids: &[String]) -> Result<Vec<Vec<u8>>> {
                Ok($crate::store::sql::outbox::answered_emails_on!($q, &mut *self.tx, pk, message_ids))
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
        }
    };
}

pub(crate) use sql_outbox;

/// The bytes of the emails of conversation `pk` a reply answers (see
/// [`OutboxTx::answered_emails`](crate::store::OutboxTx::answered_emails)), read on `$exec`: a
/// transaction's connection, or the pool for a read outside one.
macro_rules! answered_emails_on {
    ($q:ident, $exec:expr, $pk:expr, $message_ids:expr) => {{
        let mut found: Vec<Vec<u8>> = Vec::new();
        for id in $message_ids {
            let raw: Option<Vec<u8>> = $q::query_scalar(
                "SELECT b.raw FROM emails e JOIN email_bodies b ON b.email_id = e.id
                 WHERE e.message_id = $1 AND e.conversation_pk = $2",
            )
            .bind(id)
            .bind($pk)
            .fetch_optional($exec)
            .await?;
            found.extend(raw);
        }
        if found.is_empty() {
            let newest: Option<Vec<u8>> = $q::query_scalar(
                "SELECT b.raw FROM emails e JOIN email_bodies b ON b.email_id = e.id
                 WHERE e.conversation_pk = $1 ORDER BY e.created_at DESC LIMIT 1",
            )
            .bind($pk)
            .fetch_optional($exec)
            .await?;
            found.extend(newest);
        }
        found
    }};
}
pub(crate) use answered_emails_on;
