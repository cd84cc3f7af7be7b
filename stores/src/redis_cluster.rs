//! Redis Cluster: the same keys and values as the single-server store
//! (`PREFIX + id`, the record in MessagePack, Redis expiring it), spread
//! over the cluster's masters by key slot.
//!
//! The routing is this module's own: a slot map read with `CLUSTER SLOTS`
//! and one redis-rs `ConnectionManager` per master, so that a dead master
//! fails only the commands for its slots. Neither cluster client does that:
//! fred 10.1 stops sending any command while it cannot reconnect to every
//! master `CLUSTER SLOTS` names, and redis-rs 1.8's client stalled for good
//! in one test run in three once a master died (a reconnect queued on its
//! connection lock is not polled while the slot refresh behind it runs):
//! redis-rs issue 2092 reports the same, every shard's commands blocked
//! behind one bad node's reconnect, and issue 2277 a regression of the
//! background reconnect that replaced it. A single redis-rs
//! `ConnectionManager` per master has neither lock. So the app has two
//! Redis clients: fred for `redis://` and Sentinel, redis-rs here.
//!
//! The map is read again on a `MOVED` reply (an `ASK` is followed), so a
//! resharding goes on serving, and when a master cannot be reached (at most
//! once a second), so the replica promoted in its place takes over. Only
//! those re-reads wait on each other. `tests/it/cluster.rs` kills masters,
//! with and without a replica, and moves a slot.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use ::redis::{
    Client, Cmd, ErrorKind, FromRedisValue, ParsingError, RedisError, ServerErrorKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use async_trait::async_trait;
use parking_lot::RwLock;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use url::Url;

use super::{
    BACKEND_TIMEOUT, SessionRecords, StoreError, decode, encode, redis::SWAP_SCRIPT,
    store_url::ServiceUrl, unix_millis,
};

/// Counts the keys under a prefix on one node; `count` runs it on every master.
const COUNT_SCRIPT: &str = "local cursor, n = '0', 0 \
    repeat local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000) \
    cursor = page[1] n = n + #page[2] until cursor == '0' return n";

/// Redis Cluster's key space: every key hashes to one of these.
const SLOTS: u16 = 16_384;

/// How often a master that cannot be reached has the slot map read again,
/// so that a replica promoted in its place is found without a flood of
/// `CLUSTER SLOTS` while a master without one stays down.
const REREAD_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub struct RedisClusterRecords {
    /// `[USER:PASSWORD@]`, for every node's URL.
    credentials: String,
    /// The URL's nodes, asked for the slot map when no known master answers.
    seeds: Vec<String>,
    slot_map: RwLock<Arc<SlotMap>>,
    /// One slot-map refresh at a time; the others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
    prefix: String,
}

impl std::fmt::Debug for RedisClusterRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterRecords")
            .field("seeds", &self.seeds)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Which master serves which slots, as one `CLUSTER SLOTS` reply said.
struct SlotMap {
    /// Sorted and disjoint.
    ranges: Vec<SlotRange>,
    /// Each master once.
    masters: Vec<Arc<Master>>,
    /// For [`REREAD_AFTER_FAILURE`].
    read_at: Instant,
}

struct SlotRange {
    first: u16,
    last: u16,
    master: Arc<Master>,
}

/// One master and the connection to it, which reconnects on its own.
struct Master {
    address: String,
    connection: ConnectionManager,
}

impl SlotMap {
    /// What a store has before the first `CLUSTER SLOTS` reply.
    fn empty() -> Self {
        Self {
            ranges: Vec::new(),
            masters: Vec::new(),
            read_at: Instant::now(),
        }
    }

    fn master_of(&self, slot: u16) -> Option<&Arc<Master>> {
        let range = self
            .ranges
            .get(self.ranges.partition_point(|range| range.last < slot))?;
        (range.first <= slot).then_some(&range.master)
    }

    fn serving(&self, slot: u16) -> Result<Arc<Master>, StoreError> {
        self.master_of(slot).cloned().ok_or_else(|| {
            StoreError::Failed(format!("redis-cluster: no master serves slot {slot}"))
        })
    }

