//! A school's history in log order, read a few events at a time from the streams that concern
//! it, and sent as it is read.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use plg_contract::events::events_to_proto;
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StreamName, StreamRevision,
};
use plg_ledger::ServiceError;
use plg_projections::SchoolStreams;
use plg_proto::v1;
use plg_server::streams::Outbox;
use plg_vault::Vault;

/// The most events a school history reads from one stream at once: what it holds besides the
/// queued messages and one position per stream.
const HISTORY_RUN: usize = 16;

/// Where a school history stands in one of the school's streams (or in one event of a shared
/// stream): the revision to read next, the last it may read, and the position of the next
/// event, known without holding the event.
#[derive(Debug)]
struct HistoryCursor {
    stream: StreamName,
    next: StreamRevision,
    /// The last revision to read, for a single event of a shared stream.
    last: Option<StreamRevision>,
    /// How many events to read next: grows while the stream's events come in a row in the
    /// log, back to one when another stream's come between.
    run: usize,
}

/// A school's history in log order, read a few events at a time: the streams are merged by
/// the position of their next event, each stream keeping only that position, so what is
/// held is at most [`HISTORY_RUN`] events and one position per stream, whatever the size of
/// the history.
#[derive(Debug)]
struct HistoryReader {
    store: Arc<dyn EventStore>,
    cursors: Vec<HistoryCursor>,
    /// The next position of each cursor still to read, least first.
    heads: BinaryHeap<Reverse<(Position, usize)>>,
    /// The position of the last event handed out, so that an event never comes twice.
    last: Option<Position>,
}

impl HistoryReader {
    async fn new(
        store: Arc<dyn EventStore>,
        streams: &SchoolStreams,
    ) -> Result<Self, ServiceError> {
        let cursors = streams
            .whole
            .iter()
            .map(|stream| (stream.clone(), StreamRevision(0), None))
            .chain(
                streams
                    .events
                    .iter()
                    .map(|(stream, revision)| (stream.clone(), *revision, Some(*revision))),
            )
            .map(|(stream, next, last)| HistoryCursor {
                stream,
                next,
                last,
                run: 1,
            });
        let mut reader = Self {
            store,
            cursors: Vec::new(),
            heads: BinaryHeap::new(),
            last: None,
        };
        for cursor in cursors {
            let index = reader.cursors.len();
            reader.cursors.push(cursor);
            reader.locate(index).await?;
        }
        Ok(reader)
    }

    /// Up to `count` events of a cursor's stream, from its next revision.
    async fn read(&self, index: usize, count: usize) -> Result<Vec<RecordedEvent>, ServiceError> {
        let cursor = &self.cursors[index];
        let from = ReadFrom::At(cursor.next);
        Ok(self
            .store
            .read_stream(&cursor.stream, Direction::Forward, from, count)
            .await?)
    }

    /// Finds the position of a cursor's next event (dropping the event), if it has one.
    async fn locate(&mut self, index: usize) -> Result<(), ServiceError> {
        let cursor = &self.cursors[index];
        if cursor.last.is_some_and(|last| cursor.next.0 > last.0) {
            return Ok(());
        }
        if let Some(event) = self.read(index, 1).await?.first() {
            self.heads.push(Reverse((event.position, index)));
        }
        Ok(())
    }

    /// The next events in log order, or none once the history is done.
    async fn next_run(&mut self) -> Result<Vec<RecordedEvent>, ServiceError> {
        let Some(Reverse((_, index))) = self.heads.pop() else {
            return Ok(Vec::new());
        };
        // This stream's events come before every other stream's next one.
        let before = self.heads.peek().map(|Reverse((position, _))| *position);
        let cursor = &self.cursors[index];
        let mut count = cursor.run;
        if let Some(last) = cursor.last {
            let left = last.0.saturating_sub(cursor.next.0) + 1;
            count = count.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let read = self.read(index, count).await?;
        let cursor = &mut self.cursors[index];
        let mut run = Vec::with_capacity(read.len());
        for event in read {
            if before.is_some_and(|before| event.position > before) {
                break;
            }
            cursor.next = event.revision.next();
            run.push(event);
        }
        cursor.run = if run.len() == count {
            (count * 2).min(HISTORY_RUN)
        } else {
            1
        };
        self.locate(index).await?;
        let last = self.last;
        run.retain(|event| last.is_none_or(|last| event.position > last));
        if let Some(event) = run.last() {
            self.last = Some(event.position);
        }
        Ok(run)
    }
}

/// What `GetSchoolHistory` asks to see of the school's history.
#[derive(Debug)]
pub(crate) struct HistoryFilter {
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) types: BTreeSet<String>,
}

