//! The token signing keys, one per file in `--keys-dir`.
//!
//! A key is `{kid}.{alg}.pem` (a PKCS#8 private key, mode 0600) beside
//! `{kid}.{alg}.pub.pem` (its public half, for other services), or
//! `{kid}.hs256.secret` (raw bytes) for HS256. The file name fixes the one
//! algorithm a key is used with. Every key present verifies the tokens whose
//! header names its kid; the newest key of the configured algorithm signs.
//! Generated kids start with a UTC timestamp, so the newest is the greatest.

use std::{
    collections::HashMap,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use hmac::{Hmac, Mac as _};
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{Jwk, JwkSet, PublicKeyUse},
};
use rand::{RngCore, rngs::OsRng};

/// The algorithms a key can be made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum KeyAlgorithm {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "HS256")]
    Hs256,
}

impl KeyAlgorithm {
    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
            KeyAlgorithm::Hs256 => Algorithm::HS256,
        }
    }

    /// The part of a key's file name that fixes its algorithm.
    fn tag(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDsa => "eddsa",
            KeyAlgorithm::Es256 => "es256",
            KeyAlgorithm::Rs256 => "rs256",
            KeyAlgorithm::Hs256 => "hs256",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        [Self::EdDsa, Self::Es256, Self::Rs256, Self::Hs256]
            .into_iter()
            .find(|alg| alg.tag() == tag)
    }
}

/// An HS256 secret shorter than the hash it keys is guessable (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;

/// RSA keys are generated at the size NIST recommends until 2030.
const RSA_BITS: usize = 2048;

/// One key, usable with exactly one algorithm.
pub struct Key {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// Parsed once, at load: jsonwebtoken would parse the private key (and
    /// for Ed25519 derive its public half) on every signature, which costs
    /// as much again as the signature itself.
    signer: Signer,
    /// The JWS header of every token this key signs, base64url-encoded once.
    jws_header: String,
    pub decoding: DecodingKey,
    /// Derived from the private key; `None` for HS256.
    pub public_pem: Option<String>,
}

/// A private key, ready to sign.
enum Signer {
    EdDsa(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
    Rs256(rsa::pkcs1v15::SigningKey<sha2::Sha256>),
    Hs256(Hmac<sha2::Sha256>),
}

pub type SignatureError = jsonwebtoken::signature::Error;

impl Key {
    fn new(
        kid: &str,
        algorithm: KeyAlgorithm,
        signer: Signer,
        decoding: DecodingKey,
        public_pem: Option<String>,
    ) -> Result<Self, SignatureError> {
        let mut header = jsonwebtoken::Header::new(algorithm.jwt());
        header.kid = Some(kid.to_owned());
        header.typ = Some("JWT".to_owned());
        Ok(Self {
            kid: kid.to_owned(),
            algorithm,
            signer,
            jws_header: super::jws::json_part(&header)?,
            decoding,
            public_pem,
        })
    }

