//! Reading: a pool of kept read-only connections, and the statements that read events, stream
//! ends and idempotency records.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, config::DbConfig, params};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::heads::{End, Generation, Heads};
use super::{
    BUSY_TIMEOUT, EVENT_COLUMNS, MAX_READERS, lock, replay, run_blocking, storage, to_u64,
};
use crate::{
    AppendOutcome, Direction, IdempotencyKey, Position, RecordedEvent, StoreError, StoredEvent,
    StreamName, StreamRevision,
};

/// Read-only connections, opened on demand and kept for reuse, at most [`MAX_READERS`] at
/// once: more readers than that only wait their turn, where opening connections for them
/// would parse the schema and every statement anew and drop them again.
pub(super) struct ReadPool {
    path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    /// A reader's turn: every connection in use holds one.
    turns: Arc<Semaphore>,
    closed: AtomicBool,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            turns: Arc::new(Semaphore::new(MAX_READERS)),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `read` on a pooled connection on the blocking thread pool, once it is its turn.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(self);
        run_blocking(move || {
            let read = pool.with_connection(read);
            drop(turn);
            read
        })
        .await
    }

    pub(super) fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let pooled = lock(&self.idle).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => self.open_connection()?,
        };
        let result = read(&connection);
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_READERS && !self.closed.load(Ordering::Acquire) {
            idle.push(connection);
        }
        result
    }

    pub(super) fn open_connection(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(|error| {
            StoreError::Storage(format!("cannot open {}: {error}", self.path.display()))
        })?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
        // Without the query planner stability guarantee, SQLite (with STAT4, as bundled)
        // recompiles a kept statement whenever a value is bound to a parameter that could sway
        // its plan, such as `LIMIT ?`: every read paid a parse (a tenth of plgd's CPU). The
        // plans do not depend on the values here: there are no statistics (no `ANALYZE`).
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(storage)?;
        Ok(connection)
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.idle).clear();
    }
}

/// A forward read of a stream; one that reached the stream's end records it.
pub(super) fn read_forward(
    connection: &Connection,
    learning: Option<(Arc<Heads>, Generation)>,
    stream: &StreamName,
    from: i64,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let events = read_stream_page(connection, stream, Direction::Forward, from, max_count)?;
    if let Some((heads, generation)) = learning
        && events.len() < max_count
    {
        let end = events.last().map_or_else(
            || End::before(u64::try_from(from).unwrap_or(0)),
            |last| End::at(Some(last.revision)),
        );
        heads.learn(generation, stream, end);
    }
    Ok(events)
}

pub(super) fn read_stream_page(
    connection: &Connection,
    stream: &StreamName,
    direction: Direction,
    from: i64,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = match direction {
        Direction::Forward => READ_STREAM_FORWARD,
        Direction::Backward => {
            "WHERE stream = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT ?3"
        }
    };
    query_events(
        connection,
        sql,
        params![stream.as_str(), from, limit(max_count)],
    )
}

pub(super) fn read_all_page(
    connection: &Connection,
    direction: Direction,
    from: i64,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = match direction {
        Direction::Forward => READ_ALL_FORWARD,
        Direction::Backward => "WHERE position <= ?1 ORDER BY position DESC LIMIT ?2",
    };
    query_events(connection, sql, params![from, limit(max_count)])
}

pub(super) const READ_ALL_FORWARD: &str = "WHERE position >= ?1 ORDER BY position ASC LIMIT ?2";

pub(super) const READ_STREAM_FORWARD: &str =
    "WHERE stream = ?1 AND revision >= ?2 ORDER BY revision ASC LIMIT ?3";

pub(super) fn limit(max_count: usize) -> i64 {
    i64::try_from(max_count).unwrap_or(i64::MAX)
}

pub(super) fn query_events(
    connection: &Connection,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let stored = query_stored(connection, filter, params)?;
    Ok(stored.into_iter().map(RecordedEvent::from).collect())
}

pub(super) fn query_stored(
    connection: &Connection,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection
        .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events {filter}"))
        .map_err(storage)?;
    let mut rows = statement.query(params).map_err(storage)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        events.push(stored_event(row)?);
    }
    Ok(events)
}

