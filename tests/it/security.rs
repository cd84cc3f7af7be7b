//! The hardening both sides share: cookie attributes, cross-site posts,
//! cookie sizes, key rotation and publication, token revocation, and the
//! expiry policies. The attacks on the cookies themselves are in
//! adversarial.rs.

use crate::common;

use std::time::Duration;

use common::{
    Page, TestServer, Visitor, cookie_name, process::Instance, token_claims, token_header,
    wait_until, wait_until_unix_time,
};
use reqwest::{Method, header};
use sessions_vs_jwt::{
    routes::{Mount, Route},
    token_session::{
        claims::{self, LEEWAY_SECONDS},
        keys::{self, KeyAlgorithm},
    },
};

fn other(mount: Mount) -> Mount {
    Mount::BUILT_IN
        .into_iter()
        .find(|other| *other != mount)
        .unwrap()
}

#[tokio::test]
async fn secure_cookies_take_the_host_prefix_and_are_removed_with_the_same_attributes() {
    let server = TestServer::start(&["--secure-cookies"]).await;
    for mount in Mount::BUILT_IN {
        let name = format!("__Host-{}", cookie_name(mount));
        let mut visitor = server.visitor();
        let page = visitor.log_in_on(mount).await;
        let cookie = page.set_cookie(&name).expect("a __Host- cookie");
        assert_eq!(
            (cookie.secure(), cookie.path(), cookie.domain()),
            (Some(true), Some("/"), None)
        );
        assert_eq!(visitor.username_on(mount).await, "john_doe");

        let page = visitor.log_out_on(mount).await;
        let removal = page
            .set_cookie(&name)
            .expect("the removal names the same cookie");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(
            (removal.secure(), removal.http_only(), removal.path()),
            (Some(true), Some(true), Some("/")),
            "a browser only deletes a __Host- cookie with a removal that is Secure and Path=/"
        );
    }
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_and_changes_nothing() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        visitor.log_in_on(mount).await;
        for route in [Route::SetSession, Route::Logout] {
            let request = visitor
                .request(Method::POST, &mount.url(route))
                .header(header::ORIGIN, "https://evil.example")
                .form(&[("username", "mallory")]);
            let page = visitor
                .send(format!("cross-site POST {}", mount.url(route)), request)
                .await;
            assert_eq!(page.status, 403, "{route:?} on {mount:?}");
            assert!(
                page.body.contains("posted from another site"),
                "{}",
                page.body
            );
            assert!(page.set_cookies().is_empty());
        }
        assert_eq!(visitor.username_on(mount).await, "john_doe");
    }
    // /server's session, and /hybrid's family and refresh id.
    assert_eq!(
        server.stored_sessions().await,
        1 + 2,
        "only the genuine logins"
    );
}

/// A login form posted to `mount` with the provenance headers a browser
/// would add (`Origin`, `Sec-Fetch-Site`).
async fn post_login(
    visitor: &mut Visitor,
    mount: Mount,
    provenance: &[(&str, &str)],
    username: &str,
) -> Page {
    let mut request = visitor.request(Method::POST, &mount.url(Route::SetSession));
    for (name, value) in provenance {
        request = request.header(*name, *value);
    }
    let request = request.form(&[("username", username)]);
    visitor
        .send(format!("POST with {provenance:?}"), request)
        .await
}

#[tokio::test]
async fn a_post_the_browser_marks_cross_site_is_refused() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let page = post_login(
            &mut visitor,
            mount,
            &[("sec-fetch-site", "cross-site")],
            "mallory",
        )
        .await;
        assert_eq!(page.status, 403);
        assert_eq!(visitor.cookie(cookie_name(mount)), None);
    }
}

#[tokio::test]
async fn a_post_with_origin_null_is_refused() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let page = post_login(&mut visitor, mount, &[("origin", "null")], "mallory").await;
        assert_eq!(page.status, 403, "{mount:?}");
        assert_eq!(visitor.cookie(cookie_name(mount)), None, "{mount:?}");
    }
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn a_post_from_the_same_origin_is_accepted() {
    let server = TestServer::start(&[]).await;
    let origin = format!("http://{}", server.address);
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let provenance = [
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];
        let page = post_login(&mut visitor, mount, &provenance, "alice").await;
        assert_eq!(page.status, 200);
        assert_eq!(visitor.username_on(mount).await, "alice");
    }
}

