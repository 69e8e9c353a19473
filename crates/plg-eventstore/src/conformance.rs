//! The conformance suite every [`EventStore`] backend must pass, written once.
//!
//! Each check is a `pub async fn` taking a fresh, empty store, so a backend can call them one
//! by one; [`run_all`] runs them in sequence; and [`conformance_tests!`](crate::conformance_tests)
//! turns each into its own `#[test]`, so that failures are reported per check:
//!
//! ```ignore
//! mod conformance {
//!     use plg_eventstore::sqlite::SqliteEventStore;
//!
//!     plg_eventstore::conformance_tests!(|| async {
//!         SqliteEventStore::open_temporary().await.expect("store opens")
//!     });
//! }
//! ```
//!
//! The checks panic on failure, like any test. Subscription receives are bounded by
//! [`RECEIVE_TIMEOUT`] and whole checks by [`CHECK_TIMEOUT`], so that a broken backend fails
//! instead of hanging.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chain::{self, ChainVerifier};
use crate::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey,
    NewEvent, Position, ReadFrom, RecordedEvent, StoreError, StreamName, StreamRevision,
    Subscription,
};

/// The longest a check waits for a subscription to deliver its next event.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one check may run.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a check listens to make sure a subscription delivers nothing more.
const QUIET_PERIOD: Duration = Duration::from_millis(200);

/// Expands to one `#[test]` per conformance check, each with a fresh store from `factory`:
/// an expression callable as `factory()` returning a future of the store.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__conformance_for_each_check!(__conformance_test_fns!($factory));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($factory:expr; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run_check(stringify!($check), async {
                    let make_store = $factory;
                    $crate::conformance::$check(make_store().await).await;
                });
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    ($make_store:ident; $($check:ident),+) => {
        $(
            $crate::conformance::within_limit(
                stringify!($check),
                $crate::conformance::$check($make_store().await),
            )
            .await;
        )+
    };
}

/// The one list of checks, handed to `$callback` after its own arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_for_each_check {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback! { $($args)*;
            append_to_new_stream,
            expected_no_stream,
            expected_stream_exists,
            expected_exact_revision,
            expected_any,
            multi_event_append_is_atomic,
            empty_append_is_rejected,
            read_stream_forward,
            read_stream_backward,
            read_missing_stream,
            read_all_forward,
            read_all_backward,
            stream_revision_tracks_appends,
            streams_in_category_in_creation_order,
            idempotent_append_is_replayed,
            idempotency_key_reused_is_rejected,
            idempotency_key_spans_streams,
            concurrent_appends_with_one_key_write_once,
            find_idempotent_outcome,
            failed_append_leaves_idempotency_key_unused,
            concurrent_appends_to_different_streams,
            concurrent_appends_race_on_expected_revision,
            concurrent_writers_each_win_one_revision,
            subscribe_to_all_catches_up_then_follows_live,
            subscribe_to_all_during_concurrent_appends,
            subscribe_to_all_after_position,
            subscribe_to_stream_catches_up_then_follows_live,
            subscribe_to_stream_after_revision,
            subscribe_to_stream_before_it_exists,
            event_fields_round_trip,
            appended_events_form_a_hash_chain,
            identical_payloads_hash_differently,
            replayed_append_leaves_hashes_unchanged
        }
    };
}

/// Runs every check, each on a fresh store from `make_store`.
pub async fn run_all<S, F, Fut>(make_store: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    crate::__conformance_for_each_check!(__conformance_run_all!(make_store));
}

/// Runs one check on a new multi-threaded runtime, as `conformance_tests!` does.
#[doc(hidden)]
pub fn run_check(name: &str, check: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime builds");
    runtime.block_on(within_limit(name, check));
}

