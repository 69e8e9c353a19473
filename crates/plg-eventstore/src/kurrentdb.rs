//! The KurrentDB backend: the event store on a KurrentDB server (or anything that speaks its
//! client protocol, plgd's listener included), through KurrentDB's official client.
//!
//! Each plg event is one KurrentDB event ([`envelope`]); idempotent requests are recorded in
//! request streams ([`requests`]); reads of the log hide KurrentDB's own events and the
//! request streams ([`read`]). docs/kurrentdb.md is the design.

mod append;
mod envelope;
mod import;
mod read;
mod requests;

use std::fmt;

use ::kurrentdb::{Client, ClientSettings, ReadAllOptions, StreamPosition};
use async_trait::async_trait;

pub use import::Imported;

use crate::{
    AppendOutcome, AppendRequest, Direction, EventStore, IdempotencyKey, Log, Position, ReadFrom,
    RecordedEvent, StoreError, StoredEvent, StoredSubscription, StreamName, StreamRevision,
    Subscription,
};

/// The event store on KurrentDB. Clones share one connection.
#[derive(Clone)]
pub struct KurrentDbEventStore {
    client: Client,
}

impl fmt::Debug for KurrentDbEventStore {
    /// Without the settings: they hold the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KurrentDbEventStore")
            .finish_non_exhaustive()
    }
}

impl KurrentDbEventStore {
    /// Connects from a `kurrentdb://` (or `esdb://`) connection string, with TLS and
    /// credentials as KurrentDB's clients take them, and checks that the server answers and
    /// lets these credentials read the log.
    pub async fn connect(connection_string: &str) -> Result<Self, StoreError> {
        // The parse error repeats the whole string, credentials included: not shown.
        let settings: ClientSettings =
            connection_string
                .parse()
                .map_err(|error: ::kurrentdb::ClientSettingsParseError| {
                    StoreError::Storage(format!(
                        "invalid kurrentdb connection string{}",
                        error
                            .error()
                            .map(|cause| format!(": {cause}"))
                            .unwrap_or_default()
                    ))
                })?;
        let client = Client::new(settings).map_err(|error| {
            StoreError::Storage(format!("kurrentdb client does not start: {error}"))
        })?;
        let store = Self { client };
        let mut probe = store
            .client
            .read_all(
                &ReadAllOptions::default()
                    .position(StreamPosition::End)
                    .max_count(1),
            )
            .await
            .map_err(storage)?;
        probe.next().await.map_err(storage)?;
        Ok(store)
    }
}

/// A client error as the store reports it.
fn storage(error: ::kurrentdb::Error) -> StoreError {
    match error {
        ::kurrentdb::Error::AccessDenied => StoreError::Storage(
            "kurrentdb refused access: check the credentials in the connection string".into(),
        ),
        other => StoreError::Storage(format!("kurrentdb: {other}")),
    }
}

/// An append's client error as the store reports it. KurrentDB answers `INVALID_ARGUMENT` to
/// an append it will never take (over its maximum append size; the backend's own appends are
/// otherwise well formed); the client keeps only the code and the message of it.
fn append_error(error: ::kurrentdb::Error) -> StoreError {
    // gRPC's code number: the client's `tonic` is another version than the workspace's.
    const INVALID_ARGUMENT: i32 = 3;
    match error {
        ::kurrentdb::Error::Grpc { code, message } if i32::from(code) == INVALID_ARGUMENT => {
            StoreError::AppendRefused(message)
        }
        other => storage(other),
    }
}

fn to_kurrentdb(position: Position) -> ::kurrentdb::Position {
    ::kurrentdb::Position {
        commit: position.0,
        prepare: position.0,
    }
}

#[async_trait]
impl EventStore for KurrentDbEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        if request
            .stream
            .as_str()
            .starts_with(envelope::REQUEST_STREAM_PREFIX)
        {
            return Err(StoreError::InvalidStreamName(request.stream.into()));
        }
        match request.idempotency.clone() {
            Some(key) => self.append_idempotent(request, &key).await,
            None => self.append_once(request).await,
        }
    }

    async fn find_idempotent_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.recorded_outcome(key).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.stream_events(stream, direction, from, max_count)
            .await?
            .iter()
            .map(envelope::recorded_event)
            .collect()
    }

    async fn read_all(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log_events(direction, from, max_count, None)
            .await?
            .iter()
            .map(envelope::recorded_event)
            .collect()
    }

    async fn read_all_stored(
        &self,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.log_events(Direction::Forward, from, max_count, None)
            .await?
            .iter()
            .map(envelope::stored_event)
            .collect()
    }

    async fn stream_revision(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamRevision>, StoreError> {
        Ok(self
            .last_event(stream)
            .await?
            .map(|event| StreamRevision(event.revision)))
    }

    async fn streams_in_category(&self, category: &str) -> Result<Vec<StreamName>, StoreError> {
        self.category_streams(category).await
    }

    fn subscribe_to_all(&self, after: Option<Position>) -> Subscription {
        read::recorded(self.follow_log(after))
    }

    fn subscribe_to_all_stored(&self, after: Option<Position>) -> StoredSubscription {
        read::stored_pages(self.follow_log(after))
    }

    fn subscribe_to_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> Subscription {
        read::recorded(self.follow_stream(stream, after))
    }

    fn log(&self) -> Log {
        Log::KurrentDb
    }
}
