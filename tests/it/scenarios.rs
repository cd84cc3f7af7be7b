//! The behaviour every router shares. Every scenario runs on each router the
//! server serves (`/server`, `/token`, ...) against a real server, asserts
//! what a visitor must see, and then the transcripts (status, redirect,
//! cookie change and page, with the router prefix normalised) must all be
//! equal. The suite runs once per session store, with and without the
//! in-process cache in front, and once more with a mechanism of a test's
//! own registered beside the app's (`own_mechanism.rs`).

use crate::common;

use common::{Step, TestServer, Visitor, cookie_name, stores::TestStore};
use sessions_vs_jwt::routes::Mount;

/// Runs `scenario` at once on every router of one server (on `$store`,
/// started with `$args`) and demands equal transcripts.
macro_rules! on_every_router {
    (@test $store:ident, $start:path, $args:expr, $scenario:ident) => {
        on_store!(@needs $store, #[tokio::test] async fn $scenario() {
            let server = $start(TestStore::$store, &$args).await;
            let mounts = server.site.mounts();
            let transcripts = futures_util::future::join_all(
                mounts.iter().map(|mount| super::on_one_router::$scenario(&server, *mount)),
            )
            .await;
            super::assert_same_transcripts(&mounts, &transcripts);
        });
    };
    ($store:ident, $start:path, $args:expr; $($scenario:ident),* $(,)?) => {$(
        on_every_router!(@test $store, $start, $args, $scenario);
    )*};
}

/// The whole suite, on one store, on servers started by `$start`.
macro_rules! scenario_suite {
    ($store:ident) => {
        scenario_suite!($store, TestServer::start_on);
    };
    ($store:ident, $start:path) => {
        use super::*;

        on_every_router!($store, $start, [];
            a_new_visitor_is_a_guest,
            set_session_logs_in_john_doe,
            set_session_links_to_get_session_in_the_same_router,
            get_session_links_back_to_set_session,
            posting_a_name_logs_in_under_that_name,
            an_empty_name_is_refused_and_the_login_kept,
            a_name_over_150_characters_is_refused_and_the_login_kept,
            a_name_with_control_characters_is_refused_and_the_login_kept,
            a_form_without_a_username_field_is_refused,
            a_name_with_markup_is_shown_as_text,
            a_second_login_replaces_the_first,
            logout_makes_the_visitor_a_guest_and_removes_the_cookie,
            logout_without_a_cookie_sets_no_cookie,
            a_tampered_cookie_makes_a_guest_and_is_removed,
            a_garbage_cookie_makes_a_guest_and_is_removed,
            an_empty_cookie_makes_a_guest_and_is_removed,
            an_oversized_cookie_makes_a_guest_and_is_removed,
            a_non_utf8_cookie_makes_a_guest_and_is_removed,
            each_router_ignores_the_other_routers_login,
            a_path_without_its_slash_redirects_permanently,
        );

        on_every_router!($store, $start, ["--cookie-age", "5"];
            a_login_ends_after_the_cookie_age_even_if_the_cookie_is_replayed,
        );
    };
}

mod on_memory {
    scenario_suite!(Memory);
}

mod on_sqlite {
    scenario_suite!(Sqlite);
}

mod on_sqlite_cached {
    scenario_suite!(SqliteCached);
}

mod on_redis {
    scenario_suite!(Redis);
}

mod on_redis_cached {
    scenario_suite!(RedisCached);
}

mod on_postgres {
    scenario_suite!(Postgres);
}

mod on_postgres_cached {
    scenario_suite!(PostgresCached);
}

mod with_a_mechanism_of_a_tests_own {
    use crate::own_mechanism::start_serving_signed_cookies;

    scenario_suite!(Memory, start_serving_signed_cookies);
}

fn assert_same_transcripts(mounts: &[Mount], transcripts: &[Vec<Step>]) {
    assert!(mounts.len() >= 2, "at least two routers to compare");
    let (first, others) = transcripts.split_first().expect("at least one router");
    for (other, mount) in others.iter().zip(&mounts[1..]) {
        assert_eq!(
            first.len(),
            other.len(),
            "/{} and /{} made different numbers of requests",
            mounts[0].name(),
            mount.name()
        );
        for (expected, step) in first.iter().zip(other) {
            assert_eq!(
                expected,
                step,
                "/{} and /{} differ at {}",
                mounts[0].name(),
                mount.name(),
                expected.request
            );
        }
    }
}

mod on_one_router {
    use super::*;
    use sessions_vs_jwt::routes::Route;

    fn url(mount: Mount, route: Route) -> String {
        mount.url(route)
    }

    async fn logged_in_visitor(server: &TestServer, mount: Mount) -> Visitor {
        let mut visitor = server.visitor();
        let page = visitor.get(&url(mount, Route::SetSession)).await;
        assert_eq!(page.status, 200);
        visitor
    }

