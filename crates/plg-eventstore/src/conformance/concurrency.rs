//! Concurrent writers: positions stay unique and each expected revision is won exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use crate::{EventStore, ExpectedRevision, StoreError, StreamRevision};

use super::helpers::{
    append, assert_strictly_increasing, assert_wrong_expected, join_all, numbered_events,
    positions, read_everything, read_stream, request, revision_of, revisions, stream,
};

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