/// Fails a check that runs longer than [`CHECK_TIMEOUT`].
#[doc(hidden)]
pub async fn within_limit(name: &str, check: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIMEOUT, check).await.is_err() {
        panic!("conformance check {name} did not finish within {CHECK_TIMEOUT:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Appending and expected revisions

/// Revisions start at 0 with `NoStream` and `Any`; positions grow across streams.
pub async fn append_to_new_stream<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");

    let first = append(&store, &orders, ExpectedRevision::NoStream, 1).await;
    assert_eq!(first.stream, orders);
    assert_eq!(first.first_revision, StreamRevision(0));
    assert_eq!(first.revision, StreamRevision(0));
    assert!(!first.replayed, "a first append is not a replay");

    let second = append(&store, &invoices, ExpectedRevision::Any, 1).await;
    assert_eq!(second.first_revision, StreamRevision(0));
    assert_eq!(second.revision, StreamRevision(0));
    assert!(
        second.position > first.position,
        "positions grow across streams"
    );

    let third = append(&store, &orders, ExpectedRevision::Any, 1).await;
    assert_eq!(third.first_revision, StreamRevision(1));
    assert_eq!(third.revision, StreamRevision(1));
    assert!(
        third.position > second.position,
        "positions grow across streams"
    );

    let stored = read_stream(&store, &orders).await;
    assert_eq!(revisions(&stored), [0, 1]);
    assert_eq!(positions(&stored), [first.position, third.position]);
    assert_eq!(
        read_stream(&store, &invoices).await[0].position,
        second.position
    );
}

/// `NoStream` holds for a missing stream only; a violation reports the actual revision.
pub async fn expected_no_stream<S: EventStore>(store: S) {
    let orders = stream("order-1");
    append(&store, &orders, ExpectedRevision::NoStream, 1).await;

    let error = append_err(&store, &orders, ExpectedRevision::NoStream, 1).await;
    assert_wrong_expected(&error, &orders, ExpectedRevision::NoStream, Some(0));
    assert_eq!(
        read_stream(&store, &orders).await.len(),
        1,
        "nothing written"
    );
    assert_eq!(read_everything(&store).await.len(), 1, "nothing written");
}

/// `StreamExists` holds for an existing stream only.
pub async fn expected_stream_exists<S: EventStore>(store: S) {
    let orders = stream("order-1");

    let error = append_err(&store, &orders, ExpectedRevision::StreamExists, 2).await;
    assert_wrong_expected(&error, &orders, ExpectedRevision::StreamExists, None);
    assert!(
        read_stream(&store, &orders).await.is_empty(),
        "nothing written"
    );
    assert_eq!(
        store.stream_revision(&orders).await.expect("revision"),
        None
    );

    append(&store, &orders, ExpectedRevision::NoStream, 1).await;
    let outcome = append(&store, &orders, ExpectedRevision::StreamExists, 2).await;
    assert_eq!(outcome.first_revision, StreamRevision(1));
    assert_eq!(outcome.revision, StreamRevision(2));
}

/// `Exact` holds only for the stream's current revision.
pub async fn expected_exact_revision<S: EventStore>(store: S) {
    let orders = stream("order-1");

    let missing = ExpectedRevision::Exact(StreamRevision(0));
    let error = append_err(&store, &orders, missing, 1).await;
    assert_wrong_expected(&error, &orders, missing, None);
    assert!(
        read_stream(&store, &orders).await.is_empty(),
        "nothing written"
    );

    append(&store, &orders, ExpectedRevision::NoStream, 2).await;
    for wrong in [0, 2, 5] {
        let expected = ExpectedRevision::Exact(StreamRevision(wrong));
        let error = append_err(&store, &orders, expected, 1).await;
        assert_wrong_expected(&error, &orders, expected, Some(1));
    }
    assert_eq!(
        read_stream(&store, &orders).await.len(),
        2,
        "nothing written"
    );

    let outcome = append(
        &store,
        &orders,
        ExpectedRevision::Exact(StreamRevision(1)),
        1,
    )
    .await;
    assert_eq!(outcome.first_revision, StreamRevision(2));
    assert_eq!(outcome.revision, StreamRevision(2));
    assert_eq!(revisions(&read_stream(&store, &orders).await), [0, 1, 2]);
}

/// `Any` holds whatever the stream's state.
pub async fn expected_any<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let created = append(&store, &orders, ExpectedRevision::Any, 1).await;
    assert_eq!(created.revision, StreamRevision(0));
    let extended = append(&store, &orders, ExpectedRevision::Any, 2).await;
    assert_eq!(extended.first_revision, StreamRevision(1));
    assert_eq!(extended.revision, StreamRevision(2));
    assert_eq!(revisions(&read_stream(&store, &orders).await), [0, 1, 2]);
}

/// The events of one append get contiguous revisions, in request order, all or none.
pub async fn multi_event_append_is_atomic<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let batch = numbered_events("order-placed", 5);
    let outcome = store
        .append(request(&orders, ExpectedRevision::NoStream, batch.clone()))
        .await
        .expect("append succeeds");
    assert_eq!(outcome.first_revision, StreamRevision(0));
    assert_eq!(outcome.revision, StreamRevision(4));

    let stored = read_stream(&store, &orders).await;
    assert_eq!(revisions(&stored), [0, 1, 2, 3, 4]);
    assert_eq!(
        ids(&stored),
        ids_of(&batch),
        "events keep their request order"
    );
    assert_strictly_increasing(&positions(&stored));
    assert_eq!(
        stored.last().map(|event| event.position),
        Some(outcome.position)
    );

    // A rejected multi-event append writes none of its events.
    let rejected = numbered_events("order-amended", 3);
    let expected = ExpectedRevision::Exact(StreamRevision(2));
    let error = store
        .append(request(&orders, expected, rejected))
        .await
        .expect_err("append is rejected");
    assert_wrong_expected(&error, &orders, expected, Some(4));
    assert_eq!(read_everything(&store).await.len(), 5, "nothing written");

    let more = append(
        &store,
        &orders,
        ExpectedRevision::Exact(StreamRevision(4)),
        3,
    )
    .await;
    assert_eq!(more.first_revision, StreamRevision(5));
    assert_eq!(more.revision, StreamRevision(7));
    assert_eq!(
        revisions(&read_stream(&store, &orders).await),
        [0, 1, 2, 3, 4, 5, 6, 7]
    );
}