#[tokio::test]
async fn a_post_the_browser_marks_same_origin_is_accepted_behind_a_proxy_that_rewrites_host() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let provenance = [
            ("origin", "https://sessions.example"),
            ("sec-fetch-site", "same-origin"),
        ];
        let page = post_login(&mut visitor, mount, &provenance, "alice").await;
        assert_eq!(page.status, 200, "{mount:?}");
        assert_eq!(visitor.username_on(mount).await, "alice");
    }
}

#[tokio::test]
async fn a_post_the_browser_marks_same_site_is_refused() {
    let server = TestServer::start(&[]).await;
    let origin = format!("http://{}", server.address);
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let provenance = [("origin", origin.as_str()), ("sec-fetch-site", "same-site")];
        let page = post_login(&mut visitor, mount, &provenance, "mallory").await;
        assert_eq!(page.status, 403, "{mount:?}");
        assert_eq!(visitor.cookie(cookie_name(mount)), None);
    }
}

/// The biggest state a visitor can ask for (150 four-byte characters) under
/// the biggest signature we accept (RSA-4096): the token still fits.
#[tokio::test]
async fn the_largest_username_with_the_largest_key_fits_in_the_token_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    write_rsa_key(&keys_dir, "20300101-000000-000-big", 4096);
    let server = TestServer::start(&[
        "--jwt-algorithm",
        "RS256",
        "--keys-dir",
        keys_dir.to_str().unwrap(),
    ])
    .await;
    let mut visitor = server.visitor();
    let name = "😀".repeat(150);
    let page = visitor.log_in_as(Mount::TOKEN, &name).await;
    assert_eq!(page.status, 200);
    let cookie = page.set_cookie("token").unwrap();
    assert_eq!(
        token_header(cookie.value()).kid.as_deref(),
        Some("20300101-000000-000-big")
    );
    let length = cookie.to_string().len();
    assert!(length < 4096, "the cookie is {length} bytes");
    assert_eq!(visitor.username_on(Mount::TOKEN).await, name);
}

fn write_rsa_key(dir: &std::path::Path, kid: &str, bits: usize) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).unwrap();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(dir.join(format!("{kid}.rs256.pem")), pem.as_bytes()).unwrap();
}

#[tokio::test]
async fn huge_cookie_headers_get_a_guest_page_that_clears_the_cookie() {
    let server = TestServer::start(&[]).await;
    for size in [20 * 1024, 64 * 1024] {
        for mount in Mount::BUILT_IN {
            let mut visitor = server
                .visitor()
                .holding(cookie_name(mount), &"x".repeat(size));
            let page = visitor.get(&mount.url(Route::GetSession)).await;
            assert_eq!(page.status, 200, "{size} bytes on {mount:?}");
            assert_eq!(page.username(), "Guest", "{size} bytes on {mount:?}");
            let removal = page
                .set_cookie(cookie_name(mount))
                .expect("the huge cookie is cleared");
            assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        }
    }
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn the_jwks_lets_another_service_verify_our_tokens() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::TOKEN).await;
    let token = page.set_cookie("token").unwrap().value().to_owned();

    let page = visitor.get("/.well-known/jwks.json").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        page.headers[header::CACHE_CONTROL],
        "public, max-age=300",
        "public, and not the pages' private no-store"
    );
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&page.body).unwrap();
    let kid = token_header(&token).kid.unwrap();
    let jwk = jwks.find(&kid).expect("the signing key is published");
    assert!(
        !page.body.contains("\"d\""),
        "no private member is published"
    );

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["sessions-vs-jwt"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let verified = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
    assert_eq!(verified.claims["username"], "john_doe");
}

