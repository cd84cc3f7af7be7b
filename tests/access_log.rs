//! The access log: one line per request naming the router, what the cookie
//! was and how long the request took, and never a cookie value or session id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::TestServer;
use sessions_vs_jwt::routes::{Mount, Route};

/// Everything the app logs in this test binary, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install() -> Self {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter("access=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    }

    /// The access lines for requests to `path`.
    fn lines_for(&self, method: &str, path: &str) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        let wanted = format!("method={method} path={path} ");
        text.lines()
            .filter(|line| line.contains(&wanted))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn access_lines_name_router_outcome_and_duration_but_never_a_cookie_value() {
    let log = Captured::install();
    let server = TestServer::start(&[]).await;
    let mut visitor = server.visitor();
    visitor.get(&Mount::Server.url(Route::SetSession)).await;
    visitor.get(&Mount::Token.url(Route::SetSession)).await;
    let session_id = visitor.cookie("sessionid").unwrap();
    let token = visitor.cookie("token").unwrap();
    visitor.get(&Mount::Server.url(Route::GetSession)).await;
    visitor.set_cookie("token", "not.a.token");
    visitor.get("/").await;

    let line = &log.lines_for("GET", "/server/get_session/")[0];
    for field in ["status=200", "router=server", "cookie=valid", "micros="] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let line = &log.lines_for("GET", "/")[0];
    for field in ["router=server,token", "cookie=valid,tampered", "micros="] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let line = &log.lines_for("GET", "/token/set_session/")[0];
    assert!(line.contains("cookie=guest"), "{line}");

    let everything = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(!everything.contains(&session_id), "{everything}");
    assert!(!everything.contains(&token), "{everything}");
    assert!(!everything.contains("not.a.token"), "{everything}");
}
