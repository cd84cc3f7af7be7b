//! The load generator: N keep-alive HTTP/1.1 connections to one server,
//! each sending its next request as soon as the previous response is read
//! (a closed loop), for a fixed time or number of requests. Latencies go
//! into an HDR histogram; failures are counted, never hidden.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Empty};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::wire::cookie_value;

/// What each request carries in its `Cookie` header.
#[derive(Debug, Clone)]
pub enum Cookies {
    /// None: a new visitor.
    None,
    /// These header values in turn, each reused: returning visitors.
    Cycle(Arc<Vec<String>>),
    /// Each value once, then the load stops: visitors seen for the first time.
    Once(Arc<Vec<String>>),
}

impl Cookies {
    pub fn cycle(values: Vec<String>) -> Self {
        Cookies::Cycle(Arc::new(values))
    }

    pub fn once(values: Vec<String>) -> Self {
        Cookies::Once(Arc::new(values))
    }
}

/// One kind of request, sent over and over.
#[derive(Debug, Clone)]
pub struct Load {
    pub path: String,
    pub cookies: Cookies,
    /// Keep the values of this cookie from `Set-Cookie` (minting tokens).
    pub collect_cookie: Option<&'static str>,
}

impl Load {
    pub fn get(path: &str, cookies: Cookies) -> Self {
        Self {
            path: path.to_owned(),
            cookies,
            collect_cookie: None,
        }
    }
}

/// When a load stops: at the deadline, or after `max_requests`, whichever first.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub duration: Duration,
    pub max_requests: Option<u64>,
}

impl Limits {
    pub fn time(duration: Duration) -> Self {
        Self {
            duration,
            max_requests: None,
        }
    }

    /// A fixed number of requests; the long time limit only guards against a stuck server.
    pub fn count(requests: u64) -> Self {
        Self {
            duration: Duration::from_secs(600),
            max_requests: Some(requests),
        }
    }
}

/// What one run of a load did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Responses received, whatever their status.
    pub responses: u64,
    /// Responses with a status other than 2xx or 3xx.
    pub error_responses: u64,
    /// Requests that got no response: refused or broken connections.
    pub transport_errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub elapsed: Duration,
    /// Microseconds from sending a request to reading its whole response.
    pub latency: Histogram<u64>,
    /// Cookie values collected from `Set-Cookie`, as `name=value`.
    pub collected: Vec<String>,
}

impl Outcome {
    fn empty() -> Self {
        Self {
            responses: 0,
            error_responses: 0,
            transport_errors: 0,
            statuses: BTreeMap::new(),
            elapsed: Duration::ZERO,
            latency: histogram(),
            collected: Vec::new(),
        }
    }

    pub fn requests_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.responses as f64 / seconds
        } else {
            0.0
        }
    }
}

/// An empty histogram with the harness's bounds: 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(histogram) => histogram,
        Err(err) => unreachable!("constant histogram bounds are valid: {err}"),
    }
}

/// Connections refused one after another (10 ms apart) before a
/// connection gives up: the server has died.
const MAX_REFUSALS_IN_A_ROW: u32 = 100;

/// Shared by the connections of one run.
#[derive(Debug)]
struct Plan {
    address: SocketAddr,
    host: String,
    load: Load,
    deadline: Instant,
    max_requests: Option<u64>,
    /// Requests started, across connections (for `max_requests` and `Once`).
    started: AtomicU64,
    /// Next cookie of a `Cycle`.
    next_cookie: AtomicUsize,
}

impl Plan {
    /// The cookie for the next request, or `None` when the run is over.
    fn next(&self) -> Option<Option<String>> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let number = self.started.fetch_add(1, Ordering::Relaxed);
        if self.max_requests.is_some_and(|max| number >= max) {
            return None;
        }
        match &self.load.cookies {
            Cookies::None => Some(None),
            Cookies::Cycle(values) => {
                let index = self.next_cookie.fetch_add(1, Ordering::Relaxed);
                values.get(index % values.len().max(1)).cloned().map(Some)
            }
            Cookies::Once(values) => values.get(usize::try_from(number).ok()?).cloned().map(Some),
        }
    }
}

/// Runs `load` against `address` over `connections` connections until `limits`.
pub async fn run(address: SocketAddr, load: &Load, connections: usize, limits: Limits) -> Outcome {
    let started = Instant::now();
    let plan = Arc::new(Plan {
        address,
        host: address.to_string(),
        load: load.clone(),
        deadline: started + limits.duration,
        max_requests: limits.max_requests,
        started: AtomicU64::new(0),
        next_cookie: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| tokio::spawn(connection(Arc::clone(&plan))))
        .collect();
    let mut total = Outcome::empty();
    for task in tasks {
        match task.await {
            Ok(part) => {
                total.responses += part.responses;
                total.error_responses += part.error_responses;
                total.transport_errors += part.transport_errors;
                for (status, count) in part.statuses {
                    *total.statuses.entry(status).or_default() += count;
                }
                let _ = total.latency.add(&part.latency);
                total.collected.extend(part.collected);
            }
            Err(_) => total.transport_errors += 1,
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// One connection's loop. A broken connection is counted and replaced.
async fn connection(plan: Arc<Plan>) -> Outcome {
    let mut outcome = Outcome::empty();
    let mut refused_in_a_row = 0;
    'connect: while Instant::now() < plan.deadline {
        let Ok(mut sender) = open(plan.address).await else {
            outcome.transport_errors += 1;
            refused_in_a_row += 1;
            if refused_in_a_row >= MAX_REFUSALS_IN_A_ROW {
                // The server is gone: stop rather than wait out the deadline.
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        refused_in_a_row = 0;
        while let Some(cookie) = plan.next() {
            let mut request =
                Request::get(plan.load.path.as_str()).header(header::HOST, plan.host.as_str());
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let Ok(request) = request.body(Empty::<Bytes>::new()) else {
                outcome.transport_errors += 1;
                continue;
            };
            let sent = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(_) => {
                    outcome.transport_errors += 1;
                    continue 'connect;
                }
            };
            let status = response.status();
            // A server that closes after each response (gunicorn's sync
            // workers) says so; the next request opens a new connection.
            let closing = response
                .headers()
                .get(header::CONNECTION)
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
            if let Some(name) = plan.load.collect_cookie {
                for value in response.headers().get_all(header::SET_COOKIE) {
                    if let Some(cookie) = value.to_str().ok().and_then(|v| cookie_value(v, name)) {
                        outcome.collected.push(format!("{name}={cookie}"));
                    }
                }
            }
            if response.into_body().collect().await.is_err() {
                outcome.transport_errors += 1;
                continue 'connect;
            }
            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            outcome.latency.saturating_record(micros.max(1));
            outcome.responses += 1;
            *outcome.statuses.entry(status.as_u16()).or_default() += 1;
            if !(status.is_success() || status.is_redirection()) {
                outcome.error_responses += 1;
            }
            if closing {
                continue 'connect;
            }
        }
        break;
    }
    outcome
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn open(address: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; errors show
        // up on the sender's side.
        let _ = connection.await;
    });
    Ok(sender)
}
