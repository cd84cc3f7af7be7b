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
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use tokio::net::TcpListener;

use crate::{
    config::Config,
    routes::{self, Mount, Route},
    server_session::{self, ServerSession, ServerSessions, StoreError},
    templates,
    token_session::{
        TokenSession, TokenSessions,
        keys::{KeyError, KeyRing},
    },
    views,
    visitor::{SessionOutcome, VisitorSession},
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
    #[error("session store {store}: {source}")]
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
        let keys = KeyRing::load_or_generate(&config.keys.dir, config.keys.algorithm)?;
        Ok(Self {
            server: Arc::new(ServerSessions::new(
                records,
                store.clone(),
                config.cookie_age,
                config.secure_cookies,
            )),
            tokens: Arc::new(TokenSessions::new(
                keys,
                config.cookie_age,
                config.secure_cookies,
            )),
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
        .nest(Mount::Server.prefix(), visitor_routes::<ServerSession>())
        .nest(Mount::Token.prefix(), visitor_routes::<TokenSession>())
        .layer(middleware::map_response(private_page));
    Router::new()
        .merge(pages)
        .route("/healthz", get(views::healthz))
        .fallback(views::not_found)
        .method_not_allowed_fallback(views::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// One router's pages, from the route table, for one mechanism.
fn visitor_routes<S: VisitorSession>() -> Router<AppState> {
    Router::new()
        .route(
            Route::SetSession.path(),
            get(views::set_session::<S>).post(views::set_session_from_form::<S>),
        )
        .route(Route::GetSession.path(), get(views::get_session::<S>))
        .route(Route::Logout.path(), post(views::logout::<S>))
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

/// One line per request: what, which router, what the cookie was, how it
/// ended, how long it took. Never a cookie value or a session id.
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let outcome = response.extensions().get::<SessionOutcome>();
    tracing::info!(
        target: "access",
        %method,
        %path,
        status = response.status().as_u16(),
        router = %outcome.map_or("-", |outcome| outcome.mount.name()),
        cookie = %outcome.map_or_else(|| "-".to_owned(), |outcome| outcome.verdict.to_string()),
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
