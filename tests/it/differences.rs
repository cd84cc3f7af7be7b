//! Where the mechanisms must differ, each difference pinned by its own
//! test: what the server stores, and what a logout can revoke.

use crate::common;

use common::{TestServer, cookie_name, stores::TestStore};
use sessions_vs_jwt::routes::{Mount, Route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_every_store!([
    after_logout_a_copied_session_cookie_is_worthless_but_a_copied_token_still_works,
    a_login_rotates_the_session_id_and_deletes_the_old_record,
    a_login_racing_a_logout_is_refused_on_server_but_not_on_token,
    a_double_clicked_login_shows_no_error,
    many_logins_at_once_with_the_same_cookie_all_succeed,
]);

async fn after_logout_a_copied_session_cookie_is_worthless_but_a_copied_token_still_works(
    store: TestStore,
) {
    let server = TestServer::start_on(store, &[]).await;
    for (mount, still_logged_in) in [(Mount::SERVER, false), (Mount::TOKEN, true)] {
        let copy = server.copied_cookie_after_logout(mount).await;
        let mut thief = server.visitor().holding(cookie_name(mount), &copy);
        let page = thief.get(&mount.url(Route::GetSession)).await;
        let expected = if still_logged_in { "john_doe" } else { "Guest" };
        assert_eq!(
            page.username(),
            expected,
            "replaying the pre-logout cookie on {mount:?}"
        );
    }
}

#[tokio::test]
async fn the_server_stores_one_record_per_login_and_the_token_side_stores_nothing() {
    let server = TestServer::start(&[]).await;
    for _ in 0..3 {
        server.visitor().log_in_on(Mount::TOKEN).await;
    }
    assert_eq!(
        server.stored_sessions().await,
        0,
        "tokens leave nothing on the server"
    );

    for _ in 0..3 {
        server.visitor().log_in_on(Mount::SERVER).await;
    }
    assert_eq!(server.stored_sessions().await, 3);
}

async fn a_login_rotates_the_session_id_and_deletes_the_old_record(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    let first = visitor.cookie("sessionid").unwrap();

    visitor.log_in_as(Mount::SERVER, "alice").await;
    let second = visitor.cookie("sessionid").unwrap();
    assert_ne!(first, second);
    assert_eq!(server.stored_sessions().await, 1, "the old record is gone");

    let mut holder_of_old_id = server.visitor().holding("sessionid", &first);
    assert_eq!(holder_of_old_id.username_on(Mount::SERVER).await, "Guest");
}

#[tokio::test]
async fn a_session_id_the_server_never_issued_is_not_adopted() {
    let server = TestServer::start(&[]).await;
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let mut victim = server.visitor().holding("sessionid", planted);

    victim.log_in_on(Mount::SERVER).await;
    let issued = victim.cookie("sessionid").unwrap();
    assert_ne!(
        issued, planted,
        "the login got an id of the server's choosing"
    );

    let mut attacker = server.visitor().holding("sessionid", planted);
    let page = attacker.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(
        page.username(),
        "Guest",
        "the planted id gives the attacker nothing"
    );
    assert_eq!(server.stored_sessions().await, 1);
}

#[tokio::test]
async fn a_guest_visit_creates_no_record() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    visitor.set_cookie("sessionid", "AAAAAAAAAAAAAAAAAAAAAA");
    visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn with_the_memory_store_a_restart_forgets_sessions_but_not_tokens() {
    let server = TestServer::start(&["--store", "memory"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    visitor.log_in_on(Mount::TOKEN).await;

    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    assert_eq!(visitor.username_on(Mount::SERVER).await, "Guest");
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "john_doe");
}

#[tokio::test]
async fn with_sqlite_and_kept_keys_a_restart_keeps_both_logins() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_as(Mount::SERVER, "ada").await;
    visitor.log_in_as(Mount::TOKEN, "ada").await;

    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    assert_eq!(visitor.username_on(Mount::SERVER).await, "ada");
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "ada");
}

