//! `BatchAppend`: a call carrying any number of appends, each a batch named by its
//! correlation id: its options with its first chunk of events, more chunks, `is_final` on the
//! last. Each batch is answered once, when final: success, or a `google.rpc.Status` with the
//! details KurrentDB packs (`WrongExpectedVersion`, `AccessDenied`,
//! `MaximumAppendSizeExceeded`, `BadRequest`).

use std::collections::{HashMap, hash_map::Entry};

use futures::StreamExt as _;
use plg_eventstore::{EventStore, ExpectedRevision, StoreError, StreamRevision};
use plg_kurrentdb_wire::{
    event_store::client::{
        AccessDenied, AllStreamPosition, BadRequest, Empty, MaximumAppendSizeExceeded,
        Uuid as WireUuid, WrongExpectedVersion,
        streams::{
            BatchAppendReq, BatchAppendResp,
            batch_append_req::{self, options::ExpectedStreamPosition},
            batch_append_resp::{
                self,
                success::{CurrentRevisionOption, PositionOption},
            },
        },
        wrong_expected_version::{CurrentStreamRevisionOption, ExpectedStreamPositionOption},
    },
    google::rpc,
};
use plg_ledger::Caller;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming, metadata::MetadataMap};

use crate::{
    append::{self, Failure, MAX_APPEND_BYTES, Outcome, Proposal, Refusal},
    read::Streams,
    write::{log_raw_write, store_status, system_stream_message, too_large_message},
};

/// Batches a call may have open (options received, not yet final) at once.
const OPEN_BATCHES: usize = 64;
/// Replies queued for a slow client before the call stops reading its requests.
const QUEUE: usize = 64;

pub(crate) type Replies = futures::stream::BoxStream<'static, Result<BatchAppendResp, Status>>;

/// A batch whose final chunk has not come yet.
enum Batch {
    /// Being received; its events are held until its final chunk.
    Open {
        /// Echoed in the reply.
        options: batch_append_req::Options,
        proposal: Proposal,
        received: usize,
    },
    /// Refused and already answered: its events were dropped, and its later chunks are
    /// read and ignored until its final one.
    Refused,
}

/// The batches of one call not yet final, and the bytes they hold together: bounded by
/// [`MAX_APPEND_BYTES`] for the whole call, so that many open batches cannot each hold one
/// append's worth.
#[derive(Default)]
struct OpenBatches {
    batches: HashMap<Vec<u8>, Batch>,
    bytes: usize,
}

/// Serves one `BatchAppend` call: its batches one at a time, in the order they become final.
pub(crate) async fn batch_append(
    streams: &Streams,
    request: Request<Streaming<BatchAppendReq>>,
) -> Result<Response<Replies>, Status> {
    let (_, permit) = streams.writer(&request).await?;
    let streams = streams.clone();
    let credentials = request.metadata().clone();
    let mut requests = request.into_inner();
    let (replies, received) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let _permit = permit;
        let mut open = OpenBatches::default();
        loop {
            let request = tokio::select! {
                request = requests.message() => request,
                () = replies.closed() => return,
            };
            // The client ended the call, or broke it: nobody left to answer.
            let Ok(Some(request)) = request else { return };
            if let Some(reply) = receive(&streams, &credentials, &mut open, request).await
                && replies.send(Ok(reply)).await.is_err()
            {
                return;
            }
        }
    });
    Ok(Response::new(ReceiverStream::new(received).boxed()))
}

