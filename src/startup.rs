//! Assembly: from a parsed `Config` to a site ready to serve. It opens the
//! store (and, for SQL stores, migrates it), loads or generates the keys,
//! builds every mechanism from its options, and registers each with the
//! site. The command line itself is `cli`'s.

use std::{sync::Arc, time::Duration};

use crate::{
    cli::{Config, MetricsSwitch},
    cookie_session::{
        CookieMechanism,
        keys::{CookieKeyError, CookieKeys},
    },
    hybrid_session::{HybridMechanism, RefreshPolicy},
    metrics::Metrics,
    routes::{Mount, SitePage},
    server_session::ServerMechanism,
    stores::{self, StoreError},
    token_session::{
        Revocations, TokenMechanism,
        keys::{KeyError, KeyRing},
    },
    web::{Site, SiteError},
};

/// Why the server could not start. `main` prints it as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    // The causes are printed by `main`, which walks the chain.
    #[error("session store {store}")]
    Store { store: String, source: StoreError },
    #[error("token keys")]
    Keys(#[from] KeyError),
    #[error("cookie keys")]
    CookieKeys(#[from] CookieKeyError),
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(
        "--absolute-timeout ({absolute_timeout} s) is shorter than --cookie-age ({cookie_age} s)"
    )]
    AbsoluteTimeoutTooShort {
        absolute_timeout: u64,
        cookie_age: u64,
    },
}

impl Config {
    /// Opens the store and the keys this configuration names (generating a
    /// key on first run), and builds the site with every mechanism.
    pub async fn open_site(&self) -> Result<Site, StartError> {
        if let Some(absolute_timeout) = self.absolute_timeout
            && absolute_timeout < self.cookie_age
        {
            return Err(StartError::AbsoluteTimeoutTooShort {
                absolute_timeout,
                cookie_age: self.cookie_age,
            });
        }
        let store = &self.store.url;
        let records = stores::open(store)
            .await
            .map_err(|source| StartError::Store {
                store: store.to_string(),
                source,
            })?;
        let records = stores::cached(
            records,
            self.store_cache,
            Duration::from_secs(self.store_cache_ttl),
        );
        let policy = self.session_policy();
        let metrics = Arc::new(Metrics::new());
        let counting = self.metrics != MetricsSwitch::Off;
        let records_of = |mount| {
            stores::instrumented(Arc::clone(&records), store, metrics.store(mount), counting)
        };
        let site = Site::new(
            stores::instrumented(Arc::clone(&records), store, metrics.site_store(), counting),
            store.clone(),
            Duration::from_secs(self.cleanup_interval),
            Arc::clone(&metrics),
            counting,
        );
        let keys = KeyRing::load_or_generate(&self.keys.dir, self.keys.algorithm)?;
        let hybrid = HybridMechanism::new(
            keys.clone(),
            self.token_cache,
            records_of(Mount::HYBRID),
            store,
            policy,
            RefreshPolicy {
                access_age: self.access_token_age,
                race_window: self.refresh_race_window,
            },
            site.meter(Mount::HYBRID),
        );
        let revocations = self
            .token_revocation
            .then(|| Revocations::new(records_of(Mount::TOKEN), store));
        let server = ServerMechanism::new(records_of(Mount::SERVER), store, policy);
        let token = TokenMechanism::new(
            keys,
            revocations,
            self.token_cache,
            policy,
            site.meter(Mount::TOKEN),
        );
        let cookie = CookieMechanism::new(
            CookieKeys::load_or_generate(&self.keys.dir)?,
            policy,
            site.meter(Mount::COOKIE),
        );
        let site = site
            .publishing(SitePage::Jwks, &token.public_keys())?
            .serving(Mount::SERVER, server)?
            .serving(Mount::TOKEN, token)?
            .serving(Mount::COOKIE, cookie)?
            .serving(Mount::HYBRID, hybrid)?;
        Ok(site.ready()?)
    }
}
