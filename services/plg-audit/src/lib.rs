//! AuditService: a school's complete history, in log order, with who recorded each event,
//! through which tool and when; and verification of the hash chains that make alteration of
//! that history evident.
//!
//! Which streams concern a school comes from the research view's `audit` projection; the
//! events themselves are read from the event store, as recorded.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use plg_domain::{Aggregate, access::Role, ids::SchoolId, school::School, study::Study};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StreamName, StreamRevision,
    chain::{self, ChainBreak, ChainVerifier},
};
use plg_projections::ResearchDb;
use plg_proto::v1::{
    self,
    audit_service_server::{AuditService, AuditServiceServer},
    verify_store_response::Result as Verified,
};
use plg_runtime::{
    Caller, Ledger, ServiceError, Subject,
    parse::{self, Violations},
};
use plg_vault::Vault;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

mod state;

const PAGE: usize = 512;
/// Messages of a store verification waiting for a slow client.
const VERIFY_BUFFER: usize = 64;

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

/// The streams that concern a school: whole streams, and single events of shared ones.
#[derive(Debug, Default)]
struct SchoolStreams {
    whole: Vec<StreamName>,
    events: Vec<(StreamName, StreamRevision)>,
}

/// An optional timestamp: `Some(None)` when absent, `None` when invalid (and recorded).
fn timestamp(
    violations: &mut Violations,
    value: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Option<Option<DateTime<Utc>>> {
    match value {
        None => Some(None),
        Some(at) => violations.check(field, parse::timestamp(at)).map(Some),
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

    async fn streams(&self, school: SchoolId) -> Result<SchoolStreams, ServiceError> {
        let db = self.db.clone();
        let school = school.to_string();
        tokio::task::spawn_blocking(move || -> Result<SchoolStreams, String> {
            let connection = db.read_connection().map_err(|error| error.to_string())?;
            let name = |value: String| StreamName::new(value).map_err(|error| error.to_string());
            let mut whole = connection
                .prepare("SELECT stream FROM audit_school_streams WHERE school_id = ?1 ORDER BY stream")
                .map_err(|error| error.to_string())?;
            let whole = whole
                .query_map([&school], |row| row.get::<_, String>(0))
                .map_err(|error| error.to_string())?
                .map(|row| row.map_err(|error| error.to_string()).and_then(name))
                .collect::<Result<_, _>>()?;
            let mut events = connection
                .prepare("SELECT stream, revision FROM audit_school_events WHERE school_id = ?1 ORDER BY stream, revision")
                .map_err(|error| error.to_string())?;
            let events = events
                .query_map([&school], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
                .map_err(|error| error.to_string())?
                .map(|row| {
                    let (stream, revision) = row.map_err(|error| error.to_string())?;
                    Ok((name(stream)?, StreamRevision(u64::try_from(revision).unwrap_or(0))))
                })
                .collect::<Result<_, String>>()?;
            Ok(SchoolStreams { whole, events })
        })
        .await
        .map_err(|error| ServiceError::Internal(error.to_string()))?
        .map_err(ServiceError::Internal)
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
/// arrive in order; only one verifier per stream is kept, not the events.
async fn verify_store(
    store: Arc<dyn EventStore>,
    sender: mpsc::Sender<Result<v1::VerifyStoreResponse, Status>>,
) -> Result<(), ServiceError> {
    let send = |result| async {
        let message = v1::VerifyStoreResponse {
            result: Some(result),
        };
        sender
            .send(Ok(message))
            .await
            .map_err(|_| ServiceError::Internal("the client went away".to_owned()))
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
    type GetSchoolHistoryStream =
        futures::stream::Iter<std::vec::IntoIter<Result<v1::GetSchoolHistoryResponse, Status>>>;

    async fn get_school_history(
        &self,
        request: Request<v1::GetSchoolHistoryRequest>,
    ) -> Result<Response<Self::GetSchoolHistoryStream>, Status> {
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
        let types: BTreeSet<&str> = message.event_types.iter().map(String::as_str).collect();
        let streams = self.streams(school).await?;
        let history: Vec<_> = self
            .history(&streams)
            .await?
            .into_iter()
            .filter(|event| from.is_none_or(|from| event.recorded_at >= from))
            .filter(|event| until.is_none_or(|until| event.recorded_at < until))
            .filter(|event| types.is_empty() || types.contains(event.event_type.as_str()))
            .map(|event| {
                let event =
                    plg_eventlog::to_proto(event, self.vault.as_deref()).map_err(Status::from)?;
                Ok(v1::GetSchoolHistoryResponse { event: Some(event) })
            })
            .collect();
        Ok(Response::new(futures::stream::iter(history)))
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

    type VerifyStoreStream = ReceiverStream<Result<v1::VerifyStoreResponse, Status>>;

    async fn verify_store(
        &self,
        request: Request<v1::VerifyStoreRequest>,
    ) -> Result<Response<Self::VerifyStoreStream>, Status> {
        let caller = Caller::of(&request)?;
        caller.require(Role::Administrator)?;
        self.ledger.authorize(&caller, &Subject::Registry).await?;
        let (sender, receiver) = mpsc::channel(VERIFY_BUFFER);
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = verify_store(store, sender.clone()).await {
                tracing::warn!(%error, "store verification stopped");
                let _ = sender.send(Err(error.into())).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
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
        let recorded_by = |event: &RecordedEvent| event.recorded_at <= at;
        let events = self.history(&streams).await?;
        // The studies it was enrolled in: their definitions as they stood then.
        let mut studies = BTreeMap::new();
        for (stream, _) in &streams.events {
            if stream.category() == Study::CATEGORY {
                let mut definition = self.read_whole(stream).await?;
                definition.retain(recorded_by);
                let study_id = stream.as_str()[Study::CATEGORY.len() + 1..].to_owned();
                studies.insert(study_id, definition);
            }
        }
        Ok(Response::new(state::state_at(
            &school.to_string(),
            at,
            &events,
            &studies,
        )?))
    }
}
