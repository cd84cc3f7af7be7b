//! A key ready to sign: the private key parsed once, and the header it signs under.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use hmac::{Hmac, Mac as _};
use jsonwebtoken::DecodingKey;
use rand::rngs::OsRng;

use super::algorithm::{KeyAlgorithm, RSA_BITS};
use crate::token_session::{claims::TokenKind, jws::json_part};

/// One key, usable with exactly one algorithm.
pub struct Key {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// Parsed once, at load: jsonwebtoken would parse the private key (and
    /// for Ed25519 derive its public half) on every signature, which costs
    /// as much again as the signature itself.
    signer: Signer,
    /// The JWS header of every token this key signs, one per kind of token
    /// (in the order of [`TokenKind::ALL`]), base64url-encoded once.
    jws_headers: [String; 2],
    pub decoding: DecodingKey,
    /// Derived from the private key; `None` for HS256.
    pub public_pem: Option<String>,
}

/// A private key, ready to sign.
pub(super) enum Signer {
    EdDsa(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
    Rs256(rsa::pkcs1v15::SigningKey<sha2::Sha256>),
    Hs256(Hmac<sha2::Sha256>),
}

pub type SignatureError = jsonwebtoken::signature::Error;

impl Key {
    pub(super) fn new(
        kid: &str,
        algorithm: KeyAlgorithm,
        signer: Signer,
        decoding: DecodingKey,
        public_pem: Option<String>,
    ) -> Result<Self, SignatureError> {
        let header = |kind: TokenKind| {
            let mut header = jsonwebtoken::Header::new(algorithm.jwt());
            header.kid = Some(kid.to_owned());
            header.typ = Some(kind.typ().to_owned());
            json_part(&header)
        };
        let [session, access] = TokenKind::ALL;
        Ok(Self {
            kid: kid.to_owned(),
            algorithm,
            signer,
            jws_headers: [header(session)?, header(access)?],
            decoding,
            public_pem,
        })
    }

    /// `{"typ":…,"alg":…,"kid":…}`, base64url-encoded: the first part of
    /// every token of `kind` this key signs.
    pub fn jws_header(&self, kind: TokenKind) -> &str {
        match kind {
            TokenKind::Session => &self.jws_headers[0],
            TokenKind::Access => &self.jws_headers[1],
        }
    }

    /// The JWS signature of `message` (RFC 7518 §3): Ed25519, ECDSA P-256
    /// with SHA-256 as `r || s`, RSASSA-PKCS1-v1_5 with SHA-256 (blinded),
    /// or HMAC-SHA256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        use jsonwebtoken::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
        Ok(match &self.signer {
            Signer::EdDsa(key) => key.sign(message).to_vec(),
            Signer::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.try_sign(message)?;
                signature.to_vec()
            }
            Signer::Rs256(key) => key.try_sign_with_rng(&mut OsRng, message)?.to_vec(),
            Signer::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        })
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The signer of a PKCS#8 private key, and its public half as PEM (derived,
/// not trusted from a file).
pub(super) fn parse_private_pem(
    pem: &str,
    algorithm: KeyAlgorithm,
) -> Result<(Signer, String), String> {
    let text = |err: &dyn std::fmt::Display| err.to_string();
    match algorithm {
        KeyAlgorithm::EdDsa => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|err| text(&err))?;
            let public = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| text(&err))?;
            Ok((Signer::EdDsa(key), public))
        }
        KeyAlgorithm::Es256 => {
            let key = p256::SecretKey::from_pkcs8_pem(pem).map_err(|err| text(&err))?;
            let public = key
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| text(&err))?;
            Ok((Signer::Es256(key.into()), public))
        }
        KeyAlgorithm::Rs256 => {
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|err| text(&err))?;
            let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
            if bits < RSA_BITS {
                return Err(format!(
                    "an RSA key of {bits} bits is too weak; RS256 keys need at least {RSA_BITS}"
                ));
            }
            let public = key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| text(&err))?;
            Ok((Signer::Rs256(rsa::pkcs1v15::SigningKey::new(key)), public))
        }
        KeyAlgorithm::Hs256 => Err("HS256 keys are secrets, not PEM files".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use rand::rngs::OsRng;

    use crate::token_session::keys::load_all;

    #[test]
    fn an_rsa_key_shorter_than_2048_bits_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let weak = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&weak, LineEnding::LF).unwrap();
        fs::write(dir.path().join("weak.rs256.pem"), pem.as_bytes()).unwrap();
        let err = load_all(dir.path()).unwrap_err();
        assert!(err.to_string().contains("1024 bits"), "{err}");
    }
}
