//! What bounds a raw write through plgd's KurrentDB listener, with the wire crate's generated
//! client: every byte of an append counts towards its limit (ids, types, metadata), an event
//! type's length, and the bytes a `BatchAppend` call holds across all its open batches.

use plg_kurrentdb_wire::event_store::client::{
    MaximumAppendSizeExceeded, StreamIdentifier, Uuid as WireUuid,
    streams::{
        BatchAppendReq, BatchAppendResp, ProposedMessage,
        batch_append_req::{Options, options::ExpectedStreamPosition},
        batch_append_resp,
    },
    uuid as wire_uuid,
};
use prost::Message as _;
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::{
    WAIT, append_event, append_options, client, never_written, proposed, raw_client,
    start_serving_kurrentdb,
};

const MIB: usize = 1024 * 1024;

fn new_stream() -> String {
    format!("raw-{}", Uuid::new_v4().simple())
}

/// A small JSON event whose metadata carries `key` set to `bytes` bytes.
fn with_metadata(key: &str, bytes: usize) -> ProposedMessage {
    let mut event = proposed("Small", b"{}");
    event.metadata.insert(key.to_owned(), "x".repeat(bytes));
    event
}

fn correlation() -> WireUuid {
    WireUuid {
        value: Some(wire_uuid::Value::String(Uuid::new_v4().to_string())),
    }
}

fn batch_chunk(
    correlation_id: &WireUuid,
    stream: Option<&str>,
    events: Vec<ProposedMessage>,
    is_final: bool,
) -> BatchAppendReq {
    BatchAppendReq {
        correlation_id: Some(correlation_id.clone()),
        options: stream.map(|stream| Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.as_bytes().to_vec(),
            }),
            expected_stream_position: Some(ExpectedStreamPosition::Any(())),
            deadline_option: None,
        }),
        proposed_messages: events,
        is_final,
    }
}

/// Whether `reply` is KurrentDB's `MaximumAppendSizeExceeded`.
fn too_large(reply: &BatchAppendResp) -> bool {
    let Some(batch_append_resp::Result::Error(status)) = &reply.result else {
        return false;
    };
    status.code == tonic::Code::InvalidArgument as i32
        && status.details.as_ref().is_some_and(|details| {
            details.type_url == "type.googleapis.com/event_store.client.MaximumAppendSizeExceeded"
                && MaximumAppendSizeExceeded::decode(details.value.as_slice()).is_ok()
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_counts_its_metadata_and_types_towards_its_size_limit() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let mut raw = raw_client(&server, server.operator_key()?).await?;

    // Two events of 3 MiB of metadata each: over 4 MiB, though their data is tiny.
    let stream = new_stream();
    let refused = raw
        .append(futures::stream::iter([
            append_options(&stream),
            append_event(with_metadata("padding", 3 * MIB)),
            append_event(with_metadata("padding", 3 * MIB)),
        ]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("6 MiB of metadata accepted"))?;
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(
        refused
            .metadata()
            .get("exception")
            .and_then(|value| value.to_str().ok()),
        Some("maximum-append-size-exceeded")
    );
    assert!(never_written(&operator, &stream).await?, "nothing written");

    // Two events with a 3 MiB type each: refused, nothing written.
    let stream = new_stream();
    let refused = raw
        .append(futures::stream::iter([
            append_options(&stream),
            append_event(with_metadata("type", 3 * MIB)),
            append_event(with_metadata("type", 3 * MIB)),
        ]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("3 MiB types accepted"))?;
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(never_written(&operator, &stream).await?, "nothing written");

    // A type is at most 200 bytes, as a stream name.
    let stream = new_stream();
    let refused = raw
        .append(futures::stream::iter([
            append_options(&stream),
            append_event(with_metadata("type", 201)),
        ]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a 201-byte type accepted"))?;
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("proposed_message[0].metadata.type"),
        "{refused:?}"
    );
    raw.append(futures::stream::iter([
        append_options(&stream),
        append_event(with_metadata("type", 200)),
    ]))
    .await?;
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_append_call_bounds_the_bytes_of_all_its_open_batches() -> anyhow::Result<()> {
    let server = start_serving_kurrentdb(true).await?;
    let operator = client(&server, server.operator_key()?)?;
    let mut raw = raw_client(&server, server.operator_key()?).await?;
    let (first, second, after) = (new_stream(), new_stream(), new_stream());
    let (held, over, small) = (correlation(), correlation(), correlation());
    let requests = vec![
        // Open, 3 MiB held: within one append's limit.
        batch_chunk(
            &held,
            Some(&first),
            vec![with_metadata("padding", 3 * MIB)],
            false,
        ),
        // Another 3 MiB in a second open batch: the call would hold 6 MiB. Refused at once,
        // and its later chunks are ignored (no second answer).
        batch_chunk(
            &over,
            Some(&second),
            vec![with_metadata("padding", 3 * MIB)],
            false,
        ),
        batch_chunk(&over, None, vec![proposed("Ignored", b"{}")], true),
        // The refused batch's bytes are released: a small batch fits beside the held one.
        batch_chunk(&small, Some(&after), vec![proposed("Small", b"{}")], true),
        batch_chunk(&held, None, Vec::new(), true),
    ];
    let mut replies = raw
        .batch_append(futures::stream::iter(requests))
        .await?
        .into_inner();
    let mut answered = Vec::new();
    while let Some(reply) = tokio::time::timeout(WAIT, replies.message()).await?? {
        answered.push(reply);
    }
    let answers = |id: &WireUuid| {
        answered
            .iter()
            .filter(|reply| reply.correlation_id.as_ref() == Some(id))
            .collect::<Vec<_>>()
    };
    let refused = answers(&over);
    assert_eq!(refused.len(), 1, "answered once: {answered:?}");
    assert!(too_large(refused[0]), "{:?}", refused[0]);
    assert!(never_written(&operator, &second).await?, "nothing written");
    for (id, stream) in [(&small, &after), (&held, &first)] {
        let written = answers(id);
        assert!(
            matches!(
                written.as_slice(),
                [BatchAppendResp {
                    result: Some(batch_append_resp::Result::Success(_)),
                    ..
                }]
            ),
            "{written:?}"
        );
        assert!(!never_written(&operator, stream).await?, "{stream} written");
    }
    server.stop().await?;
    Ok(())
}
