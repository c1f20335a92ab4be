//! Addresses that get no email: asked, complained or dead.

/// `impl SuppressionsTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_suppressions {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        impl $tx {
            /// The database's erasure key; `None` until the first erasure made it.
            async fn stored_erasure_key(&mut self) -> Result<Option<Vec<u8>>> {
                let key: Option<String> = $q::query_scalar("SELECT value FROM meta WHERE key = $1")
                    .bind(crate::erasure::KEY_NAME)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                key.map(|k| crate::erasure::key_bytes(&k)).transpose()
            }

            /// What `email` is kept as once its visitor is erased; `None` while nobody ever
            /// was (no key yet).
            async fn erased_form(&mut self, site: &str, email: &str) -> Result<Option<String>> {
                let key = self.stored_erasure_key().await?;
                Ok(key.map(|k| crate::erasure::erased_address(&k, site, email)))
            }
        }

        #[async_trait]
        impl SuppressionsTx for $tx {
            async fn is_suppressed(&mut self, site: &str, email: &str) -> Result<bool> {
                Ok(!self.suppressed_among(site, &[email]).await?.is_empty())
            }

            async fn suppressed_among(
                &mut self,
                site: &str,
                emails: &[&str],
            ) -> Result<std::collections::HashSet<String>> {
                let key = self.stored_erasure_key().await?;
                // Each address as stored: lowercased, and the keyed hash an erased visitor's
                // suppression is kept as.
                let mut forms: std::collections::HashMap<String, String> = std::collections::HashMap::new();
                for email in emails {
                    let email = email.to_lowercase();
                    if let Some(k) = &key {
                        forms.insert(crate::erasure::erased_address(k, site, &email), email.clone());
                    }
                    forms.insert(email.clone(), email);
                }
                let stored: Vec<&String> = forms.keys().collect();
                let mut found = std::collections::HashSet::new();
                for chunk in stored.chunks(ROWS_PER_STATEMENT) {
                    let list = numbered(2, chunk.len());
                    let sql = format!(
                        "SELECT email FROM suppressions WHERE site_id = $1 AND email IN ({})",
                        list
                    );
                    let mut query = $q::query(&sql).bind(site);
                    for form in chunk {
                        query = query.bind(form.as_str());
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        let hit: String = row.try_get(0)?;
                        found.extend(forms.get(&hit).cloned());
                    }
                }
                Ok(found)
            }

            async fn suppress(
                &mut self,
                site: &str,
                email: &str,
                reason: &str,
                cause: &str,
                at: DateTime<Utc>,
            ) -> Result<()> {
                $q::query(
                    "INSERT INTO suppressions (site_id, email, reason, at, cause)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING",
                )
                .bind(site)
                .bind(email.to_lowercase())
                .bind(reason)
                .bind(ms(at))
                .bind(cause)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn soft_bounce(
                &mut self,
                site: &str,
                email: &str,
                at: DateTime<Utc>,
            ) -> Result<(u32, DateTime<Utc>)> {
                // A reply from the address since the last failure starts the count again:
                // looked up here, on this rare path, rather than cleared on every reply.
                let heard: Option<i64> = $q::query_scalar(
                    "SELECT MAX(m.at) FROM messages m JOIN conversations c ON c.pk = m.conversation_pk
                     WHERE c.site_id = $1 AND c.visitor_email = $2
                       AND m.author = 'visitor' AND m.source = 'email'",
                )
                .bind(site)
                .bind(email)
                .fetch_one(&mut *self.tx)
                .await?;
                let row = $q::query(
                    "INSERT INTO soft_bounces (site_id, email, count, first_at, last_at)
                     VALUES ($1, $2, 1, $3, $3)
                     ON CONFLICT (site_id, email) DO UPDATE SET
                       count = CASE WHEN soft_bounces.last_at < $4 THEN 1
                                    ELSE soft_bounces.count + 1 END,
                       first_at = CASE WHEN soft_bounces.last_at < $4 THEN $3
                                       ELSE soft_bounces.first_at END,
                       last_at = $3
                     RETURNING count, first_at",
                )
                .bind(site)
                .bind(email.to_lowercase())
                .bind(ms(at))
                .bind(heard.unwrap_or(i64::MIN))
                .fetch_one(&mut *self.tx)
                .await?;
                let count: i64 = row.try_get(0)?;
                Ok((count as u32, from_millis(row.try_get(1)?)))
            }

            async fn clear_soft_bounces(&mut self, site: &str, email: &str) -> Result<()> {
                $q::query("DELETE FROM soft_bounces WHERE site_id = $1 AND email = $2")
                    .bind(site)
                    .bind(email.to_lowercase())
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn suppressions(
                &mut self,
                site: &str,
                q: &str,
                reason: Option<&str>,
                limit: u32,
            ) -> Result<Vec<Suppression>> {
                let pattern = $crate::store::sql::contains_pattern(q);
                let rows = $q::query(
                    "SELECT email, reason, at, cause FROM suppressions
                     WHERE site_id = $1 AND email LIKE $2 ESCAPE '\\'
                       AND ($3 = '' OR reason = $3)
                     ORDER BY at DESC, email
                     LIMIT $4",
                )
                .bind(site)
                .bind(&pattern)
                .bind(reason.unwrap_or_default())
                .bind(limit as i64)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Suppression {
                            email: r.try_get("email")?,
                            reason: r.try_get("reason")?,
                            at: from_millis(r.try_get("at")?),
                            cause: r.try_get("cause")?,
                        })
                    })
                    .collect()
            }

            async fn lift_suppression(&mut self, site: &str, email: &str) -> Result<bool> {
                let email = email.to_lowercase();
                let erased = self.erased_form(site, &email).await?;
                let done = $q::query(
                    "DELETE FROM suppressions WHERE site_id = $1 AND email IN ($2, $3)",
                )
                .bind(site)
                .bind(&email)
                .bind(erased.as_deref().unwrap_or(&email))
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use sql_suppressions;
