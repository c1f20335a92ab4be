//! A site's presence of agents, and the events already taken (replays are skipped).

/// `impl SitesTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_sites {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        #[async_trait]
        impl SitesTx for $tx {
            async fn events_seen(
                &mut self,
                site: &str,
                event_ids: &[&str],
                at: DateTime<Utc>,
            ) -> Result<std::collections::HashSet<String>> {
                let mut ids = event_ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                let mut new = std::collections::HashSet::new();
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO processed_events (site_id, event_id, at) VALUES {}
                         ON CONFLICT DO NOTHING RETURNING event_id",
                        placeholders(chunk.len(), 3)
                    );
                    let mut query = $q::query_scalar(&sql);
                    for id in chunk {
                        query = query.bind(site).bind(*id).bind(ms(at));
                    }
                    let taken: Vec<String> = query.fetch_all(&mut *self.tx).await?;
                    new.extend(taken);
                }
                Ok(new)
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
        }
    };
}

pub(crate) use sql_sites;