    /// `{"typ":"JWT","alg":…,"kid":…}`, base64url-encoded: the first part
    /// of every token this key signs.
    pub fn jws_header(&self) -> &str {
        &self.jws_header
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

    /// Every key, oldest first.
    pub fn keys(&self) -> Vec<&Key> {
        let mut keys: Vec<&Key> = self.keys.values().map(Arc::as_ref).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys
    }
}

/// Deletes the files of key `kid` (private and public halves).
pub fn retire(dir: &Path, kid: &str) -> Result<(), KeyError> {
    let entries = fs::read_dir(dir).map_err(io_error(dir))?;
    let mut found = false;
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let matches = match KeyFile::of(&path) {
            KeyFile::Private { kid: file_kid, .. } => file_kid == kid,
            KeyFile::Public { stem } => stem
                .rsplit_once('.')
                .is_some_and(|(file_kid, _)| file_kid == kid),
            KeyFile::Misnamed | KeyFile::Other => false,
        };
        if matches {
            fs::remove_file(&path).map_err(io_error(&path))?;
            found = true;
        }
    }
    if found {
        Ok(())
    } else {
        Err(KeyError::UnknownKid {
            dir: dir.to_owned(),
            kid: kid.to_owned(),
        })
    }
}

/// Writes a new key for `algorithm` into `dir` and returns its kid.
pub fn generate(dir: &Path, algorithm: KeyAlgorithm) -> Result<String, KeyError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let (private, public) = new_key_material(algorithm).map_err(|reason| KeyError::Invalid {
        path: dir.to_owned(),
        algorithm,
        reason,
    })?;
    // A timestamp, so that the newest key sorts last (moved on by a millisecond
    // if a key here already has it), and a random tail, so that keys made at
    // the same moment in two folders still differ.
    let existing: Vec<String> = fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let mut now = chrono::Utc::now();
    let mut stamp = now.format("%Y%m%d-%H%M%S-%3f").to_string();
    while existing.iter().any(|name| name.starts_with(&stamp)) {
        now += chrono::Duration::milliseconds(1);
        stamp = now.format("%Y%m%d-%H%M%S-%3f").to_string();
    }
    let kid = format!("{stamp}-{:04x}", OsRng.next_u32() & 0xffff);
    let private_path = private_path(dir, &kid, algorithm);
    write_private(&private_path, &private).map_err(io_error(&private_path))?;
    if let Some(public) = public {
        let public_path = dir.join(format!("{kid}.{}.pub.pem", algorithm.tag()));
        fs::write(&public_path, public).map_err(io_error(&public_path))?;
    }
    Ok(kid)
}

fn private_path(dir: &Path, kid: &str, algorithm: KeyAlgorithm) -> PathBuf {
    match algorithm {
        KeyAlgorithm::Hs256 => dir.join(format!("{kid}.hs256.secret")),
        _ => dir.join(format!("{kid}.{}.pem", algorithm.tag())),
    }
}

/// Private key bytes, and the public key PEM for asymmetric algorithms.
fn new_key_material(algorithm: KeyAlgorithm) -> Result<(Vec<u8>, Option<String>), String> {
    Ok(match algorithm {
        KeyAlgorithm::EdDsa => {
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            let public = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            (private.as_bytes().to_vec(), Some(public))
        }
        KeyAlgorithm::Es256 => {
            let key = p256::SecretKey::random(&mut OsRng);
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            let public = key
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            (private.as_bytes().to_vec(), Some(public))
        }
        KeyAlgorithm::Rs256 => {
            let key =
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(|err| err.to_string())?;
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            let public = key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|err| err.to_string())?;
            (private.as_bytes().to_vec(), Some(public))
        }
        KeyAlgorithm::Hs256 => {
            let mut secret = vec![0; 64];
            OsRng.fill_bytes(&mut secret);
            (secret, None)
        }
    })
}

/// Creates the file readable by its owner only, and never overwrites one.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Every key in `dir` (none when the folder does not exist yet).
pub fn load_all(dir: &Path) -> Result<Vec<Key>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error(dir)(err)),
    };
    let mut keys = Vec::new();
    let mut public_files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        match KeyFile::of(&path) {
            KeyFile::Private { kid, algorithm } => keys.push(load_key(&path, &kid, algorithm)?),
            KeyFile::Public { stem } => public_files.push((stem, path)),
            KeyFile::Misnamed => return Err(KeyError::Misnamed { path }),
            KeyFile::Other => {}
        }
    }
    for (stem, path) in public_files {
        let Some(key) = keys
            .iter()
            .find(|key| format!("{}.{}", key.kid, key.algorithm.tag()) == stem)
        else {
            return Err(KeyError::MissingPrivateKey { path });
        };
        check_public_file(&path, key, dir)?;
    }
    Ok(keys)
}

