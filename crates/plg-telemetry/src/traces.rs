//! Traces over OTLP/gRPC: the `tracing` spans exported as OpenTelemetry spans, in batches, to
//! a collector, with W3C trace context taken from a caller's request.

use opentelemetry::{
    propagation::TextMapPropagator as _,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::{
    SpanExporter, WithExportConfig as _, WithTonicConfig as _,
    tonic_types::transport::ClientTlsConfig,
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{Layer, Registry, filter::filter_fn};

use crate::{
    TelemetryError,
    otlp::{self, Exporting, Signal},
};

/// Targets whose spans are never exported: the exporter's own transport, whose spans (at
/// debug level) would otherwise be exported in turn, without end.
const TRANSPORT_TARGETS: [&str; 5] = ["h2", "hyper", "tonic", "tower", "opentelemetry"];

/// Starts exporting to the endpoint `configured` or the environment names, if any.
pub(crate) fn start(
    configured: Option<&str>,
) -> Result<Option<Exporting<SdkTracerProvider>>, TelemetryError> {
    let Some(endpoint) =
        otlp::endpoint(Signal::Traces, configured, |name| std::env::var(name).ok())
    else {
        return Ok(None);
    };
    let secure = otlp::is_secure(&endpoint)?;
    let mut exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.as_str());
    if secure {
        exporter = exporter.with_tls_config(ClientTlsConfig::new().with_native_roots());
    }
    let exporter = exporter
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: otlp::redacted(&endpoint),
            source,
        })?;
    // The SDK reads OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_* itself.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(otlp::resource())
        .build();
    Ok(Some(Exporting {
        provider,
        endpoint: otlp::redacted(&endpoint),
    }))
}

/// The trace layer, exporting through `provider`.
pub(crate) fn layer(provider: &SdkTracerProvider) -> impl Layer<Registry> + Send + Sync + use<> {
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("plg-ledger"))
        .with_tracked_inactivity(false)
        // Neither the source's paths nor the threads: nothing a collector needs.
        .with_location(false)
        .with_threads(false)
        // Spans only: log events stay in the log. Their fields (a key holder's identity,
        // refusal reasons, errors) are for the operator's log, not for a collector.
        .with_filter(filter_fn(|metadata| {
            metadata.is_span()
                && !TRANSPORT_TARGETS
                    .iter()
                    .any(|target| metadata.target().starts_with(target))
        }))
}

/// Makes `span` continue the trace a caller's `traceparent` (and `tracestate`) header names,
/// if any. Call before the span is first entered.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when no trace layer is installed: then there is nothing to continue.
        let _ = span.set_parent(parent);
    }
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_without_its_scheme_is_refused_naming_it_without_its_secret() {
        // The exporter would take it for https and trust no roots: every export would fail.
        let refused = start(Some("user:token@collector:4317")).expect_err("no scheme");
        assert!(
            matches!(&refused, TelemetryError::Endpoint(shown) if !shown.contains("token")),
            "{refused:?}"
        );
    }
}
