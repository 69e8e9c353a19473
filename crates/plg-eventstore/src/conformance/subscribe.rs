//! Subscriptions: stored events, then live ones, with no gap and no duplicate at the hand-over.

use std::sync::Arc;

use futures::StreamExt;

use crate::{EventStore, ExpectedRevision, StreamRevision};

use super::QUIET_PERIOD;
use super::helpers::{
    append, assert_quiet, assert_strictly_increasing, ids, interleave, join_all, positions,
    read_everything, read_stream, receive, receive_stored, revisions, stream,
};

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

/// The stored subscription delivers what `subscribe_to_all` does, as the text each event
/// parses from, in non-empty pages: stored events from a position on, then live ones.
pub async fn subscribe_to_all_stored_is_subscribe_to_all_as_text<S: EventStore>(store: S) {
    let orders = stream("order-1");
    let invoices = stream("invoice-1");
    interleave(&store, &orders, &invoices, 3).await;
    let stored = read_everything(&store).await;

    let mut subscription = store.subscribe_to_all_stored(Some(stored[1].position));
    let caught_up = receive_stored(&mut subscription, 4).await;
    assert_eq!(caught_up, stored[2..], "stored events after the position");

    append(&store, &invoices, ExpectedRevision::Any, 2).await;
    append(&store, &orders, ExpectedRevision::Any, 1).await;
    let live = receive_stored(&mut subscription, 3).await;
    assert_eq!(live, read_everything(&store).await[6..], "new events");
    if let Ok(next) = tokio::time::timeout(QUIET_PERIOD, subscription.next()).await {
        panic!("stored subscription delivered more than was appended: {next:?}");
    }
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
