//! The views, written once. Each page view is generic over the mechanism,
//! so the same function serves every router; none of them sees a cookie, a
//! store or a key. The index shows every mechanism through the inspector.

use std::sync::Arc;

use axum::{
    Form,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, StatusCode, Uri},
    response::{Html, IntoResponse, Redirect, Response},
};
use minijinja::{Value, context, value::Serde};
use serde::Deserialize;

use super::{
    Site,
    cross_site::SameSitePost,
    error::AppError,
    inspector::{Column, Replay},
    templates,
    visit::{Visit, WriteBack, WriteBacks},
};
use crate::{
    routes::{self, Mount, Route},
    session::{Mechanism, VisitorState},
    username::Username,
};

/// The reference `set_session_data`: stores `john_doe` as logged in.
pub async fn set_session<M: Mechanism>(mut visit: Visit<M>) -> Result<impl IntoResponse, AppError> {
    visit
        .log_in(VisitorState::logged_in(Username::seed()))
        .await?;
    Ok((visit, set_session_page::<M>()?))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
}

/// Like `set_session`, with a name from the form. The name is checked before
/// the session is touched, so bad input leaves the visitor as they were.
pub async fn set_session_from_form<M: Mechanism>(
    _: SameSitePost,
    mut visit: Visit<M>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Form(form) = form.map_err(|rejection| AppError::InvalidForm(rejection.body_text()))?;
    let username = Username::parse(&form.username)?;
    visit.log_in(VisitorState::logged_in(username)).await?;
    Ok((visit, set_session_page::<M>()?))
}

fn set_session_page<M: Mechanism>() -> Result<Html<String>, AppError> {
    Ok(templates::render(
        "set_session.html",
        context! { mount => M::MOUNT.name(), message => "Session data set!" },
    )?)
}

/// The reference `get_session_data`, with its defaults `Guest` and `False`.
pub async fn get_session<M: Mechanism>(visit: Visit<M>) -> Result<impl IntoResponse, AppError> {
    let state = visit.state();
    let page = templates::render(
        "get_session.html",
        context! {
            mount => M::MOUNT.name(),
            username => state.username.as_deref().unwrap_or("Guest"),
            is_logged_in => state.is_logged_in.unwrap_or(false),
        },
    )?;
    Ok((visit, page))
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
pub async fn logout<M: Mechanism>(
    _: SameSitePost,
    mut visit: Visit<M>,
) -> Result<impl IntoResponse, AppError> {
    visit.log_out().await?;
    Ok((visit, Redirect::to(&M::MOUNT.url(Route::GetSession))))
}

/// The inspector: every side at once for this visitor. Every mechanism
/// reads the request, so a refused cookie on any side is cleared here as on
/// any page of its router. A store that does not answer turns the page into
/// a 503 whose other columns still show.
pub async fn index(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    inspector_page(&site, &headers, None).await
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    router: String,
}

/// The replay experiment: "Log out and replay the old cookie" on one side
/// of the inspector. The page is the inspector, that side's column as it is
/// after the logout, with what the old cookie still opens to beside it.
pub async fn replay(
    _: SameSitePost,
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    form: Result<Form<ReplayForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|rejection| AppError::InvalidForm(rejection.body_text()))?;
    let mechanism = Mount::from_name(&form.router)
        .and_then(|mount| site.mechanism(mount))
        .ok_or_else(|| {
            AppError::InvalidForm(format!(
                "There is no router named \"{}\" to replay a cookie on.",
                shorten(&form.router)
            ))
        })?;
    let now = chrono::Utc::now().timestamp();
    let replayed = mechanism.replay(&headers, now).await?;
    inspector_page(&site, &headers, Some(replayed)).await
}

/// The inspector for this request: every side's column, except the one
/// `replayed` gives (with its result shown there).
async fn inspector_page(
    site: &Site,
    headers: &HeaderMap,
    replayed: Option<(Replay, Column, WriteBack)>,
) -> Result<Response, AppError> {
    let now = chrono::Utc::now().timestamp();
    let mut columns = Vec::with_capacity(site.mechanisms.len());
    let mut write_backs = Vec::with_capacity(site.mechanisms.len());
    let mut status = StatusCode::OK;
    let (replay, mut replayed) = match replayed {
        Some((replay, column, write_back)) => (Some(replay), Some((column, write_back))),
        None => (None, None),
    };
    for mechanism in &site.mechanisms {
        if let Some((column, write_back)) =
            replayed.take_if(|(_, write_back)| write_back.mount == mechanism.mount())
        {
            columns.push(column);
            write_backs.push(write_back);
            continue;
        }
        match mechanism.inspect(headers, now).await {
            Ok((column, write_back)) => {
                columns.push(column);
                write_backs.push(write_back);
            }
            Err((column, err)) => {
                let err = AppError::from(err);
                err.log();
                status = err.status();
                columns.push(column);
            }
        }
    }
    let page = templates::render(
        "index.html",
        context! {
            columns => Value::from(Serde(&columns)),
            replay => Value::from(Serde(&replay)),
        },
    )?;
    Ok((status, WriteBacks(write_backs), page).into_response())
}

/// 200 when the session store answers, 503 naming it when it does not:
/// what went wrong as a category, the backend's own words in the log only.
pub async fn healthz(State(site): State<Arc<Site>>) -> Response {
    let store = &site.store;
    match site.records.ping().await {
        Ok(()) => (
            StatusCode::OK,
            format!("ok: session store {store} answers\n"),
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(%store, %err, "the health check found the store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unavailable: session store {store}: {}\n", err.category()),
            )
                .into_response()
        }
    }
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
