//! The access log: one line per request naming the router, what the cookie
//! was and how long the request took, and never a cookie value or session id.
//! Read from the real binary's log, as an operator reads it: no other
//! test's server writes there.

use crate::common;

use common::process::Instance;
use sessions_vs_jwt::routes::{Mount, Route};

/// The access lines of `log` for requests to `path`.
fn lines_for<'log>(log: &'log str, method: &str, path: &str) -> Vec<&'log str> {
    let wanted = format!("method={method} path={path} ");
    log.lines().filter(|line| line.contains(&wanted)).collect()
}

#[tokio::test]
async fn access_lines_name_router_outcome_and_duration_but_never_a_cookie_value() {
    let folder = tempfile::tempdir().unwrap();
    let keys = folder.path().join("keys");
    let server = Instance::start(&["--store", "memory", "--keys-dir", keys.to_str().unwrap()]);
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::SERVER).await;
    visitor.log_in_on(Mount::TOKEN).await;
    let session_id = visitor.cookie("sessionid").unwrap();
    let token = visitor.cookie("token").unwrap();
    visitor.get(&Mount::SERVER.url(Route::GetSession)).await;
    visitor.set_cookie("token", "not.a.token");
    visitor.get("/").await;
    // The log reaches the test through a pipe, a moment after the page.
    common::wait_until("the last request's access line", || async {
        !lines_for(&server.log(), "GET", "/").is_empty()
    })
    .await;
    let log = server.log();

    let line = lines_for(&log, "GET", "/server/get_session/")[0];
    for field in ["status=200", "router=server", "cookie=valid", "micros="] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let line = lines_for(&log, "GET", "/")[0];
    for field in ["router=server,token", "cookie=valid,tampered", "micros="] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let line = lines_for(&log, "GET", "/token/set_session/")[0];
    assert!(line.contains("cookie=guest"), "{line}");

    assert!(!log.contains(&session_id), "{log}");
    assert!(!log.contains(&token), "{log}");
    assert!(!log.contains("not.a.token"), "{log}");
}
