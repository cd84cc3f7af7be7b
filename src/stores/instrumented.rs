//! The one wrapper around a store as a mechanism (or the site) uses it:
//! every operation bounded in time, counted by kind, and timed, under the
//! user's own [`StoreMeter`]. It sits above the `--store-cache`, so it
//! counts what was asked, a cache hit included; `/store-operations` takes
//! the cache's hits off to give what reached the store.
//!
//! Counting is one relaxed atomic add; timing (two clock reads) only when
//! `/metrics` is on, as it is the only reader of the latencies.

use std::{future::Future, sync::Arc, time::Instant};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{STORE_TIMEOUT, SessionRecords, SharedRecords, StoreError, StoreUrl};
use crate::metrics::{StoreMeter, StoreOperation};

#[derive(Debug)]
pub struct InstrumentedRecords {
    store: SharedRecords,
    meter: StoreMeter,
    /// Whether a call can wait on I/O, and so needs [`STORE_TIMEOUT`]: a
    /// store that hangs must not hang the page.
    bounded: bool,
    timed: bool,
}

impl InstrumentedRecords {
    pub fn new(store: SharedRecords, url: &StoreUrl, meter: StoreMeter, timed: bool) -> Self {
        Self {
            store,
            meter,
            bounded: !matches!(url, StoreUrl::Memory { .. }),
            timed,
        }
    }

    async fn run<T>(
        &self,
        kind: StoreOperation,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = self.timed.then(Instant::now);
        let outcome = if self.bounded {
            tokio::time::timeout(STORE_TIMEOUT, call)
                .await
                .unwrap_or(Err(StoreError::Timeout(STORE_TIMEOUT)))
        } else {
            call.await
        };
        let took = started.map(|started| started.elapsed());
        self.meter.record(kind, took, outcome.is_err());
        outcome
    }
}

#[async_trait]
impl SessionRecords for InstrumentedRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        self.run(StoreOperation::Load, self.store.load(id)).await
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.run(StoreOperation::Create, self.store.create(record))
            .await
    }

    async fn create_shared(&self, record: Record) -> Result<Arc<Record>, StoreError> {
        self.run(StoreOperation::Create, self.store.create_shared(record))
            .await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        self.run(StoreOperation::Update, self.store.update(record))
            .await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.run(
            StoreOperation::CompareAndSwap,
            self.store.compare_and_swap(record, expected_expiry),
        )
        .await
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        self.run(StoreOperation::Delete, self.store.delete(id))
            .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.run(StoreOperation::Sweep, self.store.delete_expired())
            .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.run(StoreOperation::Count, self.store.count()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(StoreOperation::Ping, self.store.ping()).await
    }

    fn cache_hits(&self) -> u64 {
        self.store.cache_hits()
    }
}
