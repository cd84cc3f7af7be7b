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
    decision,
    error::AppError,
    inspector::{Column, Replay},
    templates,
    visit::{Visit, WriteBack, WriteBacks},
};
use crate::{
    routes::{Mount, Route, SitePage},
    session::{Mechanism, SessionError, VisitorState},
    username::Username,
};

/// The reference `set_session_data`: stores `john_doe` as logged in.
pub async fn set_session<M: Mechanism>(mut visit: Visit<M>) -> Result<impl IntoResponse, AppError> {
    visit
        .log_in(VisitorState::logged_in(Username::seed()))
        .await?;
    let page = set_session_page(visit.mount())?;
    Ok((visit, page))
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
    let page = set_session_page(visit.mount())?;
    Ok((visit, page))
}

fn set_session_page(mount: Mount) -> Result<Html<String>, AppError> {
    Ok(templates::render_in(
        mount,
        "set_session.html",
        context! { mount => mount.name(), message => "Session data set!" },
    )?)
}

/// The reference `get_session_data`, with its defaults `Guest` and `False`.
pub async fn get_session<M: Mechanism>(visit: Visit<M>) -> Result<impl IntoResponse, AppError> {
    let state = visit.state();
    let page = templates::render_in(
        visit.mount(),
        "get_session.html",
        context! {
            mount => visit.mount().name(),
            username => state.username.as_deref().unwrap_or("Guest"),
            is_logged_in => state.is_logged_in.unwrap_or(false),
        },
    )?;
    Ok((visit, page))
}

