//! A peer: the seed's two views as a Rust user would write them on stock
//! tower-sessions 0.14, instead of this app's own session layer:
//! `SessionManagerLayer` with the crate's `MemoryStore`, or with the
//! published SQLite store (tower-sessions-sqlx-store). It renders the app's
//! own templates with minijinja, with the app's site header and links, so
//! that the pages are the app's byte for byte (the harness checks the
//! `get_session` page before it compares the two); or, with `--page bytes`,
//! the leanest a user would write: the same page by string concatenation,
//! the username HTML-escaped, no template engine at all. No access log, no
//! other middleware: the harness reports it as a ratio to the bare server,
//! as a multiple of Django, and against the app in paired rounds, in the
//! same run as the app (docs/performance.md, "Peers").

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::{Context as _, bail};
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use clap::{Parser, ValueEnum};
use minijinja::{Environment, Value, context};
use sessions_vs_jwt::routes::Mount;
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
    /// How a page is made: by rendering the app's templates, or by
    /// concatenating the page's fixed parts around the username.
    #[arg(long, value_enum, default_value_t = PageMaking::Templates)]
    page: PageMaking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PageMaking {
    /// The app's templates, rendered with minijinja on every request.
    Templates,
    /// The page's bytes: fixed parts, taken from the templates once at
    /// start, and the username HTML-escaped between them.
    Bytes,
}

const HEADER: (&str, &str) = (
    "header.html",
    include_str!("../../../templates/header.html"),
);

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

/// The one message of the set_session page.
const SESSION_SET: &str = "Session data set!";

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

/// The app's templates as the app sets them up: its `url_for`, and its
/// site header, rendered once from the app's routers.
fn templates() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    // The app's `url_for(name, router)`: every page is `/{router}/{name}/`,
    // a path the app writes as it is, not escaped.
    env.add_function("url_for", |name: &str, mount: Option<&str>| {
        Value::from_safe_string(format!("/{}/{name}/", mount.unwrap_or("server")))
    });
    env.add_global(
        "mounts",
        Value::from_iter(Mount::BUILT_IN.into_iter().map(Mount::name)),
    );
    env.add_template(HEADER.0, HEADER.1)?;
    let header = env.get_template(HEADER.0)?.render(())?;
    env.add_global("site_header", Value::from_safe_string(header));
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// What the two views answer with, made as `--page` says.
#[derive(Clone)]
enum Pages {
    Templates(Arc<Environment<'static>>),
    Bytes(Arc<PageBytes>),
}

impl Pages {
    fn new(making: PageMaking) -> anyhow::Result<Self> {
        let templates = templates()?;
        Ok(match making {
            PageMaking::Templates => Pages::Templates(Arc::new(templates)),
            PageMaking::Bytes => {
                let bytes = PageBytes::from_templates(&templates)?;
                bytes.check_against(&templates)?;
                Pages::Bytes(Arc::new(bytes))
            }
        })
    }

    fn set_session(&self) -> Result<String, minijinja::Error> {
        match self {
            Pages::Templates(templates) => render_set_session(templates),
            Pages::Bytes(bytes) => Ok(bytes.set_session.clone()),
        }
    }

    fn get_session(&self, username: &str, is_logged_in: bool) -> Result<String, minijinja::Error> {
        match self {
            Pages::Templates(templates) => render_get_session(templates, username, is_logged_in),
            Pages::Bytes(bytes) => Ok(bytes.get_session(username, is_logged_in)),
        }
    }
}

fn render_set_session(templates: &Environment<'static>) -> Result<String, minijinja::Error> {
    templates
        .get_template("set_session.html")?
        .render(context! { mount => "server", message => SESSION_SET })
}

fn render_get_session(
    templates: &Environment<'static>,
    username: &str,
    is_logged_in: bool,
) -> Result<String, minijinja::Error> {
    templates
        .get_template("get_session.html")?
        .render(context! {
            mount => "server",
            username => username,
            is_logged_in => is_logged_in,
        })
}

/// The pages as string constants, the way a user without a template
/// engine writes them: the set_session page whole, and the get_session
/// page cut around the username. Taken from the rendered templates at
/// start rather than typed, so that they cannot drift from the app's.
#[derive(Debug)]
struct PageBytes {
    set_session: String,
    before_username: String,
    /// After the username, for a visitor logged in and for one who is not.
    after_username_logged_in: String,
    after_username_logged_out: String,
}

/// Stands for the username while the page is cut: nothing in the
/// templates writes it, and HTML escaping leaves it as it is.
const USERNAME_MARK: &str = "\u{0}username\u{0}";

/// Usernames whose concatenated page must be the rendered one: the seed's,
/// the default, and every character HTML escaping changes.
const CHECKED_USERNAMES: [(&str, bool); 3] = [
    ("john_doe", true),
    ("Guest", false),
    ("<b title=\"a/b\">Tom & Jerry's</b>", true),
];

impl PageBytes {
    fn from_templates(templates: &Environment<'static>) -> anyhow::Result<Self> {
        let cut = |is_logged_in: bool| -> anyhow::Result<(String, String)> {
            let page = render_get_session(templates, USERNAME_MARK, is_logged_in)?;
            let (before, after) = page
                .split_once(USERNAME_MARK)
                .context("the get_session page does not show the username")?;
            if after.contains(USERNAME_MARK) {
                bail!("the get_session page shows the username more than once");
            }
            Ok((before.to_owned(), after.to_owned()))
        };
        let (before_username, after_username_logged_in) = cut(true)?;
        let (before_logged_out, after_username_logged_out) = cut(false)?;
        if before_logged_out != before_username {
            bail!("the get_session page changes before the username with the login");
        }
        Ok(Self {
            set_session: render_set_session(templates)?,
            before_username,
            after_username_logged_in,
            after_username_logged_out,
        })
    }

