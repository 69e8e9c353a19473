//! The SQLite backend: the conformance suite, plus what only a file-backed store can show.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use plg_eventstore::chain::{self, ChainBreak};
use plg_eventstore::sqlite::{Sharing, SqliteEventStore};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, NewEvent, Position,
    ReadFrom, RecordedEvent, StoreError, StreamName, StreamRevision,
};
use serde_json::json;
use uuid::Uuid;

/// A store that holds its file alone, and so keeps where streams end.
mod conformance {
    use plg_eventstore::sqlite::SqliteEventStore;

    plg_eventstore::conformance_tests!(|| async {
        SqliteEventStore::open_temporary()
            .await
            .expect("temporary store opens")
    });
}

/// A store that shares its file, and so asks SQLite for every read.
mod conformance_shared {
    use plg_eventstore::sqlite::{Sharing, SqliteEventStore};

    plg_eventstore::conformance_tests!(|| async {
        SqliteEventStore::open_temporary_with(Sharing::Shared)
            .await
            .expect("temporary store opens")
    });
}

/// `run_all` is the other way in for backends: the same checks, in one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_suite_passes_in_one_call() {
    plg_eventstore::conformance::run_all(|| async {
        SqliteEventStore::open_temporary()
            .await
            .expect("temporary store opens")
    })
    .await;
}

/// Bounds every wait in these tests, so that a bug fails them instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "test-event".to_owned(),
        schema_version: 1,
        data: json!({ "n": n }),
        metadata: json!({}),
    }
}

fn request(
    stream: &StreamName,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        events,
        idempotency: None,
    }
}

async fn append_one(store: &SqliteEventStore, stream: &StreamName, n: u64) -> AppendOutcome {
    store
        .append(request(stream, ExpectedRevision::Any, vec![event(n)]))
        .await
        .expect("append succeeds")
}

async fn read_everything(store: &SqliteEventStore) -> Vec<RecordedEvent> {
    store
        .read_all(Direction::Forward, ReadFrom::Start, 100_000)
        .await
        .expect("read succeeds")
}

async fn next_event(subscription: &mut plg_eventstore::Subscription) -> Option<RecordedEvent> {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("subscription answers in time")
        .map(|event| event.expect("subscription delivers events"))
}

#[tokio::test]
async fn reopening_keeps_every_event_and_continues_positions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let orders = stream("order-1");

    let store = SqliteEventStore::open(&path).await.expect("open");
    for n in 0..5 {
        append_one(&store, &orders, n).await;
    }
    let before = read_everything(&store).await;
    store.close().await;

    let reopened = SqliteEventStore::open(&path).await.expect("reopen");
    assert_eq!(read_everything(&reopened).await, before);
    assert_eq!(
        reopened.stream_revision(&orders).await.expect("revision"),
        Some(StreamRevision(4))
    );
    let next = reopened
        .append(request(
            &orders,
            ExpectedRevision::Exact(StreamRevision(4)),
            vec![event(5)],
        ))
        .await
        .expect("append after reopen");
    assert_eq!(next.revision, StreamRevision(5));
    assert_eq!(
        next.position,
        Position(6),
        "positions continue after the stored ones"
    );
}

#[tokio::test]
async fn a_closed_store_refuses_work_and_ends_subscriptions() {
    let store = SqliteEventStore::open_temporary().await.expect("open");
    let orders = stream("order-1");
    append_one(&store, &orders, 0).await;
    let mut subscription = store.subscribe_to_all(None);
    assert!(
        next_event(&mut subscription).await.is_some(),
        "the stored event"
    );

    let clone = store.clone();
    store.close().await;

    let error = clone
        .append(request(&orders, ExpectedRevision::Any, vec![event(1)]))
        .await
        .expect_err("append after close");
    assert!(matches!(error, StoreError::Closed), "got {error:?}");
    let error = clone
        .read_all(Direction::Forward, ReadFrom::Start, 10)
        .await
        .expect_err("read after close");
    assert!(matches!(error, StoreError::Closed), "got {error:?}");
    assert!(
        next_event(&mut subscription).await.is_none(),
        "the subscription ends"
    );
    // Closing twice is harmless.
    clone.close().await;
}

#[tokio::test]
async fn dropping_the_store_ends_subscriptions() {
    let store = SqliteEventStore::open_temporary().await.expect("open");
    let mut subscription = store.subscribe_to_stream(stream("order-1"), None);
    drop(store);
    assert!(
        next_event(&mut subscription).await.is_none(),
        "the subscription ends"
    );
}

