//! The KurrentDB backend (`plg_eventstore::kurrentdb`) against plgd's KurrentDB listener with
//! raw writes allowed: the conformance suite every backend passes, unchanged, and what only
//! this backend has: request records that survive a crash, several processes on one store,
//! and credentials in the connection string.

use std::net::SocketAddr;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use kurrentdb::{AppendToStreamOptions, Client, ClientSettings, EventData, StreamState};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey, Log,
    NewEvent, Position, ReadFrom, RecordedEvent, StoreError, StoredEvent, StoredSubscription,
    StreamName, StreamRevision, Subscription, chain, kurrentdb::KurrentDbEventStore,
};
use plg_server::config::Config;
use plg_testkit::{TestServer, without_budget};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod kurrentdb_support;
use kurrentdb_support::insecure_plgd;

/// A plgd with keys serving KurrentDB's protocol with raw writes.
async fn plgd_with_keys() -> anyhow::Result<TestServer> {
    TestServer::start_with(tempfile::tempdir()?, |config| Config {
        kurrentdb_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        kurrentdb_allow_raw_writes: true,
        ..without_budget(config)
    })
    .await
}

fn connection_string(server: &TestServer, credentials: &str) -> anyhow::Result<String> {
    let address = server
        .kurrentdb_address()
        .ok_or_else(|| anyhow::anyhow!("no kurrentdb listener"))?;
    Ok(format!("kurrentdb://{credentials}{address}?tls=false"))
}

async fn connect(server: &TestServer) -> anyhow::Result<KurrentDbEventStore> {
    Ok(KurrentDbEventStore::connect(&connection_string(server, "")?).await?)
}

/// A store on a plgd of its own, which lives as long as the store.
#[derive(Debug)]
struct OnPlgd {
    store: KurrentDbEventStore,
    _plgd: TestServer,
}

async fn fresh_store() -> OnPlgd {
    let plgd = insecure_plgd().await.expect("plgd starts");
    let store = connect(&plgd).await.expect("the store connects");
    let log = store
        .read_all(Direction::Forward, ReadFrom::Start, 10)
        .await
        .expect("the log reads");
    assert_eq!(log, [], "a fresh plgd's log is empty");
    OnPlgd { store, _plgd: plgd }
}

#[async_trait]
impl EventStore for OnPlgd {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.store.append(request).await
    }

    async fn find_idempotent_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.store.find_idempotent_outcome(key).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store
            .read_stream(stream, direction, from, max_count)
            .await
    }

    async fn read_all(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_all(direction, from, max_count).await
    }

    async fn read_all_stored(
        &self,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.read_all_stored(from, max_count).await
    }

    async fn stream_revision(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamRevision>, StoreError> {
        self.store.stream_revision(stream).await
    }

    async fn streams_in_category(&self, category: &str) -> Result<Vec<StreamName>, StoreError> {
        self.store.streams_in_category(category).await
    }

    fn subscribe_to_all(&self, after: Option<Position>) -> Subscription {
        self.store.subscribe_to_all(after)
    }

    fn subscribe_to_all_stored(&self, after: Option<Position>) -> StoredSubscription {
        self.store.subscribe_to_all_stored(after)
    }

    fn subscribe_to_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> Subscription {
        self.store.subscribe_to_stream(stream, after)
    }

    fn log(&self) -> Log {
        self.store.log()
    }
}

mod conformance {
    plg_eventstore::conformance_tests!(|| super::fresh_store());
}

