//! A second JOSE implementation, jwt-simple (pure Rust: ed25519-compact,
//! p256 0.14, hmac-sha256; RSA through superboring, on the same `rsa` crate
//! as ours), against the real server, both ways and for every algorithm:
//!
//! - it verifies the server's tokens knowing nothing but what
//!   `/.well-known/jwks.json` publishes (HS256 keys are secrets, never
//!   published, so for HS256 it is given the secret file, as a service
//!   sharing the secret would be);
//! - tokens it signs with our key files, with the same claims and the same
//!   `kid` and `typ`, are accepted by the server.

use crate::common;

use std::{collections::HashSet, fs, path::Path};

use base64::Engine as _;
use common::TestServer;
use jwt_simple::prelude::*;
use sessions_vs_jwt::{
    routes::{Mount, Route},
    token_session::claims::ISSUER,
};

const ALGORITHMS: [&str; 4] = ["EdDSA", "ES256", "RS256", "HS256"];

/// The session data of our tokens, beside the registered claims.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SessionData {
    username: String,
    is_logged_in: bool,
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// What a verifier of ours must insist on: our issuer and audience, the key
/// the token names, the `typ` we set, and little clock leeway.
fn options(kid: &str) -> VerificationOptions {
    VerificationOptions {
        allowed_issuers: Some(HashSet::from([ISSUER.to_owned()])),
        allowed_audiences: Some(HashSet::from([ISSUER.to_owned()])),
        required_key_id: Some(kid.to_owned()),
        required_signature_type: Some("JWT".to_owned()),
        time_tolerance: Some(Duration::from_secs(2)),
        ..VerificationOptions::default()
    }
}

/// A token from the server's `set_session`, for `john_doe`.
async fn token_from(server: &TestServer) -> String {
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    visitor.cookie("token").expect("a token cookie")
}

/// The JWK Set, as another service would fetch it: plain JSON.
async fn jwks(server: &TestServer) -> serde_json::Value {
    let page = server.visitor().get("/.well-known/jwks.json").await;
    assert_eq!(page.status, 200);
    serde_json::from_str(&page.body).unwrap()
}

/// jwt-simple's verdict on `token`, with the key that `jwks` publishes for
/// its `kid`, or for HS256 with the secret file from `keys_dir`.
fn verify_independently(
    token: &str,
    jwks: &serde_json::Value,
    keys_dir: &Path,
) -> Result<JWTClaims<SessionData>, jwt_simple::Error> {
    let metadata = Token::decode_metadata(token)?;
    let kid = metadata
        .key_id()
        .expect("the token names its key")
        .to_owned();
    let options = Some(options(&kid));
    if metadata.algorithm() == "HS256" {
        let secret = fs::read(keys_dir.join(format!("{kid}.hs256.secret"))).unwrap();
        return HS256Key::from_bytes(&secret).verify_token(token, options);
    }
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|jwk| jwk["kid"] == kid.as_str())
        .expect("the key is published");
    let member = |name: &str| unb64(jwk[name].as_str().unwrap());
    match (metadata.algorithm(), jwk["kty"].as_str().unwrap()) {
        ("EdDSA", "OKP") => {
            assert_eq!(jwk["crv"], "Ed25519");
            Ed25519PublicKey::from_bytes(&member("x"))?.verify_token(token, options)
        }
        ("ES256", "EC") => {
            assert_eq!(jwk["crv"], "P-256");
            let point = [vec![4], member("x"), member("y")].concat();
            ES256PublicKey::from_bytes(&point)?.verify_token(token, options)
        }
        ("RS256", "RSA") => RS256PublicKey::from_components(&member("n"), &member("e"))?
            .verify_token(token, options),
        other => panic!("an algorithm and key type we do not publish: {other:?}"),
    }
}

/// The private key file of the server's signing key, read as it lies.
fn key_file(keys_dir: &Path, kid: &str, algorithm: &str) -> Vec<u8> {
    let name = match algorithm {
        "HS256" => format!("{kid}.hs256.secret"),
        _ => format!("{kid}.{}.pem", algorithm.to_ascii_lowercase()),
    };
    fs::read(keys_dir.join(name)).unwrap()
}

