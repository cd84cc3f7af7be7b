//! `/metrics`, over HTTP: after known requests on every side, each counter
//! says exactly what those requests did (requests by route and status,
//! cookie verdicts, logins and logouts, store operations, signatures and
//! verified-token cache hits), the text is valid Prometheus exposition
//! (`promtool check metrics`, when it is installed), and `--metrics off`
//! serves none of it.

use crate::common;

use std::collections::BTreeMap;

use common::TestServer;
use reqwest::StatusCode;
use sessions_vs_jwt::routes::Mount;

/// Every sample of the exposition, by its series (`name{labels}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample is `series value`: {line}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number in: {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

/// The operators' listener, where `/metrics` is served.
const OPERATORS: [&str; 2] = ["--metrics-bind", "127.0.0.1:0"];

async fn scrape(server: &TestServer) -> BTreeMap<String, f64> {
    let response = reqwest::get(server.operations_url("/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    samples(&response.text().await.unwrap())
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} among {:#?}", samples.keys()))
}

/// A login, two reads and a logout on `mount`'s pages.
async fn visit(server: &TestServer, mount: Mount) {
    let mut visitor = server.visitor();
    assert_eq!(visitor.log_in_on(mount).await.status, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(visitor.username_on(mount).await, "john_doe");
    }
    let logout = visitor.log_out_on(mount).await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
}

async fn visited_on_every_side() -> (TestServer, BTreeMap<String, f64>) {
    let server = TestServer::start(&OPERATORS).await;
    for mount in Mount::BUILT_IN {
        visit(&server, mount).await;
    }
    let samples = scrape(&server).await;
    (server, samples)
}

#[tokio::test]
async fn requests_are_counted_by_router_route_and_status() {
    let (_server, samples) = visited_on_every_side().await;
    for mount in Mount::BUILT_IN {
        let series = |route: &str, status: u16| {
            format!(
                "svj_http_requests_total{{router=\"{}\",route=\"{route}\",status=\"{status}\"}}",
                mount.name()
            )
        };
        assert_eq!(
            value(&samples, &series("set_session", 200)),
            1.0,
            "{mount:?}"
        );
        assert_eq!(
            value(&samples, &series("get_session", 200)),
            2.0,
            "{mount:?}"
        );
        assert_eq!(value(&samples, &series("logout", 303)), 1.0, "{mount:?}");
    }
}

#[tokio::test]
async fn cookie_verdicts_logins_and_logouts_are_counted_per_mechanism() {
    let (_server, samples) = visited_on_every_side().await;
    for mount in Mount::BUILT_IN {
        let name = mount.name();
        let verdict = |verdict: &str| {
            value(
                &samples,
                &format!("svj_cookie_verdicts_total{{mechanism=\"{name}\",verdict=\"{verdict}\"}}"),
            )
        };
        // The login came without a cookie; both reads and the logout had a valid one.
        assert_eq!(verdict("guest"), 1.0, "{name}");
        assert_eq!(verdict("valid"), 3.0, "{name}");
        assert_eq!(verdict("tampered"), 0.0, "{name}");
        let of = |metric: &str| value(&samples, &format!("{metric}{{mechanism=\"{name}\"}}"));
        assert_eq!(of("svj_logins_total"), 1.0, "{name}");
        assert_eq!(of("svj_logouts_total"), 1.0, "{name}");
    }
}

#[tokio::test]
async fn server_sessions_touch_the_store_on_every_request_and_tokens_never() {
    let (_server, samples) = visited_on_every_side().await;
    let operation = |mechanism: &str, operation: &str| {
        value(
            &samples,
            &format!(
                "svj_store_operations_total{{mechanism=\"{mechanism}\",operation=\"{operation}\"}}"
            ),
        )
    };
    assert_eq!(operation("server", "create"), 1.0);
    assert_eq!(operation("server", "load"), 3.0);
    assert_eq!(operation("server", "delete"), 1.0);
    let all = |mechanism: &str| {
        samples
            .iter()
            .filter(|(series, _)| {
                series.starts_with(&format!(
                    "svj_store_operations_total{{mechanism=\"{mechanism}\""
                ))
            })
            .map(|(_, value)| value)
            .sum::<f64>()
    };
    assert_eq!(all("token"), 0.0);
    assert_eq!(all("cookie"), 0.0);
    assert!(all("hybrid") > 0.0, "the refresh record is stored");
    let latency_count = value(
        &samples,
        r#"svj_store_operation_seconds_count{mechanism="server",operation="load"}"#,
    );
    assert_eq!(latency_count, 3.0);
    assert_eq!(
        value(
            &samples,
            r#"svj_store_errors_total{mechanism="server",operation="load"}"#
        ),
        0.0
    );
}

#[tokio::test]
async fn tokens_are_signed_once_and_then_found_in_the_verified_token_memory() {
    let (_server, samples) = visited_on_every_side().await;
    let signatures = |mechanism: &str, operation: &str| {
        value(
            &samples,
            &format!("svj_signatures_total{{mechanism=\"{mechanism}\",operation=\"{operation}\"}}"),
        )
    };
    let hits = |mechanism: &str| {
        value(
            &samples,
            &format!("svj_verified_token_cache_hits_total{{mechanism=\"{mechanism}\"}}"),
        )
    };
    for mechanism in ["token", "hybrid"] {
        assert_eq!(signatures(mechanism, "sign"), 1.0, "{mechanism}");
        // The token a login signs is remembered as verified.
        assert_eq!(signatures(mechanism, "verify"), 0.0, "{mechanism}");
        assert_eq!(hits(mechanism), 3.0, "{mechanism}");
    }
    // The encrypted cookie is sealed once and opened on each of the three requests.
    assert_eq!(signatures("cookie", "sign"), 1.0);
    assert_eq!(signatures("cookie", "verify"), 3.0);
    assert_eq!(signatures("server", "sign"), 0.0);
    assert_eq!(signatures("server", "verify"), 0.0);
}

#[tokio::test]
async fn without_the_verified_token_memory_every_request_checks_a_signature() {
    let server = TestServer::start(&["--token-cache", "0", OPERATORS[0], OPERATORS[1]]).await;
    visit(&server, Mount::TOKEN).await;
    let samples = scrape(&server).await;
    assert_eq!(
        value(
            &samples,
            r#"svj_signatures_total{mechanism="token",operation="verify"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            r#"svj_verified_token_cache_hits_total{mechanism="token"}"#
        ),
        0.0
    );
}

#[tokio::test]
async fn a_tampered_cookie_is_counted_as_tampered() {
    let server = TestServer::start(&OPERATORS).await;
    let mut visitor = server
        .visitor()
        .holding(common::cookie_name(Mount::TOKEN), "not.a.token");
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "Guest");
    let samples = scrape(&server).await;
    assert_eq!(
        value(
            &samples,
            r#"svj_cookie_verdicts_total{mechanism="token",verdict="tampered"}"#
        ),
        1.0
    );
}

needs!(
    promtool,
    #[tokio::test]
    async fn the_exposition_passes_promtool() {
        let promtool = which("promtool").expect("build.rs found promtool on the PATH");
        let (server, _) = visited_on_every_side().await;
        let text = reqwest::get(server.operations_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut check = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = check.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "promtool refused the exposition:\n{}{}\n---\n{text}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
);

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}

#[tokio::test]
async fn metrics_off_serves_no_metrics() {
    let server = TestServer::start(&["--metrics", "off", OPERATORS[0], OPERATORS[1]]).await;
    let response = reqwest::get(server.operations_url("/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_public_site_serves_neither_metrics_nor_store_operations() {
    for args in [&[][..], &OPERATORS[..]] {
        let server = TestServer::start(args).await;
        for path in ["/metrics", "/store-operations"] {
            let response = reqwest::get(server.url(path)).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{path} with {args:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_operators_listener_serves_metrics_and_store_operations() {
    let server = TestServer::start(&OPERATORS).await;
    visit(&server, Mount::SERVER).await;
    for path in ["/metrics", "/store-operations"] {
        let response = reqwest::get(server.operations_url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}
