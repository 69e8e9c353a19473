//! Idempotent appends on a store without transactions across streams (docs/kurrentdb.md,
//! "Idempotency on KurrentDB"): each attempt at a request is recorded, with the very events
//! it appends, in the request's own stream before they are appended; whoever finds the last
//! attempt settles it by appending the same events again at the same revision, which either
//! lands them (or finds them landed) or can never land them.

use ::kurrentdb::{AppendToStreamOptions, EventData, StreamState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::append::{Appended, MAX_ATTEMPTS, conflict, conflict_is_final, revision_of};
use super::envelope::{self, PreparedEvent, REQUEST_STREAM_PREFIX};
use super::{KurrentDbEventStore, append_error};
use crate::{
    AppendOutcome, AppendRequest, Direction, IdempotencyKey, NewEvent, Position, ReadFrom,
    StoreError, StreamName, StreamRevision,
};

/// The namespace of the events' deterministic ids (UUIDv5); never to change, or a retry
/// across the change would not recognise its attempt's events.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_3c2e_8d41_4b7a_9e15_c2d8_7f30_b94e);

/// The type of a request record's events.
const ATTEMPT_TYPE: &str = "plg-request-attempt";

/// One attempt at a request, as its request stream records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Attempt {
    pub key: String,
    pub fingerprint: String,
    /// 1 for the first attempt; attempt `k` is the request stream's revision `k - 1`.
    pub attempt: u32,
    pub stream: StreamName,
    /// The revision the events are appended right after; `None`: as a new stream's first.
    pub after: Option<StreamRevision>,
    pub events: Vec<PreparedEvent>,
}

/// What became of an attempt.
enum Settled {
    Landed(AppendOutcome),
    /// Other events hold its revisions: it can never land.
    Dead,
}

/// `plgrequest-<sha256 of the key>`, lowercase hex.
fn request_stream(key: &str) -> StreamName {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    StreamName::for_entity(REQUEST_STREAM_PREFIX.trim_end_matches('-'), hex)
}

