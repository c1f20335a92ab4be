//! Opening the store: migrated, with the token keys it signs with. `serve` and every command
//! that reads or writes conversations start here.

use crate::config::Config;
use crate::store::{self, Store};
use crate::token::TokenKeys;
use rand::RngCore;
use std::sync::Arc;

/// An open, migrated store and the keys its tokens are signed with.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// The configured keys, or the one generated on first start and kept in the database.
    pub keys: TokenKeys,
}

/// Opens the configured database, applies the migrations and loads the token keys.
pub async fn open_store(config: &Config) -> anyhow::Result<Opened> {
    let store = migrate(config).await?;
    let keys = token_keys(config, store.as_ref()).await?;
    Ok(Opened { store, keys })
}

/// Opens the configured database and applies the migrations (`replyrelay migrate`).
pub async fn migrate(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open(&config.database.url).await?;
    store.migrate().await?;
    Ok(store)
}

/// The configured token keys, or the key generated on first start and kept in the database,
/// so that links in emails keep working across restarts without any configuration.
pub async fn token_keys(config: &Config, store: &dyn Store) -> anyhow::Result<TokenKeys> {
    if !config.token_keys.is_empty() {
        return Ok(TokenKeys::new(config.token_keys.clone()));
    }
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let hex = data_encoding::HEXLOWER.encode(&fresh);
    let key = store.meta_init("token_key", &hex).await?;
    Ok(TokenKeys::new(vec![key.into_bytes()]))
}