/// What a file in the keys folder is, by its name.
enum KeyFile {
    Private {
        kid: String,
        algorithm: KeyAlgorithm,
    },
    /// `{kid}.{alg}.pub.pem`; `stem` is `{kid}.{alg}`.
    Public { stem: String },
    /// Looks like key material but does not say its algorithm.
    Misnamed,
    /// README.md, .gitignore and the like.
    Other,
}

impl KeyFile {
    fn of(path: &Path) -> Self {
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            return KeyFile::Other;
        };
        if let Some(stem) = name.strip_suffix(".pub.pem") {
            return KeyFile::Public {
                stem: stem.to_owned(),
            };
        }
        let Some(stem) = name
            .strip_suffix(".pem")
            .or_else(|| name.strip_suffix(".secret"))
        else {
            return KeyFile::Other;
        };
        match stem.rsplit_once('.') {
            Some((kid, tag)) if !kid.is_empty() => match KeyAlgorithm::from_tag(tag) {
                Some(algorithm) => KeyFile::Private {
                    kid: kid.to_owned(),
                    algorithm,
                },
                None => KeyFile::Misnamed,
            },
            _ => KeyFile::Misnamed,
        }
    }
}

fn load_key(path: &Path, kid: &str, algorithm: KeyAlgorithm) -> Result<Key, KeyError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    warn_if_readable_by_others(path);
    let invalid = |reason: String| KeyError::Invalid {
        path: path.to_owned(),
        algorithm,
        reason,
    };
    if algorithm == KeyAlgorithm::Hs256 {
        if bytes.len() < MIN_HS256_SECRET {
            return Err(KeyError::ShortSecret {
                path: path.to_owned(),
                len: bytes.len(),
            });
        }
        let mac = Hmac::new_from_slice(&bytes).map_err(|err| invalid(err.to_string()))?;
        return Key::new(
            kid,
            algorithm,
            Signer::Hs256(mac),
            DecodingKey::from_secret(&bytes),
            None,
        )
        .map_err(|err| invalid(err.to_string()));
    }
    let pem = std::str::from_utf8(&bytes).map_err(|_| invalid("not a PEM file".into()))?;
    let (signer, public) = parse_private_pem(pem, algorithm).map_err(invalid)?;
    let decoding = match algorithm {
        KeyAlgorithm::EdDsa => DecodingKey::from_ed_pem(public.as_bytes()),
        KeyAlgorithm::Es256 => DecodingKey::from_ec_pem(public.as_bytes()),
        _ => DecodingKey::from_rsa_pem(public.as_bytes()),
    }
    .map_err(|err| invalid(err.to_string()))?;
    Key::new(kid, algorithm, signer, decoding, Some(public)).map_err(|err| invalid(err.to_string()))
}

