//! What a token says, and the rules for believing it.
//!
//! Verification takes nothing from the token on trust: the key is chosen by
//! the header's `kid` alone, the algorithm is the one that key was made for,
//! `exp`, `iss` and `aud` are required, `nbf` is checked when present, a
//! header that lists critical extensions (`crit`) is refused, and clock
//! leeway is explicit and small.

use jsonwebtoken::{Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tower_sessions::session::Id;

use super::{
    jws::{base64_url, json_part},
    keys::{Key, KeyRing, SignatureError},
};
use crate::session::VisitorState;

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
    /// The login's unique id, in the form of a session-store id, so that a
    /// logout can revoke it (`--token-revocation`). A renewed token keeps it.
    pub jti: String,
    /// When the login began (OpenID Connect's claim), in a renewed token
    /// only: a token without it was issued at the login, at its `iat`. What
    /// the absolute timeout counts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

/// The `iss` of every token, and the `aud` of `/token`'s: the tokens are
/// minted and read by this app only.
pub const ISSUER: &str = "sessions-vs-jwt";

/// The `aud` of `/hybrid`'s access tokens.
pub const ACCESS_AUDIENCE: &str = "sessions-vs-jwt/hybrid";

/// Which mechanism a token is for. Both sign with the same keys, so each
/// kind has its own `typ` and `aud`, and each verifier accepts only its own
/// (RFC 8725 §3.11 and §3.12): a `/hybrid` access token is no `/token`
/// session, which a renewal would stretch to a full login, and a `/token`
/// token is no access token, which would skip `/token`'s revocation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `/token`'s session token: `typ: JWT`, `aud: sessions-vs-jwt`.
    Session,
    /// `/hybrid`'s access token: `typ: at+jwt` (RFC 9068 §2.1),
    /// `aud: sessions-vs-jwt/hybrid`.
    Access,
}

impl TokenKind {
    pub const ALL: [TokenKind; 2] = [TokenKind::Session, TokenKind::Access];

