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
/// and the others commit. `Err` when the transaction itself fails (nothing committed).
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
        let applied = cursor
            .projection
            .apply_batch(&transaction, &batch.events[past..])
            .and_then(|()| move_checkpoint(&transaction, cursor.projection.name(), batch.last));
        match applied {
            Ok(()) => {
                transaction.execute_batch("RELEASE projection")?;
                advanced.push(index);
            }
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

/// Moves a projection's checkpoint to `position`, in the transaction of the rows it covers.
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