/// An idempotent request whose attempt a writer recorded before it crashed, in the request
/// record's documented shape (docs/kurrentdb.md): what the retry finds.
async fn record_crashed_attempt(
    server: &TestServer,
    key: &IdempotencyKey,
    stream: &StreamName,
    event: NewEvent,
) -> anyhow::Result<()> {
    let recorded_at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .ok_or_else(|| anyhow::anyhow!("a timestamp"))?;
    let hash = chain::new_event_hash(None, stream, StreamRevision(0), &event, &recorded_at);
    let attempt = json!({
        "key": key.key,
        "fingerprint": key.fingerprint,
        "attempt": 1,
        "stream": stream,
        "after": null,
        "events": [{
            "id": event.id,
            "event_type": event.event_type,
            "data": event.data,
            "envelope": {
                "metadata": event.metadata,
                "schema_version": event.schema_version,
                "recorded_at": recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                "hash": hash,
            },
        }],
    });
    let digest: String = Sha256::digest(key.key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let settings: ClientSettings = connection_string(server, "")?.parse()?;
    let client = Client::new(settings).map_err(|error| anyhow::anyhow!("{error}"))?;
    client
        .append_to_stream(
            format!("plgrequest-{digest}"),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            EventData::json("plg-request-attempt", &attempt)?.metadata_as_json(&json!({}))?,
        )
        .await?;
    Ok(())
}

fn order_event(n: u64) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "order-placed".to_owned(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: json!({ "actor": "test" }),
    }
}

/// Event `n` as the first of a new stream, without idempotency key.
fn new_order(stream: &StreamName, n: u64) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected: ExpectedRevision::NoStream,
        events: vec![order_event(n)],
        idempotency: None,
    }
}

fn keyed(stream: &StreamName, expected: ExpectedRevision, key: &IdempotencyKey) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        events: vec![order_event(99)],
        idempotency: Some(key.clone()),
    }
}

fn key(key: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: key.to_owned(),
        fingerprint: "sha-1".to_owned(),
    }
}

/// A request to `order-1` whose writer recorded its attempt with event `crashed`, then crashed.
struct Crashed {
    server: TestServer,
    store: KurrentDbEventStore,
    orders: StreamName,
    request: IdempotencyKey,
    crashed: NewEvent,
}

