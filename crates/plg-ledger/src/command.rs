//! Executing a command: replay a retried request, else load the target once, check the
//! caller's scope, read what else the command needs, decide, seal and append with optimistic
//! concurrency.

use plg_domain::{Aggregate, DomainError, DomainEvent, event};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, ExpectedRevision, IdempotencyKey, NewEvent, Position,
    ReadFrom, StoreError,
};
use tracing::{Instrument as _, field::Empty};

use crate::{CommandContext, EventMetadata, Ledger, ServiceError, Subject, telemetry};

/// How often a write without an expected revision decides again after losing a race. Every
/// round has a winner, so this bounds only pathological contention on one stream (dozens of
/// simultaneous writers to one PLG); past it the caller gets ABORTED and may retry.
const MAX_ATTEMPTS: usize = 32;

type DomainCommand<C> = <<C as Command>::Aggregate as Aggregate>::Command;

/// A command as a caller asks for it, its values already parsed: it names the aggregate it
/// changes, what the caller's scope must reach, and reads what else its decision needs.
pub trait Command: Send + Sized {
    type Aggregate: Aggregate<Command: Send + Sync, Event: Send>;

    /// The target aggregate's id: the command changes the stream `<category>-<id>`.
    fn target(&self) -> String;

    /// What the caller's scope must reach.
    fn subject(&self) -> SubjectOf<Self::Aggregate>;

    /// Reads the other aggregates the decision depends on (only once the scope check passed,
    /// so a refused caller learns nothing about them) and yields the domain command.
    fn prepare(
        self,
        ledger: &Ledger,
        context: &CommandContext,
    ) -> impl Future<Output = Result<DomainCommand<Self>, ServiceError>> + Send;
}

/// What the caller's scope must reach for a command.
#[derive(Debug)]
pub enum SubjectOf<A> {
    /// Named by the request: checked before anything is read, so a refused caller learns
    /// nothing, not even whether the target exists or how long its stream is.
    Request(Subject),
    /// The existing target's, from its state, which is loaded once for the check and the
    /// decision. A target that does not exist concerns nothing (`Subject::schools([])`), so
    /// only unrestricted keys learn that it does not exist.
    Target(fn(&A) -> Subject),
}

/// A write's result: where it left the log, and the events it wrote (or, for a replayed
/// request, the events the original request wrote).
#[derive(Debug, Clone)]
pub struct Written<E> {
    pub outcome: AppendOutcome,
    pub events: Vec<E>,
    /// How far the research view had read the log when the write was answered.
    pub research_view_position: Position,
}

impl<E> Written<E> {
    /// The first event written: every command writes at least one.
    pub fn first(&self) -> Result<&E, ServiceError> {
        self.events
            .first()
            .ok_or_else(|| ServiceError::unexpected(&self.outcome.stream, "any"))
    }
}