#[tokio::test]
async fn hs256_secrets_are_never_published() {
    let server = TestServer::start(&["--jwt-algorithm", "HS256"]).await;
    let page = server.visitor().get("/.well-known/jwks.json").await;
    assert_eq!(page.body, r#"{"keys":[]}"#);
}

#[tokio::test]
async fn each_algorithm_signs_tokens_that_name_it_and_its_key() {
    for (flag, alg) in [
        ("EdDSA", "EdDSA"),
        ("ES256", "ES256"),
        ("RS256", "RS256"),
        ("HS256", "HS256"),
    ] {
        let server = TestServer::start(&["--jwt-algorithm", flag]).await;
        let mut visitor = server.visitor();
        let page = visitor.log_in_on(Mount::TOKEN).await;
        let header = token_header(page.set_cookie("token").unwrap().value());
        assert_eq!(format!("{:?}", header.alg), alg);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let kid = header.kid.unwrap();
        assert!(server.token_keys().get(&kid).is_some());
        assert_eq!(visitor.username_on(Mount::TOKEN).await, "john_doe");
    }
}

#[tokio::test]
async fn after_a_rotation_old_tokens_still_work_and_new_ones_use_the_new_key() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::TOKEN).await;
    let old_kid = token_header(page.set_cookie("token").unwrap().value())
        .kid
        .unwrap();

    let new_kid = keys::generate(&server.keys_dir(), KeyAlgorithm::EdDsa).unwrap();
    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "john_doe");

    let mut newcomer = server.visitor();
    let page = newcomer.log_in_on(Mount::TOKEN).await;
    let kid = token_header(page.set_cookie("token").unwrap().value())
        .kid
        .unwrap();
    assert_eq!(kid, new_kid);
    assert_ne!(kid, old_kid);
}

#[tokio::test]
async fn after_a_key_is_retired_its_tokens_are_guests() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::TOKEN).await;
    let old_kid = token_header(page.set_cookie("token").unwrap().value())
        .kid
        .unwrap();

    keys::generate(&server.keys_dir(), KeyAlgorithm::EdDsa).unwrap();
    keys::retire(&server.keys_dir(), &old_kid).unwrap();
    let server = server.restart().await;
    let mut visitor = visitor.on(&server);
    let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
    assert!(
        page.set_cookie("token").is_some(),
        "the dead token is cleared"
    );
}

#[tokio::test]
async fn with_token_revocation_a_copied_token_is_a_guest_after_logout() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    let copy = visitor.cookie("token").unwrap();
    assert_eq!(
        server.stored_sessions().await,
        0,
        "nothing is stored until a logout"
    );

    visitor.log_out_on(Mount::TOKEN).await;
    assert_eq!(
        server.stored_sessions().await,
        1,
        "the logout recorded the token's jti"
    );

    let mut thief = server.visitor().holding("token", &copy);
    let page = thief.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
    assert!(
        page.set_cookie("token").is_some(),
        "the revoked token is cleared"
    );
}

/// A token signed by the server's own key, for the test's own `exp`.
fn signed_by_server(server: &TestServer, username: &str, exp: u64) -> String {
    let keys = server.token_keys();
    let key = keys.signing_key();
    let mut header = jsonwebtoken::Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".into());
    let body = serde_json::json!({
        "username": username, "is_logged_in": true, "iat": claims::now(), "exp": exp,
        "iss": claims::ISSUER, "aud": claims::ISSUER,
        "jti": tower_sessions::session::Id::default().to_string(),
    });
    claims::encode(&header, &body, key).unwrap()
}

