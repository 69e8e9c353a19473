//! Appends: each at the exact revision of the stream head it chained from, so that the hash
//! chain holds whoever else writes.

use ::kurrentdb::{AppendToStreamOptions, CurrentRevision, StreamState};

use super::envelope::{self, PreparedEvent};
use super::{KurrentDbEventStore, append_error};
use crate::{
    AppendOutcome, AppendRequest, Direction, ExpectedRevision, Position, ReadFrom, StoreError,
    StreamName, StreamRevision,
};

/// How often an append expecting `Any` or `StreamExists` chains again from a head another
/// writer moved, before it gives up with the conflict.
pub(super) const MAX_ATTEMPTS: usize = 100;

/// What an append at an exact revision did.
pub(super) enum Appended {
    Written(AppendOutcome),
    /// Other events hold the revisions: the stream's actual revision.
    Conflict(Option<StreamRevision>),
}

/// A stream's last event: its revision and chain hash.
pub(super) type Head = Option<(StreamRevision, String)>;

pub(super) fn revision_of(head: &Head) -> Option<StreamRevision> {
    head.as_ref().map(|(revision, _)| *revision)
}

pub(super) fn conflict(request: &AppendRequest, actual: Option<StreamRevision>) -> StoreError {
    StoreError::WrongExpectedRevision {
        stream: request.stream.clone(),
        expected: request.expected,
        actual,
    }
}

/// Whether a conflict at the head the append chained from is the caller's to handle: it
/// named the revision, rather than asking to append wherever the stream ends.
pub(super) fn conflict_is_final(expected: ExpectedRevision) -> bool {
    matches!(
        expected,
        ExpectedRevision::Exact(_) | ExpectedRevision::NoStream
    )
}

impl KurrentDbEventStore {
    /// An append without idempotency key.
    pub(super) async fn append_once(
        &self,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        let mut actual = None;
        for _ in 0..MAX_ATTEMPTS {
            let head = self.head(&request.stream).await?;
            actual = revision_of(&head);
            if !request.expected.is_satisfied_by(actual) {
                return Err(conflict(&request, actual));
            }
            let events = envelope::prepare(
                &request.stream,
                head.as_ref()
                    .map(|(revision, hash)| (*revision, hash.as_str())),
                request.events.iter().cloned(),
            );
            match self.append_after(&request.stream, actual, &events).await? {
                Appended::Written(outcome) => return Ok(outcome),
                Appended::Conflict(now) if conflict_is_final(request.expected) => {
                    return Err(conflict(&request, now));
                }
                Appended::Conflict(now) => actual = now,
            }
        }
        Err(conflict(&request, actual))
    }

    pub(super) async fn head(&self, stream: &StreamName) -> Result<Head, StoreError> {
        self.last_event(stream)
            .await?
            .map(|event| {
                Ok((
                    StreamRevision(event.revision),
                    envelope::stored_hash(&event)?,
                ))
            })
            .transpose()
    }

    /// Appends `events` right after revision `after` (`None`: as the stream's first events).
    /// The same events appended again there succeed again without writing (KurrentDB's
    /// idempotence), with the outcome of the append that wrote them.
    pub(super) async fn append_after(
        &self,
        stream: &StreamName,
        after: Option<StreamRevision>,
        events: &[PreparedEvent],
    ) -> Result<Appended, StoreError> {
        let data = events
            .iter()
            .map(PreparedEvent::to_event_data)
            .collect::<Result<Vec<_>, _>>()?;
        let state = after.map_or(StreamState::NoStream, |revision| {
            StreamState::StreamRevision(revision.0)
        });
        let options = AppendToStreamOptions::default().stream_state(state);
        let written = match self
            .client
            .append_to_stream(stream.as_str(), &options, data)
            .await
        {
            Ok(written) => written,
            Err(::kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                return Ok(Appended::Conflict(match current {
                    CurrentRevision::Current(revision) => Some(StreamRevision(revision)),
                    CurrentRevision::NoStream => None,
                }));
            }
            Err(error) => return Err(append_error(error)),
        };
        let first_revision = after.map_or(StreamRevision(0), StreamRevision::next);
        // Events are never empty here: appends of none are refused before.
        let revision = StreamRevision(first_revision.0 + events.len() as u64 - 1);
        let position = match written.position.commit {
            // No position reported (an idempotent append may not): read where it is.
            0 => self.position_of(stream, revision).await?,
            commit => Position(commit),
        };
        Ok(Appended::Written(AppendOutcome {
            stream: stream.clone(),
            first_revision,
            revision,
            position,
            replayed: false,
        }))
    }

    async fn position_of(
        &self,
        stream: &StreamName,
        revision: StreamRevision,
    ) -> Result<Position, StoreError> {
        self.stream_events(stream, Direction::Forward, ReadFrom::At(revision), 1)
            .await?
            .first()
            .map(|event| Position(event.position.commit))
            .ok_or_else(|| {
                StoreError::Storage(format!(
                    "kurrentdb reported an append to {stream} at revision {revision} that does \
                     not read back"
                ))
            })
    }
}
