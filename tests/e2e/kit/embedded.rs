//! The test kit with plgd on its embedded store, and where that store keeps what the tests
//! read behind plgd's back.

use std::path::{Path, PathBuf};

pub use plg_testkit::*;

/// The file the event log is kept in, for a test server's data directory.
pub fn event_log_file(data_dir: &Path) -> PathBuf {
    data_dir.join("events.db")
}

/// Every request fingerprint the store keeps, as someone opening its file would read them.
pub fn stored_fingerprints(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let file = rusqlite::Connection::open_with_flags(
        event_log_file(data_dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut statement = file.prepare("SELECT fingerprint FROM idempotency")?;
    let fingerprints = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fingerprints)
}
