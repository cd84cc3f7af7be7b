//! Counts every operation a store serves, by kind, so that "how often does
//! this mechanism touch the store" is a measured figure: `/server` reads on
//! every request, `/token` never, `/hybrid` once per refresh. One relaxed
//! atomic increment per operation; nothing is allocated.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{SessionRecords, StoreError};

/// Operations served since the store was opened, by kind. Requests make the
/// first five; the sweep, `/healthz` and `clearsessions` make the rest, so
/// that a figure about requests can leave them out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OperationCounts {
    pub loads: u64,
    pub creates: u64,
    pub updates: u64,
    pub compare_and_swaps: u64,
    pub deletes: u64,
    pub sweeps: u64,
    pub counts: u64,
    pub pings: u64,
}

impl OperationCounts {
    /// The operations requests for pages make: everything but sweeps,
    /// counts and health checks.
    pub fn by_requests(&self) -> u64 {
        self.loads + self.creates + self.updates + self.compare_and_swaps + self.deletes
    }

    /// What happened between `earlier` and this.
    pub fn since(&self, earlier: &OperationCounts) -> OperationCounts {
        OperationCounts {
            loads: self.loads.saturating_sub(earlier.loads),
            creates: self.creates.saturating_sub(earlier.creates),
            updates: self.updates.saturating_sub(earlier.updates),
            compare_and_swaps: self
                .compare_and_swaps
                .saturating_sub(earlier.compare_and_swaps),
            deletes: self.deletes.saturating_sub(earlier.deletes),
            sweeps: self.sweeps.saturating_sub(earlier.sweeps),
            counts: self.counts.saturating_sub(earlier.counts),
            pings: self.pings.saturating_sub(earlier.pings),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    loads: AtomicU64,
    creates: AtomicU64,
    updates: AtomicU64,
    compare_and_swaps: AtomicU64,
    deletes: AtomicU64,
    sweeps: AtomicU64,
    counts: AtomicU64,
    pings: AtomicU64,
}

/// A store, counted. Failed operations count too: they reached the store.
#[derive(Debug)]
pub struct CountedRecords<S> {
    store: S,
    counters: Counters,
}

impl<S> CountedRecords<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            counters: Counters::default(),
        }
    }
}

fn tick(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[async_trait]
impl<S: SessionRecords> SessionRecords for CountedRecords<S> {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        tick(&self.counters.loads);
        self.store.load(id).await
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        tick(&self.counters.creates);
        self.store.create(record).await
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        tick(&self.counters.updates);
        self.store.update(record).await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        tick(&self.counters.compare_and_swaps);
        self.store.compare_and_swap(record, expected_expiry).await
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        tick(&self.counters.deletes);
        self.store.delete(id).await
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        tick(&self.counters.sweeps);
        self.store.delete_expired().await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        tick(&self.counters.counts);
        self.store.count().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        tick(&self.counters.pings);
        self.store.ping().await
    }

    fn operations(&self) -> Option<OperationCounts> {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        Some(OperationCounts {
            loads: read(&counters.loads),
            creates: read(&counters.creates),
            updates: read(&counters.updates),
            compare_and_swaps: read(&counters.compare_and_swaps),
            deletes: read(&counters.deletes),
            sweeps: read(&counters.sweeps),
            counts: read(&counters.counts),
            pings: read(&counters.pings),
        })
    }
}
