//! The session stores the tests run against, each fresh and private to one
//! test: a SQLite file in the test's folder, a Redis key prefix, a PostgreSQL
//! schema, a Redis Cluster of the test's own. Redis and PostgreSQL are the
//! shared services whose URLs `SVJ_TEST_REDIS_URL` and
//! `SVJ_TEST_POSTGRES_URL` name; what a test wrote there is removed when its
//! `FreshStore` is dropped, so parallel runs (ours or another engineer's)
//! never see each other's sessions.

use std::{
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};

use sessions_vs_jwt::stores::{self, SharedRecords, StoreUrl};

use super::redis::{RedisCluster, RedisNode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    Memory,
    Sqlite,
    Redis,
    Postgres,
    /// Three masters started for the test (`redis-server` and `redis-cli`).
    RedisCluster,
    /// The same stores with `--store-cache` in front.
    SqliteCached,
    RedisCached,
    PostgresCached,
}

/// A store made for one test; cleaned up on drop.
#[derive(Debug)]
pub struct FreshStore {
    pub store: TestStore,
    pub url: String,
    namespace: Namespace,
}

#[derive(Debug)]
enum Namespace {
    None,
    RedisPrefix {
        server: String,
        prefix: String,
    },
    PostgresSchema {
        server: String,
        schema: String,
    },
    /// Its own cluster, killed with the store.
    RedisCluster(RedisCluster),
}

/// The cache settings the cached variants run with.
pub const CACHE_ARGS: [&str; 4] = ["--store-cache", "1000", "--store-cache-ttl", "5"];

impl TestStore {
    pub fn is_cached(self) -> bool {
        matches!(
            self,
            Self::SqliteCached | Self::RedisCached | Self::PostgresCached
        )
    }

    /// Redis drops expired keys by itself, so it never holds any for a
    /// sweep to find.
    pub fn expires_by_itself(self) -> bool {
        matches!(self, Self::Redis | Self::RedisCached | Self::RedisCluster)
    }

    /// A new, empty store of this kind; SQLite's file goes in `dir`.
    pub fn fresh(self, dir: &Path) -> FreshStore {
        let unique = unique_name();
        let (url, namespace) = match self {
            Self::Memory => ("memory".to_owned(), Namespace::None),
            Self::Sqlite | Self::SqliteCached => (
                format!("sqlite://{}", dir.join("sessions.sqlite3").display()),
                Namespace::None,
            ),
            Self::Redis | Self::RedisCached => {
                let server = redis_url();
                let prefix = format!("svj-test:{unique}:");
                (
                    with_parameter(&server, "prefix", &prefix),
                    Namespace::RedisPrefix { server, prefix },
                )
            }
            Self::RedisCluster => {
                let cluster = RedisCluster::start(dir);
                (cluster.store_url(), Namespace::RedisCluster(cluster))
            }
            Self::Postgres | Self::PostgresCached => {
                let server = postgres_url();
                let schema = format!("svj_test_{}", unique.replace('-', "_"));
                (
                    with_parameter(&server, "schema", &schema),
                    Namespace::PostgresSchema { server, schema },
                )
            }
        };
        FreshStore {
            store: self,
            url,
            namespace,
        }
    }
}

