//! The inspector at `/`, over HTTP: for every state a visitor can be in on
//! each side (new, logged in, expired, tampered, logged out), the page says
//! truthfully what the browser and the server hold, and shows nothing it
//! must not: no refused cookie, no session id, no key, no other visitor.

use crate::common;

use common::{Page, TestServer, Visitor, cookie_name};
use reqwest::header;
use sessions_vs_jwt::{
    routes::{Action, Mount, Route},
    token_session::claims::LEEWAY_SECONDS,
};

/// The text inside the element with `id`, tags stripped and unescaped.
fn text(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no element #{id} in {}", page.body));
    let open = page.body[..at].rfind('<').unwrap();
    let tag: String = page.body[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let inner_start = at + page.body[at..].find('>').unwrap() + 1;
    let inner_end = inner_start + page.body[inner_start..].find(&format!("</{tag}>")).unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in page.body[inner_start..inner_end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text)
}

fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `data-verdict` of one side's column.
fn verdict(page: &Page, mount: Mount) -> String {
    let marker = format!("id=\"{}\" data-verdict=\"", mount.name());
    let start = page.body.find(&marker).expect("a column per side") + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    page.body[start..end].to_owned()
}

/// The token side stores nothing per visitor, and says what it does keep:
/// tokens it has verified, in memory (`--token-cache`).
fn assert_token_side_stores_nothing(page: &Page) {
    let nothing = text(page, "token-nothing");
    assert!(nothing.starts_with("Nothing stored"), "{nothing}");
    assert!(nothing.contains("--token-cache"), "{nothing}");
}

fn id(mount: Mount, field: &str) -> String {
    format!("{}-{field}", mount.name())
}

async fn log_in(visitor: &mut Visitor, mount: Mount, username: &str) {
    let page = visitor.log_in_as(mount, username).await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn a_new_visitor_is_a_guest_on_both_sides_and_nothing_is_held() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.set_cookies().is_empty(), "a Guest gets no cookie");
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "guest");
        assert!(text(&page, &id(mount, "verdict")).contains("you are a Guest"));
        assert_eq!(text(&page, &id(mount, "username")), "Guest");
        assert_eq!(text(&page, &id(mount, "logged-in")), "False");
        assert_eq!(text(&page, &id(mount, "browser")), "Nothing.");
    }
    assert_eq!(text(&page, "server-store"), "memory");
    assert_eq!(text(&page, "server-nothing"), "No record for this visitor.");
    assert_token_side_stores_nothing(&page);
}

