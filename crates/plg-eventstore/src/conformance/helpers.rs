//! Set-up and assertions shared by the checks, so that each check reads as what it checks.

use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::chain;
use crate::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey,
    NewEvent, Position, ReadFrom, RecordedEvent, StoreError, StoredSubscription, StreamName,
    StreamRevision, Subscription,
};

use super::{QUIET_PERIOD, RECEIVE_TIMEOUT};

/// Fails unless `events` (one whole stream) verifies.
pub(super) fn assert_chain(events: &[RecordedEvent]) {
    if let Err(error) = chain::verify(events) {
        panic!("the stored hash chain does not verify: {error}");
    }
}

pub(super) fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

pub(super) fn key(key: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
    }
}

pub(super) fn numbered_events(event_type: &str, count: u64) -> Vec<NewEvent> {
    (0..count)
        .map(|n| NewEvent {
            id: Uuid::new_v4(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            data: json!({ "n": n }),
            metadata: json!({}),
        })
        .collect()
}

pub(super) fn request(
    stream: &StreamName,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        events,
        idempotency: None,
    }
}

pub(super) async fn append<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamName,
    expected: ExpectedRevision,
    count: u64,
) -> AppendOutcome {
    let outcome = store
        .append(request(
            stream,
            expected,
            numbered_events("test-event", count),
        ))
        .await
        .unwrap_or_else(|error| panic!("append to {stream} ({expected}) failed: {error:?}"));
    assert!(
        !outcome.replayed,
        "an append without idempotency key is never a replay"
    );
    assert_eq!(outcome.revision.0 - outcome.first_revision.0 + 1, count);
    outcome
}

pub(super) async fn append_err<S: EventStore>(
    store: &S,
    stream: &StreamName,
    expected: ExpectedRevision,
    count: u64,
) -> StoreError {
    match store
        .append(request(
            stream,
            expected,
            numbered_events("test-event", count),
        ))
        .await
    {
        Ok(outcome) => panic!("append to {stream} ({expected}) succeeded: {outcome:?}"),
        Err(error) => error,
    }
}

/// Appends `count` single events to each of two streams, alternating.
pub(super) async fn interleave<S: EventStore>(
    store: &S,
    first: &StreamName,
    second: &StreamName,
    count: u64,
) {
    for _ in 0..count {
        append(store, first, ExpectedRevision::Any, 1).await;
        append(store, second, ExpectedRevision::Any, 1).await;
    }
}

/// Nine events over three streams, in a mixed order; returns their ids in append order.
pub(super) async fn interleave_three<S: EventStore>(store: &S) -> Vec<Uuid> {
    let streams = [stream("order-1"), stream("invoice-1"), stream("payment-1")];
    let mut written = Vec::new();
    for (index, count) in [(0, 2), (1, 1), (2, 3), (0, 1), (1, 2)] {
        let events = numbered_events("test-event", count);
        written.extend(ids_of(&events));
        store
            .append(request(&streams[index], ExpectedRevision::Any, events))
            .await
            .expect("append");
    }
    written
}

pub(super) async fn read_stream<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamName,
) -> Vec<RecordedEvent> {
    read_stream_from(store, stream, Direction::Forward, ReadFrom::Start, 10_000).await
}

pub(super) async fn read_stream_from<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamName,
    direction: Direction,
    from: ReadFrom<StreamRevision>,
    max_count: usize,
) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, direction, from, max_count)
        .await
        .unwrap_or_else(|error| panic!("read of {stream} {direction:?} from {from:?}: {error:?}"))
}

pub(super) async fn read_everything<S: EventStore + ?Sized>(store: &S) -> Vec<RecordedEvent> {
    read_all_from(store, Direction::Forward, ReadFrom::Start, 10_000).await
}

pub(super) async fn read_all_from<S: EventStore + ?Sized>(
    store: &S,
    direction: Direction,
    from: ReadFrom<Position>,
    max_count: usize,
) -> Vec<RecordedEvent> {
    store
        .read_all(direction, from, max_count)
        .await
        .unwrap_or_else(|error| panic!("read of the log {direction:?} from {from:?}: {error:?}"))
}

pub(super) async fn revision_of<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamName,
) -> Option<StreamRevision> {
    store
        .stream_revision(stream)
        .await
        .expect("stream revision")
}

/// The next `count` events of a subscription, failing if one takes too long.
pub(super) async fn receive(subscription: &mut Subscription, count: u64) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    for received in 0..count {
        match tokio::time::timeout(RECEIVE_TIMEOUT, subscription.next()).await {
            Ok(Some(Ok(event))) => events.push(event),
            Ok(Some(Err(error))) => {
                panic!("subscription failed after {received} events: {error:?}")
            }
            Ok(None) => panic!("subscription ended after {received} of {count} events"),
            Err(_) => panic!("subscription delivered {received} of {count} events, then stalled"),
        }
    }
    events
}

/// The next `count` events of a stored subscription, parsed, failing if a page is empty or
/// one takes too long.
pub(super) async fn receive_stored(
    subscription: &mut StoredSubscription,
    count: usize,
) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    while events.len() < count {
        match tokio::time::timeout(RECEIVE_TIMEOUT, subscription.next()).await {
            Ok(Some(Ok(page))) => {
                assert!(!page.is_empty(), "a page holds events");
                events.extend(page.into_iter().map(RecordedEvent::from));
            }
            Ok(Some(Err(error))) => panic!(
                "subscription failed after {} events: {error:?}",
                events.len()
            ),
            Ok(None) => panic!(
                "subscription ended after {} of {count} events",
                events.len()
            ),
            Err(_) => panic!(
                "subscription delivered {} of {count} events, then stalled",
                events.len()
            ),
        }
    }
    assert_eq!(events.len(), count, "no more events than appended");
    events
}

/// Fails if the subscription delivers anything more (a duplicate, or a stray event).
pub(super) async fn assert_quiet(subscription: &mut Subscription) {
    if let Ok(next) = tokio::time::timeout(QUIET_PERIOD, subscription.next()).await {
        panic!("subscription delivered more than was appended: {next:?}");
    }
}

pub(super) async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("task completes without panicking"));
    }
    results
}

pub(super) fn assert_wrong_expected(
    error: &StoreError,
    stream: &StreamName,
    expected: ExpectedRevision,
    actual: Option<u64>,
) {
    match error {
        StoreError::WrongExpectedRevision {
            stream: reported_stream,
            expected: reported_expected,
            actual: reported_actual,
        } => {
            assert_eq!(reported_stream, stream, "the error names the stream");
            assert_eq!(
                *reported_expected, expected,
                "the error repeats the expectation"
            );
            assert_eq!(
                *reported_actual,
                actual.map(StreamRevision),
                "the actual revision"
            );
        }
        other => panic!("expected WrongExpectedRevision, got {other:?}"),
    }
}

pub(super) fn assert_strictly_increasing(positions: &[Position]) {
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions are not strictly increasing: {positions:?}"
    );
}

pub(super) fn at(revision: u64) -> ReadFrom<StreamRevision> {
    ReadFrom::At(StreamRevision(revision))
}

pub(super) fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.revision.0).collect()
}

pub(super) fn positions(events: &[RecordedEvent]) -> Vec<Position> {
    events.iter().map(|event| event.position).collect()
}

pub(super) fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

pub(super) fn ids_of(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}