/// An append without events is an error and creates nothing.
pub async fn empty_append_is_rejected<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let error = store
        .append(request(&orders, ExpectedRevision::Any, Vec::new()))
        .await
        .expect_err("an empty append is rejected");
    assert!(matches!(error, StoreError::EmptyAppend), "got {error:?}");
    assert_eq!(
        store.stream_revision(&orders).await.expect("revision"),
        None
    );
    assert!(read_everything(&store).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Forward stream reads: from `Start`, `At` (inclusive) and `End`, bounded by `max_count`,
/// and only the stream's own events.
pub async fn read_stream_forward<S: EventStore>(store: S) {
    let orders = stream("order-1");
    interleave(&store, &orders, &stream("other-1"), 10).await;

    let all = store
        .read_stream(&orders, Direction::Forward, ReadFrom::Start, 100)
        .await
        .expect("read");
    assert_eq!(revisions(&all), (0..10).collect::<Vec<_>>());
    assert!(
        all.iter().all(|event| event.stream == orders),
        "only this stream's events"
    );
    assert_strictly_increasing(&positions(&all));

    let page = read_stream_from(&store, &orders, Direction::Forward, at(3), 4).await;
    assert_eq!(revisions(&page), [3, 4, 5, 6]);
    let first = read_stream_from(&store, &orders, Direction::Forward, ReadFrom::Start, 2).await;
    assert_eq!(revisions(&first), [0, 1]);
    let tail = read_stream_from(&store, &orders, Direction::Forward, at(8), 10).await;
    assert_eq!(revisions(&tail), [8, 9]);
    let past = read_stream_from(&store, &orders, Direction::Forward, at(10), 10).await;
    assert!(past.is_empty(), "nothing after the last revision");
    let end = read_stream_from(&store, &orders, Direction::Forward, ReadFrom::End, 10).await;
    assert!(end.is_empty(), "nothing after the end");
    let none = read_stream_from(&store, &orders, Direction::Forward, ReadFrom::Start, 0).await;
    assert!(none.is_empty(), "max_count 0 reads nothing");
}

/// Backward stream reads: newest first from `End`, from `At` (inclusive) down to `Start`.
pub async fn read_stream_backward<S: EventStore>(store: S) {
    let orders = stream("order-1");
    interleave(&store, &orders, &stream("other-1"), 10).await;

    let all = read_stream_from(&store, &orders, Direction::Backward, ReadFrom::End, 100).await;
    assert_eq!(revisions(&all), (0..10).rev().collect::<Vec<_>>());
    assert!(
        all.iter().all(|event| event.stream == orders),
        "only this stream's events"
    );

    let newest = read_stream_from(&store, &orders, Direction::Backward, ReadFrom::End, 3).await;
    assert_eq!(revisions(&newest), [9, 8, 7]);
    let page = read_stream_from(&store, &orders, Direction::Backward, at(4), 2).await;
    assert_eq!(revisions(&page), [4, 3]);
    let head = read_stream_from(&store, &orders, Direction::Backward, at(1), 10).await;
    assert_eq!(revisions(&head), [1, 0]);
    let start = read_stream_from(&store, &orders, Direction::Backward, ReadFrom::Start, 10).await;
    assert_eq!(
        revisions(&start),
        [0],
        "backward from the start reads the first event"
    );
    let beyond = read_stream_from(&store, &orders, Direction::Backward, at(50), 2).await;
    assert_eq!(
        revisions(&beyond),
        [9, 8],
        "backward from past the end starts at the newest"
    );
}

/// A stream that does not exist reads as empty, whatever the direction.
pub async fn read_missing_stream<S: EventStore>(store: S) {
    append(&store, &stream("order-1"), ExpectedRevision::NoStream, 2).await;
    let missing = stream("order-2");
    for direction in [Direction::Forward, Direction::Backward] {
        for from in [
            ReadFrom::Start,
            ReadFrom::End,
            ReadFrom::At(StreamRevision(0)),
        ] {
            let events = store
                .read_stream(&missing, direction, from, 10)
                .await
                .expect("reading a missing stream succeeds");
            assert!(events.is_empty(), "{direction:?} from {from:?}: {events:?}");
        }
    }
    assert_eq!(
        store.stream_revision(&missing).await.expect("revision"),
        None
    );
}

/// Forward reads of the global log: every stream, in position order, from a position on.
pub async fn read_all_forward<S: EventStore>(store: S) {
    let written = interleave_three(&store).await;

    let all = store
        .read_all(Direction::Forward, ReadFrom::Start, 100)
        .await
        .expect("read");
    assert_eq!(ids(&all), written, "every event, in append order");
    assert_strictly_increasing(&positions(&all));

    let from_fourth =
        read_all_from(&store, Direction::Forward, ReadFrom::At(all[3].position), 3).await;
    assert_eq!(ids(&from_fourth), ids(&all[3..6]), "At is inclusive");
    let after_last = Position(all[8].position.0 + 1);
    let past = read_all_from(&store, Direction::Forward, ReadFrom::At(after_last), 10).await;
    assert!(past.is_empty(), "nothing after the last position");
    let end = read_all_from(&store, Direction::Forward, ReadFrom::End, 10).await;
    assert!(end.is_empty(), "nothing after the end");
    let first_two = read_all_from(&store, Direction::Forward, ReadFrom::Start, 2).await;
    assert_eq!(ids(&first_two), ids(&all[..2]));
}

/// Backward reads of the global log: newest first, from a position down.
pub async fn read_all_backward<S: EventStore>(store: S) {
    let mut written = interleave_three(&store).await;
    written.reverse();

    let all = read_all_from(&store, Direction::Backward, ReadFrom::End, 100).await;
    assert_eq!(ids(&all), written, "every event, newest first");
    let mut ascending = positions(&all);
    ascending.reverse();
    assert_strictly_increasing(&ascending);

    let newest = read_all_from(&store, Direction::Backward, ReadFrom::End, 2).await;
    assert_eq!(ids(&newest), ids(&all[..2]));
    let page = read_all_from(
        &store,
        Direction::Backward,
        ReadFrom::At(all[4].position),
        3,
    )
    .await;
    assert_eq!(ids(&page), ids(&all[4..7]), "At is inclusive");
    let start = read_all_from(&store, Direction::Backward, ReadFrom::Start, 10).await;
    assert!(start.is_empty(), "nothing before the start of the log");
}

/// The current revision of a stream follows its appends, independently of other streams.
pub async fn stream_revision_tracks_appends<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");
    assert_eq!(
        store.stream_revision(&orders).await.expect("revision"),
        None
    );

    append(&store, &orders, ExpectedRevision::NoStream, 1).await;
    assert_eq!(revision_of(&store, &orders).await, Some(StreamRevision(0)));
    append(&store, &invoices, ExpectedRevision::NoStream, 5).await;
    append(&store, &orders, ExpectedRevision::Any, 3).await;
    assert_eq!(revision_of(&store, &orders).await, Some(StreamRevision(3)));
    assert_eq!(
        revision_of(&store, &invoices).await,
        Some(StreamRevision(4))
    );
}

