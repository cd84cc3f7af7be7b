//! New keys: fresh key material, written under a kid that sorts last.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use rand::{RngCore, rngs::OsRng};

use super::{
    KeyError,
    algorithm::{KeyAlgorithm, RSA_BITS},
    files::{private_path, public_path},
    io_error,
};

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
        let public_path = public_path(dir, &kid, algorithm);
        fs::write(&public_path, public).map_err(io_error(&public_path))?;
    }
    Ok(kid)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_session::keys::files::only_key;

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
}
