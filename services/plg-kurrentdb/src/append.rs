//! A raw append as KurrentDB performs it: proposed events checked and turned into the store's
//! events, the expected revision, and idempotency by event id. Shared by `Append` and
//! `BatchAppend`, which only carry it differently.

use std::collections::HashMap;

use plg_eventstore::{
    AppendRequest, Direction, EventStore, ExpectedRevision, NewEvent, Position, ReadFrom,
    RecordedEvent, StoreError, StreamName, StreamRevision,
};
use plg_kurrentdb_wire::event_store::client::{Uuid as WireUuid, uuid as wire_uuid};
use plg_ledger::FieldViolation;
use uuid::Uuid;

use crate::read::PAGE;

/// The most events one append may carry: the main API's longest list (`attendance`).
pub(crate) const MAX_EVENTS: usize = 1_000;
/// The most bytes one append may carry, counting each event's id, metadata (its type
/// included), custom metadata and data: gRPC's usual 4 MiB message, which a request to the
/// main API cannot exceed either.
pub(crate) const MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;
/// The longest event type, in bytes: as long as the longest stream name, since the store
/// keeps and indexes both alike.
pub(crate) const MAX_EVENT_TYPE_BYTES: usize = 200;
/// What an event's id counts towards [`MAX_APPEND_BYTES`]: its 16 bytes.
const ID_BYTES: usize = 16;
/// The schema version of every raw event: the domain's first.
const RAW_SCHEMA_VERSION: u32 = 1;
const JSON: &str = "application/json";

/// Why an append is refused before it reaches the store.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// A proposed event or the stream name is malformed: `INVALID_ARGUMENT`.
    Invalid(FieldViolation),
    /// Over [`MAX_EVENTS`] or [`MAX_APPEND_BYTES`] (for a batch append, also the bytes of all
    /// the call's open batches together): KurrentDB's `MaximumAppendSizeExceeded`.
    TooLarge,
    /// A `$`-prefixed name: KurrentDB's system and metadata streams, which only its
    /// administrators write and which the store does not hold. `AccessDenied`.
    SystemStream(String),
}

/// The stream a request names, if the store can hold it.
pub(crate) fn stream_name(name: &[u8], field: &str) -> Result<StreamName, Refusal> {
    let text = std::str::from_utf8(name).map_err(|_| {
        Refusal::Invalid(FieldViolation::new(field, "the stream name is not UTF-8"))
    })?;
    if text.starts_with('$') {
        return Err(Refusal::SystemStream(text.to_owned()));
    }
    StreamName::new(text).map_err(|_| {
        Refusal::Invalid(FieldViolation::new(
            field,
            "a stream name is 1 to 200 characters without whitespace or control characters",
        ))
    })
}

/// The events of an append as they arrive, checked one by one and bounded as a whole.
#[derive(Debug, Default)]
pub(crate) struct Proposal {
    events: Vec<NewEvent>,
    bytes: usize,
}