/// The reference page: `get_session` as `/server` renders it for a logged-in
/// `john_doe`, from fixed data, with no cookie read and no state touched.
pub async fn reference_get_session() -> Result<Html<String>, AppError> {
    Ok(templates::render_in(
        Mount::SERVER,
        "get_session.html",
        context! {
            mount => Mount::SERVER.name(),
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
    let back = Redirect::to(&visit.mount().url(Route::GetSession));
    Ok((visit, back))
}

/// The inspector: every side at once for this visitor. Every mechanism
/// reads the request, so a refused cookie on any side is cleared here as on
/// any page of its router. A store that does not answer turns the page into
/// a 503 whose other columns still show.
pub async fn index(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    inspector_page(&site, &headers, Vec::new(), Vec::new()).await
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    router: String,
}

/// The replay experiment: "Log out and replay the old cookie" on one side
/// of the inspector. The page is the inspector, that side's column as it is
/// after the logout, with what the old cookie still opens to in the grid's
/// last row.
pub async fn replay(
    _: SameSitePost,
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    form: Result<Form<ReplayForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|rejection| AppError::InvalidForm(rejection.body_text()))?;
    let mechanism = site.mechanism_named(&form.router).ok_or_else(|| {
        AppError::InvalidForm(format!(
            "There is no router named \"{}\" to replay a cookie on.",
            shorten(&form.router)
        ))
    })?;
    let now = chrono::Utc::now().timestamp();
    let replayed = mechanism.replay(&headers, now).await?;
    inspector_page(&site, &headers, vec![replayed], Vec::new()).await
}

/// "Log out everywhere and replay the old cookies": the replay experiment
/// on every side in one request, whose results make one row of the grid. A
/// side whose store does not answer says so in that row (and the page is a
/// 503); the other sides run all the same.
pub async fn replay_everywhere(
    _: SameSitePost,
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let now = chrono::Utc::now().timestamp();
    let mut replayed = Vec::with_capacity(site.mechanisms.len());
    let mut not_run = Vec::new();
    let mut status = None;
    for mechanism in &site.mechanisms {
        match mechanism.replay(&headers, now).await {
            Ok(result) => replayed.push(result),
            Err(err) => {
                not_run.push(Replay::unavailable(mechanism.mount(), &err));
                let err = AppError::from(err);
                err.log();
                status = Some(err.status());
            }
        }
    }
    let mut page = inspector_page(&site, &headers, replayed, not_run).await?;
    if let Some(status) = status {
        *page.status_mut() = status;
    }
    Ok(page)
}

/// "Log in everywhere as …": the username is checked first, so a bad one
/// is the same 400 page as on any side and changes nothing; then one login
/// per side, as each side's own form does, and back to the inspector (a
/// 303, so that reloading it does not post again).
pub async fn log_in_everywhere(
    _: SameSitePost,
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|rejection| AppError::InvalidForm(rejection.body_text()))?;
    let username = Username::parse(&form.username)?;
    let mut outcomes = Vec::with_capacity(site.mechanisms.len());
    for mechanism in &site.mechanisms {
        let state = VisitorState::logged_in(username.clone());
        outcomes.push(mechanism.log_in(&headers, state).await);
    }
    Ok(back_to_inspector(outcomes))
}

/// "Log out everywhere": one logout per side, as each side's own button
/// does, and back to the inspector.
pub async fn log_out_everywhere(
    _: SameSitePost,
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
) -> Response {
    let mut outcomes = Vec::with_capacity(site.mechanisms.len());
    for mechanism in &site.mechanisms {
        outcomes.push(mechanism.log_out(&headers).await);
    }
    back_to_inspector(outcomes)
}

/// A 303 to the inspector carrying every side's cookie change; if a side
/// failed (its store did not answer), that side's error page instead,
/// still carrying the changes the other sides made, so that the browser
/// holds what the server did.
fn back_to_inspector(outcomes: Vec<Result<WriteBack, SessionError>>) -> Response {
    let mut write_backs = Vec::with_capacity(outcomes.len());
    let mut failure = None;
    for outcome in outcomes {
        match outcome {
            Ok(write_back) => write_backs.push(write_back),
            Err(err) => {
                failure.get_or_insert(AppError::from(err));
            }
        }
    }
    match failure {
        None => (
            WriteBacks(write_backs),
            Redirect::to(SitePage::Inspector.path()),
        )
            .into_response(),
        Some(err) => (WriteBacks(write_backs), err).into_response(),
    }
}

/// The inspector for this request: every side's column, except those the
/// replay experiment gives (with its result in them); `not_run` are the
/// sides where the experiment could not run, shown as such.
async fn inspector_page(
    site: &Site,
    headers: &HeaderMap,
    replayed: Vec<(Replay, Column, WriteBack)>,
    not_run: Vec<Replay>,
) -> Result<Response, AppError> {
    let now = chrono::Utc::now().timestamp();
    let mut columns = Vec::with_capacity(site.mechanisms.len());
    let mut write_backs = Vec::with_capacity(site.mechanisms.len());
    let mut status = StatusCode::OK;
    let experiment = !replayed.is_empty() || !not_run.is_empty();
    let mut not_run: Vec<Option<Replay>> = not_run.into_iter().map(Some).collect();
    let mut replayed: Vec<Option<_>> = replayed.into_iter().map(Some).collect();
    for mechanism in &site.mechanisms {
        let mine = replayed.iter_mut().find_map(|entry| {
            entry.take_if(|(_, _, write_back)| write_back.mount == mechanism.mount())
        });
        if let Some((replay, column, write_back)) = mine {
            columns.push(column.with_replay(replay));
            write_backs.push(write_back);
            continue;
        }
        let (column, write_back) = match mechanism.inspect(headers, now).await {
            Ok((column, write_back)) => (column, Some(write_back)),
            Err((column, err)) => {
                let err = AppError::from(err);
                err.log();
                status = err.status();
                (column, None)
            }
        };
        let failed = not_run
            .iter_mut()
            .find_map(|entry| entry.take_if(|replay| replay.mount == mechanism.mount().name()));
        columns.push(match failed {
            Some(replay) => column.with_replay(replay),
            None => column,
        });
        write_backs.extend(write_back);
    }
    let page = templates::render(
        "index.html",
        context! {
            columns => Value::from(Serde(&columns)),
            experiment => experiment,
            decision => Value::from(Serde(&*decision::DECISION)),
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

/// Django's APPEND_SLASH: a page path of one of `mounts` without its slash
/// is redirected to it (308, so a POST stays a POST); anything else is a
/// 404 page.
pub fn not_found(uri: &Uri, mounts: &[Mount]) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let with_slash = format!("{path}/");
        if mounts
            .iter()
            .any(|mount| mount.route_at(&with_slash).is_some())
        {
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
