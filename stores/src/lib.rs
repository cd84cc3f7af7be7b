//! Where session records live: one small interface that every store
//! implements, the stores themselves, and the one function that opens the
//! store a `--store` URL names. Nothing here knows about cookies, tokens,
//! HTTP or the mechanisms that use it: a crate of its own, so that the
//! boundary is the compiler's, and so that each backend is a feature
//! (`sqlite`, `redis`, `postgres`; memory is always there) and a build
//! for one compiles none of the others' clients.
//!
//! Records and ids are tower-sessions' own (`Record`, `Id`), so the published
//! stores plug in. The interface asks two things tower-sessions' `SessionStore`
//! does not: `delete` says whether there was a record, which lets a login
//! notice that a logout raced it; `update` writes only over a live record;
//! and `delete_expired` says how many it removed, for `clearsessions`; and
//! `compare_and_swap` replaces a record only if nobody replaced it first,
//! which is how `/hybrid` consumes a refresh id exactly once.
//! Nothing here upserts, so no request can write back a session that a
//! logout deleted while the request was in flight.
//!
//! The app wraps a store once in its `stores::instrumented` for each user
//! of it: every operation bounded in time ([`STORE_TIMEOUT`]), counted by
//! kind and timed.

mod cache;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_cluster;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store_url;

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};

#[cfg(feature = "postgres")]
use self::postgres::PostgresRecords;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteRecords;
pub use self::store_url::{
    DEFAULT_MEMORY_CAPACITY, DEFAULT_POSTGRES_SCHEMA, DEFAULT_REDIS_PREFIX, ServiceUrl, StoreUrl,
};
use self::{cache::CachedRecords, memory::MemoryRecords};
#[cfg(feature = "redis")]
use self::{redis::RedisRecords, redis_cluster::RedisClusterRecords};

/// The mechanism a record belongs to. Mechanisms share one store, so each
/// marks the records it writes with its own owner and reads only records it
/// owns: an id a client sends is a claim, and the record behind it may be
/// another mechanism's (a `sessionid` naming a stolen refresh id must not
/// skip its rotation). The store knows no owner by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner(&'static str);

impl Owner {
    /// The data key the mark is kept under.
    const KEY: &'static str = "_owner";

    pub const fn named(name: &'static str) -> Self {
        Self(name)
    }

    /// A record's data holding nothing but this owner's mark, with room for
    /// the few keys a mechanism adds without growing the map (`--profile`).
    pub fn data(self) -> HashMap<String, serde_json::Value> {
        let mut data = HashMap::with_capacity(4);
        data.insert(Self::KEY.to_owned(), serde_json::Value::from(self.0));
        data
    }

    /// One pass over the record's few keys rather than a lookup, which
    /// hashes the key with SipHash (~250 instructions, `--profile`).
    pub fn owns(self, record: &Record) -> bool {
        record
            .data
            .iter()
            .any(|(key, value)| key == Self::KEY && value.as_str() == Some(self.0))
    }
}

#[async_trait]
pub trait SessionRecords: Send + Sync + fmt::Debug {
    /// The record under `id`, if it exists and has not expired. Shared, so
    /// that the memory store and the cache hand it out without copying it.
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError>;

    /// Stores a new record, replacing its id first if that id is taken.
    async fn create(&self, record: &mut Record) -> Result<(), StoreError>;

    /// [`create`](Self::create), the record handed back shared as `load`
    /// hands records out: a store that keeps records shared (memory, the
    /// cache) keeps this one without copying it, which a login would
    /// otherwise pay for (`--profile`).
    async fn create_shared(&self, mut record: Record) -> Result<Arc<Record>, StoreError> {
        self.create(&mut record).await?;
        Ok(Arc::new(record))
    }

    /// Replaces the data and expiry of a live record, and only of a live one:
    /// `false` when it is gone, so that a request cannot resurrect a session
    /// that a logout deleted while it was in flight.
    async fn update(&self, record: &Record) -> Result<bool, StoreError>;

    /// Replaces the live record under `record.id` with `record`, only if
    /// the stored one still expires at `expected_expiry` (to the millisecond,
    /// as every store keeps it): a compare-and-swap, with the expiry as the
    /// version, so that of several requests replacing one record at once
    /// exactly one succeeds. The replacement must expire at another moment,
    /// so that a second swap expecting the old one fails. `false` when the
    /// record is gone, expired, or was already replaced.
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: time::OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes the record under `id`; `true` if there was one.
    async fn delete(&self, id: &Id) -> Result<bool, StoreError>;

    /// Deletes every expired record and says how many there were.
    async fn delete_expired(&self) -> Result<u64, StoreError>;

    /// How many records the store holds, expired ones included.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Whether the store answers (`/healthz`): a lookup of an id nobody holds.
    async fn ping(&self) -> Result<(), StoreError> {
        self.load(&Id::default()).await.map(|_| ())
    }

    /// How many loads the `--store-cache` answered without the store: 0
    /// for a store without one.
    fn cache_hits(&self) -> u64 {
        0
    }
}

