//! The contract every session store keeps, checked on each store through the
//! same `SessionRecords` interface the server uses.

use crate::common;

use common::{
    TestServer,
    stores::{FreshStore, TestStore},
    wait_until,
};
use serde_json::json;
use sessions_vs_jwt::{
    metrics::StoreMeter,
    routes::Mount,
    stores::{self, SharedRecords, StoreUrl},
};
use time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};

fn record(expires_in: Duration) -> Record {
    Record {
        id: Id::default(),
        data: [("username".to_owned(), json!("alice"))].into(),
        expiry_date: OffsetDateTime::now_utc() + expires_in,
    }
}

// Every contract test on every store.
on_store!(
    on_memory: Memory,
    on_sqlite: Sqlite,
    on_sqlite_cached: SqliteCached,
    on_redis: Redis,
    on_redis_cached: RedisCached,
    on_redis_cluster: RedisCluster,
    on_postgres: Postgres,
    on_postgres_cached: PostgresCached,
    => [
        a_created_record_loads_back,
        a_record_created_shared_loads_back_as_handed_back,
        creating_shared_under_a_taken_id_picks_another,
        a_shared_create_is_counted_as_a_create,
        an_unknown_id_loads_nothing,
        an_expired_record_loads_nothing,
        creating_under_a_taken_id_picks_another,
        delete_says_whether_there_was_a_record,
        update_changes_a_live_record,
        update_never_resurrects_a_deleted_record,
        update_never_revives_an_expired_record,
        delete_expired_removes_only_expired_records_and_counts_them,
        compare_and_swap_replaces_a_record_that_still_expires_as_expected,
        compare_and_swap_fails_once_the_record_was_swapped,
        of_concurrent_compare_and_swaps_of_one_record_exactly_one_succeeds,
        compare_and_swap_never_resurrects_a_deleted_record,
        every_operation_is_counted_by_kind,
    ]
);

// The stores that keep bytes report a record they cannot decode.
on_store!(
    bytes_on_sqlite: Sqlite,
    bytes_on_redis: Redis,
    bytes_on_redis_cluster: RedisCluster,
    bytes_on_postgres: Postgres,
    => [a_record_the_store_cannot_decode_is_reported_as_corrupt]
);

/// A fresh store, and what must live as long as it: its folder and
/// its cleanup.
async fn store(kind: TestStore) -> (SharedRecords, (FreshStore, tempfile::TempDir)) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = kind.fresh(dir.path());
    (fresh.open().await, (fresh, dir))
}

async fn a_created_record_loads_back(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    let loaded = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, created.data);
    assert_eq!(loaded.id, created.id);
}

async fn a_record_created_shared_loads_back_as_handed_back(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let written = record(Duration::hours(1));
    let created = store.create_shared(written.clone()).await.unwrap();
    assert_eq!(created.data, written.data);
    let loaded = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, written.data);
    assert_eq!(loaded.id, created.id);
}

async fn creating_shared_under_a_taken_id_picks_another(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let first = store
        .create_shared(record(Duration::hours(1)))
        .await
        .unwrap();
    let mut second = record(Duration::hours(1));
    second.id = first.id;
    second.data.insert("username".into(), json!("mallory"));
    let second = store.create_shared(second).await.unwrap();
    assert_ne!(second.id, first.id);
    let kept = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(kept.data["username"], json!("alice"));
    let other = store.load(&second.id).await.unwrap().unwrap();
    assert_eq!(other.data["username"], json!("mallory"));
}

async fn a_shared_create_is_counted_as_a_create(kind: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = kind.fresh(dir.path());
    let meter = StoreMeter::unexported();
    let store = stores::instrumented(fresh.open().await, &fresh.kind(), meter.clone(), true);
    store
        .create_shared(record(Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(meter.counts().creates, 1);
}

async fn an_unknown_id_loads_nothing(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    assert!(store.load(&Id::default()).await.unwrap().is_none());
}

async fn an_expired_record_loads_nothing(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut expired = record(Duration::seconds(-1));
    store.create(&mut expired).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_none());
}

async fn creating_under_a_taken_id_picks_another(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut first = record(Duration::hours(1));
    store.create(&mut first).await.unwrap();
    let mut second = record(Duration::hours(1));
    second.id = first.id;
    second.data.insert("username".into(), json!("mallory"));
    store.create(&mut second).await.unwrap();
    assert_ne!(second.id, first.id);
    let kept = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(
        kept.data["username"],
        json!("alice"),
        "the first record is untouched"
    );
}

async fn delete_says_whether_there_was_a_record(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    assert!(store.delete(&created.id).await.unwrap());
    assert!(!store.delete(&created.id).await.unwrap());
    assert!(store.load(&created.id).await.unwrap().is_none());
}

async fn update_changes_a_live_record(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    created.data.insert("username".into(), json!("bob"));
    assert!(store.update(&created).await.unwrap());
    let loaded = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["username"], json!("bob"));
}