/// A token for `username` signed by jwt-simple with the key file `key`,
/// with our claims and our header's `kid` and `typ`.
fn sign_independently(algorithm: &str, key: &[u8], kid: &str, username: &str) -> String {
    let claims = Claims::with_custom_claims(
        SessionData {
            username: username.to_owned(),
            is_logged_in: true,
        },
        Duration::from_secs(600),
    )
    .with_issuer(ISSUER)
    .with_audience(ISSUER)
    .with_jwt_id(tower_sessions::session::Id::default());
    let pem = || std::str::from_utf8(key).unwrap();
    match algorithm {
        "EdDSA" => Ed25519KeyPair::from_pem(pem())
            .unwrap()
            .with_key_id(kid)
            .sign(claims),
        "ES256" => ES256KeyPair::from_pem(pem())
            .unwrap()
            .with_key_id(kid)
            .sign(claims),
        "RS256" => RS256KeyPair::from_pem(pem())
            .unwrap()
            .with_key_id(kid)
            .sign(claims),
        "HS256" => HS256Key::from_bytes(key)
            .with_key_id(kid)
            .authenticate(claims),
        other => panic!("not an algorithm of this app: {other}"),
    }
    .unwrap()
}

#[tokio::test]
async fn an_independent_verifier_accepts_our_tokens_knowing_only_the_jwks() {
    for algorithm in ALGORITHMS {
        let server = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let token = token_from(&server).await;
        let jwks = jwks(&server).await;
        let claims = verify_independently(&token, &jwks, &server.keys_dir())
            .unwrap_or_else(|err| panic!("{algorithm}: {err}"));
        assert_eq!(
            claims.custom,
            SessionData {
                username: "john_doe".into(),
                is_logged_in: true
            },
            "{algorithm}"
        );
        assert!(claims.jwt_id.is_some(), "{algorithm}");
    }
}

#[tokio::test]
async fn the_independent_verifier_refuses_our_tokens_with_a_changed_payload() {
    for algorithm in ALGORITHMS {
        let server = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let token = token_from(&server).await;
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_claims = serde_json::json!({"username": "admin", "is_logged_in": true,
            "iss": ISSUER, "aud": ISSUER, "exp": u32::MAX});
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string());
        let forged = format!("{header}.{payload}.{signature}");
        assert!(
            verify_independently(&forged, &jwks(&server).await, &server.keys_dir()).is_err(),
            "{algorithm}"
        );
    }
}

#[tokio::test]
async fn tokens_an_independent_signer_makes_with_our_key_files_are_accepted() {
    for algorithm in ALGORITHMS {
        let server = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let kid = server.token_keys().signing_key().kid.clone();
        let key = key_file(&server.keys_dir(), &kid, algorithm);
        let token = sign_independently(algorithm, &key, &kid, "alice");
        let header = common::token_header(&token);
        assert_eq!(
            (header.kid.as_deref(), header.typ.as_deref()),
            (Some(kid.as_str()), Some("JWT"))
        );

        let mut visitor = server.visitor().holding("token", &token);
        let page = visitor.get(&Mount::TOKEN.url(Route::GetSession)).await;
        assert_eq!(page.status, 200, "{algorithm}");
        assert_eq!(page.username(), "alice", "{algorithm}");
        assert_eq!(page.logged_in(), "True", "{algorithm}");
    }
}

#[tokio::test]
async fn tokens_an_independent_signer_makes_with_another_key_under_our_kid_are_refused() {
    for algorithm in ALGORITHMS {
        let server = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let other = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let kid = server.token_keys().signing_key().kid.clone();
        let other_kid = other.token_keys().signing_key().kid.clone();
        let key = key_file(&other.keys_dir(), &other_kid, algorithm);
        let token = sign_independently(algorithm, &key, &kid, "mallory");

        let mut visitor = server.visitor().holding("token", &token);
        assert_eq!(
            visitor.username_on(Mount::TOKEN).await,
            "Guest",
            "{algorithm}"
        );
    }
}
