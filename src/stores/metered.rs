//! A store as one mechanism uses it, metered: every operation it asks for,
//! how long it took and whether it failed, under the mechanism's name, so
//! that `/metrics` and the inspector tell `/server`'s store traffic from
//! `/hybrid`'s. It sits above the `--store-cache`, so it counts what the
//! mechanism asks, a cache hit included. Sweeps, counts and health checks
//! are the site's, and pass unmetered.

use std::{future::Future, sync::Arc, time::Instant};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{OperationCounts, SessionRecords, SharedRecords, StoreError};
use crate::metrics::{StoreMeter, StoreOperation};

#[derive(Debug)]
pub struct MeteredRecords {
    store: SharedRecords,
    meter: StoreMeter,
}

impl MeteredRecords {
    pub fn new(store: SharedRecords, meter: StoreMeter) -> Self {
        Self { store, meter }
    }

    async fn metered<T>(
        &self,
        kind: StoreOperation,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let outcome = operation.await;
        self.meter.record(kind, started.elapsed(), outcome.is_err());
        outcome
    }
}

#[async_trait]
impl SessionRecords for MeteredRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        self.metered(StoreOperation::Load, self.store.load(id))
            .await
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.metered(StoreOperation::Create, self.store.create(record))
            .await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        self.metered(StoreOperation::Update, self.store.update(record))
            .await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.metered(
            StoreOperation::CompareAndSwap,
            self.store.compare_and_swap(record, expected_expiry),
        )
        .await
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        self.metered(StoreOperation::Delete, self.store.delete(id))
            .await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.store.delete_expired().await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.store.count().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    fn operations(&self) -> Option<OperationCounts> {
        self.store.operations()
    }
}