#[tokio::test]
async fn after_a_server_login_the_page_shows_the_cookie_and_the_stored_record() {
    let server = TestServer::start(&["--cookie-age", "3600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::SERVER, "alice").await;
    let session_id = visitor.cookie("sessionid").unwrap();

    let page = visitor.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(verdict(&page, Mount::SERVER), "valid");
    assert_eq!(text(&page, "server-username"), "alice");
    assert_eq!(text(&page, "server-logged-in"), "True");
    assert_eq!(
        text(&page, "server-cookie-bytes"),
        format!("sessionid={session_id}").len().to_string()
    );
    let browser = text(&page, "server-browser");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(browser.contains(attribute), "{attribute} in {browser}");
    }
    let expires = text(&page, "server-cookie-expires");
    assert!(expires.starts_with("in 60 minutes"), "{expires}");
    assert!(
        text(&page, "server-record-expires").starts_with("in 60 minutes"),
        "the record ends with the cookie"
    );

    let record: serde_json::Value = serde_json::from_str(&text(&page, "server-record")).unwrap();
    assert_eq!(
        record,
        serde_json::json!({ "_owner": "server", "username": "alice", "is_logged_in": true })
    );
    assert_eq!(text(&page, "server-store"), "memory");

    assert!(text(&page, "server-fingerprint").starts_with("sha256:"));
    assert!(
        !page.body.contains(&session_id),
        "the session id itself is never shown"
    );
    assert_eq!(
        verdict(&page, Mount::TOKEN),
        "guest",
        "the other side is untouched"
    );
    assert!(page.set_cookies().is_empty(), "the page changes no cookie");
}

#[tokio::test]
async fn after_a_token_login_the_page_shows_the_decoded_token_and_that_the_server_holds_nothing() {
    let server = TestServer::start(&["--cookie-age", "3600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let token = visitor.cookie("token").unwrap();

    let page = visitor.get("/").await;
    assert_eq!(verdict(&page, Mount::TOKEN), "valid");
    assert_eq!(text(&page, "token-username"), "alice");
    assert_eq!(
        text(&page, "token-cookie-bytes"),
        format!("token={token}").len().to_string()
    );

    let signing_kid = server.token_keys().signing_key().kid.clone();
    assert_eq!(text(&page, "token-kid"), signing_kid);
    assert_eq!(text(&page, "token-algorithm"), "EdDSA");
    let header: serde_json::Value = serde_json::from_str(&text(&page, "token-header")).unwrap();
    assert_eq!(
        header,
        serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": signing_kid })
    );
    let claims: serde_json::Value = serde_json::from_str(&text(&page, "token-claims")).unwrap();
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["is_logged_in"], true);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert!(claims["jti"].is_string());

    assert_token_side_stores_nothing(&page);
    assert_eq!(server.stored_sessions().await, 0);
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !page.body.contains(signature),
        "the raw token is decoded, not echoed"
    );
}

#[tokio::test]
async fn the_cookies_expiry_is_shown_as_the_login_ends_and_as_the_browser_closes_under_browser_session()
 {
    for (flags, persistent) in [
        (&[][..], true),
        (&["--expiry", "browser-session"][..], false),
    ] {
        let server = TestServer::start(flags).await;
        let mut visitor = server.visitor();
        for mount in Mount::BUILT_IN {
            log_in(&mut visitor, mount, "alice").await;
        }
        let page = visitor.get("/").await;
        for mount in Mount::BUILT_IN {
            // /hybrid's login lasts as long as its refresh cookie, the second.
            let cookie = match mount {
                Mount::HYBRID => "2-cookie-expires",
                _ => "cookie-expires",
            };
            let expires = text(&page, &id(mount, cookie));
            if persistent {
                assert!(expires.contains("in 14 days"), "{mount:?}: {expires}");
            } else {
                assert_eq!(expires, "when the browser closes", "{mount:?}");
            }
        }
    }
}

#[tokio::test]
async fn the_fingerprint_changes_when_a_login_rotates_the_session_id() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::SERVER, "alice").await;
    let first = text(&visitor.get("/").await, "server-fingerprint");
    assert_eq!(
        first,
        text(&visitor.get("/").await, "server-fingerprint"),
        "stable while the id is"
    );
    log_in(&mut visitor, Mount::SERVER, "bob").await;
    assert_ne!(first, text(&visitor.get("/").await, "server-fingerprint"));
}

#[tokio::test]
async fn an_expired_login_is_named_expired_on_both_sides_cleared_and_not_echoed() {
    let server = TestServer::start(&["--cookie-age", "1"]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        log_in(&mut visitor, mount, "alice").await;
    }
    let logged_in_by = sessions_vs_jwt::token_session::claims::now();
    let sent: Vec<String> = Mount::BUILT_IN
        .into_iter()
        .map(|mount| visitor.cookie(cookie_name(mount)).unwrap())
        .collect();
    // The test client keeps cookies past their Max-Age, as a copied cookie
    // would be kept: the server itself must refuse them. Waits until the
    // clock is past the latest any of the logins can end: its 1 s age, the
    // clock leeway of either signed side, and the login's fraction of a
    // second.
    let leeway = LEEWAY_SECONDS.max(sessions_vs_jwt::cookie_session::LEEWAY_SECONDS);
    common::wait_until_unix_time(logged_in_by + 1 + leeway + 1).await;

    let page = visitor.get("/").await;
    assert_eq!(page.status, 200);
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "expired", "{mount:?}");
        let message = text(&page, &id(mount, "verdict"));
        assert!(message.contains("was refused: expired"), "{message}");
        assert!(message.contains("It has been cleared."), "{message}");
        assert_eq!(text(&page, &id(mount, "username")), "Guest");
        assert_eq!(text(&page, &id(mount, "browser")), "Nothing.");
        let removal = page.set_cookie(cookie_name(mount)).expect("cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    }
    assert_eq!(
        text(&page, "server-nothing"),
        "No live record for the id the browser sent."
    );
    for value in sent {
        assert!(
            !page.body.contains(&value),
            "a refused cookie is not echoed"
        );
    }
}

