//! Event content: every field comes back exactly as appended, however it is read.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom};

use super::helpers::{read_everything, read_stream, read_stream_from, receive, request, stream};

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
