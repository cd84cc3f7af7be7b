//! The integration tests, in one binary: a module per behaviour, all against
//! the real server on a real socket. One binary links the app and its
//! dependencies once, where a binary per file linked them twenty times.
//!
//! A test that needs what a new machine may lack (Redis, PostgreSQL,
//! Chromium, ...) is wrapped in [`needs!`]: build.rs finds out what this
//! machine has, and a test it cannot run is reported `ignored` with the one
//! reason below, never passed. `.ci/run` installs everything and fails on
//! any ignored test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Marks `$item`, a test, as needing `$need`: where build.rs did not find
/// it, the test is listed as `ignored` with the reason and how to get it.
macro_rules! needs {
    (nothing, $item:item) => {
        $item
    };
    (redis, $item:item) => {
        #[cfg_attr(
            not(svj_test_redis),
            ignore = "needs Redis: set SVJ_TEST_REDIS_URL=redis://127.0.0.1:6379 (see docs/testing.md)"
        )]
        $item
    };
    (postgres, $item:item) => {
        #[cfg_attr(
            not(svj_test_postgres),
            ignore = "needs PostgreSQL: set SVJ_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test (see docs/testing.md)"
        )]
        $item
    };
    (redis_programs, $item:item) => {
        #[cfg_attr(
            not(all(svj_redis_server, svj_redis_cli)),
            ignore = "needs redis-server and redis-cli on the PATH: apt-get install redis-server redis-tools"
        )]
        $item
    };
    (redis_and_its_server, $item:item) => {
        #[cfg_attr(
            not(all(svj_test_redis, svj_redis_server)),
            ignore = "needs Redis and redis-server on the PATH: set SVJ_TEST_REDIS_URL=redis://127.0.0.1:6379 (see docs/testing.md)"
        )]
        $item
    };
    (chromium, $item:item) => {
        #[cfg_attr(
            not(svj_chromium),
            ignore = "needs Chromium: apt-get install chromium chromium-driver"
        )]
        $item
    };
    (promtool, $item:item) => {
        #[cfg_attr(
            not(svj_promtool),
            ignore = "needs promtool: apt-get install prometheus"
        )]
        $item
    };
    (many_descriptors, $item:item) => {
        #[cfg_attr(
            not(svj_many_descriptors),
            ignore = "needs a hard limit of 2500 open files (ulimit -Hn)"
        )]
        $item
    };
}

/// Runs each `async fn $test(store: TestStore)` named on each store named,
/// as `$module::$test`, ignored with its reason where the store's service is
/// missing. `@needs` wraps one test as its store requires.
macro_rules! on_store {
    ($($module:ident: $store:ident),+ $(,)? => $tests:tt) => {
        $(on_store!(@module $module, $store, $tests);)+
    };
    (@module $module:ident, $store:ident, [$($test:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(on_store!(@needs $store, #[tokio::test] async fn $test() {
                super::$test(TestStore::$store).await;
            });)*
        }
    };
    (@needs Memory, $item:item) => { needs!(nothing, $item); };
    (@needs Sqlite, $item:item) => { needs!(nothing, $item); };
    (@needs SqliteCached, $item:item) => { needs!(nothing, $item); };
    (@needs Redis, $item:item) => { needs!(redis, $item); };
    (@needs RedisCached, $item:item) => { needs!(redis, $item); };
    (@needs Postgres, $item:item) => { needs!(postgres, $item); };
    (@needs PostgresCached, $item:item) => { needs!(postgres, $item); };
    (@needs RedisCluster, $item:item) => { needs!(redis_programs, $item); };
}

/// [`on_store!`] on every store the server can run on, with and without the
/// in-process cache in front.
macro_rules! on_every_store {
    ($tests:tt) => {
        on_store!(
            on_memory: Memory,
            on_sqlite: Sqlite,
            on_sqlite_cached: SqliteCached,
            on_redis: Redis,
            on_redis_cached: RedisCached,
            on_postgres: Postgres,
            on_postgres_cached: PostgresCached,
            => $tests
        );
    };
}

mod common;

mod access_log;
mod adversarial;
mod architecture;
mod binary;
mod browser;
mod cluster;
mod cookie_session;
mod crashes;
mod differences;
mod failover;
mod hybrid_session;
mod inspector;
mod instances;
mod interop;
mod metrics;
mod overload;
mod own_mechanism;
mod scenarios;
mod security;
mod site;
mod store_faults;
mod stores;
mod thief;
mod vectors;
