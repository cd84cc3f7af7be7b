//! Where `/hybrid` differs from the others, pinned: the store is touched
//! once per refresh and never while the access token is valid; a refresh id
//! works once, and a second use after the race window ends the whole login;
//! parallel requests racing one refresh keep the visitor logged in; logout
//! kills a copied refresh cookie at once and a copied access token only at
//! its `exp`; and a store outage fails refreshes with a 503, never with a
//! logout. The shared behaviour is in `scenarios.rs`, which runs on
//! `/hybrid` too. Every test runs a real server over a real socket.

use crate::common;

use std::time::Duration;

use common::{
    TestServer, Visitor, proxy::StoreProxy, stores::TestStore, token_claims, wait_until_unix_time,
};
use sessions_vs_jwt::{
    hybrid_session::{ACCESS_COOKIE_NAME, RACE_WINDOW_SECONDS, REFRESH_COOKIE_NAME},
    metrics::OperationCounts,
    routes::{Mount, Route},
    server_session,
    session::{VisitorState, fingerprint},
    token_session::claims::{Claims, LEEWAY_SECONDS, TokenKind, now},
    username::Username,
};

const ACCESS: &str = ACCESS_COOKIE_NAME;
const REFRESH: &str = REFRESH_COOKIE_NAME;

fn get_session() -> String {
    Mount::HYBRID.url(Route::GetSession)
}

/// A visitor logged in on `/hybrid` as john_doe.
async fn logged_in(server: &TestServer) -> Visitor {
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::HYBRID).await;
    assert_eq!(page.status, 200);
    assert!(visitor.cookie(ACCESS).is_some() && visitor.cookie(REFRESH).is_some());
    visitor
}

/// A browser holding only `refresh`: what one holds once the access
/// cookie's Max-Age has passed, or what a thief who copied the refresh
/// cookie holds.
fn holding_only_refresh(server: &TestServer, refresh: &str) -> Visitor {
    server.visitor().holding(REFRESH, refresh)
}

fn holding_only_access(server: &TestServer, access: &str) -> Visitor {
    server.visitor().holding(ACCESS, access)
}

fn operations(server: &TestServer) -> OperationCounts {
    server.site.store_operations()
}

/// The store operations a request path made, counted in the store layer.
fn operations_since(server: &TestServer, before: &OperationCounts) -> u64 {
    operations(server).since(before).by_requests()
}

// The behaviours that depend on the store, on each.
on_store!(
    on_memory: Memory,
    on_sqlite: Sqlite,
    on_sqlite_cached: SqliteCached,
    on_redis: Redis,
    on_postgres: Postgres,
    => [
        a_refresh_id_is_consumed_once_and_replaced_by_new_cookies,
        parallel_requests_racing_one_refresh_all_keep_the_visitor_logged_in,
        a_consumed_refresh_id_used_after_the_race_window_revokes_the_whole_login,
        logout_kills_a_copied_refresh_cookie_at_once,
        a_login_replaces_the_previous_refresh_id,
    ]
);

async fn a_refresh_id_is_consumed_once_and_replaced_by_new_cookies(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let visitor = logged_in(&server).await;
    let first = visitor.cookie(REFRESH).unwrap();
    let mut browser = holding_only_refresh(&server, &first);
    let page = browser.get(&get_session()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "john_doe");
    let rotated = browser.cookie(REFRESH).expect("a new refresh id");
    assert_ne!(rotated, first);
    assert!(page.set_cookie(ACCESS).is_some(), "a new access token");
    let page = browser.get(&get_session()).await;
    assert_eq!(page.username(), "john_doe", "the new access token serves");
    let page = holding_only_refresh(&server, &rotated)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "john_doe", "the new refresh id refreshes");
}

