//! Files only their owner may read (mode 0600): a backup or a GDPR export holds what Alice
//! knows about people, and must not be readable by every account on the machine whatever the
//! umask says. Directories made for them are 0700.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Owner read and write, nothing for others.
const FILE_MODE: u32 = 0o600;
/// Owner only.
const DIR_MODE: u32 = 0o700;

/// Creates `path` (or truncates it) for writing, readable by its owner alone. A file that
/// already existed is made 0600 too.
pub fn create(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Opens `path` for appending (created when missing), readable by its owner alone: a log that
/// grows, such as the erasure log.
pub fn append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Makes an existing file (one another program wrote, such as `pg_dump`) readable by its
/// owner alone.
pub fn restrict(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}

/// Makes a directory Alice created for such files usable by its owner alone.
pub fn restrict_dir(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Write as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_files_become_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("export.json");
        create(&fresh).unwrap().write_all(b"{}").unwrap();
        assert_eq!(mode(&fresh), 0o600);

        let old = dir.path().join("old.json");
        std::fs::write(&old, "x").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        create(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"", "truncated");
    }
}
