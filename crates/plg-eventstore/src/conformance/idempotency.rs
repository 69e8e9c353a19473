//! Idempotency keys: a retried request writes once and answers as the first did.

use std::sync::Arc;

use crate::{
    AppendOutcome, AppendRequest, EventStore, ExpectedRevision, StoreError, StreamRevision,
};

use super::helpers::{
    append, assert_wrong_expected, key, numbered_events, read_everything, request, stream,
};

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