async fn parallel_requests_racing_one_refresh_all_keep_the_visitor_logged_in(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let refresh = logged_in(&server).await.cookie(REFRESH).unwrap();
    let pages = futures_util::future::join_all((0..12).map(|_| {
        let mut browser = holding_only_refresh(&server, &refresh);
        async move { browser.get(&get_session()).await }
    }))
    .await;
    for page in &pages {
        assert_eq!(page.status, 200);
        assert_eq!(page.username(), "john_doe", "no racer is logged out");
        assert!(
            page.set_cookie(ACCESS).is_some(),
            "each gets an access token"
        );
    }
    let successors: std::collections::BTreeSet<String> = pages
        .iter()
        .filter_map(|page| page.set_cookie(REFRESH))
        .map(|cookie| cookie.value().to_owned())
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "exactly one request rotated the id, and the others were given its successor"
    );
    let successor = successors.first().unwrap();
    let page = holding_only_refresh(&server, successor)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "john_doe", "the login was not revoked");
}

async fn a_consumed_refresh_id_used_after_the_race_window_revokes_the_whole_login(
    store: TestStore,
) {
    let server = TestServer::start_on(store, &[]).await;
    let stolen = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut visitor = holding_only_refresh(&server, &stolen);
    visitor.get(&get_session()).await;
    let consumed_at = now();
    let current = visitor.cookie(REFRESH).unwrap();

    wait_until_unix_time(consumed_at + RACE_WINDOW_SECONDS + 1).await;
    let mut thief = holding_only_refresh(&server, &stolen);
    let page = thief.get(&get_session()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
    assert_eq!(thief.cookie(REFRESH), None, "the reused cookie is cleared");

    let page = holding_only_refresh(&server, &current)
        .get(&get_session())
        .await;
    assert_eq!(
        page.username(),
        "Guest",
        "the visitor's own refresh id died too"
    );
}

async fn logout_kills_a_copied_refresh_cookie_at_once(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let mut visitor = logged_in(&server).await;
    let copied = visitor.cookie(REFRESH).unwrap();
    let page = visitor.log_out_on(Mount::HYBRID).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        visitor.cookie(REFRESH),
        None,
        "the visitor's own is removed"
    );
    let page = holding_only_refresh(&server, &copied)
        .get(&get_session())
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
}

async fn a_login_replaces_the_previous_refresh_id(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let mut visitor = logged_in(&server).await;
    let before = visitor.cookie(REFRESH).unwrap();
    visitor.log_in_as(Mount::HYBRID, "alice").await;
    let page = holding_only_refresh(&server, &before)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest");
    let page = holding_only_refresh(&server, &visitor.cookie(REFRESH).unwrap())
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "alice");
}

#[tokio::test]
async fn a_valid_access_token_is_served_without_touching_the_store() {
    let server = TestServer::start_on(TestStore::Sqlite, &[]).await;
    let mut visitor = logged_in(&server).await;
    let before = operations(&server);
    for _ in 0..10 {
        assert_eq!(visitor.get(&get_session()).await.username(), "john_doe");
    }
    assert_eq!(operations_since(&server, &before), 0);
}

#[tokio::test]
async fn a_refresh_touches_the_store_a_fixed_number_of_times() {
    let server = TestServer::start_on(TestStore::Sqlite, &[]).await;
    let mut refresh = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut costs = Vec::new();
    for _ in 0..3 {
        let before = operations(&server);
        let mut browser = holding_only_refresh(&server, &refresh);
        browser.get(&get_session()).await;
        refresh = browser.cookie(REFRESH).unwrap();
        costs.push(operations(&server).since(&before));
    }
    // Read the id, check its login lives, create the successor, swap the
    // old id for its consumed record: the same four every time.
    for cost in &costs {
        assert_eq!(
            (
                cost.loads,
                cost.creates,
                cost.compare_and_swaps,
                cost.by_requests()
            ),
            (2, 1, 1, 4),
            "{costs:?}"
        );
    }
}

#[tokio::test]
async fn each_mechanism_touches_the_store_as_often_as_its_design_says() {
    let server = TestServer::start_on(TestStore::Sqlite, &[]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        visitor.log_in_on(mount).await;
    }
    for (mount, per_request) in [
        (Mount::SERVER, 1),
        (Mount::TOKEN, 0),
        (Mount::COOKIE, 0),
        (Mount::HYBRID, 0),
    ] {
        let before = operations(&server);
        for _ in 0..5 {
            visitor.get(&mount.url(Route::GetSession)).await;
        }
        assert_eq!(
            operations_since(&server, &before),
            5 * per_request,
            "{mount:?}"
        );
    }
}

