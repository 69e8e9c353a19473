use crate::{ExpectedRevision, StreamName, StreamRevision};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("wrong expected revision on stream {stream}: expected {expected}, actual {}", describe(*.actual))]
    WrongExpectedRevision {
        stream: StreamName,
        expected: ExpectedRevision,
        actual: Option<StreamRevision>,
    },
    #[error("idempotency key {0} was already used for a different request")]
    IdempotencyKeyReused(String),
    #[error("invalid stream name {0:?}")]
    InvalidStreamName(String),
    /// An event id the store already holds, in any stream (or twice in one append): event
    /// ids are unique across the whole store.
    #[error("an event with id {0} is already stored")]
    DuplicateEventId(uuid::Uuid),
    #[error("an append must carry at least one event")]
    EmptyAppend,
    #[error("stored event is unreadable: {0}")]
    Corrupt(String),
    /// The store refused an append as it stands, so that retrying it can never succeed: more
    /// bytes than the store takes in one append (KurrentDB's maximum append size, 1 MiB by
    /// default), as KurrentDB answers it (`INVALID_ARGUMENT`) or as the KurrentDB backend
    /// finds it of a request record before sending it.
    #[error("the event store refused the append: {0}")]
    AppendRefused(String),
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("the event store is shut down")]
    Closed,
}

fn describe(actual: Option<StreamRevision>) -> String {
    actual.map_or_else(|| "no stream".to_owned(), |revision| revision.to_string())
}
