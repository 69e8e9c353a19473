//! The edge's metrics (each call's duration and status, refusals by code and reason) and the
//! Prometheus scrape endpoint (`metrics_listen`). Names and attributes as docs/telemetry.md
//! lists them.

use std::{
    convert::Infallible,
    sync::{Arc, LazyLock},
    time::Duration,
};

use http::{HeaderValue, Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use hyper::{body::Bytes, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tonic::Code;

use crate::server::Stopping;

/// Bounds of the call duration histogram, in milliseconds: a write commits in about a
/// millisecond, a study query or a stream takes up to seconds.
const DURATION_BOUNDS_MS: [f64; 16] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1_000.0, 2_500.0,
    5_000.0, 10_000.0,
];

struct Instruments {
    duration: Histogram<f64>,
    refused: Counter<u64>,
}

/// Made on first use, from the global provider as telemetry left it: binaries start
/// telemetry before they serve.
static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = opentelemetry::global::meter("plg-server");
    Instruments {
        // gRPC's semantic conventions (v1.37): `rpc.server.duration`, in milliseconds.
        duration: meter
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("How long each call took, to its reply's last frame")
            .with_boundaries(DURATION_BOUNDS_MS.to_vec())
            .build(),
        refused: meter
            .u64_counter("plg.rpc.refused")
            .with_description(
                "Calls refused before or by their service: no or a bad key, a role or scope \
                 that does not allow it, a key over its budget",
            )
            .build(),
    }
});

/// Records one call's duration with its method and status code.
pub(crate) fn record_call(service: &str, method: &str, code: Code, took: Duration) {
    INSTRUMENTS.duration.record(
        took.as_secs_f64() * 1_000.0,
        &[
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service.to_owned()),
            KeyValue::new("rpc.method", method.to_owned()),
            KeyValue::new("rpc.grpc.status_code", i64::from(i32::from(code))),
        ],
    );
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// No key, or one that is unknown, revoked or malformed.
    Unauthenticated,
    /// The key's role may not call this RPC.
    Role,
    /// The key's budget of requests is spent.
    Budget,
    /// The service refused it: the key's scope does not cover what it names.
    Scope,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Role => "role",
            Self::Budget => "budget",
            Self::Scope => "scope",
        }
    }
}

pub(crate) fn count_refusal(code: Code, reason: Refusal) {
    INSTRUMENTS.refused.add(
        1,
        &[
            KeyValue::new("rpc.grpc.status_code", i64::from(i32::from(code))),
            KeyValue::new("reason", reason.as_str()),
        ],
    );
}

/// Connections to the scrape endpoint served at once: a scraper needs one.
const SCRAPE_CONNECTIONS: usize = 8;

/// How long a scrape connection may take to send its request's head, and in all: a peer that
/// stalls holds nothing for long.
const SCRAPE_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves `GET /metrics` in Prometheus' text format on `listener` until `stopping` says the
/// server has drained: one request per connection, at most [`SCRAPE_CONNECTIONS`] at once
/// (more are closed as they arrive), none longer than [`SCRAPE_TIMEOUT`], and nothing waited
/// for at the stop.
pub(crate) async fn serve_scrape(listener: TcpListener, stopping: Stopping) {
    tracing::info!(address = ?listener.local_addr().ok(), "serving metrics for Prometheus at /metrics");
    let slots = Arc::new(Semaphore::new(SCRAPE_CONNECTIONS));
    let stop = stopping.wait();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, most likely: try again shortly.
                    tracing::warn!(%error, "the metrics endpoint cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(SCRAPE_HEAD_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service_fn(answer));
            let _ = tokio::time::timeout(SCRAPE_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, content_type, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    if request.uri().path() != "/metrics" {
        return Ok(reply(StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()));
    }
    if request.method() != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "GET only\n".to_owned(),
        ));
    }
    Ok(match plg_telemetry::metrics::scrape() {
        Some(text) => reply(
            StatusCode::OK,
            plg_telemetry::metrics::SCRAPE_CONTENT_TYPE,
            text,
        ),
        None => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "metrics are not kept for Prometheus in this process\n".to_owned(),
        ),
    })
}

const TEXT: &str = "text/plain; charset=utf-8";