impl Proposal {
    /// The events proposed so far.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The bytes counted so far towards [`MAX_APPEND_BYTES`].
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds one proposed event; `field` names it in a refusal (`proposed_messages[2]`).
    pub(crate) fn push(
        &mut self,
        field: &str,
        id: Option<&WireUuid>,
        metadata: &HashMap<String, String>,
        custom_metadata: &[u8],
        data: &[u8],
    ) -> Result<(), Refusal> {
        let metadata_bytes = metadata
            .iter()
            .map(|(key, value)| key.len().saturating_add(value.len()))
            .fold(0_usize, usize::saturating_add);
        self.bytes = self
            .bytes
            .saturating_add(ID_BYTES)
            .saturating_add(metadata_bytes)
            .saturating_add(data.len())
            .saturating_add(custom_metadata.len());
        if self.events.len() >= MAX_EVENTS || self.bytes > MAX_APPEND_BYTES {
            return Err(Refusal::TooLarge);
        }
        let invalid = |what: &str, description: String| {
            Refusal::Invalid(FieldViolation::new(format!("{field}.{what}"), description))
        };
        let id = event_id(id).ok_or_else(|| invalid("id", "a UUID is required".to_owned()))?;
        let event_type = metadata
            .get("type")
            .filter(|event_type| !event_type.is_empty())
            .ok_or_else(|| invalid("metadata.type", "an event type is required".to_owned()))?;
        if event_type.len() > MAX_EVENT_TYPE_BYTES {
            return Err(invalid(
                "metadata.type",
                format!("an event type is at most {MAX_EVENT_TYPE_BYTES} bytes"),
            ));
        }
        match metadata.get("content-type").map(String::as_str) {
            Some(JSON) => {}
            other => {
                return Err(invalid(
                    "metadata.content-type",
                    format!("only {JSON} is stored, not {other:?}"),
                ));
            }
        }
        let data = serde_json::from_slice(data)
            .map_err(|error| invalid("data", format!("not a JSON document: {error}")))?;
        // Empty custom metadata is stored as `null` and read back empty; so `null` itself
        // could not be told from it, and is refused.
        let metadata = if custom_metadata.is_empty() {
            serde_json::Value::Null
        } else {
            match serde_json::from_slice(custom_metadata) {
                Ok(serde_json::Value::Null) => {
                    return Err(invalid(
                        "custom_metadata",
                        "null is not kept: send no custom metadata instead".to_owned(),
                    ));
                }
                Ok(metadata) => metadata,
                Err(error) => {
                    return Err(invalid(
                        "custom_metadata",
                        format!("neither empty nor a JSON document: {error}"),
                    ));
                }
            }
        };
        self.events.push(NewEvent {
            id,
            event_type: event_type.clone(),
            schema_version: RAW_SCHEMA_VERSION,
            data,
            metadata,
        });
        Ok(())
    }
}

fn event_id(id: Option<&WireUuid>) -> Option<Uuid> {
    match id?.value.as_ref()? {
        wire_uuid::Value::String(text) => Uuid::parse_str(text).ok(),
        wire_uuid::Value::Structured(halves) => Some(Uuid::from_u64_pair(
            halves.most_significant_bits as u64,
            halves.least_significant_bits as u64,
        )),
    }
}

/// Why an append that reached the store was not answered with an [`Outcome`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// The caller's mistake the store found (an event id it already holds).
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// How an append ended, as KurrentDB answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Written, or already written by an earlier append of the same ids: the stream's
    /// revision (`None`: no stream, after an empty append) and the last event's position
    /// (`None` when the append carried none).
    Success {
        revision: Option<StreamRevision>,
        position: Option<Position>,
    },
    /// The stream is not where the append expects it: its current revision.
    WrongExpectedVersion { current: Option<StreamRevision> },
}

/// Appends `proposal` to `stream` at `expected`, unless its ids show it was appended before.
pub(crate) async fn append(
    store: &dyn EventStore,
    stream: &StreamName,
    expected: ExpectedRevision,
    proposal: Proposal,
) -> Result<Outcome, Failure> {
    let events = proposal.events;
    // Kept for a retry's check: the ids alone, not a second copy of the events.
    let ids: Vec<Uuid> = events.iter().map(|event| event.id).collect();
    if let Some(outcome) = appended_before(store, stream, expected, &ids).await? {
        return Ok(outcome);
    }
    if events.is_empty() {
        let head = store.stream_revision(stream).await?;
        return Ok(if expected.is_satisfied_by(head) {
            Outcome::Success {
                revision: head,
                position: None,
            }
        } else {
            Outcome::WrongExpectedVersion { current: head }
        });
    }
    let request = AppendRequest {
        stream: stream.clone(),
        expected,
        events,
        idempotency: None,
    };
    match store.append(request).await {
        Ok(outcome) => Ok(Outcome::Success {
            revision: Some(outcome.revision),
            position: Some(outcome.position),
        }),
        Err(StoreError::WrongExpectedRevision { actual, .. }) => {
            // Another append of these same events may have won the race: answer as its
            // retry would.
            let again = appended_before(store, stream, expected, &ids).await?;
            Ok(again.unwrap_or(Outcome::WrongExpectedVersion { current: actual }))
        }
        Err(StoreError::DuplicateEventId(id)) => {
            // Under `any` or `stream_exists` a racing append of these same events is seen
            // only by the store's unique ids: answer as its retry would.
            if let Some(outcome) = appended_before(store, stream, expected, &ids).await? {
                return Ok(outcome);
            }
            duplicate_id(store, stream, &ids, id).await
        }
        Err(error) => Err(error.into()),
    }
}