pub type SharedRecords = Arc<dyn SessionRecords>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The store's client failed: its error is kept whole, as the source.
    #[error(transparent)]
    Client(Arc<dyn std::error::Error + Send + Sync>),
    /// The store answered, but not as a store of its kind should.
    #[error("{0}")]
    Failed(String),
    /// A record that exists but cannot be decoded: written by another
    /// version, or damaged. The visitor is a Guest, not a victim of a 500.
    #[error("undecodable record: {0}")]
    Corrupt(String),
    /// The memory store holds as many live records as it may: a new one is
    /// refused (a 503), never made room for by dropping someone's login.
    #[error("the store holds its capacity of {0} live records")]
    Full(usize),
    /// The URL names a backend this build was made without.
    #[error("this build has no {0} store: build it with the `{0}` feature (the default has all)")]
    NotBuilt(&'static str),
}

impl StoreError {
    pub fn client(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Client(Arc::new(err))
    }

    /// What went wrong, as a page may say it: a backend's own message can
    /// name hosts, schemas or queries, and belongs in the log only.
    pub fn category(&self) -> &'static str {
        match self {
            StoreError::Timeout(_) => "no answer in time",
            StoreError::Client(_) | StoreError::Failed(_) => "the store failed",
            StoreError::Corrupt(_) => "an undecodable record",
            StoreError::Full(_) => "the store is full",
            StoreError::NotBuilt(_) => "the store is not in this build",
        }
    }
}

/// A record as the persistent stores keep it: MessagePack, as the published
/// tower-sessions stores encode it.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "redis", feature = "postgres")),
    allow(dead_code)
)]
fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(record).map_err(StoreError::client)
}

#[cfg_attr(not(any(feature = "sqlite", feature = "redis")), allow(dead_code))]
fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|err| StoreError::Corrupt(err.to_string()))
}

/// An expiry as Unix milliseconds, as SQLite's column and Redis's `PXAT` hold it.
pub(crate) fn unix_millis(moment: time::OffsetDateTime) -> i64 {
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl From<tower_sessions::session_store::Error> for StoreError {
    fn from(err: tower_sessions::session_store::Error) -> Self {
        use tower_sessions::session_store::Error;
        match err {
            Error::Decode(reason) => StoreError::Corrupt(reason),
            Error::Encode(reason) | Error::Backend(reason) => StoreError::Failed(reason),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::client(err)
    }
}

/// How long any store operation may take before the request gets a 503:
/// a store that hangs must not hang the page.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What each store's client is told to give up after (connecting, waiting
/// for a pooled connection, one command): under [`STORE_TIMEOUT`], so that
/// the client reports what went wrong before the outer bound cuts it off.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "redis", feature = "postgres")),
    allow(dead_code)
)]
pub const BACKEND_TIMEOUT: Duration = Duration::from_millis(1500);

/// Opens (and for SQL stores, migrates) the store `url` names. A store that
/// cannot be reached is an error here, not at the first request; so is one
/// whose backend this build was made without.
pub async fn open(url: &StoreUrl) -> Result<SharedRecords, StoreError> {
    Ok(match url {
        StoreUrl::Memory { capacity } => Arc::new(MemoryRecords::with_capacity(*capacity)),
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite(path) => Arc::new(SqliteRecords::open(path).await?),
        #[cfg(feature = "redis")]
        StoreUrl::Redis(url) => Arc::new(opening(RedisRecords::open(url)).await?),
        #[cfg(feature = "redis")]
        StoreUrl::RedisCluster(url) => Arc::new(opening(RedisClusterRecords::open(url)).await?),
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(url) => Arc::new(opening(PostgresRecords::open(url)).await?),
        #[allow(unreachable_patterns)]
        other => return Err(StoreError::NotBuilt(other.name())),
    })
}

/// Connecting and migrating may take a few round trips, but not forever.
#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
async fn opening<S>(open: impl Future<Output = Result<S, StoreError>>) -> Result<S, StoreError> {
    const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
    tokio::time::timeout(OPEN_TIMEOUT, open)
        .await
        .unwrap_or(Err(StoreError::Timeout(OPEN_TIMEOUT)))
}

/// Puts an in-process cache of `capacity` records, each trusted for `ttl`,
/// in front of `records` (`--store-cache`); a capacity of 0 means none.
pub fn cached(records: SharedRecords, capacity: u64, ttl: Duration) -> SharedRecords {
    if capacity == 0 {
        records
    } else {
        Arc::new(CachedRecords::new(records, capacity, ttl))
    }
}

/// Deletes expired records every `period` (tower-sessions' `ExpiredDeletion`
/// task, for any store) until `stop` is dropped; a sweep under way finishes.
pub async fn delete_expired_periodically(
    records: SharedRecords,
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => match records.delete_expired().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted expired sessions"),
                Err(err) => tracing::warn!(%err, "could not delete expired sessions"),
            },
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built with `--no-default-features` (as CI does for this crate), a
    /// URL of a store left out is refused with the feature it needs.
    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn a_store_left_out_of_the_build_names_its_feature() {
        let url: StoreUrl = "postgres://u@localhost/db".parse().unwrap();
        let err = open(&url).await.unwrap_err();
        assert!(matches!(err, StoreError::NotBuilt("postgres")), "{err}");
        assert!(err.to_string().contains("the `postgres` feature"), "{err}");
    }

    #[tokio::test]
    async fn memory_is_in_every_build() {
        let url: StoreUrl = "memory".parse().unwrap();
        assert_eq!(open(&url).await.unwrap().count().await.unwrap(), 0);
    }
}
