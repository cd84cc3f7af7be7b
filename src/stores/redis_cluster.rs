//! Redis Cluster: the same keys and values as the single-server store
//! (`PREFIX + id`, the record in MessagePack, Redis expiring it), spread
//! over the cluster's masters by key slot.
//!
//! Through redis-rs's cluster client, not fred's, for one reason: fred 10.1
//! stops sending any command while it cannot reconnect to every master that
//! `CLUSTER SLOTS` names, and a dead master without a replica stays named
//! there, so one dead master made every session a 503. redis-rs keeps one
//! connection per node and fails only the commands whose slot the dead node
//! serves (`tests/cluster.rs` kills a master and reads every session).

use std::sync::Arc;

use ::redis::{
    Cmd, RedisError, Value,
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
    cluster_routing::{AggregateOp, MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo},
};
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use url::Url;

use super::{
    BACKEND_TIMEOUT, SessionRecords, StoreError, decode, encode, redis::SWAP_SCRIPT,
    store_url::ServiceUrl, unix_millis,
};

/// Counts the keys under a prefix on one node, so that `count` is one
/// command sent to every master, their answers summed.
const COUNT_SCRIPT: &str = "local cursor, n = '0', 0 \
    repeat local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) \
    cursor = page[1] n = n + #page[2] until cursor == '0' return n";

pub struct RedisClusterRecords {
    /// Multiplexed: clones share the client's connections to every node.
    connection: ClusterConnection,
    prefix: String,
}

impl std::fmt::Debug for RedisClusterRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterRecords")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisClusterRecords {
    /// Connects through any of the nodes `url` names
    /// (`redis-cluster://[USER:PASSWORD@]HOST:PORT?node=HOST:PORT&...`),
    /// failing at once if none answers. A node lost later is reconnected on
    /// demand; meanwhile the commands for its slots fail.
    pub async fn open(url: &ServiceUrl) -> Result<Self, StoreError> {
        let client = ClusterClient::builder(seed_nodes(url.connect())?)
            .connection_timeout(BACKEND_TIMEOUT)
            .response_timeout(BACKEND_TIMEOUT)
            // A few quick retries follow a resharding's redirects; the
            // response timeout bounds them all, so a dead node's commands
            // still fail within it.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()?;
        let connection = client.get_async_connection().await?;
        Ok(Self {
            connection,
            prefix: url.namespace.clone(),
        })
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.prefix)
    }

    async fn query<T: ::redis::FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        Ok(command.query_async(&mut self.connection.clone()).await?)
    }

    /// `SET key record PXAT expiry` with `NX` or `XX`; whether it was written.
    async fn set(&self, record: &Record, only: &str) -> Result<bool, StoreError> {
        let mut command = ::redis::cmd("SET");
        command
            .arg(self.key(&record.id))
            .arg(encode(record)?)
            .arg("PXAT")
            .arg(unix_millis(record.expiry_date).max(1))
            .arg(only);
        let reply: Option<String> = self.query(&command).await?;
        Ok(reply.is_some())
    }
}

/// The URL's host and every `node=` parameter, as redis-rs's node URLs,
/// each with the URL's credentials.
fn seed_nodes(connect: &str) -> Result<Vec<String>, StoreError> {
    let url = Url::parse(connect).map_err(|err| StoreError::Backend(err.to_string()))?;
    if !matches!(url.path(), "" | "/" | "/0") {
        return Err(StoreError::Backend(format!(
            "redis-cluster: a cluster has only database 0, not `{}`",
            url.path()
        )));
    }
    let mut addresses = vec![format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(6379)
    )];
    for (name, value) in url.query_pairs() {
        match &*name {
            "node" => addresses.push(value.into_owned()),
            _ => {
                return Err(StoreError::Backend(format!(
                    "redis-cluster: unknown URL parameter `{name}` (only `node` and `prefix`)"
                )));
            }
        }
    }
    let credentials = match (url.username(), url.password()) {
        ("", None) => String::new(),
        (user, password) => format!("{user}:{}@", password.unwrap_or_default()),
    };
    Ok(addresses
        .into_iter()
        .map(|address| format!("redis://{credentials}{address}"))
        .collect())
}

#[async_trait]
impl SessionRecords for RedisClusterRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        let mut command = ::redis::cmd("GET");
        command.arg(self.key(id));
        let Some(bytes) = self.query::<Option<Vec<u8>>>(&command).await? else {
            return Ok(None);
        };
        let record = decode(&bytes)?;
        Ok((record.expiry_date > OffsetDateTime::now_utc()).then(|| Arc::new(record)))
    }

    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        while !self.set(record, "NX").await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn update(&self, record: &Record) -> Result<bool, StoreError> {
        self.set(record, "XX").await
    }

    async fn compare_and_swap(
        &self,
        record: &Record,
        expected_expiry: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The key's slot routes the script to its master.
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(SWAP_SCRIPT)
            .arg(1)
            .arg(self.key(&record.id))
            .arg(unix_millis(expected_expiry).max(1))
            .arg(encode(record)?)
            .arg(unix_millis(record.expiry_date).max(1));
        let swapped: i64 = self.query(&command).await?;
        Ok(swapped == 1)
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let mut command = ::redis::cmd("DEL");
        command.arg(self.key(id));
        let deleted: i64 = self.query(&command).await?;
        Ok(deleted > 0)
    }

    /// Redis deletes expired keys itself: there is never anything left to sweep.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Walks every master's keyspace with `SCAN`: O(keys in the cluster),
    /// for tests and `clearsessions`, not for requests.
    async fn count(&self) -> Result<u64, StoreError> {
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(COUNT_SCRIPT)
            .arg(0)
            .arg(format!("{}*", self.prefix));
        let every_master = RoutingInfo::MultiNode((
            MultipleNodeRoutingInfo::AllMasters,
            Some(ResponsePolicy::Aggregate(AggregateOp::Sum)),
        ));
        let counted = self
            .connection
            .clone()
            .route_command(command, every_master)
            .await?;
        match counted {
            Value::Int(count) => Ok(u64::try_from(count).unwrap_or_default()),
            other => Err(StoreError::Backend(format!(
                "redis-cluster: a count that is not a number: {other:?}"
            ))),
        }
    }
}

impl From<RedisError> for StoreError {
    fn from(err: RedisError) -> Self {
        if err.is_timeout() {
            StoreError::Timeout(BACKEND_TIMEOUT)
        } else {
            StoreError::Backend(format!("redis-cluster: {err}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(url: &str) -> ServiceUrl {
        match url.parse() {
            Ok(super::super::StoreUrl::RedisCluster(url)) => url,
            other => panic!("not a cluster URL: {other:?}"),
        }
    }

    #[test]
    fn every_named_node_is_a_seed_with_the_credentials() {
        let seeds = seed_nodes(
            service("redis-cluster://app:pw@a:30001?node=b:30002&node=c:30003&prefix=p:").connect(),
        )
        .unwrap();
        assert_eq!(
            seeds,
            [
                "redis://app:pw@a:30001",
                "redis://app:pw@b:30002",
                "redis://app:pw@c:30003"
            ]
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_rather_than_ignored() {
        let err = seed_nodes(service("redis-cluster://a:30001?nodes=b:30002").connect())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nodes`"), "{err}");
    }

    #[test]
    fn a_database_other_than_zero_is_refused() {
        let err = seed_nodes(service("redis-cluster://a:30001/2").connect())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only database 0"), "{err}");
    }
}
