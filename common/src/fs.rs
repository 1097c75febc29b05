//! Files the binaries keep for themselves (credentials, the pushed
//! config): written beside, synced, then renamed over, so a crash leaves
//! the old file or the new one, never half of one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// A failed step: what was being done (`cannot write`), and why.
pub type StepError = (&'static str, std::io::Error);

/// Replaces `path` with `bytes`, readable by its owner only, in a
/// directory (created if missing) only its owner can enter.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StepError> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| ("cannot create the directory of", e))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| ("cannot write", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| ("cannot write", e))?;
    fs::rename(&tmp, path).map_err(|e| ("cannot replace", e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_file_replaces_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join("f.json");
        write_private(&path, b"one").expect("first");
        write_private(&path, b"two").expect("second");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!path.with_extension("tmp").exists());
    }
}
