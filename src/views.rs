//! The views, written once. Each is generic over the visitor's session, so
//! the same function serves `/server` and `/token`; none of them sees a
//! cookie, a store or a key. The index shows both sessions through the
//! inspector's read-only model.

use axum::{
    Form, Json,
    extract::{State, rejection::FormRejection},
    http::{StatusCode, Uri, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use minijinja::{Value, context, value::Serde};
use serde::Deserialize;

use crate::{
    app::AppState,
    error::AppError,
    inspector::Inspection,
    routes::{self, Mount, Route},
    server_session::ServerSession,
    templates,
    token_session::TokenSession,
    username::Username,
    visitor::{VisitorSession, VisitorState},
};

/// The reference `set_session_data`: stores `john_doe` as logged in.
pub async fn set_session<S: VisitorSession>(mut session: S) -> Result<impl IntoResponse, AppError> {
    session
        .log_in(VisitorState::logged_in(Username::seed()))
        .await?;
    Ok((session, set_session_page::<S>()?))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
}

/// Like `set_session`, with a name from the form. The name is checked before
/// the session is touched, so bad input leaves the visitor as they were.
pub async fn set_session_from_form<S: VisitorSession>(
    mut session: S,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Form(form) = form.map_err(|rejection| AppError::InvalidForm(rejection.body_text()))?;
    let username = Username::parse(&form.username)?;
    session.log_in(VisitorState::logged_in(username)).await?;
    Ok((session, set_session_page::<S>()?))
}

fn set_session_page<S: VisitorSession>() -> Result<Html<String>, AppError> {
    Ok(templates::render(
        "set_session.html",
        context! { mount => S::MOUNT.name(), message => "Session data set!" },
    )?)
}

/// The reference `get_session_data`, with its defaults `Guest` and `False`.
pub async fn get_session<S: VisitorSession>(session: S) -> Result<impl IntoResponse, AppError> {
    let state = session.state();
    let page = templates::render(
        "get_session.html",
        context! {
            mount => S::MOUNT.name(),
            username => state.username.as_deref().unwrap_or("Guest"),
            is_logged_in => state.is_logged_in.unwrap_or(false),
        },
    )?;
    Ok((session, page))
}

/// The reference page: `get_session` as `/server` renders it for a logged-in
/// `john_doe`, from fixed data, with no cookie read and no state touched.
pub async fn reference_get_session() -> Result<Html<String>, AppError> {
    Ok(templates::render(
        "get_session.html",
        context! {
            mount => Mount::Server.name(),
            username => Username::seed().into_string(),
            is_logged_in => true,
        },
    )?)
}

/// Django's `request.session.flush()`, then back to `get_session` (a 303, so
/// that reloading the page does not post again).
pub async fn logout<S: VisitorSession>(mut session: S) -> Result<impl IntoResponse, AppError> {
    session.log_out().await?;
    Ok((session, Redirect::to(&S::MOUNT.url(Route::GetSession))))
}

/// The inspector: both sides at once for this visitor (`src/inspector.rs`).
/// Both sessions are extracted, so a refused cookie on either side is cleared
/// here as on any page of its router. A store that does not answer (the
/// session store, or the revocation list under `--token-revocation`) turns
/// the page into a 503 whose other column still shows.
pub async fn index(
    server: Result<ServerSession, AppError>,
    token: Result<TokenSession, AppError>,
) -> Result<Response, AppError> {
    let inspection = Inspection::of(server.as_ref(), token.as_ref());
    let page = templates::render(
        "index.html",
        context! {
            server => Value::from(Serde(inspection.server)),
            token => Value::from(Serde(inspection.token)),
        },
    )?;
    let status = match (&server, &token) {
        (Err(err), _) | (_, Err(err)) => {
            err.log();
            err.status()
        }
        _ => StatusCode::OK,
    };
    Ok((status, server.ok(), token.ok(), page).into_response())
}

/// 200 when the session store answers, 503 naming it when it does not.
pub async fn healthz(State(app): State<AppState>) -> Response {
    let store = app.server.store_kind();
    match app.server.ping().await {
        Ok(()) => (
            StatusCode::OK,
            format!("ok: session store {store} answers\n"),
        )
            .into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: session store {store}: {err}\n"),
        )
            .into_response(),
    }
}

/// The token side's public keys as a JWK Set (RFC 7517), so that other
/// services can verify its tokens.
pub async fn jwks(State(app): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.tokens.keys().jwks()),
    )
        .into_response()
}

/// Django's APPEND_SLASH: a page path without its slash is redirected to
/// it (308, so a POST stays a POST); anything else is a 404 page.
pub async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let with_slash = format!("{path}/");
        if routes::is_page(&with_slash) {
            let location = match uri.query() {
                Some(query) => format!("{with_slash}?{query}"),
                None => with_slash,
            };
            return Redirect::permanent(&location).into_response();
        }
    }
    AppError::NotFound(shorten(path)).into_response()
}

pub async fn method_not_allowed(uri: Uri) -> AppError {
    AppError::MethodNotAllowed(shorten(uri.path()))
}

/// Paths are echoed back escaped, but no need to echo ten kilobytes.
fn shorten(path: &str) -> String {
    const LIMIT: usize = 100;
    match path.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &path[..end]),
        None => path.to_owned(),
    }
}
