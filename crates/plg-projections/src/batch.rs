//! One batch of the log applied to several projections in one transaction, each moving its
//! own checkpoint in it: exactly once, and every event decoded once for all of them.

use std::{collections::BTreeSet, sync::Arc};

use plg_eventstore::{Position, StoredEvent};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::{Projection, ProjectionError, event::LogEvent};

/// A projection and the log position up to which its rows are written.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub projection: Arc<dyn Projection>,
    pub checkpoint: Position,
}

/// A batch's events decoded, and the last position it covers (skipped events included).
#[derive(Debug)]
pub(crate) struct Decoded {
    pub events: Vec<LogEvent>,
    pub last: Position,
}

/// Decodes a batch of the log. An event that cannot be read or decoded is skipped (logged,
/// and its position added to `skipped`), so that one damaged event does not stop the view.
/// `None` for an empty batch.
pub(crate) fn decode(batch: Vec<StoredEvent>, skipped: &mut BTreeSet<Position>) -> Option<Decoded> {
    let last = batch.last()?.position;
    let mut events = Vec::with_capacity(batch.len());
    for read in batch {
        let (position, stream, revision) = (read.position, read.stream.clone(), read.revision.0);
        match LogEvent::decode_stored(read) {
            Ok(event) => events.push(event),
            Err(error) => {
                tracing::error!(
                    %stream,
                    revision,
                    position = position.0,
                    %error,
                    "event skipped: it cannot be projected"
                );
                skipped.insert(position);
            }
        }
    }
    Some(Decoded { events, last })
}

/// A projection that failed on a batch: its rows and checkpoint are as before the batch.
#[derive(Debug)]
pub(crate) struct Failed {
    pub index: usize,
    pub error: ProjectionError,
}

/// Applies `batch` to every cursor's projection (each only the events past its checkpoint)
/// and moves every checkpoint to the batch's end, in one transaction. Each projection works
/// in a savepoint of its own: one that fails is rolled back to where it was and reported,
/// and the others commit. `Err` when the transaction itself fails (nothing committed), and
/// [`ProjectionError::Fenced`] when a checkpoint is no longer where the cursor says: another
/// writer moved it, and the whole transaction is rolled back.
pub(crate) fn apply(
    connection: &mut Connection,
    cursors: &mut [Cursor],
    batch: &Decoded,
) -> Result<Vec<Failed>, ProjectionError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut failed = Vec::new();
    let mut advanced = Vec::with_capacity(cursors.len());
    for (index, cursor) in cursors.iter().enumerate() {
        if cursor.checkpoint >= batch.last {
            continue;
        }
        transaction.execute_batch("SAVEPOINT projection")?;
        // Events are in log order: those past the checkpoint are the batch's tail.
        let past = batch
            .events
            .partition_point(|event| event.position <= cursor.checkpoint);
        // The checkpoint moves first, and only from where this batch starts (the fence of
        // docs/postgresql.md, §4): rows are written only by the writer that moved it.
        let applied = advance_checkpoint(
            &transaction,
            cursor.projection.name(),
            cursor.checkpoint,
            batch.last,
        )
        .and_then(|()| {
            cursor
                .projection
                .apply_batch(&transaction, &batch.events[past..])
        });
        match applied {
            Ok(()) => {
                transaction.execute_batch("RELEASE projection")?;
                advanced.push(index);
            }
            // Not the projection's failure: nothing of the batch may commit.
            Err(error @ ProjectionError::Fenced { .. }) => return Err(error),
            Err(error) => {
                transaction.execute_batch("ROLLBACK TO projection; RELEASE projection")?;
                failed.push(Failed { index, error });
            }
        }
    }
    transaction.commit()?;
    for index in advanced {
        cursors[index].checkpoint = batch.last;
    }
    Ok(failed)
}