#[tokio::test]
async fn a_copied_access_token_works_after_logout_until_its_exp_and_no_longer() {
    const ACCESS_AGE: u64 = 3;
    let server = TestServer::start_on(TestStore::Memory, &["--access-token-age", "3"]).await;
    let mut visitor = logged_in(&server).await;
    let issued_at = now();
    let copied = visitor.cookie(ACCESS).unwrap();
    visitor.log_out_on(Mount::HYBRID).await;

    let page = holding_only_access(&server, &copied)
        .get(&get_session())
        .await;
    assert_eq!(
        page.username(),
        "john_doe",
        "revocation waits for the token's exp"
    );

    wait_until_unix_time(issued_at + ACCESS_AGE + LEEWAY_SECONDS + 1).await;
    let page = holding_only_access(&server, &copied)
        .get(&get_session())
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn an_expired_access_token_with_a_live_refresh_id_is_refreshed() {
    const ACCESS_AGE: u64 = 1;
    let server = TestServer::start_on(TestStore::Memory, &["--access-token-age", "1"]).await;
    let mut visitor = logged_in(&server).await;
    let issued_at = now();
    let first = visitor.cookie(ACCESS).unwrap();
    wait_until_unix_time(issued_at + ACCESS_AGE + LEEWAY_SECONDS + 1).await;
    let page = visitor.get(&get_session()).await;
    assert_eq!(page.username(), "john_doe");
    assert_ne!(visitor.cookie(ACCESS).unwrap(), first, "a new access token");
}

#[tokio::test]
async fn both_cookies_carry_the_security_attributes_and_their_own_lifetimes() {
    let server = TestServer::start(&["--access-token-age", "120"]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::HYBRID).await;
    for (name, max_age) in [(ACCESS, 120), (REFRESH, 1_209_600)] {
        let cookie = page.set_cookie(name).unwrap();
        assert_eq!(cookie.http_only(), Some(true), "{name}");
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax), "{name}");
        assert_eq!(cookie.path(), Some("/"), "{name}");
        assert_eq!(
            cookie.max_age(),
            Some(cookie::time::Duration::seconds(max_age)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn secure_cookies_give_both_cookies_the_host_prefix() {
    let server = TestServer::start(&["--secure-cookies"]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::HYBRID).await;
    for name in [ACCESS, REFRESH] {
        let cookie = page
            .set_cookie(&format!("__Host-{name}"))
            .unwrap_or_else(|| panic!("no __Host-{name}"));
        assert_eq!(cookie.secure(), Some(true));
    }
}

#[tokio::test]
async fn an_access_token_never_lasts_longer_than_the_login() {
    let server = TestServer::start(&["--cookie-age", "60", "--access-token-age", "600"]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::HYBRID).await;
    assert_eq!(
        page.set_cookie(ACCESS).unwrap().max_age(),
        Some(cookie::time::Duration::seconds(60))
    );
}

#[tokio::test]
async fn a_garbage_refresh_cookie_makes_a_guest_and_is_removed() {
    let server = TestServer::start(&[]).await;
    let mut browser = holding_only_refresh(&server, "not-a-refresh-id");
    let page = browser.get(&get_session()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "Guest");
    assert_eq!(
        page.set_cookie(REFRESH).unwrap().max_age(),
        Some(cookie::time::Duration::ZERO)
    );
}

#[tokio::test]
async fn a_valid_access_token_beside_a_garbage_refresh_cookie_is_refused_and_both_removed() {
    let server = TestServer::start(&[]).await;
    let mut visitor = logged_in(&server).await;
    visitor.set_cookie(REFRESH, "garbage");
    let page = visitor.get(&get_session()).await;
    assert_eq!(page.username(), "Guest");
    assert_eq!(visitor.cookie(ACCESS), None);
    assert_eq!(visitor.cookie(REFRESH), None);
}

#[tokio::test]
async fn a_tampered_access_token_is_refused_even_beside_a_live_refresh_id() {
    let server = TestServer::start(&[]).await;
    let mut visitor = logged_in(&server).await;
    let access = visitor.cookie(ACCESS).unwrap();
    let mut bytes = access.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    visitor.set_cookie(ACCESS, &tampered);
    let page = visitor.get(&get_session()).await;
    assert_eq!(page.username(), "Guest");
    assert_eq!(visitor.cookie(ACCESS), None);
}

#[tokio::test]
async fn a_token_from_token_lasting_longer_than_an_access_token_is_refused() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    let token = visitor
        .cookie(sessions_vs_jwt::token_session::COOKIE_NAME)
        .unwrap();
    let page = holding_only_access(&server, &token)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn a_session_cookie_naming_a_refresh_record_is_not_a_session() {
    let server = TestServer::start(&[]).await;
    let refresh = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut visitor = server
        .visitor()
        .holding(server_session::COOKIE_NAME, &refresh);
    let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn a_session_id_sent_as_a_refresh_id_is_not_a_refresh_id() {
    let server = TestServer::start(&[]).await;
    let mut owner = server.visitor();
    owner.log_in_on(Mount::SERVER).await;
    let session_id = owner.cookie(server_session::COOKIE_NAME).unwrap();

    let page = holding_only_refresh(&server, &session_id)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest");
    let page = owner.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "john_doe", "the session was not consumed");
}

/// Breaks the SQLite store from outside: every later store call fails.
async fn break_the_sqlite_store(server: &TestServer) {
    common::stores::run_sqlite(
        &server.dir.path().join("sessions.sqlite3"),
        "drop table tower_sessions",
    )
    .await;
}

#[tokio::test]
async fn in_a_store_outage_a_valid_access_token_is_still_served() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = logged_in(&server).await;
    break_the_sqlite_store(&server).await;
    let page = visitor.get(&get_session()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.username(), "john_doe");
}

#[tokio::test]
async fn in_a_store_outage_a_refresh_gets_the_503_page_and_keeps_its_cookies() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let refresh = logged_in(&server).await.cookie(REFRESH).unwrap();
    break_the_sqlite_store(&server).await;
    let mut browser = holding_only_refresh(&server, &refresh);
    let page = browser.get(&get_session()).await;
    assert_eq!(page.status, 503);
    assert!(
        page.body
            .contains("The session store (sqlite) is unavailable"),
        "{}",
        page.body
    );
    assert!(page.set_cookies().is_empty(), "no silent logout");
    assert_eq!(browser.cookie(REFRESH), Some(refresh));
}

/// The same outage through a store that stops answering (Redis,
/// PostgreSQL): the server's time limit turns the hang into a 503.
async fn a_hanging_store_fails_refreshes_with_503_and_serves_valid_access_tokens(store: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = store.fresh(dir.path());
    let (proxy, url) = StoreProxy::in_front_of(&fresh.url);
    let server = TestServer::start(&["--store", &url]).await;
    let mut visitor = Visitor::with_timeout(server.url(""), Duration::from_secs(30));
    visitor.log_in_on(Mount::HYBRID).await;
    let refresh = visitor.cookie(REFRESH).unwrap();

    proxy.hang();

    let page = visitor.get(&get_session()).await;
    assert_eq!(page.status, 200, "a valid access token needs no store");
    assert_eq!(page.username(), "john_doe");
    let mut browser = Visitor::with_timeout(server.url(""), Duration::from_secs(30));
    browser.set_cookie(REFRESH, &refresh);
    let page = browser.get(&get_session()).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.set_cookies().is_empty(), "no silent logout");
    drop(fresh);
}

