//! Writes streamed in one call (`ImportScans`): each message carries one write, which takes
//! the same path as its unary RPC (its own context, parse, execute, convert), so validation,
//! scope, idempotency and durability are the same. Several run at once, so the store's group
//! commit batches them; each is reported as it completes, by its place in the stream, and a
//! failed write fails only itself.
//!
//! Everything a call holds is bounded: [`IN_FLIGHT`] writes at once (no further message is
//! read until one completes, so a fast sender waits on HTTP/2 flow control), [`REPLY_BUFFER`]
//! reports waiting for the client, one of its key's stream slots, and each message the codec's
//! size limit. A client that takes no report for `stream_idle_seconds`, or sends nothing for
//! as long while none of its writes is in flight, has the call ended with `DEADLINE_EXCEEDED`.

use std::{sync::Arc, time::Duration};

use plg_contract::{StreamedWrite, WriteRequest};
use plg_ledger::{Ledger, ServiceError};
use tokio::{task::JoinSet, time::Instant};
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::{
    codec,
    context::{CallContext, MAX_REQUEST_ID_LEN},
    error::{status, write_error},
    limits,
    streams::{Outbox, ReplyStream, Streams},
    write::execute,
};

/// Writes of one call in flight at once: enough for the store to commit them in batches, few
/// enough that a call holds little.
pub const IN_FLIGHT: usize = 64;
/// Reports waiting for a client that reads slowly.
pub const REPLY_BUFFER: usize = 64;

/// Serves a streaming write RPC: each message's write through the write core, each reported.
/// The call fails as a whole only for what concerns the call (its key, role, metadata, its
/// key's stream slots); what fails later ends the stream after every write that arrived is
/// reported.
pub async fn write_each<R: StreamedWrite>(
    ledger: &Ledger,
    streams: &Streams,
    request: Request<Streaming<R>>,
) -> Result<Response<ReplyStream<R::Report>>, Status> {
    let call = CallContext::of(&request).map_err(status)?;
    let (outbox, reply) = streams.open(call.caller(), REPLY_BUFFER).map_err(status)?;
    let import = Import {
        ledger: ledger.clone(),
        call: Arc::new(call),
        outbox,
        idle: Duration::from_secs(streams.limits().stream_idle_seconds),
    };
    tokio::spawn(import.run(request.into_inner()).in_current_span());
    Ok(Response::new(reply))
}

/// One streaming call's writes in progress.
struct Import<R: StreamedWrite> {
    ledger: Ledger,
    call: Arc<CallContext>,
    outbox: Outbox<R::Report>,
    idle: Duration,
}

/// What a call's writes came to, for its log line.
#[derive(Debug, Default)]
struct Tally {
    /// Written, or replayed as a retry.
    succeeded: u64,
    failed: u64,
}

impl<R: StreamedWrite> Import<R> {
    /// Reads messages while fewer than [`IN_FLIGHT`] writes run, and reports each write as it
    /// completes. Ends once the client has sent everything and every write is reported; or,
    /// after the writes in flight are reported, with the status of what broke the request
    /// stream; or at once when the client takes nothing or went away (dropping the writes in
    /// flight, as a unary call's client going away does).
    async fn run(mut self, mut requests: Streaming<R>) {
        let started = Instant::now();
        let mut in_flight = JoinSet::new();
        let mut next_index = 0_u64;
        let mut tally = Tally::default();
        let mut reading = true;
        let mut end = None;
        loop {
            tokio::select! {
                Some(done) = in_flight.join_next() => match done {
                    Ok((succeeded, report)) => {
                        tally.count(succeeded);
                        if self.outbox.send(Ok(report)).await.is_err() {
                            tracing::info!(?tally, "streamed writes stopped: the client took no report");
                            return;
                        }
                    }
                    Err(error) => {
                        // A bug: the write's task panicked and its report is lost. The call
                        // ends once the others are reported; sent again, they replay.
                        tracing::error!(%error, "a streamed write failed");
                        reading = false;
                        end = Some(Status::internal("internal error"));
                    }
                },
                next = tokio::time::timeout(self.idle, requests.message()),
                    if reading && in_flight.len() < IN_FLIGHT => match next {
                    Ok(Ok(Some(message))) => {
                        let write = write_one(self.ledger.clone(), self.call.clone(), next_index, message);
                        in_flight.spawn(write.in_current_span());
                        next_index += 1;
                    }
                    Ok(Ok(None)) => reading = false,
                    Ok(Err(broken)) => {
                        reading = false;
                        end = Some(codec::restate(&broken).unwrap_or(broken));
                    }
                    // Silent while its writes run: their reports are on their way.
                    Err(_) if !in_flight.is_empty() => {}
                    Err(_) => {
                        reading = false;
                        end = Some(Status::deadline_exceeded(format!(
                            "the call was ended: the client sent nothing for {} s",
                            self.idle.as_secs()
                        )));
                    }
                },
                else => break,
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            succeeded = tally.succeeded,
            failed = tally.failed,
            seconds,
            per_second = (tally.succeeded + tally.failed) as f64 / seconds.max(1e-3),
            ended = end.as_ref().map(|status| status.message().to_owned()),
            "streamed writes done"
        );
        if let Some(end) = end {
            let _ = self.outbox.send(Err(end)).await;
        }
    }
}

impl Tally {
    fn count(&mut self, succeeded: bool) {
        if succeeded {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// One message's write, through the one write path, and its report; `true` when written or
/// replayed.
async fn write_one<R: StreamedWrite>(
    ledger: Ledger,
    call: Arc<CallContext>,
    index: u64,
    message: R,
) -> (bool, R::Report) {
    let Some(write) = message.into_write() else {
        let missing = status(ServiceError::invalid(R::FIELD, "is required"));
        return (
            false,
            R::report(index, String::new(), Err(write_error(&missing))),
        );
    };
    let request_id = write
        .options()
        .map(|options| limits::truncate(&options.request_id, MAX_REQUEST_ID_LEN))
        .unwrap_or_default();
    let outcome = match call.command_context(&write) {
        Ok(context) => execute(&ledger, &context, write).await,
        Err(error) => Err(error),
    };
    let outcome = outcome.map_err(|error| write_error(&status(error)));
    (outcome.is_ok(), R::report(index, request_id, outcome))
}