/// Moves a projection's checkpoint from `from` to `to`, in the transaction of the rows it
/// covers; [`ProjectionError::Fenced`] if it is not at `from`.
pub(crate) fn advance_checkpoint(
    transaction: &Transaction<'_>,
    projection: &str,
    from: Position,
    to: Position,
) -> Result<(), ProjectionError> {
    let moved = transaction
        .prepare_cached(
            "UPDATE projection_checkpoints SET position = ?3
             WHERE projection = ?1 AND position = ?2",
        )?
        .execute((projection, sql_position(from), sql_position(to)))?;
    if moved == 0 {
        return Err(ProjectionError::Fenced {
            projection: projection.to_owned(),
            expected: from,
        });
    }
    Ok(())
}

/// Moves a projection's checkpoint to `position`, in the transaction of the rows it covers,
/// wherever it was (a rebuild's copy has one writer).
pub(crate) fn move_checkpoint(
    transaction: &Transaction<'_>,
    projection: &str,
    position: Position,
) -> Result<(), ProjectionError> {
    transaction
        .prepare_cached("UPDATE projection_checkpoints SET position = ?2 WHERE projection = ?1")?
        .execute((projection, sql_position(position)))?;
    Ok(())
}

/// A count as the view stores it: an `i64`, the one integer type bound on both SQLite and
/// PostgreSQL (`BIGINT`).
pub(crate) fn sql_count(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A log position as SQLite stores it.
pub(crate) fn sql_position(position: Position) -> i64 {
    i64::try_from(position.0).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResearchDb, projections};

    fn checkpoints(connection: &Connection) -> Vec<(String, i64)> {
        let mut statement = connection
            .prepare("SELECT projection, position FROM projection_checkpoints ORDER BY projection")
            .expect("prepares");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("reads")
            .collect::<Result<_, _>>()
            .expect("reads")
    }

    fn submissions(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT COUNT(*) FROM scan_submissions", [], |row| {
                row.get(0)
            })
            .expect("counts")
    }

    /// A writer whose cursor is not where the checkpoint is (another writer moved it) commits
    /// nothing of the batch, not even the projections before the fenced one.
    #[test]
    fn a_batch_from_a_checkpoint_another_writer_moved_commits_nothing() {
        let dir = tempfile::tempdir().expect("a directory");
        let all = projections::all();
        let refs: Vec<&dyn Projection> = all.iter().map(|p| p.as_ref()).collect();
        let db = ResearchDb::open(dir.path().join("research.db"), &refs).expect("opens");
        let mut connection = db.write_connection().expect("connects");
        let events = projections::rebuild_limit::submissions_then_retractions(2);
        let batch = Decoded {
            last: events.last().expect("events").position,
            events,
        };
        let cursors = || -> Vec<Cursor> {
            all.iter()
                .map(|projection| Cursor {
                    projection: projection.clone(),
                    checkpoint: Position(0),
                })
                .collect()
        };
        // Another writer moved the last projection's checkpoint (audit's) past 0.
        connection
            .execute(
                "UPDATE projection_checkpoints SET position = 1 WHERE projection = 'audit'",
                [],
            )
            .expect("moves");
        let before = checkpoints(&connection);
        let mut stale = cursors();
        let error = apply(&mut connection, &mut stale, &batch).expect_err("fenced");
        assert!(
            matches!(&error, ProjectionError::Fenced { projection, expected }
                if projection == "audit" && *expected == Position(0)),
            "{error:?}"
        );
        assert_eq!(checkpoints(&connection), before);
        assert_eq!(
            submissions(&connection),
            0,
            "the scans' rows are rolled back too"
        );
        assert!(stale.iter().all(|cursor| cursor.checkpoint == Position(0)));

        // A writer whose cursors are where the checkpoints are applies the batch.
        let mut current = cursors();
        current[4].checkpoint = Position(1);
        assert_eq!(current[4].projection.name(), "audit");
        let failed = apply(&mut connection, &mut current, &batch).expect("applies");
        assert!(failed.is_empty());
        assert_eq!(submissions(&connection), 2);
        assert!(
            checkpoints(&connection)
                .iter()
                .all(|(_, position)| *position == sql_position(batch.last))
        );
    }
}
