use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

const MAX_STREAM_NAME_LEN: usize = 200;

/// A stream's name, such as `school-0b6f…`. Names starting with `$` are reserved for the
/// store itself (as in KurrentDB); whitespace and control characters are not allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    pub fn new(name: impl Into<String>) -> Result<Self, StoreError> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= MAX_STREAM_NAME_LEN
            && !name.starts_with('$')
            && !name.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(name))
        } else {
            Err(StoreError::InvalidStreamName(name))
        }
    }

    /// `category-id`, the naming scheme every aggregate stream follows.
    pub fn for_entity(category: &str, id: impl fmt::Display) -> Self {
        Self(format!("{category}-{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`: the aggregate's category.
    pub fn category(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(&self.0, |(category, _)| category)
    }
}

impl TryFrom<String> for StreamName {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<StreamName> for String {
    fn from(value: StreamName) -> Self {
        value.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 0-based index of an event within its stream.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct StreamRevision(pub u64);

impl StreamRevision {
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for StreamRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's place in the global log. Positions grow with every append; they need not be
/// contiguous, only strictly increasing in log order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct Position(pub u64);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the caller believes about a stream's state before appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// Append whatever the stream's state.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(StreamRevision),
}

impl ExpectedRevision {
    /// Whether a stream whose last revision is `actual` satisfies this expectation.
    pub fn is_satisfied_by(self, actual: Option<StreamRevision>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual.is_none(),
            Self::StreamExists => actual.is_some(),
            Self::Exact(expected) => actual == Some(expected),
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("stream exists"),
            Self::Exact(revision) => write!(f, "revision {revision}"),
        }
    }
}

/// Makes an append idempotent: the key names the request (scoped by the caller), the
/// fingerprint its content, so that reusing a key for a different request is caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// An event to append. `data` and `metadata` are JSON documents.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    pub stream: StreamName,
    pub expected: ExpectedRevision,
    pub events: Vec<NewEvent>,
    pub idempotency: Option<IdempotencyKey>,
}

/// Where an append left the stream and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub stream: StreamName,
    /// The revision of the first event this append wrote.
    pub first_revision: StreamRevision,
    /// The stream's revision after the append (that of its last event).
    pub revision: StreamRevision,
    /// The global position of the last event this append wrote.
    pub position: Position,
    /// True when nothing was written because the idempotency key had been used before.
    #[serde(skip)]
    pub replayed: bool,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: StreamName,
    pub revision: StreamRevision,
    pub position: Position,
    pub event_type: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    /// The event's link in its stream's hash chain, as stored: lowercase hex SHA-256 of the
    /// event and the previous event's hash. See [`chain`](crate::chain).
    pub hash: String,
    /// Set when the stored payload (data or metadata) no longer parses: why. The event is
    /// then returned with `null` in place of what does not parse, so that readers can page
    /// past it; its hash cannot be recomputed, so its chain breaks there.
    pub unreadable: Option<String>,
}

/// An event as stored, its payload and metadata still the JSON text they are stored as: for
/// readers that decode the text straight into their own types (a rebuild reading the whole
/// log), without a [`serde_json::Value`] between.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: Uuid,
    pub stream: StreamName,
    pub revision: StreamRevision,
    pub position: Position,
    pub event_type: String,
    pub schema_version: u32,
    pub data: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
    pub hash: String,
}

impl From<StoredEvent> for RecordedEvent {
    /// Parses the payload and metadata. What does not parse spoils only its own event, not
    /// a whole read: the event is marked unreadable, with `null` in its place.
    fn from(stored: StoredEvent) -> Self {
        let mut unreadable = Vec::new();
        let mut json = |text: &str, what: &str| {
            serde_json::from_str(text).unwrap_or_else(|error| {
                unreadable.push(format!("{what} is not valid json: {error}"));
                serde_json::Value::Null
            })
        };
        let data = json(&stored.data, "data");
        let metadata = json(&stored.metadata, "metadata");
        Self {
            id: stored.id,
            stream: stored.stream,
            revision: stored.revision,
            position: stored.position,
            event_type: stored.event_type,
            schema_version: stored.schema_version,
            data,
            metadata,
            recorded_at: stored.recorded_at,
            hash: stored.hash,
            unreadable: (!unreadable.is_empty()).then(|| unreadable.join("; ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Where a read starts; `At` is inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom<T> {
    Start,
    End,
    At(T),
}