/// Takes one chunk of a batch; the batch's reply once it is final, or at once when it is
/// refused (then only once: its later chunks are ignored).
async fn receive(
    streams: &Streams,
    credentials: &MetadataMap,
    open: &mut OpenBatches,
    request: BatchAppendReq,
) -> Option<BatchAppendResp> {
    let BatchAppendReq {
        correlation_id,
        options,
        proposed_messages,
        is_final,
    } = request;
    let key = correlation_id
        .as_ref()
        .map(|id| id.encode_to_vec())
        .unwrap_or_default();
    let has_room = open.batches.len() < OPEN_BATCHES;
    let batch = match open.batches.entry(key.clone()) {
        Entry::Occupied(batch) => batch.into_mut(),
        Entry::Vacant(entry) => {
            let Some(options) = options else {
                let refused = bad_request("a batch's first message carries its options");
                return Some(reply(correlation_id, None, refused));
            };
            if !has_room {
                let message = format!("a call has at most {OPEN_BATCHES} batches open at once");
                return Some(reply(correlation_id, Some(&options), bad_request(&message)));
            }
            entry.insert(Batch::Open {
                options,
                proposal: Proposal::default(),
                received: 0,
            })
        }
    };
    let Batch::Open {
        options,
        proposal,
        received,
    } = batch
    else {
        if is_final {
            open.batches.remove(&key);
        }
        return None;
    };
    let held_before = proposal.bytes();
    let mut refusal = None;
    for event in proposed_messages {
        let field = format!("proposed_messages[{received}]");
        *received += 1;
        let pushed = proposal.push(
            &field,
            event.id.as_ref(),
            &event.metadata,
            &event.custom_metadata,
            &event.data,
        );
        let held = open.bytes - held_before + proposal.bytes();
        if let Err(refused) = pushed {
            refusal = Some(refused);
        } else if held > MAX_APPEND_BYTES {
            refusal = Some(Refusal::TooLarge);
        }
        if refusal.is_some() {
            break;
        }
    }
    open.bytes = open.bytes - held_before + proposal.bytes();
    if let Some(refusal) = refusal {
        let options = options.clone();
        open.bytes -= proposal.bytes();
        if is_final {
            open.batches.remove(&key);
        } else {
            *batch = Batch::Refused;
        }
        return Some(reply(
            correlation_id,
            Some(&options),
            refusal_status(refusal),
        ));
    }
    if !is_final {
        return None;
    }
    let Some(Batch::Open {
        options, proposal, ..
    }) = open.batches.remove(&key)
    else {
        return None;
    };
    open.bytes -= proposal.bytes();
    // Who may write is checked again for every batch: a key revoked while the call is
    // open writes no more.
    let result = match streams.may_write(credentials).await {
        Ok(caller) => settle(streams.store().as_ref(), &caller, options.clone(), proposal).await,
        Err(status) => failed(
            status.code(),
            status.message().to_owned(),
            "event_store.client.AccessDenied",
            &AccessDenied {},
        ),
    };
    Some(reply(correlation_id, Some(&options), result))
}

/// Appends a final batch, or says why not.
async fn settle(
    store: &dyn EventStore,
    caller: &Caller,
    options: batch_append_req::Options,
    proposal: Proposal,
) -> batch_append_resp::Result {
    let name = options
        .stream_identifier
        .map(|identifier| identifier.stream_name)
        .unwrap_or_default();
    let stream = match append::stream_name(&name, "options.stream_identifier") {
        Ok(stream) => stream,
        Err(refusal) => return refusal_status(refusal),
    };
    let expected = match options.expected_stream_position {
        Some(ExpectedStreamPosition::StreamPosition(revision)) => {
            ExpectedRevision::Exact(StreamRevision(revision))
        }
        Some(ExpectedStreamPosition::NoStream(())) => ExpectedRevision::NoStream,
        Some(ExpectedStreamPosition::Any(())) => ExpectedRevision::Any,
        Some(ExpectedStreamPosition::StreamExists(())) => ExpectedRevision::StreamExists,
        None => return bad_request("options.expected_stream_position is required"),
    };
    let events = proposal.len();
    let appended = append::append(store, &stream, expected, proposal).await;
    log_raw_write("batch append", caller, &stream, events, &appended);
    match appended {
        Ok(Outcome::Success { revision, position }) => {
            batch_append_resp::Result::Success(batch_append_resp::Success {
                current_revision_option: Some(
                    revision.map_or(CurrentRevisionOption::NoStream(()), |revision| {
                        CurrentRevisionOption::CurrentRevision(revision.0)
                    }),
                ),
                position_option: Some(position.map_or(PositionOption::NoPosition(()), |at| {
                    PositionOption::Position(AllStreamPosition {
                        commit_position: at.0,
                        prepare_position: at.0,
                    })
                })),
            })
        }
        Ok(Outcome::WrongExpectedVersion { current }) => wrong_expected_version(current, expected),
        Err(Failure::Refused(refusal)) => refusal_status(refusal),
        Err(Failure::Store(error)) => store_failure(error),
    }
}

