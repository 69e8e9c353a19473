//! `Append` and `BatchAppend`: raw writes, served only when plgd was started with
//! `--kurrentdb-allow-raw-writes`, and then only to operators (in insecure local mode, which
//! is loopback-only, to everyone). Each append holds one of its key's requests in flight; a
//! batch append call holds one for as long as it lasts.

use plg_domain::access::Role;
use plg_eventstore::{ExpectedRevision, StoreError, StreamName, StreamRevision};
use plg_kurrentdb_wire::event_store::client::{
    Empty,
    streams::{
        AppendReq, AppendResp, Position as WirePosition,
        append_req::{self, options::ExpectedStreamRevision},
        append_resp::{
            self,
            success::{CurrentRevisionOption, PositionOption},
            wrong_expected_version::{
                CurrentRevisionOption as CurrentRevision,
                CurrentRevisionOption2060 as CurrentRevisionBefore2061,
                ExpectedRevisionOption as ExpectedOption,
                ExpectedRevisionOption2060 as ExpectedOptionBefore2061,
            },
        },
    },
};
use plg_ledger::{Caller, ServiceError};
use tokio::sync::OwnedSemaphorePermit;
use tonic::{
    Request, Response, Status, Streaming,
    metadata::{MetadataMap, MetadataValue},
};

use crate::{
    append::{self, Failure, MAX_APPEND_BYTES, Outcome, Proposal, Refusal},
    read::Streams,
};

/// Whether the listener serves raw writes: only when plgd is started with
/// `--kurrentdb-allow-raw-writes`, for a dedicated test or migration store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    Refused,
    Allowed,
}

pub(crate) fn refused_write() -> Status {
    Status::permission_denied(
        "raw writes are not served: plgd's log is written only through its services \
         (unless started with --kurrentdb-allow-raw-writes)",
    )
}

impl Streams {
    /// The caller, if it may write raw events, and its request in flight.
    pub(crate) async fn writer(
        &self,
        request: &Request<impl Sized>,
    ) -> Result<(Caller, OwnedSemaphorePermit), Status> {
        let caller = self.may_write(request.metadata()).await?;
        let permit = self.budgets.admit(&caller.principal())?;
        Ok((caller, permit))
    }

    /// The caller the credentials name, if it may write raw events now: checked for every
    /// append, and for every batch of a batch append call, so that a key revoked while a
    /// call is open writes no more (one key lookup, as any call of the main API makes).
    pub(crate) async fn may_write(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let caller = self.caller_named_in(metadata).await?;
        if self.writes == Writes::Refused {
            return Err(refused_write());
        }
        caller
            .require_any(&[Role::Operator])
            .map_err(plg_server::status)?;
        Ok(caller)
    }
}

/// A refusal as a call's status: `INVALID_ARGUMENT` naming the field, KurrentDB's
/// `maximum-append-size-exceeded`, or `PERMISSION_DENIED` (the client's `AccessDenied`).
pub(crate) fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::Invalid(violation) => {
            plg_server::status(ServiceError::InvalidArgument(vec![violation]))
        }
        Refusal::TooLarge => {
            let mut status = Status::invalid_argument(too_large_message());
            let trailers = status.metadata_mut();
            trailers.insert(
                "exception",
                MetadataValue::from_static("maximum-append-size-exceeded"),
            );
            trailers.insert("maximum-append-size", MetadataValue::from(MAX_APPEND_BYTES));
            status
        }
        Refusal::SystemStream(name) => Status::permission_denied(system_stream_message(&name)),
    }
}

pub(crate) fn too_large_message() -> String {
    format!(
        "an append carries at most {} events and {MAX_APPEND_BYTES} bytes of ids, metadata, \
         custom metadata and data (a batch append call: in all its open batches together)",
        append::MAX_EVENTS
    )
}

pub(crate) fn system_stream_message(name: &str) -> String {
    format!(
        "{} is a system or metadata stream: the store holds none, and raw writes may not \
         create them",
        plg_server::limits::echo(name)
    )
}

pub(crate) fn store_status(error: StoreError) -> Status {
    plg_server::status(ServiceError::Store(error))
}

