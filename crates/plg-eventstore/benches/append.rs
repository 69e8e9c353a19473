//! Append throughput of the SQLite store, one appender against many (group commit), and the
//! cost of reading the log back. Kept short: `cargo bench -p plg-eventstore`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plg_eventstore::sqlite::SqliteEventStore;
use plg_eventstore::{
    AppendRequest, Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom, StreamName,
};
use serde_json::json;
use tokio::runtime::Runtime;
use uuid::Uuid;

const CONCURRENT_APPENDERS: u64 = 64;
const READ_EVENTS: usize = 10_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime builds")
}

fn open_store(runtime: &Runtime) -> SqliteEventStore {
    runtime
        .block_on(SqliteEventStore::open_temporary())
        .expect("store opens")
}

fn single_event(stream: &StreamName) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected: ExpectedRevision::Any,
        events: vec![NewEvent {
            id: Uuid::new_v4(),
            event_type: "bench-event".to_owned(),
            schema_version: 1,
            data: json!({ "amount": 42, "note": "a typical small payload" }),
            metadata: json!({ "correlation_id": Uuid::new_v4() }),
        }],
        idempotency: None,
    }
}

fn appends(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));

    let store = open_store(&runtime);
    let stream = StreamName::new("bench-sequential").expect("stream name");
    group.bench_function("sequential", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(store.append(single_event(&stream)).await.expect("append"))
        });
    });

    let store = open_store(&runtime);
    group.bench_function("64 concurrent appenders", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let started = Instant::now();
                let tasks: Vec<_> = (0..CONCURRENT_APPENDERS)
                    .map(|appender| {
                        let store = store.clone();
                        // Spread `iters` appends over the appenders.
                        let count = iters / CONCURRENT_APPENDERS
                            + u64::from(appender < iters % CONCURRENT_APPENDERS);
                        tokio::spawn(async move {
                            let stream =
                                StreamName::new(format!("bench-{appender}")).expect("stream name");
                            for _ in 0..count {
                                store.append(single_event(&stream)).await.expect("append");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("appender task");
                }
                started.elapsed()
            }
        });
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    let runtime = runtime();
    let store = open_store(&runtime);
    runtime.block_on(async {
        let stream = StreamName::new("bench-read").expect("stream name");
        for _ in 0..READ_EVENTS / 100 {
            let mut request = single_event(&stream);
            request.events = (0..100)
                .flat_map(|_| single_event(&stream).events)
                .collect();
            store.append(request).await.expect("append");
        }
    });

    let mut group = c.benchmark_group("read");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(READ_EVENTS as u64));
    group.bench_function("read_all 10k events", |b| {
        b.to_async(&runtime).iter(|| async {
            let events = store
                .read_all(Direction::Forward, ReadFrom::Start, READ_EVENTS)
                .await
                .expect("read");
            assert_eq!(events.len(), READ_EVENTS);
            black_box(events)
        });
    });
    group.finish();
}

criterion_group!(benches, appends, reads);
criterion_main!(benches);
