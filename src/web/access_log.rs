//! One line per request: what, which router, what the cookie was, how it
//! ended, how long it took (the inspector at `/` lists every router, e.g.
//! `router=server,token cookie=valid,guest`). Never a cookie value or a
//! session id.
//!
//! A plain middleware rather than tower-http's `TraceLayer`: the line needs
//! the request's method and path and the response's verdicts together, which
//! `TraceLayer` only offers through a span per request, and a span costs
//! every request whether or not the line is written.

use std::time::Instant;

use axum::response::ResponseParts;
use axum::{extract::Request, middleware::Next, response::Response};

use crate::{routes::Mount, session::CookieVerdict};

/// What each mechanism a response went through found in the request's
/// cookie, by router: one for a router's pages, all of them for the
/// inspector. Left in the response's extensions for the access log.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOutcomes([Option<CookieVerdict>; Mount::ALL.len()]);

impl SessionOutcomes {
    /// Records `verdict` for `mount`, beside the other routers'.
    pub fn report(parts: &mut ResponseParts, mount: Mount, verdict: CookieVerdict) {
        let outcomes = parts
            .extensions_mut()
            .get_or_insert_default::<SessionOutcomes>();
        outcomes.0[mount.index()] = Some(verdict);
    }

    /// Each router's verdict, in the route table's order.
    pub fn iter(&self) -> impl Iterator<Item = (Mount, CookieVerdict)> + '_ {
        Mount::ALL
            .into_iter()
            .filter_map(|mount| Some((mount, self.0[mount.index()]?)))
    }
}

pub async fn access_log(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let outcomes = response
        .extensions()
        .get::<SessionOutcomes>()
        .copied()
        .unwrap_or_default();
    let listed = |field: fn(Mount, CookieVerdict) -> String| {
        let listed: Vec<String> = outcomes
            .iter()
            .map(|(mount, verdict)| field(mount, verdict))
            .collect();
        if listed.is_empty() {
            "-".to_owned()
        } else {
            listed.join(",")
        }
    };
    tracing::info!(
        target: "access",
        %method,
        %path,
        status = response.status().as_u16(),
        router = %listed(|mount, _| mount.name().to_owned()),
        cookie = %listed(|_, verdict| verdict.to_string()),
        micros = started.elapsed().as_micros() as u64,
    );
    response
}