/// Appends fired together are committed in shared transactions (group commit); each still
/// gets its own dense, unique position and its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_group_committed_with_dense_positions() {
    const APPENDS: u64 = 200;
    let store = SqliteEventStore::open_temporary().await.expect("open");
    let tasks: Vec<_> = (0..APPENDS)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let target = stream(&format!("group-{}", n % 7));
                append_one(&store, &target, n).await
            })
        })
        .collect();
    let mut positions = Vec::new();
    for task in tasks {
        positions.push(task.await.expect("task").position.0);
    }
    positions.sort_unstable();
    assert_eq!(
        positions,
        (1..=APPENDS).collect::<Vec<_>>(),
        "unique and dense from 1"
    );

    let stored = read_everything(&store).await;
    assert_eq!(stored.len() as u64, APPENDS);
    for group in 0..7 {
        let events = store
            .read_stream(
                &stream(&format!("group-{group}")),
                Direction::Forward,
                ReadFrom::Start,
                1000,
            )
            .await
            .expect("read");
        let revisions: Vec<_> = events.iter().map(|event| event.revision.0).collect();
        assert_eq!(
            revisions,
            (0..events.len() as u64).collect::<Vec<_>>(),
            "contiguous"
        );
    }
}

/// A failing append shares a batch with others without disturbing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_append_rolls_back_only_itself() {
    let store = SqliteEventStore::open_temporary().await.expect("open");
    let contested = stream("contested-1");
    append_one(&store, &contested, 0).await;

    let tasks: Vec<_> = (0..100u64)
        .map(|n| {
            let store = store.clone();
            let contested = contested.clone();
            tokio::spawn(async move {
                if n % 2 == 0 {
                    // Half of these race on one revision: one wins, the rest fail.
                    let expected = ExpectedRevision::Exact(StreamRevision(0));
                    store
                        .append(request(&contested, expected, vec![event(n)]))
                        .await
                } else {
                    let own = stream(&format!("own-{n}"));
                    store
                        .append(request(
                            &own,
                            ExpectedRevision::NoStream,
                            vec![event(n), event(n)],
                        ))
                        .await
                }
            })
        })
        .collect();
    let mut contested_wins = 0;
    for (n, task) in tasks.into_iter().enumerate() {
        match (n % 2, task.await.expect("task")) {
            (0, Ok(_)) => contested_wins += 1,
            (0, Err(error)) => assert!(
                matches!(error, StoreError::WrongExpectedRevision { .. }),
                "got {error:?}"
            ),
            (_, result) => assert!(result.is_ok(), "independent appends succeed: {result:?}"),
        }
    }
    assert_eq!(contested_wins, 1);
    assert_eq!(read_everything(&store).await.len(), 1 + 1 + 50 * 2);
}

#[tokio::test]
async fn a_duplicate_event_id_is_refused_and_writes_nothing() {
    let store = SqliteEventStore::open_temporary().await.expect("open");
    let first = event(0);
    store
        .append(request(
            &stream("order-1"),
            ExpectedRevision::NoStream,
            vec![first.clone()],
        ))
        .await
        .expect("first append");

    let error = store
        .append(request(
            &stream("order-2"),
            ExpectedRevision::NoStream,
            vec![event(1), first.clone()],
        ))
        .await
        .expect_err("a reused event id is refused");
    match error {
        StoreError::DuplicateEventId(id) => {
            assert_eq!(id, first.id);
            assert!(
                error.to_string().contains(&first.id.to_string()),
                "the message names the id: {error}"
            )
        }
        other => panic!("expected a duplicate event id, got {other:?}"),
    }
    assert_eq!(
        read_everything(&store).await.len(),
        1,
        "nothing of the append is written"
    );
    assert_eq!(
        store
            .stream_revision(&stream("order-2"))
            .await
            .expect("revision"),
        None
    );
}