async fn update_never_resurrects_a_deleted_record(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    store.delete(&created.id).await.unwrap();
    assert!(!store.update(&created).await.unwrap());
    assert!(store.load(&created.id).await.unwrap().is_none());
    assert_eq!(store.count().await.unwrap(), 0);
}

async fn update_never_revives_an_expired_record(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut expired = record(Duration::seconds(-1));
    store.create(&mut expired).await.unwrap();
    expired.expiry_date = OffsetDateTime::now_utc() + Duration::hours(1);
    assert!(!store.update(&expired).await.unwrap());
    assert!(store.load(&expired.id).await.unwrap().is_none());
}

async fn delete_expired_removes_only_expired_records_and_counts_them(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    for expires_in in [
        Duration::seconds(-10),
        Duration::seconds(-1),
        Duration::hours(1),
    ] {
        store.create(&mut record(expires_in)).await.unwrap();
    }
    if kind.expires_by_itself() {
        assert_eq!(
            store.count().await.unwrap(),
            1,
            "the store dropped them itself"
        );
    } else {
        assert_eq!(store.count().await.unwrap(), 3);
        assert_eq!(store.delete_expired().await.unwrap(), 2);
        assert_eq!(store.count().await.unwrap(), 1);
    }
    assert_eq!(store.delete_expired().await.unwrap(), 0);
}

async fn compare_and_swap_replaces_a_record_that_still_expires_as_expected(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    let replacement = swapped(&created, "bob");
    assert!(
        store
            .compare_and_swap(&replacement, created.expiry_date)
            .await
            .unwrap()
    );
    let loaded = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["username"], json!("bob"));
}

async fn compare_and_swap_fails_once_the_record_was_swapped(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    assert!(
        store
            .compare_and_swap(&swapped(&created, "bob"), created.expiry_date)
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap(&swapped(&created, "mallory"), created.expiry_date)
            .await
            .unwrap()
    );
    let loaded = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(
        loaded.data["username"],
        json!("bob"),
        "the first swap stands"
    );
}

async fn of_concurrent_compare_and_swaps_of_one_record_exactly_one_succeeds(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    let swaps = (0..8).map(|attempt| {
        let store = std::sync::Arc::clone(&store);
        let replacement = swapped(&created, &format!("racer{attempt}"));
        let expected = created.expiry_date;
        tokio::spawn(async move {
            store
                .compare_and_swap(&replacement, expected)
                .await
                .unwrap()
        })
    });
    let results = futures_util::future::join_all(swaps).await;
    let winners = results
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(winners, 1);
}

async fn compare_and_swap_never_resurrects_a_deleted_record(kind: TestStore) {
    let (store, _dir) = store(kind).await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    store.delete(&created.id).await.unwrap();
    assert!(
        !store
            .compare_and_swap(&swapped(&created, "bob"), created.expiry_date)
            .await
            .unwrap()
    );
    assert!(store.load(&created.id).await.unwrap().is_none());
}