/// Two tokens with the same `exp`: one logged out, one not. For as long as
/// the other still verifies (up to `exp` plus the clock leeway, to the
/// second), the logged-out one must stay a Guest: each check of the
/// logged-out token is followed by one of the other, and counts only if that
/// one still verified. The last second cannot be caught by polling on a
/// loaded machine, so the entry's own expiry in the store must lie past it.
#[tokio::test]
async fn a_revocation_entry_lasts_as_long_as_the_token_still_verifies() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let exp = claims::now() + 2;
    let revoked = signed_by_server(&server, "alice", exp);
    let control = signed_by_server(&server, "bob", exp);
    let mut owner = server.visitor().holding("token", &revoked);
    owner.log_out_on(Mount::TOKEN).await;
    assert_eq!(server.stored_sessions().await, 1, "the logout was recorded");

    let jti = token_claims(&revoked)["jti"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let entry = server.site.records().load(&jti).await.unwrap().unwrap();
    let verifies_until =
        time::OffsetDateTime::from_unix_timestamp((exp + LEEWAY_SECONDS + 1) as i64).unwrap();
    assert!(
        entry.expiry_date >= verifies_until,
        "the entry ends at {}, before the token stops verifying at {verifies_until}",
        entry.expiry_date
    );

    let mut checks_while_valid = 0;
    loop {
        let mut thief = server.visitor().holding("token", &revoked);
        let thief_sees = thief.username_on(Mount::TOKEN).await;
        let mut witness = server.visitor().holding("token", &control);
        if witness.username_on(Mount::TOKEN).await != "bob" {
            break;
        }
        assert_eq!(
            thief_sees, "Guest",
            "the logged-out token while its twin verifies"
        );
        checks_while_valid += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checks_while_valid > 0, "the twin verified at least once");
}

#[tokio::test]
async fn a_spent_revocation_entry_is_swept_from_the_store() {
    let server = TestServer::start(&[
        "--token-revocation",
        "--cookie-age",
        "1",
        "--cleanup-interval",
        "1",
    ])
    .await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    visitor.log_out_on(Mount::TOKEN).await;
    assert_eq!(server.stored_sessions().await, 1);
    wait_until("swept", || async { server.stored_sessions().await == 0 }).await;
}

#[tokio::test]
async fn a_revocation_entry_is_not_a_session_even_under_its_own_id() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    let jti = token_claims(&visitor.cookie("token").unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    visitor.log_out_on(Mount::TOKEN).await;

    let mut prober = server.visitor().holding("sessionid", &jti);
    let page = prober.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
    prober.log_in_on(Mount::SERVER).await;
    assert_eq!(
        server.stored_sessions().await,
        2,
        "the login did not consume the revocation entry"
    );
}

/// A record only another writer could have put there: Django's keys, but
/// not `/server`'s mark (an older version's record, or another program's).
#[tokio::test]
async fn a_record_without_the_server_sides_mark_is_not_a_session() {
    use sessions_vs_jwt::{
        server_session,
        session::VisitorState,
        stores::{SessionRecords as _, SqliteRecords},
    };
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let store = SqliteRecords::open(&server.dir.path().join("sessions.sqlite3"))
        .await
        .unwrap();
    let mallory = VisitorState {
        username: Some("mallory".into()),
        is_logged_in: Some(true),
    };
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut marked = server_session::session_record(&mallory, expiry);
    let mut unmarked = marked.clone();
    unmarked.data.retain(|key, _| key != "_owner");
    store.create(&mut marked).await.unwrap();
    store.create(&mut unmarked).await.unwrap();

    let mut holder = server
        .visitor()
        .holding("sessionid", &marked.id.to_string());
    let page = holder.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "mallory", "a marked record is a session");

    let mut prober = server
        .visitor()
        .holding("sessionid", &unmarked.id.to_string());
    let page = prober.get(&Mount::SERVER.url(Route::GetSession)).await;
    assert_eq!(page.username(), "Guest");
    let removal = page
        .set_cookie("sessionid")
        .expect("the refused cookie is cleared");
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
}

#[tokio::test]
async fn without_token_revocation_a_token_logout_stores_nothing() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    visitor.log_out_on(Mount::TOKEN).await;
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn the_token_cookie_never_outlives_the_token() {
    let server = TestServer::start(&["--cookie-age", "600"]).await;
    let mut visitor = server.visitor();
    let page = visitor.log_in_on(Mount::TOKEN).await;
    let cookie = page.set_cookie("token").unwrap();
    let claims = token_claims(cookie.value());
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 600);
    let max_age = cookie.max_age().unwrap().whole_seconds() as u64;
    assert!(
        max_age <= lifetime,
        "Max-Age {max_age} > exp - iat {lifetime}"
    );
}