impl HistoryFilter {
    fn shows(&self, event: &RecordedEvent) -> bool {
        self.from.is_none_or(|from| event.recorded_at >= from)
            && self.until.is_none_or(|until| event.recorded_at < until)
            && (self.types.is_empty() || self.types.contains(event.event_type.as_str()))
    }
}

/// Sends a school's history as it reads it, a few events at a time. Returns `Ok` when the
/// client went away or stopped taking events: there is no one left to tell.
pub(crate) async fn send_history(
    store: Arc<dyn EventStore>,
    vault: Option<Arc<Vault>>,
    streams: SchoolStreams,
    filter: HistoryFilter,
    outbox: &mut Outbox<v1::GetSchoolHistoryResponse>,
) -> Result<(), ServiceError> {
    let mut reader = HistoryReader::new(store, &streams).await?;
    loop {
        let run = reader.next_run().await?;
        if run.is_empty() {
            return Ok(());
        }
        let shown = run
            .into_iter()
            .filter(|event| filter.shows(event))
            .collect();
        for event in events_to_proto(shown, vault.as_ref()).await? {
            let message = v1::GetSchoolHistoryResponse { event: Some(event) };
            if let Err(stopped) = outbox.send(Ok(message)).await {
                tracing::info!(%stopped, "school history stopped");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use plg_eventstore::{AppendRequest, ExpectedRevision, NewEvent, sqlite::SqliteEventStore};

    use super::*;

    async fn append(store: &dyn EventStore, stream: &str, count: usize) -> Vec<Position> {
        let mut positions = Vec::new();
        for _ in 0..count {
            let outcome = store
                .append(AppendRequest {
                    stream: StreamName::new(stream).expect("a stream name"),
                    expected: ExpectedRevision::Any,
                    events: vec![NewEvent {
                        id: uuid::Uuid::new_v4(),
                        event_type: "Happened".into(),
                        schema_version: 1,
                        data: serde_json::json!({}),
                        metadata: serde_json::json!({}),
                    }],
                    idempotency: None,
                })
                .await
                .expect("appended");
            positions.push(outcome.position);
        }
        positions
    }

    /// Whole streams and single events of a shared one come merged in log order, each once,
    /// through long runs of one stream and through streams that alternate.
    #[tokio::test]
    async fn the_reader_merges_the_streams_in_log_order() {
        let store: Arc<dyn EventStore> =
            Arc::new(SqliteEventStore::open_temporary().await.expect("a store"));
        let mut expected = Vec::new();
        expected.extend(append(store.as_ref(), "school-a", 1).await);
        let shared = append(store.as_ref(), "study-s", 3).await;
        expected.push(shared[1]);
        for _ in 0..5 {
            expected.extend(append(store.as_ref(), "plg-p", 1).await);
            expected.extend(append(store.as_ref(), "intervention-i", 2).await);
            append(store.as_ref(), "study-s", 1).await;
        }
        expected.extend(append(store.as_ref(), "plg-p", 3 * HISTORY_RUN).await);
        expected.extend(append(store.as_ref(), "school-a", 1).await);
        let shared = append(store.as_ref(), "study-s", 1).await;
        expected.extend(shared);
        let name = |name: &str| StreamName::new(name).expect("a stream name");
        let streams = SchoolStreams {
            whole: vec![name("intervention-i"), name("plg-p"), name("school-a")],
            events: vec![
                (name("study-s"), StreamRevision(1)),
                (name("study-s"), StreamRevision(8)),
                // A revision not written yet reads as nothing.
                (name("study-s"), StreamRevision(99)),
            ],
        };

        let mut reader = HistoryReader::new(store, &streams).await.expect("opens");
        let mut read = Vec::new();
        loop {
            let run = reader.next_run().await.expect("reads");
            assert!(run.len() <= HISTORY_RUN);
            if run.is_empty() {
                break;
            }
            read.extend(run.into_iter().map(|event| event.position));
        }
        assert_eq!(read, expected);
    }
}