    /// The JWS header's `typ`.
    pub fn typ(self) -> &'static str {
        match self {
            TokenKind::Session => "JWT",
            TokenKind::Access => "at+jwt",
        }
    }

    pub fn audience(self) -> &'static str {
        match self {
            TokenKind::Session => ISSUER,
            TokenKind::Access => ACCESS_AUDIENCE,
        }
    }
}

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
    #[error("header `typ` is not this mechanism's")]
    WrongType,
    #[error("header `crit` lists extensions this app does not understand")]
    CriticalExtension,
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
    pub fn new(kind: TokenKind, state: &VisitorState, now: u64, lifetime: u64) -> Self {
        Self {
            username: state.username.clone().unwrap_or_default(),
            is_logged_in: state.is_logged_in.unwrap_or_default(),
            iat: now,
            exp: now.saturating_add(lifetime),
            iss: ISSUER.to_owned(),
            aud: kind.audience().to_owned(),
            jti: Id::default().to_string(),
            auth_time: None,
        }
    }

    /// When the login began, in Unix seconds.
    pub fn login_at(&self) -> u64 {
        self.auth_time.unwrap_or(self.iat)
    }

    /// The same login, issued again at `now` and valid until `exp`.
    pub fn renewed(&self, now: u64, exp: u64) -> Self {
        Self {
            iat: now,
            exp,
            auth_time: Some(self.login_at()),
            ..self.clone()
        }
    }

    /// Seconds until `exp`, for the cookie's Max-Age.
    pub fn seconds_left(&self, now: u64) -> u64 {
        self.exp.saturating_sub(now)
    }

    pub fn state(&self) -> VisitorState {
        VisitorState {
            username: Some(self.username.clone()),
            is_logged_in: Some(self.is_logged_in),
        }
    }

    /// Signs with the ring's signing key as a token of `kind`, naming the
    /// key in the header.
    pub fn sign(&self, keys: &KeyRing, kind: TokenKind) -> Result<String, SignatureError> {
        let key = keys.signing_key();
        compact(key.jws_header(kind), &json_part(self)?, key)
    }

    /// Checks everything, and also that the token is of `kind` and claims
    /// no more than this app grants it: issued in the past, lasting at most
    /// `lifetime` from its `iat`, and ending within `lifetime` from now.
    pub fn verify(
        token: &str,
        keys: &KeyRing,
        kind: TokenKind,
        lifetime: u64,
    ) -> Result<Self, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::Oversized);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| Rejection::Malformed(err.to_string()))?;
        // RFC 7515 §4.1.11: a recipient must refuse a JWS that lists an
        // extension it does not understand, and this app understands none.
        if header.crit.is_some() {
            return Err(Rejection::CriticalExtension);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(kind.typ()))
        {
            return Err(Rejection::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = keys.get(kid).ok_or(Rejection::UnknownKey)?;
        if header.alg != key.algorithm.jwt() {
            return Err(Rejection::AlgorithmMismatch(format!("{:?}", header.alg)));
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation(key, kind))
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => Rejection::BadSignature,
                ErrorKind::ExpiredSignature => Rejection::Expired,
                ErrorKind::ImmatureSignature => Rejection::NotYetValid,
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                    Rejection::Malformed(err.to_string())
                }
                _ => Rejection::InvalidClaims(err.to_string()),
            })?;
        let now = now();
        if claims.iat > now.saturating_add(LEEWAY_SECONDS) {
            return Err(Rejection::InvalidClaims("`iat` is in the future".into()));
        }
        if claims.exp > now.saturating_add(lifetime).saturating_add(LEEWAY_SECONDS) {
            return Err(Rejection::InvalidClaims(
                "`exp` is further away than a login lasts".into(),
            ));
        }
        if claims.exp.saturating_sub(claims.iat) > lifetime {
            return Err(Rejection::InvalidClaims(
                "`exp` is further from `iat` than this kind of token lasts".into(),
            ));
        }
        if claims.jti.parse::<Id>().is_err() {
            return Err(Rejection::InvalidClaims(
                "`jti` is not in the form of a session id".into(),
            ));
        }
        Ok(claims)
    }
}

/// A JWS in compact serialization (RFC 7515 §7.1): the header and the
/// claims as base64url JSON, and the key's signature of both.
pub fn encode(
    header: &impl Serialize,
    claims: &impl Serialize,
    key: &Key,
) -> Result<String, SignatureError> {
    compact(&json_part(header)?, &json_part(claims)?, key)
}

fn compact(header: &str, payload: &str, key: &Key) -> Result<String, SignatureError> {
    let signing_input = format!("{header}.{payload}");
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", base64_url(&signature)))
}

/// The rules for one key and one kind of token: the key's algorithm only,
/// and the claims this app requires of that kind.
fn validation(key: &Key, kind: TokenKind) -> Validation {
    let mut validation = Validation::new(key.algorithm.jwt());
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[kind.audience()]);
    validation
}

