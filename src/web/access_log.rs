//! One line per request: what, which router, what the cookie was, how it
//! ended, how long it took (the inspector at `/` lists every router, e.g.
//! `router=server,token cookie=valid,guest`). Never a cookie value or a
//! session id. The same pass counts the request for `/metrics`, so that
//! counting costs no middleware of its own.
//!
//! A layer of its own rather than tower-http's `TraceLayer`: the line needs
//! the request's method and path and the response's verdicts together, which
//! `TraceLayer` only offers through a span per request, and the span nearly
//! doubles what the line costs. Measured with callgrind over 20,000 requests
//! at the default log level, the same line through `TraceLayer` cost 29.3k
//! instructions per `/healthz` against 24.7k here (+19%), and 53.8k per
//! returning visitor's `/token/get_session/` against 49.6k (+8.5%), about
//! 1.5 µs of CPU: creating the span ~2.0k, closing it ~0.8k, entering and
//! leaving it on each poll ~0.9k (commit 850760b).

use std::{
    cell::RefCell,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    extract::Request,
    http::{Method, Uri},
    response::Response,
};
use pin_project_lite::pin_project;
use smallvec::SmallVec;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use crate::{
    logging::{Access, Names},
    metrics::{Metrics, Page},
    routes::{MAX_MOUNTS, Mount},
    session::CookieVerdict,
};

/// What each mechanism a response went through found in the request's
/// cookie, by router: one for a router's pages, all of them for the
/// inspector. Reported into the request's task, where the access log reads
/// it back: in the response's extensions it cost their first insert, an
/// allocated map, on every page (`--profile`). Room for one inline, as
/// the task swaps it in and out on every poll.
#[derive(Clone, Debug, Default)]
pub struct SessionOutcomes(SmallVec<[(Mount, CookieVerdict); 1]>);

tokio::task_local! {
    /// The outcomes of the request that [`AccessLog`] is serving.
    static OUTCOMES: RefCell<SessionOutcomes>;
}

impl SessionOutcomes {
    /// Records `verdict` for `mount`, after the routers already recorded;
    /// nothing outside a request served through [`AccessLog`].
    pub fn report(mount: Mount, verdict: CookieVerdict) {
        let _ = OUTCOMES.try_with(|outcomes| {
            let reported = &mut outcomes.borrow_mut().0;
            if let Some(earlier) = reported.iter_mut().find(|(earlier, _)| *earlier == mount) {
                earlier.1 = verdict;
            } else if reported.len() < MAX_MOUNTS {
                reported.push((mount, verdict));
            }
        });
    }

    /// Each router's verdict, in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = (Mount, CookieVerdict)> + '_ {
        self.0.iter().copied()
    }
}

/// Writes each request's access line and counts it for `/metrics`.
/// `metrics` is `None` when `/metrics` is not served: then nothing is counted.
#[derive(Clone, Debug)]
pub struct AccessLogLayer {
    pub metrics: Option<Arc<Metrics>>,
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// A service of its own rather than axum's `from_fn`, whose `Next` boxes
/// the inner service and whose future is boxed, on every request
/// (`--profile`).
#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
}

impl<S> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let counted = self.metrics.as_ref().map(|metrics| {
            let page = metrics.page(request.uri().path());
            (Arc::clone(metrics), page)
        });
        let line = Access::enabled().then(|| Line {
            started: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
        });
        Logged {
            inner: OUTCOMES.scope(RefCell::default(), self.inner.call(request)),
            counted,
            line,
        }
    }
}

/// What the line needs of the request, kept until the response.
#[derive(Debug)]
struct Line {
    started: Instant,
    method: Method,
    uri: Uri,
}

pin_project! {
    /// The inner service's response, counted and logged when it is ready.
    pub struct Logged<F> {
        #[pin]
        inner: TaskLocalFuture<RefCell<SessionOutcomes>, F>,
        counted: Option<(Arc<Metrics>, Page)>,
        line: Option<Line>,
    }
}

impl<F, E> Future for Logged<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let response = std::task::ready!(this.inner.as_mut().poll(cx))?;
        if let Some((metrics, page)) = this.counted.take() {
            metrics.request(page, response.status().as_u16());
        }
        if let Some(line) = this.line.take() {
            let outcomes = this.inner.take_value().unwrap_or_default().into_inner();
            write_line(&line, &response, &outcomes);
        }
        Poll::Ready(Ok(response))
    }
}

fn write_line(line: &Line, response: &Response, outcomes: &SessionOutcomes) {
    let (mut routers, mut cookies) = ([""; MAX_MOUNTS], [""; MAX_MOUNTS]);
    let mut reported = 0;
    for (at, (mount, verdict)) in outcomes.iter().enumerate() {
        (routers[at], cookies[at]) = (mount.name(), verdict.name());
        reported = at + 1;
    }
    let access = Access {
        method: line.method.as_str(),
        path: line.uri.path(),
        status: response.status().as_u16(),
        router: Names(&routers[..reported]),
        cookie: Names(&cookies[..reported]),
        micros: line.started.elapsed().as_micros() as u64,
    };
    access.write();
}