/// Two stores on one file stand for two processes sharing a data directory: their appends
/// interleave safely, and a subscription in one sees what the other appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_can_share_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let first = SqliteEventStore::open(&path).await.expect("open first");
    let second = SqliteEventStore::open(&path).await.expect("open second");
    let mut watching_first = first.subscribe_to_all(None);

    let tasks: Vec<_> = (0..40u64)
        .map(|n| {
            let store = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move { append_one(&store, &stream("shared-1"), n).await })
        })
        .collect();
    let mut positions = HashSet::new();
    for task in tasks {
        assert!(
            positions.insert(task.await.expect("task").position),
            "unique positions"
        );
    }

    let stored = read_everything(&first).await;
    assert_eq!(
        stored,
        read_everything(&second).await,
        "both see the same log"
    );
    let revisions: Vec<_> = stored.iter().map(|event| event.revision.0).collect();
    assert_eq!(revisions, (0..40).collect::<Vec<_>>());
    for expected in &stored {
        let delivered = next_event(&mut watching_first).await.expect("an event");
        assert_eq!(&delivered, expected);
    }

    // An append only the other store knows of still reaches the subscription, even one
    // already waiting for news (the pause lets it get there).
    let waiting = tokio::spawn(async move { next_event(&mut watching_first).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcome = append_one(&second, &stream("shared-2"), 40).await;
    let delivered = waiting.await.expect("task").expect("an event");
    assert_eq!(delivered.position, outcome.position);
}

/// Reads from the end of a stream, where a kept state catches up.
async fn read_after(store: &SqliteEventStore, name: &StreamName, revision: u64) -> Vec<u64> {
    store
        .read_stream(
            name,
            Direction::Forward,
            ReadFrom::At(StreamRevision(revision)),
            10,
        )
        .await
        .expect("reads")
        .iter()
        .map(|event| event.revision.0)
        .collect()
}

/// A store that shares its file keeps no stream ends: what another process appended is read
/// at once, also past an end it read before.
#[tokio::test]
async fn a_shared_store_reads_what_another_appended_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let first = SqliteEventStore::open(&path).await.expect("open first");
    let second = SqliteEventStore::open(&path).await.expect("open second");
    let name = stream("shared-1");
    append_one(&first, &name, 0).await;
    assert_eq!(read_after(&first, &name, 1).await, Vec::<u64>::new());
    assert_eq!(
        first.stream_revision(&name).await.expect("reads"),
        Some(StreamRevision(0))
    );

    append_one(&second, &name, 1).await;
    assert_eq!(read_after(&first, &name, 1).await, vec![1]);
    assert_eq!(
        first.stream_revision(&name).await.expect("reads"),
        Some(StreamRevision(1))
    );
}

/// A store that holds its file alone answers reads past a stream's end from what it kept;
/// should another connection append all the same (the lock bypassed), the store sees it
/// from its own next batch on, whose start asks SQLite whether anyone else committed.
#[tokio::test]
async fn an_exclusive_store_sees_another_connections_append_from_its_next_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let alone = SqliteEventStore::open_with(&path, Sharing::Exclusive)
        .await
        .expect("open");
    let name = stream("order-1");
    append_one(&alone, &name, 0).await;
    assert_eq!(read_after(&alone, &name, 1).await, Vec::<u64>::new());

    let intruder = SqliteEventStore::open(&path).await.expect("open another");
    append_one(&intruder, &name, 1).await;
    intruder.close().await;

    append_one(&alone, &stream("order-2"), 2).await;
    assert_eq!(read_after(&alone, &name, 1).await, vec![1]);
    assert_eq!(
        alone.stream_revision(&name).await.expect("reads"),
        Some(StreamRevision(1))
    );
}

/// What a write looks at first: the outcome of a used key (and no events), else the stream.
#[tokio::test]
async fn a_used_key_is_found_before_its_stream_is_read() {
    for sharing in [Sharing::Exclusive, Sharing::Shared] {
        let store = SqliteEventStore::open_temporary_with(sharing)
            .await
            .expect("opens");
        let name = stream("order-1");
        let key = plg_eventstore::IdempotencyKey {
            key: "k-1".into(),
            fingerprint: "f".into(),
        };
        let fresh = plg_eventstore::IdempotencyKey {
            key: "k-2".into(),
            ..key.clone()
        };
        let first = store
            .append(AppendRequest {
                idempotency: Some(key.clone()),
                ..request(&name, ExpectedRevision::NoStream, vec![event(0)])
            })
            .await
            .expect("appends");
        let (found, events) = store
            .find_idempotent_outcome_then_read(&key, &name, ReadFrom::Start, 10)
            .await
            .expect("looks");
        assert_eq!(found.map(|outcome| outcome.position), Some(first.position));
        assert!(events.is_empty(), "{sharing:?}");
        for from in [ReadFrom::Start, ReadFrom::At(StreamRevision(1))] {
            let (found, events) = store
                .find_idempotent_outcome_then_read(&fresh, &name, from, 10)
                .await
                .expect("looks");
            assert_eq!(found, None);
            let expected = store
                .read_stream(&name, Direction::Forward, from, 10)
                .await
                .expect("reads");
            assert_eq!(events, expected, "{sharing:?} {from:?}");
        }
    }
}