/// The `n`-th event of attempt `attempt` at the request `key`: UUIDv5 of the key (its length
/// first, so that no two keys and numbers encode alike) and both numbers.
fn event_id(key: &str, attempt: u32, n: u32) -> Uuid {
    let mut name = Vec::with_capacity(key.len() + 16);
    name.extend_from_slice(&(key.len() as u64).to_be_bytes());
    name.extend_from_slice(key.as_bytes());
    name.extend_from_slice(&attempt.to_be_bytes());
    name.extend_from_slice(&n.to_be_bytes());
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

impl KurrentDbEventStore {
    pub(super) async fn append_idempotent(
        &self,
        request: AppendRequest,
        key: &IdempotencyKey,
    ) -> Result<AppendOutcome, StoreError> {
        // The attempt this call recorded: its outcome is the first, any other a replay.
        let mut own = None;
        let mut actual = None;
        for _ in 0..MAX_ATTEMPTS {
            let number = match self.last_attempt(&key.key).await? {
                None => 1,
                Some(last) => match self.settle(&last).await? {
                    Settled::Landed(outcome) => {
                        if last.fingerprint != key.fingerprint {
                            return Err(StoreError::IdempotencyKeyReused(key.key.clone()));
                        }
                        return Ok(AppendOutcome {
                            replayed: own != Some(last.attempt),
                            ..outcome
                        });
                    }
                    Settled::Dead => last.attempt + 1,
                },
            };
            let head = self.head(&request.stream).await?;
            actual = revision_of(&head);
            if !request.expected.is_satisfied_by(actual) {
                return Err(conflict(&request, actual));
            }
            let events = request.events.iter().zip(0..).map(|(event, n)| NewEvent {
                id: event_id(&key.key, number, n),
                ..event.clone()
            });
            let attempt = Attempt {
                key: key.key.clone(),
                fingerprint: key.fingerprint.clone(),
                attempt: number,
                stream: request.stream.clone(),
                after: actual,
                events: envelope::prepare(
                    &request.stream,
                    head.as_ref()
                        .map(|(revision, hash)| (*revision, hash.as_str())),
                    events,
                ),
            };
            if !self.record(&attempt).await? {
                // Another process recorded this attempt first: the next round settles it.
                continue;
            }
            own = Some(number);
            match self
                .append_after(&attempt.stream, attempt.after, &attempt.events)
                .await?
            {
                Appended::Written(outcome) => return Ok(outcome),
                Appended::Conflict(now) if conflict_is_final(request.expected) => {
                    return Err(conflict(&request, now));
                }
                Appended::Conflict(now) => actual = now,
            }
        }
        Err(conflict(&request, actual))
    }

    /// The outcome of the request `key`, settling its last attempt.
    pub(super) async fn recorded_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let Some(last) = self.last_attempt(&key.key).await? else {
            return Ok(None);
        };
        match self.settle(&last).await? {
            Settled::Landed(_) if last.fingerprint != key.fingerprint => {
                Err(StoreError::IdempotencyKeyReused(key.key.clone()))
            }
            Settled::Landed(outcome) => Ok(Some(AppendOutcome {
                replayed: true,
                ..outcome
            })),
            Settled::Dead => Ok(None),
        }
    }

    pub(super) async fn last_attempt(&self, key: &str) -> Result<Option<Attempt>, StoreError> {
        let Some(record) = self.last_event(&request_stream(key)).await? else {
            return Ok(None);
        };
        let attempt: Attempt = serde_json::from_slice(&record.data).map_err(|error| {
            StoreError::Corrupt(format!(
                "request record {} of {} does not read: {error}",
                record.revision,
                record.stream_id()
            ))
        })?;
        if attempt.key != key {
            return Err(StoreError::Corrupt(format!(
                "request stream {} records another key",
                record.stream_id()
            )));
        }
        Ok(Some(attempt))
    }

    /// Records `attempt` as its request stream's next event; false when another process
    /// recorded that attempt first.
    pub(super) async fn record(&self, attempt: &Attempt) -> Result<bool, StoreError> {
        let state = match attempt.attempt {
            1 => StreamState::NoStream,
            number => StreamState::StreamRevision(u64::from(number) - 2),
        };
        // A fresh id: two processes recording one attempt must not both succeed, as they
        // would with one id (KurrentDB's idempotence).
        let encoded = serde_json::to_vec(attempt)
            .map_err(|error| StoreError::Corrupt(format!("request record: {error}")))?;
        envelope::within_record_size(ATTEMPT_TYPE.len() + encoded.len())?;
        let record = EventData::json(ATTEMPT_TYPE, attempt)
            .map_err(|error| StoreError::Corrupt(format!("request record: {error}")))?
            .id(Uuid::new_v4())
            .metadata_as_json(&serde_json::json!({}))
            .map_err(|error| StoreError::Corrupt(format!("request record: {error}")))?;
        let stream = request_stream(&attempt.key);
        match self
            .client
            .append_to_stream(
                stream.as_str(),
                &AppendToStreamOptions::default().stream_state(state),
                record,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(::kurrentdb::Error::WrongExpectedVersion { .. }) => Ok(false),
            Err(error) => Err(append_error(error)),
        }
    }

    /// Finds the attempt's events where it appends them, or appends them there.
    async fn settle(&self, attempt: &Attempt) -> Result<Settled, StoreError> {
        let first = attempt
            .after
            .map_or(StreamRevision(0), StreamRevision::next);
        let there = self
            .stream_events(
                &attempt.stream,
                Direction::Forward,
                ReadFrom::At(first),
                attempt.events.len(),
            )
            .await?;
        if let Some(last) = there.last() {
            let landed = there.len() == attempt.events.len()
                && there
                    .iter()
                    .zip(&attempt.events)
                    .all(|(found, ours)| found.id == ours.id);
            if !landed {
                return Ok(Settled::Dead);
            }
            return Ok(Settled::Landed(AppendOutcome {
                stream: attempt.stream.clone(),
                first_revision: first,
                revision: StreamRevision(last.revision),
                position: Position(last.position.commit),
                replayed: false,
            }));
        }
        Ok(
            match self
                .append_after(&attempt.stream, attempt.after, &attempt.events)
                .await?
            {
                Appended::Written(outcome) => Settled::Landed(outcome),
                Appended::Conflict(_) => Settled::Dead,
            },
        )
    }
}
