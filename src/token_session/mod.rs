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

use base64::Engine as _;
use serde_json::Value;

pub use self::revocation::Revocations;
use self::{
    claims::{Claims, TokenKind},
    keys::KeyRing,
    verified::VerifiedTokens,
};
use crate::{
    metrics::MechanismMeter,
    session::{
        CookiePolicy, CookieVerdict, CookieWrites, Description, ExpiryPolicy, Mechanism, Opened,
        Refusal, SentValues, SessionError, SessionPolicy, SetCookie, VisitorState,
        inspection::{BrowserCookie, Contents, Detail, DetailForm, Holdings, ServerHolds, pretty},
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

    fn verdict_message(verdict: CookieVerdict) -> String {
        match verdict {
            CookieVerdict::Guest => "No token cookie: you are a Guest on this side.".to_owned(),
            CookieVerdict::Valid => {
                "Your token's signature verifies and it has not expired.".to_owned()
            }
            CookieVerdict::Expired => format!(
                "Your token was refused: expired. Its `exp` has passed (with \
                 {} s of leeway). It has been cleared.",
                claims::LEEWAY_SECONDS
            ),
            CookieVerdict::Tampered => "Your token was refused: tampered. It is malformed, or \
                its signature does not verify. It has been cleared."
                .to_owned(),
            CookieVerdict::Revoked => "Your token was refused: revoked. Its signature verifies \
                and it has not expired, but a logout recorded its id in the store. It has been \
                cleared."
                .to_owned(),
        }
    }

    /// What the server keeps about a token: no entry, which is the point of
    /// tokens; with `--token-revocation`, a revocation entry in the session
    /// store once the token is logged out (and a valid token has none, or it
    /// would have been refused).
    fn server_holds(&self) -> ServerHolds {
        match &self.revocations {
            None => ServerHolds::nothing(
                "Nothing stored for this visitor. Each request is checked by the token's signature \
                 and expiry; a token already verified or signed here is remembered in memory \
                 until it expires (--token-cache), so its signature is not checked again.",
            ),
            Some(revocations) => ServerHolds {
                store: Some(revocations.store_name()),
                entry: None,
                nothing: "No revocation entry for this visitor's token. With \
                    --token-revocation, a logout stores one under the token's jti until it \
                    expires, and every request checks the store for it."
                    .to_owned(),
            },
        }
    }
}

impl Mechanism for TokenMechanism {
    type Session = TokenSession;

    const DESCRIPTION: Description = Description {
        title: "signed token (JWT)",
        summary: "The data itself in a signed cookie, nothing per visitor on the server: a \
            logout cannot recall a copy before it expires.",
        about: "The browser holds the data itself, signed by the server. The server keeps \
            nothing per visitor: it checks the signature (or remembers a token it has already \
            checked) and the expiry. A logout only asks the browser to drop the cookie: a copy \
            of it stays valid until it expires.",
    };

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

    /// The token is decoded from its own text rather than taken from the
    /// verified claims: the page shows what the browser holds, extra fields
    /// included.
    async fn holdings(&self, session: &TokenSession, verdict: CookieVerdict, now: i64) -> Holdings {
        let browser = session.verified.as_ref().map(|verified| {
            let mut parts = verified.token.split('.').map(decode_json);
            let header = parts.next().flatten().unwrap_or(Value::Null);
            let claims = parts.next().flatten().unwrap_or(Value::Null);
            let field = |name: &str| {
                header
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            };
            // The cookie's Max-Age was set when the token was signed, to its lifetime.
            BrowserCookie::new(
                &self.cookie,
                Contents::Signed,
                verified.token.len(),
                self.policy.lifetime,
                i64::try_from(verified.claims.exp).unwrap_or(i64::MAX),
                now,
            )
            .with(Detail::new("Key id", "kid", DetailForm::Code, field("kid")))
            .with(Detail::new(
                "Algorithm",
                "algorithm",
                DetailForm::Code,
                field("alg"),
            ))
            .with(Detail::new(
                "Header",
                "header",
                DetailForm::Pre,
                pretty(&header),
            ))
            .with(Detail::new(
                "Claims",
                "claims",
                DetailForm::Pre,
                pretty(&claims),
            ))
        });
        Holdings {
            verdict_message: Self::verdict_message(verdict),
            browser: browser.into_iter().collect(),
            server: self.server_holds(),
        }
    }
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
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
