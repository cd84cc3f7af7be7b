//! Attacks on the cookies, one test per case. Each asserts the exact outcome:
//! the visitor is a Guest (status 200), the bad cookie is cleared, and the
//! server stored nothing. Tokens "validly signed" here are signed with the
//! server's own key, as a bug or a stolen key would sign them: the claims
//! must still hold the line.

use crate::common;

use common::{Page, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::{Value, json};
use sessions_vs_jwt::{
    routes::{Mount, Route},
    token_session::claims::{self, ISSUER, MAX_TOKEN_BYTES, TokenKind, now},
};

/// Visits get_session with `cookie` as the named cookie and checks the
/// outcome every bad cookie must have.
async fn assert_bad_cookie_makes_a_guest(
    server: &TestServer,
    name: &str,
    mount: Mount,
    cookie: &str,
) -> Page {
    let mut visitor = server.visitor().holding(name, cookie);
    let page = visitor.get(&mount.url(Route::GetSession)).await;
    assert_eq!(page.status, 200, "never an error page");
    assert_eq!(page.username(), "Guest");
    assert_eq!(page.logged_in(), "False");
    let removal = page.set_cookie(name).expect("the bad cookie is cleared");
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    assert_eq!(server.stored_sessions().await, 0, "nothing was stored");
    page
}

async fn assert_bad_token(server: &TestServer, token: &str) {
    assert_bad_cookie_makes_a_guest(server, "token", Mount::TOKEN, token).await;
}

async fn assert_bad_session_id(server: &TestServer, id: &str) {
    assert_bad_cookie_makes_a_guest(server, "sessionid", Mount::SERVER, id).await;
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A genuine token from the server, and its three segments.
async fn genuine_token(server: &TestServer) -> (String, [String; 3]) {
    let mut visitor = server.visitor();
    visitor.log_in_on(Mount::TOKEN).await;
    let token = visitor.cookie("token").unwrap();
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    (token, parts.try_into().unwrap())
}

fn our_kid(server: &TestServer) -> String {
    server.token_keys().signing_key().kid.clone()
}

fn valid_claims() -> Value {
    let now = now();
    json!({
        "username": "admin", "is_logged_in": true, "iat": now, "exp": now + 600,
        "iss": ISSUER, "aud": ISSUER, "jti": "AAAAAAAAAAAAAAAAAAAAAA",
    })
}

/// Signs `claims` with the server's own signing key.
fn signed_by_server(server: &TestServer, claims: &Value) -> String {
    let keys = server.token_keys();
    let key = keys.signing_key();
    let mut header = Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".into());
    claims::encode(&header, claims, key).unwrap()
}

fn with(claim: &str, value: Value) -> Value {
    let mut claims = valid_claims();
    claims[claim] = value;
    claims
}

fn without(claim: &str) -> Value {
    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove(claim);
    claims
}

#[tokio::test]
async fn the_control_case_a_token_signed_by_the_server_is_accepted() {
    let server = TestServer::start(&[]).await;
    let mut visitor = server
        .visitor()
        .holding("token", &signed_by_server(&server, &valid_claims()));
    assert_eq!(visitor.username_on(Mount::TOKEN).await, "admin");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = TestServer::start(&[]).await;
    let header = json!({"alg": "none", "typ": "JWT", "kid": our_kid(&server)});
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(valid_claims().to_string().as_bytes())
    );
    assert_bad_token(&server, &token).await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_secret_is_refused() {
    let server = TestServer::start(&[]).await;
    let public_pem = server
        .token_keys()
        .signing_key()
        .public_pem
        .clone()
        .unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(our_kid(&server));
    header.typ = Some("JWT".into());
    let token = encode(
        &header,
        &valid_claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert_bad_token(&server, &token).await;
}

#[tokio::test]
async fn a_header_algorithm_other_than_the_keys_is_refused() {
    let server = TestServer::start(&[]).await;
    let (_, [_, payload, signature]) = genuine_token(&server).await;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": our_kid(&server)});
    assert_bad_token(
        &server,
        &format!(
            "{}.{payload}.{signature}",
            b64(header.to_string().as_bytes())
        ),
    )
    .await;
}

#[tokio::test]
async fn a_changed_payload_with_the_old_signature_is_refused() {
    let server = TestServer::start(&[]).await;
    let (_, [header, _, signature]) = genuine_token(&server).await;
    let payload = b64(valid_claims().to_string().as_bytes());
    assert_bad_token(&server, &format!("{header}.{payload}.{signature}")).await;
}

#[tokio::test]
async fn a_token_of_one_segment_is_refused() {
    let server = TestServer::start(&[]).await;
    let (_, [header, _, _]) = genuine_token(&server).await;
    assert_bad_token(&server, &header).await;
}

#[tokio::test]
async fn a_token_of_two_segments_is_refused() {
    let server = TestServer::start(&[]).await;
    let (_, [header, payload, _]) = genuine_token(&server).await;
    assert_bad_token(&server, &format!("{header}.{payload}")).await;
}

#[tokio::test]
async fn a_token_of_four_segments_is_refused() {
    let server = TestServer::start(&[]).await;
    let (token, _) = genuine_token(&server).await;
    assert_bad_token(&server, &format!("{token}.AAAA")).await;
}

/// `header.payload.signature` with a signature the server's own key made
/// over exactly `header.payload`, however malformed: only a strict decoder
/// refuses it, since the signature checks out.
fn signed_as_it_is(server: &TestServer, header: &str, payload: &str) -> String {
    let keys = server.token_keys();
    let key = keys.signing_key();
    let signature = key.sign(format!("{header}.{payload}").as_bytes()).unwrap();
    format!("{header}.{payload}.{}", b64(&signature))
}

/// Claims whose base64 in the standard alphabet holds a `+` or a `/`, which
/// base64url replaces with `-` and `_`.
fn claims_in_the_standard_alphabet() -> String {
    use base64::Engine as _;
    (0..64)
        .map(|length| {
            let claims = with("username", json!(format!("admin{}", "~".repeat(length))));
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(claims.to_string())
        })
        .find(|encoded| encoded.contains(['+', '/']))
        .unwrap()
}

#[tokio::test]
async fn a_token_with_bad_base64_is_refused_though_validly_signed() {
    let server = TestServer::start(&[]).await;
    let header = server
        .token_keys()
        .signing_key()
        .jws_header(TokenKind::Session)
        .to_owned();
    let payload = claims_in_the_standard_alphabet();
    assert_bad_token(&server, &signed_as_it_is(&server, &header, &payload)).await;
}

#[tokio::test]
async fn a_token_with_base64_padding_is_refused_though_validly_signed() {
    use base64::Engine as _;
    let server = TestServer::start(&[]).await;
    let header = server
        .token_keys()
        .signing_key()
        .jws_header(TokenKind::Session)
        .to_owned();
    let payload = (0..3)
        .map(|length| {
            let claims = with("username", json!(format!("admin{}", "x".repeat(length))));
            base64::engine::general_purpose::URL_SAFE.encode(claims.to_string())
        })
        .find(|encoded| encoded.ends_with('='))
        .unwrap();
    assert_bad_token(&server, &signed_as_it_is(&server, &header, &payload)).await;
}

#[tokio::test]
async fn a_token_with_whitespace_inside_is_refused_though_validly_signed() {
    let server = TestServer::start(&[]).await;
    let header = server
        .token_keys()
        .signing_key()
        .jws_header(TokenKind::Session)
        .to_owned();
    let payload = b64(valid_claims().to_string().as_bytes());
    let (start, end) = payload.split_at(payload.len() / 2);
    assert_bad_token(
        &server,
        &signed_as_it_is(&server, &header, &format!("{start} {end}")),
    )
    .await;
}

async fn assert_kid_refused(kid: &str) {
    let server = TestServer::start(&[]).await;
    let keys = server.token_keys();
    let key = keys.signing_key();
    let mut header = Header::new(key.algorithm.jwt());
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".into());
    let token = claims::encode(&header, &valid_claims(), key).unwrap();
    assert!(
        token.len() <= MAX_TOKEN_BYTES,
        "a {}-byte token is refused for its size, whatever its kid",
        token.len()
    );
    assert_bad_token(&server, &token).await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    assert_kid_refused("20990101-000000-000-ffff").await;
}

#[tokio::test]
async fn a_path_traversal_kid_is_refused() {
    assert_kid_refused("../../x").await;
}

#[tokio::test]
async fn a_kid_with_quotes_is_refused() {
    assert_kid_refused("a\"b' OR '1'='1").await;
}

/// As long a `kid` as a token under the size cap can carry, so that the
/// `kid` is what gets it refused.
#[tokio::test]
async fn a_two_kilobyte_kid_is_refused() {
    assert_kid_refused(&"k".repeat(2 * 1024)).await;
}

#[tokio::test]
async fn an_embedded_jwk_of_the_attackers_key_is_ignored() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    let server = TestServer::start(&[]).await;
    let attacker = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = attacker.to_pkcs8_pem(LineEnding::LF).unwrap();
    let attacker_key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(our_kid(&server));
    header.typ = Some("JWT".into());
    let attacker_public =
        jsonwebtoken::DecodingKey::from_ed_der(attacker.verifying_key().as_bytes());
    header.jwk = Some(
        jsonwebtoken::jwk::Jwk::from_decoding_key(&attacker_public, Some(Algorithm::EdDSA))
            .unwrap(),
    );
    header.jku = Some("https://evil.example/jwks.json".into());
    header.x5u = Some("https://evil.example/cert.pem".into());
    let token = encode(&header, &valid_claims(), &attacker_key).unwrap();
    assert_bad_token(&server, &token).await;
}

/// RFC 7515 §4.1.11: an extension listed in `crit` that the recipient does
/// not understand makes the JWS invalid, however well it is signed.
#[tokio::test]
async fn a_validly_signed_token_with_a_critical_extension_is_refused_on_every_algorithm() {
    for algorithm in ["EdDSA", "ES256", "RS256", "HS256"] {
        let server = TestServer::start(&["--jwt-algorithm", algorithm]).await;
        let keys = server.token_keys();
        let key = keys.signing_key();
        let header = json!({"alg": algorithm, "typ": "JWT", "kid": key.kid,
                            "crit": ["x-ext"], "x-ext": 1});
        let token = claims::encode(&header, &valid_claims(), key).unwrap();
        assert_bad_token(&server, &token).await;
    }
}

/// CVE-2022-21449 ("psychic signatures"): an ECDSA verifier that skips the
/// range check accepts r = s = 0 for any message and any key.
#[tokio::test]
async fn an_es256_signature_with_r_and_s_zero_is_refused() {
    let server = TestServer::start(&["--jwt-algorithm", "ES256"]).await;
    let (_, [header, payload, _]) = genuine_token(&server).await;
    assert_bad_token(&server, &format!("{header}.{payload}.{}", b64(&[0; 64]))).await;
}

#[tokio::test]
async fn a_validly_signed_expired_token_is_refused() {
    let server = TestServer::start(&[]).await;
    let claims = with("exp", json!(now() - 60));
    assert_bad_token(&server, &signed_by_server(&server, &claims)).await;
}

#[tokio::test]
async fn a_validly_signed_token_without_exp_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_token(&server, &signed_by_server(&server, &without("exp"))).await;
}

#[tokio::test]
async fn a_validly_signed_token_not_valid_yet_is_refused() {
    let server = TestServer::start(&[]).await;
    let claims = with("nbf", json!(now() + 300));
    assert_bad_token(&server, &signed_by_server(&server, &claims)).await;
}

#[tokio::test]
async fn a_validly_signed_token_from_another_issuer_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_token(
        &server,
        &signed_by_server(&server, &with("iss", json!("someone-else"))),
    )
    .await;
}

