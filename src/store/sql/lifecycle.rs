//! A visitor erased on request: everything of theirs deleted, their suppression kept as a
//! keyed hash.

/// `impl LifecycleTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_lifecycle {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        impl $tx {
            /// The database's erasure key, made at the first erasure.
            async fn erasure_key(&mut self) -> Result<Vec<u8>> {
                $q::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(crate::erasure::KEY_NAME)
                    .bind(crate::erasure::new_key())
                    .execute(&mut *self.tx)
                    .await?;
                (self.stored_erasure_key().await?)
                    .ok_or_else(|| anyhow::anyhow!("the erasure key was just stored"))
            }

            /// Deletes the rows of one conversation, children first (they reference it and its
            /// emails). Returns (messages, attachments, emails) deleted.
            async fn delete_conversation(&mut self, pk: i64) -> Result<(u64, u64, u64)> {
                $q::query(
                    "DELETE FROM email_bodies WHERE email_id IN
                       (SELECT id FROM emails WHERE conversation_pk = $1)",
                )
                .bind(pk)
                .execute(&mut *self.tx)
                .await?;
                let mut counts = [0u64; 3];
                for (n, table) in ["messages", "attachments", "emails"].iter().enumerate() {
                    counts[n] = $q::query(&format!("DELETE FROM {table} WHERE conversation_pk = $1"))
                        .bind(pk)
                        .execute(&mut *self.tx)
                        .await?
                        .rows_affected();
                }
                $q::query("DELETE FROM conversations WHERE pk = $1")
                    .bind(pk)
                    .execute(&mut *self.tx)
                    .await?;
                Ok((counts[0], counts[1], counts[2]))
            }

            /// Deletes the site's webhooks whose payload holds `"name":"value"`.
            async fn delete_webhooks_with(&mut self, site: &str, name: &str, value: &str) -> Result<u64> {
                let pattern =
                    $crate::store::sql::contains_pattern(&format!("\"{name}\":{}", serde_json::Value::from(value)));
                Ok($q::query(
                    "DELETE FROM webhooks WHERE site_id = $1 AND LOWER(payload) LIKE $2 ESCAPE '\\'",
                )
                .bind(site)
                .bind(&pattern)
                .execute(&mut *self.tx)
                .await?
                .rows_affected())
            }
        }

        #[async_trait]
        impl LifecycleTx for $tx {
            async fn expire_email_bodies(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
                // Oldest first along the age index; a pending email (never this old in
                // practice: it gives up after `give_up_after`) keeps its bytes.
                Ok($q::query(
                    "DELETE FROM email_bodies WHERE email_id IN (
                         SELECT b.email_id FROM email_bodies b JOIN emails e ON e.id = b.email_id
                         WHERE b.created_at < $1 AND e.status <> 'pending'
                         ORDER BY b.created_at LIMIT $2)",
                )
                .bind(ms(before))
                .bind(limit as i64)
                .execute(&mut *self.tx)
                .await?
                .rows_affected())
            }

            async fn expire_conversations(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
                let pks: Vec<i64> = $q::query_scalar(
                    "SELECT pk FROM conversations
                     WHERE closed_at IS NOT NULL AND closed_at < $1 AND open = $2
                       AND COALESCE(last_activity_at, 0) < $1
                       AND COALESCE(last_visitor_message_at, 0) < $1
                       AND COALESCE(last_agent_message_at, 0) < $1
                     ORDER BY closed_at LIMIT $3",
                )
                .bind(ms(before))
                .bind(false)
                .bind(limit as i64)
                .fetch_all(&mut *self.tx)
                .await?;
                for pk in &pks {
                    self.delete_conversation(*pk).await?;
                }
                Ok(pks.len() as u64)
            }

            async fn erase_visitor(&mut self, site: &str, visitor_id: &str) -> Result<Erased> {
                let rows = $q::query(&format!(
                    "SELECT pk, id, visitor_email FROM conversations
                     WHERE site_id = $1 AND visitor_id = $2 ORDER BY pk {}",
                    $row_lock
                ))
                .bind(site)
                .bind(visitor_id)
                .fetch_all(&mut *self.tx)
                .await?;
                let mut erased = Erased::default();
                let mut addresses: Vec<String> = Vec::new();
                for row in &rows {
                    let pk: i64 = row.try_get("pk")?;
                    let (messages, attachments, emails) = self.delete_conversation(pk).await?;
                    erased.messages += messages;
                    erased.attachments += attachments;
                    erased.emails += emails;
                    erased.conversations.push(row.try_get("id")?);
                    if let Some(email) = row.try_get::<Option<String>, _>("visitor_email")? {
                        let email = email.to_lowercase();
                        if !addresses.contains(&email) {
                            addresses.push(email);
                        }
                    }
                }
                for id in erased.conversations.clone() {
                    erased.webhooks += self.delete_webhooks_with(site, "conversation", &id).await?;
                }
                // Made or read once, for every address of theirs.
                let key = if addresses.is_empty() {
                    Vec::new()
                } else {
                    self.erasure_key().await?
                };
                for email in &addresses {
                    for field in ["email", "to"] {
                        erased.webhooks += self.delete_webhooks_with(site, field, email).await?;
                    }
                    $q::query("DELETE FROM soft_bounces WHERE site_id = $1 AND email = $2")
                        .bind(site)
                        .bind(email)
                        .execute(&mut *self.tx)
                        .await?;
                    // The suppression stays, under a name that no longer says who. Its cause
                    // (a report's words, the email's id) goes: it may name the address.
                    let hashed = crate::erasure::erased_address(&key, site, email);
                    erased.suppressions_kept += $q::query(
                        "INSERT INTO suppressions (site_id, email, reason, at, cause)
                         SELECT site_id, $3, reason, at, NULL FROM suppressions
                         WHERE site_id = $1 AND email = $2
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(site)
                    .bind(email)
                    .bind(&hashed)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
                    $q::query("DELETE FROM suppressions WHERE site_id = $1 AND email = $2")
                        .bind(site)
                        .bind(email)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(erased)
            }
        }
    };
}

pub(crate) use sql_lifecycle;
