//! PostgreSQL, the other store several instances share, through the
//! published `tower-sessions-sqlx-store`.
//!
//! That store loads and migrates (table `SCHEMA.session`); this wrapper adds
//! what it lacks, as for SQLite: a create in one round trip, a delete that
//! reports whether it found a record, an update that never inserts (its
//! `save` is an upsert that would resurrect a session a concurrent logout
//! deleted), counts for `clearsessions`, and migrations that two instances
//! starting at once cannot trip over: its `create schema/table if not
//! exists` can fail on a duplicate key when run concurrently, so it runs
//! under an advisory lock.

use std::{str::FromStr, sync::Arc};

use async_trait::async_trait;
use sqlx::{
    ConnectOptions as _, Connection as _,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};
use time::OffsetDateTime;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
};
use tower_sessions_sqlx_store::PostgresStore;

use super::{BACKEND_TIMEOUT, SessionRecords, StoreError, encode, store_url::ServiceUrl};

/// The published store's table, inside the schema the URL names.
const TABLE: &str = "session";

/// Connections per instance.
const POOL_SIZE: u32 = 10;

#[derive(Debug)]
pub struct PostgresRecords {
    store: PostgresStore,
    pool: PgPool,
    /// `"schema"."session"`, quoted; the schema is a checked identifier.
    table: String,
}

impl PostgresRecords {
    /// Connects once, so that an unreachable server is reported as such (a
    /// pool would only say it timed out), then migrates under a lock and opens
    /// the pool. A connection that fails later is replaced on the next
    /// request; until then, requests fail after [`BACKEND_TIMEOUT`].
    pub async fn open(url: &ServiceUrl) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url.connect())?;
        let mut connection = tokio::time::timeout(BACKEND_TIMEOUT, options.connect())
            .await
            .map_err(|_| StoreError::Timeout(BACKEND_TIMEOUT))??;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(BACKEND_TIMEOUT)
            .connect_lazy_with(options);
        let store = PostgresStore::new(pool.clone())
            .with_schema_name(&url.namespace)
            .map_err(StoreError::Failed)?;

        let lock = format!("sessions-vs-jwt migrate {}", url.namespace);
        sqlx::query("select pg_advisory_lock(hashtext($1))")
            .bind(&lock)
            .execute(&mut connection)
            .await?;
        let migrated = store.migrate().await;
        // Closing the connection releases the lock too, whatever happened.
        connection.close().await?;
        migrated?;

        Ok(Self {
            store,
            pool,
            table: format!(r#""{}"."{TABLE}""#, url.namespace),
        })
    }
}

#[async_trait]
impl SessionRecords for PostgresRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.store.load(id).await?.map(Arc::new))
    }

    /// One statement per attempt, where the published store's `create` takes
    /// four round trips (begin, a lookup of the id, an upsert, commit).
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        loop {
            let data = encode(record)?;
            let inserted = sqlx::query(&format!(
                "insert into {} (id, data, expiry_date) values ($1, $2, $3) on conflict (id) do nothing",
                self.table
            ))
            .bind(record.id.to_string())
            .bind(data)
            .bind(record.expiry_date)
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() > 0 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        let data = encode(record)?;
        let updated = sqlx::query(&format!(
            "update {} set data = $1, expiry_date = $2 where id = $3 and expiry_date > $4",
            self.table
        ))
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// One `update` whose `where` names the expected expiry: the row lock
    /// it takes makes a second, concurrent swap re-check and fail.
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let data = encode(record)?;
        let swapped = sqlx::query(&format!(
            "update {} set data = $1, expiry_date = $2 \
             where id = $3 and expiry_date = $4 and expiry_date > $5",
            self.table
        ))
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(expected_expiry)
        .bind(OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await?;
        Ok(swapped.rows_affected() > 0)
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let deleted = sqlx::query(&format!("delete from {} where id = $1", self.table))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let deleted = sqlx::query(&format!(
            "delete from {} where expiry_date <= $1",
            self.table
        ))
        .bind(OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(&format!("select count(*) from {}", self.table))
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
