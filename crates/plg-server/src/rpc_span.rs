//! The span each RPC is served in, described as OpenTelemetry's gRPC conventions (v1.37) ask:
//! a server span named `plg.v1.ScanService/SubmitScan`, with `rpc.system`, `rpc.service`,
//! `rpc.method` and the reply's `rpc.grpc.status_code`, continuing the caller's trace when
//! the request carries W3C trace context, and open until the reply's last frame; when the
//! status is known, the call's duration is recorded with it (`rpc.server.duration`).

use std::{
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
    time::Instant,
};

use tonic::{Code, Status, body::Body, codegen::Bytes};
use tracing::field::Empty;

/// A call being served: its span, its method and when it began.
#[derive(Debug)]
pub(crate) struct Call {
    pub span: tracing::Span,
    /// `plg.v1.ScanService/SubmitScan`, or `_OTHER`.
    name: String,
    started: Instant,
    /// Whether its status was recorded: a call dropped before (its caller went away, its
    /// deadline passed) is recorded as CANCELLED when dropped.
    recorded: AtomicBool,
}

/// Opens the span of a call to `path` (`/plg.v1.ScanService/SubmitScan`), in the trace that
/// `headers` name, if any.
pub(crate) fn open(path: &str, headers: &http::HeaderMap, correlation_id: Option<&str>) -> Call {
    let started = Instant::now();
    // A path no RPC has is the caller's text: named `_OTHER`, as the conventions ask, so that
    // no caller makes up span names or attribute values.
    let name = match crate::access::roles(path) {
        Some(_) => path.trim_start_matches('/').to_owned(),
        None => "_OTHER".to_owned(),
    };
    let (service, method) = name.split_once('/').unwrap_or(("", ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        key_id = Empty,
        correlation_id,
    );
    plg_telemetry::continue_trace(&span, headers);
    Call {
        span,
        name,
        started,
        recorded: AtomicBool::new(false),
    }
}

/// Records the reply's status on the call's span and its duration: from the headers of a
/// reply without a body (a refusal), else from the trailers that end the body, which keeps
/// the span open until then. A reply whose body ends without a status (the caller went away)
/// records CANCELLED.
pub(crate) fn until_sent(response: http::Response<Body>, call: Call) -> http::Response<Body> {
    if let Some(code) = grpc_status(response.headers()) {
        call.record(code);
        return response;
    }
    response.map(|body| {
        Body::new(Traced {
            body,
            call: Some(call),
        })
    })
}

/// The status in a reply's headers (a reply without a body) or trailers.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|code| code.to_str().ok()?.parse::<i32>().ok())
        .map(Code::from)
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.recorded.load(Ordering::Relaxed) {
            self.record(Code::Cancelled);
        }
    }
}

impl Call {
    fn record(&self, code: Code) {
        if self.recorded.swap(true, Ordering::Relaxed) {
            return;
        }
        let (service, method) = self.name.split_once('/').unwrap_or(("", ""));
        crate::metrics::record_call(service, method, code, self.started.elapsed());
        self.span
            .record("rpc.grpc.status_code", i64::from(i32::from(code)));
        // The conventions count these as the server's errors; the others are the caller's.
        if matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ) {
            self.span.record("otel.status_code", "error");
        }
    }
}

/// A reply body sent inside its call's span, which records the status its trailers carry.
#[derive(Debug)]
struct Traced {
    body: Body,
    /// Until its status is recorded.
    call: Option<Call>,
}

impl http_body::Body for Traced {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let _entered = this.call.as_ref().map(|call| call.span.enter());
        let polled = Pin::new(&mut this.body).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(code) = frame.trailers_ref().and_then(grpc_status)
            && let Some(call) = &this.call
        {
            call.record(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
