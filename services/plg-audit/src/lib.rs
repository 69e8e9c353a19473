//! AuditService: a school's complete history, in log order, with who recorded each event,
//! through which tool and when; and verification of the hash chains that make alteration of
//! that history evident.
//!
//! Which streams concern a school comes from the research view's `audit` projection; the
//! events themselves are read from the event store, as recorded.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use plg_contract::parse::Violations;
use plg_contract::values;
use plg_domain::{Aggregate, ids::SchoolId, school::School, study::Study};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StreamName,
    chain::{self, ChainBreak, ChainVerifier},
};
use plg_ledger::{Ledger, ServiceError, Subject};
use plg_projections::{ResearchDb, SchoolStreams, school_streams};
use plg_proto::v1::{
    self,
    audit_service_server::{AuditService, AuditServiceServer},
    verify_store_response::Result as Verified,
};
use plg_server::{
    Runtime, caller_of, read, status,
    streams::{Outbox, ReplyStream, Stopped, Streams},
};
use plg_vault::Vault;
use tonic::{Request, Response, Status};

mod history;
mod state;

use history::{HistoryFilter, send_history};

const PAGE: usize = 512;
/// Messages of a store verification waiting for a slow client.
const VERIFY_BUFFER: usize = 64;
/// Events of a school history waiting for a slow client.
const HISTORY_BUFFER: usize = 16;

pub fn server(runtime: &Runtime, db: ResearchDb) -> AuditServiceServer<Audit> {
    let ledger = &runtime.ledger;
    AuditServiceServer::new(Audit {
        ledger: ledger.clone(),
        streams: runtime.streams.clone(),
        store: ledger.store().clone(),
        vault: ledger.vault().cloned(),
        db,
    })
}

#[derive(Debug, Clone)]
pub struct Audit {
    /// Checks administrators' scopes.
    ledger: Ledger,
    /// Bounds the replies streamed to each key.
    streams: Streams,
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
    /// The request's message and the school it audits, once the caller (an administrator, as
    /// the layer checked) is known to reach that school, and the school to exist.
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
        let caller = caller_of(&request)?;
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
            .map_err(|error| ServiceError::failed("reading the audit index", error))?
            .map_err(|error| ServiceError::failed("reading the audit index", error))
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
        read(async move {
            let caller = caller_of(&request)?;
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
            let (mut outbox, reply) = self.streams.open(&caller, HISTORY_BUFFER)?;
            let store = self.store.clone();
            let vault = self.vault.clone();
            tokio::spawn(async move {
                if let Err(error) = send_history(store, vault, streams, filter, &mut outbox).await {
                    tracing::warn!(%error, %school, "school history failed");
                    let _ = outbox.send(Err(status(error))).await;
                }
            });
            Ok(reply)
        })
        .await
    }

    async fn verify_school_history(
        &self,
        request: Request<v1::VerifySchoolHistoryRequest>,
    ) -> Result<Response<v1::VerifySchoolHistoryResponse>, Status> {
        read(async move {
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
            Ok(v1::VerifySchoolHistoryResponse {
                intact: verified.iter().all(|stream| stream.intact),
                streams: verified,
            })
        })
        .await
    }

    type VerifyStoreStream = ReplyStream<v1::VerifyStoreResponse>;

    async fn verify_store(
        &self,
        request: Request<v1::VerifyStoreRequest>,
    ) -> Result<Response<Self::VerifyStoreStream>, Status> {
        read(async move {
            let caller = caller_of(&request)?;
            self.ledger.authorize(&caller, &Subject::Registry).await?;
            let (mut outbox, reply) = self.streams.open(&caller, VERIFY_BUFFER)?;
            let store = self.store.clone();
            tokio::spawn(async move {
                let mut stopped = None;
                match (
                    verify_store(store, &mut outbox, &mut stopped).await,
                    stopped,
                ) {
                    (Ok(()), _) => {}
                    (Err(_), Some(stopped)) => {
                        tracing::info!(%stopped, "store verification stopped")
                    }
                    (Err(error), None) => {
                        tracing::warn!(%error, "store verification failed");
                        let _ = outbox.send(Err(status(error))).await;
                    }
                }
            });
            Ok(reply)
        })
        .await
    }

    async fn get_school_state_at(
        &self,
        request: Request<v1::GetSchoolStateAtRequest>,
    ) -> Result<Response<v1::GetSchoolStateAtResponse>, Status> {
        read(async move {
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
            state::state_at(school, at, &events, &studies)
        })
        .await
    }
}
