//! Raw writes through plgd's KurrentDB listener (`--kurrentdb-allow-raw-writes`), with
//! KurrentDB's official Rust client: expected revisions and their conflicts, idempotency by
//! event id, what is refused, and the round trip another backend relies on (an event reads
//! back with its id, type and the compact JSON of its data and custom metadata).

use kurrentdb::{
    AppendToStreamOptions, Client, CurrentRevision, EventData, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, ResolvedEvent, StreamPosition, StreamState, SubscribeToStreamOptions,
    SubscriptionEvent, SubscriptionFilter, WriteResult,
};
use plg_kurrentdb_wire::event_store::client::streams::ProposedMessage;
use plg_proto::v1;
use plg_server::{app::AppError, config::Config};
use plg_testkit::everything;
use serde_json::json;
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::{
    WAIT, all_of, append_event, append_options, client, never_written, proposed, raw_client,
    start_serving_kurrentdb,
};

fn new_stream() -> String {
    format!("raw-{}", Uuid::new_v4().simple())
}

fn event(event_type: &str, data: &serde_json::Value) -> anyhow::Result<EventData> {
    Ok(EventData::json(event_type, data)?.id(Uuid::new_v4()))
}

fn expecting(state: StreamState) -> AppendToStreamOptions {
    AppendToStreamOptions::default().stream_state(state)
}

async fn read_back(client: &Client, stream: &str) -> anyhow::Result<Vec<ResolvedEvent>> {
    all_of(
        client
            .read_stream(stream, &ReadStreamOptions::default())
            .await?,
    )
    .await
}

fn recorded(events: &[ResolvedEvent]) -> impl Iterator<Item = &RecordedEvent> {
    events.iter().map(ResolvedEvent::get_original_event)
}

fn ids(events: &[ResolvedEvent]) -> Vec<Uuid> {
    recorded(events).map(|event| event.id).collect()
}

/// The client's conflict, as `(expected, current)`.
fn conflict(written: kurrentdb::Result<WriteResult>) -> Option<(StreamState, CurrentRevision)> {
    match written {
        Err(kurrentdb::Error::WrongExpectedVersion { expected, current }) => {
            Some((expected, current))
        }
        _ => None,
    }
}