/// The session cookie's Max-Age is the record's remaining life rounded up to
/// the whole second (a Max-Age of 0 would delete it at once), which gives
/// back the cookie age the record was made with: counted from before the
/// login was sent, the cookie ends no later than the record.
#[tokio::test]
async fn the_session_cookie_ends_no_later_than_its_record_counted_from_the_request() {
    let server = TestServer::start(&["--cookie-age", "600"]).await;
    let mut visitor = server.visitor();
    let sent = time::OffsetDateTime::now_utc();
    let page = visitor.log_in_on(Mount::SERVER).await;
    let cookie = page.set_cookie("sessionid").unwrap();
    let id = cookie.value().parse().unwrap();
    let record = server.site.records().load(&id).await.unwrap().unwrap();
    let max_age = cookie.max_age().unwrap();
    assert!(
        sent + max_age <= record.expiry_date,
        "Max-Age {max_age} from {sent} outlives the record's {}",
        record.expiry_date
    );
}

/// Under `--expiry inactivity` both sides extend a login that is used: the
/// session's expiry on every use, the token once it is past half its life.
/// Each side is used past half its life, then read again once the login it
/// started with has ended: it must still be logged in.
#[tokio::test]
async fn with_inactivity_expiry_a_login_in_use_outlives_the_cookie_age() {
    const AGE: u64 = 6;
    let server = TestServer::start(&["--expiry", "inactivity", "--cookie-age", "6"]).await;
    let on_server = async {
        let mut visitor = server.visitor();
        visitor.log_in_on(Mount::SERVER).await;
        let id = visitor.cookie("sessionid").unwrap().parse().unwrap();
        let records = server.site.records();
        let first_end = records.load(&id).await.unwrap().unwrap().expiry_date;
        let half_life = time::Duration::seconds((AGE / 2) as i64);
        wait_until("past half the session's life", || async {
            time::OffsetDateTime::now_utc() >= first_end - half_life
        })
        .await;
        let page = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe");
        let renewed = page
            .set_cookie("sessionid")
            .expect("the use renewed the cookie");
        assert_eq!(renewed.max_age(), Some(cookie::time::Duration::seconds(6)));
        wait_until("past the first expiry", || async {
            time::OffsetDateTime::now_utc() > first_end
        })
        .await;
        assert_eq!(
            visitor.username_on(Mount::SERVER).await,
            "john_doe",
            "after the session's first expiry"
        );
    };
    let on_token = async {
        let mut visitor = server.visitor();
        visitor.log_in_on(Mount::TOKEN).await;
        let first = visitor.cookie("token").unwrap();
        let (iat, exp) = {
            let claims = token_claims(&first);
            (
                claims["iat"].as_u64().unwrap(),
                claims["exp"].as_u64().unwrap(),
            )
        };
        wait_until_unix_time(iat + AGE / 2).await;
        let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe");
        let renewed = page
            .set_cookie("token")
            .expect("the use renewed the cookie");
        assert_eq!(renewed.max_age(), Some(cookie::time::Duration::seconds(6)));
        assert_ne!(renewed.value(), first, "a fresh token");
        assert_eq!(
            token_claims(&first)["jti"],
            token_claims(renewed.value())["jti"],
            "the same login"
        );
        wait_until_unix_time(exp + LEEWAY_SECONDS + 1).await;
        assert_eq!(
            visitor.username_on(Mount::TOKEN).await,
            "john_doe",
            "after the first token stopped verifying"
        );
    };
    tokio::join!(on_server, on_token);
}

/// Waits for the first second in which none of the one-second logins made
/// by `logged_in_by` (a Unix second) is accepted any more: a token or a
/// sealed cookie is, through the whole second `exp` + leeway.
async fn wait_until_every_login_has_ended(logged_in_by: u64) {
    wait_until_unix_time(logged_in_by + 1 + LEEWAY_SECONDS + 1).await;
}

#[tokio::test]
async fn with_inactivity_expiry_an_idle_login_ends_on_both_sides() {
    let server = TestServer::start(&["--expiry", "inactivity", "--cookie-age", "1"]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        visitor.log_in_on(mount).await;
    }
    wait_until_every_login_has_ended(claims::now()).await;
    for mount in Mount::BUILT_IN {
        assert_eq!(visitor.username_on(mount).await, "Guest", "{mount:?}");
    }
}