/// Each stream of the category once, oldest first; a category that merely starts the same
/// (`orderline` for `order`) is another category.
pub async fn streams_in_category_in_creation_order<S: EventStore>(store: S) {
    for name in ["order-2", "invoice-1", "order-1", "orderline-1", "order-2"] {
        append(&store, &stream(name), ExpectedRevision::Any, 2).await;
    }
    let orders = store
        .streams_in_category("order")
        .await
        .expect("streams listed");
    assert_eq!(orders, [stream("order-2"), stream("order-1")]);
    let none = store
        .streams_in_category("refund")
        .await
        .expect("streams listed");
    assert!(none.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Idempotency

/// The same key and fingerprint again: the first outcome, marked replayed, nothing written.
pub async fn idempotent_append_is_replayed<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let keyed = AppendRequest {
        idempotency: Some(key("place-order-1", "sha-1")),
        ..request(
            &orders,
            ExpectedRevision::NoStream,
            numbered_events("order-placed", 2),
        )
    };

    let first = store.append(keyed.clone()).await.expect("first append");
    assert!(!first.replayed, "the first append is not a replay");
    assert_eq!(
        (first.first_revision, first.revision),
        (StreamRevision(0), StreamRevision(1))
    );

    let again = store.append(keyed.clone()).await.expect("retried append");
    assert!(again.replayed, "the retry is a replay");
    assert_eq!(
        again,
        AppendOutcome {
            replayed: true,
            ..first.clone()
        }
    );
    assert_eq!(
        read_everything(&store).await.len(),
        2,
        "only one copy written"
    );

    // Still the first outcome after the stream has moved on, even though a fresh append
    // with that expectation would now fail.
    append(&store, &orders, ExpectedRevision::Any, 1).await;
    let later = store.append(keyed).await.expect("late retry");
    assert_eq!(
        later,
        AppendOutcome {
            replayed: true,
            ..first
        }
    );
    assert_eq!(
        read_everything(&store).await.len(),
        3,
        "the late retry wrote nothing"
    );
}

/// The same key with another fingerprint is refused, and writes nothing.
pub async fn idempotency_key_reused_is_rejected<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let first = AppendRequest {
        idempotency: Some(key("place-order-1", "sha-1")),
        ..request(
            &orders,
            ExpectedRevision::NoStream,
            numbered_events("order-placed", 1),
        )
    };
    store.append(first).await.expect("first append");

    for target in [orders.clone(), stream("order-2")] {
        let reused = AppendRequest {
            idempotency: Some(key("place-order-1", "sha-2")),
            ..request(
                &target,
                ExpectedRevision::Any,
                numbered_events("order-placed", 1),
            )
        };
        let error = store
            .append(reused)
            .await
            .expect_err("a reused key is refused");
        assert!(
            matches!(&error, StoreError::IdempotencyKeyReused(reused) if reused == "place-order-1"),
            "got {error:?}"
        );
    }
    assert_eq!(read_everything(&store).await.len(), 1, "nothing written");
}

/// `find_idempotent_outcome` returns what a retried append would: the first outcome marked
/// replayed; nothing for an unknown key; an error for the key with another fingerprint.
/// A key identifies a request, not a stream: a retry that would write to another stream (a
/// service that picks a fresh id for each attempt) replays the first outcome all the same.
pub async fn idempotency_key_spans_streams<S: EventStore>(store: S) {
    let keyed = |name: &str| AppendRequest {
        idempotency: Some(key("register-1", "sha-1")),
        ..request(
            &stream(name),
            ExpectedRevision::NoStream,
            numbered_events("registered", 1),
        )
    };
    let first = store.append(keyed("person-a")).await.expect("first append");
    let retried = store
        .append(keyed("person-b"))
        .await
        .expect("retry to another stream");
    assert_eq!(
        retried,
        AppendOutcome {
            replayed: true,
            ..first
        }
    );
    assert_eq!(
        read_everything(&store).await.len(),
        1,
        "only the first stream was written"
    );
    assert_eq!(
        store
            .stream_revision(&stream("person-b"))
            .await
            .expect("revision"),
        None
    );
}

/// Concurrent copies of one request write once; every copy answers with the same outcome.
pub async fn concurrent_appends_with_one_key_write_once<S: EventStore>(store: S) {
    let store = Arc::new(store);
    let copies = (0..20).map(|copy| {
        let store = store.clone();
        tokio::spawn(async move {
            let request = AppendRequest {
                idempotency: Some(key("place-order-7", "sha-7")),
                ..request(
                    &stream(&format!("order-{copy}")),
                    ExpectedRevision::Any,
                    numbered_events("order-placed", 1),
                )
            };
            store.append(request).await.expect("append or replay")
        })
    });
    let outcomes = futures::future::join_all(copies).await;
    let outcomes: Vec<AppendOutcome> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("task"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|outcome| !outcome.replayed).count(),
        1,
        "exactly one copy wrote"
    );
    let written = outcomes
        .iter()
        .find(|outcome| !outcome.replayed)
        .map(|outcome| (&outcome.stream, outcome.position));
    assert!(
        outcomes
            .iter()
            .all(|outcome| Some((&outcome.stream, outcome.position)) == written)
    );
    assert_eq!(read_everything(store.as_ref()).await.len(), 1);
}

