//! The embedded store's metric: how many appends each group commit carried, the writer's
//! batching at work (one append per commit under light load, dozens under heavy).

use std::sync::LazyLock;

use opentelemetry::metrics::Histogram;

/// Made on first use, from the global provider as telemetry left it.
static COMMIT_APPENDS: LazyLock<Histogram<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("plg-eventstore")
        .u64_histogram("plg.store.commit.appends")
        .with_unit("{append}")
        .with_description("Appends committed together in one transaction of the embedded store")
        .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
        .build()
});

pub(super) fn record_commit(appends: usize) {
    COMMIT_APPENDS.record(u64::try_from(appends).unwrap_or(u64::MAX), &[]);
}
