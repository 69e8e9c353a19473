//! `BatchAppend` through plgd's KurrentDB listener, with the wire crate's generated client
//! (the official Rust client hides the replies' statuses): batches answered by correlation
//! id, with KurrentDB's error details; and `ServerFeatures` offering appends only when they
//! are served.

use kurrentdb::{AppendToStreamOptions, EventData, ReadStreamOptions, StreamState};
use plg_kurrentdb_wire::event_store::client::{
    AccessDenied, BadRequest, Empty, StreamIdentifier, Uuid as WireUuid, WrongExpectedVersion,
    server_features::server_features_client::ServerFeaturesClient,
    streams::{
        BatchAppendReq, BatchAppendResp, ProposedMessage,
        batch_append_req::{Options, options::ExpectedStreamPosition},
        batch_append_resp::{self, success::CurrentRevisionOption},
    },
    uuid as wire_uuid,
    wrong_expected_version::{CurrentStreamRevisionOption, ExpectedStreamPositionOption},
};
use plg_proto::v1;
use plg_testkit::everything;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::{
    WAIT, all_of, client, never_written, proposed, raw_client, start_serving_kurrentdb,
    start_with_one_request_in_flight,
};

fn correlation() -> WireUuid {
    WireUuid {
        value: Some(wire_uuid::Value::String(Uuid::new_v4().to_string())),
    }
}

/// A batch's chunk; the first one carries the options.
fn chunk(
    correlation_id: &WireUuid,
    first: Option<(&str, ExpectedStreamPosition)>,
    events: Vec<ProposedMessage>,
    is_final: bool,
) -> BatchAppendReq {
    BatchAppendReq {
        correlation_id: Some(correlation_id.clone()),
        options: first.map(|(stream, expected)| Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.as_bytes().to_vec(),
            }),
            expected_stream_position: Some(expected),
            deadline_option: None,
        }),
        proposed_messages: events,
        is_final,
    }
}

/// The reply to the batch `correlation_id`.
fn answer<'a>(replies: &'a [BatchAppendResp], correlation_id: &WireUuid) -> &'a BatchAppendResp {
    let found = replies
        .iter()
        .find(|reply| reply.correlation_id.as_ref() == Some(correlation_id));
    found.unwrap_or_else(|| panic!("no reply to {correlation_id:?} in {replies:?}"))
}

fn revision(reply: &BatchAppendResp) -> Option<u64> {
    match &reply.result {
        Some(batch_append_resp::Result::Success(success)) => {
            match success.current_revision_option {
                Some(CurrentRevisionOption::CurrentRevision(revision)) => Some(revision),
                _ => None,
            }
        }
        _ => None,
    }
}