pub async fn find_idempotent_outcome<S: EventStore>(store: S) {
    let unknown = key("place-order-1", "sha-1");
    assert_eq!(
        store
            .find_idempotent_outcome(&unknown)
            .await
            .expect("lookup"),
        None
    );

    append(&store, &stream("other-1"), ExpectedRevision::NoStream, 3).await;
    let keyed = AppendRequest {
        idempotency: Some(key("place-order-1", "sha-1")),
        ..request(
            &stream("order-1"),
            ExpectedRevision::NoStream,
            numbered_events("e", 2),
        )
    };
    let outcome = store.append(keyed).await.expect("append");

    let found = store
        .find_idempotent_outcome(&key("place-order-1", "sha-1"))
        .await
        .expect("lookup");
    assert_eq!(
        found,
        Some(AppendOutcome {
            replayed: true,
            ..outcome
        })
    );

    let error = store
        .find_idempotent_outcome(&key("place-order-1", "sha-2"))
        .await
        .expect_err("another fingerprint is refused");
    assert!(
        matches!(error, StoreError::IdempotencyKeyReused(_)),
        "got {error:?}"
    );
    let other = key("place-order-2", "sha-1");
    assert_eq!(
        store.find_idempotent_outcome(&other).await.expect("lookup"),
        None
    );
}

/// An append that failed records nothing under its key: the key is still free.
pub async fn failed_append_leaves_idempotency_key_unused<S: EventStore>(store: S) {
    let orders = stream("order-1");
    append(&store, &orders, ExpectedRevision::NoStream, 1).await;
    let keyed = |expected| AppendRequest {
        idempotency: Some(key("amend-order-1", "sha-1")),
        ..request(&orders, expected, numbered_events("order-amended", 1))
    };

    let error = store
        .append(keyed(ExpectedRevision::NoStream))
        .await
        .expect_err("wrong expected revision");
    assert_wrong_expected(&error, &orders, ExpectedRevision::NoStream, Some(0));
    let lookup = store
        .find_idempotent_outcome(&key("amend-order-1", "sha-1"))
        .await;
    assert_eq!(
        lookup.expect("lookup"),
        None,
        "a failed append records no outcome"
    );

    let outcome = store
        .append(keyed(ExpectedRevision::Exact(StreamRevision(0))))
        .await
        .expect("the key can still be used");
    assert!(!outcome.replayed);
    assert_eq!(outcome.revision, StreamRevision(1));
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Many concurrent appends to different streams all succeed, at distinct positions.
pub async fn concurrent_appends_to_different_streams<S: EventStore>(store: S) {
    const WRITERS: u64 = 50;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let target = stream(&format!("concurrent-{writer}"));
                append(&*store, &target, ExpectedRevision::NoStream, 2).await
            })
        })
        .collect();
    let outcomes = join_all(tasks).await;

    let distinct: HashSet<_> = outcomes.iter().map(|outcome| outcome.position).collect();
    assert_eq!(distinct.len(), outcomes.len(), "distinct positions");
    assert!(
        outcomes
            .iter()
            .all(|outcome| outcome.revision == StreamRevision(1))
    );

    let all = read_everything(&*store).await;
    assert_eq!(all.len() as u64, 2 * WRITERS, "every event stored once");
    assert_strictly_increasing(&positions(&all));
    let ids: HashSet<_> = all.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), all.len(), "no event stored twice");
}

/// Concurrent appends to one stream expecting the same revision: exactly one wins, the
/// others learn the revision it left.
pub async fn concurrent_appends_race_on_expected_revision<S: EventStore>(store: S) {
    const CONTENDERS: usize = 50;
    let orders = stream("order-1");
    append(&store, &orders, ExpectedRevision::NoStream, 1).await;

    let store = Arc::new(store);
    let expected = ExpectedRevision::Exact(StreamRevision(0));
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let store = Arc::clone(&store);
            let orders = orders.clone();
            tokio::spawn(async move {
                store
                    .append(request(&orders, expected, numbered_events("e", 1)))
                    .await
            })
        })
        .collect();
    let results = join_all(tasks).await;

    let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(won.len(), 1, "exactly one append wins");
    for error in lost.into_iter().filter_map(Result::err) {
        assert_wrong_expected(&error, &orders, expected, Some(1));
    }
    assert_eq!(revisions(&read_stream(&*store, &orders).await), [0, 1]);
}

