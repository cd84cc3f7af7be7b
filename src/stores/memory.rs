//! The in-process store: a map behind a lock, for tests and demos.
//!
//! tower-sessions' `MemoryStore` cannot say whether a delete found a record
//! and never drops expired ones, so this small map replaces it.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use parking_lot::{Mutex, MutexGuard};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{SessionRecords, StoreError};

#[derive(Debug, Default)]
pub struct MemoryRecords {
    records: Mutex<HashMap<Id, Arc<Record>>>,
}

impl MemoryRecords {
    fn records(&self) -> MutexGuard<'_, HashMap<Id, Arc<Record>>> {
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
        let mut records = self.records();
        while records.contains_key(&record.id) {
            record.id = Id::default();
        }
        records.insert(record.id, Arc::new(record.clone()));
        Ok(())
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
