//! The event store: the append-only log every service writes to and every projection reads.
//!
//! The trait is shaped after KurrentDB (streams with 0-based revisions, a global log with
//! positions, expected-revision checks, catch-up subscriptions), so that a KurrentDB backend
//! can implement it without changing callers. The embedded default is [`sqlite::SqliteEventStore`];
//! with the `kurrentdb` feature, `kurrentdb::KurrentDbEventStore` stores on KurrentDB.
//!
//! Every stream is a hash chain ([`chain`]): each event stores a hash of itself and of its
//! predecessor, so that alterations of stored history can be detected.

pub mod chain;
mod error;
#[cfg(feature = "kurrentdb")]
pub mod kurrentdb;
pub mod sqlite;
mod types;
pub mod wal;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use error::StoreError;
pub use types::{
    AppendOutcome, AppendRequest, Direction, ExpectedRevision, IdempotencyKey, NewEvent, Position,
    ReadFrom, RecordedEvent, StoredEvent, StreamName, StreamRevision,
};

/// A subscription: every event from its starting point on, catching up from storage and then
/// following new appends live, in log order, with no gap and no duplicate between the two.
pub type Subscription = BoxStream<'static, Result<RecordedEvent, StoreError>>;

/// A subscription delivering the events a page at a time, each as stored text
/// ([`StoredEvent`]); a page is never empty.
pub type StoredSubscription = BoxStream<'static, Result<Vec<StoredEvent>, StoreError>>;

/// An append-only, durable event log.
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug + 'static {
    /// Appends events to one stream atomically if the stream's revision matches `expected`.
    ///
    /// When the request carries an idempotency key that was already used, nothing is written
    /// and the outcome of the first append is returned with `replayed = true`.
    /// Returns only once the events are durable.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// Whether the store can serve now, as health checks ask: by default, whether it answers a
    /// read of the log.
    async fn check(&self) -> Result<(), StoreError> {
        self.read_all(Direction::Forward, ReadFrom::Start, 1)
            .await
            .map(drop)
    }

    /// The outcome recorded for an idempotency key, if an append with that key succeeded.
    ///
    /// Answers as a retried append would: the first outcome with `replayed = true`, or
    /// [`StoreError::IdempotencyKeyReused`] when the key was used with another fingerprint.
    async fn find_idempotent_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError>;

    /// [`find_idempotent_outcome`](Self::find_idempotent_outcome), and unless it found one,
    /// a forward [`read_stream`](Self::read_stream) of `stream` from `from` (else no events):
    /// what a write looks at first, in one look where the backend can.
    async fn find_idempotent_outcome_then_read(
        &self,
        key: &IdempotencyKey,
        stream: &StreamName,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<(Option<AppendOutcome>, Vec<RecordedEvent>), StoreError> {
        if let Some(outcome) = self.find_idempotent_outcome(key).await? {
            return Ok((Some(outcome), Vec::new()));
        }
        let events = self
            .read_stream(stream, Direction::Forward, from, max_count)
            .await?;
        Ok((None, events))
    }

    /// Reads up to `max_count` events of one stream, forward from (or backward from) a revision.
    /// A stream that does not exist reads as empty.
    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max_count` events of the global log, in either direction.
    async fn read_all(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `max_count` events of the global log forward from `from`, as
    /// [`read_all`](Self::read_all) does, each with its payload and metadata as stored text.
    async fn read_all_stored(
        &self,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The current revision of a stream, or `None` when it does not exist.
    async fn stream_revision(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamRevision>, StoreError>;

    /// The streams of a category (`<category>-<id>`), in the order they were created.
    async fn streams_in_category(&self, category: &str) -> Result<Vec<StreamName>, StoreError>;

    /// Follows the global log from a position, exclusive (`None`: from the start).
    fn subscribe_to_all(&self, after: Option<Position>) -> Subscription;

    /// Follows the global log as [`subscribe_to_all`](Self::subscribe_to_all) does, a page of
    /// events at a time, each as [`read_all_stored`](Self::read_all_stored) returns it: for a
    /// follower that decodes the text straight into its own types and applies pages in batches.
    fn subscribe_to_all_stored(&self, after: Option<Position>) -> StoredSubscription;

    /// Follows one stream from a revision, exclusive (`None`: from its first event).
    fn subscribe_to_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> Subscription;

    /// The log whose positions this store reports: a position taken from one log means
    /// nothing in another (the embedded store counts 1, 2, 3…; KurrentDB's are byte offsets).
    fn log(&self) -> Log;
}

/// Which log positions count in ([`EventStore::log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The embedded store's `events.db`.
    Embedded,
    /// A KurrentDB (or a plgd's KurrentDB listener).
    KurrentDb,
}

impl Log {
    /// The name a research view records beside its checkpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::KurrentDb => "kurrentdb",
        }
    }
}