#[tokio::test]
async fn a_forged_cookie_is_named_tampered_on_both_sides_cleared_and_not_echoed() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let token = visitor.cookie("token").unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let forged_token = format!("{signed}.{}", signature.replace(|c| c != 'A', "A"));
    visitor.set_cookie("token", &forged_token);
    visitor.set_cookie("sessionid", "forged<b>id</b>");
    visitor.set_cookie("session", "forged<b>sealed</b>");
    visitor.set_cookie("access", &forged_token);

    let page = visitor.get("/").await;
    assert_eq!(page.status, 200);
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "tampered", "{mount:?}");
        let message = text(&page, &id(mount, "verdict"));
        assert!(message.contains("was refused: tampered"), "{message}");
        assert!(message.contains("It has been cleared."), "{message}");
        assert_eq!(text(&page, &id(mount, "username")), "Guest");
        assert_eq!(text(&page, &id(mount, "browser")), "Nothing.");
        let removal = page.set_cookie(cookie_name(mount)).expect("cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    }
    assert!(!page.body.contains("forged"));
    assert!(
        !page.body.contains(signed),
        "the forged token is not echoed"
    );
    assert!(
        !page.body.contains("alice"),
        "claims of a refused token are not shown"
    );
}

#[tokio::test]
async fn after_logout_both_sides_show_a_guest_and_nothing_held() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        log_in(&mut visitor, mount, "alice").await;
        let page = visitor.log_out_on(mount).await;
        assert_eq!(page.status, 303);
    }
    let page = visitor.get("/").await;
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "guest", "{mount:?}");
        assert_eq!(text(&page, &id(mount, "browser")), "Nothing.");
    }
    assert_eq!(text(&page, "server-nothing"), "No record for this visitor.");
    assert_eq!(server.stored_sessions().await, 0);
    assert!(!page.body.contains("alice"));
}

#[tokio::test]
async fn one_visitor_never_sees_another_visitors_session() {
    let server = TestServer::start(&[]).await;
    let mut alice = server.visitor();
    let mut bob = server.visitor();
    for mount in Mount::BUILT_IN {
        log_in(&mut alice, mount, "alice").await;
        log_in(&mut bob, mount, "bob").await;
    }
    let alices_page = alice.get("/").await;
    let alices_fingerprint = text(&alices_page, "server-fingerprint");
    let alices_jti = serde_json::from_str::<serde_json::Value>(&text(&alices_page, "token-claims"))
        .unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    let bobs_page = bob.get("/").await;
    for mount in Mount::BUILT_IN {
        assert_eq!(text(&bobs_page, &id(mount, "username")), "bob");
    }
    assert!(!bobs_page.body.contains("alice"));
    assert!(!bobs_page.body.contains(&alices_fingerprint));
    assert!(!bobs_page.body.contains(&alices_jti));
}

#[tokio::test]
async fn the_page_shows_no_key_material() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let page = visitor.get("/").await;
    let mut key_lines = 0;
    let mut raw_keys = 0;
    for entry in std::fs::read_dir(server.keys_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(pem) = String::from_utf8(bytes.clone()) else {
            // A raw key (the cookie's): neither its base64 nor its hex shows.
            use base64::Engine as _;
            raw_keys += 1;
            let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
            let base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert!(!page.body.contains(&hex[..16]), "key material on the page");
            assert!(
                !page.body.contains(&base64[..16]),
                "key material on the page"
            );
            continue;
        };
        for line in pem.lines().filter(|line| !line.starts_with("-----")) {
            key_lines += 1;
            assert!(!page.body.contains(line), "key material on the page");
        }
    }
    assert_eq!(raw_keys, 1, "the cookie key was read");
    assert!(key_lines > 0, "the keys folder was read");
}

#[tokio::test]
async fn every_control_is_a_plain_form_that_works_without_javascript() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/").await;
    assert!(!page.body.contains("<script"), "the page runs no script");
    for mount in Mount::BUILT_IN {
        for (method, route) in [
            ("post", Route::SetSession),
            ("get", Route::GetSession),
            ("post", Route::Logout),
        ] {
            let form = format!("<form method=\"{method}\" action=\"{}\"", mount.url(route));
            assert!(page.body.contains(&form), "{form}");
        }
        assert!(page.body.contains(&format!(
            "id=\"{}-username-input\" type=\"text\" name=\"username\"",
            mount.name()
        )));
    }
    for action in Action::ALL {
        // The replays' forms add where to scroll the result into view.
        let form = format!("<form method=\"post\" action=\"{}", action.path());
        assert!(page.body.contains(&form), "{form}");
    }
    assert!(
        page.body
            .contains("id=\"everywhere-username-input\" type=\"text\" name=\"username\"")
    );
}

#[tokio::test]
async fn the_inspector_is_never_cached_for_someone_else() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/").await;
    assert_eq!(page.headers[header::VARY], "Cookie");
    assert_eq!(page.headers[header::CACHE_CONTROL], "private, no-store");
}

