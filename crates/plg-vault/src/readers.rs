//! Reading keys without waiting for the writer's queue: a few connections of their own, opened
//! on demand and kept for reuse. In a rollback journal a reader still waits (SQLite's busy
//! handler, up to [`BUSY_TIMEOUT`]) while a commit holds the file's exclusive lock, which
//! lasts only the commit's own writes and syncs, never a queue of them.

use std::{
    path::{Path, PathBuf},
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
};

use rusqlite::{Connection, OpenFlags};

use crate::{BUSY_TIMEOUT, VaultError};

/// Read connections open at once; more readers wait their turn (key look-ups are short).
const MAX_READERS: usize = 4;

#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    state: Mutex<Pool>,
    returned: Condvar,
}

#[derive(Debug, Default)]
struct Pool {
    idle: Vec<Connection>,
    /// Connections in use or idle.
    open: usize,
}

impl ReadPool {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            state: Mutex::default(),
            returned: Condvar::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` on a pooled connection, once it is its turn.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, VaultError> {
        let connection = self.take()?;
        let result = read(&connection);
        self.give_back(connection);
        Ok(result?)
    }

    fn take(&self) -> Result<Connection, VaultError> {
        let mut pool = self.lock();
        loop {
            if let Some(connection) = pool.idle.pop() {
                return Ok(connection);
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                return self.open().inspect_err(|_| self.forget_one());
            }
            pool = self
                .returned
                .wait(pool)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Keeps the connection for the next reader, unless it follows the file into WAL mode
    /// (another tool switched it): kept open, it would hold the file in WAL and so keep the
    /// writer from switching it back before an erasure.
    fn give_back(&self, connection: Connection) {
        if in_rollback_journal(&connection) {
            self.lock().idle.push(connection);
            self.returned.notify_one();
        } else {
            drop(connection);
            self.forget_one();
        }
    }

    fn forget_one(&self) {
        self.lock().open -= 1;
        self.returned.notify_one();
    }

    fn open(&self) -> Result<Connection, VaultError> {
        // Read-write, so that a reader can roll back the hot journal a crash left; the
        // pragma keeps its statements from writing.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", "ON")?;
        Ok(connection)
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn in_rollback_journal(connection: &Connection) -> bool {
    connection
        .prepare_cached("PRAGMA journal_mode")
        .and_then(|mut statement| statement.query_row([], |row| row.get::<_, String>(0)))
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("delete"))
}
