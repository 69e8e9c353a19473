//! Online backup of what cannot be rebuilt (the event store and the vault), and restore.
//!
//! `events.db` is copied before `keys.db`, each in one consistent read, while plgd may go on
//! writing. So every person in the copied log has their key in the copied vault, unless the
//! person was erased in between: then the key is gone from the copy too, and the person stays
//! erased after a restore. The other order would copy people registered in between without
//! their keys, their names lost. The research view is not copied: a restored plgd rebuilds it
//! from the log.
//!
//! A backup is complete only with its manifest ([`MANIFEST_FILE`]: each file's size and
//! SHA-256, and the last log position copied), written last. The destination is locked like
//! a data directory meanwhile, so neither a second backup nor a plgd can start there; the
//! files are copied into a staging directory inside it, checked (`PRAGMA quick_check`, and
//! every person in the log has a key or an erasure record), synced, and only then moved into
//! place. A failed or interrupted backup therefore leaves no manifest, and restore refuses it.
//!
//! Restore checks the manifest, the digests and the same invariants before it writes
//! anything, reads the backup without SQLite writing to it (`immutable=1`: a stray journal is
//! never rolled back into it), and moves the vault into place before the log, so an
//! interrupted restore never leaves a log without its keys.

use std::{
    fs::File,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use plg_eventstore::{StoreError, sqlite::copy_database};
use plg_vault::VAULT_FILE;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    app::EVENT_STORE_FILE,
    lock::{Claim, DataDirLock, LockError},
    private,
};

/// The file that makes a backup directory a complete backup.
pub const MANIFEST_FILE: &str = "manifest.json";

/// In the order they are copied.
const FILES: [&str; 2] = [EVENT_STORE_FILE, VAULT_FILE];

const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} holds no event store and key store to copy")]
    NothingToCopy(PathBuf),
    #[error("{0} is not empty: back up and restore only into an empty directory")]
    NotEmpty(PathBuf),
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Copy(#[from] StoreError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(
        "{0} has no {MANIFEST_FILE}, so it is not a complete backup (a failed or interrupted backup leaves none): refusing to restore it"
    )]
    NoManifest(PathBuf),
    #[error("{path} is damaged: {problem}: refusing to use it")]
    Damaged { path: PathBuf, problem: String },
}

/// What a complete backup holds, written last into it as [`MANIFEST_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The last log position in the copied event store.
    pub position: u64,
    pub files: Vec<FileDigest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Copies the event store and then the vault of `data_dir` into `to`, a new or empty
/// directory, while the data directory may be in use; returns the manifest written.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Manifest, BackupError> {
    if !FILES.iter().all(|file| data_dir.join(file).is_file()) {
        return Err(BackupError::NothingToCopy(data_dir.to_owned()));
    }
    prepare_empty(to)?;
    let _lock = DataDirLock::acquire(to, Claim::Whole)?;
    // Removed with whatever is left in it if the backup fails.
    let staging = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(to)
        .map_err(io_error(to))?;
    for file in FILES {
        copy_database(&data_dir.join(file), &staging.path().join(file))?;
    }
    private::restrict_files(staging.path()).map_err(io_error(staging.path()))?;
    let position = check_pair(staging.path())?;
    let files = FILES
        .iter()
        .map(|file| digest(&staging.path().join(file), file))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        position,
        files,
    };
    for file in FILES {
        rename(&staging.path().join(file), &to.join(file))?;
    }
    let written = staging.path().join(MANIFEST_FILE);
    write_manifest(&written, &manifest)?;
    rename(&written, &to.join(MANIFEST_FILE))?;
    sync_dir(to)?;
    Ok(manifest)
}

/// Copies a complete backup's event store and vault into `data_dir`, a new or empty
/// directory, which it holds alone meanwhile; returns the backup's manifest. The backup is
/// only read.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(from)?;
    for file in FILES {
        let expected = listed(from, &manifest, file)?;
        if digest(&from.join(file), file)? != *expected {
            return Err(damaged(from, format!("{file} does not match the manifest")));
        }
    }
    let position = check_pair(from)?;
    if position != manifest.position {
        return Err(damaged(
            from,
            format!(
                "its log ends at position {position}, the manifest says {}",
                manifest.position
            ),
        ));
    }
    prepare_empty(data_dir)?;
    let _lock = DataDirLock::acquire(data_dir, Claim::Whole)?;
    // The vault first: a restore cut short leaves no log whose keys are missing.
    for file in FILES.into_iter().rev() {
        let partial = data_dir.join(format!("{file}.partial"));
        std::fs::copy(from.join(file), &partial).map_err(io_error(&partial))?;
        private::restrict_file(&partial).map_err(io_error(&partial))?;
        if digest(&partial, file)? != *listed(from, &manifest, file)? {
            return Err(damaged(
                &partial,
                "the copy differs from the backup".to_owned(),
            ));
        }
        rename(&partial, &data_dir.join(file))?;
    }
    sync_dir(data_dir)?;
    Ok(manifest)
}

