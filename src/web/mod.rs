//! The web layer: the site that serves every registered mechanism under its
//! own router, the inspector, the error pages, and the middleware around
//! them. It knows mechanisms only through `session::Mechanism`, and what
//! the inspector shows of each through `inspector::Inspected`.

mod access_log;
mod cross_site;
mod decision;
pub mod error;
pub mod inspector;
mod metrics_page;
mod mounted;
mod store_operations;
pub mod templates;
pub mod views;
pub mod visit;

use std::{
    convert::Infallible,
    future::{Future, IntoFuture as _},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::{
    Router, ServiceExt as _,
    body::Bytes,
    extract::{DefaultBodyLimit, Request},
    handler::Handler as _,
    http::{HeaderValue, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::net::{TcpListener, TcpSocket};
use tower::{Service, ServiceBuilder};

use self::inspector::Inspected;
pub use self::{access_log::SessionOutcomes, mounted::MountedMechanism, visit::Mounted};
use crate::{
    metrics::{MechanismMeter, Metrics, OperationCounts},
    routes::{Action, MAX_MOUNTS, Mount, REFERENCE_GET_SESSION, SitePage},
    stores::{self, SharedRecords, StoreUrl},
};

/// Everything the site serves: the mechanisms in the order they were registered,
/// the documents it publishes, and the session store they share (for
/// `/healthz` and the sweep of expired sessions).
#[derive(Debug)]
pub struct Site {
    mechanisms: Vec<Box<dyn MountedMechanism>>,
    documents: Vec<Published>,
    records: SharedRecords,
    store: StoreUrl,
    /// How often expired sessions are swept from the store.
    cleanup_interval: Duration,
    /// What every mechanism's meter counts into.
    metrics: Arc<Metrics>,
    /// Whether requests are counted for `/metrics` (`--metrics on`).
    counts_requests: bool,
}

/// Why the site could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("no mechanism is registered")]
    NothingServed,
    #[error("a mechanism is already registered for /{0}")]
    RegisteredTwice(&'static str),
    #[error("/{0}'s pages would hide the site's own page at {1}")]
    HidesSitePage(&'static str, &'static str),
    #[error("/{0} would be mechanism number {n}; a site serves at most {MAX_MOUNTS}", n = MAX_MOUNTS + 1)]
    TooManyMechanisms(&'static str),
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
    #[error("the document for {0} cannot be written as JSON")]
    Document(&'static str, #[source] serde_json::Error),
}

/// A JSON document anyone may read, such as the token side's public keys:
/// written once, when the site is assembled.
#[derive(Debug)]
struct Published {
    page: SitePage,
    json: Bytes,
}

/// A published document as a response: cacheable by anyone for five
/// minutes, as it changes only when the server restarts.
fn published(json: Bytes) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        json,
    )
}

impl Site {
    /// A site over `records` (the store `store` names), whose mechanisms'
    /// meters count into `metrics` when `counts_requests` (`--metrics on`:
    /// it is fixed here, before any meter is handed out); add every mechanism with
    /// [`Site::serving`], then check it with [`Site::ready`].
    pub fn new(
        records: SharedRecords,
        store: StoreUrl,
        cleanup_interval: Duration,
        metrics: Arc<Metrics>,
        counts_requests: bool,
    ) -> Self {
        Self {
            mechanisms: Vec::new(),
            documents: Vec::new(),
            records,
            store,
            cleanup_interval,
            metrics,
            counts_requests,
        }
    }

    /// The meter of the mechanism under `mount`: it counts unless
    /// requests are not counted (`--metrics off`).
    pub fn meter(&self, mount: Mount) -> MechanismMeter {
        if self.counts_requests {
            self.metrics.mechanism(mount)
        } else {
            MechanismMeter::off()
        }
    }

    /// Registers `mechanism` under the router `mount`: the site gives it
    /// its pages, its meter and its column on the inspector, in the order
    /// of registration.
    pub fn serving<M: Inspected>(mut self, mount: Mount, mechanism: M) -> Result<Self, SiteError> {
        if self.mechanism(mount).is_some() {
            return Err(SiteError::RegisteredTwice(mount.name()));
        }
        if self.mechanisms.len() == MAX_MOUNTS {
            return Err(SiteError::TooManyMechanisms(mount.name()));
        }
        if let Some(page) = SitePage::ALL
            .into_iter()
            .find(|page| mount.route_at(page.path()).is_some())
        {
            return Err(SiteError::HidesSitePage(mount.name(), page.path()));
        }
        let meter = self.meter(mount);
        self.mechanisms.push(Box::new(Arc::new(Mounted {
            mechanism: Arc::new(mechanism),
            mount,
            meter,
        })));
        Ok(self)
    }

    /// Publishes `document` at `page`, as JSON.
    pub fn publishing(
        mut self,
        page: SitePage,
        document: &impl serde::Serialize,
    ) -> Result<Self, SiteError> {
        let json =
            serde_json::to_vec(document).map_err(|err| SiteError::Document(page.path(), err))?;
        self.documents.push(Published {
            page,
            json: Bytes::from(json),
        });
        Ok(self)
    }

    /// Checks that the site serves something and that the templates compile.
    pub fn ready(self) -> Result<Self, SiteError> {
        templates::check()?;
        if self.mechanisms.is_empty() {
            return Err(SiteError::NothingServed);
        }
        Ok(self)
    }

    /// The routers, in the order of registration.
    pub fn mounts(&self) -> Vec<Mount> {
        self.mechanisms
            .iter()
            .map(|mechanism| mechanism.mount())
            .collect()
    }

    pub fn records(&self) -> &SharedRecords {
        &self.records
    }

    /// The operations that reached the store since the server started:
    /// what every mechanism and the site asked for, less what the
    /// `--store-cache` answered itself.
    pub fn store_operations(&self) -> OperationCounts {
        let mut asked = self.metrics.store_operations();
        asked.loads = asked.loads.saturating_sub(self.records.cache_hits());
        asked
    }

    fn mechanism(&self, mount: Mount) -> Option<&dyn MountedMechanism> {
        self.mechanisms
            .iter()
            .find(|mechanism| mechanism.mount() == mount)
            .map(|mechanism| mechanism.as_ref())
    }

    /// The mechanism whose router is called `name`, as a form names it.
    fn mechanism_named(&self, name: &str) -> Option<&dyn MountedMechanism> {
        self.mechanisms
            .iter()
            .find(|mechanism| mechanism.mount().name() == name)
            .map(|mechanism| mechanism.as_ref())
    }
}

/// The largest form the app accepts: a username is 150 characters.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body limit, on each view that reads a form (`handler.layer(..)`):
/// around the whole site it wrote into every request's extensions, GETs
/// included (~350 instructions a request, `--profile`). A test posts one
/// byte over it to every form.
fn form_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_BODY_BYTES)
}

/// The whole site: the inspector, every router, the reference page, the
/// health check, the published documents, and pages for everything
/// else, with the access log and the cache headers around it. What the
/// server has done (`/metrics`, `/store-operations`) is not on it: see
/// [`operations_router`].
///
/// The access log and the cache headers wrap the router as services of
/// their own rather than through `Router::layer`, which wraps every route
/// in one more boxed service that each request clones, and calls through a
/// boxed future: about 0.6k instructions a layer (`--profile`).
pub fn site_service(
    site: Arc<Site>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    let access_log = access_log::AccessLogLayer {
        metrics: site.counts_requests.then(|| Arc::clone(&site.metrics)),
    };
    ServiceBuilder::new()
        .layer(access_log)
        .map_response(private_unless_said_otherwise)
        .service(router(site))
}

/// The site's routes, as [`site_service`] serves them.
fn router(site: Arc<Site>) -> Router {
    let mut pages = Router::new()
        .route("/", get(views::index))
        .route(
            Action::Replay.path(),
            post(views::replay.layer(form_body_limit())),
        )
        .route(
            Action::LogInEverywhere.path(),
            post(views::log_in_everywhere.layer(form_body_limit())),
        )
        .route(
            Action::LogOutEverywhere.path(),
            post(views::log_out_everywhere),
        )
        .route(
            Action::ReplayEverywhere.path(),
            post(views::replay_everywhere),
        )
        .route(REFERENCE_GET_SESSION, get(views::reference_get_session))
        .with_state(Arc::clone(&site));
    let mut public = Router::new()
        .route(SitePage::Healthz.path(), get(views::healthz))
        .with_state(Arc::clone(&site));
    for mechanism in &site.mechanisms {
        pages = pages.merge(mechanism.pages());
    }
    for document in &site.documents {
        let json = document.json.clone();
        public = public.route(
            document.page.path(),
            get(move || std::future::ready(published(json.clone()))),
        );
    }
    let mounts = site.mounts();
    Router::new()
        .merge(pages)
        .merge(public)
        .fallback(move |uri: Uri| std::future::ready(views::not_found(&uri, &mounts)))
        .method_not_allowed_fallback(views::method_not_allowed)
}

/// Marks a response as depending on the visitor's cookie, so that no cache
/// serves it to anyone else, unless it says itself how it may be cached
/// (the published documents). Pages depend on the cookie; a health check,
/// an error or a 404 must not be cached either.
fn private_unless_said_otherwise(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    response
}

/// What the server has done, for its operators: `/metrics` (Prometheus) and
/// `/store-operations` (the benchmark's counts). They show when visitors
/// log in and refresh, so they are served on a listener of their own
/// (`--metrics-bind`), never on the public site, which a reverse proxy on
/// the same host would expose whatever address it binds.
pub fn operations_router(site: Arc<Site>) -> Router {
    let operations = Router::new()
        .route(
            SitePage::StoreOperations.path(),
            get(store_operations::store_operations),
        )
        .with_state(Arc::clone(&site));
    let operations = if site.counts_requests {
        operations.route(
            SitePage::Metrics.path(),
            get(metrics_page::metrics).with_state(Arc::clone(&site.metrics)),
        )
    } else {
        operations
    };
    operations.fallback(|uri: Uri| std::future::ready(views::not_found(&uri, &[])))
}

/// Connections the kernel may complete for us before we accept them. At
/// the usual 128, a burst of new visitors overflows the queue: the kernel
/// drops their handshakes' last step, and each waits on retransmits for
/// seconds to minutes while the server sits idle. The kernel caps it at
/// `net.core.somaxconn` (4096 since Linux 5.4).
const ACCEPT_BACKLOG: u32 = 4096;

/// The listening socket [`serve`] takes, with room for a burst of
/// connections (see [`ACCEPT_BACKLOG`]).
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves the site on `listener`, and [`operations_router`] on `operations`
/// if given, until `shutdown` completes; then finishes the requests in
/// flight and the sweep of expired sessions, if one is under way.
pub async fn serve(
    listener: TcpListener,
    operations: Option<TcpListener>,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(());
    let sweeper = tokio::spawn(stores::delete_expired_periodically(
        Arc::clone(&site.records),
        site.cleanup_interval,
        stopped.clone(),
    ));
    let operations = operations.map(|listener| {
        let mut stopped = stopped.clone();
        let until_stopped = async move {
            let _ = stopped.changed().await;
        };
        tokio::spawn(
            axum::serve(listener, operations_router(Arc::clone(&site)))
                .with_graceful_shutdown(until_stopped)
                .into_future(),
        )
    });
    let served = axum::serve(listener, site_service(site).into_make_service())
        .with_graceful_shutdown(shutdown)
        .await;
    drop(stop);
    if let Err(err) = sweeper.await {
        tracing::error!(%err, "the sweep of expired sessions failed");
    }
    if let Some(operations) = operations {
        match operations.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "the operations listener failed"),
            Err(err) => tracing::error!(%err, "the operations listener failed"),
        }
    }
    served
}
