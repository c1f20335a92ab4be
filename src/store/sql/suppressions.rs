//! Addresses that get no email: asked, complained or dead.

/// `impl SuppressionsTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_suppressions {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        #[async_trait]
        impl SuppressionsTx for $tx {
            async fn is_suppressed(&mut self, site: &str, email: &str) -> Result<bool> {
                let n: i64 = $q::query_scalar(
                    "SELECT COUNT(*) FROM suppressions WHERE site_id = $1 AND email = $2",
                )
                .bind(site)
                // Kept lowercased: an address is the same whatever its case.
                .bind(email.to_lowercase())
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
                .bind(email.to_lowercase())
                .bind(reason)
                .bind(ms(at))
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_suppressions;