impl FreshStore {
    /// The server arguments that select this store.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--store".to_owned(), self.url.clone()];
        if self.store.is_cached() {
            args.extend(CACHE_ARGS.map(str::to_owned));
        }
        args
    }

    pub fn kind(&self) -> StoreUrl {
        self.url.parse().unwrap()
    }

    /// The store as the server opens it, cache included.
    pub async fn open(&self) -> SharedRecords {
        let records = stores::open(&self.kind()).await.unwrap();
        if self.store.is_cached() {
            stores::cached(records, 1000, std::time::Duration::from_secs(5))
        } else {
            records
        }
    }

    /// Overwrites every stored record with bytes that are not MessagePack,
    /// as a record written by another program, or damaged, would be.
    pub async fn corrupt_every_record(&self) {
        match (&self.namespace, self.store) {
            (Namespace::RedisPrefix { server, prefix }, _) => {
                let client = redis_client(server).await;
                for key in redis_keys(&client, prefix).await {
                    let _: () = fred::prelude::KeysInterface::set(
                        &client,
                        key,
                        vec![0xc1_u8, 0xc1, 0xc1],
                        Some(fred::types::Expiration::EX(3600)),
                        Some(fred::types::SetOptions::XX),
                        false,
                    )
                    .await
                    .unwrap();
                }
            }
            (Namespace::PostgresSchema { server, schema }, _) => {
                run_postgres(
                    server,
                    &format!(r#"update "{schema}".session set data = '\xc1c1c1'"#),
                )
                .await;
            }
            (Namespace::RedisCluster(cluster), _) => {
                for master in &cluster.masters {
                    corrupt_every_key(master).await;
                }
            }
            (Namespace::None, TestStore::Sqlite | TestStore::SqliteCached) => {
                let path = self.url.strip_prefix("sqlite://").unwrap();
                run_sqlite(
                    Path::new(path),
                    "update tower_sessions set data = x'c1c1c1'",
                )
                .await;
            }
            (Namespace::None, _) => panic!("the memory store stores no bytes to corrupt"),
        }
    }
}

impl Drop for FreshStore {
    fn drop(&mut self) {
        let namespace = std::mem::replace(&mut self.namespace, Namespace::None);
        if matches!(namespace, Namespace::None) {
            return;
        }
        // Drop cannot await, and may run inside a runtime: clean up from a
        // thread with its own.
        let cleaned = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    match namespace {
                        Namespace::RedisPrefix { server, prefix } => {
                            let client = redis_client(&server).await;
                            for key in redis_keys(&client, &prefix).await {
                                let _: i64 = fred::prelude::KeysInterface::del(&client, key)
                                    .await
                                    .unwrap();
                            }
                        }
                        Namespace::PostgresSchema { server, schema } => {
                            run_postgres(
                                &server,
                                &format!(r#"drop schema if exists "{schema}" cascade"#),
                            )
                            .await;
                        }
                        Namespace::RedisCluster(_) | Namespace::None => {}
                    }
                });
        })
        .join();
        if cleaned.is_err() && !std::thread::panicking() {
            panic!("could not clean up the test's store {}", self.url);
        }
    }
}

/// Unique across the tests of this run and across runs on this machine.
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

fn with_parameter(url: &str, name: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={value}")
}

/// The shared Redis the service tests use. Read at run time, or else as it
/// was when the tests were built (which is what decided they run).
pub fn redis_url() -> String {
    service_url(
        "SVJ_TEST_REDIS_URL",
        option_env!("SVJ_TEST_REDIS_URL"),
        "redis://127.0.0.1:6379",
    )
}

pub fn postgres_url() -> String {
    service_url(
        "SVJ_TEST_POSTGRES_URL",
        option_env!("SVJ_TEST_POSTGRES_URL"),
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

fn service_url(variable: &str, at_build: Option<&str>, example: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|url| !url.is_empty())
        .or(at_build.map(str::to_owned))
        .unwrap_or_else(|| panic!("this test needs {variable}, e.g. {variable}={example}"))
}

async fn redis_client(url: &str) -> fred::prelude::Client {
    use fred::prelude::ClientLike as _;
    let client = fred::prelude::Client::new(
        fred::prelude::Config::from_url(url).unwrap(),
        None,
        None,
        None,
    );
    client.init().await.unwrap();
    client
}

async fn redis_keys(client: &fred::prelude::Client, prefix: &str) -> Vec<fred::types::Key> {
    use futures_util::TryStreamExt as _;
    client
        .scan_buffered(format!("{prefix}*"), Some(1000), None)
        .try_collect()
        .await
        .unwrap()
}

/// Every key one cluster node holds overwritten in place, expiry kept.
async fn corrupt_every_key(node: &RedisNode) {
    let client = redis::Client::open(format!("redis://{}", node.address())).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for key in node.keys("*") {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(&[0xc1_u8, 0xc1, 0xc1][..])
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut connection)
            .await
            .unwrap();
    }
}

pub async fn run_postgres(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
}

/// Runs `sql` on the SQLite file from outside the server, as an operator would.
pub async fn run_sqlite(database: &Path, sql: &str) {
    let connection = rusqlite::Connection::open(database).unwrap();
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    connection.execute_batch(sql).unwrap();
}