/// The signer of a PKCS#8 private key, and its public half as PEM (derived,
/// not trusted from a file).
fn parse_private_pem(pem: &str, algorithm: KeyAlgorithm) -> Result<(Signer, String), String> {
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

fn check_public_file(path: &Path, key: &Key, dir: &Path) -> Result<(), KeyError> {
    let on_disk = fs::read_to_string(path).map_err(io_error(path))?;
    if key.public_pem.as_deref().map(str::trim) != Some(on_disk.trim()) {
        return Err(KeyError::MismatchedPublicKey {
            path: path.to_owned(),
            private: private_path(dir, &key.kid, key.algorithm),
        });
    }
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "private key is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_key(dir: &Path) -> Key {
        let mut keys = load_all(dir).unwrap();
        assert_eq!(keys.len(), 1);
        keys.remove(0)
    }

    #[test]
    fn a_first_load_generates_one_key_and_a_second_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let second = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert_eq!(first.signing_key().kid, second.signing_key().kid);
        assert_eq!(second.keys().len(), 1);
    }

    #[test]
    fn every_algorithm_generates_a_key_that_loads_back() {
        for algorithm in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Hs256,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let kid = generate(dir.path(), algorithm).unwrap();
            let key = only_key(dir.path());
            assert_eq!((key.kid.as_str(), key.algorithm), (kid.as_str(), algorithm));
            assert_eq!(key.public_pem.is_some(), algorithm != KeyAlgorithm::Hs256);
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_written_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let mode = fs::metadata(dir.path().join(format!("{kid}.eddsa.pem")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
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

    #[test]
    fn a_retired_key_is_gone_with_both_halves() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let new = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        retire(dir.path(), &old).unwrap();
        let ring = KeyRing::load_or_generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert!(ring.get(&old).is_none());
        assert_eq!(ring.signing_key().kid, new);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "only the new pair is left"
        );
    }

    #[test]
    fn retiring_an_unknown_kid_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        assert!(matches!(
            retire(dir.path(), "nope"),
            Err(KeyError::UnknownKid { .. })
        ));
    }

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

    #[test]
    fn a_short_hs256_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("k.hs256.secret"), [7_u8; 31]).unwrap();
        assert!(matches!(
            load_all(dir.path()),
            Err(KeyError::ShortSecret { len: 31, .. })
        ));
    }

    #[test]
    fn an_rsa_key_shorter_than_2048_bits_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let weak = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&weak, LineEnding::LF).unwrap();
        fs::write(dir.path().join("weak.rs256.pem"), pem.as_bytes()).unwrap();
        let err = load_all(dir.path()).unwrap_err();
        assert!(err.to_string().contains("1024 bits"), "{err}");
    }

    #[test]
    fn a_key_of_another_type_than_its_name_says_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path(), KeyAlgorithm::Es256).unwrap();
        fs::rename(
            dir.path().join(format!("{kid}.es256.pem")),
            dir.path().join(format!("{kid}.eddsa.pem")),
        )
        .unwrap();
        fs::remove_file(dir.path().join(format!("{kid}.es256.pub.pem"))).unwrap();
        let err = load_all(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::Invalid {
                    algorithm: KeyAlgorithm::EdDsa,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_corrupt_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("k.eddsa.pem"),
            "-----BEGIN PRIVATE KEY-----\nnonsense\n",
        )
        .unwrap();
        let err = load_all(dir.path()).unwrap_err();
        assert!(err.to_string().contains("k.eddsa.pem"), "{err}");
    }

    #[test]
    fn a_public_key_that_does_not_match_its_private_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let other = tempfile::tempdir().unwrap();
        let other_kid = generate(other.path(), KeyAlgorithm::EdDsa).unwrap();
        fs::copy(
            other.path().join(format!("{other_kid}.eddsa.pub.pem")),
            dir.path().join(format!("{kid}.eddsa.pub.pem")),
        )
        .unwrap();
        assert!(matches!(
            load_all(dir.path()),
            Err(KeyError::MismatchedPublicKey { .. })
        ));
    }

    #[test]
    fn a_public_key_without_its_private_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        fs::remove_file(dir.path().join(format!("{kid}.eddsa.pem"))).unwrap();
        assert!(matches!(
            load_all(dir.path()),
            Err(KeyError::MissingPrivateKey { .. })
        ));
    }

    #[test]
    fn a_pem_file_whose_name_does_not_give_an_algorithm_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mykey.pem"), "x").unwrap();
        assert!(matches!(
            load_all(dir.path()),
            Err(KeyError::Misnamed { .. })
        ));
    }

    #[test]
    fn other_files_in_the_folder_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("README.md"), "# keys").unwrap();
        fs::write(dir.path().join(".gitignore"), "*.pem").unwrap();
        assert!(load_all(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_key_made_by_openssl_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("byo.eddsa.pem");
        // The PKCS#8 PEM that `openssl genpkey -algorithm ed25519` writes.
        fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEICGS5FS/Ug3erVk2mOP54JNxqZMJUMCa8PG+9jXSmsKG\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(only_key(dir.path()).kid, "byo");
    }
}
