//! The web layer's one error type. Every failure a request can meet ends
//! here and becomes a page in the site's layout with the right status: the
//! visitor learns what went wrong, the log learns why.

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use super::templates;
use crate::{session::SessionError, username::InvalidUsername};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    InvalidUsername(#[from] InvalidUsername),

    #[error("{0}")]
    InvalidForm(String),

    #[error("Refused: this form was posted from another site.")]
    CrossSite,

    #[error(transparent)]
    Session(#[from] SessionError),

    #[error("There is no page at {0}.")]
    NotFound(String),

    #[error("{0} does not accept this method; use the buttons on the page.")]
    MethodNotAllowed(String),

    #[error("The page could not be rendered.")]
    Template(#[from] minijinja::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidUsername(_)
            | AppError::InvalidForm(_)
            | AppError::Session(SessionError::TooLargeForCookie) => StatusCode::BAD_REQUEST,
            AppError::CrossSite => StatusCode::FORBIDDEN,
            AppError::Session(SessionError::Interrupted) => StatusCode::CONFLICT,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Session(SessionError::StoreUnavailable { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Session(SessionError::Sealing(_)) | AppError::Template(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Server errors are logged with their cause; a refused request only at
    /// debug level, since the visitor is told why.
    pub fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, cause = ?std::error::Error::source(self), "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let page = templates::render(
            "error.html",
            minijinja::context! {
                status => status.as_u16(),
                reason => status.canonical_reason().unwrap_or("Error"),
                message => self.to_string(),
            },
        );
        match page {
            Ok(html) => (status, html).into_response(),
            Err(err) => {
                tracing::error!(%err, "the error page itself failed to render");
                (status, Html(format!("<h1>{status}</h1>"))).into_response()
            }
        }
    }
}
