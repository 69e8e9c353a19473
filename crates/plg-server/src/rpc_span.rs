//! The span each RPC is served in, described as OpenTelemetry's gRPC conventions (v1.37) ask:
//! a server span named `plg.v1.ScanService/SubmitScan`, with `rpc.system`, `rpc.service`,
//! `rpc.method` and the reply's `rpc.grpc.status_code`, continuing the caller's trace when
//! the request carries W3C trace context, and open until the reply's last frame.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use tonic::{Code, Status, body::Body, codegen::Bytes};
use tracing::field::Empty;

/// Opens the span of a call to `path` (`/plg.v1.ScanService/SubmitScan`), in the trace that
/// `headers` name, if any.
pub(crate) fn open(
    path: &str,
    headers: &http::HeaderMap,
    correlation_id: Option<&str>,
) -> tracing::Span {
    // A path no RPC has is the caller's text: named `_OTHER`, as the conventions ask, so that
    // no caller makes up span names or attribute values.
    let name = match crate::access::roles(path) {
        Some(_) => path.trim_start_matches('/'),
        None => "_OTHER",
    };
    let (service, method) = name.split_once('/').unwrap_or(("", ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = name,
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
    span
}

/// Records the reply's status on `span`: from the headers of a reply without a body (a
/// refusal), else from the trailers that end the body, which keeps the span open until then.
pub(crate) fn until_sent(
    response: http::Response<Body>,
    span: tracing::Span,
) -> http::Response<Body> {
    // A span the log filter turned off records nothing.
    if span.is_disabled() {
        return response;
    }
    if let Some(code) = grpc_status(response.headers()) {
        record(&span, code);
        return response;
    }
    response.map(|body| Body::new(Traced { body, span }))
}

/// The status in a reply's headers (a reply without a body) or trailers.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|code| code.to_str().ok()?.parse::<i32>().ok())
        .map(Code::from)
}

fn record(span: &tracing::Span, code: Code) {
    span.record("rpc.grpc.status_code", i64::from(i32::from(code)));
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
        span.record("otel.status_code", "error");
    }
}

/// A reply body sent inside its call's span, which records the status its trailers carry.
#[derive(Debug)]
struct Traced {
    body: Body,
    span: tracing::Span,
}

impl http_body::Body for Traced {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let polled = Pin::new(&mut this.body).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(code) = frame.trailers_ref().and_then(grpc_status)
        {
            record(&this.span, code);
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