fn reply(
    correlation_id: Option<WireUuid>,
    options: Option<&batch_append_req::Options>,
    result: batch_append_resp::Result,
) -> BatchAppendResp {
    let expected = options
        .and_then(|options| options.expected_stream_position)
        .map(|expected| match expected {
            ExpectedStreamPosition::StreamPosition(revision) => {
                batch_append_resp::ExpectedStreamPosition::StreamPosition(revision)
            }
            ExpectedStreamPosition::NoStream(()) => {
                batch_append_resp::ExpectedStreamPosition::NoStream(())
            }
            ExpectedStreamPosition::Any(()) => batch_append_resp::ExpectedStreamPosition::Any(()),
            ExpectedStreamPosition::StreamExists(()) => {
                batch_append_resp::ExpectedStreamPosition::StreamExists(())
            }
        });
    BatchAppendResp {
        correlation_id,
        result: Some(result),
        stream_identifier: options.and_then(|options| options.stream_identifier.clone()),
        expected_stream_position: expected,
    }
}

/// A failed batch, as KurrentDB reports it: a status whose details is one of its messages.
fn failed(
    code: Code,
    message: String,
    type_name: &str,
    detail: &impl prost::Message,
) -> batch_append_resp::Result {
    batch_append_resp::Result::Error(rpc::Status {
        code: code as i32,
        message,
        details: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: detail.encode_to_vec(),
        }),
    })
}

fn bad_request(message: &str) -> batch_append_resp::Result {
    let detail = BadRequest {
        message: message.to_owned(),
    };
    failed(
        Code::InvalidArgument,
        message.to_owned(),
        "event_store.client.BadRequest",
        &detail,
    )
}

fn refusal_status(refusal: Refusal) -> batch_append_resp::Result {
    match refusal {
        Refusal::Invalid(violation) => bad_request(&format!(
            "invalid request: {}: {}",
            violation.field, violation.description
        )),
        Refusal::TooLarge => {
            let detail = MaximumAppendSizeExceeded {
                max_append_size: u32::try_from(MAX_APPEND_BYTES).unwrap_or(u32::MAX),
            };
            failed(
                Code::InvalidArgument,
                too_large_message(),
                "event_store.client.MaximumAppendSizeExceeded",
                &detail,
            )
        }
        Refusal::SystemStream(name) => failed(
            Code::PermissionDenied,
            system_stream_message(&name),
            "event_store.client.AccessDenied",
            &AccessDenied {},
        ),
    }
}

fn wrong_expected_version(
    current: Option<StreamRevision>,
    expected: ExpectedRevision,
) -> batch_append_resp::Result {
    let detail = WrongExpectedVersion {
        current_stream_revision_option: Some(current.map_or(
            CurrentStreamRevisionOption::CurrentNoStream(Empty {}),
            |revision| CurrentStreamRevisionOption::CurrentStreamRevision(revision.0),
        )),
        expected_stream_position_option: Some(match expected {
            ExpectedRevision::Exact(revision) => {
                ExpectedStreamPositionOption::ExpectedStreamPosition(revision.0)
            }
            ExpectedRevision::Any => ExpectedStreamPositionOption::ExpectedAny(Empty {}),
            ExpectedRevision::StreamExists => {
                ExpectedStreamPositionOption::ExpectedStreamExists(Empty {})
            }
            ExpectedRevision::NoStream => ExpectedStreamPositionOption::ExpectedNoStream(Empty {}),
        }),
    };
    failed(
        Code::AlreadyExists,
        "WrongExpectedVersion".to_owned(),
        "event_store.client.WrongExpectedVersion",
        &detail,
    )
}

/// The store failed (or refused what the listener let through): the status the main API
/// would answer, with an empty detail as KurrentDB sends for its own failures.
fn store_failure(error: StoreError) -> batch_append_resp::Result {
    let status = store_status(error);
    batch_append_resp::Result::Error(rpc::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Some(prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.Empty".to_owned(),
            value: Vec::new(),
        }),
    })
}
