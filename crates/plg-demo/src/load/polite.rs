//! The demo's channel, made a well-behaved bulk client of a plgd that keeps each key within a
//! budget (README, Configuration):
//!
//! - at most [`IN_FLIGHT`](super::IN_FLIGHT) calls in flight in all, below the key's default
//!   cap on requests in flight;
//! - a call refused with RESOURCE_EXHAUSTED is sent again after the delay its `RetryInfo` asks
//!   (without one, after a short backoff that doubles), [`RETRIES`] times at most;
//! - while a refused call waits to be sent again no new call is sent, so the client slows to
//!   the key's rate instead of racing its own calls for it.
//!
//! Sending a write again is safe: every write carries a request id, and the server applies it
//! once. For unary calls only: a request's body is read whole before it is sent, so that it
//! can be sent again.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::BodyExt as _;
use tokio::sync::{Mutex, Semaphore};
use tonic::{Code, Status, body::Body, transport::Channel};
use tonic_types::StatusExt as _;

/// How many times a refused call is sent again before its refusal is the answer.
const RETRIES: u32 = 10;
/// The shortest wait before a retry, and the first when the refusal asks none; it doubles
/// with each retry of the call.
const BACKOFF: Duration = Duration::from_millis(20);
/// The longest wait between two tries that this client chooses itself.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// [`Channel`], with fewer calls in flight and refused ones retried (the module documentation).
#[derive(Debug, Clone)]
pub(super) struct Polite {
    channel: Channel,
    in_flight: Arc<Semaphore>,
    /// Held by a refused call until it is served: the others wait behind it.
    refused: Arc<Mutex<()>>,
}

impl Polite {
    pub(super) fn new(channel: Channel, in_flight: usize) -> Self {
        Self {
            channel,
            in_flight: Arc::new(Semaphore::new(in_flight)),
            refused: Arc::default(),
        }
    }
}

/// How long to wait before try `retry` (1 for the first retry) of a call refused with
/// `status`: at least what its RetryInfo asks, longer as tries go by.
fn delay(status: &Status, retry: u32) -> Duration {
    let backoff = BACKOFF
        .saturating_mul(1 << (retry - 1).min(16))
        .min(MAX_BACKOFF);
    let asked = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .unwrap_or_default();
    asked.max(backoff)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Request<Body>> for Polite {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call waits for its place, and for the channel, when it runs.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Self {
            mut channel,
            in_flight,
            refused,
        } = self.clone();
        Box::pin(async move {
            let _place = in_flight.acquire_owned().await?;
            let (head, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            drop(refused.lock().await);
            let mut waiting = None;
            let mut retry = 0;
            loop {
                let body = http_body_util::Full::new(body.clone()).map_err(|never| match never {});
                let request = http::Request::from_parts(head.clone(), Body::new(body));
                std::future::poll_fn(|context| {
                    tower_service::Service::poll_ready(&mut channel, context)
                })
                .await?;
                let response = tower_service::Service::call(&mut channel, request).await?;
                // A refusal comes before any message: its status is in the headers.
                match Status::from_header_map(response.headers()) {
                    Some(status) if status.code() == Code::ResourceExhausted && retry < RETRIES => {
                        if waiting.is_none() {
                            waiting = Some(refused.lock().await);
                        }
                        retry += 1;
                        tokio::time::sleep(delay(&status, retry)).await;
                    }
                    _ => return Ok(response),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::ErrorDetails;

    use super::*;

    #[test]
    fn waits_at_least_as_long_as_the_server_asks_and_backs_off_without_it() {
        let asked = Status::with_error_details(
            Code::ResourceExhausted,
            "over its rate",
            ErrorDetails::with_retry_info(Some(Duration::from_millis(700))),
        );
        assert_eq!(delay(&asked, 1), Duration::from_millis(700));
        assert_eq!(delay(&asked, 7), MAX_BACKOFF);
        let bare = Status::resource_exhausted("an export is running");
        assert_eq!(delay(&bare, 1), BACKOFF);
        assert_eq!(delay(&bare, 2), BACKOFF * 2);
        assert_eq!(delay(&bare, RETRIES), MAX_BACKOFF);
    }
}
