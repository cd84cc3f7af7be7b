//! `--store-cache`: an in-process cache in front of any store, like Django's
//! `cached_db` engine. Reads are served from memory; every write goes to the
//! store first.
//!
//! The published `tower-sessions-moka-store` is a store, not a cache in front
//! of one: its entries live until the session expires (weeks), so another
//! instance's logout would never be seen, and its `save` is an upsert. This
//! uses moka directly, with two rules. An entry is trusted for at most the
//! TTL, which bounds how long another instance's logout or login can go
//! unseen here (an in-process cache cannot hear about it sooner). And a load
//! that read the store before a delete or update of this instance finished
//! must not put its stale copy back: `forget` counts such changes, and a load
//! only fills the cache if none happened while it was reading.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use moka::sync::Cache;
use parking_lot::Mutex;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{SessionRecords, SharedRecords, StoreError};

#[derive(Debug)]
pub struct CachedRecords {
    store: SharedRecords,
    cache: Cache<Id, Arc<Record>>,
    /// How many deletes and updates this instance has made: a load fills
    /// the cache only if this did not change while it read the store.
    changes: Mutex<u64>,
    hits: AtomicU64,
}

impl CachedRecords {
    pub fn new(store: SharedRecords, capacity: u64, ttl: Duration) -> Self {
        Self {
            store,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            changes: Mutex::new(0),
            hits: AtomicU64::new(0),
        }
    }

    fn forget(&self, id: &Id) {
        let mut changes = self.changes.lock();
        *changes += 1;
        self.cache.invalidate(id);
    }
}

#[async_trait]
impl SessionRecords for CachedRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        if let Some(record) = self.cache.get(id)
            && record.expiry_date > OffsetDateTime::now_utc()
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(record));
        }
        let before = *self.changes.lock();
        let loaded = self.store.load(id).await?;
        let changes = self.changes.lock();
        match &loaded {
            Some(record) if *changes == before => self.cache.insert(*id, Arc::clone(record)),
            _ => self.cache.invalidate(id),
        }
        Ok(loaded)
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.store.create(record).await?;
        // A fresh id: no other request can have changed it yet.
        self.cache.insert(record.id, Arc::new(record.clone()));
        Ok(())
    }

    async fn create_shared(&self, record: Record) -> Result<Arc<Record>, StoreError> {
        let created = self.store.create_shared(record).await?;
        // A fresh id: no other request can have changed it yet.
        self.cache.insert(created.id, Arc::clone(&created));
        Ok(created)
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let updated = self.store.update(record).await;
        self.forget(&record.id);
        updated
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let swapped = self.store.compare_and_swap(record, expected_expiry).await;
        self.forget(&record.id);
        swapped
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let deleted = self.store.delete(id).await;
        self.forget(id);
        deleted
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

    fn cache_hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}