/// An error reply's code and its detail, decoded as `M` once its type is `type_name`.
fn error_detail<M: prost::Message + Default>(
    reply: &BatchAppendResp,
    type_name: &str,
) -> anyhow::Result<(tonic::Code, String, M)> {
    let Some(batch_append_resp::Result::Error(status)) = &reply.result else {
        anyhow::bail!("not an error: {reply:?}");
    };
    let details = status
        .details
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no details"))?;
    anyhow::ensure!(
        details.type_url == format!("type.googleapis.com/{type_name}"),
        "{}",
        details.type_url
    );
    let detail = M::decode(details.value.as_slice())?;
    Ok((
        tonic::Code::from(status.code),
        status.message.clone(),
        detail,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_are_answered_by_correlation_id_with_kurrentdb_error_details() -> anyhow::Result<()>
{
    let server = start_serving_kurrentdb(true).await?;
    let mut raw = raw_client(&server, server.operator_key()?).await?;
    let (stream, other) = (
        format!("raw-{}", Uuid::new_v4().simple()),
        format!("raw-{}", Uuid::new_v4().simple()),
    );
    let (first, second) = (proposed("First", b"{}"), proposed("Second", b"[1]"));
    let [split, single, conflict, system, invalid, retried] =
        std::array::from_fn::<_, 6, _>(|_| correlation());
    let not_json = ProposedMessage {
        data: b"{".to_vec(),
        ..proposed("Broken", b"{}")
    };
    let requests = vec![
        // One batch in two chunks, another whole between them.
        chunk(
            &split,
            Some((&stream, ExpectedStreamPosition::NoStream(()))),
            vec![first.clone()],
            false,
        ),
        chunk(
            &single,
            Some((&other, ExpectedStreamPosition::Any(()))),
            vec![proposed("Other", b"{}")],
            true,
        ),
        chunk(&split, None, vec![second.clone()], true),
        chunk(
            &conflict,
            Some((&stream, ExpectedStreamPosition::NoStream(()))),
            vec![proposed("Late", b"{}")],
            true,
        ),
        chunk(
            &system,
            Some(("$system", ExpectedStreamPosition::Any(()))),
            vec![proposed("Forged", b"{}")],
            true,
        ),
        chunk(
            &invalid,
            Some((&stream, ExpectedStreamPosition::StreamPosition(1))),
            vec![not_json],
            true,
        ),
        // The first batch again: the same answer, nothing written.
        chunk(
            &retried,
            Some((&stream, ExpectedStreamPosition::NoStream(()))),
            vec![first.clone(), second.clone()],
            true,
        ),
    ];
    let mut replies = raw
        .batch_append(futures::stream::iter(requests))
        .await?
        .into_inner();
    let mut answered = Vec::new();
    while let Some(reply) = tokio::time::timeout(WAIT, replies.message()).await?? {
        answered.push(reply);
    }
    assert_eq!(answered.len(), 6, "{answered:?}");
    assert_eq!(revision(answer(&answered, &single)), Some(0));
    let written = answer(&answered, &split);
    assert_eq!(revision(written), Some(1));
    assert_eq!(
        written
            .stream_identifier
            .as_ref()
            .map(|id| id.stream_name.as_slice()),
        Some(stream.as_bytes())
    );
    let again = answer(&answered, &retried);
    assert_eq!(
        again.result, written.result,
        "the same revision and position"
    );

    let (code, _, detail) = error_detail::<WrongExpectedVersion>(
        answer(&answered, &conflict),
        "event_store.client.WrongExpectedVersion",
    )?;
    assert_eq!(code, tonic::Code::AlreadyExists);
    assert_eq!(
        detail.current_stream_revision_option,
        Some(CurrentStreamRevisionOption::CurrentStreamRevision(1))
    );
    assert_eq!(
        detail.expected_stream_position_option,
        Some(ExpectedStreamPositionOption::ExpectedNoStream(Empty {}))
    );
    let (code, _, AccessDenied {}) = error_detail::<AccessDenied>(
        answer(&answered, &system),
        "event_store.client.AccessDenied",
    )?;
    assert_eq!(code, tonic::Code::PermissionDenied);
    let (code, message, detail) =
        error_detail::<BadRequest>(answer(&answered, &invalid), "event_store.client.BadRequest")?;
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(message.contains("proposed_messages[0].data"), "{message}");
    assert_eq!(detail.message, message);

    // Exactly the two events, once.
    let operator = client(&server, server.operator_key()?)?;
    let stored = all_of(
        operator
            .read_stream(stream.as_str(), &ReadStreamOptions::default())
            .await?,
    )
    .await?;
    let ids: Vec<String> = stored
        .iter()
        .map(|event| event.get_original_event().id.to_string())
        .collect();
    let sent: Vec<String> = [first, second]
        .iter()
        .filter_map(|event| match event.id.as_ref()?.value.as_ref()? {
            wire_uuid::Value::String(id) => Some(id.clone()),
            wire_uuid::Value::Structured(_) => None,
        })
        .collect();
    assert_eq!(ids, sent);
    server.stop().await?;
    Ok(())
}

/// The `(service, method)` pairs a server says it supports.
async fn supported(server: &plg_testkit::TestServer) -> anyhow::Result<Vec<(String, String)>> {
    let address = server
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    let mut features = ServerFeaturesClient::connect(format!("http://{address}")).await?;
    let methods = features.get_supported_methods(Empty {}).await?.into_inner();
    Ok(methods
        .methods
        .into_iter()
        .map(|method| (method.service_name, method.method_name))
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_are_offered_and_served_only_when_allowed() -> anyhow::Result<()> {
    let streams = "event_store.client.streams.streams".to_owned();
    let appends = [
        (streams.clone(), "append".to_owned()),
        (streams.clone(), "batchappend".to_owned()),
    ];
    let server = start_serving_kurrentdb(false).await?;
    let offered = supported(&server).await?;
    assert!(offered.contains(&(streams.clone(), "read".to_owned())));
    assert!(
        appends.iter().all(|append| !offered.contains(append)),
        "{offered:?}"
    );
    let mut raw = raw_client(&server, server.operator_key()?).await?;
    let batch = chunk(
        &correlation(),
        Some(("raw-refused", ExpectedStreamPosition::Any(()))),
        vec![proposed("Forged", b"{}")],
        true,
    );
    let refused = raw
        .batch_append(futures::stream::iter([batch.clone()]))
        .await
        .err();
    assert_eq!(
        refused.map(|status| status.code()),
        Some(tonic::Code::PermissionDenied)
    );
    server.stop().await?;

    let server = start_serving_kurrentdb(true).await?;
    let offered = supported(&server).await?;
    assert!(
        appends.iter().all(|append| offered.contains(append)),
        "{offered:?}"
    );
    let administrator = server
        .issue_key("administrator", v1::Role::Administrator, everything())
        .await?
        .api_key;
    let mut raw = raw_client(&server, &administrator).await?;
    let refused = raw.batch_append(futures::stream::iter([batch])).await.err();
    assert_eq!(
        refused.map(|status| status.code()),
        Some(tonic::Code::PermissionDenied),
        "administrators do not write raw events"
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_are_bounded_in_size_and_by_the_keys_requests_in_flight() -> anyhow::Result<()> {
    let server = start_with_one_request_in_flight(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let stream = format!("raw-{}", Uuid::new_v4().simple());
    let options = AppendToStreamOptions::default().stream_state(StreamState::Any);
    let event = || EventData::json("Small", &serde_json::json!({}));

    // Over the count: KurrentDB's maximum-append-size-exceeded, and nothing written.
    let too_many = (0..1_001).map(|_| event()).collect::<Result<Vec<_>, _>>()?;
    let refused = operator
        .append_to_stream(stream.as_str(), &options, too_many)
        .await;
    assert!(
        matches!(&refused, Err(kurrentdb::Error::Grpc { code, .. }) if format!("{code:?}") == "InvalidArgument"),
        "{refused:?}"
    );
    assert!(never_written(&operator, &stream).await?);

    // An open batch append call is the key's one request in flight.
    let mut raw = raw_client(&server, server.operator_key()?).await?;
    let (open, requests) = tokio::sync::mpsc::channel(1);
    let opened = chunk(
        &correlation(),
        Some((&stream, ExpectedStreamPosition::Any(()))),
        vec![proposed("Open", b"{}")],
        true,
    );
    open.send(opened).await?;
    let mut replies = raw
        .batch_append(ReceiverStream::new(requests))
        .await?
        .into_inner();
    let first = tokio::time::timeout(WAIT, replies.message()).await??;
    assert_eq!(first.as_ref().and_then(revision), Some(0));
    let busy = operator
        .append_to_stream(stream.as_str(), &options, event()?)
        .await;
    assert!(
        matches!(&busy, Err(kurrentdb::Error::Grpc { code, .. }) if format!("{code:?}") == "ResourceExhausted"),
        "{busy:?}"
    );
    drop(open);
    assert!(
        tokio::time::timeout(WAIT, replies.message())
            .await??
            .is_none()
    );
    let written = tokio::time::timeout(WAIT, async {
        loop {
            match operator
                .append_to_stream(stream.as_str(), &options, event()?)
                .await
            {
                Err(kurrentdb::Error::Grpc { code, .. })
                    if format!("{code:?}") == "ResourceExhausted" =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => break anyhow::Ok(other?),
            }
        }
    })
    .await??;
    assert_eq!(written.next_expected_version, 1);
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_while_a_batch_append_call_is_open_writes_no_more() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let issued = server
        .issue_key("migration", v1::Role::Operator, v1::Scope::default())
        .await?;
    let mut raw = raw_client(&server, &issued.api_key).await?;
    let (before, after) = (
        format!("raw-{}", Uuid::new_v4().simple()),
        format!("raw-{}", Uuid::new_v4().simple()),
    );
    let (send, requests) = tokio::sync::mpsc::channel(1);
    let mut replies = raw
        .batch_append(ReceiverStream::new(requests))
        .await?
        .into_inner();
    let batch = |stream: &str| {
        chunk(
            &correlation(),
            Some((stream, ExpectedStreamPosition::Any(()))),
            vec![proposed("Migrated", b"{}")],
            true,
        )
    };
    send.send(batch(&before)).await?;
    let written = tokio::time::timeout(WAIT, replies.message()).await??;
    assert_eq!(written.as_ref().and_then(revision), Some(0), "{written:?}");

    server
        .operator()
        .await?
        .admin
        .revoke_api_key(v1::RevokeApiKeyRequest {
            options: plg_testkit::options(),
            key_id: issued.key_id.clone(),
            reason: "revoked mid-call".to_owned(),
        })
        .await?;
    send.send(batch(&after)).await?;
    let refused = tokio::time::timeout(WAIT, replies.message())
        .await??
        .ok_or_else(|| anyhow::anyhow!("no reply to the batch after the revocation"))?;
    let (code, _, AccessDenied {}) =
        error_detail::<AccessDenied>(&refused, "event_store.client.AccessDenied")?;
    assert_eq!(code, tonic::Code::Unauthenticated);
    let operator = client(&server, server.operator_key()?)?;
    assert!(never_written(&operator, &after).await?, "nothing written");
    drop(send);
    server.stop().await?;
    Ok(())
}