on_store!(
    hanging_on_redis: Redis,
    hanging_on_postgres: Postgres,
    => [a_hanging_store_fails_refreshes_with_503_and_serves_valid_access_tokens]
);

#[tokio::test]
async fn a_detected_reuse_is_logged_as_a_warning() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let server = common::process::Instance::start(&[
        "--store",
        "memory",
        "--keys-dir",
        keys.to_str().unwrap(),
    ]);
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::HYBRID).await;
    let stolen = visitor.cookie(REFRESH).unwrap();
    let mut browser = server.visitor().holding(REFRESH, &stolen);
    browser.get(&get_session()).await;
    let consumed_at = now();

    wait_until_unix_time(consumed_at + RACE_WINDOW_SECONDS + 1).await;
    let mut thief = server.visitor().holding(REFRESH, &stolen);
    assert_eq!(thief.get(&get_session()).await.username(), "Guest");
    // The log reaches the test through a pipe, a moment after the page.
    common::wait_until("the reuse's warning", || async {
        server.log().contains("revoking its whole login")
    })
    .await;
    let log = server.log();
    let warning = log
        .lines()
        .find(|line| line.contains("revoking its whole login"))
        .unwrap();
    assert!(warning.contains("WARN"), "{warning}");
    assert!(!warning.contains(&stolen), "the refresh id is never logged");
}

