//! Online backup of what cannot be rebuilt (the event store and the vault), and restore.
//!
//! `events.db` is copied before `keys.db`, each in one consistent read, while plgd may go on
//! writing. So every person in the copied log has their key in the copied vault, unless the
//! person was erased in between: then the key is gone from the copy too, and the person stays
//! erased after a restore. The other order would copy people registered in between without
//! their keys, their names lost. The research view is not copied: a restored plgd rebuilds it
//! from the log.

use std::path::{Path, PathBuf};

use plg_eventstore::{StoreError, sqlite::copy_database};
use plg_vault::VAULT_FILE;

use crate::{
    app::EVENT_STORE_FILE,
    lock::{Claim, DataDirLock, LockError},
};

/// In the order they are copied.
const FILES: [&str; 2] = [EVENT_STORE_FILE, VAULT_FILE];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} holds no event store and key store to copy")]
    NothingToCopy(PathBuf),
    #[error("{0} is not empty: back up and restore only into an empty directory")]
    NotEmpty(PathBuf),
    #[error("cannot use directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Copy(#[from] StoreError),
    #[error(transparent)]
    Locked(#[from] LockError),
}

/// Copies the event store and then the vault of `data_dir` into `to`, a new or empty
/// directory, while the data directory may be in use.
pub fn backup(data_dir: &Path, to: &Path) -> Result<(), BackupError> {
    copy_files(data_dir, to)
}

/// Copies a backup's event store and vault into `data_dir`, a new or empty directory, which
/// it holds alone meanwhile.
pub fn restore(from: &Path, data_dir: &Path) -> Result<(), BackupError> {
    prepare_empty(data_dir)?;
    let _lock = DataDirLock::acquire(data_dir, Claim::Whole)?;
    copy_files(from, data_dir)
}

fn copy_files(from: &Path, to: &Path) -> Result<(), BackupError> {
    if !FILES.iter().all(|file| from.join(file).is_file()) {
        return Err(BackupError::NothingToCopy(from.to_owned()));
    }
    prepare_empty(to)?;
    for file in FILES {
        copy_database(&from.join(file), &to.join(file))?;
    }
    Ok(())
}

/// Creates `dir` if missing; refuses one with anything in it but lock files.
fn prepare_empty(dir: &Path) -> Result<(), BackupError> {
    let io = |source| BackupError::Directory {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        if !name.to_string_lossy().ends_with(".lock") {
            return Err(BackupError::NotEmpty(dir.to_owned()));
        }
    }
    Ok(())
}
