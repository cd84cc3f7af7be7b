//! Where `/server` keeps session records, behind one small interface that
//! every store implements, and the one function that opens the store
//! `--store` names.
//!
//! Records and ids are tower-sessions' own (`Record`, `Id`), so the published
//! stores plug in. The interface asks two things tower-sessions' `SessionStore`
//! does not: `delete` says whether there was a record, which lets a login
//! notice that a logout raced it; `update` writes only over a live record;
//! and `delete_expired` says how many it removed, for `clearsessions`.
//! Nothing here upserts, so no request can write back a session that a
//! logout deleted while the request was in flight.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};

use super::{
    cache::CachedRecords, memory::MemoryRecords, postgres::PostgresRecords, redis::RedisRecords,
    sqlite::SqliteRecords, store_url::SessionStoreKind,
};

#[async_trait]
pub trait SessionRecords: Send + Sync + fmt::Debug {
    /// The record under `id`, if it exists and has not expired. Shared, so
    /// that the memory store and the cache hand it out without copying it.
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError>;

    /// Stores a new record, replacing its id first if that id is taken.
    async fn create(&self, record: &mut Record) -> Result<(), StoreError>;

    /// Replaces the data and expiry of a live record, and only of a live one:
    /// `false` when it is gone, so that a request cannot resurrect a session
    /// that a logout deleted while it was in flight.
    async fn update(&self, record: &Record) -> Result<bool, StoreError>;

    /// Deletes the record under `id`; `true` if there was one.
    async fn delete(&self, id: &Id) -> Result<bool, StoreError>;

    /// Deletes every expired record and says how many there were.
    async fn delete_expired(&self) -> Result<u64, StoreError>;

    /// How many records the store holds, expired ones included.
    async fn count(&self) -> Result<u64, StoreError>;
}

pub type SharedRecords = Arc<dyn SessionRecords>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Backend(String),
    /// A record that exists but cannot be decoded: written by another
    /// version, or damaged. The visitor is a Guest, not a victim of a 500.
    #[error("undecodable record: {0}")]
    Corrupt(String),
}

/// A record as the persistent stores keep it: MessagePack, as the published
/// tower-sessions stores encode it.
pub(super) fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(record).map_err(|err| StoreError::Backend(err.to_string()))
}

pub(super) fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|err| StoreError::Corrupt(err.to_string()))
}

/// An expiry as Unix milliseconds, as SQLite's column and Redis's `PXAT` hold it.
pub(super) fn unix_millis(moment: time::OffsetDateTime) -> i64 {
    i64::try_from(moment.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl From<tower_sessions::session_store::Error> for StoreError {
    fn from(err: tower_sessions::session_store::Error) -> Self {
        use tower_sessions::session_store::Error;
        match err {
            Error::Decode(reason) => StoreError::Corrupt(reason),
            Error::Encode(reason) | Error::Backend(reason) => StoreError::Backend(reason),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

/// How long any store operation may take before the request gets a 503:
/// a store that hangs must not hang the page.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What each store's client is told to give up after (connecting, waiting
/// for a pooled connection, one command): under [`STORE_TIMEOUT`], so that
/// the client reports what went wrong before the outer bound cuts it off.
pub const BACKEND_TIMEOUT: Duration = Duration::from_millis(1500);

/// Opens (and for SQL stores, migrates) the store `kind` names. A store that
/// cannot be reached is an error here, not at the first request.
pub async fn open(kind: &SessionStoreKind) -> Result<SharedRecords, StoreError> {
    Ok(match kind {
        SessionStoreKind::Memory => Arc::new(MemoryRecords::default()),
        SessionStoreKind::Sqlite(path) => Arc::new(TimeLimited(SqliteRecords::open(path).await?)),
        SessionStoreKind::Redis(url) => {
            Arc::new(TimeLimited(opening(RedisRecords::open(url)).await?))
        }
        SessionStoreKind::Postgres(url) => {
            Arc::new(TimeLimited(opening(PostgresRecords::open(url)).await?))
        }
    })
}

/// Connecting and migrating may take a few round trips, but not forever.
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

/// Bounds every call to a store that does I/O by [`STORE_TIMEOUT`].
#[derive(Debug)]
struct TimeLimited<S>(S);

impl<S> TimeLimited<S> {
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(STORE_TIMEOUT, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(STORE_TIMEOUT)))
    }
}

#[async_trait]
impl<S: SessionRecords> SessionRecords for TimeLimited<S> {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        self.run(self.0.load(id)).await
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.run(self.0.create(record)).await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        self.run(self.0.update(record)).await
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        self.run(self.0.delete(id)).await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.run(self.0.delete_expired()).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.run(self.0.count()).await
    }
}
