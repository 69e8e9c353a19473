//! The test kit with plgd on the KurrentDB backend, pointed at a second plgd's KurrentDB
//! listener, and where that node keeps what the tests read behind plgd's back: its own
//! embedded store, which holds the backend's events (payloads as plgd stored them, metadata
//! in the backend's envelope) and request records.

use std::path::{Path, PathBuf};

pub use plg_testkit::*;

pub type TestServer = Server<OnKurrentDb>;

/// The file the event log is kept in, for a test server's data directory: the KurrentDB
/// node's.
pub fn event_log_file(data_dir: &Path) -> PathBuf {
    data_dir.join(KURRENTDB_BACKING_DIR).join("events.db")
}

/// Every request fingerprint the store keeps, as someone opening the node's file would read
/// them: each attempt in a request record names its request's fingerprint.
pub fn stored_fingerprints(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let file = rusqlite::Connection::open_with_flags(
        event_log_file(data_dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut statement = file.prepare(
        "SELECT json_extract(data, '$.fingerprint') FROM events \
         WHERE event_type = 'plg-request-attempt'",
    )?;
    let fingerprints = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fingerprints)
}
