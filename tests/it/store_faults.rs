//! What a visitor sees when the session store fails: a 503 page on
//! `/server`, never an empty 500 or a hang, while `/token` goes on working;
//! and how the server comes back when the store does.

use crate::common;

use std::time::Duration;

use common::{
    TestServer, Visitor,
    process::{Instance, PrivateRedis},
    proxy::StoreProxy,
    stores::TestStore,
    wait_until,
};
use sessions_vs_jwt::routes::{Mount, Route};

/// Breaks the SQLite store from outside, as a botched migration or a
/// restored backup of another schema would.
async fn drop_the_sessions_table(database: &std::path::Path) {
    run_sql(database, "drop table tower_sessions").await;
}

async fn run_sql(database: &std::path::Path, sql: &str) {
    common::stores::run_sqlite(database, sql).await;
}

#[tokio::test]
async fn a_failing_store_gives_503_pages_on_server_while_token_keeps_working() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    visitor.log_in_on(Mount::TOKEN).await;

    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;

    for request in [Route::GetSession, Route::SetSession] {
        let page = visitor.get(&Mount::SERVER.url(request)).await;
        assert_eq!(page.status, 503, "{request:?}");
        assert!(
            page.body.contains("The session store (sqlite)"),
            "{}",
            page.body
        );
        assert!(page.body.contains("is unavailable"), "{}", page.body);
    }
    let page = visitor.log_out_on(Mount::SERVER).await;
    assert_eq!(page.status, 503);

    let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "john_doe");

    let health = visitor.get("/healthz").await;
    assert_eq!(health.status, 503);
    assert!(health.body.contains("sqlite://"), "{}", health.body);
    assert!(
        health.body.ends_with(": the store failed\n"),
        "the health check names what failed as a category, never in the backend's words: {}",
        health.body
    );
}

async fn an_undecodable_record_makes_a_guest_and_is_deleted(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    server.store.as_ref().unwrap().corrupt_every_record().await;

    let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
    assert!(
        page.set_cookie("sessionid").is_some(),
        "the cookie naming it is cleared"
    );
    assert_eq!(server.stored_sessions().await, 0, "the record is gone");
}

on_store!(
    on_sqlite: Sqlite,
    on_redis: Redis,
    on_postgres: Postgres,
    => [an_undecodable_record_makes_a_guest_and_is_deleted]
);

