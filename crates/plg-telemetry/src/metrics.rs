//! Metrics: every crate records its instruments through OpenTelemetry's global meter
//! provider, which this installs when metrics go anywhere: over OTLP/gRPC (the same endpoint
//! as traces, or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), and, for Prometheus, in its text
//! format for a scrape endpoint to serve ([`scrape`]). Without either, the global provider
//! stays the API's no-op one, and recording costs next to nothing.

use std::sync::OnceLock;

use opentelemetry_otlp::{
    MetricExporter, WithExportConfig as _, WithTonicConfig as _,
    tonic_types::transport::ClientTlsConfig,
};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::{
    TelemetryError,
    otlp::{self, Signal},
};

/// The registry the Prometheus reader fills, once metrics are started with one.
static PROMETHEUS: OnceLock<prometheus::Registry> = OnceLock::new();

/// The metrics provider started, and the OTLP endpoint it exports to, as shown.
#[derive(Debug)]
pub(crate) struct Metering {
    pub provider: SdkMeterProvider,
    pub endpoint: Option<String>,
}

/// Starts metrics when they go anywhere: to the OTLP endpoint `configured` or the environment
/// names, and to Prometheus' registry when `prometheus`. Installs the provider as the global
/// one, so instruments made from then on record into it.
pub(crate) fn start(
    configured: Option<&str>,
    prometheus: bool,
) -> Result<Option<Metering>, TelemetryError> {
    let endpoint = otlp::endpoint(Signal::Metrics, configured, |name| std::env::var(name).ok());
    if endpoint.is_none() && !prometheus {
        return Ok(None);
    }
    let mut provider = SdkMeterProvider::builder().with_resource(otlp::resource());
    if let Some(endpoint) = &endpoint {
        let mut exporter = MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.as_str());
        if otlp::is_secure(endpoint)? {
            exporter = exporter.with_tls_config(ClientTlsConfig::new().with_native_roots());
        }
        let exporter = exporter
            .build()
            .map_err(|source| TelemetryError::Exporter {
                endpoint: otlp::redacted(endpoint),
                source,
            })?;
        // Every OTEL_METRIC_EXPORT_INTERVAL (the SDK reads it; 60 s by default).
        provider = provider.with_periodic_exporter(exporter);
    }
    if prometheus {
        let registry = PROMETHEUS.get_or_init(prometheus::Registry::new).clone();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry)
            // One process, one scope: the label on every series would say nothing.
            .scope_info_enabled(false)
            .build()
            .map_err(|error| TelemetryError::Prometheus(error.to_string()))?;
        provider = provider.with_reader(reader);
    }
    let provider = provider.build();
    opentelemetry::global::set_meter_provider(provider.clone());
    Ok(Some(Metering {
        provider,
        endpoint: endpoint.as_deref().map(otlp::redacted),
    }))
}

/// The metrics in Prometheus' text format (version 0.0.4), or `None` when metrics were not
/// started for Prometheus.
pub fn scrape() -> Option<String> {
    let registry = PROMETHEUS.get()?;
    let mut text = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut text) {
        Ok(()) => Some(text),
        Err(error) => {
            tracing::warn!(%error, "metrics cannot be encoded for Prometheus");
            None
        }
    }
}

/// The content type of [`scrape`]'s text.
pub const SCRAPE_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
