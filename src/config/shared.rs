//! The running configuration, replaced whole on reload, and a site kept alive with it.

use super::{Config, Site};
use std::sync::Arc;

/// The running configuration. A reload (SIGHUP) replaces it whole; whoever holds an
/// `Arc<Config>` from [`Shared::current`] keeps a consistent view until done with it.
#[derive(Clone)]
pub struct Shared(Arc<arc_swap::ArcSwap<Config>>);

impl Shared {
    pub fn new(config: Config) -> Self {
        Self(Arc::new(arc_swap::ArcSwap::from_pointee(config)))
    }

    pub fn current(&self) -> Arc<Config> {
        self.0.load_full()
    }

    pub fn replace(&self, config: Config) {
        self.0.store(Arc::new(config));
    }
}

/// A site of a configuration, kept alive with it.
#[derive(Clone)]
pub struct SiteRef {
    config: Arc<Config>,
    index: usize,
}

impl SiteRef {
    /// The site whose API token this is.
    pub fn by_token(config: Arc<Config>, token: &str) -> Option<Self> {
        let site = config.site_by_token(token)?;
        let index = config.sites.iter().position(|s| std::ptr::eq(s, site))?;
        Some(Self { config, index })
    }

    /// The site with this id.
    pub fn by_id(config: Arc<Config>, id: &str) -> Option<Self> {
        let index = config.sites.iter().position(|s| s.id == id)?;
        Some(Self { config, index })
    }
}

impl std::ops::Deref for SiteRef {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.config.sites[self.index]
    }
}
