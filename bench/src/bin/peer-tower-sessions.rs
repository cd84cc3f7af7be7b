//! A peer: the seed's two views as a Rust user would write them on stock
//! tower-sessions 0.14, instead of this app's own session layer:
//! `SessionManagerLayer` with the crate's `MemoryStore`, or with the
//! published SQLite store (tower-sessions-sqlx-store), rendering the app's
//! own templates with minijinja, so that the pages are the app's byte for
//! byte. No access log, no other middleware: the harness reports it as a
//! ratio to the bare server and as a multiple of Django, in the same run as
//! the app (docs/performance.md, "Peers").

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use clap::Parser;
use minijinja::{Environment, context};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::{SqliteStore, sqlx::SqlitePool};

/// Serves `/server/set_session/` and `/server/get_session/` on stock tower-sessions.
#[derive(Debug, Parser)]
#[command(name = "peer-tower-sessions")]
struct Options {
    /// Address to listen on.
    #[arg(long)]
    bind: SocketAddr,
    /// `memory`, or `sqlite://PATH` (created if missing).
    #[arg(long, default_value = "memory")]
    store: String,
}

const TEMPLATES: [(&str, &str); 3] = [
    ("base.html", include_str!("../../../templates/base.html")),
    (
        "set_session.html",
        include_str!("../../../templates/set_session.html"),
    ),
    (
        "get_session.html",
        include_str!("../../../templates/get_session.html"),
    ),
];

type Templates = Arc<Environment<'static>>;

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    match runtime.block_on(serve(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

fn templates() -> anyhow::Result<Templates> {
    let mut env = Environment::new();
    // The app's `url_for(name, router)`: every page is `/{router}/{name}/`.
    env.add_function("url_for", |name: &str, mount: Option<&str>| {
        format!("/{}/{name}/", mount.unwrap_or("server"))
    });
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(Arc::new(env))
}

async fn serve(options: &Options) -> anyhow::Result<()> {
    let templates = templates()?;
    let router = match options.store.strip_prefix("sqlite://") {
        None if options.store == "memory" => routes(MemoryStore::default(), templates),
        None => anyhow::bail!(
            "--store is `memory` or `sqlite://PATH`, not {}",
            options.store
        ),
        Some(path) => {
            let pool = SqlitePool::connect(&format!("sqlite://{path}?mode=rwc"))
                .await
                .with_context(|| format!("cannot open {path}"))?;
            let store = SqliteStore::new(pool);
            store
                .migrate()
                .await
                .context("cannot create the sessions table")?;
            routes(store, templates)
        }
    };
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    axum::serve(listener, router).await?;
    Ok(())
}

fn routes<S: SessionStore + Clone>(store: S, templates: Templates) -> Router {
    // Django's cookie name; plain HTTP on 127.0.0.1, so not `Secure`.
    let sessions = SessionManagerLayer::new(store)
        .with_name("sessionid")
        .with_secure(false);
    Router::new()
        .route("/server/set_session/", get(set_session))
        .route("/server/get_session/", get(get_session))
        .layer(sessions)
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(templates)
}

/// The reference `set_session_data`: stores `john_doe` as logged in.
async fn set_session(State(templates): State<Templates>, session: Session) -> Response {
    let stored = async {
        session.insert("username", "john_doe").await?;
        session.insert("is_logged_in", true).await
    };
    if stored.await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    render(
        &templates,
        "set_session.html",
        context! { mount => "server", message => "Session data set!" },
    )
}

/// The reference `get_session_data`, with its defaults `Guest` and `False`.
async fn get_session(State(templates): State<Templates>, session: Session) -> Response {
    let (Ok(username), Ok(is_logged_in)) = (
        session.get::<String>("username").await,
        session.get::<bool>("is_logged_in").await,
    ) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    render(
        &templates,
        "get_session.html",
        context! {
            mount => "server",
            username => username.unwrap_or_else(|| "Guest".to_owned()),
            is_logged_in => is_logged_in.unwrap_or(false),
        },
    )
}

fn render(templates: &Environment<'static>, name: &str, context: minijinja::Value) -> Response {
    match templates
        .get_template(name)
        .and_then(|template| template.render(context))
    {
        Ok(page) => Html(page).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