/// Writers racing on one stream, each retrying until it has appended once: every revision
/// goes to exactly one of them, and every loser is told a newer revision.
pub async fn concurrent_writers_each_win_one_revision<S: EventStore>(store: S) {
    const WRITERS: u64 = 20;
    let orders = stream("order-1");
    append(&store, &orders, ExpectedRevision::NoStream, 1).await;

    let store = Arc::new(store);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = Arc::clone(&store);
            let orders = orders.clone();
            tokio::spawn(async move {
                let mut current = revision_of(&*store, &orders).await.expect("stream exists");
                loop {
                    let expected = ExpectedRevision::Exact(current);
                    match store
                        .append(request(&orders, expected, numbered_events("e", 1)))
                        .await
                    {
                        Ok(outcome) => {
                            assert_eq!(outcome.revision, current.next());
                            return outcome.revision;
                        }
                        Err(StoreError::WrongExpectedRevision {
                            actual: Some(actual),
                            ..
                        }) => {
                            assert!(actual > current, "a loser sees a newer revision");
                            current = actual;
                        }
                        Err(error) => panic!("unexpected append error: {error:?}"),
                    }
                }
            })
        })
        .collect();
    let mut won = join_all(tasks).await;
    won.sort();

    let expected: Vec<_> = (1..=WRITERS).map(StreamRevision).collect();
    assert_eq!(won, expected, "each revision won exactly once");
    let stored = read_stream(&*store, &orders).await;
    assert_eq!(revisions(&stored), (0..=WRITERS).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// A subscription to the log from the start replays what is stored, then follows new
/// appends, in order.
pub async fn subscribe_to_all_catches_up_then_follows_live<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");
    interleave(&store, &orders, &invoices, 3).await;

    let mut subscription = store.subscribe_to_all(None);
    let caught_up = receive(&mut subscription, 6).await;
    assert_eq!(
        caught_up,
        read_everything(&store).await,
        "stored events, in log order"
    );

    append(&store, &invoices, ExpectedRevision::Any, 2).await;
    append(&store, &orders, ExpectedRevision::Any, 1).await;
    let live = receive(&mut subscription, 3).await;
    let all = read_everything(&store).await;
    assert_eq!(live, all[6..], "new events, in log order");
    assert_quiet(&mut subscription).await;
}

/// Events appended while a subscription is catching up are delivered exactly once, in order,
/// with no gap at the hand-over from stored to live events.
pub async fn subscribe_to_all_during_concurrent_appends<S: EventStore>(store: S) {
    const STORED: u64 = 100;
    const WRITERS: u64 = 4;
    const LIVE_PER_WRITER: u64 = 25;
    for batch in 0..STORED / 10 {
        append(
            &store,
            &stream(&format!("stored-{batch}")),
            ExpectedRevision::NoStream,
            10,
        )
        .await;
    }

    let store = Arc::new(store);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let target = stream(&format!("live-{writer}"));
                for _ in 0..LIVE_PER_WRITER {
                    append(&*store, &target, ExpectedRevision::Any, 1).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut subscription = store.subscribe_to_all(None);
    let delivered = receive(&mut subscription, STORED + WRITERS * LIVE_PER_WRITER).await;
    join_all(writers).await;

    let stored = read_everything(&*store).await;
    assert_eq!(
        ids(&delivered),
        ids(&stored),
        "every event once, in log order"
    );
    assert_strictly_increasing(&positions(&delivered));
    assert_quiet(&mut subscription).await;
}

/// A subscription from a position starts right after it.
pub async fn subscribe_to_all_after_position<S: EventStore>(store: S) {
    let orders = stream("order-1");
    append(&store, &orders, ExpectedRevision::NoStream, 6).await;
    let stored = read_everything(&store).await;

    let mut subscription = store.subscribe_to_all(Some(stored[2].position));
    let caught_up = receive(&mut subscription, 3).await;
    assert_eq!(caught_up, stored[3..], "the position itself is excluded");

    let mut from_last = store.subscribe_to_all(Some(stored[5].position));
    append(&store, &stream("invoice-1"), ExpectedRevision::NoStream, 2).await;
    let all = read_everything(&store).await;
    assert_eq!(receive(&mut subscription, 2).await, all[6..]);
    assert_eq!(
        receive(&mut from_last, 2).await,
        all[6..],
        "only events after the last"
    );
    assert_quiet(&mut from_last).await;
}

/// A stream subscription delivers that stream's events only: stored ones, then live ones.
pub async fn subscribe_to_stream_catches_up_then_follows_live<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");
    interleave(&store, &orders, &invoices, 4).await;

    let mut subscription = store.subscribe_to_stream(orders.clone(), None);
    let caught_up = receive(&mut subscription, 4).await;
    assert_eq!(caught_up, read_stream(&store, &orders).await);

    append(&store, &invoices, ExpectedRevision::Any, 3).await;
    append(&store, &orders, ExpectedRevision::Any, 2).await;
    append(&store, &invoices, ExpectedRevision::Any, 1).await;
    append(&store, &orders, ExpectedRevision::Any, 1).await;
    let live = receive(&mut subscription, 3).await;
    assert_eq!(live, read_stream(&store, &orders).await[4..]);
    assert_eq!(revisions(&live), [4, 5, 6]);
    assert_quiet(&mut subscription).await;
}

/// A stream subscription from a revision starts right after it.
pub async fn subscribe_to_stream_after_revision<S: EventStore>(store: S) {
    let orders = stream("order-1");
    interleave(&store, &orders, &stream("invoice-1"), 5).await;

    let mut subscription = store.subscribe_to_stream(orders.clone(), Some(StreamRevision(2)));
    assert_eq!(revisions(&receive(&mut subscription, 2).await), [3, 4]);
    append(
        &store,
        &orders,
        ExpectedRevision::Exact(StreamRevision(4)),
        1,
    )
    .await;
    let live = receive(&mut subscription, 1).await;
    assert_eq!(live, read_stream(&store, &orders).await[5..]);
    assert_quiet(&mut subscription).await;
}

