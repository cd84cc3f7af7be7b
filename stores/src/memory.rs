//! The in-process store: a map behind a lock, for tests and demos.
//!
//! tower-sessions' `MemoryStore` cannot say whether a delete found a record,
//! never drops expired ones and grows without bound, so this small map
//! replaces it. It holds at most a fixed number of records: past it, expired
//! ones are dropped, and if that frees nothing a new record is refused
//! (`StoreError::Full`, a 503). Evicting a live record instead would let
//! anyone who can log in many times log everyone else out, and would erase
//! the consumed refresh ids that `/hybrid`'s reuse detection reads.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
};

use async_trait::async_trait;
use foldhash::fast::RandomState;
use parking_lot::{Mutex, MutexGuard};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{SessionRecords, StoreError};

/// Keyed by a hash seeded at random per map, as std's is, but a few
/// instructions per id instead of SipHash's ~160 (`--profile`): a client
/// can send any id, but only the server's own random ids are ever stored,
/// so no one can fill the map with ids that collide.
type Records = HashMap<Id, Arc<Record>, RandomState>;

#[derive(Debug)]
pub struct MemoryRecords {
    records: Mutex<Records>,
    capacity: usize,
}

impl MemoryRecords {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            records: Mutex::default(),
            capacity,
        }
    }

    fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock()
    }
}

#[async_trait]
impl SessionRecords for MemoryRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .records()
            .get(id)
            .filter(|record| record.expiry_date > now)
            .cloned())
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        let shared = self.create_shared(record.clone()).await?;
        record.id = shared.id;
        Ok(())
    }

    async fn create_shared(&self, mut record: Record) -> Result<Arc<Record>, StoreError> {
        let mut records = self.records();
        if records.len() >= self.capacity {
            let now = OffsetDateTime::now_utc();
            records.retain(|_, record| record.expiry_date > now);
            if records.len() >= self.capacity {
                return Err(StoreError::Full(self.capacity));
            }
        }
        loop {
            match records.entry(record.id) {
                Entry::Occupied(_) => record.id = Id::default(),
                Entry::Vacant(vacant) => return Ok(Arc::clone(vacant.insert(Arc::new(record)))),
            }
        }
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        match self.records().get_mut(&record.id) {
            Some(live) if live.expiry_date > now => {
                *live = Arc::new(record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        match self.records().get_mut(&record.id) {
            Some(live)
                if live.expiry_date > now
                    && super::unix_millis(live.expiry_date)
                        == super::unix_millis(expected_expiry) =>
            {
                *live = Arc::new(record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        Ok(self.records().remove(id).is_some())
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut records = self.records();
        let before = records.len();
        records.retain(|_, record| record.expiry_date > now);
        Ok((before - records.len()) as u64)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.records().len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seconds: i64) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::seconds(seconds),
        }
    }

    #[tokio::test]
    async fn a_full_store_refuses_a_new_record_and_keeps_every_live_one() {
        let store = MemoryRecords::with_capacity(2);
        let (mut first, mut second) = (record(60), record(60));
        store.create(&mut first).await.unwrap();
        store.create(&mut second).await.unwrap();
        assert!(matches!(
            store.create(&mut record(60)).await,
            Err(StoreError::Full(2))
        ));
        assert!(store.load(&first.id).await.unwrap().is_some());
        assert!(store.load(&second.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_full_store_makes_room_by_dropping_expired_records() {
        let store = MemoryRecords::with_capacity(1);
        store.create(&mut record(-1)).await.unwrap();
        let mut live = record(60);
        store.create(&mut live).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 1);
        assert!(store.load(&live.id).await.unwrap().is_some());
    }
}
