//! Trace and span ids on log lines: a line written inside a traced span names them, so that a
//! log search and a trace view find each other.

use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// An event format that adds the ids of the OpenTelemetry span an event happened in: as the
/// first fields of a JSON line, or at the end of a text line. A coloured line (a terminal) is
/// left as it is: the ids serve collectors, which get plain lines.
#[derive(Debug)]
pub(crate) struct WithTraceIds<F> {
    inner: F,
    json: bool,
}

impl<F> WithTraceIds<F> {
    pub(crate) fn json(inner: F) -> Self {
        Self { inner, json: true }
    }

    pub(crate) fn text(inner: F) -> Self {
        Self { inner, json: false }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let ids = current_ids().filter(|_| self.json || !writer.has_ansi_escapes());
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(context, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(context, Writer::new(&mut line), event)?;
        if self.json && line.starts_with('{') {
            line.insert_str(
                1,
                &format!(r#""trace_id":"{trace_id}","span_id":"{span_id}","#),
            );
        } else if !self.json {
            let end = line.trim_end_matches('\n').len();
            line.insert_str(end, &format!(" trace_id={trace_id} span_id={span_id}"));
        }
        writer.write_str(&line)
    }
}

/// The ids of the OpenTelemetry span entered on this thread: the trace layer makes an entered
/// span's context current.
fn current_ids() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|context| {
        let span = context.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| (span_context.trace_id(), span_context.span_id()))
    })
}
