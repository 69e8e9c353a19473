use std::{fmt, sync::Arc, time::Duration};

use plg_domain::{
    Aggregate, DomainError, DomainEvent, event,
    person::{Person, PersonEvent},
};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, EventStore, ExpectedRevision, IdempotencyKey,
    NewEvent, Position, ReadFrom, StoreError, StreamName, StreamRevision, chain::ChainVerifier,
};
use plg_proto::v1::WriteResult;
use plg_vault::Vault;
use tokio::sync::watch;

use crate::{ServiceError, Subject, WriteContext, streams::Streams};

/// How often a write without an expected revision decides again after losing a race. Every
/// round has a winner, so this bounds only pathological contention on one stream (dozens of
/// simultaneous writers to one PLG); past it the caller gets ABORTED and may retry.
const MAX_ATTEMPTS: usize = 32;
const PAGE_SIZE: usize = 512;
/// How long a write that asked for read-your-writes waits for the research view. The write
/// itself is durable either way; the reply says how far the view got.
const RESEARCH_VIEW_WAIT: Duration = Duration::from_secs(5);

/// The write path every service shares: replay a retried request, else load the aggregate,
/// decide, and append with optimistic concurrency.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Arc<dyn EventStore>,
    /// How far the research view has read the log, when this process runs it.
    research_view: Option<watch::Receiver<Position>>,
    vault: Option<Arc<Vault>>,
    /// The bounds on server streams and replies, shared by every service of the process.
    streams: Streams,
}

/// What a command addresses: the aggregate's id (its stream is `<category>-<id>`), what the
/// caller's scope must reach for it, and the command.
#[derive(Debug)]
pub struct Target<C> {
    pub id: String,
    pub subject: Subject,
    pub command: C,
}

impl<C> Target<C> {
    pub fn new(id: impl fmt::Display, subject: Subject, command: C) -> Self {
        Self {
            id: id.to_string(),
            subject,
            command,
        }
    }
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
    pub fn result(&self) -> WriteResult {
        WriteResult {
            stream: self.outcome.stream.to_string(),
            revision: self.outcome.revision.0,
            position: self.outcome.position.0,
            replayed: self.outcome.replayed,
            research_view_position: self.research_view_position.0,
        }
    }

    /// The first event written: every command writes at least one.
    pub fn first(&self) -> Result<&E, ServiceError> {
        self.events
            .first()
            .ok_or_else(|| ServiceError::unexpected(&self.outcome.stream, "any"))
    }
}