    pub async fn a_new_visitor_is_a_guest(server: &TestServer, mount: Mount) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.username(), "Guest");
        assert_eq!(page.logged_in(), "False");
        assert!(page.set_cookies().is_empty(), "a Guest gets no cookie");
        visitor.transcript
    }

    pub async fn set_session_logs_in_john_doe(server: &TestServer, mount: Mount) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor.get(&url(mount, Route::SetSession)).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.heading(""), Some("Session data set!".into()));
        assert!(
            visitor.cookie(cookie_name(mount)).is_some(),
            "set_session sets the cookie"
        );
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe");
        assert_eq!(page.logged_in(), "True");
        visitor.transcript
    }

    pub async fn set_session_links_to_get_session_in_the_same_router(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor.get(&url(mount, Route::SetSession)).await;
        assert_eq!(
            page.link("View Session Data"),
            Some(url(mount, Route::GetSession))
        );
        visitor.transcript
    }

    pub async fn get_session_links_back_to_set_session(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(
            page.link("Set Session Data"),
            Some(url(mount, Route::SetSession))
        );
        visitor.transcript
    }

    pub async fn posting_a_name_logs_in_under_that_name(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor
            .post(&url(mount, Route::SetSession), &[("username", "alice")])
            .await;
        assert_eq!(page.status, 200);
        assert_eq!(page.heading(""), Some("Session data set!".into()));
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "alice");
        assert_eq!(page.logged_in(), "True");
        visitor.transcript
    }

    async fn refused_name_keeps_login(
        server: &TestServer,
        mount: Mount,
        name: &str,
        reason: &str,
    ) -> Vec<Step> {
        let mut visitor = logged_in_visitor(server, mount).await;
        let cookie_before = visitor.cookie(cookie_name(mount));
        let page = visitor
            .post(&url(mount, Route::SetSession), &[("username", name)])
            .await;
        assert_eq!(page.status, 400);
        assert!(
            page.body.contains(reason),
            "the 400 page says what is wrong: {}",
            page.body
        );
        assert!(
            page.set_cookies().is_empty(),
            "a refused form touches no cookie"
        );
        assert_eq!(visitor.cookie(cookie_name(mount)), cookie_before);
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(
            page.username(),
            "john_doe",
            "the existing login is untouched"
        );
        assert_eq!(page.logged_in(), "True");
        visitor.transcript
    }

    pub async fn an_empty_name_is_refused_and_the_login_kept(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        refused_name_keeps_login(server, mount, "   ", "Enter a username.").await
    }

    pub async fn a_name_over_150_characters_is_refused_and_the_login_kept(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        refused_name_keeps_login(server, mount, &"x".repeat(151), "at most 150 characters").await
    }

    pub async fn a_name_with_control_characters_is_refused_and_the_login_kept(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        refused_name_keeps_login(
            server,
            mount,
            "eve\r\nSet-Cookie: x=1",
            "control characters",
        )
        .await
    }

    pub async fn a_form_without_a_username_field_is_refused(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor
            .post(&url(mount, Route::SetSession), &[("name", "alice")])
            .await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("Enter a username."), "{}", page.body);
        assert!(page.set_cookies().is_empty());
        visitor.transcript
    }

    pub async fn a_name_with_markup_is_shown_as_text(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let name = "<script>alert(\"x\")</script>";
        visitor
            .post(&url(mount, Route::SetSession), &[("username", name)])
            .await;
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert!(
            !page.body.contains("<script>"),
            "markup must be escaped: {}",
            page.body
        );
        assert_eq!(
            page.username(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;"
        );
        visitor.transcript
    }

    pub async fn a_second_login_replaces_the_first(server: &TestServer, mount: Mount) -> Vec<Step> {
        let mut visitor = logged_in_visitor(server, mount).await;
        let first = visitor.cookie(cookie_name(mount));
        visitor
            .post(&url(mount, Route::SetSession), &[("username", "bob")])
            .await;
        assert_ne!(
            visitor.cookie(cookie_name(mount)),
            first,
            "a login issues a new cookie value"
        );
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "bob");
        visitor.transcript
    }

    pub async fn logout_makes_the_visitor_a_guest_and_removes_the_cookie(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = logged_in_visitor(server, mount).await;
        let page = visitor.post(&url(mount, Route::Logout), &[]).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), Some(url(mount, Route::GetSession)));
        let removal = page
            .set_cookie(cookie_name(mount))
            .expect("logout removes the cookie");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(removal.path(), Some("/"));
        assert_eq!(removal.http_only(), Some(true));
        assert_eq!(visitor.cookie(cookie_name(mount)), None);
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "Guest");
        assert_eq!(page.logged_in(), "False");
        visitor.transcript
    }

    pub async fn logout_without_a_cookie_sets_no_cookie(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let page = visitor.post(&url(mount, Route::Logout), &[]).await;
        assert_eq!(page.status, 303);
        assert!(
            page.set_cookies().is_empty(),
            "nothing to remove, so no Set-Cookie"
        );
        visitor.transcript
    }

    async fn bad_cookie_makes_a_guest(server: &TestServer, mount: Mount, value: &str) -> Vec<Step> {
        let mut visitor = server.visitor().holding(cookie_name(mount), value);
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.status, 200, "a bad cookie is never a server error");
        assert_eq!(page.username(), "Guest");
        assert_eq!(page.logged_in(), "False");
        let removal = page
            .set_cookie(cookie_name(mount))
            .expect("the bad cookie is cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(visitor.cookie(cookie_name(mount)), None);
        visitor.transcript
    }

    pub async fn a_tampered_cookie_makes_a_guest_and_is_removed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let visitor = logged_in_visitor(server, mount).await;
        let genuine = visitor.cookie(cookie_name(mount)).unwrap();
        let tampered = flip_one_character(&genuine);
        let mut steps = visitor.transcript;
        steps.extend(bad_cookie_makes_a_guest(server, mount, &tampered).await);
        steps
    }

    pub async fn a_garbage_cookie_makes_a_guest_and_is_removed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        bad_cookie_makes_a_guest(server, mount, "not-a-session-at-all").await
    }

    pub async fn an_empty_cookie_makes_a_guest_and_is_removed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        bad_cookie_makes_a_guest(server, mount, "").await
    }

    pub async fn an_oversized_cookie_makes_a_guest_and_is_removed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        bad_cookie_makes_a_guest(server, mount, &"A".repeat(8000)).await
    }

    pub async fn a_non_utf8_cookie_makes_a_guest_and_is_removed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let mut raw = cookie_name(mount).as_bytes().to_vec();
        raw.extend_from_slice(b"=\xff\xfe\xfd");
        let value = reqwest::header::HeaderValue::from_bytes(&raw).unwrap();
        let builder = reqwest::Client::new()
            .get(server.url(&url(mount, Route::GetSession)))
            .header(reqwest::header::COOKIE, value);
        let page = visitor
            .send(
                format!("GET {} (non-UTF-8 cookie)", url(mount, Route::GetSession)),
                builder,
            )
            .await;
        assert_eq!(page.status, 200);
        assert_eq!(page.username(), "Guest");
        let removal = page
            .set_cookie(cookie_name(mount))
            .expect("the unreadable cookie is cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        visitor.transcript
    }

    pub async fn each_router_ignores_the_other_routers_login(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let other = Mount::BUILT_IN
            .into_iter()
            .find(|other| *other != mount)
            .unwrap();
        let mut visitor = logged_in_visitor(server, other).await;
        visitor.transcript.clear();
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "Guest");
        visitor.transcript
    }

    pub async fn a_path_without_its_slash_redirects_permanently(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        let mut visitor = server.visitor();
        let path = url(mount, Route::GetSession);
        let without_slash = path.trim_end_matches('/');
        let page = visitor.get(&format!("{without_slash}?x=1")).await;
        assert_eq!(page.status, 308);
        assert_eq!(page.location(), Some(format!("{path}?x=1")));
        let page = visitor
            .post(url(mount, Route::Logout).trim_end_matches('/'), &[])
            .await;
        assert_eq!(page.status, 308, "308 keeps a POST a POST");
        visitor.transcript
    }

    pub async fn a_login_ends_after_the_cookie_age_even_if_the_cookie_is_replayed(
        server: &TestServer,
        mount: Mount,
    ) -> Vec<Step> {
        use sessions_vs_jwt::token_session::claims::{LEEWAY_SECONDS, now};
        const AGE: u64 = 5;
        let mut visitor = logged_in_visitor(server, mount).await;
        let logged_in_by = now();
        let cookie = visitor.last_set_cookie(cookie_name(mount)).unwrap();
        assert_eq!(
            cookie.max_age(),
            Some(cookie::time::Duration::seconds(AGE as i64))
        );
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.username(), "john_doe", "still valid within its age");
        // The test client keeps the cookie past its Max-Age, as a copied
        // cookie would be kept: the server itself must refuse it. The token's
        // clock leeway is part of the wait, and the login's fraction of a
        // second the last second of it.
        common::wait_until_unix_time(logged_in_by + AGE + LEEWAY_SECONDS + 1).await;
        let page = visitor.get(&url(mount, Route::GetSession)).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.username(), "Guest");
        let removal = page
            .set_cookie(cookie_name(mount))
            .expect("the expired cookie is cleared");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        visitor.transcript
    }

    /// Changes one character in the middle, where a signature or id lives.
    fn flip_one_character(value: &str) -> String {
        let mut bytes = value.as_bytes().to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }
}