#[tokio::test]
async fn the_file_has_the_documented_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("open");
    let appended = event(7);
    store
        .append(AppendRequest {
            idempotency: Some(plg_eventstore::IdempotencyKey {
                key: "k-1".to_owned(),
                fingerprint: "f-1".to_owned(),
            }),
            ..request(
                &stream("order-1"),
                ExpectedRevision::NoStream,
                vec![appended.clone()],
            )
        })
        .await
        .expect("append");
    store.close().await;

    let connection = rusqlite::Connection::open(&path).expect("sqlite opens the file");
    let user_version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version");
    assert_eq!(user_version, plg_eventstore::sqlite::SCHEMA_VERSION);
    let journal_mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(journal_mode, "wal");

    let (position, stream_name, revision, id, data, recorded_at): (
        i64,
        String,
        i64,
        String,
        String,
        String,
    ) = connection
        .query_row(
            "SELECT position, stream, revision, event_id, data, recorded_at FROM events",
            [],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .expect("one event row");
    assert_eq!(
        (position, stream_name.as_str(), revision),
        (1, "order-1", 0)
    );
    assert_eq!(id, appended.id.to_string());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).expect("json"),
        appended.data
    );
    // RFC 3339, UTC, microseconds: 2025-01-31T12:00:00.123456Z
    assert_eq!(recorded_at.len(), 27, "{recorded_at}");
    assert!(recorded_at.ends_with('Z'), "{recorded_at}");
    let hash: String = connection
        .query_row("SELECT hash FROM events", [], |row| row.get(0))
        .expect("the hash column");
    let reopened = SqliteEventStore::open(&path).await.expect("reopen");
    let stored = read_everything(&reopened).await;
    assert_eq!(hash, stored[0].hash);
    assert_eq!(hash, chain::event_hash(None, &stored[0]));
    reopened.close().await;

    let (fingerprint, idempotent_position): (String, i64) = connection
        .query_row(
            "SELECT fingerprint, position FROM idempotency WHERE key = 'k-1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("one idempotency row");
    assert_eq!((fingerprint.as_str(), idempotent_position), ("f-1", 1));
}

/// A payload that no longer parses spoils only its own event: every read returns it marked,
/// with `null` for what does not parse, and the events around it as they are.
#[tokio::test]
async fn tampered_json_is_marked_and_read_past() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("open");
    let orders = stream("order-1");
    for revision in 0..3 {
        append_one(&store, &orders, revision).await;
    }

    let connection = rusqlite::Connection::open(&path).expect("sqlite opens the file");
    connection
        .execute(
            "UPDATE events SET data = '{not json', metadata = '[' WHERE position = 2",
            [],
        )
        .expect("tamper");
    drop(connection);

    let all = store
        .read_all(Direction::Forward, ReadFrom::Start, 10)
        .await
        .expect("the page reads");
    assert_eq!(all.len(), 3);
    let marked = &all[1];
    assert_eq!(
        (marked.position, marked.revision),
        (Position(2), StreamRevision(1))
    );
    assert_eq!(
        (&marked.data, &marked.metadata),
        (&json!(null), &json!(null))
    );
    let reason = marked.unreadable.as_deref().expect("marked");
    assert!(reason.contains("data is not valid json"), "{reason}");
    assert!(reason.contains("metadata is not valid json"), "{reason}");
    assert!(all[0].unreadable.is_none() && all[2].unreadable.is_none());

    let stream_events = read_whole_stream(&store, &orders).await;
    assert_eq!(stream_events, all, "stream reads mark it alike");
    let error = chain::verify(&stream_events).expect_err("its hash cannot be recomputed");
    assert_eq!(error.revision, StreamRevision(1));
    assert!(error.reason.contains("payload unreadable"), "{error}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    SqliteEventStore::open(&path)
        .await
        .expect("open")
        .close()
        .await;
    let connection = rusqlite::Connection::open(&path).expect("sqlite opens the file");
    connection
        .pragma_update(
            None,
            "user_version",
            plg_eventstore::sqlite::SCHEMA_VERSION + 1,
        )
        .expect("bump version");
    drop(connection);

    let error = SqliteEventStore::open(&path)
        .await
        .expect_err("newer schema refused");
    assert!(matches!(error, StoreError::Storage(_)), "got {error:?}");
}

// ---------------------------------------------------------------------------------------------
// Tamper evidence: history altered behind the store's back, directly in the file.

/// A store with a five-event stream `order-1` (written in three appends) and, around it, an
/// untouched stream `other-1`; plus a raw connection to its file, for tampering.
async fn tamper_fixture() -> (tempfile::TempDir, SqliteEventStore, rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("open");
    let (orders, other) = (stream("order-1"), stream("other-1"));
    append_one(&store, &other, 0).await;
    store
        .append(request(
            &orders,
            ExpectedRevision::NoStream,
            vec![event(0), event(1)],
        ))
        .await
        .expect("append");
    append_one(&store, &other, 1).await;
    store
        .append(request(
            &orders,
            ExpectedRevision::Any,
            vec![event(2), event(3)],
        ))
        .await
        .expect("append");
    append_one(&store, &orders, 4).await;
    append_one(&store, &other, 2).await;
    for name in [&orders, &other] {
        assert_eq!(
            verify_stream(&store, name).await,
            Ok(()),
            "{name} verifies before tampering"
        );
    }
    let connection = rusqlite::Connection::open(&path).expect("sqlite opens the file");
    (dir, store, connection)
}

async fn read_whole_stream(store: &SqliteEventStore, name: &StreamName) -> Vec<RecordedEvent> {
    store
        .read_stream(name, Direction::Forward, ReadFrom::Start, 10_000)
        .await
        .expect("read")
}