#[tokio::test]
async fn a_validly_signed_token_for_another_audience_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_token(
        &server,
        &signed_by_server(&server, &with("aud", json!("another-app"))),
    )
    .await;
}

#[tokio::test]
async fn a_validly_signed_token_with_exp_as_a_string_is_refused() {
    let server = TestServer::start(&[]).await;
    let claims = with("exp", json!((now() + 600).to_string()));
    assert_bad_token(&server, &signed_by_server(&server, &claims)).await;
}

#[tokio::test]
async fn a_validly_signed_token_with_is_logged_in_as_a_string_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_token(
        &server,
        &signed_by_server(&server, &with("is_logged_in", json!("yes"))),
    )
    .await;
}

#[tokio::test]
async fn a_validly_signed_token_with_exp_at_the_integer_limits_is_refused() {
    let server = TestServer::start(&[]).await;
    for exp in [
        json!(0),
        json!(-1),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e308),
        serde_json::from_str::<Value>("18446744073709551616").unwrap(),
    ] {
        assert_bad_token(&server, &signed_by_server(&server, &with("exp", exp))).await;
    }
}

#[tokio::test]
async fn a_session_id_that_is_too_short_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_session_id(&server, "abc").await;
}

#[tokio::test]
async fn a_ten_kilobyte_session_id_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_session_id(&server, &"A".repeat(10 * 1024)).await;
}

