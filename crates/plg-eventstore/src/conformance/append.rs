//! Appends and expected revisions: the optimistic concurrency every command handler relies on.

use crate::{EventStore, ExpectedRevision, StoreError, StreamRevision};

use super::helpers::{
    append, append_err, assert_strictly_increasing, assert_wrong_expected, ids, ids_of,
    numbered_events, positions, read_everything, read_stream, request, revisions, stream,
};

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
