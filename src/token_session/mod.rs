//! `/token`: stateless sessions. The browser holds a signed JWT in the
//! `token` cookie, carrying `username` and `is_logged_in` itself; the server
//! keeps nothing per visitor but a bounded memory of tokens it has already
//! verified (`--token-cache`), and, with `--token-revocation`, the ids of
//! tokens logged out before their time.

pub mod claims;
mod jws;
pub mod keys;
mod revocation;
pub mod verified;

use std::sync::Arc;

pub use self::revocation::Revocations;
use self::{
    claims::{Claims, TokenKind},
    keys::KeyRing,
    verified::VerifiedTokens,
};
use crate::{
    metrics::MechanismMeter,
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, ExpiryPolicy, Mechanism, Opened, Refusal,
        SentValues, SessionError, SessionPolicy, SetCookie, VisitorState,
    },
};

pub const COOKIE_NAME: &str = "token";

/// The `/token` mechanism: the keys and the cookie policy every request shares.
#[derive(Debug)]
pub struct TokenMechanism {
    keys: KeyRing,
    cookie: CookiePolicy,
    policy: SessionPolicy,
    revocations: Option<Revocations>,
    verified: VerifiedTokens,
    meter: MechanismMeter,
}

/// What one request knows of its visitor: their valid token (the one sent,
/// or the one this response sets). `None` for a Guest.
#[derive(Debug, Default)]
pub struct TokenSession {
    verified: Option<VerifiedToken>,
}

impl TokenSession {
    pub fn verified(&self) -> Option<&VerifiedToken> {
        self.verified.as_ref()
    }
}

/// A token that passed verification (or that this server just signed).
#[derive(Debug)]
pub struct VerifiedToken {
    /// The cookie's value: header, claims and signature, base64url.
    pub token: String,
    pub claims: Arc<Claims>,
}

impl TokenMechanism {
    /// The public keys as a JWK Set (RFC 7517), which the site publishes
    /// at `/.well-known/jwks.json` so that other services can verify this
    /// side's tokens. The keys are loaded once, at start.
    pub fn public_keys(&self) -> jsonwebtoken::jwk::JwkSet {
        self.keys.jwks()
    }

    /// `token_cache` is how many verified tokens to remember (0: none).
    pub fn new(
        keys: KeyRing,
        revocations: Option<Revocations>,
        token_cache: u64,
        policy: SessionPolicy,
        meter: MechanismMeter,
    ) -> Self {
        Self {
            keys,
            cookie: policy.cookie(COOKIE_NAME),
            policy,
            revocations,
            verified: VerifiedTokens::new(token_cache),
            meter,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// The kind of store logged-out tokens are recorded in, under
    /// `--token-revocation`.
    pub fn revocation_store(&self) -> Option<&'static str> {
        self.revocations.as_ref().map(Revocations::store_name)
    }

    /// Under `--expiry inactivity`, a token used past half its life is
    /// re-issued for a full one (the same login, the same `jti`), never
    /// past the login's absolute timeout.
    fn renewal(&self, claims: &Claims) -> Option<Claims> {
        let now = claims::now();
        let end = self.policy.extended_end(claims.login_at(), now);
        (self.policy.expiry == ExpiryPolicy::Inactivity
            && claims.seconds_left(now) <= self.policy.lifetime / 2
            && end > claims.exp)
            .then(|| claims.renewed(now, end))
    }

    /// A token verifies only as long as its login may last; a renewed one
    /// claiming to outlive its login's absolute timeout was not made here.
    fn verify(&self, token: &str) -> Result<Claims, claims::Rejection> {
        let claims = Claims::verify(token, &self.keys, TokenKind::Session, self.policy.lifetime)?;
        let cap = claims
            .login_at()
            .saturating_add(self.policy.login_cap())
            .saturating_add(claims::LEEWAY_SECONDS);
        if claims.exp > cap {
            return Err(claims::Rejection::InvalidClaims(
                "`exp` is further from the login than its absolute timeout".into(),
            ));
        }
        Ok(claims)
    }

    /// Signs `claims` into the cookie that carries them, or refuses a token
    /// the browser would silently drop. The new token counts as verified, so
    /// that the visitor's next request does not check a signature this
    /// server has just made.
    fn issue(&self, claims: Claims) -> Result<(VerifiedToken, SetCookie), SessionError> {
        let token = claims
            .sign(&self.keys, TokenKind::Session)
            .map_err(|err| SessionError::Sealing(Box::new(err)))?;
        self.meter.signed();
        let cookie = self
            .cookie
            .set(&token, claims.seconds_left(claims::now()))?;
        let claims = Arc::new(claims);
        self.verified.insert(&token, Arc::clone(&claims));
        Ok((VerifiedToken { token, claims }, cookie))
    }
}

impl Mechanism for TokenMechanism {
    type Session = TokenSession;

