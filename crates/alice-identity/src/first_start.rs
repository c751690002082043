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
    let write_error = |source| FirstStartError::Write {
        path: key_file.to_owned(),
        source,
    };
    if let Some(dir) = key_file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    // Open the file first: a key that cannot be written must not be created.
    let mut file = owner_only_new_file(key_file).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            FirstStartError::KeyFileExists(key_file.to_owned())
        } else {
            write_error(source)
        }
    })?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alice_core::config::{AuthConfig, DatabaseConfig};

    async fn directory(dir: &Path) -> (alice_store::Store, Directory) {
        let database = DatabaseConfig {
            url: format!("sqlite://{}/alice.db", dir.display()),
            ..DatabaseConfig::default()
        };
        let store = alice_store::Store::open(&database).await.unwrap();
        let directory = Directory::new(store.identity(), &AuthConfig::default());
        (store, directory)
    }

    #[tokio::test]
    async fn the_first_admin_key_is_written_once_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let (store, directory) = directory(dir.path()).await;
        let file = dir.path().join("keys/admin.key");
        assert_eq!(
            create_first_admin(&directory, &file).await.unwrap(),
            Some(file.clone())
        );
        let key = std::fs::read_to_string(&file).unwrap();
        let caller = directory.authenticate_key(key.trim()).await.unwrap();
        assert_eq!(
            (caller.username.as_str(), caller.is_admin()),
            ("admin", true)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // With an admin in the database, nothing more is made.
        assert_eq!(create_first_admin(&directory, &file).await.unwrap(), None);
        store.close().await;
    }

    #[tokio::test]
    async fn a_key_file_left_from_another_database_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (store, directory) = directory(dir.path()).await;
        let file = dir.path().join("admin.key");
        std::fs::write(&file, "alice_old\n").unwrap();
        let error = create_first_admin(&directory, &file).await.unwrap_err();
        assert!(
            matches!(error, FirstStartError::KeyFileExists(_)),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "alice_old\n");
        assert!(
            !directory.has_admin().await.unwrap(),
            "no admin whose key nobody has"
        );
        store.close().await;
    }
}