#[tokio::test]
async fn a_session_id_with_slashes_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_session_id(&server, "AAAAAAAAAA/AAAAAAAAAAA").await;
    assert_bad_session_id(&server, "AAAAAAAAAA\\AAAAAAAAAAA").await;
    assert_bad_session_id(&server, "../../../../etc/passwd").await;
}

#[tokio::test]
async fn a_well_formed_session_id_the_server_never_issued_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_session_id(&server, "AAAAAAAAAAAAAAAAAAAAAA").await;
}

#[tokio::test]
async fn a_token_in_the_session_cookie_is_refused() {
    let server = TestServer::start(&[]).await;
    let (token, _) = genuine_token(&server).await;
    assert_bad_session_id(&server, &token).await;
}

#[tokio::test]
async fn a_session_id_in_the_token_cookie_is_refused() {
    let server = TestServer::start(&[]).await;
    assert_bad_token(&server, "AAAAAAAAAAAAAAAAAAAAAA").await;
}

/// Arbitrary bytes, as far as HTTP lets them into a header, in either
/// cookie: always a Guest page that clears the cookie, never an error, never
/// a stored record.
#[test]
fn arbitrary_bytes_in_either_cookie_make_a_guest_page_and_are_cleared() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(&[]));
    let header_byte = prop_oneof![0x20_u8..=0x7e, 0x80_u8..=0xff, Just(b'\t')];
    let cookie_value = prop::collection::vec(header_byte, 0..3000);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(cookie_value, prop::sample::select(Mount::BUILT_IN.to_vec())),
            |(bytes, mount)| {
                let name = common::cookie_name(mount);
                let mut header = format!("{name}=").into_bytes();
                header.extend_from_slice(&bytes);
                let page = runtime.block_on(async {
                    let mut visitor = server.visitor();
                    let request = visitor
                        .request(reqwest::Method::GET, &mount.url(Route::GetSession))
                        .header(
                            reqwest::header::COOKIE,
                            reqwest::header::HeaderValue::from_bytes(&header).unwrap(),
                        );
                    visitor.send("arbitrary cookie".into(), request).await
                });
                prop_assert_eq!(page.status, 200);
                prop_assert_eq!(page.username(), "Guest");
                let removal = page.set_cookie(name);
                prop_assert!(removal.is_some(), "the bad cookie is cleared");
                prop_assert_eq!(
                    removal.and_then(|removal| removal.max_age()),
                    Some(cookie::time::Duration::ZERO)
                );
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(runtime.block_on(server.stored_sessions()), 0);
}
