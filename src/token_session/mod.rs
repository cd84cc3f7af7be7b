//! `/token`: stateless sessions. The browser holds a signed JWT in the
//! `token` cookie, carrying `username` and `is_logged_in` itself; the server
//! keeps nothing but its keys.

pub mod claims;
pub mod keys;

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponseParts, ResponseParts},
};

use self::{claims::Claims, keys::KeyRing};
use crate::{
    app::AppState,
    cookies::{CookiePolicy, CookieUpdate, SentCookie},
    error::AppError,
    routes::Mount,
    visitor::{CookieVerdict, SessionOutcome, VisitorSession, VisitorState},
};

pub const COOKIE_NAME: &str = "token";

/// What every `/token` request shares: the keys and the cookie policy.
#[derive(Debug)]
pub struct TokenSessions {
    keys: KeyRing,
    cookie: CookiePolicy,
    lifetime: u64,
}

impl TokenSessions {
    pub fn new(keys: KeyRing, cookie_age: u64, secure_cookies: bool) -> Self {
        Self {
            keys,
            cookie: CookiePolicy::new(COOKIE_NAME, cookie_age, secure_cookies),
            lifetime: cookie_age,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The claims a cookie value carries, and what the cookie was.
    fn read(&self, token: &str) -> (Option<Claims>, CookieVerdict) {
        match Claims::verify(token, &self.keys) {
            Ok(claims) => (Some(claims), CookieVerdict::Valid),
            Err(rejection) => {
                tracing::warn!(router = "token", %rejection, "token refused; treating the visitor as a Guest");
                let verdict = if rejection.is_expiry() {
                    CookieVerdict::Expired
                } else {
                    CookieVerdict::Tampered
                };
                (None, verdict)
            }
        }
    }
}

/// A visitor's token session, verified when the request arrives.
#[derive(Debug)]
pub struct TokenSession {
    tokens: Arc<TokenSessions>,
    cookie_sent: bool,
    state: VisitorState,
    verdict: CookieVerdict,
    update: Option<CookieUpdate>,
    verified: Option<VerifiedToken>,
}

/// The token the request carried, once it passed verification.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The cookie's value as sent: header, claims and signature, base64url.
    pub token: String,
    pub claims: Claims,
}

/// What the inspector (`src/inspector.rs`) shows; nothing here changes state.
impl TokenSession {
    pub fn verdict(&self) -> CookieVerdict {
        self.verdict
    }

    pub fn verified(&self) -> Option<&VerifiedToken> {
        self.verified.as_ref()
    }

    pub fn cookie_policy(&self) -> &CookiePolicy {
        &self.tokens.cookie
    }
}

impl FromRequestParts<AppState> for TokenSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tokens = Arc::clone(&app.tokens);
        let (verified, verdict) = match tokens.cookie.read(&parts.headers) {
            SentCookie::Absent => (None, CookieVerdict::Guest),
            SentCookie::Unreadable => {
                tracing::warn!(
                    router = "token",
                    "token cookie is not text; treating the visitor as a Guest"
                );
                (None, CookieVerdict::Tampered)
            }
            SentCookie::Value(token) => {
                let (claims, verdict) = tokens.read(token);
                let verified = claims.map(|claims| VerifiedToken {
                    token: token.to_owned(),
                    claims,
                });
                (verified, verdict)
            }
        };
        let cookie_sent = verdict != CookieVerdict::Guest;
        Ok(Self {
            state: verified
                .as_ref()
                .map(|verified| verified.claims.state())
                .unwrap_or_default(),
            update: (cookie_sent && verified.is_none()).then_some(CookieUpdate::Remove),
            tokens,
            cookie_sent,
            verdict,
            verified,
        })
    }
}

impl VisitorSession for TokenSession {
    const MOUNT: Mount = Mount::Token;

    fn state(&self) -> &VisitorState {
        &self.state
    }

    async fn log_in(&mut self, state: VisitorState) -> Result<(), AppError> {
        let claims = Claims::new(&state, claims::now(), self.tokens.lifetime);
        let token = claims
            .sign(&self.tokens.keys)
            .map_err(AppError::TokenSigning)?;
        self.update = Some(CookieUpdate::Set(token));
        self.state = claims.state();
        Ok(())
    }

    async fn log_out(&mut self) -> Result<(), AppError> {
        self.state = VisitorState::default();
        if self.cookie_sent {
            self.update = Some(CookieUpdate::Remove);
        }
        Ok(())
    }
}

impl IntoResponseParts for TokenSession {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(update) = &self.update {
            self.tokens.cookie.write(update, &mut parts);
        }
        SessionOutcome {
            mount: Mount::Token,
            verdict: self.verdict,
        }
        .report(&mut parts);
        Ok(parts)
    }
}