async fn verify_stream(store: &SqliteEventStore, name: &StreamName) -> Result<(), ChainBreak> {
    chain::verify(&read_whole_stream(store, name).await)
}

/// What every tampering test ends with: the tampered stream breaks where expected, the
/// untouched one still verifies.
async fn assert_breaks_at(store: &SqliteEventStore, revision: u64) -> ChainBreak {
    assert_eq!(
        verify_stream(store, &stream("other-1")).await,
        Ok(()),
        "an untouched stream still verifies"
    );
    let error = verify_stream(store, &stream("order-1"))
        .await
        .expect_err("tampering is detected");
    assert_eq!(error.revision, StreamRevision(revision), "{error}");
    error
}

#[tokio::test]
async fn altered_event_data_breaks_the_chain_at_that_revision() {
    let (_dir, store, connection) = tamper_fixture().await;
    let altered = connection
        .execute(
            r#"UPDATE events SET data = '{"n":200}' WHERE stream = 'order-1' AND revision = 2"#,
            [],
        )
        .expect("tamper");
    assert_eq!(altered, 1);

    let error = assert_breaks_at(&store, 2).await;
    assert!(error.reason.starts_with("event altered"), "{error}");
}

#[tokio::test]
async fn a_deleted_event_breaks_the_chain_at_the_gap() {
    let (_dir, store, connection) = tamper_fixture().await;
    let deleted = connection
        .execute(
            "DELETE FROM events WHERE stream = 'order-1' AND revision = 3",
            [],
        )
        .expect("tamper");
    assert_eq!(deleted, 1);

    let error = assert_breaks_at(&store, 3).await;
    assert_eq!(error.reason, "revision gap: expected 3, found 4");
}

/// Rewriting an event together with a hash that is right for its new content still breaks
/// the chain, one revision later: the next event's stored hash no longer follows.
#[tokio::test]
async fn a_self_consistent_fake_breaks_the_chain_at_the_next_revision() {
    let (_dir, store, connection) = tamper_fixture().await;
    let stored = read_whole_stream(&store, &stream("order-1")).await;
    let fake = RecordedEvent {
        data: json!({ "n": 100 }),
        ..stored[1].clone()
    };
    let fake_hash = chain::event_hash(Some(&stored[0].hash), &fake);
    let altered = connection
        .execute(
            "UPDATE events SET data = ?1, hash = ?2 WHERE stream = 'order-1' AND revision = 1",
            [fake.data.to_string(), fake_hash.clone()],
        )
        .expect("tamper");
    assert_eq!(altered, 1);

    let tampered = read_whole_stream(&store, &stream("order-1")).await;
    assert_eq!(tampered[1].data, fake.data);
    assert_eq!(
        tampered[1].hash, fake_hash,
        "revision 1 alone looks consistent"
    );
    let error = assert_breaks_at(&store, 2).await;
    assert!(error.reason.contains(&stored[2].hash), "{error}");
}

#[tokio::test]
async fn swapped_events_break_the_chain() {
    let (_dir, store, connection) = tamper_fixture().await;
    connection
        .execute_batch(
            "UPDATE events SET revision = -1 WHERE stream = 'order-1' AND revision = 1;
             UPDATE events SET revision = 1 WHERE stream = 'order-1' AND revision = 2;
             UPDATE events SET revision = 2 WHERE stream = 'order-1' AND revision = -1;",
        )
        .expect("tamper");

    let error = assert_breaks_at(&store, 1).await;
    assert!(error.reason.starts_with("event altered"), "{error}");
}

/// The documented limit: rewriting an event and every later hash of its stream passes
/// `verify`; only a head hash recorded elsewhere gives it away.
#[tokio::test]
async fn a_rewritten_tail_is_caught_only_by_a_recorded_head() {
    let (_dir, store, connection) = tamper_fixture().await;
    let orders = stream("order-1");
    let mut events = read_whole_stream(&store, &orders).await;
    let recorded_head = events[4].hash.clone();

    events[2].data = json!({ "n": 200 });
    for index in 2..events.len() {
        events[index].hash = chain::event_hash(Some(&events[index - 1].hash), &events[index]);
        connection
            .execute(
                "UPDATE events SET data = ?1, hash = ?2 WHERE stream = 'order-1' AND revision = ?3",
                rusqlite::params![
                    events[index].data.to_string(),
                    events[index].hash,
                    index as i64
                ],
            )
            .expect("tamper");
    }

    assert_eq!(verify_stream(&store, &orders).await, Ok(()));
    let mut verifier = chain::ChainVerifier::new();
    for event in &read_whole_stream(&store, &orders).await {
        verifier.push(event).expect("verifies");
    }
    assert_ne!(verifier.head(), Some(recorded_head.as_str()));
}

// ---------------------------------------------------------------------------------------------
// Migration from schema version 1 (no hash chain)

