//! The keys folder on disk: what each file name means, loading every key,
//! and deleting one.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use hmac::{Hmac, Mac as _};
use jsonwebtoken::DecodingKey;

use super::{
    KeyError,
    algorithm::{KeyAlgorithm, MIN_HS256_SECRET},
    io_error,
    signer::{Key, Signer, parse_private_pem},
};
use crate::session::key_files::warn_if_readable_by_others;

/// What a file in the keys folder is, by its name.
pub(super) enum KeyFile {
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
    pub(super) fn of(path: &Path) -> Self {
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

pub(super) fn private_path(dir: &Path, kid: &str, algorithm: KeyAlgorithm) -> PathBuf {
    match algorithm {
        KeyAlgorithm::Hs256 => dir.join(format!("{kid}.hs256.secret")),
        _ => dir.join(format!("{kid}.{}.pem", algorithm.tag())),
    }
}

pub(super) fn public_path(dir: &Path, kid: &str, algorithm: KeyAlgorithm) -> PathBuf {
    dir.join(format!("{kid}.{}.pub.pem", algorithm.tag()))
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

/// The one key in `dir`, for tests that made exactly one.
#[cfg(test)]
pub(super) fn only_key(dir: &Path) -> Key {
    let mut keys = load_all(dir).unwrap();
    assert_eq!(keys.len(), 1);
    keys.remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_session::keys::{KeyRing, generate};

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
    fn a_short_hs256_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("k.hs256.secret"), [7_u8; 31]).unwrap();
        assert!(matches!(
            load_all(dir.path()),
            Err(KeyError::ShortSecret { len: 31, .. })
        ));
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