/// A login whose request arrived before a logout of the same session, but
/// finishes after it: the server notices and writes nothing back (as Django's
/// `SessionInterrupted`); a token login cannot know, and logs in anyway.
async fn a_login_racing_a_logout_is_refused_on_server_but_not_on_token(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    for (mount, expected_status) in [(Mount::SERVER, 409), (Mount::TOKEN, 200)] {
        let mut visitor = server.visitor();
        visitor.log_in_on(mount).await;
        let cookie = visitor.cookie(cookie_name(mount)).unwrap();

        let slow_login = SlowPost::start(
            &server,
            &mount.url(Route::SetSession),
            cookie_name(mount),
            &cookie,
        )
        .await;
        visitor.log_out_on(mount).await;
        let response = slow_login.finish("username=late").await;

        assert!(
            response.starts_with(&format!("HTTP/1.1 {expected_status}")),
            "{mount:?}: {response}"
        );
    }
    assert_eq!(
        server.stored_sessions().await,
        0,
        "the logged-out session was not written back"
    );
}

/// A double click, or two tabs logging in at once: two logins with the same
/// cookie, both past loading the session before either replaces it. Neither
/// may show an error page, and the last answer's cookie names the login.
async fn a_double_clicked_login_shows_no_error(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    let cookie = visitor.cookie("sessionid").unwrap();
    let path = Mount::SERVER.url(Route::SetSession);

    let first = SlowPost::start(&server, &path, "sessionid", &cookie).await;
    let second = SlowPost::start(&server, &path, "sessionid", &cookie).await;
    let first = first.finish("username=adaa").await;
    let second = second.finish("username=adab").await;

    for (click, response) in [&first, &second].into_iter().enumerate() {
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "click {click}: {response}"
        );
    }
    let mut browser = server
        .visitor()
        .holding("sessionid", &session_cookie_in(&second));
    assert_eq!(browser.username_on(Mount::SERVER).await, "adab");
}

/// Many connections sending the same session cookie to `set_session` at
/// the same moment, as a load test with one cookie does: every answer is a
/// page, never an error.
async fn many_logins_at_once_with_the_same_cookie_all_succeed(store: TestStore) {
    let server = TestServer::start_on(store, &[]).await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let url = server.url(&Mount::SERVER.url(Route::SetSession));
    for _ in 0..5 {
        let mut visitor = server.visitor();
        visitor.log_in_on(Mount::SERVER).await;
        let cookie = format!("sessionid={}", visitor.cookie("sessionid").unwrap());
        let mut logins = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let request = client.get(&url).header(reqwest::header::COOKIE, &cookie);
            logins.spawn(async move { request.send().await.unwrap().status().as_u16() });
        }
        let statuses = logins.join_all().await;
        assert!(
            statuses.iter().all(|&status| status == 200),
            "statuses: {statuses:?}"
        );
    }
}

/// The `sessionid` value a raw response sets.
fn session_cookie_in(response: &str) -> String {
    response
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            if !name.eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            value.trim().strip_prefix("sessionid=")?.split(';').next()
        })
        .expect("the response sets the session cookie")
        .to_owned()
}

/// A form post whose body is held back until the server has loaded the
/// session: `Expect: 100-continue` makes the server say when it starts
/// reading the body, which is after the session extractor has run.
struct SlowPost {
    stream: tokio::net::TcpStream,
}

impl SlowPost {
    async fn start(server: &TestServer, path: &str, cookie_name: &str, cookie: &str) -> Self {
        let mut stream = tokio::net::TcpStream::connect(server.address)
            .await
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie_name}={cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\n\
             Expect: 100-continue\r\nConnection: close\r\n\r\n",
            server.address
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut interim = [0_u8; 25];
        stream.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        Self { stream }
    }

    async fn finish(mut self, body: &str) -> String {
        assert_eq!(body.len(), 13);
        self.stream.write_all(body.as_bytes()).await.unwrap();
        let mut response = String::new();
        self.stream.read_to_string(&mut response).await.unwrap();
        response
    }
}