#[tokio::test]
async fn with_absolute_expiry_a_use_neither_moves_the_expiry_nor_resends_the_cookie() {
    let server = TestServer::start(&["--cookie-age", "600"]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        visitor.log_in_on(mount).await;
    }
    let id = visitor.cookie("sessionid").unwrap().parse().unwrap();
    let records = server.site.records();
    let first_end = records.load(&id).await.unwrap().unwrap().expiry_date;
    wait_until("a second later", || async {
        time::OffsetDateTime::now_utc() >= first_end - time::Duration::seconds(599)
    })
    .await;
    for mount in Mount::BUILT_IN {
        let page = visitor.get(&mount.url(Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe");
        assert!(
            page.set_cookies().is_empty(),
            "{mount:?}: no cookie is re-sent, so the token's exp stays"
        );
    }
    assert_eq!(
        records.load(&id).await.unwrap().unwrap().expiry_date,
        first_end,
        "the session's expiry did not move"
    );
}

#[tokio::test]
async fn with_browser_session_expiry_cookies_have_no_max_age_but_the_login_still_ends() {
    let server = TestServer::start(&["--expiry", "browser-session", "--cookie-age", "1"]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        let page = visitor.log_in_on(mount).await;
        let cookie = page.set_cookie(cookie_name(mount)).unwrap();
        assert_eq!(
            (cookie.max_age(), cookie.expires()),
            (None, None),
            "{mount:?}: a browser-session cookie"
        );
    }
    let logged_in_by = claims::now();
    let token = visitor.cookie("token").unwrap();
    let claims = token_claims(&token);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        1
    );

    wait_until_every_login_has_ended(logged_in_by).await;
    for mount in Mount::BUILT_IN {
        let page = visitor.get(&mount.url(Route::GetSession)).await;
        assert_eq!(
            page.username(),
            "Guest",
            "{mount:?}: the server ends it even if the browser never closes"
        );
    }
}

#[tokio::test]
async fn logging_in_on_one_router_leaves_the_other_routers_cookie_alone() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let mut visitor = server.visitor();
        let page = visitor.log_in_on(mount).await;
        assert!(page.set_cookie(cookie_name(other(mount))).is_none());
    }
}

/// Every refused cookie, on either side, leaves one warning in the log of
/// the real binary, naming the router and never the cookie's value.
#[tokio::test]
async fn every_refused_cookie_is_logged_as_a_warning_without_its_value() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let server = Instance::start(&["--store", "memory", "--keys-dir", keys.to_str().unwrap()]);
    let well_formed_unknown_id = "AAAAAAAAAAAAAAAAAAAAAA";
    let cases: [(Mount, &[u8]); 6] = [
        (Mount::SERVER, b"short-and-malformed"),
        (Mount::SERVER, well_formed_unknown_id.as_bytes()),
        (Mount::SERVER, b"\xff\xfe-not-utf8"),
        (Mount::TOKEN, b"garbage-not-a-token"),
        (Mount::TOKEN, well_formed_unknown_id.as_bytes()),
        (Mount::TOKEN, b"\xff\xfe-not-utf8"),
    ];
    let client = reqwest::Client::new();
    for (mount, value) in cases {
        let warnings_before = warnings(&server.log()).len();
        let mut cookie = format!("{}=", cookie_name(mount)).into_bytes();
        cookie.extend_from_slice(value);
        let response = client
            .get(server.url(&mount.url(Route::GetSession)))
            .header(
                header::COOKIE,
                header::HeaderValue::from_bytes(&cookie).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let what = format!("{mount:?} with {}", String::from_utf8_lossy(value));
        wait_until(&format!("a warning for {what}"), || async {
            warnings(&server.log()).len() > warnings_before
        })
        .await;
        let log = server.log();
        let new = &warnings(&log)[warnings_before..];
        assert_eq!(new.len(), 1, "{what}: {new:?}");
        let router = format!("router=\"{}\"", mount.prefix().trim_start_matches('/'));
        assert!(new[0].contains(&router), "{what}: {}", new[0]);
        if let Ok(value) = std::str::from_utf8(value) {
            assert!(!log.contains(value), "{what}: the value is in the log");
        }
    }
}

fn warnings(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.contains(" WARN ")).collect()
}