#[tokio::test]
async fn an_undecodable_record_is_logged_as_a_warning() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("sessions.sqlite3");
    let store = format!("sqlite://{}", database.display());
    let keys = folder.path().join("keys");
    let server = Instance::start(&["--store", &store, "--keys-dir", keys.to_str().unwrap()]);
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    common::stores::run_sqlite(&database, "update tower_sessions set data = x'c1c1c1'").await;

    let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
    // The log reaches the test through a pipe, a moment after the page.
    common::wait_until("the request's access line", || async {
        server.log().contains("path=/server/get_session/")
    })
    .await;
    let log = server.log();
    let warning = log
        .lines()
        .find(|line| line.contains("undecodable session record"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
}

#[tokio::test]
async fn a_guest_without_a_cookie_never_touches_the_store() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;
    let page = server
        .visitor()
        .get(&Mount::SERVER.url(Route::GetSession))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn a_failing_store_makes_the_inspector_a_503_that_still_shows_the_token_side() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    visitor.log_in_on(Mount::TOKEN).await;
    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;

    let page = visitor.get("/").await;
    assert_eq!(page.status, 503);
    assert!(
        page.body
            .contains("id=\"server\" data-verdict=\"unavailable\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("The session store (sqlite) is unavailable")
    );
    assert!(page.body.contains("id=\"token\" data-verdict=\"valid\""));
    assert!(
        page.set_cookie("sessionid").is_none(),
        "a cookie the store could not check is left alone"
    );
}

#[tokio::test]
async fn with_token_revocation_a_failing_store_makes_the_inspector_a_503_that_still_shows_the_server_side()
 {
    let server = TestServer::start(&[
        "--store",
        "sqlite://{dir}/sessions.sqlite3",
        "--token-revocation",
    ])
    .await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;

    let page = visitor.get("/").await;
    assert_eq!(page.status, 503);
    assert!(
        page.body
            .contains("id=\"token\" data-verdict=\"unavailable\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"server\" data-verdict=\"guest\""));
    assert!(
        page.set_cookie("token").is_none(),
        "a token the revocation list could not check is left alone"
    );
}

needs!(
    redis_and_its_server,
    /// A real outage: the server's own Redis is killed under it and started
    /// again, while the server (the real binary) keeps running.
    #[tokio::test]
    async fn a_redis_outage_gives_503s_on_server_only_and_the_server_recovers_by_itself() {
        let mut redis = PrivateRedis::start();
        let folder = tempfile::tempdir().unwrap();
        let keys = folder.path().join("keys");
        let mut server = Instance::start(&[
            "--store",
            &redis.url(),
            "--keys-dir",
            keys.to_str().unwrap(),
        ]);
        let mut visitor = patient_visitor(server.url(""));
        assert_eq!(visitor.log_in_on(Mount::SERVER).await.status, 200);
        assert_eq!(visitor.log_in_on(Mount::TOKEN).await.status, 200);

        redis.kill();

        for route in [Route::GetSession, Route::SetSession] {
            let page = visitor.get(&Mount::SERVER.url(route)).await;
            assert_eq!(page.status, 503, "{route:?}: {}", page.body);
            assert!(
                page.body
                    .contains("The session store (redis) is unavailable"),
                "{}",
                page.body
            );
        }
        let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
        assert_eq!(page.status, 200, "/token needs no store");
        assert_eq!(page.username(), "john_doe");
        let health = visitor.get("/healthz").await;
        assert_eq!(health.status, 503);
        assert!(health.body.contains(&redis.url()), "{}", health.body);
        assert!(server.is_running(), "the outage did not stop the server");

        redis.start_again();

        let health_url = server.url("/healthz");
        wait_until("reconnected to the restarted Redis", || async {
            reqwest::get(&health_url)
                .await
                .is_ok_and(|response| response.status() == 200)
        })
        .await;
        // The restarted Redis is empty: the old session is gone, and says so.
        let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
        assert_eq!(
            (page.status.as_u16(), page.username().as_str()),
            (200, "Guest")
        );
        visitor.log_in_on(Mount::SERVER).await;
        let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe", "logins work again");
    }
);

/// A visitor that waits for an answer far longer than the store's own time
/// limit: not a measurement, only so that a hang fails the test instead of
/// stalling it.
fn patient_visitor(base: String) -> Visitor {
    Visitor::with_timeout(base, Duration::from_secs(30))
}

/// A store that accepts connections and then never answers, in front of a
/// fresh store of `kind`: the server starts on it while it still relays,
/// then every call to it hangs.
async fn a_hanging_store_gives_503_pages_on_server_while_token_keeps_working(store: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = store.fresh(dir.path());
    let (proxy, url) = StoreProxy::in_front_of(&fresh.url);
    let server = TestServer::start(&["--store", &url]).await;
    let mut visitor = patient_visitor(server.url(""));
    for mount in Mount::BUILT_IN {
        let page = visitor.log_in_on(mount).await;
        assert_eq!(page.status, 200, "{mount:?}");
    }

    proxy.hang();

    let name = fresh.kind().name();
    for route in [Route::GetSession, Route::SetSession] {
        let page = visitor.get(&Mount::SERVER.url(route)).await;
        assert_eq!(page.status, 503, "{route:?}: {}", page.body);
        assert!(
            page.body
                .contains(&format!("The session store ({name}) is unavailable")),
            "{}",
            page.body
        );
    }
    let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert_eq!(page.status, 200, "/token needs no store");
    assert_eq!(page.username(), "john_doe");
    let health = visitor.get("/healthz").await;
    assert_eq!(health.status, 503, "{}", health.body);
}

on_store!(
    hanging_on_redis: Redis,
    hanging_on_postgres: Postgres,
    => [a_hanging_store_gives_503_pages_on_server_while_token_keeps_working]
);
