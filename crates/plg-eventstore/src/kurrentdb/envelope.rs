//! One plg event as one KurrentDB event: id, type and JSON data as KurrentDB has them, and
//! what KurrentDB lacks (the plg metadata, schema version, timestamp and chain hash) in an
//! envelope in the event's custom metadata.

use chrono::{DateTime, Utc};
use kurrentdb::EventData;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::chain::{self, timestamp_text};
use crate::{
    NewEvent, Position, RecordedEvent, StoreError, StoredEvent, StreamName, StreamRevision,
};

/// The prefix of the streams that record idempotent requests (`plgrequest-<sha256>`):
/// reserved on this backend, and hidden from reads of the log.
pub(super) const REQUEST_STREAM_PREFIX: &str = "plgrequest-";

/// A plg event's custom metadata on KurrentDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Envelope {
    /// The plg event's own metadata.
    pub metadata: Value,
    pub schema_version: u32,
    /// RFC 3339 in UTC with six fractional digits, as the chain hashes it.
    pub recorded_at: String,
    /// The event's link in its stream's hash chain.
    pub hash: String,
}

/// An event ready to append: what a request record keeps, so that any process can append
/// the very same event again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PreparedEvent {
    pub id: Uuid,
    pub event_type: String,
    pub data: Value,
    pub envelope: Envelope,
}

/// The most bytes of a request record (its type and its JSON, which holds every event of its
/// attempt): KurrentDB's default maximum append size (`MaxAppendSize`). A record is one
/// message to the server, refused over the server's message limit as `RESOURCE_EXHAUSTED`,
/// which a caller cannot tell from a passing limit and would retry in vain; refused here
/// before it is sent, it is a final refusal and nothing is written. Appends of events are
/// left to the server, which refuses one over its maximum as `INVALID_ARGUMENT`.
pub(super) const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Refuses a request record of `bytes` over [`MAX_RECORD_BYTES`].
pub(super) fn within_record_size(bytes: usize) -> Result<(), StoreError> {
    if bytes > MAX_RECORD_BYTES {
        return Err(StoreError::AppendRefused(format!(
            "a request record of {bytes} bytes, over kurrentdb's default maximum append size \
             of {MAX_RECORD_BYTES} bytes"
        )));
    }
    Ok(())
}

impl PreparedEvent {
    pub fn to_event_data(&self) -> Result<EventData, StoreError> {
        let encoding = |error: serde_json::Error| {
            StoreError::Corrupt(format!("event {} does not encode: {error}", self.id))
        };
        EventData::json(&self.event_type, &self.data)
            .map_err(encoding)?
            .id(self.id)
            .metadata_as_json(&self.envelope)
            .map_err(encoding)
    }
}

/// `events` as they will be stored at the revisions after `head` (revision and hash of the
/// stream's last event, `None` for a new stream), chained from it, recorded now.
pub(super) fn prepare(
    stream: &StreamName,
    head: Option<(StreamRevision, &str)>,
    events: impl IntoIterator<Item = NewEvent>,
) -> Vec<PreparedEvent> {
    let recorded_at = now();
    let recorded_text = timestamp_text(&recorded_at);
    let mut previous = head.map(|(_, hash)| hash.to_owned());
    let mut revision = head.map_or(StreamRevision(0), |(revision, _)| revision.next());
    events
        .into_iter()
        .map(|event| {
            let hash =
                chain::new_event_hash(previous.as_deref(), stream, revision, &event, &recorded_at);
            previous = Some(hash.clone());
            revision = revision.next();
            PreparedEvent {
                id: event.id,
                event_type: event.event_type,
                data: event.data,
                envelope: Envelope {
                    metadata: event.metadata,
                    schema_version: event.schema_version,
                    recorded_at: recorded_text.clone(),
                    hash,
                },
            }
        })
        .collect()
}

/// The current time at the precision the chain hashes and the envelope keeps.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Whether the log's readers skip this event: KurrentDB's own (`$`-prefixed streams and
/// types) and this backend's request records.
pub(super) fn is_hidden(event: &kurrentdb::RecordedEvent) -> bool {
    event.stream_id().starts_with('$')
        || event.event_type.starts_with('$')
        || event.stream_id().starts_with(REQUEST_STREAM_PREFIX)
}

/// The hash stored with an event, for the next event's chain.
pub(super) fn stored_hash(event: &kurrentdb::RecordedEvent) -> Result<String, StoreError> {
    serde_json::from_slice::<Envelope>(&event.custom_metadata)
        .map(|envelope| envelope.hash)
        .map_err(|error| {
            StoreError::Corrupt(format!(
                "the last event of stream {} carries no plg envelope, so its chain cannot \
                 continue: {error}",
                event.stream_id()
            ))
        })
}

/// An event as stored, with its envelope's content; an event without a readable envelope
/// comes back with empty metadata text and hash, so that it reads as unreadable.
pub(super) fn stored_event(event: &kurrentdb::RecordedEvent) -> Result<StoredEvent, StoreError> {
    opened(event).map(|(stored, _)| stored)
}

/// An event as read, its payload parsed; what does not parse marks only this event.
pub(super) fn recorded_event(
    event: &kurrentdb::RecordedEvent,
) -> Result<RecordedEvent, StoreError> {
    let (stored, envelope_error) = opened(event)?;
    let mut recorded = RecordedEvent::from(stored);
    if let Some(error) = envelope_error {
        recorded.unreadable = Some(format!("custom metadata is not a plg envelope: {error}"));
    }
    Ok(recorded)
}

/// The event with its envelope opened, and why the envelope did not open, if it did not.
fn opened(
    event: &kurrentdb::RecordedEvent,
) -> Result<(StoredEvent, Option<serde_json::Error>), StoreError> {
    let stream = StreamName::new(event.stream_id())
        .map_err(|_| StoreError::Corrupt(format!("stream name {:?}", event.stream_id())))?;
    let (metadata, schema_version, recorded_at, hash, envelope_error) =
        match serde_json::from_slice::<Envelope>(&event.custom_metadata) {
            Ok(envelope) => (
                envelope.metadata.to_string(),
                envelope.schema_version,
                DateTime::parse_from_rfc3339(&envelope.recorded_at)
                    .map_or(event.created, |at| at.with_timezone(&Utc)),
                envelope.hash,
                None,
            ),
            Err(error) => (String::new(), 0, event.created, String::new(), Some(error)),
        };
    let stored = StoredEvent {
        id: event.id,
        stream,
        revision: StreamRevision(event.revision),
        position: Position(event.position.commit),
        event_type: event.event_type.clone(),
        schema_version,
        data: String::from_utf8_lossy(&event.data).into_owned(),
        metadata,
        recorded_at,
        hash,
    };
    Ok((stored, envelope_error))
}
