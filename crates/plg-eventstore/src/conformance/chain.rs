//! The hash chain: every backend stores the same hashes, so that alterations of history show.

use std::collections::HashSet;

use serde_json::json;
use uuid::Uuid;

use crate::chain::{self, ChainVerifier};
use crate::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom,
    StreamRevision,
};

use super::helpers::{
    append, assert_chain, at, key, numbered_events, read_everything, read_stream, read_stream_from,
    request, revisions, stream,
};

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