impl Ledger {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            research_view: None,
            vault: None,
            streams: Streams::default(),
        }
    }

    /// Seals personal data with each subject's key before it reaches the log.
    pub fn with_streams(self, streams: Streams) -> Self {
        Self { streams, ..self }
    }

    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    pub fn with_vault(self, vault: Arc<Vault>) -> Self {
        Self {
            vault: Some(vault),
            ..self
        }
    }

    pub fn vault(&self) -> Option<&Arc<Vault>> {
        self.vault.as_ref()
    }

    /// Personal data in a stream belongs to that stream's subject (only people's own streams
    /// hold any), so the stream names the key. The key look-up is a short, local SQLite read.
    fn seal(&self, stream: &StreamName, data: &mut serde_json::Value) -> Result<(), ServiceError> {
        match &self.vault {
            Some(vault) => vault
                .seal(stream.as_str(), data)
                .map_err(|error| ServiceError::Internal(error.to_string())),
            None => Ok(()),
        }
    }

    /// Destroys the keys of people whose erasure the log records but whose key survived: a
    /// crash between recording an erasure and destroying the key. Run before serving.
    /// Returns how many erasures it finished.
    pub async fn finish_erasures(&self) -> Result<usize, ServiceError> {
        let Some(vault) = &self.vault else {
            return Ok(0);
        };
        let vault_error = |error: plg_vault::VaultError| ServiceError::Internal(error.to_string());
        let mut finished = 0;
        for subject in vault.subjects().map_err(vault_error)? {
            let Ok(stream) = StreamName::new(subject.as_str()) else {
                continue;
            };
            if stream.category() != Person::CATEGORY {
                continue;
            }
            // An erasure is a person's last event: nothing is decided after it.
            let last = self
                .store
                .read_stream(&stream, Direction::Backward, ReadFrom::End, 1)
                .await?;
            let erased = last.into_iter().next().is_some_and(|recorded| {
                matches!(
                    event::decode(&recorded.event_type, recorded.schema_version, recorded.data),
                    Ok(PersonEvent::PersonalDataErased { .. })
                )
            });
            if erased {
                vault.erase(&subject).map_err(vault_error)?;
                tracing::warn!(%stream, "finished an erasure interrupted before its key was destroyed");
                finished += 1;
            }
        }
        Ok(finished)
    }

    /// Reports (and, on request, waits for) the research view's progress in write replies.
    pub fn with_research_view(self, progress: watch::Receiver<Position>) -> Self {
        Self {
            research_view: Some(progress),
            ..self
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn stream<A: Aggregate>(id: impl fmt::Display) -> StreamName {
        StreamName::for_entity(A::CATEGORY, id)
    }

    /// Executes a command. `prepare` parses the request and gathers what the command needs from
    /// other aggregates; it runs only when the request is not a retry, so a retry returns the
    /// original result even when the world has moved on since. The caller's scope must reach
    /// the target's subject: one check, before deciding, for every write.
    pub async fn write<A: Aggregate>(
        &self,
        context: &WriteContext,
        prepare: impl Future<Output = Result<Target<A::Command>, ServiceError>>,
    ) -> Result<Written<A::Event>, ServiceError> {
        let mut written = self.execute::<A>(context, prepare).await?;
        let wait_for = context
            .wait_for_research_view
            .then_some(written.outcome.position);
        written.research_view_position = self.research_view_position(wait_for).await;
        Ok(written)
    }

    /// The research view's position, after waiting (bounded) until it reaches `wait_for`.
    /// Without a research view in this process there is nothing to wait for: 0.
    async fn research_view_position(&self, wait_for: Option<Position>) -> Position {
        let Some(progress) = &self.research_view else {
            return Position(0);
        };
        let mut progress = progress.clone();
        if let Some(target) = wait_for {
            let reached = progress.wait_for(|position| *position >= target);
            if tokio::time::timeout(RESEARCH_VIEW_WAIT, reached)
                .await
                .is_err()
            {
                tracing::warn!(
                    position = target.0,
                    "research view did not catch up in time"
                );
            }
        }
        *progress.borrow()
    }

    async fn execute<A: Aggregate>(
        &self,
        context: &WriteContext,
        prepare: impl Future<Output = Result<Target<A::Command>, ServiceError>>,
    ) -> Result<Written<A::Event>, ServiceError> {
        let key = context.idempotency_key();
        if let Some(outcome) = self.store.find_idempotent_outcome(&key).await? {
            return self.replayed::<A>(outcome).await;
        }
        let target = match prepare.await {
            Ok(target) => target,
            Err(error) => return self.replayed_or::<A>(&key, error).await,
        };
        self.authorize(&context.caller, &target.subject).await?;
        let stream = Self::stream::<A>(&target.id);
        let metadata = serde_json::to_value(&context.metadata)
            .map_err(|error| StoreError::Corrupt(format!("metadata does not encode: {error}")))?;
        let mut attempt = 1;
        loop {
            let (state, revision) = self.load::<A>(&stream).await?;
            // An erasure whose key survived (its destruction failed) is finished by the next
            // write to the stream, a new request to erase it again included.
            if state.personal_data_erased() {
                self.destroy_key(&stream).await?;
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
                return self.replayed_or::<A>(&key, conflict.into()).await;
            }
            let events = match state.decide(&target.command) {
                Ok(events) => events,
                Err(DomainError::NotFound { kind }) => {
                    return self
                        .replayed_or::<A>(&key, ServiceError::not_found(kind, &target.id))
                        .await;
                }
                Err(error) => return self.replayed_or::<A>(&key, error.into()).await,
            };
            let new_events = events
                .iter()
                .map(|domain_event| {
                    let mut encoded = event::encode(domain_event)?;
                    self.seal(&stream, &mut encoded.data)?;
                    Ok(NewEvent {
                        id: uuid::Uuid::new_v4(),
                        event_type: encoded.event_type,
                        schema_version: encoded.schema_version,
                        data: encoded.data,
                        metadata: metadata.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ServiceError>>()?;
            let erases = events.iter().any(DomainEvent::erases_personal_data);
            let request = AppendRequest {
                stream: stream.clone(),
                expected: revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
                events: new_events,
                idempotency: Some(key.clone()),
            };
            match self.append(request, erases).await {
                Ok(outcome) if outcome.replayed => return self.replayed::<A>(outcome).await,
                Ok(outcome) => {
                    tracing::info!(
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
                // new state, unless the caller pinned the revision it expects.
                Err(ServiceError::Store(StoreError::WrongExpectedRevision { .. }))
                    if context.expected_revision.is_none() && attempt < MAX_ATTEMPTS =>
                {
                    attempt += 1;
                    tracing::debug!(%stream, attempt, "concurrent write, deciding again");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Appends; an append that erases personal data destroys the stream's key right after,
    /// in a task of its own: a caller that gives up (a deadline, a reset stream) drops only
    /// the wait for it, never the destruction, and no reply waits for the research view
    /// before the key is gone.
    async fn append(
        &self,
        request: AppendRequest,
        erases: bool,
    ) -> Result<AppendOutcome, ServiceError> {
        if !erases {
            return Ok(self.store.append(request).await?);
        }
        if self.vault.is_none() {
            return Err(ServiceError::Internal(
                "no key store to erase personal data from".to_owned(),
            ));
        }
        let ledger = self.clone();
        tokio::spawn(async move {
            let outcome = ledger.store.append(request).await?;
            ledger.destroy_key(&outcome.stream).await?;
            Ok(outcome)
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("erasure did not finish: {error}")))?
    }

    /// Destroys the stream's key (idempotent), on a blocking thread that runs to the end
    /// even when the caller stops waiting.
    async fn destroy_key(&self, stream: &StreamName) -> Result<(), ServiceError> {
        let Some(vault) = self.vault.clone() else {
            return Ok(());
        };
        let subject = stream.to_string();
        tokio::task::spawn_blocking(move || vault.erase(&subject))
            .await
            .map_err(|error| ServiceError::Internal(format!("key destruction failed: {error}")))?
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        tracing::debug!(%stream, "key destroyed");
        Ok(())
    }

    /// An aggregate's state and its stream's revision (`None` when the stream does not exist).
    pub async fn load<A: Aggregate>(
        &self,
        stream: &StreamName,
    ) -> Result<(A, Option<StreamRevision>), ServiceError> {
        self.replay(stream, None).await
    }

    /// Like [`load`](Self::load), for state that grants rights: the stream's hash chain must
    /// verify, so an event edited in the file is refused rather than believed.
    pub async fn load_verified<A: Aggregate>(
        &self,
        stream: &StreamName,
    ) -> Result<(A, Option<StreamRevision>), ServiceError> {
        self.replay(stream, Some(&mut ChainVerifier::new())).await
    }

    async fn replay<A: Aggregate>(
        &self,
        stream: &StreamName,
        mut verifier: Option<&mut ChainVerifier>,
    ) -> Result<(A, Option<StreamRevision>), ServiceError> {
        let mut state = A::default();
        let mut revision = None;
        loop {
            let from = revision.map_or(ReadFrom::Start, |last: StreamRevision| {
                ReadFrom::At(last.next())
            });
            let page = self
                .store
                .read_stream(stream, Direction::Forward, from, PAGE_SIZE)
                .await?;
            for recorded in &page {
                if let Some(verifier) = verifier.as_deref_mut() {
                    verifier
                        .push(recorded)
                        .map_err(|broken| ServiceError::Tampered {
                            stream: stream.to_string(),
                            broken,
                        })?;
                }
                // Deciding on a state that skipped an event could break its rules.
                if let Some(reason) = &recorded.unreadable {
                    return Err(StoreError::Corrupt(format!(
                        "{stream} revision {}: {reason}",
                        recorded.revision
                    ))
                    .into());
                }
                let decoded: A::Event = event::decode(
                    &recorded.event_type,
                    recorded.schema_version,
                    recorded.data.clone(),
                )?;
                state.evolve(&decoded);
                revision = Some(recorded.revision);
            }
            if page.len() < PAGE_SIZE {
                return Ok((state, revision));
            }
        }
    }

    /// An aggregate that must exist, or `NOT_FOUND` naming it as `kind`.
    pub async fn require<A: Aggregate>(
        &self,
        kind: &'static str,
        id: impl fmt::Display,
    ) -> Result<A, ServiceError> {
        let id = id.to_string();
        match self.load::<A>(&Self::stream::<A>(&id)).await? {
            (state, Some(_)) => Ok(state),
            (_, None) => Err(ServiceError::not_found(kind, id)),
        }
    }

    /// Checks that each aggregate exists, without replaying it.
    pub async fn require_all<A: Aggregate, I: fmt::Display>(
        &self,
        kind: &'static str,
        ids: impl IntoIterator<Item = I>,
    ) -> Result<(), ServiceError> {
        for id in ids {
            if self
                .store
                .stream_revision(&Self::stream::<A>(&id))
                .await?
                .is_none()
            {
                return Err(ServiceError::not_found(kind, id));
            }
        }
        Ok(())
    }

    /// A command that fails may be a retry whose original landed after the first look-up
    /// (keys and events commit together): then the original's result is the answer.
    async fn replayed_or<A: Aggregate>(
        &self,
        key: &IdempotencyKey,
        error: ServiceError,
    ) -> Result<Written<A::Event>, ServiceError> {
        match self.store.find_idempotent_outcome(key).await? {
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
            .store
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
        ids::{PersonId, SchoolId},
        person::{PersonCommand, PersonDetails, RegisterPerson},
        school::{RegisterSchool, School},
        values::{Country, Label, Personal, SchoolCode, Sector},
    };
    use plg_eventstore::{Direction, ReadFrom, sqlite::SqliteEventStore};
    use plg_proto::v1::{
        ErasePersonalDataRequest, RegisterPersonRequest, RegisterSchoolRequest, WriteOptions,
    };
    use tonic::metadata::MetadataMap;

    use super::*;
    use crate::Caller;

    fn context<M: crate::WriteRequest>(message: &M) -> WriteContext {
        WriteContext::new(
            Caller::insecure_local(),
            &MetadataMap::new(),
            message,
            Utc::now(),
        )
        .expect("valid context")
    }

    fn register_school() -> (WriteContext, Target<RegisterSchool>) {
        let message = RegisterSchoolRequest {
            options: Some(WriteOptions {
                request_id: "r-1".into(),
                ..Default::default()
            }),
            name: "Het Baken".into(),
            ..Default::default()
        };
        let context = context(&message);
        let code = SchoolCode::parse(Country::Netherlands, "12AB").expect("valid code");
        let school_id = SchoolId::derive(Country::Netherlands, &code);
        let command = RegisterSchool {
            school_id,
            name: Label::parse("Het Baken").expect("valid name"),
            country: Country::Netherlands,
            sector: Sector::Secondary,
            school_code: code,
            board: None,
        };
        (
            context,
            Target::new(school_id, Subject::school(school_id), command),
        )
    }

    #[tokio::test]
    async fn an_erasure_destroys_the_key_even_when_the_caller_gives_up_waiting() {
        let store = SqliteEventStore::open_temporary()
            .await
            .expect("store opens");
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Arc::new(Vault::open(dir.path().join(plg_vault::VAULT_FILE)).expect("opens"));
        // A research view that never catches up: a write that waits for it waits in full.
        let (_progress, view) = watch::channel(Position(0));
        let ledger = Ledger::new(Arc::new(store))
            .with_vault(Arc::clone(&vault))
            .with_research_view(view);
        let person_id = PersonId::new_random();
        let register = RegisterPersonRequest {
            options: Some(WriteOptions {
                request_id: "r-1".into(),
                ..Default::default()
            }),
            name: "Anna de Vries".into(),
            email: String::new(),
        };
        ledger
            .write::<Person>(&context(&register), async {
                Ok(Target::new(
                    person_id,
                    Subject::Anyone,
                    PersonCommand::Register(RegisterPerson {
                        person_id,
                        details: Personal::new(PersonDetails {
                            name: Label::parse("Anna de Vries").expect("valid name"),
                            email: None,
                        }),
                    }),
                ))
            })
            .await
            .expect("registers");
        assert_eq!(vault.subjects().expect("lists").len(), 1);

        let erase = ErasePersonalDataRequest {
            options: Some(WriteOptions {
                request_id: "r-2".into(),
                wait_for_research_view: true,
                ..Default::default()
            }),
            person_id: person_id.to_string(),
        };
        let erase_context = context(&erase);
        let erasing = ledger.write::<Person>(&erase_context, async {
            Ok(Target::new(
                person_id,
                Subject::Registry,
                PersonCommand::ErasePersonalData,
            ))
        });
        // The client's deadline passes while the reply waits for the view: tonic drops the
        // handler's future.
        tokio::time::timeout(Duration::from_millis(300), erasing)
            .await
            .expect_err("still waiting for the research view");
        let (state, _) = ledger
            .load::<Person>(&Ledger::stream::<Person>(person_id))
            .await
            .expect("loads");
        assert!(state.erased, "the erasure is recorded");
        // Give a slow disk time to finish the destruction the dropped future started.
        for _ in 0..50 {
            if vault.subjects().expect("lists").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            vault.subjects().expect("lists"),
            Vec::<String>::new(),
            "and the key destroyed"
        );
    }

    #[tokio::test]
    async fn a_retry_that_races_its_original_returns_the_original_result() {
        let store = SqliteEventStore::open_temporary()
            .await
            .expect("store opens");
        let ledger = Ledger::new(Arc::new(store.clone()));
        let (context, target) = register_school();
        let retried = ledger
            .write::<School>(&context, async {
                // The original lands after the retry looked its request id up, while the
                // retry is still preparing: its decision then meets its own registration.
                let (_, original) = register_school();
                let original = ledger
                    .write::<School>(&context, async { Ok(original) })
                    .await?;
                assert!(!original.outcome.replayed);
                Ok(target)
            })
            .await
            .expect("the retry answers with the original result");
        assert!(retried.outcome.replayed);
        let stream = Ledger::stream::<School>(&retried.outcome.stream.as_str()["school-".len()..]);
        let written = store
            .read_stream(&stream, Direction::Forward, ReadFrom::Start, 10)
            .await
            .expect("reads");
        assert_eq!(written.len(), 1);
    }
}