#[tokio::test]
async fn with_token_revocation_the_token_column_names_the_store_and_a_revoked_copy_is_named_revoked()
 {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let copy = visitor.cookie("token").unwrap();

    let page = visitor.get("/").await;
    assert!(
        text(&page, "token-nothing").starts_with("No revocation entry"),
        "{}",
        page.body
    );

    visitor.log_out_on(Mount::TOKEN).await;
    let mut thief = server.visitor().holding("token", &copy);
    let page = thief.get("/").await;
    assert_eq!(verdict(&page, Mount::TOKEN), "revoked");
    assert!(
        !page.body.contains(&copy),
        "the refused token is not echoed"
    );
}

#[tokio::test]
async fn after_a_hybrid_login_the_page_shows_both_cookies_the_refresh_record_its_family_and_the_next_refresh()
 {
    let server = TestServer::start(&["--cookie-age", "3600", "--access-token-age", "600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::HYBRID, "alice").await;
    let access = visitor.cookie("access").unwrap();
    let refresh = visitor.cookie("refresh").unwrap();

    let page = visitor.get("/").await;
    assert_eq!(verdict(&page, Mount::HYBRID), "valid");
    assert_eq!(text(&page, "hybrid-username"), "alice");
    assert_eq!(
        text(&page, "hybrid-cookie-bytes"),
        format!("access={access}").len().to_string()
    );
    assert_eq!(
        text(&page, "hybrid-2-cookie-bytes"),
        format!("refresh={refresh}").len().to_string()
    );
    let claims: serde_json::Value = serde_json::from_str(&text(&page, "hybrid-claims")).unwrap();
    assert_eq!(claims["username"], "alice");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600,
        "an access token lasts --access-token-age"
    );
    assert!(text(&page, "hybrid-access-time-left").contains("in 10 minutes"));
    assert!(text(&page, "hybrid-next-refresh").contains("uses the refresh id once"));
    assert!(text(&page, "hybrid-refresh-fingerprint").starts_with("sha256:"));
    assert!(text(&page, "hybrid-2-cookie-expires").starts_with("in 60 minutes"));

    let stored: serde_json::Value = serde_json::from_str(&text(&page, "hybrid-record")).unwrap();
    assert_eq!(stored["refresh record"]["username"], "alice");
    assert_eq!(stored["refresh record"]["kind"], "refresh");
    assert_eq!(stored["family"]["live"], true);
    assert!(
        stored["family"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "the family id is shown as a fingerprint: {stored}"
    );
    assert!(
        !page.body.contains(&refresh),
        "the refresh id itself is never shown"
    );
    assert!(page.set_cookies().is_empty(), "the page changes no cookie");
}

/// Logs `mount` out through the replay experiment, as its button does.
async fn replay(visitor: &mut Visitor, mount: Mount) -> Page {
    visitor.post("/replay/", &[("router", mount.name())]).await
}

/// `data-verdict` of the replay's result, and its summary.
fn replay_result(page: &Page, mount: Mount) -> (String, String) {
    let marker = format!("id=\"{}\" data-verdict=\"", id(mount, "replay-result"));
    let start = page.body.find(&marker).expect("a replay result") + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    let verdict = page.body[start..end].to_owned();
    (verdict, text(page, &id(mount, "replay-summary")))
}

#[tokio::test]
async fn a_replayed_server_cookie_is_a_guest_at_once() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::SERVER, "alice").await;
    let session_id = visitor.cookie("sessionid").unwrap();
    let page = replay(&mut visitor, Mount::SERVER).await;
    assert_eq!(page.status, 200);
    let (verdict, summary) = replay_result(&page, Mount::SERVER);
    assert_eq!(verdict, "expired");
    assert!(summary.starts_with("A Guest at once"), "{summary}");
    assert!(
        !page.body.contains(&session_id),
        "the old cookie is never echoed"
    );
}