pub(super) fn stored_event(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let position: i64 = column(row, 0)?;
    let corrupt = |what: &str, detail: &dyn fmt::Display| {
        StoreError::Corrupt(format!("event at position {position}: {what}: {detail}"))
    };
    let stream: String = column(row, 1)?;
    let id: String = column(row, 3)?;
    let schema_version: i64 = column(row, 5)?;
    let recorded_at: String = column(row, 8)?;
    Ok(StoredEvent {
        id: Uuid::parse_str(&id).map_err(|error| corrupt("bad event id", &error))?,
        stream: StreamName::new(stream).map_err(|error| corrupt("bad stream name", &error))?,
        revision: StreamRevision(to_u64(column(row, 2)?)?),
        position: Position(to_u64(position)?),
        event_type: column(row, 4)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|error| corrupt("bad schema version", &error))?,
        data: column(row, 6)?,
        metadata: column(row, 7)?,
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|error| corrupt("bad recorded_at", &error))?
            .with_timezone(&Utc),
        hash: column(row, 9)?,
    })
}

/// A column whose stored type does not match the schema means the file was tampered with.
pub(super) fn column<T: rusqlite::types::FromSql>(
    row: &Row<'_>,
    index: usize,
) -> Result<T, StoreError> {
    row.get(index).map_err(|error| match error {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(format!("stored event has a bad column: {error}"))
        }
        other => storage(other),
    })
}

pub(super) fn current_revision(
    connection: &Connection,
    stream: &StreamName,
) -> Result<Option<StreamRevision>, StoreError> {
    let revision: Option<i64> = connection
        .prepare_cached("SELECT MAX(revision) FROM events WHERE stream = ?1")
        .and_then(|mut statement| statement.query_row([stream.as_str()], |row| row.get(0)))
        .map_err(storage)?;
    revision
        .map(|revision| to_u64(revision).map(StreamRevision))
        .transpose()
}

/// The last revision of a stream and its hash, or `None` when the stream does not exist.
pub(super) fn stream_head(
    connection: &Connection,
    stream: &StreamName,
) -> Result<Option<(StreamRevision, String)>, StoreError> {
    let head: Option<(i64, String)> = connection
        .prepare_cached(
            "SELECT revision, hash FROM events WHERE stream = ?1 ORDER BY revision DESC LIMIT 1",
        )
        .and_then(|mut statement| {
            statement
                .query_row([stream.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(storage)?;
    head.map(|(revision, hash)| Ok((StreamRevision(to_u64(revision)?), hash)))
        .transpose()
}

/// The outcome recorded for `key`, as a retried append would answer.
pub(super) fn find_outcome(
    connection: &Connection,
    key: &IdempotencyKey,
) -> Result<Option<AppendOutcome>, StoreError> {
    load_idempotent_outcome(connection, &key.key)?
        .map(|(fingerprint, outcome)| replay(key, &fingerprint, outcome))
        .transpose()
}

pub(super) fn load_idempotent_outcome(
    connection: &Connection,
    key: &str,
) -> Result<Option<(String, AppendOutcome)>, StoreError> {
    let row = connection
        .prepare_cached(
            "SELECT fingerprint, stream, first_revision, revision, position \
             FROM idempotency WHERE key = ?1",
        )
        .and_then(|mut statement| {
            statement
                .query_row([key], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })
                .optional()
        })
        .map_err(storage)?;
    let Some((fingerprint, stream, first_revision, revision, position)) = row else {
        return Ok(None);
    };
    let outcome = stored_outcome(key, stream, first_revision, revision, position)?;
    Ok(Some((fingerprint, outcome)))
}

/// An idempotency row's outcome, from its columns `stream` to `position`.
pub(super) fn stored_outcome(
    key: &str,
    stream: String,
    first_revision: i64,
    revision: i64,
    position: i64,
) -> Result<AppendOutcome, StoreError> {
    let stream = StreamName::new(stream).map_err(|error| {
        StoreError::Corrupt(format!("idempotency key {key}: bad stream name: {error}"))
    })?;
    Ok(AppendOutcome {
        stream,
        first_revision: StreamRevision(to_u64(first_revision)?),
        revision: StreamRevision(to_u64(revision)?),
        position: Position(to_u64(position)?),
        replayed: false,
    })
}