    fn get_session(&self, username: &str, is_logged_in: bool) -> String {
        let after = if is_logged_in {
            &self.after_username_logged_in
        } else {
            &self.after_username_logged_out
        };
        let mut page =
            String::with_capacity(self.before_username.len() + username.len() + after.len());
        page.push_str(&self.before_username);
        push_html_escaped(&mut page, username);
        page.push_str(after);
        page
    }

    /// Fails unless every page made here is the rendered page, byte for byte.
    fn check_against(&self, templates: &Environment<'static>) -> anyhow::Result<()> {
        if self.set_session != render_set_session(templates)? {
            bail!("the set_session page's bytes are not the rendered page");
        }
        for (username, is_logged_in) in CHECKED_USERNAMES {
            if self.get_session(username, is_logged_in)
                != render_get_session(templates, username, is_logged_in)?
            {
                bail!(
                    "the get_session page built for {username:?} is not the rendered page: \
                     the escaping differs from minijinja's"
                );
            }
        }
        Ok(())
    }
}

/// `text` escaped as minijinja's HTML autoescaping writes it.
fn push_html_escaped(page: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '<' => page.push_str("&lt;"),
            '>' => page.push_str("&gt;"),
            '&' => page.push_str("&amp;"),
            '"' => page.push_str("&quot;"),
            '\'' => page.push_str("&#x27;"),
            '/' => page.push_str("&#x2f;"),
            other => page.push(other),
        }
    }
}

async fn serve(options: &Options) -> anyhow::Result<()> {
    let pages = Pages::new(options.page)?;
    let router = match options.store.strip_prefix("sqlite://") {
        None if options.store == "memory" => routes(MemoryStore::default(), pages),
        None => bail!(
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
            routes(store, pages)
        }
    };
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    axum::serve(listener, router).await?;
    Ok(())
}

fn routes<S: SessionStore + Clone>(store: S, pages: Pages) -> Router {
    // Django's cookie name; plain HTTP on 127.0.0.1, so not `Secure`.
    let sessions = SessionManagerLayer::new(store)
        .with_name("sessionid")
        .with_secure(false);
    Router::new()
        .route("/server/set_session/", get(set_session))
        .route("/server/get_session/", get(get_session))
        .layer(sessions)
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(pages)
}

/// The reference `set_session_data`: stores `john_doe` as logged in.
async fn set_session(State(pages): State<Pages>, session: Session) -> Response {
    let stored = async {
        session.insert("username", "john_doe").await?;
        session.insert("is_logged_in", true).await
    };
    if stored.await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    page(pages.set_session())
}

/// The reference `get_session_data`, with its defaults `Guest` and `False`.
async fn get_session(State(pages): State<Pages>, session: Session) -> Response {
    let (Ok(username), Ok(is_logged_in)) = (
        session.get::<String>("username").await,
        session.get::<bool>("is_logged_in").await,
    ) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    page(pages.get_session(
        username.as_deref().unwrap_or("Guest"),
        is_logged_in.unwrap_or(false),
    ))
}

fn page(made: Result<String, minijinja::Error>) -> Response {
    match made {
        Ok(page) => Html(page).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> (Environment<'static>, PageBytes) {
        let templates = templates().unwrap();
        let bytes = PageBytes::from_templates(&templates).unwrap();
        (templates, bytes)
    }

    #[test]
    fn the_pages_bytes_are_the_rendered_pages() {
        let (templates, bytes) = both();
        bytes.check_against(&templates).unwrap();
        for (username, is_logged_in) in [("john_doe", true), ("Guest", false), ("", true)] {
            assert_eq!(
                bytes.get_session(username, is_logged_in),
                render_get_session(&templates, username, is_logged_in).unwrap(),
                "{username:?}"
            );
        }
    }

    #[test]
    fn the_username_is_escaped_as_minijinja_escapes_it() {
        let mut escaped = String::new();
        let text = "<a href=\"/x\">Tom & Jerry's</a> é";
        push_html_escaped(&mut escaped, text);
        assert_eq!(escaped, minijinja::HtmlEscape(text).to_string());
    }

    #[test]
    fn a_different_escaping_is_caught_at_start() {
        let (templates, mut bytes) = both();
        bytes.after_username_logged_in.push(' ');
        assert!(bytes.check_against(&templates).is_err());
    }

    #[test]
    fn the_pages_carry_the_apps_site_header_and_plain_links() {
        let templates = templates().unwrap();
        let page = render_get_session(&templates, "john_doe", true).unwrap();
        assert!(page.contains("<header>"), "{page}");
        assert!(
            page.contains("<a href=\"/token/get_session/\">/token</a>"),
            "{page}"
        );
        assert!(page.contains("action=\"/server/logout/\""), "{page}");
        assert!(page.contains("<h1>Username: john_doe</h1>"), "{page}");
    }
}
