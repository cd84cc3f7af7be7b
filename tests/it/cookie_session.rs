//! Where `/cookie` must differ from the other two mechanisms, and what is
//! its own: the content is confidential (the token's is only signed), a
//! copied cookie outlives its logout (as a token does, unlike a session id),
//! no other service can read or verify it, and its keys rotate and retire.
//! Everything it shares with the others runs in `scenarios.rs`,
//! `security.rs` and `inspector.rs` on every router.

use crate::common;

use base64::Engine as _;
use common::{TestServer, Visitor, cookie_name};
use sessions_vs_jwt::{
    cookie_session::keys::{self as cookie_keys, CookieKeys},
    routes::{Mount, Route},
};

async fn logged_in(server: &TestServer, mount: Mount, username: &str) -> Visitor {
    let mut visitor = server.visitor();
    let page = visitor.log_in_as(mount, username).await;
    assert_eq!(page.status, 200);
    visitor
}

/// Every way a value's bytes could be read as text: as it is, and decoded
/// from base64 in either alphabet, whole or by `.`-separated part.
fn readings(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut readings = vec![value.to_owned()];
    for part in std::iter::once(value).chain(value.split('.')) {
        for decoded in [STANDARD.decode(part), URL_SAFE_NO_PAD.decode(part)]
            .into_iter()
            .flatten()
        {
            readings.push(String::from_utf8_lossy(&decoded).into_owned());
        }
    }
    readings
}

#[tokio::test]
async fn the_cookie_hides_the_username_that_the_token_only_signs() {
    let server = TestServer::start(&[]).await;
    let token = logged_in(&server, Mount::TOKEN, "alice").await;
    let mut cookie = logged_in(&server, Mount::COOKIE, "alice").await;
    let token_value = token.cookie(cookie_name(Mount::TOKEN)).unwrap();
    assert_eq!(
        cookie.username_on(Mount::COOKIE).await,
        "alice",
        "the encrypted cookie does carry the username"
    );
    let cookie_value = cookie.cookie(cookie_name(Mount::COOKIE)).unwrap();
    assert!(
        readings(&token_value)
            .iter()
            .any(|text| text.contains("alice")),
        "anyone can read the token's username"
    );
    assert!(
        !readings(&cookie_value)
            .iter()
            .any(|text| text.contains("alice")),
        "the encrypted cookie gives its username away"
    );
}

#[tokio::test]
async fn a_copied_cookie_still_logs_in_after_logout_until_it_expires() {
    let server = TestServer::start(&[]).await;
    let mut visitor = logged_in(&server, Mount::COOKIE, "alice").await;
    let copy = visitor.cookie(cookie_name(Mount::COOKIE)).unwrap();
    let page = visitor.log_out_on(Mount::COOKIE).await;
    assert_eq!(page.status, 303);
    assert_eq!(visitor.username_on(Mount::COOKIE).await, "Guest");

    let mut thief = server.visitor().holding(cookie_name(Mount::COOKIE), &copy);
    assert_eq!(thief.username_on(Mount::COOKIE).await, "alice");
}

#[tokio::test]
async fn the_server_stores_nothing_for_a_cookie_login() {
    let server = TestServer::start(&[]).await;
    let _visitor = logged_in(&server, Mount::COOKIE, "alice").await;
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn no_key_of_the_cookie_is_published_for_other_services() {
    let server = TestServer::start(&[]).await;
    let _visitor = logged_in(&server, Mount::COOKIE, "alice").await;
    let cookie_kid = CookieKeys::load(&server.keys_dir())
        .unwrap()
        .sealing()
        .unwrap()
        .kid
        .clone();
    let jwks = server.visitor().get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    let keys: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(!kids.is_empty(), "the token side still publishes its keys");
    assert!(!kids.contains(&cookie_kid.as_str()), "{kids:?}");
}

#[tokio::test]
async fn a_value_moved_between_the_token_and_the_cookie_names_is_a_guest() {
    let server = TestServer::start(&[]).await;
    let token = logged_in(&server, Mount::TOKEN, "alice")
        .await
        .cookie(cookie_name(Mount::TOKEN))
        .unwrap();
    let sealed = logged_in(&server, Mount::COOKIE, "alice")
        .await
        .cookie(cookie_name(Mount::COOKIE))
        .unwrap();
    for (mount, value) in [(Mount::COOKIE, &token), (Mount::TOKEN, &sealed)] {
        let mut visitor = server.visitor().holding(cookie_name(mount), value);
        let page = visitor.get(&mount.url(Route::GetSession)).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.username(), "Guest", "{mount:?}");
        let removal = page.set_cookie(cookie_name(mount)).expect("cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    }
}

#[tokio::test]
async fn a_rotation_keeps_logins_and_retiring_their_key_ends_them() {
    let server = TestServer::start(&[]).await;
    let keys = server.keys_dir();
    let old = CookieKeys::load(&keys)
        .unwrap()
        .sealing()
        .unwrap()
        .kid
        .clone();
    let visitor = logged_in(&server, Mount::COOKIE, "alice").await;

    let new = cookie_keys::generate(&keys).unwrap();
    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    assert_eq!(
        visitor.username_on(Mount::COOKIE).await,
        "alice",
        "a cookie sealed with the older key still opens"
    );
    let mut fresh = logged_in(&server, Mount::COOKIE, "bob").await;

    cookie_keys::retire(&keys, &old).unwrap();
    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    assert_eq!(visitor.username_on(Mount::COOKIE).await, "Guest");
    fresh = fresh.on(&server);
    assert_eq!(
        fresh.username_on(Mount::COOKIE).await,
        "bob",
        "the login sealed with {new} survives its predecessor's retirement"
    );
}