    fn master_at(&self, address: &str) -> Option<&Arc<Master>> {
        self.masters.iter().find(|master| master.address == address)
    }
}

impl RedisClusterRecords {
    /// Reads the slot map from the first of the nodes `url` names that
    /// answers (`redis-cluster://[USER:PASSWORD@]HOST:PORT?node=HOST:PORT&...`),
    /// failing at once if none does. Masters are connected on first use.
    pub async fn open(url: &ServiceUrl) -> Result<Self, StoreError> {
        let (credentials, seeds) = seed_nodes(url.connect())?;
        let records = Self {
            credentials,
            seeds,
            slot_map: RwLock::new(Arc::new(SlotMap::empty())),
            refreshing: tokio::sync::Mutex::new(()),
            prefix: url.namespace.clone(),
        };
        records.refresh(&records.current(), None).await?;
        Ok(records)
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.prefix)
    }

    fn current(&self) -> Arc<SlotMap> {
        Arc::clone(&self.slot_map.read())
    }

    /// Runs `command`, whose only key is `key`, on the master of its slot.
    async fn on_key<T: FromRedisValue>(&self, key: &str, command: &Cmd) -> Result<T, StoreError> {
        let slot = key_slot(key.as_bytes());
        let mut slot_map = self.current();
        if slot_map.master_of(slot).is_none() {
            slot_map = self.refresh(&slot_map, None).await?;
        }
        let master = slot_map.serving(slot)?;
        let reply = master.connection.clone().send_packed_command(command).await;
        let err = match reply.and_then(Value::extract_error) {
            Ok(reply) => return Ok(T::from_redis_value(reply)?),
            Err(err) => err,
        };
        match (err.kind(), err.redirect_node()) {
            // The slot moved for good: learn where, and go there.
            (ErrorKind::Server(ServerErrorKind::Moved), Some(_)) => {
                let master = self.refresh(&slot_map, None).await?.serving(slot)?;
                Ok(command.query_async(&mut master.connection.clone()).await?)
            }
            // The slot is moving: this key is already at the importing master.
            (ErrorKind::Server(ServerErrorKind::Ask), Some((address, _))) => {
                let slot_map = match slot_map.master_at(address) {
                    Some(_) => slot_map,
                    None => self.refresh(&slot_map, None).await?,
                };
                let master = slot_map
                    .master_at(address)
                    .ok_or(StoreError::Failed(format!(
                        "redis-cluster: asked to go to unknown node {address}"
                    )))?;
                let (reply,): (T,) = ::redis::pipe()
                    .cmd("ASKING")
                    .ignore()
                    .add_command(command.clone())
                    .query_async(&mut master.connection.clone())
                    .await?;
                Ok(reply)
            }
            // The master may be gone for good, a replica promoted instead.
            _ if err.is_io_error() && slot_map.read_at.elapsed() >= REREAD_AFTER_FAILURE => {
                match self.refresh(&slot_map, Some(&master.address)).await {
                    Ok(fresh) => match fresh.master_of(slot) {
                        Some(promoted) if promoted.address != master.address => Ok(command
                            .query_async(&mut promoted.connection.clone())
                            .await?),
                        _ => Err(err.into()),
                    },
                    Err(_) => Err(err.into()),
                }
            }
            _ => Err(err.into()),
        }
    }

    /// Replaces `seen` with a slot map read afresh (asking the node at
    /// `unreachable` last), unless another caller already did since `seen`
    /// was taken; either way, the map now in use.
    async fn refresh(
        &self,
        seen: &Arc<SlotMap>,
        unreachable: Option<&str>,
    ) -> Result<Arc<SlotMap>, StoreError> {
        let _only_one = self.refreshing.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(current);
        }
        let mut last_error = StoreError::Failed("redis-cluster: no node to ask".into());
        let mut nodes: Vec<&str> = current
            .masters
            .iter()
            .map(|master| &*master.address)
            .collect();
        for seed in &self.seeds {
            if !nodes.contains(&seed.as_str()) {
                nodes.push(seed);
            }
        }
        nodes.sort_by_key(|node| Some(*node) == unreachable);
        for address in nodes {
            match self.read_slot_map(address, &current).await {
                Ok(fresh) => {
                    let fresh = Arc::new(fresh);
                    *self.slot_map.write() = Arc::clone(&fresh);
                    return Ok(fresh);
                }
                Err(err) => last_error = err,
            }
        }
        Err(last_error)
    }

    /// `CLUSTER SLOTS` from the node at `address`, keeping the connections
    /// `current` has to the masters that stay.
    async fn read_slot_map(&self, address: &str, current: &SlotMap) -> Result<SlotMap, StoreError> {
        let mut asked = match current.master_at(address) {
            Some(master) => master.connection.clone(),
            None => self.connect(address)?,
        };
        let reply: Value = ::redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut asked)
            .await?;
        let asked_host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let mut masters: HashMap<String, Arc<Master>> = HashMap::new();
        let mut ranges = Vec::new();
        for (first, last, master) in parse_slots(reply, asked_host)? {
            let master = match masters.get(&master) {
                Some(known) => Arc::clone(known),
                None => {
                    let connection = match current.master_at(&master) {
                        Some(kept) => kept.connection.clone(),
                        None => self.connect(&master)?,
                    };
                    let made = Arc::new(Master {
                        address: master.clone(),
                        connection,
                    });
                    masters.insert(master, Arc::clone(&made));
                    made
                }
            };
            ranges.push(SlotRange {
                first,
                last,
                master,
            });
        }
        ranges.sort_by_key(|range| range.first);
        Ok(SlotMap {
            ranges,
            masters: masters.into_values().collect(),
            read_at: Instant::now(),
        })
    }

    /// A connection to `address` that is made on first use and remade
    /// whenever it breaks, each command bounded by [`BACKEND_TIMEOUT`].
    fn connect(&self, address: &str) -> Result<ConnectionManager, StoreError> {
        let client = Client::open(format!("redis://{}{address}", self.credentials))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(BACKEND_TIMEOUT))
            .set_response_timeout(Some(BACKEND_TIMEOUT))
            .set_number_of_retries(1);
        Ok(ConnectionManager::new_lazy_with_config(client, config)?)
    }

    /// `SET key record PXAT expiry` with `NX` or `XX`; whether it was written.
    async fn set(&self, record: &Record, only: &str) -> Result<bool, StoreError> {
        let key = self.key(&record.id);
        let mut command = ::redis::cmd("SET");
        command
            .arg(&key)
            .arg(encode(record)?)
            .arg("PXAT")
            .arg(unix_millis(record.expiry_date).max(1))
            .arg(only);
        let reply: Option<String> = self.on_key(&key, &command).await?;
        Ok(reply.is_some())
    }
}

