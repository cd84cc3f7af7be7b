//! The token signing keys, one per file in `--keys-dir`.
//!
//! A key is `{kid}.{alg}.pem` (a PKCS#8 private key, mode 0600) beside
//! `{kid}.{alg}.pub.pem` (its public half, for other services), or
//! `{kid}.hs256.secret` (raw bytes) for HS256. The file name fixes the one
//! algorithm a key is used with. Every key present verifies the tokens whose
//! header names its kid; the newest key of the configured algorithm signs.
//! Generated kids start with a UTC timestamp, so the newest is the greatest.

mod algorithm;
mod files;
mod generate;
mod jwks;
mod signer;

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

pub use self::{
    algorithm::{KeyAlgorithm, MIN_HS256_SECRET},
    files::{load_all, retire},
    generate::generate,
    signer::{Key, SignatureError},
};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a usable {algorithm:?} key: {reason}")]
    Invalid {
        path: PathBuf,
        algorithm: KeyAlgorithm,
        reason: String,
    },
    #[error("{path}: an HS256 secret needs at least {MIN_HS256_SECRET} bytes, this one has {len}")]
    ShortSecret { path: PathBuf, len: usize },
    #[error("{path} does not match its private key {private}")]
    MismatchedPublicKey { path: PathBuf, private: PathBuf },
    #[error("{path} has no private key beside it")]
    MissingPrivateKey { path: PathBuf },
    #[error("{path}: name key files {{kid}}.{{eddsa|es256|rs256}}.pem or {{kid}}.hs256.secret")]
    Misnamed { path: PathBuf },
    #[error("no key {kid} in {dir}")]
    UnknownKid { dir: PathBuf, kid: String },
    #[error("no {algorithm:?} key in {dir}")]
    NoKey {
        dir: PathBuf,
        algorithm: KeyAlgorithm,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every key in the keys folder, and which one signs.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: HashMap<String, Arc<Key>>,
    signing: Arc<Key>,
}

impl KeyRing {
    /// Loads the folder, first generating a key for `algorithm` (and the
    /// folder) if there is none, so that a first run just works.
    pub fn load_or_generate(dir: &Path, algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let mut keys = load_all(dir)?;
        if !keys.iter().any(|key| key.algorithm == algorithm) {
            let kid = generate(dir, algorithm)?;
            tracing::info!(%kid, dir = %dir.display(), ?algorithm, "generated a token signing key");
            keys = load_all(dir)?;
        }
        let keys: HashMap<String, Arc<Key>> = keys
            .into_iter()
            .map(|key| (key.kid.clone(), Arc::new(key)))
            .collect();
        let signing = keys
            .values()
            .filter(|key| key.algorithm == algorithm)
            .max_by(|a, b| a.kid.cmp(&b.kid))
            .cloned()
            .ok_or_else(|| KeyError::NoKey {
                dir: dir.to_owned(),
                algorithm,
            })?;
        Ok(Self { keys, signing })
    }

    pub fn signing_key(&self) -> &Key {
        &self.signing
    }

    /// The key a token's header names, if it is one of ours.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid).map(Arc::as_ref)
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> Vec<&Key> {
        let mut keys: Vec<&Key> = self.keys.values().map(Arc::as_ref).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_load_generates_one_key_and_a_second_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let second = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert_eq!(first.signing_key().kid, second.signing_key().kid);
        assert_eq!(second.keys().len(), 1);
    }

    #[test]
    fn the_newest_key_of_the_configured_algorithm_signs() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let new = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert!(new > old);
        let ring = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert_eq!(ring.signing_key().kid, new);
        assert!(ring.get(&old).is_some(), "older keys still verify");
    }
}
