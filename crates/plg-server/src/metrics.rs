//! The edge's metrics (each call's duration and status, refusals by code and reason) and the
//! Prometheus scrape endpoint (`metrics_listen`). Names and attributes as docs/telemetry.md
//! lists them.

use std::{sync::LazyLock, time::Duration};

use axum::{Router, http::StatusCode, http::header::CONTENT_TYPE, routing::get};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram},
};
use tokio::net::TcpListener;
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

/// Serves `GET /metrics` in Prometheus' text format on `listener` until `stopping` says the
/// server has drained.
pub(crate) async fn serve_scrape(listener: TcpListener, stopping: Stopping) {
    let address = listener.local_addr().ok();
    let router = Router::new().route("/metrics", get(scrape));
    tracing::info!(address = ?address, "serving metrics for Prometheus at /metrics");
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(stopping.wait())
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "the metrics endpoint stopped");
    }
}

async fn scrape() -> (StatusCode, [(http::HeaderName, &'static str); 1], String) {
    match plg_telemetry::metrics::scrape() {
        Some(text) => (
            StatusCode::OK,
            [(CONTENT_TYPE, plg_telemetry::metrics::SCRAPE_CONTENT_TYPE)],
            text,
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are not kept for Prometheus in this process\n".to_owned(),
        ),
    }
}