async fn every_operation_is_counted_by_kind(kind: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = kind.fresh(dir.path());
    let meter = StoreMeter::unexported();
    let store = stores::instrumented(fresh.open().await, &fresh.kind(), meter.clone(), true);
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    store.load(&created.id).await.unwrap();
    store.update(&created).await.unwrap();
    store
        .compare_and_swap(&swapped(&created, "bob"), created.expiry_date)
        .await
        .unwrap();
    store.delete(&created.id).await.unwrap();
    store.count().await.unwrap();
    let counted = meter.counts();
    assert_eq!(
        (
            counted.loads,
            counted.creates,
            counted.updates,
            counted.compare_and_swaps,
            counted.deletes,
            counted.counts,
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(counted.by_requests(), 5);
    let hits = if kind.is_cached() { 1 } else { 0 };
    assert_eq!(
        store.cache_hits(),
        hits,
        "a cache answers the load of a record it created"
    );
}

/// `record` with another username and an expiry one second later, as a
/// compare-and-swap's replacement must have.
fn swapped(record: &Record, username: &str) -> Record {
    let mut replacement = record.clone();
    replacement.data.insert("username".into(), json!(username));
    replacement.expiry_date = record.expiry_date + Duration::seconds(1);
    replacement
}

/// What a store that keeps bytes does with bytes it cannot decode.
async fn a_record_the_store_cannot_decode_is_reported_as_corrupt(kind: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = kind.fresh(dir.path());
    let store = fresh.open().await;
    let mut created = record(Duration::hours(1));
    store.create(&mut created).await.unwrap();
    fresh.corrupt_every_record().await;
    assert!(matches!(
        store.load(&created.id).await,
        Err(stores::StoreError::Corrupt(_))
    ));
    assert!(
        store.delete(&created.id).await.unwrap(),
        "it can still be deleted"
    );
}

mod sqlite {
    use super::*;
    #[tokio::test]
    async fn opening_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let kind = StoreUrl::Sqlite(dir.path().join("sessions.sqlite3"));
        let first = stores::open(&kind).await.unwrap();
        let mut created = record(Duration::hours(1));
        first.create(&mut created).await.unwrap();
        let second = stores::open(&kind).await.unwrap();
        assert!(second.load(&created.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_file_and_its_folders_are_created_on_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/sessions.sqlite3");
        stores::open(&StoreUrl::Sqlite(path.clone())).await.unwrap();
        assert!(path.exists());
    }

    /// Two replicas of a deploy open a file that does not exist yet at the
    /// same moment: both switch it to WAL and create the schema, and each
    /// must open. Looped, since the collision is a matter of timing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_opens_at_once_of_a_new_file_all_succeed_every_time() {
        let dir = tempfile::tempdir().unwrap();
        for attempt in 0..100 {
            let kind = StoreUrl::Sqlite(dir.path().join(format!("sessions-{attempt}.sqlite3")));
            let opened = futures_util::future::join_all((0..4).map(|_| stores::open(&kind))).await;
            for store in opened {
                let store = store.unwrap_or_else(|err| panic!("attempt {attempt}: {err}"));
                assert_eq!(store.count().await.unwrap(), 0);
            }
        }
    }

    /// WAL and a busy timeout: many first visits at once, each a write, must
    /// all succeed rather than fail with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_visits_never_fail_with_database_is_locked() {
        let server = TestServer::start_on(TestStore::Sqlite, &[]).await;
        let visits = (0..64).map(|_| {
            let mut visitor = server.visitor();
            async move { visitor.log_in_on(Mount::SERVER).await }
        });
        for page in futures_util::future::join_all(visits).await {
            assert_eq!(page.status, 200, "{}", page.body);
        }
        assert_eq!(server.stored_sessions().await, 64);
    }
}

mod postgres {
    use super::*;
    needs!(
        postgres,
        /// Two instances deploying at once both migrate the same fresh schema:
        /// neither may fail on the other's half-made tables.
        #[tokio::test]
        async fn instances_migrating_a_fresh_schema_at_once_all_succeed() {
            let dir = tempfile::tempdir().unwrap();
            let fresh = TestStore::Postgres.fresh(dir.path());
            migrate_at_once(&fresh.kind()).await;
        }
    );

    needs!(
        postgres,
        /// The same when an operator made the (empty) schema beforehand.
        #[tokio::test]
        async fn instances_migrating_an_empty_schema_at_once_all_succeed() {
            let dir = tempfile::tempdir().unwrap();
            let fresh = TestStore::Postgres.fresh(dir.path());
            let StoreUrl::Postgres(url) = fresh.kind() else {
                unreachable!()
            };
            common::stores::run_postgres(
                url.connect(),
                &format!(r#"create schema "{}""#, url.namespace),
            )
            .await;
            migrate_at_once(&fresh.kind()).await;
        }
    );

    async fn migrate_at_once(kind: &StoreUrl) {
        let opened = futures_util::future::join_all((0..6).map(|_| stores::open(kind))).await;
        for store in opened {
            assert_eq!(store.unwrap().count().await.unwrap(), 0);
        }
    }
}

/// `--store-cache`, on its own, over a memory store.
mod cache {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::oneshot;

    /// Lets a test hold a load between reading the store and returning, to
    /// order it against a logout deterministically.
    #[derive(Debug)]
    struct HeldLoad {
        store: SharedRecords,
        read: Mutex<Option<oneshot::Sender<()>>>,
        release: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
    }

    #[async_trait::async_trait]
    impl stores::SessionRecords for HeldLoad {
        async fn load(
            &self,
            id: &Id,
        ) -> Result<Option<std::sync::Arc<Record>>, stores::StoreError> {
            let loaded = self.store.load(id).await;
            let read = self.read.lock().unwrap().take();
            if let Some(read) = read {
                read.send(()).unwrap();
                let release = self.release.lock().await.take().unwrap();
                release.await.unwrap();
            }
            loaded
        }
        async fn create(&self, record: &mut Record) -> Result<(), stores::StoreError> {
            self.store.create(record).await
        }
        async fn update(&self, record: &Record) -> Result<bool, stores::StoreError> {
            self.store.update(record).await
        }
        async fn compare_and_swap(
            &self,
            record: &Record,
            expected_expiry: time::OffsetDateTime,
        ) -> Result<bool, stores::StoreError> {
            self.store.compare_and_swap(record, expected_expiry).await
        }
        async fn delete(&self, id: &Id) -> Result<bool, stores::StoreError> {
            self.store.delete(id).await
        }
        async fn delete_expired(&self) -> Result<u64, stores::StoreError> {
            self.store.delete_expired().await
        }
        async fn count(&self) -> Result<u64, stores::StoreError> {
            self.store.count().await
        }
    }

    async fn memory() -> SharedRecords {
        stores::open(&StoreUrl::memory()).await.unwrap()
    }

    #[tokio::test]
    async fn a_load_that_read_the_store_before_a_logout_does_not_put_the_session_back() {
        let store = memory().await;
        let mut created = record(Duration::hours(1));
        store.create(&mut created).await.unwrap();
        let (read, has_read) = oneshot::channel();
        let (release, released) = oneshot::channel();
        let held = std::sync::Arc::new(HeldLoad {
            store,
            read: Mutex::new(Some(read)),
            release: tokio::sync::Mutex::new(Some(released)),
        });
        let cached = stores::cached(held, 100, std::time::Duration::from_secs(60));

        let in_flight = tokio::spawn({
            let cached = std::sync::Arc::clone(&cached);
            async move { cached.load(&created.id).await.unwrap() }
        });
        has_read.await.unwrap();
        assert!(cached.delete(&created.id).await.unwrap(), "the logout");
        release.send(()).unwrap();
        assert!(
            in_flight.await.unwrap().is_some(),
            "the request in flight saw the session it read"
        );

        assert!(
            cached.load(&created.id).await.unwrap().is_none(),
            "but the cache did not keep it"
        );
    }

    #[tokio::test]
    async fn an_expired_session_is_never_served_from_the_cache() {
        let cached = stores::cached(memory().await, 100, std::time::Duration::from_secs(60));
        let mut short = record(Duration::seconds(3));
        cached.create(&mut short).await.unwrap();
        assert!(cached.load(&short.id).await.unwrap().is_some());
        wait_until("past the record's expiry", || async {
            OffsetDateTime::now_utc() > short.expiry_date
        })
        .await;
        assert!(cached.load(&short.id).await.unwrap().is_none());
    }

    /// The trade-off of an in-process cache with several instances: each
    /// instance's cache cannot hear of the other's logout, so it serves the
    /// session until its TTL runs out, and no longer. "Still cached" can only
    /// be seen within the TTL: an attempt the machine stalled past it is
    /// void, and made again.
    #[tokio::test]
    async fn another_instances_logout_is_seen_once_the_ttl_has_passed() {
        let ttl = std::time::Duration::from_secs(5);
        for _attempt in 0..3 {
            let shared = memory().await;
            let first = stores::cached(std::sync::Arc::clone(&shared), 100, ttl);
            let second = stores::cached(shared, 100, ttl);
            let mut created = record(Duration::hours(1));
            first.create(&mut created).await.unwrap();
            assert!(second.load(&created.id).await.unwrap().is_some());
            let cached_by = std::time::Instant::now();

            assert!(first.delete(&created.id).await.unwrap());
            assert!(
                first.load(&created.id).await.unwrap().is_none(),
                "at once where it happened"
            );
            let still_cached = second.load(&created.id).await.unwrap().is_some();
            if cached_by.elapsed() >= ttl {
                continue;
            }
            assert!(still_cached, "still cached on the other instance");
            // A little past the TTL, for the cache's own clock.
            let expired_by = cached_by + ttl + std::time::Duration::from_millis(100);
            wait_until("past the TTL", || async {
                std::time::Instant::now() >= expired_by
            })
            .await;
            assert!(
                second.load(&created.id).await.unwrap().is_none(),
                "not after the TTL"
            );
            return;
        }
        panic!("three attempts in a row took longer than the {ttl:?} TTL to check");
    }
}

#[tokio::test]
async fn the_server_sweeps_expired_sessions_in_the_background() {
    let server = TestServer::start(&["--cookie-age", "1", "--cleanup-interval", "1"]).await;
    server.visitor().log_in_on(Mount::SERVER).await;
    assert_eq!(server.stored_sessions().await, 1);
    wait_until("the expired record swept", || async {
        server.stored_sessions().await == 0
    })
    .await;
}
