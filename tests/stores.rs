//! The contract every session store keeps, checked on each store through the
//! same `SessionRecords` interface the server uses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::json;
use sessions_vs_jwt::{
    SessionStoreKind,
    server_session::{self, SharedRecords},
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

/// Instantiates every contract test for one store, opened by `$open`.
macro_rules! store_contract {
    ($open:expr) => {
        async fn store() -> (SharedRecords, Option<tempfile::TempDir>) {
            $open.await
        }

        #[tokio::test]
        async fn a_created_record_loads_back() {
            let (store, _dir) = store().await;
            let mut created = record(Duration::hours(1));
            store.create(&mut created).await.unwrap();
            let loaded = store.load(&created.id).await.unwrap().unwrap();
            assert_eq!(loaded.data, created.data);
            assert_eq!(loaded.id, created.id);
        }

        #[tokio::test]
        async fn an_unknown_id_loads_nothing() {
            let (store, _dir) = store().await;
            assert!(store.load(&Id::default()).await.unwrap().is_none());
        }

        #[tokio::test]
        async fn an_expired_record_loads_nothing() {
            let (store, _dir) = store().await;
            let mut expired = record(Duration::seconds(-1));
            store.create(&mut expired).await.unwrap();
            assert!(store.load(&expired.id).await.unwrap().is_none());
        }

        #[tokio::test]
        async fn creating_under_a_taken_id_picks_another() {
            let (store, _dir) = store().await;
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

        #[tokio::test]
        async fn delete_says_whether_there_was_a_record() {
            let (store, _dir) = store().await;
            let mut created = record(Duration::hours(1));
            store.create(&mut created).await.unwrap();
            assert!(store.delete(&created.id).await.unwrap());
            assert!(!store.delete(&created.id).await.unwrap());
            assert!(store.load(&created.id).await.unwrap().is_none());
        }

        #[tokio::test]
        async fn update_changes_a_live_record() {
            let (store, _dir) = store().await;
            let mut created = record(Duration::hours(1));
            store.create(&mut created).await.unwrap();
            created.data.insert("username".into(), json!("bob"));
            assert!(store.update(&created).await.unwrap());
            let loaded = store.load(&created.id).await.unwrap().unwrap();
            assert_eq!(loaded.data["username"], json!("bob"));
        }

        #[tokio::test]
        async fn update_never_resurrects_a_deleted_record() {
            let (store, _dir) = store().await;
            let mut created = record(Duration::hours(1));
            store.create(&mut created).await.unwrap();
            store.delete(&created.id).await.unwrap();
            assert!(!store.update(&created).await.unwrap());
            assert!(store.load(&created.id).await.unwrap().is_none());
            assert_eq!(store.count().await.unwrap(), 0);
        }

        #[tokio::test]
        async fn update_never_revives_an_expired_record() {
            let (store, _dir) = store().await;
            let mut expired = record(Duration::seconds(-1));
            store.create(&mut expired).await.unwrap();
            expired.expiry_date = OffsetDateTime::now_utc() + Duration::hours(1);
            assert!(!store.update(&expired).await.unwrap());
            assert!(store.load(&expired.id).await.unwrap().is_none());
        }

        #[tokio::test]
        async fn delete_expired_removes_only_expired_records_and_counts_them() {
            let (store, _dir) = store().await;
            for expires_in in [
                Duration::seconds(-10),
                Duration::seconds(-1),
                Duration::hours(1),
            ] {
                store.create(&mut record(expires_in)).await.unwrap();
            }
            assert_eq!(store.count().await.unwrap(), 3);
            assert_eq!(store.delete_expired().await.unwrap(), 2);
            assert_eq!(store.count().await.unwrap(), 1);
            assert_eq!(store.delete_expired().await.unwrap(), 0);
        }
    };
}

mod memory {
    use super::*;

    store_contract!(async {
        (
            server_session::open(&SessionStoreKind::Memory)
                .await
                .unwrap(),
            None,
        )
    });
}

mod sqlite {
    use super::*;

    store_contract!(async {
        let dir = tempfile::tempdir().unwrap();
        let kind = SessionStoreKind::Sqlite(dir.path().join("nested/folder/sessions.sqlite3"));
        (server_session::open(&kind).await.unwrap(), Some(dir))
    });

    #[tokio::test]
    async fn opening_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let kind = SessionStoreKind::Sqlite(dir.path().join("sessions.sqlite3"));
        let first = server_session::open(&kind).await.unwrap();
        let mut created = record(Duration::hours(1));
        first.create(&mut created).await.unwrap();
        let second = server_session::open(&kind).await.unwrap();
        assert!(second.load(&created.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_record_the_store_cannot_decode_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.sqlite3");
        let store = server_session::open(&SessionStoreKind::Sqlite(path.clone()))
            .await
            .unwrap();
        let mut created = record(Duration::hours(1));
        store.create(&mut created).await.unwrap();
        corrupt_every_record(&path).await;
        assert!(matches!(
            store.load(&created.id).await,
            Err(server_session::StoreError::Corrupt(_))
        ));
    }

    async fn corrupt_every_record(path: &std::path::Path) {
        use sqlx::ConnectOptions as _;
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .connect()
            .await
            .unwrap();
        sqlx::query("update tower_sessions set data = x'c1c1c1'")
            .execute(&mut connection)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_server_sweeps_expired_sessions_in_the_background() {
    use sessions_vs_jwt::routes::{Mount, Route};
    let server = common::TestServer::start(&["--cookie-age", "1", "--cleanup-interval", "1"]).await;
    server
        .visitor()
        .get(&Mount::Server.url(Route::SetSession))
        .await;
    assert_eq!(server.stored_sessions().await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(
        server.stored_sessions().await,
        0,
        "the expired record was swept"
    );
}
