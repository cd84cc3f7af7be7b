//! Redis, one server or the primary that Sentinel names: the store several
//! instances share (Redis Cluster has a client of its own, `redis_cluster`).
//! Each record is one key, `PREFIX + id`, holding the record in MessagePack,
//! and Redis itself drops it at its expiry.
//!
//! The published `tower-sessions-redis-store` is not used, only its client
//! (fred) and its encoding, because it falls short in three ways: its keys are
//! bare session ids, so sessions cannot be told apart from anything else in
//! the same database (no count, no sharing a database, no isolated tests); its
//! `delete` does not say whether a record existed, which the login path needs
//! to notice a racing logout; and it rounds expiry down to whole seconds. What
//! it does right is kept: `SET NX` to create and `SET XX` to update, so no
//! write can bring back a deleted session. With `?prefix=` (empty) the keys
//! and values are exactly the published store's.
//!
//! Why fred here and redis-rs for Redis Cluster (see `redis_cluster` for
//! the cluster side): fred follows a Sentinel failover itself, asking the
//! sentinels for the new primary when its connection drops
//! (`tests/it/failover.rs`). redis-rs 1.8 resolves the primary only when
//! a connection is made (`SentinelClient::get_async_connection`), and its
//! reconnecting `ConnectionManager` knows no sentinel: it would go on
//! redialling the old primary. One client for all three URL kinds would
//! mean writing fred's re-resolution on redis-rs, as `redis_cluster` does
//! for slots, and measuring a failover again; until then the app builds
//! both clients.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use fred::{
    prelude::{
        ClientLike, Config, ConnectionConfig, Error as RedisError, KeysInterface,
        PerformanceConfig, Pool, ReconnectPolicy,
    },
    types::{
        ClusterHash, CustomCommand, Expiration, SetOptions, Value, config::UnresponsiveConfig,
        scan::Scanner,
    },
};
use futures_util::TryStreamExt as _;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

use super::{
    BACKEND_TIMEOUT, SessionRecords, StoreError, decode, encode, store_url::ServiceUrl, unix_millis,
};

/// Connections per instance: fred pipelines on each, so a few go far.
const POOL_SIZE: usize = 4;

#[derive(Debug)]
pub struct RedisRecords {
    pool: Pool,
    prefix: String,
}

/// Swaps a record only if its expiry is still the one expected (KEYS[1];
/// ARGV: that expiry, the new record, its expiry): the cluster store runs
/// the same script.
pub(super) const SWAP_SCRIPT: &str = "if redis.call('PEXPIRETIME', KEYS[1]) == tonumber(ARGV[1]) then \
    redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3]) return 1 end return 0";

impl RedisRecords {
    /// Connects, failing at once if the server cannot be reached. Once
    /// connected, a lost connection is retried every 250 ms for as long as
    /// the process runs, and commands meanwhile fail after [`BACKEND_TIMEOUT`].
    pub async fn open(url: &ServiceUrl) -> Result<Self, StoreError> {
        let config = Config::from_url(url.connect())?;
        let connection = ConnectionConfig {
            connection_timeout: BACKEND_TIMEOUT,
            internal_command_timeout: BACKEND_TIMEOUT,
            // A server that stops answering without closing the socket.
            unresponsive: UnresponsiveConfig {
                max_timeout: Some(BACKEND_TIMEOUT),
                interval: Duration::from_millis(500),
            },
            ..ConnectionConfig::default()
        };
        let performance = PerformanceConfig {
            default_command_timeout: BACKEND_TIMEOUT,
            ..PerformanceConfig::default()
        };
        let reconnect = ReconnectPolicy::new_constant(0, 250);
        let pool = Pool::new(
            config,
            Some(performance),
            Some(connection),
            Some(reconnect),
            POOL_SIZE,
        )?;
        pool.init().await?;
        Ok(Self {
            pool,
            prefix: url.namespace.clone(),
        })
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.prefix)
    }

    /// `SET key record PXAT expiry` with `NX` or `XX`; whether it was written.
    async fn set(&self, record: &Record, only: SetOptions) -> Result<bool, StoreError> {
        let value = encode(record)?;
        let expiry_ms = unix_millis(record.expiry_date).max(1);
        // `OK` when written, nil when NX or XX refused it.
        let reply: Option<String> = self
            .pool
            .set(
                self.key(&record.id),
                value,
                Some(Expiration::PXAT(expiry_ms)),
                Some(only),
                false,
            )
            .await?;
        Ok(reply.is_some())
    }
}

#[async_trait]
impl SessionRecords for RedisRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        let Some(bytes) = self.pool.get::<Option<Vec<u8>>, _>(self.key(id)).await? else {
            return Ok(None);
        };
        let record = decode(&bytes)?;
        Ok((record.expiry_date > OffsetDateTime::now_utc()).then(|| Arc::new(record)))
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        while !self.set(record, SetOptions::NX).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        self.set(record, SetOptions::XX).await
    }

    /// A Lua script, which Redis runs atomically: the key's expiry
    /// (`PEXPIRETIME`, Redis 7) is the version compared.
    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let args: Vec<Value> = vec![
            SWAP_SCRIPT.into(),
            1_i64.into(),
            self.key(&record.id).into(),
            unix_millis(expected_expiry).max(1).into(),
            encode(record)?.as_slice().into(),
            unix_millis(record.expiry_date).max(1).into(),
        ];
        let swapped: i64 = self
            .pool
            .next()
            .custom(
                CustomCommand::new_static("EVAL", ClusterHash::Offset(2), false),
                args,
            )
            .await?;
        Ok(swapped == 1)
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let deleted: i64 = self.pool.del(self.key(id)).await?;
        Ok(deleted > 0)
    }

    /// Redis deletes expired keys itself: there is never anything left to sweep.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Walks the keyspace with `SCAN`: O(keys in the database), for tests
    /// and `clearsessions`, not for requests.
    async fn count(&self) -> Result<u64, StoreError> {
        let counted = self
            .pool
            .next()
            .scan(format!("{}*", self.prefix), Some(1000), None)
            .try_fold(0_u64, |sum, mut page| async move {
                Ok(sum + page.take_results().map_or(0, |keys| keys.len() as u64))
            })
            .await?;
        Ok(counted)
    }
}

impl From<RedisError> for StoreError {
    fn from(err: RedisError) -> Self {
        StoreError::client(err)
    }
}
