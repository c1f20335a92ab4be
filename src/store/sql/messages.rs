//! Chat messages: add, find, delete, list, what is unread, forwarding markers, and a reply's attachments.

/// Binds a message's own columns after the caller's: id, author, author_name, text,
/// attachments, source, at, trimmed (in that order in the statement).
macro_rules! bind_message {
    ($query:expr, $m:expr) => {
        $query
            .bind(&$m.id)
            .bind($m.author.as_str())
            .bind(&$m.author_name)
            .bind(&$m.text)
            .bind(serde_json::to_string(&$m.attachments)?)
            .bind($m.source.as_str())
            .bind(ms($m.at))
            .bind($m.trimmed)
    };
}

pub(crate) use bind_message;

/// `impl MessagesTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_messages {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr, $reserve_seqs:expr, $rows:ident) => {
        #[async_trait]
        impl MessagesTx for $tx {
            async fn insert_new_messages(
                &mut self,
                rows: &[(i64, &NewMessage)],
            ) -> Result<std::collections::HashMap<(i64, String), i64>> {
                let mut added = std::collections::HashMap::with_capacity(rows.len());
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    // The seq is the column's own: taken in row order, as the rows are listed.
                    let sql = format!(
                        "INSERT INTO messages (conversation_pk, id, author, author_name, text,
                                               attachments, source, at, trimmed)
                         VALUES {}
                         ON CONFLICT (conversation_pk, id) DO NOTHING
                         RETURNING conversation_pk, id, seq",
                        placeholders(chunk.len(), 9)
                    );
                    let mut query = $q::query(&sql);
                    for (pk, m) in chunk {
                        query = $crate::store::sql::messages::bind_message!(query.bind(*pk), m);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        added.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
                    }
                }
                Ok(added)
            }

            async fn reserve_seqs(&mut self, n: usize) -> Result<Vec<i64>> {
                if n == 0 {
                    return Ok(Vec::new());
                }
                let mut seqs: Vec<i64> = $q::query_scalar($reserve_seqs)
                    .bind(n as i64)
                    .fetch_all(&mut *self.tx)
                    .await?;
                seqs.sort_unstable();
                Ok(seqs)
            }

            async fn insert_messages(&mut self, rows: &[(i64, i64, &NewMessage)]) -> Result<()> {
                $rows::insert_messages(&mut self.tx, rows).await
            }

            async fn stored_message_ids(
                &mut self,
                pairs: &[(i64, &str)],
            ) -> Result<std::collections::HashSet<(i64, String)>> {
                let mut found = std::collections::HashSet::new();
                for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        // Looked up one by one in the (conversation_pk, id) index. A join
                        // here let PostgreSQL hash the whole messages table for each chunk.
                        "WITH v(conversation_pk, id) AS (VALUES {})
                         SELECT v.conversation_pk, v.id FROM v
                         WHERE (SELECT 1 FROM messages m
                                WHERE m.conversation_pk = v.conversation_pk AND m.id = v.id) IS NOT NULL",
                        placeholders(chunk.len(), 2)
                    );
                    let mut query = $q::query(&sql);
                    for (pk, id) in chunk {
                        query = query.bind(*pk).bind(*id);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        found.insert((row.try_get(0)?, row.try_get(1)?));
                    }
                }
                Ok(found)
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

            async fn messages_of(
                &mut self,
                pks: &[i64],
            ) -> Result<std::collections::HashMap<i64, Vec<Message>>> {
                let mut found: std::collections::HashMap<i64, Vec<Message>> =
                    pks.iter().map(|pk| (*pk, Vec::new())).collect();
                for chunk in pks.chunks(ROWS_PER_STATEMENT) {
                    let list = numbered(1, chunk.len());
                    let sql = format!(
                        "SELECT * FROM messages WHERE conversation_pk IN ({})
                         ORDER BY conversation_pk, seq",
                        list
                    );
                    let mut query = $q::query(&sql);
                    for pk in chunk {
                        query = query.bind(*pk);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        let pk: i64 = row.try_get("conversation_pk")?;
                        found.entry(pk).or_default().push(message(&row)?);
                    }
                }
                Ok(found)
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

            async fn mark_forwarded_many(&mut self, rows: &[(i64, i64, String)]) -> Result<()> {
                $rows::mark_forwarded(&mut self.tx, rows).await
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
        }
    };
}

pub(crate) use sql_messages;
