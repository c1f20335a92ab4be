//! Conversations: read one or many (locked where the database locks rows), create, save whole or only the schedule, and find those a site change touches.

/// `impl ConversationsTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_conversations {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr, $rows:ident) => {
        impl $tx {
            /// Conversations `pks` that are stored, locked in `pk` order, one statement per few
            /// hundred; each with when its last email was made where `with_last_email` (else
            /// `None`).
            async fn conversations_in(
                &mut self,
                pks: &[i64],
                with_last_email: bool,
            ) -> Result<Vec<(Conversation, Option<DateTime<Utc>>)>> {
                // The emails' index on (conversation_pk, created_at) answers the maximum.
                let last = if with_last_email {
                    ", (SELECT MAX(e.created_at) FROM emails e
                        WHERE e.conversation_pk = conversations.pk) AS last_email_at"
                } else {
                    ""
                };
                let mut found = Vec::with_capacity(pks.len());
                for chunk in pks.chunks(ROWS_PER_STATEMENT) {
                    let list = numbered(1, chunk.len());
                    let sql = format!(
                        "SELECT {CONVERSATION_COLUMNS}{last} FROM conversations
                         WHERE pk IN ({}) ORDER BY pk {}",
                        list, $row_lock
                    );
                    let mut query = $q::query(&sql);
                    for pk in chunk {
                        query = query.bind(*pk);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        let at = if with_last_email {
                            time(&row, "last_email_at")?
                        } else {
                            None
                        };
                        found.push((conversation(&row)?, at));
                    }
                }
                Ok(found)
            }
        }

        #[async_trait]
        impl ConversationsTx for $tx {
            async fn conversations(
                &mut self,
                site: &str,
                ids: &[&str],
            ) -> Result<Vec<Conversation>> {
                let mut found = Vec::with_capacity(ids.len());
                // Bounded lists: SQLite and PostgreSQL both cap a statement's parameters.
                for chunk in ids.chunks(500) {
                    let list = numbered(2, chunk.len());
                    let sql = format!(
                        "SELECT {CONVERSATION_COLUMNS} FROM conversations
                         WHERE site_id = $1 AND id IN ({}) ORDER BY pk {}",
                        list, $row_lock
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

            async fn claim_due(
                &mut self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<Conversation>> {
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

            async fn conversations_by_pks(&mut self, pks: &[i64]) -> Result<Vec<Conversation>> {
                let found = self.conversations_in(pks, false).await?;
                Ok(found.into_iter().map(|(c, _)| c).collect())
            }

            async fn conversations_with_last_email(
                &mut self,
                pks: &[i64],
            ) -> Result<Vec<(Conversation, Option<DateTime<Utc>>)>> {
                self.conversations_in(pks, true).await
            }

            async fn create_conversations(
                &mut self,
                site: &str,
                rows: &[(&str, DateTime<Utc>)],
            ) -> Result<Vec<Conversation>> {
                let mut made = Vec::with_capacity(rows.len());
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        // Two daemons starting the same conversation at once: the second gets
                        // the first's row (locked, on PostgreSQL) instead of a unique-key error.
                        "INSERT INTO conversations (site_id, id, created_at) VALUES {}
                         ON CONFLICT (site_id, id) DO UPDATE SET site_id = excluded.site_id
                         RETURNING {CONVERSATION_COLUMNS}",
                        placeholders(chunk.len(), 3)
                    );
                    let mut query = $q::query(&sql);
                    for (id, at) in chunk {
                        query = query.bind(site).bind(*id).bind(ms(*at));
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        made.push(conversation(&row)?);
                    }
                }
                Ok(made)
            }

            async fn save_conversation(&mut self, c: &Conversation) -> Result<()> {
                self.save_conversations(std::slice::from_ref(c)).await
            }

            async fn save_conversations(&mut self, cs: &[Conversation]) -> Result<()> {
                $rows::save_conversations(&mut self.tx, cs).await
            }

            async fn save_schedules(&mut self, cs: &[Conversation]) -> Result<()> {
                $rows::save_schedules(&mut self.tx, cs).await
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
        }
    };
}

pub(crate) use sql_conversations;