/// The schema of version 1, as that build created it.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    stream         TEXT    NOT NULL,
    revision       INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    data           TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream, revision)
) STRICT;
CREATE TABLE IF NOT EXISTS idempotency (
    key            TEXT    PRIMARY KEY,
    fingerprint    TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    first_revision INTEGER NOT NULL,
    revision       INTEGER NOT NULL,
    position       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

/// One event row as version 1 stored it: (stream, revision, data, metadata).
type V1Row = (&'static str, i64, &'static str, &'static str);

/// Writes a version-1 file the way that build did, with `rows` appended in order. Then
/// deletes a last row, as only tampering could, to leave the AUTOINCREMENT counter past the
/// last position.
fn write_v1_file(path: &Path, rows: &[V1Row]) -> Vec<Uuid> {
    let connection = rusqlite::Connection::open(path).expect("sqlite creates the file");
    connection
        .pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    connection.execute_batch(SCHEMA_V1).expect("v1 schema");
    connection
        .pragma_update(None, "user_version", 1)
        .expect("user_version");
    let mut ids = Vec::new();
    for (n, (stream, revision, data, metadata)) in rows.iter().enumerate() {
        let id = Uuid::new_v4();
        ids.push(id);
        connection
            .execute(
                "INSERT INTO events (stream, revision, event_id, event_type, schema_version, \
                 data, metadata, recorded_at) VALUES (?1, ?2, ?3, 'legacy-event', 1, ?4, ?5, ?6)",
                rusqlite::params![
                    stream,
                    revision,
                    id.to_string(),
                    data,
                    metadata,
                    format!("2025-01-31T12:00:{n:02}.123456Z")
                ],
            )
            .expect("v1 row");
    }
    connection
        .execute(
            "INSERT INTO idempotency VALUES ('k-1', 'f-1', 'order-1', 0, 1, 2)",
            [],
        )
        .expect("v1 idempotency row");
    connection
        .execute(
            "INSERT INTO events (stream, revision, event_id, event_type, schema_version, data, \
             metadata, recorded_at) VALUES ('gone-1', 0, 'x', 't', 1, 'null', 'null', 'x')",
            [],
        )
        .expect("extra row");
    connection
        .execute("DELETE FROM events WHERE stream = 'gone-1'", [])
        .expect("delete extra row");
    ids
}

/// The structure of a file's schema: every table's and index's SQL, and the columns.
fn schema_of(path: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(path).expect("sqlite opens the file");
    let mut statement = connection
        .prepare(
            "SELECT type || ' ' || name || ': ' || IFNULL(sql, '') FROM sqlite_master \
             WHERE name != 'sqlite_sequence' ORDER BY type, name",
        )
        .expect("query");
    let mut schema: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("schema");
    let mut columns = connection
        .prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info('events')")
        .expect("query");
    let columns = columns
        .query_map([], |row| {
            Ok(format!(
                "column {}: {} notnull={} default={:?}",
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?
            ))
        })
        .expect("rows")
        .collect::<Result<Vec<String>, _>>()
        .expect("columns");
    schema.extend(columns);
    schema
}

#[tokio::test]
async fn a_version_1_file_is_migrated_with_hashes_backfilled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    // Streams interleaved in the log, and JSON written by hand as an older build might have:
    // other spacing and key order than this build writes.
    let rows: [V1Row; 6] = [
        ("order-1", 0, r#"{"n":0}"#, "{}"),
        (
            "invoice-1",
            0,
            r#"{ "b": 1.5, "a": [1, -2, null] }"#,
            r#"{"actor":"u"}"#,
        ),
        ("order-1", 1, r#"{"n":1}"#, "{}"),
        ("invoice-1", 1, r#""text""#, "null"),
        ("order-1", 2, r#"{"z":{"y":true},"a":3.0}"#, "{}"),
        ("order-1", 3, "[]", "{}"),
    ];
    let ids = write_v1_file(&path, &rows);
    let v1_text: Vec<(String, String)> = {
        let connection = rusqlite::Connection::open(&path).expect("open");
        let mut statement = connection
            .prepare("SELECT data, metadata FROM events ORDER BY position")
            .expect("query");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("v1 text")
    };

    let store = SqliteEventStore::open(&path).await.expect("open migrates");
    let stored = read_everything(&store).await;
    assert_eq!(stored.len(), rows.len(), "every event kept");
    for ((event, (name, revision, data, metadata)), id) in stored.iter().zip(&rows).zip(&ids) {
        assert_eq!(event.id, *id);
        assert_eq!(
            (event.stream.as_str(), event.revision.0 as i64),
            (*name, *revision)
        );
        assert_eq!(
            event.data,
            serde_json::from_str::<serde_json::Value>(data).expect("json")
        );
        assert_eq!(
            event.metadata,
            serde_json::from_str::<serde_json::Value>(metadata).expect("json")
        );
    }
    let positions: Vec<_> = stored.iter().map(|event| event.position.0).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6], "positions kept");
    for name in ["order-1", "invoice-1"] {
        assert_eq!(
            verify_stream(&store, &stream(name)).await,
            Ok(()),
            "{name} verifies after the migration"
        );
    }
    let found = store
        .find_idempotent_outcome(&plg_eventstore::IdempotencyKey {
            key: "k-1".to_owned(),
            fingerprint: "f-1".to_owned(),
        })
        .await
        .expect("lookup");
    assert_eq!(found.map(|outcome| outcome.position), Some(Position(2)));

    // The chain goes on from the backfilled hashes; positions are not reused.
    let next = store
        .append(request(
            &stream("order-1"),
            ExpectedRevision::Exact(StreamRevision(3)),
            vec![event(4), event(5)],
        ))
        .await
        .expect("append after the migration");
    assert_eq!(
        next.position,
        Position(9),
        "after the AUTOINCREMENT counter (7)"
    );
    assert_eq!(verify_stream(&store, &stream("order-1")).await, Ok(()));
    store.close().await;

    // The stored JSON text is untouched, and the file is indistinguishable from a new one.
    let connection = rusqlite::Connection::open(&path).expect("open");
    let mut statement = connection
        .prepare("SELECT data, metadata FROM events WHERE position <= 6 ORDER BY position")
        .expect("query");
    let migrated_text: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("text");
    assert_eq!(migrated_text, v1_text);
    let user_version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version");
    assert_eq!(user_version, plg_eventstore::sqlite::SCHEMA_VERSION);
    drop(statement);
    drop(connection);

    let fresh = dir.path().join("fresh.db");
    SqliteEventStore::open(&fresh)
        .await
        .expect("open")
        .close()
        .await;
    assert_eq!(schema_of(&path), schema_of(&fresh));

    // Opening again migrates nothing more.
    let reopened = SqliteEventStore::open(&path).await.expect("reopen");
    assert_eq!(read_everything(&reopened).await.len(), rows.len() + 2);
}

/// A migration that cannot finish leaves the file as it was, at version 1.
#[tokio::test]
async fn a_failed_migration_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    write_v1_file(
        &path,
        &[
            ("order-1", 0, r#"{"n":0}"#, "{}"),
            ("order-1", 1, "{not json", "{}"),
        ],
    );
    let before = schema_of(&path);

    let error = SqliteEventStore::open(&path)
        .await
        .expect_err("an unreadable event stops the migration");
    assert!(matches!(error, StoreError::Corrupt(_)), "got {error:?}");

    assert_eq!(schema_of(&path), before, "the version-1 schema is intact");
    let connection = rusqlite::Connection::open(&path).expect("open");
    let (user_version, count): (i64, i64) = connection
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), COUNT(*) FROM events",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("query");
    assert_eq!((user_version, count), (1, 2));
}

/// Setting `user_version` back to 1 on a hashed file must not make the store rehash it: that
/// would approve every edit made to the stored events.
#[tokio::test]
async fn a_hashed_file_set_back_to_version_1_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("open");
    append_one(&store, &stream("order-1"), 0).await;
    store.close().await;
    let connection = rusqlite::Connection::open(&path).expect("sqlite opens the file");
    connection
        .execute_batch("UPDATE events SET data = '{\"n\":99}'; PRAGMA user_version = 1;")
        .expect("tamper");
    drop(connection);

    let error = SqliteEventStore::open(&path)
        .await
        .expect_err("no rehash of a hashed file");
    assert!(matches!(error, StoreError::Corrupt(_)), "got {error:?}");
    assert!(error.to_string().contains("set back by hand"), "{error}");
    let connection = rusqlite::Connection::open(&path).expect("open");
    let left_as_found: bool = connection
        .query_row("SELECT data = '{\"n\":99}' FROM events", [], |row| {
            row.get(0)
        })
        .expect("query");
    assert!(left_as_found, "the file is left as found");
}

/// A writer holding a rollback-journal file (as the vault's writers do) makes the copy wait
/// for it, rather than copy nothing and report success.
#[test]
fn a_copy_waits_for_a_locked_source_instead_of_copying_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (source, copy) = (dir.path().join("keys.db"), dir.path().join("copy.db"));
    let writer = rusqlite::Connection::open(&source).expect("open");
    writer
        .execute_batch(
            "CREATE TABLE subject_keys (subject TEXT); INSERT INTO subject_keys VALUES ('a'); \
             BEGIN EXCLUSIVE; INSERT INTO subject_keys VALUES ('b');",
        )
        .expect("lock the file");
    // Longer than rusqlite's default busy timeout (5 s), after which a step reports Busy.
    let committer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5_500));
        writer.execute_batch("COMMIT").expect("commit");
    });

    plg_eventstore::sqlite::copy_database(&source, &copy).expect("copied once unlocked");
    committer.join().expect("committer");
    let keys: i64 = rusqlite::Connection::open(&copy)
        .expect("open the copy")
        .query_row("SELECT COUNT(*) FROM subject_keys", [], |row| row.get(0))
        .expect("the copy has the table");
    assert_eq!(keys, 2);
}

