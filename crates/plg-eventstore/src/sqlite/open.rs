//! Opening: the writer's connection, the schema and its migrations, the hash chain added to
//! a file of the first schema version.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::read::stored_event;
use super::{
    BUSY_TIMEOUT, EVENTS_TABLE, IDEMPOTENCY_TABLE, SCHEMA_VERSION, storage, to_i64, to_u64,
};
use crate::{Position, RecordedEvent, StoreError, StreamName, chain, wal};

pub(super) fn open_writer_connection(path: &Path) -> Result<(Connection, Position), StoreError> {
    let mut connection = Connection::open(path)
        .map_err(|error| StoreError::Storage(format!("cannot open {}: {error}", path.display())))?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    let journal_mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(storage)?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Storage(format!(
            "cannot switch {} to wal mode (journal mode is {journal_mode})",
            path.display()
        )));
    }
    // FULL: a commit is on disk (the WAL is synced) before the writer answers.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(storage)?;
    wal::configure_writer(&connection).map_err(storage)?;
    migrate(&mut connection)?;
    let last_position = last_position(&connection)?;
    Ok((connection, last_position))
}

pub(super) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    // IMMEDIATE: processes opening a new file at the same moment create the schema in turn.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage)?;
    let version: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(storage)?;
    match version {
        0 => {
            transaction
                .execute_batch(EVENTS_TABLE)
                .and_then(|()| transaction.execute_batch(IDEMPOTENCY_TABLE))
                .map_err(storage)?;
            tracing::info!(
                schema_version = SCHEMA_VERSION,
                "event store schema created"
            );
        }
        1 => {
            // A file that already has hashes was stamped back to 1 by hand: rehashing it would
            // approve every edit made since.
            let hashed: bool = transaction
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM pragma_table_info('events') WHERE name = 'hash')",
                    [],
                    |row| row.get(0),
                )
                .map_err(storage)?;
            if hashed {
                return Err(StoreError::Corrupt(
                    "schema version 1 but the events already carry hashes: the version was set \
                     back by hand, and migrating would rehash (and so approve) every stored \
                     event; restore events.db from a backup"
                        .to_owned(),
                ));
            }
            let backfilled = add_hash_chain(&transaction)?;
            tracing::info!(
                from = version,
                to = SCHEMA_VERSION,
                backfilled,
                "event store schema migrated: hash chain added"
            );
        }
        // Up to date: nothing to write.
        SCHEMA_VERSION => return transaction.commit().map_err(storage),
        newer if newer > SCHEMA_VERSION => {
            return Err(StoreError::Storage(format!(
                "database schema version {newer} is newer than this build supports \
                 ({SCHEMA_VERSION})"
            )));
        }
        unknown => {
            return Err(StoreError::Storage(format!(
                "unknown database schema version {unknown}"
            )));
        }
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(storage)?;
    transaction.commit().map_err(storage)
}

/// Version 1 to 2: recreates `events` with the `hash` column, copying every row unchanged
/// and computing its hash, stream by stream in revision order. Runs inside the caller's
/// transaction. Returns how many events were hashed.
pub(super) fn add_hash_chain(transaction: &Transaction<'_>) -> Result<u64, StoreError> {
    // The AUTOINCREMENT counter, which can be past the last position; recreating the table
    // resets it to the highest position copied.
    let sequence: Option<i64> = transaction
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    transaction
        .execute_batch("ALTER TABLE events RENAME TO events_v1")
        .and_then(|()| transaction.execute_batch(EVENTS_TABLE))
        .map_err(storage)?;

    let count = {
        // The placeholder '' fills the `hash` column `decode_event` expects.
        let mut select = transaction
            .prepare(
                "SELECT position, stream, revision, event_id, event_type, schema_version, \
                 data, metadata, recorded_at, '' FROM events_v1 ORDER BY stream, revision",
            )
            .map_err(storage)?;
        // Copied in SQL, so that the stored text stays byte for byte what it was.
        let mut copy = transaction
            .prepare(
                "INSERT INTO events (position, stream, revision, event_id, event_type, \
                 schema_version, data, metadata, recorded_at, hash) \
                 SELECT position, stream, revision, event_id, event_type, schema_version, \
                 data, metadata, recorded_at, ?2 FROM events_v1 WHERE position = ?1",
            )
            .map_err(storage)?;
        let mut rows = select.query([]).map_err(storage)?;
        let mut previous: Option<(StreamName, String)> = None;
        let mut count = 0u64;
        while let Some(row) = rows.next().map_err(storage)? {
            let event = RecordedEvent::from(stored_event(row)?);
            // Hashing a placeholder would vouch for what nobody can read.
            if let Some(reason) = event.unreadable {
                return Err(StoreError::Corrupt(format!(
                    "event at position {}: {reason}",
                    event.position
                )));
            }
            let previous_hash = previous
                .as_ref()
                .filter(|(stream, _)| *stream == event.stream)
                .map(|(_, hash)| hash.as_str());
            let hash = chain::event_hash(previous_hash, &event);
            copy.execute(params![to_i64(event.position.0)?, hash])
                .map_err(storage)?;
            previous = Some((event.stream, hash));
            count += 1;
        }
        count
    };

    transaction
        .execute_batch("DROP TABLE events_v1")
        .map_err(storage)?;
    if let Some(sequence) = sequence {
        transaction
            .execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'events'",
                [sequence],
            )
            .and_then(|updated| match updated {
                // No row yet: the table was empty.
                0 => transaction.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)",
                    [sequence],
                ),
                updated => Ok(updated),
            })
            .map_err(storage)?;
    }
    Ok(count)
}

pub(super) fn last_position(connection: &Connection) -> Result<Position, StoreError> {
    let position: Option<i64> = connection
        .query_row("SELECT MAX(position) FROM events", [], |row| row.get(0))
        .map_err(storage)?;
    position.map_or(Ok(Position(0)), |position| to_u64(position).map(Position))
}