#[tokio::test]
async fn a_replayed_token_still_logs_in_until_it_expires() {
    let server = TestServer::start(&["--cookie-age", "3600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let token = visitor.cookie("token").unwrap();
    let page = replay(&mut visitor, Mount::TOKEN).await;
    let (verdict, summary) = replay_result(&page, Mount::TOKEN);
    assert_eq!(verdict, "valid");
    assert!(summary.starts_with("Still logged in as alice"), "{summary}");
    assert!(
        summary.ends_with("until it expires, in 60 minutes."),
        "{summary}"
    );
    assert!(
        !page.body.contains(&token),
        "the old cookie is never echoed"
    );
}

#[tokio::test]
async fn a_replayed_token_is_refused_as_revoked_under_token_revocation() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let page = replay(&mut visitor, Mount::TOKEN).await;
    let (verdict, summary) = replay_result(&page, Mount::TOKEN);
    assert_eq!(verdict, "revoked");
    assert!(summary.starts_with("Refused, revoked"), "{summary}");
}

#[tokio::test]
async fn a_replayed_encrypted_cookie_still_logs_in_until_it_expires() {
    let server = TestServer::start(&["--cookie-age", "3600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::COOKIE, "alice").await;
    let (verdict, summary) =
        replay_result(&replay(&mut visitor, Mount::COOKIE).await, Mount::COOKIE);
    assert_eq!(verdict, "valid");
    assert!(summary.contains("in 60 minutes"), "{summary}");
}

#[tokio::test]
async fn a_replayed_hybrid_access_token_works_only_until_its_short_expiry() {
    let server = TestServer::start(&["--access-token-age", "600"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::HYBRID, "alice").await;
    let (verdict, summary) =
        replay_result(&replay(&mut visitor, Mount::HYBRID).await, Mount::HYBRID);
    assert_eq!(verdict, "valid");
    assert!(
        summary.ends_with("until it expires, in 10 minutes."),
        "{summary}"
    );
}

#[tokio::test]
async fn the_replay_logs_the_visitor_out_and_clears_that_sides_cookie_only() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    log_in(&mut visitor, Mount::SERVER, "bob").await;
    let page = replay(&mut visitor, Mount::TOKEN).await;
    let cleared = page
        .set_cookie("token")
        .expect("the token cookie is cleared");
    assert_eq!(cleared.value(), "");
    assert!(page.set_cookie("sessionid").is_none());
    assert_eq!(verdict(&page, Mount::TOKEN), "guest");
    assert_eq!(text(&page, "token-username"), "Guest");
    assert_eq!(text(&page, "server-username"), "bob");
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "Guest");
    assert_eq!(visitor.username_on(Mount::SERVER).await, "bob");
}

#[tokio::test]
async fn a_replay_without_a_login_says_to_log_in_first() {
    let server = TestServer::start(&[]).await;
    let (verdict, summary) = replay_result(
        &replay(&mut server.visitor(), Mount::COOKIE).await,
        Mount::COOKIE,
    );
    assert_eq!(verdict, "guest");
    assert!(summary.contains("log in here first"), "{summary}");
}

#[tokio::test]
async fn a_replay_on_an_unknown_router_is_a_400_that_names_it() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor.post("/replay/", &[("router", "elsewhere")]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("no router named"), "{}", page.body);
    assert!(page.body.contains("elsewhere"), "{}", page.body);
}

#[tokio::test]
async fn a_cross_site_replay_is_refused_and_the_login_stands() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::SERVER, "alice").await;
    let request = visitor
        .request(reqwest::Method::POST, "/replay/")
        .header("sec-fetch-site", "cross-site")
        .form(&[("router", "server")]);
    let page = visitor
        .send("POST /replay/ cross-site".into(), request)
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(visitor.username_on(Mount::SERVER).await, "alice");
}

