//! A site's presence of agents, and the events already taken (replays are skipped).

/// `impl SitesTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_sites {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        #[async_trait]
        impl SitesTx for $tx {
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
