//! `/token`: stateless sessions. The browser holds a signed JWT in the
//! `token` cookie, carrying `username` and `is_logged_in` itself; the server
//! keeps nothing but its keys (and, with `--token-revocation`, the ids of
//! tokens logged out before their time).

pub mod claims;
pub mod keys;
mod revocation;
mod verified;

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponseParts, ResponseParts},
};

pub use self::revocation::{REVOKED_JTI, Revocations};
use self::{claims::Claims, keys::KeyRing, verified::VerifiedTokens};
use crate::{
    app::AppState,
    config::{Config, ExpiryPolicy},
    cookies::{CookiePolicy, CookieUpdate, SentCookie},
    error::AppError,
    routes::Mount,
    visitor::{CookieVerdict, SessionOutcomes, VisitorSession, VisitorState},
};

pub const COOKIE_NAME: &str = "token";

/// What every `/token` request shares: the keys and the cookie policy.
#[derive(Debug)]
pub struct TokenSessions {
    keys: KeyRing,
    cookie: CookiePolicy,
    lifetime: u64,
    expiry: ExpiryPolicy,
    revocations: Option<Revocations>,
    verified: VerifiedTokens,
}

impl TokenSessions {
    pub fn new(keys: KeyRing, revocations: Option<Revocations>, config: &Config) -> Self {
        Self {
            keys,
            cookie: CookiePolicy::configured(COOKIE_NAME, config),
            lifetime: config.cookie_age,
            expiry: config.expiry,
            revocations,
            verified: VerifiedTokens::new(config.token_cache),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The claims a cookie value carries, and what the cookie was.
    async fn read(&self, token: &str) -> Result<(Option<Arc<Claims>>, CookieVerdict), AppError> {
        let claims = match self.verified.get(token, claims::now()) {
            Some(claims) => claims,
            None => match Claims::verify(token, &self.keys, self.lifetime) {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    self.verified.insert(token, Arc::clone(&claims));
                    claims
                }
                Err(rejection) => {
                    tracing::warn!(router = "token", %rejection, "token refused; treating the visitor as a Guest");
                    let verdict = if rejection.is_expiry() {
                        CookieVerdict::Expired
                    } else {
                        CookieVerdict::Tampered
                    };
                    return Ok((None, verdict));
                }
            },
        };
        if let Some(revocations) = &self.revocations
            && revocations.is_revoked(&claims).await?
        {
            tracing::warn!(
                router = "token",
                "token revoked by a logout; treating the visitor as a Guest"
            );
            self.verified.forget(token);
            return Ok((None, CookieVerdict::Revoked));
        }
        Ok((Some(claims), CookieVerdict::Valid))
    }

    /// Under `--expiry inactivity`, a token used past half its life is
    /// re-issued for a full one (the same login, the same `jti`).
    fn renewal(&self, claims: &Claims) -> Option<Claims> {
        let now = claims::now();
        (self.expiry == ExpiryPolicy::Inactivity && claims.seconds_left(now) <= self.lifetime / 2)
            .then(|| claims.renewed(now, self.lifetime))
    }

    /// Signs `claims` into the cookie that carries them, or refuses a token
    /// the browser would silently drop. The new token counts as verified, so
    /// that the visitor's next request does not check a signature this
    /// server has just made.
    fn issue(&self, claims: Claims) -> Result<(VerifiedToken, CookieUpdate), AppError> {
        let token = claims.sign(&self.keys).map_err(AppError::TokenSigning)?;
        let update = CookieUpdate::Set {
            value: token.clone(),
            max_age: claims.seconds_left(claims::now()),
        };
        if !self.cookie.fits(&update) {
            return Err(AppError::TooLargeForCookie);
        }
        let claims = Arc::new(claims);
        self.verified.insert(&token, Arc::clone(&claims));
        Ok((VerifiedToken { token, claims }, update))
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
    /// The visitor's valid token: the one sent, or the one this response sets.
    verified: Option<VerifiedToken>,
}

/// A token that passed verification (or that this server just signed).
#[derive(Debug)]
pub struct VerifiedToken {
    /// The cookie's value: header, claims and signature, base64url.
    pub token: String,
    pub claims: Arc<Claims>,
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

    /// The Max-Age a login's cookie is given, in seconds.
    pub fn cookie_age(&self) -> u64 {
        self.tokens.lifetime
    }

    pub fn revocations(&self) -> Option<&Revocations> {
        self.tokens.revocations.as_ref()
    }
}

impl FromRequestParts<AppState> for TokenSession {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let tokens = Arc::clone(&app.tokens);
        let (mut verified, verdict) = match tokens.cookie.read(&parts.headers) {
            SentCookie::Absent => (None, CookieVerdict::Guest),
            SentCookie::Unreadable => {
                tracing::warn!(
                    router = "token",
                    "token cookie is not text; treating the visitor as a Guest"
                );
                (None, CookieVerdict::Tampered)
            }
            SentCookie::Value(token) => {
                let (claims, verdict) = tokens.read(token).await?;
                let verified = claims.map(|claims| VerifiedToken {
                    token: token.to_owned(),
                    claims,
                });
                (verified, verdict)
            }
        };
        let cookie_sent = verdict != CookieVerdict::Guest;
        let mut update = (cookie_sent && verified.is_none()).then_some(CookieUpdate::Remove);
        if let Some(renewed) = verified
            .as_ref()
            .and_then(|verified| tokens.renewal(&verified.claims))
        {
            let (issued, renewal) = tokens.issue(renewed)?;
            verified = Some(issued);
            update = Some(renewal);
        }
        Ok(Self {
            state: verified
                .as_ref()
                .map(|verified| verified.claims.state())
                .unwrap_or_default(),
            tokens,
            cookie_sent,
            verdict,
            update,
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
        let (issued, update) =
            self.tokens
                .issue(Claims::new(&state, claims::now(), self.tokens.lifetime))?;
        self.state = issued.claims.state();
        self.verified = Some(issued);
        self.update = Some(update);
        Ok(())
    }

    async fn log_out(&mut self) -> Result<(), AppError> {
        if let (Some(revocations), Some(verified)) = (&self.tokens.revocations, &self.verified) {
            revocations.revoke(&verified.claims).await?;
            self.tokens.verified.forget(&verified.token);
        }
        self.verified = None;
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
        SessionOutcomes::report(&mut parts, Mount::Token, self.verdict);
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::{config::Cli, token_session::keys::KeyAlgorithm, username::Username};

    /// The default configuration's token side, with a fresh Ed25519 key.
    fn token_sessions() -> (tempfile::TempDir, TokenSessions) {
        let dir = tempfile::tempdir().unwrap();
        let config = Cli::try_parse_from(["sessions-vs-jwt"]).unwrap().serve;
        let keys = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        (dir, TokenSessions::new(keys, None, &config))
    }

    #[test]
    fn a_login_too_big_for_a_cookie_is_refused_not_dropped() {
        let (_dir, tokens) = token_sessions();
        let fitting = Claims::new(
            &VisitorState::logged_in(Username::seed()),
            claims::now(),
            60,
        );
        let huge = Claims {
            username: "x".repeat(4000),
            ..fitting.clone()
        };
        assert!(tokens.issue(fitting).is_ok());
        assert!(matches!(
            tokens.issue(huge),
            Err(AppError::TooLargeForCookie)
        ));
    }

    #[test]
    fn a_token_this_server_issues_is_already_known_as_verified() {
        let (_dir, tokens) = token_sessions();
        let claims = Claims::new(
            &VisitorState::logged_in(Username::seed()),
            claims::now(),
            60,
        );
        let (issued, _) = tokens.issue(claims).unwrap();
        assert_eq!(
            tokens.verified.get(&issued.token, claims::now()),
            Some(issued.claims)
        );
    }
}
