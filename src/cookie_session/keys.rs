//! The encrypted cookie's keys: 64 random bytes each, in `{kid}.cookie.key`
//! files of the keys folder (mode 0600, ignored by git), beside the token
//! keys. The newest key seals; every key kept still opens, so a rotation
//! logs nobody out, and retiring a key ends the sessions it sealed. Kids
//! start with a UTC timestamp, so the newest sorts last.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aes_gcm::{Aes256Gcm, KeyInit as _};
use cookie::Key;
use rand::{RngCore as _, rngs::OsRng};

use crate::session::key_files::{warn_if_readable_by_others, write_private};

/// What the cookie crate's `Key` is made of: 32 bytes that sign, 32 that
/// encrypt (only the latter are used by its private jar).
pub const KEY_BYTES: usize = 64;

const SUFFIX: &str = ".cookie.key";

/// One key, and the name it is kept under.
pub struct CookieKey {
    pub kid: String,
    pub key: Key,
    /// AES-256-GCM over the key's encryption half, built once: the cookie
    /// crate's jar builds it again for each cookie it opens, which with
    /// the copies cost about 1k instructions a request (`--profile`).
    pub cipher: Aes256Gcm,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Every cookie key in the folder, newest first: the first seals.
#[derive(Debug)]
pub struct CookieKeys {
    newest_first: Vec<CookieKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum CookieKeyError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a usable cookie key: it has {len} bytes, a key has {KEY_BYTES}")]
    Invalid { path: PathBuf, len: usize },
    #[error("no cookie key {kid} in {dir}")]
    UnknownKid { dir: PathBuf, kid: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CookieKeyError + '_ {
    move |source| CookieKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

impl CookieKeys {
    /// Loads the folder's keys, first generating one (and the folder) if
    /// there is none, so that a first run just works.
    pub fn load_or_generate(dir: &Path) -> Result<Self, CookieKeyError> {
        let keys = Self::load(dir)?;
        if !keys.newest_first.is_empty() {
            return Ok(keys);
        }
        let kid = generate(dir)?;
        tracing::info!(%kid, dir = %dir.display(), "generated a cookie encryption key");
        Self::load(dir)
    }

    /// Every key in `dir` (none when the folder does not exist yet).
    pub fn load(dir: &Path) -> Result<Self, CookieKeyError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    newest_first: Vec::new(),
                });
            }
            Err(err) => return Err(io_error(dir)(err)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_error(dir))?.path();
            let Some(kid) = kid_of(&path) else { continue };
            let bytes = fs::read(&path).map_err(io_error(&path))?;
            warn_if_readable_by_others(&path);
            let key = Key::try_from(bytes.as_slice())
                .ok()
                .filter(|_| bytes.len() == KEY_BYTES)
                .ok_or(CookieKeyError::Invalid {
                    path: path.clone(),
                    len: bytes.len(),
                })?;
            let cipher = Aes256Gcm::new_from_slice(key.encryption()).map_err(|_| {
                CookieKeyError::Invalid {
                    path: path.clone(),
                    len: bytes.len(),
                }
            })?;
            keys.push(CookieKey { kid, key, cipher });
        }
        keys.sort_by(|a, b| b.kid.cmp(&a.kid));
        Ok(Self { newest_first: keys })
    }

    /// The key that seals new cookies, if there is any key.
    pub fn sealing(&self) -> Option<&CookieKey> {
        self.newest_first.first()
    }

    /// Every key, newest first: the order a cookie is tried in.
    pub fn newest_first(&self) -> &[CookieKey] {
        &self.newest_first
    }
}

/// `{kid}.cookie.key` gives `kid`; anything else in the folder is not ours.
fn kid_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let kid = name.strip_suffix(SUFFIX)?;
    (!kid.is_empty()).then(|| kid.to_owned())
}

/// Writes a new random key into `dir` and returns its kid.
pub fn generate(dir: &Path) -> Result<String, CookieKeyError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut bytes = [0_u8; KEY_BYTES];
    OsRng.fill_bytes(&mut bytes);
    // Nanoseconds, so that the newest key sorts last; a random tail, so
    // that keys made at one moment in two folders still differ.
    let kid = format!(
        "{}-{:04x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S-%9f"),
        OsRng.next_u32() & 0xffff
    );
    let path = dir.join(format!("{kid}{SUFFIX}"));
    write_private(&path, &bytes).map_err(io_error(&path))?;
    Ok(kid)
}

/// Deletes key `kid`: cookies it sealed are Guests from the next start on.
pub fn retire(dir: &Path, kid: &str) -> Result<(), CookieKeyError> {
    let path = dir.join(format!("{kid}{SUFFIX}"));
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(CookieKeyError::UnknownKid {
            dir: dir.to_owned(),
            kid: kid.to_owned(),
        }),
        Err(err) => Err(io_error(&path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_load_generates_one_key_and_a_second_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = CookieKeys::load_or_generate(dir.path()).unwrap();
        let second = CookieKeys::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.sealing().unwrap().kid, second.sealing().unwrap().kid);
        assert_eq!(second.newest_first().len(), 1);
    }

    #[test]
    fn the_newest_key_seals_and_older_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path()).unwrap();
        let new = generate(dir.path()).unwrap();
        let keys = CookieKeys::load(dir.path()).unwrap();
        assert_eq!(keys.sealing().unwrap().kid, new);
        let kids: Vec<&str> = keys
            .newest_first()
            .iter()
            .map(|key| key.kid.as_str())
            .collect();
        assert_eq!(kids, [new.as_str(), old.as_str()]);
    }

    #[cfg(unix)]
    #[test]
    fn a_key_is_written_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let kid = generate(dir.path()).unwrap();
        let path = dir.path().join(format!("{kid}{SUFFIX}"));
        let mode = fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("short.cookie.key"), [7_u8; 32]).unwrap();
        let err = CookieKeys::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("short.cookie.key"), "{err}");
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn a_retired_key_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate(dir.path()).unwrap();
        let new = generate(dir.path()).unwrap();
        retire(dir.path(), &old).unwrap();
        let keys = CookieKeys::load(dir.path()).unwrap();
        assert_eq!(keys.newest_first().len(), 1);
        assert_eq!(keys.sealing().unwrap().kid, new);
        assert!(matches!(
            retire(dir.path(), &old),
            Err(CookieKeyError::UnknownKid { .. })
        ));
    }

    #[test]
    fn token_key_files_are_not_cookie_keys() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("k.eddsa.pem"), "x").unwrap();
        fs::write(dir.path().join("k.hs256.secret"), [1_u8; 64]).unwrap();
        assert!(
            CookieKeys::load(dir.path())
                .unwrap()
                .newest_first()
                .is_empty()
        );
    }
}