/// A thief's browser: an access token of its own, which anyone gets from a
/// cookieless login, beside `refresh`, someone else's id.
async fn own_access_naming(server: &TestServer, refresh: &str) -> Visitor {
    let mut thief = server.visitor();
    thief.log_in_on(Mount::HYBRID).await;
    thief.set_cookie(REFRESH, refresh);
    thief
}

#[tokio::test]
async fn a_login_or_logout_naming_someone_elses_id_as_its_refresh_id_deletes_nothing() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut bystander = server.visitor();
    bystander.log_in_as(Mount::SERVER, "bystander").await;
    let session = bystander.cookie(server_session::COOKIE_NAME).unwrap();
    let carols = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut revoked = server.visitor();
    revoked.log_in_on(Mount::TOKEN).await;
    let token = revoked.cookie("token").unwrap();
    revoked.log_out_on(Mount::TOKEN).await;
    let entry = token_claims(&token)["jti"].as_str().unwrap().to_owned();

    for named in [&session, &carols, &entry] {
        for route in [Route::Logout, Route::SetSession] {
            let mut thief = own_access_naming(&server, named).await;
            let page = thief
                .post(&Mount::HYBRID.url(route), &[("username", "mallory")])
                .await;
            assert!(
                page.status.is_success() || page.status.is_redirection(),
                "{}",
                page.body
            );
        }
    }

    assert_eq!(bystander.username_on(Mount::SERVER).await, "bystander");
    let page = holding_only_refresh(&server, &carols)
        .get(&get_session())
        .await;
    assert_eq!(
        page.username(),
        "john_doe",
        "another login's refresh id still refreshes"
    );
    let mut replay = server.visitor().holding("token", &token);
    assert_eq!(
        replay.username_on(Mount::TOKEN).await,
        "Guest",
        "still revoked"
    );
}

#[tokio::test]
async fn a_logout_ends_the_visitors_own_refresh_id() {
    let server = TestServer::start(&[]).await;
    let mut visitor = logged_in(&server).await;
    let refresh = visitor.cookie(REFRESH).unwrap();
    let stored = server.stored_sessions().await;
    visitor.log_out_on(Mount::HYBRID).await;
    assert_eq!(
        server.stored_sessions().await,
        stored - 2,
        "the family and the refresh id the visitor sent, theirs, are deleted"
    );
    let page = holding_only_refresh(&server, &refresh)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest");
}

#[tokio::test]
async fn a_thief_cannot_erase_the_record_that_detects_the_reuse_of_a_stolen_refresh_id() {
    let server = TestServer::start(&["--refresh-race-window", "1"]).await;
    let stolen = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut thief = holding_only_refresh(&server, &stolen);
    assert_eq!(thief.get(&get_session()).await.username(), "john_doe");
    let consumed_at = now();
    let rotated = thief.cookie(REFRESH).unwrap();
    own_access_naming(&server, &stolen)
        .await
        .log_out_on(Mount::HYBRID)
        .await;

    wait_until_unix_time(consumed_at + 2).await;
    let page = holding_only_refresh(&server, &stolen)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest", "the victim's reuse is refused");
    let page = holding_only_refresh(&server, &rotated)
        .get(&get_session())
        .await;
    assert_eq!(
        page.username(),
        "Guest",
        "and detected as reuse: the thief's rotated id died with the login"
    );
}