/// The URL's credentials (`USER:PASSWORD@`, or nothing), and its host with
/// every `node=` parameter, as `HOST:PORT`.
fn seed_nodes(connect: &str) -> Result<(String, Vec<String>), StoreError> {
    let url = Url::parse(connect).map_err(StoreError::client)?;
    if !matches!(url.path(), "" | "/" | "/0") {
        return Err(StoreError::Failed(format!(
            "redis-cluster: a cluster has only database 0, not `{}`",
            url.path()
        )));
    }
    let mut seeds = vec![format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(6379)
    )];
    for (name, value) in url.query_pairs() {
        match &*name {
            "node" => seeds.push(value.into_owned()),
            _ => {
                return Err(StoreError::Failed(format!(
                    "redis-cluster: unknown URL parameter `{name}` (only `node` and `prefix`)"
                )));
            }
        }
    }
    let credentials = match (url.username(), url.password()) {
        ("", None) => String::new(),
        (user, password) => format!("{user}:{}@", password.unwrap_or_default()),
    };
    Ok((credentials, seeds))
}

/// The slot Redis Cluster keeps `key` in: CRC16 (XMODEM) of the key, or of
/// its hash tag (the text between its first `{` and the next `}`, if any).
fn key_slot(key: &[u8]) -> u16 {
    let tag = key.iter().position(|&byte| byte == b'{').and_then(|open| {
        let rest = key.get(open + 1..)?;
        let close = rest.iter().position(|&byte| byte == b'}')?;
        (close > 0).then(|| rest.get(..close)).flatten()
    });
    crc16(tag.unwrap_or(key)) % SLOTS
}

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            }
        })
    })
}