/// A subscription to a stream that does not exist yet waits for its first event.
pub async fn subscribe_to_stream_before_it_exists<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let mut subscription = store.subscribe_to_stream(orders.clone(), None);
    append(&store, &stream("invoice-1"), ExpectedRevision::NoStream, 2).await;
    append(&store, &orders, ExpectedRevision::NoStream, 2).await;
    let delivered = receive(&mut subscription, 2).await;
    assert_eq!(delivered, read_stream(&store, &orders).await);
    assert_eq!(revisions(&delivered), [0, 1]);
}

// ---------------------------------------------------------------------------------------------
// Content

/// Ids, types, schema versions, data and metadata come back exactly as appended, the same
/// through every way of reading.
pub async fn event_fields_round_trip<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let appended = vec![
        NewEvent {
            id: Uuid::new_v4(),
            event_type: "order-placed".to_owned(),
            schema_version: 3,
            data: json!({
                "text": "Grüße, \"quoted\"\nline two \u{1F600} \\ tab\t",
                "integers": [0, -1, i64::MIN, u64::MAX],
                "floats": [0.1, -2.5e-300, 1.7976931348623157e308, 3.0],
                "nested": {"empty_object": {}, "empty_array": [], "null": null, "flag": true},
            }),
            metadata: json!({"correlation_id": Uuid::new_v4(), "actor": "user-1"}),
        },
        NewEvent {
            id: Uuid::new_v4(),
            event_type: "order.item-added/v2".to_owned(),
            schema_version: u32::MAX,
            data: json!([1, "two", null]),
            metadata: Value::Null,
        },
        NewEvent {
            id: Uuid::nil(),
            event_type: "scalar".to_owned(),
            schema_version: 0,
            data: json!("just a string"),
            metadata: json!(42),
        },
    ];
    let before = Utc::now();
    let outcome = store
        .append(request(
            &orders,
            ExpectedRevision::NoStream,
            appended.clone(),
        ))
        .await
        .expect("append");
    let after = Utc::now();

    let stored = read_stream(&store, &orders).await;
    assert_eq!(stored.len(), appended.len());
    for (event, new) in stored.iter().zip(&appended) {
        assert_eq!(event.id, new.id);
        assert_eq!(event.stream, orders);
        assert_eq!(event.event_type, new.event_type);
        assert_eq!(event.schema_version, new.schema_version);
        assert_eq!(event.data, new.data);
        assert_eq!(event.metadata, new.metadata);
        assert_eq!(event.unreadable, None, "an intact payload is never marked");
        // Generous bounds: the clock recording the event may be another machine's.
        let slack = chrono::Duration::minutes(5);
        assert!(
            event.recorded_at >= before - slack && event.recorded_at <= after + slack,
            "recorded_at {} is not around the append ({before} .. {after})",
            event.recorded_at
        );
    }
    assert_eq!(
        stored.last().map(|event| event.position),
        Some(outcome.position)
    );

    assert_eq!(
        read_everything(&store).await,
        stored,
        "read_all returns the same events"
    );
    let mut backward =
        read_stream_from(&store, &orders, Direction::Backward, ReadFrom::End, 10).await;
    backward.reverse();
    assert_eq!(backward, stored, "backward reads return the same events");
    let mut subscription = store.subscribe_to_stream(orders.clone(), None);
    assert_eq!(
        receive(&mut subscription, 3).await,
        stored,
        "subscriptions deliver the same"
    );
    let mut all = store.subscribe_to_all(None);
    assert_eq!(
        receive(&mut all, 3).await,
        stored,
        "subscriptions deliver the same"
    );
}

// ---------------------------------------------------------------------------------------------
// Hash chain

/// Every event carries its stream's chain hash, linked within a multi-event append and
/// across appends, whatever other streams do in between; every way of reading returns the
/// same hashes.
pub async fn appended_events_form_a_hash_chain<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");
    append(&store, &orders, ExpectedRevision::NoStream, 3).await;
    append(&store, &invoices, ExpectedRevision::NoStream, 2).await;
    append(&store, &orders, ExpectedRevision::Any, 1).await;
    append(&store, &invoices, ExpectedRevision::Any, 1).await;
    append(
        &store,
        &orders,
        ExpectedRevision::Exact(StreamRevision(3)),
        4,
    )
    .await;

    let stored = read_stream(&store, &orders).await;
    assert_eq!(revisions(&stored), (0..8).collect::<Vec<_>>());
    assert_chain(&stored);
    assert_chain(&read_stream(&store, &invoices).await);
    for event in &stored {
        assert!(
            event.hash.len() == 64 && event.hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "revision {}: the hash is not 64 hex digits: {:?}",
            event.revision,
            event.hash
        );
        assert_eq!(event.hash, event.hash.to_ascii_lowercase(), "lowercase hex");
    }
    assert_eq!(
        stored[0].hash,
        chain::event_hash(None, &stored[0]),
        "revision 0 chains from the genesis marker"
    );
    assert_eq!(
        stored[3].hash,
        chain::event_hash(Some(&stored[2].hash), &stored[3]),
        "an append continues from the stream's last hash"
    );
    assert_eq!(
        stored[5].hash,
        chain::event_hash(Some(&stored[4].hash), &stored[5]),
        "the events of one append link to each other"
    );

    // Pages verify one after another, ending at the stream's head.
    let mut verifier = ChainVerifier::new();
    for from in [0, 3, 6] {
        for event in read_stream_from(&store, &orders, Direction::Forward, at(from), 3).await {
            verifier
                .push(&event)
                .unwrap_or_else(|error| panic!("paged verification failed: {error}"));
        }
    }
    assert_eq!(verifier.verified(), 8);
    assert_eq!(verifier.head(), Some(stored[7].hash.as_str()));

    let mut backward =
        read_stream_from(&store, &orders, Direction::Backward, ReadFrom::End, 100).await;
    backward.reverse();
    assert_eq!(backward, stored, "backward reads carry the same hashes");
    let from_log: Vec<_> = read_everything(&store)
        .await
        .into_iter()
        .filter(|event| event.stream == orders)
        .collect();
    assert_eq!(from_log, stored, "read_all carries the same hashes");
}

