//! What a token says, and the rules for believing it.
//!
//! Verification takes nothing from the token on trust: the key is chosen by
//! the header's `kid` alone, the algorithm is the one that key was made for,
//! `exp`, `iss` and `aud` are required, `nbf` is checked when present, and
//! clock leeway is explicit and small.

use jsonwebtoken::{Header, Validation, errors::ErrorKind};
use rand::{RngCore, rngs::OsRng};
use serde::{Deserialize, Serialize};

use super::keys::{Key, KeyRing};
use crate::visitor::VisitorState;

/// The claims of this app's tokens. `username` and `is_logged_in` are the
/// session data; the rest are the registered claims RFC 7519 defines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub username: String,
    pub is_logged_in: bool,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// A unique id, so that one token can be told from another (and revoked).
    pub jti: String,
}

/// Both `iss` and `aud`: the tokens are minted and read by this app only.
pub const ISSUER: &str = "sessions-vs-jwt";

/// Clock difference tolerated between instances that share keys. Small,
/// because every second of it is a second an expired token still works.
pub const LEEWAY_SECONDS: u64 = 2;

/// Longer tokens are refused before any parsing: no token of ours comes
/// near it, and a browser would not store a bigger cookie anyway.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token was refused, for the log; the visitor just becomes a Guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    Oversized,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("header `typ` is not JWT")]
    WrongType,
    #[error("header has no `kid`")]
    NoKeyId,
    #[error("no key has this `kid`")]
    UnknownKey,
    #[error("header `alg` {0} is not the algorithm of the key it names")]
    AlgorithmMismatch(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (`nbf` in the future)")]
    NotYetValid,
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
}

impl Rejection {
    /// Expired tokens are ordinary; everything else looks like tampering.
    pub fn is_expiry(&self) -> bool {
        matches!(self, Rejection::Expired)
    }
}

impl Claims {
    pub fn new(state: &VisitorState, now: u64, lifetime: u64) -> Self {
        let mut jti = [0_u8; 16];
        OsRng.fill_bytes(&mut jti);
        Self {
            username: state.username.clone().unwrap_or_default(),
            is_logged_in: state.is_logged_in.unwrap_or_default(),
            iat: now,
            exp: now.saturating_add(lifetime),
            iss: ISSUER.to_owned(),
            aud: ISSUER.to_owned(),
            jti: base64_url(&jti),
        }
    }

    pub fn state(&self) -> VisitorState {
        VisitorState {
            username: Some(self.username.clone()),
            is_logged_in: Some(self.is_logged_in),
        }
    }

    /// Signs with the ring's signing key, naming it in the header.
    pub fn sign(&self, keys: &KeyRing) -> jsonwebtoken::errors::Result<String> {
        let key = keys.signing_key();
        let mut header = Header::new(key.algorithm.jwt());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, self, &key.encoding)
    }

    pub fn verify(token: &str, keys: &KeyRing) -> Result<Self, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::Oversized);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| Rejection::Malformed(err.to_string()))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("JWT"))
        {
            return Err(Rejection::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = keys.get(kid).ok_or(Rejection::UnknownKey)?;
        if header.alg != key.algorithm.jwt() {
            return Err(Rejection::AlgorithmMismatch(format!("{:?}", header.alg)));
        }
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation(key))
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => Rejection::BadSignature,
                ErrorKind::ExpiredSignature => Rejection::Expired,
                ErrorKind::ImmatureSignature => Rejection::NotYetValid,
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                    Rejection::Malformed(err.to_string())
                }
                _ => Rejection::InvalidClaims(err.to_string()),
            })
    }
}

/// The rules for one key: its algorithm only, and the claims this app requires.
fn validation(key: &Key) -> Validation {
    let mut validation = Validation::new(key.algorithm.jwt());
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    validation
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch, as JWT claims count time.
pub fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}