/// `CLUSTER SLOTS` as `(first slot, last slot, master's HOST:PORT)`; a
/// master shown without an IP is on the host that was asked.
fn parse_slots(reply: Value, asked_host: &str) -> Result<Vec<(u16, u16, String)>, StoreError> {
    let malformed = || StoreError::Failed("redis-cluster: a malformed CLUSTER SLOTS reply".into());
    let Value::Array(entries) = reply else {
        return Err(malformed());
    };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(fields) = entry else {
                return Err(malformed());
            };
            let mut fields = fields.into_iter();
            let (Some(first), Some(last), Some(Value::Array(master))) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(malformed());
            };
            let mut master = master.into_iter();
            let (Some(host), Some(port)) = (master.next(), master.next()) else {
                return Err(malformed());
            };
            let host = String::from_redis_value(host)?;
            let host = if host.is_empty() {
                asked_host.to_owned()
            } else {
                host
            };
            Ok((
                u16::from_redis_value(first)?,
                u16::from_redis_value(last)?,
                format!("{host}:{}", u16::from_redis_value(port)?),
            ))
        })
        .collect()
}

#[async_trait]
impl SessionRecords for RedisClusterRecords {
    async fn load(&self, id: &Id) -> Result<Option<Arc<Record>>, StoreError> {
        let key = self.key(id);
        let mut command = ::redis::cmd("GET");
        command.arg(&key);
        let Some(bytes) = self.on_key::<Option<Vec<u8>>>(&key, &command).await? else {
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
        let key = self.key(&record.id);
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(SWAP_SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(unix_millis(expected_expiry).max(1))
            .arg(encode(record)?)
            .arg(unix_millis(record.expiry_date).max(1));
        let swapped: i64 = self.on_key(&key, &command).await?;
        Ok(swapped == 1)
    }

    async fn delete(&self, id: &Id) -> Result<bool, StoreError> {
        let key = self.key(id);
        let mut command = ::redis::cmd("DEL");
        command.arg(&key);
        let deleted: i64 = self.on_key(&key, &command).await?;
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
        let slot_map = self.current();
        let mut counted = 0;
        for master in &slot_map.masters {
            let on_master: u64 = command.query_async(&mut master.connection.clone()).await?;
            counted += on_master;
        }
        Ok(counted)
    }
}

impl From<RedisError> for StoreError {
    fn from(err: RedisError) -> Self {
        if err.is_timeout() {
            StoreError::Timeout(BACKEND_TIMEOUT)
        } else {
            StoreError::client(err)
        }
    }
}

impl From<ParsingError> for StoreError {
    fn from(err: ParsingError) -> Self {
        StoreError::client(err)
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
    fn every_named_node_is_a_seed_and_the_credentials_are_kept() {
        let (credentials, seeds) = seed_nodes(
            service("redis-cluster://app:pw@a:30001?node=b:30002&node=c:30003&prefix=p:").connect(),
        )
        .unwrap();
        assert_eq!(credentials, "app:pw@");
        assert_eq!(seeds, ["a:30001", "b:30002", "c:30003"]);
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

    /// What `CLUSTER KEYSLOT` answers for the same keys.
    #[test]
    fn a_key_hashes_to_the_slot_redis_gives_it() {
        assert_eq!(key_slot(b"foo"), 12_182);
        assert_eq!(key_slot(b"123456789"), 0x31C3 % SLOTS);
    }

    #[test]
    fn a_hash_tag_alone_decides_the_slot() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // An empty tag is no tag: the whole key counts.
        assert_eq!(key_slot(b"a{}b"), crc16(b"a{}b") % SLOTS);
    }

    #[test]
    fn a_slot_outside_every_range_has_no_master() {
        assert!(SlotMap::empty().master_of(0).is_none());
    }
}