#[tokio::test]
async fn the_live_counters_show_what_each_side_did_per_visit() {
    let server = TestServer::start(&["--token-cache", "0"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    log_in(&mut visitor, Mount::SERVER, "alice").await;
    visitor.username_on(Mount::TOKEN).await;
    visitor.username_on(Mount::SERVER).await;
    let page = visitor.get("/").await;
    // Each counter is a number, in total and per visit, in a cell of its own.
    let count = |id: &str| text(&page, id);
    // Token: the login (a Guest), a read and this page: 3 visits, one
    // signature made, two checked (no verified-token memory), no store.
    assert_eq!(count("token-visits"), "3");
    assert_eq!(count("token-signatures-made"), "1");
    assert_eq!(count("token-signatures-made-per-visit"), "0.33");
    assert_eq!(count("token-signatures-verified"), "2");
    assert_eq!(count("token-signatures-verified-per-visit"), "0.67");
    assert_eq!(count("token-store-operations"), "0");
    assert_eq!(count("token-store-operations-per-visit"), "0.00");
    // Server: a create, then a load for the read and one for this page.
    assert_eq!(count("server-store-operations"), "3");
    assert_eq!(count("server-store-operations-per-visit"), "1.00");
    assert_eq!(count("server-signatures-verified"), "0");
    assert_eq!(count("server-signatures-verified-per-visit"), "0.00");
    assert_eq!(count("server-logins"), "1");
    assert_eq!(count("server-logouts"), "0");
}

/// The row names of the grid, in order, as its first column gives them.
fn row_names(page: &Page) -> Vec<String> {
    let start = page
        .body
        .find("class=\"aspects\"")
        .expect("the rows' names");
    let end = start + page.body[start..].find("</div>\n  </div>").unwrap() + "</div>".len();
    page.body[start..end]
        .split("<div class=\"cell")
        .skip(2) // the attribute's own text, and the empty head
        .map(|cell| {
            let inner = &cell[cell.find('>').unwrap() + 1..];
            unescape(&inner[..inner.find("</div>").unwrap()])
        })
        .collect()
}

/// Each cell's name in one side's column, in order: the headings that the
/// grid hides on a wide screen and a phone shows.
fn cell_names(page: &Page, mount: Mount) -> Vec<String> {
    let marker = format!("<section class=\"side\" id=\"{}\"", mount.name());
    let start = page.body.find(&marker).expect("a column per side");
    let end = start + page.body[start..].find("</section>").unwrap();
    page.body[start..end]
        .split("<h3 class=\"label\">")
        .skip(1)
        .map(|cell| unescape(&cell[..cell.find("</h3>").unwrap()]))
        .collect()
}

#[tokio::test]
async fn every_side_has_the_same_rows_in_the_same_order() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    for page in [
        visitor.get("/").await,
        visitor
            .post(Action::LogInEverywhere.path(), &[("username", "alice")])
            .await,
        visitor.get("/").await,
        visitor.post(Action::ReplayEverywhere.path(), &[]).await,
    ] {
        if page.status == 303 {
            continue;
        }
        let rows = row_names(&page);
        assert_eq!(
            rows,
            [
                "The browser holds",
                "The server holds",
                "This request",
                "Expires",
                "This server so far",
                "Last experiment: the old cookie replayed after a logout",
                "Try it",
            ]
        );
        for mount in Mount::BUILT_IN {
            let cells = cell_names(&page, mount);
            assert_eq!(cells.len(), rows.len(), "{mount:?}: {cells:?}");
            for (cell, row) in cells.iter().zip(&rows) {
                assert!(
                    cell.starts_with(row.as_str()),
                    "{mount:?}: {cell} in row {row}"
                );
            }
        }
    }
}

#[tokio::test]
async fn each_cookie_says_whether_the_browser_can_read_what_it_holds() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    let page = visitor.get("/").await;
    for (id, readable) in [
        ("server-browser", "not readable: a random id"),
        ("token-browser", "readable: signed, not encrypted"),
        ("cookie-browser", "not readable: encrypted"),
        ("hybrid-browser", "readable: signed, not encrypted"),
        ("hybrid-2-browser", "not readable: a random id"),
    ] {
        let cell = text(&page, id);
        assert!(cell.contains(readable), "{id}: {cell}");
        assert!(cell.contains(" bytes"), "{id}: {cell}");
    }
}

/// The status and the `Location` of a form that goes back to the inspector.
fn assert_back_to_the_inspector(page: &Page) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location().as_deref(), Some("/"));
}

#[tokio::test]
async fn log_in_everywhere_logs_in_on_every_side_at_once() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor
        .post(Action::LogInEverywhere.path(), &[("username", " erin ")])
        .await;
    assert_back_to_the_inspector(&page);
    for name in ["sessionid", "token", "session", "access", "refresh"] {
        let cookie = page
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} set"));
        assert_eq!(cookie.http_only(), Some(true), "{name}");
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax), "{name}");
    }
    let page = visitor.get("/").await;
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "valid", "{mount:?}");
        assert_eq!(text(&page, &id(mount, "username")), "erin", "{mount:?}");
        assert_eq!(text(&page, &id(mount, "logins")), "1", "{mount:?}");
        assert_eq!(visitor.username_on(mount).await, "erin", "{mount:?}");
    }
}

#[tokio::test]
async fn log_in_everywhere_with_an_invalid_name_is_the_views_400_and_changes_nothing() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    let too_long = "x".repeat(151);
    for name in ["", "   ", too_long.as_str(), "bad\u{7}name"] {
        let page = visitor
            .post(Action::LogInEverywhere.path(), &[("username", name)])
            .await;
        assert_eq!(page.status, 400, "{name:?}");
        assert!(page.set_cookies().is_empty(), "{name:?}: no cookie changes");
        let view = server.visitor().log_in_as(Mount::SERVER, name).await;
        assert_eq!(view.status, 400);
        assert_eq!(
            page.body, view.body,
            "{name:?}: the same page as the views'"
        );
    }
    for mount in Mount::BUILT_IN {
        assert_eq!(visitor.username_on(mount).await, "alice", "{mount:?}");
    }
}

