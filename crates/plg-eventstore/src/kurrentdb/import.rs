//! Copying another store's log onto KurrentDB as it is (`plgd migrate`): each event keeps
//! its id, type, schema version, data, metadata, timestamp and chain hash and lands at its
//! own revision, so the chains verify unchanged; the other store's request outcomes become
//! request records, so that a retried request replays on KurrentDB.

use super::KurrentDbEventStore;
use super::append::Appended;
use super::envelope::{Envelope, PreparedEvent, REQUEST_STREAM_PREFIX};
use super::requests::Attempt;
use crate::chain::timestamp_text;
use crate::{ExpectedRevision, IdempotencyKey, RecordedEvent, StoreError, StreamRevision};

/// What importing a request record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Written,
    /// The same record was there already (an earlier run).
    AlreadyThere,
}

impl KurrentDbEventStore {
    /// Appends events read from another store, one stream's consecutive revisions, at
    /// exactly those revisions and as they were stored: nothing is stamped or chained anew.
    /// Appending them there again succeeds without writing (KurrentDB's idempotence by
    /// event id); other events at those revisions are [`StoreError::WrongExpectedRevision`].
    pub async fn import_events(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let (after, prepared) = as_stored(events)?;
        let stream = &events[0].stream;
        match self.append_after(stream, after, &prepared).await? {
            Appended::Written(_) => Ok(()),
            Appended::Conflict(actual) => Err(StoreError::WrongExpectedRevision {
                stream: stream.clone(),
                expected: after.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
                actual,
            }),
        }
    }

    /// Records the request `key` as having appended `events` (already imported), as the
    /// first attempt of its request record: a retry with the key then answers their outcome
    /// as a replay, and one with another fingerprint is refused. A key the target recorded
    /// otherwise is [`StoreError::IdempotencyKeyReused`].
    pub async fn import_request(
        &self,
        key: &IdempotencyKey,
        events: &[RecordedEvent],
    ) -> Result<Imported, StoreError> {
        let (after, prepared) = as_stored(events)?;
        let attempt = Attempt {
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            attempt: 1,
            stream: events[0].stream.clone(),
            after,
            events: prepared,
        };
        if self.record(&attempt).await? {
            return Ok(Imported::Written);
        }
        let same = self.last_attempt(&key.key).await?.is_some_and(|recorded| {
            recorded.fingerprint == attempt.fingerprint
                && recorded.stream == attempt.stream
                && recorded.after == attempt.after
                && recorded.events == attempt.events
        });
        if same {
            Ok(Imported::AlreadyThere)
        } else {
            Err(StoreError::IdempotencyKeyReused(key.key.clone()))
        }
    }
}

/// The revision `events` follow and the events as KurrentDB stores them, checked to be one
/// stream's consecutive revisions, each readable.
fn as_stored(
    events: &[RecordedEvent],
) -> Result<(Option<StreamRevision>, Vec<PreparedEvent>), StoreError> {
    let first = events.first().ok_or(StoreError::EmptyAppend)?;
    if first.stream.as_str().starts_with(REQUEST_STREAM_PREFIX) {
        return Err(StoreError::InvalidStreamName(first.stream.to_string()));
    }
    let prepared = events
        .iter()
        .zip(first.revision.0..)
        .map(|(event, revision)| {
            if event.stream != first.stream || event.revision.0 != revision {
                return Err(StoreError::Corrupt(format!(
                    "events to import must be one stream's consecutive revisions: event {} \
                     is revision {} of {}, not revision {revision} of {}",
                    event.id, event.revision, event.stream, first.stream
                )));
            }
            if let Some(reason) = &event.unreadable {
                return Err(StoreError::Corrupt(format!(
                    "event {} at revision {} of {} is unreadable, so it cannot be copied as \
                     it is: {reason}",
                    event.id, event.revision, event.stream
                )));
            }
            Ok(PreparedEvent {
                id: event.id,
                event_type: event.event_type.clone(),
                data: event.data.clone(),
                envelope: Envelope {
                    metadata: event.metadata.clone(),
                    schema_version: event.schema_version,
                    recorded_at: timestamp_text(&event.recorded_at),
                    hash: event.hash.clone(),
                },
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((
        first.revision.0.checked_sub(1).map(StreamRevision),
        prepared,
    ))
}