    fn cookies(&self) -> &[CookiePolicy] {
        std::slice::from_ref(&self.cookie)
    }

    async fn open(&self, sent: SentValues<'_>) -> Result<Opened<TokenSession>, SessionError> {
        let token = sent.only();
        let claims = match self.verified.get(token, claims::now()) {
            Some(claims) => {
                self.meter.cache_hit();
                claims
            }
            None => match self.meter.verified(self.verify(token)) {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    self.verified.insert(token, Arc::clone(&claims));
                    claims
                }
                Err(rejection) => {
                    let verdict = if rejection.is_expiry() {
                        CookieVerdict::Expired
                    } else {
                        CookieVerdict::Tampered
                    };
                    return Ok(Opened::Refused(Refusal::new(verdict, rejection)));
                }
            },
        };
        if let Some(revocations) = &self.revocations
            && revocations.is_revoked(&claims).await?
        {
            self.verified.forget(token);
            return Ok(Opened::Refused(Refusal::new(
                CookieVerdict::Revoked,
                "token revoked by a logout",
            )));
        }
        let (verified, renewed) = match self.renewal(&claims) {
            Some(renewed) => {
                let (issued, cookie) = self.issue(renewed)?;
                (issued, Some(cookie))
            }
            None => (
                VerifiedToken {
                    token: token.to_owned(),
                    claims,
                },
                None,
            ),
        };
        Ok(Opened::Valid {
            session: TokenSession {
                verified: Some(verified),
            },
            renewed: renewed.into(),
        })
    }

    fn state(&self, session: &TokenSession) -> VisitorState {
        session
            .verified
            .as_ref()
            .map(|verified| verified.claims.state())
            .unwrap_or_default()
    }

    async fn log_in(
        &self,
        session: &mut TokenSession,
        state: VisitorState,
    ) -> Result<CookieWrites, SessionError> {
        let (issued, cookie) = self.issue(Claims::new(
            TokenKind::Session,
            &state,
            claims::now(),
            self.policy.lifetime,
        ))?;
        session.verified = Some(issued);
        Ok(cookie.into())
    }

    async fn log_out(&self, session: &mut TokenSession) -> Result<(), SessionError> {
        if let (Some(revocations), Some(verified)) = (&self.revocations, &session.verified) {
            revocations
                .revoke(&verified.claims, self.policy.login_cap())
                .await?;
            self.verified.forget(&verified.token);
        }
        session.verified = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{token_session::keys::KeyAlgorithm, username::Username};

    /// The default policy's token side, with a fresh Ed25519 key.
    fn token_sessions() -> (tempfile::TempDir, TokenMechanism) {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let policy = SessionPolicy {
            lifetime: 1_209_600,
            expiry: ExpiryPolicy::Absolute,
            secure_cookies: false,
            absolute_timeout: 2_592_000,
        };
        (
            dir,
            TokenMechanism::new(keys, None, 10_000, policy, MechanismMeter::off()),
        )
    }

    #[test]
    fn a_login_too_big_for_a_cookie_is_refused_not_dropped() {
        let (_dir, tokens) = token_sessions();
        let fitting = Claims::new(
            TokenKind::Session,
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
            Err(SessionError::TooLargeForCookie)
        ));
    }

    #[test]
    fn a_token_this_server_issues_is_already_known_as_verified() {
        let (_dir, tokens) = token_sessions();
        let claims = Claims::new(
            TokenKind::Session,
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
