//! The JWK Set of `/.well-known/jwks.json`.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};

use super::{KeyRing, algorithm::KeyAlgorithm};

impl KeyRing {
    /// The public keys, for `/.well-known/jwks.json`: what another service
    /// needs to verify our tokens without sharing a secret. HS256 keys are
    /// secrets, never published.
    pub fn jwks(&self) -> JwkSet {
        let keys = self
            .keys()
            .into_iter()
            .filter(|key| key.algorithm != KeyAlgorithm::Hs256)
            .filter_map(|key| {
                let mut jwk = Jwk::from_decoding_key(&key.decoding, Some(key.algorithm.jwt()))
                    .map_err(|err| tracing::error!(kid = %key.kid, %err, "cannot publish key"))
                    .ok()?;
                jwk.common.key_id = Some(key.kid.clone());
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                Some(jwk)
            })
            .collect();
        JwkSet { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_session::keys::generate;

    #[test]
    fn the_jwks_publishes_public_keys_only_and_never_hs256() {
        let dir = tempfile::tempdir().unwrap();
        let eddsa = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let es256 = generate(dir.path(), KeyAlgorithm::Es256).unwrap();
        let hs256 = generate(dir.path(), KeyAlgorithm::Hs256).unwrap();
        let ring = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let json = serde_json::to_value(ring.jwks()).unwrap();
        let kids: Vec<&str> = json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [eddsa.as_str(), es256.as_str()]);
        assert!(!kids.contains(&hs256.as_str()));
        for key in json["keys"].as_array().unwrap() {
            assert!(
                key.get("d").is_none() && key.get("k").is_none(),
                "no private member: {key}"
            );
            assert_eq!(key["use"], "sig");
        }
    }
}
