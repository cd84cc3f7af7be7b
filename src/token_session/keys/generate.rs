//! New keys: fresh key material, written under a kid that sorts last.

use std::{fs, path::Path};

use ed25519_dalek::pkcs8::{
    EncodePrivateKey, EncodePublicKey, KeypairBytes, spki::der::pem::LineEnding,
};
use rand::{RngCore, rngs::OsRng};

use super::{
    KeyError,
    algorithm::{KeyAlgorithm, RSA_BITS},
    files::{private_path, public_path},
    io_error,
};
use crate::session::key_files::write_private;

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
            // PKCS#8 v1, the seed alone, as `openssl genpkey` writes it: the
            // v2 form ed25519-dalek writes by default (public key inside) is
            // refused by OpenSSL 3.0 and by Python's `cryptography`.
            let private = KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
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

    /// The DER inside a `PRIVATE KEY` PEM.
    fn pkcs8_der(pem: &str) -> Vec<u8> {
        use base64::Engine as _;
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    /// What `openssl genpkey -algorithm ed25519` writes before the 32-byte
    /// seed (RFC 8410 §7): version 0 (PKCS#8 v1), the Ed25519 OID, and no
    /// public key after the seed.
    const OPENSSL_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    #[test]
    fn a_generated_ed25519_key_is_written_as_openssl_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path(), KeyAlgorithm::EdDsa).unwrap();
        let pem = fs::read_to_string(private_path(dir.path(), &kid, KeyAlgorithm::EdDsa)).unwrap();
        let der = pkcs8_der(&pem);
        assert_eq!(der.len(), OPENSSL_ED25519_PREFIX.len() + 32);
        assert_eq!(der[..16], OPENSSL_ED25519_PREFIX);
    }

    #[test]
    fn an_ed25519_key_in_pkcs8_v2_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        // ed25519-dalek's own encoding, which earlier versions generated:
        // version 1 (PKCS#8 v2), with the public key after the seed.
        let v2 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(pkcs8_der(&v2)[2..5], [0x02, 0x01, 0x01]);
        fs::write(dir.path().join("v2.eddsa.pem"), v2.as_bytes()).unwrap();
        assert_eq!(
            only_key(dir.path()).public_pem.unwrap(),
            key.verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
        );
    }

    /// `openssl pkey -in FILE -noout` reads every key we generate: the tool
    /// operators inspect, convert and back up keys with.
    #[cfg_attr(not(svj_openssl), ignore = "needs openssl: apt-get install openssl")]
    #[test]
    fn openssl_reads_every_generated_key() {
        for algorithm in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let kid = generate(dir.path(), algorithm).unwrap();
            for (file, public) in [
                (private_path(dir.path(), &kid, algorithm), false),
                (public_path(dir.path(), &kid, algorithm), true),
            ] {
                let mut openssl = std::process::Command::new(env!("SVJ_OPENSSL_BIN"));
                openssl.args(["pkey", "-noout", "-in"]).arg(&file);
                if public {
                    openssl.arg("-pubin");
                }
                let output = openssl.output().unwrap();
                assert!(
                    output.status.success(),
                    "{algorithm:?} {}: {}",
                    file.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }

    /// The private key openssl reads is the one we sign with: openssl derives
    /// the same public key from it as we publish.
    #[cfg_attr(not(svj_openssl), ignore = "needs openssl: apt-get install openssl")]
    #[test]
    fn openssl_derives_the_public_key_we_publish() {
        for algorithm in [
            KeyAlgorithm::EdDsa,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Rs256,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let kid = generate(dir.path(), algorithm).unwrap();
            let output = std::process::Command::new(env!("SVJ_OPENSSL_BIN"))
                .args(["pkey", "-pubout", "-in"])
                .arg(private_path(dir.path(), &kid, algorithm))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{algorithm:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                String::from_utf8(output.stdout).unwrap().trim(),
                only_key(dir.path()).public_pem.unwrap().trim(),
                "{algorithm:?}"
            );
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
