//! A budget per API key: a rate (a token bucket) and a cap on requests in flight, so one
//! tool's runaway loop cannot starve the others. Kept by authentication, which names the key;
//! health and reflection pass free.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status, body::Body, codegen::Bytes};
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::KeyBudget;

/// What a client is told to wait when its key has every request it may have in flight.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);
/// How often a key's refusals are logged at most: a client that keeps to its budget by
/// retrying is refused again and again, and a runaway loop all the time.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The budgets of every key that has called, shared by all connections.
#[derive(Debug, Clone)]
pub struct Budgets {
    settings: KeyBudget,
    keys: Arc<Mutex<HashMap<String, KeyState>>>,
}

#[derive(Debug)]
struct KeyState {
    tokens: f64,
    refilled: Instant,
    in_flight: Arc<Semaphore>,
    /// When a refusal was last logged, and how many there were since.
    logged: Option<Instant>,
    refused: u64,
}

impl Budgets {
    pub fn new(settings: KeyBudget) -> Self {
        Self {
            settings,
            keys: Arc::default(),
        }
    }

    /// A permit to serve one request of `key`, held until its reply is sent, or the status
    /// that refuses it.
    pub fn admit(&self, key: &str) -> Result<OwnedSemaphorePermit, Status> {
        let KeyBudget {
            requests_per_second,
            burst,
            concurrent_requests,
        } = self.settings;
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| {
            // A panic elsewhere cannot leave the buckets half-updated in a harmful way.
            poisoned.into_inner()
        });
        let now = Instant::now();
        let state = keys.entry(key.to_owned()).or_insert_with(|| KeyState {
            tokens: f64::from(burst),
            refilled: now,
            in_flight: Arc::new(Semaphore::new(concurrent_requests as usize)),
            logged: None,
            refused: 0,
        });
        let rate = f64::from(requests_per_second);
        state.tokens = (state.tokens + now.duration_since(state.refilled).as_secs_f64() * rate)
            .min(f64::from(burst));
        state.refilled = now;
        let refusal = if state.tokens < 1.0 {
            // A rate of 0 never refills: the wait is unbounded.
            let wait =
                Duration::try_from_secs_f64((1.0 - state.tokens) / rate).unwrap_or(Duration::MAX);
            Err((
                format!(
                    "this API key is over its rate of {requests_per_second} requests per second \
                     (bursts of {burst}): retry after the delay in RetryInfo"
                ),
                wait.max(Duration::from_millis(1)),
            ))
        } else {
            Arc::clone(&state.in_flight)
                .try_acquire_owned()
                .map_err(|_| {
                    (
                        format!(
                            "this API key already has {concurrent_requests} requests in flight: \
                             retry once one has finished"
                        ),
                        IN_FLIGHT_RETRY,
                    )
                })
        };
        match refusal {
            Ok(permit) => {
                state.tokens -= 1.0;
                Ok(permit)
            }
            Err((message, retry_after)) => {
                state.refused += 1;
                if state
                    .logged
                    .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
                {
                    tracing::warn!(
                        key = %key,
                        reason = %message,
                        refused = state.refused,
                        "key over its budget: refusing its requests"
                    );
                    state.logged = Some(now);
                    state.refused = 0;
                }
                Err(Status::with_error_details(
                    Code::ResourceExhausted,
                    message,
                    ErrorDetails::with_retry_info(Some(retry_after)),
                ))
            }
        }
    }
}

/// `body`, holding its request's place in the key's budget until it ends: a streamed reply
/// counts as in flight until its last message is sent.
pub(crate) fn hold(body: Body, permit: OwnedSemaphorePermit) -> Body {
    Body::new(Holding {
        body,
        _permit: permit,
    })
}

/// A reply body that holds its request's place in the key's budget until it ends.
#[derive(Debug)]
struct Holding {
    body: Body,
    _permit: OwnedSemaphorePermit,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