#[tokio::test]
async fn log_out_everywhere_logs_out_every_side_and_leaves_nothing_stored() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    assert!(server.stored_sessions().await > 0);
    let page = visitor.post(Action::LogOutEverywhere.path(), &[]).await;
    assert_back_to_the_inspector(&page);
    for name in ["sessionid", "token", "session", "access", "refresh"] {
        let removal = page
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} removed"));
        assert_eq!(
            removal.max_age(),
            Some(cookie::time::Duration::ZERO),
            "{name}"
        );
    }
    let page = visitor.get("/").await;
    for mount in Mount::BUILT_IN {
        assert_eq!(verdict(&page, mount), "guest", "{mount:?}");
        assert_eq!(text(&page, &id(mount, "browser")), "Nothing.");
        assert_eq!(text(&page, &id(mount, "logouts")), "1", "{mount:?}");
    }
    assert_eq!(server.stored_sessions().await, 0);
    assert!(!page.body.contains("alice"));
}

#[tokio::test]
async fn the_everywhere_replay_shows_side_by_side_which_old_cookies_still_open_and_for_how_long() {
    let server = TestServer::start(&["--cookie-age", "3600", "--access-token-age", "600"]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    let copies: Vec<String> = ["sessionid", "token", "session", "access", "refresh"]
        .into_iter()
        .map(|name| visitor.cookie(name).unwrap())
        .collect();

    let page = visitor.post(Action::ReplayEverywhere.path(), &[]).await;
    assert_eq!(page.status, 200);
    for (mount, verdict, headline, expires) in [
        (Mount::SERVER, "expired", "Opens nothing", None),
        (Mount::TOKEN, "valid", "Still opens", Some("in 60 minutes")),
        (Mount::COOKIE, "valid", "Still opens", Some("in 60 minutes")),
        (Mount::HYBRID, "valid", "Still opens", Some("in 10 minutes")),
    ] {
        let (replayed, summary) = replay_result(&page, mount);
        assert_eq!(replayed, verdict, "{mount:?}: {summary}");
        assert_eq!(text(&page, &id(mount, "replay-headline")), headline);
        match expires {
            Some(expires) => {
                assert_eq!(text(&page, &id(mount, "replay-expires")), expires);
                assert!(summary.starts_with("Still logged in as alice"), "{summary}");
            }
            None => {
                assert!(!page.body.contains(&id(mount, "replay-expires")));
                assert!(summary.starts_with("A Guest at once"), "{summary}");
            }
        }
        // The logout stands: this side now shows a Guest.
        assert_eq!(text(&page, &id(mount, "username")), "Guest", "{mount:?}");
    }
    for name in ["sessionid", "token", "session", "access", "refresh"] {
        let removal = page
            .set_cookie(name)
            .unwrap_or_else(|| panic!("{name} removed"));
        assert_eq!(
            removal.max_age(),
            Some(cookie::time::Duration::ZERO),
            "{name}"
        );
    }
    for copy in &copies {
        assert!(
            !page.body.contains(copy.as_str()),
            "an old cookie is never echoed"
        );
    }
    for mount in Mount::BUILT_IN {
        assert_eq!(visitor.username_on(mount).await, "Guest", "{mount:?}");
    }
    assert_eq!(server.stored_sessions().await, 0);
}

#[tokio::test]
async fn the_everywhere_replay_names_a_revoked_token_and_sides_not_logged_in() {
    let server = TestServer::start(&["--token-revocation"]).await;
    let mut visitor = server.visitor();
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let page = visitor.post(Action::ReplayEverywhere.path(), &[]).await;
    assert_eq!(page.status, 200);
    let (verdict, summary) = replay_result(&page, Mount::TOKEN);
    assert_eq!(verdict, "revoked");
    assert!(summary.starts_with("Refused, revoked"), "{summary}");
    for mount in [Mount::SERVER, Mount::COOKIE, Mount::HYBRID] {
        let (verdict, summary) = replay_result(&page, mount);
        assert_eq!(verdict, "guest", "{mount:?}");
        assert!(summary.contains("log in here first"), "{summary}");
    }
}

#[tokio::test]
async fn one_sides_replay_fills_its_own_cell_of_the_row_only() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let page = visitor.get("/").await;
    for mount in Mount::BUILT_IN {
        assert!(text(&page, &id(mount, "replay-result")).starts_with("None yet"));
    }
    log_in(&mut visitor, Mount::TOKEN, "alice").await;
    let page = replay(&mut visitor, Mount::TOKEN).await;
    assert_eq!(replay_result(&page, Mount::TOKEN).0, "valid");
    for mount in [Mount::SERVER, Mount::COOKIE, Mount::HYBRID] {
        assert_eq!(
            text(&page, &id(mount, "replay-result")),
            "Not replayed on this side.",
            "{mount:?}"
        );
    }
}

