//! AuditService: a school's complete history, in log order, with who recorded each event,
//! through which tool and when; and verification of the hash chains that make alteration of
//! that history evident.
//!
//! Which streams concern a school comes from the research view's `audit` projection; the
//! events themselves are read from the event store, as recorded.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use plg_contract::{events::event_to_proto, values};
use plg_domain::{Aggregate, access::Role, ids::SchoolId, school::School, study::Study};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StreamName, StreamRevision,
    chain::{self, ChainBreak, ChainVerifier},
};
use plg_projections::{ResearchDb, SchoolStreams, school_streams};
use plg_proto::v1::{
    self,
    audit_service_server::{AuditService, AuditServiceServer},
    verify_store_response::Result as Verified,
};
use plg_runtime::{
    Caller, Ledger, ServiceError, Subject,
    parse::Violations,
    streams::{Outbox, ReplyStream, Stopped},
};
use plg_vault::Vault;
use tonic::{Request, Response, Status};

mod state;

const PAGE: usize = 512;
/// Messages of a store verification waiting for a slow client.
const VERIFY_BUFFER: usize = 64;
/// Events of a school history waiting for a slow client.
const HISTORY_BUFFER: usize = 16;
/// The most events a school history reads from one stream at once: what it holds besides the
/// queued messages and one position per stream.
const HISTORY_RUN: usize = 16;

pub fn server(ledger: &Ledger, db: ResearchDb) -> AuditServiceServer<Audit> {
    AuditServiceServer::new(Audit {
        ledger: ledger.clone(),
        store: ledger.store().clone(),
        vault: ledger.vault().cloned(),
        db,
    })
}

#[derive(Debug, Clone)]
pub struct Audit {
    /// Checks administrators' scopes.
    ledger: Ledger,
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    /// Opens sealed personal data for display, or shows it erased.
    vault: Option<Arc<Vault>>,
}

/// An optional timestamp: `Some(None)` when absent, `None` when invalid (and recorded).
fn timestamp(
    violations: &mut Violations,
    value: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Option<Option<DateTime<Utc>>> {
    match value {
        None => Some(None),
        Some(at) => violations.check(field, values::timestamp(at)).map(Some),
    }
}

impl Audit {
    /// The request's message and the school it audits, once the caller is known to be an
    /// administrator whose scope reaches that school, and the school to exist.
    async fn school<M>(
        &self,
        request: Request<M>,
        school_id: impl FnOnce(&M) -> &str,
    ) -> Result<(M, SchoolId), ServiceError> {
        let (message, school, ()) = self.school_and(request, school_id, |_, _| Some(())).await?;
        Ok((message, school))
    }

    /// As [`Self::school`], parsing the request's other fields too, so that every invalid
    /// field comes in one reply.
    async fn school_and<M, T>(
        &self,
        request: Request<M>,
        school_id: impl FnOnce(&M) -> &str,
        fields: impl FnOnce(&M, &mut Violations) -> Option<T>,
    ) -> Result<(M, SchoolId, T), ServiceError> {
        let caller = Caller::of(&request)?;
        caller.require(Role::Administrator)?;
        let message = request.into_inner();
        let mut violations = Violations::default();
        let school = violations.required("school_id", school_id(&message), SchoolId::parse);
        let fields = fields(&message, &mut violations);
        let (Some(school), Some(fields)) = (school, fields) else {
            return Err(violations.into_error());
        };
        self.ledger
            .authorize(&caller, &Subject::school(school))
            .await?;
        self.ledger
            .require_all::<School, _>("school", [school])
            .await?;
        Ok((message, school, fields))
    }

    /// The streams that concern the school, from the `audit` projection.
    async fn streams(&self, school: SchoolId) -> Result<SchoolStreams, ServiceError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || school_streams(&db, school))
            .await
            .map_err(|error| ServiceError::Internal(error.to_string()))?
            .map_err(|error| ServiceError::Internal(error.to_string()))
    }

    /// Every event of the school's streams, in log order.
    async fn history(&self, streams: &SchoolStreams) -> Result<Vec<RecordedEvent>, ServiceError> {
        let mut events = Vec::new();
        for stream in &streams.whole {
            events.extend(self.read_whole(stream).await?);
        }
        for (stream, revision) in &streams.events {
            let event = self
                .store
                .read_stream(stream, Direction::Forward, ReadFrom::At(*revision), 1)
                .await;
            events.extend(event?);
        }
        events.sort_by_key(|event| event.position);
        Ok(events)
    }

    async fn read_whole(&self, stream: &StreamName) -> Result<Vec<RecordedEvent>, ServiceError> {
        let mut events = Vec::new();
        loop {
            let from = events
                .last()
                .map_or(ReadFrom::Start, |last: &RecordedEvent| {
                    ReadFrom::At(last.revision.next())
                });
            let page = self
                .store
                .read_stream(stream, Direction::Forward, from, PAGE)
                .await?;
            let done = page.len() < PAGE;
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }
}

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
struct HistoryFilter {
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    types: BTreeSet<String>,
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
async fn send_history(
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
        for event in run.into_iter().filter(|event| filter.shows(event)) {
            let event = event_to_proto(event, vault.as_deref())
                .map_err(|error| ServiceError::Internal(error.to_string()))?;
            let message = v1::GetSchoolHistoryResponse { event: Some(event) };
            if let Err(stopped) = outbox.send(Ok(message)).await {
                tracing::info!(%stopped, "school history stopped");
                return Ok(());
            }
        }
    }
}