#[tokio::test]
async fn the_inspector_shows_a_refresh_record_only_to_its_own_login_and_never_its_successor() {
    let server = TestServer::start(&[]).await;
    let mut victim = logged_in(&server).await;
    let consumed = victim.cookie(REFRESH).unwrap();
    let page = holding_only_refresh(&server, &consumed)
        .get(&get_session())
        .await;
    let successor = page.set_cookie(REFRESH).unwrap().value().to_owned();

    let page = own_access_naming(&server, &consumed).await.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(&successor),
        "the successor is not shown"
    );
    assert!(
        !page.body.contains("family_id"),
        "nor any record of the victim's"
    );

    let page = victim.get("/").await;
    assert!(
        page.body.contains("family_id"),
        "the owner sees its own record"
    );
    assert!(
        page.body.contains(&fingerprint(&successor)),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&successor),
        "its successor only by fingerprint"
    );
}

#[tokio::test]
async fn an_access_token_opens_no_token_page_and_a_token_is_no_access_token() {
    let server = TestServer::start(&[]).await;
    let access = logged_in(&server).await.cookie(ACCESS).unwrap();
    let mut browser = server.visitor().holding("token", &access);
    assert_eq!(browser.username_on(Mount::TOKEN).await, "Guest");

    // A /token token in the last seconds of its two weeks.
    let keys = server.token_keys();
    let lifetime = 1_209_600;
    let state = VisitorState::logged_in(Username::seed());
    let token = Claims::new(TokenKind::Session, &state, now() + 60 - lifetime, lifetime)
        .sign(&keys, TokenKind::Session)
        .unwrap();
    let mut browser = server.visitor().holding("token", &token);
    assert_eq!(
        browser.username_on(Mount::TOKEN).await,
        "john_doe",
        "a valid token"
    );
    let mut browser = holding_only_access(&server, &token);
    assert_eq!(browser.username_on(Mount::HYBRID).await, "Guest");
}

#[tokio::test]
async fn access_tokens_are_typed_at_jwt_for_their_own_audience() {
    let server = TestServer::start(&[]).await;
    let access = logged_in(&server).await.cookie(ACCESS).unwrap();
    assert_eq!(
        common::token_header(&access).typ.as_deref(),
        Some(TokenKind::Access.typ())
    );
    assert_eq!(token_claims(&access)["aud"], TokenKind::Access.audience());
}

#[tokio::test]
async fn a_browser_that_lost_a_rotations_response_is_given_the_same_successor_within_the_race_window()
 {
    let server = TestServer::start(&["--refresh-race-window", "2"]).await;
    let refresh = logged_in(&server).await.cookie(REFRESH).unwrap();
    let lost = holding_only_refresh(&server, &refresh)
        .get(&get_session())
        .await;
    let consumed_at = now();
    let successor = lost.set_cookie(REFRESH).unwrap().value().to_owned();

    let mut browser = holding_only_refresh(&server, &refresh);
    let page = browser.get(&get_session()).await;
    assert_eq!(page.username(), "john_doe");
    assert_eq!(
        browser.cookie(REFRESH),
        Some(successor.clone()),
        "the successor again"
    );

    wait_until_unix_time(consumed_at + 3).await;
    let page = holding_only_refresh(&server, &successor)
        .get(&get_session())
        .await;
    assert_eq!(
        page.username(),
        "john_doe",
        "the login goes on after the window"
    );
}

#[tokio::test]
async fn a_refresh_id_two_rotations_old_is_reuse_even_within_the_race_window() {
    let server = TestServer::start(&["--refresh-race-window", "60"]).await;
    let first = logged_in(&server).await.cookie(REFRESH).unwrap();
    let mut browser = holding_only_refresh(&server, &first);
    browser.get(&get_session()).await;
    let second = browser.cookie(REFRESH).unwrap();
    let mut browser = holding_only_refresh(&server, &second);
    browser.get(&get_session()).await;
    let third = browser.cookie(REFRESH).unwrap();
    assert_ne!(second, third);

    let page = holding_only_refresh(&server, &first)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest", "the oldest id is refused");
    let page = holding_only_refresh(&server, &third)
        .get(&get_session())
        .await;
    assert_eq!(page.username(), "Guest", "as reuse: the whole login ended");
}
