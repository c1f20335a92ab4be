//! Chat messages: add, find, delete, list, what is unread, forwarding markers, and a reply's attachments.

/// `impl MessagesTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_messages {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        #[async_trait]
        impl MessagesTx for $tx {
            async fn insert_message(&mut self, pk: i64, m: &NewMessage) -> Result<Option<i64>> {
                let row = $q::query(
                    "INSERT INTO messages (conversation_pk, id, author, author_name, text, attachments,
                                           source, at, trimmed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (conversation_pk, id) DO NOTHING
                     RETURNING seq",
                )
                .bind(pk)
                .bind(&m.id)
                .bind(m.author.as_str())
                .bind(&m.author_name)
                .bind(&m.text)
                .bind(serde_json::to_string(&m.attachments)?)
                .bind(m.source.as_str())
                .bind(ms(m.at))
                .bind(m.trimmed)
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