fn chain_break(stream: &StreamName, broken: ChainBreak) -> v1::ChainBreak {
    tracing::warn!(
        %stream,
        revision = broken.revision.0,
        reason = broken.reason,
        "hash chain breaks"
    );
    v1::ChainBreak {
        stream: stream.to_string(),
        revision: broken.revision.0,
        reason: broken.reason,
    }
}

/// Verifies every stream's chain in one pass over the log, sending each break as found and
/// then the summary. A stream's revisions follow its positions, so each stream's events
/// arrive in order; only one verifier per stream is kept, not the events. When the client
/// goes away or stops taking messages, says why in `stopped`.
async fn verify_store(
    store: Arc<dyn EventStore>,
    outbox: &mut Outbox<v1::VerifyStoreResponse>,
    stopped: &mut Option<Stopped>,
) -> Result<(), ServiceError> {
    let mut send = async |result| {
        let message = v1::VerifyStoreResponse {
            result: Some(result),
        };
        outbox.send(Ok(message)).await.map_err(|error| {
            let message = error.to_string();
            *stopped = Some(error);
            ServiceError::Internal(message)
        })
    };
    let mut verifiers: HashMap<StreamName, (ChainVerifier, bool)> = HashMap::new();
    let mut summary = v1::VerifyStoreSummary::default();
    let mut from = ReadFrom::Start;
    loop {
        let page = store.read_all(Direction::Forward, from, PAGE).await?;
        let Some(last) = page.last().map(|event| event.position) else {
            break;
        };
        for event in page {
            let (verifier, broken) = verifiers.entry(event.stream.clone()).or_default();
            summary.events += 1;
            if let Err(error) = verifier.push_past(&event) {
                summary.breaks += 1;
                *broken = true;
                send(Verified::ChainBreak(chain_break(&event.stream, error))).await?;
            }
        }
        summary.last_position = last.0;
        from = ReadFrom::At(Position(last.0 + 1));
    }
    summary.streams = verifiers.len() as u64;
    summary.broken_streams = verifiers.values().filter(|(_, broken)| *broken).count() as u64;
    summary.intact = summary.breaks == 0;
    tracing::info!(
        streams = summary.streams,
        events = summary.events,
        breaks = summary.breaks,
        "store verified"
    );
    send(Verified::Summary(summary)).await
}

#[tonic::async_trait]
impl AuditService for Audit {
    type GetSchoolHistoryStream = ReplyStream<v1::GetSchoolHistoryResponse>;