#[tokio::test]
async fn the_all_sides_forms_are_refused_from_another_site_and_change_nothing() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    for action in [
        Action::LogInEverywhere,
        Action::LogOutEverywhere,
        Action::ReplayEverywhere,
    ] {
        let request = visitor
            .request(reqwest::Method::POST, action.path())
            .header("sec-fetch-site", "cross-site")
            .form(&[("username", "mallory")]);
        let page = visitor
            .send(format!("POST {} cross-site", action.path()), request)
            .await;
        assert_eq!(page.status, 403, "{action:?}");
        assert!(page.set_cookies().is_empty(), "{action:?}");
    }
    for mount in Mount::BUILT_IN {
        assert_eq!(visitor.username_on(mount).await, "alice", "{mount:?}");
    }
}

#[tokio::test]
async fn the_all_sides_forms_take_posts_only() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    for action in Action::ALL {
        let page = visitor.get(action.path()).await;
        assert_eq!(page.status, 405, "{action:?}");
    }
}

/// Makes the SQLite store of `server` fail every operation from now on.
async fn break_the_store(server: &TestServer) {
    let database = server.dir.path().join("sessions.sqlite3");
    common::stores::run_sqlite(&database, "drop table tower_sessions").await;
}

#[tokio::test]
async fn with_the_store_down_the_all_sides_forms_still_act_on_the_sides_that_need_no_store() {
    let server = TestServer::start(&["--store", "sqlite://{dir}/sessions.sqlite3"]).await;
    let mut visitor = server.visitor();
    visitor
        .post(Action::LogInEverywhere.path(), &[("username", "alice")])
        .await;
    break_the_store(&server).await;

    // The replay runs where it can, and says where it could not.
    let page = visitor.post(Action::ReplayEverywhere.path(), &[]).await;
    assert_eq!(page.status, 503);
    assert_eq!(replay_result(&page, Mount::SERVER).0, "unavailable");
    assert!(
        text(&page, "server-replay-summary").starts_with("Not run on this side"),
        "{}",
        text(&page, "server-replay-summary")
    );
    for mount in [Mount::TOKEN, Mount::COOKIE] {
        assert_eq!(replay_result(&page, mount).0, "valid", "{mount:?}");
        let removal = page.set_cookie(cookie_name(mount)).expect("logged out");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    }
    assert!(
        page.set_cookie("sessionid").is_none(),
        "a cookie the store could not check is left alone"
    );

    // A login everywhere is an error page, and still logs in where it could.
    let page = visitor
        .post(Action::LogInEverywhere.path(), &[("username", "bob")])
        .await;
    assert_eq!(page.status, 503);
    assert!(page.set_cookie("token").is_some());
    assert!(page.set_cookie("session").is_some());
    assert!(page.set_cookie("sessionid").is_none());
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "bob");
    assert_eq!(visitor.username_on(Mount::COOKIE).await, "bob");

    let page = visitor.post(Action::LogOutEverywhere.path(), &[]).await;
    assert_eq!(page.status, 503);
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "Guest");
    assert_eq!(visitor.username_on(Mount::COOKIE).await, "Guest");
}

#[tokio::test]
async fn the_decision_at_a_glance_is_one_click_away_when_the_docs_have_it() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/comparison.md"),
    )
    .unwrap();
    // The section ("## At a glance"), and whether a table is spliced into it yet.
    let mut lines = docs.lines().skip_while(|line| {
        let title = line.trim_start_matches('#');
        !(title.len() < line.len()
            && ["At a glance", "The decision at a glance"]
                .iter()
                .any(|known| title.trim().eq_ignore_ascii_case(known)))
    });
    let has_section = lines.next().is_some()
        && lines
            .take_while(|line| !line.starts_with("## ") && !line.starts_with("# "))
            .any(|line| line.trim().starts_with('|'));
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/").await;
    let link = page
        .body
        .contains("<a href=\"#the-decision-at-a-glance\" id=\"decision-link\">");
    let section = page.body.contains("id=\"the-decision-at-a-glance\"");
    assert_eq!(
        link, has_section,
        "a link exactly when the docs have the section"
    );
    assert_eq!(
        section, has_section,
        "the section exactly when the docs have it"
    );
}