fn grpc_code(error: &kurrentdb::Error) -> Option<String> {
    match error {
        // The client's tonic is not the workspace's: its code by name.
        kurrentdb::Error::Grpc { code, .. } => Some(format!("{code:?}")),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_answer_each_expected_revision_as_kurrentdb_does() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let stream = new_stream();
    let append = |state, events: Vec<EventData>| {
        let (operator, stream) = (operator.clone(), stream.clone());
        async move {
            operator
                .append_to_stream(stream, &expecting(state), events)
                .await
        }
    };
    let one = || event("Noted", &json!({"n": 1}));

    // Stream exists, on no stream: a conflict naming no stream.
    assert_eq!(
        conflict(append(StreamState::StreamExists, vec![one()?]).await),
        Some((StreamState::StreamExists, CurrentRevision::NoStream))
    );
    let created = append(StreamState::NoStream, vec![one()?, one()?]).await?;
    assert_eq!(created.next_expected_version, 1);
    let exact = append(StreamState::StreamRevision(1), vec![one()?]).await?;
    assert_eq!(exact.next_expected_version, 2);
    let exists = append(StreamState::StreamExists, vec![one()?]).await?;
    assert_eq!(exists.next_expected_version, 3);
    let any = append(StreamState::Any, vec![one()?]).await?;
    assert_eq!(any.next_expected_version, 4);
    assert_eq!(
        conflict(append(StreamState::StreamRevision(1), vec![one()?]).await),
        Some((StreamState::StreamRevision(1), CurrentRevision::Current(4)))
    );
    assert_eq!(
        conflict(append(StreamState::NoStream, vec![one()?]).await),
        Some((StreamState::NoStream, CurrentRevision::Current(4)))
    );

    // Each success answers where its last event lies, commit and prepare the store's
    // position; conflicts wrote nothing.
    let stored = read_back(&operator, &stream).await?;
    assert_eq!(stored.len(), 5);
    for (written, last) in [(created, 1), (exact, 2), (exists, 3), (any, 4)] {
        assert_eq!(written.position, stored[last].get_original_event().position);
        assert_eq!(written.position.commit, written.position.prepare);
    }
    let positions: Vec<u64> = recorded(&stored)
        .map(|event| event.position.commit)
        .collect();
    assert!(positions.is_sorted(), "{positions:?}");

    // Raw events carry schema version 1, as the event log shows them.
    let mut tool = server.administrator().await?;
    let logged = tool.read_stream(&stream).await?;
    assert_eq!(
        logged
            .iter()
            .map(|event| (event.event_id.clone(), event.schema_version))
            .collect::<Vec<_>>(),
        ids(&stored)
            .iter()
            .map(|id| (id.to_string(), 1))
            .collect::<Vec<_>>()
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn appending_the_same_ids_again_succeeds_and_writes_nothing() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let stream = new_stream();
    let append = |state, events: &[EventData]| {
        let (operator, stream, events) = (operator.clone(), stream.clone(), events.to_vec());
        async move {
            operator
                .append_to_stream(stream, &expecting(state), events)
                .await
        }
    };
    let (a, b, c, d) = (
        event("A", &json!({}))?,
        event("B", &json!({}))?,
        event("C", &json!({}))?,
        event("D", &json!({}))?,
    );

    // Each append, made twice: the second answers as the first did.
    let first = append(StreamState::NoStream, &[a.clone(), b.clone()]).await?;
    let again = append(StreamState::NoStream, &[a.clone(), b.clone()]).await?;
    assert_eq!(
        (again.next_expected_version, again.position),
        (first.next_expected_version, first.position)
    );
    let exact = append(StreamState::StreamRevision(1), std::slice::from_ref(&c)).await?;
    let again = append(StreamState::StreamRevision(1), std::slice::from_ref(&c)).await?;
    assert_eq!(
        (again.next_expected_version, again.position),
        (exact.next_expected_version, exact.position)
    );
    let any = append(StreamState::Any, std::slice::from_ref(&d)).await?;
    for state in [StreamState::Any, StreamState::StreamExists] {
        let again = append(state, std::slice::from_ref(&d)).await?;
        assert_eq!(
            (again.next_expected_version, again.position),
            (any.next_expected_version, any.position)
        );
    }
    let stored = read_back(&operator, &stream).await?;
    assert_eq!(stored.len(), 4, "nothing written twice");

    // A partial match, some ids where the append targets and some not, is a conflict.
    let new = event("E", &json!({}))?;
    let partial = [
        (StreamState::StreamRevision(1), vec![c.clone(), new.clone()]),
        (StreamState::NoStream, vec![a.clone(), new.clone()]),
        (StreamState::Any, vec![d.clone(), new.clone()]),
    ];
    for (state, events) in partial {
        assert_eq!(
            conflict(append(state, &events).await),
            Some((state, CurrentRevision::Current(3))),
            "{state:?}"
        );
    }
    assert_eq!(ids(&read_back(&operator, &stream).await?), ids(&stored));
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_reads_back_with_its_id_type_and_compact_json() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let stream = new_stream();
    let data = json!({"zeta": [1, 2.5, -3], "alpha": {"nested": "é ✓", "null": null}, "t": true});
    let metadata = json!({"correlation": "c-1", "hash": "00ff"});
    let with_metadata = event("Tested", &data)?.metadata_as_json(&metadata)?;
    let without = event("Plain", &json!("just a string"))?;
    // Sent with spacing that the store does not keep.
    let spaced = EventData::json("Spaced", &json!(null))?
        .id(Uuid::new_v4())
        .metadata(" { \"b\" : 1 , \"a\" : [ ] } ".into());
    let sent = [with_metadata.clone(), without.clone(), spaced.clone()];
    operator
        .append_to_stream(
            stream.as_str(),
            &expecting(StreamState::NoStream),
            sent.to_vec(),
        )
        .await?;
    let expected = [
        (
            "Tested",
            serde_json::to_vec(&data)?,
            serde_json::to_vec(&metadata)?,
        ),
        (
            "Plain",
            serde_json::to_vec(&json!("just a string"))?,
            Vec::new(),
        ),
        (
            "Spaced",
            b"null".to_vec(),
            serde_json::to_vec(&json!({"b": 1, "a": []}))?,
        ),
    ];
    let shown = |events: &[ResolvedEvent]| {
        recorded(events)
            .map(|event| {
                (
                    event.id,
                    event.event_type.clone(),
                    event.data.to_vec(),
                    event.custom_metadata.to_vec(),
                    event.is_json,
                )
            })
            .collect::<Vec<_>>()
    };
    let stored = read_back(&operator, &stream).await?;
    let wanted: Vec<_> = recorded(&stored)
        .zip(expected)
        .map(|(event, (event_type, data, metadata))| {
            (event.id, event_type.to_owned(), data, metadata, true)
        })
        .collect();
    assert_eq!(shown(&stored), wanted);
    assert_eq!(ids(&stored).len(), 3);

    // $all, filtered to the stream, and a subscription show the same bytes.
    let all = all_of(
        operator
            .read_all(
                &ReadAllOptions::default()
                    .filter(SubscriptionFilter::on_stream_name().add_prefix(stream.as_str())),
            )
            .await?,
    )
    .await?;
    assert_eq!(shown(&all), wanted);
    let mut subscription = operator
        .subscribe_to_stream(
            stream.as_str(),
            &SubscribeToStreamOptions::default().start_from(StreamPosition::Start),
        )
        .await;
    let mut followed = Vec::new();
    while followed.len() < 3 {
        match tokio::time::timeout(WAIT, subscription.next_subscription_event()).await?? {
            SubscriptionEvent::EventAppeared(event) => followed.push(event),
            SubscriptionEvent::Confirmed(_) | SubscriptionEvent::CaughtUp(_) => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(shown(&followed), wanted);
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn content_the_store_cannot_keep_is_refused_and_nothing_of_the_append_is_written()
-> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let stream = new_stream();
    let valid = event("Valid", &json!({"ok": true}))?;
    let invalid = [
        (
            EventData::binary("Binary", "{}".into()).id(Uuid::new_v4()),
            "proposed_message[1].metadata.content-type",
        ),
        (
            EventData::json("Broken", &json!({}))?
                .id(Uuid::new_v4())
                .metadata("{not json".into()),
            "proposed_message[1].custom_metadata",
        ),
        (
            EventData::json("", &json!({}))?.id(Uuid::new_v4()),
            "proposed_message[1].metadata.type",
        ),
        (
            EventData::json("Null", &json!({}))?
                .id(Uuid::new_v4())
                .metadata("null".into()),
            "proposed_message[1].custom_metadata",
        ),
    ];
    for (bad, field) in invalid {
        let refused = operator
            .append_to_stream(
                stream.as_str(),
                &expecting(StreamState::Any),
                vec![valid.clone(), bad],
            )
            .await;
        let error = refused
            .err()
            .ok_or_else(|| anyhow::anyhow!("{field} accepted"))?;
        assert_eq!(
            grpc_code(&error).as_deref(),
            Some("InvalidArgument"),
            "{error}"
        );
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
    // Data that is not JSON under a JSON content type, which the official client cannot send.
    let mut raw = raw_client(&server, server.operator_key()?).await?;
    let not_json = ProposedMessage {
        data: b"{\"unclosed\": ".to_vec(),
        ..proposed("NotJson", b"{}")
    };
    let refused = raw
        .append(futures::stream::iter([
            append_options(&stream),
            append_event(proposed("Valid", b"{}")),
            append_event(not_json),
        ]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("invalid json accepted"))?;
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("proposed_message[1].data"),
        "{refused:?}"
    );
    assert!(never_written(&operator, &stream).await?, "nothing written");

    // System and metadata streams: access denied, as to a KurrentDB user who is no admin.
    for system in ["$system", "$$raw-stream"] {
        let refused = operator
            .append_to_stream(system, &expecting(StreamState::Any), valid.clone())
            .await;
        assert!(
            matches!(refused, Err(kurrentdb::Error::AccessDenied)),
            "{system}: {refused:?}"
        );
    }
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_operators_write_and_only_when_plgd_allows_raw_writes() -> anyhow::Result<()> {
    let forged = || event("Forged", &json!({}));
    let refused = |written: kurrentdb::Result<WriteResult>| {
        matches!(written, Err(kurrentdb::Error::AccessDenied))
    };
    let server = start_serving_kurrentdb(false).await?;
    let operator = client(&server, server.operator_key()?)?;
    assert!(refused(
        operator
            .append_to_stream(new_stream(), &expecting(StreamState::Any), forged()?)
            .await
    ));
    server.stop().await?;

    let server = start_serving_kurrentdb(true).await?;
    let administrator = server
        .issue_key("administrator", v1::Role::Administrator, everything())
        .await?
        .api_key;
    let stream = new_stream();
    for key in [administrator.as_str(), server.partner_tool_key().await?] {
        let writer = client(&server, key)?;
        assert!(refused(
            writer
                .append_to_stream(stream.as_str(), &expecting(StreamState::Any), forged()?)
                .await
        ));
    }
    let operator = client(&server, server.operator_key()?)?;
    assert!(never_written(&operator, &stream).await?);
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn raw_writes_are_refused_without_a_kurrentdb_listener() -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let built = plgd::build(Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.path().to_owned(),
        kurrentdb_allow_raw_writes: true,
        ..Config::default()
    })
    .await;
    assert!(
        matches!(built, Err(AppError::RawWritesWithoutKurrentdb)),
        "{built:?}"
    );
    Ok(())
}