#[tokio::test]
async fn a_full_memory_store_refuses_new_logins_with_503_and_keeps_every_live_one() {
    let server = TestServer::start(&["--store", "memory?capacity=3"]).await;
    let mut first = server.visitor();
    first.log_in_on(Mount::SERVER).await;
    let mut second = server.visitor();
    second.log_in_on(Mount::HYBRID).await;
    assert_eq!(server.stored_sessions().await, 3, "the store is full");

    let mut third = server.visitor();
    let page = third.log_in_on(Mount::SERVER).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("is unavailable"), "{}", page.body);
    assert_eq!(
        third.cookie("sessionid"),
        None,
        "no cookie for a login not stored"
    );

    assert_eq!(first.username_on(Mount::SERVER).await, "john_doe");
    let mut refreshing = server
        .visitor()
        .holding("refresh", &second.cookie("refresh").unwrap());
    let page = refreshing.get(&Mount::HYBRID.url(Route::GetSession)).await;
    assert_eq!(
        page.status, 503,
        "a refresh needs a new record too: {}",
        page.body
    );
    assert_eq!(
        second.username_on(Mount::HYBRID).await,
        "john_doe",
        "a valid access token needs no record"
    );
    first.log_out_on(Mount::SERVER).await;
    let page = third.log_in_on(Mount::SERVER).await;
    assert_eq!(page.status, 200, "a logout made room");
}

