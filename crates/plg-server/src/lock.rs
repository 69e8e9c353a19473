//! A data directory has one owner: OS file locks, taken before anything is opened and released
//! by the OS when the process ends, however it ends.
//!
//! Two lock files sit in the data directory. `store.lock` is held shared by each
//! single-service binary (they may share one store) and exclusively by `plgd` and by the
//! commands that must have the directory to themselves. `view.lock` is held exclusively by
//! the research view's one owner (`plg-research`, or `plgd rebuild`); `plgd` needs no view
//! lock, as its exclusive store lock already keeps every other process out.

use std::{
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
};

const STORE_LOCK_FILE: &str = "store.lock";
const VIEW_LOCK_FILE: &str = "view.lock";

/// What a process claims in a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The store, shared with other single-service binaries.
    Store,
    /// The store shared, and the research view alone: `plg-research` and `plgd rebuild`.
    View,
    /// Everything, alone: `plgd`, `issue-operator-key`, `restore`.
    Whole,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data directory {0} is in use by another process (plgd, or a PLG Ledger service): stop it first"
    )]
    StoreInUse(PathBuf),
    #[error(
        "the research view in {0} is owned by another process (plgd or plg-research): stop it first"
    )]
    ViewInUse(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for as long as the claim lasts; dropping it releases the locks.
#[derive(Debug)]
pub struct DataDirLock {
    _files: Vec<File>,
}

impl DataDirLock {
    /// Takes `claim` on `data_dir` (which must exist) at once, or refuses: never waits.
    pub fn acquire(data_dir: &Path, claim: Claim) -> Result<Self, LockError> {
        let store = lock_file(data_dir, STORE_LOCK_FILE)?;
        if !try_lock(&store, claim != Claim::Whole, data_dir)? {
            return Err(LockError::StoreInUse(data_dir.to_owned()));
        }
        let mut files = vec![store];
        if claim == Claim::View {
            let view = lock_file(data_dir, VIEW_LOCK_FILE)?;
            if !try_lock(&view, false, data_dir)? {
                return Err(LockError::ViewInUse(data_dir.to_owned()));
            }
            files.push(view);
        }
        Ok(Self { _files: files })
    }
}

fn lock_file(data_dir: &Path, name: &str) -> Result<File, LockError> {
    let path = data_dir.join(name);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // Like everything else in a data directory (see `private`).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .map_err(|source| LockError::Io { path, source })
}

/// Whether the lock was taken; `false` when another process holds it.
fn try_lock(file: &File, shared: bool, data_dir: &Path) -> Result<bool, LockError> {
    let locked = if shared {
        file.try_lock_shared()
    } else {
        file.try_lock()
    };
    match locked {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(source)) => Err(LockError::Io {
            path: data_dir.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_exclude_each_other_as_documented() -> Result<(), LockError> {
        let temporary = tempfile::tempdir().map_err(|source| LockError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let dir = temporary.path();
        {
            let _scan = DataDirLock::acquire(dir, Claim::Store)?;
            let _session = DataDirLock::acquire(dir, Claim::Store)?;
            let _research = DataDirLock::acquire(dir, Claim::View)?;
            assert!(matches!(
                DataDirLock::acquire(dir, Claim::View),
                Err(LockError::ViewInUse(_))
            ));
            assert!(matches!(
                DataDirLock::acquire(dir, Claim::Whole),
                Err(LockError::StoreInUse(_))
            ));
        }
        {
            let _plgd = DataDirLock::acquire(dir, Claim::Whole)?;
            for claim in [Claim::Store, Claim::View, Claim::Whole] {
                assert!(matches!(
                    DataDirLock::acquire(dir, claim),
                    Err(LockError::StoreInUse(_))
                ));
            }
        }
        // Released on drop.
        drop(DataDirLock::acquire(dir, Claim::Whole)?);
        Ok(())
    }
}
