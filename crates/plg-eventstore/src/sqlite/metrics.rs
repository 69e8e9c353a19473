//! How many appends each group commit of the embedded store carried, the writer's batching at
//! work (one append per commit under light load, dozens under heavy): as a metric, and on the
//! span of each append in the commit.

use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

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

/// Group commits so far, in this process: their numbers tell which appends committed together.
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Records a commit of the appends whose callers' spans are `spans`. A span that declares the
/// fields `commit` and `commit_appends` (the write core's `append`) gets the commit's number and
/// size; other spans ignore them.
pub(super) fn record_commit<'a>(spans: impl ExactSizeIterator<Item = &'a tracing::Span>) {
    let appends = u64::try_from(spans.len()).unwrap_or(u64::MAX);
    COMMIT_APPENDS.record(appends, &[]);
    let commit = COMMITS.fetch_add(1, Ordering::Relaxed) + 1;
    // Signed: trace exporters take unsigned fields as text.
    let (commit, appends) = (
        i64::try_from(commit).unwrap_or(i64::MAX),
        i64::try_from(appends).unwrap_or(i64::MAX),
    );
    for span in spans {
        span.record("commit", commit);
        span.record("commit_appends", appends);
    }
}