// ---------------------------------------------------------------------------------------------
// Crash durability: a child process appends and reports each acknowledgement, the parent
// kills it with SIGKILL mid-stream, then checks that every acknowledged event is on disk.

/// Tells the test binary, re-run as a child, to act as the writer, on this database file.
const CRASH_WRITER_DB: &str = "PLG_EVENTSTORE_CRASH_WRITER_DB";
const CRASH_WRITER_TEST: &str = "crash_writer_child";
const CRASH_WRITER_TASKS: u64 = 8;
const CRASH_WRITER_APPENDS: u64 = 100_000;

/// Not a test by itself: the child half of `acknowledged_appends_survive_a_kill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by acknowledged_appends_survive_a_kill as its child process"]
async fn crash_writer_child() {
    let Some(path) = std::env::var_os(CRASH_WRITER_DB) else {
        return;
    };
    let store = SqliteEventStore::open(Path::new(&path))
        .await
        .expect("open");
    let tasks: Vec<_> = (0..CRASH_WRITER_TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let target = stream(&format!("crash-{task}"));
                for n in 0..CRASH_WRITER_APPENDS {
                    let appended = event(n);
                    let outcome = store
                        .append(request(
                            &target,
                            ExpectedRevision::Any,
                            vec![appended.clone()],
                        ))
                        .await
                        .expect("append");
                    // One line per acknowledged append; println! holds the stdout lock for it.
                    println!("ack {} {}", outcome.position, appended.id);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
}

#[tokio::test]
async fn acknowledged_appends_survive_a_kill() {
    const ACKS_BEFORE_KILL: usize = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");

    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            CRASH_WRITER_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_WRITER_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");

    // Read acknowledgements on a blocking thread: kill the child after enough of them, then
    // keep reading what it had printed before dying.
    let reader = tokio::task::spawn_blocking(move || {
        let mut acknowledged = Vec::new();
        let mut killed = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("child output");
            let Some(ack) = line.strip_prefix("ack ") else {
                continue;
            };
            let (position, id) = ack.split_once(' ').expect("ack line");
            acknowledged.push((
                Position(position.parse().expect("position")),
                Uuid::parse_str(id).expect("event id"),
            ));
            if !killed && acknowledged.len() >= ACKS_BEFORE_KILL {
                child.kill().expect("SIGKILL the child");
                killed = true;
            }
        }
        let status = child.wait().expect("child exits");
        (acknowledged, status)
    });
    let (acknowledged, status) = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the child is killed in time")
        .expect("reader thread");
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    assert!(
        acknowledged.len() >= ACKS_BEFORE_KILL,
        "got {} acks",
        acknowledged.len()
    );

    let store = SqliteEventStore::open(&path)
        .await
        .expect("reopen after the kill");
    let stored: std::collections::HashMap<Position, Uuid> = read_everything(&store)
        .await
        .into_iter()
        .map(|event| (event.position, event.id))
        .collect();
    for (position, id) in &acknowledged {
        assert_eq!(
            stored.get(position),
            Some(id),
            "acknowledged event at {position} is stored"
        );
    }
    // The log is intact past the acknowledged events: dense positions from 1.
    let mut positions: Vec<_> = stored.keys().map(|position| position.0).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=stored.len() as u64).collect::<Vec<_>>());
    let appended_after = store
        .append(request(
            &stream("after-crash"),
            ExpectedRevision::NoStream,
            vec![event(0)],
        ))
        .await
        .expect("the store accepts appends after the crash");
    assert_eq!(appended_after.position.0, stored.len() as u64 + 1);
}

/// A stream name that is not UTF-8 (a damaged or edited file) is one unreadable event, for an
/// exclusive store too: reading every stream name as it opens must not keep plgd from starting.
#[tokio::test]
async fn an_exclusive_store_opens_a_file_with_a_damaged_stream_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(&path).await.expect("opens");
    append_one(&store, &stream("order-1"), 0).await;
    append_one(&store, &stream("order-2"), 0).await;
    store.close().await;
    rusqlite::Connection::open(&path)
        .expect("sqlite opens the file")
        .execute(
            "UPDATE events SET stream = CAST(X'6F72FF' AS TEXT) WHERE stream = 'order-2'",
            [],
        )
        .expect("damages a stream name");
    let shared = SqliteEventStore::open(&path)
        .await
        .expect("a shared store opens");
    shared.close().await;
    let exclusive = SqliteEventStore::open_with(&path, Sharing::Exclusive).await;
    assert!(exclusive.is_ok(), "{:?}", exclusive.err());
}