    async fn get_school_history(
        &self,
        request: Request<v1::GetSchoolHistoryRequest>,
    ) -> Result<Response<Self::GetSchoolHistoryStream>, Status> {
        let caller = Caller::of(&request)?;
        let (message, school, (from, until)) = self
            .school_and(
                request,
                |message| &message.school_id,
                |message, violations| {
                    let from =
                        timestamp(violations, message.recorded_from.as_ref(), "recorded_from");
                    let until = timestamp(
                        violations,
                        message.recorded_until.as_ref(),
                        "recorded_until",
                    );
                    Some((from?, until?))
                },
            )
            .await?;
        let filter = HistoryFilter {
            from,
            until,
            types: message.event_types.into_iter().collect(),
        };
        let streams = self.streams(school).await?;
        // One of the key's stream slots, not an export slot: a history holds no thread and
        // no snapshot, and little memory.
        let (mut outbox, reply) = self
            .ledger
            .streams()
            .open(&caller, HISTORY_BUFFER)
            .map_err(Status::from)?;
        let store = self.store.clone();
        let vault = self.vault.clone();
        tokio::spawn(async move {
            if let Err(error) = send_history(store, vault, streams, filter, &mut outbox).await {
                tracing::warn!(%error, %school, "school history failed");
                let _ = outbox.send(Err(error.into())).await;
            }
        });
        Ok(Response::new(reply))
    }

    async fn verify_school_history(
        &self,
        request: Request<v1::VerifySchoolHistoryRequest>,
    ) -> Result<Response<v1::VerifySchoolHistoryResponse>, Status> {
        let (_, school) = self.school(request, |message| &message.school_id).await?;
        let streams = self.streams(school).await?;
        // A shared stream's chain runs through every event, so verify it whole.
        let names: BTreeSet<&StreamName> = streams
            .whole
            .iter()
            .chain(streams.events.iter().map(|(stream, _)| stream))
            .collect();
        let mut verified = Vec::new();
        for stream in names {
            let events = self.read_whole(stream).await?;
            let breaks = chain::breaks(&events);
            let first = breaks.first();
            verified.push(v1::StreamVerification {
                stream: stream.to_string(),
                events: events.len() as u64,
                intact: breaks.is_empty(),
                broken_at_revision: first.map(|broken| broken.revision.0),
                reason: first
                    .map(|broken| broken.reason.clone())
                    .unwrap_or_default(),
                breaks: breaks
                    .into_iter()
                    .map(|broken| chain_break(stream, broken))
                    .collect(),
            });
        }
        Ok(Response::new(v1::VerifySchoolHistoryResponse {
            intact: verified.iter().all(|stream| stream.intact),
            streams: verified,
        }))
    }

    type VerifyStoreStream = ReplyStream<v1::VerifyStoreResponse>;

    async fn verify_store(
        &self,
        request: Request<v1::VerifyStoreRequest>,
    ) -> Result<Response<Self::VerifyStoreStream>, Status> {
        let caller = Caller::of(&request)?;
        caller.require(Role::Administrator)?;
        self.ledger.authorize(&caller, &Subject::Registry).await?;
        let (mut outbox, reply) = self
            .ledger
            .streams()
            .open(&caller, VERIFY_BUFFER)
            .map_err(Status::from)?;
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut stopped = None;
            match (
                verify_store(store, &mut outbox, &mut stopped).await,
                stopped,
            ) {
                (Ok(()), _) => {}
                (Err(_), Some(stopped)) => tracing::info!(%stopped, "store verification stopped"),
                (Err(error), None) => {
                    tracing::warn!(%error, "store verification failed");
                    let _ = outbox.send(Err(error.into())).await;
                }
            }
        });
        Ok(Response::new(reply))
    }

    async fn get_school_state_at(
        &self,
        request: Request<v1::GetSchoolStateAtRequest>,
    ) -> Result<Response<v1::GetSchoolStateAtResponse>, Status> {
        let (_, school, at) = self
            .school_and(
                request,
                |message| &message.school_id,
                |message, violations| timestamp(violations, message.at.as_ref(), "at"),
            )
            .await?;
        let at = at.unwrap_or_else(Utc::now);
        let streams = self.streams(school).await?;
        let events = self.history(&streams).await?;
        // The studies it was enrolled in, whole: the state replays them to the moment.
        let mut studies = Vec::new();
        let shared: BTreeSet<&StreamName> =
            streams.events.iter().map(|(stream, _)| stream).collect();
        for stream in shared {
            if stream.category() == Study::CATEGORY {
                studies.push(self.read_whole(stream).await?);
            }
        }
        Ok(Response::new(state::state_at(
            school, at, &events, &studies,
        )?))
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