/// `Append`: its options, then its events, then one reply.
pub(crate) async fn append(
    streams: &Streams,
    request: Request<Streaming<AppendReq>>,
) -> Result<Response<AppendResp>, Status> {
    let (caller, _permit) = streams.writer(&request).await?;
    let mut messages = request.into_inner();
    let Some(append_req::Content::Options(options)) =
        messages.message().await?.and_then(|first| first.content)
    else {
        return Err(Status::invalid_argument(
            "an append's first message carries its options",
        ));
    };
    let name = options
        .stream_identifier
        .map(|identifier| identifier.stream_name)
        .unwrap_or_default();
    let stream = append::stream_name(&name, "options.stream_identifier").map_err(refusal_status)?;
    let expected = match options.expected_stream_revision {
        Some(ExpectedStreamRevision::Revision(revision)) => {
            ExpectedRevision::Exact(StreamRevision(revision))
        }
        Some(ExpectedStreamRevision::NoStream(_)) => ExpectedRevision::NoStream,
        Some(ExpectedStreamRevision::Any(_)) => ExpectedRevision::Any,
        Some(ExpectedStreamRevision::StreamExists(_)) => ExpectedRevision::StreamExists,
        None => {
            return Err(Status::invalid_argument(
                "options.expected_stream_revision is required",
            ));
        }
    };
    let mut proposal = Proposal::default();
    let mut index = 0_usize;
    while let Some(message) = messages.message().await? {
        let Some(append_req::Content::ProposedMessage(event)) = message.content else {
            return Err(Status::invalid_argument(
                "only an append's first message carries options",
            ));
        };
        proposal
            .push(
                &format!("proposed_message[{index}]"),
                event.id.as_ref(),
                &event.metadata,
                &event.custom_metadata,
                &event.data,
            )
            .map_err(refusal_status)?;
        index += 1;
    }
    let events = proposal.len();
    let appended = append::append(streams.store().as_ref(), &stream, expected, proposal).await;
    log_raw_write("append", &caller, &stream, events, &appended);
    let outcome = appended.map_err(|failure| match failure {
        Failure::Refused(refusal) => refusal_status(refusal),
        Failure::Store(error) => store_status(error),
    })?;
    Ok(Response::new(append_resp(outcome, expected)))
}

/// Attributes a raw write that reached the store to its key: raw writes bypass the domain,
/// so the log says who made each (never what it carried).
pub(crate) fn log_raw_write(
    kind: &str,
    caller: &Caller,
    stream: &StreamName,
    events: usize,
    appended: &Result<Outcome, Failure>,
) {
    let outcome = match appended {
        Ok(Outcome::Success { .. }) => "written",
        Ok(Outcome::WrongExpectedVersion { .. }) => "wrong expected version",
        Err(Failure::Refused(_)) => "refused",
        Err(Failure::Store(_)) => "store failure",
    };
    tracing::info!(
        key = %caller.principal(),
        stream = %stream.as_str(),
        events,
        outcome,
        "raw {kind} through the kurrentdb listener"
    );
}

fn append_resp(outcome: Outcome, expected: ExpectedRevision) -> AppendResp {
    let result = match outcome {
        Outcome::Success { revision, position } => {
            append_resp::Result::Success(append_resp::Success {
                current_revision_option: Some(
                    revision.map_or(CurrentRevisionOption::NoStream(Empty {}), |revision| {
                        CurrentRevisionOption::CurrentRevision(revision.0)
                    }),
                ),
                position_option: Some(position.map_or(
                    PositionOption::NoPosition(Empty {}),
                    |position| {
                        PositionOption::Position(WirePosition {
                            commit_position: position.0,
                            prepare_position: position.0,
                        })
                    },
                )),
            })
        }
        Outcome::WrongExpectedVersion { current } => {
            append_resp::Result::WrongExpectedVersion(wrong_expected_version(current, expected))
        }
    };
    AppendResp {
        result: Some(result),
    }
}

/// In both forms, the one servers before 20.6.1 sent and the current one.
fn wrong_expected_version(
    current: Option<StreamRevision>,
    expected: ExpectedRevision,
) -> append_resp::WrongExpectedVersion {
    let (current_before, current_now) = match current {
        Some(revision) => (
            CurrentRevisionBefore2061::CurrentRevision2060(revision.0),
            CurrentRevision::CurrentRevision(revision.0),
        ),
        None => (
            CurrentRevisionBefore2061::NoStream2060(Empty {}),
            CurrentRevision::CurrentNoStream(Empty {}),
        ),
    };
    let (expected_before, expected_now) = match expected {
        ExpectedRevision::Exact(revision) => (
            Some(ExpectedOptionBefore2061::ExpectedRevision2060(revision.0)),
            ExpectedOption::ExpectedRevision(revision.0),
        ),
        ExpectedRevision::Any => (
            Some(ExpectedOptionBefore2061::Any2060(Empty {})),
            ExpectedOption::ExpectedAny(Empty {}),
        ),
        ExpectedRevision::StreamExists => (
            Some(ExpectedOptionBefore2061::StreamExists2060(Empty {})),
            ExpectedOption::ExpectedStreamExists(Empty {}),
        ),
        ExpectedRevision::NoStream => (None, ExpectedOption::ExpectedNoStream(Empty {})),
    };
    append_resp::WrongExpectedVersion {
        current_revision_option_20_6_0: Some(current_before),
        expected_revision_option_20_6_0: expected_before,
        current_revision_option: Some(current_now),
        expected_revision_option: Some(expected_now),
    }
}
