use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use plg_eventstore::Log;

use crate::{Projection, ProjectionError};

/// The research view's file inside the data directory.
pub const RESEARCH_DB_FILE: &str = "research.db";

const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS projection_checkpoints (
    projection TEXT PRIMARY KEY,
    position   INTEGER NOT NULL
) STRICT;";

/// Statements kept prepared per write connection: more than all projections use.
const STATEMENT_CACHE: usize = 64;

/// A rebuild's page cache, in KiB (negative: SQLite's unit for a size in KiB).
const STAGING_CACHE_KIB: i64 = -65_536;

/// What each projection's tables were built with: its schema text and version. A build whose
/// projection differs finds out on open and rebuilds that projection from the log.
const SCHEMAS: &str = "CREATE TABLE IF NOT EXISTS projection_schemas (
    projection TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    schema     TEXT NOT NULL
) STRICT;";

/// The log the checkpoints count in: one row.
const FOLLOWED_LOG: &str = "CREATE TABLE IF NOT EXISTS followed_log (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    log TEXT NOT NULL
) STRICT;";

/// The research view's SQLite database: the projections' tables and their checkpoints.
#[derive(Debug, Clone)]
pub struct ResearchDb {
    path: PathBuf,
}

impl ResearchDb {
    /// Creates the file, the checkpoint table and every projection's tables if missing. When
    /// any projection's tables were built with another schema or version (an upgrade, or a
    /// file from before schemas were recorded), every projection is reset: its tables are
    /// dropped and created anew and its checkpoint goes back to 0, so the view rebuilds itself
    /// from the log as it follows it. All of them, not only the one that changed: the queries
    /// join projections (the release rule compares the scans' last change with the registry's
    /// release), and one projection replaying behind the others would show a school-wave as
    /// released with only part of its respondents, a cell never shown before, whose
    /// difference with the whole one singles a respondent out. Reset together, the
    /// projections advance through the log together, through states the view had before.
    ///
    /// This opens a view of the embedded store's log; [`ResearchDb::open_following`] names
    /// the log.
    pub fn open(
        path: impl AsRef<Path>,
        projections: &[&dyn Projection],
    ) -> Result<Self, ProjectionError> {
        Self::open_following(path, projections, Log::Embedded)
    }

    /// Opens the view as [`ResearchDb::open`] does, for following `log`. A view whose
    /// checkpoints were taken in another log (plgd moved between the embedded store and
    /// KurrentDB, or a file copied from elsewhere) is reset as after a schema change: its
    /// positions would skip events of this log or apply them twice. A view from before the
    /// log was recorded followed the embedded store's.
    pub fn open_following(
        path: impl AsRef<Path>,
        projections: &[&dyn Projection],
        log: Log,
    ) -> Result<Self, ProjectionError> {
        let db = Self {
            path: path.as_ref().to_owned(),
        };
        let mut connection = db.write_connection()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction.execute_batch(CHECKPOINTS)?;
        transaction.execute_batch(SCHEMAS)?;
        transaction.execute_batch(FOLLOWED_LOG)?;
        let followed: Option<String> = transaction
            .query_row("SELECT log FROM followed_log", [], |row| row.get(0))
            .optional()?;
        let other_log = followed
            .as_deref()
            .is_some_and(|followed| followed != log.as_str())
            || (followed.is_none() && log != Log::Embedded);
        let mut changed = Vec::new();
        for projection in projections {
            let built_with: Option<(i64, String)> = transaction
                .query_row(
                    "SELECT version, schema FROM projection_schemas WHERE projection = ?1",
                    [projection.name()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let current = (
                i64::from(projection.version()),
                projection.schema().to_owned(),
            );
            if built_with.as_ref() != Some(&current) {
                changed.push(projection.name());
            }
        }
        if !changed.is_empty() || other_log {
            let built: Option<i64> = transaction.query_row(
                "SELECT MAX(position) FROM projection_checkpoints",
                [],
                |row| row.get(0),
            )?;
            if built.is_some_and(|position| position > 0) {
                tracing::warn!(
                    changed = ?changed,
                    followed = followed.as_deref().unwrap_or(Log::Embedded.as_str()),
                    log = log.as_str(),
                    "projection schemas or the log changed: rebuilding the research view from the log"
                );
            }
            for projection in projections {
                reset(&transaction, *projection)?;
            }
        }
        transaction.execute(
            "INSERT INTO followed_log (id, log) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET log = excluded.log",
            [log.as_str()],
        )?;
        transaction.commit()?;
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
        // Room for every projection's statements, so none is parsed again per event.
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    /// A write connection to a rebuild's staging copy, which is nobody's view until it is
    /// renamed over the view. A crash before the rename leaves a copy that the next rebuild
    /// deletes, whatever state it is in, and a rebuild that fails deletes its copy, so the
    /// copy needs no crash safety and no rollback: its commits are not synced
    /// (`synchronous=OFF`), it keeps no rollback journal (`journal_mode=OFF`: no page is
    /// copied before it is changed), and the connection holds the file's lock from its first
    /// transaction to its close (`locking_mode=EXCLUSIVE`: the page cache is never checked
    /// against the file between transactions). The rebuild syncs the whole file once before
    /// renaming it.
    pub(crate) fn staging_connection(&self) -> Result<Connection, ProjectionError> {
        let connection = self.write_connection()?;
        connection.pragma_update(None, "synchronous", "OFF")?;
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "off", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("off") {
            return Err(ProjectionError::Io(std::io::Error::other(format!(
                "the rebuild's copy stays in {mode} mode: another connection holds it"
            ))));
        }
        connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        // The tables' pages stay in memory for the rebuild, not only the last 2 MiB of them.
        connection.pragma_update(None, "cache_size", STAGING_CACHE_KIB)?;
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
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        reset(&transaction, projection)?;
        transaction.commit()?;
        Ok(())
    }
}

/// Drops a projection's tables, creates them from its current schema, records that schema and
/// sets its checkpoint to 0.
fn reset(
    transaction: &Transaction<'_>,
    projection: &dyn Projection,
) -> Result<(), ProjectionError> {
    for table in projection.tables() {
        transaction.execute_batch(&format!("DROP TABLE IF EXISTS {table};"))?;
    }
    transaction.execute_batch(projection.schema())?;
    transaction.execute(
        "INSERT INTO projection_checkpoints (projection, position) VALUES (?1, 0)
         ON CONFLICT (projection) DO UPDATE SET position = 0",
        [projection.name()],
    )?;
    transaction.execute(
        "INSERT INTO projection_schemas (projection, version, schema) VALUES (?1, ?2, ?3)
         ON CONFLICT (projection) DO UPDATE SET version = ?2, schema = ?3",
        (
            projection.name(),
            i64::from(projection.version()),
            projection.schema(),
        ),
    )?;
    Ok(())
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
