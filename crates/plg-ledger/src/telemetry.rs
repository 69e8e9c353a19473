//! What the write core reports besides its spans: how many events it appended (a metric), and
//! the trace context each event records, so that the research view's work on an event links
//! back to the write that caused it.

use std::{collections::HashMap, sync::LazyLock};

use opentelemetry::{KeyValue, metrics::Counter, propagation::TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Made on first use, from the global provider as telemetry left it.
static APPENDED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("plg-ledger")
        .u64_counter("plg.events.appended")
        .with_description(
            "Events appended to the log by commands (retries answered from the log not counted)",
        )
        .build()
});

/// Counts `events` appended to a stream of `category` (`scan`, `plg`, …).
pub(crate) fn count_appended(category: &str, events: usize) {
    APPENDED.add(
        u64::try_from(events).unwrap_or(u64::MAX),
        &[KeyValue::new("category", category.to_owned())],
    );
}

/// `span`'s W3C `traceparent`, when it is exported: a span that no trace layer records, or
/// that its trace's sampling dropped, leaves nothing to link to.
pub(crate) fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier
        .remove("traceparent")
        // Version 00, the trace, the span and its flags: sampled is 01.
        .filter(|traceparent| traceparent.ends_with("-01"))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::prelude::*;

    use super::*;

    fn traced_with(sampler: Sampler) -> Option<String> {
        let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            traceparent(&tracing::info_span!("append"))
        })
    }

    #[test]
    fn an_exported_span_is_named_by_its_w3c_traceparent() {
        let traceparent = traced_with(Sampler::AlwaysOn).expect("a sampled span");
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
    }

    #[test]
    fn a_span_nobody_exports_records_no_trace_context() {
        assert_eq!(traced_with(Sampler::AlwaysOff), None, "sampled out");
        let untraced = tracing_subscriber::registry();
        let without_layer = tracing::subscriber::with_default(untraced, || {
            traceparent(&tracing::info_span!("append"))
        });
        assert_eq!(without_layer, None, "no trace layer");
        assert_eq!(traceparent(&tracing::Span::none()), None, "no subscriber");
    }
}
