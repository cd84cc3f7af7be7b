//! The server stopped under login load, politely (SIGTERM, as a deploy or
//! `systemctl stop` does) or not (`kill -9`, as the OOM killer does): every
//! login it acknowledged with a page is still there after a restart.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    process::Instance,
    stores::{FreshStore, TestStore},
};
use sessions_vs_jwt::routes::{Mount, Route};

/// Logins acknowledged by the server, as (session cookie, username).
type Acknowledged = Arc<Mutex<Vec<(String, String)>>>;

/// A fresh store and a keys folder, and the arguments that name both.
fn prepare(store: TestStore) -> (tempfile::TempDir, FreshStore, Vec<String>) {
    let folder = tempfile::tempdir().unwrap();
    let fresh = store.fresh(folder.path());
    let mut args = fresh.args();
    args.extend([
        "--keys-dir".to_owned(),
        folder.path().join("keys").display().to_string(),
    ]);
    (folder, fresh, args)
}

/// Eight visitors logging in over and over, each login a new session, until
/// the server stops answering. Every 200 is recorded in `acknowledged`; any
/// other answer it gives is a failure of the test.
fn start_login_load(base: String, acknowledged: &Acknowledged) -> tokio::task::JoinSet<()> {
    let mut load = tokio::task::JoinSet::new();
    for visitor in 0..8 {
        let base = base.clone();
        let acknowledged = Arc::clone(acknowledged);
        load.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            for login in 0.. {
                let name = format!("user{visitor}-{login}");
                let sent = client
                    .post(format!("{base}{}", Mount::SERVER.url(Route::SetSession)))
                    .form(&[("username", &name)])
                    .send()
                    .await;
                let Ok(response) = sent else {
                    return;
                };
                assert_eq!(response.status(), 200, "an acknowledged request failed");
                let cookie = response
                    .headers()
                    .get_all(reqwest::header::SET_COOKIE)
                    .iter()
                    .filter_map(|value| cookie::Cookie::parse(value.to_str().ok()?).ok())
                    .find(|cookie| cookie.name() == "sessionid")
                    .expect("a login sets the cookie")
                    .value()
                    .to_owned();
                acknowledged.lock().unwrap().push((cookie, name));
            }
        });
    }
    load
}

/// Waits until the load has `count` acknowledged logins (bounded at 30 s).
async fn until_acknowledged(acknowledged: &Acknowledged, count: usize) {
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the load did not get {count} logins through in 30 s");
}

/// Every acknowledged login reads back under its cookie on `server`.
async fn assert_every_login_survived(server: &Instance, acknowledged: &[(String, String)]) {
    for (cookie, name) in acknowledged {
        let mut visitor = server.visitor().holding("sessionid", cookie);
        assert_eq!(&visitor.username_on(Mount::SERVER).await, name);
    }
}

/// The stopped server's access log has a line for each acknowledged login
/// (its last lines may still be on their way through the pipe: 5 s bound).
async fn assert_access_log_has_every_login(server: &Instance, acknowledged: usize) {
    let mut logged = 0;
    for _ in 0..100 {
        logged = server
            .log()
            .lines()
            .filter(|line| {
                line.contains("method=POST path=/server/set_session/ ")
                    && line.contains("status=200")
            })
            .count();
        if logged >= acknowledged {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{logged} access-log lines for {acknowledged} acknowledged logins");
}

async fn every_acknowledged_login_survives_a_sigterm_under_load(store: TestStore) {
    let (_folder, _fresh, args) = prepare(store);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Instance::start(&args);
    let acknowledged = Acknowledged::default();
    let mut load = start_login_load(server.url(""), &acknowledged);
    until_acknowledged(&acknowledged, 50).await;

    let (server, status) = tokio::task::spawn_blocking(move || {
        let status = server.stop();
        (server, status)
    })
    .await
    .unwrap();
    while let Some(visitor) = load.join_next().await {
        visitor.unwrap();
    }
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_access_log_has_every_login(&server, acknowledged.len()).await;

    let restarted = Instance::start(&args);
    assert_every_login_survived(&restarted, &acknowledged).await;
}

#[tokio::test]
async fn on_sqlite_every_acknowledged_login_survives_a_kill_9_under_load_and_the_file_opens_cleanly()
 {
    let (folder, _fresh, args) = prepare(TestStore::Sqlite);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Instance::start(&args);
    let acknowledged = Acknowledged::default();
    let mut load = start_login_load(server.url(""), &acknowledged);
    until_acknowledged(&acknowledged, 50).await;

    server.kill();
    while let Some(visitor) = load.join_next().await {
        visitor.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let file = rusqlite::Connection::open(folder.path().join("sessions.sqlite3")).unwrap();
    let integrity: String = file
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(file);

    let restarted = Instance::start(&args);
    assert_every_login_survived(&restarted, &acknowledged).await;
}

on_store!(
    on_sqlite: Sqlite,
    on_redis: Redis,
    on_postgres: Postgres,
    => [every_acknowledged_login_survives_a_sigterm_under_load]
);
