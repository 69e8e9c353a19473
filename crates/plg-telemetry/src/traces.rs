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
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{Layer, Registry, filter::filter_fn};

use crate::TelemetryError;

/// Targets whose spans are never exported: the exporter's own transport, whose spans (at
/// debug level) would otherwise be exported in turn, without end.
const TRANSPORT_TARGETS: [&str; 5] = ["h2", "hyper", "tonic", "tower", "opentelemetry"];

/// What [`crate::init`] started: hold it until the process ends, then shut it down.
#[derive(Debug)]
pub struct Telemetry {
    /// The provider exporting traces, and the endpoint it exports to.
    exporting: Option<(SdkTracerProvider, String)>,
}

impl Telemetry {
    pub(crate) fn provider(&self) -> Option<&SdkTracerProvider> {
        self.exporting.as_ref().map(|(provider, _)| provider)
    }

    /// Where traces are exported to, if they are.
    pub fn traces_endpoint(&self) -> Option<&str> {
        self.exporting
            .as_ref()
            .map(|(_, endpoint)| endpoint.as_str())
    }

    /// Exports the spans still buffered and stops exporting. The batch is sent by a thread of
    /// its own over a connection that this runtime drives, so the wait happens off the
    /// runtime's threads.
    pub async fn shutdown(self) {
        let Some((provider, _)) = self.exporting else {
            return;
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "traces not all exported at shutdown"),
            Err(error) => tracing::warn!(%error, "exporting traces at shutdown failed"),
        }
    }
}

/// Starts exporting to the endpoint `configured` or the environment names, if any.
pub(crate) fn start(configured: Option<&str>) -> Result<Telemetry, TelemetryError> {
    let Some(endpoint) = endpoint(configured, |name| std::env::var(name).ok()) else {
        return Ok(Telemetry { exporting: None });
    };
    // A gRPC endpoint names its scheme: without one the exporter would assume https and
    // find no roots to trust.
    let scheme = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.scheme_str().map(str::to_ascii_lowercase));
    let secure = match scheme.as_deref() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(TelemetryError::Endpoint(redacted(&endpoint))),
    };
    let mut exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.as_str());
    if secure {
        exporter = exporter.with_tls_config(ClientTlsConfig::new().with_native_roots());
    }
    let exporter = exporter
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: redacted(&endpoint),
            source,
        })?;
    // The SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG) and
    // OTEL_BSP_* itself.
    let mut resource = Resource::builder();
    if !names_service(|name| std::env::var(name).ok()) {
        resource = resource.with_service_name(binary_name());
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    Ok(Telemetry {
        exporting: Some((provider, redacted(&endpoint))),
    })
}

/// `endpoint` without the user and password it may carry, to be shown.
fn redacted(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), endpoint),
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => endpoint.to_owned(),
    }
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

/// Where traces go: the configured endpoint, else the standard variables', the traces' own
/// first; none when the standard switches turn the SDK or the traces exporter off.
fn endpoint(configured: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let off = set("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true"))
        || set("OTEL_TRACES_EXPORTER").is_some_and(|value| value.eq_ignore_ascii_case("none"));
    if off {
        return None;
    }
    configured
        .filter(|endpoint| !endpoint.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// Whether the environment names the service; when it does not, the binary's name does,
/// rather than the SDK's `unknown_service`.
fn names_service(env: impl Fn(&str) -> Option<String>) -> bool {
    env("OTEL_SERVICE_NAME").is_some_and(|name| !name.trim().is_empty())
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
            attributes
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        })
}

fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "plgd".to_owned())
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
    use std::collections::HashMap;

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let pairs: HashMap<_, _> = pairs.iter().copied().collect();
        move |name| pairs.get(name).map(|value| (*value).to_owned())
    }

    #[test]
    fn an_endpoint_without_its_scheme_is_refused_naming_it_without_its_secret() {
        // The exporter would take it for https and trust no roots: every export would fail.
        let refused = start(Some("user:token@collector:4317")).expect_err("no scheme");
        assert!(
            matches!(&refused, TelemetryError::Endpoint(shown) if !shown.contains("token")),
            "{refused:?}"
        );
        assert_eq!(
            redacted("https://user:token@collector:4317/v1"),
            "https://***@collector:4317/v1"
        );
        assert_eq!(redacted("http://collector:4317"), "http://collector:4317");
        assert_eq!(
            redacted("http://collector:4317/a@b"),
            "http://collector:4317/a@b"
        );
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_is_configured_or_set() {
        assert_eq!(endpoint(None, env(&[])), None);
        assert_eq!(
            endpoint(Some(" "), env(&[("OTEL_SERVICE_NAME", "x")])),
            None
        );
        assert_eq!(
            endpoint(Some("http://c:4317"), env(&[])).as_deref(),
            Some("http://c:4317")
        );
        assert_eq!(
            endpoint(
                None,
                env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317")])
            )
            .as_deref(),
            Some("http://all:4317")
        );
    }

    #[test]
    fn the_setting_beats_the_traces_variable_which_beats_the_general_one() {
        let both = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ];
        assert_eq!(
            endpoint(None, env(&both)).as_deref(),
            Some("http://traces:4317")
        );
        assert_eq!(
            endpoint(Some("http://set:4317"), env(&both)).as_deref(),
            Some("http://set:4317")
        );
    }

    #[test]
    fn the_standard_switches_turn_traces_off() {
        for switch in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert_eq!(endpoint(Some("http://set:4317"), env(&[switch])), None);
        }
        assert!(
            endpoint(
                Some("http://set:4317"),
                env(&[("OTEL_SDK_DISABLED", "false")])
            )
            .is_some()
        );
    }

    #[test]
    fn the_service_is_named_by_either_standard_variable() {
        assert!(!names_service(env(&[])));
        assert!(names_service(env(&[("OTEL_SERVICE_NAME", "plg-scan-2")])));
        assert!(names_service(env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test, service.name=plg"
        )])));
        assert!(!names_service(env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.namespace=plg"
        )])));
    }
}