/// The same payload at another revision or in another stream hashes differently: a hash
/// identifies an event's place, not just its content.
pub async fn identical_payloads_hash_differently<S: EventStore>(store: S) {
    let same = |_| NewEvent {
        id: Uuid::new_v4(),
        event_type: "ping".to_owned(),
        schema_version: 1,
        data: json!({"same": true}),
        metadata: json!({}),
    };
    let streams = [stream("ping-1"), stream("ping-2")];
    for target in &streams {
        store
            .append(request(
                target,
                ExpectedRevision::NoStream,
                (0..3).map(same).collect(),
            ))
            .await
            .expect("append");
        store
            .append(request(target, ExpectedRevision::Any, vec![same(3)]))
            .await
            .expect("append");
    }

    let mut hashes = HashSet::new();
    for target in &streams {
        let stored = read_stream(&store, target).await;
        assert_eq!(stored.len(), 4);
        assert_chain(&stored);
        for event in stored {
            assert!(
                hashes.insert(event.hash.clone()),
                "{} revision {}: hash {} repeats another event's",
                event.stream,
                event.revision,
                event.hash
            );
        }
    }
}

/// A replayed idempotent append writes nothing and leaves the stored hashes as they were;
/// the chain continues from them.
pub async fn replayed_append_leaves_hashes_unchanged<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let keyed = AppendRequest {
        idempotency: Some(key("place-order-1", "sha-1")),
        ..request(
            &orders,
            ExpectedRevision::NoStream,
            numbered_events("order-placed", 3),
        )
    };
    let first = store.append(keyed.clone()).await.expect("first append");
    let before = read_stream(&store, &orders).await;
    assert_chain(&before);

    let again = store.append(keyed.clone()).await.expect("replay");
    assert!(again.replayed, "the retry is a replay");
    assert_eq!(
        read_stream(&store, &orders).await,
        before,
        "a replay leaves events and hashes as they were"
    );

    append(&store, &orders, ExpectedRevision::Any, 2).await;
    let later = store.append(keyed).await.expect("late replay");
    assert_eq!(
        later,
        AppendOutcome {
            replayed: true,
            ..first
        }
    );
    let after = read_stream(&store, &orders).await;
    assert_eq!(after[..3], before[..], "earlier hashes never change");
    assert_eq!(revisions(&after), [0, 1, 2, 3, 4]);
    assert_chain(&after);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Fails unless `events` (one whole stream) verifies.
fn assert_chain(events: &[RecordedEvent]) {
    if let Err(error) = chain::verify(events) {
        panic!("the stored hash chain does not verify: {error}");
    }
}

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn key(key: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
    }
}

fn numbered_events(event_type: &str, count: u64) -> Vec<NewEvent> {
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

fn request(
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

async fn append<S: EventStore + ?Sized>(
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

async fn append_err<S: EventStore>(
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
async fn interleave<S: EventStore>(store: &S, first: &StreamName, second: &StreamName, count: u64) {
    for _ in 0..count {
        append(store, first, ExpectedRevision::Any, 1).await;
        append(store, second, ExpectedRevision::Any, 1).await;
    }
}

/// Nine events over three streams, in a mixed order; returns their ids in append order.
async fn interleave_three<S: EventStore>(store: &S) -> Vec<Uuid> {
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

async fn read_stream<S: EventStore + ?Sized>(store: &S, stream: &StreamName) -> Vec<RecordedEvent> {
    read_stream_from(store, stream, Direction::Forward, ReadFrom::Start, 10_000).await
}

async fn read_stream_from<S: EventStore + ?Sized>(
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

async fn read_everything<S: EventStore + ?Sized>(store: &S) -> Vec<RecordedEvent> {
    read_all_from(store, Direction::Forward, ReadFrom::Start, 10_000).await
}

async fn read_all_from<S: EventStore + ?Sized>(
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

async fn revision_of<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamName,
) -> Option<StreamRevision> {
    store
        .stream_revision(stream)
        .await
        .expect("stream revision")
}

/// The next `count` events of a subscription, failing if one takes too long.
async fn receive(subscription: &mut Subscription, count: u64) -> Vec<RecordedEvent> {
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

/// Fails if the subscription delivers anything more (a duplicate, or a stray event).
async fn assert_quiet(subscription: &mut Subscription) {
    if let Ok(next) = tokio::time::timeout(QUIET_PERIOD, subscription.next()).await {
        panic!("subscription delivered more than was appended: {next:?}");
    }
}

async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("task completes without panicking"));
    }
    results
}

fn assert_wrong_expected(
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

fn assert_strictly_increasing(positions: &[Position]) {
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions are not strictly increasing: {positions:?}"
    );
}

fn at(revision: u64) -> ReadFrom<StreamRevision> {
    ReadFrom::At(StreamRevision(revision))
}

fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.revision.0).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<Position> {
    events.iter().map(|event| event.position).collect()
}

fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

fn ids_of(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}