/// Creates `dir` (owner only) if missing; refuses one with anything in it but lock files.
fn prepare_empty(dir: &Path) -> Result<(), BackupError> {
    private::create_dir(dir).map_err(io_error(dir))?;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let name = entry.map_err(io_error(dir))?.file_name();
        if !name.to_string_lossy().ends_with(".lock") {
            return Err(BackupError::NotEmpty(dir.to_owned()));
        }
    }
    Ok(())
}

fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::NoManifest(from.to_owned()));
        }
        read => read.map_err(io_error(&path))?,
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|error| damaged(&path, format!("unreadable manifest: {error}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(damaged(
            &path,
            format!("unknown manifest format {}", manifest.format),
        ));
    }
    Ok(manifest)
}

fn listed<'a>(
    from: &Path,
    manifest: &'a Manifest,
    file: &str,
) -> Result<&'a FileDigest, BackupError> {
    manifest
        .files
        .iter()
        .find(|entry| entry.name == file)
        .ok_or_else(|| damaged(from, format!("the manifest does not list {file}")))
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let text = serde_json::to_string_pretty(manifest)
        .map_err(|error| io_error(path)(io::Error::other(error)))?;
    let write = || -> io::Result<()> {
        let mut file = File::create(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write().map_err(io_error(path))?;
    private::restrict_file(path).map_err(io_error(path))
}

/// The size and SHA-256 of `path`, once it is on disk.
fn digest(path: &Path, name: &str) -> Result<FileDigest, BackupError> {
    let read = || -> io::Result<FileDigest> {
        let mut file = File::open(path)?;
        file.sync_all()?;
        let (mut hasher, mut size, mut buffer) = (Sha256::new(), 0u64, vec![0; 64 * 1024]);
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            size += read as u64;
        }
        Ok(FileDigest {
            name: name.to_owned(),
            size,
            sha256: format!("{:x}", hasher.finalize()),
        })
    };
    match read() {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err(damaged(path, "the file is missing".to_owned()))
        }
        read => read.map_err(io_error(path)),
    }
}

/// Checks the copies in `dir` without writing to them, and returns the last log position:
/// both files pass `quick_check`, and every person in the log has a key or an erasure record
/// in the vault, as the copying order guarantees. An empty or stale vault fails here.
fn check_pair(dir: &Path) -> Result<u64, BackupError> {
    let events_path = dir.join(EVENT_STORE_FILE);
    let keys_path = dir.join(VAULT_FILE);
    let events = open_immutable(&events_path)?;
    let keys = open_immutable(&keys_path)?;
    quick_check(&events, &events_path)?;
    quick_check(&keys, &keys_path)?;
    let sql = |path: &Path| {
        let path = path.to_owned();
        move |error: rusqlite::Error| damaged(&path, error.to_string())
    };
    let position: i64 = events
        .query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| {
            row.get(0)
        })
        .map_err(sql(&events_path))?;
    // A person's personal data is sealed with the key named after their stream.
    let people: Vec<String> = events
        .prepare(
            "SELECT stream FROM events \
             WHERE stream >= 'person-' AND stream < 'person.' AND revision = 0",
        )
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(sql(&events_path))?;
    let mut known = keys
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM subject_keys WHERE subject = ?1) \
             OR EXISTS (SELECT 1 FROM erased_subjects WHERE subject = ?1)",
        )
        .map_err(sql(&keys_path))?;
    let mut missing = Vec::new();
    for person in &people {
        let found: bool = known
            .query_row([person], |row| row.get(0))
            .map_err(sql(&keys_path))?;
        if !found {
            missing.push(person.as_str());
        }
    }
    if let Some(first) = missing.first() {
        return Err(damaged(
            &keys_path,
            format!(
                "{} of {} people in the log have neither a key nor an erasure record (first: \
                 {first}), so their names would read as erased",
                missing.len(),
                people.len()
            ),
        ));
    }
    u64::try_from(position).map_err(|_| damaged(&events_path, format!("position {position}")))
}

/// Opens a database file read-only, telling SQLite it cannot change: it then takes no lock
/// and neither reads nor rolls back a journal or WAL beside it.
fn open_immutable(path: &Path) -> Result<Connection, BackupError> {
    let Some(text) = path.to_str() else {
        return Err(damaged(path, "the path is not valid utf-8".to_owned()));
    };
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    Connection::open_with_flags(
        format!("file:{escaped}?immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|error| damaged(path, format!("cannot open it: {error}")))
}

fn quick_check(connection: &Connection, path: &Path) -> Result<(), BackupError> {
    let result: String = connection
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|error| damaged(path, format!("quick_check failed: {error}")))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(damaged(path, format!("quick_check: {result}")))
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::rename(from, to).map_err(io_error(to))
}

/// Makes the renames into `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { path, source }
}

fn damaged(path: &Path, problem: String) -> BackupError {
    BackupError::Damaged {
        path: path.to_owned(),
        problem,
    }
}