/// Seconds since the Unix epoch, as JWT claims count time.
pub fn now() -> u64 {
    crate::session::unix_seconds()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::token_session::keys::{KeyAlgorithm, KeyRing};
    use crate::username::Username;

    fn ring(algorithm: KeyAlgorithm) -> (tempfile::TempDir, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_generate(dir.path(), algorithm).unwrap();
        (dir, ring)
    }

    /// Verifies `token` as a `/token` session token lasting at most 60 s.
    fn session(token: &str, ring: &KeyRing) -> Result<Claims, Rejection> {
        Claims::verify(token, ring, TokenKind::Session, 60)
    }

    fn john() -> VisitorState {
        VisitorState::logged_in(Username::seed())
    }

    /// Signs arbitrary claims with the ring's own key, as a bug or a stolen
    /// key would: verification must still hold the line on the claims.
    fn signed_with_our_key(ring: &KeyRing, claims: serde_json::Value) -> String {
        let key = ring.signing_key();
        let mut header = Header::new(key.algorithm.jwt());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        encode(&header, &claims, key).unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        let now = now();
        json!({ "username": "john_doe", "is_logged_in": true, "iat": now, "exp": now + 60,
                "iss": ISSUER, "aud": ISSUER, "jti": Id::default().to_string() })
    }

    #[test]
    fn a_signed_token_verifies_with_every_algorithm() {
        for algorithm in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Hs256,
        ] {
            let (_dir, ring) = ring(algorithm);
            let claims = Claims::new(TokenKind::Session, &john(), now(), 60);
            let token = claims.sign(&ring, TokenKind::Session).unwrap();
            assert_eq!(session(&token, &ring), Ok(claims), "{algorithm:?}");
        }
    }

    #[test]
    fn two_logins_get_different_token_ids() {
        assert_ne!(
            Claims::new(TokenKind::Session, &john(), 0, 1).jti,
            Claims::new(TokenKind::Session, &john(), 0, 1).jti
        );
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let token = Claims::new(TokenKind::Session, &john(), now() - 100, 50)
            .sign(&ring, TokenKind::Session)
            .unwrap();
        assert_eq!(session(&token, &ring), Err(Rejection::Expired));
    }

    #[test]
    fn a_token_within_the_leeway_is_still_accepted() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let token = Claims::new(TokenKind::Session, &john(), now() - 10, 10 - 1)
            .sign(&ring, TokenKind::Session)
            .unwrap();
        assert!(session(&token, &ring).is_ok());
    }

    #[test]
    fn a_token_signed_by_a_key_we_do_not_have_is_refused() {
        let (_dir, ours) = ring(KeyAlgorithm::EdDsa);
        let (_other_dir, theirs) = ring(KeyAlgorithm::EdDsa);
        let token = Claims::new(TokenKind::Session, &john(), now(), 60)
            .sign(&theirs, TokenKind::Session)
            .unwrap();
        assert_eq!(session(&token, &ours), Err(Rejection::UnknownKey));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let kid = &ring.signing_key().kid;
        let header =
            base64_url(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
        let payload = base64_url(valid_claims().to_string().as_bytes());
        assert!(session(&format!("{header}.{payload}."), &ring).is_err());
    }

    #[test]
    fn a_header_algorithm_other_than_the_keys_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let key = ring.signing_key();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        let secret = key.public_pem.clone().unwrap();
        let token = jsonwebtoken::encode(
            &header,
            &valid_claims(),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            session(&token, &ring),
            Err(Rejection::AlgorithmMismatch(_))
        ));
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let mut claims = valid_claims();
        claims.as_object_mut().unwrap().remove("exp");
        assert!(session(&signed_with_our_key(&ring, claims), &ring).is_err());
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let mut claims = valid_claims();
        claims["nbf"] = json!(now() + 3600);
        assert_eq!(
            session(&signed_with_our_key(&ring, claims), &ring),
            Err(Rejection::NotYetValid)
        );
    }

    #[test]
    fn a_token_for_another_issuer_or_audience_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        for claim in ["iss", "aud"] {
            let mut claims = valid_claims();
            claims[claim] = json!("someone-else");
            assert!(
                session(&signed_with_our_key(&ring, claims), &ring).is_err(),
                "{claim}"
            );
        }
    }

    #[test]
    fn wrongly_typed_claims_are_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        for (claim, value) in [
            ("exp", json!("tomorrow")),
            ("is_logged_in", json!("yes")),
            ("username", json!(42)),
        ] {
            let mut claims = valid_claims();
            claims[claim] = value;
            assert!(
                session(&signed_with_our_key(&ring, claims), &ring).is_err(),
                "{claim}"
            );
        }
    }

    #[test]
    fn a_token_without_typ_jwt_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let key = ring.signing_key();
        let mut header = Header::new(key.algorithm.jwt());
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".into());
        let token = encode(&header, &valid_claims(), key).unwrap();
        assert_eq!(session(&token, &ring), Err(Rejection::WrongType));
    }

    /// A header with `crit` (RFC 7515 §4.1.11), signed with our own key.
    fn signed_with_crit(ring: &KeyRing, crit: serde_json::Value) -> String {
        let key = ring.signing_key();
        let header = json!({ "alg": format!("{:?}", key.algorithm.jwt()), "typ": "JWT",
                             "kid": key.kid, "crit": crit, "x-ext": 1 });
        encode(&header, &valid_claims(), key).unwrap()
    }

    #[test]
    fn a_token_with_a_critical_extension_is_refused_with_every_algorithm() {
        for algorithm in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Hs256,
        ] {
            let (_dir, ring) = ring(algorithm);
            let token = signed_with_crit(&ring, json!(["x-ext"]));
            assert_eq!(
                session(&token, &ring),
                Err(Rejection::CriticalExtension),
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn the_same_header_without_crit_is_accepted() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let key = ring.signing_key();
        let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.kid, "x-ext": 1 });
        let token = encode(&header, &valid_claims(), key).unwrap();
        assert!(session(&token, &ring).is_ok());
    }

    #[test]
    fn an_empty_or_malformed_crit_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        for crit in [json!([]), json!("x-ext"), json!([1])] {
            assert!(
                session(&signed_with_crit(&ring, crit.clone()), &ring).is_err(),
                "{crit}"
            );
        }
    }

    #[test]
    fn a_token_claiming_to_outlive_a_login_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        for exp in [json!(now() + 3600), json!(u64::MAX)] {
            let mut claims = valid_claims();
            claims["exp"] = exp;
            assert!(session(&signed_with_our_key(&ring, claims), &ring).is_err());
        }
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let mut claims = valid_claims();
        claims["iat"] = json!(now() + 30);
        assert!(session(&signed_with_our_key(&ring, claims), &ring).is_err());
    }

    #[test]
    fn a_token_of_one_kind_is_refused_as_the_other() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        for (made, checked) in [
            (TokenKind::Session, TokenKind::Access),
            (TokenKind::Access, TokenKind::Session),
        ] {
            let token = Claims::new(made, &john(), now(), 60)
                .sign(&ring, made)
                .unwrap();
            assert!(Claims::verify(&token, &ring, made, 60).is_ok(), "{made:?}");
            assert_eq!(
                Claims::verify(&token, &ring, checked, 60),
                Err(Rejection::WrongType),
                "{made:?} as {checked:?}"
            );
        }
    }

    #[test]
    fn an_access_token_with_the_session_audience_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let claims = Claims::new(TokenKind::Session, &john(), now(), 60);
        let token = claims.sign(&ring, TokenKind::Access).unwrap();
        assert!(matches!(
            Claims::verify(&token, &ring, TokenKind::Access, 60),
            Err(Rejection::InvalidClaims(_))
        ));
    }

    #[test]
    fn a_token_lasting_longer_than_its_kind_from_its_iat_is_refused() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        let mut claims = valid_claims();
        claims["iat"] = json!(now() - 100);
        claims["exp"] = json!(now() + 30);
        assert!(matches!(
            session(&signed_with_our_key(&ring, claims), &ring),
            Err(Rejection::InvalidClaims(_))
        ));
    }

    #[test]
    fn a_renewed_token_keeps_the_login_id_and_its_start_and_moves_exp() {
        let claims = Claims::new(TokenKind::Session, &john(), 100, 60);
        let renewed = claims.renewed(150, 210);
        assert_eq!(
            (
                renewed.login_at(),
                renewed.jti.clone(),
                renewed.iat,
                renewed.exp
            ),
            (100, claims.jti, 150, 210)
        );
        assert_eq!(renewed.renewed(200, 260).login_at(), 100);
    }

    #[test]
    fn an_oversized_token_is_refused_before_parsing() {
        let (_dir, ring) = ring(KeyAlgorithm::EdDsa);
        assert_eq!(
            session(&"a".repeat(MAX_TOKEN_BYTES + 1), &ring),
            Err(Rejection::Oversized)
        );
    }
}
