//! The site around the two routers: index, health check, error pages, and
//! the headers and cookie attributes every page must carry.

use crate::common;

use common::{TestServer, cookie_name};
use reqwest::header;
use sessions_vs_jwt::routes::{Action, Mount, REFERENCE_GET_SESSION, Route};

#[tokio::test]
async fn the_index_explains_both_sides_and_links_each() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/").await;
    assert_eq!(page.status, 200);
    for mount in Mount::BUILT_IN {
        for route in [Route::SetSession, Route::GetSession, Route::Logout] {
            let url = mount.url(route);
            assert!(
                page.body.contains(&format!("\"{url}\"")),
                "the index links {url}"
            );
        }
    }
    assert!(page.body.contains("server-side session"));
    assert!(page.body.contains("signed token"));
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_page_in_the_site_layout() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/server/nothing-here/").await;
    assert_eq!(page.status, 404);
    assert!(
        page.body.contains("<h1>404 Not Found</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("nothing-here"),
        "the page names the path"
    );
    assert!(
        page.body.contains("sessions-vs-jwt</a>"),
        "the page has the site header"
    );
}

#[tokio::test]
async fn a_path_without_slash_that_is_not_a_page_is_a_404_not_a_redirect() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/server/nothing-here").await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn getting_the_logout_url_explains_that_it_takes_a_post() {
    let server = TestServer::start(&[]).await;
    let page = server
        .visitor()
        .get(&Mount::SERVER.url(Route::Logout))
        .await;
    assert_eq!(page.status, 405);
    assert!(
        page.body.contains("405 Method Not Allowed"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn healthz_answers_200_when_the_store_answers() {
    let server = TestServer::start(&[]).await;
    let page = server.visitor().get("/healthz").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("memory"), "{}", page.body);
}

#[tokio::test]
async fn per_visitor_pages_are_never_cached_for_someone_else() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    for mount in Mount::BUILT_IN {
        for route in [Route::SetSession, Route::GetSession] {
            let page = visitor.get(&mount.url(route)).await;
            assert_eq!(page.headers[header::VARY], "Cookie", "{}", mount.url(route));
            assert_eq!(page.headers[header::CACHE_CONTROL], "private, no-store");
        }
    }
}

#[tokio::test]
async fn a_404_an_error_page_and_the_health_check_are_never_cached_either() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    for (path, status) in [
        ("/server/nothing-here/", 404),
        (Mount::SERVER.url(Route::Logout).as_str(), 405),
        ("/healthz", 200),
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert_eq!(page.headers[header::VARY], "Cookie", "{path}");
        assert_eq!(
            page.headers[header::CACHE_CONTROL],
            "private, no-store",
            "{path}"
        );
    }
}

#[tokio::test]
async fn both_routers_set_cookies_with_the_same_attributes() {
    // /hybrid's access token lasts --access-token-age: the same here, so
    // that every cookie's Max-Age is the login's.
    let server = TestServer::start(&["--cookie-age", "3600", "--access-token-age", "3600"]).await;
    let mut visitor = server.visitor();
    let mut attributes = Vec::new();
    for mount in Mount::BUILT_IN {
        let page = visitor.log_in_on(mount).await;
        let cookie = page.set_cookie(cookie_name(mount)).unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(
            cookie.max_age(),
            Some(cookie::time::Duration::seconds(3600))
        );
        assert_eq!(cookie.secure(), None, "no Secure on plain http by default");
        attributes.push((
            cookie.http_only(),
            cookie.same_site(),
            cookie.path().map(str::to_owned),
            cookie.max_age(),
        ));
    }
    assert_eq!(attributes[0], attributes[1]);
}

#[tokio::test]
async fn a_form_body_over_the_limit_is_refused_and_the_session_left_as_it_was() {
    const LIMIT: usize = 16 * 1024;
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    let session = visitor.cookie("sessionid").unwrap();
    let stored = server.stored_sessions().await;
    let operations = server.site.store_operations();
    let body_of = |name_bytes: usize| format!("username={}", "x".repeat(name_bytes));

    let request = visitor
        .request(reqwest::Method::POST, &Mount::SERVER.url(Route::SetSession))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body_of(LIMIT + 1 - "username=".len()));
    let page = visitor.send("POST one byte over".into(), request).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("length limit exceeded"), "{}", page.body);
    let counted = server.site.store_operations().since(&operations);
    assert_eq!(
        (
            counted.creates,
            counted.updates,
            counted.compare_and_swaps,
            counted.deletes
        ),
        (0, 0, 0, 0),
        "the session was read, never written: {counted:?}"
    );
    assert_eq!(server.stored_sessions().await, stored);
    assert_eq!(visitor.cookie("sessionid"), Some(session.clone()));

    let request = visitor
        .request(reqwest::Method::POST, &Mount::SERVER.url(Route::SetSession))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body_of(LIMIT - "username=".len()));
    let page = visitor.send("POST at the limit".into(), request).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        !page.body.contains("length limit") && page.body.contains("150"),
        "a body at the limit reaches the username check: {}",
        page.body
    );
    assert_eq!(visitor.cookie("sessionid"), Some(session));
    assert_eq!(visitor.username_on(Mount::SERVER).await, "john_doe");
}

#[tokio::test]
async fn every_form_refuses_a_body_one_byte_over_the_limit() {
    const LIMIT: usize = 16 * 1024;
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    let mut forms: Vec<String> = Mount::BUILT_IN
        .into_iter()
        .map(|mount| mount.url(Route::SetSession))
        .collect();
    forms.extend([Action::Replay, Action::LogInEverywhere].map(|action| action.path().to_owned()));
    for form in forms {
        let request = visitor
            .request(reqwest::Method::POST, &form)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!("username=alice&pad={}", "x".repeat(LIMIT)));
        let page = visitor
            .send(format!("POST {form} over the limit"), request)
            .await;
        assert_eq!(page.status, 400, "{form}: {}", page.body);
        assert!(
            page.body.contains("length limit exceeded"),
            "{form}: {}",
            page.body
        );
        assert!(page.set_cookies().is_empty(), "{form}");
    }
}

#[tokio::test]
async fn the_reference_page_is_the_logged_in_get_session_page_from_fixed_data() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    let logged_in = visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    let reference = visitor.get(REFERENCE_GET_SESSION).await;
    assert_eq!(reference.status, 200);
    assert_eq!(reference.username(), "john_doe");
    assert_eq!(reference.logged_in(), "True");
    assert_eq!(
        reference.body, logged_in.body,
        "the same page, byte for byte"
    );
    assert_eq!(reference.headers[header::VARY], "Cookie");
    assert_eq!(
        reference.headers[header::CACHE_CONTROL],
        "private, no-store"
    );
}

#[tokio::test]
async fn the_reference_page_ignores_cookies_and_sets_none() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor().holding("sessionid", "garbage");
    visitor.set_cookie("token", "garbage");
    let reference = visitor.get(REFERENCE_GET_SESSION).await;
    assert_eq!(reference.status, 200);
    assert_eq!(reference.username(), "john_doe");
    assert!(
        reference.set_cookies().is_empty(),
        "{:?}",
        reference.headers
    );
    assert_eq!(server.stored_sessions().await, 0);
}
