//! What a visitor sees when the session store fails: a 503 page on
//! `/server`, never an empty 500, while `/token` goes on working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestServer;
use sessions_vs_jwt::routes::{Mount, Route};

/// Breaks the SQLite store from outside, as a botched migration or a
/// restored backup of another schema would.
async fn drop_the_sessions_table(database: &std::path::Path) {
    run_sql(database, "drop table tower_sessions").await;
}

async fn run_sql(database: &std::path::Path, sql: &str) {
    use sqlx::ConnectOptions as _;
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .connect()
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

#[tokio::test]
async fn a_failing_store_gives_503_pages_on_server_while_token_keeps_working() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.get(&Mount::Server.url(Route::SetSession)).await;
    visitor.get(&Mount::Token.url(Route::SetSession)).await;

    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;

    for request in [Route::GetSession, Route::SetSession] {
        let page = visitor.get(&Mount::Server.url(request)).await;
        assert_eq!(page.status, 503, "{request:?}");
        assert!(
            page.body.contains("The session store (sqlite)"),
            "{}",
            page.body
        );
        assert!(page.body.contains("is unavailable"), "{}", page.body);
    }
    let page = visitor.post(&Mount::Server.url(Route::Logout), &[]).await;
    assert_eq!(page.status, 503);

    let page = visitor.get(&Mount::Token.url(Route::GetSession)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "john_doe");

    let health = visitor.get("/healthz").await;
    assert_eq!(health.status, 503);
    assert!(health.body.contains("sqlite://"), "{}", health.body);
}

#[tokio::test]
async fn an_undecodable_record_makes_a_guest_and_is_deleted() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.get(&Mount::Server.url(Route::SetSession)).await;
    let database = server.dir.path().join("sessions.sqlite3");
    run_sql(&database, "update tower_sessions set data = x'c1c1c1'").await;

    let page = visitor.get(&Mount::Server.url(Route::GetSession)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
    assert!(
        page.set_cookie("sessionid").is_some(),
        "the cookie naming it is cleared"
    );
    assert_eq!(server.stored_sessions().await, 0, "the record is gone");
}

#[tokio::test]
async fn a_guest_without_a_cookie_never_touches_the_store() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    drop_the_sessions_table(&server.dir.path().join("sessions.sqlite3")).await;
    let page = server
        .visitor()
        .get(&Mount::Server.url(Route::GetSession))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn a_failing_store_makes_the_inspector_a_503_that_still_shows_the_token_side() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.get(&Mount::Server.url(Route::SetSession)).await;
    visitor.get(&Mount::Token.url(Route::SetSession)).await;
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
