//! Statuses tonic's codec answers before a handler runs, restated in the contract's terms: a
//! request that does not decode is the caller's mistake (`INVALID_ARGUMENT`, not the
//! `INTERNAL` that `docs/errors.md` keeps for bugs), and one over the size limit is
//! `RESOURCE_EXHAUSTED`, as gRPC's convention has it, not `OUT_OF_RANGE`.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use tonic::{Code, Status, body::Body};

/// The layer that restates codec statuses; add it to the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodecStatuses;

impl<S> tower_layer::Layer<S> for CodecStatuses {
    type Service = Restated<S>;

    fn layer(&self, inner: S) -> Restated<S> {
        Restated { inner }
    }
}

/// A service behind [`CodecStatuses`].
#[derive(Debug, Clone)]
pub struct Restated<S> {
    inner: S,
}

type ResponseFuture<E> =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send + 'static>>;

impl<S, B> tower_service::Service<http::Request<B>> for Restated<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = request.uri().path().to_owned();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            // A status the codec gave before any message came back is in the headers
            // (trailers-only); the handlers' own statuses never use these codes and messages.
            if let Some(status) = Status::from_header_map(response.headers())
                && let Some(restated) = restate(&status)
            {
                tracing::info!(%rpc, code = ?restated.code(), reason = status.message(), "request refused before decoding");
                let headers = response.headers_mut();
                headers.remove("grpc-status-details-bin");
                if restated.add_header(headers).is_err() {
                    return Ok(restated.into_http());
                }
            }
            Ok(response)
        })
    }
}

/// The status the contract gives for a codec status, if it differs. A streaming call restates
/// what its request stream yields with it, as that status comes after its reply began.
pub(crate) fn restate(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        // tonic-prost's message for a `prost::DecodeError`, and tonic's for an empty body.
        Code::Internal
            if message.starts_with("failed to decode Protobuf message")
                || message == "Missing request message." =>
        {
            Some(Status::invalid_argument(
                "the request body is not a valid message of the RPC's request type",
            ))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            Some(Status::resource_exhausted(format!(
                "the request is too large: {}",
                message.trim_start_matches("Error, decoded message length too large: ")
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codec_statuses_are_restated() {
        let undecodable = Status::internal("failed to decode Protobuf message: invalid wire type");
        assert_eq!(
            restate(&undecodable).map(|status| status.code()),
            Some(Code::InvalidArgument)
        );
        let too_large = Status::out_of_range(
            "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes",
        );
        let restated = restate(&too_large).expect("restated");
        assert_eq!(restated.code(), Code::ResourceExhausted);
        assert_eq!(
            restated.message(),
            "the request is too large: found 5000000 bytes, the limit is: 4194304 bytes"
        );
        assert!(restate(&Status::internal("internal error")).is_none());
        assert!(restate(&Status::invalid_argument("invalid request: name")).is_none());
    }
}
