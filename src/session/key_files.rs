//! How every mechanism keeps a secret on disk: written once, readable by
//! its owner only, and a warning at load when others can read it.

use std::{fs, io, io::Write as _, path::Path};

/// Creates the file readable by its owner only, and never overwrites one.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Logs a warning naming `path` when users other than its owner can read it.
pub fn warn_if_readable_by_others(path: &Path) {
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