/// What one client can make the server store, counted in the store: ten
/// cookieless logins on each side, ten refreshes of one `/hybrid` login by
/// a client that drops its access cookie each time, and ten `/token`
/// logouts under `--token-revocation`. docs/security.md quotes these.
#[tokio::test]
async fn what_one_client_can_make_each_mechanism_store() {
    const TIMES: u64 = 10;
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut stored = Vec::new();
    for mount in Mount::BUILT_IN {
        let before = server.stored_sessions().await;
        for _ in 0..TIMES {
            server.visitor().log_in_on(mount).await;
        }
        stored.push((mount.name(), server.stored_sessions().await - before));
    }
    assert_eq!(
        stored,
        [
            ("server", TIMES),
            ("token", 0),
            ("cookie", 0),
            ("hybrid", 2 * TIMES)
        ],
        "records per cookieless login"
    );

    let mut client = server.visitor();
    client.log_in_on(Mount::HYBRID).await;
    let before = server.stored_sessions().await;
    for _ in 0..TIMES {
        let refresh = client.cookie("refresh").unwrap();
        client.forget_cookies();
        client.set_cookie("refresh", &refresh);
        let page = client.get(&Mount::HYBRID.url(Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe");
    }
    assert_eq!(
        server.stored_sessions().await - before,
        TIMES,
        "each refresh keeps its consumed id until the login ends"
    );

    let before = server.stored_sessions().await;
    for _ in 0..TIMES {
        let mut client = server.visitor();
        client.log_in_on(Mount::TOKEN).await;
        client.log_out_on(Mount::TOKEN).await;
    }
    assert_eq!(
        server.stored_sessions().await - before,
        TIMES,
        "each revoked login keeps one entry"
    );
}

/// Under `--expiry inactivity` a login in use is extended, never past its
/// absolute timeout: a copied cookie used every few seconds still dies.
#[tokio::test]
async fn under_inactivity_a_login_in_constant_use_ends_at_its_absolute_timeout_on_every_side() {
    const AGE: u64 = 2;
    const TIMEOUT: u64 = 5;
    let server = TestServer::start(&[
        "--expiry",
        "inactivity",
        "--cookie-age",
        "2",
        "--absolute-timeout",
        "5",
        "--access-token-age",
        "1",
    ])
    .await;
    let sides = Mount::BUILT_IN.map(|mount| {
        let server = &server;
        async move {
            let mut visitor = server.visitor();
            visitor.log_in_on(mount).await;
            let logged_in_at = claims::now();
            while claims::now() < logged_in_at + AGE + 2 {
                assert_eq!(
                    visitor.username_on(mount).await,
                    "john_doe",
                    "{mount:?}: a login in use outlives --cookie-age"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let mut last_worked = logged_in_at;
            while claims::now() <= logged_in_at + TIMEOUT + LEEWAY_SECONDS + 1 {
                if visitor.username_on(mount).await == "john_doe" {
                    last_worked = claims::now();
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            assert!(
                last_worked <= logged_in_at + TIMEOUT + LEEWAY_SECONDS,
                "{mount:?}: still logged in {} s after the login",
                last_worked - logged_in_at
            );
            assert_eq!(visitor.username_on(mount).await, "Guest", "{mount:?}");
        }
    });
    futures_util::future::join_all(sides).await;
}

#[tokio::test]
async fn an_absolute_timeout_shorter_than_the_cookie_age_stops_the_server_at_start() {
    let cli = sessions_vs_jwt::Cli::parse_ignoring_environment(
        [
            "sessions-vs-jwt",
            "--store",
            "memory",
            "--cookie-age",
            "60",
            "--absolute-timeout",
            "30",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    let err = cli.serve.open_site().await.unwrap_err();
    assert!(err.to_string().contains("--absolute-timeout"), "{err}");
}

/// With `--expiry inactivity` a token used past half its life is renewed,
/// with the same `jti`. A thief who renews an older copy after the visitor
/// renewed theirs holds a copy that outlives the visitor's: the visitor's
/// logout must revoke it too, for as long as it could verify.
#[tokio::test]
async fn with_token_revocation_a_thiefs_renewed_copy_of_a_logged_out_login_stays_revoked() {
    let server = TestServer::start(&[
        "--token-revocation",
        "--expiry",
        "inactivity",
        "--cookie-age",
        "6",
    ])
    .await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    let stolen = visitor.cookie("token").unwrap();
    let logged_in_at = token_claims(&stolen)["iat"].as_u64().unwrap();
    wait_until_unix_time(logged_in_at + 3).await;
    let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
    assert!(
        page.set_cookie("token").is_some(),
        "the visitor's copy renewed"
    );
    wait_until_unix_time(logged_in_at + 5).await;
    let mut thief = server.visitor().holding("token", &stolen);
    let page = thief.get(&Mount::TOKEN.url(Route::GetSession)).await;
    let renewed = page.set_cookie("token").expect("the thief's copy renewed");
    let thiefs = renewed.value().to_owned();
    let thiefs_exp = token_claims(&thiefs)["exp"].as_u64().unwrap();

    visitor.log_out_on(Mount::TOKEN).await;
    assert_eq!(visitor.cookie("token"), None);

    wait_until_unix_time(thiefs_exp + LEEWAY_SECONDS).await;
    let mut thief = server.visitor().holding("token", &thiefs);
    assert_eq!(
        thief.username_on(Mount::TOKEN).await,
        "Guest",
        "the thief's renewed copy, in the last second it verifies, is revoked"
    );
}

/// A cookie planted beside ours (by a sibling subdomain, which `__Host-`
/// stops only under `--secure-cookies`) is sent first when its Path is
/// longer: neither is trusted, the visitor is a Guest and ours is cleared.
#[tokio::test]
async fn a_cookie_sent_twice_makes_a_guest_on_every_side_and_is_cleared() {
    let server = TestServer::start(&[]).await;
    for mount in Mount::BUILT_IN {
        let name = cookie_name(mount);
        let mut victim = server.visitor();
        victim.log_in_on(mount).await;
        let ours = victim.cookie(name).unwrap();
        let mut planted = server.visitor();
        planted.log_in_as(mount, "mallory").await;
        let theirs = planted.cookie(name).unwrap();

        let request = victim
            .request(Method::GET, &mount.url(Route::GetSession))
            .header(header::COOKIE, format!("{name}={theirs}; {name}={ours}"));
        let page: Page = server.visitor().send("GET twice".into(), request).await;
        assert_eq!(page.username(), "Guest", "{mount:?}");
        let removal = page.set_cookie(name).expect("cleared");
        assert_eq!(
            removal.max_age(),
            Some(cookie::time::Duration::ZERO),
            "{mount:?}"
        );
        assert_eq!(
            victim.username_on(mount).await,
            "john_doe",
            "{mount:?}: ours alone still works"
        );
    }
}
