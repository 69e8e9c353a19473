//! Structured logging: human-readable lines for a terminal, JSON lines for a log collector.
//! The filter follows `RUST_LOG` syntax (`info`, `plg_server=debug,info`, …). Logs go to
//! stderr, so that stdout carries only what a command is asked for (such as a new key), and
//! are coloured only on a terminal.
//!
//! With an OTLP endpoint (configured, or the standard `OTEL_EXPORTER_OTLP_*` variables), the
//! same spans are exported as OpenTelemetry traces, and each log line written inside one
//! carries its trace and span ids; metrics go there too, and to Prometheus' text format when
//! asked ([`metrics`]).

mod ids;
pub mod metrics;
mod otlp;
mod traces;

use std::io::IsTerminal as _;

use opentelemetry_sdk::{metrics::SdkMeterProvider, trace::SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter, prelude::*};

pub use traces::continue_trace;

use crate::otlp::Exporting;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
    #[error("cannot export traces to {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error(
        "invalid OTLP endpoint {0:?}: give an http:// or https:// address, such as http://127.0.0.1:4317"
    )]
    Endpoint(String),
    #[error("cannot start the Prometheus metrics: {0}")]
    Prometheus(String),
}

/// Where telemetry goes besides the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exports<'a> {
    /// The OTLP/gRPC endpoint for traces and metrics; the standard `OTEL_*` variables name one
    /// when this is `None`.
    pub otlp_endpoint: Option<&'a str>,
    /// Keep metrics in Prometheus' text format, for a scrape endpoint ([`metrics::scrape`]).
    pub prometheus: bool,
}

/// What [`init`] started: hold it until the process ends, then shut it down.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<Exporting<SdkTracerProvider>>,
    metrics: Option<metrics::Metering>,
}

impl Telemetry {
    /// Where traces are exported to, if they are.
    pub fn traces_endpoint(&self) -> Option<&str> {
        self.traces
            .as_ref()
            .map(|exporting| exporting.endpoint.as_str())
    }

    /// Where metrics are exported to over OTLP, if they are.
    pub fn metrics_endpoint(&self) -> Option<&str> {
        self.metrics.as_ref()?.endpoint.as_deref()
    }

    /// Exports the spans and metrics still buffered and stops exporting. Each is sent by a
    /// thread of its own over a connection that this runtime drives, so the wait happens off
    /// the runtime's threads.
    pub async fn shutdown(self) {
        let tracer = self.traces.map(|exporting| exporting.provider);
        let meter: Option<SdkMeterProvider> = self.metrics.map(|metering| metering.provider);
        let shut = tokio::task::spawn_blocking(move || {
            (
                tracer.map(|provider| provider.shutdown()),
                meter.map(|provider| provider.shutdown()),
            )
        })
        .await;
        match shut {
            Ok((traces, metrics)) => {
                if let Some(Err(error)) = traces {
                    tracing::warn!(%error, "traces not all exported at shutdown");
                }
                if let Some(Err(error)) = metrics {
                    tracing::warn!(%error, "metrics not all exported at shutdown");
                }
            }
            Err(error) => tracing::warn!(%error, "exporting telemetry at shutdown failed"),
        }
    }
}

/// Installs the global subscriber, exporting traces and metrics as `exports` say. Call once,
/// from a binary's `main`, inside its Tokio runtime, and [`Telemetry::shutdown`] the result
/// before it returns.
pub fn init(
    format: LogFormat,
    filter: &str,
    exports: Exports<'_>,
) -> Result<Telemetry, TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| TelemetryError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    let telemetry = Telemetry {
        traces: traces::start(exports.otlp_endpoint)?,
        metrics: metrics::start(exports.otlp_endpoint, exports.prometheus)?,
    };
    subscriber(
        format,
        env_filter,
        telemetry
            .traces
            .as_ref()
            .map(|exporting| &exporting.provider),
        std::io::stderr,
        std::io::stderr().is_terminal(),
    )
    .try_init()
    .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(telemetry)
}

/// The log layer writing to `writer`, the trace layer exporting through `provider`, if any,
/// and `filter` over both.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    provider: Option<&SdkTracerProvider>,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync + use<W>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let log = fmt::layer().with_writer(writer).with_ansi(ansi);
    let log = match format {
        LogFormat::Pretty => log
            .event_format(ids::WithTraceIds::text(fmt::format().with_target(true)))
            .boxed(),
        LogFormat::Json => log
            .json()
            .event_format(ids::WithTraceIds::json(
                fmt::format().json().flatten_event(true),
            ))
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(provider.map(traces::layer))
        .with(log)
        .with(filter)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::*;

    /// What a subscriber wrote, line by line.
    #[derive(Debug, Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// Logs "inside" in a span and "outside" after it, on a subscriber that traces (with no
    /// exporter: ids are made all the same), and returns the lines and the span's ids.
    fn log_in_a_span(format: LogFormat) -> (Vec<String>, String, String) {
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            format,
            EnvFilter::new("info"),
            Some(&provider),
            move || writer.clone(),
            false,
        );
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            let ids = {
                let _entered = span.enter();
                tracing::info!("inside");
                let context = span.context();
                let span_context = context.span().span_context().clone();
                (
                    span_context.trace_id().to_string(),
                    span_context.span_id().to_string(),
                )
            };
            drop(span);
            tracing::info!("outside");
            ids
        });
        (captured.lines(), trace_id, span_id)
    }

    #[test]
    fn json_lines_inside_a_span_carry_its_trace_and_span_ids_as_fields() {
        let (lines, trace_id, span_id) = log_in_a_span(LogFormat::Json);
        let entries: Vec<serde_json::Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(entries.len(), 2, "{lines:?}");
        assert_eq!(entries[0]["message"], "inside");
        assert_eq!(entries[0]["trace_id"], trace_id.as_str());
        assert_eq!(entries[0]["span_id"], span_id.as_str());
        assert_eq!(entries[0]["span"]["name"], "work", "the rest is as before");
        assert_eq!(trace_id.len(), 32);
        assert_eq!(span_id.len(), 16);
        assert_eq!(entries[1]["message"], "outside");
        assert!(entries[1].get("trace_id").is_none(), "{lines:?}");
    }

    #[test]
    fn text_lines_inside_a_span_end_with_its_trace_and_span_ids() {
        let (lines, trace_id, span_id) = log_in_a_span(LogFormat::Pretty);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].ends_with(&format!("inside trace_id={trace_id} span_id={span_id}")),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("outside"), "{lines:?}");
    }

    #[test]
    fn without_tracing_lines_are_as_before() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new("info"),
            None,
            move || writer.clone(),
            false,
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
        });
        let lines = captured.lines();
        let entry: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
        assert_eq!(entry["message"], "inside");
        assert!(entry.get("trace_id").is_none(), "{lines:?}");
    }
}
