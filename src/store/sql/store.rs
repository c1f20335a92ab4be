//! The [`Store`](crate::store::Store) methods that run outside a caller's transaction: claims
//! and outcomes of outbox emails and webhooks, reads for the API, the meta table.

/// `impl Store` for a backend's store type (see `sql_backend!`).
macro_rules! sql_store {
    ($store:ident, $tx:ident, $q:ident, $claim_lock:expr, $notify:expr) => {
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

            fn parallel_writes(&self) -> bool {
                <Self as Backend>::PARALLEL_WRITES
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
                // What sending needs of each, read in one statement per chunk of rows (the rows
                // just claimed give the site and address: no need to read them again).
                let mut read = std::collections::HashMap::with_capacity(emails.len());
                for chunk in emails.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        // The body looked up by its key for each email: a join let
                        // PostgreSQL read every stored body for each chunk, while the table
                        // grows faster than its statistics.
                        "WITH c(id, site_id, email) AS (VALUES {})
                         SELECT c.id, (SELECT b.raw FROM email_bodies b WHERE b.email_id = c.id),
                             (SELECT COUNT(*) FROM suppressions s
                              WHERE s.site_id = c.site_id AND s.email = c.email) AS suppressed,
                             (SELECT COUNT(*) FROM messages m WHERE m.email_id = c.id) AS forwarded,
                             (SELECT COUNT(*) FROM messages m
                              JOIN conversations cv ON cv.pk = m.conversation_pk
                              WHERE m.email_id = c.id AND m.seq > cv.read_seq
                                AND m.deleted = FALSE) AS unread
                         FROM c",
                        placeholders(chunk.len(), 3)
                    );
                    let mut query = $q::query(&sql);
                    for email in chunk {
                        query = query
                            .bind(&email.id)
                            .bind(&email.site_id)
                            .bind(email.rcpt_to.to_lowercase());
                    }
                    for row in query.fetch_all(&mut *tx).await? {
                        let id: String = row.try_get(0)?;
                        let Some(raw) = row.try_get::<Option<Vec<u8>>, _>(1)? else {
                            continue;
                        };
                        let counts: (i64, i64, i64) =
                            (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
                        read.insert(id, (raw, counts));
                    }
                }
                let mut claimed = Vec::with_capacity(emails.len());
                for email in emails {
                    let (raw, (suppressed, forwarded, unread)) = read
                        .remove(&email.id)
                        .ok_or_else(|| anyhow::anyhow!("email {} has no body", email.id))?;
                    claimed.push(Claimed {
                        raw,
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
                // One statement per chunk of outcomes, and the webhooks beside them. A group's
                // outcomes without webhooks are one statement: no transaction around it (on
                // PostgreSQL, BEGIN and COMMIT are two more round trips per group of sends).
                let alone = outcomes.len() <= ROWS_PER_STATEMENT
                    && outcomes.iter().all(|(_, _, w)| w.is_none());
                let (mut tx, _turn) = if alone {
                    (None, self.write_turn().await)
                } else {
                    let (tx, turn) = self.begin_write().await?;
                    (Some(tx), turn)
                };
                for chunk in outcomes.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "WITH v(id, status, sent_at, next_at, last_error) AS (VALUES {})
                         UPDATE emails SET status = v.status,
                             sent_at = COALESCE(v.sent_at, emails.sent_at),
                             next_attempt_at = COALESCE(v.next_at, emails.next_attempt_at),
                             last_error = v.last_error, lease_until = NULL
                         FROM v WHERE emails.id = v.id AND emails.status = 'pending'",
                        placeholders(chunk.len(), 5)
                    );
                    let mut query = $q::query(&sql);
                    for (id, outcome, _) in chunk {
                        let (status, sent_at, next, text) = match outcome {
                            EmailOutcome::Sent { at } => (EmailStatus::Sent, Some(ms(*at)), None, None),
                            EmailOutcome::Retry { next, error } => {
                                (EmailStatus::Pending, None, Some(ms(*next)), Some(error))
                            }
                            EmailOutcome::Failed { error } => {
                                (EmailStatus::Failed, None, None, Some(error))
                            }
                            EmailOutcome::Cancelled { reason } => {
                                (EmailStatus::Cancelled, None, None, Some(reason))
                            }
                        };
                        query = query
                            .bind(id)
                            .bind(status.as_str())
                            .bind(sent_at)
                            .bind(next)
                            .bind(text);
                    }
                    match &mut tx {
                        Some(tx) => query.execute(&mut **tx).await?,
                        None => query.execute(self.writes()).await?,
                    };
                }
                if let Some(mut tx) = tx {
                    for webhook in outcomes.iter().filter_map(|(_, _, w)| w.as_ref()) {
                        insert_webhook(&mut tx, webhook).await?;
                    }
                    tx.commit().await?;
                }
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
                status: WebhookStatus,
                next: Option<DateTime<Utc>>,
                error: Option<&str>,
            ) -> Result<()> {
                let _turn = self.write_turn().await;
                $q::query(
                    "UPDATE webhooks SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at),
                         last_error = $3, lease_until = NULL WHERE id = $4",
                )
                .bind(status.as_str())
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
                .fetch_optional(self.reads())
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
                .fetch_one(self.reads())
                .await?)
            }

            async fn next_wakeup(&self) -> Result<Option<DateTime<Utc>>> {
                // Two index look-ups; MIN over a partial index reads one entry.
                let due: Option<i64> =
                    $q::query_scalar("SELECT MIN(due_at) FROM conversations WHERE due_at IS NOT NULL")
                        .fetch_one(self.reads())
                        .await?;
                let retry: Option<i64> =
                    $q::query_scalar("SELECT MIN(next_attempt_at) FROM emails WHERE status = 'pending'")
                        .fetch_one(self.reads())
                        .await?;
                let webhook: Option<i64> =
                    $q::query_scalar("SELECT MIN(next_attempt_at) FROM webhooks WHERE status = 'pending'")
                        .fetch_one(self.reads())
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
                .fetch_optional(self.reads())
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
                .fetch_all(self.reads())
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

            async fn answered_emails(&self, pk: i64, message_ids: &[String]) -> Result<Vec<Vec<u8>>> {
                Ok($crate::store::sql::outbox::answered_emails_on!($q, self.reads(), pk, message_ids))
            }

            async fn meta(&self, key: &str) -> Result<Option<String>> {
                Ok($q::query_scalar("SELECT value FROM meta WHERE key = $1")
                    .bind(key)
                    .fetch_optional(self.reads())
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
                let pattern = $crate::store::sql::contains_pattern(q);
                let rows = $q::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS},
                         EXISTS (SELECT 1 FROM suppressions s
                                 WHERE s.site_id = c.site_id AND s.email = lower(c.visitor_email)) AS suppressed
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
                .fetch_all(self.reads())
                .await?;
                rows.iter()
                    .map(|r| Ok((conversation(r)?, r.try_get("suppressed")?)))
                    .collect()
            }
        }
    };
}

pub(crate) use sql_store;