/// An id the store already holds, not from a retry of this append: a conflict when this
/// stream holds it (KurrentDB's partial match), else the caller's mistake: the id twice in
/// the append, or held by another stream (which KurrentDB would write again; the store
/// cannot).
async fn duplicate_id(
    store: &dyn EventStore,
    stream: &StreamName,
    ids: &[Uuid],
    id: Uuid,
) -> Result<Outcome, Failure> {
    let index = ids.iter().position(|proposed| *proposed == id).unwrap_or(0);
    let refusal = |description: String| {
        Refusal::Invalid(FieldViolation::new(
            format!("proposed_messages[{index}].id"),
            description,
        ))
    };
    if ids.iter().filter(|proposed| **proposed == id).count() > 1 {
        return Err(Failure::Refused(refusal(format!(
            "event id {id} appears twice in the append"
        ))));
    }
    let mut from = ReadFrom::Start;
    loop {
        let page = store
            .read_stream(stream, Direction::Forward, from, PAGE)
            .await?;
        if page.iter().any(|found| found.id == id) {
            let current = store.stream_revision(stream).await?;
            return Ok(Outcome::WrongExpectedVersion { current });
        }
        match page.last() {
            Some(last) if page.len() == PAGE => {
                from = ReadFrom::At(StreamRevision(last.revision.0 + 1));
            }
            _ => break,
        }
    }
    Err(Failure::Refused(refusal(format!(
        "event id {id} is already stored in another stream: ids are unique in the store"
    ))))
}

/// KurrentDB's idempotency by event id: `Success` when the events at the revisions the append
/// targets carry its ids in order (an exact revision `r`: `r + 1` on; no stream: 0 on; any or
/// stream exists, best effort: the stream's last events), `WrongExpectedVersion` when some of
/// them carry some of its ids (a partial match), `None` when none do.
async fn appended_before(
    store: &dyn EventStore,
    stream: &StreamName,
    expected: ExpectedRevision,
    ids: &[Uuid],
) -> Result<Option<Outcome>, StoreError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let count = ids.len();
    let targeted = match expected {
        ExpectedRevision::Exact(StreamRevision(revision)) => match revision.checked_add(1) {
            Some(next) => {
                let from = ReadFrom::At(StreamRevision(next));
                store
                    .read_stream(stream, Direction::Forward, from, count)
                    .await?
            }
            None => Vec::new(),
        },
        ExpectedRevision::NoStream => {
            store
                .read_stream(stream, Direction::Forward, ReadFrom::Start, count)
                .await?
        }
        ExpectedRevision::Any | ExpectedRevision::StreamExists => {
            let mut last = store
                .read_stream(stream, Direction::Backward, ReadFrom::End, count)
                .await?;
            last.reverse();
            last
        }
    };
    let same = |(found, proposed): (&RecordedEvent, &Uuid)| found.id == *proposed;
    if targeted.len() == count && targeted.iter().zip(ids).all(same) {
        let last = &targeted[count - 1];
        return Ok(Some(Outcome::Success {
            revision: Some(last.revision),
            position: Some(last.position),
        }));
    }
    let partly = targeted.iter().any(|found| ids.contains(&found.id));
    if partly {
        let current = store.stream_revision(stream).await?;
        return Ok(Some(Outcome::WrongExpectedVersion { current }));
    }
    Ok(None)
}
