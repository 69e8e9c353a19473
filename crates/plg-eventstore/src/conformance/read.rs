//! Reads of one stream and of the whole log, both ways: what rehydration and projections use.

use crate::{
    Direction, EventStore, ExpectedRevision, Position, ReadFrom, RecordedEvent, StreamRevision,
};

use super::helpers::{
    append, assert_strictly_increasing, at, ids, interleave, interleave_three, positions,
    read_all_from, read_stream_from, revision_of, revisions, stream,
};

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

/// Forward reads of the global log as stored text: the events `read_all` returns, each
/// with the text its payload and metadata parse from.
pub async fn read_all_stored_is_read_all_as_text<S: EventStore>(store: S) {
    interleave_three(&store).await;
    let all = store
        .read_all(Direction::Forward, ReadFrom::Start, 100)
        .await
        .expect("read");
    let stored = store
        .read_all_stored(ReadFrom::Start, 100)
        .await
        .expect("read");
    let parsed: Vec<RecordedEvent> = stored.into_iter().map(RecordedEvent::from).collect();
    assert_eq!(parsed, all, "the same events, field for field");

    let from_fourth = store
        .read_all_stored(ReadFrom::At(all[3].position), 3)
        .await
        .expect("read");
    assert_eq!(
        from_fourth.iter().map(|event| event.id).collect::<Vec<_>>(),
        ids(&all[3..6]),
        "At is inclusive, and the count bounds the page"
    );
    let end = store
        .read_all_stored(ReadFrom::End, 10)
        .await
        .expect("read");
    assert!(end.is_empty(), "nothing after the end");
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
