//! The one interface the views use: who the visitor is, and how to log them
//! in and out. `/server` and `/token` each implement it, so every view is
//! written once and never sees a cookie or a store.

use std::{convert::Infallible, fmt, future::Future};

use axum::{
    extract::FromRequestParts,
    response::{IntoResponseParts, ResponseParts},
};
use serde::Serialize;

use crate::{app::AppState, error::AppError, routes::Mount, username::Username};

/// What a visitor's session holds, key by key, like Django's `request.session`:
/// a key never set is `None`, and the view picks the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VisitorState {
    pub username: Option<String>,
    pub is_logged_in: Option<bool>,
}

impl VisitorState {
    pub fn logged_in(username: Username) -> Self {
        Self {
            username: Some(username.into_string()),
            is_logged_in: Some(true),
        }
    }
}

/// A visitor's session under one of the two mechanisms.
///
/// Extracting it reads the request's cookie; anything wrong with the cookie
/// makes the visitor a Guest and schedules the cookie's removal. Returning it
/// in the response writes back whatever changed.
pub trait VisitorSession:
    FromRequestParts<AppState, Rejection = AppError>
    + IntoResponseParts<Error = Infallible>
    + Send
    + 'static
{
    /// The router this mechanism serves, for links that stay inside it.
    const MOUNT: Mount;

    fn state(&self) -> &VisitorState;

    /// Stores `state` as a fresh login. On `/server` this also gives the
    /// session a new id, so that an id known before login is worthless after.
    fn log_in(&mut self, state: VisitorState) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Forgets the visitor (Django's `flush()`).
    fn log_out(&mut self) -> impl Future<Output = Result<(), AppError>> + Send;
}

/// What the request's cookie turned out to be. The access log reports it, so
/// that a flood of tampered cookies is visible without logging any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieVerdict {
    /// No cookie: a new visitor, or one who logged out.
    Guest,
    Valid,
    /// Well-formed but over: expired, logged out elsewhere, or unknown to the store.
    Expired,
    /// Malformed, wrongly signed, oversized or undecodable.
    Tampered,
    /// A token whose id a logout recorded (`--token-revocation`).
    Revoked,
}

impl fmt::Display for CookieVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CookieVerdict::Guest => "guest",
            CookieVerdict::Valid => "valid",
            CookieVerdict::Expired => "expired",
            CookieVerdict::Tampered => "tampered",
            CookieVerdict::Revoked => "revoked",
        })
    }
}

/// What each mechanism a response went through found in the request's
/// cookie: one for a router's pages, both for the inspector at `/`. Left in
/// the response's extensions for the access log.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOutcomes {
    pub server: Option<CookieVerdict>,
    pub token: Option<CookieVerdict>,
}

impl SessionOutcomes {
    /// Records `verdict` for `mount`, beside the other mechanism's.
    pub fn report(parts: &mut ResponseParts, mount: Mount, verdict: CookieVerdict) {
        let outcomes = parts
            .extensions_mut()
            .get_or_insert_default::<SessionOutcomes>();
        match mount {
            Mount::Server => outcomes.server = Some(verdict),
            Mount::Token => outcomes.token = Some(verdict),
        }
    }

    /// Each mechanism's verdict, `/server` first.
    pub fn iter(&self) -> impl Iterator<Item = (Mount, CookieVerdict)> {
        [(Mount::Server, self.server), (Mount::Token, self.token)]
            .into_iter()
            .filter_map(|(mount, verdict)| Some((mount, verdict?)))
    }
}
