//! One line per request: what, which router, what the cookie was, how it
//! ended, how long it took (the inspector at `/` lists every router, e.g.
//! `router=server,token cookie=valid,guest`). Never a cookie value or a
//! session id. The same pass counts the request for `/metrics`, so that
//! counting costs no middleware of its own.
//!
//! A plain middleware rather than tower-http's `TraceLayer`: the line needs
//! the request's method and path and the response's verdicts together, which
//! `TraceLayer` only offers through a span per request, and the span nearly
//! doubles what the line costs. Measured with callgrind over 20,000 requests
//! at the default log level, the same line through `TraceLayer` cost 29.3k
//! instructions per `/healthz` against 24.7k here (+19%), and 53.8k per
//! returning visitor's `/token/get_session/` against 49.6k (+8.5%), about
//! 1.5 µs of CPU: creating the span ~2.0k, closing it ~0.8k, entering and
//! leaving it on each poll ~0.9k (commit 850760b).

use std::{fmt, sync::Arc, time::Instant};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{Response, ResponseParts},
};

use crate::{
    metrics::Metrics,
    routes::{MAX_MOUNTS, Mount},
    session::CookieVerdict,
};

/// What each mechanism a response went through found in the request's
/// cookie, by router: one for a router's pages, all of them for the
/// inspector. Left in the response's extensions for the access log.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOutcomes([Option<(Mount, CookieVerdict)>; MAX_MOUNTS]);

impl SessionOutcomes {
    /// Records `verdict` for `mount`, after the routers already recorded.
    pub fn report(parts: &mut ResponseParts, mount: Mount, verdict: CookieVerdict) {
        let outcomes = parts
            .extensions_mut()
            .get_or_insert_default::<SessionOutcomes>();
        let slot = outcomes
            .0
            .iter_mut()
            .find(|slot| slot.is_none_or(|(reported, _)| reported == mount));
        if let Some(slot) = slot {
            *slot = Some((mount, verdict));
        }
    }

    /// Each router's verdict, in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = (Mount, CookieVerdict)> + '_ {
        self.0.iter().map_while(|slot| *slot)
    }
}

/// One field of every router the response went through, comma-separated,
/// or `-` for none; written straight into the line, with nothing allocated.
struct Listed(SessionOutcomes, fn(Mount, CookieVerdict) -> &'static str);

impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Listed(outcomes, field) = self;
        let mut listed = outcomes.iter();
        match listed.next() {
            None => f.write_str("-"),
            Some((mount, verdict)) => {
                f.write_str(field(mount, verdict))?;
                for (mount, verdict) in listed {
                    f.write_str(",")?;
                    f.write_str(field(mount, verdict))?;
                }
                Ok(())
            }
        }
    }
}

/// `metrics` is `None` when `/metrics` is not served: then nothing is counted.
pub async fn access_log(
    State(metrics): State<Option<Arc<Metrics>>>,
    request: Request,
    next: Next,
) -> Response {
    let counted = metrics.map(|metrics| {
        let page = metrics.page(request.uri().path());
        (metrics, page)
    });
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        let response = next.run(request).await;
        if let Some((metrics, page)) = counted {
            metrics.request(page, response.status().as_u16());
        }
        return response;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some((metrics, page)) = counted {
        metrics.request(page, response.status().as_u16());
    }
    let outcomes = response
        .extensions()
        .get::<SessionOutcomes>()
        .copied()
        .unwrap_or_default();
    tracing::info!(
        target: "access",
        %method,
        %path,
        status = response.status().as_u16(),
        router = %Listed(outcomes, |mount, _| mount.name()),
        cookie = %Listed(outcomes, |_, verdict| verdict.name()),
        micros = started.elapsed().as_micros() as u64,
    );
    response
}
