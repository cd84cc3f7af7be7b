//! Assembles the app: the shared state both mechanisms need, the two routers
//! built from the route table, and the middleware around them.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderMap, HeaderValue, header},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use tokio::net::TcpListener;

use crate::{
    config::Config,
    error::AppError,
    routes::{self, Mount, Route},
    server_session::{self, ServerSession, ServerSessions, StoreError},
    templates,
    token_session::{
        Revocations, TokenSession, TokenSessions,
        keys::{KeyError, KeyRing},
    },
    views,
    visitor::{CookieVerdict, SessionOutcomes, VisitorSession},
};

/// What handlers share: one part per mechanism.
#[derive(Clone, Debug)]
pub struct AppState {
    pub server: Arc<ServerSessions>,
    pub tokens: Arc<TokenSessions>,
    /// How often expired sessions are swept from the store.
    pub cleanup_interval: Duration,
}

/// Why the server could not start. `main` prints it as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("session store {store}")]
    Store { store: String, source: StoreError },
    #[error("token keys: {0}")]
    Keys(#[from] KeyError),
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
}

/// The largest form the app accepts: a username is 150 characters.
const MAX_BODY_BYTES: usize = 16 * 1024;

impl AppState {
    /// Opens the store and the keys that `config` names, generating a key on first run.
    pub async fn new(config: &Config) -> Result<Self, StartError> {
        templates::check()?;
        let store = &config.store.url;
        let records = server_session::open(store)
            .await
            .map_err(|source| StartError::Store {
                store: store.to_string(),
                source,
            })?;
        let records = server_session::cached(
            records,
            config.store_cache,
            Duration::from_secs(config.store_cache_ttl),
        );
        let keys = KeyRing::load_or_generate(&config.keys.dir, config.keys.algorithm)?;
        let revocations = config
            .token_revocation
            .then(|| Revocations::new(Arc::clone(&records), store));
        Ok(Self {
            server: Arc::new(ServerSessions::new(records, config)),
            tokens: Arc::new(TokenSessions::new(keys, revocations, config)),
            cleanup_interval: Duration::from_secs(config.cleanup_interval),
        })
    }
}

/// The whole site: the index, both routers, the health check, and pages for
/// everything else.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(views::index))
        .route(
            routes::REFERENCE_GET_SESSION,
            get(views::reference_get_session),
        )
        .merge(visitor_routes::<ServerSession>())
        .merge(visitor_routes::<TokenSession>())
        .layer(middleware::from_fn(refuse_cross_site_posts))
        .layer(middleware::map_response(private_page));
    Router::new()
        .merge(pages)
        .route("/healthz", get(views::healthz))
        .route("/.well-known/jwks.json", get(views::jwks))
        .fallback(views::not_found)
        .method_not_allowed_fallback(views::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// One router's pages, from the route table, for one mechanism. Full paths
/// rather than `nest`: a nested router costs every request a boxed service.
fn visitor_routes<S: VisitorSession>() -> Router<AppState> {
    let mount = S::MOUNT;
    Router::new()
        .route(
            &mount.url(Route::SetSession),
            get(views::set_session::<S>).post(views::set_session_from_form::<S>),
        )
        .route(&mount.url(Route::GetSession), get(views::get_session::<S>))
        .route(&mount.url(Route::Logout), post(views::logout::<S>))
}

/// Pages that depend on the visitor's cookie must not be cached for anyone else.
async fn private_page(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// A form posted from another site is refused before anything changes.
/// SameSite=Lax already keeps our cookies off such a post, but a login needs
/// no cookie: without this, another site could log a visitor in under a name
/// of its choosing (login CSRF). Browsers say where a post comes from in
/// `Sec-Fetch-Site` and `Origin`; clients that send neither are not browsers
/// acting for someone else, and pass.
async fn refuse_cross_site_posts(request: Request, next: Next) -> Result<Response, AppError> {
    if !request.method().is_safe() && is_cross_site(request.headers()) {
        return Err(AppError::CrossSite);
    }
    Ok(next.run(request).await)
}

/// `Sec-Fetch-Site` decides when the browser sends it: only `same-origin`
/// and `none` (typed by the user) pass, whatever a proxy did to `Host`.
/// Older browsers send only `Origin`, which must then name the `Host` asked
/// for; `Origin: null` (sandboxed frames, privacy redirects) never does.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin_authority = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority);
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    origin_authority.is_none() || origin_authority != host
}

/// One line per request: what, which router, what the cookie was, how it
/// ended, how long it took (the inspector at `/` lists both routers, e.g.
/// `router=server,token cookie=valid,guest`). Never a cookie value or a
/// session id.
async fn access_log(request: Request, next: Next) -> Response {
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

/// Serves until `shutdown` completes, then finishes the requests in flight
/// and the sweep of expired sessions, if one is under way.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_sweeping, stopped) = tokio::sync::watch::channel(());
    let sweeper = tokio::spawn(server_session::delete_expired_periodically(
        Arc::clone(state.server.records()),
        state.cleanup_interval,
        stopped,
    ));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    drop(stop_sweeping);
    if let Err(err) = sweeper.await {
        tracing::error!(%err, "the sweep of expired sessions failed");
    }
    served
}
