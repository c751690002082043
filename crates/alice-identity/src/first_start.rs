//! Secure by default, easy on one machine: on the first start with no admin (a new database,
//! or one from before Alice had identities, whose users were only names), Alice creates user
//! `admin` with a key and writes the key to `auth.admin_key_file`, readable by its owner only.
//! The path is logged; the key never is.

use crate::caller::Role;
use crate::directory::{Directory, IdentityError, KeyRequest};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the first admin could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FirstStartError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(
        "the database has no admin, but {0} exists (from another database?); move it away so \
         a new admin key can be written there, or create an admin with `alice user add NAME --admin`"
    )]
    KeyFileExists(PathBuf),
    #[error(
        "cannot write the admin key to {path}: {source} (set auth.admin_key_file to a writable path)"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// When the database has no admin: creates `admin` with a key written to `key_file` (mode
/// 0600, never overwriting a file), and returns the path. Does nothing when an admin exists.
pub async fn create_first_admin(
    directory: &Directory,
    key_file: &Path,
) -> Result<Option<PathBuf>, FirstStartError> {
    if directory.has_admin().await? {
        return Ok(None);
    }
    if key_file.exists() {
        return Err(FirstStartError::KeyFileExists(key_file.to_owned()));
    }
    let write_error = |source| FirstStartError::Write {
        path: key_file.to_owned(),
        source,
    };
    if let Some(dir) = key_file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    // Open the file first: a key that cannot be written must not be created.
    let mut file = owner_only_new_file(key_file).map_err(write_error)?;
    let created = async {
        directory
            .add_user("admin", Some("Administrator"), Role::Admin)
            .await?;
        directory
            .create_key(
                "admin",
                KeyRequest {
                    label: "created on first start".to_owned(),
                    ..KeyRequest::default()
                },
            )
            .await
    }
    .await;
    match created {
        Ok(issued) => {
            writeln!(file, "{}", issued.key)
                .and_then(|()| file.sync_all())
                .map_err(write_error)?;
            Ok(Some(key_file.to_owned()))
        }
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(key_file);
            Err(error.into())
        }
    }
}

/// Creates a file only its owner can read and write; fails when it exists.
pub fn owner_only_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
