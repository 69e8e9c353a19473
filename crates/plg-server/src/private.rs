//! Data and backup directories hold the keys that seal personal data, so only their owner may
//! read them: directories are created 0700 and their files set to 0600, whatever the umask.
//! SQLite gives a database's journal and WAL the mode of the database file, so restricting
//! the databases covers the files SQLite creates beside them later.

use std::{io, path::Path};

/// Creates `dir` and any missing parent, readable by the owner alone.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes every file directly in `dir` readable and writable by the owner alone.
pub(crate) fn restrict_files(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            restrict_file(&entry.path())?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes `file` readable and writable by the owner alone.
pub(crate) fn restrict_file(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Warns when other users may enter `dir`: created by an earlier build, or by hand. It is
/// left as it is, since the operator may have meant it (a backup user's group, say).
pub(crate) fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir) {
            Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                "data directory is accessible to other users, who may read the keys in it: chmod 700 it"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot read the data directory's permissions")
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}
