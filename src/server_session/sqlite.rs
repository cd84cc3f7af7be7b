//! The embedded default: a SQLite file, through the published
//! `tower-sessions-sqlx-store`.
//!
//! That store loads, creates and migrates; this wrapper adds what it lacks:
//! WAL mode and a busy timeout (so concurrent first visits do not fail with
//! "database is locked"), a delete that reports whether it found a record,
//! an update that never inserts, and counts for `clearsessions`. It never
//! calls the store's `save`, an upsert that would resurrect a session deleted
//! by a concurrent logout. Records are encoded as the store encodes them
//! (MessagePack), so both write the same rows.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
};
use tower_sessions_sqlx_store::SqliteStore;

use super::store::{SessionRecords, StoreError};

/// The published store's table.
const TABLE: &str = "tower_sessions";

#[derive(Debug)]
pub struct SqliteRecords {
    store: SqliteStore,
    pool: SqlitePool,
}

impl SqliteRecords {
    /// Opens the file, creating it and its folder when missing, and applies
    /// the schema (idempotent).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|err| {
                StoreError::Backend(format!("cannot create {}: {err}", folder.display()))
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(1500));
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options)
            .await?;
        let store = SqliteStore::new(pool.clone());
        store.migrate().await?;
        Ok(Self { store, pool })
    }
}

#[async_trait]
impl SessionRecords for SqliteRecords {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        Ok(self.store.load(id).await?)
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        Ok(self.store.create(record).await?)
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let data = rmp_serde::to_vec(record).map_err(|err| StoreError::Backend(err.to_string()))?;
        let updated = sqlx::query(&format!(
            "update {TABLE} set data = ?, expiry_date = ? where id = ? and expiry_date > ?"
        ))
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(time::OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let deleted = sqlx::query(&format!("delete from {TABLE} where id = ?"))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let deleted = sqlx::query(&format!("delete from {TABLE} where expiry_date <= ?"))
            .bind(time::OffsetDateTime::now_utc())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(&format!("select count(*) from {TABLE}"))
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
