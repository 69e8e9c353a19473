//! What the store holds, counted and listed for copying it elsewhere (`plgd migrate`): the
//! log's size and the recorded outcomes of idempotent appends, which no trait method lists.

use rusqlite::params;

use super::read::stored_outcome;
use super::{SqliteEventStore, storage, to_u64};
use crate::{AppendOutcome, IdempotencyKey, StoreError};

/// A successful idempotent append as the store records it: its key and fingerprint, and
/// the outcome a retry answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub key: IdempotencyKey,
    pub outcome: AppendOutcome,
}

impl SqliteEventStore {
    /// How many events the log holds, and in how many streams.
    pub async fn size(&self) -> Result<(u64, u64), StoreError> {
        self.inner
            .readers
            .run(|connection| {
                let (events, streams): (i64, i64) = connection
                    .query_row(
                        "SELECT COUNT(*), COUNT(DISTINCT stream) FROM events",
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .map_err(storage)?;
                Ok((to_u64(events)?, to_u64(streams)?))
            })
            .await
    }

    /// Up to `max_count` request records in key order, after the key `after` (`None`: from
    /// the first).
    pub async fn request_records(
        &self,
        after: Option<String>,
        max_count: usize,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let limit = i64::try_from(max_count).unwrap_or(i64::MAX);
        self.inner
            .readers
            .run(move |connection| {
                let mut statement = connection
                    .prepare_cached(
                        "SELECT key, fingerprint, stream, first_revision, revision, position \
                         FROM idempotency WHERE ?1 IS NULL OR key > ?1 ORDER BY key LIMIT ?2",
                    )
                    .map_err(storage)?;
                let rows = statement
                    .query_map(params![after, limit], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, i64>(5)?,
                        ))
                    })
                    .map_err(storage)?;
                rows.map(|row| {
                    let (key, fingerprint, stream, first_revision, revision, position) =
                        row.map_err(storage)?;
                    let outcome = stored_outcome(&key, stream, first_revision, revision, position)?;
                    Ok(RequestRecord {
                        key: IdempotencyKey { key, fingerprint },
                        outcome,
                    })
                })
                .collect()
            })
            .await
    }

    /// How many request records the store holds.
    pub async fn request_count(&self) -> Result<u64, StoreError> {
        self.inner
            .readers
            .run(|connection| {
                let count: i64 = connection
                    .query_row("SELECT COUNT(*) FROM idempotency", [], |row| row.get(0))
                    .map_err(storage)?;
                to_u64(count)
            })
            .await
    }
}