async fn crashed_request() -> anyhow::Result<Crashed> {
    let server = insecure_plgd().await?;
    let store = connect(&server).await?;
    let orders = StreamName::new("order-1")?;
    let request = key("place-order-1");
    let crashed = order_event(0);
    record_crashed_attempt(&server, &request, &orders, crashed.clone()).await?;
    Ok(Crashed {
        server,
        store,
        orders,
        request,
        crashed,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_lands_the_attempt_a_crashed_writer_recorded() -> anyhow::Result<()> {
    let crashed = crashed_request().await?;

    let found = crashed
        .store
        .find_idempotent_outcome(&crashed.request)
        .await?;
    let retried = crashed.retry().await?;
    assert_eq!(found, Some(retried.clone()), "a lookup settles it alike");
    crashed.landed_once_as(&retried).await?;
    crashed.server.stop().await?;
    Ok(())
}

/// As above, with the retried append itself settling the attempt (no lookup before it).
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_append_lands_the_attempt_a_crashed_writer_recorded() -> anyhow::Result<()> {
    let crashed = crashed_request().await?;

    let retried = crashed.retry().await?;
    crashed.landed_once_as(&retried).await?;
    assert_eq!(
        crashed
            .store
            .find_idempotent_outcome(&crashed.request)
            .await?,
        Some(retried),
        "a later lookup answers the same"
    );
    crashed.server.stop().await?;
    Ok(())
}

impl Crashed {
    /// The request retried as it was first made: to a new stream.
    async fn retry(&self) -> Result<AppendOutcome, StoreError> {
        self.store
            .append(keyed(
                &self.orders,
                ExpectedRevision::NoStream,
                &self.request,
            ))
            .await
    }

    /// Asserts that the crashed writer's event, and only it, landed, as `retried` answers.
    async fn landed_once_as(&self, retried: &AppendOutcome) -> anyhow::Result<()> {
        assert!(
            retried.replayed,
            "the crashed writer's attempt is the answer"
        );
        assert_eq!(
            (retried.first_revision, retried.revision),
            (StreamRevision(0), StreamRevision(0))
        );
        let stored = self
            .store
            .read_stream(&self.orders, Direction::Forward, ReadFrom::Start, 10)
            .await?;
        assert_eq!(stored.len(), 1, "written once: {stored:?}");
        assert_eq!(
            stored[0].id, self.crashed.id,
            "the recorded event, not the retry's"
        );
        assert_eq!(stored[0].data, self.crashed.data);
        assert_eq!(stored[0].position, retried.position);
        chain::verify(&stored)?;
        let log = self
            .store
            .read_all(Direction::Forward, ReadFrom::Start, 10)
            .await?;
        assert_eq!(log, stored, "the request record is not in the log");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_overtaken_by_other_writes_never_lands_and_the_retry_writes()
-> anyhow::Result<()> {
    let Crashed {
        server,
        store,
        orders,
        request,
        crashed,
    } = crashed_request().await?;
    let other = store.append(new_order(&orders, 1)).await?;

    assert_eq!(store.find_idempotent_outcome(&request).await?, None);
    let retried = store
        .append(keyed(&orders, ExpectedRevision::Any, &request))
        .await?;
    assert!(!retried.replayed, "the retry is the request's first write");
    assert_eq!(retried.revision, StreamRevision(1));
    let stored = store
        .read_stream(&orders, Direction::Forward, ReadFrom::Start, 10)
        .await?;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0].position, other.position);
    assert!(
        stored.iter().all(|event| event.id != crashed.id),
        "the overtaken attempt never lands"
    );
    assert_eq!(stored[1].data, json!({ "n": 99 }));
    chain::verify(&stored)?;
    let again = store
        .append(keyed(&orders, ExpectedRevision::Any, &request))
        .await?;
    assert_eq!(
        again,
        AppendOutcome {
            replayed: true,
            ..retried
        }
    );
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_racing_one_key_write_once() -> anyhow::Result<()> {
    let server = insecure_plgd().await?;
    let processes = [connect(&server).await?, connect(&server).await?];
    let request = key("place-order-7");
    let copies: Vec<_> = (0..10)
        .map(|copy| {
            let store = processes[copy % 2].clone();
            let request = request.clone();
            tokio::spawn(async move {
                let stream = StreamName::new(format!("order-{copy}"))?;
                anyhow::Ok(
                    store
                        .append(keyed(&stream, ExpectedRevision::Any, &request))
                        .await?,
                )
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for copy in copies {
        outcomes.push(copy.await??);
    }
    assert_eq!(
        outcomes.iter().filter(|outcome| !outcome.replayed).count(),
        1,
        "exactly one copy wrote: {outcomes:?}"
    );
    let written = outcomes
        .iter()
        .find(|outcome| !outcome.replayed)
        .map(|outcome| AppendOutcome {
            replayed: true,
            ..outcome.clone()
        });
    assert!(
        outcomes
            .iter()
            .filter(|outcome| outcome.replayed)
            .all(|outcome| Some(outcome) == written.as_ref()),
        "every copy answers the one outcome: {outcomes:?}"
    );
    let log = processes[1]
        .read_all(Direction::Forward, ReadFrom::Start, 100)
        .await?;
    assert_eq!(log.len(), 1, "{log:?}");
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_travel_in_the_connection_string() -> anyhow::Result<()> {
    let server = plgd_with_keys().await?;
    let operator = server.operator_key()?.to_owned();
    let (id, secret) = operator
        .strip_prefix("plg_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(|| anyhow::anyhow!("not an api key"))?;

    let store =
        KurrentDbEventStore::connect(&connection_string(&server, &format!("{id}:{secret}@"))?)
            .await?;
    let orders = StreamName::new("order-1")?;
    let outcome = store.append(new_order(&orders, 0)).await?;
    assert_eq!(
        store.stream_revision(&orders).await?,
        Some(outcome.revision)
    );

    let wrong_secret = format!("{id}:not-the-secret@");
    for credentials in [wrong_secret.as_str(), ""] {
        let refused = KurrentDbEventStore::connect(&connection_string(&server, credentials)?).await;
        match refused {
            Err(StoreError::Storage(message)) => {
                assert!(message.contains("credentials"), "{message}");
                assert!(!message.contains("not-the-secret"), "{message}");
            }
            other => panic!("{credentials:?}: expected a storage error, got {other:?}"),
        }
    }
    let unparsable = KurrentDbEventStore::connect("kurrentdb://a:secret@[::1").await;
    match unparsable {
        Err(StoreError::Storage(message)) => assert!(!message.contains("secret"), "{message}"),
        other => panic!("expected a storage error, got {other:?}"),
    }
    server.stop().await?;

    // Connected once, the store's later errors do not carry the secret either.
    let unreachable = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        store.append(new_order(&StreamName::new("order-2")?, 0)),
    )
    .await?;
    match unreachable {
        Err(error) => assert!(!error.to_string().contains(secret), "{error}"),
        Ok(outcome) => panic!("appended to a stopped server: {outcome:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn request_records_sit_outside_the_domains_categories() -> anyhow::Result<()> {
    let server = insecure_plgd().await?;
    let store = connect(&server).await?;
    let orders = StreamName::new("order-1")?;
    store
        .append(keyed(
            &orders,
            ExpectedRevision::NoStream,
            &key("place-order-1"),
        ))
        .await?;
    // The listener plgd's research view reads the request record too: nothing of it is
    // taken for a domain event it cannot decode.
    let data_dir = server.stop().await?;
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    };
    let rebuilt = plgd::rebuild(&config, &[]).await?;
    assert!(rebuilt.skipped.is_empty(), "{:?}", rebuilt.skipped);
    Ok(())
}

/// An append larger than the node takes is refused as such, never as a storage failure
/// that callers would retry in vain, and writes nothing: an append of events as the node
/// refuses it (plgd's listener: over 4 MiB; KurrentDB: 1 MiB by default), and a request
/// record over KurrentDB's default 1 MiB before it is sent, so neither the record nor the
/// events land. Just under that lands.
#[tokio::test(flavor = "multi_thread")]
async fn an_append_larger_than_the_node_takes_is_refused_and_writes_nothing() {
    let on = fresh_store().await;
    let sized = |stream: &StreamName, kib: usize, idempotency: Option<IdempotencyKey>| {
        let filler = "x".repeat(kib * 1024 / 4);
        AppendRequest {
            stream: stream.clone(),
            expected: ExpectedRevision::NoStream,
            events: (0..4)
                .map(|n| NewEvent {
                    data: json!({ "n": n, "filler": filler }),
                    ..order_event(n)
                })
                .collect(),
            idempotency,
        }
    };
    for (kib, idempotency) in [(5_000, None), (1_100, Some(key("large-request")))] {
        let stream = StreamName::new(format!("order-{}", Uuid::new_v4())).expect("valid name");
        let refused = on
            .append(sized(&stream, kib, idempotency.clone()))
            .await
            .expect_err("too large for the node");
        assert!(
            matches!(refused, StoreError::AppendRefused(_)),
            "{kib} KiB, {idempotency:?}: {refused:?}"
        );
        let stored = on
            .read_stream(&stream, Direction::Forward, ReadFrom::Start, 10)
            .await
            .expect("the stream reads");
        assert_eq!(stored, [], "{idempotency:?}");
        if let Some(idempotency) = &idempotency {
            let outcome = on
                .find_idempotent_outcome(idempotency)
                .await
                .expect("the record reads");
            assert!(outcome.is_none());
        }
    }
    let log = on
        .read_all(Direction::Forward, ReadFrom::Start, 10)
        .await
        .expect("the log reads");
    assert_eq!(log, [], "nothing was written, no request record either");

    for idempotency in [None, Some(key("large-but-not-too-large"))] {
        let stream = StreamName::new(format!("order-{}", Uuid::new_v4())).expect("valid name");
        let landed = on
            .append(sized(&stream, 1_000, idempotency.clone()))
            .await
            .expect("under 1 MiB lands");
        assert_eq!(landed.revision, StreamRevision(3), "{idempotency:?}");
    }
}