/// A count or position as a span field: trace exporters get unsigned fields as text, signed
/// ones as numbers.
fn number(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// What a command's events are.
pub type EventOf<C> = <<C as Command>::Aggregate as Aggregate>::Event;

impl Ledger {
    /// Executes a command, or answers a retry of one with the original's result. `command` is
    /// the request as parsed: a retry whose request no longer parses (the world moved on)
    /// still gets the original's result.
    pub async fn execute<C: Command>(
        &self,
        context: &CommandContext,
        command: Result<C, ServiceError>,
    ) -> Result<Written<EventOf<C>>, ServiceError> {
        let mut written = self.decide_and_append(context, command).await?;
        let wait_for = context
            .wait_for_research_view
            .then_some(written.outcome.position);
        let waiting = match wait_for {
            Some(position) => {
                tracing::info_span!("wait_for_research_view", position = number(position.0))
            }
            None => tracing::Span::none(),
        };
        written.research_view_position = self
            .research_view_position(wait_for)
            .instrument(waiting)
            .await;
        Ok(written)
    }

    async fn decide_and_append<C: Command>(
        &self,
        context: &CommandContext,
        command: Result<C, ServiceError>,
    ) -> Result<Written<EventOf<C>>, ServiceError> {
        let key = context.idempotency_key();
        // Loading, checking and deciding, up to the append: its span is entered around each
        // step that waits, and closed before the append.
        // Spans name the stream's category only, never the stream: they may be exported to a
        // collector, and a scan's or consent's stream id is a digest of a pseudonym that
        // anyone who guesses the pseudonym can compute (docs/disclosure-control.md).
        let mut deciding = tracing::info_span!("decide", category = Empty, attempt = 1);
        // A request that does not parse, or that the caller may not send, may still be a
        // retry: `replayed_or` answers it with the original's result.
        let command = match command {
            Ok(command) => command,
            Err(error) => return self.replayed_or::<C::Aggregate>(&key, error).await,
        };
        let id = command.target();
        let stream = Self::stream::<C::Aggregate>(&id);
        deciding.record("category", stream.category());
        let subject = command.subject();
        if let SubjectOf::Request(subject) = &subject
            && let Err(error) = self
                .authorize(&context.caller, subject)
                .instrument(deciding.clone())
                .await
        {
            return self.replayed_or::<C::Aggregate>(&key, error).await;
        }
        // A retry is answered with the original's result before the state is looked at.
        let (mut state, mut revision) = match self
            .load_unless_replayed::<C::Aggregate>(&stream, &key)
            .instrument(deciding.clone())
            .await?
        {
            Ok(loaded) => loaded,
            Err(outcome) => return self.replayed::<C::Aggregate>(outcome).await,
        };
        if let SubjectOf::Target(subject_of) = subject
            && let Err(error) = self
                .authorize(&context.caller, &subject_of(&state))
                .instrument(deciding.clone())
                .await
        {
            return self.replayed_or::<C::Aggregate>(&key, error).await;
        }
        let decision = match command
            .prepare(self, context)
            .instrument(deciding.clone())
            .await
        {
            Ok(decision) => decision,
            Err(error) => return self.replayed_or::<C::Aggregate>(&key, error).await,
        };
        let mut attempt = 1;
        loop {
            // An erasure whose key survived (its destruction failed) is finished by the next
            // write to the stream, a new request to erase it again included.
            if state.personal_data_erased() {
                self.destroy_key(&stream)
                    .instrument(deciding.clone())
                    .await?;
            }
            if let Some(expected) = context
                .expected_revision
                .filter(|expected| Some(*expected) != revision)
            {
                let conflict = StoreError::WrongExpectedRevision {
                    stream,
                    expected: ExpectedRevision::Exact(expected),
                    actual: revision,
                };
                return self
                    .replayed_or::<C::Aggregate>(&key, conflict.into())
                    .await;
            }
            let events = match state.decide(&decision) {
                Ok(events) => events,
                Err(DomainError::NotFound { kind }) => {
                    let error = ServiceError::not_found(kind, &id);
                    return self.replayed_or::<C::Aggregate>(&key, error).await;
                }
                Err(error) => return self.replayed_or::<C::Aggregate>(&key, error.into()).await,
            };
            // Encoded first: no borrow of the domain events is held across the sealing.
            let encoded: Vec<_> = events.iter().map(event::encode).collect::<Result<_, _>>()?;
            let mut sealed = Vec::with_capacity(encoded.len());
            for encoded in encoded {
                // Sealed with a key that is durable before this append is queued.
                let data = self
                    .seal(&stream, encoded.data)
                    .instrument(deciding.clone())
                    .await?;
                sealed.push((encoded.event_type, encoded.schema_version, data));
            }
            // The embedded store records the group commit the append joined: its number in
            // this process and how many appends it carried.
            let appending = tracing::info_span!(
                "append",
                category = stream.category(),
                events = number(sealed.len()),
                revision = Empty,
                position = Empty,
                replayed = Empty,
                commit = Empty,
                commit_appends = Empty,
            );
            let metadata = serde_json::to_value(EventMetadata {
                traceparent: telemetry::traceparent(&appending),
                ..context.metadata.clone()
            })
            .map_err(|error| StoreError::Corrupt(format!("metadata does not encode: {error}")))?;
            let new_events = sealed
                .into_iter()
                .map(|(event_type, schema_version, data)| NewEvent {
                    id: uuid::Uuid::new_v4(),
                    event_type,
                    schema_version,
                    data,
                    metadata: metadata.clone(),
                })
                .collect();
            let erases = events.iter().any(DomainEvent::erases_personal_data);
            let request = AppendRequest {
                stream: stream.clone(),
                expected: revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
                events: new_events,
                idempotency: Some(key.clone()),
            };
            // Decided: what follows is the append's.
            drop(deciding);
            let appended = self
                .append(request, erases)
                .instrument(appending.clone())
                .await;
            if let Ok(outcome) = &appended {
                appending.record("revision", number(outcome.revision.0));
                appending.record("position", number(outcome.position.0));
                appending.record("replayed", outcome.replayed);
            }
            drop(appending);
            match appended {
                Ok(outcome) if outcome.replayed => {
                    return self.replayed::<C::Aggregate>(outcome).await;
                }
                Ok(outcome) => {
                    telemetry::count_appended(stream.category(), events.len());
                    // The log itself records each append with its metadata: at info level this
                    // line cost a few percent of a light command's CPU.
                    tracing::debug!(
                        stream = %outcome.stream,
                        revision = outcome.revision.0,
                        position = outcome.position.0,
                        actor = %context.metadata.actor,
                        key_id = ?context.metadata.key_id,
                        tool = %context.metadata.tool,
                        correlation_id = %context.metadata.correlation_id,
                        "events appended"
                    );
                    return Ok(Written {
                        outcome,
                        events,
                        research_view_position: Position(0),
                    });
                }
                // Another writer got in between our read and our append: decide again on the
                // new state, unless the caller pinned the revision it expects. (What a
                // subject names, an aggregate's schools and study, never changes.)
                Err(ServiceError::Store(StoreError::WrongExpectedRevision { .. }))
                    if context.expected_revision.is_none() && attempt < MAX_ATTEMPTS =>
                {
                    attempt += 1;
                    tracing::debug!(%stream, attempt, "concurrent write, deciding again");
                    deciding = tracing::info_span!(
                        "decide",
                        category = stream.category(),
                        attempt = number(attempt)
                    );
                    (state, revision) = self
                        .load::<C::Aggregate>(&stream)
                        .instrument(deciding.clone())
                        .await?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// A command that fails may be a retry whose original landed after the first look-up
    /// (keys and events commit together): then the original's result is the answer.
    async fn replayed_or<A: Aggregate>(
        &self,
        key: &IdempotencyKey,
        error: ServiceError,
    ) -> Result<Written<A::Event>, ServiceError> {
        match self.store().find_idempotent_outcome(key).await? {
            Some(outcome) => self.replayed::<A>(outcome).await,
            None => Err(error),
        }
    }

    async fn replayed<A: Aggregate>(
        &self,
        outcome: AppendOutcome,
    ) -> Result<Written<A::Event>, ServiceError> {
        let count = usize::try_from(outcome.revision.0 - outcome.first_revision.0 + 1)
            .unwrap_or(usize::MAX);
        let recorded = self
            .store()
            .read_stream(
                &outcome.stream,
                Direction::Forward,
                ReadFrom::At(outcome.first_revision),
                count,
            )
            .await?;
        let events = recorded
            .into_iter()
            .map(|recorded| {
                event::decode(&recorded.event_type, recorded.schema_version, recorded.data)
            })
            .collect::<Result<Vec<A::Event>, _>>()?;
        // A retried erasure destroys the key again, in case the original's destruction failed.
        if events.iter().any(DomainEvent::erases_personal_data) {
            self.destroy_key(&outcome.stream).await?;
        }
        Ok(Written {
            outcome: AppendOutcome {
                replayed: true,
                ..outcome
            },
            events,
            research_view_position: Position(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use plg_domain::{
        access::{Role, Scope},
        consent::{Consent, ConsentCommand},
        ids::{ApiKeyId, ConsentId, SchoolId, StudyId},
        values::Pseudonym,
    };
    use plg_eventstore::{
        AppendRequest, EventStore as _, ExpectedRevision, NewEvent, sqlite::SqliteEventStore,
    };

    use super::*;
    use crate::{Caller, Delivery};

    /// A withdrawal at a school outside the caller's scope.
    struct Withdraw {
        consent_id: ConsentId,
        school_id: SchoolId,
        study_id: StudyId,
    }

    impl Command for Withdraw {
        type Aggregate = Consent;

        fn target(&self) -> String {
            self.consent_id.to_string()
        }

        fn subject(&self) -> SubjectOf<Consent> {
            SubjectOf::Request(Subject::school(self.school_id).in_study(self.study_id))
        }

        async fn prepare(
            self,
            _: &Ledger,
            _: &CommandContext,
        ) -> Result<ConsentCommand, ServiceError> {
            unreachable!("refused before preparing")
        }
    }

    #[tokio::test]
    async fn a_refused_caller_is_refused_before_the_target_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.db");
        let store = SqliteEventStore::open(&path).await.expect("store opens");
        let (study_id, school_id) = (StudyId::new_random(), SchoolId::new_random());
        let respondent = Pseudonym::parse("r-17").expect("valid pseudonym");
        let consent_id = ConsentId::derive(study_id, school_id, &respondent);
        // The target's stream cannot be read: whoever reads it learns that it exists.
        let stream = Ledger::stream::<Consent>(consent_id);
        store
            .append(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedRevision::NoStream,
                events: vec![NewEvent {
                    id: uuid::Uuid::new_v4(),
                    event_type: "ConsentWithdrawn".into(),
                    schema_version: 1,
                    data: serde_json::json!({}),
                    metadata: serde_json::json!({}),
                }],
                idempotency: None,
            })
            .await
            .expect("appends");
        rusqlite::Connection::open(&path)
            .expect("opens")
            .execute(
                "UPDATE events SET data = '{not json' WHERE stream = ?1",
                [stream.as_str()],
            )
            .expect("corrupts");
        let ledger = Ledger::new(Arc::new(store));
        let elsewhere = Scope {
            schools: [SchoolId::new_random()].into(),
            ..Scope::default()
        };
        let caller = Caller::with_key(
            ApiKeyId::new_random(),
            "scan tool".into(),
            Role::PartnerTool,
            elsewhere,
        );
        let now = Utc::now();
        let context = CommandContext::new(
            caller,
            Delivery {
                request_id: "r-1".into(),
                expected_revision: None,
                wait_for_research_view: false,
                occurred_at: now,
                received_at: now,
                tool: String::new(),
                correlation_id: "c-1".into(),
                fingerprint: "f".into(),
            },
        );
        let command = Withdraw {
            consent_id,
            school_id,
            study_id,
        };
        let refused = ledger
            .execute(&context, Ok(command))
            .await
            .expect_err("out of scope");
        assert!(
            matches!(refused, ServiceError::PermissionDenied(_)),
            "{refused:?}"
        );
    }
}
