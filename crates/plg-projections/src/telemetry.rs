//! What the follower reports: how far the view lags behind the log it has read (two gauges),
//! and a span per applied batch that links to the write of each of its events.

use std::{
    collections::HashMap,
    sync::{
        LazyLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use opentelemetry::{
    metrics::ObservableGauge, propagation::TextMapPropagator as _, trace::TraceContextExt as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use plg_eventstore::StoredEvent;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::LogEvent;

/// The follower's progress through what it has read of the log: one follower per process.
#[derive(Debug, Default)]
pub(crate) struct Lag {
    /// Events read from the log so far.
    read: AtomicU64,
    /// Of those, the events the view has committed (or skipped).
    applied: AtomicU64,
    /// When the oldest event still waiting was recorded, in microseconds since the epoch: the
    /// first of a page read while nothing waited, then the last one committed while more
    /// wait (which was recorded no later than the next); 0 while nothing waits.
    waiting_since: AtomicI64,
}

pub(crate) static LAG: LazyLock<Lag> = LazyLock::new(Lag::default);

/// Followers running in this process: one in plgd, from its start until it stops, asked to
/// or not.
pub(crate) static FOLLOWERS: AtomicU64 = AtomicU64::new(0);

impl Lag {
    /// The reader sent `page` on to the follower.
    pub(crate) fn read(&self, page: &[StoredEvent]) {
        let Some(first) = page.first() else { return };
        // Counted first: the follower, seeing more read than applied, keeps a time set.
        self.read.fetch_add(count(page.len()), Ordering::Relaxed);
        let _ = self.waiting_since.compare_exchange(
            0,
            first.recorded_at.timestamp_micros(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The follower committed `events` read from the log, the last recorded at `last`.
    pub(crate) fn applied(&self, events: usize, last: DateTime<Utc>) {
        let applied = self.applied.fetch_add(count(events), Ordering::Relaxed) + count(events);
        let waiting = self.read.load(Ordering::Relaxed) > applied;
        self.waiting_since.store(
            if waiting { last.timestamp_micros() } else { 0 },
            Ordering::Relaxed,
        );
    }

    /// Events read from the log and not yet in the view.
    fn events(&self) -> u64 {
        let applied = self.applied.load(Ordering::Relaxed);
        self.read.load(Ordering::Relaxed).saturating_sub(applied)
    }

    /// Seconds since the oldest event not yet in the view was recorded; 0 when none waits.
    fn seconds(&self, now: DateTime<Utc>) -> f64 {
        match self.waiting_since.load(Ordering::Relaxed) {
            0 => 0.0,
            since => ((now.timestamp_micros() - since).max(0) as f64) / 1e6,
        }
    }
}

/// How far the research view lags behind what the follower has read of the log: seconds
/// since the oldest event it does not hold yet was recorded, 0 when caught up.
pub fn view_lag() -> Duration {
    Duration::from_secs_f64(LAG.seconds(Utc::now()))
}

fn count(events: usize) -> u64 {
    u64::try_from(events).unwrap_or(u64::MAX)
}

/// The gauges, observed from [`LAG`] whenever metrics are collected; made once the follower
/// starts, from the global provider as telemetry left it.
type Gauges = (
    ObservableGauge<u64>,
    ObservableGauge<f64>,
    ObservableGauge<u64>,
);

static GAUGES: LazyLock<Gauges> = LazyLock::new(|| {
    let meter = opentelemetry::global::meter("plg-projections");
    (
        meter
            .u64_observable_gauge("plg.projection.lag.events")
            .with_unit("{event}")
            .with_description("Events read from the log that the research view does not hold yet")
            .with_callback(|observer| observer.observe(LAG.events(), &[]))
            .build(),
        meter
            // In seconds, the unit: Prometheus names it plg_projection_lag_seconds.
            .f64_observable_gauge("plg.projection.lag")
            .with_unit("s")
            .with_description(
                "Seconds since the oldest event the research view does not hold yet was recorded",
            )
            .with_callback(|observer| observer.observe(LAG.seconds(Utc::now()), &[]))
            .build(),
        meter
            .u64_observable_gauge("plg.projection.running")
            .with_description("Research view followers running: 1 in plgd, 0 once it stopped")
            .with_callback(|observer| observer.observe(FOLLOWERS.load(Ordering::Relaxed), &[]))
            .build(),
    )
});

/// Registers the lag gauges, once per process.
pub(crate) fn observe_lag() {
    LazyLock::force(&GAUGES);
}

/// The span a batch is applied in, linked to the write of each event whose write was traced
/// (the SDK keeps the first 128 links of a span).
pub(crate) fn batch_span(events: &[LogEvent]) -> tracing::Span {
    let span = tracing::info_span!(
        "project",
        events = i64::try_from(events.len()).unwrap_or(i64::MAX),
        position = events
            .last()
            .map_or(0, |event| i64::try_from(event.position.0)
                .unwrap_or(i64::MAX)),
    );
    if span.is_disabled() {
        return span;
    }
    let propagator = TraceContextPropagator::new();
    for traceparent in events.iter().filter_map(|event| event.traceparent.as_ref()) {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.clone())]);
        let write = propagator.extract(&carrier);
        span.add_link(write.span().span_context().clone());
    }
    span
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn the_lag_counts_what_was_read_and_not_applied_since_the_oldest_waiting() {
        let lag = Lag::default();
        let now = Utc::now();
        assert_eq!((lag.events(), lag.seconds(now)), (0, 0.0));
        lag.read.fetch_add(3, Ordering::Relaxed);
        lag.waiting_since.store(
            (now - TimeDelta::seconds(4)).timestamp_micros(),
            Ordering::Relaxed,
        );
        assert_eq!(lag.events(), 3);
        assert!((lag.seconds(now) - 4.0).abs() < 1e-6);
        lag.applied(2, now - TimeDelta::seconds(1));
        assert_eq!(lag.events(), 1);
        assert!((lag.seconds(now) - 1.0).abs() < 1e-6, "the last applied");
        lag.applied(1, now);
        assert_eq!((lag.events(), lag.seconds(now)), (0, 0.0), "caught up");
    }
}
