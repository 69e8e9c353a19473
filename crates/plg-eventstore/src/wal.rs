//! A write-ahead log kept short without checkpointing inside its writer's commits.
//!
//! SQLite's auto-checkpoint runs inside the commit that crosses its threshold: the WAL is
//! copied into the database file and synced before that commit returns, holding up the write
//! and everything waiting for it. So a checkpointer on a connection of its own copies the WAL
//! regularly instead, with PASSIVE checkpoints that wait for no one. But a PASSIVE checkpoint
//! copies only what was committed when it began, and SQLite starts the WAL afresh (writes it
//! again from its beginning) only when a write transaction begins on a WAL copied whole. A
//! writer that commits during every checkpoint therefore never sees the WAL copied whole, and
//! the WAL grows until the writer's auto-checkpoint (kept only as a far backstop,
//! [`BACKSTOP_PAGES`]) copies all of it inside one commit.
//!
//! [`WalCycle`] closes that gap. When a regular checkpoint has copied all it saw of a long WAL
//! ([`LONG_PAGES`]), the restart is due; the writer, between two of its transactions, copies
//! the few pages committed since, so its next transaction starts the WAL afresh. A reader
//! still holding a snapshot in the WAL, or another process's commit (a store opened
//! `Sharing::Shared`), can keep that from happening; the next regular checkpoint marks it due
//! again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rusqlite::Connection;

/// WAL pages at which the writer's own auto-checkpoint copies the WAL inside a commit:
/// reached only if the regular checkpoints fall behind.
pub const BACKSTOP_PAGES: i64 = 10_000;

/// WAL pages (SQLite's default auto-checkpoint) from which a WAL copied whole is started afresh.
pub const LONG_PAGES: i64 = 1_000;

/// What `PRAGMA wal_checkpoint` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Another checkpoint was running, or a RESTART or TRUNCATE could not finish.
    pub busy: bool,
    /// Pages in the WAL as the checkpoint saw it.
    pub frames: i64,
    /// Pages of it in the database file.
    pub copied: i64,
}

impl Checkpointed {
    /// Whether every page the checkpoint saw is in the database file.
    pub fn complete(&self) -> bool {
        !self.busy && self.copied == self.frames
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)` (PASSIVE, FULL, RESTART or TRUNCATE).
pub fn checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<Checkpointed> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpointed {
            busy: row.get::<_, i64>(0)? != 0,
            frames: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Sets the writer's auto-checkpoint to the far backstop: the regular checkpoints do the work.
pub fn configure_writer(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)
}

/// Hands the start of a fresh WAL from the regular checkpointer to the database's one writer.
#[derive(Debug, Clone, Default)]
pub struct WalCycle {
    restart_due: Arc<AtomicBool>,
}

impl WalCycle {
    /// The regular checkpointer's PASSIVE checkpoint, on its own connection: marks the restart
    /// due when it copied the whole of a long WAL.
    pub fn checkpoint(&self, connection: &Connection) -> rusqlite::Result<Checkpointed> {
        let checkpointed = checkpoint(connection, "PASSIVE")?;
        if checkpointed.complete() && checkpointed.frames >= LONG_PAGES {
            self.restart_due.store(true, Ordering::Release);
        }
        Ok(checkpointed)
    }

    /// The writer, between two transactions: when the restart is due, copies what was
    /// committed since the regular checkpoint, so that the next transaction starts the WAL
    /// afresh, and logs it under `database`. `None` when it was not due, or failed (logged:
    /// the next regular checkpoint marks it due again).
    pub fn restart_if_due(&self, connection: &Connection, database: &str) -> Option<Checkpointed> {
        if !self.restart_due.swap(false, Ordering::AcqRel) {
            return None;
        }
        let started = Instant::now();
        match checkpoint(connection, "PASSIVE") {
            Ok(checkpointed) => {
                tracing::debug!(
                    database,
                    busy = checkpointed.busy,
                    frames = checkpointed.frames,
                    copied = checkpointed.copied,
                    micros = started.elapsed().as_micros(),
                    "WAL copied for a fresh start, unless busy"
                );
                Some(checkpointed)
            }
            Err(error) => {
                tracing::warn!(database, %error, "checkpoint failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer and a checkpointer on a new WAL database, the writer with the backstop set.
    fn open() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("wal.db");
        let writer = Connection::open(&path).expect("opens");
        writer
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        configure_writer(&writer).expect("backstop");
        writer
            .execute_batch("CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
            .expect("table");
        let checkpointer = Connection::open(&path).expect("opens");
        (dir, writer, checkpointer)
    }

    /// Commits `rows` rows of about a page each, in one transaction.
    fn commit(writer: &Connection, rows: i64) {
        writer
            .execute(
                "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO rows (data) SELECT zeroblob(3000) FROM n",
                [rows],
            )
            .expect("committed");
    }

    /// Pages in the WAL now (a PASSIVE checkpoint reports them, copying what it can).
    fn wal_pages(connection: &Connection) -> i64 {
        checkpoint(connection, "PASSIVE")
            .expect("checkpoint")
            .frames
    }

    #[test]
    fn a_long_wal_copied_whole_but_for_a_commit_since_starts_afresh_after_the_writer_copies_it() {
        let (_dir, writer, checkpointer) = open();
        let cycle = WalCycle::default();
        commit(&writer, LONG_PAGES);
        // The writer's next transaction began before the regular checkpoint and commits after
        // it, as under load: the WAL is no longer copied whole, and SQLite alone would go on
        // appending to it.
        writer.execute_batch("BEGIN IMMEDIATE").expect("begun");
        commit(&writer, 1);
        let regular = cycle.checkpoint(&checkpointer).expect("checkpoint");
        assert!(
            regular.complete() && regular.frames >= LONG_PAGES,
            "{regular:?}"
        );
        writer.execute_batch("COMMIT").expect("committed");
        let rest = cycle.restart_if_due(&writer, "test");
        assert!(rest.is_some_and(|rest| rest.complete()), "{rest:?}");
        commit(&writer, 1);
        assert!(wal_pages(&checkpointer) < 10, "the WAL started afresh");
        // Due once per regular checkpoint, not again.
        assert_eq!(cycle.restart_if_due(&writer, "test"), None);
    }

    #[test]
    fn a_short_wal_is_not_restarted() {
        let (_dir, writer, checkpointer) = open();
        let cycle = WalCycle::default();
        commit(&writer, 1);
        assert!(
            cycle
                .checkpoint(&checkpointer)
                .expect("checkpoint")
                .complete()
        );
        assert_eq!(cycle.restart_if_due(&writer, "test"), None);
    }
}
