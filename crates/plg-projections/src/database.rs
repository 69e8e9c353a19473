use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{Projection, ProjectionError};

/// The research view's file inside the data directory.
pub const RESEARCH_DB_FILE: &str = "research.db";

const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS projection_checkpoints (
    projection TEXT PRIMARY KEY,
    position   INTEGER NOT NULL
) STRICT;";

/// The research view's SQLite database: the projections' tables and their checkpoints.
#[derive(Debug, Clone)]
pub struct ResearchDb {
    path: PathBuf,
}

impl ResearchDb {
    /// Creates the file, the checkpoint table and every projection's tables if missing.
    pub fn open(
        path: impl AsRef<Path>,
        projections: &[&dyn Projection],
    ) -> Result<Self, ProjectionError> {
        let db = Self {
            path: path.as_ref().to_owned(),
        };
        let connection = db.write_connection()?;
        connection.execute_batch(CHECKPOINTS)?;
        for projection in projections {
            connection.execute_batch(projection.schema())?;
            connection.execute(
                "INSERT OR IGNORE INTO projection_checkpoints (projection, position) VALUES (?1, 0)",
                [projection.name()],
            )?;
        }
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection for a projection's writes. Rows and checkpoint commit together, so the
    /// view is consistent after any crash; `synchronous=NORMAL` may lose the last commits on
    /// power loss, which the projection then simply applies again.
    pub fn write_connection(&self) -> Result<Connection, ProjectionError> {
        let connection = Connection::open(&self.path)?;
        connection.pragma_update(None, "journal_mode", "wal")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(connection)
    }

    /// A read-only connection for queries.
    pub fn read_connection(&self) -> Result<Connection, ProjectionError> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(connection)
    }

    /// Drops a projection's tables and checkpoint and creates them anew, empty.
    pub fn reset(&self, projection: &dyn Projection) -> Result<(), ProjectionError> {
        let mut connection = self.write_connection()?;
        let transaction = connection.transaction()?;
        for table in projection.tables() {
            transaction.execute_batch(&format!("DROP TABLE IF EXISTS {table};"))?;
        }
        transaction.execute_batch(projection.schema())?;
        transaction.execute(
            "INSERT INTO projection_checkpoints (projection, position) VALUES (?1, 0)
             ON CONFLICT (projection) DO UPDATE SET position = 0",
            [projection.name()],
        )?;
        transaction.commit()?;
        Ok(())
    }
}

/// The position up to which the whole view is current: the lowest checkpoint.
pub fn view_position(connection: &Connection) -> Result<u64, ProjectionError> {
    let position: Option<i64> = connection.query_row(
        "SELECT MIN(position) FROM projection_checkpoints",
        [],
        |row| row.get(0),
    )?;
    Ok(position.map_or(0, |position| u64::try_from(position).unwrap_or(0)))
}
